//! barco's one error type: which step failed, on what, and the errno.
//!
//! An [`Error`] prints as one line, `barco: <step> <subject>: <reason>`, and
//! maps to a docker-style exit code in [`Error::exit_code`]. Errors raised
//! after `clone3` borrow their subject from the (leaked, `'static`) plan, so
//! building and printing them never allocates. A subject built while
//! planning is leaked too: barco ends on it, or makes few (`net::pick`
//! throws away at most 64 while it looks for a free subnet).

use crate::log;
use crate::packed;
use crate::sys::StaticStr;
use core::fmt;
use rustix::io::Errno;
use std::borrow::Cow;

/// Exit code for barco's own failures (docker's 125).
pub const EXIT_BARCO: i32 = 125;
/// Exit code when the command exists but cannot be executed (docker's 126).
pub const EXIT_CANNOT_EXEC: i32 = 126;
/// Exit code when the command is not found (docker's 127).
pub const EXIT_NOT_FOUND: i32 = 127;

/// A step of a container's life. The child reports failures by number, so
/// the discriminants are part of the parent↔child protocol. The child's
/// steps are declared in the order `child::setup` first reaches them
/// ([`Stage::after`] relies on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Stage {
    /// Bad command line or configuration; the subject is the whole message.
    Usage = 1,
    Channel,
    Signals,
    Cgroup,
    Clone,
    MakeUser,
    DeathSignal,
    NotDumpable,
    ParentGone,
    ProcessGroup,
    Hostname,
    MakePrivate,
    BindRootfs,
    EnterRootfs,
    MountProc,
    MaskPath,
    ReadOnlyPath,
    RootfsSymlink,
    MountDev,
    DevNode,
    DevLink,
    EtcFile,
    Network,
    MountSys,
    JoinCgroup,
    UnshareCgroup,
    PivotRoot,
    Chroot,
    DetachOldRoot,
    UnshareUser,
    JoinUser,
    WaitMaps,
    WriteUidMap,
    WriteGidMap,
    SetGroups,
    CapBounding,
    CapAmbient,
    SetGid,
    SetUid,
    CapSet,
    Affinity,
    Workdir,
    CloseFds,
    ResetSignals,
    NoNewPrivs,
    Seccomp,
    ForkCommand,
    Exec,
    Wait,
    HeapAudit,
}

impl Stage {
    /// All stages, in the order of their discriminants: for decoding a
    /// number received from the child, and for compile-time tables by stage.
    pub const ALL: [Stage; 50] = [
        Stage::Usage,
        Stage::Channel,
        Stage::Signals,
        Stage::Cgroup,
        Stage::Clone,
        Stage::MakeUser,
        Stage::DeathSignal,
        Stage::NotDumpable,
        Stage::ParentGone,
        Stage::ProcessGroup,
        Stage::Hostname,
        Stage::MakePrivate,
        Stage::BindRootfs,
        Stage::EnterRootfs,
        Stage::MountProc,
        Stage::MaskPath,
        Stage::ReadOnlyPath,
        Stage::RootfsSymlink,
        Stage::MountDev,
        Stage::DevNode,
        Stage::DevLink,
        Stage::EtcFile,
        Stage::Network,
        Stage::MountSys,
        Stage::JoinCgroup,
        Stage::UnshareCgroup,
        Stage::PivotRoot,
        Stage::Chroot,
        Stage::DetachOldRoot,
        Stage::UnshareUser,
        Stage::JoinUser,
        Stage::WaitMaps,
        Stage::WriteUidMap,
        Stage::WriteGidMap,
        Stage::SetGroups,
        Stage::CapBounding,
        Stage::CapAmbient,
        Stage::SetGid,
        Stage::SetUid,
        Stage::CapSet,
        Stage::Affinity,
        Stage::Workdir,
        Stage::CloseFds,
        Stage::ResetSignals,
        Stage::NoNewPrivs,
        Stage::Seccomp,
        Stage::ForkCommand,
        Stage::Exec,
        Stage::Wait,
        Stage::HeapAudit,
    ];

    /// Whether the child reaches this stage after `other`: the child's steps
    /// are declared in the order `child::setup` runs them.
    pub fn after(self, other: Stage) -> bool {
        self as u16 > other as u16
    }

