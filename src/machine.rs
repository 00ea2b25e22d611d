//! barco as the machine's PID 1: the `/init` of an initramfs or of a
//! minimal image, with nothing else in it.
//!
//! The kernel starts PID 1 with nothing mounted, hands it the words after
//! `--` on its command line as arguments, and panics if it ever exits
//! (`Attempted to kill init!`). So as PID 1 barco:
//!
//! 1. [`prepare`]: mounts what is missing (devtmpfs on `/dev`, `/proc`,
//!    `/sys`, cgroup2 on `/sys/fs/cgroup`), and opens the console as its
//!    stdio if the kernel could not, so that every later word reaches
//!    someone; [`report`] logs it once logging is set up;
//! 2. [`arguments`]: takes its arguments from the kernel command line, or
//!    from `/etc/barco/args` (one per line) when there are none;
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
use crate::log::{self, debug, warning};
use crate::plan::{read_file, read_text};
use crate::sys;
use core::ffi::CStr;
use core::sync::atomic::{AtomicI32, Ordering::Relaxed};
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

/// Filesystems PID 1 needs, in mount order: (fstype, target, the target's
/// parent directory, flags). devtmpfs comes first, so that the console can
/// be opened early.
const MOUNTS: [(&CStr, &CStr, &CStr, MountFlags); 4] = [
    (c"devtmpfs", c"/dev", c"/", MountFlags::NOSUID.union(MountFlags::NOEXEC)),
    (c"proc", c"/proc", c"/", MountFlags::NOSUID.union(MountFlags::NODEV).union(MountFlags::NOEXEC)),
    (c"sysfs", c"/sys", c"/", MountFlags::NOSUID.union(MountFlags::NODEV).union(MountFlags::NOEXEC)),
    (c"cgroup2", c"/sys/fs/cgroup", c"/sys/fs", MountFlags::NOSUID.union(MountFlags::NODEV).union(MountFlags::NOEXEC)),
];

/// The inode number of the initial PID namespace (`PROC_PID_INIT_INO` in
/// include/linux/proc_ns.h).
const INITIAL_PID_NS_INO: u64 = 0xEFFF_FFFC;

/// Whether barco is PID 1 of its PID namespace.
pub fn is_init() -> bool {
    getpid().is_init()
}

/// What [`prepare`] did for each of [`MOUNTS`]: 1 mounted, 0 found mounted,
/// a negative errno for a failure. Reported by [`report`] once logging is
/// set up, which needs the arguments, which may need `/proc`.
static OUTCOMES: [AtomicI32; MOUNTS.len()] = [const { AtomicI32::new(0) }; MOUNTS.len()];

/// Mounts what PID 1 needs and is missing, and opens the console as stdio
/// if the kernel could not. Failures are reported by [`report`]: the run's
/// own steps then say what they lack.
pub fn prepare() {
    // MOUNTS walked by reference, here and in `report`: by value, the
    // table was copied onto the stack first (0.2 KB of `just tiny`).
    for (i, &(fstype, target, parent, flags)) in MOUNTS.iter().enumerate() {
        let outcome = match mount_if_missing(fstype, target, parent, flags) {
            Ok(mounted) => i32::from(mounted),
            Err(e) => -e.raw_os_error(),
        };
        OUTCOMES[i].store(outcome, Relaxed);
        if target == c"/dev" {
            open_console();
        }
    }
    if in_initial_pid_namespace() {
        take_the_console();
    }
}

/// Logs what [`prepare`] did. Not inlined into barco's `run`: 64 bytes of
/// `just tiny`.
#[inline(never)]
pub fn report() {
    for (i, &(fstype, target, _, _)) in MOUNTS.iter().enumerate() {
        let (name, at) = (fstype.to_string_lossy(), target.to_string_lossy());
        match OUTCOMES[i].load(Relaxed) {
            1 => debug!("mounted {} on {}", name, at),
            0 => debug!("{} was already mounted", at),
            e => warning!("mounting {name} on {at}: {}", strerror(rustix::io::Errno::from_raw_os_error(-e))),
        }
    }
}

