//! barco: run one command in its own root filesystem, PIDs, hostname, IPC,
//! network and user IDs.
//!
//! The life of a run, one module per stage: [`cli`] parses, [`plan`] decides
//! and allocates everything, [`spawn`] clones, [`child`] sets the container
//! up and execs, and [`supervise`] waits and reports. `unsafe` code lives in
//! [`sys`] only.

#![deny(unsafe_code)]

mod child;
mod cli;
mod error;
mod log;
mod plan;
mod rootfs;
mod spawn;
mod supervise;
#[allow(unsafe_code)]
mod sys;

use std::io::Write;

#[global_allocator]
static ALLOCATOR: sys::alloc::Counting = sys::alloc::Counting;

fn main() {
    std::process::exit(run())
}

/// Parses, plans and runs; maps every outcome to an exit status.
fn run() -> i32 {
    let args = match cli::parse(std::env::args_os().skip(1)) {
        Ok(cli::Parsed::Run(args)) => args,
        Ok(cli::Parsed::Help) => return print(cli::USAGE),
        Ok(cli::Parsed::Version) => return print(concat!("barco ", env!("CARGO_PKG_VERSION"), "\n")),
        Err(e) => return fail(e),
    };
    let color = rustix::termios::isatty(rustix::stdio::stderr()) && std::env::var_os("NO_COLOR").is_none();
    log::init(args.verbose, color);
    let plan = match plan::Plan::new(args, &plan::Host::current()) {
        Ok(plan) => plan,
        Err(e) => return fail(e),
    };
    // The plan lives until exit: leaking it gives the child and the error
    // messages 'static borrows, and nothing is freed after the clone.
    let plan: &'static plan::Plan = Box::leak(Box::new(plan));
    match supervise::run(plan) {
        Ok(status) => status,
        Err(e) => fail(e),
    }
}

fn print(text: &str) -> i32 {
    match std::io::stdout().write_all(text.as_bytes()) {
        Ok(()) => 0,
        Err(_) => error::EXIT_BARCO,
    }
}

fn fail(e: error::Error) -> i32 {
    e.report();
    e.exit_code()
}
