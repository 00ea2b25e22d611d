//! The command line: a lexopt loop that turns argv into [`Args`].
//!
//! Parsing stops at the first non-option (or after `--`); that word and every
//! word after it form the command, passed through untouched via
//! `raw_args()`, as in lexopt's `examples/posixly_correct.rs`.
//! Values are only checked for form here; [`crate::plan`] checks meaning.

use crate::caps::{self, Cap};
use crate::cold::{msg, msg_fmt};
use crate::error::Error;
use crate::net::NetMode;
use crate::packed;
use std::ffi::OsString;

/// `--help`'s text (`src/usage.txt`): the first of the cold texts, which
/// are stored compressed (see `cold`).
pub fn help() -> &'static str {
    crate::cold::text(0)
}

/// A `C:H:N` line of a uid or gid map: container ids `C..C+N` are host ids
/// `H..H+N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// What the user asked for, checked for form only.
#[derive(Debug, Default, PartialEq)]
pub struct Args {
    pub root: Option<OsString>,
    pub uid: u32,
    pub cmd: Option<OsString>,
    pub arg0: Option<OsString>,
    pub hostname: Option<OsString>,
    pub workdir: Option<OsString>,
    pub env: Vec<OsString>,
    pub uid_map: Vec<IdRange>,
    pub gid_map: Vec<IdRange>,
    pub verbose: u8,
    pub cap_add: Vec<Cap>,
    pub cap_drop: Vec<Cap>,
    pub allow_new_privileges: bool,
    /// `--seccomp none`.
    pub no_seccomp: bool,
    pub seccomp_bpf: Option<OsString>,
    pub sys: bool,
    pub net: NetMode,
    /// `--ip`: the host end's address and prefix (veth).
    pub ip: Option<crate::net::Cidr>,
    pub name: Option<String>,
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub cpus: Option<String>,
    pub cpu_weight: Option<String>,
    pub pids: Option<String>,
    /// `--cgroup none`.
    pub no_cgroup: bool,
    /// Run barco's reaper as PID 1 and the command as PID 2.
    pub init: bool,
    /// What the machine does when barco is its PID 1 and the container ends.
    pub on_exit: Option<OnExit>,
    /// The command and its arguments, exactly as given.
    pub command: Vec<OsString>,
}

/// `--on-exit`: how barco, as the machine's PID 1, ends the machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnExit {
    #[default]
    PowerOff,
    Reboot,
    Halt,
}

#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once per run
pub enum Parsed {
    Run(Args),
    Help,
    Version,
}

/// An option, as found in [`OPTIONS`].
#[derive(Clone, Copy, PartialEq)]
enum Opt {
    // Those that take a value.
    Root,
    Uid,
    Cmd,
    Arg,
    Hostname,
    Workdir,
    Env,
    UidMap,
    GidMap,
    CapAdd,
    CapDrop,
    Seccomp,
    SeccompBpf,
    Net,
    Ip,
    Name,
    Memory,
    MemorySwap,
    Cpus,
    CpuWeight,
    Pids,
    Cgroup,
    OnExit,
    // Flags.
    AllowNewPrivileges,
    Sys,
    Init,
    Verbose,
    Help,
    Version,
}

/// Every option: its short letter (or none), and its long names, the first
/// of which the errors use. One table and one lookup, rather than a match
/// arm that compares each name (0.9 KB of `just tiny`).
const OPTIONS: [(Opt, Option<char>, &[&str]); 29] = [
    (Opt::Root, Some('m'), &["root", "mnt"]),
    (Opt::Uid, Some('u'), &["uid"]),
    (Opt::Cmd, Some('c'), &["cmd"]),
    (Opt::Arg, Some('a'), &["arg"]),
    (Opt::Hostname, None, &["hostname"]),
    (Opt::Workdir, Some('w'), &["workdir"]),
    (Opt::Env, Some('e'), &["env"]),
    (Opt::UidMap, None, &["uid-map"]),
    (Opt::GidMap, None, &["gid-map"]),
    (Opt::CapAdd, None, &["cap-add"]),
    (Opt::CapDrop, None, &["cap-drop"]),
    (Opt::Seccomp, None, &["seccomp"]),
    (Opt::SeccompBpf, None, &["seccomp-bpf"]),
    (Opt::Net, None, &["net"]),
    (Opt::Ip, None, &["ip"]),
    (Opt::Name, None, &["name"]),
    (Opt::Memory, None, &["memory"]),
    (Opt::MemorySwap, None, &["memory-swap"]),
    (Opt::Cpus, None, &["cpus"]),
    (Opt::CpuWeight, None, &["cpu-weight"]),
    (Opt::Pids, None, &["pids"]),
    (Opt::Cgroup, None, &["cgroup"]),
    (Opt::OnExit, None, &["on-exit"]),
    (Opt::AllowNewPrivileges, None, &["allow-new-privileges"]),
    (Opt::Sys, None, &["sys"]),
    (Opt::Init, None, &["init"]),
    (Opt::Verbose, Some('v'), &["verbose"]),
    (Opt::Help, Some('h'), &["help"]),
    (Opt::Version, Some('V'), &["version"]),
];

