//! Cold texts: what barco shows only when something fails, and `--help`,
//! stored compressed and unpacked the first time one is shown.
//!
//! A text is written where it is used, inside [`msg!`] (a `&'static str`),
//! [`msg_id!`] (its number, for tables made at compile time) or
//! [`msg_fmt!`] (a text with `{}` holes, filled when shown). `build.rs`
//! gathers every such literal from `src`, after `--help`'s text (number 0),
//! and packs them all together with the LZ77 of `packed::unpack`: texts
//! share most of their words, so the whole packs better than each alone
//! would, the way busybox compresses its usage texts
//! (`FEATURE_COMPRESS_USAGE`). The macros find a text's number at compile
//! time, in the table of the literals as written (`TEXTS`), which only
//! `const` code uses, so that table is not in the binary.
//!
//! Unpacked into a static buffer ([`FillOnce`]), not the heap: the
//! supervisor shows the child's errors after the heap is sealed.

use crate::packed;
use crate::sys::FillOnce;
use core::fmt;

mod table {
    include!(concat!(env!("OUT_DIR"), "/cold.rs"));
}
pub use table::TEXTS;

const PACKED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cold.lz"));

static UNPACKED: FillOnce<{ table::LEN }> = FillOnce::new();

/// Text number `n`. The first call unpacks them all, and says so among
/// the stage marks: a run that shows none of them must not pay for that
/// (a test checks that a plain run does not).
pub fn text(n: usize) -> &'static str {
    let texts = UNPACKED.get(|out| {
        packed::unpack(PACKED, out);
        crate::log::stage("cold texts unpacked");
    });
    packed::nth(texts, n).unwrap_or_default()
}

/// The number of `text`, for the macros (the build fails if `build.rs` did
/// not gather it: a macro given something other than a plain literal).
pub const fn id(text: &str) -> usize {
    match packed::index(&TEXTS, text) {
        Some(n) => n,
        None => panic!("a cold text that build.rs did not gather"),
    }
}

/// The number of `text`, which must have `args` holes (`{}`) and no other
/// braces, for [`msg_fmt!`].
pub const fn id_with_holes(text: &str, args: usize) -> usize {
    let (bytes, mut holes, mut i) = (text.as_bytes(), 0, 0);
    while i < bytes.len() {
        if bytes[i] == b'{' && i + 1 < bytes.len() && bytes[i + 1] == b'}' {
            holes += 1;
            i += 1;
        } else if bytes[i] == b'{' || bytes[i] == b'}' {
            panic!("a msg_fmt! text may hold no braces but its holes");
        }
        i += 1;
    }
    assert!(holes == args, "a msg_fmt! text needs one argument for each hole");
    id(text)
}

/// A text with its holes filled, shown through `Display`: the text is
/// unpacked only if it is shown.
pub struct Filled<'a> {
    n: usize,
    args: &'a [&'a dyn fmt::Display],
}

impl<'a> Filled<'a> {
    pub fn new(n: usize, args: &'a [&'a dyn fmt::Display]) -> Filled<'a> {
        Filled { n, args }
    }

    /// The text filled in, as a `String`: one copy of `to_string` for all
    /// the places that keep one.
    #[inline(never)]
    pub fn string(&self) -> String {
        self.to_string()
    }
}

/// For `Error::usage`, which keeps the text.
impl From<Filled<'_>> for std::borrow::Cow<'static, str> {
    fn from(filled: Filled<'_>) -> Self {
        filled.string().into()
    }
}

impl fmt::Display for Filled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (text, mut args) = (text(self.n), self.args.iter());
        let mut rest = text;
        // Every `{` starts a hole (`id_with_holes`).
        while let Some(at) = rest.find('{') {
            f.write_str(&rest[..at])?;
            if let Some(arg) = args.next() {
                arg.fmt(f)?;
            }
            rest = &rest[at + 2..];
        }
        f.write_str(rest)
    }
}

/// A cold text: `msg!("...")` is the `&'static str`.
macro_rules! msg {
    ($text:literal) => {
        $crate::cold::text(const { $crate::cold::id($text) })
    };
}

/// A cold text's number, for tables made at compile time.
macro_rules! msg_id {
    ($text:literal) => {
        const { $crate::cold::id($text) }
    };
}

/// A cold text with `{}` holes and an argument for each: a
/// [`Filled`](crate::cold::Filled), which shows as `format_args!` would.
macro_rules! msg_fmt {
    ($text:literal $(, $arg:expr)* $(,)?) => {
        $crate::cold::Filled::new(
            const { $crate::cold::id_with_holes($text, <[&str]>::len(&[$(stringify!($arg)),*])) },
            &[$(&$arg),*],
        )
    };
}
pub(crate) use {msg, msg_fmt, msg_id};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_unpacks_as_written() {
        for (n, written) in TEXTS.iter().enumerate() {
            assert_eq!(text(n), *written, "text {n}");
        }
        assert_eq!(text(TEXTS.len()), "");
        assert!(PACKED.len() < table::LEN * 3 / 4, "{} bytes packed of {}", PACKED.len(), table::LEN);
    }

    #[test]
    fn holes_are_filled_in_order() {
        // Texts the code has anyway: a test's own would be packed into
        // the binary too (`build.rs` gathers from the tests as well).
        let filled = msg_fmt!("--{}: '{}' is not UTF-8", "env", 7).to_string();
        assert_eq!(filled, "--env: '7' is not UTF-8");
        assert_eq!(msg_fmt!("{} (see barco --help)", 'x').to_string(), "x (see barco --help)");
        let plain = msg!("--seccomp none and --seccomp-bpf contradict each other");
        assert_eq!(plain, "--seccomp none and --seccomp-bpf contradict each other");
    }
}
