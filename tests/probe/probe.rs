//! barco's probe: a small static program the tests run inside containers,
//! after bubblewrap's `tests/try-syscall.c`. Each subcommand tries something
//! a container must not be able to do, prints what happened, and exits 0
//! only if the container held.
//!
//! - `probe escape PATH...`: the classic chroot escape (chroot into a
//!   subdirectory, climb with `..` from the working directory left behind,
//!   chroot there), then checks that none of PATH (files of the host, or of
//!   the initramfs) can be seen.
//! - `probe exe`: opens `/proc/1/exe` and `/proc/1/mem`, which must fail
//!   when PID 1 is barco's non-dumpable `--init` reaper.
//!
//! Built by cargo as an example (`cargo test` builds examples), so the tests
//! find it beside the barco binary, in `examples/probe`.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let held = match args.first().map(String::as_str) {
        Some("escape") => escape(&args[1..]),
        Some("exe") => exe(),
        _ => {
            eprintln!("usage: probe escape PATH... | probe exe");
            return ExitCode::from(2);
        }
    };
    if held {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn escape(markers: &[String]) -> bool {
    // /dev/shm is a tmpfs barco mounts, so this works on a read-only rootfs.
    let jail = "/dev/shm/.probe-escape";
    let _ = std::fs::create_dir(jail);
    if let Err(e) = std::os::unix::fs::chroot(jail) {
        println!("escape: chroot {jail}: {e}; nothing to try");
        return true;
    }
    // The working directory is still the old root, outside the new one.
    for _ in 0..64 {
        let _ = std::env::set_current_dir("..");
    }
    if let Err(e) = std::os::unix::fs::chroot(".") {
        println!("escape: chroot .: {e}");
    }
    let mut held = true;
    for m in markers {
        if Path::new(m).exists() {
            println!("escape: ESCAPED: {m} is visible");
            held = false;
        }
    }
    let mut top: Vec<String> = match std::fs::read_dir("/") {
        Ok(d) => d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(e) => vec![format!("<{e}>")],
    };
    top.sort();
    println!("escape: / after the attempt holds {}", top.join(" "));
    if held {
        println!("escape: confined");
    }
    held
}

fn exe() -> bool {
    let mut held = true;
    for path in ["/proc/1/exe", "/proc/1/mem"] {
        match std::fs::File::open(path) {
            Ok(_) => {
                println!("exe: OPENED {path}");
                held = false;
            }
            Err(e) => println!("exe: {path}: {e}"),
        }
    }
    match std::fs::read_link("/proc/1/exe") {
        Ok(target) => {
            println!("exe: READ LINK /proc/1/exe -> {}", target.display());
            held = false;
        }
        Err(e) => println!("exe: readlink /proc/1/exe: {e}"),
    }
    held
}
