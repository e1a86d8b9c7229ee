//! The table of builds a bundle embeds. `multiarch pack` generates a
//! `static` of these types; the CLI reads the same types.

use crate::codec::{self, DecodeError};
use crate::level::Level;
use crate::sys::{self, Errno, Mapping};
use core::fmt;

/// How a blob's bytes are stored in the launcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// The build's bytes, as they are.
    Stored,
    /// A [`codec`] stream with no reference.
    Lz,
    /// A [`codec`] stream against the decoded x86-64 build (the blob's `base`).
    LzDelta,
}

impl Compression {
    /// The name `multiarch inspect` shows.
    pub const fn name(self) -> &'static str {
        match self {
            Compression::Stored => "stored",
            Compression::Lz => "lz",
            Compression::LzDelta => "lz-delta",
        }
    }
}

/// Page alignment for an embedded build: copying it into a memfd or the
/// cache from an aligned source is measurably faster (about 4% at 80 MiB)
/// than from `include_bytes!`'s alignment of 1.
#[repr(C, align(4096))]
pub struct PageAligned<T: ?Sized>(pub T);

/// One distinct build. Levels whose builds came out byte-identical share one.
#[derive(Debug)]
pub struct Blob {
    /// The bytes as stored in the launcher (see `compression`).
    pub data: &'static [u8],
    /// Size of the build in bytes, once decoded.
    pub size: u64,
    /// SHA-256 of the decoded build. Names its cache entry.
    pub sha256: [u8; 32],
    /// How `data` is encoded.
    pub compression: Compression,
    /// The blob a [`Compression::LzDelta`] stream refers to: the x86-64 build.
    pub base: Option<&'static Blob>,
}

impl Blob {
    /// The cache directory name: the first 16 bytes of the hash, in hex.
    pub fn cache_key(&self) -> [u8; 32] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, b) in self.sha256[..16].iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
        out
    }

    /// The build's bytes: borrowed when stored, else decoded (the base
    /// first) into memory mapped for them.
    pub fn decode(&self) -> Result<Decoded, DecodeFailure> {
        if self.compression == Compression::Stored {
            return self.stored().map(Decoded::Stored);
        }
        let mut mapping = Mapping::new(self.room()?).map_err(DecodeFailure::NoMemory)?;
        self.decode_to(mapping.as_mut_slice(), usize::MAX, &mut |_| {})?;
        Ok(Decoded::Mapped { mapping, len: self.size as usize })
    }

    /// The bytes of a stored blob, checked against the recorded size.
    fn stored(&self) -> Result<&'static [u8], DecodeFailure> {
        match usize::try_from(self.size) {
            Ok(size) if size == self.data.len() => Ok(self.data),
            _ => Err(DecodeFailure::Damaged(DecodeError::WrongSize)),
        }
    }

    /// How many bytes [`Blob::decode_to`] needs: the size and the decoder's
    /// slack.
    pub fn room(&self) -> Result<usize, DecodeFailure> {
        usize::try_from(self.size)
            .ok()
            .and_then(|size| size.checked_add(codec::SLACK))
            .ok_or(DecodeFailure::Damaged(DecodeError::WrongSize))
    }

    /// Decodes a compressed blob into `out` (at least [`Blob::room`] bytes),
    /// calling `ready(n)` whenever `out[..n]` has grown by about `step` more
    /// final bytes, and once at the end with the size. The base of a delta
    /// is decoded first, into its own mapping. A stored blob is copied.
    pub fn decode_to(
        &self,
        out: &mut [u8],
        step: usize,
        ready: &mut dyn FnMut(usize),
    ) -> Result<(), DecodeFailure> {
        let size = self.room()? - codec::SLACK;
        if out.len() < size {
            return Err(DecodeFailure::Damaged(DecodeError::WrongSize));
        }
        let base;
        let reference: &[u8] = match self.compression {
            Compression::Stored => {
                out[..size].copy_from_slice(self.stored()?);
                ready(size);
                return Ok(());
            }
            Compression::Lz => &[],
            Compression::LzDelta => {
                let b = self
                    .base
                    .filter(|b| b.compression != Compression::LzDelta)
                    .ok_or(DecodeFailure::Damaged(DecodeError::BadOffset))?;
                base = b.decode()?;
                base.as_bytes()
            }
        };
        let segments = codec::Segments::parse(self.data, size).map_err(DecodeFailure::Damaged)?;
        if let &[(len0, first), (len1, second)] = segments.parts() {
            if size >= PARALLEL_MIN {
                // Two threads, each on its own part of `out`: the first
                // segment gets exactly its length, so that its wild copies
                // stay out of the second's.
                let (head, tail) = out.split_at_mut(len0);
                let mut other = Err(DecodeError::Truncated);
                let here = sys::join(
                    || other = codec::decode_into(second, reference, tail, len1),
                    || decode_steps(first, reference, head, len0, step, &mut |n| ready(n)),
                );
                here?;
                other.map_err(DecodeFailure::Damaged)?;
                ready(size);
                return Ok(());
            }
        }
        let mut at = 0;
        for &(len, stream) in segments.parts() {
            // A segment's wild copies may run into the next one, which is
            // decoded after it and overwrites them.
            decode_steps(stream, reference, &mut out[at..], len, step, &mut |n| ready(at + n))?;
            at += len;
        }
        ready(size);
        Ok(())
    }
}

