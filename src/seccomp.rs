//! The seccomp filter: barco's deny-list, compiled to BPF at build time
//! (`build.rs`, with seccompiler), or a program read from `--seccomp-bpf`.
//!
//! The default filter, in the seed's spirit but without its holes:
//!
//! | denied | why |
//! |---|---|
//! | a foreign architecture (killed), every x32 syscall | the same calls through another ABI would skip the rules |
//! | `clone3` (ENOSYS) | its flags are in memory the filter cannot read; libc falls back to `clone` |
//! | `clone`, `unshare` with any `CLONE_NEW*`, `setns` | new or other namespaces: a fresh user namespace gives back every capability |
//! | `chmod`, `fchmod`, `fchmodat`, `fchmodat2` setting S_ISUID or S_ISGID | no setuid binaries for later |
//! | `ioctl` TIOCSTI, TIOCLINUX (low 32 bits) | typing into the caller's terminal (CVE-2017-5226) |
//! | `socket` AF_ALG, AF_VSOCK | rarely needed kernel surface |
//! | `keyctl`, `add_key`, `request_key` | the kernel keyring is not namespaced |
//! | `ptrace`, `perf_event_open`, `userfaultfd`, `bpf`, `io_uring_*` | introspection and classic kernel exploit surface |
//! | `mbind`, `migrate_pages`, `move_pages`, `set_mempolicy*` | NUMA placement of the host's memory |
//! | `fsopen`, `fsconfig`, `fsmount`, `fspick`, `open_tree`, `move_mount`, `mount_setattr` | the new mount API |
//! | `kexec_*`, `*_module`, `reboot`, `swapon`, `swapoff`, `acct`, `syslog`, `quotactl*`, `uselib` | machine-wide state |
//! | `open_by_handle_at`, `name_to_handle_at` | opening files by handle escapes the root (the "shocker" exploit) |
//! | `personality` other than docker's safe values | ASLR and other execution domains |
//!
//! Arguments the kernel reads as 32 bits (`int`, ioctl commands) are
//! compared on their low 32 bits only (CVE-2019-10063). A denied call fails
//! with EPERM.
//!
//! The program is loaded with the raw `seccomp(2)` call as the last step
//! before `execve`, after no_new_privs.
//!
//! # References
//! - [seccomp(2)](https://man7.org/linux/man-pages/man2/seccomp.2.html)

use crate::log::dec;
use std::borrow::Cow;

/// One classic BPF instruction, as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const _: () = assert!(core::mem::size_of::<SockFilter>() == 8);

#[cfg_attr(not(test), allow(dead_code))] // DENIED and CONDITIONAL are for the tests
mod compiled {
    use super::SockFilter;
    include!(concat!(env!("OUT_DIR"), "/seccomp_filter.rs"));
}

/// The kernel's limit on a filter's length (`BPF_MAXINSNS`).
pub const MAX_INSTRUCTIONS: usize = 4096;

/// The filter barco loads, if any.
pub type Program = Cow<'static, [SockFilter]>;

/// [`compiled::DEFAULT`] as barco stores it: its 2.2 KB packed by
/// `build.rs` into 0.9 (see `packed::unpack`), 1.2 KB less of `just tiny`,
/// for about 5 µs of unpacking while planning.
const DEFAULT_PACKED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seccomp_filter.lz"));

/// barco's own deny-list. (Were the packed program ever not whole
/// instructions, the empty one would fail to load: no filter is never the
/// outcome.)
pub fn default_program() -> Program {
    let mut bytes = vec![0; compiled::BYTES];
    crate::packed::unpack(DEFAULT_PACKED, &mut bytes);
    Cow::Owned(parse_program(&bytes).unwrap_or_default())
}

