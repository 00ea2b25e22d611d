//! barco's one error type: which step failed, on what, and the errno.
//!
//! An [`Error`] prints as one line, `barco: <step> <subject>: <reason>`, and
//! maps to a docker-style exit code in [`Error::exit_code`]. Errors raised
//! after `clone3` borrow their subject from the (leaked, `'static`) plan, so
//! building and printing them never allocates. A subject built while
//! planning is leaked too: barco ends on it, or makes few (`net::pick`
//! throws away at most 64 while it looks for a free subnet).

use crate::cold::{self, msg_id};
use crate::log;
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
        cold::text(FIRST_WORDS + self as usize - 1)
    }

    /// The number of [`Stage::describe`]'s words among the cold texts.
    const fn words(self) -> usize {
        match self {
            Stage::Usage => msg_id!(""),
            Stage::Channel => msg_id!("parent/child channel"),
            Stage::Signals => msg_id!("blocking signals for forwarding"),
            Stage::Cgroup => msg_id!("cgroup"),
            Stage::Clone => msg_id!("clone3 into new namespaces"),
            Stage::MakeUser => msg_id!("making the container's user namespace"),
            Stage::DeathSignal => msg_id!("setting the parent-death signal"),
            Stage::NotDumpable => msg_id!("making barco's setup process non-dumpable"),
            Stage::ParentGone => msg_id!("barco's supervisor exited during setup"),
            Stage::ProcessGroup => msg_id!("setpgid for the container"),
            Stage::Hostname => msg_id!("sethostname"),
            Stage::MakePrivate => msg_id!("making / private"),
            Stage::BindRootfs => msg_id!("bind-mounting rootfs"),
            Stage::EnterRootfs => msg_id!("entering rootfs"),
            Stage::MountProc => msg_id!("mounting /proc in"),
            Stage::MaskPath => msg_id!("masking"),
            Stage::ReadOnlyPath => msg_id!("making read-only"),
            Stage::RootfsSymlink => msg_id!("refusing a symlink in the rootfs:"),
            Stage::MountDev => msg_id!("mounting"),
            Stage::DevNode => msg_id!("binding device node"),
            Stage::DevLink => msg_id!("creating link"),
            Stage::EtcFile => msg_id!("binding barco's"),
            Stage::Network => msg_id!("setting up the network:"),
            Stage::MountSys => msg_id!("mounting /sys in"),
            Stage::JoinCgroup => msg_id!("joining the cgroup:"),
            Stage::UnshareCgroup => msg_id!("unshare of the cgroup namespace"),
            Stage::PivotRoot => msg_id!("pivot_root into"),
            Stage::Chroot => msg_id!("chroot into"),
            Stage::DetachOldRoot => msg_id!("detaching the old root"),
            Stage::UnshareUser => msg_id!("unshare of the user namespace"),
            Stage::JoinUser => msg_id!("joining its user namespace"),
            Stage::WaitMaps => msg_id!("waiting for the id maps"),
            Stage::WriteUidMap => msg_id!("writing uid_map"),
            Stage::WriteGidMap => msg_id!("writing gid_map"),
            Stage::SetGroups => msg_id!("setgroups"),
            Stage::CapBounding => msg_id!("dropping from the bounding set"),
            Stage::CapAmbient => msg_id!("clearing the ambient capabilities"),
            Stage::SetGid => msg_id!("setresgid to"),
            Stage::SetUid => msg_id!("setresuid to"),
            Stage::CapSet => msg_id!("capset"),
            Stage::Affinity => msg_id!("restoring the CPU affinity"),
            Stage::Workdir => msg_id!("chdir to workdir"),
            Stage::CloseFds => msg_id!("closing inherited descriptors"),
            Stage::ResetSignals => msg_id!("resetting signal dispositions"),
            Stage::NoNewPrivs => msg_id!("setting no_new_privs"),
            Stage::Seccomp => msg_id!("loading the seccomp filter"),
            Stage::ForkCommand => msg_id!("starting the command under --init"),
            Stage::Exec => msg_id!("exec"),
            Stage::Wait => msg_id!("waiting for the container"),
            Stage::HeapAudit => msg_id!("heap audit: allocations after clone3:"),
        }
    }
}

