//! Boots Debian's kernel under QEMU with an initramfs the project writes
//! itself, and reads the results off the serial console.
//!
//! - The kernel comes from `scripts/vm-kernel.sh` (`apt-get download`,
//!   `dpkg -x`), cached in `target/vm/kernel`.
//! - KVM is tried once per process: if the kernel prints nothing within a few
//!   seconds (KVM hangs silently on some hosts), QEMU runs under TCG.
//!   `BARCO_VM_ACCEL=kvm|tcg` skips the probe.
//! - Scenarios report on the console as `BARCO-VM PASS name` or
//!   `BARCO-VM FAIL name: why`; [`Boot::result`] finds them. A VM that does
//!   not power itself off in time is killed and reported with its console's
//!   tail.
//!
//! Used by `tests/vm.rs` and by `just vm-shell` (`tests/qemu/shell.rs`).

#![allow(dead_code)]

pub mod cpio;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The kernel's console arguments, shared by every boot. `panic=-1` turns a
/// kernel panic into a reboot, which `-no-reboot` turns into QEMU's exit.
const BASE_APPEND: &str = "console=ttyS0 panic=-1 quiet";

/// Debian's kernel, fetched on first use.
pub fn kernel() -> &'static Path {
    static KERNEL: OnceLock<PathBuf> = OnceLock::new();
    KERNEL.get_or_init(|| {
        let dir = Path::new(MANIFEST_DIR).join("target/vm/kernel");
        if !dir.join("vmlinuz").exists() {
            let status = Command::new(Path::new(MANIFEST_DIR).join("scripts/vm-kernel.sh"))
                .arg(&dir)
                .status()
                .expect("running scripts/vm-kernel.sh");
            assert!(status.success(), "scripts/vm-kernel.sh could not fetch Debian's kernel");
        }
        dir.join("vmlinuz")
    })
}

fn qemu() -> &'static str {
    let qemu = "qemu-system-x86_64";
    let found = Command::new(qemu).arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(found, "{qemu} is missing: run scripts/setup.sh (Debian's qemu-system-x86)");
    qemu
}

/// `kvm` or `tcg`: KVM when it works here, decided once per process.
pub fn accel() -> &'static str {
    static ACCEL: OnceLock<&'static str> = OnceLock::new();
    ACCEL.get_or_init(|| match std::env::var("BARCO_VM_ACCEL").as_deref() {
        Ok("kvm") => "kvm",
        Ok("tcg") => "tcg",
        _ if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() => "tcg",
        _ => {
            // The kernel prints its banner within a second under KVM; here
            // KVM may hang without a word, so a silent VM means TCG.
            let mut q = Command::new(qemu())
                .args(["-accel", "kvm", "-m", "128M", "-nodefaults", "-no-reboot", "-display", "none"])
                .args(["-serial", "stdio", "-kernel"])
                .arg(kernel())
                .args(["-append", "console=ttyS0 panic=-1"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting qemu");
            let console = collect(q.stdout.take().unwrap());
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) && !console.lock().unwrap().contains("Linux version") {
                std::thread::sleep(Duration::from_millis(50));
            }
            let works = console.lock().unwrap().contains("Linux version");
            let _ = q.kill();
            let _ = q.wait();
            eprintln!(
                "vm: KVM {}; using {}",
                if works { "works" } else { "is silent" },
                if works { "kvm" } else { "tcg" }
            );
            if works {
                "kvm"
            } else {
                "tcg"
            }
        }
    })
}

/// Reads a stream into a shared string on a thread of its own.
fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

/// An initramfs: the busybox test rootfs at `/rootfs`, barco at `/barco`,
/// a marker file at `/INITRAMFS-MARKER` that no container may see, and
/// whatever a boot adds.
pub struct Initramfs(cpio::Archive);

impl Initramfs {
    /// `barco` and `rootfs` are the built binary and the test rootfs (with
    /// the probe in it).
    pub fn new(barco: &Path, rootfs: &Path) -> Initramfs {
        let mut a = cpio::Archive::new();
        a.dir("dev", 0o755).dir("proc", 0o755).dir("sys", 0o755).dir("tmp", 0o1777).dir("etc", 0o755);
        a.file("barco", 0o755, &std::fs::read(barco).expect("reading the barco binary"));
        a.file("INITRAMFS-MARKER", 0o644, b"the initramfs's own file\n");
        a.tree("rootfs", rootfs);
        Initramfs(a)
    }

    /// `/dev/console`, which the kernel opens as init's stdio. Without it,
    /// init starts with no descriptors at all.
    pub fn console(mut self) -> Self {
        self.0.char_device("dev/console", 0o600, 5, 1);
        self
    }

