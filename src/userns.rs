//! Rootless barco: what changes when the caller is not root.
//!
//! The user namespace then comes first: `clone3` creates it with the
//! others (an unprivileged process may create the rest only inside one it
//! owns), and the child waits for its maps before anything else, since a
//! process whose ids are not mapped can create no file. Until then the
//! child stays dumpable, so that its `/proc/PID/uid_map` belongs to the
//! caller, who writes it:
//!
//! - by itself, for the single ids the kernel lets anyone map: the caller's
//!   uid onto `-u`, the caller's gid likewise, with `setgroups` denied
//!   first (user_namespaces(7), "Writing "deny" to /proc/PID/setgroups");
//! - with `newuidmap` and `newgidmap` (Debian's uidmap package), setuid
//!   helpers that check `/etc/subuid` and `/etc/subgid`, for anything more.
//!
//! Everything after follows: the mounts are the user namespace's (the proc
//! mount before the old root goes, device nodes bound from the host since
//! mknod is refused), the capabilities, no_new_privs, seccomp and fd rules
//! are the same as root's, and cgroups are used only where the caller has
//! a delegated subtree (see `cgroup::delegated`).
//!
//! # References
//! - [user_namespaces(7)](https://man7.org/linux/man-pages/man7/user_namespaces.7.html)
//! - [newuidmap(1)](https://man7.org/linux/man-pages/man1/newuidmap.1.html),
//!   [subuid(5)](https://man7.org/linux/man-pages/man5/subuid.5.html)

use crate::cli::IdRange;
use crate::error::{Error, Stage};
use crate::log::dec;
use crate::plan::{c_path, read_text, Host};
use crate::sys;
use core::ffi::c_char;
use rustix::io::Errno;
use rustix::process::{waitpid, Pid, WaitOptions};
use std::ffi::CString;

/// The host settings that turn user namespaces off for unprivileged users,
/// as one line naming the setting, or None. Not inlined into
/// `Host::current`: 16 bytes of `just tiny`.
#[inline(never)]
pub fn blocker() -> Option<String> {
    // Compared trimmed, in place: no trimmed copy of each file.
    let is = |path: &str, value: &str| read_text(path).is_some_and(|s| s.trim_ascii() == value);
    if is("/proc/sys/kernel/unprivileged_userns_clone", "0") {
        return Some(
            "user namespaces are off for unprivileged users: kernel.unprivileged_userns_clone is 0 \
             (sysctl -w kernel.unprivileged_userns_clone=1, or run barco as root)"
                .into(),
        );
    }
    if is("/proc/sys/user/max_user_namespaces", "0") {
        return Some(
            "user namespaces are off: user.max_user_namespaces is 0 \
             (sysctl -w user.max_user_namespaces=15000, or run barco as root)"
                .into(),
        );
    }
    // Under a profile of its own, barco may have `userns,`: let it try.
    let label = read_text("/proc/self/attr/apparmor/current").or_else(|| read_text("/proc/self/attr/current"));
    let unconfined = label.is_none_or(|l| l.trim_ascii().starts_with("unconfined"));
    if is("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1") && unconfined {
        return Some(
            "AppArmor restricts unprivileged user namespaces: kernel.apparmor_restrict_unprivileged_userns \
             is 1 and barco runs unconfined (give barco an AppArmor profile that allows userns, or run it \
             as root)"
                .into(),
        );
    }
    None
}

/// Whether barco itself runs under a seccomp filter (`Seccomp: 2` in
/// /proc/self/status), as inside docker or another barco. Split at `\n`,
/// not by `lines()`: the mode is trimmed, `\r` and all (40 bytes of `just
/// tiny`).
pub fn seccomp_filtered() -> bool {
    read_text("/proc/self/status")
        .is_some_and(|s| s.split('\n').any(|l| l.strip_prefix("Seccomp:").is_some_and(|mode| mode.trim_ascii() != "0")))
}

/// The subject of the error line when clone3 is refused to a non-root
/// caller: which setting most likely did it. Not inlined into
/// `Plan::new`: 56 bytes of `just tiny`.
#[inline(never)]
pub fn refused(host: &Host) -> String {
    let max = read_text("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    if host.seccomp_filtered {
        format!(
            "as uid {}: a seccomp filter around barco (Seccomp: 2 in /proc/self/status) refused the namespaces; \
             run barco outside it, or have it allow clone3 and user namespaces",
            dec(host.euid)
        )
    } else {
        format!(
            "as uid {}: the kernel refused a user namespace (check user.max_user_namespaces, {}, \
             kernel.unprivileged_userns_clone, and AppArmor's profile for barco)",
            dec(host.euid),
            max.trim_ascii()
        )
    }
}

/// Whether `map` maps the caller's own id `id` alone: the one map the
/// kernel lets anyone write, and the one newgidmap writes with setgroups
/// denied. Not inlined: `Plan::new` asks it three times, and
/// `Helpers::new` twice (0.2 KB of `just tiny`).
#[inline(never)]
pub fn only_own(map: &[IdRange], id: u32) -> bool {
    matches!(map, [r] if r.outside == id && r.count == 1)
}

/// newuidmap and newgidmap, with their arguments but the pid.
pub struct Helpers {
    uid: Helper,
    gid: Helper,
}

struct Helper {
    path: CString,
    /// "inside outside count" triples, as separate arguments.
    args: Vec<CString>,
    pub shown: &'static str,
}

const HELPER_DIRS: [&str; 4] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

