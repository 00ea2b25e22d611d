//! Seed-style log lines (`22:08:41 INFO  src/supervise.rs:96: message`) on
//! stderr, formatted into a stack buffer and written with one `write(2)`.
//!
//! The format is rxi's log.c, which the seed uses; timestamps are UTC. Colour
//! is used only when stderr is a terminal and `NO_COLOR` is unset. Nothing
//! here allocates, so the child may log after `clone3`.

use crate::packed;
use core::fmt::{self, Write as _};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warn = 0,
    Info = 1,
    Debug = 2,
    Trace = 3,
}

impl Level {
    /// The name, padded to five columns. Each level's name, and its colour,
    /// is five bytes of one string: no table of pointers, and no padding
    /// to format.
    fn name(self) -> &'static str {
        let at = self as usize * 5;
        &"WARN INFO DEBUGTRACE"[at..at + 5]
    }
    fn color(self) -> &'static str {
        let at = self as usize * 5;
        &"\x1b[33m\x1b[32m\x1b[36m\x1b[94m"[at..at + 5]
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Warn as u8);
static COLOR: AtomicBool = AtomicBool::new(false);
static STAGES: AtomicBool = AtomicBool::new(false);

/// Sets the threshold from the number of `-v` flags: warnings by default,
/// then info, debug and trace. (Errors are not log lines: the one error that
/// ends a run is printed by `Error::report`.) `stages`: the stage marks
/// alone, without the other lines of `-vvv` and their cost
/// (`BARCO_STAGES=1`, for `just bench`).
pub fn init(verbosity: u8, color: bool, stages: bool) {
    let level = (Level::Warn as u8).saturating_add(verbosity).min(Level::Trace as u8);
    LEVEL.store(level, Relaxed);
    COLOR.store(color, Relaxed);
    STAGES.store(stages || level == Level::Trace as u8, Relaxed);
}

#[inline]
pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Relaxed)
}

/// A fixed-size line buffer; text past its end is dropped, never allocated.
struct Line {
    buf: [u8; 1024],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line { buf: [0; 1024], len: 0 }
    }
    fn finish(&mut self) -> &[u8] {
        if self.len == self.buf.len() {
            self.len -= 1;
        }
        self.buf[self.len] = b'\n';
        &self.buf[..=self.len]
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

fn write_stderr(bytes: &[u8]) {
    // Logging must never fail a run; a closed stderr just loses the line.
    let _ = rustix::io::write(rustix::stdio::stderr(), bytes);
}

/// A log call's level, source file and line in one number: the level in
/// the low two bits, then the file's number in [`FILES`]. One argument to
/// set up at each call instead of four (the level, the line, and the file
/// name's pointer and length: 0.4 KB of `just tiny` over the calls).
#[derive(Clone, Copy)]
pub struct Site(u32);

/// The source files that log, by number (four bits of a [`Site`]), packed
/// (see `packed`). A file that logs must be listed: [`Site::new`] fails
/// the build if not.
const FILE_NAMES: [&str; 8] = [
    "src/cgroup.rs",
    "src/child.rs",
    "src/machine.rs",
    "src/main.rs",
    "src/net.rs",
    "src/plan.rs",
    "src/rootfs.rs",
    "src/supervise.rs",
];
const FILES: [u8; packed::len(&FILE_NAMES)] = packed::pack(&FILE_NAMES);
const _: () = assert!(FILE_NAMES.len() <= 16);

impl Site {
    /// For the macros, in a `const` block.
    pub const fn new(level: Level, file: &str, line: u32) -> Site {
        let Some(n) = packed::index(&FILE_NAMES, file) else {
            panic!("a file that logs must be listed in log::FILE_NAMES")
        };
        Site(line << 6 | (n as u32) << 2 | level as u32)
    }
    fn level(self) -> Level {
        match self.0 & 3 {
            0 => Level::Warn,
            1 => Level::Info,
            2 => Level::Debug,
            _ => Level::Trace,
        }
    }
    fn file(self) -> &'static str {
        packed::nth(&FILES, (self.0 >> 2 & 15) as usize).unwrap_or_default()
    }
    fn line(self) -> u32 {
        self.0 >> 6
    }
}

