//! The table of builds a bundle embeds. `multiarch pack` generates a
//! `static` of these types; the CLI reads the same types.

use crate::check::{self, Sum};
use crate::codec::{self, DecodeError};
use crate::features::FeatureSet;
use crate::sys::{self, Errno, Mapping};
use core::fmt;

/// How a blob's bytes are stored in the launcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// The build's bytes, as they are.
    Stored,
    /// A [`codec`] stream with no reference.
    Lz,
    /// A [`codec`] stream against another build, the blob's `base`:
    /// `multiarch pack` picks, per blob, the build that gives the smallest
    /// stream among those it stores alone, so the base is never a delta
    /// itself and a decode is at most two (the base's, then this one's).
    /// [`Blob::decode`] relies on that: it refuses a delta whose base is a
    /// delta (the bundle is then damaged) rather than recurse.
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
    /// The [`check::checksum`] of the decoded build: every decode is
    /// checked against it before the build is used.
    pub check: u64,
    /// How `data` is encoded.
    pub compression: Compression,
    /// The blob a [`Compression::LzDelta`] stream refers to: any blob
    /// stored alone (stored or [`Compression::Lz`]), often not the
    /// baseline's (e.g. `sapphirerapids` against `x86-64-v4`); never a delta.
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
    /// first) into memory mapped for them; checked against
    /// [`Blob::check`] either way.
    pub fn decode(&self) -> Result<Decoded, DecodeFailure> {
        self.decode_checked(true)
    }

    /// [`Blob::decode`], checking the result only if `verify`: the base of
    /// a delta is not, the delta's own check covers what it contributes.
    fn decode_checked(&self, verify: bool) -> Result<Decoded, DecodeFailure> {
        if self.compression == Compression::Stored {
            return self.stored(verify).map(Decoded::Stored);
        }
        let mut mapping = Mapping::new(self.room()?).map_err(DecodeFailure::NoMemory)?;
        self.decode_into(mapping.as_mut_slice(), usize::MAX, &mut |_| {}, verify)?;
        Ok(Decoded::Mapped { mapping, len: self.size as usize })
    }

    /// The bytes of a stored blob, checked against the recorded size and,
    /// if `verify`, the checksum (on two threads from [`PARALLEL_MIN`]).
    fn stored(&self, verify: bool) -> Result<&'static [u8], DecodeFailure> {
        let data = match usize::try_from(self.size) {
            Ok(size) if size == self.data.len() => self.data,
            _ => return Err(DecodeFailure::Damaged(DecodeError::WrongSize)),
        };
        if !verify {
            return Ok(data);
        }
        let size = data.len();
        let mut sum = Sum::new(0);
        if size >= PARALLEL_MIN {
            let cut = size / 2 / check::CHUNK * check::CHUNK;
            let mut tail = Sum::new(cut);
            sys::join(|| tail.update(&data[cut..], cut, size, size), || sum.update(data, 0, cut, size));
            sum.add(tail);
        } else {
            sum.update(data, 0, size, size);
        }
        self.compare(sum)?;
        Ok(data)
    }

    /// Fails unless `sum` is the whole build's checksum as recorded.
    fn compare(&self, sum: Sum) -> Result<(), DecodeFailure> {
        if sum.value() == self.check {
            Ok(())
        } else {
            Err(DecodeFailure::Damaged(DecodeError::WrongChecksum))
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
    ///
    /// The build is checked against [`Blob::check`] as it is decoded, each
    /// [`check::CHUNK`] right after it is final: `Ok` means the bytes are
    /// the build `multiarch pack` recorded. Bytes passed to `ready` are not
    /// checked yet: whoever uses them before this returns must discard
    /// them on an error (the cache's temporary file is never renamed into
    /// place, the memfd never executed).
    pub fn decode_to(
        &self,
        out: &mut [u8],
        step: usize,
        ready: &mut dyn FnMut(usize),
    ) -> Result<(), DecodeFailure> {
        self.decode_into(out, step, ready, true)
    }

    /// [`Blob::decode_to`] without the checksum: only for measuring what
    /// the check costs (`cli/examples/checksum_probe.rs`). Its output is
    /// unchecked: never cache or run it.
    #[doc(hidden)]
    pub fn decode_to_unchecked(
        &self,
        out: &mut [u8],
        step: usize,
        ready: &mut dyn FnMut(usize),
    ) -> Result<(), DecodeFailure> {
        self.decode_into(out, step, ready, false)
    }

    fn decode_into(
        &self,
        out: &mut [u8],
        step: usize,
        ready: &mut dyn FnMut(usize),
        verify: bool,
    ) -> Result<(), DecodeFailure> {
        let size = self.room()? - codec::SLACK;
        if out.len() < size {
            return Err(DecodeFailure::Damaged(DecodeError::WrongSize));
        }
        let base;
        let reference: &[u8] = match self.compression {
            Compression::Stored => {
                out[..size].copy_from_slice(self.stored(verify)?);
                ready(size);
                return Ok(());
            }
            Compression::Lz => &[],
            Compression::LzDelta => {
                let b = self
                    .base
                    .filter(|b| b.compression != Compression::LzDelta)
                    .ok_or(DecodeFailure::Damaged(DecodeError::BadOffset))?;
                base = b.decode_checked(false)?;
                base.as_bytes()
            }
        };
        let segments = codec::Segments::parse(self.data, size).map_err(DecodeFailure::Damaged)?;
        let mut sum = Sum::new(0);
        if let &[(len0, first), (len1, second)] = segments.parts() {
            if size >= PARALLEL_MIN {
                // Two threads, each on its own part of `out`: the first
                // segment gets exactly its length, so that its wild copies
                // stay out of the second's. Each hashes the chunks wholly
                // in its part; the one across the cut is hashed after.
                let (head, tail) = out.split_at_mut(len0);
                let mut tail_sum = Sum::new(len0);
                let tail_from = tail_sum.next();
                let mut other = Err(DecodeFailure::Damaged(DecodeError::Truncated));
                let second = Segment { stream: second, reference, base: len0, at: len0, len: len1, size };
                let first = Segment { stream: first, reference, base: 0, at: 0, len: len0, size };
                let tail_check = verify.then_some(&mut tail_sum);
                let head_check = verify.then_some(&mut sum);
                let here = sys::join(
                    || other = second.decode(tail, tail_check, usize::MAX, &mut |_| {}),
                    || first.decode(head, head_check, step, &mut |n| ready(n)),
                );
                here?;
                other?;
                if verify {
                    sum.add(tail_sum);
                    if sum.next() < tail_from {
                        sum.add_chunk(out, sum.next(), size);
                    }
                    self.compare(sum)?;
                }
                ready(size);
                return Ok(());
            }
        }
        let mut at = 0;
        for &(len, stream) in segments.parts() {
            // A segment's wild copies may run into the next one, which is
            // decoded after it and overwrites them.
            let segment = Segment { stream, reference, base: 0, at, len, size };
            segment.decode(out, verify.then_some(&mut sum), step, &mut |n| ready(at + n))?;
            at += len;
        }
        if verify {
            self.compare(sum)?;
        }
        ready(size);
        Ok(())
    }
}

/// From this size on, a blob of two segments is decoded on two threads.
const PARALLEL_MIN: usize = 4 << 20;

/// One segment of a build to decode.
struct Segment<'a> {
    stream: &'a [u8],
    reference: &'a [u8],
    /// Where the buffer it is decoded into starts, in the build.
    base: usize,
    /// Where the segment starts, in the build (at least `base`).
    at: usize,
    /// Its decoded length.
    len: usize,
    /// The whole build's size.
    size: usize,
}

