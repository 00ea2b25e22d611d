//! `--net none`, `--net host` and `--net veth`, for real, as root. Traffic
//! goes only between the host end of a veth pair these tests create and
//! the container behind it. The subnets are 10.249.0.0/16, which no other
//! test uses; veth's default pool (10.200.0.0/16) is exercised by the
//! concurrent test.

mod harness;

use harness::{barco, bare, probe, rootfs};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip(8)");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A veth pair of the test's own on the host, deleted on drop.
struct HostLink(&'static str);

impl HostLink {
    fn new(name: &'static str) -> HostLink {
        let _ = Command::new("ip").args(["link", "del", name]).output();
        ip(&["link", "add", name, "type", "veth", "peer", "name", &format!("{name}-p")]);
        HostLink(name)
    }
}

impl Drop for HostLink {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", self.0]).output();
    }
}

/// A barco that a failed assertion must not leave running.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `barco ARGS true` under strace's fault injection (`-e inject=...`), in
/// `timeout`: a hang is a failure, not a stuck test.
fn injected(args: &[&str], faults: &[&str]) -> harness::Run {
    let mut strace = vec!["20", "strace", "-f", "-o", "/dev/null"];
    for fault in faults {
        strace.extend(["-e", fault]);
    }
    barco(args.iter().chain(&["true"])).env("BARCO_SPREAD", "1").wrapped("timeout", &strace)
}

#[test]
fn a_network_builder_that_fails_to_hand_over_is_reported_not_waited_for() {
    // The child waits for the builder's namespace; the builder's only
    // sendmsg(2) is the hand-over. Refused, the builder tells the child,
    // which reports it. (With --net veth, the supervisor's own sendmsg, the
    // user namespace's hand-over, waits for the child to be past its
    // network step, which it never is here.)
    let line = "barco: setting up the network: handing its namespace to the container: No buffer space available\n";
    let out = injected(&["--net", "veth", "--name", "handover-1"], &["inject=sendmsg:error=ENOBUFS"]).run().code(125);
    assert_eq!(out.stderr, line);
    // Killed there, it tells nobody: the supervisor sees it go and tells
    // the child in its stead.
    let out = injected(&["--net", "veth", "--name", "handover-2"], &["inject=sendmsg:signal=SIGKILL"]).run().code(125);
    assert_eq!(out.stderr, "barco: setting up the network: its builder ended without handing it over\n");
    // Every send(2) refused (the builder's netlink batch first), it exits
    // without telling: the same. So is the supervisor's message, so it
    // stops the child itself. (Without a cgroup, whose CgroupReady would
    // be refused first.)
    let out = injected(&["--cgroup", "none"], &["inject=sendto:error=ENOBUFS"]).run().code(125);
    assert_eq!(out.stderr, "barco: setting up the network: its builder ended without handing it over\n");
}

#[test]
fn a_network_builder_that_exits_late_is_reaped_while_the_container_runs() {
    // Once the child has exec'd, the supervisor waits for the builder to
    // exit (it has sent the namespace): barco has one child while the
    // container runs, even when the builder's exit lags. strace delays every
    // exit_group(2) by 300 ms, the builder's too.
    let mut child = barco(["sh", "-c", "echo ready; exec sleep 1000"])
        .env("BARCO_SPREAD", "1")
        .wrapped("strace", &["-f", "-o", "/dev/null", "-e", "inject=exit_group:delay_enter=300000"])
        .spawn();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let strace = child.id();
    let barco = harness::children(strace)[0];
    let one_child = || harness::children(barco).len() == 1;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !one_child() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let kids = harness::children(barco);
    for &pid in &kids {
        harness::kill(pid, rustix::process::Signal::KILL);
    }
    let _ = child.wait();
    assert_eq!(kids.len(), 1, "barco's children 5 s after the container started: {kids:?}");
}

