//! The only place in barco with `unsafe` code: the handful of raw system calls
//! that rustix does not wrap, the allocator (a counting bump allocator), and
//! the symbols barco defines for the C side of the link: its entry point
//! [`main`] and the unwinder's (`unwind`).
//!
//! Every function here but the entry point is safe to call from the child
//! after `clone3`: none of them allocates, panics or touches libc state.

pub mod alloc;
mod arch;
#[cfg(not(test))] // unit tests unwind: they link the real unwinder
mod unwind;

use core::ffi::{c_char, CStr};
use linux_raw_sys::general as k;
use rustix::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use rustix::io::Errno;

/// Turns a raw syscall return value into a `Result`, the kernel's way:
/// values in `-4095..0` are negated errnos.
fn check(ret: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&ret) {
        Err(Errno::from_raw_os_error(-ret as i32))
    } else {
        Ok(ret as usize)
    }
}

/// barco's C entry point, called by musl's `__libc_start_main`: the crate
/// is `#![no_main]`, so std's runtime (`lang_start`) does not run. Of what
/// it would do, barco needs two things, done here before anything else:
///
/// - descriptors 0, 1 and 2 open, so that nothing barco opens lands on
///   them: any that is closed gets `/dev/null`, as std does (but where std
///   aborts without a `/dev/null`, as on a machine with nothing mounted,
///   barco goes on; as PID 1 it opens the console later, see `machine`);
/// - SIGPIPE ignored, so that a closed stdout or stderr is an error to
///   report, not a signal that kills the supervisor and orphans its
///   container's cgroups;
/// - SIGCHLD at its default, in case barco was started with it ignored
///   (which exec keeps): the kernel would then reap the container by
///   itself, and barco would find no status to wait for (wait(2), NOTES).
///
/// What barco leaves out: std's stack-overflow handler (its alternate
/// stack, SIGSEGV and SIGBUS handlers) and the main thread's name. The
/// arguments come from `argv` (std's `args_os` is empty without its
/// runtime on musl), and the environment from `envp`. 4 KB and ten
/// syscalls a run.
#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(argc: core::ffi::c_int, argv: *const *const c_char, envp: *const *const c_char) -> core::ffi::c_int {
    use std::os::unix::ffi::OsStringExt;
    open_standard_fds();
    let _ = set_signal_action(k::SIGPIPE, Disposition::Ignore);
    let _ = set_signal_action(k::SIGCHLD, Disposition::Default);
    let args = (1..usize::try_from(argc).unwrap_or(0))
        .map(|i| {
            // SAFETY: the kernel passes argc NUL-terminated strings in argv,
            // and musl hands them to main untouched; they live for the whole
            // process.
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            std::ffi::OsString::from_vec(arg.to_bytes().to_vec())
        })
        .collect();
    let mut env = Vec::new();
    for i in 0.. {
        // SAFETY: envp is the NULL-terminated array the kernel passed and
        // musl handed on; nothing in barco changes it (barco never calls
        // setenv).
        let entry = unsafe { *envp.add(i) };
        if entry.is_null() {
            break;
        }
        // SAFETY: each entry is a NUL-terminated string that lives for the
        // whole process.
        env.extend(crate::plan::env_entry(unsafe { CStr::from_ptr(entry) }.to_bytes()));
    }
    crate::main(args, env)
}

/// Unit tests only. Their harness is one of barco's binaries to Cargo, so
/// it is linked without unwind tables too (build.rs): a failing test
/// cannot unwind, and the process dies before the harness prints the
/// message it captured. So this hook, run from `.init_array` before the
/// harness starts, writes each panic to stderr itself, past the capture
/// (`io::stderr()` is not captured; `eprintln!` is), with the test's name.
#[cfg(test)]
#[used]
#[link_section = ".init_array"]
static PANICS_TO_STDERR: extern "C" fn() = {
    extern "C" fn install() {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            use std::io::Write;
            let test = std::thread::current().name().unwrap_or("?").to_string();
            let _ = writeln!(std::io::stderr(), "test {test} failed, and takes the others down: {info}");
            default(info);
        }));
    }
    install
};