/// [`OPTIONS`] as the binary keeps it, worked out at compile time (the
/// table itself was 1.2 KB of pointers and lengths of `just tiny`): every
/// long name, in order, packed (see `packed`), with its option beside it
/// in [`LONG_OPTS`]; and the options that have a short letter.
const LONGS: [u8; packed::len(&LONG_NAMES)] = packed::pack(&LONG_NAMES);

const LONG_COUNT: usize = {
    let (mut n, mut i) = (0, 0);
    while i < OPTIONS.len() {
        n += OPTIONS[i].2.len();
        i += 1;
    }
    n
};

const LONG_NAMES: [&str; LONG_COUNT] = LONG.0;
const LONG_OPTS: [Opt; LONG_COUNT] = LONG.1;

const LONG: ([&str; LONG_COUNT], [Opt; LONG_COUNT]) = {
    let (mut names, mut opts) = ([""; LONG_COUNT], [Opt::Root; LONG_COUNT]);
    let (mut at, mut i) = (0, 0);
    while i < OPTIONS.len() {
        let mut j = 0;
        while j < OPTIONS[i].2.len() {
            (names[at], opts[at]) = (OPTIONS[i].2[j], OPTIONS[i].0);
            at += 1;
            j += 1;
        }
        i += 1;
    }
    (names, opts)
};

const SHORT_COUNT: usize = {
    let (mut n, mut i) = (0, 0);
    while i < OPTIONS.len() {
        n += OPTIONS[i].1.is_some() as usize;
        i += 1;
    }
    n
};

const SHORTS: [(char, Opt); SHORT_COUNT] = {
    let (mut shorts, mut at, mut i) = ([(' ', Opt::Root); SHORT_COUNT], 0, 0);
    while i < OPTIONS.len() {
        if let Some(c) = OPTIONS[i].1 {
            shorts[at] = (c, OPTIONS[i].0);
            at += 1;
        }
        i += 1;
    }
    shorts
};

/// The option's first long name, which the errors use.
fn name(opt: Opt) -> &'static str {
    LONG_OPTS.iter().position(|o| *o == opt).and_then(|i| packed::nth(&LONGS, i)).unwrap_or_default()
}

