//! barco as the machine's PID 1: the `/init` of an initramfs or of a
//! minimal image, with nothing else in it.
//!
//! The kernel starts PID 1 with nothing mounted, hands it the words after
//! `--` on its command line as arguments, and panics if it ever exits
//! (`Attempted to kill init!`). So as PID 1 barco:
//!
//! 1. [`prepare`]: mounts what is missing (devtmpfs on `/dev`, `/proc`,
//!    `/sys`, cgroup2 on `/sys/fs/cgroup`) and opens the console as its
//!    stdio if the kernel could not;
//! 2. [`arguments`]: takes its arguments from the command line, or from
//!    `/etc/barco/args` (one per line) when there are none;
//! 3. runs the container as usual, reaping whatever is reparented to it
//!    (`Plan::reap_orphans`);
//! 4. [`shut_down`]: prints the container's status in one line, kills what
//!    is left, syncs, and powers off, reboots or halts (`--on-exit`). It
//!    never returns.
//!
//! In a PID namespace (barco as PID 1 of a `docker run`, say) exiting is
//! fine and reboot(2) would only kill the namespace, so there barco exits
//! with the status as usual.

use crate::cli::OnExit;
use crate::error::strerror;
use crate::log::{self, warning};
use crate::sys;
use core::ffi::CStr;
use linux_raw_sys::general as k;
use rustix::fs::{mkdir, open, stat, Mode, OFlags};
use rustix::io::fcntl_getfd;
use rustix::mount::{mount, MountFlags};
use rustix::process::{getpid, wait, WaitOptions};
use rustix::stdio::{dup2_stderr, dup2_stdin, dup2_stdout};
use rustix::system::{reboot, RebootCommand};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Where PID 1 reads its arguments when the kernel passed none.
pub const ARGS_FILE: &str = "/etc/barco/args";

/// Filesystems PID 1 needs, in mount order: (fstype, target, flags).
/// devtmpfs comes first, so that the console can be opened early.
const MOUNTS: [(&CStr, &CStr, MountFlags); 4] = [
    (c"devtmpfs", c"/dev", MountFlags::NOSUID.union(MountFlags::NOEXEC)),
    (c"proc", c"/proc", MountFlags::NOSUID.union(MountFlags::NODEV).union(MountFlags::NOEXEC)),
    (c"sysfs", c"/sys", MountFlags::NOSUID.union(MountFlags::NODEV).union(MountFlags::NOEXEC)),
    (c"cgroup2", c"/sys/fs/cgroup", MountFlags::NOSUID.union(MountFlags::NODEV).union(MountFlags::NOEXEC)),
];

/// The inode number of the initial PID namespace (`PROC_PID_INIT_INO` in
/// include/linux/proc_ns.h).
const INITIAL_PID_NS_INO: u64 = 0xEFFF_FFFC;

/// Whether barco is PID 1 of its PID namespace.
pub fn is_init() -> bool {
    getpid().is_init()
}

/// Mounts what PID 1 needs and is missing, and makes sure stdio is open.
/// Failures are warnings: the run's own steps report what they lack.
pub fn prepare() {
    for (fstype, target, flags) in MOUNTS {
        if let Err(e) = mount_if_missing(fstype, target, flags) {
            warning!("mounting {} on {}: {}", fstype.to_string_lossy(), target.to_string_lossy(), strerror(e));
        }
        if target == c"/dev" {
            open_console();
        }
    }
}

/// Mounts `fstype` on `target` unless something is mounted there already:
/// a mount point lies on another device than its parent directory.
fn mount_if_missing(fstype: &CStr, target: &CStr, flags: MountFlags) -> Result<(), rustix::io::Errno> {
    match mkdir(target, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e),
    }
    let parent = match target.to_bytes().iter().rposition(|&b| b == b'/') {
        Some(0) | None => c"/".to_owned(),
        Some(i) => std::ffi::CString::new(&target.to_bytes()[..i]).unwrap_or_else(|_| c"/".to_owned()),
    };
    if stat(target)?.st_dev != stat(parent.as_c_str())?.st_dev {
        return Ok(());
    }
    mount(fstype, target, fstype, flags, None)
}

/// The kernel opens `/dev/console` as PID 1's stdin, stdout and stderr
/// only if the image has that node. Without it barco would be mute, so it
/// opens the console from the devtmpfs it just mounted.
fn open_console() {
    if fcntl_getfd(rustix::stdio::stdin()).is_ok() {
        return;
    }
    let Ok(console) = open(c"/dev/console", OFlags::RDWR | OFlags::NOCTTY, Mode::empty()) else {
        return;
    };
    let _ = dup2_stdin(&console);
    let _ = dup2_stdout(&console);
    let _ = dup2_stderr(&console);
}

/// barco's arguments as PID 1: the kernel command line's, or when there are
/// none, the lines of [`ARGS_FILE`] (blank lines skipped).
pub fn arguments(from_kernel: Vec<OsString>) -> Vec<OsString> {
    if !from_kernel.is_empty() {
        return from_kernel;
    }
    match std::fs::read(ARGS_FILE) {
        Ok(text) => args_file(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            warning!("reading {ARGS_FILE}: {e}");
            Vec::new()
        }
    }
}

/// One argument per line, taken verbatim; blank lines are skipped.
fn args_file(text: &[u8]) -> Vec<OsString> {
    text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| OsString::from_vec(l.to_vec())).collect()
}

/// Ends the machine after the container: one line with the status, then
/// power off, reboot or halt. Never returns to the kernel, which would
/// panic. Outside the initial PID namespace, exits with `status` instead.
pub fn shut_down(on_exit: OnExit, status: i32) -> ! {
    if !in_initial_pid_namespace() {
        std::process::exit(status)
    }
    let (verb, cmd) = match on_exit {
        OnExit::PowerOff => ("powering off", RebootCommand::PowerOff),
        OnExit::Reboot => ("rebooting", RebootCommand::Restart),
        OnExit::Halt => ("halting", RebootCommand::Halt),
    };
    log::line(format_args!("barco: container exited with status {status}; {verb}"));
    // Nothing else should be running; make sure before syncing.
    let _ = sys::kill(-1, k::SIGKILL);
    while let Ok(Some(_)) = wait(WaitOptions::empty()) {}
    rustix::fs::sync();
    if let Err(e) = reboot(cmd) {
        log::line(format_args!("barco: reboot(2): {}; stopping here", strerror(e)));
    }
    // reboot(2) returns only on failure: wait forever.
    loop {
        let _ = rustix::thread::nanosleep(&rustix::thread::Timespec { tv_sec: 3600, tv_nsec: 0 });
    }
}

fn in_initial_pid_namespace() -> bool {
    // Without /proc, assume the machine's init: exiting there would panic.
    stat(c"/proc/self/ns/pid").map_or(true, |st| st.st_ino == INITIAL_PID_NS_INO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_file_is_one_argument_per_line() {
        let got = args_file(b"-m\n/rootfs\n\n--\n/bin/sh\n-c\necho two words\n");
        assert_eq!(got, ["-m", "/rootfs", "--", "/bin/sh", "-c", "echo two words"]);
        assert!(args_file(b"").is_empty());
        assert_eq!(arguments(vec!["-m".into(), "/r".into()]), ["-m", "/r"]);
    }

    #[test]
    fn mounts_start_with_dev() {
        assert_eq!(MOUNTS[0].1, c"/dev");
        assert!(MOUNTS.iter().any(|m| m.0 == c"cgroup2" && m.1 == c"/sys/fs/cgroup"));
    }
}
