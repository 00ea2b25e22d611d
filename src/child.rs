//! The container's first process, from `clone3` to `execve`.
//!
//! [`setup`] is the required order of steps, top to bottom; [`run`] then
//! execs the command, or with `--init` forks it and stays as its reaper
//! (see [`crate::reaper`]). The child runs on
//! a forked copy of barco's memory, so it obeys the rules of a child after
//! fork (rustix's `kernel_fork` lists them): raw syscalls only, no heap, no
//! panics, no std I/O, and it leaves with `execve` or `exit_group`, never by
//! returning. A failed step is sent to the parent as a [`Failure`] (stage,
//! index, errno); the parent prints it.

use crate::caps;
use crate::error::Stage;
use crate::log;
use crate::net::{self, NetMode, Past};
use crate::plan::{Plan, Step};
use crate::reaper;
use crate::rootfs;
use crate::spawn::{self, At, ChildEnd, Failure, Spread};
use crate::sys::{self, Forked, SigSet};
use linux_raw_sys::general as k;
use rustix::fd::AsFd;
use rustix::io::Errno;
use rustix::process::{
    chdir, getpgrp, set_dumpable_behavior, set_parent_process_death_signal, setpgid, DumpableBehavior, Signal,
};
use rustix::termios::{tcgetpgrp, tcsetpgrp};
use rustix::thread::{move_into_link_name_space, set_no_new_privs, LinkNameSpaceType};
use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
use rustix::{fs::Gid, fs::Uid};

/// The child allocated after clone3 (checked under `BARCO_HEAP_AUDIT=1`).
const HEAP_AUDIT_FAILED: Failure = Failure { stage: Stage::HeapAudit, index: 0, errno: 0 };

/// Runs the setup steps and the command; never returns.
pub fn run(plan: &'static Plan, chan: ChildEnd, spread: &Spread) -> ! {
    let mut failure = match setup(plan, &chan, spread) {
        Err(failure) => failure,
        Ok(()) if !plan.init => exec_command(plan),
        // --init: the command becomes PID 2; this process stays as PID 1.
        Ok(()) => match reaper::block_signals().and_then(|()| fork_command()) {
            Ok(None) => exec_command(plan),
            Ok(Some(pid)) => match lock(plan) {
                // The command holds its own copy of the channel until its
                // execve; the supervisor sees the end of setup when it closes.
                Ok(()) => {
                    drop(chan);
                    reaper::run(plan, pid)
                }
                Err(failure) => failure,
            },
            Err(e) => Failure::new(Stage::ForkCommand, 0, e),
        },
    };
    if plan.heap_audit && sys::alloc::after_seal() > 0 {
        failure = HEAP_AUDIT_FAILED;
    }
    chan.report(failure);
    sys::exit_group(1)
}