/// Parses the arguments after the program name. Not inlined into barco's
/// `run`: 0.1 KB of `just tiny`.
#[inline(never)]
pub fn parse<I>(argv: I) -> Result<Parsed, Error>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(argv);
    let mut a = Args::default();
    while let Some(arg) = p.next().map_err(usage)? {
        let found = match arg {
            Short(c) => SHORTS.iter().find(|s| s.0 == c).map(|s| s.1),
            Long(l) => packed::position(&LONGS, l).map(|i| LONG_OPTS[i]),
            Value(first) => {
                a.command.push(first);
                // The first moved, not cloned, and the rest pushed in a loop,
                // not `extend`ed: 0.1 KB of `just tiny`.
                for word in p.raw_args().map_err(usage)? {
                    a.command.push(word);
                }
                break;
            }
        };
        let Some(opt) = found else {
            return Err(usage(arg.unexpected()));
        };
        let option = name(opt);
        match opt {
            Opt::AllowNewPrivileges => a.allow_new_privileges = true,
            Opt::Sys => a.sys = true,
            Opt::Init => a.init = true,
            Opt::Verbose => a.verbose = a.verbose.saturating_add(1),
            Opt::Help => return Ok(Parsed::Help),
            Opt::Version => return Ok(Parsed::Version),
            _ => {
                let v = value(&mut p, option)?;
                take(&mut a, opt, option, v)?;
            }
        }
    }
    if a.root.is_none() {
        return Err(Error::usage(msg!("missing -m ROOTFS: the container's root filesystem (see barco --help)")));
    }
    let limited =
        a.memory.is_some() || a.memory_swap.is_some() || a.cpus.is_some() || a.cpu_weight.is_some() || a.pids.is_some();
    if a.no_cgroup && limited {
        return Err(Error::usage(msg!(
            "--cgroup none runs without limits: drop --memory, --cpus, --cpu-weight and --pids"
        )));
    }
    if a.no_seccomp && a.seccomp_bpf.is_some() {
        return Err(Error::usage(msg!("--seccomp none and --seccomp-bpf contradict each other")));
    }
    if !a.command.is_empty() && (a.cmd.is_some() || a.arg0.is_some()) {
        return Err(Error::usage(msg!("give the command either with -c/-a or after the options, not both")));
    }
    Ok(Parsed::Run(a))
}

/// Records the value `v` of option `opt` (`--option`). Not inlined into
/// `parse` (and on into barco's `run`): 0.4 KB of `just tiny`.
#[inline(never)]
fn take(a: &mut Args, opt: Opt, option: &str, v: OsString) -> Result<(), Error> {
    match opt {
        Opt::Root | Opt::Cmd | Opt::Arg | Opt::Hostname | Opt::Workdir | Opt::SeccompBpf => {
            // Kept as given. One store for all: an assignment to each field
            // was a copy of the drop of its old value (0.7 KB of `just tiny`,
            // with the UTF-8 ones below).
            let slot = match opt {
                Opt::Root => &mut a.root,
                Opt::Cmd => &mut a.cmd,
                Opt::Arg => &mut a.arg0,
                Opt::Hostname => &mut a.hostname,
                Opt::Workdir => &mut a.workdir,
                _ => &mut a.seccomp_bpf,
            };
            *slot = Some(v);
        }
        Opt::Uid => a.uid = number(&v, option)?,
        Opt::Env => a.env.push(v),
        // One push for both of each pair (0.1 KB of `just tiny`), as above.
        Opt::UidMap | Opt::GidMap => {
            let map = if matches!(opt, Opt::UidMap) { &mut a.uid_map } else { &mut a.gid_map };
            map.push(id_range(&v, option)?);
        }
        Opt::CapAdd | Opt::CapDrop => {
            let caps = if matches!(opt, Opt::CapAdd) { &mut a.cap_add } else { &mut a.cap_drop };
            caps.push(cap(&v, option)?);
        }
        Opt::Seccomp => match word(&v, packed::texts!["none", "default"]) {
            Some(n) => a.no_seccomp = n == 0, // none
            None => return Err(Error::usage(msg!("--seccomp takes none or default (see barco --help)"))),
        },
        Opt::Net => match word(&v, packed::texts!["none", "host", "veth"]) {
            Some(n) => a.net = [NetMode::None, NetMode::Host, NetMode::Veth][n],
            None => {
                let v = v.to_string_lossy();
                return Err(Error::usage(msg_fmt!("--net: '{}' is not none, host or veth", v)));
            }
        },
        Opt::Cgroup => match word(&v, packed::texts!["none"]) {
            Some(_) => a.no_cgroup = true,
            None => return Err(Error::usage(msg!("--cgroup takes only none (see barco --help)"))),
        },
        Opt::OnExit => match word(&v, packed::texts!["poweroff", "reboot", "halt"]) {
            Some(n) => a.on_exit = Some([OnExit::PowerOff, OnExit::Reboot, OnExit::Halt][n]),
            None => {
                let v = v.to_string_lossy();
                return Err(Error::usage(msg_fmt!("--on-exit: '{}' is not poweroff, reboot or halt", v)));
            }
        },
        // Flags take no value: `parse` handles them.
        Opt::AllowNewPrivileges | Opt::Sys | Opt::Init | Opt::Verbose | Opt::Help | Opt::Version => {}
        // The rest are UTF-8 text.
        Opt::Ip | Opt::Name | Opt::Memory | Opt::MemorySwap | Opt::Cpus | Opt::CpuWeight | Opt::Pids => {
            let v = v
                .into_string()
                .map_err(|v| Error::usage(msg_fmt!("--{}: '{}' is not UTF-8", option, v.to_string_lossy())))?;
            let slot = match opt {
                Opt::Ip => {
                    a.ip = Some(crate::net::parse_cidr(&v).map_err(Error::usage)?);
                    return Ok(());
                }
                Opt::Name => &mut a.name,
                Opt::Memory => &mut a.memory,
                Opt::MemorySwap => &mut a.memory_swap,
                Opt::Cpus => &mut a.cpus,
                Opt::CpuWeight => &mut a.cpu_weight,
                _ => &mut a.pids,
            };
            *slot = Some(v);
        }
    }
    Ok(())
}

