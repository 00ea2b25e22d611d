//! Planning: [`Args`] and the host's state become an immutable [`Plan`].
//!
//! Every check that can be made before the container exists is made here,
//! and every byte the child or the supervising parent will need afterwards
//! is allocated here: C strings for paths, the argv and envp arrays, the
//! candidate paths of the command, the uid/gid map texts. After planning,
//! barco does not allocate again (see `sys::alloc`).

use crate::caps;
use crate::cgroup::{self, Cgroup, Hierarchy};
use crate::cli::{Args, IdRange};
use crate::cold::{msg, msg_fmt};
use crate::error::{Error, Stage};
use crate::log::dec;
use crate::log::warning;
use crate::packed;
use crate::rootfs::{self, RootSwitch};
use crate::seccomp;
use crate::userns;
use core::ffi::c_char;
use core::fmt::Write as _;
use linux_raw_sys::general as k;
use rustix::io::Errno;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// The seed's hostname.
pub const DEFAULT_HOSTNAME: &str = "barcontainer";
/// The seed's mapping: container ids 0..1999 are host ids 10000..11999.
pub const DEFAULT_MAP: IdRange = IdRange { inside: 0, outside: 10000, count: 2000 };
/// The usual six directories, as docker and the Debian defaults set them.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The kernel accepts at most this many lines in uid_map and gid_map.
const MAX_MAP_LINES: usize = 340;

/// Namespaces created by `clone3`. The user namespace is not among them: the
/// child enters it after its mounts (see `child`).
pub const CLONE_FLAGS: u64 =
    (k::CLONE_NEWNS | k::CLONE_NEWPID | k::CLONE_NEWIPC | k::CLONE_NEWUTS | k::CLONE_NEWNET | k::CLONE_NEWCGROUP)
        as u64
        | k::CLONE_CLEAR_SIGHAND;

/// What barco needs to know about the machine it runs on; a parameter so that
/// planning can be tested without changing the test process.
pub struct Host {
    pub euid: u32,
    pub egid: u32,
    /// Not root: what stops user namespaces here, if a sysctl says so, and
    /// whether barco itself runs under a seccomp filter (see `userns`).
    pub userns_blocker: Option<String>,
    pub seccomp_filtered: bool,
    pub env: Vec<(OsString, OsString)>,
    /// barco is the machine's PID 1: orphans are reparented to it.
    pub is_init: bool,
    /// barco's `/` is the initramfs's rootfs, where pivot_root fails.
    pub root_is_initramfs: bool,
    /// The cgroup hierarchy with the controllers barco uses, if any.
    pub cgroups: Option<Hierarchy>,
    pub pid: u32,
}

impl Host {
    /// The machine, as far as `args` needs it: the cgroup hierarchy is
    /// looked up only when the container gets a cgroup.
    pub fn current(args: &Args, env: Vec<(OsString, OsString)>) -> Host {
        let euid = rustix::process::geteuid().as_raw();
        let own = || read_text("/proc/self/cgroup").unwrap_or_default();
        let mount = Path::new("/sys/fs/cgroup");
        Host {
            euid,
            egid: rustix::process::getegid().as_raw(),
            userns_blocker: if euid == 0 { None } else { userns::blocker() },
            seccomp_filtered: euid != 0 && userns::seccomp_filtered(),
            env,
            is_init: rustix::process::getpid().is_init(),
            root_is_initramfs: root_is_initramfs(),
            cgroups: match (args.no_cgroup, euid) {
                (true, _) => None,
                (false, 0) => cgroup::hierarchy(mount, &own),
                (false, _) => cgroup::delegated(mount, &own),
            },
            pid: rustix::process::getpid().as_raw_nonzero().get() as u32,
        }
    }

    fn var(&self, key: &str) -> Option<&OsStr> {
        env_var(&self.env, key)
    }
}

/// The value of `key` in `env` (as `getenv(3)`, the first entry of that
/// name).
pub fn env_var<'a>(env: &'a [(OsString, OsString)], key: &str) -> Option<&'a OsStr> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_os_str())
}

/// An entry of barco's environment, `NAME=VALUE` (`sys::main` reads them
/// from `envp`; std's `vars_os`, with its lock, was 2.4 KB more of `just
/// tiny`), split as std splits it: at the first `=` after the first byte,
/// so a name may start with `=`; an entry without one is left out.
pub fn env_entry(entry: &[u8]) -> Option<(OsString, OsString)> {
    let eq = entry.iter().skip(1).position(|&b| b == b'=')? + 1;
    let (name, value) = (&entry[..eq], &entry[eq + 1..]);
    Some((OsString::from_vec(name.to_vec()), OsString::from_vec(value.to_vec())))
}

