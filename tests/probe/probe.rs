//! barco's probe: a small static program the tests run inside containers,
//! after bubblewrap's `tests/try-syscall.c`. Each subcommand tries something
//! a container must not be able to do, prints what happened, and exits 0
//! only if the container held.
//!
//! - `probe escape PATH...`: the classic chroot escape (chroot into a
//!   subdirectory, climb with `..` from the working directory left behind,
//!   chroot there), then checks that none of PATH (files of the host, or of
//!   the initramfs) can be seen.
//! - `probe exe`: opens `/proc/1/exe` and `/proc/1/mem`, which must fail
//!   when PID 1 is barco's non-dumpable `--init` reaper.
//! - `probe status CAPBND`: CapInh and CapAmb are 0, CapBnd is CAPBND (hex),
//!   NoNewPrivs is 1 and Seccomp is 2.
//! - `probe syscalls`: every call barco's seccomp filter denies, through raw
//!   `syscall` instructions, including a TIOCSTI with high bits set and an
//!   x32 call, must fail with EPERM (clone3 with ENOSYS). Most are chosen so
//!   that without the filter the kernel would answer otherwise.
//! - `probe int80`: a 32-bit `int 0x80` syscall, which the filter answers
//!   by killing the process (SIGSYS).
//! - `probe fds`: only descriptors 0, 1 and 2 are open.
//! - `probe roots WORKDIR`: the working directory is WORKDIR and the root
//!   is `/`, both inside the container (runc's CVE-2024-21626 left the
//!   working directory on the host).
//! - `probe ping ADDR`: one ICMP echo through an unprivileged datagram
//!   socket (as iputils' ping sends it), answered within two seconds.
//! - `probe proc`: the masked paths read as empty, and the read-only ones
//!   are mounted read-only.
//! - `probe as UID GID COMMAND...`: not a check: drops to UID and GID, with
//!   no supplementary groups, and execs COMMAND (setpriv(1)'s --reuid,
//!   --regid and --clear-groups, which busybox's setpriv lacks; the VM
//!   suite runs barco rootless with it).
//!
//! Built by cargo as an example (`cargo test` builds examples), so the tests
//! find it beside the barco binary, in `examples/probe`.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let held = match args.first().map(String::as_str) {
        Some("escape") => escape(&args[1..]),
        Some("exe") => exe(),
        Some("status") => status(args.get(1).map_or("", String::as_str)),
        Some("syscalls") => syscalls(),
        Some("int80") => int80(),
        Some("fds") => fds(),
        Some("proc") => proc_paths(),
        Some("ping") => ping(args.get(1).map_or("127.0.0.1", String::as_str)),
        Some("roots") => roots(args.get(1).map_or("/", String::as_str)),
        Some("as") if args.len() > 3 => run_as(&args[1], &args[2], &args[3..]),
        _ => {
            eprintln!("usage: probe escape PATH... | exe | status CAPBND | syscalls | int80 | fds | proc");
            return ExitCode::from(2);
        }
    };
    if held {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_as(uid: &str, gid: &str, command: &[String]) -> bool {
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
    use std::os::unix::process::CommandExt;
    let (Ok(uid), Ok(gid)) = (uid.parse(), gid.parse()) else {
        println!("as: '{uid}' and '{gid}' must be numbers");
        return false;
    };
    let gid = rustix::fs::Gid::from_raw(gid);
    let uid = rustix::fs::Uid::from_raw(uid);
    if let Err(e) = set_thread_groups(&[]).and(set_thread_res_gid(gid, gid, gid)).and(set_thread_res_uid(uid, uid, uid))
    {
        println!("as: {e}");
        return false;
    }
    let e = std::process::Command::new(&command[0]).args(&command[1..]).exec();
    println!("as: {}: {e}", command[0]);
    false
}

fn escape(markers: &[String]) -> bool {
    // /dev/shm is a tmpfs barco mounts, so this works on a read-only rootfs.
    let jail = "/dev/shm/.probe-escape";
    let _ = std::fs::create_dir(jail);
    if let Err(e) = std::os::unix::fs::chroot(jail) {
        println!("escape: chroot {jail}: {e}; nothing to try");
        return true;
    }
    // The working directory is still the old root, outside the new one.
    for _ in 0..64 {
        let _ = std::env::set_current_dir("..");
    }
    if let Err(e) = std::os::unix::fs::chroot(".") {
        println!("escape: chroot .: {e}");
    }
    let mut held = true;
    for m in markers {
        if Path::new(m).exists() {
            println!("escape: ESCAPED: {m} is visible");
            held = false;
        }
    }
    let mut top: Vec<String> = match std::fs::read_dir("/") {
        Ok(d) => d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(e) => vec![format!("<{e}>")],
    };
    top.sort();
    println!("escape: / after the attempt holds {}", top.join(" "));
    if held {
        println!("escape: confined");
    }
    held
}

fn exe() -> bool {
    let mut held = true;
    for path in ["/proc/1/exe", "/proc/1/mem"] {
        match std::fs::File::open(path) {
            Ok(_) => {
                println!("exe: OPENED {path}");
                held = false;
            }
            Err(e) => println!("exe: {path}: {e}"),
        }
    }
    match std::fs::read_link("/proc/1/exe") {
        Ok(target) => {
            println!("exe: READ LINK /proc/1/exe -> {}", target.display());
            held = false;
        }
        Err(e) => println!("exe: readlink /proc/1/exe: {e}"),
    }
    held
}

fn status(capbnd: &str) -> bool {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or("?").to_string();
    let want_bnd = format!("{:016x}", u64::from_str_radix(capbnd.trim_start_matches("0x"), 16).unwrap_or(u64::MAX));
    let mut held = true;
    for (name, want) in [
        ("CapInh:", "0000000000000000".to_string()),
        ("CapAmb:", "0000000000000000".to_string()),
        ("CapBnd:", want_bnd),
        ("NoNewPrivs:", "1".to_string()),
        ("Seccomp:", "2".to_string()),
    ] {
        let got = field(name);
        let ok = got == want;
        held &= ok;
        println!("status: {name} {got}{}", if ok { String::new() } else { format!(" (WANTED {want})") });
    }
    held
}

/// A raw x86_64 syscall; returns the result or the negated errno.
fn raw(nr: u64, a: [u64; 6]) -> i64 {
    let ret: i64;
    // SAFETY: a test program probing the kernel; every call below passes
    // null or bogus pointers the kernel checks, or none at all.
    unsafe {
        std::arch::asm!("syscall", inlateout("rax") nr as i64 => ret, in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5], lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

const EPERM: i64 = 1;
const ENOSYS: i64 = 38;

fn syscalls() -> bool {
    let devnull = std::fs::File::open("/dev/null").expect("opening /dev/null");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&devnull) as u64;
    let _ = std::fs::write("/dev/shm/probe-file", b"x");
    let file = c"/dev/shm/probe-file".as_ptr() as u64;
    let root = c"/".as_ptr() as u64;
    let tmpfs = c"tmpfs".as_ptr() as u64;
    let at_fdcwd = -100i64 as u64;
    let byte = &0u8 as *const u8 as u64;
    // (what, number, arguments, the errno the filter must give)
    let calls: &[(&str, u64, [u64; 6], i64)] = &[
        ("clone3", 435, [0, 0, 0, 0, 0, 0], ENOSYS),
        ("ioctl TIOCSTI", 16, [fd, 0x5412, byte, 0, 0, 0], EPERM),
        ("ioctl TIOCSTI with high bits", 16, [fd, 0x5412 | 1 << 32, byte, 0, 0, 0], EPERM),
        ("ioctl TIOCLINUX", 16, [fd, 0x541C, byte, 0, 0, 0], EPERM),
        ("x32 getpid", 39 | 0x4000_0000, [0; 6], EPERM),
        ("socket AF_ALG", 41, [38, 5, 0, 0, 0, 0], EPERM),
        ("socket AF_VSOCK with high bits", 41, [40 | 1 << 36, 1, 0, 0, 0, 0], EPERM),
        ("unshare CLONE_NEWUSER", 272, [0x1000_0000, 0, 0, 0, 0, 0], EPERM),
        ("unshare CLONE_NEWNET", 272, [0x4000_0000, 0, 0, 0, 0, 0], EPERM),
        ("setns", 308, [u64::MAX, 0, 0, 0, 0, 0], EPERM),
        ("chmod u+s", 90, [file, 0o4755, 0, 0, 0, 0], EPERM),
        ("fchmodat g+s", 268, [at_fdcwd, file, 0o2755, 0, 0, 0], EPERM),
        ("fchmodat2 u+s", 452, [at_fdcwd, file, 0o4755, 0, 0, 0], EPERM),
        ("keyctl", 250, [0, u64::MAX - 2, 0, 0, 0, 0], EPERM),
        ("add_key", 248, [0, 0, 0, 0, 0, 0], EPERM),
        ("request_key", 249, [0, 0, 0, 0, 0, 0], EPERM),
        ("ptrace", 101, [u64::MAX, 0, 0, 0, 0, 0], EPERM),
        ("perf_event_open", 298, [0, 0, 0, u64::MAX, 0, 0], EPERM),
        ("userfaultfd", 323, [0xffff, 0, 0, 0, 0, 0], EPERM),
        ("bpf", 321, [u64::MAX, 0, 0, 0, 0, 0], EPERM),
        ("io_uring_setup", 425, [0, 0, 0, 0, 0, 0], EPERM),
        ("set_mempolicy", 238, [0, 0, 0, 0, 0, 0], EPERM),
        ("mbind", 237, [0, 0, 0, 0, 0, 0], EPERM),
        ("open_tree", 428, [at_fdcwd, root, 0, 0, 0, 0], EPERM),
        ("fsopen", 430, [tmpfs, 0, 0, 0, 0, 0], EPERM),
        ("fsconfig", 431, [u64::MAX, 0, 0, 0, 0, 0], EPERM),
        ("fsmount", 432, [u64::MAX, 0, 0, 0, 0, 0], EPERM),
        ("mount_setattr", 442, [u64::MAX, 0, 0, 0, 0, 0], EPERM),
        ("name_to_handle_at", 303, [at_fdcwd, root, 0, 0, 0, 0], EPERM),
        ("uselib", 134, [0, 0, 0, 0, 0, 0], EPERM),
        ("personality ADDR_NO_RANDOMIZE", 135, [0x0040_0000, 0, 0, 0, 0, 0], EPERM),
        ("kexec_load", 246, [0, 0, 0, 0, 0, 0], EPERM),
        ("kexec_file_load", 320, [u64::MAX, u64::MAX, 0, 0, 0, 0], EPERM),
        ("init_module", 175, [0, 0, 0, 0, 0, 0], EPERM),
        ("finit_module", 313, [u64::MAX, 0, 0, 0, 0, 0], EPERM),
        ("delete_module", 176, [0, 0, 0, 0, 0, 0], EPERM),
        ("migrate_pages", 256, [0, 0, 0, 0, 0, 0], EPERM),
        ("move_pages", 279, [0, 0, 0, 0, 0, 0], EPERM),
        ("set_mempolicy_home_node", 450, [0, 0, 0, 0, 0, 0], EPERM),
        ("fspick", 433, [u64::MAX, 0, 0, 0, 0, 0], EPERM),
        ("move_mount", 429, [u64::MAX, 0, u64::MAX, 0, 0, 0], EPERM),
        ("io_uring_enter", 426, [u64::MAX, 0, 0, 0, 0, 0], EPERM),
        ("io_uring_register", 427, [u64::MAX, 0, 0, 0, 0, 0], EPERM),
        ("open_by_handle_at", 304, [u64::MAX, 0, 0, 0, 0, 0], EPERM),
        ("swapon", 167, [0, 0, 0, 0, 0, 0], EPERM),
        ("swapoff", 168, [0, 0, 0, 0, 0, 0], EPERM),
        ("quotactl", 179, [0, 0, 0, 0, 0, 0], EPERM),
        ("quotactl_fd", 443, [u64::MAX, 0, 0, 0, 0, 0], EPERM),
        // clone() is fork() here if it gets through: see below.
        ("clone CLONE_NEWUSER", 56, [0x1000_0000 | 17, 0, 0, 0, 0, 0], EPERM),
        ("clone CLONE_NEWPID", 56, [0x2000_0000 | 17, 0, 0, 0, 0, 0], EPERM),
        ("reboot", 169, [0, 0, 0, 0, 0, 0], EPERM),
        ("syslog", 103, [10, 0, 0, 0, 0, 0], EPERM),
        ("acct", 163, [0, 0, 0, 0, 0, 0], EPERM),
    ];
    let mut held = true;
    for (what, nr, args, want) in calls {
        let ret = raw(*nr, *args);
        if *nr == 56 && ret == 0 {
            // The child of a clone that the filter let through.
            raw(231, [0; 6]); // exit_group(0)
        }
        let ok = ret == -want;
        held &= ok;
        println!("syscalls: {what}: {}{}", describe(ret), if ok { "" } else { "  <-- NOT DENIED BY THE FILTER" });
        if ret >= 0 && *nr == 272 {
            // unshare worked: nothing more to learn in a new namespace.
            break;
        }
    }
    held
}

fn describe(ret: i64) -> String {
    if (-4095..0).contains(&ret) {
        format!("errno {}", -ret)
    } else {
        format!("returned {ret}")
    }
}

fn int80() -> bool {
    let ret: i64;
    // SAFETY: i386 getpid (20) through the 32-bit entry point; no memory.
    unsafe {
        std::arch::asm!("int 0x80", inlateout("rax") 20i64 => ret, options(nostack));
    }
    println!("int80: getpid returned {ret}: the 32-bit ABI is reachable");
    false
}

fn fds() -> bool {
    // read_dir holds a descriptor of its own, for the directory: resolve
    // each entry while it is still open, and leave that one out.
    let mut open = Vec::new();
    let mut leaked = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("listing /proc/self/fd").flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let target = std::fs::read_link(entry.path()).map(|t| t.display().to_string()).unwrap_or_default();
        if fd > 2 && !target.ends_with("/fd") {
            leaked.push(format!("{fd} -> {target}"));
        }
        open.push(fd);
    }
    open.sort();
    println!("fds: open {open:?}");
    for l in &leaked {
        println!("fds: LEAKED {l}");
    }
    leaked.is_empty()
}

fn proc_paths() -> bool {
    let mut held = true;
    for file in ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats"] {
        match std::fs::read(file) {
            Ok(bytes) if !bytes.is_empty() => {
                println!("proc: {file} has {} bytes: NOT MASKED", bytes.len());
                held = false;
            }
            Ok(_) => println!("proc: {file} is empty"),
            Err(e) => println!("proc: {file}: {e}"),
        }
    }
    for dir in ["/proc/acpi", "/proc/scsi", "/sys/firmware"] {
        match std::fs::read_dir(dir).map(Iterator::count) {
            Ok(n) if n > 0 => {
                println!("proc: {dir} has entries: NOT MASKED");
                held = false;
            }
            Ok(_) => println!("proc: {dir} is empty"),
            Err(e) => println!("proc: {dir}: {e}"),
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for path in ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"] {
        if !std::path::Path::new(path).exists() {
            println!("proc: {path}: absent from this kernel");
            continue;
        }
        let line = mounts.lines().rfind(|l| l.split(' ').nth(4) == Some(path));
        let ro = line.and_then(|l| l.split(' ').nth(5)).is_some_and(|o| o.split(',').any(|f| f == "ro"));
        held &= ro;
        println!("proc: {path} {}", if ro { "is read-only" } else { "is NOT read-only" });
    }
    held
}

fn roots(workdir: &str) -> bool {
    let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_else(|e| format!("<{e}>"));
    let cwd_link = std::fs::read_link("/proc/self/cwd").map(|p| p.display().to_string()).unwrap_or_default();
    let root_link = std::fs::read_link("/proc/self/root").map(|p| p.display().to_string()).unwrap_or_default();
    println!("roots: getcwd {cwd}, /proc/self/cwd -> {cwd_link}, /proc/self/root -> {root_link}");
    cwd == workdir && cwd_link == workdir && root_link == "/"
}

fn ping(addr: &str) -> bool {
    use rustix::net::{ipproto, recv, sendto, socket, AddressFamily, RecvFlags, SendFlags, SocketAddrV4, SocketType};
    let Ok(ip) = addr.parse::<std::net::Ipv4Addr>() else {
        println!("ping: '{addr}' is not an IPv4 address");
        return false;
    };
    // An ICMP datagram socket, as iputils uses: what ping_group_range opens
    // to container root. Where it is closed (the host's default), a raw
    // socket, for the host's root to ping a container.
    let (fd, raw) = match socket(AddressFamily::INET, SocketType::DGRAM, Some(ipproto::ICMP)) {
        Ok(fd) => (fd, false),
        Err(e) => match socket(AddressFamily::INET, SocketType::RAW, Some(ipproto::ICMP)) {
            Ok(fd) => (fd, true),
            Err(_) => {
                println!("ping: socket: {e}");
                return false;
            }
        },
    };
    // Echo request: type 8, code 0, checksum, id, sequence, payload. The
    // kernel fills checksum and id for a datagram socket; a raw one needs
    // them here.
    let mut request = [8u8, 0, 0, 0, 0x62, 0x63, 0, 1, b'b', b'a', b'r', b'c', b'o', 0];
    let sum = request.chunks(2).fold(0u32, |s, w| s + u32::from(u16::from_be_bytes([w[0], w[1]])));
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    request[2..4].copy_from_slice(&sum.to_be_bytes());
    if let Err(e) = sendto(&fd, &request, SendFlags::empty(), &SocketAddrV4::new(ip, 0)) {
        println!("ping: sendto {addr}: {e}");
        return false;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut fds = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
        let wait = rustix::event::Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) };
        if left.is_zero() || rustix::event::poll(&mut fds, Some(&wait)).unwrap_or(0) == 0 {
            println!("ping: no reply from {addr}");
            return false;
        }
        let mut reply = [0u8; 128];
        let icmp = match recv(&fd, &mut reply, RecvFlags::empty()) {
            // A raw socket also sees the IP header, and every ICMP message.
            Ok((n, _)) if raw => {
                let ihl = usize::from(reply[0] & 0x0f) * 4;
                if n < ihl + 8 || reply[12..16] != ip.octets() {
                    continue;
                }
                &reply[ihl..n]
            }
            Ok((n, _)) => &reply[..n],
            Err(e) => {
                println!("ping: recv: {e}");
                return false;
            }
        };
        match icmp.first() {
            Some(0) if icmp.len() >= 8 => {
                println!("ping: echo reply from {addr}");
                return true;
            }
            Some(8) if raw => continue, // our own request, on loopback
            _ => {
                println!("ping: unexpected {}-byte answer of type {:?}", icmp.len(), icmp.first());
                return false;
            }
        }
    }
}