/// From this size on, a blob of two segments is decoded on two threads.
const PARALLEL_MIN: usize = 4 << 20;

/// Decodes one segment's `stream` into `out[..size]`, calling `ready(n)`
/// whenever about `step` more bytes are final.
fn decode_steps(
    stream: &[u8],
    reference: &[u8],
    out: &mut [u8],
    size: usize,
    step: usize,
    ready: &mut dyn FnMut(usize),
) -> Result<(), DecodeFailure> {
    let step = step.max(1);
    let mut decoder = codec::Decoder::new(stream, reference);
    let mut until = step.min(size);
    loop {
        let n = decoder.decode_to(out, size, until).map_err(DecodeFailure::Damaged)?;
        if decoder.is_done() {
            return Ok(());
        }
        ready(n);
        until = n.saturating_add(step);
    }
}

/// A build's bytes, as [`Blob::decode`] gives them.
#[derive(Debug)]
pub enum Decoded {
    /// Stored uncompressed in the launcher.
    Stored(&'static [u8]),
    /// Decoded into `mapping[..len]`.
    Mapped { mapping: Mapping, len: usize },
}

impl Decoded {
    /// The build.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Decoded::Stored(bytes) => bytes,
            Decoded::Mapped { mapping, len } => &mapping.as_slice()[..*len],
        }
    }
}

/// Why [`Blob::decode`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeFailure {
    /// The stored bytes do not decode: the bundle is damaged.
    Damaged(DecodeError),
    /// No memory could be mapped for the decoded build.
    NoMemory(Errno),
}

impl fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeFailure::Damaged(e) => write!(f, "the bundle is damaged: its {e}; rebuild it"),
            DecodeFailure::NoMemory(e) => write!(f, "cannot map memory to decode the build: {e}"),
        }
    }
}

/// One level the bundle can start, and its build.
#[derive(Debug)]
pub struct Variant {
    /// The level the build was compiled for (`-Ctarget-cpu`).
    pub level: Level,
    /// The build.
    pub blob: &'static Blob,
}

/// Everything a launcher embeds.
#[derive(Debug)]
pub struct Bundle {
    /// The program's name: the file name of its cache entry.
    pub program: &'static str,
    /// Where it was built from (a Bazel label, or a Cargo package), for humans.
    pub label: &'static str,
    /// The embedded builds, most capable first. The last one is `x86-64`.
    pub variants: &'static [Variant],
}

