//! The parent's side of a run: start the container, answer its requests,
//! forward signals, and turn its end into barco's exit status.
//!
//! From [`sys::alloc::seal`] on, this code does not allocate either: the
//! paths it writes to are formatted into stack buffers and every error
//! borrows its subject from the plan.

use crate::cgroup::{Cgroup, Made};
use crate::error::{Error, Stage};
use crate::log::{self, debug, dec, info, trace};
use crate::plan::Plan;
use crate::spawn::{self, Builder, Channel, Container, Failure, ParentEnd, Spread, ToParent};
use crate::sys::{self, Forked, SigSet, SignalfdSiginfo};
use core::ffi::CStr;
use linux_raw_sys::general as k;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{openat, Mode, OFlags, CWD};
use rustix::io::{read, write, Errno};
use rustix::process::{getpgrp, pidfd_send_signal, setpgid, waitid, Pid, Signal, WaitId, WaitIdOptions};
use rustix::stdio::stdin;
use rustix::termios::{isatty, tcgetpgrp, tcsetpgrp};

/// Signals barco passes on to the container's PID 1, as docker does.
const FORWARDED: [u32; 7] = [k::SIGINT, k::SIGTERM, k::SIGHUP, k::SIGQUIT, k::SIGUSR1, k::SIGUSR2, k::SIGWINCH];

/// Runs the planned container to its end. Returns the exit status barco
/// should leave with.
pub fn run(plan: &'static Plan) -> Result<i32, Error> {
    // A v2 cgroup first, for CLONE_INTO_CGROUP: if it cannot be made,
    // nothing has started yet. (v1 cgroups are made during the child's
    // setup: see `start`.)
    let mut cgroup = None;
    match &plan.cgroup {
        Some(cg) if cg.joined_by_child() => cg.check_free()?,
        Some(cg) => cgroup = Some(make_cgroup(cg)?),
        None => {}
    }
    let outcome = run_in_cgroup(plan, &mut cgroup);
    if let Some(veth) = &plan.network.veth {
        veth.remove_host_end();
    }
    // The cgroup goes last, whatever happened: it may outlive a failure.
    if let Some(made) = cgroup {
        made.finish();
        log::stage("cgroup removed");
    }
    if plan.heap_audit {
        let n = sys::alloc::after_seal();
        trace!("heap audit: {} allocations after clone3 in the supervisor", dec(n));
        if n > 0 {
            return Err(Error::step(Stage::HeapAudit, "in the supervisor"));
        }
    }
    info!("so long and thanks for all the fish");
    outcome
}

fn run_in_cgroup(plan: &'static Plan, cgroup: &mut Option<Made>) -> Result<i32, Error> {
    info!("initializing socket pair...");
    let chan = Channel::new()?;

    // Block the forwarded signals and read them from a signalfd instead, so
    // they arrive in the same poll loop as everything else. The child
    // inherits the mask and clears it just before execve.
    // SIGTTOU is blocked too, but not read: it would stop barco when it
    // hands the terminal back from the background.
    // As the machine's PID 1, barco also reads SIGCHLD, to reap orphans.
    info!("setting up signal forwarding...");
    let mut read = SigSet::of(&FORWARDED);
    if plan.reap_orphans {
        read = read.union(SigSet::of(&[k::SIGCHLD]));
    }
    sys::set_signal_mask(SigSet::of(&[k::SIGTTOU]).union(read)).map_err(|e| Error::os(Stage::Signals, "", e))?;
    let sigfd = sys::signalfd(read).map_err(|e| Error::os(Stage::Signals, "signalfd", e))?;

    info!("initializing container...");
    sys::alloc::seal();
    log::stage("clone3");
    // The network builder or not, and where to start the child and the
    // builder: see `spawn::Spread`.
    let spread = Spread::decide(plan);
    let outcome = spawn::spawn(plan, chan, &spread).and_then(|(container, chan)| {
        debug!("container's pid on the host is {}", dec(container.pid));
        let stop = |e| {
            let _ = pidfd_send_signal(&container.pidfd, Signal::KILL);
            let _ = wait(&container);
            Err(e)
        };
        spawn::place_apart(spread.cpus.as_ref(), container.pid);
        // The network builder first: its namespace takes longest. (Dropped,
        // it is reaped, on every path.)
        let mut builder = match spread.builder {
            true => match Builder::start(plan, &chan, spread.cpus.as_ref()) {
                Ok(builder) => Some(builder),
                Err(e) => return stop(e),
            },
            false => None,
        };
        log::stage("builder cloned");
        if let Err(e) = start_v1_cgroup(plan, &container, &chan, cgroup) {
            return stop(e);
        }
        // The user namespace the child will join, made while it builds its
        // mounts; `supervise` hands it over.
        let user_ns = match plan.user_ns_ahead() {
            true => match make_user_ns(plan) {
                Ok(ns) => Some(ns),
                Err(e) => return stop(e),
            },
            false => None,
        };
        let terminal = Terminal::hand_to(&container);
        let outcome = supervise(plan, &container, &chan, &sigfd, builder.as_mut(), cgroup.as_mut(), user_ns);
        terminal.take_back();
        outcome
    });
    info!("freeing resources...");
    drop(sigfd);
    outcome
}

