//! `clone3`, the network builder, and the parent↔child channel.
//!
//! The channel is a close-on-exec `SOCK_SEQPACKET` socketpair carrying
//! fixed-size messages, so neither side needs a buffer larger than one
//! message and message boundaries come free. Its protocol, in order:
//!
//! 1. network builder → child, as root (see [`Builder`]):
//!    [`NetReady`](ChildEnd::wait_net), with the configured network
//!    namespace as SCM_RIGHTS, or `NetFailed`, with the step it failed at,
//!    which the child reports as its own. The builder writes on its copy of
//!    the parent's end, so this may come before or after step 3. If the
//!    builder ends without telling the child, the supervisor sends the
//!    `NetFailed` for it (a child that already has the namespace skips it).
//! 2. Rootless, first of all: child → parent: [`ToParent::MapsPlease`]
//!    (`clone3` made its user namespace); parent → child:
//!    [`MapsWritten`](ChildEnd::wait_maps) after writing `uid_map` and
//!    `gid_map`.
//! 3. parent → child, with v1 cgroups only, before or after step 1:
//!    [`CgroupReady`](ChildEnd::wait_cgroup) once the supervisor has made
//!    the cgroups; the child waits for it before `pivot_root` and joins.
//! 4. As root (but over an initramfs, where the child unshares its user
//!    namespace and step 2 applies): parent → child, after step 3, before
//!    or after step 1: [`UserNs`](ChildEnd::wait_user_ns), the user
//!    namespace the supervisor made for the child, its maps written, as
//!    SCM_RIGHTS, once the supervisor has handed the container the
//!    terminal; the child joins it after `pivot_root`. With `--net veth`
//!    the supervisor first waits for child → parent
//!    [`ToParent::NetworkUp`] (the child is past its network step, so the
//!    pair exists) and sets up the host's end.
//! 5. child → parent: [`ToParent::Failed`] if a step fails, then it exits.
//! 6. On a successful `execve` the child's end closes (it is CLOEXEC), and the
//!    parent reads end-of-file: setup is over.
//!
//! The two halves are separate types whose methods name protocol steps,
//! after youki's `process/channel.rs`.

use crate::child;
use crate::error::{Error, Stage};
use crate::log;
use crate::net::{self, Past};
use crate::plan::{Plan, Step};
use crate::sys::{self, Forked};
use core::cell::Cell;
use linux_raw_sys::general as k;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{recv, send, socketpair, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use rustix::process::{getpid, getppid, set_parent_process_death_signal, waitid, Pid, Signal, WaitId, WaitIdOptions};
use rustix::thread::{sched_setaffinity, CpuSet};

/// A failed child step, as it travels to the parent: the stage, an index
/// into the table the step walks (which device node, say), and the errno
/// (0 when the failure is not a syscall's). The errno in a `u16`, as
/// [`Error`] keeps it (Linux's are below 4096): three `u16`s make every
/// failing `?` of the child's steps shorter than with an `i32` (0.35 KB of
/// `just tiny`). The channel still carries it in four bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub stage: Stage,
    pub index: u16,
    pub errno: u16,
}

impl Failure {
    pub fn new(stage: Stage, index: u16, errno: Errno) -> Failure {
        Failure { stage, index, errno: errno.raw_os_error() as u16 }
    }

