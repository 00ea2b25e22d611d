//! barco: run one command in its own root filesystem, PIDs, hostname, IPC,
//! network and user IDs.
//!
//! The life of a run, one module per stage: [`cli`] parses, [`plan`] decides
//! and allocates everything, [`spawn`] clones, [`child`] sets the container
//! up and execs, and [`supervise`] waits and reports. `unsafe` code lives in
//! [`sys`] only.

#![deny(unsafe_code)]
// barco's entry point is `sys::main`, without std's runtime.
#![cfg_attr(not(test), no_main)]

mod caps;
mod cgroup;
mod child;
mod cli;
mod cold;
mod error;
mod log;
mod machine;
mod net;
mod packed;
mod plan;
mod reaper;
mod rootfs;
mod seccomp;
mod spawn;
mod supervise;
#[allow(unsafe_code)]
mod sys;
mod userns;

use std::ffi::OsString;

#[global_allocator]
static ALLOCATOR: sys::alloc::Bump = sys::alloc::Bump::new();

/// What follows the entry point, `sys::main`: barco as PID 1, or as a
/// command. Never returns.
fn main(argv: Vec<OsString>, env: Vec<(OsString, OsString)>) -> ! {
    if machine::is_init() {
        // The machine's PID 1 (or a PID namespace's): see `machine`.
        machine::prepare();
        let mut on_exit = cli::OnExit::default();
        let status = run(machine::arguments(argv), env, &mut on_exit);
        machine::shut_down(on_exit, status)
    }
    sys::exit_group(run(argv, env, &mut cli::OnExit::default()))
}

/// Parses, plans and runs; maps every outcome to an exit status. Reports
/// `--on-exit` to the caller, for the machine's PID 1.
fn run(argv: Vec<OsString>, env: Vec<(OsString, OsString)>, on_exit: &mut cli::OnExit) -> i32 {
    let args = match cli::parse(argv) {
        Ok(cli::Parsed::Run(args)) => args,
        Ok(cli::Parsed::Help) => return print(cli::help().as_bytes()),
        Ok(cli::Parsed::Version) => return print(concat!("barco ", env!("CARGO_PKG_VERSION"), "\n").as_bytes()),
        Err(e) => return fail(e),
    };
    if let Some(chosen) = args.on_exit {
        *on_exit = chosen;
    }
    let color = rustix::termios::isatty(rustix::stdio::stderr()) && plan::env_var(&env, "NO_COLOR").is_none();
    log::init(args.verbose, color, plan::env_var(&env, "BARCO_STAGES").is_some_and(|v| v == "1"));
    log::stage("parsed");
    if machine::is_init() {
        machine::report();
    } else if args.on_exit.is_some() {
        log::warning!("--on-exit is ignored: barco is not PID 1");
    }
    let host = plan::Host::current(&args, env);
    let plan = match plan::Plan::new(args, &host) {
        Ok(plan) => plan,
        Err(e) => return fail(e),
    };
    // The plan lives until exit: leaking it gives the child and the error
    // messages 'static borrows, and nothing is freed after the clone.
    let plan: &'static plan::Plan = Box::leak(Box::new(plan));
    log::stage("planned");
    match supervise::run(plan) {
        Ok(status) => status,
        Err(e) => fail(e),
    }
}

/// Writes `text` to stdout with write(2) itself: std's `stdout()` would
/// bring its lock and line buffer (3.4 KB of `just tiny`) for two messages,
/// and `exit_group` skips the flush that needs them.
fn print(text: &[u8]) -> i32 {
    let mut rest = text;
    while !rest.is_empty() {
        match rustix::io::write(rustix::stdio::stdout(), rest) {
            Ok(n) if n > 0 => rest = &rest[n..],
            Err(rustix::io::Errno::INTR) => {}
            // An error, or a write of nothing (which would loop forever).
            _ => return error::EXIT_BARCO,
        }
    }
    0
}

fn fail(e: error::Error) -> i32 {
    e.report();
    e.exit_code()
}