impl Bundle {
    /// The embedded levels, most capable first.
    pub fn levels(&self) -> impl Iterator<Item = Level> + Clone + '_ {
        self.variants.iter().map(|v| v.level)
    }

    /// The build for exactly `level`, if embedded.
    pub fn variant(&self, level: Level) -> Option<&'static Variant> {
        self.variants.iter().find(|v| v.level == level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One segment (count 1; 5 bytes decoded from a 7-byte stream), then the stream.
    const HELLO_LZ: &[u8] = &[1, 5, 7, 0x50, 0x00, b'h', b'e', b'l', b'l', b'o'];
    // "hello" copied from the reference at 0, then "!" as a literal.
    const HELLO_BANG_DELTA: &[u8] = &[1, 6, 5, 0x01, 0x04, 0x10, 0x00, b'!'];

    fn blob(data: &'static [u8], size: u64, compression: Compression, base: Option<&'static Blob>) -> Blob {
        Blob { data, size, sha256: [0; 32], compression, base }
    }

    static BASE: Blob =
        Blob { data: HELLO_LZ, size: 5, sha256: [0; 32], compression: Compression::Lz, base: None };

    #[test]
    fn decodes_stored_lz_and_deltas_through_their_base() {
        assert_eq!(blob(b"raw", 3, Compression::Stored, None).decode().unwrap().as_bytes(), b"raw");
        assert!(matches!(blob(b"raw", 3, Compression::Stored, None).decode().unwrap(), Decoded::Stored(_)));
        assert_eq!(BASE.decode().unwrap().as_bytes(), b"hello");
        let delta = blob(HELLO_BANG_DELTA, 6, Compression::LzDelta, Some(&BASE));
        assert_eq!(delta.decode().unwrap().as_bytes(), b"hello!");
    }

    /// A blob of two 3 MiB literal segments: big enough for two threads.
    #[test]
    fn two_segments_decode_on_two_threads_and_report_progress() {
        const HALF: usize = 3 << 20;
        // 768 sequences of one literal and a 4095-byte repeat of it, then
        // the end: no literals, no match.
        let part = |byte: u8| {
            let mut s = Vec::new();
            for _ in 0..HALF / 4096 {
                s.extend_from_slice(&[0x1f, 0x00, byte, 0xff, 0xeb, 0x1d]);
            }
            s.extend_from_slice(&[0, 0]);
            s
        };
        let (a, b) = (part(b'a'), part(b'b'));
        let mut data = vec![2];
        for s in [&a, &b] {
            data.extend_from_slice(&[0x80, 0x80, 0xc0, 0x01]);
            let mut n = s.len();
            while n >= 0x80 {
                data.push(n as u8 | 0x80);
                n >>= 7;
            }
            data.push(n as u8);
        }
        data.extend_from_slice(&a);
        data.extend_from_slice(&b);
        let data: &'static [u8] = data.leak();
        let blob = blob(data, 2 * HALF as u64, Compression::Lz, None);
        let mut out = vec![0u8; blob.room().unwrap()];
        let mut seen = Vec::new();
        blob.decode_to(&mut out, 1 << 20, &mut |n| seen.push(n)).unwrap();
        assert!(out[..HALF].iter().all(|&b| b == b'a') && out[HALF..2 * HALF].iter().all(|&b| b == b'b'));
        assert_eq!(seen.last(), Some(&(2 * HALF)));
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        assert!(seen.len() >= 3, "progress while decoding: {seen:?}");
        // A damaged second segment fails the whole decode.
        let mut bad = data.to_vec();
        let last = bad.len() - 1;
        bad[last] = 1;
        let bad: &'static [u8] = bad.leak();
        assert!(blob_with(bad, 2 * HALF as u64).decode_to(&mut out, 1 << 20, &mut |_| {}).is_err());
    }

    fn blob_with(data: &'static [u8], size: u64) -> Blob {
        blob(data, size, Compression::Lz, None)
    }

    #[test]
    fn damaged_blobs_are_errors() {
        // Wrong recorded size, missing base, a delta against a delta.
        assert!(blob(HELLO_LZ, 6, Compression::Lz, None).decode().is_err());
        assert!(blob(b"raw", 4, Compression::Stored, None).decode().is_err());
        assert!(blob(HELLO_BANG_DELTA, 6, Compression::LzDelta, None).decode().is_err());
        static DELTA_BASE: Blob = Blob {
            data: HELLO_BANG_DELTA,
            size: 6,
            sha256: [0; 32],
            compression: Compression::LzDelta,
            base: Some(&BASE),
        };
        assert!(blob(HELLO_BANG_DELTA, 6, Compression::LzDelta, Some(&DELTA_BASE)).decode().is_err());
    }

    #[test]
    fn cache_key_is_the_hash_prefix_in_hex() {
        let mut b = blob(b"", 0, Compression::Stored, None);
        b.sha256[0] = 0xab;
        b.sha256[15] = 0x01;
        b.sha256[16] = 0xff;
        let key = b.cache_key();
        assert_eq!(&key[..2], b"ab");
        assert_eq!(&key[30..], b"01");
        assert!(key.iter().all(u8::is_ascii_hexdigit));
    }
}
