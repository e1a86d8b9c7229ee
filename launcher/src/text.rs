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

/// Bytes shown as a quoted, escaped string, as `{:?}` shows a `str`.
#[derive(Clone, Copy)]
pub struct Quoted<'a>(pub &'a [u8]);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for chunk in self.0.utf8_chunks() {
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
        f.write_str("\"")
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
}
