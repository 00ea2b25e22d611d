//! `--init`: barco's own reaper as the container's PID 1.
//!
//! Without `--init` the command is PID 1 of its namespace, and the kernel
//! gives a PID 1 special treatment: a signal it has no handler for is
//! dropped (SIGTERM included, from anywhere but the kernel), and every
//! orphan of the namespace becomes its child, to be reaped or left as a
//! zombie. Programs not written to be an init get both wrong.
//!
//! With `--init` the container's first process stays barco: it forks the
//! command as PID 2 and then only waits for signals. Every signal but
//! SIGCHLD is passed on to the command; SIGCHLD reaps every child that has
//! ended; when the command itself ends, the reaper exits with its status
//! (128+N if signal N killed it), which ends the namespace and, through the
//! supervisor, barco. This is tini's job, done without libc and without the
//! heap: it is barco's code after the clone.
//!
//! The reaper was made non-dumpable in `child::setup` and never execs, so no
//! container process can open its `/proc/1/exe` or `/proc/1/mem`.

use crate::log;
use crate::plan::Plan;
use crate::sys::{self, SigSet};
use linux_raw_sys::general as k;
use rustix::io::Errno;
use rustix::process::{wait, WaitOptions};

/// Signals the kernel forces on the thread that caused them; blocking them
/// would only turn a fault into a silent death, so they stay unblocked.
const SYNCHRONOUS: [u32; 6] = [k::SIGSEGV, k::SIGBUS, k::SIGFPE, k::SIGILL, k::SIGTRAP, k::SIGSYS];

/// What the reaper waits for: every signal it can take from the queue.
fn waited() -> SigSet {
    SigSet::all_except(&SYNCHRONOUS)
}

/// Blocks every waited-for signal, before the command is forked: a SIGCHLD
/// that arrived unblocked would be discarded, and the reaper would wait
/// forever for a command that already ended. The command unblocks them
/// again just before its execve.
pub fn block_signals() -> Result<(), Errno> {
    sys::set_signal_mask(waited())
}

/// Waits for signals until the command (`command`, its pid in the
/// container) ends, then exits with its status. Never returns.
pub fn run(plan: &Plan, command: u32) -> ! {
    loop {
        let sig = match sys::sigwait(waited()) {
            Ok(sig) => sig,
            Err(_) => continue, // EINTR; nothing else is possible here
        };
        if sig != k::SIGCHLD {
            // ESRCH: the command is already gone, and its SIGCHLD is queued.
            let _ = sys::kill(command as i32, sig);
            continue;
        }
        if let Some(status) = reap(command) {
            if plan.heap_audit && sys::alloc::after_seal() > 0 {
                log::line(format_args!("barco: heap audit: allocations after clone3: in the --init reaper"));
                sys::exit_group(crate::error::EXIT_BARCO)
            }
            sys::exit_group(status)
        }
    }
}

/// Reaps every child that has ended (one SIGCHLD may stand for several).
/// `wait4(-1)`: not `waitpid(None)`, which is `wait4(0)`, this process
/// group's children only, and the command has a group of its own.
/// Returns the exit status of `command` (its pid as the caller sees it), as
/// a shell reports it, once it is among them. The supervisor uses it too,
/// as the machine's PID 1. No heap.
pub fn reap(command: u32) -> Option<i32> {
    let mut status = None;
    while let Ok(Some((pid, st))) = wait(WaitOptions::NOHANG) {
        if pid.as_raw_nonzero().get() as u32 == command {
            status = st.exit_status().or_else(|| st.terminating_signal().map(|sig| 128 + sig));
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_everything_but_faults() {
        let set = waited();
        for sig in [k::SIGCHLD, k::SIGTERM, k::SIGINT, k::SIGHUP, k::SIGWINCH, k::SIGUSR1, 34, 64] {
            assert!(set.contains(sig), "{sig}");
        }
        for sig in SYNCHRONOUS {
            assert!(!set.contains(sig), "{sig}");
        }
    }
}