/// A compiled program from a file (`--seccomp-bpf`): raw `struct
/// sock_filter`s in native byte order, as libseccomp's `seccomp_export_bpf`
/// writes them. Checked for form only: whole instructions, 1 to 4096 of
/// them, and a last one that returns.
pub fn parse_program(bytes: &[u8]) -> Result<Vec<SockFilter>, String> {
    if bytes.is_empty() || bytes.len() % 8 != 0 {
        return Err(format!("{} bytes is not a whole number of 8-byte BPF instructions", dec(bytes.len())));
    }
    // Pushed in a loop: collected, 64 bytes more of `just tiny`.
    let mut program = Vec::with_capacity(bytes.len() / 8);
    for c in bytes.chunks_exact(8) {
        let k = u32::from_ne_bytes([c[4], c[5], c[6], c[7]]);
        program.push(SockFilter { code: u16::from_ne_bytes([c[0], c[1]]), jt: c[2], jf: c[3], k });
    }
    if program.len() > MAX_INSTRUCTIONS {
        return Err(format!("{} instructions; the kernel takes at most {}", dec(program.len()), dec(MAX_INSTRUCTIONS)));
    }
    if program.last().is_some_and(|i| i.code & 0x07 != 0x06) {
        return Err("the last instruction does not return (BPF_RET)".into());
    }
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use linux_raw_sys::general as k;

    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_EPERM: u32 = 0x0005_0001;
    const RET_ENOSYS: u32 = 0x0005_0026;
    const RET_KILL_PROCESS: u32 = 0x8000_0000;
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;

    /// `struct seccomp_data`, as the filter reads it.
    struct Data {
        nr: u32,
        arch: u32,
        args: [u64; 6],
    }

    impl Data {
        fn word(&self, offset: u32) -> u32 {
            match offset {
                0 => self.nr,
                4 => self.arch,
                8 | 12 => 0, // instruction_pointer
                16..=63 if offset % 4 == 0 => {
                    let arg = self.args[(offset as usize - 16) / 8];
                    if offset % 8 == 0 {
                        arg as u32
                    } else {
                        (arg >> 32) as u32
                    }
                }
                _ => panic!("load from offset {offset}"),
            }
        }
    }

    /// A classic BPF interpreter for the instructions seccomp filters use.
    fn run(program: &[SockFilter], data: &Data) -> u32 {
        counted(program, data).0
    }

    /// The filter's answer, and how many instructions it took.
    fn counted(program: &[SockFilter], data: &Data) -> (u32, usize) {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let mut steps = 0;
        loop {
            let i = program.get(pc).expect("ran off the end of the program");
            pc += 1;
            steps += 1;
            let operand = if i.code & 0x08 != 0 { x } else { i.k };
            match i.code {
                0x20 => a = data.word(i.k),  // ld [k]
                0x00 => a = i.k,             // ld #k
                0x01 => x = i.k,             // ldx #k
                0x07 => x = a,               // tax
                0x87 => a = x,               // txa
                0x54 | 0x5c => a &= operand, // and
                0x44 | 0x4c => a |= operand, // or
                0x05 => pc += i.k as usize,  // ja
                0x06 => return (i.k, steps), // ret #k
                0x16 => return (a, steps),   // ret a
                c if c & 0x07 == 0x05 => {
                    let taken = match c & 0xf0 {
                        0x10 => a == operand,
                        0x20 => a > operand,
                        0x30 => a >= operand,
                        0x40 => a & operand != 0,
                        _ => panic!("jump {c:#x}"),
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
                c => panic!("instruction {c:#x} not understood"),
            }
        }
    }

    fn call(nr: u32, args: &[u64]) -> u32 {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        run(&compiled::DEFAULT, &Data { nr, arch: AUDIT_ARCH_X86_64, args: a })
    }

    fn nr(name: &str) -> u32 {
        compiled::DENIED.iter().chain(compiled::CONDITIONAL).find(|(n, _)| *n == name).unwrap().1 as u32
    }

    #[test]
    fn numbers_are_x86_64s() {
        let known = [
            ("keyctl", k::__NR_keyctl),
            ("ptrace", k::__NR_ptrace),
            ("setns", k::__NR_setns),
            ("fsopen", k::__NR_fsopen),
            ("mount_setattr", k::__NR_mount_setattr),
            ("io_uring_setup", k::__NR_io_uring_setup),
            ("bpf", k::__NR_bpf),
            ("open_by_handle_at", k::__NR_open_by_handle_at),
            ("quotactl_fd", k::__NR_quotactl_fd),
            ("set_mempolicy_home_node", k::__NR_set_mempolicy_home_node),
            ("chmod", k::__NR_chmod),
            ("fchmodat2", k::__NR_fchmodat2),
            ("unshare", k::__NR_unshare),
            ("clone", k::__NR_clone),
            ("ioctl", k::__NR_ioctl),
            ("socket", k::__NR_socket),
            ("personality", k::__NR_personality),
            ("userfaultfd", k::__NR_userfaultfd),
            ("kexec_file_load", k::__NR_kexec_file_load),
            ("finit_module", k::__NR_finit_module),
        ];
        for (name, number) in known {
            assert_eq!(nr(name), number, "{name}");
        }
        assert_eq!(k::__NR_clone3, 435);
    }

    #[test]
    fn the_default_program_unpacks_to_the_compiled_one() {
        assert_eq!(&default_program()[..], &compiled::DEFAULT[..]);
    }

    #[test]
    fn architecture_is_checked_first_and_the_program_fits() {
        let p = &compiled::DEFAULT;
        assert_eq!((p[0].code, p[0].k), (0x20, 4), "load the arch");
        assert_eq!((p[1].code, p[1].k), (0x15, AUDIT_ARCH_X86_64));
        assert_eq!((p[2].code, p[2].k), (0x06, RET_KILL_PROCESS));
        assert!(p.len() <= MAX_INSTRUCTIONS);
        let i386 = Data { nr: 1, arch: AUDIT_ARCH_I386, args: [0; 6] };
        assert_eq!(run(p, &i386), RET_KILL_PROCESS);
    }

    #[test]
    fn ordinary_calls_pass() {
        for n in [k::__NR_read, k::__NR_write, k::__NR_openat, k::__NR_execve, k::__NR_mount, k::__NR_getpid] {
            assert_eq!(call(n, &[]), RET_ALLOW, "{n}");
        }
        assert_eq!(call(k::__NR_chmod, &[0, 0o755]), RET_ALLOW);
        assert_eq!(call(k::__NR_fchmodat, &[0, 0, 0o1777]), RET_ALLOW);
        assert_eq!(call(k::__NR_ioctl, &[0, 0x5401]), RET_ALLOW, "TCGETS");
        assert_eq!(call(k::__NR_socket, &[2, 1, 0]), RET_ALLOW, "AF_INET");
        assert_eq!(call(k::__NR_clone, &[u64::from(k::SIGCHLD)]), RET_ALLOW, "fork");
        assert_eq!(call(k::__NR_clone, &[0x003d_0f00]), RET_ALLOW, "pthread_create's flags");
        assert_eq!(call(k::__NR_unshare, &[u64::from(k::CLONE_FILES)]), RET_ALLOW);
        for p in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
            assert_eq!(call(k::__NR_personality, &[p]), RET_ALLOW, "{p:#x}");
        }
    }

    /// The binary search build.rs puts in front of seccompiler's chain:
    /// every number without a rule is allowed within a few comparisons
    /// (the kernel evaluates the filter for each number when loading it).
    #[test]
    fn unruled_numbers_are_allowed_quickly() {
        let ruled: Vec<u32> = compiled::DENIED.iter().chain(compiled::CONDITIONAL).map(|x| x.1 as u32).collect();
        let mut deepest = 0;
        for n in 0..600 {
            let (ret, steps) = counted(&compiled::DEFAULT, &Data { nr: n, arch: AUDIT_ARCH_X86_64, args: [0; 6] });
            if ruled.contains(&n) || n == k::__NR_clone3 {
                continue;
            }
            assert_eq!(ret, RET_ALLOW, "{n}");
            deepest = deepest.max(steps);
        }
        assert!(deepest <= 24, "an allowed call ran {deepest} instructions");
        // Loading costs in proportion to the length: seccompiler's chain
        // over every rule alone was 389 instructions, and with a rule per
        // denying bit or value, the search and the chain 279.
        assert!(compiled::DEFAULT.len() < 200, "the filter has {} instructions", compiled::DEFAULT.len());
    }

    #[test]
    fn denied_calls_get_eperm() {
        for (name, n) in compiled::DENIED {
            assert_eq!(call(*n as u32, &[]), RET_EPERM, "{name}");
        }
        assert_eq!(call(k::__NR_clone3, &[]), RET_ENOSYS, "clone3");
        for mode in [0o4755, 0o2755, 0o6000] {
            assert_eq!(call(k::__NR_chmod, &[0, mode]), RET_EPERM);
            assert_eq!(call(k::__NR_fchmod, &[0, mode]), RET_EPERM);
            assert_eq!(call(k::__NR_fchmodat, &[0, 0, mode]), RET_EPERM);
            assert_eq!(call(k::__NR_fchmodat2, &[0, 0, mode, 0]), RET_EPERM);
        }
        for ns in [
            k::CLONE_NEWUSER,
            k::CLONE_NEWNS,
            k::CLONE_NEWNET,
            k::CLONE_NEWPID,
            k::CLONE_NEWCGROUP,
            k::CLONE_NEWIPC,
            k::CLONE_NEWUTS,
        ] {
            assert_eq!(call(k::__NR_unshare, &[u64::from(ns)]), RET_EPERM, "unshare {ns:#x}");
            assert_eq!(call(k::__NR_clone, &[u64::from(ns | k::SIGCHLD)]), RET_EPERM, "clone {ns:#x}");
        }
        assert_eq!(call(k::__NR_unshare, &[u64::from(k::CLONE_NEWTIME)]), RET_EPERM);
        assert_eq!(call(k::__NR_ioctl, &[0, 0x5412]), RET_EPERM, "TIOCSTI");
        assert_eq!(call(k::__NR_ioctl, &[0, 0x541C]), RET_EPERM, "TIOCLINUX");
        assert_eq!(call(k::__NR_socket, &[38, 5, 0]), RET_EPERM, "AF_ALG");
        assert_eq!(call(k::__NR_socket, &[40, 1, 0]), RET_EPERM, "AF_VSOCK");
        assert_eq!(call(k::__NR_personality, &[0x0040_0000]), RET_EPERM, "ADDR_NO_RANDOMIZE");
    }

    /// Every argument rule against the deny-list it stands for, over
    /// values that reach each bit and each listed value: a flag dropped
    /// from a mask, or a value added to or dropped from a list, fails here.
    #[test]
    fn argument_rules_deny_exactly_their_list() {
        const NS: u32 = k::CLONE_NEWNS
            | k::CLONE_NEWCGROUP
            | k::CLONE_NEWUTS
            | k::CLONE_NEWIPC
            | k::CLONE_NEWUSER
            | k::CLONE_NEWPID
            | k::CLONE_NEWNET;
        const SETID: u32 = k::S_ISUID | k::S_ISGID;
        const SAFE: [u32; 5] = [0, 8, 0x20000, 0x20008, 0xffff_ffff];
        /// A syscall's number, the argument its rule reads, and whether a
        /// value of that argument's low 32 bits is denied.
        type Rule = (u32, usize, fn(u32) -> bool);
        let rules: [Rule; 9] = [
            (k::__NR_chmod, 1, |v| v & SETID != 0),
            (k::__NR_fchmod, 1, |v| v & SETID != 0),
            (k::__NR_fchmodat, 2, |v| v & SETID != 0),
            (k::__NR_fchmodat2, 2, |v| v & SETID != 0),
            (k::__NR_clone, 0, |v| v & NS != 0),
            (k::__NR_unshare, 0, |v| v & (NS | k::CLONE_NEWTIME) != 0),
            (k::__NR_ioctl, 1, |v| v == 0x5412 || v == 0x541C),
            (k::__NR_socket, 0, |v| v == 38 || v == 40),
            (k::__NR_personality, 0, |v| !SAFE.contains(&v)),
        ];
        let mut values: Vec<u32> = (0..=0xffff).collect();
        for b in 0..32 {
            for c in 0..32 {
                values.push(1 << b | 1 << c);
            }
            for v in [0x5412, 0x541C, 38, 40, 8, 0x20000, 0x20008, 0xffff_ffff, 0x11, 0x003d_0f00] {
                values.push(v ^ 1 << b);
            }
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            values.push(seed as u32);
        }
        for (nr, arg, denied) in rules {
            for &v in &values {
                let want = if denied(v) { RET_EPERM } else { RET_ALLOW };
                for high in [0, 1, 0xffff_ffff] {
                    let mut args = [0; 6];
                    args[arg] = u64::from(v) | high << 32;
                    assert_eq!(call(nr, &args), want, "syscall {nr}, argument {arg} = {:#x}", args[arg]);
                }
            }
        }
    }

    #[test]
    fn high_bits_and_x32_do_not_slip_through() {
        // The kernel reads only the low 32 bits of these arguments.
        assert_eq!(call(k::__NR_ioctl, &[0, 0x5412 | 1 << 32]), RET_EPERM, "TIOCSTI with high bits");
        assert_eq!(call(k::__NR_ioctl, &[0, 0x541C | 0xffff_ffff << 32]), RET_EPERM);
        assert_eq!(call(k::__NR_socket, &[38 | 1 << 40, 5, 0]), RET_EPERM);
        assert_eq!(call(k::__NR_unshare, &[u64::from(k::CLONE_NEWUSER) | 1 << 33]), RET_EPERM);
        assert_eq!(call(k::__NR_chmod, &[0, 0o4755 | 1 << 32]), RET_EPERM);
        // x32 shares AUDIT_ARCH_X86_64 and sets bit 30 of the number.
        for n in [k::__NR_getpid, k::__NR_keyctl, k::__NR_unshare, 512 + 13] {
            assert_eq!(call(n | 0x4000_0000, &[]), RET_EPERM, "x32 {n}");
        }
    }

    #[test]
    fn programs_from_files() {
        let allow = [0x06u8, 0, 0, 0, 0, 0, 0xff, 0x7f];
        assert_eq!(parse_program(&allow).unwrap(), [SockFilter { code: 6, jt: 0, jf: 0, k: RET_ALLOW }]);
        assert!(parse_program(&[]).unwrap_err().contains("0 bytes"));
        assert!(parse_program(&allow[..7]).unwrap_err().contains("7 bytes"));
        assert!(parse_program(&[0x20, 0, 0, 0, 4, 0, 0, 0]).unwrap_err().contains("does not return"));
        assert!(parse_program(&allow.repeat(4097)).unwrap_err().contains("4097 instructions"));
        let ours: Vec<u8> = compiled::DEFAULT
            .iter()
            .flat_map(|i| [i.code.to_ne_bytes().as_slice(), &[i.jt, i.jf], &i.k.to_ne_bytes()].concat())
            .collect();
        assert_eq!(parse_program(&ours).unwrap(), compiled::DEFAULT);
    }
}