#[test]
fn without_the_builder_the_child_configures_the_namespace_clone3_made() {
    // BARCO_SPREAD=0, as when no CPU is idle: the root path of old, with
    // CLONE_NEWNET in the container's clone3. The same network results.
    let script = "ip -o link | cut -d: -f2; ip link show lo | grep -c ',UP'; cat /proc/sys/net/ipv4/ping_group_range";
    let out = barco(["sh", "-c", script]).env("BARCO_SPREAD", "0").run().ok();
    assert_eq!(out.lines()[..2], [" lo", "1"], "{out:#?}");
    let args =
        ["--net", "veth", "--ip", "10.249.11.1/30", "--name", "no-builder", "--", "ip", "-o", "-4", "addr", "show"];
    let out = barco(args).env("BARCO_SPREAD", "0").run().ok();
    assert!(out.stdout.contains("eth0    inet 10.249.11.2/30"), "{out:#?}");
    assert!(!link_exists("bc-no-builder"));
    // One clone3 with CLONE_NEWNET either way: the container's, or the
    // builder's beside it. (And one with CLONE_NEWUSER: the process whose
    // user namespace the supervisor makes for the container.)
    for (spread, clones) in [("0", 2), ("1", 3)] {
        let trace = ["-f", "-qq", "-e", "trace=clone3", "-o", "/dev/stderr"];
        let out = barco(["true"]).env("BARCO_SPREAD", spread).wrapped("strace", &trace).run().ok();
        let calls: Vec<&str> = out.stderr.lines().filter(|l| l.contains("clone3(")).collect();
        assert_eq!(calls.len(), clones, "BARCO_SPREAD={spread}: {calls:#?}");
        assert_eq!(calls.iter().filter(|l| l.contains("CLONE_NEWNET")).count(), 1, "{calls:#?}");
        assert_eq!(calls.iter().filter(|l| l.contains("CLONE_NEWUSER")).count(), 1, "{calls:#?}");
    }
}

#[test]
fn without_the_builder_a_run_failing_after_the_pair_leaves_no_link() {
    // BARCO_SPREAD=0: the child makes the pair itself; failing at its
    // network step's end, or after the step, the pair is barco's to delete.
    let cases: [(&[&str], &str, &str); 2] = [
        (
            &["-P", "/proc/sys/net/ipv4/ping_group_range", "-e", "inject=open,openat:error=EACCES"],
            "pg0",
            "setting up the network: opening net.ipv4.ping_group_range: Permission denied",
        ),
        (&["-e", "inject=pivot_root:error=EINVAL"], "pr0", "pivot_root into "),
    ];
    for (faults, name, line) in cases {
        let mut args = vec!["20", "strace", "-f", "-o", "/dev/null"];
        args.extend(faults);
        barco(["--net", "veth", "--name", name, "true"])
            .env("BARCO_SPREAD", "0")
            .wrapped("timeout", &args)
            .run()
            .code(125)
            .error_line(line);
        assert!(!link_exists(&format!("bc-{name}")), "bc-{name} outlived barco");
    }
}

#[test]
fn net_none_has_only_lo_and_it_is_up() {
    let out = barco(["sh", "-c", "ip -o link | cut -d: -f2; ip link show lo | grep -c ',UP'"]).run().ok();
    assert_eq!(out.lines(), [" lo", "1"], "{out:#?}");
    // iputils-style ping: ICMP over a datagram socket, which
    // net.ipv4.ping_group_range opens to container root.
    let out = barco(["probe", "ping", "127.0.0.1"]).run();
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.stdout, "ping: echo reply from 127.0.0.1\n");
}

#[test]
fn net_host_shares_the_hosts_network() {
    // The host's links by name, but the veth host ends (bc-*) that the
    // other tests make and remove meanwhile.
    let ours = |name: &str| !name.starts_with("bc-");
    let host: std::collections::BTreeSet<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| ours(n))
        .collect();
    let out = barco(["--net", "host", "--", "sh", "-c", "ip -o link | cut -d: -f2 | cut -d@ -f1"]).run().ok();
    let inside: std::collections::BTreeSet<String> =
        out.stdout.lines().map(|l| l.trim().to_string()).filter(|n| ours(n)).collect();
    assert!(host.len() > 1, "{host:?}");
    assert_eq!(inside, host);
    assert!(out.stderr.contains("--net host: the container shares the host's network namespace"), "{out:#?}");
    barco(["--net", "bridge", "true"]).run().code(125).error_line("--net: 'bridge' is not none, host or veth");
}

