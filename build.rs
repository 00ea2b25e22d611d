//! Compiles barco's seccomp deny-list into classic BPF with seccompiler, and
//! writes it to `$OUT_DIR/seccomp_filter.rs` as a static array that
//! `src/seccomp.rs` loads with the raw `seccomp(2)` call.
//!
//! seccompiler gives every matched rule one action and every other call
//! another (here a matched rule allows the call and the rest get EPERM: see
//! `rules`), and checks only `arch == AUDIT_ARCH_X86_64`, which x32
//! syscalls pass too. So after its 3-instruction architecture check this
//! splices in:
//!
//! ```text
//!   ld  [nr]
//!   jge #0x40000000  -> ret ERRNO(EPERM)   ; every x32 syscall
//!   jeq #clone3      -> ret ERRNO(ENOSYS)  ; so libc falls back to clone
//! ```
//!
//! Then a binary search over the numbers that have rules: the ones denied
//! outright return ERRNO(EPERM) there, the ones denied for some arguments
//! fall through to seccompiler's chain, which compiles only those, and
//! every other syscall reaches `ret ALLOW` in about seven comparisons.
//! Loading a filter costs in proportion to its length (the kernel converts
//! it to eBPF, JITs it, and runs it over every syscall number to cache the
//! ones it always allows: seccomp_cache_prepare() in kernel/seccomp.c).
//! seccompiler's linear chain over every rule was 389 instructions, and a
//! syscall without a rule ran all of them; this program is 183.
//!
//! The numbers are x86_64's (barco's raw syscalls are x86_64-only); the unit
//! tests in `src/seccomp.rs` check each against linux-raw-sys.
//!
//! barco itself loads the program packed (see `pack`), as
//! `$OUT_DIR/seccomp_filter.lz`. And the texts barco shows only when
//! something fails, or for `--help` (`src/usage.txt`), are packed the same
//! way into `$OUT_DIR/cold.lz` for `src/cold.rs`: see `cold_texts`.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen::Dword, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const NR_CLONE3: u32 = 435;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

const S_ISUID: u64 = 0o4000;
const S_ISGID: u64 = 0o2000;
const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;
const AF_ALG: u64 = 38;
const AF_VSOCK: u64 = 40;
/// Every CLONE_NEW* flag. CLONE_NEWTIME (0x80) is left out for clone(),
/// where the low byte is the exit signal, but kept for unshare().
const NAMESPACES_CLONE: [u64; 7] =
    [0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000];
const CLONE_NEWTIME: u64 = 0x80;
/// personality(2) values docker allows: PER_LINUX, PER_LINUX32, UNAME26,
/// UNAME26|PER_LINUX32, and the query 0xffffffff.
const PERSONALITY_SAFE: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Denied outright: (name, x86_64 number).
const DENIED: &[(&str, i64)] = &[
    // The seed's list.
    ("keyctl", 250),
    ("add_key", 248),
    ("request_key", 249),
    ("ptrace", 101),
    ("mbind", 237),
    ("migrate_pages", 256),
    ("move_pages", 279),
    ("set_mempolicy", 238),
    ("userfaultfd", 323),
    ("perf_event_open", 298),
    // Namespaces: entering one is as good as creating one.
    ("setns", 308),
    // The new mount API.
    ("fsopen", 430),
    ("fsconfig", 431),
    ("fsmount", 432),
    ("fspick", 433),
    ("open_tree", 428),
    ("move_mount", 429),
    ("mount_setattr", 442),
    // Kernel attack surface and machine-wide state.
    ("io_uring_setup", 425),
    ("io_uring_enter", 426),
    ("io_uring_register", 427),
    ("bpf", 321),
    ("kexec_load", 246),
    ("kexec_file_load", 320),
    ("init_module", 175),
    ("finit_module", 313),
    ("delete_module", 176),
    ("open_by_handle_at", 304),
    ("name_to_handle_at", 303),
    ("acct", 163),
    ("swapon", 167),
    ("swapoff", 168),
    ("reboot", 169),
    ("syslog", 103),
    ("uselib", 134),
    ("quotactl", 179),
    ("quotactl_fd", 443),
    ("set_mempolicy_home_node", 450),
];

/// Denied when an argument matches: (name, number), built in `rules`.
const CONDITIONAL: &[(&str, i64)] = &[
    ("chmod", 90),
    ("fchmod", 91),
    ("fchmodat", 268),
    ("fchmodat2", 452),
    ("unshare", 272),
    ("clone", 56),
    ("ioctl", 16),
    ("socket", 41),
    ("personality", 135),
];

