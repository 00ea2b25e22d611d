//! Runs the built barco as root against a busybox rootfs and checks what the
//! container sees, how barco exits, and that nothing is left behind.

mod harness;

use harness::{alive, barco, bare, children, eventually, finish, kill, read_line, rootfs};
use rustix::process::Signal;
use std::collections::BTreeSet;

#[test]
fn command_is_pid_1_and_sees_no_host_process() {
    let out = barco(["--", "sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"]).run().ok();
    // sh itself and the `ls` and `grep` it forked: nothing from the host.
    assert_eq!(out.lines()[0], "1");
    assert!(out.lines()[1].parse::<u32>().unwrap() <= 3, "{out:?}");
}

#[test]
fn hostname_default_and_chosen() {
    assert_eq!(barco(["hostname"]).run().ok().stdout, "barcontainer\n");
    assert_eq!(barco(["--hostname", "boat", "--", "hostname"]).run().ok().stdout, "boat\n");
}

#[test]
fn uid_gid_and_maps() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: the maps are the user's own ids (tests/rootless.rs)
    }
    let out = barco(["sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map"]).run().ok();
    let words: Vec<Vec<&str>> = out.lines().iter().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(words, [vec!["0"], vec!["0"], vec!["0", "10000", "2000"], vec!["0", "10000", "2000"]]);

    let out = barco(["-u", "1000", "--", "sh", "-c", "id -u; id -g; id -G"]).run().ok();
    assert_eq!(out.lines(), ["1000", "1000", "1000"]);

    let out = barco([
        "--uid-map",
        "0:20000:10",
        "--gid-map",
        "0:30000:5",
        "-u",
        "3",
        "--",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map /proc/self/gid_map",
    ])
    .run()
    .ok();
    let words: Vec<Vec<&str>> = out.lines().iter().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(words, [vec!["3"], vec!["0", "20000", "10"], vec!["0", "30000", "5"]]);
}

#[test]
fn container_root_is_host_uid_10000() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: container root is the user (tests/rootless.rs)
    }
    // Ask the host which uid the container's process has.
    let mut child = barco(["sh", "-c", "echo ready; exec sleep 1000"]).spawn();
    assert_eq!(read_line(&mut child), "ready");
    let pid = children(child.id())[0];
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(uid_line.split_whitespace().collect::<Vec<_>>(), ["Uid:", "10000", "10000", "10000", "10000"]);
    kill(pid, Signal::KILL);
    finish(child).code(137);
}

#[test]
fn mount_table_holds_only_rootfs_proc_dev_and_etc_files() {
    let out = barco(["cat", "/proc/self/mounts"]).run().ok();
    let points: BTreeSet<&str> = out.lines().iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    let core: BTreeSet<&str> = [
        "/",
        "/proc",
        "/dev",
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/pts",
        "/dev/shm",
        // barco's own /etc/hosts and /etc/hostname, bound over the rootfs's.
        "/etc/hosts",
        "/etc/hostname",
    ]
    .into();
    // What barco masks or makes read-only, where this kernel has it.
    let proc_guards: BTreeSet<&str> = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/latency_stats",
        "/proc/acpi",
        "/proc/scsi",
        "/proc/sys",
        "/proc/sysrq-trigger",
        "/proc/irq",
        "/proc/bus",
        "/proc/fs",
    ]
    .into();
    assert!(core.is_subset(&points), "missing: {:?}", core.difference(&points).collect::<Vec<_>>());
    let unexpected: Vec<&&str> = points.iter().filter(|p| !core.contains(*p) && !proc_guards.contains(*p)).collect();
    assert!(unexpected.is_empty(), "unexpected mounts: {unexpected:?}");
    assert!(points.contains("/proc/sys"), "/proc/sys is always made read-only");
    let proc_line = out.lines().into_iter().find(|l| l.starts_with("proc /proc ")).unwrap();
    assert!(proc_line.contains("nosuid,nodev,noexec"), "{proc_line}");
}

#[test]
fn dev_has_the_usual_entries_and_they_work() {
    let out = barco([
        "sh",
        "-c",
        "ls /dev; for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done; \
                      echo x > /dev/null; head -c 5 /dev/zero | wc -c; head -c 5 /dev/urandom | wc -c; \
                      echo y > /dev/full || echo full; echo z > /dev/shm/f && cat /dev/shm/f",
    ])
    .run()
    .ok();
    let lines = out.lines();
    let listing: Vec<&str> = lines[..15].to_vec();
    assert_eq!(
        listing,
        [
            "fd",
            "full",
            "null",
            "ptmx",
            "pts",
            "random",
            "shm",
            "stderr",
            "stdin",
            "stdout",
            "tty",
            "urandom",
            "zero",
            "/proc/self/fd",
            "/proc/self/fd/0",
        ]
    );
    assert_eq!(lines[15..], ["/proc/self/fd/1", "/proc/self/fd/2", "pts/ptmx", "5", "5", "full", "z"]);
}

#[test]
fn environment_is_built_not_inherited() {
    let out = barco(["-e", "A=1", "-e", "B=two words", "env"]).env("TERM", "vt100").run().ok();
    let got: BTreeSet<&str> = out.lines().into_iter().collect();
    let want: BTreeSet<&str> = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/root",
        "HOSTNAME=barcontainer",
        "TERM=vt100",
        "A=1",
        "B=two words",
    ]
    .into();
    assert_eq!(got, want);
    // No TERM here, so none inside; a bare KEY copies the caller's value.
    let out = barco(["-e", "NOT_INHERITED", "env"]).run().ok();
    assert!(!out.stdout.contains("TERM="));
    assert!(out.stdout.contains("NOT_INHERITED=secret\n"));
}

#[test]
fn workdir() {
    assert_eq!(barco(["pwd"]).run().ok().stdout, "/\n");
    assert_eq!(barco(["-w", "/tmp", "--", "pwd"]).run().ok().stdout, "/tmp\n");
    barco(["-w", "/nonexistent", "--", "pwd"])
        .run()
        .code(125)
        .error_line("chdir to workdir /nonexistent: No such file or directory");
}

#[test]
fn exit_codes() {
    assert!(barco(["true"]).run().ok().stderr.is_empty(), "barco is silent by default");
    barco(["sh", "-c", "exit 42"]).run().code(42);
    barco(["/etc/passwd"]).run().code(126).error_line("exec /etc/passwd: Permission denied");
    barco(["/nonexistent"]).run().code(127).error_line("exec /nonexistent: No such file or directory");
    barco(["no-such-command"]).run().code(127).error_line("exec no-such-command: No such file or directory");
    // Found in PATH: the search goes on past directories that lack it.
    barco(["-e", "PATH=/nowhere:/bin", "--", "true"]).run().ok();
}

/// The inode of a namespace, from its `/proc/PID/ns` link (`user:[N]`).
fn ns_inode(link: &str) -> String {
    let target = std::fs::read_link(link).unwrap();
    let target = target.to_str().unwrap();
    target[target.find('[').unwrap() + 1..target.len() - 1].to_string()
}

