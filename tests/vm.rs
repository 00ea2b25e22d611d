//! barco on a real kernel of its own: Debian's kernel under QEMU, with
//! initramfs images this file writes (see `tests/qemu/`).
//!
//! Four boots, shared by the tests below, each at most once per run:
//! - `suite`: `tests/qemu/suite.sh` as `/init` runs the core run, `--init`
//!   and a read-only rootfs on a pure cgroup2 kernel, first from the
//!   initramfs's own root (where barco cannot pivot_root) and then after
//!   switch_root onto a tmpfs (where it does);
//! - `pid1-cmdline`: barco itself as `/init`, its arguments after `--` on
//!   the kernel command line;
//! - `pid1-args-file`: barco as `/init` with no arguments, reading
//!   `/etc/barco/args` (the image has no `/dev/console` of its own, but
//!   the kernel's built-in initramfs, unpacked first, provides one);
//! - `pid1-halt`: `--on-exit halt`, stopped once the kernel says so.

mod harness;
mod qemu;

use qemu::{boot, boot_until, Boot, Initramfs};
use std::sync::OnceLock;
use std::time::Duration;

/// Generous for TCG on two busy cores; a healthy suite takes well under it.
const LIMIT: Duration = Duration::from_secs(240);

fn image() -> Initramfs {
    Initramfs::new(harness::barco_bin().as_ref(), harness::rootfs())
}

fn suite() -> &'static Boot {
    static BOOT: OnceLock<Boot> = OnceLock::new();
    BOOT.get_or_init(|| {
        let veth = qemu::kernel().with_file_name("modules").join("veth.ko");
        let veth = std::fs::read(&veth)
            .unwrap_or_else(|e| panic!("{}: {e} (scripts/vm-kernel.sh fetches it)", veth.display()));
        let initrd = image()
            .console()
            .busybox()
            .file("veth.ko", 0o644, &veth)
            .file("init", 0o755, include_bytes!("qemu/suite.sh"))
            .write("suite");
        boot("suite", &initrd, "rdinit=/init", LIMIT)
    })
}

/// Run inside the container by the `pid1-cmdline` boot.
const PID1_CHECKS: &str = r#"
pass() { echo "BARCO-VM PASS pid1/$1"; }
fail() { echo "BARCO-VM FAIL pid1/$1: $2"; }
[ $$ = 1 ] && pass pid-1 || fail pid-1 "pid $$"
[ "$(hostname)" = vm ] && pass hostname || fail hostname "$(hostname)"
# Field 7 of stat is the controlling terminal: barco gave it the console.
tty=$(cut -d' ' -f7 /proc/self/stat)
[ "$tty" != 0 ] && pass controlling-terminal || fail controlling-terminal "tty_nr $tty"
out=$(probe escape /INITRAMFS-MARKER /barco)
echo "$out" | grep -q confined && pass confined || fail confined "$(echo "$out" | tr '\n' '|')"
exit 7
"#;

fn pid1_cmdline() -> &'static Boot {
    static BOOT: OnceLock<Boot> = OnceLock::new();
    BOOT.get_or_init(|| {
        let initrd =
            image().console().dir("rootfs/checks").file("rootfs/checks/pid1.sh", 0o755, PID1_CHECKS.as_bytes());
        // The kernel itself would drop everything after the second `--`.
        let append = r#"rdinit=/barco -- -vv -m /rootfs --hostname vm -- /bin/sh -c ". /checks/pid1.sh""#;
        boot("pid1-cmdline", &initrd.write("pid1-cmdline"), append, LIMIT)
    })
}

fn pid1_args_file() -> &'static Boot {
    static BOOT: OnceLock<Boot> = OnceLock::new();
    BOOT.get_or_init(|| {
        let args = "-vv\n--on-exit\nreboot\n-m\n/rootfs\n--\n/bin/sh\n-c\necho BARCO-VM PASS args-file/ran; exit 3\n";
        // No /dev/console of our own; the kernel's built-in initramfs has one.
        let initrd = image().dir("etc/barco").file("etc/barco/args", 0o644, args.as_bytes());
        boot("pid1-args-file", &initrd.write("pid1-args-file"), "rdinit=/barco", LIMIT)
    })
}

fn pid1_halt() -> &'static Boot {
    static BOOT: OnceLock<Boot> = OnceLock::new();
    BOOT.get_or_init(|| {
        let append = "rdinit=/barco -- --on-exit halt -m /rootfs -- /bin/true";
        boot_until("pid1-halt", &image().console().write("pid1-halt"), append, LIMIT, Some("reboot: System halted"))
    })
}

/// Asserts every `stage/name` passed, naming all that did not.
fn assert_all(boot: &Boot, stage: &str, names: &[&str]) {
    let failed: Vec<String> = names
        .iter()
        .filter_map(|n| boot.result(&format!("{stage}/{n}")).err().map(|why| format!("  {stage}/{n}: {why}")))
        .collect();
    assert!(
        failed.is_empty(),
        "{}: failed scenarios:\n{}\n--- console tail ---\n{}",
        boot.name,
        failed.join("\n"),
        boot.tail()
    );
}