/// Where a comparison in the search goes.
#[derive(Clone, Copy)]
enum To {
    Next,
    At(usize),
    /// `ret ALLOW`, right after the search.
    Allow,
    /// `ret ERRNO(EPERM)`, right after that.
    Deny,
    /// seccompiler's chain, right after that.
    Chain,
}

/// A binary search for the syscall number (already in A) among `keys`,
/// sorted, each with where a match goes (`Deny` or `Chain`); anything else
/// goes to `ret ALLOW`. Returns the instructions, the two returns included.
fn search(keys: &[(u32, To)]) -> Vec<(u16, u8, u8, u32)> {
    const JEQ: u16 = 0x15;
    const JGT: u16 = 0x25;
    const JA: u16 = 0x05;
    fn node(keys: &[(u32, To)], code: &mut Vec<(u16, To, To, u32)>) {
        if keys.len() <= 3 {
            for &(k, to) in keys {
                code.push((JEQ, to, To::Next, k));
            }
            code.push((JA, To::Allow, To::Next, 0));
            return;
        }
        let mid = keys.len() / 2;
        let (k, to) = keys[mid];
        code.push((JEQ, to, To::Next, k));
        let jgt = code.len();
        code.push((JGT, To::Next, To::Next, k));
        node(&keys[..mid], code);
        code[jgt].1 = To::At(code.len());
        node(&keys[mid + 1..], code);
    }
    let mut code = Vec::new();
    node(keys, &mut code);
    let allow = code.len();
    let offset = |at: usize, to: To| -> u32 {
        let target = match to {
            To::Next => at + 1,
            To::At(i) => i,
            To::Allow => allow,
            To::Deny => allow + 1,
            To::Chain => allow + 2,
        };
        (target - at - 1) as u32
    };
    let byte = |n: u32| u8::try_from(n).expect("a search jump within 255 instructions");
    let mut out: Vec<(u16, u8, u8, u32)> =
        code.iter()
            .enumerate()
            .map(|(at, &(op, jt, jf, k))| {
                if op == JA {
                    (op, 0, 0, offset(at, jt))
                } else {
                    (op, byte(offset(at, jt)), byte(offset(at, jf)), k)
                }
            })
            .collect();
    out.push((0x06, 0, 0, SECCOMP_RET_ALLOW));
    out.push((0x06, 0, 0, SECCOMP_RET_ERRNO | EPERM));
    out
}

/// A rule on the low 32 bits of argument `arg`, as the kernel truncates
/// `int` and ioctl-command arguments (CVE-2019-10063 came from comparing 64).
fn on(arg: u8, op: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, Dword, op, value).expect("a valid condition")
}

fn rule(conditions: Vec<SeccompCondition>) -> SeccompRule {
    SeccompRule::new(conditions).expect("a valid rule")
}

/// None of `bits` set in argument `arg`: one masked comparison, where a
/// rule per bit, each matching when its bit is set, took six instructions
/// a bit.
fn no_bit(arg: u8, bits: &[u64]) -> Vec<SeccompRule> {
    let mask = bits.iter().fold(0, |m, b| m | b);
    vec![rule(vec![on(arg, SeccompCmpOp::MaskedEq(mask), 0)])]
}

/// The rules say when a call is allowed: the chain returns ALLOW when one
/// matches, and ERRNO(EPERM) otherwise (see `main`). Written the other way
/// round, as the arguments that deny a call, they were a rule per bit or
/// value, and the chain was 191 instructions instead of 95.
fn rules() -> BTreeMap<i64, Vec<SeccompRule>> {
    let mut rules = BTreeMap::new();
    let setid = [S_ISUID, S_ISGID];
    rules.insert(90, no_bit(1, &setid)); // chmod(path, mode)
    rules.insert(91, no_bit(1, &setid)); // fchmod(fd, mode)
    rules.insert(268, no_bit(2, &setid)); // fchmodat(dirfd, path, mode)
    rules.insert(452, no_bit(2, &setid)); // fchmodat2(dirfd, path, mode, flags)
    let mut unshare = NAMESPACES_CLONE.to_vec();
    unshare.push(CLONE_NEWTIME);
    rules.insert(272, no_bit(0, &unshare)); // unshare(flags)
    rules.insert(56, no_bit(0, &NAMESPACES_CLONE)); // clone(flags, ...)
    rules.insert(16, vec![rule(vec![on(1, SeccompCmpOp::Ne, TIOCSTI), on(1, SeccompCmpOp::Ne, TIOCLINUX)])]);
    rules.insert(41, vec![rule(vec![on(0, SeccompCmpOp::Ne, AF_ALG), on(0, SeccompCmpOp::Ne, AF_VSOCK)])]);
    rules.insert(135, PERSONALITY_SAFE.iter().map(|&v| rule(vec![on(0, SeccompCmpOp::Eq, v)])).collect());
    rules
}