#[test]
fn the_user_namespace_is_a_child_of_the_hosts_and_owns_none_of_the_others() {
    // As root, the supervisor makes the container's user namespace while
    // the child, as root too, makes its mounts; the child joins it last.
    // So the user namespace is a new child of the host's, and the mount,
    // UTS, IPC, PID, network and cgroup namespaces are the host user
    // namespace's: container root has no capability over them. (Run by a
    // user, clone3 makes the user namespace first, and it owns the others.)
    let mut child = barco(["sh", "-c", "echo ready; exec sleep 1000"]).spawn();
    let _tree = harness::KillTree(child.id());
    assert_eq!(read_line(&mut child), "ready");
    let pid = children(child.id())[0];
    let host = ns_inode("/proc/self/ns/user");
    let out = std::process::Command::new("lsns")
        .args(["-n", "-o", "TYPE,NS,PNS,ONS", "-p", &pid.to_string()])
        .output()
        .expect("running lsns(8)");
    let seen = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows: Vec<Vec<&str>> = seen.lines().map(|l| l.split_whitespace().collect()).collect();
    let user = rows.iter().find(|r| r[0] == "user").unwrap_or_else(|| panic!("no user namespace: {seen}"));
    assert_ne!(user[1], host, "a user namespace of its own: {seen}");
    assert_eq!(user[2], host, "a child of the host's: {seen}");
    let owner = if harness::rootless().is_some() { user[1] } else { &host };
    for kind in ["mnt", "uts", "ipc", "pid", "net", "cgroup"] {
        let row = rows.iter().find(|r| r[0] == kind).unwrap_or_else(|| panic!("no {kind} namespace: {seen}"));
        assert_ne!(row[1], ns_inode(&format!("/proc/self/ns/{kind}")), "a {kind} namespace of its own: {seen}");
        assert_eq!(row[3], owner, "who owns {kind}: {seen}");
    }
    kill(pid, Signal::KILL);
    finish(child).code(128 + 9);
}

#[test]
fn a_user_namespace_that_cannot_be_made_or_handed_over_is_named() {
    if harness::rootless().is_some() {
        return; // clone3 makes a user's user namespace with the child's (tests/rootless.rs)
    }
    // BARCO_SPREAD=0: no network builder, so the supervisor's second
    // clone3 makes the user namespace, and its one sendmsg(2) hands it to
    // the child. strace refuses each; the child, which would wait for the
    // namespace, is stopped, and barco exits 125.
    let run = |fault: &str| {
        let args = ["20", "strace", "-f", "-o", "/dev/null", "-e", fault];
        barco(["true"]).env("BARCO_SPREAD", "0").wrapped("timeout", &args).run()
    };
    run("inject=clone3:error=ENOSPC:when=2")
        .code(125)
        .error_line("making the container's user namespace: No space left");
    run("inject=sendmsg:error=ENOBUFS").code(125).error_line("parent/child channel: No buffer space available");
}

#[test]
fn killed_by_signal_exits_128_plus_n() {
    let mut child = barco(["sh", "-c", "echo ready; exec sleep 1000"]).spawn();
    assert_eq!(read_line(&mut child), "ready");
    let pid = children(child.id())[0];
    kill(pid, Signal::KILL);
    finish(child).code(128 + 9);
}

#[test]
fn signals_are_forwarded_to_the_container() {
    for (sig, name) in [
        (Signal::TERM, "TERM"),
        (Signal::INT, "INT"),
        (Signal::HUP, "HUP"),
        (Signal::USR1, "USR1"),
        (Signal::USR2, "USR2"),
        (Signal::QUIT, "QUIT"),
    ] {
        let script = format!("trap 'echo got {name}; exit 42' {name}; echo ready; while :; do sleep 0.01; done");
        let mut child = barco(["sh", "-c", &script]).spawn();
        assert_eq!(read_line(&mut child), "ready");
        kill(child.id(), sig);
        let out = finish(child).code(42);
        assert_eq!(out.stdout, format!("got {name}\n"));
    }
}

/// The CPUs a process may run on, from /proc/PID/status.
fn cpus_allowed(status: &str) -> &str {
    status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap().trim()
}

#[test]
fn the_command_gets_every_cpu_barco_had() {
    // The supervisor starts its child on another CPU than its own while
    // they both set up (spawn::place_apart); the child must give the
    // command (and --init's reaper) all of barco's back.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let ours = cpus_allowed(&status);
    let several = ours.contains(['-', ',']);
    assert!(several || std::env::var_os("CI").is_none(), "CI has 2 cores; this machine gives the tests {ours}");
    for init in [&[][..], &["--init"]] {
        let script = "cat /proc/1/status; echo ---; cat /proc/self/status";
        let out = barco(init.iter().copied().chain(["sh", "-c", script])).env("BARCO_SPREAD", "1").run().ok();
        let (one, this) = out.stdout.split_once("---").unwrap();
        assert_eq!((cpus_allowed(one), cpus_allowed(this)), (ours, ours), "with {init:?}");
    }
}

#[test]
fn barco_started_with_sigchld_ignored_still_gets_the_status() {
    // An ignored SIGCHLD survives exec, and would have the kernel reap the
    // container before barco could wait for it.
    let keep_ignored = ["-c", "trap '' CHLD; exec \"$0\" \"$@\""];
    let out = barco(["sh", "-c", "exit 3"]).wrapped("bash", &keep_ignored).run();
    assert_eq!(out.code, 3, "{out:#?}");
}

#[test]
fn barco_has_one_child_while_the_container_runs() {
    // As root, the network builder and the user namespace's maker are
    // more children during setup. The builder is reaped before the command
    // runs; the maker's zombie just after the hand-over of its namespace
    // (supervise::make_user_ns), which a loaded machine can delay past the
    // command's first line: so wait a while for one child.
    let mut child = barco(["sh", "-c", "echo ready; exec sleep 1000"]).env("BARCO_SPREAD", "1").spawn();
    assert_eq!(read_line(&mut child), "ready");
    let mut kids = children(child.id());
    for _ in 0..200 {
        if kids.len() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        kids = children(child.id());
    }
    // Stop the run before judging it, so that a failure leaves nothing.
    for &pid in &kids {
        kill(pid, Signal::KILL);
    }
    finish(child).code(137);
    assert_eq!(kids.len(), 1, "barco's children: {kids:?}");
}

#[test]
fn sigkill_of_barco_leaves_no_process() {
    let mut child = barco(["sh", "-c", "sleep 1000 & echo ready; exec sleep 1001"]).spawn();
    assert_eq!(read_line(&mut child), "ready");
    let init = children(child.id())[0];
    let grandchildren = children(init);
    assert_eq!(grandchildren.len(), 1, "the backgrounded sleep");
    kill(child.id(), Signal::KILL);
    child.wait().unwrap();
    eventually("the container's processes to die", || !alive(init) && !alive(grandchildren[0]));
}

#[test]
fn hundred_runs_leave_no_mounts_or_processes() {
    let mounts = || std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let before = mounts();
    let token = "barco-leak-check-7f3a";
    for _ in 0..100 {
        barco(["sh", "-c", "true", token]).run().ok();
    }
    assert_eq!(mounts(), before, "the host's mount table changed");
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c.windows(token.len()).any(|w| w == token.as_bytes()))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(leftovers.is_empty(), "processes left behind: {leftovers:?}");
}

#[test]
fn seed_command_line_gives_a_shell() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: `-m /` has locked mounts beneath it, refused to a user (tests/rootless.rs)
    }
    // The seed's README, verbatim: the host's / as rootfs, /bin/sh, argv[0] ".".
    let out = bare(["-u", "0", "-m", "/", "-c", "/bin/sh", "-a", "."])
        .stdin("echo i am a container; hostname; echo $$; exit\n")
        .run()
        .ok();
    assert_eq!(out.lines(), ["i am a container", "barcontainer", "1"]);
    // Same form on the busybox rootfs: busybox picks its applet from argv[0].
    let out = barco(["-c", "/bin/sh", "-a", "sh"]).stdin("echo hi; exit 3\n").run().code(3);
    assert_eq!(out.stdout, "hi\n");
}