/// The number of the first stage's words among the cold texts: each
/// stage's follow in the order of the discriminants (`build.rs` gathers
/// them in the order of the `match`), which the build checks.
const FIRST_WORDS: usize = {
    let first = Stage::Usage.words();
    let mut i = 0;
    while i < Stage::ALL.len() {
        assert!(Stage::ALL[i] as usize == i + 1);
        // The first text with the same words is the stage's own.
        assert!(cold::id(cold::TEXTS[first + i]) == Stage::ALL[i].words(), "the stages' words are out of order");
        i += 1;
    }
    first
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
            None => write!(f, "errno {}", log::dec(n)),
        }
    }
}

/// Each errno's message, as a cold text's number. (A table searched
/// rather than a `match`, which became a jump table and a copy of the
/// return per arm: 0.2 KB more of `just tiny`.)
const MESSAGES: [(u8, usize); 47] = [
    (1, msg_id!("Operation not permitted")),
    (2, msg_id!("No such file or directory")),
    (3, msg_id!("No such process")),
    (4, msg_id!("Interrupted system call")),
    (5, msg_id!("Input/output error")),
    (6, msg_id!("No such device or address")),
    (7, msg_id!("Argument list too long")),
    (8, msg_id!("Exec format error")),
    (9, msg_id!("Bad file descriptor")),
    (10, msg_id!("No child processes")),
    (11, msg_id!("Resource temporarily unavailable")),
    (12, msg_id!("Cannot allocate memory")),
    (13, msg_id!("Permission denied")),
    (14, msg_id!("Bad address")),
    (15, msg_id!("Block device required")),
    (16, msg_id!("Device or resource busy")),
    (17, msg_id!("File exists")),
    (18, msg_id!("Invalid cross-device link")),
    (19, msg_id!("No such device")),
    (20, msg_id!("Not a directory")),
    (21, msg_id!("Is a directory")),
    (22, msg_id!("Invalid argument")),
    (23, msg_id!("Too many open files in system")),
    (24, msg_id!("Too many open files")),
    (25, msg_id!("Inappropriate ioctl for device")),
    (26, msg_id!("Text file busy")),
    (27, msg_id!("File too large")),
    (28, msg_id!("No space left on device")),
    (29, msg_id!("Illegal seek")),
    (30, msg_id!("Read-only file system")),
    (31, msg_id!("Too many links")),
    (32, msg_id!("Broken pipe")),
    (34, msg_id!("Numerical result out of range")),
    (36, msg_id!("File name too long")),
    (38, msg_id!("Function not implemented")),
    (39, msg_id!("Directory not empty")),
    (40, msg_id!("Too many levels of symbolic links")),
    (61, msg_id!("No data available")),
    (75, msg_id!("Value too large for defined data type")),
    (95, msg_id!("Operation not supported")),
    (98, msg_id!("Address already in use")),
    (99, msg_id!("Cannot assign requested address")),
    (104, msg_id!("Connection reset by peer")),
    (105, msg_id!("No buffer space available")),
    (110, msg_id!("Connection timed out")),
    (111, msg_id!("Connection refused")),
    (122, msg_id!("Disk quota exceeded")),
];

/// [`MESSAGES`]' numbers: their texts follow each other among the cold
/// texts, from [`FIRST_MESSAGE`].
const ERRNOS: [u8; MESSAGES.len()] = {
    let (mut errnos, mut i) = ([0; MESSAGES.len()], 0);
    while i < errnos.len() {
        errnos[i] = MESSAGES[i].0;
        assert!(cold::id(cold::TEXTS[MESSAGES[0].1 + i]) == MESSAGES[i].1, "the errno messages are out of order");
        i += 1;
    }
    errnos
};

const FIRST_MESSAGE: usize = MESSAGES[0].1;

fn message(n: i32) -> Option<&'static str> {
    let i = ERRNOS.iter().position(|errno| i32::from(*errno) == n)?;
    Some(cold::text(FIRST_MESSAGE + i))
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
            assert_eq!(s.describe(), cold::TEXTS[s.words()], "{s:?}");
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
            assert_eq!(message(i32::from(errno)), Some(cold::TEXTS[text]));
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