    /// The parent's one-line error for this failure.
    /// Not inlined into `supervise`, which calls it once: see there.
    #[inline(never)]
    pub fn into_error(self, plan: &'static Plan) -> Error {
        // Creating the veth pair (request 2): the likely failures get a
        // whole line of their own, made while planning.
        // Rootless, a non-recursive bind of a directory with mounts beneath
        // it is refused: they are locked, and the bind would uncover them.
        if self.stage == Stage::BindRootfs && plan.rootless && i32::from(self.errno) == Errno::INVAL.raw_os_error() {
            return Error::usage(plan.rootless_bind_refused);
        }
        if let (Stage::Network, 1, Some(veth)) = (self.stage, self.index, &plan.network.veth) {
            let line = match Errno::from_raw_os_error(i32::from(self.errno)) {
                Errno::EXIST => Some(veth.taken),
                Errno::OPNOTSUPP => Some(veth.no_driver),
                _ => None,
            };
            if let Some(line) = line {
                return Error::usage(line);
            }
        }
        let subject = plan.subject(self.stage, self.index);
        match self.errno {
            0 => Error::step(self.stage, subject),
            n => Error::os(self.stage, subject, Errno::from_raw_os_error(i32::from(n))),
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
    NetworkUp,
    Failed(Failure),
}

const MSG_LEN: usize = 12;
const TAG_MAPS_PLEASE: u8 = 1;
const TAG_FAILED: u8 = 2;
const TAG_MAPS_WRITTEN: u8 = 3;
const TAG_CGROUP_READY: u8 = 4;
const TAG_NET_READY: u8 = 5;
const TAG_NET_FAILED: u8 = 6;
const TAG_NETWORK_UP: u8 = 7;
const TAG_USER_NS: u8 = 8;

impl ToParent {
    fn encode(self) -> [u8; MSG_LEN] {
        match self {
            ToParent::MapsPlease => [TAG_MAPS_PLEASE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ToParent::NetworkUp => [TAG_NETWORK_UP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ToParent::Failed(f) => f.encode(TAG_FAILED),
        }
    }

    fn decode(m: &[u8; MSG_LEN]) -> Option<ToParent> {
        match m[0] {
            TAG_MAPS_PLEASE => Some(ToParent::MapsPlease),
            TAG_NETWORK_UP => Some(ToParent::NetworkUp),
            TAG_FAILED => Failure::decode(m).map(ToParent::Failed),
            _ => None,
        }
    }
}

impl Failure {
    fn encode(self, tag: u8) -> [u8; MSG_LEN] {
        let mut m = [0u8; MSG_LEN];
        m[0] = tag;
        m[2..4].copy_from_slice(&(self.stage as u16).to_le_bytes());
        m[4..6].copy_from_slice(&self.index.to_le_bytes());
        m[8..12].copy_from_slice(&i32::from(self.errno).to_le_bytes());
        m
    }

    fn decode(m: &[u8; MSG_LEN]) -> Option<Failure> {
        Some(Failure {
            stage: Stage::from_u16(u16::from_le_bytes([m[2], m[3]]))?,
            index: u16::from_le_bytes([m[4], m[5]]),
            errno: i32::from_le_bytes([m[8], m[9], m[10], m[11]]) as u16,
        })
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

/// The child's half, and what the supervisor sent while the child waited
/// for the network builder (two senders): a
/// [`CgroupReady`](ChildEnd::wait_cgroup) and the
/// [user namespace](ChildEnd::wait_user_ns), kept for their turn.
pub struct ChildEnd {
    fd: OwnedFd,
    cgroup_ready: Cell<bool>,
    user_ns: Cell<Option<OwnedFd>>,
}

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

    /// The user namespace made for the child, as SCM_RIGHTS. EPIPE, or
    /// ECONNRESET, means the child has failed and is gone: the poll loop
    /// reads its report.
    pub fn user_ns(&self, ns: BorrowedFd<'_>) -> Result<(), Errno> {
        self.send_fd(TAG_USER_NS, ns)
    }

    /// The network builder, on its copy of this end: the namespace it made
    /// and configured, to the child, as SCM_RIGHTS (unix(7)).
    fn net_ready(&self, ns: BorrowedFd<'_>) -> Result<(), Errno> {
        self.send_fd(TAG_NET_READY, ns)
    }

    fn send_fd(&self, tag: u8, ns: BorrowedFd<'_>) -> Result<(), Errno> {
        let mut m = [0u8; MSG_LEN];
        m[0] = tag;
        loop {
            match sys::send_with_fd(self.0.as_fd(), &m, ns) {
                Ok(_) => return Ok(()),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The network builder's failure, to the child, which reports it (sent
    /// by the builder, or for it by the supervisor: see [`Builder`]).
    fn net_failed(&self, f: Failure) -> Result<(), Errno> {
        send_msg(&self.0, &f.encode(TAG_NET_FAILED))
    }
}

impl ChildEnd {
    fn new(fd: OwnedFd) -> ChildEnd {
        ChildEnd { fd, cgroup_ready: Cell::new(false), user_ns: Cell::new(None) }
    }

    pub fn request_maps(&self) -> Result<(), Errno> {
        send_msg(&self.fd, &ToParent::MapsPlease.encode())
    }

    pub fn network_up(&self) -> Result<(), Errno> {
        send_msg(&self.fd, &ToParent::NetworkUp.encode())
    }

    pub fn wait_maps(&self) -> Result<(), Errno> {
        self.wait_for(TAG_MAPS_WRITTEN).map(drop)
    }

    pub fn wait_cgroup(&self) -> Result<(), Errno> {
        if self.cgroup_ready.replace(false) {
            return Ok(());
        }
        self.wait_for(TAG_CGROUP_READY).map(drop)
    }

    /// Waits for the user namespace the supervisor made (which may have
    /// come while the child waited for the builder). A `NetFailed` the
    /// supervisor sent for a builder killed after it had sent the network
    /// namespace is skipped, as in `wait_for`.
    pub fn wait_user_ns(&self) -> Result<OwnedFd, Errno> {
        if let Some(ns) = self.user_ns.take() {
            return Ok(ns);
        }
        self.wait_for(TAG_USER_NS)?.ok_or(Errno::PROTO)
    }

    /// Waits for the network builder: the namespace it made (`Ok(Ok)`), or
    /// the failure it stopped at (`Ok(Err)`), the child's to report. The
    /// supervisor's `CgroupReady` and user namespace may come first (two
    /// senders): they are kept for [`wait_cgroup`](ChildEnd::wait_cgroup)
    /// and [`wait_user_ns`](ChildEnd::wait_user_ns). Not inlined into the
    /// child's `setup`: 0.2 KB of `just tiny`.
    #[inline(never)]
    pub fn wait_net(&self) -> Result<Result<OwnedFd, Failure>, Errno> {
        loop {
            let mut m = [0u8; MSG_LEN];
            let ns = self.recv_fd(&mut m)?;
            match m[0] {
                TAG_CGROUP_READY => self.cgroup_ready.set(true),
                TAG_USER_NS => self.user_ns.set(Some(ns.ok_or(Errno::PROTO)?)),
                TAG_NET_READY => return ns.map(Ok).ok_or(Errno::PROTO),
                TAG_NET_FAILED => return Failure::decode(&m).map(Err).ok_or(Errno::PROTO),
                _ => return Err(Errno::PROTO),
            }
        }
    }

    /// The next message, whole, and the descriptor it carried, if any.
    fn recv_fd(&self, m: &mut [u8; MSG_LEN]) -> Result<Option<OwnedFd>, Errno> {
        loop {
            match sys::recv_with_fd(self.fd.as_fd(), m) {
                Ok((MSG_LEN, fd)) => return Ok(fd),
                Ok((0, _)) => return Err(Errno::PIPE),
                Ok(_) => return Err(Errno::PROTO),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The parent's next message, which must be `tag`, and the descriptor
    /// it carried, if any (the user namespace; for the others, closed by
    /// the caller). A `NetFailed` the supervisor sent for a builder that
    /// was killed after it had sent the namespace comes after that, and is
    /// skipped. Read by `recv_fd`, not a `recv` of its own: 0.1 KB of `just
    /// tiny`; and one loop for the user namespace's wait too.
    fn wait_for(&self, tag: u8) -> Result<Option<OwnedFd>, Errno> {
        loop {
            let mut m = [0u8; MSG_LEN];
            let fd = self.recv_fd(&mut m)?;
            match m[0] {
                t if t == tag => return Ok(fd),
                TAG_NET_FAILED => continue,
                _ => return Err(Errno::PROTO),
            }
        }
    }

    pub fn report(&self, failure: Failure) {
        // If the parent is gone there is nobody to tell.
        let _ = send_msg(&self.fd, &ToParent::Failed(failure).encode());
    }

    /// Whether the parent still holds its end. Used after arming the
    /// parent-death signal, which does nothing if the parent died first.
    pub fn parent_alive(&self) -> bool {
        let mut fds = [PollFd::new(&self.fd, PollFlags::RDHUP)];
        let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
        match poll(&mut fds, Some(&zero)) {
            Ok(0) => true,
            Ok(_) => !fds[0].revents().intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR),
            Err(_) => false,
        }
    }

    pub fn raw(&self) -> u32 {
        use rustix::fd::AsRawFd;
        self.fd.as_raw_fd() as u32
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
pub fn spawn(plan: &'static Plan, chan: Channel, spread: &Spread) -> Result<(Container, ParentEnd), Error> {
    let Channel { parent, child } = chan;
    let mut flags = plan.clone_flags;
    if plan.network_builder && !spread.builder {
        flags |= u64::from(k::CLONE_NEWNET);
    }
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
        // (One Error made, with its subject chosen: 32 bytes of `just tiny`
        // less than an arm for each.)
        Err(e) => {
            let refused = matches!(e, Errno::PERM | Errno::NOSPC | Errno::USERS | Errno::ACCESS | Errno::NOSYS);
            let subject = if refused && plan.rootless { plan.userns_refused } else { "" };
            Err(Error::os(Stage::Clone, subject, e))
        }
        Ok(sys::Forked::Child) => {
            // Close the parent's end at once, so that the parent's death is
            // visible to us as a hang-up on ours.
            drop(parent);
            child::run(plan, ChildEnd::new(child), spread)
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

/// How the container starts: whether the network builder makes its
/// network namespace (as root), and on which CPUs the child and the builder
/// start (barco's, but the one the supervisor runs on).
///
/// A new process is queued on its parent's CPU, and on this project's VM
/// an idle CPU did not take it over before a scheduler tick (4 ms at
/// HZ=250). The supervisor has work left after each `clone3` (the network
/// builder's namespace, v1 cgroups), and the new process would wait
/// behind it. But moved to a CPU that is busy, it would share that one
/// instead, and with no CPU to spare the builder is a process more for
/// nothing (start-up 4.1 -> 5.0 ms with a CPU hog on the other vCPU,
/// 8.6 with the child moved onto it). So both only when fewer tasks are
/// runnable than barco has CPUs (the fourth field of `/proc/loadavg`), or
/// as `BARCO_SPREAD` says.
///
/// # References
/// - [proc_loadavg(5)](https://man7.org/linux/man-pages/man5/proc_loadavg.5.html)
pub struct Spread {
    pub builder: bool,
    pub cpus: Option<CpuSet>,
}

impl Spread {
    pub fn decide(plan: &Plan) -> Spread {
        let idle = plan.spread.unwrap_or_else(|| plan.cpus.as_ref().is_some_and(|cpus| one_idle(cpus.count())));
        let cpus = plan.cpus.filter(|_| idle).map(|mut apart| {
            apart.unset(sys::current_cpu());
            apart
        });
        Spread { builder: plan.network_builder && idle, cpus: cpus.filter(|apart| apart.count() > 0) }
    }
}

/// Whether fewer tasks are runnable than `cpus`, by `/proc/loadavg` (false
/// without it). Not inlined into `Spread::decide`: 64 bytes of `just tiny`.
#[inline(never)]
fn one_idle(cpus: u32) -> bool {
    let mut text = [0u8; 128];
    let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC;
    let Ok(file) = rustix::fs::open(c"/proc/loadavg", flags, rustix::fs::Mode::empty()) else { return false };
    let n = rustix::io::read(&file, &mut text).unwrap_or(0);
    runnable(&text[..n]).is_some_and(|running| idle(running, cpus))
}

/// With `running` tasks runnable (barco's supervisor among them), one of
/// barco's `cpus` is idle. (The count is the whole machine's, so under a
/// cpuset on a busy large host this says no more often than it should.)
fn idle(running: u32, cpus: u32) -> bool {
    running < cpus
}

/// The runnable tasks in `/proc/loadavg`'s text: `1` of `0.00 0.01 0.05 1/123 4567`.
fn runnable(loadavg: &[u8]) -> Option<u32> {
    let field = loadavg.split(|b| b.is_ascii_whitespace()).nth(3)?;
    let running = field.split(|&b| b == b'/').next()?;
    crate::cli::parse_int(core::str::from_utf8(running).ok()?)
}

/// Moves a process the supervisor has just cloned to `apart` (from
/// [`Spread`]). Errors are ignored: it only moves work. The child puts
/// back barco's CPUs before the command runs ([`restore_cpus`]); the
/// builder exits.
///
/// # References
/// - [sched_setaffinity(2)](https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html)
pub fn place_apart(apart: Option<&CpuSet>, pid: u32) {
    if let (Some(apart), Some(pid)) = (apart, Pid::from_raw(pid as i32)) {
        let _ = sched_setaffinity(Some(pid), apart);
    }
}

/// In the child: the CPUs barco was started with, if [`place_apart`]
/// narrowed them.
pub fn restore_cpus(plan: &Plan, spread: &Spread) -> Result<(), Failure> {
    match (&plan.cpus, &spread.cpus) {
        (Some(cpus), Some(_)) => sched_setaffinity(None, cpus).at(Stage::Affinity),
        _ => Ok(()),
    }
}

/// barco's network builder. As root, the container's network namespace is
/// made not by the container's `clone3` but by this second, short-lived
/// process, cloned right after it into a network namespace of its own.
/// Making one is most of what that `clone3` cost (about 0.5 ms, more than
/// the container's other namespaces together: `just bench`), and this way
/// it is made while the container's first process builds its mounts, on
/// another CPU if there is one. The builder configures the namespace
/// ([`Network::configure`](crate::net::Network::configure)), hands it to the
/// child over the channel, and exits; the child joins it with `setns(2)`.
/// Rootless, the namespace must belong to the container's user namespace,
/// so its `clone3` makes it, and the child configures it.
///
/// The builder's exit status says whether it left a veth pair behind
/// ([`PAIR_MADE`]), for the supervisor to delete after the run, and whether
/// it told the child ([`TOLD`]). If it did not (a signal killed it, or its
/// messages failed), the supervisor tells the child in its stead: the child
/// would otherwise wait for it forever.
pub struct Builder {
    pidfd: OwnedFd,
    plan: &'static Plan,
    reaped: bool,
}

/// Bits of the builder's exit status: a veth pair exists; it told the
/// child (sent it the namespace or its failure).
const PAIR_MADE: i32 = 1;
const TOLD: i32 = 2;

impl Builder {
    /// Clones the builder. It has no exit signal, so only `Builder::wait`
    /// (with `__WALL`) waits for it, not the orphan reaper of barco as PID 1.
    pub fn start(plan: &'static Plan, chan: &ParentEnd, apart: Option<&CpuSet>) -> Result<Builder, Error> {
        let supervisor = getpid();
        match sys::clone3(u64::from(k::CLONE_NEWNET) | k::CLONE_CLEAR_SIGHAND, 0, None) {
            Ok(Forked::Child) => build(plan, chan, supervisor),
            Ok(Forked::Parent { pidfd, pid }) => {
                place_apart(apart, pid);
                Ok(Builder { pidfd, plan, reaped: false })
            }
            Err(e) => Err(Error::os(Stage::Network, "making its namespace", e)),
        }
    }

    /// Its pidfd, which polls readable once it has exited, until reaped.
    pub fn pidfd(&self) -> Option<&OwnedFd> {
        (!self.reaped).then_some(&self.pidfd)
    }

    /// Reaps the builder while the child may still be waiting for it: if
    /// it did not tell the child, tell it now that the builder failed. (If
    /// it was killed after it sent the namespace, the child has that first,
    /// and skips this.) EPIPE, or ECONNRESET once if it left messages
    /// unread, means the child's end is closed: it has exec'd or died, and
    /// waits for nothing. Any other error means the child may wait forever:
    /// the caller stops it.
    pub fn reap(&mut self, chan: &ParentEnd) -> Result<(), Error> {
        if self.reaped || self.wait().is_some_and(|code| code & TOLD != 0) {
            return Ok(());
        }
        let index = self.plan.network.past(Past::Untold);
        match chan.net_failed(Failure { stage: Stage::Network, index, errno: 0 }) {
            Ok(()) | Err(Errno::PIPE | Errno::CONNRESET) => Ok(()),
            Err(_) => Err(Error::step(Stage::Network, net::UNTOLD)),
        }
    }

    /// Waits for the builder's exit and records whether it left a veth
    /// pair. Its exit code; `None` if a signal killed it.
    fn wait(&mut self) -> Option<i32> {
        let code = reap(self.pidfd.as_fd());
        self.reaped = true;
        if let (Some(veth), Some(code)) = (&self.plan.network.veth, code) {
            if code & PAIR_MADE != 0 {
                veth.mark_made();
            }
        }
        code
    }
}

/// Waits for a process of barco's cloned without an exit signal (so only
/// a wait with `__WALL` reaps it), by its pidfd. Its exit code; `None` if
/// a signal killed it.
pub fn reap(pidfd: BorrowedFd<'_>) -> Option<i32> {
    let all = WaitIdOptions::EXITED | WaitIdOptions::from_bits_retain(k::__WALL);
    loop {
        match waitid(WaitId::PidFd(pidfd), all) {
            Ok(Some(status)) => return status.exit_status(),
            Ok(None) | Err(Errno::INTR) => {}
            Err(_) => return None,
        }
    }
}

/// Every path out of a run reaps the builder, and so learns about the pair.
impl Drop for Builder {
    fn drop(&mut self) {
        if !self.reaped {
            self.wait();
        }
    }
}

/// The builder's life: a forked copy of the supervisor after the seal, so
/// the child's rules hold here too (raw syscalls, no heap, no panics), and
/// it leaves with `exit_group`.
fn build(plan: &'static Plan, chan: &ParentEnd, supervisor: Pid) -> ! {
    let outcome = build_steps(plan, chan, supervisor);
    // A failure is the child's to report, as its own.
    let told = match outcome {
        Ok(()) => true,
        Err(failure) => chan.net_failed(failure).is_ok(),
    };
    let made = if plan.network.pair_made(outcome) { PAIR_MADE } else { 0 };
    sys::exit_group(made | if told { TOLD } else { 0 })
}

fn build_steps(plan: &Plan, chan: &ParentEnd, supervisor: Pid) -> Result<(), Failure> {
    // Die with barco, as the child does. It may have died before this was
    // armed: then this process has been reparented.
    set_parent_process_death_signal(Some(Signal::KILL)).at(Stage::DeathSignal)?;
    if getppid() != Some(supervisor) {
        return Err(Failure { stage: Stage::ParentGone, index: 0, errno: 0 });
    }
    let socket = net::socket()?;
    if !plan.skips(Step::Network) {
        plan.network.configure(&socket)?;
    }
    let ns = sys::socket_netns(socket.as_fd()).map_err(|e| plan.network.failure(Past::Namespace, e))?;
    if plan.heap_audit && sys::alloc::after_seal() > 0 {
        return Err(Failure { stage: Stage::HeapAudit, index: 1, errno: 0 });
    }
    chan.net_ready(ns.as_fd()).map_err(|e| plan.network.failure(Past::HandOver, e))?;
    log::stage("network built");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let f = Failure { stage: Stage::PivotRoot, index: 3, errno: 22 };
        for m in [ToParent::MapsPlease, ToParent::NetworkUp, ToParent::Failed(f)] {
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
        let (p, c) = (ParentEnd(parent), ChildEnd::new(child));
        p.cgroup_ready().unwrap();
        let f = Failure::new(Stage::Network, 1, Errno::EXIST);
        c.report(f);
        drop(c);
        assert_eq!(p.next(), Ok(Some(ToParent::Failed(f))));
        assert_eq!(p.next(), Ok(None));
    }

    #[test]
    fn the_builder_hands_over_a_descriptor_and_a_cgroup_message_waits_its_turn() {
        let Channel { parent, child } = Channel::new().unwrap();
        let (p, c) = (ParentEnd(parent), ChildEnd::new(child));
        // The supervisor's CgroupReady may come before the builder's message.
        p.cgroup_ready().unwrap();
        let file = rustix::fs::open(c"/proc/self/exe", rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty()).unwrap();
        p.net_ready(file.as_fd()).unwrap();
        let got = c.wait_net().unwrap().unwrap();
        let (a, b) = (rustix::fs::fstat(&file).unwrap(), rustix::fs::fstat(&got).unwrap());
        assert_eq!((a.st_dev, a.st_ino), (b.st_dev, b.st_ino), "the same file arrives");
        assert_ne!(rustix::io::fcntl_getfd(&got).unwrap() & rustix::io::FdFlags::CLOEXEC, rustix::io::FdFlags::empty());
        c.wait_cgroup().unwrap();
        // Kept once only: the next CgroupReady is read from the channel.
        p.maps_written().unwrap();
        assert_eq!(c.wait_cgroup(), Err(Errno::PROTO));

        let f = Failure::new(Stage::Network, 1, Errno::EXIST);
        p.net_failed(f).unwrap();
        assert_eq!(c.wait_net().unwrap().unwrap_err(), f);
        // A NetReady without its descriptor is a protocol error.
        p.tell(TAG_NET_READY).unwrap();
        assert_eq!(c.wait_net().unwrap_err(), Errno::PROTO);
        // The supervisor's NetFailed for a builder killed after it had sent
        // the namespace: the child has moved on, and skips it.
        p.net_failed(f).unwrap();
        p.cgroup_ready().unwrap();
        c.wait_cgroup().unwrap();
        drop(p);
        assert_eq!(c.wait_net().unwrap_err(), Errno::PIPE);
    }

    #[test]
    fn the_user_namespace_may_come_while_the_child_waits_for_the_builder() {
        let Channel { parent, child } = Channel::new().unwrap();
        let (p, c) = (ParentEnd(parent), ChildEnd::new(child));
        let ns =
            rustix::fs::open(c"/proc/self/ns/user", rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty()).unwrap();
        let same = |got: &OwnedFd| {
            let (a, b) = (rustix::fs::fstat(&ns).unwrap(), rustix::fs::fstat(got).unwrap());
            (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
        };
        // The supervisor's two messages ahead of the builder's: both kept.
        p.cgroup_ready().unwrap();
        p.user_ns(ns.as_fd()).unwrap();
        p.net_ready(ns.as_fd()).unwrap();
        assert!(same(&c.wait_net().unwrap().unwrap()));
        c.wait_cgroup().unwrap();
        assert!(same(&c.wait_user_ns().unwrap()));
        // Kept once only; read from the channel otherwise, past the
        // supervisor's NetFailed for a builder killed after it had sent
        // the namespace.
        p.net_failed(Failure::new(Stage::Network, 1, Errno::EXIST)).unwrap();
        p.user_ns(ns.as_fd()).unwrap();
        assert!(same(&c.wait_user_ns().unwrap()));
        // Without its descriptor, it is a protocol error, in either wait.
        p.tell(TAG_USER_NS).unwrap();
        assert_eq!(c.wait_user_ns().unwrap_err(), Errno::PROTO);
        p.tell(TAG_USER_NS).unwrap();
        assert_eq!(c.wait_net().unwrap_err(), Errno::PROTO);
        c.network_up().unwrap();
        assert_eq!(p.next(), Ok(Some(ToParent::NetworkUp)));
        drop(p);
        assert_eq!(c.wait_user_ns().unwrap_err(), Errno::PIPE);
    }

    #[test]
    fn a_cpu_is_idle_only_with_fewer_runnable_tasks_than_cpus() {
        assert!(idle(1, 2));
        assert!(!idle(2, 2), "barco and one other task on two CPUs");
        assert!(!idle(3, 2));
        assert!(idle(3, 4));
    }

    #[test]
    fn a_second_descriptor_is_refused_not_leaked() {
        use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage};
        let Channel { parent, child } = Channel::new().unwrap();
        let (a, b) = (rustix::fs::open(c"/", rustix::fs::OFlags::PATH, rustix::fs::Mode::empty()).unwrap(), parent);
        let fds = [a.as_fd(), b.as_fd()];
        let mut space = [core::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
        let m = [TAG_NET_READY; MSG_LEN];
        sendmsg(&b, &[rustix::io::IoSlice::new(&m)], &mut control, SendFlags::empty()).unwrap();
        let mut buf = [0u8; MSG_LEN];
        let (n, fd) = sys::recv_with_fd(child.as_fd(), &mut buf).unwrap();
        assert_eq!((n, fd.is_some()), (MSG_LEN, true));
        // The second was `b` itself: had it been installed too, its socket
        // would outlive this drop, and `child` would see no hang-up.
        drop(b);
        assert!(!ChildEnd::new(child).parent_alive(), "the second descriptor leaked");
    }

    #[test]
    fn runnable_tasks_from_loadavg() {
        assert_eq!(runnable(b"0.00 0.01 0.05 1/123 4567\n"), Some(1));
        assert_eq!(runnable(b"1.52 0.90 0.41 12/1024 99"), Some(12));
        assert_eq!(runnable(b"0.00 0.01 0.05"), None);
        assert_eq!(runnable(b"0.00 0.01 0.05 x/1 2"), None);
        let now = std::fs::read("/proc/loadavg").unwrap();
        assert!(runnable(&now).is_some_and(|n| n >= 1), "this test is running");
    }

    #[test]
    fn channel_carries_the_protocol() {
        let Channel { parent, child } = Channel::new().unwrap();
        let (p, c) = (ParentEnd(parent), ChildEnd::new(child));
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