#[test]
fn the_command_starts_in_the_terminals_foreground() {
    // barco hands the terminal to the container's process group before the
    // child may exec (it waits for its user namespace, which comes after):
    // a command that started in the background would stop at its first
    // read of the terminal, and with --init never take the terminal at all.
    // strace holds every ioctl(2) for 0.2 s, barco's TIOCSPGRP among them.
    let line = format!(
        "strace -f -o /dev/null -e inject=ioctl:delay_enter=200000 {} -m {} -- cat /proc/self/stat",
        harness::barco_bin(),
        rootfs().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env_clear()
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running script(1) from util-linux");
    let seen = String::from_utf8_lossy(&out.stdout);
    // pid (comm) state ppid pgrp session tty_nr tpgid ...
    let fields: Vec<&str> = seen.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    assert!(fields.len() > 5, "{seen:?}");
    assert_eq!(fields[2], fields[5], "the process group, and the terminal's foreground group: {seen:?}");
}

#[test]
fn interactive_shell_on_a_terminal() {
    // The seed's interactive form under a real terminal (util-linux's
    // script(1) provides the pty). The shell needs its own process group in
    // the terminal's foreground for job control and Ctrl-C, and the terminal
    // must come back to the caller afterwards: the `read` below would stop
    // with SIGTTIN if barco left it with the container's dead group.
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let line = format!("{} -u 0 -m / -c /bin/sh -a .; echo rc=$?; read line; echo got=$line", harness::barco_bin());
    let mut script = std::process::Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env_clear()
        .env("BARCO_HEAP_AUDIT", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running script(1) from util-linux");
    let cleanup = harness::KillTree(script.id());
    let seen = Arc::new(Mutex::new(String::new()));
    let mut out = script.stdout.take().unwrap();
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n @ 1..) = out.read(&mut buf) {
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut input = script.stdin.take().unwrap();
    let wait_for = |text: &str| eventually(text, || seen.lock().unwrap().contains(text));
    input.write_all(b"echo in$((20+22)); sleep 1000\n").unwrap();
    wait_for("in42");
    // Ctrl-C only once sleep runs: earlier, it would reach the shell alone.
    let script_pid = script.id();
    eventually("sleep 1000 to run", || {
        harness::descendants(script_pid).iter().any(|&p| harness::cmdline(p) == "sleep 1000")
    });
    input.write_all(b"\x03").unwrap();
    input.write_all(b"echo after$((1+1)) $$; exit 5\n").unwrap();
    wait_for("rc=5");
    input.write_all(b"back\n").unwrap();
    wait_for("got=back");
    let status = script.wait().unwrap();
    cleanup.disarm();
    let seen = seen.lock().unwrap().clone();
    assert!(status.success(), "{seen}");
    assert!(seen.contains("after2 1"), "the shell did not survive Ctrl-C: {seen}");
    assert!(!seen.contains("process group"), "job control failed: {seen}");
    assert!(!seen.contains("barco:"), "{seen}");
}

#[test]
fn verbose_shows_the_seeds_transcript() {
    let out = barco(["-v", "true"]).run().ok();
    for step in [
        "initializing socket pair...",
        "initializing container...",
        "writing uid_map and gid_map...",
        "### BARCONTAINER STARTING",
        "so long and thanks for all the fish",
    ] {
        assert!(out.stderr.contains(step), "missing {step:?}: {out:#?}");
    }
    let first = out.stderr.lines().next().unwrap();
    // 22:08:41 INFO  src/supervise.rs:96: initializing socket pair...
    let (time, rest) = first.split_at(8);
    assert!(time.bytes().enumerate().all(|(i, b)| if i % 3 == 2 { b == b':' } else { b.is_ascii_digit() }), "{first}");
    assert!(rest.starts_with(" INFO  src/supervise.rs:"), "{first}");
    assert!(!out.stderr.contains("DEBUG"));
    assert!(barco(["-vv", "true"]).run().ok().stderr.contains("DEBUG"));
}

#[test]
fn heap_audit_runs_in_the_supervisor() {
    // The audit is on in every test run; this shows its result is checked.
    let out = barco(["-vvv", "true"]).run().ok();
    assert!(out.stderr.contains("heap audit: 0 allocations after clone3 in the supervisor"), "{out:#?}");
}

#[test]
fn help_and_version() {
    let out = bare(["--help"]).run().ok();
    for option in [
        "--mnt",
        "--root",
        "--uid",
        "--cmd",
        "--arg",
        "--hostname",
        "--workdir",
        "--env",
        "--uid-map",
        "--gid-map",
        "--verbose",
        "--help",
        "--version",
        "125",
        "126",
        "127",
        "128+N",
    ] {
        assert!(out.stdout.contains(option), "--help does not mention {option}");
    }
    assert_eq!(bare(["-V"]).run().ok().stdout, format!("barco {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn bad_input_is_one_line_and_125() {
    let r = rootfs().to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--frobnicate"], "invalid option '--frobnicate'"),
        (&["-m", r, "--sys=yes"], "unexpected argument for option '--sys': 'yes' (see barco --help)"),
        (&["-m"], "missing value for --root"),
        (&["-m", "--", "sh"], "missing value for --root"),
        (&["true"], "missing -m ROOTFS"),
        (&["-m", "/nonexistent-rootfs"], "rootfs '/nonexistent-rootfs': No such file or directory"),
        (&["-m", "/etc/passwd"], "rootfs '/etc/passwd' is not a directory"),
        (&["-m", r, "-u", "root"], "--uid: 'root' is not a number"),
        (&["-m", r, "-u", "5000"], "--uid 5000 is outside the container uids"),
        (&["-m", r, "--uid-map", "0:1"], "--uid-map: '0:1' is not CONTAINER:HOST:COUNT"),
        (&["-m", r, "--gid-map", "x:1:1"], "--gid-map: 'x:1:1' is not CONTAINER:HOST:COUNT"),
        (&["-m", r, "-e", "=oops"], "--env '=oops': expected KEY=VALUE"),
        (&["-m", r, "-w", "relative"], "--workdir 'relative' must be an absolute path"),
    ];
    for (args, message) in cases {
        // Rootless, the default map is the user's id onto -u: 5000 is fine.
        if harness::rootless().is_some() && args.contains(&"5000") {
            continue;
        }
        bare(args.iter().copied()).run().code(125).error_line(message);
    }
}

/// barco's program headers (elf(5)): each segment's type, file offset and
/// size in the file.
fn segments() -> Vec<(u32, usize, usize)> {
    let elf = std::fs::read(harness::barco_bin()).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "64-bit");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    let header = |i: usize| phoff + i * phentsize;
    (0..phnum)
        .map(|i| {
            let p_type = u32::from_le_bytes(elf[header(i)..][..4].try_into().unwrap());
            (p_type, u64_at(header(i) + 0x08), u64_at(header(i) + 0x20))
        })
        .collect()
}

#[test]
fn binary_is_static() {
    let segments = segments();
    assert!(!segments.is_empty());
    for (p_type, _, _) in segments {
        assert_ne!(p_type, 3, "PT_INTERP: the binary needs a dynamic loader");
        assert_ne!(p_type, 2, "PT_DYNAMIC: the binary has a dynamic section");
    }
}

/// `.cargo/config.toml`'s `-z norelro` and `-z common-page-size=64`: the
/// data segment follows the text in the file, without the padding up to a
/// page boundary that RELRO (3.4 KB here) or ld's page-saving layout adds.
#[test]
fn binary_has_no_padding_between_its_segments() {
    let loads: Vec<_> = segments().into_iter().filter(|s| s.0 == 1).collect();
    assert_eq!(loads.len(), 2, "a text and a data segment: {loads:?}");
    let (text_end, data_start) = (loads[0].1 + loads[0].2, loads[1].1);
    assert!(data_start >= text_end && data_start - text_end < 64, "{} bytes of padding", data_start - text_end);
}

/// `link/no-unwind-tables.ld`: of the unwind tables only the C start files'
/// few bytes are left, and no index or exception tables.
#[test]
fn binary_has_no_unwind_tables() {
    let elf = std::fs::read(harness::barco_bin()).unwrap();
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum, shstrndx) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let header = |i: usize| shoff + i * shentsize;
    let names = u64_at(header(shstrndx) + 0x18);
    let sections: Vec<(String, usize)> = (0..shnum)
        .map(|i| {
            let start = names + u32_at(header(i));
            let len = elf[start..].iter().position(|&b| b == 0).unwrap();
            (String::from_utf8_lossy(&elf[start..start + len]).into_owned(), u64_at(header(i) + 0x20))
        })
        .collect();
    assert!(sections.iter().any(|(name, size)| name == ".text" && *size > 0), "{sections:?}");
    for (name, size) in &sections {
        assert!(!matches!(name.as_str(), ".eh_frame_hdr" | ".gcc_except_table"), "{name} is linked in");
        assert!(name != ".eh_frame" || *size <= 256, ".eh_frame has {size} bytes");
    }
}

/// `src/sys/unwind.rs`: with barco's own unwinder entry points, neither
/// LLVM's libunwind (its messages start "libunwind:") nor std's DWARF
/// symbolizer (which names the sections it reads) is linked.
#[test]
fn binary_has_no_unwinder_or_symbolizer() {
    let elf = std::fs::read(harness::barco_bin()).unwrap();
    for text in [&b"libunwind"[..], b".debug_abbrev", b"addr2line"] {
        let found = elf.windows(text.len()).any(|w| w == text);
        assert!(!found, "barco contains {:?}", String::from_utf8_lossy(text));
    }
}

#[test]
fn container_cannot_climb_out_of_its_root() {
    // The classic chroot escape, from inside, as container root (which has
    // CAP_SYS_CHROOT in its own user namespace). The host's files must stay
    // out of sight.
    let marker = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    assert!(std::path::Path::new(marker).exists());
    let out = barco(["probe", "escape", marker]).run();
    assert!(out.stdout.contains("escape: confined"), "{out:#?}");
    assert_eq!(out.code, 0, "{out:#?}");
}

#[test]
fn init_runs_the_command_as_pid_2() {
    let out =
        barco(["--init", "--", "sh", "-c", "echo $$; cat /proc/1/comm; cat /proc/1/cmdline | tr '\\0' ' '"]).run().ok();
    assert_eq!(out.lines()[0], "2");
    assert_eq!(out.lines()[1], "barco");
    assert!(out.lines()[2].contains("--init"), "{out:#?}");
}

#[test]
fn init_reaps_orphaned_zombies() {
    // The inner sh backgrounds a sleep and exits at once: the sleep is
    // orphaned to PID 1, and must be reaped when it ends.
    let script = "sh -c 'sleep 0.1 & echo orphaned $!'; sleep 1; ps -o pid,ppid,stat,comm";
    let out = barco(["--init", "--", "sh", "-c", script]).run().ok();
    let orphan = out.lines()[0].strip_prefix("orphaned ").unwrap().to_string();
    let table = &out.lines()[1..];
    assert!(table.iter().all(|l| l.split_whitespace().next() != Some(orphan.as_str())), "{out:#?}");
    assert!(table.iter().all(|l| l.split_whitespace().nth(2) != Some("Z")), "a zombie is left: {out:#?}");
}

#[test]
fn init_passes_sigterm_on_and_exits_143() {
    let mut child = barco(["--init", "--", "sh", "-c", "echo ready; exec sleep 1000"]).spawn();
    assert_eq!(read_line(&mut child), "ready");
    kill(child.id(), Signal::TERM);
    finish(child).code(143);
    // Without --init, sleep is PID 1 and has no handler: the kernel drops
    // SIGTERM, and it takes a SIGKILL.
    let mut child = barco(["sh", "-c", "echo ready; exec sleep 1000"]).spawn();
    assert_eq!(read_line(&mut child), "ready");
    let pid = children(child.id())[0];
    kill(child.id(), Signal::TERM);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(alive(pid), "SIGTERM killed a PID 1 without a handler");
    kill(pid, Signal::KILL);
    finish(child).code(137);
}

#[test]
fn init_passes_the_exit_status_through() {
    barco(["--init", "--", "sh", "-c", "exit 42"]).run().code(42);
    barco(["--init", "--", "sh", "-c", "kill -9 $$"]).run().code(137);
    barco(["--init", "--", "/nonexistent"]).run().code(127).error_line("exec /nonexistent: No such file or directory");
    barco(["--init", "--", "/etc/passwd"]).run().code(126).error_line("exec /etc/passwd: Permission denied");
}

#[test]
fn init_reaper_is_not_dumpable() {
    // runc's CVE-2019-5736: a container process must not reach barco's own
    // binary or memory through /proc/1.
    let out = barco(["--init", "--", "probe", "exe"]).run();
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("/proc/1/exe: Permission denied"), "{out:#?}");
}