    pub fn from_u16(n: u16) -> Option<Stage> {
        Stage::ALL.iter().copied().find(|s| *s as u16 == n)
    }

    /// The words that come before the subject in the error line.
    pub fn describe(self) -> &'static str {
        packed::nth(&WORDS, self as usize - 1).unwrap_or_default()
    }

    /// [`Stage::describe`]'s words, for the compile-time table [`WORDS`].
    const fn words(self) -> &'static str {
        match self {
            Stage::Usage => "",
            Stage::Channel => "parent/child channel",
            Stage::Signals => "blocking signals for forwarding",
            Stage::Cgroup => "cgroup",
            Stage::Clone => "clone3 into new namespaces",
            Stage::MakeUser => "making the container's user namespace",
            Stage::DeathSignal => "setting the parent-death signal",
            Stage::NotDumpable => "making barco's setup process non-dumpable",
            Stage::ParentGone => "barco's supervisor exited during setup",
            Stage::ProcessGroup => "setpgid for the container",
            Stage::Hostname => "sethostname",
            Stage::MakePrivate => "making / private",
            Stage::BindRootfs => "bind-mounting rootfs",
            Stage::EnterRootfs => "entering rootfs",
            Stage::MountProc => "mounting /proc in",
            Stage::MaskPath => "masking",
            Stage::ReadOnlyPath => "making read-only",
            Stage::RootfsSymlink => "refusing a symlink in the rootfs:",
            Stage::MountDev => "mounting",
            Stage::DevNode => "binding device node",
            Stage::DevLink => "creating link",
            Stage::EtcFile => "binding barco's",
            Stage::Network => "setting up the network:",
            Stage::MountSys => "mounting /sys in",
            Stage::JoinCgroup => "joining the cgroup:",
            Stage::UnshareCgroup => "unshare of the cgroup namespace",
            Stage::PivotRoot => "pivot_root into",
            Stage::Chroot => "chroot into",
            Stage::DetachOldRoot => "detaching the old root",
            Stage::UnshareUser => "unshare of the user namespace",
            Stage::JoinUser => "joining its user namespace",
            Stage::WaitMaps => "waiting for the id maps",
            Stage::WriteUidMap => "writing uid_map",
            Stage::WriteGidMap => "writing gid_map",
            Stage::SetGroups => "setgroups",
            Stage::CapBounding => "dropping from the bounding set",
            Stage::CapAmbient => "clearing the ambient capabilities",
            Stage::CapSet => "capset",
            Stage::SetGid => "setresgid to",
            Stage::SetUid => "setresuid to",
            Stage::Affinity => "restoring the CPU affinity",
            Stage::Workdir => "chdir to workdir",
            Stage::CloseFds => "closing inherited descriptors",
            Stage::ResetSignals => "resetting signal dispositions",
            Stage::NoNewPrivs => "setting no_new_privs",
            Stage::Seccomp => "loading the seccomp filter",
            Stage::ForkCommand => "starting the command under --init",
            Stage::Exec => "exec",
            Stage::Wait => "waiting for the container",
            Stage::HeapAudit => "heap audit: allocations after clone3:",
        }
    }
}

/// Each stage's words, packed (see `packed`) in the order of the
/// discriminants, from 1.
const WORDS: [u8; packed::len(&STAGE_WORDS)] = packed::pack(&STAGE_WORDS);

const STAGE_WORDS: [&str; Stage::ALL.len()] = {
    let (mut words, mut i) = ([""; Stage::ALL.len()], 0);
    while i < words.len() {
        assert!(Stage::ALL[i] as usize == i + 1);
        words[i] = Stage::ALL[i].words();
        i += 1;
    }
    words
};

