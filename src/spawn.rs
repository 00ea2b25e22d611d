//! `clone3` and the parent↔child channel.
//!
//! The channel is a close-on-exec `SOCK_SEQPACKET` socketpair carrying
//! fixed-size messages, so neither side needs a buffer larger than one
//! message and message boundaries come free. Its protocol, in order:
//!
//! 1. child → parent: [`ToParent::MapsPlease`] once it has unshared its user
//!    namespace; parent → child: [`MapsWritten`](ChildEnd::wait_maps) after
//!    writing `uid_map` and `gid_map`.
//! 2. parent → child, with v1 cgroups only, before or after step 1:
//!    [`CgroupReady`](ChildEnd::wait_cgroup) once the supervisor has made
//!    the cgroups; the child waits for it before `pivot_root` and joins.
//! 3. child → parent: [`ToParent::Failed`] if a step fails, then it exits.
//! 4. On a successful `execve` the child's end closes (it is CLOEXEC), and the
//!    parent reads end-of-file: setup is over.
//!
//! The two halves are separate types whose methods name protocol steps,
//! after youki's `process/channel.rs`.

use crate::child;
use crate::error::{Error, Stage};
use crate::plan::Plan;
use crate::sys;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{recv, send, socketpair, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// A failed child step, as it travels to the parent: the stage, an index
/// into the table the step walks (which device node, say), and the errno
/// (0 when the failure is not a syscall's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub stage: Stage,
    pub index: u16,
    pub errno: i32,
}

impl Failure {
    pub fn new(stage: Stage, index: u16, errno: Errno) -> Failure {
        Failure { stage, index, errno: errno.raw_os_error() }
    }

    /// The parent's one-line error for this failure.
    pub fn into_error(self, plan: &'static Plan) -> Error {
        // Creating the veth pair (request 2): the likely failures get a
        // whole line of their own, made while planning.
        // Rootless, a non-recursive bind of a directory with mounts beneath
        // it is refused: they are locked, and the bind would uncover them.
        if self.stage == Stage::BindRootfs && plan.rootless && self.errno == Errno::INVAL.raw_os_error() {
            return Error::usage(plan.rootless_bind_refused.as_str());
        }
        if let (Stage::Network, 1, Some(veth)) = (self.stage, self.index, &plan.network.veth) {
            let line = match Errno::from_raw_os_error(self.errno) {
                Errno::EXIST => Some(&veth.taken),
                Errno::OPNOTSUPP => Some(&veth.no_driver),
                _ => None,
            };
            if let Some(line) = line {
                return Error::usage(line.as_str());
            }
        }
        let subject = plan.subject(self.stage, self.index);
        match self.errno {
            0 => Error::step(self.stage, subject),
            n => Error::os(self.stage, subject, Errno::from_raw_os_error(n)),
        }
    }
}

/// Attaches a stage to a syscall's error, for `?` in the child.
pub trait At<T> {
    fn at(self, stage: Stage) -> Result<T, Failure>;
    fn at_index(self, stage: Stage, index: usize) -> Result<T, Failure>;
}

impl<T> At<T> for Result<T, Errno> {
    fn at(self, stage: Stage) -> Result<T, Failure> {
        self.at_index(stage, 0)
    }
    fn at_index(self, stage: Stage, index: usize) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(stage, index as u16, e))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToParent {
    MapsPlease,
    Failed(Failure),
}

const MSG_LEN: usize = 12;
const TAG_MAPS_PLEASE: u8 = 1;
const TAG_FAILED: u8 = 2;
const TAG_MAPS_WRITTEN: u8 = 3;
const TAG_CGROUP_READY: u8 = 4;

impl ToParent {
    fn encode(self) -> [u8; MSG_LEN] {
        let mut m = [0u8; MSG_LEN];
        match self {
            ToParent::MapsPlease => m[0] = TAG_MAPS_PLEASE,
            ToParent::Failed(f) => {
                m[0] = TAG_FAILED;
                m[2..4].copy_from_slice(&(f.stage as u16).to_le_bytes());
                m[4..6].copy_from_slice(&f.index.to_le_bytes());
                m[8..12].copy_from_slice(&f.errno.to_le_bytes());
            }
        }
        m
    }