/// Gathers the texts of every `msg!`, `msg_id!` and `msg_fmt!`, and of
/// every `info!`, `debug!` and `trace!` given a text alone, in
/// `src` (see `src/cold.rs`), in the order of the files' names and then of
/// their lines, after `--help`'s text (`src/usage.txt`), which is number 0.
/// Writes them separated by NULs and packed to `cold.lz`; and `cold.rs`,
/// the same texts as `TEXTS`, each copied from the source as it is written
/// there, for the macros' compile-time lookup (`cold::id`). The unit test
/// `cold::tests` checks that the unpacked texts are `TEXTS`, so it would
/// catch a literal that [`unescape`] read wrong.
fn cold_texts(out_dir: &std::path::Path) {
    println!("cargo:rerun-if-changed=src");
    let mut files: Vec<_> = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("reading src") {
            let path = entry.expect("reading src").path();
            match path.extension() {
                _ if path.is_dir() => dirs.push(path),
                Some(ext) if ext == "rs" => files.push(path),
                _ => {}
            }
        }
    }
    files.sort();
    let usage = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/usage.txt");
    let mut texts = std::fs::read(&usage).expect("reading src/usage.txt");
    assert!(!texts.contains(&0), "src/usage.txt holds a NUL");
    let mut table = format!("pub const TEXTS: [&str; N] = [\n    include_str!({:?}),\n", usage.display());
    let mut n = 1;
    for file in &files {
        let source = std::fs::read_to_string(file).expect("reading a source file");
        // rustc reads a CRLF in a literal as LF; this reader does not.
        assert!(!source.contains('\r'), "{}: a carriage return", file.display());
        let mut found = Vec::new();
        for name in ["msg!(", "msg_id!(", "msg_fmt!(", "info!(", "debug!(", "trace!("] {
            // A log line is a cold text only if it is a text alone.
            let alone = !name.starts_with("msg");
            for (at, _) in source.match_indices(name) {
                let line_start = source[..at].rfind('\n').map_or(0, |n| n + 1);
                let start = at + name.len();
                let literal = start + source[start..].len() - source[start..].trim_start().len();
                if !source[line_start..at].trim_start().starts_with("//") && source[literal..].starts_with('"') {
                    let after = source[literal + literal_at(&source[literal..]).len()..].trim_start();
                    if !alone || after.starts_with(')') {
                        found.push(literal);
                    }
                }
            }
        }
        found.sort();
        for at in found {
            let literal = literal_at(&source[at..]);
            let text = unescape(literal);
            assert!(!text.contains(&0), "{}: a cold text holds a NUL", file.display());
            texts.push(0);
            texts.extend_from_slice(&text);
            writeln!(table, "    {literal},").unwrap();
            n += 1;
        }
    }
    table.push_str("];\n");
    let header = format!(
        "/// The number of texts.\npub const N: usize = {n};\n/// Their length unpacked, separators included.\n\
         pub const LEN: usize = {};\n",
        texts.len()
    );
    std::fs::write(out_dir.join("cold.rs"), header + &table).expect("writing cold.rs");
    std::fs::write(out_dir.join("cold.lz"), pack(&texts)).expect("writing cold.lz");
}

/// The string literal at the start of `source`, quotes included.
fn literal_at(source: &str) -> &str {
    let bytes = source.as_bytes();
    let mut i = 1;
    while bytes[i] != b'"' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    &source[..=i]
}