/// A failed step: the stage, what it was acting on, and the errno if any.
/// Sixteen bytes and `Copy` (see [`StaticStr`]): a subject built while
/// planning is leaked (see the module's comment).
#[derive(Clone, Copy)]
pub struct Error {
    subject: StaticStr,
    errno: u16,
    pub stage: Stage,
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn leak(s: impl Into<Cow<'static, str>>) -> StaticStr {
    match s.into() {
        Cow::Borrowed(s) => StaticStr::new(s),
        Cow::Owned(s) => leak_owned(s),
    }
}

/// Not inlined: the places that format a subject would each carry a copy
/// of the length check in `StaticStr::new`.
#[inline(never)]
fn leak_owned(s: String) -> StaticStr {
    StaticStr::new(s.leak())
}

impl Error {
    /// A command-line or configuration error; `message` is the whole text.
    pub fn usage(message: impl Into<Cow<'static, str>>) -> Error {
        Error { stage: Stage::Usage, subject: leak(message), errno: 0 }
    }

    pub fn os(stage: Stage, subject: impl Into<Cow<'static, str>>, errno: Errno) -> Error {
        Error { stage, subject: leak(subject), errno: errno.raw_os_error() as u16 }
    }

    /// A failed step without an errno.
    pub fn step(stage: Stage, subject: &'static str) -> Error {
        Error { stage, subject: StaticStr::new(subject), errno: 0 }
    }

    pub fn subject(&self) -> &'static str {
        self.subject.get()
    }

    pub fn errno(&self) -> Option<Errno> {
        (self.errno != 0).then(|| Errno::from_raw_os_error(i32::from(self.errno)))
    }

    /// The process exit code, following docker: 127 when the command was not
    /// found, 126 when it could not be executed, 125 for everything else.
    pub fn exit_code(&self) -> i32 {
        match (self.stage, self.errno()) {
            (Stage::Exec, Some(Errno::NOENT | Errno::NOTDIR)) => EXIT_NOT_FOUND,
            (Stage::Exec, _) => EXIT_CANNOT_EXEC,
            _ => EXIT_BARCO,
        }
    }

    /// Prints the one-line message to stderr, without allocating.
    pub fn report(&self) {
        log::line(format_args!("barco: {self}"));
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.stage.describe();
        let subject = self.subject();
        match (what.is_empty(), subject.is_empty()) {
            (false, false) => write!(f, "{what} {subject}")?,
            (false, true) => f.write_str(what)?,
            (true, _) => f.write_str(subject)?,
        }
        if let Some(e) = self.errno() {
            write!(f, ": {}", strerror(e))?;
        }
        Ok(())
    }
}

/// The C library's message for an errno, from a static table (std's own
/// `Display` for OS errors allocates).
pub fn strerror(e: Errno) -> StrError {
    StrError(e)
}

pub struct StrError(Errno);

impl fmt::Display for StrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.raw_os_error();
        match message(n) {
            Some(m) => f.write_str(m),
            None => write!(f, "errno {n}"),
        }
    }
}

/// Each errno's message. Only [`PACKED`], made from it at compile time, is
/// in the binary. (A table searched rather than a `match`, which became a
/// jump table and a copy of the return per arm: 0.2 KB more of `just tiny`.)
const MESSAGES: [(u8, &str); 47] = [
    (1, "Operation not permitted"),
    (2, "No such file or directory"),
    (3, "No such process"),
    (4, "Interrupted system call"),
    (5, "Input/output error"),
    (6, "No such device or address"),
    (7, "Argument list too long"),
    (8, "Exec format error"),
    (9, "Bad file descriptor"),
    (10, "No child processes"),
    (11, "Resource temporarily unavailable"),
    (12, "Cannot allocate memory"),
    (13, "Permission denied"),
    (14, "Bad address"),
    (15, "Block device required"),
    (16, "Device or resource busy"),
    (17, "File exists"),
    (18, "Invalid cross-device link"),
    (19, "No such device"),
    (20, "Not a directory"),
    (21, "Is a directory"),
    (22, "Invalid argument"),
    (23, "Too many open files in system"),
    (24, "Too many open files"),
    (25, "Inappropriate ioctl for device"),
    (26, "Text file busy"),
    (27, "File too large"),
    (28, "No space left on device"),
    (29, "Illegal seek"),
    (30, "Read-only file system"),
    (31, "Too many links"),
    (32, "Broken pipe"),
    (34, "Numerical result out of range"),
    (36, "File name too long"),
    (38, "Function not implemented"),
    (39, "Directory not empty"),
    (40, "Too many levels of symbolic links"),
    (61, "No data available"),
    (75, "Value too large for defined data type"),
    (95, "Operation not supported"),
    (98, "Address already in use"),
    (99, "Cannot assign requested address"),
    (104, "Connection reset by peer"),
    (105, "No buffer space available"),
    (110, "Connection timed out"),
    (111, "Connection refused"),
    (122, "Disk quota exceeded"),
];