impl Segment<'_> {
    /// Decodes the segment into `out[at - base..][..len]`, hashing each
    /// chunk into `sum` as soon as it is final, and calling `ready(n)`
    /// whenever about `step` more of its bytes are final.
    fn decode(
        &self,
        out: &mut [u8],
        mut sum: Option<&mut Sum>,
        step: usize,
        ready: &mut dyn FnMut(usize),
    ) -> Result<(), DecodeFailure> {
        let offset = self.at - self.base;
        let step = step.max(1);
        // Decoded in chunk steps when checked, each chunk hashed while its
        // bytes are still in the CPU's cache.
        let inner = if sum.is_some() { check::CHUNK } else { step };
        let mut decoder = codec::Decoder::new(self.stream, self.reference);
        let mut reported = 0usize;
        let mut until = inner.min(self.len);
        loop {
            let n = decoder
                .decode_to(out.get_mut(offset..).unwrap_or(&mut []), self.len, until)
                .map_err(DecodeFailure::Damaged)?;
            if let Some(sum) = sum.as_deref_mut() {
                sum.update(out, self.base, self.at + n, self.size);
            }
            if decoder.is_done() {
                return Ok(());
            }
            if n >= reported.saturating_add(step) {
                ready(n);
                reported = n;
            }
            until = n.saturating_add(inner);
        }
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

/// One build the bundle can start: a name, the CPU features it requires,
/// and its bytes.
#[derive(Debug)]
pub struct Variant {
    /// The variant's name (see [`valid_name`]): for the four psABI levels
    /// their rustc CPU name, `x86-64` .. `x86-64-v4`.
    pub name: &'static str,
    /// The features (of the architecture's table, `crate::arch`) the build
    /// was compiled to use: what rustc reported for its codegen flags.
    pub requires: FeatureSet,
    /// The build.
    pub blob: &'static Blob,
}

/// The longest variant name.
pub const NAME_MAX: usize = 32;

/// Whether `name` may name a variant: `[a-z0-9][a-z0-9._-]{0,31}`. Names
/// appear in file names, memfd names and environment values.
pub const fn valid_name(name: &[u8]) -> bool {
    if name.is_empty() || name.len() > NAME_MAX || !matches!(name[0], b'a'..=b'z' | b'0'..=b'9') {
        return false;
    }
    let mut i = 1;
    while i < name.len() {
        if !matches!(name[i], b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// Everything a launcher embeds.
#[derive(Debug)]
pub struct Bundle {
    /// The program's name: the file name of its cache entry.
    pub program: &'static str,
    /// Where it was built from (a Bazel label, or a Cargo package), for humans.
    pub label: &'static str,
    /// The embedded builds, best first: more required features first, ties
    /// in the order the user gave. The last requires nothing.
    pub variants: &'static [Variant],
    /// `multiarch pack --cap`: variants that require features beyond the
    /// cap's are never chosen automatically (`MULTIARCH_LEVEL` may still
    /// name them).
    pub cap: Option<Cap>,
}

/// A bundle's cap: a level or variant name and its features.
#[derive(Clone, Copy, Debug)]
pub struct Cap {
    /// The level or variant it was given as.
    pub name: &'static str,
    /// The features it allows: the level's, or the variant's requirements.
    pub features: FeatureSet,
}

impl Bundle {
    /// The variant named exactly `name`, if embedded.
    pub fn variant(&self, name: &[u8]) -> Option<&'static Variant> {
        self.variants.iter().find(|v| v.name.as_bytes() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One segment (count 1; 5 bytes decoded from a 7-byte stream), then the stream.
    const HELLO_LZ: &[u8] = &[1, 5, 7, 0x50, 0x00, b'h', b'e', b'l', b'l', b'o'];
    // "hello" copied from the reference at 0, then "!" as a literal.
    const HELLO_BANG_DELTA: &[u8] = &[1, 6, 5, 0x01, 0x04, 0x10, 0x00, b'!'];

    /// A blob whose recorded checksum is that of `build`.
    fn blob_of(
        build: &[u8],
        data: &'static [u8],
        size: u64,
        compression: Compression,
        base: Option<&'static Blob>,
    ) -> Blob {
        Blob { data, size, sha256: [0; 32], check: check::checksum(build), compression, base }
    }

    /// A blob that is damaged if it decodes at all: its checksum is 0.
    fn blob(data: &'static [u8], size: u64, compression: Compression, base: Option<&'static Blob>) -> Blob {
        Blob { data, size, sha256: [0; 32], check: 0, compression, base }
    }

    fn base() -> &'static Blob {
        Box::leak(Box::new(blob_of(b"hello", HELLO_LZ, 5, Compression::Lz, None)))
    }

    #[test]
    fn decodes_stored_lz_and_deltas_through_their_base() {
        let raw = blob_of(b"raw", b"raw", 3, Compression::Stored, None);
        assert_eq!(raw.decode().unwrap().as_bytes(), b"raw");
        assert!(matches!(raw.decode().unwrap(), Decoded::Stored(_)));
        assert_eq!(base().decode().unwrap().as_bytes(), b"hello");
        let delta = blob_of(b"hello!", HELLO_BANG_DELTA, 6, Compression::LzDelta, Some(base()));
        assert_eq!(delta.decode().unwrap().as_bytes(), b"hello!");
    }

    /// Issue 12: any blob stored alone may be a base, not only the
    /// baseline's: here two deltas, one against an LZ blob and one against a
    /// stored one, as `multiarch pack` writes when a variant's nearest build
    /// is not the baseline's. Both decode through their own base.
    #[test]
    fn deltas_against_any_blob_stored_alone_decode() {
        let stored: &'static Blob =
            Box::leak(Box::new(blob_of(b"hello", b"hello", 5, Compression::Stored, None)));
        for base in [base(), stored] {
            let delta = blob_of(b"hello!", HELLO_BANG_DELTA, 6, Compression::LzDelta, Some(base));
            assert_eq!(delta.decode().unwrap().as_bytes(), b"hello!");
            let mut out = vec![0u8; delta.room().unwrap()];
            delta.decode_to(&mut out, 1, &mut |_| {}).unwrap();
            assert_eq!(&out[..6], b"hello!");
        }
        // A base with other bytes: the checksum fails, the base is not trusted blindly.
        let other: &'static Blob =
            Box::leak(Box::new(blob_of(b"jello", b"jello", 5, Compression::Stored, None)));
        let delta = blob_of(b"hello!", HELLO_BANG_DELTA, 6, Compression::LzDelta, Some(other));
        assert_eq!(delta.decode().unwrap_err(), DecodeFailure::Damaged(DecodeError::WrongChecksum));
    }

    /// Issue 10, defect 6: a build that decodes, but not to what was
    /// packed, is damaged, whether stored, compressed or a delta; nothing
    /// else about it needs to be wrong.
    #[test]
    fn builds_that_differ_from_their_checksum_are_damaged() {
        let damaged = Err(DecodeFailure::Damaged(DecodeError::WrongChecksum));
        let raw = blob_of(b"raw", b"rav", 3, Compression::Stored, None);
        assert_eq!(raw.decode().map(|_| ()), damaged);
        let mut out = [0u8; 3 + codec::SLACK];
        assert_eq!(raw.decode_to(&mut out, 1, &mut |_| {}), damaged);
        let lz = blob_of(b"jello", HELLO_LZ, 5, Compression::Lz, None);
        assert_eq!(lz.decode().map(|_| ()), damaged);
        // A delta against a damaged base: the delta's own check fails.
        let bad_base: &'static Blob = Box::leak(Box::new(blob_of(b"x", HELLO_LZ, 5, Compression::Lz, None)));
        let delta = blob_of(b"hello!", HELLO_BANG_DELTA, 6, Compression::LzDelta, Some(bad_base));
        assert!(delta.decode().is_ok(), "the base itself is not checked: its bytes are");
        let other = blob_of(b"hello!", HELLO_BANG_DELTA, 6, Compression::LzDelta, Some(base()));
        assert!(other.decode().is_ok());
        let delta = blob_of(b"jello!", HELLO_BANG_DELTA, 6, Compression::LzDelta, Some(base()));
        assert_eq!(delta.decode().map(|_| ()), damaged);
    }

    /// Stored builds of several chunks, on two threads from 4 MiB: every
    /// byte is covered.
    #[test]
    fn stored_builds_are_checked_whole() {
        for size in [3 * check::CHUNK + 5, PARALLEL_MIN + check::CHUNK / 2 + 3] {
            let build: Vec<u8> = (0..size).map(|i| (i * 31 + i / 977) as u8).collect();
            let data: &'static [u8] = build.clone().leak();
            assert!(blob_of(&build, data, size as u64, Compression::Stored, None).decode().is_ok());
            for at in [0, check::CHUNK - 1, size / 2, size - 1] {
                let mut bad = build.clone();
                bad[at] ^= 0x10;
                let blob = blob_of(&build, bad.leak(), size as u64, Compression::Stored, None);
                assert!(blob.decode().is_err(), "size {size}: flip at {at}");
            }
        }
    }

    /// A blob of two segments of 3 MiB and `extra` bytes: big enough for
    /// two threads; and the build it decodes to.
    fn two_segments(extra: usize) -> (&'static [u8], Vec<u8>) {
        const HALF: usize = 3 << 20;
        // 768 sequences of one literal and a 4095-byte repeat of it, then
        // the end: `extra` literals, no match.
        let part = |byte: u8| {
            let mut s = Vec::new();
            for _ in 0..HALF / 4096 {
                s.extend_from_slice(&[0x1f, 0x00, byte, 0xff, 0xeb, 0x1d]);
            }
            s.extend_from_slice(&[(extra as u8) << 4, 0]);
            s.extend(std::iter::repeat_n(byte, extra));
            s
        };
        let (a, b) = (part(b'a'), part(b'b'));
        let mut data = vec![2];
        for s in [&a, &b] {
            let mut n = HALF + extra;
            while n >= 0x80 {
                data.push(n as u8 | 0x80);
                n >>= 7;
            }
            data.push(n as u8);
            let mut n = s.len();
            while n >= 0x80 {
                data.push(n as u8 | 0x80);
                n >>= 7;
            }
            data.push(n as u8);
        }
        data.extend_from_slice(&a);
        data.extend_from_slice(&b);
        let mut build = vec![b'a'; HALF + extra];
        build.resize(2 * (HALF + extra), b'b');
        (data.leak(), build)
    }

    #[test]
    fn two_segments_decode_on_two_threads_and_report_progress() {
        // A cut on a chunk boundary, and one inside a chunk.
        for extra in [0, 5] {
            let (data, build) = two_segments(extra);
            let size = build.len() as u64;
            let blob = blob_of(&build, data, size, Compression::Lz, None);
            let mut out = vec![0u8; blob.room().unwrap()];
            let mut seen = Vec::new();
            blob.decode_to(&mut out, 1 << 20, &mut |n| seen.push(n)).unwrap();
            assert!(out[..build.len()] == build[..], "extra {extra}");
            assert_eq!(seen.last(), Some(&build.len()));
            assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
            assert!(seen.len() >= 3, "progress while decoding: {seen:?}");
            // A damaged second segment fails the whole decode.
            let mut bad = data.to_vec();
            let last = bad.len() - 1;
            bad[last] = 1;
            let bad = blob_of(&build, bad.leak(), size, Compression::Lz, None);
            assert!(bad.decode_to(&mut out, 1 << 20, &mut |_| {}).is_err());
            // A changed literal in either segment, or (extra 5) in the
            // chunk across the cut: the streams decode, the checksum does
            // not match.
            let stream = (data.len() - 13) / 2;
            let mut literals = vec![13 + 2, 13 + stream + 2 + 6 * 100];
            if extra > 0 {
                literals.push(13 + stream - 1);
            }
            for at in literals {
                let mut bad = data.to_vec();
                bad[at] ^= 0x01;
                let bad = blob_of(&build, bad.leak(), size, Compression::Lz, None);
                let got = bad.decode_to(&mut out, 1 << 20, &mut |_| {});
                assert_eq!(
                    got,
                    Err(DecodeFailure::Damaged(DecodeError::WrongChecksum)),
                    "extra {extra}: {at}"
                );
            }
        }
    }

    #[test]
    fn damaged_blobs_are_errors() {
        // Wrong recorded size, missing base, a delta against a delta.
        assert!(blob(HELLO_LZ, 6, Compression::Lz, None).decode().is_err());
        assert!(blob(b"raw", 4, Compression::Stored, None).decode().is_err());
        assert!(blob(HELLO_BANG_DELTA, 6, Compression::LzDelta, None).decode().is_err());
        let delta_base = blob_of(b"hello!", HELLO_BANG_DELTA, 6, Compression::LzDelta, Some(base()));
        let delta_base: &'static Blob = Box::leak(Box::new(delta_base));
        let delta = blob_of(b"hello!", HELLO_BANG_DELTA, 6, Compression::LzDelta, Some(delta_base));
        assert!(delta.decode().is_err());
    }

    #[test]
    fn variant_names() {
        for good in ["x86-64", "x86-64-v4", "znver4", "a", "0", "v3.aes_sha", &"a".repeat(32)] {
            assert!(valid_name(good.as_bytes()), "{good:?}");
        }
        for bad in ["", "-a", ".a", "_a", "A", "a b", "a/b", "a\0", "é", &"a".repeat(33), "a=b", "a,b"] {
            assert!(!valid_name(bad.as_bytes()), "{bad:?}");
        }
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