/// A string literal's value (the Reference's "String literals"): its
/// quotes dropped, its escapes read, and a `\` at a line's end dropped
/// with the line break and the whitespace after it.
fn unescape(literal: &str) -> Vec<u8> {
    let mut out = String::new();
    let mut chars = literal[1..literal.len() - 1].chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next().expect("an escape") {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' => {
                let hex: String = [chars.next().unwrap(), chars.next().unwrap()].iter().collect();
                out.push(char::from(u8::from_str_radix(&hex, 16).expect("a \\x escape")));
            }
            'u' => {
                let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).expect("a \\u escape")).unwrap());
            }
            // rustc skips these four only after a line continuation.
            '\n' => {
                while chars.peek().is_some_and(|c| [' ', '\t', '\n', '\r'].contains(c)) {
                    chars.next();
                }
            }
            other => panic!("a cold text's escape \\{other} is not read here"),
        }
    }
    out.into_bytes()
}

/// Packs the cold texts and the seccomp filter for `packed::unpack`, in
/// tokens of three kinds (the first byte `b` says which):
/// - `b < 0x40`: the next `b + 1` bytes are literal;
/// - `0x40 <= b < 0x80`: a long copy of `(b & 0x3f) + 3` bytes (3 to 66),
///   from the little-endian `u16` distance that follows (back from the end
///   of the text so far);
/// - `b >= 0x80`: a short copy of `((b >> 4) & 7) + 3` bytes (3 to 10),
///   from the distance `(b & 0xf) << 8 | next` (below 4096).
///
/// The tokens are chosen for the fewest bytes in all (an optimal parse:
/// from the end, the cheapest way on from each point), not greedily: 17%
/// fewer bytes than the greedy packing of 4-to-131-byte copies that this
/// replaced, on the cold texts.
fn pack(text: &[u8]) -> Vec<u8> {
    const MIN: usize = 3;
    const LONGEST: usize = 66;
    #[derive(Clone, Copy)]
    enum Step {
        Literal(usize),
        Copy(usize, usize),
    }
    // For each point, the nearest earlier start of each match length.
    let mut starts: std::collections::HashMap<&[u8], Vec<usize>> = std::collections::HashMap::new();
    let mut matches: Vec<Vec<(usize, usize)>> = Vec::with_capacity(text.len());
    for i in 0..text.len() {
        let mut found: Vec<(usize, usize)> = Vec::new();
        if i + MIN <= text.len() {
            let key = &text[i..i + MIN];
            for &j in starts.get(key).into_iter().flatten().rev() {
                let distance = i - j;
                if distance > usize::from(u16::MAX) {
                    break;
                }
                let len = (0..LONGEST.min(text.len() - i)).take_while(|&k| text[j + k] == text[i + k]).count();
                // Only a longer match is worth a farther distance.
                if found.last().is_none_or(|&(l, _)| len > l) {
                    found.push((len, distance));
                }
            }
            starts.entry(key).or_default().push(i);
        }
        matches.push(found);
    }
    let copy_cost = |len: usize, distance: usize| if len <= 10 && distance < 4096 { 2 } else { 3 };
    let mut cost = vec![usize::MAX; text.len() + 1];
    let mut step = vec![Step::Literal(1); text.len() + 1];
    cost[text.len()] = 0;
    for i in (0..text.len()).rev() {
        for n in 1..=64.min(text.len() - i) {
            if 1 + n + cost[i + n] < cost[i] {
                (cost[i], step[i]) = (1 + n + cost[i + n], Step::Literal(n));
            }
        }
        // Each length up to a match's own, from that match's distance
        // (the nearest for it).
        let mut shorter = MIN - 1;
        for &(len, distance) in &matches[i] {
            for l in shorter + 1..=len {
                let c = copy_cost(l, distance) + cost[i + l];
                if c < cost[i] {
                    (cost[i], step[i]) = (c, Step::Copy(l, distance));
                }
            }
            shorter = shorter.max(len);
        }
    }
    let (mut out, mut i) = (Vec::new(), 0);
    while i < text.len() {
        match step[i] {
            Step::Literal(n) => {
                out.push(n as u8 - 1);
                out.extend_from_slice(&text[i..i + n]);
                i += n;
            }
            Step::Copy(len, distance) if copy_cost(len, distance) == 2 => {
                out.push(0x80 | ((len - 3) as u8) << 4 | (distance >> 8) as u8);
                out.push(distance as u8);
                i += len;
            }
            Step::Copy(len, distance) => {
                out.push(0x40 | (len - 3) as u8);
                out.extend_from_slice(&(distance as u16).to_le_bytes());
                i += len;
            }
        }
    }
    out
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    drop_unwind_tables();
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    cold_texts(&out_dir);
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    assert_eq!(arch, "x86_64", "barco's seccomp filter lists x86_64 syscall numbers only");

    let filter = SeccompFilter::new(rules(), SeccompAction::Errno(EPERM), SeccompAction::Allow, TargetArch::x86_64)
        .expect("a valid seccomp filter");
    let mut program: BpfProgram = filter.try_into().expect("compiling the seccomp filter");

    // seccompiler's prologue: load arch, jump over the kill if it matches.
    let prologue: Vec<(u16, u32)> = program[..3].iter().map(|i| (i.code, i.k)).collect();
    assert_eq!(prologue, [(0x20, 4), (0x15, 0xC000_003E), (0x06, 0x8000_0000)], "seccompiler's prologue changed");
    let spliced = [
        (0x20, 0, 0, 0),                          // ld [0]: the syscall number
        (0x35, 0, 1, X32_SYSCALL_BIT),            // jge #0x40000000
        (0x06, 0, 0, SECCOMP_RET_ERRNO | EPERM),  // ret ERRNO(EPERM)
        (0x15, 0, 1, NR_CLONE3),                  // jeq #clone3
        (0x06, 0, 0, SECCOMP_RET_ERRNO | ENOSYS), // ret ERRNO(ENOSYS)
    ];
    let mut ruled: Vec<(u32, To)> = DENIED.iter().map(|&(_, nr)| (nr as u32, To::Deny)).collect();
    ruled.extend(rules().keys().map(|&nr| (nr as u32, To::Chain)));
    ruled.sort_by_key(|x| x.0);
    let tree = search(&ruled);
    let (mut out, mut bytes) = (String::new(), Vec::new());
    let mut emit = |code: u16, jt: u8, jf: u8, k: u32| {
        writeln!(out, "    SockFilter {{ code: {code:#06x}, jt: {jt}, jf: {jf}, k: {k:#010x} }},").unwrap();
        bytes.extend(code.to_le_bytes().into_iter().chain([jt, jf]).chain(k.to_le_bytes()));
    };
    for i in &program[..3] {
        emit(i.code, i.jt, i.jf, i.k);
    }
    for (code, jt, jf, k) in spliced {
        emit(code, jt, jf, k);
    }
    for (code, jt, jf, k) in tree {
        emit(code, jt, jf, k);
    }
    assert_eq!((program[3].code, program[3].k), (0x20, 0), "seccompiler's chain no longer starts with ld [nr]");
    for i in program.drain(3..) {
        emit(i.code, i.jt, i.jf, i.k);
    }
    let len = out.lines().count();
    assert!(len <= 4096, "the seccomp filter has {len} instructions; the kernel takes 4096");

    let mut src = String::new();
    writeln!(src, "/// barco's default seccomp filter, compiled by build.rs.").unwrap();
    writeln!(src, "pub static DEFAULT: [SockFilter; {len}] = [\n{out}];").unwrap();
    writeln!(src, "/// Its length in bytes, for unpacking.").unwrap();
    writeln!(src, "pub const BYTES: usize = {};", bytes.len()).unwrap();
    writeln!(src, "/// Syscalls the filter denies outright, with their x86_64 numbers.").unwrap();
    writeln!(src, "pub const DENIED: &[(&str, i64)] = &{DENIED:?};").unwrap();
    writeln!(src, "/// Syscalls the filter denies for some arguments.").unwrap();
    writeln!(src, "pub const CONDITIONAL: &[(&str, i64)] = &{CONDITIONAL:?};").unwrap();
    std::fs::write(out_dir.join("seccomp_filter.rs"), src).unwrap();
    // What barco loads: the same instructions as bytes (x86_64's order),
    // packed as `--help` is.
    std::fs::write(out_dir.join("seccomp_filter.lz"), pack(&bytes)).unwrap();
}

/// barco's binary is linked without unwind tables: see
/// `link/no-unwind-tables.ld`. So is its unit-test harness, which Cargo
/// counts as one of the binaries (the integration tests' are not): a
/// failing unit test aborts the harness, and `sys` prints its panic. Both
/// of Cargo.toml's profiles set panic=abort, so nothing would use them. (Cargo does not
/// tell build scripts the profile's panic strategy.) The flags are ld's: the
/// musl target's `cc` runs it.
fn drop_unwind_tables() {
    println!("cargo:rerun-if-changed=link/no-unwind-tables.ld");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("link/no-unwind-tables.ld");
    println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
}
