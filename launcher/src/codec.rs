//! The decoder of the bundle's compressed builds: an LZ77 stream whose
//! matches copy either from the output so far or from a reference build.
//!
//! With the x86-64 build as the reference, the other levels' builds (which
//! share most of their data and much of their code with it) shrink to a
//! fraction of their size, and decoding stays a sequence of `memcpy`s: no
//! entropy stage, so a cold start costs about what copying the build costs.
//!
//! A stream is a series of sequences, each:
//!
//! ```text
//! literal length   varint
//! literals         that many bytes
//! match length     varint; 0 ends the stream
//! match code       varint: (offset << 1) | source
//!   source 0: copy from the output, `offset + 1` bytes back (may overlap)
//!   source 1: copy from the reference at `last + unzigzag(offset)`, where
//!             `last` is where the previous reference copy ended (0 at first)
//! ```
//!
//! Varints are LEB128, at most 10 bytes. The encoder lives in the CLI.
//!
//! A compressed blob is one or more such streams, each decoding to the next
//! part of the build without copying from the parts before it, so that the
//! parts decode in parallel (see [`Segments`]):
//!
//! ```text
//! count            varint, 1 to MAX_SEGMENTS
//! per segment      varint decoded length, varint stream length
//! the streams, in order
//! ```
//!
//! Cutting a 34 MB build in two made its streams 0.04% smaller; in four,
//! 0.2% larger: matches seldom reach that far back.
//!
//! Why not a crate: the delta needs matches reaching anywhere in a reference
//! of tens of MB (zstd's `--patch-from`). lz4_flex, the well-kept pure-Rust
//! LZ4, has a 64 KiB window; ruzstd, the pure-Rust zstd decoder, accepts only
//! formatted dictionaries through its public API (not zstd's raw-content
//! prefix) and decodes at a fraction of LZ4's speed. The format here is the
//! smallest one that does both, and its decoder is about 100 lines.

use core::fmt;

/// Why a stream does not decode. Every malformed input ends in one of these:
/// the decoder never panics and never writes past the declared size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The stream ends inside a sequence.
    Truncated,
    /// A varint is longer than 10 bytes or overflows.
    BadVarint,
    /// A copy reaches before the start of the output or outside the reference.
    BadOffset,
    /// The output would exceed, or ends short of, the declared size.
    WrongSize,
    /// Bytes follow the end of the stream.
    TrailingData,
    /// The segment table does not describe the stored bytes.
    BadSegments,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::Truncated => "compressed stream is truncated",
            DecodeError::BadVarint => "compressed stream has a malformed length",
            DecodeError::BadOffset => "compressed stream copies from outside its data",
            DecodeError::WrongSize => "compressed stream does not decode to the recorded size",
            DecodeError::TrailingData => "compressed stream has bytes after its end",
            DecodeError::BadSegments => "segment table does not match the stored bytes",
        })
    }
}

impl core::error::Error for DecodeError {}

#[derive(Debug)]
struct Input<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    #[inline]
    fn varint(&mut self) -> Result<u64, DecodeError> {
        // Most lengths and codes fit one byte.
        if let Some(&b) = self.bytes.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self.bytes.get(self.pos).ok_or(DecodeError::Truncated)?;
            self.pos += 1;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError::BadVarint);
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::BadVarint)
    }
}

/// The most segments a blob may have.
pub const MAX_SEGMENTS: usize = 4;