/// v1 cgroups: made now, while the child builds its namespaces (making
/// three costs about a quarter of a millisecond); the child joins them
/// when told. No heap. Not inlined into `run_in_cgroup`, which calls it
/// once: the move of its `Made` into place stays out of the big function
/// (0.1 KB of `just tiny`).
#[inline(never)]
fn start_v1_cgroup(plan: &'static Plan, c: &Container, chan: &ParentEnd, made: &mut Option<Made>) -> Result<(), Error> {
    let Some(cg) = plan.cgroup.as_ref().filter(|cg| cg.joined_by_child()) else { return Ok(()) };
    *made = Some(make_cgroup(cg)?);
    debug!("the container (pid {}) joins its cgroups itself", dec(c.pid));
    told(chan.cgroup_ready())
}

/// Makes the user namespace the child joins after `pivot_root`, its maps
/// written, instead of the child making it there and waiting while the
/// supervisor wakes up to write them. A process cloned into a new user
/// namespace exits at once; until it is reaped (it has no exit signal, so
/// only a wait with `__WALL` does), the zombie keeps its pid, its
/// credentials and so its namespace, and `/proc/PID/uid_map`, `gid_map` and
/// `ns/user` still reach them. barco makes it as root, as the child would
/// have, so it too is a child of the host's user namespace owned by root,
/// and the child's other namespaces stay the host's (see `child::setup`).
/// No heap. (user_namespaces(7), setns(2))
fn make_user_ns(plan: &'static Plan) -> Result<UserNs, Error> {
    // Under a /proc of another PID namespace, PID below would name another
    // process, whose namespace the child would join.
    if !proc_is_ours() {
        return Err(map_error(Stage::WriteUidMap, "", Errno::SRCH));
    }
    let (pid, pidfd) = match sys::clone3(u64::from(k::CLONE_NEWUSER) | k::CLONE_CLEAR_SIGHAND, 0, None) {
        Ok(Forked::Child) => sys::exit_group(0),
        Ok(Forked::Parent { pid, pidfd }) => (pid, pidfd),
        Err(e) => return Err(Error::os(Stage::MakeUser, "", e)),
    };
    let maker = Zombie(pidfd);
    write_maps(plan, pid)?;
    let mut buf = [0u8; 64];
    let ns = openat(CWD, proc_path(&mut buf, pid, b"ns/user"), OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::os(Stage::MakeUser, "", e))?;
    log::stage("user namespace made");
    Ok(UserNs { ns, _maker: maker })
}

/// The user namespace made ahead, and the process it was made in, which is
/// reaped when this drops: after the hand-over, as its exit is nothing the
/// child need wait for.
struct UserNs {
    ns: OwnedFd,
    _maker: Zombie,
}

/// A process of barco's without an exit signal, by its pidfd: reaped
/// (`spawn::reap`) on drop, once it has exited of its own accord.
struct Zombie(OwnedFd);

impl Drop for Zombie {
    fn drop(&mut self) {
        spawn::reap(self.0.as_fd());
    }
}

/// Sends the child its user namespace; then its maker is reaped.
fn hand_over(chan: &ParentEnd, user_ns: UserNs) -> Result<(), Error> {
    told(chan.user_ns(user_ns.ns.as_fd()))
}

/// A message the child waits for, sent. A child that has failed is gone
/// (EPIPE, or ECONNRESET if it left a message unread): the poll loop reads
/// its report. Any other error would leave it waiting.
fn told(sent: Result<(), Errno>) -> Result<(), Error> {
    match sent {
        Ok(()) | Err(Errno::PIPE | Errno::CONNRESET) => Ok(()),
        Err(e) => Err(Error::os(Stage::Channel, "", e)),
    }
}