#[test]
fn rootfs_on_a_read_only_filesystem() {
    // A read-only bind of the test rootfs, in a mount namespace of its own.
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ro-rootfs-mountpoint");
    std::fs::create_dir_all(&target).unwrap();
    let script = format!(
        "mount --bind {r} {t} && mount -o remount,bind,ro {t} && exec \"$0\" \"$@\" -m {t} -- sh -c \
         'touch /x 2>/dev/null && echo writable || echo read-only; hostname; ls /dev/null'",
        r = rootfs().display(),
        t = target.display()
    );
    let out = bare(Vec::<String>::new()).wrapped("unshare", &["-m", "--propagation", "private", "sh", "-c", &script]);
    let out = out.run().ok();
    assert_eq!(out.lines(), ["read-only", "barcontainer", "/dev/null"]);
}

#[test]
fn pid_1_of_a_pid_namespace_exits_with_the_status() {
    // barco as PID 1, but not the machine's: it prepares and reaps as an
    // init, then exits (reboot(2) would only end the namespace).
    let r = rootfs().to_str().unwrap().to_string();
    // No cgroup: PID 1 is always named `1`, and other tests' PID 1s run
    // from the same cgroup (see `Pid1Home`).
    let out = bare(["--cgroup", "none", "-m", &r, "--", "sh", "-c", "echo inside; exit 3"])
        .wrapped("unshare", &["-p", "-f", "-m", "--mount-proc"])
        .run()
        .code(3);
    assert_eq!(out.stdout, "inside\n");
    assert!(!out.stderr.contains("powering off"), "{out:#?}");
}

#[test]
fn a_proc_of_another_pid_namespace_is_named_in_the_error() {
    // `unshare -p -f` without --mount-proc: /proc is the parent namespace's,
    // so /proc/PID/uid_map there is not the container's.
    let r = rootfs().to_str().unwrap().to_string();
    bare(["--cgroup", "none", "-m", &r, "--", "true"])
        .wrapped("unshare", &["-p", "-f"])
        .run()
        .code(125)
        .error_line("_map through a /proc of another PID namespace (mount this one's own first");
}

/// CapBnd with barco's default drops (the seed's twenty).
const DEFAULT_CAPBND: u64 = 0x0000_01c0_141c_bfeb;

#[test]
fn lockdown_status_inside() {
    // CapInh and CapAmb empty, the bounding set, no_new_privs, seccomp.
    barco(["probe", "status", &format!("{DEFAULT_CAPBND:x}")]).run().ok();
    let out = barco(["-u", "1000", "--", "grep", "-E", "Cap(Prm|Eff)", "/proc/self/status"]).run().ok();
    assert_eq!(out.stdout, "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n");
    let out = barco(["grep", "CapEff", "/proc/self/status"]).run().ok();
    assert_eq!(out.stdout, format!("CapEff:\t{DEFAULT_CAPBND:016x}\n"), "root keeps what the bounding set keeps");
}

