//! A small builder for running the built barco binary against the test
//! rootfs, after just's `tests/test.rs`.
//!
//! Every run sets `BARCO_HEAP_AUDIT=1`, so every scenario, error paths
//! included, also checks that nothing allocated after `clone3`.

#![allow(dead_code)]

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The barco under test: cargo's build, or `BARCO_BIN` (`just tiny-test`
/// runs the same tests against the nightly size-optimised build).
pub fn barco_bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| std::env::var("BARCO_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_barco").to_string()))
}

/// `BARCO_TEST_AS=UID`: every barco the tests start runs as that user,
/// through setpriv (`just test` runs tests/container.rs so a second time).
/// The tests that differ by design when barco is not root say so and
/// return early; tests/rootless.rs checks what they do instead.
pub fn rootless() -> Option<u32> {
    std::env::var("BARCO_TEST_AS").ok().and_then(|u| u.parse().ok())
}

/// Generous: a container here starts in milliseconds. Only a hang hits it.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The probe program (`tests/probe/probe.rs`), which `cargo test` builds as
/// an example beside barco.
pub fn probe() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_barco")).parent().unwrap().join("examples/probe");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/probe.rs");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    // `cargo test --test NAME` builds no examples: refuse a stale probe.
    assert!(
        modified(&path) >= modified(&source),
        "{} is missing or older than its source: run `cargo test` (which builds examples) or `cargo build --release --examples`",
        path.display()
    );
    path
}

/// The busybox rootfs the tests run in, built once per test process with
/// the project's own script, with the probe as `/usr/local/bin/probe` and
/// barco as `/usr/local/bin/barco`.
pub fn rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        assert!(is_root(), "barco's integration tests run containers and must run as root");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-rootfs");
        // etc/hosts: rootfs built before barco bound /etc/hosts lack it.
        if !dir.join("bin/busybox").exists() || !dir.join("etc/hosts").exists() {
            let status = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mkrootfs.sh"))
                .arg(&dir)
                .status()
                .expect("running scripts/mkrootfs.sh");
            assert!(status.success(), "scripts/mkrootfs.sh failed (is busybox-static installed?)");
        }
        // Copied and renamed, so that a container never sees half a file.
        let bin = dir.join("usr/local/bin");
        std::fs::create_dir_all(&bin).unwrap();
        let tmp = bin.join(format!(".probe.{}", std::process::id()));
        std::fs::copy(probe(), &tmp).unwrap();
        std::fs::rename(&tmp, bin.join("probe")).unwrap();
        // barco itself, for barco inside barco (a seccomp filter around it).
        std::fs::copy(barco_bin(), &tmp).unwrap();
        std::fs::rename(&tmp, bin.join("barco")).unwrap();
        dir
    })
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(self) -> Output {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    pub fn code(self, code: i32) -> Output {
        assert_eq!(self.code, code, "unexpected exit status: {self:#?}");
        self
    }

    /// Exactly one line on stderr, and it contains `text`.
    pub fn error_line(self, text: &str) -> Output {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one error line: {self:#?}");
        assert!(lines[0].starts_with("barco: "), "error line lacks the barco: prefix: {self:#?}");
        assert!(lines[0].contains(text), "expected {text:?} in the error: {self:#?}");
        self
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// A barco invocation being put together.
pub struct Run {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

/// `barco -m ROOTFS ARGS...`
pub fn barco<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut r = bare(["-m".into(), rootfs().as_os_str().to_owned()]);
    r.cmd.args(args.into_iter().map(Into::into));
    r
}

/// `barco ARGS...`, without `-m`.
pub fn bare<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut cmd = match rootless() {
        // setpriv execs barco, so the pid the tests signal is barco's.
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([&format!("--reuid={uid}"), &format!("--regid={uid}"), "--clear-groups", barco_bin()]);
            // No delegated cgroup here: without this, every run warns.
            c.args(["--cgroup", "none"]);
            c
        }
        None => Command::new(barco_bin()),
    };
    cmd.args(args.into_iter().map(Into::into));
    cmd.env_clear().env("BARCO_HEAP_AUDIT", "1").env("NOT_INHERITED", "secret");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    Run { cmd, stdin: None }
}

impl Run {
    pub fn env(mut self, key: &str, value: &str) -> Run {
        self.cmd.env(key, value);
        self
    }

    pub fn stdin(mut self, input: &str) -> Run {
        self.stdin = Some(input.as_bytes().to_vec());
        self.cmd.stdin(Stdio::piped());
        self
    }

    /// A pipe for stdin that the test writes to and closes itself.
    pub fn stdin_open(mut self) -> Run {
        self.cmd.stdin(Stdio::piped());
        self
    }

    /// Wraps the invocation: `PROGRAM ARGS... barco ...`.
    pub fn wrapped(mut self, program: &str, args: &[&str]) -> Run {
        let mut cmd = Command::new(program);
        cmd.args(args).arg(self.cmd.get_program()).args(self.cmd.get_args());
        cmd.env_clear();
        for (k, v) in self.cmd.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if self.stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        self.cmd = cmd;
        self
    }

    pub fn spawn(mut self) -> Child {
        let mut child = self.cmd.spawn().expect("spawning barco");
        if let Some(input) = self.stdin.take() {
            use std::io::Write;
            let mut w = child.stdin.take().unwrap();
            w.write_all(&input).unwrap();
        }
        child
    }

    pub fn run(self) -> Output {
        finish(self.spawn())
    }
}

/// Waits for a spawned barco (killing it after [`TIMEOUT`]) and collects
/// its output.
pub fn finish(mut child: Child) -> Output {
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).ok();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).ok();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > TIMEOUT {
            child.kill().ok();
            panic!("barco did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = Output {
        code: status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        }),
        stdout: reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    assert!(!output.stderr.contains("barco: heap audit"), "barco allocated after clone3: {output:#?}");
    output
}

/// Polls `cond` until it holds; panics after [`TIMEOUT`].
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The pids of `pid`'s children, from /proc.
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Every descendant of `pid`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut all = Vec::new();
    for c in children(pid) {
        all.push(c);
        all.extend(descendants(c));
    }
    all
}

/// A process's command line, its arguments joined by spaces.
pub fn cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw).trim_end_matches('\0').replace('\0', " ")
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

pub fn kill(pid: u32, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, sig).unwrap();
}

/// Reads one line from a running barco's stdout.
pub fn read_line(child: &mut Child) -> String {
    let out = child.stdout.as_mut().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8];
    while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// SIGKILLs a process and all its descendants when dropped, so that a
/// failing test leaves nothing running.
pub struct KillTree(pub u32);

impl KillTree {
    /// The process was reaped: its pid may be reused, so kill nothing.
    pub fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for KillTree {
    fn drop(&mut self) {
        let mut all = descendants(self.0);
        all.push(self.0);
        for pid in all {
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}