/// Makes the container's cgroup, for `run` to remove at the end.
fn make_cgroup(cg: &'static Cgroup) -> Result<Made, Error> {
    info!("initializing cgroups...");
    let made = cg.create()?;
    log::stage("cgroup");
    Ok(made)
}

/// The poll loop: channel messages while setup runs, forwarded signals, and
/// finally the container's exit. The four steps it calls once
/// (`Made::watch`, `Veth::set_up_host_end`, `write_maps`,
/// `Failure::into_error`) are kept out of it (`#[inline(never)]`): 0.9 KB
/// of `just tiny`.
fn supervise(
    plan: &'static Plan,
    c: &Container,
    chan: &ParentEnd,
    sigfd: &OwnedFd,
    mut builder: Option<&mut Builder>,
    mut cgroup: Option<&mut Made>,
    mut user_ns: Option<UserNs>,
) -> Result<i32, Error> {
    let mut setting_up = true;
    let mut failure = None;
    let mut interrupted = None;
    let mut reaped = None;
    let mut builder_failed = None;
    info!("configuring user namespace...");
    // The child may exec as soon as it has its user namespace: so only now
    // that the terminal is the container's, and with --net veth once the
    // host's end is up too (below).
    if plan.network.veth.is_none() {
        if let Some(ns) = user_ns.take() {
            hand_over(chan, ns)?;
        }
    }
    loop {
        // The network builder is watched while the child may be waiting for
        // it.
        let building = builder.as_deref().and_then(Builder::pidfd).filter(|_| setting_up);
        let mut fds = [
            PollFd::new(&c.pidfd, PollFlags::IN),
            PollFd::new(sigfd, PollFlags::IN),
            PollFd::new(chan.fd(), PollFlags::IN),
            PollFd::new(building.unwrap_or(chan.fd()), PollFlags::IN),
        ];
        let watched = if !setting_up {
            2
        } else if building.is_some() {
            4
        } else {
            3
        };
        match poll(&mut fds[..watched], None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(Error::os(Stage::Wait, "poll", e)),
        }
        let ready = |i: usize| i < watched && !fds[i].revents().is_empty();
        let (exited, signalled, message, built) = (ready(0), ready(1), setting_up && ready(2), ready(3));

        if let (true, Some(b)) = (built, builder.as_deref_mut()) {
            if let Err(e) = b.reap(chan) {
                let _ = pidfd_send_signal(&c.pidfd, Signal::KILL);
                builder_failed = Some(e);
            }
        }

        if message {
            match chan.next() {
                Ok(Some(ToParent::MapsPlease)) => {
                    write_maps(plan, c.pid)?;
                    chan.maps_written().map_err(|e| Error::os(Stage::Channel, "", e))?;
                    log::stage("maps written");
                }
                Ok(Some(ToParent::NetworkUp)) => {
                    // The veth pair exists: the child is past its network
                    // step. Its user namespace waited for the host's end.
                    if let Some(veth) = &plan.network.veth {
                        veth.mark_made();
                        veth.set_up_host_end()?;
                    }
                    if let Some(ns) = user_ns.take() {
                        hand_over(chan, ns)?;
                    }
                }
                Ok(Some(ToParent::Failed(f))) => failure = Some(child_failed(plan, f)),
                Ok(None) | Err(_) => {
                    setting_up = false;
                    // The child has exec'd or died. If it exec'd, it joined
                    // the builder's namespace, so the builder is exiting if
                    // not gone: no zombie while the container runs. (If it
                    // died, the builder may still be at work, for at most
                    // its netlink timeouts.)
                    if let Some(b) = builder.as_deref_mut() {
                        let _ = b.reap(chan);
                    }
                    log::stage("exec seen");
                    if failure.is_none() {
                        info!("waiting for container to exit...");
                    }
                    // Nothing else to do until the container exits.
                    if let Some(made) = cgroup.as_deref_mut() {
                        made.watch();
                    }
                }
            }
        }
        if signalled {
            match read_signal(sigfd)? {
                // As the machine's PID 1: reap the orphans reparented to
                // barco, and perhaps the container itself.
                Some(k::SIGCHLD) => reaped = reaped.or(crate::reaper::reap(c.pid)),
                Some(sig) => {
                    if let Some(sig) = forward(sig, c, setting_up) {
                        interrupted = Some(sig);
                    }
                }
                None => {}
            }
        }
        if exited || reaped.is_some() {
            break;
        }
    }
    // The child reports a failure just before exiting; drain what is left.
    while setting_up {
        match chan.next() {
            Ok(Some(ToParent::Failed(f))) => failure = Some(child_failed(plan, f)),
            Ok(Some(ToParent::MapsPlease | ToParent::NetworkUp)) => {}
            Ok(None) | Err(_) => setting_up = false,
        }
    }
    let status = match reaped {
        Some(status) => status,
        None => wait(c)?,
    };
    log::stage("exited");
    if let Some(f) = failure {
        return Err(f.into_error(plan));
    }
    if let Some(e) = builder_failed {
        return Err(e);
    }
    if let Some(sig) = interrupted {
        debug!("setup interrupted by signal {}", dec(sig));
        return Ok(128 + sig as i32);
    }
    Ok(status)
}