/// lexopt's error in barco's words. Its own `Display` shows a value with
/// `{:?}`, which `just tiny` (`-Zfmt-debug=none`) prints as nothing; here a
/// value is quoted as barco's other messages quote one. (Without that
/// `Display`, 0.4 KB of `just tiny` goes too.) barco asks lexopt only for
/// options, their values and the rest of the command line: the errors of
/// its other calls cannot come.
fn usage(e: lexopt::Error) -> Error {
    use lexopt::Error::*;
    Error::usage(match e {
        UnexpectedOption(option) => msg_fmt!("invalid option '{}' (see barco --help)", option).string(),
        UnexpectedValue { option, value } => {
            let value = value.to_string_lossy();
            msg_fmt!("unexpected argument for option '{}': '{}' (see barco --help)", option, value).string()
        }
        _ => msg!("invalid arguments (see barco --help)").into(),
    })
}

/// An option's value. lexopt would hand `--` itself to `-m --`; that is
/// always a forgotten value, so say so.
fn value(p: &mut lexopt::Parser, option: &str) -> Result<OsString, Error> {
    match p.value() {
        Ok(v) if v != "--" => Ok(v),
        _ => Err(Error::usage(msg_fmt!("missing value for --{} (see barco --help)", option))),
    }
}

/// `s` as `str::parse` reads an integer, if it fits in `T`. Always read as
/// a `u64`, so that std's parser is linked for one type only (0.3 KB of
/// `just tiny` for `u32` and `u8`).
pub fn parse_int<T: TryFrom<u64>>(s: &str) -> Option<T> {
    s.parse::<u64>().ok().and_then(|n| T::try_from(n).ok())
}

fn number(v: &std::ffi::OsStr, option: &str) -> Result<u32, Error> {
    v.to_str().and_then(parse_int).ok_or_else(|| {
        Error::usage(msg_fmt!("--{}: '{}' is not a number from 0 to 4294967295", option, v.to_string_lossy()))
    })
}

fn cap(v: &std::ffi::OsStr, option: &str) -> Result<Cap, Error> {
    v.to_str().and_then(caps::parse).ok_or_else(|| {
        Error::usage(msg_fmt!(
            "--{}: '{}' is not a capability (CAP_NET_RAW, net_raw or all; see capabilities(7))",
            option,
            v.to_string_lossy()
        ))
    })
}

/// Which of the packed `words` (see `packed`) an option's value is: one
/// lookup, out of line, for the options that take one of a few words,
/// instead of a comparison with each word at its option (0.2 KB of `just
/// tiny`).
#[inline(never)]
fn word(v: &std::ffi::OsStr, words: &[u8]) -> Option<usize> {
    packed::position(words, v.to_str()?)
}