const CORE: &[&str] = &[
    "pid-1",
    "hostname",
    "hostname-chosen",
    "ids-and-maps",
    "uid-1000",
    "mounts",
    "environment",
    "workdir",
    "cgroup-namespace",
    "no-host-process",
    "exit-42",
    "not-executable",
    "not-found",
    "bad-rootfs",
    "sigterm-forwarded",
    "killed-137",
    "no-leftover-processes",
];

const LOCKDOWN: &[&str] =
    &["lockdown-status", "lockdown-syscalls", "lockdown-int80", "lockdown-fds", "lockdown-proc", "lockdown-no-mount"];

const CGROUP: &[&str] = &[
    "cgroup-limits",
    "cgroup-born-inside",
    "cgroup-removed",
    "cgroup-intruder-killed",
    "cgroup-pid-1-reused",
    "cgroup-pid-1-held-refused",
    "cgroup-pid-1-concurrent",
    "cgroup-seed-defaults",
    "cgroup-oom",
    "cgroup-fork-bomb",
    "cgroup-concurrent",
    "cgroup-stale-removed",
    "cgroup-from-a-busy-cgroup",
];

const INIT: &[&str] = &["init-pid-2", "init-status", "init-killed", "init-exe", "init-reaps", "init-sigterm"];

#[test]
fn core_run_on_cgroup2_from_the_initramfs_root() {
    assert_all(suite(), "initramfs", CORE);
}

#[test]
fn core_run_on_cgroup2_after_pivot_root() {
    assert_all(suite(), "tmpfs", CORE);
}

#[test]
fn lockdown_in_the_vm() {
    assert_all(suite(), "initramfs", LOCKDOWN);
    assert_all(suite(), "tmpfs", LOCKDOWN);
}

#[test]
fn cgroup_v2_limits_in_the_vm() {
    assert_all(suite(), "initramfs", CGROUP);
    assert_all(suite(), "tmpfs", CGROUP);
}

#[test]
fn loopback_is_up_in_the_vm() {
    assert_all(suite(), "initramfs", &["net-lo-up", "net-ping"]);
    assert_all(suite(), "tmpfs", &["net-lo-up", "net-ping"]);
}

#[test]
fn veth_in_the_vm() {
    let names = [
        "net-veth",
        "net-veth-gone",
        "net-veth-from-host",
        "net-builder-lo",
        "net-builder-veth",
        "net-builder-veth-gone",
    ];
    assert_all(suite(), "initramfs", &["net-veth-no-driver"]);
    assert_all(suite(), "initramfs", &names);
    assert_all(suite(), "tmpfs", &names);
}

#[test]
fn rootless_in_the_vm() {
    // As uid 1000: ids, lockdown, loopback, a delegated cgroup v2 subtree,
    // and the sysctls that turn user namespaces off (Debian's kernel has
    // kernel.unprivileged_userns_clone).
    let names = [
        "rootless-ids",
        "rootless-lockdown",
        "rootless-ping",
        "rootless-no-delegation",
        "rootless-delegated-cgroup",
        "rootless-max-userns",
        "rootless-userns-clone",
    ];
    assert_all(suite(), "initramfs", &names);
    assert_all(suite(), "tmpfs", &names);
}

#[test]
fn init_reaper_in_the_vm() {
    assert_all(suite(), "initramfs", INIT);
    assert_all(suite(), "tmpfs", INIT);
}

#[test]
fn rootfs_on_a_read_only_filesystem_in_the_vm() {
    assert_all(suite(), "initramfs", &["read-only-rootfs"]);
    assert_all(suite(), "tmpfs", &["read-only-rootfs"]);
}

#[test]
fn container_cannot_reach_the_initramfs() {
    // From the initramfs's root barco moves the rootfs over / and chroots;
    // the probe's chroot escape must not reach /INITRAMFS-MARKER or /barco.
    assert_all(suite(), "initramfs", &["confined", "seed-form"]);
    assert_all(suite(), "tmpfs", &["confined", "seed-form"]);
    assert_all(pid1_cmdline(), "pid1", &["confined"]);
}

#[test]
fn suite_runs_to_its_end_with_no_failure() {
    let s = suite();
    s.assert_clean_end();
    s.assert_shows("BARCO-VM DONE");
    let failures: Vec<&str> = s.console.lines().filter(|l| l.starts_with("BARCO-VM FAIL")).collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn barco_as_pid_1_with_arguments_from_the_kernel_command_line() {
    let b = pid1_cmdline();
    assert_all(b, "pid1", &["pid-1", "hostname", "controlling-terminal"]);
    for fs in ["devtmpfs on /dev", "proc on /proc", "sysfs on /sys", "cgroup2 on /sys/fs/cgroup"] {
        b.assert_shows(&format!("mounted {fs}"));
    }
    b.assert_shows("barco: container exited with status 7; powering off");
    b.assert_shows("reboot: Power down");
    b.assert_clean_end();
}

#[test]
fn barco_as_pid_1_with_arguments_from_etc_barco_args() {
    let b = pid1_args_file();
    b.assert_passed("args-file/ran");
    b.assert_shows("barco: container exited with status 3; rebooting");
    b.assert_shows("reboot: Restarting system");
    b.assert_clean_end();
}

#[test]
fn barco_as_pid_1_halts_on_request() {
    let b = pid1_halt();
    b.assert_shows("barco: container exited with status 0; halting");
    b.assert_shows("reboot: System halted");
    b.assert_clean_end();
}