/// The container runs in its own process group, so that a shell inside can
/// do job control. When barco's stdin is the terminal and barco is in its
/// foreground, the container's group becomes the foreground for the run (as
/// a shell does for a job), so Ctrl-C and window changes reach it directly,
/// and barco takes the terminal back at the end.
struct Terminal {
    give_back_to: Option<Pid>,
}

impl Terminal {
    fn hand_to(c: &Container) -> Terminal {
        let none = Terminal { give_back_to: None };
        let Some(pid) = Pid::from_raw(c.pid as i32) else { return none };
        // The child has not reached execve (it is waiting for its user
        // namespace, or its maps), so its group may still be changed; it
        // also sets the group itself.
        let _ = setpgid(Some(pid), Some(pid));
        let (ours, stdin) = (getpgrp(), stdin());
        if !isatty(stdin) || tcgetpgrp(stdin) != Ok(ours) || tcsetpgrp(stdin, pid).is_err() {
            return none;
        }
        debug!("the container's process group has the terminal");
        Terminal { give_back_to: Some(ours) }
    }

    fn take_back(self) {
        if let Some(ours) = self.give_back_to {
            // SIGTTOU is blocked, so this works from the background.
            let _ = tcsetpgrp(stdin(), ours);
        }
    }
}

/// Reads one signal from the signalfd. Not inlined into `supervise`, which
/// calls it once (0.1 KB of `just tiny`).
#[inline(never)]
fn read_signal(sigfd: &OwnedFd) -> Result<Option<u32>, Error> {
    let mut info = SignalfdSiginfo::zeroed();
    match read(sigfd, info.as_bytes_mut()) {
        Ok(128) => Ok(Some(info.signo)),
        Ok(_) | Err(Errno::AGAIN | Errno::INTR) => Ok(None),
        Err(e) => Err(Error::os(Stage::Signals, "signalfd", e)),
    }
}

/// Passes a signal barco received to the container.
///
/// The container has its own process group, so every signal barco receives
/// was meant for barco's job and is passed on. A terminating signal that
/// arrives while the container is still being set up ends the attempt with
/// SIGKILL: nothing in the half-built container could handle it. Returns
/// that signal.
fn forward(signo: u32, c: &Container, setting_up: bool) -> Option<u32> {
    let sig = Signal::from_named_raw(signo as i32)?;
    if setting_up && signo != k::SIGWINCH {
        debug!("signal {} during setup: stopping the container", dec(signo));
        let _ = pidfd_send_signal(&c.pidfd, Signal::KILL);
        return Some(signo);
    }
    debug!("forwarding signal {} to the container", dec(signo));
    // ESRCH: the container has just ended; its exit is on its way.
    let _ = pidfd_send_signal(&c.pidfd, sig);
    None
}

/// Reaps the container's first process.
fn wait(c: &Container) -> Result<i32, Error> {
    loop {
        match waitid(WaitId::PidFd(c.pidfd.as_fd()), WaitIdOptions::EXITED) {
            Ok(Some(st)) => {
                if let Some(code) = status_code(st.exit_status(), st.terminating_signal()) {
                    return Ok(code);
                }
            }
            Ok(None) | Err(Errno::INTR) => {}
            Err(e) => return Err(Error::os(Stage::Wait, "", e)),
        }
    }
}

/// A failure the child reported; with --net veth, it may say the pair is
/// barco's to remove.
fn child_failed(plan: &Plan, f: Failure) -> Failure {
    plan.network.child_failed(f);
    f
}