/// Every step between `clone3` and the command, in the order the kernel
/// needs.
fn setup(plan: &Plan, chan: &ChildEnd, spread: &Spread) -> Result<(), Failure> {
    // Die with barco: a SIGKILLed supervisor must not leave a container.
    die_with_parent(chan)?;

    // Rootless: clone3 made the user namespace too, and nothing can create
    // a file until the maps are written, so they come first, while this
    // process is still dumpable and its /proc/PID/uid_map the caller's to
    // write (see `userns`).
    if plan.rootless {
        chan.request_maps().at(Stage::WaitMaps)?;
        chan.wait_maps().at(Stage::WaitMaps)?;
        // Ranges from newuidmap need not map the caller's own ids, which
        // this process still has: take mapped ones to set up with. That
        // clears the parent-death signal: arm it again.
        if plan.map_helpers.is_some() {
            let gid = Gid::from_raw(plan.setup_id.1);
            set_thread_res_gid(gid, gid, gid).at(Stage::SetGid)?;
            let uid = Uid::from_raw(plan.setup_id.0);
            set_thread_res_uid(uid, uid, uid).at(Stage::SetUid)?;
            die_with_parent(chan)?;
        }
    }

    // No container process may open /proc/PID/exe or /proc/PID/mem of a
    // barco process (runc's CVE-2019-5736): above all the --init reaper,
    // which is barco's own code and never execs. Only execve resets this.
    set_dumpable_behavior(DumpableBehavior::NotDumpable).at(Stage::NotDumpable)?;
    log::stage("child");

    // Our own process group, so a shell inside can do job control and the
    // terminal can be handed to the container (the parent does the same).
    setpgid(None, None).at(Stage::ProcessGroup)?;

    // New UTS namespace: the hostname is ours to set.
    if !plan.skips(Step::Hostname) {
        rustix::system::sethostname(plan.hostname.to_bytes()).at(Stage::Hostname)?;
    }

    // New mount namespace, still with barco's capabilities over it: build
    // the container's tree, then make it the root.
    rootfs::make_private()?;
    rootfs::bind_and_enter(plan)?;
    log::stage("rootfs bound");
    rootfs::mount_proc()?;
    if !plan.skips(Step::ProcMasks) {
        rootfs::mask_proc()?;
    }
    log::stage("proc and masks");
    if !plan.skips(Step::Dev) {
        rootfs::mount_dev()?;
    }
    if !plan.skips(Step::EtcFiles) {
        rootfs::bind_etc_files(&plan.etc_files)?;
    }
    log::stage("dev");

    // The network namespace (unless --net host), with lo up, and with --net
    // veth, eth0 made and configured. It comes after the mounts above so
    // that, as root, barco's network builder can make it meanwhile: join
    // it. Without the builder (rootless, where clone3 made it inside the
    // container's user namespace, or with no CPU to spare), configure the
    // one clone3 made.
    network(plan, chan, spread.builder)?;
    // The pair exists: the supervisor sets up the host's end, and only then
    // hands over the user namespace (below), or its maps over an initramfs,
    // so it is up before the command runs. (Rootless has no veth.)
    if plan.network.veth.is_some() {
        chan.network_up().at(Stage::Channel)?;
    }
    log::stage("network");
    // sysfs shows the network namespace of whoever mounts it.
    if plan.mount_sys {
        rootfs::mount_sys()?;
    }

    // v1 cgroups: the supervisor made them while this process built the
    // above; move in now, while the host's cgroupfs is still in reach and
    // before anything of the container runs.
    if let Some(cg) = plan.cgroup.as_ref().filter(|cg| cg.joined_by_child()) {
        // (An index past the tasks files: the error names the wait.)
        chan.wait_cgroup().at_index(Stage::JoinCgroup, usize::from(u16::MAX))?;
        cg.join_self()?;
        // Now, so that the container's cgroup namespace is rooted at its
        // cgroups (clone3 made the others).
        sys::unshare(k::CLONE_NEWCGROUP).at(Stage::UnshareCgroup)?;
        log::stage("cgroup joined");
    }
    rootfs::switch_root(plan.root_switch)?;
    log::stage("pivot_root");

    // The user namespace comes last, as in the seed. The mount, network, UTS,
    // IPC and PID namespaces were created by barco as real root, so they are
    // owned by the host's user namespace: root in the container gets no
    // capabilities over them, only over this new, empty user namespace. So
    // the container cannot remount its root, unmount /proc to reveal what is
    // under it, or change its hostname. The supervisor made it meanwhile,
    // as root too, and wrote its maps: join it (setns(2) gives every
    // capability in it, as unshare(2) would). Over an initramfs, unshare it
    // here and wait for the maps: the kernel refuses that to a chrooted
    // process, a check on `rootfs::move_over_initramfs` that setns lacks.
    // (Rootless, it came first: see above.)
    if plan.user_ns_ahead() {
        let ns = chan.wait_user_ns().at(Stage::WaitMaps)?;
        move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::User)).at(Stage::JoinUser)?;
    } else if !plan.rootless {
        sys::unshare(k::CLONE_NEWUSER).at(Stage::UnshareUser)?;
        chan.request_maps().at(Stage::WaitMaps)?;
        chan.wait_maps().at(Stage::WaitMaps)?;
    }

    // Root of the new user namespace has every capability in it, and
    // CAP_SETPCAP is needed to shrink the bounding set: do it now, before
    // the uid switch, so nothing in the container can regain the dropped
    // ones, not even a setuid binary.
    log::stage("user namespace");
    if !plan.skips(Step::Caps) {
        caps::drop_bounding(plan.caps_kept)?;
    }
    // Without no_new_privs, loading a filter takes CAP_SYS_ADMIN, which
    // only lasts until the uid switch and capset below.
    if !plan.no_new_privs {
        load_seccomp(plan)?;
    }

    // Become the container's user: groups, then gid, then uid.
    // Where setgroups is denied (rootless with only the caller's gid
    // mapped), the caller's supplementary groups stay, unmapped: the
    // kernel will not drop them.
    if !plan.keep_groups {
        set_thread_groups(&[]).at(Stage::SetGroups)?;
    }
    let gid = Gid::from_raw(plan.gid);
    set_thread_res_gid(gid, gid, gid).at(Stage::SetGid)?;
    let uid = Uid::from_raw(plan.uid);
    set_thread_res_uid(uid, uid, uid).at(Stage::SetUid)?;
    if !plan.skips(Step::Caps) {
        caps::set(plan.caps_kept, plan.uid)?;
    }
    log::stage("credentials and caps");

    // The supervisor started this process on a CPU of its own (see
    // `spawn::place_apart`): the command gets the CPUs barco had.
    spawn::restore_cpus(plan, spread)?;

    // Changing credentials cleared the parent-death signal: arm it again.
    die_with_parent(chan)?;

    chdir(plan.workdir.as_c_str()).at(Stage::Workdir)?;

    // Only 0, 1 and 2 may reach the command. The channel stays open until
    // execve closes it (CLOEXEC), so an exec failure can still be reported.
    // barco's entry point (`sys::main`) opened /dev/null on any of 0, 1
    // and 2 that it was started without, so the channel is above them;
    // saturate regardless.
    let keep = chan.raw();
    sys::close_range(3, keep.saturating_sub(1)).at(Stage::CloseFds)?;
    sys::close_range(keep.max(2) + 1, u32::MAX).at(Stage::CloseFds)
}