    /// Busybox at `/bin/busybox` with every applet linked, for a shell
    /// `/init`.
    pub fn busybox(mut self) -> Self {
        let busybox = std::fs::read("/bin/busybox").expect("reading /bin/busybox (busybox-static)");
        let list = Command::new("/bin/busybox").arg("--list-full").output().expect("busybox --list-full");
        self.0.dir("bin", 0o755).dir("sbin", 0o755).dir("usr", 0o755).dir("usr/bin", 0o755).dir("usr/sbin", 0o755);
        self.0.file("bin/busybox", 0o755, &busybox);
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "bin/busybox" && !applet.is_empty() {
                self.0.symlink(applet, "/bin/busybox");
            }
        }
        self
    }

    pub fn file(mut self, path: &str, perm: u32, data: &[u8]) -> Self {
        self.0.file(path, perm, data);
        self
    }

    pub fn dir(mut self, path: &str) -> Self {
        self.0.dir(path, 0o755);
        self
    }

    /// Writes the archive to `target/vm/NAME.cpio`.
    pub fn write(self, name: &str) -> PathBuf {
        let dir = Path::new(MANIFEST_DIR).join("target/vm");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.cpio"));
        let tmp = dir.join(format!(".{name}.cpio.{}", std::process::id()));
        std::fs::write(&tmp, self.0.finish()).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }
}

/// What a VM printed, and how it ended.
#[derive(Debug)]
pub struct Boot {
    pub name: String,
    pub console: String,
    /// QEMU was killed at the time limit.
    pub timed_out: bool,
    pub elapsed: Duration,
}

/// QEMU's arguments for a boot of `initrd` with `append` added to the
/// kernel command line.
pub fn qemu_command(initrd: &Path, append: &str) -> Command {
    let mut q = Command::new(qemu());
    q.args(["-accel", accel(), "-m", "512M", "-smp", "1", "-nodefaults", "-no-reboot", "-display", "none"])
        .arg("-kernel")
        .arg(kernel())
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(format!("{BASE_APPEND} {append}"));
    q
}

/// Boots and waits until the VM powers off, or kills it after `limit`.
pub fn boot(name: &str, initrd: &Path, append: &str, limit: Duration) -> Boot {
    boot_until(name, initrd, append, limit, None)
}

/// As [`boot`], but a VM whose console shows `until` has ended: a halted
/// machine stays up, doing nothing.
pub fn boot_until(name: &str, initrd: &Path, append: &str, limit: Duration, until: Option<&str>) -> Boot {
    let mut q = qemu_command(initrd, append)
        .args(["-serial", "stdio"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting qemu");
    let console = collect(q.stdout.take().unwrap());
    let errors = collect(q.stderr.take().unwrap());
    let start = Instant::now();
    let timed_out = loop {
        if q.try_wait().unwrap().is_some() {
            break false;
        }
        if until.is_some_and(|text| console.lock().unwrap().contains(text)) {
            std::thread::sleep(Duration::from_millis(200));
            let _ = q.kill();
            let _ = q.wait();
            break false;
        }
        if start.elapsed() > limit {
            let _ = q.kill();
            let _ = q.wait();
            break true;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let the readers drain what is left.
    std::thread::sleep(Duration::from_millis(100));
    let mut text = console.lock().unwrap().replace('\r', "");
    let errors = errors.lock().unwrap().clone();
    if !errors.trim().is_empty() {
        text.push_str(&format!("\n[qemu's stderr]\n{errors}"));
    }
    let b = Boot { name: name.into(), console: text, timed_out, elapsed: start.elapsed() };
    eprintln!(
        "vm: {name} booted under {} and ended in {:.1?}{}",
        accel(),
        b.elapsed,
        if timed_out { " (killed)" } else { "" }
    );
    b
}

impl Boot {
    /// The console's last lines, for failure messages.
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.console.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// The outcome of scenario `name`: `Ok` for its PASS line, `Err` with
    /// the reason for its FAIL line, or for no line at all.
    pub fn result(&self, name: &str) -> Result<(), String> {
        let pass = format!("BARCO-VM PASS {name}");
        let fail = format!("BARCO-VM FAIL {name}: ");
        for line in self.console.lines() {
            if line == pass {
                return Ok(());
            }
            if let Some(why) = line.strip_prefix(&fail) {
                return Err(why.to_string());
            }
        }
        Err(format!(
            "no result line for {name}{}",
            if self.timed_out { " (the VM was killed at its time limit)" } else { "" }
        ))
    }

    /// Panics unless scenario `name` passed, with the console's tail.
    pub fn assert_passed(&self, name: &str) {
        if let Err(why) = self.result(name) {
            panic!("{}: scenario {name} failed: {why}\n--- console tail ---\n{}", self.name, self.tail());
        }
    }

    /// Panics unless the console shows `text`.
    pub fn assert_shows(&self, text: &str) {
        assert!(
            self.console.contains(text),
            "{}: the console lacks {text:?}\n--- console tail ---\n{}",
            self.name,
            self.tail()
        );
    }

    /// The kernel never panicked, and the VM ended by itself.
    pub fn assert_clean_end(&self) {
        assert!(!self.timed_out, "{}: the VM was killed at its time limit\n{}", self.name, self.tail());
        assert!(!self.console.contains("Kernel panic"), "{}: the kernel panicked\n{}", self.name, self.tail());
    }
}