#[test]
fn cap_add_and_cap_drop() {
    barco(["--cap-drop", "all", "--", "probe", "status", "0"]).run().ok();
    let sys_admin = DEFAULT_CAPBND | 1 << 21;
    barco(["--cap-add", "CAP_SYS_ADMIN", "--", "probe", "status", &format!("{sys_admin:x}")]).run().ok();
    let no_raw = DEFAULT_CAPBND & !(1 << 13);
    barco(["--cap-drop", "net_raw", "--", "probe", "status", &format!("{no_raw:x}")]).run().ok();
    barco(["--cap-drop", "all", "--cap-add", "chown", "--", "probe", "status", "1"]).run().ok();
    barco(["--cap-add", "all", "--", "probe", "status", "1ffffffffff"]).run().ok();
    barco(["--cap-add", "CAP_FLY", "true"]).run().code(125).error_line("--cap-add: 'CAP_FLY' is not a capability");
}

#[test]
fn seccomp_denies_each_call_in_the_kernel() {
    let out = barco(["probe", "syscalls"]).run();
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("ioctl TIOCSTI with high bits: errno 1\n"), "{}", out.stdout);
    assert!(out.stdout.contains("x32 getpid: errno 1\n"), "{}", out.stdout);
    assert!(out.stdout.contains("clone3: errno 38\n"), "{}", out.stdout);
    // The 32-bit ABI is not a way around: the filter kills (SIGSYS, 31).
    let out = barco(["sh", "-c", "probe int80; echo status $?"]).run().ok();
    assert_eq!(out.lines().last(), Some(&"status 159"), "{out:#?}");
    // Without the filter the same calls get the kernel's own answers, so
    // the EPERMs above are the filter's.
    let out = barco(["--seccomp", "none", "--", "probe", "syscalls"]).run().code(1);
    assert!(out.stdout.contains("clone3: errno 22"), "{}", out.stdout);
    assert!(out.stdout.contains("ioctl TIOCSTI with high bits: errno 25"), "{}", out.stdout);
    assert!(out.stderr.contains("--seccomp none: the container runs without a seccomp filter"), "{out:#?}");
}

#[test]
fn seccomp_program_from_a_file() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-bpf");
    std::fs::create_dir_all(&dir).unwrap();
    // ret ALLOW: a filter that is loaded but denies nothing.
    let allow = dir.join("allow.bpf");
    std::fs::write(&allow, [0x06u8, 0, 0, 0, 0, 0, 0xff, 0x7f]).unwrap();
    let out = barco([
        "--seccomp-bpf",
        allow.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "grep ^Seccomp: /proc/self/status; unshare -U true && echo unshared",
    ]);
    assert_eq!(out.run().ok().stdout, "Seccomp:\t2\nunshared\n");
    let bad = dir.join("bad.bpf");
    std::fs::write(&bad, [1u8, 2, 3]).unwrap();
    barco(["--seccomp-bpf", bad.to_str().unwrap(), "true"])
        .run()
        .code(125)
        .error_line("bad.bpf': 3 bytes is not a whole number of 8-byte BPF instructions");
}

#[test]
fn no_new_privs_by_default_and_on_request_not() {
    assert_eq!(barco(["grep", "NoNewPrivs", "/proc/self/status"]).run().ok().stdout, "NoNewPrivs:\t1\n");
    let out = barco([
        "--allow-new-privileges",
        "-u",
        "1000",
        "--",
        "grep",
        "-E",
        "NoNewPrivs|^Seccomp:",
        "/proc/self/status",
    ])
    .run()
    .ok();
    assert_eq!(out.stdout, "NoNewPrivs:\t0\nSeccomp:\t2\n", "the filter still loads, before the uid switch");
    assert!(out.stderr.contains("--allow-new-privileges"), "{out:#?}");
}

#[test]
fn working_directory_and_root_are_inside() {
    barco(["probe", "roots", "/"]).run().ok();
    barco(["-w", "/tmp", "--", "probe", "roots", "/tmp"]).run().ok();
    barco(["--init", "-w", "/tmp", "--", "probe", "roots", "/tmp"]).run().ok();
}

#[test]
fn only_stdio_reaches_the_command() {
    // barco itself inherits descriptor 7 here; the container must not.
    let out = bare(["-m", rootfs().to_str().unwrap(), "--", "probe", "fds"])
        .wrapped("sh", &["-c", "exec 7</dev/null; exec \"$0\" \"$@\""])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("fds: open [0, 1, 2, 3]"), "{out:#?}");
}

#[test]
fn proc_is_masked_and_partly_read_only() {
    let out = barco(["--sys", "--", "probe", "proc"]).run();
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("/proc/sys is read-only"), "{}", out.stdout);
    assert!(out.stdout.contains("/proc/keys is empty"), "{}", out.stdout);
    let out = barco(["sh", "-c", "echo 1 > /proc/sys/kernel/hostname || echo refused; ls /sys | wc -l"]).run().ok();
    assert_eq!(out.lines(), ["refused", "0"], "no /sys without --sys");
    let out =
        barco(["--sys", "--", "sh", "-c", "ls /sys/kernel >/dev/null && touch /sys/x 2>&1 || echo refused"]).run();
    assert!(out.stdout.contains("refused"), "{out:#?}");
}

#[test]
fn container_root_cannot_mount_rename_or_nest() {
    let script = "mount -t tmpfs x /tmp && echo MOUNTED; umount /proc && echo UNMOUNTED; \
                  hostname other && echo RENAMED; unshare -U true && echo NESTED; echo done";
    let out = barco(["sh", "-c", script]).run().ok();
    assert_eq!(out.stdout, "done\n", "{out:#?}");
}

#[test]
fn rootfs_with_a_symlinked_mount_target_is_refused() {
    let r = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/symlink-rootfs");
    let _ = std::fs::remove_dir_all(&r);
    std::fs::create_dir_all(r.join("dev")).unwrap();
    std::os::unix::fs::symlink("/", r.join("proc")).unwrap();
    bare(["-m", r.to_str().unwrap(), "true"]).run().code(125).error_line("/proc is a symlink");
}

/// Where barco puts a container's cgroup in hierarchy `controller` on this
/// (v1 or hybrid) host: `barco-NAME` in barco's own cgroup there, as
/// barco's is the test's.
fn v1_cgroup(controller: &str, name: &str) -> std::path::PathBuf {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let path = own
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.splitn(3, ':').collect();
            f[1].split(',').any(|c| c == controller).then(|| f[2].trim_start_matches('/').to_string())
        })
        .unwrap_or_else(|| panic!("no {controller} hierarchy in {own}"));
    std::path::Path::new("/sys/fs/cgroup").join(controller).join(path).join(format!("barco-{name}"))
}

fn on_cgroup_v1() -> bool {
    rustix::fs::statfs("/sys/fs/cgroup/memory").is_ok_and(|s| s.f_type == 0x27e0eb)
}

