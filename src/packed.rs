//! Data stored packed. Tables of texts, as one run of bytes made at compile
//! time from an ordinary `[&str; N]`, which only `const` items then use:
//! such an array in the binary is a pointer and a length (16 bytes) for
//! each text besides the text itself, and a `match` that returns one is a
//! jump table and a copy of the return for each arm; here a text costs one
//! more byte. And what `build.rs` compresses (the cold texts of `cold`,
//! the seccomp filter), for [`unpack`].

/// The byte between two texts, which no text may hold.
const SEP: u8 = 0;

/// The packed size of `texts`: their bytes and a separator between each two.
pub const fn len(texts: &[&str]) -> usize {
    let (mut len, mut i) = (texts.len().saturating_sub(1), 0);
    while i < texts.len() {
        len += texts[i].len();
        i += 1;
    }
    len
}

/// `texts`, separated; `L` must be their [`len`] (the build fails if not,
/// or if a text holds the separator).
pub const fn pack<const L: usize>(texts: &[&str]) -> [u8; L] {
    let mut out = [SEP; L];
    let (mut at, mut i) = (0, 0);
    while i < texts.len() {
        if i > 0 {
            at += 1;
        }
        let text = texts[i].as_bytes();
        let mut j = 0;
        while j < text.len() {
            assert!(text[j] != SEP);
            out[at] = text[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(at == L);
    out
}

/// The number of `text` in `texts`, for a constant (`==` on `str` is not
/// a `const fn` yet): what [`position`] finds in the packed table.
pub const fn index(texts: &[&str], text: &str) -> Option<usize> {
    let mut n = 0;
    while n < texts.len() {
        let (a, b) = (texts[n].as_bytes(), text.as_bytes());
        let mut i = 0;
        while i < a.len() && i < b.len() && a[i] == b[i] {
            i += 1;
        }
        if i == a.len() && i == b.len() {
            return Some(n);
        }
        n += 1;
    }
    None
}

/// The `n`th text of a packed table, if it has that many.
pub fn nth(packed: &'static [u8], n: usize) -> Option<&'static str> {
    core::str::from_utf8(packed.split(|b| *b == SEP).nth(n)?).ok()
}

/// The number of `text` in a packed table.
pub fn position(packed: &[u8], text: &str) -> Option<usize> {
    packed.split(|b| *b == SEP).position(|t| t == text.as_bytes())
}

/// Undoes `build.rs`'s `pack` into `out`, which must be as long as the
/// text. Each token starts with a byte `b`: below 0x40, the next `b + 1`
/// bytes are literal; otherwise bytes are copied from earlier in the text,
/// from the distance back from its end so far (byte by byte: a copy may
/// overlap what it writes). Below 0x80, `(b & 0x3f) + 3` bytes from the
/// little-endian `u16` distance that follows; from 0x80, `((b >> 4) & 7) +
/// 3` bytes from the distance `(b & 0xf) << 8 | next`.
pub fn unpack(packed: &[u8], out: &mut [u8]) {
    let (mut rest, mut at) = (packed, 0);
    while let [b, tail @ ..] = rest {
        let b = usize::from(*b);
        let (len, distance, after) = match b {
            0..0x40 => {
                let (literal, after) = tail.split_at(b + 1);
                out[at..at + literal.len()].copy_from_slice(literal);
                at += literal.len();
                rest = after;
                continue;
            }
            0x40..0x80 => (b & 0x3f, usize::from(u16::from_le_bytes([tail[0], tail[1]])), &tail[2..]),
            _ => (b >> 4 & 7, (b & 0xf) << 8 | usize::from(tail[0]), &tail[1..]),
        };
        for _ in 0..len + 3 {
            out[at] = out[at - distance];
            at += 1;
        }
        rest = after;
    }
}

/// Every text of a packed table, in order, for tests.
#[cfg(test)]
pub fn all(packed: &'static [u8]) -> Vec<&'static str> {
    (0..).map_while(|n| nth(packed, n)).collect()
}

/// A packed table of the texts given, as a `&'static [u8]` for [`nth`] and
/// [`position`].
macro_rules! texts {
    ($($text:expr),* $(,)?) => {{
        const TEXTS: &[&str] = &[$($text),*];
        const PACKED: [u8; $crate::packed::len(TEXTS)] = $crate::packed::pack(TEXTS);
        &PACKED
    }};
}
pub(crate) use texts;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_come_back_in_order() {
        const TEXTS: [&str; 4] = ["one", "", "three", "four"];
        const PACKED: [u8; len(&TEXTS)] = pack(&TEXTS);
        assert_eq!(&PACKED, b"one\0\0three\0four");
        for (n, text) in TEXTS.iter().enumerate() {
            assert_eq!(nth(&PACKED, n), Some(*text));
        }
        assert_eq!(nth(&PACKED, 4), None);
        assert_eq!(position(&PACKED, "three"), Some(2));
        assert_eq!(position(&PACKED, ""), Some(1));
        assert_eq!(position(&PACKED, "thre"), None);
        for text in ["one", "", "three", "four", "thre", "threes"] {
            assert_eq!(index(&TEXTS, text), position(&PACKED, text), "{text:?}");
        }
        assert_eq!(all(texts!["a", "b"]), ["a", "b"]);
    }
}