#[test]
fn etc_hosts_and_hostname_are_barcos_binds_and_the_rootfs_is_untouched() {
    let before = std::fs::read(rootfs().join("etc/hosts")).unwrap();
    let out = barco([
        "--hostname",
        "boat",
        "--",
        "sh",
        "-c",
        "cat /etc/hosts /etc/hostname; grep -c ' /etc/host' /proc/self/mounts",
    ])
    .run()
    .ok();
    assert_eq!(
        out.stdout, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tboat\nboat\n2\n",
        "{out:#?}"
    );
    assert_eq!(std::fs::read(rootfs().join("etc/hosts")).unwrap(), before, "the rootfs's /etc/hosts changed");
    assert_eq!(std::fs::read_to_string(rootfs().join("etc/hostname")).unwrap(), "barcontainer\n");
    // Container root cannot write them: they belong to the host's root.
    let out = barco(["sh", "-c", "echo x >> /etc/hosts && echo WROTE; true"]).run().ok();
    assert!(!out.stdout.contains("WROTE"), "{out:#?}");
}

#[test]
fn the_host_end_has_its_address_before_the_command_runs() {
    // The supervisor gives the host end its address once the child is past
    // its network step, and only then hands over the user namespace, the
    // child's last wait. strace holds the supervisor's fourth socket(2), the
    // host end's netlink socket, for 2.5 s: the command's one ping, which
    // waits 2 s for its reply, must still be answered.
    let args = ["--net", "veth", "--ip", "10.249.13.1/30", "--name", "early", "--", "probe", "ping", "10.249.13.1"];
    let trace = ["-e", "trace=socket,clone3", "-e", "inject=socket:delay_exit=2500000:when=4"];
    let strace = ["20", "strace", "-f", "-qq", "-o", "/dev/stderr"];
    let out = barco(args).env("BARCO_SPREAD", "1").wrapped("timeout", &[&strace[..], &trace[..]].concat()).run().ok();
    assert_eq!(out.stdout, "ping: echo reply from 10.249.13.1\n", "{out:#?}");
    // The call held was that one (planning opens three sockets before it),
    // made after the user namespace was.
    let lines = out.stderr.lines().collect::<Vec<_>>();
    let made = lines.iter().position(|l| l.contains("CLONE_NEWUSER")).expect("the user namespace's clone3");
    let held = lines.iter().position(|l| l.ends_with("(DELAYED)")).expect("a held socket(2)");
    assert!(held > made && lines[held].contains("AF_NETLINK"), "{}", out.stderr);
}

#[test]
fn veth_ping_and_tcp_both_ways_and_the_link_goes_with_the_container() {
    let host = Ipv4Addr::new(10, 249, 7, 1);
    let inside = Ipv4Addr::new(10, 249, 7, 2);
    let script = "ip -o -4 addr show eth0 | awk '{print $4}'; ip route | grep default; grep boat /etc/hosts; \
                  probe ping 10.249.7.1; echo ready; read go; echo hello | nc 10.249.7.1 9001; \
                  echo pong | nc -l -p 9000";
    let args = ["--net", "veth", "--ip", "10.249.7.1/30", "--name", "pingpong", "--hostname", "boat", "--", "sh", "-c"];
    let mut child = Killed(barco(args.into_iter().chain([script])).stdin_open().spawn());
    let child = &mut child.0;
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "barco ended early: {seen:?}");
        if line == "ready\n" {
            break;
        }
        seen.push(line);
    }
    assert_eq!(
        seen,
        [
            "10.249.7.2/30\n",
            "default via 10.249.7.1 dev eth0 \n",
            "10.249.7.2\tboat\n",
            "ping: echo reply from 10.249.7.1\n"
        ]
    );
    // The host end is there, named after the container, with its address.
    assert!(link_exists("bc-pingpong"));
    // Host to container.
    let ping = Command::new(probe()).args(["ping", "10.249.7.2"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&ping.stdout), "ping: echo reply from 10.249.7.2\n");
    // Container to host over TCP: the container's nc connects to us.
    let listener = TcpListener::bind(SocketAddrV4::new(host, 9001)).unwrap();
    stdin.write_all(b"go\n").unwrap();
    let (mut conn, from) = listener.accept().unwrap();
    assert_eq!(from.ip(), inside);
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "hello\n");
    // busybox nc waits for our side to close before it exits.
    drop(conn);
    // Host to container over TCP: the container's nc listens.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conn = loop {
        match TcpStream::connect_timeout(&SocketAddrV4::new(inside, 9000).into(), Duration::from_secs(1)) {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("connecting to the container: {e}"),
        }
    };
    let mut got = String::new();
    conn.read_to_string(&mut got).unwrap();
    assert_eq!(got, "pong\n");
    drop(conn);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!link_exists("bc-pingpong"), "the host end outlived barco");
}