#[test]
fn cgroup_limits_are_in_place_while_the_container_runs() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    assert!(on_cgroup_v1(), "the host tests expect a v1 or hybrid host; the VM suite covers cgroup v2");
    let args = ["--name", "limits-test", "--memory", "64M", "--pids", "20", "--cpu-weight", "100", "--cpus", "0.5"];
    let mut child = barco(args.iter().copied().chain(["--", "sh", "-c", "echo ready; exec sleep 1000"])).spawn();
    assert_eq!(read_line(&mut child), "ready");
    let read =
        |c: &str, f: &str| std::fs::read_to_string(v1_cgroup(c, "limits-test").join(f)).unwrap().trim().to_string();
    assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(read("pids", "pids.max"), "20");
    assert_eq!(read("cpu", "cpu.shares"), "2597");
    assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
    let container = children(child.id())[0];
    assert_eq!(read("pids", "cgroup.procs"), container.to_string());
    kill(container, Signal::KILL);
    finish(child).code(137);
    for c in ["memory", "cpu", "pids"] {
        assert!(!v1_cgroup(c, "limits-test").exists(), "{c} cgroup left behind");
    }
}

#[test]
fn a_process_moved_into_the_cgroup_from_outside_is_killed_at_the_end() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    assert!(on_cgroup_v1(), "the host tests expect a v1 or hybrid host; the VM suite covers cgroup v2");
    // The container's processes die with its PID namespace's init, so its
    // cgroup is normally empty at the end, and barco removes it without
    // looking inside. A host process moved in from outside is in no such
    // namespace: barco must find the cgroup busy, kill it, and remove the
    // cgroup all the same. It goes into two of the three hierarchies only:
    // each busy leaf's own list must be read.
    let mut child = barco(["--name", "intruded", "--", "sh", "-c", "echo ready; read x; exit 0"]).stdin_open().spawn();
    assert_eq!(read_line(&mut child), "ready");
    let mut intruder = std::process::Command::new("sleep").arg("1000").spawn().unwrap();
    for c in ["memory", "cpu"] {
        std::fs::write(v1_cgroup(c, "intruded").join("cgroup.procs"), intruder.id().to_string()).unwrap();
    }
    drop(child.stdin.take());
    let out = finish(child);
    // barco has exited: the intruder is dead by now, or never will be.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        match intruder.try_wait().unwrap() {
            None if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(5)),
            None => {
                let _ = intruder.kill();
                let _ = intruder.wait();
                break None;
            }
            done => break done,
        }
    };
    // Whatever barco left, recorded, then removed, so a failure here does
    // not fail the next run on a name in use.
    let left: Vec<&str> = ["memory", "cpu", "pids"].into_iter().filter(|c| v1_cgroup(c, "intruded").exists()).collect();
    for c in &left {
        let _ = std::fs::remove_dir(v1_cgroup(c, "intruded"));
    }
    out.ok();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.and_then(|s| s.signal()), Some(9), "the intruder was not killed");
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}

/// v1 cgroups a test made, `barco-HOME` in each hierarchy (one HOME per
/// test: tests run in parallel), for barco as PID 1 to run from; removed
/// with whatever is left in them when the test ends, passed or failed.
struct Pid1Home(&'static str);

impl Pid1Home {
    const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

    fn new(home: &'static str) -> Pid1Home {
        let h = Pid1Home(home);
        for c in Self::CONTROLLERS {
            std::fs::create_dir(h.dir(c)).unwrap();
        }
        h
    }

    fn dir(&self, c: &str) -> std::path::PathBuf {
        v1_cgroup(c, self.0)
    }

    /// The cgroup barco names `1` when it runs from here.
    fn leaf(&self, c: &str) -> std::path::PathBuf {
        self.dir(c).join("barco-1")
    }

    /// The hierarchies that hold a `barco-1`.
    fn leaves(&self) -> Vec<&'static str> {
        Self::CONTROLLERS.into_iter().filter(|c| self.leaf(c).exists()).collect()
    }

    /// `barco -m ROOTFS ARGS...` run from these cgroups, as PID 1 of a new
    /// PID namespace.
    fn barco(&self, args: &[&str]) -> harness::Run {
        let join: String =
            Self::CONTROLLERS.iter().map(|c| format!("echo $$ > {}/cgroup.procs; ", self.dir(c).display())).collect();
        let script = format!("{join}exec unshare -p -f -m --mount-proc \"$@\"");
        barco(args).wrapped("sh", &["-c", &script, "sh"])
    }
}

impl Drop for Pid1Home {
    fn drop(&mut self) {
        for c in Self::CONTROLLERS {
            let _ = std::fs::remove_dir(self.leaf(c));
            let _ = std::fs::remove_dir(self.dir(c));
        }
    }
}

#[test]
fn a_killed_pid_1_barcos_cgroup_is_reused_by_the_next() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    assert!(on_cgroup_v1(), "the host tests expect a v1 or hybrid host; the VM suite covers cgroup v2");
    // barco as PID 1 of a PID namespace is always named `1`, so a SIGKILLed
    // one leaves barco-1, which no sweep removes (pid 1 is always alive):
    // the next barco-1 must reuse it while it is empty, and refuse it while
    // it holds a process. Both run from a cgroup of their own, so that no
    // other test's PID 1 shares their barco-1.
    let home = Pid1Home::new("pid1-reused");
    let as_pid_1 = |args: &[&str]| home.barco(args);
    let mut first = as_pid_1(&["--", "sh", "-c", "echo ready; exec sleep 1000"]).spawn();
    assert_eq!(read_line(&mut first), "ready");
    kill(children(first.id())[0], Signal::KILL);
    let killed = finish(first);
    let procs = |c: &str| std::fs::read_to_string(home.leaf(c).join("cgroup.procs")).unwrap_or_default();
    eventually("the killed container to leave its cgroup", || {
        Pid1Home::CONTROLLERS.iter().all(|c| procs(c).is_empty())
    });
    assert_eq!(home.leaves().len(), 3, "SIGKILL of barco as PID 1 leaves barco-1 behind: {killed:#?}");
    assert_eq!(as_pid_1(&["--", "sh", "-c", "echo reused"]).run().code(0).stdout, "reused\n");
    assert!(home.leaves().is_empty(), "the reused cgroup was left behind: {:?}", home.leaves());
    // A barco-1 that holds a process is another container's: refused.
    std::fs::create_dir(home.leaf("pids")).unwrap();
    let mut holder = std::process::Command::new("sleep").arg("1000").spawn().unwrap();
    let guard = harness::KillTree(holder.id());
    std::fs::write(home.leaf("pids").join("cgroup.procs"), holder.id().to_string()).unwrap();
    as_pid_1(&["true"]).run().code(125).error_line("a container named '1' is running");
    assert_eq!(home.leaves(), ["pids"], "the refused run removed a cgroup that holds a process");
    let _ = holder.kill();
    let _ = holder.wait();
    guard.disarm();
}

#[test]
fn two_pid_1_barcos_at_once_never_share_their_cgroup() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    assert!(on_cgroup_v1(), "the host tests expect a v1 or hybrid host; the VM suite covers cgroup v2");
    // Two barcos as PID 1 of two PID namespaces, from the same cgroup, are
    // both named `1`. Whichever comes second while the first runs must be
    // refused as a name in use, even while the first's cgroup is still
    // empty (made, not yet joined): never take it over, share it, or have
    // it removed from under the first.
    let home = Pid1Home::new("pid1-pairs");
    let refused = "a container named '1' is running";
    for _ in 0..20 {
        let pair: Vec<std::process::Child> =
            (0..2).map(|_| home.barco(&["--", "sh", "-c", "sleep 0.1; echo done"]).spawn()).collect();
        let outs: Vec<harness::Output> = pair.into_iter().map(finish).collect();
        for out in &outs {
            let ran = out.code == 0 && out.stdout == "done\n" && out.stderr.is_empty();
            let was_refused = out.code == 125 && out.stderr.lines().count() == 1 && out.stderr.contains(refused);
            assert!(ran || was_refused, "{outs:#?}");
        }
        assert!(outs.iter().any(|o| o.code == 0), "both were refused: {outs:#?}");
    }
    assert!(home.leaves().is_empty(), "left behind: {:?}", home.leaves());
}