/// Mounts `fstype` on `target` unless something is mounted there already
/// (a mount point lies on another device than its parent directory).
/// Returns whether it mounted.
fn mount_if_missing(fstype: &CStr, target: &CStr, parent: &CStr, flags: MountFlags) -> Result<bool, rustix::io::Errno> {
    match mkdir(target, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e),
    }
    if stat(target)?.st_dev != stat(parent)?.st_dev {
        return Ok(false);
    }
    mount(fstype, target, fstype, flags, None).map(|()| true)
}

/// The kernel opens `/dev/console` as PID 1's stdin, stdout and stderr
/// only if the image has that node. Without it barco would be mute, so it
/// opens the console from the devtmpfs it has just mounted.
fn open_console() {
    if fcntl_getfd(rustix::stdio::stdin()).is_ok() {
        return;
    }
    let Ok(console) = open(c"/dev/console", OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty()) else {
        return;
    };
    let _ = dup2_stdin(&console);
    let _ = dup2_stdout(&console);
    let _ = dup2_stderr(&console);
}

/// The kernel gives init no controlling terminal, and `/dev/console` cannot
/// be one, so a shell in the container would run without job control and
/// Ctrl-C would reach nobody. barco starts a session and makes the console's
/// real device (`/sys/class/tty/console/active`, last word) its controlling
/// terminal and stdio; the supervisor then hands its foreground to the
/// container, as on any terminal.
/// The words split at the kernel's single spaces, and the last found
/// forward: `split_ascii_whitespace` was 64 bytes more of `just tiny` (with
/// `cgroup::offers_controllers`), and `next_back` a reverse searcher (0.5
/// KB).
#[allow(clippy::double_ended_iterator_last)]
fn take_the_console() {
    let Some(active) = read_text("/sys/class/tty/console/active") else { return };
    let Some(name) = active.trim_ascii().split(' ').last().filter(|n| !n.is_empty()) else { return };
    // A Vec: see `plan::c_path`.
    let Ok(path) = std::ffi::CString::new(format!("/dev/{name}").into_bytes()) else { return };
    if rustix::process::setsid().is_err() {
        return;
    }
    let Ok(tty) = open(path.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty()) else {
        return;
    };
    if rustix::process::ioctl_tiocsctty(&tty).is_ok() {
        let _ = dup2_stdin(&tty);
        let _ = dup2_stdout(&tty);
        let _ = dup2_stderr(&tty);
    }
}

/// barco's arguments as the machine's PID 1.
///
/// The kernel hands init the words after `--` on its command line, but
/// stops at a second `--` and drops the rest (`parse_args` in
/// kernel/params.c), so `rdinit=/barco -- -m /rootfs -- /app` would lose
/// `/app`. So barco reads `/proc/cmdline` itself and takes every word after
/// the first `--`. Without a `--` there, it takes what the kernel passed,
/// and when that is nothing, the lines of [`ARGS_FILE`].
pub fn arguments(from_kernel: Vec<OsString>) -> Vec<OsString> {
    if in_initial_pid_namespace() {
        if let Some(words) = read_text("/proc/cmdline").and_then(|c| after_dashes(&c)) {
            return words;
        }
    }
    if !from_kernel.is_empty() {
        return from_kernel;
    }
    match read_file(ARGS_FILE.as_ref()) {
        Ok(text) => args_file(&text),
        Err(rustix::io::Errno::NOENT) => Vec::new(),
        Err(e) => {
            warning!("reading {ARGS_FILE}: {}", strerror(e));
            Vec::new()
        }
    }
}

/// The words after the first `--` of a kernel command line, or `None`
/// when it has no `--`.
fn after_dashes(cmdline: &str) -> Option<Vec<OsString>> {
    let mut words = kernel_words(cmdline);
    let dashes = words.iter().position(|w| w == "--")?;
    Some(words.split_off(dashes + 1))
}