/// [`MESSAGES`]' numbers, and their texts packed (see `packed`): 47 bytes
/// and 46 separators instead of 47 entries of 24 bytes (number, pointer,
/// length), 1.0 KB less of `just tiny`.
const ERRNOS: [u8; MESSAGES.len()] = {
    let (mut errnos, mut i) = ([0; MESSAGES.len()], 0);
    while i < errnos.len() {
        errnos[i] = MESSAGES[i].0;
        i += 1;
    }
    errnos
};

const TEXTS: [u8; packed::len(&MESSAGE_TEXTS)] = packed::pack(&MESSAGE_TEXTS);

const MESSAGE_TEXTS: [&str; MESSAGES.len()] = {
    let (mut texts, mut i) = ([""; MESSAGES.len()], 0);
    while i < texts.len() {
        texts[i] = MESSAGES[i].1;
        i += 1;
    }
    texts
};

fn message(n: i32) -> Option<&'static str> {
    let i = ERRNOS.iter().position(|errno| i32::from(*errno) == n)?;
    packed::nth(&TEXTS, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_step_comes_after_the_mounts_and_before_sys_and_pivot_root() {
        for before in [Stage::Hostname, Stage::MakePrivate, Stage::MountProc, Stage::MountDev, Stage::EtcFile] {
            assert!(!before.after(Stage::Network), "{before:?}");
        }
        for after in [Stage::MountSys, Stage::JoinCgroup, Stage::PivotRoot, Stage::JoinUser, Stage::Exec] {
            assert!(after.after(Stage::Network), "{after:?}");
        }
    }

    #[test]
    fn stage_numbers_round_trip() {
        for s in Stage::ALL {
            assert_eq!(Stage::from_u16(s as u16), Some(s));
        }
        for s in Stage::ALL {
            assert_eq!(s.describe(), s.words(), "{s:?}");
        }
        assert_eq!(Stage::from_u16(0), None);
        assert_eq!(Stage::from_u16(Stage::ALL.len() as u16 + 1), None);
    }

    #[test]
    fn one_line_with_step_subject_and_errno() {
        let e = Error::os(Stage::PivotRoot, "/srv/rootfs", Errno::INVAL);
        assert_eq!(e.to_string(), "pivot_root into /srv/rootfs: Invalid argument");
        assert_eq!(e.exit_code(), 125);
        assert_eq!(Error::usage("bad").to_string(), "bad");
        assert_eq!(Error::usage(format!("bad {}", 7)).to_string(), "bad 7");
        assert_eq!(strerror(Errno::from_raw_os_error(4000)).to_string(), "errno 4000");
        assert_eq!(strerror(Errno::from_raw_os_error(0x80 | 2)).to_string(), "errno 130");
    }

    #[test]
    fn every_message_unpacks() {
        for (errno, text) in MESSAGES {
            assert_eq!(message(i32::from(errno)), Some(text));
        }
        assert_eq!(message(33), None);
        assert_eq!(message(-2), None);
    }

    #[test]
    fn an_error_fits_in_two_registers() {
        // x86_64's C ABI returns 16 bytes in rax:rdx; bigger goes through
        // memory, at every `?` (about 0.7 KB of `just tiny`).
        assert_eq!(core::mem::size_of::<Error>(), 16);
        assert_eq!(core::mem::size_of::<Result<(), Error>>(), 16);
    }

    #[test]
    fn exec_errors_map_to_docker_codes() {
        let code = |e| Error::os(Stage::Exec, "x", e).exit_code();
        assert_eq!(code(Errno::NOENT), 127);
        assert_eq!(code(Errno::NOTDIR), 127);
        assert_eq!(code(Errno::ACCESS), 126);
        assert_eq!(code(Errno::NOEXEC), 126);
    }
}