impl Helpers {
    /// Finds the helpers and checks that the caller has ranges in
    /// /etc/subuid and /etc/subgid, so that a missing piece is one clear
    /// line now rather than the helper's complaint later.
    pub fn new(uid_map: &[IdRange], gid_map: &[IdRange], host: &Host) -> Result<Helpers, Error> {
        let need = format!(
            "--uid-map/--gid-map beyond your own uid {} and gid {} need newuidmap and newgidmap \
             (Debian's uidmap package) and ranges for you in /etc/subuid and /etc/subgid",
            dec(host.euid),
            dec(host.egid)
        );
        let find = |name: &str| {
            HELPER_DIRS
                .iter()
                .map(|d| format!("{d}/{name}"))
                .find(|p| c_path(p.as_ref()).and_then(|p| rustix::fs::stat(&*p)).is_ok())
        };
        let (Some(uid_path), Some(gid_path)) = (find("newuidmap"), find("newgidmap")) else {
            return Err(Error::usage(format!("{need}; newuidmap or newgidmap is missing")));
        };
        let user = user_name(host.euid);
        // A map of the caller's own id alone needs no subordinate range.
        let needed = [("/etc/subuid", !only_own(uid_map, host.euid)), ("/etc/subgid", !only_own(gid_map, host.egid))];
        for file in needed.iter().filter(|n| n.1).map(|n| n.0) {
            let id = host.euid;
            if !has_range(&read_text(file).unwrap_or_default(), user.as_deref(), id) {
                let who = user.clone().unwrap_or_else(|| dec(id).to_string());
                return Err(Error::usage(format!("{need}; {file} has no range for {who}")));
            }
        }
        // `CString::new` of a Vec: see `plan::c_path`.
        // The numbers pushed in loops: collected from a `flat_map`, 0.3 KB
        // more of `just tiny`.
        let helper = |path: String, map: &[IdRange]| {
            let mut args = Vec::new();
            for r in map {
                for n in [r.inside, r.outside, r.count] {
                    args.push(CString::new(dec(n).to_string().into_bytes()).unwrap_or_default());
                }
            }
            Helper { shown: path.clone().leak(), path: CString::new(path.into_bytes()).unwrap_or_default(), args }
        };
        Ok(Helpers { uid: helper(uid_path, uid_map), gid: helper(gid_path, gid_map) })
    }

    /// Runs newuidmap, then newgidmap, for `pid`. A failure comes back as
    /// the step, the helper's path and the errno, for the caller's error.
    /// No heap: the argument vector is put together on the stack.
    pub fn run(&'static self, pid: u32) -> Result<(), (Stage, &'static str, Errno)> {
        self.uid.run(pid).map_err(|e| (Stage::WriteUidMap, self.uid.shown, e))?;
        self.gid.run(pid).map_err(|e| (Stage::WriteGidMap, self.gid.shown, e))
    }
}

/// The most map lines the kernel takes, times three, plus the program, the
/// pid and the terminating null.
const MAX_ARGS: usize = 340 * 3 + 3;

impl Helper {
    fn run(&self, pid: u32) -> Result<(), Errno> {
        let mut buf = [0u8; 20];
        let digits = crate::log::decimal(pid.into(), &mut buf);
        // Ten digits at most, and a NUL after them: a C string as it is,
        // with no CStr check that could only pass.
        let mut arg = [0u8; 11];
        arg[..digits.len()].copy_from_slice(digits);
        let mut argv = [core::ptr::null::<c_char>(); MAX_ARGS];
        argv[0] = self.path.as_ptr();
        argv[1] = arg.as_ptr().cast();
        for (slot, arg) in argv[2..MAX_ARGS - 1].iter_mut().zip(&self.args) {
            *slot = arg.as_ptr();
        }
        let envp = [core::ptr::null::<c_char>()];
        match sys::fork()? {
            None => {
                // The helper gets barco's blocked signals back.
                let _ = sys::set_signal_mask(sys::SigSet::of(&[]));
                sys::execve(&self.path, argv.as_ptr(), envp.as_ptr());
                sys::exit_group(127)
            }
            Some(child) => {
                let pid = Pid::from_raw(child as i32).ok_or(Errno::SRCH)?;
                let status = loop {
                    match waitpid(Some(pid), WaitOptions::empty()) {
                        Err(Errno::INTR) => continue,
                        Err(e) => return Err(e),
                        Ok(status) => break status,
                    }
                };
                match status.and_then(|(_, s)| s.exit_status()) {
                    Some(0) => Ok(()),
                    _ => Err(Errno::PERM),
                }
            }
        }
    }
}

/// The caller's name from /etc/passwd, which subuid(5) lines may use. Not
/// inlined into `Helpers::new`: 32 bytes of `just tiny`.
#[inline(never)]
fn user_name(uid: u32) -> Option<String> {
    let passwd = read_text("/etc/passwd")?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let (name, _, id) = (f.next()?, f.next()?, f.next()?);
        (id == dec(uid).to_string()).then(|| name.to_string())
    })
}

/// Whether a subuid(5)/subgid(5) text has a `NAME:START:COUNT` line for the
/// user, by name or by number.
fn has_range(text: &str, name: Option<&str>, id: u32) -> bool {
    text.lines().any(|l| {
        let owner = l.split(':').next().unwrap_or("");
        !owner.is_empty() && (Some(owner) == name || owner == dec(id).to_string()) && l.split(':').count() == 3
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges() {
        let text = "alice:100000:65536\n2000:200000:65536\n";
        assert!(has_range(text, Some("alice"), 1000));
        assert!(has_range(text, None, 2000));
        assert!(!has_range(text, Some("bob"), 1001));
        assert!(!has_range("", Some("alice"), 1000));
    }
}