/// Splits a kernel command line as `next_arg` in lib/cmdline.c does:
/// words are separated by spaces outside double quotes; a word's opening
/// quote and its closing one are dropped, and so are those around the
/// value of `name="value"`.
fn kernel_words(cmdline: &str) -> Vec<OsString> {
    let mut words = Vec::new();
    let mut rest = cmdline.trim_ascii_start();
    while !rest.is_empty() {
        let quoted = rest.starts_with('"');
        let body = if quoted { &rest[1..] } else { rest };
        let mut in_quote = quoted;
        // By bytes, not chars: what ends a word is ASCII, so it ends on a
        // char boundary either way, and no UTF-8 decoder is needed.
        let end = body
            .bytes()
            .position(|b| {
                if b == b'"' {
                    in_quote = !in_quote;
                }
                b.is_ascii_whitespace() && !in_quote
            })
            .unwrap_or(body.len());
        let word = &body[..end];
        // The word as two slices of it, joined in one OsString: `name=`
        // and the value unquoted, or the word (unquoted) and nothing. A
        // format and two to_string were 56 bytes more of `just tiny`.
        let (head, tail) = match word.split_once('=') {
            Some((name, value)) if value.starts_with('"') => {
                (&word[..=name.len()], value[1..].strip_suffix('"').unwrap_or(&value[1..]))
            }
            _ if quoted => (word.strip_suffix('"').unwrap_or(word), ""),
            _ => (word, ""),
        };
        let mut word = OsString::from(head);
        word.push(tail);
        words.push(word);
        rest = body[end..].trim_ascii_start();
    }
    words
}

/// One argument per line, taken verbatim; blank lines are skipped. Pushed
/// in a loop: collected, 0.2 KB more of `just tiny`.
fn args_file(text: &[u8]) -> Vec<OsString> {
    let mut args = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        args.push(OsString::from_vec(line.to_vec()));
    }
    args
}

/// Ends the machine after the container: one line with the status, then
/// power off, reboot or halt. Never returns to the kernel, which would
/// panic. Outside the initial PID namespace, exits with `status` instead.
pub fn shut_down(on_exit: OnExit, status: i32) -> ! {
    if !in_initial_pid_namespace() {
        crate::sys::exit_group(status)
    }
    let (verb, cmd) = match on_exit {
        OnExit::PowerOff => ("powering off", RebootCommand::PowerOff),
        OnExit::Reboot => ("rebooting", RebootCommand::Restart),
        OnExit::Halt => ("halting", RebootCommand::Halt),
    };
    log::line(format_args!("barco: container exited with status {}; {verb}", log::dec(status)));
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
    }

    #[test]
    fn kernel_command_line_after_the_first_dashes() {
        let line =
            "console=ttyS0 panic=-1 rdinit=/barco -- -m /rootfs -e A=\"x y\" -- /bin/sh -c \"echo hi; exit 7\"\n";
        let got = after_dashes(line).unwrap();
        assert_eq!(got, ["-m", "/rootfs", "-e", "A=x y", "--", "/bin/sh", "-c", "echo hi; exit 7"]);
        assert_eq!(after_dashes("console=ttyS0 quiet"), None);
        assert_eq!(after_dashes("quiet --").unwrap(), Vec::<OsString>::new());
        assert_eq!(kernel_words("  a  \"b c\"  d=\"e f\" \"g"), ["a", "b c", "d=e f", "g"]);
    }

    #[test]
    fn mounts_start_with_dev() {
        assert_eq!(MOUNTS[0].1, c"/dev");
        assert!(MOUNTS.iter().any(|m| m.0 == c"cgroup2" && m.1 == c"/sys/fs/cgroup"));
        for (_, target, parent, _) in MOUNTS {
            let path = |c: &CStr| std::path::PathBuf::from(c.to_str().unwrap());
            assert_eq!(path(target).parent(), Some(path(parent).as_path()), "{target:?}");
        }
    }
}