/// Writes one log line if its level is enabled. Use the macros instead.
pub fn emit(site: Site, args: fmt::Arguments<'_>) {
    let (level, file, line) = (site.level(), site.file(), site.line());
    if !enabled(level) {
        return;
    }
    let mut out = Line::new();
    let secs = crate::sys::clock_gettime(linux_raw_sys::general::CLOCK_REALTIME).0.rem_euclid(86_400);
    let _ = write!(out, "{:02}:{:02}:{:02} ", secs / 3600, secs / 60 % 60, secs % 60);
    let _ = if COLOR.load(Relaxed) {
        write!(out, "{}{}\x1b[0m \x1b[90m{file}:{line}:\x1b[0m ", level.color(), level.name())
    } else {
        write!(out, "{} {file}:{line}: ", level.name())
    };
    let _ = out.write_fmt(args);
    write_stderr(out.finish());
}

/// At trace level or with `BARCO_STAGES=1`, one `stage NAME at N us` line
/// with the monotonic clock in microseconds, for `just bench`'s per-stage
/// breakdown. Costs one atomic load when off. No heap: the child calls it
/// too.
pub fn stage(name: &str) {
    if STAGES.load(Relaxed) {
        let (secs, nanos) = crate::sys::clock_gettime(linux_raw_sys::general::CLOCK_MONOTONIC);
        let us = secs as u64 * 1_000_000 + nanos as u64 / 1000;
        line(format_args!("stage {name} at {us} us"));
    }
}

/// `n` in decimal, in `buf`, without allocating.
pub fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Writes one plain line to stderr (used for the final error message).
pub fn line(args: fmt::Arguments<'_>) {
    let mut out = Line::new();
    let _ = out.write_fmt(args);
    write_stderr(out.finish());
}

macro_rules! log_at {
    // A format string alone (its arguments, if any, are names it captures)
    // has nothing to evaluate before the check, so `emit` makes it: one
    // check instead of one at each such call (0.3 KB of `just tiny`).
    ($level:expr, $fmt:literal) => {
        $crate::log::emit(const { $crate::log::Site::new($level, file!(), line!()) }, format_args!($fmt))
    };
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::emit(const { $crate::log::Site::new($level, file!(), line!()) }, format_args!($($arg)*))
        }
    };
}
#[allow(unused_macros)]
macro_rules! warning { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Warn, $($arg)*) }; }
macro_rules! info { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Info, $($arg)*) }; }
macro_rules! debug { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Debug, $($arg)*) }; }
macro_rules! trace { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Trace, $($arg)*) }; }
#[allow(unused_imports)]
pub(crate) use {debug, info, log_at, trace, warning};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_truncated_not_grown() {
        let mut l = Line::new();
        for _ in 0..200 {
            let _ = l.write_str("0123456789");
        }
        let out = l.finish();
        assert_eq!(out.len(), 1024);
        assert_eq!(out[1023], b'\n');
    }

    #[test]
    fn levels_are_named_in_five_columns() {
        let named = [Level::Warn, Level::Info, Level::Debug, Level::Trace].map(|l| (l.name(), l.color()));
        assert_eq!(named, [("WARN ", "\x1b[33m"), ("INFO ", "\x1b[32m"), ("DEBUG", "\x1b[36m"), ("TRACE", "\x1b[94m")]);
    }

    #[test]
    fn a_site_keeps_its_level_file_and_line() {
        for level in [Level::Warn, Level::Info, Level::Debug, Level::Trace] {
            for file in FILE_NAMES {
                let site = Site::new(level, file, 4321);
                assert!(site.level() == level && site.file() == file && site.line() == 4321);
            }
        }
    }

    #[test]
    fn decimals() {
        let mut b = [0; 10];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(4194304, &mut b), b"4194304");
        assert_eq!(decimal(u32::MAX, &mut b), b"4294967295");
    }

    #[test]
    fn verbosity_raises_the_threshold() {
        init(0, false, false);
        assert!(enabled(Level::Warn) && !enabled(Level::Info) && !STAGES.load(Relaxed));
        init(1, false, false);
        assert!(enabled(Level::Info) && !enabled(Level::Debug));
        init(9, false, false);
        assert!(enabled(Level::Trace) && STAGES.load(Relaxed), "-vvv shows the stage marks");
        init(0, false, true);
        assert!(!enabled(Level::Info) && STAGES.load(Relaxed), "BARCO_STAGES=1: the marks alone");
        init(0, false, false);
    }
}
