//! Fixed-capacity byte buffers: the launcher's strings and paths, on the
//! stack, since it has no heap allocator.

use core::ffi::CStr;
use core::fmt;

/// Up to `N - 1` bytes, always followed by a NUL (`N` must be at least 1). Writes past the capacity are cut off and
/// remembered (see [`Buf::overflowed`]), never an error.
#[derive(Clone)]
pub struct Buf<const N: usize> {
    bytes: [u8; N],
    len: usize,
    overflowed: bool,
}

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Buf { bytes: [0; N], len: 0, overflowed: false }
    }
}

impl<const N: usize> Buf<N> {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A buffer holding `bytes` (cut to capacity).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut b = Self::new();
        b.push(bytes);
        b
    }

    /// Appends `bytes`, as many as fit.
    pub fn push(&mut self, bytes: &[u8]) {
        let room = N.saturating_sub(1) - self.len;
        let n = bytes.len().min(room);
        self.bytes[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        if N > 0 {
            self.bytes[self.len] = 0;
        }
        self.overflowed |= n < bytes.len();
    }

    /// The bytes so far, without the NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Whether some bytes did not fit.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Cuts the buffer to `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            self.bytes[len] = 0;
        }
    }

    /// The bytes as a C string (they are always followed by a NUL): `None`
    /// if one of them is NUL.
    pub fn as_cstr(&self) -> Option<&CStr> {
        CStr::from_bytes_with_nul(self.bytes.get(..=self.len)?).ok()
    }
}

impl<const N: usize> fmt::Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

impl<const N: usize> fmt::Display for Buf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Lossy(self.as_bytes()).fmt(f)
    }
}

impl<const N: usize> fmt::Debug for Buf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Quoted(self.as_bytes()), f)
    }
}

/// Bytes shown as UTF-8, with U+FFFD for what is not.
#[derive(Clone, Copy)]
pub struct Lossy<'a>(pub &'a [u8]);

impl fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{fffd}")?;
            }
        }
        Ok(())
    }
}

/// Bytes shown as a quoted, escaped string, as `{:?}` shows a `str`; a
/// value longer than [`Quoted::MAX`] bytes is shown cut, with its length, so
/// that what follows it in a message (the hint) always fits.
#[derive(Clone, Copy)]
pub struct Quoted<'a>(pub &'a [u8]);

impl Quoted<'_> {
    /// The most bytes of a value shown.
    pub const MAX: usize = 100;
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cut = self.0.len() > Self::MAX;
        let shown = if cut { &self.0[..Self::MAX] } else { self.0 };
        f.write_str("\"")?;
        for chunk in shown.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c == '\'' {
                    f.write_str("'")?;
                } else {
                    write!(f, "{}", c.escape_debug())?;
                }
            }
            if !chunk.invalid().is_empty() {
                f.write_str("\u{fffd}")?;
            }
        }
        f.write_str("\"")?;
        if cut {
            write!(f, " (cut; {} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

/// A path (or other untrusted bytes) for a message: control characters and
/// backslashes escaped as in Rust strings (`\n`, `\u{1b}`, `\\`), bytes that
/// are not UTF-8 as `\xNN`, so that no value can break a line or forge one;
/// longer than [`Escaped::MAX`] bytes, the middle is left out (`...`).
#[derive(Clone, Copy)]
pub struct Escaped<'a>(pub &'a [u8]);

impl Escaped<'_> {
    /// The most bytes shown: the first [`Escaped::HEAD`] and the rest from the end.
    pub const MAX: usize = 320;
    /// Bytes shown from the start of a cut value.
    pub const HEAD: usize = 80;

    fn part(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
        for chunk in bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() || c == '\\' {
                    write!(f, "{}", c.escape_debug())?;
                } else {
                    write!(f, "{c}")?;
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b.len() <= Self::MAX {
            return Self::part(f, b);
        }
        Self::part(f, &b[..Self::HEAD])?;
        f.write_str("...")?;
        Self::part(f, &b[b.len() - (Self::MAX - Self::HEAD)..])
    }
}

/// Formats into a new `Buf<N>`.
#[macro_export]
#[doc(hidden)]
macro_rules! bformat {
    ($n:literal, $($arg:tt)*) => {{
        let mut b = $crate::text::Buf::<$n>::new();
        let _ = ::core::fmt::Write::write_fmt(&mut b, format_args!($($arg)*));
        b
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn push_cuts_at_capacity_and_keeps_a_nul() {
        let mut b = Buf::<6>::new();
        b.push(b"abc");
        assert_eq!(b.as_bytes(), b"abc");
        assert!(!b.overflowed());
        b.push(b"defg");
        assert_eq!(b.as_bytes(), b"abcde");
        assert!(b.overflowed());
        assert_eq!(b.as_cstr().unwrap().to_bytes(), b"abcde");
        assert!(Buf::<8>::from_bytes(b"a\0b").as_cstr().is_none());
    }

    #[test]
    fn lossy_and_quoted_match_std() {
        let bytes = b"a\xffb\n\"'";
        assert_eq!(format!("{}", Lossy(bytes)), std::string::String::from_utf8_lossy(bytes));
        let s = std::string::String::from_utf8_lossy(bytes);
        assert_eq!(format!("{}", Quoted(bytes)), format!("{s:?}"));
        assert_eq!(format!("{}", bformat!(16, "{}-{}", 1, "x")), "1-x");
    }

    #[test]
    fn quoted_cuts_long_values_and_says_so() {
        let long = vec![b'v'; 3000];
        let shown = format!("{}", Quoted(&long));
        assert_eq!(shown, format!("\"{}\" (cut; 3000 bytes)", "v".repeat(Quoted::MAX)));
        assert_eq!(format!("{}", Quoted(b"v5")), "\"v5\"");
    }

    #[test]
    fn escaped_never_breaks_a_line() {
        let shown = format!("{}", Escaped(b"/tmp/a\nb\r[multiarch] x\x1b[31m\\ \xff\xc3\xa9"));
        assert_eq!(shown, "/tmp/a\\nb\\r[multiarch] x\\u{1b}[31m\\\\ \\xff\u{e9}");
        assert!(!shown.contains('\n') && !shown.contains('\r'));
        let long: Vec<u8> = (0..5000).map(|i| b'a' + (i % 26) as u8).collect();
        let shown = format!("{}", Escaped(&long));
        assert_eq!(shown.len(), Escaped::MAX + 3);
        assert!(shown.starts_with(std::str::from_utf8(&long[..Escaped::HEAD]).unwrap()));
        assert!(shown.ends_with(std::str::from_utf8(&long[long.len() - 10..]).unwrap()));
    }
}