/// The segments of a compressed blob: each its decoded length and stream,
/// checked to add up to the blob's size and stored bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segments<'a> {
    parts: [(usize, &'a [u8]); MAX_SEGMENTS],
    count: usize,
}

impl<'a> Segments<'a> {
    /// Reads the segment table at the start of `data`, a blob decoding to `size` bytes.
    pub fn parse(data: &'a [u8], size: usize) -> Result<Segments<'a>, DecodeError> {
        let mut input = Input { bytes: data, pos: 0 };
        let count = input.varint()?;
        if count == 0 || count > MAX_SEGMENTS as u64 {
            return Err(DecodeError::BadSegments);
        }
        let count = count as usize;
        let mut lens = [(0usize, 0usize); MAX_SEGMENTS];
        let (mut total_out, mut total_stream) = (0usize, 0usize);
        for len in &mut lens[..count] {
            let out = usize::try_from(input.varint()?).map_err(|_| DecodeError::BadSegments)?;
            let stream = usize::try_from(input.varint()?).map_err(|_| DecodeError::BadSegments)?;
            total_out = total_out.checked_add(out).ok_or(DecodeError::BadSegments)?;
            total_stream = total_stream.checked_add(stream).ok_or(DecodeError::BadSegments)?;
            *len = (out, stream);
        }
        if total_out != size {
            return Err(DecodeError::WrongSize);
        }
        let mut rest = &data[input.pos..];
        if rest.len() != total_stream {
            return Err(DecodeError::BadSegments);
        }
        let mut parts = [(0, &[][..]); MAX_SEGMENTS];
        for (part, &(out, stream)) in parts.iter_mut().zip(&lens[..count]) {
            let (head, tail) = rest.split_at(stream);
            *part = (out, head);
            rest = tail;
        }
        Ok(Segments { parts, count })
    }

    /// Each segment's decoded length and stream, in order.
    pub fn parts(&self) -> &[(usize, &'a [u8])] {
        &self.parts[..self.count]
    }
}

/// Decodes a compressed blob (its segment table and streams) against
/// `reference` into `out[..size]`, one segment after the other; `out` is as
/// for [`decode_into`].
pub fn decode_blob_into(
    data: &[u8],
    reference: &[u8],
    out: &mut [u8],
    size: usize,
) -> Result<(), DecodeError> {
    if out.len() < size {
        return Err(DecodeError::WrongSize);
    }
    let mut at = 0;
    for &(len, stream) in Segments::parse(data, size)?.parts() {
        // A segment's wild copies may run into the next one, which is
        // decoded after it and overwrites them.
        decode_into(stream, reference, &mut out[at..], len)?;
        at += len;
    }
    Ok(())
}

/// Bytes the fast paths copy at once, and the output's spare room for them.
pub const SLACK: usize = 16;

/// The size of the fixed copies of the fast paths.
const CHUNK: usize = 16;

/// `len` rounded up to whole chunks (at least one): what `copy_chunks` touches.
#[inline(always)]
fn chunks(len: usize) -> usize {
    len.max(1).div_ceil(CHUNK) * CHUNK
}

/// Copies `len` bytes as whole 16-byte chunks, front to back: up to
/// `chunks(len)` bytes are written, the ones past `len` to be overwritten
/// by what follows. Two unaligned 16-byte moves per chunk and no call.
///
/// # Safety
/// `src` must be readable and `dst` writable for `chunks(len)` bytes. If
/// they overlap, `dst` must be at least 16 bytes after `src`, so that each
/// chunk reads only bytes already final.
#[inline(always)]
unsafe fn copy_chunks(dst: *mut u8, src: *const u8, len: usize) {
    let mut i = 0;
    loop {
        // SAFETY: i < chunks(len), as the caller allows.
        unsafe {
            let v = core::ptr::read_unaligned(src.add(i).cast::<[u8; CHUNK]>());
            core::ptr::write_unaligned(dst.add(i).cast::<[u8; CHUNK]>(), v);
        }
        i += CHUNK;
        if i >= len {
            break;
        }
    }
}

/// Undoes the zigzag mapping of signed to unsigned offsets.
#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Decodes `stream` against `reference` into `out[..size]`.
///
/// `out` may be longer than `size`: the decoder then copies in fixed 16-byte
/// chunks where they fit, which may leave arbitrary bytes in `out[size..]`.
/// With fewer than [`SLACK`] spare bytes it is only slower.
pub fn decode_into(stream: &[u8], reference: &[u8], out: &mut [u8], size: usize) -> Result<(), DecodeError> {
    let mut decoder = Decoder::new(stream, reference);
    decoder.decode_to(out, size, usize::MAX)?;
    if decoder.is_done() {
        Ok(())
    } else {
        Err(DecodeError::Truncated)
    }
}

/// [`decode_into`] in steps: each call decodes until a given number of
/// bytes is final, so that they can be used (written to a file) while the
/// rest is decoded.
#[derive(Debug)]
pub struct Decoder<'a> {
    input: Input<'a>,
    reference: &'a [u8],
    /// Bytes of the output written so far.
    at: usize,
    last_ref: usize,
    done: bool,
}

impl<'a> Decoder<'a> {
    /// A decoder of `stream` against `reference`.
    pub fn new(stream: &'a [u8], reference: &'a [u8]) -> Decoder<'a> {
        Decoder { input: Input { bytes: stream, pos: 0 }, reference, at: 0, last_ref: 0, done: false }
    }

    /// Whether the whole stream has been decoded and checked.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Decodes until at least `until` bytes of `out[..size]` are final, or to
    /// the end of the stream; returns how many are final. Every call must
    /// pass the same `out` and `size` (the stream copies from its earlier
    /// output); `out` is as for [`decode_into`].
    pub fn decode_to(&mut self, out: &mut [u8], size: usize, until: usize) -> Result<usize, DecodeError> {
        if out.len() < size || self.at > size {
            return Err(DecodeError::WrongSize);
        }
        if self.done {
            return Ok(self.at);
        }
        let cap = out.len();
        let reference = self.reference;
        // Locals, not fields, in the loop: they stay in registers.
        let mut input = Input { bytes: self.input.bytes, pos: self.input.pos };
        let mut at = self.at;
        let mut last_ref = self.last_ref;
        // Every write below goes through `op`, and every index is checked
        // against `cap` (writes), `at` (self copies), the stream's or the
        // reference's length (reads) before the copy; see `copy_chunks`.
        let op = out.as_mut_ptr();
        let result = loop {
            if at >= until {
                break Ok(at);
            }
            let lit = input.varint()?;
            if lit > (size - at) as u64 {
                return Err(DecodeError::WrongSize);
            }
            let lit = lit as usize;
            let from = input.pos;
            let end =
                from.checked_add(lit).filter(|&e| e <= input.bytes.len()).ok_or(DecodeError::Truncated)?;
            // SAFETY: out[at..at + lit] is inside out (lit <= size - at);
            // with room for whole chunks, they stay inside both buffers.
            unsafe {
                if from + chunks(lit) <= input.bytes.len() && at + chunks(lit) <= cap {
                    copy_chunks(op.add(at), input.bytes.as_ptr().add(from), lit);
                } else {
                    core::ptr::copy_nonoverlapping(input.bytes.as_ptr().add(from), op.add(at), lit);
                }
            }
            input.pos = end;
            at += lit;
            let len = input.varint()?;
            if len == 0 {
                if at != size {
                    break Err(DecodeError::WrongSize);
                }
                if input.pos != input.bytes.len() {
                    break Err(DecodeError::TrailingData);
                }
                self.done = true;
                break Ok(at);
            }
            if len > (size - at) as u64 {
                return Err(DecodeError::WrongSize);
            }
            let len = len as usize;
            let code = input.varint()?;
            let offset = code >> 1;
            if code & 1 == 0 {
                if offset >= at as u64 {
                    return Err(DecodeError::BadOffset);
                }
                let distance = offset as usize + 1;
                let start = at - distance;
                // SAFETY: start < at and at + len <= size <= cap, so every
                // read is of written output and every write inside out.
                unsafe {
                    if distance >= CHUNK && at + chunks(len) <= cap {
                        // Each chunk reads bytes at least CHUNK behind it:
                        // already final when it is read.
                        copy_chunks(op.add(at), op.add(start), len);
                    } else if distance >= len {
                        core::ptr::copy_nonoverlapping(op.add(start), op.add(at), len);
                    } else if len <= 2 * CHUNK {
                        // A short repeat of the last `distance` bytes.
                        for k in 0..len {
                            *op.add(at + k) = *op.add(start + k);
                        }
                    } else {
                        // A long repeat: each pass copies everything written
                        // so far of the match, so the chunk doubles.
                        let mut done = 0;
                        while done < len {
                            let chunk = (distance + done).min(len - done);
                            core::ptr::copy_nonoverlapping(op.add(start), op.add(at + done), chunk);
                            done += chunk;
                        }
                    }
                }
            } else {
                let pos = (last_ref as i64).checked_add(unzigzag(offset)).ok_or(DecodeError::BadOffset)?;
                let pos = usize::try_from(pos).map_err(|_| DecodeError::BadOffset)?;
                let end =
                    pos.checked_add(len).filter(|&e| e <= reference.len()).ok_or(DecodeError::BadOffset)?;
                // SAFETY: reference[pos..end] is inside the reference and
                // out[at..at + len] inside out; chunks only where both have room.
                unsafe {
                    if pos + chunks(len) <= reference.len() && at + chunks(len) <= cap {
                        copy_chunks(op.add(at), reference.as_ptr().add(pos), len);
                    } else {
                        core::ptr::copy_nonoverlapping(reference.as_ptr().add(pos), op.add(at), len);
                    }
                }
                last_ref = end;
            }
            at += len;
        };
        self.input.pos = input.pos;
        self.at = at;
        self.last_ref = last_ref;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(stream: &[u8], reference: &[u8], size: usize) -> Result<Vec<u8>, DecodeError> {
        let mut out = vec![0; size.min(1 << 20).saturating_add(SLACK)];
        decode_into(stream, reference, &mut out, size)?;
        out.truncate(size);
        Ok(out)
    }

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    #[test]
    fn literals_self_and_reference_copies() {
        let reference = b"0123456789";
        let mut s = Vec::new();
        varint(&mut s, 3);
        s.extend_from_slice(b"abc");
        varint(&mut s, 7); // overlapping self copy of "abc"
        varint(&mut s, 2 << 1); // distance 3
        varint(&mut s, 0);
        varint(&mut s, 4); // reference copy at 0 + 2
        varint(&mut s, (2 << 1) << 1 | 1); // zigzag(2) = 4, source 1
        varint(&mut s, 0);
        varint(&mut s, 2); // continues where the last one ended: zigzag(0)
        varint(&mut s, 1);
        varint(&mut s, 0);
        varint(&mut s, 0);
        assert_eq!(decode(&s, reference, 16).unwrap(), b"abcabcabca234567");
    }

    #[test]
    fn malformed_streams_are_errors() {
        let r = b"0123";
        assert_eq!(decode(&[], r, 0), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0, 0], r, 0), Ok(vec![]));
        assert_eq!(decode(&[0, 0, 0], r, 0), Err(DecodeError::TrailingData));
        assert_eq!(decode(&[5, b'a'], r, 5), Err(DecodeError::Truncated));
        assert_eq!(decode(&[1, b'a', 0], r, 2), Err(DecodeError::WrongSize));
        assert_eq!(decode(&[1, b'a', 0], r, 0), Err(DecodeError::WrongSize));
        // Self copy before the start.
        assert_eq!(decode(&[1, b'a', 2, 2, 0, 0], r, 3), Err(DecodeError::BadOffset));
        // Reference copy past its end, and before its start.
        assert_eq!(decode(&[0, 3, 4 << 1 | 1, 0, 0], r, 3), Err(DecodeError::BadOffset));
        assert_eq!(decode(&[0, 1, 1 << 1 | 1, 0, 0], r, 1), Err(DecodeError::BadOffset));
        assert_eq!(decode(&[0xff; 11], r, 1), Err(DecodeError::BadVarint));
        // A huge declared size fails cleanly.
        assert!(decode(&[0, 0], r, usize::MAX).is_err());
    }

    /// Decoding in steps gives what one call gives, and each step's bytes
    /// are final when it returns.
    #[test]
    fn steps_decode_the_same_bytes() {
        let reference = b"0123456789";
        let mut s = Vec::new();
        for k in 0..50 {
            varint(&mut s, 3);
            s.extend_from_slice(b"abc");
            varint(&mut s, 7);
            varint(&mut s, 2 << 1);
            varint(&mut s, 0);
            varint(&mut s, 4);
            // Reference "0123": at 0, then 4 back from where the last ended.
            varint(&mut s, if k == 0 { 1 } else { 7 << 1 | 1 });
        }
        varint(&mut s, 0);
        varint(&mut s, 0);
        let size = 50 * 14;
        let whole = decode(&s, reference, size).unwrap();
        for step in [1, 5, 13, 64, 1000] {
            let mut out = vec![0; size + SLACK];
            let mut d = Decoder::new(&s, reference);
            let mut last = 0;
            while !d.is_done() {
                let ready = d.decode_to(&mut out, size, last + step).unwrap();
                assert!(ready >= (last + step).min(size) && ready <= size, "step {step}");
                assert_eq!(out[..ready], whole[..ready], "step {step}");
                last = ready;
            }
            assert_eq!(d.decode_to(&mut out, size, usize::MAX), Ok(size));
        }
    }

    #[test]
    fn segment_tables_must_match_the_stored_bytes() {
        // Two segments: 3 bytes from "abc" as literals, then 2 from "xy".
        let a = [3, b'a', b'b', b'c', 0];
        let b = [2, b'x', b'y', 0];
        let mut data = vec![2, 3, a.len() as u8, 2, b.len() as u8];
        data.extend_from_slice(&a);
        data.extend_from_slice(&b);
        let segments = Segments::parse(&data, 5).unwrap();
        assert_eq!(segments.parts(), &[(3, &a[..]), (2, &b[..])]);
        let mut out = [0u8; 5 + SLACK];
        decode_blob_into(&data, &[], &mut out, 5).unwrap();
        assert_eq!(&out[..5], b"abcxy");
        assert_eq!(Segments::parse(&data, 6), Err(DecodeError::WrongSize));
        assert_eq!(Segments::parse(&data[..data.len() - 1], 5), Err(DecodeError::BadSegments));
        let mut longer = data.clone();
        longer.push(0);
        assert_eq!(Segments::parse(&longer, 5), Err(DecodeError::BadSegments));
        assert_eq!(Segments::parse(&[0], 0), Err(DecodeError::BadSegments));
        assert_eq!(Segments::parse(&[5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0), Err(DecodeError::BadSegments));
        assert_eq!(Segments::parse(&[], 0), Err(DecodeError::Truncated));
        assert!(
            Segments::parse(&[2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 1, 0], 0).is_err()
        );
    }

    #[test]
    fn zigzag() {
        for (u, i) in [(0, 0), (1, -1), (2, 1), (3, -2), (4, 2)] {
            assert_eq!(unzigzag(u), i);
        }
    }

    /// Arbitrary bytes, sizes and references: an error or a buffer of the
    /// declared size, never a panic.
    #[test]
    fn arbitrary_streams_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let reference: Vec<u8> = (0..300).map(|_| next() as u8).collect();
        for _ in 0..50_000 {
            let len = (next() % 64) as usize;
            // Small values make plausible lengths and offsets.
            let stream: Vec<u8> =
                (0..len).map(|_| (next() % if next() % 4 == 0 { 256 } else { 24 }) as u8).collect();
            let size = (next() % 200) as usize;
            let r = &reference[..(next() % 300) as usize];
            if let Ok(out) = decode(&stream, r, size) {
                assert_eq!(out.len(), size);
            }
        }
    }
}
