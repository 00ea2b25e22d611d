//! Rootless barco: the same containers for an unprivileged user, run with
//! setpriv(1) as uid and gid 4321 (no account needed), or as the account
//! `barco-rootless` that the subuid test creates. This host's cgroups are
//! hybrid and root's, so a user has no delegated cgroup here; the VM suite
//! covers a delegated cgroup v2 subtree and the sysctls that turn user
//! namespaces off.

mod harness;

use harness::{barco, bare, rootfs, Run};
use std::path::{Path, PathBuf};
use std::process::Command;

const UID: u32 = 4321;

/// `setpriv --reuid=4321 --regid=4321 --clear-groups barco -m ROOTFS ARGS...`
fn user<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    barco(args).wrapped("setpriv", &["--reuid=4321", "--regid=4321", "--clear-groups"])
}

/// The same, without a cgroup, so that stderr holds no warning.
fn quiet(args: &[&str]) -> Run {
    user(["--cgroup", "none"].iter().chain(args))
}

#[test]
fn a_user_gets_a_container_with_its_ids_mapped_onto_root() {
    let out =
        quiet(&["sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map | tr -s ' '; hostname; echo $$"])
            .run()
            .ok();
    assert_eq!(out.stdout, format!("0\n0\n 0 {UID} 1\n 0 {UID} 1\nbarcontainer\n1\n"), "{out:#?}");
    assert_eq!(out.stderr, "", "{out:#?}");
    // -u: the caller's ids map onto that uid and gid instead.
    let out = quiet(&["-u", "1000", "--", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map | tr -s ' '"]).run().ok();
    assert_eq!(out.stdout, format!("1000\n1000\n 1000 {UID} 1\n"));
    // setgroups was denied before gid_map was written.
    assert_eq!(quiet(&["cat", "/proc/self/setgroups"]).run().ok().stdout, "deny\n");
    // Exit statuses as for root.
    quiet(&["sh", "-c", "exit 42"]).run().code(42);
    quiet(&["/nonexistent"]).run().code(127).error_line("exec /nonexistent: No such file or directory");
    quiet(&["/etc/passwd"]).run().code(126).error_line("exec /etc/passwd: Permission denied");
}

#[test]
fn init_and_signals_as_for_root() {
    let out = quiet(&["--init", "--", "sh", "-c", "echo $$; cat /proc/1/comm"]).run().ok();
    assert_eq!(out.stdout, "2\nbarco\n");
    // setpriv execs barco, so the pid is barco's: SIGTERM is forwarded.
    let mut child = quiet(&["sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"]).spawn();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line).unwrap();
    assert_eq!(line, "ready\n");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(42));
}

