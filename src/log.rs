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
    let now = clock(crate::sys::clock_gettime(linux_raw_sys::general::CLOCK_REALTIME).0);
    let _ = out.write_str(core::str::from_utf8(&now).unwrap_or_default());
    let _ = if COLOR.load(Relaxed) {
        write!(out, "{}{}\x1b[0m \x1b[90m{file}:{}:\x1b[0m ", level.color(), level.name(), dec(line))
    } else {
        write!(out, "{} {file}:{}: ", level.name(), dec(line))
    };
    let _ = out.write_fmt(args);
    write_stderr(out.finish());
}

/// The UTC time of day of `secs` since the epoch, `HH:MM:SS `: two digits
/// each, without `{:02}` (see [`Dec`]).
fn clock(secs: i64) -> [u8; 9] {
    let secs = secs.rem_euclid(86_400);
    let mut clock = *b"00:00:00 ";
    for (at, n) in [(0, secs / 3600), (3, secs / 60 % 60), (6, secs % 60)] {
        (clock[at], clock[at + 1]) = (b'0' + (n / 10) as u8, b'0' + (n % 10) as u8);
    }
    clock
}

/// [`emit`] for a line that is a cold text alone (see `cold`): only its
/// number at each call, and the text unpacked only when shown.
pub fn emit_cold(site: Site, n: usize) {
    if enabled(site.level()) {
        emit(site, format_args!("{}", crate::cold::text(n)));
    }
}

/// At trace level or with `BARCO_STAGES=1`, one `stage NAME at N us` line
/// with the monotonic clock in microseconds, for `just bench`'s per-stage
/// breakdown. Costs one atomic load when off. No heap: the child calls it
/// too.
pub fn stage(name: &str) {
    if STAGES.load(Relaxed) {
        let (secs, nanos) = crate::sys::clock_gettime(linux_raw_sys::general::CLOCK_MONOTONIC);
        let us = secs as u64 * 1_000_000 + nanos as u64 / 1000;
        line(format_args!("stage {name} at {} us", dec(us)));
    }
}

/// `n` in decimal, in `buf`, without allocating.
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
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

/// An integer shown in decimal through `{}`, by barco's own loop rather
/// than core's integer formatting. barco shows every integer this way, so
/// core's (its table of digit pairs, and its sign and padding code, about
/// 1 KB) is not linked at all: 0.4 KB less of `just tiny`, this code and
/// the wrapping at each call counted. One integer shown bare brings it
/// all back. Generic over the integer, so that a `Dec` is the integer
/// itself, with a small `Display` for each type around one shared
/// [`write_decimal`].
#[derive(Clone, Copy)]
pub struct Dec<T>(T);

/// `n` as a [`Dec`].
pub fn dec<T: Integer>(n: T) -> Dec<T> {
    Dec(n)
}

/// An integer type [`Dec`] shows: its magnitude, and whether it is
/// negative.
pub trait Integer: Copy {
    fn parts(self) -> (u64, bool);
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Integer for $t {
            fn parts(self) -> (u64, bool) {
                (self as u64, false)
            }
        }
    )*};
}
unsigned!(u8, u16, u32, u64, usize);

macro_rules! signed {
    ($($t:ty),*) => {$(
        impl Integer for $t {
            fn parts(self) -> (u64, bool) {
                (self.unsigned_abs() as u64, self < 0)
            }
        }
    )*};
}
signed!(i32, i64);

impl<T: Integer> fmt::Display for Dec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (magnitude, negative) = self.0.parts();
        write_decimal(magnitude, negative, f)
    }
}

fn write_decimal(n: u64, negative: bool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if negative {
        f.write_str("-")?;
    }
    f.write_str(core::str::from_utf8(decimal(n, &mut [0; 20])).unwrap_or_default())
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
/// A line of info, debug or trace. A text alone is a cold one (see
/// `cold`), which may not capture names (the build says so); a format
/// string with arguments is not, nor are warnings (shown by default, as
/// `--seccomp none` does on every run of its `just bench` control).
macro_rules! log_cold {
    ($level:expr, $text:literal) => {
        $crate::log::emit_cold(
            const { $crate::log::Site::new($level, file!(), line!()) },
            const { $crate::cold::id_with_holes($text, 0) },
        )
    };
    ($level:expr, $($arg:tt)*) => {
        $crate::log::log_at!($level, $($arg)*)
    };
}
#[allow(unused_macros)]
macro_rules! warning { ($($arg:tt)*) => { $crate::log::log_at!($crate::log::Level::Warn, $($arg)*) }; }
macro_rules! info { ($($arg:tt)*) => { $crate::log::log_cold!($crate::log::Level::Info, $($arg)*) }; }
macro_rules! debug { ($($arg:tt)*) => { $crate::log::log_cold!($crate::log::Level::Debug, $($arg)*) }; }
macro_rules! trace { ($($arg:tt)*) => { $crate::log::log_cold!($crate::log::Level::Trace, $($arg)*) }; }
#[allow(unused_imports)]
pub(crate) use {debug, info, log_at, log_cold, trace, warning};

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
    fn integers_show_as_core_shows_them() {
        let mut values: Vec<u64> = vec![0, 9, 10, 99, 100, u64::from(u32::MAX), u64::MAX - 1, u64::MAX];
        values.extend((0..64).map(|b| 1u64 << b).flat_map(|p| [p - 1, p, p + 1]));
        for n in values {
            assert_eq!(dec(n).to_string(), n.to_string());
            let i = n as i64;
            assert_eq!(dec(i).to_string(), i.to_string());
            assert_eq!(dec(i as i32).to_string(), (i as i32).to_string());
        }
        assert_eq!(dec(i64::MIN).to_string(), i64::MIN.to_string());
        assert_eq!(format!("[{}]", dec(7u8)), "[7]");
    }

    #[test]
    fn the_time_of_day_in_two_digits_each() {
        assert_eq!(&clock(0), b"00:00:00 ");
        assert_eq!(&clock(86_399), b"23:59:59 ");
        assert_eq!(&clock(86_400 * 20_000 + 3600 * 9 + 60 * 5 + 7), b"09:05:07 ");
        assert_eq!(&clock(-1), b"23:59:59 ");
    }

    #[test]
    fn decimals() {
        let mut b = [0; 20];
        assert_eq!(decimal(0, &mut b), b"0");
        assert_eq!(decimal(4194304, &mut b), b"4194304");
        assert_eq!(decimal(u32::MAX.into(), &mut b), b"4294967295");
        assert_eq!(decimal(u64::MAX, &mut b), b"18446744073709551615");
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