/// Parses `C:H:N`.
fn id_range(v: &std::ffi::OsStr, option: &str) -> Result<IdRange, Error> {
    let bad = || {
        Error::usage(msg_fmt!("--{}: '{}' is not CONTAINER:HOST:COUNT, e.g. 0:10000:2000", option, v.to_string_lossy()))
    };
    let s = v.to_str().ok_or_else(bad)?;
    let mut parts = s.split(':').map(parse_int::<u32>);
    let (Some(Some(inside)), Some(Some(outside)), Some(Some(count)), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let fits = |start: u32| start.checked_add(count).is_some();
    if count == 0 || !fits(inside) || !fits(outside) {
        return Err(Error::usage(msg_fmt!(
            "--{}: '{}': COUNT must be at least 1 and the ranges must end below 2^32",
            option,
            s
        )));
    }
    Ok(IdRange { inside, outside, count })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(argv: &[&str]) -> Args {
        match parse(argv.iter().copied()) {
            Ok(Parsed::Run(a)) => a,
            other => panic!("{argv:?} gave {other:?}"),
        }
    }

    fn err(argv: &[&str]) -> String {
        match parse(argv.iter().copied()) {
            Err(e) => e.to_string(),
            Ok(p) => panic!("{argv:?} parsed as {p:?}"),
        }
    }

    #[test]
    fn integers_parse_as_std_parses_each_type() {
        for s in ["0", "+7", "-1", "007", "255", "256", "4294967295", "4294967296", "18446744073709551616", "", " 1"] {
            assert_eq!(parse_int::<u8>(s), s.parse::<u8>().ok(), "{s}");
            assert_eq!(parse_int::<u32>(s), s.parse::<u32>().ok(), "{s}");
        }
    }

    #[test]
    fn seed_form() {
        let a = run(&["-u", "0", "-m", "/", "-c", "/bin/sh", "-a", "."]);
        assert_eq!(a.uid, 0);
        assert_eq!(a.root.as_deref(), Some("/".as_ref()));
        assert_eq!(a.cmd.as_deref(), Some("/bin/sh".as_ref()));
        assert_eq!(a.arg0.as_deref(), Some(".".as_ref()));
        assert!(a.command.is_empty());
        assert!(!a.init);
        assert_eq!(a.on_exit, None);
    }

    #[test]
    fn command_after_options_is_untouched() {
        let a = run(&["-m", "r", "ls", "-l", "--", "-v", "--uid"]);
        assert_eq!(a.command, ["ls", "-l", "--", "-v", "--uid"]);
        assert_eq!(a.verbose, 0);
        let a = run(&["--root=r", "-vv", "--", "-x", "y"]);
        assert_eq!(a.command, ["-x", "y"]);
        assert_eq!(a.verbose, 2);
    }

    #[test]
    fn every_option() {
        let a = run(&[
            "--mnt",
            "r",
            "--uid",
            "7",
            "--hostname",
            "h",
            "-w",
            "/tmp",
            "-e",
            "A=1",
            "--env",
            "B=2",
            "--uid-map",
            "0:100:10",
            "--gid-map",
            "0:200:10",
            "--verbose",
            "-v",
            "--init",
            "--on-exit",
            "reboot",
            "--cap-add",
            "CAP_SYS_ADMIN",
            "--cap-drop",
            "all",
            "--allow-new-privileges",
            "--seccomp",
            "none",
            "--sys",
            "true",
        ]);
        assert_eq!(a.cap_add, [Cap::One(21)]);
        assert_eq!(a.cap_drop, [Cap::All]);
        assert!(a.allow_new_privileges && a.no_seccomp && a.sys);
        assert!(a.init);
        assert_eq!(a.on_exit, Some(OnExit::Reboot));
        assert_eq!(a.uid, 7);
        assert_eq!(a.hostname.as_deref(), Some("h".as_ref()));
        assert_eq!(a.workdir.as_deref(), Some("/tmp".as_ref()));
        assert_eq!(a.env, ["A=1", "B=2"]);
        assert_eq!(a.uid_map, [IdRange { inside: 0, outside: 100, count: 10 }]);
        assert_eq!(a.gid_map, [IdRange { inside: 0, outside: 200, count: 10 }]);
        assert_eq!(a.verbose, 2);
        assert_eq!(a.command, ["true"]);
    }

    #[test]
    fn the_help_unpacks_to_its_text() {
        assert_eq!(help(), include_str!("usage.txt"));
    }

    #[test]
    fn every_option_is_in_the_help_and_the_readme() {
        let readme = include_str!("../README.md");
        let usage = help();
        for (_, short, names) in OPTIONS {
            for name in names {
                assert!(usage.contains(&format!("--{name}")), "--{name} is missing from --help");
                assert!(readme.contains(&format!("`--{name}")), "--{name} is missing from the README");
            }
            if let Some(c) = short {
                assert!(usage.contains(&format!("  -{c}, --{}", names.last().unwrap())), "-{c} is missing from --help");
            }
        }
    }

    #[test]
    fn every_name_finds_its_option_and_its_errors_use_the_first() {
        for (opt, short, names) in OPTIONS {
            let flag = matches!(opt, Opt::AllowNewPrivileges | Opt::Sys | Opt::Init | Opt::Verbose);
            let spellings = names.iter().map(|n| format!("--{n}")).chain(short.map(|c| format!("-{c}")));
            for given in spellings {
                let got = parse(["-m", "r", given.as_str()]);
                match opt {
                    Opt::Help => assert!(matches!(got, Ok(Parsed::Help))),
                    Opt::Version => assert!(matches!(got, Ok(Parsed::Version))),
                    _ if flag => assert!(matches!(got, Ok(Parsed::Run(_))), "{given}"),
                    _ => assert!(
                        err(&["-m", "r", &given]).contains(&format!("missing value for --{} ", names[0])),
                        "{given}"
                    ),
                }
            }
        }
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(["-h"]).unwrap(), Parsed::Help);
        assert_eq!(parse(["-m", "r", "--help"]).unwrap(), Parsed::Help);
        assert_eq!(parse(["-V"]).unwrap(), Parsed::Version);
    }

    #[test]
    fn bad_input() {
        assert!(err(&["--frobnicate", "-m", "r"]).contains("invalid option '--frobnicate'"));
        assert_eq!(err(&["-m", "r", "--sys=1"]), "unexpected argument for option '--sys': '1' (see barco --help)");
        assert_eq!(err(&["-m", "r", "-v=1"]), "unexpected argument for option '-v': '1' (see barco --help)");
        assert!(err(&["-m"]).contains("missing value for --root"));
        assert!(err(&["-m", "--", "sh"]).contains("missing value for --root"));
        assert!(err(&["sh"]).contains("missing -m ROOTFS"));
        assert!(err(&["-m", "r", "-u", "root"]).contains("--uid: 'root' is not a number"));
        assert!(err(&["-m", "r", "-u", "-1"]).contains("is not a number"));
        assert!(err(&["-m", "r", "--uid-map", "0:1"]).contains("is not CONTAINER:HOST:COUNT"));
        assert!(err(&["-m", "r", "--uid-map", "0:1:2:3"]).contains("is not CONTAINER:HOST:COUNT"));
        assert!(err(&["-m", "r", "--gid-map", "a:1:2"]).contains("--gid-map"));
        assert!(err(&["-m", "r", "--uid-map", "0:1:0"]).contains("COUNT must be at least 1"));
        assert!(err(&["-m", "r", "--uid-map", "0:4294967295:2"]).contains("below 2^32"));
        assert!(err(&["-m", "r", "-c", "/bin/sh", "ls"]).contains("not both"));
        assert!(err(&["-m", "r", "--hostname"]).contains("missing value for --hostname"));
        assert!(err(&["-m", "r", "--on-exit", "explode"]).contains("'explode' is not poweroff, reboot or halt"));
        assert!(err(&["-m", "r", "--on-exit"]).contains("missing value for --on-exit"));
        assert!(err(&["-m", "r", "--cap-add", "net_rawr"]).contains("--cap-add: 'net_rawr' is not a capability"));
        assert!(err(&["-m", "r", "--cap-drop", "CAP_FOO"]).contains("--cap-drop: 'CAP_FOO' is not a capability"));
        assert!(err(&["-m", "r", "--seccomp", "strict"]).contains("--seccomp takes none or default"));
        assert!(err(&["-m", "r", "--cgroup", "v1"]).contains("--cgroup takes only none"));
        assert!(err(&["-m", "r", "--net", "bridge"]).contains("--net: 'bridge' is not none, host or veth"));
        assert!(err(&["-m", "r", "--net", "veth", "--ip", "10.0.0.0/30"]).contains("network address"));
        assert!(err(&["-m", "r", "--cgroup", "none", "--pids", "5"]).contains("runs without limits"));
        assert!(err(&["-m", "r", "--seccomp", "none", "--seccomp-bpf", "f"]).contains("contradict"));
    }
}