    fn decode(m: &[u8; MSG_LEN]) -> Option<ToParent> {
        match m[0] {
            TAG_MAPS_PLEASE => Some(ToParent::MapsPlease),
            TAG_FAILED => Some(ToParent::Failed(Failure {
                stage: Stage::from_u16(u16::from_le_bytes([m[2], m[3]]))?,
                index: u16::from_le_bytes([m[4], m[5]]),
                errno: i32::from_le_bytes([m[8], m[9], m[10], m[11]]),
            })),
            _ => None,
        }
    }
}

/// Both ends, before the clone.
pub struct Channel {
    parent: OwnedFd,
    child: OwnedFd,
}

impl Channel {
    /// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`.
    pub fn new() -> Result<Channel, Error> {
        let (parent, child) = socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)
            .map_err(|e| Error::os(Stage::Channel, "socketpair", e))?;
        Ok(Channel { parent, child })
    }
}

/// The parent's half.
pub struct ParentEnd(OwnedFd);

/// The child's half.
pub struct ChildEnd(OwnedFd);

impl ParentEnd {
    pub fn fd(&self) -> &OwnedFd {
        &self.0
    }

    /// The next message, or `None` once the child's end has closed: it
    /// exec'd or exited.
    pub fn next(&self) -> Result<Option<ToParent>, Errno> {
        let mut m = [0u8; MSG_LEN];
        loop {
            match recv(&self.0, &mut m, RecvFlags::empty()) {
                Ok((0, _)) => return Ok(None),
                Ok((MSG_LEN, _)) => return ToParent::decode(&m).map(Some).ok_or(Errno::PROTO),
                Ok(_) => return Err(Errno::PROTO),
                // The child closed its end with a message of ours unread
                // (a failed child never reads CgroupReady): the kernel
                // reports that once, ahead of what the child sent before.
                Err(Errno::INTR | Errno::CONNRESET) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn maps_written(&self) -> Result<(), Errno> {
        self.tell(TAG_MAPS_WRITTEN)
    }

    pub fn cgroup_ready(&self) -> Result<(), Errno> {
        self.tell(TAG_CGROUP_READY)
    }

    /// A message of the parent's: only its tag.
    fn tell(&self, tag: u8) -> Result<(), Errno> {
        let mut m = [0u8; MSG_LEN];
        m[0] = tag;
        send_msg(&self.0, &m)
    }
}

impl ChildEnd {
    pub fn request_maps(&self) -> Result<(), Errno> {
        send_msg(&self.0, &ToParent::MapsPlease.encode())
    }

    pub fn wait_maps(&self) -> Result<(), Errno> {
        self.wait_for(TAG_MAPS_WRITTEN)
    }

    pub fn wait_cgroup(&self) -> Result<(), Errno> {
        self.wait_for(TAG_CGROUP_READY)
    }

    /// The parent's next message, which must be `tag`.
    fn wait_for(&self, tag: u8) -> Result<(), Errno> {
        let mut m = [0u8; MSG_LEN];
        loop {
            match recv(&self.0, &mut m, RecvFlags::empty()) {
                Ok((MSG_LEN, _)) if m[0] == tag => return Ok(()),
                Ok((0, _)) => return Err(Errno::PIPE),
                Ok(_) => return Err(Errno::PROTO),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn report(&self, failure: Failure) {
        // If the parent is gone there is nobody to tell.
        let _ = send_msg(&self.0, &ToParent::Failed(failure).encode());
    }

    /// Whether the parent still holds its end. Used after arming the
    /// parent-death signal, which does nothing if the parent died first.
    pub fn parent_alive(&self) -> bool {
        let mut fds = [PollFd::new(&self.0, PollFlags::RDHUP)];
        let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
        match poll(&mut fds, Some(&zero)) {
            Ok(0) => true,
            Ok(_) => !fds[0].revents().intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR),
            Err(_) => false,
        }
    }

    pub fn raw(&self) -> u32 {
        use rustix::fd::AsRawFd;
        self.0.as_raw_fd() as u32
    }
}

fn send_msg(fd: &OwnedFd, m: &[u8; MSG_LEN]) -> Result<(), Errno> {
    loop {
        match send(fd, m, SendFlags::NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The container's first process, seen from the parent.
pub struct Container {
    pub pid: u32,
    pub pidfd: OwnedFd,
}

/// Clones the container's first process. On cgroup v2 it is inside its
/// cgroup from the first instruction: with `CLONE_INTO_CGROUP`, or else (a
/// kernel older than 5.7) by moving barco into the cgroup for the clone
/// and back out after it. On v1 the child joins later, itself (see
/// [`crate::cgroup`]). In the child this never returns: it runs
/// [`child::run`], which ends in `execve` or `exit_group`.
pub fn spawn(plan: &'static Plan, chan: Channel) -> Result<(Container, ParentEnd), Error> {
    let Channel { parent, child } = chan;
    let flags = plan.clone_flags;
    let exit = linux_raw_sys::general::SIGCHLD;
    let forked = match &plan.cgroup {
        None => sys::clone3(flags, exit, None),
        Some(cg) if cg.joined_by_child() => sys::clone3(flags, exit, None),
        Some(cg) => match cg.leaf_fd() {
            // Older kernels refuse the unknown flag with EINVAL.
            Some(fd) => match sys::clone3(flags, exit, Some(fd.as_fd())) {
                Err(Errno::INVAL | Errno::TOOBIG) => clone_from_inside(cg, flags, exit)?,
                other => other,
            },
            None => clone_from_inside(cg, flags, exit)?,
        },
    };
    match forked {
        // Rootless, a refusal most likely comes from a host setting: name it.
        Err(e @ (Errno::PERM | Errno::NOSPC | Errno::USERS | Errno::ACCESS | Errno::NOSYS)) if plan.rootless => {
            Err(Error::os(Stage::Clone, plan.userns_refused.as_str(), e))
        }
        Err(e) => Err(Error::os(Stage::Clone, "", e)),
        Ok(sys::Forked::Child) => {
            // Close the parent's end at once, so that the parent's death is
            // visible to us as a hang-up on ours.
            drop(parent);
            child::run(plan, ChildEnd(child))
        }
        Ok(sys::Forked::Parent { pid, pidfd }) => {
            drop(child);
            Ok((Container { pid, pidfd }, ParentEnd(parent)))
        }
    }
}

/// barco joins the container's v2 cgroup, clones, and leaves it again: the
/// child inherits it at birth. Both steps are plain writes of barco's pid.
fn clone_from_inside(
    cg: &'static crate::cgroup::Cgroup,
    flags: u64,
    exit: u32,
) -> Result<Result<sys::Forked, Errno>, Error> {
    cg.join()?;
    let forked = sys::clone3(flags, exit, None);
    if !matches!(forked, Ok(sys::Forked::Child)) {
        cg.leave();
    }
    Ok(forked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let f = Failure { stage: Stage::PivotRoot, index: 3, errno: 22 };
        for m in [ToParent::MapsPlease, ToParent::Failed(f)] {
            assert_eq!(ToParent::decode(&m.encode()), Some(m));
        }
        let mut junk = ToParent::Failed(f).encode();
        junk[2] = 0xff;
        assert_eq!(ToParent::decode(&junk), None);
        assert_eq!(ToParent::decode(&[9; MSG_LEN]), None);
    }

    #[test]
    fn a_failure_survives_a_message_the_child_never_read() {
        let Channel { parent, child } = Channel::new().unwrap();
        let (p, c) = (ParentEnd(parent), ChildEnd(child));
        p.cgroup_ready().unwrap();
        let f = Failure::new(Stage::Network, 1, Errno::EXIST);
        c.report(f);
        drop(c);
        assert_eq!(p.next(), Ok(Some(ToParent::Failed(f))));
        assert_eq!(p.next(), Ok(None));
    }

    #[test]
    fn channel_carries_the_protocol() {
        let Channel { parent, child } = Channel::new().unwrap();
        let (p, c) = (ParentEnd(parent), ChildEnd(child));
        p.cgroup_ready().unwrap();
        c.request_maps().unwrap();
        assert_eq!(p.next().unwrap(), Some(ToParent::MapsPlease));
        p.maps_written().unwrap();
        c.wait_cgroup().unwrap();
        c.wait_maps().unwrap();
        p.maps_written().unwrap();
        assert_eq!(c.wait_cgroup(), Err(Errno::PROTO), "out of order");
        assert!(c.parent_alive());
        let f = Failure::new(Stage::Exec, 0, Errno::NOENT);
        c.report(f);
        assert_eq!(p.next().unwrap(), Some(ToParent::Failed(f)));
        drop(p);
        assert!(!c.parent_alive());
        assert_eq!(c.wait_maps(), Err(Errno::PIPE));
    }
}