#[test]
fn a_cgroup_that_cannot_be_claimed_is_an_error_and_removed() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    // With too few descriptors, some step fails: for some limits the claim
    // on one of the leaves (which one, and which limits, depends on the
    // build and what barco opened before). Each failure must be an OS error
    // (for the claim: naming that leaf), never "a container named ... is
    // running", and leave no leaf behind, or the name would be refused from
    // then on.
    let mut claims_failed = 0;
    for limit in 5..=14 {
        let out = barco(["--name", "unclaimed", "true"])
            .wrapped("sh", &["-c", &format!("ulimit -n {limit}; exec \"$@\""), "sh"])
            .run();
        let left: Vec<&str> =
            ["memory", "cpu", "pids"].into_iter().filter(|c| v1_cgroup(c, "unclaimed").exists()).collect();
        for c in &left {
            let _ = std::fs::remove_dir(v1_cgroup(c, "unclaimed"));
        }
        assert!(left.is_empty(), "left behind with {limit} descriptors: {left:?}, {out:#?}");
        if out.code != 0 {
            let out = out.code(125).error_line("Too many open files");
            assert!(!out.stderr.contains("is running"), "{out:#?}");
            claims_failed += usize::from(out.stderr.contains("barco-unclaimed: Too many open files"));
        }
    }
    assert!(claims_failed > 0, "no limit made the claim itself fail");
}

#[test]
fn default_limits_are_the_seeds() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    let mut child = barco(["--name", "defaults-test", "--", "sh", "-c", "echo ready; exec sleep 1000"]).spawn();
    assert_eq!(read_line(&mut child), "ready");
    let read =
        |c: &str, f: &str| std::fs::read_to_string(v1_cgroup(c, "defaults-test").join(f)).unwrap().trim().to_string();
    assert_eq!(read("memory", "memory.limit_in_bytes"), (1u64 << 30).to_string());
    assert_eq!(read("pids", "pids.max"), "64");
    assert_eq!(read("cpu", "cpu.shares"), "6687", "cpu.weight 256");
    kill(children(child.id())[0], Signal::KILL);
    finish(child).code(137);
}

#[test]
fn the_container_is_in_its_cgroup_before_it_runs() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    // The cgroup namespace is rooted where its creator was: "/" inside,
    // while the host sees the process in barco-NAME, means it was there
    // before the container's namespace was made (v2: at clone(); v1: the
    // child joins, then unshares it, before pivot_root).
    let mut child =
        barco(["--name", "first-test", "--", "sh", "-c", "cat /proc/self/cgroup; echo ready; exec sleep 1000"]).spawn();
    let mut inside = Vec::new();
    loop {
        let line = read_line(&mut child);
        if line == "ready" {
            break;
        }
        inside.push(line);
    }
    let container = children(child.id())[0];
    let outside = std::fs::read_to_string(format!("/proc/{container}/cgroup")).unwrap();
    for c in ["memory", "pids", "cpu"] {
        let pick = |text: &str| -> String {
            text.lines()
                .find(|l| l.split(':').nth(1).is_some_and(|list| list.split(',').any(|x| x == c)))
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(pick(&inside.join("\n")), "/", "{c}: {inside:?}");
        assert!(pick(&outside).ends_with("/barco-first-test"), "{c}: {outside}");
    }
    kill(container, Signal::KILL);
    finish(child).code(137);
}

#[test]
fn out_of_memory_is_reported_and_exits_137() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    let out = barco(["--memory", "32M", "--", "sh", "-c", "exec tail -c 100000000 /dev/zero"]).run().code(137);
    assert!(out.stderr.contains("barco: the container ran out of memory (--memory 32M)"), "{out:#?}");
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    // Every process of the bomb forks two more; pids.max stops it, and the
    // container's PID 1 ends it all after a while. PID 1 forks its `sleep`
    // before the bomb: forked after it, while the bomb held every pid, the
    // fork failed and the shell exited 2 ("can't fork") now and then.
    let script = "sleep 1 & s=$!; bomb() { bomb | bomb & }; bomb 2>/dev/null; wait $s; kill -9 -1; echo survived";
    let out = barco(["--pids", "16", "--", "sh", "-c", script]).run().ok();
    assert_eq!(out.stdout, "survived\n");
    assert!(out.stderr.contains("barco: the container hit its process limit (--pids 16)"), "{out:#?}");
}

#[test]
fn twenty_concurrent_containers_each_get_their_own_cgroup() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    let runs: Vec<_> = (0..20).map(|_| barco(["sh", "-c", "echo ready; sleep 0.5"]).spawn()).collect();
    let mut runs: Vec<_> = runs
        .into_iter()
        .map(|mut c| {
            assert_eq!(read_line(&mut c), "ready");
            c
        })
        .collect();
    let names: BTreeSet<String> = runs.iter().map(|c| c.id().to_string()).collect();
    for name in &names {
        assert!(v1_cgroup("pids", name).exists(), "no cgroup for barco {name}");
    }
    for c in runs.drain(..) {
        finish(c).ok();
    }
    for name in &names {
        assert!(!v1_cgroup("pids", name).exists(), "cgroup {name} left behind");
    }
}

#[test]
fn after_sigkill_of_barco_the_next_start_cleans_up() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    let mut child = barco(["sh", "-c", "echo ready; exec sleep 1000"]).spawn();
    assert_eq!(read_line(&mut child), "ready");
    let stale = v1_cgroup("pids", &child.id().to_string());
    let container = children(child.id())[0];
    kill(child.id(), Signal::KILL);
    child.wait().unwrap();
    eventually("the container to die with barco", || !alive(container));
    assert!(stale.exists(), "SIGKILL leaves the cgroup behind");
    barco(["true"]).run().ok();
    assert!(!stale.exists(), "the next barco did not remove {}", stale.display());
}

#[test]
fn cgroup_errors_and_choices() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    barco(["--memory", "lots", "true"]).run().code(125).error_line("--memory: 'lots' is not a size");
    barco(["--cpus", "0", "true"]).run().code(125).error_line("--cpus: '0' is not a number of CPUs");
    barco(["--cpu-weight", "0", "true"])
        .run()
        .code(125)
        .error_line("--cpu-weight: '0' is not a number from 1 to 10000");
    barco(["--pids", "-3", "true"]).run().code(125).error_line("--pids: '-3' is not a number");
    barco(["--name", "a/b", "true"]).run().code(125).error_line("--name 'a/b'");
    // Digits alone are barco's default names, which the stale-cgroup sweep
    // may take for a killed barco's.
    barco(["--name", "4000002", "true"]).run().code(125).error_line("digits alone are kept for barco's default names");
    // --cgroup none: no cgroup at all, so barco's own is the container's.
    let out =
        barco(["--cgroup", "none", "--name", "no-cgroup", "--", "sh", "-c", "echo ready; exec sleep 1000"]).spawn();
    let mut out = out;
    assert_eq!(read_line(&mut out), "ready");
    assert!(!v1_cgroup("pids", "no-cgroup").exists());
    kill(children(out.id())[0], Signal::KILL);
    finish(out).code(137);
    // A name in use is refused while the first container runs.
    let mut first = barco(["--name", "twice", "--", "sh", "-c", "echo ready; exec sleep 1000"]).spawn();
    assert_eq!(read_line(&mut first), "ready");
    barco(["--name", "twice", "true"]).run().code(125).error_line("a container named 'twice' is running");
    assert!(v1_cgroup("pids", "twice").exists(), "the refused run took the running container's cgroup");
    kill(children(first.id())[0], Signal::KILL);
    finish(first).code(137);
    // An empty leaf of a name the user gave is refused too, and kept: only
    // barco's default names, its pid, are taken back when stale.
    let kept = v1_cgroup("pids", "kept");
    std::fs::create_dir(&kept).unwrap();
    let out = barco(["--name", "kept", "true"]).run();
    let still = kept.exists();
    let _ = std::fs::remove_dir(&kept);
    out.code(125).error_line("a container named 'kept' is running");
    assert!(still, "a leaf of a name the user gave was taken back");
}