/// An exit status as a shell reports it: the exit code, or 128+N for
/// signal N.
fn status_code(exit: Option<i32>, signal: Option<i32>) -> Option<i32> {
    match (exit, signal) {
        (Some(code), _) => {
            debug!("container exited with {}", dec(code));
            Some(code)
        }
        (None, Some(sig)) => {
            debug!("container was killed by signal {}", dec(sig));
            Some(128 + sig)
        }
        (None, None) => None,
    }
}

/// Writes `/proc/PID/uid_map` and `gid_map` for the child's new user
/// namespace. barco is root in the host's namespace, so it may map any
/// range; the child's own process could not.
/// Not inlined into `supervise`, which calls it once: see there.
#[inline(never)]
fn write_maps(plan: &'static Plan, pid: u32) -> Result<(), Error> {
    info!("writing uid_map and gid_map...");
    if let Some(helpers) = &plan.map_helpers {
        return helpers.run(pid).map_err(|(stage, helper, e)| map_error(stage, helper, e));
    }
    let mut buf = [0u8; 64];
    if plan.deny_setgroups {
        // An unprivileged writer may map its gid only once setgroups is
        // denied for good (user_namespaces(7)).
        write_kernel_file(proc_path(&mut buf, pid, b"setgroups"), b"deny")
            .map_err(|e| map_error(Stage::WriteGidMap, "setgroups deny", e))?;
    }
    write_kernel_file(proc_path(&mut buf, pid, b"uid_map"), &plan.uid_map)
        .map_err(|e| map_error(Stage::WriteUidMap, "", e))?;
    write_kernel_file(proc_path(&mut buf, pid, b"gid_map"), &plan.gid_map)
        .map_err(|e| map_error(Stage::WriteGidMap, "", e))
}

/// A failed write of the child's maps, by barco or by newuidmap and
/// newgidmap. `/proc/PID` is only the child's in a /proc of barco's own PID
/// namespace: under `unshare -p -f` without `--mount-proc`, it is the
/// parent namespace's, and PID names another process there (or none). Say
/// so, rather than a bare EPERM. No heap.
fn map_error(stage: Stage, what: &'static str, e: Errno) -> Error {
    if proc_is_ours() {
        return Error::os(stage, what, e);
    }
    Error::os(
        stage,
        "through a /proc of another PID namespace (mount this one's own first, as unshare --mount-proc does)",
        e,
    )
}

/// Whether /proc is of barco's own PID namespace: its `self` is the
/// directory of barco's pid. No heap.
fn proc_is_ours() -> bool {
    let mut buf = [0u8; 64];
    let own = proc_path(&mut buf, crate::cgroup::own_pid(), b"");
    match (rustix::fs::stat(c"/proc/self"), rustix::fs::stat(own)) {
        (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
        _ => false,
    }
}

/// Writes `text` to a kernel file (`/proc`, cgroupfs) in one write(2), as
/// those files require; a short write is an error. No heap: the supervisor
/// and the cgroup code call it after the clone.
pub fn write_kernel_file(path: &CStr, text: &[u8]) -> Result<(), Errno> {
    let fd = openat(CWD, path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    loop {
        match write(&fd, text) {
            Ok(n) if n == text.len() => return Ok(()),
            Ok(_) => return Err(Errno::IO),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Formats `/proc/PID/FILE` into `buf`, without allocating.
fn proc_path<'a>(buf: &'a mut [u8; 64], pid: u32, file: &[u8]) -> &'a CStr {
    let mut digits = [0u8; 20];
    let digits = log::decimal(pid.into(), &mut digits);
    let mut len = 0;
    for part in [b"/proc/".as_slice(), digits, b"/", file, b"\0"] {
        buf[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    // The buffer holds exactly one NUL, at its end, by construction.
    CStr::from_bytes_with_nul(&buf[..len]).unwrap_or(c"/proc/self/uid_map")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tests_own_proc_is_ours() {
        // (The other case, a /proc of another PID namespace, is the
        // container test `a_proc_of_another_pid_namespace_is_named_in_the_error`.)
        assert!(proc_is_ours());
    }

    #[test]
    fn proc_paths() {
        let mut b = [0; 64];
        assert_eq!(proc_path(&mut b, 1, b"uid_map"), c"/proc/1/uid_map");
        assert_eq!(proc_path(&mut b, 4194304, b"gid_map"), c"/proc/4194304/gid_map");
        assert_eq!(proc_path(&mut b, u32::MAX, b"gid_map"), c"/proc/4294967295/gid_map");
        assert_eq!(proc_path(&mut b, 0, b"x"), c"/proc/0/x");
    }
}