#[test]
fn ten_concurrent_veth_containers_get_their_own_links_and_subnets() {
    let names: Vec<String> = (0..10).map(|i| format!("conc{i}")).collect();
    let children: Vec<_> = names
        .iter()
        .map(|n| {
            barco([
                "--net",
                "veth",
                "--name",
                n.as_str(),
                "--",
                "sh",
                "-c",
                "ip -o -4 addr show eth0 | awk '{print $4}'; sleep 1",
            ])
            .spawn()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut addresses = Vec::new();
    for (name, child) in names.iter().zip(children) {
        let out = harness::finish(child).ok();
        addresses.push(out.stdout.trim().to_string());
        assert!(!link_exists(&format!("bc-{name}")), "bc-{name} left behind");
    }
    let mut distinct = addresses.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "{addresses:?}");
    for a in &addresses {
        assert!(a.starts_with("10.200.") && a.ends_with("/30"), "{a}");
    }
}

#[test]
fn veth_errors() {
    for (ip, why) in [
        ("10.249.8.0/30", "network address"),
        ("10.249.8.3/30", "broadcast address"),
        ("10.249.8.1/32", "8 to 31"),
        ("10.249.8.1", "not ADDRESS/PREFIX"),
        ("fd00::1/64", "IPv6 is not supported"),
    ] {
        barco(["--net", "veth", "--ip", ip, "true"]).run().code(125).error_line(why);
    }
    barco(["--ip", "10.249.8.1/30", "true"]).run().code(125).error_line("--ip needs --net veth");
    barco(["--net", "veth", "--name", "much-too-long", "true"]).run().code(125).error_line("longer than 15 bytes");

    // A name the host already has.
    let taken = HostLink::new("bc-taken");
    barco(["--net", "veth", "--name", "taken", "true"])
        .run()
        .code(125)
        .error_line("the host already has an interface named 'bc-taken'; choose another --name");
    // An address the host already has, and a subnet it already reaches.
    ip(&["addr", "add", "10.249.9.1/30", "dev", "bc-taken"]);
    ip(&["link", "set", "bc-taken", "up"]);
    ip(&["link", "set", "bc-taken-p", "up"]);
    barco(["--net", "veth", "--ip", "10.249.9.1/30", "true"])
        .run()
        .code(125)
        .error_line("--ip 10.249.9.1/30: the host already reaches 10.249.9.1 as one of its own addresses");
    barco(["--net", "veth", "--ip", "10.249.9.2/30", "true"])
        .run()
        .code(125)
        .error_line("the host already reaches 10.249.9.2 through one of its interfaces (a subnet in use)");
    drop(taken);

    // A setup that fails after the pair was made leaves no link either.
    barco(["--net", "veth", "--name", "late-fail", "-w", "/nonexistent", "true"])
        .run()
        .code(125)
        .error_line("chdir to workdir /nonexistent");
    assert!(!link_exists("bc-late-fail"), "the host end outlived a failed setup");

    // As root, barco's network builder makes the pair while the child
    // builds its mounts (spawn::Builder): a child that fails there, before
    // it joins the namespace, leaves no link either.
    let r = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dev-file-rootfs");
    let _ = std::fs::remove_dir_all(&r);
    std::fs::create_dir_all(r.join("proc")).unwrap();
    std::fs::write(r.join("dev"), "not a directory").unwrap();
    for _ in 0..5 {
        bare(["-m", r.to_str().unwrap(), "--net", "veth", "--name", "early-fail", "true"])
            .env("BARCO_SPREAD", "1")
            .run()
            .code(125)
            .error_line("refusing a symlink in the rootfs: /dev: Not a directory");
        assert!(!link_exists("bc-early-fail"), "the builder's pair outlived a setup that failed before using it");
    }

    // A subnet another barco holds.
    let first = barco(["--net", "veth", "--ip", "10.249.10.1/30", "--", "sh", "-c", "echo up; sleep 1"]);
    let mut first = Killed(first.spawn());
    let first = &mut first.0;
    let mut line = String::new();
    BufReader::new(first.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "up\n");
    barco(["--net", "veth", "--ip", "10.249.10.2/30", "true"])
        .run()
        .code(125)
        .error_line("--ip 10.249.10.2/30: another barco container is using 10.249.10.0/30");
    assert!(first.wait().unwrap().success());
    // Free again once it has ended.
    barco(["--net", "veth", "--ip", "10.249.10.2/30", "true"]).run().ok();
}