/// A file's bytes, 4 KiB a `read(2)`: a small /proc or cgroupfs file in
/// one (and one more for the end). `std::fs::read` sizes its buffer from
/// the file's size, which these give as 0 (or 4096), and so reads 32 bytes
/// at a time after an fstat; it is also 2 KB more code.
pub fn read_file(path: &Path) -> Result<Vec<u8>, Errno> {
    let path = c_path(path.as_os_str())?;
    let fd =
        rustix::fs::open(&*path, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())?;
    let (mut bytes, mut buf) = (Vec::new(), [0u8; 4096]);
    loop {
        match rustix::io::read(&fd, &mut buf) {
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// [`read_file`] as text; None if it cannot be read or is not UTF-8.
pub fn read_text(path: impl AsRef<Path>) -> Option<String> {
    read_file(path.as_ref()).ok().and_then(|bytes| String::from_utf8(bytes).ok())
}

/// What `path` itself is, a symlink not followed (`lstat(2)`); None if it
/// cannot be looked at.
pub fn file_type(path: &Path) -> Option<rustix::fs::FileType> {
    let path = c_path(path.as_os_str()).ok()?;
    rustix::fs::lstat(&*path).ok().map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode))
}

/// `path` as a C string for rustix, or EINVAL for a NUL inside, as rustix
/// says. Not inlined: rustix's own conversion of a `Path` or `str`, inlined
/// at each call, was 0.2 KB a call in `just tiny`. `CString::new` gets
/// a `Vec<u8>` here and everywhere else in barco: each other type it is
/// given is another copy of it (0.2 KB of `just tiny` for three).
#[inline(never)]
pub fn c_path(path: &OsStr) -> Result<CString, Errno> {
    CString::new(path.as_bytes().to_vec()).map_err(|_| Errno::INVAL)
}

/// A null-terminated array of C-string pointers, as `execve` wants for argv
/// and envp. It owns its strings, so the pointers stay valid.
pub struct CArray {
    /// Owns what `ptrs` points to.
    #[cfg_attr(not(test), allow(dead_code))]
    strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CArray {
    /// `items` hold no NUL (see `c_strings`). Not inlined: argv's and
    /// envp's would be two copies of the conversion. One loop makes both
    /// vectors (pointers collected after, with a null chained on: 0.2 KB
    /// more).
    #[inline(never)]
    fn new(items: Vec<OsString>) -> CArray {
        let mut strings = Vec::with_capacity(items.len());
        let mut ptrs = Vec::with_capacity(items.len() + 1);
        for item in items {
            // The bytes stay where they are as the CString moves.
            let string = cstring(item);
            ptrs.push(string.as_ptr());
            strings.push(string);
        }
        ptrs.push(core::ptr::null());
        CArray { strings, ptrs }
    }

    pub fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }

    #[cfg(test)]
    pub fn strings(&self) -> &[CString] {
        &self.strings
    }
}

/// Everything a run needs, decided before anything is created.
pub struct Plan {
    pub rootfs: CString,
    pub hostname: CString,
    pub workdir: CString,
    pub uid: u32,
    pub gid: u32,
    /// The texts [`Plan::subject`] names: the rootfs, hostname, workdir,
    /// uid, command and seccomp program as shown, indexed by [`Named`].
    /// Filled in one array, moved into the plan at once: each as a field
    /// of its own was one more copy into the plan (0.2 KB of `just tiny`).
    shown: [&'static str; Named::SHOWN],
    /// Contents for `/proc/PID/uid_map` and `gid_map`.
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
    /// Not root: the user namespace comes with clone3, and the maps are
    /// written before anything else (see `userns`).
    pub rootless: bool,
    /// Rootless, single ids: `setgroups` is denied before gid_map is
    /// written, as the kernel requires of an unprivileged writer.
    pub deny_setgroups: bool,
    /// Rootless with only the caller's own gid mapped: setgroups is denied
    /// (by barco, or by newgidmap), so the caller's supplementary groups
    /// stay, unmapped, and the child does not try to drop them.
    pub keep_groups: bool,
    /// Rootless ranges: newuidmap and newgidmap do the writing.
    pub map_helpers: Option<userns::Helpers>,
    /// Rootless ranges: the (uid, gid) the child sets up as, mapped ones
    /// (0 when mapped, else the command's).
    pub setup_id: (u32, u32),
    /// Rootless: the line for a refused clone3, and for a rootfs that has
    /// mounts beneath it.
    pub userns_refused: &'static str,
    pub rootless_bind_refused: &'static str,
    /// Where to look for the command, in order (one entry if it has a `/`,
    /// otherwise one per directory of the container's PATH, like execvp).
    pub exec_candidates: Vec<CString>,
    pub argv: CArray,
    pub envp: CArray,
    pub clone_flags: u64,
    pub network: crate::net::Network,
    /// The network namespace may be made by barco's network builder, beside
    /// the child, instead of by the child's `clone3` (as root, unless
    /// `--net host`: see `spawn::Builder`); `clone_flags` leave it out then,
    /// and `spawn::Spread` decides.
    pub network_builder: bool,
    /// The CPUs barco may run on, when there are several and the supervisor
    /// has work to do beside the child's (the network builder, v1 cgroups):
    /// it may start the child and the builder on other CPUs than its own
    /// (`spawn::Spread`), and the child restores these.
    pub cpus: Option<rustix::thread::CpuSet>,
    /// `BARCO_SPREAD`: `1` to always use the network builder and another
    /// CPU, `0` never, unset when another CPU is idle (`spawn::Spread`).
    pub spread: Option<bool>,
    /// `/etc/hosts` and `/etc/hostname`, bound over the rootfs's own.
    pub etc_files: Vec<rootfs::EtcFile>,
    pub root_switch: RootSwitch,
    /// The capabilities the container keeps (bounding, and for uid 0,
    /// effective and permitted).
    pub caps_kept: u64,
    pub no_new_privs: bool,
    /// The seccomp program to load last, if any.
    pub seccomp: Option<seccomp::Program>,
    /// `--sys`: a read-only sysfs on /sys.
    pub mount_sys: bool,
    /// The container's cgroup, unless `--cgroup none` or the host has none.
    pub cgroup: Option<Cgroup>,
    /// `--init`: the child stays as the container's PID 1 and reaps.
    pub init: bool,
    /// The supervisor reaps every child, not only the container (PID 1).
    pub reap_orphans: bool,
    /// Check that nothing allocated after clone3 (`BARCO_HEAP_AUDIT=1`).
    pub heap_audit: bool,
    /// The bench's ablation build: steps to skip (see [`Step`]).
    ablated: u32,
}

/// Setup steps that the bench's ablation build (`--features ablation`) can
/// skip, named in `BARCO_ABLATE` (comma-separated), to price each one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The hostname.
    Hostname = 1,
    /// The network namespace's configuration: lo up, ping_group_range.
    Network = 2,
    /// /proc's masked and read-only paths (/proc itself is mounted).
    ProcMasks = 4,
    /// The /dev tmpfs and what is in it; so the /etc files too, which are
    /// written there.
    Dev = 8,
    /// The /etc/hosts and /etc/hostname binds.
    EtcFiles = 16,
    /// The capability bounding set and capset.
    Caps = 32,
}

impl Step {
    const ALL: [(Step, &'static str); 6] = [
        (Step::Hostname, "hostname"),
        (Step::Network, "network"),
        (Step::ProcMasks, "proc-masks"),
        (Step::Dev, "dev"),
        (Step::EtcFiles, "etc-files"),
        (Step::Caps, "caps"),
    ];

    /// `BARCO_ABLATE`'s value as a set; unknown names are ignored.
    fn parse(names: &OsStr) -> u32 {
        let names = names.to_string_lossy();
        let mut set = 0;
        for name in names.split(',') {
            for (step, known) in Step::ALL {
                if name == known || name == "all" {
                    set |= step as u32;
                }
            }
        }
        if set & Step::Dev as u32 != 0 {
            set |= Step::EtcFiles as u32;
        }
        set
    }
}

impl Plan {
    pub fn new(mut args: Args, host: &Host) -> Result<Plan, Error> {
        Plan::from_args(&mut args, host)
    }

    /// [`Plan::new`], taking what it keeps out of `args`: the caller drops
    /// the rest once, where a plan that owned `args` would drop what is
    /// left of it, field by field, at each of its early returns (1 KB of
    /// `just tiny`).
    #[inline(never)]
    fn from_args(args: &mut Args, host: &Host) -> Result<Plan, Error> {
        use std::mem::take;
        let rootless = host.euid != 0;
        if rootless {
            if let Some(why) = &host.userns_blocker {
                return Err(Error::usage(why.clone()));
            }
            if args.net == crate::net::NetMode::Veth {
                return Err(Error::usage(format!(
                    "--net veth needs root: barco runs as uid {}, and only root may add a link to the host's network",
                    dec(host.euid)
                )));
            }
        }
        let limits = cgroup::limits(args)?;
        let name = match &args.name {
            Some(n) => {
                cgroup::check_name(n)?;
                n.clone()
            }
            None => dec(host.pid).to_string(),
        };
        let asked = args.memory.is_some() || args.cpus.is_some() || args.cpu_weight.is_some() || args.pids.is_some();
        // The hierarchy now, for its errors and warnings; the cgroup itself
        // is planned last, in the `Plan` literal (see `plan_cgroup`).
        let hierarchy = match &host.cgroups {
            _ if args.no_cgroup => None,
            Some(h) => Some(h),
            None if asked && rootless => {
                return Err(Error::usage(msg_fmt!(
                    "limits were asked for, but barco runs as uid {} and has no cgroup of its own to put them in \
                     (a writable cgroup v2 subtree delegated to it, such as a systemd user slice)",
                    dec(host.euid)
                )))
            }
            None if asked => {
                return Err(Error::usage(msg!(
                    "limits were asked for, but this host has no cgroup v2 with the memory, cpu and pids \
                     controllers, nor v1 hierarchies of them"
                )))
            }
            None if rootless => {
                warning!(
                    "barco runs as uid {} without a delegated cgroup: the container runs without limits",
                    dec(host.euid)
                );
                None
            }
            None => {
                warning!("no usable cgroups (v2 or v1 memory, cpu, pids): the container runs without limits");
                None
            }
        };

        let root_arg = args.root.as_deref().unwrap_or_default();
        let rootfs = resolve_rootfs(root_arg)?;
        let mut shown = [""; Named::SHOWN];
        shown[Named::Rootfs as usize] = leak(rootfs.to_string_lossy());

        // Borrowed, not taken, until `c_strings` copies them: nothing for
        // the early returns between to drop (56 bytes of `just tiny`).
        let hostname = args.hostname.as_deref().unwrap_or(OsStr::new(DEFAULT_HOSTNAME));
        if hostname.is_empty() || hostname.len() > 64 {
            return Err(Error::usage(format!(
                "--hostname '{}' must be 1 to 64 bytes long",
                hostname.to_string_lossy()
            )));
        }

        let workdir = args.workdir.as_deref().unwrap_or(OsStr::new("/"));
        if !workdir.as_bytes().starts_with(b"/") {
            return Err(Error::usage(format!(
                "--workdir '{}' must be an absolute path inside the container",
                workdir.to_string_lossy()
            )));
        }

        // Root maps the seed's range; a user, its own ids onto -u.
        let default_map = |outside| match rootless {
            false => DEFAULT_MAP,
            true => IdRange { inside: args.uid, outside, count: 1 },
        };
        // Borrowed, not taken: the plan keeps only their text, and a Vec
        // here would be dropped at each early return.
        let (own_uid, own_gid) = ([default_map(host.euid)], [default_map(host.egid)]);
        let uid_map: &[IdRange] = if args.uid_map.is_empty() { &own_uid } else { &args.uid_map };
        let gid_map: &[IdRange] = if args.gid_map.is_empty() { &own_gid } else { &args.gid_map };
        check_map(uid_map, "--uid-map", "uid", args.uid)?;
        check_map(gid_map, "--gid-map", "gid", args.uid)?;
        let own = userns::only_own;
        let map_helpers = match rootless && !(own(uid_map, host.euid) && own(gid_map, host.egid)) {
            true => Some(userns::Helpers::new(uid_map, gid_map, host)?),
            false => None,
        };
        let maps_root = |map: &[IdRange]| map.iter().any(|r| r.inside == 0);
        let setup_id = (if maps_root(uid_map) { 0 } else { args.uid }, if maps_root(gid_map) { 0 } else { args.uid });
        // ping_group_range: every gid for root; rootless, only mapped gids
        // are taken, and both ends must map in order: the range holding
        // the container's gid (a range maps onto a contiguous one).
        let ping_groups = match gid_map.iter().find(|r| args.uid >= r.inside && args.uid - r.inside < r.count) {
            Some(r) if rootless => (r.inside, r.inside + (r.count - 1)),
            _ => (0, 2147483647),
        };

        let env = environment(&args.env, host, args.uid, hostname)?;
        let path =
            env.iter().rev().find_map(|e| e.as_bytes().strip_prefix(b"PATH=")).unwrap_or(DEFAULT_PATH.as_bytes());

        // The seed's form: -c PATH runs PATH with argv = [-a ARG].
        let (command, argv) = if args.command.is_empty() {
            let cmd = take(&mut args.cmd).unwrap_or_else(|| "/bin/sh".into());
            let arg0 = take(&mut args.arg0).unwrap_or_else(|| cmd.clone());
            (cmd, vec![arg0])
        } else {
            (args.command[0].clone(), take(&mut args.command))
        };
        if command.is_empty() {
            return Err(Error::usage("the command is an empty string"));
        }
        let exec_candidates = candidates(command.as_bytes(), path);

        for (dir, wanted) in [("proc", true), ("dev", true), ("sys", args.sys)] {
            let at = rootfs.join(dir);
            if wanted && file_type(&at) == Some(rustix::fs::FileType::Symlink) {
                return Err(Error::usage(msg_fmt!(
                    "rootfs '{}': /{} is a symlink; barco mounts onto it and will not follow it out of the rootfs",
                    rootfs.to_string_lossy(),
                    dir
                )));
            }
        }

        let network = crate::net::Network::plan(args.net, args.ip, &name, host.pid, ping_groups)?;
        shown[Named::Hostname as usize] = leak(hostname.to_string_lossy());
        let etc_files = rootfs::etc_files(&rootfs, shown[Named::Hostname as usize], network.hosts_address);

        let mut clone_flags = CLONE_FLAGS;
        if rootless {
            clone_flags |= k::CLONE_NEWUSER as u64;
        }
        if args.net == crate::net::NetMode::Host {
            warning!("--net host: the container shares the host's network namespace");
            clone_flags &= !(k::CLONE_NEWNET as u64);
        }
        let network_builder = !rootless && args.net != crate::net::NetMode::Host;
        if network_builder {
            clone_flags &= !(k::CLONE_NEWNET as u64);
        }
        let v1_cgroup = hierarchy.as_ref().is_some_and(|h| h.joined_by_child());
        let cpus = match network_builder || v1_cgroup {
            // Matched, not `.ok().filter()`: each step of those was one more
            // copy of the 128-byte set (32 bytes of `just tiny`).
            true => match rustix::thread::sched_getaffinity(None) {
                Ok(cpus) if cpus.count() > 1 => Some(cpus),
                _ => None,
            },
            false => None,
        };
        if v1_cgroup {
            // The cgroup namespace is rooted where its creator is: the child
            // unshares it once it has joined its cgroups.
            clone_flags &= !(k::CLONE_NEWCGROUP as u64);
        }

        if args.allow_new_privileges {
            warning!(
                "--allow-new-privileges: setuid and file-capability binaries can gain privileges in the container"
            );
        }
        let seccomp = match &args.seccomp_bpf {
            _ if args.no_seccomp => {
                warning!("--seccomp none: the container runs without a seccomp filter");
                None
            }
            Some(file) => {
                let file_shown = leak(file.to_string_lossy());
                // Either failure as one text, then one message and one
                // early return (each drops everything planned so far).
                let program = read_file(file.as_ref())
                    .map_err(|errno| crate::error::strerror(errno).to_string())
                    .and_then(|bytes| seccomp::parse_program(&bytes))
                    .map_err(|why| Error::usage(format!("--seccomp-bpf '{file_shown}': {why}")))?;
                shown[Named::Seccomp as usize] = file_shown;
                Some(program.into())
            }
            None => {
                shown[Named::Seccomp as usize] = "barco's default";
                Some(seccomp::default_program())
            }
        };

        let rootfs_display = shown[Named::Rootfs as usize];
        shown[Named::Workdir as usize] = leak(workdir.to_string_lossy());
        shown[Named::Command as usize] = leak(command.to_string_lossy());
        shown[Named::Ids as usize] = dec(args.uid).to_string().leak();
        // Every C string at once (see `c_strings`): one early return, so
        // one copy of the code that drops everything planned so far.
        let (rootfs, hostname, workdir, argv, envp) = c_strings(rootfs, &command, hostname, workdir, argv, env)?;
        Ok(Plan {
            rootfs,
            hostname,
            workdir,
            uid: args.uid,
            gid: args.uid,
            shown,
            uid_map: map_text(uid_map),
            gid_map: map_text(gid_map),
            rootless,
            deny_setgroups: rootless && map_helpers.is_none(),
            // newgidmap too denies setgroups when it maps only the caller's
            // own gid (shadow's write_setgroups).
            keep_groups: rootless && own(gid_map, host.egid),
            map_helpers,
            setup_id,
            userns_refused: if rootless { userns::refused(host).leak() } else { "" },
            // Made here, not before `c_strings`: 32 bytes of `just tiny`.
            rootless_bind_refused: format!(
                "rootfs '{rootfs_display}' has other mounts beneath it, which a user namespace may not leave \
                 behind (the kernel locks them): use a rootfs without mounts under it, or run barco as root"
            )
            .leak(),
            exec_candidates,
            argv,
            envp,
            clone_flags,
            network,
            network_builder,
            cpus,
            spread: match host.var("BARCO_SPREAD").map(OsStr::as_bytes) {
                Some(b"1") => Some(true),
                Some(b"0") => Some(false),
                _ => None,
            },
            etc_files,
            caps_kept: caps::kept(&args.cap_add, &args.cap_drop),
            no_new_privs: !args.allow_new_privileges,
            seccomp,
            mount_sys: args.sys,
            cgroup: plan_cgroup(hierarchy, &name, &limits),
            root_switch: if host.root_is_initramfs { RootSwitch::MoveOverInitramfs } else { RootSwitch::Pivot },
            init: args.init,
            reap_orphans: host.is_init,
            heap_audit: host.var("BARCO_HEAP_AUDIT") == Some(OsStr::new("1")),
            ablated: match host.var("BARCO_ABLATE") {
                Some(names) if cfg!(feature = "ablation") => Step::parse(names),
                _ => 0,
            },
        })
    }

    /// Whether the supervisor makes the user namespace ahead, for the child
    /// to join (`supervise::make_user_ns`): as root, over a root it can
    /// pivot. Rootless, `clone3` makes it; over an initramfs the child
    /// unshares it, so that the kernel's refusal of a new user namespace to
    /// a chrooted process stays a check on barco's chroot (see
    /// `rootfs::move_over_initramfs`).
    pub fn user_ns_ahead(&self) -> bool {
        !self.rootless && self.root_switch == RootSwitch::Pivot
    }

    /// Whether the bench's ablation build skips `step`: false at compile
    /// time in every other build.
    #[inline(always)]
    pub fn skips(&self, step: Step) -> bool {
        cfg!(feature = "ablation") && self.ablated & step as u32 != 0
    }

    /// What a failed child step was acting on, for the error line. `index`
    /// picks the entry of a table the step walks (see `rootfs`).
    pub fn subject(&'static self, stage: Stage, index: u16) -> &'static str {
        let table = |t: &'static [u8]| packed::nth(t, usize::from(index)).unwrap_or("?");
        match SUBJECTS[stage as usize - 1] {
            named @ (Named::Nothing
            | Named::Hostname
            | Named::Rootfs
            | Named::Seccomp
            | Named::Ids
            | Named::Workdir
            | Named::Command) => self.shown[named as usize],
            Named::DevMounts => table(rootfs::DEV_MOUNT_NAMES),
            Named::Masked => table(rootfs::MASKED_NAMES),
            Named::ReadOnly => table(rootfs::READ_ONLY_NAMES),
            Named::Targets => table(rootfs::TARGET_NAMES),
            Named::Caps => table(caps::NAMES_PACKED),
            Named::DevNodes => table(rootfs::DEV_NODE_NAMES),
            Named::DevLinks => table(rootfs::DEV_LINK_NAMES),
            Named::Network => self.network.subject(index),
            Named::EtcFiles => table(rootfs::ETC_FILE_NAMES),
            Named::Cgroup => {
                self.cgroup.as_ref().and_then(|c| c.join_display(index)).unwrap_or("waiting for the supervisor")
            }
            Named::HeapAudit if index == 1 => "in barco's network builder",
            Named::HeapAudit => "in the container's setup process",
        }
    }
}

/// What names a failed child step's subject, for [`Plan::subject`].
#[derive(Clone, Copy)]
enum Named {
    // The plan's own texts (`Plan::shown`) first; Nothing's is "".
    Nothing,
    Hostname,
    Rootfs,
    Seccomp,
    Ids,
    Workdir,
    Command,
    DevMounts,
    Masked,
    ReadOnly,
    Targets,
    Caps,
    DevNodes,
    DevLinks,
    Network,
    EtcFiles,
    Cgroup,
    HeapAudit,
}

impl Named {
    /// How many are named by a text in `Plan::shown`.
    const SHOWN: usize = Named::Command as usize + 1;

    /// The source of `stage`'s subject, for the compile-time table
    /// [`SUBJECTS`].
    const fn of(stage: Stage) -> Named {
        match stage {
            Stage::Hostname => Named::Hostname,
            Stage::BindRootfs
            | Stage::EnterRootfs
            | Stage::MountProc
            | Stage::PivotRoot
            | Stage::Chroot
            | Stage::MountSys => Named::Rootfs,
            Stage::MountDev => Named::DevMounts,
            Stage::MaskPath => Named::Masked,
            Stage::ReadOnlyPath => Named::ReadOnly,
            Stage::RootfsSymlink => Named::Targets,
            Stage::CapBounding => Named::Caps,
            Stage::Seccomp => Named::Seccomp,
            Stage::DevNode => Named::DevNodes,
            Stage::DevLink => Named::DevLinks,
            Stage::SetGid | Stage::SetUid => Named::Ids,
            Stage::Network => Named::Network,
            Stage::EtcFile => Named::EtcFiles,
            Stage::JoinCgroup => Named::Cgroup,
            Stage::Workdir => Named::Workdir,
            Stage::Exec => Named::Command,
            Stage::HeapAudit => Named::HeapAudit,
            _ => Named::Nothing,
        }
    }
}

/// Each stage's [`Named`], a byte each in the order of the discriminants
/// (from 1): a `match` on the stage in [`Plan::subject`] was a jump table of
/// forty eight-byte entries.
const SUBJECTS: [Named; Stage::ALL.len()] = {
    let (mut named, mut i) = ([Named::Nothing; Stage::ALL.len()], 0);
    while i < named.len() {
        named[i] = Named::of(Stage::ALL[i]);
        i += 1;
    }
    named
};

/// The container's cgroup on `h`, for `Plan::from_args`. Called in the
/// `Plan` literal, after the last early return, so that none drops a
/// `Cgroup`, and not inlined, so that its fields are not copied one by one
/// into the plan (0.3 KB of `just tiny`; either alone saved nothing).
#[inline(never)]
fn plan_cgroup(h: Option<&Hierarchy>, name: &str, limits: &cgroup::Limits) -> Option<Cgroup> {
    h.map(|h| cgroup::plan(h, name, limits))
}

/// The plan's C strings and execve's arrays, for `Plan::from_args`, or
/// the first that holds a NUL refused: of those, and of the command, which
/// the seed's `-c CMD -a ARG0` keeps out of argv. (The rootfs cannot hold
/// one: `resolve_rootfs` refused it.) A function kept out of line, not a
/// closure inlined there: 0.2 KB of `just tiny`.
#[inline(never)]
fn c_strings(
    rootfs: std::path::PathBuf,
    command: &OsStr,
    hostname: &OsStr,
    workdir: &OsStr,
    argv: Vec<OsString>,
    env: Vec<OsString>,
) -> Result<(CString, CString, CString, CArray, CArray), Error> {
    // Each looked at for a NUL first (argv, envp, then the command, hostname
    // and workdir, the order the error picks the first of), so that none of
    // the conversions can fail: one early return, before any is made,
    // instead of one after each (0.3 KB of `just tiny`). The three looked
    // at only if the vectors hold no NUL: one chain of all five was 0.2 KB
    // more.
    let nul = |s: &&OsStr| s.as_bytes().contains(&0);
    let found = argv.iter().chain(&env).map(OsString::as_os_str).find(nul);
    if let Some(nul) = found.or_else(|| [command, hostname, workdir].into_iter().find(nul)) {
        return Err(nul_refused(nul.as_bytes()));
    }
    let rootfs = cstring(rootfs.into_os_string());
    Ok((rootfs, cstring(hostname.into()), cstring(workdir.into()), CArray::new(argv), CArray::new(env)))
}

/// A display string kept for the whole run: the plan is leaked (it lives
/// until barco exits), so its strings may be too, and a `&'static str` has
/// nothing to move into the plan nor to drop at an early return (as the
/// error subjects of `error::leak`).
pub fn leak(shown: std::borrow::Cow<str>) -> &'static str {
    shown.into_owned().leak()
}

/// `string`, which holds no NUL (see `c_strings`), as a C string (the
/// default never made).
fn cstring(string: OsString) -> CString {
    CString::new(string.into_vec()).unwrap_or_default()
}

fn nul_refused(bytes: &[u8]) -> Error {
    Error::usage(format!("'{}' contains a NUL byte", String::from_utf8_lossy(bytes)))
}

/// The rootfs as an absolute path with symlinks resolved on the host side,
/// so that error messages and the bind mount name the same directory.
/// Not inlined into `Plan::from_args`, its one caller: 0.2 KB of `just
/// tiny`.
#[inline(never)]
fn resolve_rootfs(root: &OsStr) -> Result<std::path::PathBuf, Error> {
    use rustix::fs::{fstat, openat, readlinkat, FileType, Mode, OFlags, CWD};
    use std::os::unix::ffi::OsStringExt;
    let shown = root.to_string_lossy();
    let fail = |e| Error::usage(format!("rootfs '{shown}': {}", crate::error::strerror(e)));
    // Not std::fs::canonicalize: musl's realpath(3) under it is the last
    // user of musl's malloc in `just tiny`. The kernel resolves the path
    // once, in the open, and /proc names what it found.
    let fd = c_path(root)
        .and_then(|root| openat(CWD, &*root, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()))
        .map_err(fail)?;
    if FileType::from_raw_mode(fstat(&fd).map_err(fail)?.st_mode) != FileType::Directory {
        return Err(Error::usage(msg_fmt!("rootfs '{}' is not a directory", shown)));
    }
    let link = format!("/proc/self/fd/{}", dec(rustix::fd::AsRawFd::as_raw_fd(&fd)));
    match c_path(link.as_ref()).and_then(|link| readlinkat(CWD, &*link, Vec::new())) {
        Ok(path) if path.as_bytes().starts_with(b"/") => Ok(OsString::from_vec(path.into_bytes()).into()),
        // No /proc yet (a bare PID 1): the path as given, made absolute.
        _ => {
            let cwd = rustix::process::getcwd(Vec::new()).map_err(fail)?;
            Ok(Path::new(&OsString::from_vec(cwd.into_bytes())).join(root))
        }
    }
}

/// Whether `/` is the initramfs's rootfs. Checked cheaply first: that is a
/// tmpfs or ramfs, which few hosts' `/` is; only then is the mount table
/// read, where the mount on top of `/` has the type `rootfs`.
fn root_is_initramfs() -> bool {
    const RAMFS_MAGIC: u32 = 0x8584_58f6;
    let on_ram = rustix::fs::statfs(c"/").is_ok_and(|st| matches!(st.f_type as u32, k::TMPFS_MAGIC | RAMFS_MAGIC));
    on_ram && read_text("/proc/self/mountinfo").is_some_and(|t| mountinfo_root_is_rootfs(&t))
}

/// The last `/proc/self/mountinfo` line mounted on `/` is the visible root;
/// its filesystem type is the field after the lone `-` that ends the
/// optional fields (proc(5)).
/// Searched forward on purpose: `rfind` would bring std's reverse line
/// splitter (0.5 KB of `just tiny`) for a file of a few lines. Split as
/// bytes, each line once: a `str`'s `lines` and `split(' ')`, twice on the
/// root's line, were 64 bytes more (the kernel ends each line with a
/// `\n`, and a `\r` could only end its last field, the mount's options).
fn mountinfo_root_is_rootfs(mountinfo: &str) -> bool {
    let mut root_type = None;
    for line in mountinfo.as_bytes().split(|&b| b == b'\n') {
        let mut fields = line.split(|&b| b == b' ');
        if fields.nth(4) == Some(b"/") {
            root_type = fields.skip_while(|f| *f != b"-").nth(1);
        }
    }
    root_type == Some(b"rootfs")
}

/// Map lines must not overlap on either side, and the container's id must
/// be mapped, or setresuid inside would fail with EINVAL.
fn check_map(map: &[IdRange], option: &str, what: &str, id: u32) -> Result<(), Error> {
    if map.len() > MAX_MAP_LINES {
        return Err(Error::usage(format!("{option}: at most {} ranges", dec(MAX_MAP_LINES))));
    }
    let overlap = |a: u32, b: u32, n: u32, m: u32| a < b.saturating_add(m) && b < a.saturating_add(n);
    for (i, x) in map.iter().enumerate() {
        for y in &map[..i] {
            if overlap(x.inside, y.inside, x.count, y.count) || overlap(x.outside, y.outside, x.count, y.count) {
                return Err(Error::usage(format!("{option}: ranges overlap")));
            }
        }
    }
    if !map.iter().any(|r| id >= r.inside && id - r.inside < r.count) {
        // Written into one String, as in `map_text`: a String formatted
        // for each range, then joined, was 0.3 KB more of `just tiny`.
        let mut shown = String::new();
        for r in map {
            let sep = if shown.is_empty() { "" } else { ", " };
            let _ = write!(shown, "{sep}{}..{}", dec(r.inside), dec(u64::from(r.inside) + u64::from(r.count) - 1));
        }
        return Err(Error::usage(format!(
            "--uid {} is outside the container {what}s that {option} maps ({shown})",
            dec(id)
        )));
    }
    Ok(())
}

/// `/proc/PID/uid_map` text: one `inside outside count` line per range,
/// written into one String (not a String per line, collected: 0.1 KB).
pub fn map_text(map: &[IdRange]) -> Vec<u8> {
    let mut text = String::new();
    for r in map {
        let _ = writeln!(text, "{} {} {}", dec(r.inside), dec(r.outside), dec(r.count));
    }
    text.into_bytes()
}

/// The container's environment: PATH, HOME, HOSTNAME, TERM when the caller
/// has one, then every `--env`, a later key replacing an earlier one.
fn environment(extra: &[OsString], host: &Host, uid: u32, hostname: &OsStr) -> Result<Vec<OsString>, Error> {
    let mut env: Vec<OsString> = Vec::new();
    let mut set = |key: &[u8], value: &[u8]| {
        let entry = OsString::from_vec([key, b"=", value].concat());
        match env.iter_mut().find(|e| e.as_bytes().starts_with(key) && e.as_bytes().get(key.len()) == Some(&b'=')) {
            Some(old) => *old = entry,
            None => env.push(entry),
        }
    };
    set(b"PATH", DEFAULT_PATH.as_bytes());
    set(b"HOME", if uid == 0 { b"/root" } else { b"/" });
    set(b"HOSTNAME", hostname.as_bytes());
    if let Some(term) = host.var("TERM") {
        set(b"TERM", term.as_bytes());
    }
    for e in extra {
        let bytes = e.as_bytes();
        let (key, value) = match bytes.iter().position(|&b| b == b'=') {
            Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
            None => (bytes, None),
        };
        if key.is_empty() {
            return Err(Error::usage(msg_fmt!(
                "--env '{}': expected KEY=VALUE with a non-empty KEY",
                e.to_string_lossy()
            )));
        }
        // A bare KEY copies the caller's value, as `docker run -e KEY` does.
        let inherited = host.env.iter().find(|(k, _)| k.as_bytes() == key).map(|(_, v)| v.as_bytes());
        if let Some(value) = value.or(inherited) {
            set(key, value);
        }
    }
    Ok(env)
}

/// Paths to try for `command`, like execvp: as given if it has a `/`,
/// otherwise in each directory of PATH.
fn candidates(command: &[u8], path: &[u8]) -> Vec<CString> {
    let mut paths = Vec::new();
    // A NUL inside is refused by `c_strings`, which ends the plan; PATH
    // entries from --env cannot hold one either, as they came from argv too.
    let mut add = |p: Vec<u8>| paths.extend(CString::new(p).ok());
    if command.contains(&b'/') {
        add(command.to_vec());
    } else {
        for dir in path.split(|&b| b == b':').filter(|d| !d.is_empty()) {
            add([dir, b"/", command].concat());
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Parsed};

    #[test]
    fn environment_entries_split_as_std_splits_them() {
        let split = |e: &[u8]| env_entry(e).map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()));
        let pair = |k: &str, v: &str| Some((k.to_string(), v.to_string()));
        assert_eq!(split(b"A=1"), pair("A", "1"));
        assert_eq!(split(b"A=b=c"), pair("A", "b=c"));
        assert_eq!(split(b"EMPTY="), pair("EMPTY", ""));
        assert_eq!(split(b"=C:=C:\\"), pair("=C:", "C:\\"));
        assert_eq!(split(b"NOEQUALS"), None);
        assert_eq!(split(b"="), None);
        assert_eq!(split(b""), None);
        // The same as std's own parse of this process's environment.
        for (k, v) in std::env::vars_os() {
            let mut entry = k.clone().into_encoded_bytes();
            entry.push(b'=');
            entry.extend(v.as_encoded_bytes());
            assert_eq!(env_entry(&entry), Some((k, v)));
        }
    }

    fn host() -> Host {
        Host {
            euid: 0,
            egid: 0,
            userns_blocker: None,
            seccomp_filtered: false,
            env: vec![("TERM".into(), "xterm".into()), ("FOO".into(), "bar".into())],
            is_init: false,
            root_is_initramfs: false,
            cgroups: None,
            pid: 4242,
        }
    }

    fn plan(argv: &[&str]) -> Result<Plan, Error> {
        plan_on(argv, &host())
    }

    fn plan_on(argv: &[&str], host: &Host) -> Result<Plan, Error> {
        match parse(argv.iter().copied())? {
            Parsed::Run(a) => Plan::new(a, host),
            _ => panic!("not a run"),
        }
    }

    #[test]
    fn kernel_files_read_whole() {
        let text = read_text("/proc/filesystems").unwrap();
        assert_eq!(text, std::fs::read_to_string("/proc/filesystems").unwrap());
        // Longer than one read's 4096 bytes.
        let big = std::env::temp_dir().join("barco-read-kernel-file");
        std::fs::write(&big, "x".repeat(10_000)).unwrap();
        assert_eq!(read_text(big.to_str().unwrap()).map(|t| t.len()), Some(10_000));
        std::fs::remove_file(&big).unwrap();
        assert_eq!(read_text("/nonexistent"), None);
    }

    #[test]
    fn v1_cgroups_drop_the_cgroup_namespace_from_clone3_and_name_the_join() {
        let v1 = Hierarchy::V1 {
            memory: ("/m".into(), "own".into()),
            cpu: ("/c".into(), String::new()),
            pids: ("/p".into(), String::new()),
        };
        let h = Host { cgroups: Some(v1), ..host() };
        let a = match parse(["-m", "/", "--name", "web"].iter().copied()).unwrap() {
            Parsed::Run(a) => a,
            _ => panic!("not a run"),
        };
        let p: &'static Plan = Box::leak(Box::new(Plan::new(a, &h).unwrap()));
        assert_eq!(p.clone_flags & u64::from(k::CLONE_NEWCGROUP), 0, "the child unshares it after joining");
        assert_ne!(plan(&["-m", "/"]).unwrap().clone_flags & u64::from(k::CLONE_NEWCGROUP), 0);
        assert_eq!(p.subject(Stage::JoinCgroup, 1), "/c/barco-web/tasks");
        assert_eq!(p.subject(Stage::JoinCgroup, u16::MAX), "waiting for the supervisor");
    }

    fn env_of(p: &Plan) -> Vec<String> {
        p.envp.strings().iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn defaults_are_the_seeds() {
        let p = plan(&["-m", "/"]).unwrap();
        assert_eq!(p.rootfs.as_bytes(), b"/");
        assert_eq!(p.hostname.as_bytes(), b"barcontainer");
        assert_eq!(p.workdir.as_bytes(), b"/");
        assert_eq!((p.uid, p.gid), (0, 0));
        assert_eq!(p.uid_map, b"0 10000 2000\n");
        assert_eq!(p.gid_map, b"0 10000 2000\n");
        assert_eq!(p.exec_candidates, [CString::new("/bin/sh").unwrap()]);
        assert_eq!(p.argv.strings(), [CString::new("/bin/sh").unwrap()]);
        assert!(!p.heap_audit);
        assert!(!p.init && !p.reap_orphans);
        assert_eq!(p.root_switch, RootSwitch::Pivot);
        assert!(p.user_ns_ahead(), "as root, the supervisor makes the user namespace");
        let p: &'static Plan = Box::leak(Box::new(p));
        assert_eq!(p.subject(Stage::Hostname, 0), "barcontainer");
        assert_eq!(p.subject(Stage::MountProc, 0), "/");
        assert_eq!(p.subject(Stage::Seccomp, 0), "barco's default");
        assert_eq!(p.subject(Stage::SetUid, 0), "0");
        assert_eq!(p.subject(Stage::Workdir, 0), "/");
        assert_eq!(p.subject(Stage::Exec, 0), "/bin/sh");
        let nothing = Stage::ALL.into_iter().find(|&s| matches!(Named::of(s), Named::Nothing)).unwrap();
        assert_eq!(p.subject(nothing, 0), "");
    }

    #[test]
    fn as_pid_1_on_an_initramfs() {
        let args = match parse(["-m", "/", "--init"]).unwrap() {
            Parsed::Run(a) => a,
            _ => unreachable!(),
        };
        let p = Plan::new(args, &Host { is_init: true, root_is_initramfs: true, ..host() }).unwrap();
        assert!(p.init && p.reap_orphans);
        assert_eq!(p.root_switch, RootSwitch::MoveOverInitramfs);
        // The child unshares it after its chroot, which the kernel refuses
        // to a real chroot; setns would not.
        assert!(!p.user_ns_ahead());
    }

    #[test]
    fn initramfs_root_from_mountinfo() {
        // Read off the VM suite's kernel: the initramfs, then /proc on it.
        let initramfs = "1 1 0:2 / / rw - rootfs rootfs rw,size=229232k,nr_inodes=57308,inode64\n\
                         21 1 0:19 / /proc rw,relatime - proc proc rw\n";
        assert!(mountinfo_root_is_rootfs(initramfs));
        // switch_root's result: a tmpfs moved over the initramfs.
        let moved = format!("{initramfs}30 1 0:25 / / rw,relatime - tmpfs tmpfs rw\n");
        assert!(!mountinfo_root_is_rootfs(&moved));
        assert!(!mountinfo_root_is_rootfs("24 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"));
        assert!(!mountinfo_root_is_rootfs(""));
        assert!(mountinfo_root_is_rootfs("1 1 0:2 / / rw shared:1 - rootfs rootfs rw,x=\r\n"));
    }

    #[test]
    fn seed_form_sets_argv0() {
        let p = plan(&["-u", "0", "-m", "/", "-c", "/bin/sh", "-a", "."]).unwrap();
        assert_eq!(p.exec_candidates, [CString::new("/bin/sh").unwrap()]);
        assert_eq!(p.argv.strings(), [CString::new(".").unwrap()]);
    }

    #[test]
    fn environment_is_built_not_inherited() {
        let p =
            plan(&["-m", "/", "--hostname", "box", "-e", "A=1", "-e", "FOO", "-e", "HOME=/h", "-e", "NOPE"]).unwrap();
        assert_eq!(
            env_of(&p),
            [
                format!("PATH={DEFAULT_PATH}"),
                "HOME=/h".into(),
                "HOSTNAME=box".into(),
                "TERM=xterm".into(),
                "A=1".into(),
                "FOO=bar".into(),
            ]
        );
        let p = plan(&["-m", "/", "-u", "5", "-e", "E="]).unwrap();
        assert!(env_of(&p).contains(&"HOME=/".to_string()));
        assert!(env_of(&p).contains(&"E=".to_string()));
    }

    #[test]
    fn argv_and_envp_are_null_terminated() {
        let p = plan(&["-m", "/", "echo", "a", "b"]).unwrap();
        assert_eq!(p.argv.ptrs.len(), 4);
        assert!(p.argv.ptrs[3].is_null());
        assert_eq!(p.argv.as_ptr(), p.argv.ptrs.as_ptr());
        assert_eq!(p.envp.ptrs.last(), Some(&core::ptr::null()));
    }

    #[test]
    fn command_is_searched_in_the_containers_path() {
        let p = plan(&["-m", "/", "-e", "PATH=/x::/y", "true"]).unwrap();
        assert_eq!(p.exec_candidates, [CString::new("/x/true").unwrap(), CString::new("/y/true").unwrap()]);
        let p = plan(&["-m", "/", "true"]).unwrap();
        assert_eq!(p.exec_candidates.len(), 6);
        assert_eq!(p.exec_candidates[5].as_bytes(), b"/bin/true");
        let p = plan(&["-m", "/", "./run", "x"]).unwrap();
        assert_eq!(p.exec_candidates, [CString::new("./run").unwrap()]);
    }

    #[test]
    fn map_text_and_uid_checks() {
        let p = plan(&["-m", "/", "-u", "1000", "--uid-map", "0:100000:65536", "--uid-map", "70000:5:1"]).unwrap();
        assert_eq!(p.uid_map, b"0 100000 65536\n70000 5 1\n");
        assert_eq!(p.gid_map, b"0 10000 2000\n");
        assert_eq!(p.shown[Named::Ids as usize], "1000");
    }

    #[test]
    fn bad_plans() {
        let msg = |argv: &[&str]| plan(argv).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg(&["-m", "/nonexistent/rootfs"]).contains("rootfs '/nonexistent/rootfs': No such file or directory"));
        assert!(msg(&["-m", "/etc/passwd"]).contains("is not a directory"));
        assert!(msg(&["-m", "/", "-u", "2000"])
            .contains("--uid 2000 is outside the container uids that --uid-map maps (0..1999)"));
        assert!(msg(&["-m", "/", "-u", "10", "--gid-map", "0:1:5"]).contains("outside the container gids"));
        assert!(msg(&["-m", "/", "--uid-map", "0:10:10", "--uid-map", "5:100:10"]).contains("overlap"));
        assert!(msg(&["-m", "/", "--uid-map", "0:10:10", "--uid-map", "50:15:10"]).contains("overlap"));
        assert!(msg(&["-m", "/", "-e", "=x"]).contains("--env '=x': expected KEY=VALUE"));
        assert!(msg(&["-m", "/", "-e", ""]).contains("expected KEY=VALUE"));
        assert!(msg(&["-m", "/", "-w", "tmp"]).contains("must be an absolute path"));
        assert!(msg(&["-m", "/", "--hostname", ""]).contains("1 to 64 bytes"));
        assert!(msg(&["-m", "/", "--hostname", &"h".repeat(65)]).contains("1 to 64 bytes"));
        assert!(msg(&["-m", "/", ""]).contains("empty string"));
        // The first NUL of argv, envp, then the command, hostname and workdir.
        assert_eq!(msg(&["-m", "/", "-w", "/w\0", "-e", "A=\0", "echo", "a\0b"]), "'a\0b' contains a NUL byte");
        assert_eq!(msg(&["-m", "/", "-w", "/w\0", "-e", "A=\0", "echo"]), "'A=\0' contains a NUL byte");
        assert_eq!(msg(&["-m", "/", "-w", "/w\0", "--hostname", "h\0"]), "'HOSTNAME=h\0' contains a NUL byte");
        assert_eq!(msg(&["-m", "/", "-w", "/w\0"]), "'/w\0' contains a NUL byte");
        // The seed's -c CMD -a ARG0: the command is not in argv.
        assert_eq!(msg(&["-m", "/", "-w", "/w\0", "-c", "/bin/s\0h", "-a", "sh"]), "'/bin/s\0h' contains a NUL byte");
        let args = match parse(["-m", "/"]).unwrap() {
            Parsed::Run(a) => a,
            _ => unreachable!(),
        };
        let blocked = Host { euid: 1000, userns_blocker: Some("user namespaces are off".into()), ..host() };
        let e = Plan::new(args, &blocked).err().unwrap().to_string();
        assert_eq!(e, "user namespaces are off");
    }

    #[test]
    fn rootless_plans() {
        let user = || Host { euid: 1000, egid: 1001, ..host() };
        let run = |argv: &[&str]| match parse(argv.iter().copied()).unwrap() {
            Parsed::Run(a) => Plan::new(a, &user()),
            _ => unreachable!(),
        };
        let p = run(&["-m", "/", "--cgroup", "none"]).unwrap();
        assert!(p.rootless && p.deny_setgroups && p.keep_groups && p.map_helpers.is_none());
        assert_eq!(p.uid_map, b"0 1000 1\n");
        assert_eq!(p.gid_map, b"0 1001 1\n");
        assert_ne!(p.clone_flags & u64::from(k::CLONE_NEWUSER), 0, "the user namespace comes with clone3");
        assert!(!p.user_ns_ahead());
        let p = run(&["-m", "/", "--cgroup", "none", "-u", "7"]).unwrap();
        assert_eq!((p.uid_map.as_slice(), p.gid_map.as_slice()), (&b"7 1000 1\n"[..], &b"7 1001 1\n"[..]));
        // Root's plan keeps the user namespace for later.
        assert_eq!(plan(&["-m", "/"]).unwrap().clone_flags & u64::from(k::CLONE_NEWUSER), 0);
        let msg = |argv: &[&str]| run(argv).err().unwrap().to_string();
        assert!(msg(&["-m", "/", "--net", "veth"]).contains("--net veth needs root"));
        assert!(msg(&["-m", "/", "--memory", "1G"]).contains("barco runs as uid 1000 and has no cgroup of its own"));
    }

    #[test]
    fn lockdown_defaults_and_choices() {
        let p = plan(&["-m", "/"]).unwrap();
        assert!(p.no_new_privs && !p.mount_sys);
        assert_eq!(p.caps_kept, caps::kept(&[], &[]));
        assert_eq!(p.seccomp.as_deref(), Some(&seccomp::default_program()[..]));
        let p = plan(&["-m", "/", "--seccomp", "none", "--allow-new-privileges", "--cap-drop", "all"]).unwrap();
        assert!(p.seccomp.is_none() && !p.no_new_privs);
        assert_eq!(p.caps_kept, 0);
        let dir = std::env::temp_dir().join(format!("barco-plan-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bpf = dir.join("allow.bpf");
        std::fs::write(&bpf, [0x06u8, 0, 0, 0, 0, 0, 0xff, 0x7f]).unwrap();
        let p = plan(&["-m", "/", "--seccomp-bpf", bpf.to_str().unwrap()]).unwrap();
        assert_eq!(p.seccomp.as_deref().map(<[_]>::len), Some(1));
        std::fs::write(&bpf, [1u8, 2, 3]).unwrap();
        let e = plan(&["-m", "/", "--seccomp-bpf", bpf.to_str().unwrap()]).err().unwrap().to_string();
        assert!(e.contains("allow.bpf': 3 bytes is not a whole number"), "{e}");
        let e = plan(&["-m", "/", "--seccomp-bpf", "/nonexistent.bpf"]).err().unwrap().to_string();
        assert!(e.contains("--seccomp-bpf '/nonexistent.bpf': No such file or directory"), "{e}");
        // A rootfs whose /proc leads out of it.
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(rootfs.join("dev")).unwrap();
        let _ = std::os::unix::fs::symlink("/", rootfs.join("proc"));
        let e = plan(&["-m", rootfs.to_str().unwrap()]).err().unwrap().to_string();
        assert!(e.contains("/proc is a symlink"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn heap_audit_is_opt_in() {
        let h = Host { env: vec![("BARCO_HEAP_AUDIT".into(), "1".into())], ..host() };
        assert!(plan_on(&["-m", "/"], &h).unwrap().heap_audit);
    }

    #[test]
    fn only_the_ablation_build_skips_steps() {
        let h = Host { env: vec![("BARCO_ABLATE".into(), "all".into())], ..host() };
        let p = plan_on(&["-m", "/"], &h).unwrap();
        for (step, _) in Step::ALL {
            assert_eq!(p.skips(step), cfg!(feature = "ablation"), "{step:?}");
        }
        assert_eq!(Step::parse(OsStr::new("caps,nonsense")), Step::Caps as u32);
        assert_eq!(Step::parse(OsStr::new("dev")), Step::Dev as u32 | Step::EtcFiles as u32);
    }
}