#[test]
fn the_probe_holds_as_for_root() {
    // The same bounding set, no_new_privs, seccomp, fds, /proc and chroot
    // results as tests/container.rs gets as root.
    for (args, want) in [
        (vec!["probe", "status", "1c0141cbfeb"], ""),
        (vec!["probe", "syscalls"], ""),
        (vec!["probe", "fds"], "fds: open [0, 1, 2, 3]"),
        (vec!["--sys", "--", "probe", "proc"], ""),
        (vec!["probe", "escape", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")], "escape: confined"),
        (vec!["probe", "ping", "127.0.0.1"], "ping: echo reply from 127.0.0.1"),
    ] {
        let out = quiet(&args).run();
        assert_eq!(out.code, 0, "{args:?}: {out:#?}");
        assert!(out.stdout.contains(want), "{args:?}: {out:#?}");
        assert!(!out.stdout.contains("NOT"), "{args:?}: {out:#?}");
    }
    // int 0x80 dies of SIGSYS: 128 + 31.
    assert_eq!(quiet(&["probe", "int80"]).run().code, 159);
    // The mount table is root's: barco's /dev nodes are binds either way.
    let out =
        quiet(&["sh", "-c", "cut -d' ' -f2 /proc/self/mounts | grep -v '^/proc/' | sort | tr '\\n' ' '"]).run().ok();
    assert_eq!(
        out.stdout,
        "/ /dev /dev/full /dev/null /dev/pts /dev/random /dev/shm /dev/tty /dev/urandom /dev/zero /etc/hostname /etc/hosts /proc "
    );
}

/// A copy of the test rootfs owned by the unprivileged user.
struct OwnRootfs(PathBuf);

impl OwnRootfs {
    fn new() -> OwnRootfs {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/rootless-rootfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(Command::new("cp").arg("-a").arg(rootfs()).arg(&dir).status().unwrap().success());
        let owner = format!("{UID}:{UID}");
        assert!(Command::new("chown").args(["-R", &owner]).arg(&dir).status().unwrap().success());
        OwnRootfs(dir)
    }
}

impl Drop for OwnRootfs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_users_files_are_root_s_inside_and_writes_stay_within_its_rights() {
    // A rootfs the user owns: its files are container root's, and writable.
    let own = OwnRootfs::new();
    let out = bare([
        "-m",
        own.0.to_str().unwrap(),
        "--cgroup",
        "none",
        "--",
        "sh",
        "-c",
        "stat -c %u:%g /bin/busybox /etc; touch /etc/made && echo made",
    ])
    .wrapped("setpriv", &["--reuid=4321", "--regid=4321", "--clear-groups"])
    .run()
    .ok();
    assert_eq!(out.stdout, "0:0\n0:0\nmade\n", "{out:#?}");
    let made = std::fs::metadata(own.0.join("etc/made")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&made), UID, "created as the user, on the host");

    // The root-owned test rootfs: nothing of root's is writable, not even
    // to container root; the world-writable /tmp is, as for the user.
    let out = quiet(&["sh", "-c", "stat -c %u /bin/busybox; touch /etc/x 2>&1; (echo y >> /etc/passwd) 2>&1; touch /tmp/rootless-$$ && echo tmp ok && rm /tmp/rootless-$$"])
        .run()
        .ok();
    assert_eq!(
        out.stdout,
        "65534\ntouch: /etc/x: Permission denied\nsh: can't create /etc/passwd: Permission denied\ntmp ok\n",
        "{out:#?}"
    );
    assert!(!rootfs().join("etc/x").exists());
}

#[test]
fn cgroups_networking_and_maps_that_need_root_or_help() {
    // No delegated cgroup here: one warning, and limits asked for refused.
    let out = user(["true"]).run().ok();
    assert_eq!(out.stderr.lines().count(), 1, "{out:#?}");
    assert!(out
        .stderr
        .contains(&format!("barco runs as uid {UID} without a delegated cgroup: the container runs without limits")));
    user(["--memory", "64M", "true"]).run().code(125).error_line(&format!(
        "limits were asked for, but barco runs as uid {UID} and has no cgroup of its own to put them in"
    ));
    quiet(&["--net", "veth", "true"]).run().code(125).error_line("--net veth needs root");
    // A rootfs with mounts beneath it: a user namespace may not bind it
    // without them (they are locked), and barco does not bind recursively.
    bare(["-m", "/", "--cgroup", "none", "true"])
        .wrapped("setpriv", &["--reuid=4321", "--regid=4321", "--clear-groups"])
        .run()
        .code(125)
        .error_line("rootfs '/' has other mounts beneath it, which a user namespace may not leave behind");
    // --net host is fine: no network namespace at all.
    quiet(&["--net", "host", "true"]).run().ok();
    // Ranges beyond the user's own ids need newuidmap and a subuid range.
    quiet(&["--uid-map", "0:100000:65536", "--gid-map", "0:100000:65536", "true"])
        .run()
        .code(125)
        .error_line("need newuidmap and newgidmap (Debian's uidmap package) and ranges for you in /etc/subuid");
}

/// An account of the test's own, with ranges in /etc/subuid and subgid;
/// all of it removed again on drop, however the test ends.
struct Account(&'static str);

impl Account {
    fn new(name: &'static str) -> Account {
        let account = Account(name);
        account.remove();
        let ok = Command::new("useradd").args(["--system", "--no-create-home", "--shell", "/bin/false", name]).status();
        assert!(ok.is_ok_and(|s| s.success()), "useradd {name}");
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            replace(file, &format!("{text}{name}:300000:65536\n"));
        }
        account
    }

    fn remove(&self) {
        let _ = Command::new("userdel").arg(self.0).output();
        let mine = format!("{}:", self.0);
        for file in ["/etc/subuid", "/etc/subgid"] {
            if let Ok(text) = std::fs::read_to_string(file) {
                let kept: String = text.lines().filter(|l| !l.starts_with(&mine)).map(|l| format!("{l}\n")).collect();
                if kept != text {
                    replace(file, &kept);
                }
            }
        }
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Writes a whole file through a temporary one and a rename.
fn replace(file: &str, text: &str) {
    let tmp = format!("{file}.barco-test");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

#[test]
fn ranges_through_newuidmap_with_the_users_subordinate_ids() {
    let account = Account::new("barco-rootless");
    let name = account.0;
    assert!(Path::new("/usr/bin/newuidmap").exists(), "newuidmap is missing: scripts/setup.sh installs uidmap");
    let as_user = ["--reuid", name, "--regid", name, "--clear-groups"];
    let out = barco(["--cgroup", "none", "--uid-map", "0:300000:65536", "--gid-map", "0:300000:65536", "-u", "1000", "--", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map | tr -s ' '; cat /proc/self/setgroups; probe status 1c0141cbfeb >/dev/null && echo held"])
        .wrapped("setpriv", &as_user)
        .run()
        .ok();
    assert_eq!(out.stdout, "1000\n1000\n 0 300000 65536\n 0 300000 65536\nallow\nheld\n", "{out:#?}");
    // A uid range with the user's own gid alone: newgidmap denies
    // setgroups then, and the child keeps the groups it cannot drop.
    let gid = String::from_utf8(Command::new("id").args(["-g", name]).output().unwrap().stdout).unwrap();
    let own_gid = format!("1000:{}:1", gid.trim());
    let out = barco([
        "--cgroup",
        "none",
        "--uid-map",
        "0:300000:65536",
        "--gid-map",
        &own_gid,
        "-u",
        "1000",
        "--",
        "sh",
        "-c",
        "id -u; id -g; cat /proc/self/setgroups",
    ])
    .wrapped("setpriv", &as_user)
    .run()
    .ok();
    assert_eq!(out.stdout, "1000\n1000\ndeny\n", "{out:#?}");
    // A range the user does not own: newuidmap refuses, barco says so.
    let out = barco(["--cgroup", "none", "--uid-map", "0:900000:10", "true"]).wrapped("setpriv", &as_user).run();
    assert_eq!(out.code, 125, "{out:#?}");
    assert!(out.stderr.lines().last().unwrap().contains("writing uid_map /usr/bin/newuidmap"), "{out:#?}");
    // In a PID namespace whose /proc is still the parent's, newuidmap is
    // given a pid that names another process there: barco says why.
    let out = barco(["--cgroup", "none", "--uid-map", "0:300000:65536", "--gid-map", "0:300000:65536", "true"])
        .wrapped("setpriv", &as_user)
        .wrapped("unshare", &["-p", "-f"])
        .run();
    assert_eq!(out.code, 125, "{out:#?}");
    let last = out.stderr.lines().last().unwrap();
    assert!(
        last.contains("writing uid_map through a /proc of another PID namespace (mount this one's own"),
        "{out:#?}"
    );
}

#[test]
fn a_seccomp_filter_around_barco_is_named() {
    // barco inside barco, as uid 1000 of the outer container: the outer
    // filter answers clone3 with ENOSYS, and the inner barco says why.
    let out = barco(["-u", "1000", "--cgroup", "none", "--", "barco", "-m", "/", "--cgroup", "none", "true"]).run();
    assert_eq!(out.code, 125, "{out:#?}");
    assert!(
        out.stderr.contains(
            "barco: clone3 into new namespaces as uid 1000: a seccomp filter around barco (Seccomp: 2 in /proc/self/status) refused the namespaces"
        ),
        "{out:#?}"
    );
}