/// The network step: join the namespace barco's network builder made and
/// configured (or report the failure it stopped at), or configure the one
/// `clone3` made. As real root, the builder's belongs to the host's user
/// namespace, as the mount and other namespaces do.
fn network(plan: &Plan, chan: &ChildEnd, builder: bool) -> Result<(), Failure> {
    let join = |e| plan.network.failure(Past::Join, e);
    if builder {
        let ns = chan.wait_net().map_err(join)??;
        return move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network)).map_err(join);
    }
    if plan.network.mode == NetMode::Host || plan.skips(Step::Network) {
        return Ok(());
    }
    plan.network.configure(&net::socket()?)
}

/// Forks the command under `--init`: `clone3`, or plain `clone` when the
/// seccomp filter already refuses `clone3` (loaded before the uid switch
/// with `--allow-new-privileges`). The pid in the parent, `None` in the
/// child.
fn fork_command() -> Result<Option<u32>, Errno> {
    match sys::clone3(0, k::SIGCHLD, None) {
        Ok(Forked::Child) => Ok(None),
        Ok(Forked::Parent { pid, pidfd }) => {
            drop(pidfd);
            Ok(Some(pid))
        }
        Err(Errno::NOSYS) => sys::fork(),
        Err(e) => Err(e),
    }
}

/// The last steps before `execve`, in the process that becomes the command.
/// Returns only on failure.
fn exec_command(plan: &Plan) -> Failure {
    match prepare_exec(plan) {
        Ok(()) => {
            // Not a cold text (`log::info!`): the child does not unpack them.
            log::log_at!(log::Level::Info, "### BARCONTAINER STARTING - type 'exit' to quit ###");
            log::stage("seccomp loaded");
            exec(plan)
        }
        Err(failure) => failure,
    }
}

fn prepare_exec(plan: &Plan) -> Result<(), Failure> {
    if plan.init {
        // Under --init the command gets its own process group, and the
        // terminal's foreground if the reaper's group has it, so Ctrl-C
        // goes to the command and not to the reaper (as tini does).
        setpgid(None, None).at(Stage::ProcessGroup)?;
        let tty = rustix::stdio::stdin();
        if tcgetpgrp(tty).is_ok_and(|fg| fg.as_raw_nonzero().get() == 1) {
            // SIGTTOU is still blocked here, so this works from the
            // background too.
            let _ = tcsetpgrp(tty, getpgrp());
        }
    }

    // Undo what barco's entry point and supervisor set up: barco ignores
    // SIGPIPE, and the parent blocked the signals it forwards.
    sys::set_signal_action(k::SIGPIPE, sys::Disposition::Default).at(Stage::ResetSignals)?;
    sys::set_signal_mask(SigSet::EMPTY).at(Stage::ResetSignals)?;

    if plan.heap_audit && sys::alloc::after_seal() > 0 {
        return Err(HEAP_AUDIT_FAILED);
    }
    log::stage("fds and signals");
    lock(plan)
}

/// no_new_privs, then the seccomp filter: the last steps before execve (or,
/// under --init, before the reaper starts waiting; it forks the command
/// first, as the filter refuses clone3).
fn lock(plan: &Plan) -> Result<(), Failure> {
    if plan.no_new_privs {
        set_no_new_privs(true).at(Stage::NoNewPrivs)?;
        load_seccomp(plan)?;
    }
    Ok(())
}

fn load_seccomp(plan: &Plan) -> Result<(), Failure> {
    match &plan.seccomp {
        Some(program) => sys::seccomp_set_filter(program).at(Stage::Seccomp),
        None => Ok(()),
    }
}

/// Arms PR_SET_PDEATHSIG with SIGKILL, then checks that the parent did not
/// die before it was armed (the signal is not sent retroactively).
fn die_with_parent(chan: &ChildEnd) -> Result<(), Failure> {
    set_parent_process_death_signal(Some(Signal::KILL)).at(Stage::DeathSignal)?;
    if chan.parent_alive() {
        Ok(())
    } else {
        Err(Failure { stage: Stage::ParentGone, index: 0, errno: 0 })
    }
}

/// Tries each candidate path like execvp: a missing file moves on to the
/// next; EACCES is remembered but the search goes on; anything else stops.
fn exec(plan: &Plan) -> Failure {
    let mut reported = Errno::NOENT;
    for path in &plan.exec_candidates {
        match sys::execve(path, plan.argv.as_ptr(), plan.envp.as_ptr()) {
            Errno::NOENT | Errno::NOTDIR => {}
            Errno::ACCESS => reported = Errno::ACCESS,
            other => return Failure::new(Stage::Exec, 0, other),
        }
    }
    Failure::new(Stage::Exec, 0, reported)
}
