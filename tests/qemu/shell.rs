//! `just vm-shell [COMMAND...]`: boots Debian's kernel under QEMU with barco
//! as the initramfs's `/init`, straight into a container on the demo
//! busybox rootfs (an interactive shell by default). Exiting the container
//! powers the VM off; Ctrl-A X leaves QEMU at any time.
//!
//! Built as a cargo example, so that it shares `tests/qemu/` with the VM
//! suite; the Justfile builds barco and the rootfs first.

#[path = "mod.rs"]
mod qemu;

use std::path::Path;

fn main() {
    let exe = std::env::current_exe().expect("locating this program");
    // target/<triple>/release/examples/vm-shell -> target/<triple>/release/barco
    let barco = exe.parent().and_then(Path::parent).expect("a cargo target directory").join("barco");
    let rootfs = Path::new(qemu::MANIFEST_DIR).join("target/rootfs");
    for needed in [&barco, &rootfs] {
        if !needed.exists() {
            eprintln!("vm-shell: {} is missing; run `just vm-shell`, which builds it", needed.display());
            std::process::exit(1);
        }
    }
    let command: Vec<String> = std::env::args().skip(1).collect();
    let mut args = String::from("-m\n/rootfs\n--\n");
    for word in if command.is_empty() { vec!["/bin/sh".to_string()] } else { command } {
        args.push_str(&word);
        args.push('\n');
    }
    let initrd = qemu::Initramfs::new(&barco, &rootfs)
        .console()
        .dir("etc/barco")
        .file("etc/barco/args", 0o644, args.as_bytes())
        .write("vm-shell");
    eprintln!("vm-shell: barco is PID 1 ({}); leave the container to power off, or Ctrl-A X", qemu::accel());
    let status =
        qemu::qemu_command(&initrd, "rdinit=/barco").args(["-serial", "mon:stdio"]).status().expect("starting qemu");
    std::process::exit(status.code().unwrap_or(1));
}