/// Opens `/dev/null` on each of 0, 1 and 2 that is closed (`POLLNVAL`).
#[cfg(not(test))]
fn open_standard_fds() {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::fs::{open, Mode, OFlags};
    // SAFETY: 0, 1 and 2 are only polled here, never closed; a closed one
    // reports POLLNVAL rather than anything unsafe.
    let fds = [0, 1, 2].map(|fd| unsafe { BorrowedFd::borrow_raw(fd) });
    let mut polled = fds.each_ref().map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::empty()));
    if poll(&mut polled, Some(&Timespec { tv_sec: 0, tv_nsec: 0 })).is_err() {
        return;
    }
    for p in &polled {
        if p.revents().contains(PollFlags::NVAL) {
            // The lowest free descriptor: the closed one.
            match open(c"/dev/null", OFlags::RDWR, Mode::empty()) {
                Ok(null) => core::mem::forget(null),
                Err(_) => return,
            }
        }
    }
}

/// What `clone3` returned.
pub enum Forked {
    /// We are the new process.
    Child,
    /// We are the caller; the child has this pid and pidfd.
    Parent { pid: u32, pidfd: OwnedFd },
}

/// `clone3(&args, sizeof args)`: create a child in new namespaces, fork-style.
///
/// No `CLONE_VM` and a zero stack: the child runs on a copy-on-write copy of
/// our memory and returns from this call with `Forked::Child`, like `fork`.
/// `CLONE_PIDFD` is always set so the parent gets a pidfd it can poll and
/// signal without pid-reuse races.
///
/// barco uses it twice: for the container's first process (new namespaces,
/// and with `cgroup`, `CLONE_INTO_CGROUP` that cgroup directory), and, with
/// `--init`, for the command under barco's reaper (flags 0).
///
/// # References
/// - [clone3(2)](https://man7.org/linux/man-pages/man2/clone3.2.html)
pub fn clone3(flags: u64, exit_signal: u32, cgroup: Option<BorrowedFd<'_>>) -> Result<Forked, Errno> {
    let mut pidfd: i32 = -1;
    let into_cgroup = if cgroup.is_some() { k::CLONE_INTO_CGROUP } else { 0 };
    let mut args = k::clone_args {
        flags: flags | u64::from(k::CLONE_PIDFD) | into_cgroup,
        pidfd: &mut pidfd as *mut i32 as u64,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: u64::from(exit_signal),
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup.map_or(0, |fd| fd.as_raw_fd() as u64),
    };
    // SAFETY: `args` is a valid, fully initialised clone_args of the size we
    // pass; it and `pidfd` outlive the call. Without CLONE_VM the child gets
    // its own copy of the address space, so both sides keep a consistent view
    // of the Rust state, exactly as after fork(2). barco is single-threaded
    // here, so no lock can be held by a thread that does not exist in the child.
    let ret = unsafe {
        arch::syscall2(
            k::__NR_clone3 as usize,
            &mut args as *mut k::clone_args as usize,
            core::mem::size_of::<k::clone_args>(),
        )
    };
    match check(ret)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as u32,
            // SAFETY: with CLONE_PIDFD and a successful clone3 the kernel wrote a
            // fresh, owned file descriptor into `pidfd`.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// `clone(SIGCHLD, 0, ...)`: plain fork, for when a seccomp filter is
/// already loaded and answers `clone3` with ENOSYS (`--init` with
/// `--allow-new-privileges`). Returns the child's pid, or `None` in the
/// child.
///
/// # References
/// - [clone(2)](https://man7.org/linux/man-pages/man2/clone.2.html)
pub fn fork() -> Result<Option<u32>, Errno> {
    // SAFETY: without CLONE_VM and with no new stack this is fork(2); the
    // tid and tls arguments are read only with flags that are not given.
    let ret = unsafe { arch::syscall2(k::__NR_clone as usize, k::SIGCHLD as usize, 0) };
    check(ret).map(|pid| (pid != 0).then_some(pid as u32))
}

/// `execve(path, argv, envp)`. Returns only on failure.
///
/// `argv` and `envp` must be null-terminated arrays of pointers to C strings;
/// [`crate::plan::CArray`] builds them while planning.
///
/// # References
/// - [execve(2)](https://man7.org/linux/man-pages/man2/execve.2.html)
pub fn execve(path: &CStr, argv: *const *const c_char, envp: *const *const c_char) -> Errno {
    // SAFETY: `path` is a valid C string; the caller guarantees `argv` and
    // `envp` are null-terminated pointer arrays that live as long as the plan.
    let ret = unsafe { arch::syscall3(k::__NR_execve as usize, path.as_ptr() as usize, argv as usize, envp as usize) };
    match check(ret) {
        Err(e) => e,
        Ok(_) => Errno::INVAL, // execve never returns success
    }
}

/// `exit_group(code)`: end the process without running any user-space
/// cleanup, which is what a forked child must do. barco itself exits so
/// too: it writes with write(2) alone, so nothing is buffered to flush.
///
/// # References
/// - [exit_group(2)](https://man7.org/linux/man-pages/man2/exit_group.2.html)
pub fn exit_group(code: i32) -> ! {
    // SAFETY: exit_group has no memory arguments and does not return.
    unsafe {
        arch::syscall1(k::__NR_exit_group as usize, code as usize);
    }
    // The kernel never returns from exit_group; spin rather than invoke
    // anything that could unwind or abort.
    #[allow(clippy::empty_loop)]
    loop {}
}

/// A signal mask as the kernel sees it (`kernel_sigset_t`, 64 bits on x86_64).
#[derive(Clone, Copy, Default)]
pub struct SigSet(u64);

impl SigSet {
    /// No signal.
    pub const EMPTY: SigSet = SigSet(0);

    pub fn of(signals: &[u32]) -> SigSet {
        SigSet(signals.iter().fold(0, |m, &s| m | 1 << (s - 1)))
    }

    pub fn union(self, other: SigSet) -> SigSet {
        SigSet(self.0 | other.0)
    }

    /// Every signal (1 to 64) except those in `signals`.
    pub fn all_except(signals: &[u32]) -> SigSet {
        SigSet(!SigSet::of(signals).0)
    }

    #[cfg(test)]
    pub fn contains(self, sig: u32) -> bool {
        (1..=64).contains(&sig) && self.0 & 1 << (sig - 1) != 0
    }
}

/// `rt_sigprocmask(SIG_SETMASK, set, NULL)`: replace the blocked-signal mask.
///
/// # References
/// - [sigprocmask(2)](https://man7.org/linux/man-pages/man2/sigprocmask.2.html)
pub fn set_signal_mask(set: SigSet) -> Result<(), Errno> {
    // SAFETY: the set is a valid 8-byte sigset; the old-set pointer is NULL.
    let ret = unsafe {
        arch::syscall4(
            k::__NR_rt_sigprocmask as usize,
            k::SIG_SETMASK as usize,
            &set.0 as *const u64 as usize,
            0,
            core::mem::size_of::<u64>(),
        )
    };
    check(ret).map(drop)
}

/// A signal's disposition, as `rt_sigaction` takes it.
#[derive(Clone, Copy)]
pub enum Disposition {
    Default = 0, // SIG_DFL
    #[cfg_attr(test, allow(dead_code))]
    Ignore = 1, // SIG_IGN
}

/// `rt_sigaction(sig, {SIG_DFL or SIG_IGN}, NULL)`.
///
/// barco ignores SIGPIPE from its first instruction (see [`main`]), and an
/// ignored disposition survives execve, so the child resets it to the
/// default before running the command.
///
/// # References
/// - [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html)
pub fn set_signal_action(sig: u32, disposition: Disposition) -> Result<(), Errno> {
    /// `struct kernel_sigaction` with the handler as a plain word, since
    /// SIG_IGN is not a function (linux-raw-sys types it as one).
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction { handler: disposition as usize, flags: 0, restorer: 0, mask: 0 };
    // SAFETY: `act` has the layout of the kernel's struct sigaction; with
    // SIG_DFL or SIG_IGN no handler or restorer is ever called. No old
    // action is requested.
    let ret = unsafe {
        arch::syscall4(
            k::__NR_rt_sigaction as usize,
            sig as usize,
            &act as *const KernelSigaction as usize,
            0,
            core::mem::size_of::<u64>(),
        )
    };
    check(ret).map(drop)
}

/// `clock_gettime(clock)` as (seconds, nanoseconds), by the syscall itself:
/// rustix would go through the vDSO, whose lookup (the auxiliary vector,
/// the vDSO's ELF symbols) is 2 KB of code for the log's clock alone.
///
/// # References
/// - [clock_gettime(2)](https://man7.org/linux/man-pages/man2/clock_gettime.2.html)
pub fn clock_gettime(clock: u32) -> (i64, i64) {
    let mut ts = k::__kernel_timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable __kernel_timespec for the kernel to
    // fill; an invalid clock id only makes it fail with EINVAL.
    let ret = unsafe {
        arch::syscall2(k::__NR_clock_gettime as usize, clock as usize, &mut ts as *mut k::__kernel_timespec as usize)
    };
    match check(ret) {
        Ok(_) => (ts.tv_sec, ts.tv_nsec),
        Err(_) => (0, 0),
    }
}

/// `rt_sigtimedwait(set, NULL, NULL)`: wait for one of the (blocked)
/// signals in `set` and take it from the queue; returns its number.
///
/// # References
/// - [sigwaitinfo(2)](https://man7.org/linux/man-pages/man2/sigwaitinfo.2.html)
pub fn sigwait(set: SigSet) -> Result<u32, Errno> {
    // SAFETY: the set is a valid 8-byte sigset; info and timeout are NULL,
    // so the kernel writes nothing and waits indefinitely.
    let ret = unsafe {
        arch::syscall4(
            k::__NR_rt_sigtimedwait as usize,
            &set.0 as *const u64 as usize,
            0,
            0,
            core::mem::size_of::<u64>(),
        )
    };
    check(ret).map(|sig| sig as u32)
}

/// `kill(pid, sig)`, for any signal number, real-time ones included (rustix's
/// `Signal` names only the classic ones).
///
/// # References
/// - [kill(2)](https://man7.org/linux/man-pages/man2/kill.2.html)
pub fn kill(pid: i32, sig: u32) -> Result<(), Errno> {
    // SAFETY: kill takes plain integers.
    let ret = unsafe { arch::syscall2(k::__NR_kill as usize, pid as isize as usize, sig as usize) };
    check(ret).map(drop)
}

/// `signalfd4(-1, set, SFD_CLOEXEC)`: a descriptor that reads the blocked
/// signals in `set` instead of delivering them.
///
/// # References
/// - [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html)
pub fn signalfd(set: SigSet) -> Result<OwnedFd, Errno> {
    const SFD_CLOEXEC: usize = k::O_CLOEXEC as usize;
    // SAFETY: the set is a valid 8-byte sigset and -1 asks for a new fd.
    let ret = unsafe {
        arch::syscall4(
            k::__NR_signalfd4 as usize,
            -1isize as usize,
            &set.0 as *const u64 as usize,
            core::mem::size_of::<u64>(),
            SFD_CLOEXEC,
        )
    };
    // SAFETY: on success the kernel returned a new descriptor that we own.
    check(ret).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `struct signalfd_siginfo`, as read from a signalfd (128 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SignalfdSiginfo {
    pub signo: u32,
    pub errno: i32,
    pub code: i32,
    pub pid: u32,
    _rest: [u8; 112],
}

impl SignalfdSiginfo {
    pub const fn zeroed() -> Self {
        SignalfdSiginfo { signo: 0, errno: 0, code: 0, pid: 0, _rest: [0; 112] }
    }

    /// The struct's bytes, for `read(2)` to fill.
    pub fn as_bytes_mut(&mut self) -> &mut [u8; 128] {
        // SAFETY: the struct is repr(C), exactly 128 bytes, has no padding
        // and every bit pattern is a valid value of every field.
        unsafe { &mut *(self as *mut SignalfdSiginfo as *mut [u8; 128]) }
    }
}

const _: () = assert!(core::mem::size_of::<SignalfdSiginfo>() == 128);

/// `close_range(first, last, 0)`: close every descriptor in the range.
///
/// # References
/// - [close_range(2)](https://man7.org/linux/man-pages/man2/close_range.2.html)
pub fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    if first > last {
        return Ok(());
    }
    // SAFETY: close_range takes plain integers. The child owns no Rust object
    // wrapping the descriptors it closes other than the channel, which the
    // caller keeps out of the range.
    let ret = unsafe { arch::syscall3(k::__NR_close_range as usize, first as usize, last as usize, 0) };
    check(ret).map(drop)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)`: install a BPF filter on
/// this thread (barco's child is single-threaded). Needs no_new_privs or
/// CAP_SYS_ADMIN in the current user namespace.
///
/// # References
/// - [seccomp(2)](https://man7.org/linux/man-pages/man2/seccomp.2.html)
pub fn seccomp_set_filter(program: &[crate::seccomp::SockFilter]) -> Result<(), Errno> {
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const crate::seccomp::SockFilter,
    }
    const SECCOMP_SET_MODE_FILTER: usize = 1;
    let prog = SockFprog { len: program.len().min(u16::MAX as usize) as u16, filter: program.as_ptr() };
    // SAFETY: `prog` points at `len` valid instructions of the kernel's
    // `struct sock_filter` layout, which outlive the call; the kernel copies
    // the program.
    let ret = unsafe {
        arch::syscall3(k::__NR_seccomp as usize, SECCOMP_SET_MODE_FILTER, 0, &prog as *const SockFprog as usize)
    };
    check(ret).map(drop)
}

/// `ioctl(socket, SIOCGSKNS)`: a new close-on-exec descriptor of the
/// network namespace `socket` was made in (Linux 4.9), for `setns(2)`.
/// Needs CAP_NET_ADMIN over that namespace. barco's network builder
/// hands its namespace to the container this way: no `/proc` needed.
///
/// # References
/// - [ioctl_ns(2)](https://man7.org/linux/man-pages/man2/ioctl_ns.2.html)
///   for what the descriptor is;
/// - the kernel commit that added it, c62cce2caee5 ("net: add an ioctl to
///   get a socket network namespace"), `include/uapi/linux/sockios.h`.
pub fn socket_netns(socket: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    const SIOCGSKNS: usize = 0x894C;
    // SAFETY: SIOCGSKNS takes no argument and only returns a descriptor,
    // which nothing else owns.
    let ret = unsafe { arch::syscall3(k::__NR_ioctl as usize, socket.as_raw_fd() as usize, SIOCGSKNS, 0) };
    // SAFETY: on success the kernel returned a fresh descriptor.
    check(ret).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// An `iovec` (readv(2)).
#[repr(C)]
struct IoVec {
    base: *mut u8,
    len: usize,
}

/// A `msghdr` without an address (recvmsg(2)).
#[repr(C)]
struct MsgHdr {
    name: usize,
    namelen: u32,
    iov: *const IoVec,
    iovlen: usize,
    control: *mut FdCmsg,
    controllen: usize,
    flags: i32,
}

/// Room for one SCM_RIGHTS control message carrying one descriptor: a
/// `cmsghdr` and an int, `CMSG_SPACE(sizeof(int))` (24) bytes on x86_64.
#[repr(C, align(8))]
struct FdCmsg {
    len: usize,
    level: i32,
    kind: i32,
    fd: i32,
    _pad: i32,
}

const SOL_SOCKET: i32 = 1;
const SCM_RIGHTS: i32 = 1;
/// `CMSG_LEN(sizeof(int))`.
const FD_CMSG_LEN: usize = 20;

/// `sendmsg(2)` of `bytes` with `fd` as SCM_RIGHTS, and MSG_NOSIGNAL. By
/// hand: rustix's ancillary-buffer machinery was about 0.8 KB of barco for
/// one descriptor.
///
/// # References
/// - [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html), SCM_RIGHTS
/// - [cmsg(3)](https://man7.org/linux/man-pages/man3/cmsg.3.html)
pub fn send_with_fd(socket: BorrowedFd<'_>, bytes: &[u8], fd: BorrowedFd<'_>) -> Result<usize, Errno> {
    const MSG_NOSIGNAL: usize = 0x4000;
    let iov = IoVec { base: bytes.as_ptr() as *mut u8, len: bytes.len() };
    let mut cmsg = FdCmsg { len: FD_CMSG_LEN, level: SOL_SOCKET, kind: SCM_RIGHTS, fd: fd.as_raw_fd(), _pad: 0 };
    let msg = MsgHdr {
        name: 0,
        namelen: 0,
        iov: &iov,
        iovlen: 1,
        control: &mut cmsg,
        controllen: core::mem::size_of::<FdCmsg>(),
        flags: 0,
    };
    // SAFETY: `msg` and what it points at (`iov`, `bytes`, `cmsg`) are valid
    // and outlive the call; the kernel only reads them.
    let ret = unsafe {
        arch::syscall3(
            k::__NR_sendmsg as usize,
            socket.as_raw_fd() as usize,
            &msg as *const MsgHdr as usize,
            MSG_NOSIGNAL,
        )
    };
    check(ret)
}

/// `recvmsg(2)` into `buf`, with MSG_CMSG_CLOEXEC: the byte count, and the
/// descriptor that came with the message as SCM_RIGHTS, if one did. The
/// control buffer is offered as `CMSG_LEN(sizeof(int))`, room for exactly
/// one descriptor: the kernel closes a sender's extra ones (MSG_CTRUNC).
/// (With the 24 bytes of `CMSG_SPACE`, a second would fit, and leak.)
pub fn recv_with_fd(socket: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>), Errno> {
    const MSG_CMSG_CLOEXEC: usize = 0x4000_0000;
    let iov = IoVec { base: buf.as_mut_ptr(), len: buf.len() };
    let mut cmsg = FdCmsg { len: 0, level: 0, kind: 0, fd: -1, _pad: 0 };
    let mut msg =
        MsgHdr { name: 0, namelen: 0, iov: &iov, iovlen: 1, control: &mut cmsg, controllen: FD_CMSG_LEN, flags: 0 };
    // SAFETY: `msg` and what it points at are valid and outlive the call;
    // the kernel writes at most `buf.len()` bytes to `buf`, at most
    // `controllen` to `cmsg`, and updates `msg`.
    let ret = unsafe {
        arch::syscall3(
            k::__NR_recvmsg as usize,
            socket.as_raw_fd() as usize,
            &mut msg as *mut MsgHdr as usize,
            MSG_CMSG_CLOEXEC,
        )
    };
    let n = check(ret)?;
    let passed = msg.controllen >= FD_CMSG_LEN
        && (cmsg.len, cmsg.level, cmsg.kind) == (FD_CMSG_LEN, SOL_SOCKET, SCM_RIGHTS)
        && cmsg.fd >= 0;
    // SAFETY: the kernel installed this descriptor for us alone.
    Ok((n, passed.then(|| unsafe { OwnedFd::from_raw_fd(cmsg.fd) })))
}

/// `getcpu(2)`: the CPU this thread runs on. The raw syscall: rustix's
/// `sched_getcpu` looks it up in the vDSO, and the lookup's ELF parsing
/// was 2 KB of barco for a call made once a run.
///
/// # References
/// - [getcpu(2)](https://man7.org/linux/man-pages/man2/getcpu.2.html)
pub fn current_cpu() -> usize {
    let mut cpu: u32 = 0;
    // SAFETY: the kernel writes one u32 to `cpu`, which outlives the call;
    // the node and cache pointers may be null.
    let ret = unsafe { arch::syscall3(k::__NR_getcpu as usize, &mut cpu as *mut u32 as usize, 0, 0) };
    check(ret).map_or(0, |_| cpu as usize)
}

/// `unshare(flags)`.
///
/// # References
/// - [unshare(2)](https://man7.org/linux/man-pages/man2/unshare.2.html)
pub fn unshare(flags: u32) -> Result<(), Errno> {
    // SAFETY: barco only passes namespace flags here, never CLONE_FILES or
    // CLONE_FS, so no Rust-visible state changes underneath us.
    let ret = unsafe { arch::syscall1(k::__NR_unshare as usize, flags as usize) };
    check(ret).map(drop)
}

/// A `&'static str` in twelve bytes, a pointer and a 32-bit length, packed
/// to 4-byte alignment so that the 4 bytes after it are free: barco's
/// [`Error`](crate::error::Error) puts its stage and errno there and is
/// sixteen bytes, so a `Result` of it comes back in two registers.
#[derive(Clone, Copy)]
#[repr(C, packed(4))]
pub struct StaticStr {
    ptr: core::ptr::NonNull<u8>,
    len: u32,
}

impl StaticStr {
    pub fn new(s: &'static str) -> StaticStr {
        let s = if u32::try_from(s.len()).is_ok() { s } else { "(a text longer than 4 GiB)" };
        StaticStr { ptr: core::ptr::NonNull::from(s).cast(), len: s.len() as u32 }
    }

    pub fn get(self) -> &'static str {
        // SAFETY: `ptr` and `len` were taken from a `&'static str` in `new`,
        // whose bytes live and stay unchanged for the rest of the process.
        unsafe { core::str::from_utf8_unchecked(core::slice::from_raw_parts(self.ptr.as_ptr(), self.len as usize)) }
    }
}

// SAFETY: a `StaticStr` is a shared reference to immutable static bytes,
// like the `&'static str` it was made from.
unsafe impl Send for StaticStr {}
// SAFETY: as above.
unsafe impl Sync for StaticStr {}

/// A buffer filled on first use and only read after: the texts that
/// `cold` unpacks when one is shown. A static, so in `.bss`: no bytes of
/// the file, and memory only once touched. No heap either, so the
/// supervisor may show one after the heap is sealed.
pub struct FillOnce<const N: usize> {
    /// 0 empty, 1 being filled, 2 filled.
    state: core::sync::atomic::AtomicU8,
    bytes: core::cell::UnsafeCell<[u8; N]>,
}

// SAFETY: `bytes` is written only by the one caller that moved `state`
// from 0 to 1, and read only once `state` is 2, after that write.
unsafe impl<const N: usize> Sync for FillOnce<N> {}

impl<const N: usize> FillOnce<N> {
    pub const fn new() -> FillOnce<N> {
        FillOnce { state: core::sync::atomic::AtomicU8::new(0), bytes: core::cell::UnsafeCell::new([0; N]) }
    }

    /// The bytes, filled by `fill` if this is the first call. (barco has
    /// one thread; the unit tests' harness has more, which wait here.)
    pub fn get(&'static self, fill: fn(&mut [u8; N])) -> &'static [u8; N] {
        use core::sync::atomic::Ordering::{Acquire, Release};
        if self.state.compare_exchange(0, 1, Acquire, Acquire).is_ok() {
            // SAFETY: only this call moved `state` to 1, and no one reads
            // `bytes` before it is 2.
            fill(unsafe { &mut *self.bytes.get() });
            self.state.store(2, Release);
        }
        while self.state.load(Acquire) != 2 {
            core::hint::spin_loop();
        }
        // SAFETY: `state` is 2: `bytes` is filled and never written again.
        unsafe { &*self.bytes.get() }
    }
}