#[test]
fn a_run_that_shows_no_message_leaves_the_cold_texts_packed() {
    // barco's messages are stored packed and unpacked on first use (see
    // src/cold.rs), which a stage mark reports. A plain run must not pay
    // for that; a failing one shows its message.
    let out = barco(["true"]).env("BARCO_STAGES", "1").run().ok();
    assert!(out.stderr.contains("stage planned at "), "{}", out.stderr);
    assert!(!out.stderr.contains("cold texts unpacked"), "{}", out.stderr);
    let out = barco(["/no/such/command"]).env("BARCO_STAGES", "1").run();
    assert!(out.stderr.contains("cold texts unpacked"), "{}", out.stderr);
    assert!(out.stderr.contains("barco: exec /no/such/command: No such file or directory"), "{}", out.stderr);
    out.code(127);
}

#[test]
fn v1_cgroups_are_made_while_the_child_sets_up() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    assert!(on_cgroup_v1(), "this host's controllers are on v1");
    // The stage marks (BARCO_STAGES=1: the marks of -vvv without its other
    // lines), from both processes, in the order written.
    let out = barco(["true"]).env("BARCO_STAGES", "1").run().ok();
    assert!(out.stderr.lines().all(|l| l.starts_with("stage ")), "{}", out.stderr);
    let at = |stage: &str| {
        out.stderr
            .lines()
            .position(|l| l.starts_with(&format!("stage {stage} at ")))
            .unwrap_or_else(|| panic!("no stage {stage}: {}", out.stderr))
    };
    assert!(at("clone3") < at("cgroup"), "the cgroups are made after the clone");
    assert!(at("cgroup") < at("cgroup joined"), "the child joins once they exist");
    assert!(at("cgroup joined") < at("pivot_root"), "and before pivot_root");
}

#[test]
fn a_v1_cgroup_failing_after_the_clone_leaves_nothing() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    assert!(on_cgroup_v1(), "this host's controllers are on v1");
    // On v1 the supervisor makes the cgroups while the child sets up. Make
    // that fail: barco runs in a cpu cgroup with a 1-CPU quota and asks for
    // 2, which v1 refuses (EINVAL). Every cgroup made so far must go, and
    // the half-built child with them. (barco kills and reaps it; the child
    // would also die soon after barco, of its parent-death signal, so the
    // process check below cannot tell the two apart.)
    let quota = std::path::Path::new("/sys/fs/cgroup/cpu/barco-test-quota");
    let _ = std::fs::remove_dir(quota);
    std::fs::create_dir(quota).unwrap();
    std::fs::write(quota.join("cpu.cfs_quota_us"), "100000").unwrap();
    let out = barco(["--name", "over-quota", "--cpus", "2", "--", "sleep", "1000"])
        .wrapped("sh", &["-c", "echo $$ > /sys/fs/cgroup/cpu/barco-test-quota/tasks && exec \"$@\"", "sh"])
        .run();
    let left: Vec<u32> =
        std::fs::read_to_string(quota.join("cgroup.procs")).unwrap().lines().map(|l| l.parse().unwrap()).collect();
    let leaf = quota.join("barco-over-quota");
    let leaf_existed = leaf.exists();
    let _ = std::fs::remove_dir(&leaf);
    std::fs::remove_dir(quota).unwrap();
    out.code(125)
        .error_line("cgroup /sys/fs/cgroup/cpu/barco-test-quota/barco-over-quota/cpu.cfs_quota_us: Invalid argument");
    assert!(left.is_empty(), "processes left in the cgroup: {left:?}");
    assert!(!leaf_existed, "cpu cgroup left behind");
    for c in ["memory", "pids"] {
        assert!(!v1_cgroup(c, "over-quota").exists(), "{c} cgroup left behind");
    }
}

#[test]
fn a_host_without_cgroups() {
    if harness::rootless().is_some() {
        return; // rootless differs by design: no delegated cgroup on this host (tests/rootless.rs; the VM suite has a delegated subtree)
    }
    // An empty /sys/fs/cgroup in a mount namespace of its own.
    let r = rootfs().to_str().unwrap().to_string();
    let wrap = |extra: &[&str]| {
        let mut args = vec!["-m", r.as_str()];
        args.extend_from_slice(extra);
        args.push("true");
        bare(args).wrapped(
            "unshare",
            &["-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /sys/fs/cgroup && exec \"$0\" \"$@\""],
        )
    };
    let out = wrap(&[]).run().ok();
    assert_eq!(out.stderr.lines().count(), 1, "{out:#?}");
    assert!(out.stderr.contains("WARN") && out.stderr.contains("runs without limits"), "{out:#?}");
    wrap(&["--memory", "1G"]).run().code(125).error_line("limits were asked for, but this host has no cgroup");
}

#[test]
fn init_with_allow_new_privileges() {
    // The filter loads before the uid switch then, and refuses clone3: the
    // reaper forks the command with plain clone instead.
    let out = barco(["--init", "--allow-new-privileges", "--", "sh", "-c", "echo $$"]).run().ok();
    assert_eq!(out.stdout, "2\n");
}

#[test]
fn a_closed_stderr_is_an_error_not_a_sigpipe() {
    // barco ignores SIGPIPE itself (`sys::main`): an error written to a
    // socket whose reader is gone must fail with EPIPE and leave barco to
    // exit with its own status, not kill it.
    use std::os::unix::process::ExitStatusExt;
    let (stderr, reader) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(reader);
    let status = std::process::Command::new(harness::barco_bin())
        .arg("--no-such-option")
        .stderr(std::process::Stdio::from(std::os::fd::OwnedFd::from(stderr)))
        .status()
        .unwrap();
    assert_eq!((status.code(), status.signal()), (Some(125), None), "{status:?}");
}

#[test]
fn help_that_cannot_be_written_is_125() {
    // barco prints with write(2) itself, not std's stdout: a failed write
    // (here ENOSPC) must still be an error, not a silent 0.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let status = std::process::Command::new(harness::barco_bin())
        .arg("--help")
        .stdout(std::process::Stdio::from(full))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(125), "{status:?}");
}

#[test]
fn closed_stdio_is_not_reused_for_barcos_own_descriptors() {
    // barco started with 0 and 2 closed: its channel must not become the
    // command's stdin or stderr. (barco's entry point, `sys::main`, reopens
    // them on /dev/null, as std's runtime would; this guards that.)
    // (busybox's readlink: the probe, a Rust program, would reopen them
    // itself.)
    let script = "probe fds; readlink /proc/self/fd/0; readlink /proc/self/fd/2; head -c 1 | wc -c";
    let out = bare(["-m", rootfs().to_str().unwrap(), "--", "sh", "-c", script])
        .wrapped("sh", &["-c", "exec \"$0\" \"$@\" <&- 2>&-"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("fds: open [0, 1, 2, 3]"), "{out:#?}");
    assert!(out.stdout.contains("\n/dev/null\n/dev/null\n"), "stdin and stderr are not /dev/null: {out:#?}");
    assert!(out.stdout.ends_with("\n0\n"), "stdin is not /dev/null: {out:#?}");
}
