//! The decoder of the bundle's compressed builds: an LZ77 stream whose
//! matches copy either from the output so far or from a reference build.
//!
//! With another build of the same program as the reference, a build (which
//! shares most of its data and much of its code with it) shrinks to a
//! fraction of its size, and decoding stays a sequence of copies: no
//! entropy stage, so a cold start costs a few times what copying the build
//! costs. The encoder lives in the CLI (`multiarch_cli::compress`).
//!
//! # Delta bases
//!
//! `multiarch pack` stores the baseline's build alone and chooses, per
//! other build, a reference among the builds it stores alone: the
//! baseline's and the two nearest by required features, whichever gives the
//! smallest bundle (`compress_blobs` in `cli/src/pack.rs`). References are
//! never deltas themselves, so a cold start decodes at most two streams
//! (`Blob::decode` refuses a chain). A delta is kept only where it saves at
//! least the reference's size / 64 over the build's standalone stream: the
//! second decode added 30 ms to a cold start of a 33 MB build (the
//! reference's decode and mapping; load average 3.3), once per user and
//! machine and never with a prepared install, while 33 MB / 64 = 0.5 MB is
//! about 100 ms of a 40 Mbit/s download. On
//! the six 33 MB builds of `bench/variants.sh` `sapphirerapids` is 0.157x
//! against `x86-64-v4` where alone it is 0.279x (and 0.28x against
//! `x86-64`, hence the old rule, a delta against the baseline that must
//! halve the stream, stored every build alone).
//!
//! # Format
//!
//! A stream is a series of sequences, each:
//!
//! ```text
//! token        1 byte: L = token >> 4, M = token & 15
//! offset code  1 to 4 bytes, little-endian. The low 2 bits of the first
//!              byte are the byte count less one; the other 6, 14, 22 or 30
//!              bits are the code, (offset << 1) | source:
//!   source 0: copy from the output, offset + 1 bytes back (may overlap)
//!   source 1: copy from the reference at last + unzigzag(offset), where
//!             last is where the previous reference copy ended (0 at first)
//! [extension]  if L = 15: the literal length is 15 + this; else it is L
//! literals     that many bytes
//! [extension]  if M = 15: the match length is min + 15 + this; else min + M,
//!              where min is 6 for a self copy and 4 for a reference copy
//! ```
//!
//! An extension is a byte below 255, or 255 and then a LEB128 varint (at
//! most 10 bytes) of the rest. The last sequence has M = 0, the 1-byte
//! offset code 0 and no match: its literals must end the output exactly at
//! the declared size, and it must end the stream.
//!
//! # Why this shape (33 MB x86-64 build of `bench/peers/workload_big`)
//!
//! The format before was three LEB128 varints per sequence (literal length,
//! match length, offset code). Its decoder took 18-20 ms for the build's
//! 1.8 M sequences, about 11 ns each, where a `memcpy` of the build takes
//! 3 ms. Timing prototypes of the alternatives (each decoding the same
//! sequences, unchecked) showed where that went:
//!
//! - The position of the next sequence was known only after two dependent
//!   reads: the literal length, then the varint after the literals, whose
//!   length is in its own bytes. That chain alone took ~16 cycles per
//!   sequence (8.4 ms with no copying at all). Here the token and the offset
//!   code's length tag sit at fixed places before the literals, read at
//!   once: the chain is one load. Prototypes, same sequences: varint offset
//!   after the literals 12.4 ms, tagged offset after them 11.7 ms, tagged
//!   offset before them 9.9 ms, fixed 4-byte offsets 9.2 ms (3 MB larger).
//! - A token with 4-bit lengths, as in LZ4: 98% of literal runs and 80% of
//!   matches fit their nibble; the extension costs a predictable branch. A
//!   2-bit literal length (to fit the offset's size in the token) needs an
//!   extension for 16% of sequences, and those mispredict: 10.7 ms.
//! - The 2-bit tag instead of a varint: decoding it is a mask and a table
//!   lookup, and a 6-bit first byte costs 2% in size against 7 bits.
//! - Separate sections for tokens, offsets, extensions and literals (as
//!   zstd) shorten the chains further but keep 4 cursors live: 75
//!   instructions a sequence (cachegrind), and no faster (11.8 ms).
//!   Branch-free extensions and source selection were slower too.
//! - Copies are fixed 16-byte literal moves and three 8-byte match moves
//!   (a match up to 20 bytes, from at least 8 bytes back), as LZ4 does,
//!   written as explicit loads and stores: as `copy_nonoverlapping` of 16,
//!   LLVM merged the fixed copy with the variable one next to it into a
//!   call to `memcpy` with a selected length, which cost 30%.
//!
//! The stream is also 11% smaller (9.60 MB against 10.79 MB for the base
//! build): a sequence's two lengths take one byte instead of two. What is
//! left of the time is mostly waiting for match sources no longer in the
//! cache: the encoder keeps short self matches within 1 MiB (`NEAR` in
//! `compress.rs`), and the decoder prefetches the reference ahead of
//! reference copies (`PREFETCH_AHEAD`). With both, best of 20 runs into a
//! faulted buffer, against the varint format:
//!
//! ```text
//!                       decode ms     stream MB
//! x86-64 (alone)        19.2 ->  9.6  10.79 -> 9.64
//! x86-64-v2..v4 alone   17-19 -> 9.5-10.5, 10.6-11.1 -> 9.5-9.9
//! v2..v4 against x86-64 24-25 -> 13-14   7.4-9.4 -> 6.5-8.2
//! ```
//!
//! # Segments
//!
//! A compressed blob is one or more such streams, each decoding to the next
//! part of the build without copying from the parts before it, so that the
//! parts decode in parallel (see [`Segments`]):
//!
//! ```text
//! count            LEB128 varint, 1 to MAX_SEGMENTS
//! per segment      LEB128 varints: decoded length, stream length
//! the streams, in order
//! ```
//!
//! Cutting a 34 MB build in two made its streams 0.04% smaller; in four,
//! 0.2% larger: matches seldom reach that far back.
//!
//! # Not a crate
//!
//! Why not a crate: the delta needs matches reaching anywhere in a reference
//! of tens of MB (zstd's `--patch-from`). lz4_flex, the well-kept pure-Rust
//! LZ4, has a 64 KiB window; ruzstd, the pure-Rust zstd decoder, accepts only
//! formatted dictionaries through its public API (not zstd's raw-content
//! prefix) and decodes at a fraction of LZ4's speed.

use core::fmt;
use core::ptr;

/// Why a stream does not decode. Every malformed input ends in one of these:
/// the decoder never panics and never writes past the declared size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The stream ends inside a sequence.
    Truncated,
    /// A length extension's varint is longer than 10 bytes or overflows.
    BadVarint,
    /// A copy reaches before the start of the output or outside the
    /// reference, or the last sequence's offset is not 0.
    BadOffset,
    /// The output would exceed, or ends short of, the declared size.
    WrongSize,
    /// Bytes follow the end of the stream.
    TrailingData,
    /// The segment table does not describe the stored bytes.
    BadSegments,
    /// The decoded (or stored) build differs from the checksum `multiarch
    /// pack` recorded (see [`crate::check`]).
    WrongChecksum,
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
            DecodeError::WrongChecksum => "build does not match the checksum recorded when it was packed",
        })
    }
}

impl core::error::Error for DecodeError {}

/// Spare bytes after the declared size that let every copy, to the last,
/// be done in whole 8- and 16-byte chunks.
pub const SLACK: usize = 32;

/// Shortest copy from the output: a match length nibble of 0 means this.
pub const MIN_SELF_MATCH: usize = 6;
/// Shortest copy from the reference.
pub const MIN_REFERENCE_MATCH: usize = 4;
/// Largest offset code: 4 bytes less the 2-bit length tag.
pub const MAX_OFFSET_CODE: u32 = (1 << 30) - 1;

/// Undoes the zigzag mapping of signed to unsigned offsets.
#[inline]
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// The bits of a 1-, 2-, 3- and 4-byte offset code, by its tag.
const CODE_MASK: [u32; 4] = [0xff, 0xffff, 0xff_ffff, 0xffff_ffff];

/// Decodes an offset code from its first 4 bytes (zero-padded past the
/// stream's end): its length in bytes and its value.
#[inline(always)]
fn offset_code(word: u32) -> (usize, u32) {
    let tag = (word & 3) as usize;
    (tag + 1, (word & CODE_MASK[tag]) >> 2)
}

/// Reads a length extension at `*at`: one byte below 255, or 255 and a
/// LEB128 varint of the rest.
#[inline(always)]
fn extension(stream: &[u8], at: &mut usize) -> Result<usize, DecodeError> {
    let first = *stream.get(*at).ok_or(DecodeError::Truncated)?;
    *at += 1;
    if first < 255 {
        return Ok(usize::from(first));
    }
    long_extension(stream, at)
}

/// The varint of an extension past 254.
#[cold]
#[inline(never)]
fn long_extension(stream: &[u8], at: &mut usize) -> Result<usize, DecodeError> {
    usize::try_from(leb128(stream, at)?).ok().and_then(|v| v.checked_add(255)).ok_or(DecodeError::BadVarint)
}

/// Reads a LEB128 varint of at most 10 bytes at `*at`.
fn leb128(bytes: &[u8], at: &mut usize) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *bytes.get(*at).ok_or(DecodeError::Truncated)?;
        *at += 1;
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
        let mut pos = 0;
        let count = leb128(data, &mut pos)?;
        if count == 0 || count > MAX_SEGMENTS as u64 {
            return Err(DecodeError::BadSegments);
        }
        let count = count as usize;
        let mut lens = [(0usize, 0usize); MAX_SEGMENTS];
        let (mut total_out, mut total_stream) = (0usize, 0usize);
        for len in &mut lens[..count] {
            let out = usize::try_from(leb128(data, &mut pos)?).map_err(|_| DecodeError::BadSegments)?;
            let stream = usize::try_from(leb128(data, &mut pos)?).map_err(|_| DecodeError::BadSegments)?;
            total_out = total_out.checked_add(out).ok_or(DecodeError::BadSegments)?;
            total_stream = total_stream.checked_add(stream).ok_or(DecodeError::BadSegments)?;
            *len = (out, stream);
        }
        if total_out != size {
            return Err(DecodeError::WrongSize);
        }
        let mut rest = data.get(pos..).unwrap_or(&[]);
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

/// Copies 16 bytes.
///
/// # Safety
/// `src..src + 16` is readable, `dst..dst + 16` writable, and they do not
/// overlap.
#[inline(always)]
unsafe fn copy16(src: *const u8, dst: *mut u8) {
    // Explicit vector moves: as a 16-byte `copy_nonoverlapping`, LLVM may
    // merge it with a neighbouring variable-length copy into one call to
    // `memcpy`, which costs more than the whole sequence.
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract; SSE2 is part of x86-64.
    unsafe {
        use core::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_storeu_si128};
        _mm_storeu_si128(dst.cast::<__m128i>(), _mm_loadu_si128(src.cast::<__m128i>()));
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: the caller's contract.
    unsafe {
        ptr::write_unaligned(dst.cast::<[u8; 16]>(), ptr::read_unaligned(src.cast::<[u8; 16]>()));
    }
}

/// Copies 8 bytes.
///
/// # Safety
/// `src..src + 8` is readable, `dst..dst + 8` writable, and they do not
/// overlap.
#[inline(always)]
unsafe fn copy8(src: *const u8, dst: *mut u8) {
    // SAFETY: the caller's contract.
    unsafe { ptr::write_unaligned(dst.cast::<u64>(), ptr::read_unaligned(src.cast::<u64>())) }
}

/// For a self copy at a distance below 16, the largest multiple of the
/// distance that is at most 16: the pattern repeats with that period.
const PERIOD: [u8; 16] = [16, 16, 16, 15, 16, 15, 12, 14, 16, 9, 10, 11, 12, 13, 14, 15];

/// `MODULO[d][j] = j % d`: where byte `j` of a period-`d` pattern comes from.
const MODULO: [[u8; 16]; 16] = {
    let mut table = [[0u8; 16]; 16];
    let mut d = 1;
    while d < 16 {
        let mut j = 0;
        while j < 16 {
            table[d][j] = (j % d) as u8;
            j += 1;
        }
        d += 1;
    }
    table
};

/// Copies `len` bytes from `distance` bytes back in the output to `at`,
/// for the cases the fast path leaves: short distances, long matches, and
/// no spare room.
///
/// # Safety
/// `out` points to `cap` writable bytes; `1 <= distance <= at` and
/// `at + len <= cap`.
#[inline(never)]
unsafe fn copy_self(out: *mut u8, cap: usize, at: usize, distance: usize, len: usize) {
    let room = cap - at;
    // SAFETY: `at - distance` and `at` are in `out`; in every branch the
    // condition keeps the writes below `at + room = cap`, and each read
    // lies below the write it feeds.
    unsafe {
        let src = out.add(at - distance);
        let dst = out.add(at);
        if distance >= 16 && room >= len + 16 {
            // Chunk k reads bytes before chunk k's own: written earlier,
            // by this copy when the match overlaps itself.
            let mut done = 0;
            while done < len {
                copy16(src.add(done), dst.add(done));
                done += 16;
            }
        } else if distance >= 8 && room >= len + 8 {
            let mut done = 0;
            while done < len {
                copy8(src.add(done), dst.add(done));
                done += 8;
            }
        } else if distance < 16 && room >= len + 16 {
            // A period-`distance` pattern: 16 bytes of it from the
            // `distance` bytes before `at`, stored every `step` bytes, a
            // multiple of the distance, so each store continues the
            // pattern. The last store ends before `at + len + 16`.
            let mut pattern = [0u8; 16];
            for (byte, &k) in pattern.iter_mut().zip(&MODULO[distance]) {
                *byte = *src.add(usize::from(k));
            }
            let step = usize::from(PERIOD[distance]);
            let mut done = 0;
            while done < len {
                ptr::write_unaligned(dst.add(done).cast::<[u8; 16]>(), pattern);
                done += step;
            }
        } else {
            // Exact, without spare room: each pass copies everything
            // written so far of the pattern, so `done` stays a multiple of
            // the distance and the chunk doubles.
            let mut done = 0;
            while done < len {
                let chunk = (distance + done).min(len - done);
                ptr::copy_nonoverlapping(src, dst.add(done), chunk);
                done += chunk;
            }
        }
    }
}

/// How far ahead of the last reference copy the reference is prefetched.
/// Reference copies walk through the reference roughly in step with the
/// output, but too sparsely for the hardware prefetcher: a delta of 1.6 M
/// sequences, 0.2 M of them reference copies, took 17.6 ms without and
/// 14.3 ms with (256 to 2048 bytes ahead did about as well).
const PREFETCH_AHEAD: usize = 512;

/// Asks for the cache line at `p`: a hint, which never faults, wherever `p`
/// points.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing architecturally and does not fault.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The buffers of one decode.
struct Buffers<'a> {
    stream: &'a [u8],
    reference: &'a [u8],
    /// `out.as_mut_ptr()`, valid for `cap` bytes; nothing else refers to it.
    out: *mut u8,
    cap: usize,
    size: usize,
}

/// Where decoding stands: `ip <= stream.len()`, `at <= size`.
#[derive(Clone, Copy, Debug)]
struct State {
    /// Bytes of the stream read.
    ip: usize,
    /// Bytes of the output written.
    at: usize,
    /// Where the last reference copy ended, in the reference.
    last_ref: usize,
}

/// Bytes of stream a fast-path sequence may read without checks: token,
/// 4 bytes of offset, and 16 of literals from at most 5 bytes in.
const FAST_IN: usize = 32;
/// Bytes of output a fast-path sequence may write without checks: 14
/// literals copied as 16, then a match of up to 20 bytes copied as 24.
const FAST_OUT: usize = 48;
/// The fast path's match copy: three 8-byte chunks.
const MATCH_CHUNKS: usize = 24;

/// Decodes `stream` against `reference` into `out[..size]`.
///
/// `out` may be longer than `size`: the decoder then copies in fixed-size
/// chunks where they fit, which may leave arbitrary bytes in `out[size..]`.
/// With fewer than [`SLACK`] spare bytes it is only slower near the end.
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
/// rest is decoded. The decoder never writes below the count it returned.
#[derive(Debug)]
pub struct Decoder<'a> {
    stream: &'a [u8],
    reference: &'a [u8],
    st: State,
    done: bool,
}

impl<'a> Decoder<'a> {
    /// A decoder of `stream` against `reference`.
    pub fn new(stream: &'a [u8], reference: &'a [u8]) -> Decoder<'a> {
        Decoder { stream, reference, st: State { ip: 0, at: 0, last_ref: 0 }, done: false }
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
        if out.len() < size || self.st.at > size {
            return Err(DecodeError::WrongSize);
        }
        if self.done {
            return Ok(self.st.at);
        }
        let b = Buffers {
            stream: self.stream,
            reference: self.reference,
            out: out.as_mut_ptr(),
            cap: out.len(),
            size,
        };
        let mut st = self.st;
        let result = run(&b, &mut st, until);
        self.st = st;
        if result? {
            self.done = true;
        }
        Ok(self.st.at)
    }
}

/// Decodes from `st` until `st.at >= until` or the end: true at the end.
#[inline(always)]
fn run(b: &Buffers, st: &mut State, until: usize) -> Result<bool, DecodeError> {
    if b.stream.len() >= FAST_IN && b.size >= FAST_OUT && fast(b, st, until)? {
        return Ok(true);
    }
    while st.at < until {
        match sequence(b, *st)? {
            Some(next) => *st = next,
            None => {
                // The last sequence checked that it ends both buffers.
                *st = State { ip: b.stream.len(), at: b.size, last_ref: st.last_ref };
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Decodes sequences while they are far from both ends (and `at <
/// until`), where the fixed bounds `FAST_IN` and `FAST_OUT` replace
/// per-copy checks: true when the stream ended in here.
#[inline(always)]
fn fast(b: &Buffers, st: &mut State, until: usize) -> Result<bool, DecodeError> {
    let (stream, reference, out, cap, size) = (b.stream, b.reference, b.out, b.cap, b.size);
    let in_end = stream.len() - FAST_IN;
    let out_end = size - FAST_OUT;
    // Sequences start while `at < limit`: `at <= out_end` and `at < until`.
    let limit = (out_end + 1).min(until);
    // Reference copies starting below this may read 24 bytes.
    let ref_fast = reference.len().saturating_sub(MATCH_CHUNKS - 1);
    let s = stream.as_ptr();
    let State { mut ip, mut at, mut last_ref } = *st;
    let mut prefetched = 0usize;
    while ip <= in_end && at < limit {
        // SAFETY: ip + 5 <= ip + FAST_IN <= stream.len().
        let (token, word) =
            unsafe { (*s.add(ip), u32::from_le(ptr::read_unaligned(s.add(ip + 1).cast::<u32>()))) };
        if token >= 0xf0 {
            // A literal length extension: rare, and the run may reach
            // anywhere. The general path checks everything.
            match sequence(b, State { ip, at, last_ref })? {
                Some(next) => State { ip, at, last_ref } = next,
                None => {
                    *st = State { ip: stream.len(), at: size, last_ref };
                    return Ok(true);
                }
            }
            continue;
        }
        let (code_len, code) = offset_code(word);
        let mut p = ip + 1 + code_len;
        let lit = usize::from(token >> 4);
        // SAFETY: p + 16 <= ip + 21 <= stream.len(); at + 16 <= out_end +
        // 16 <= size <= cap; `stream` is not `out`.
        unsafe { copy16(s.add(p), out.add(at)) };
        p += lit;
        at += lit;
        // Now p <= ip + 19 and at <= out_end + 14 = size - 34: not the last
        // sequence, and room for a 24-byte copy.
        let nibble = usize::from(token & 15);
        let offset = code >> 1;
        if code & 1 == 0 {
            let distance = offset as usize + 1;
            if distance > at {
                return Err(DecodeError::BadOffset);
            }
            if nibble < 15 && distance >= 8 {
                // SAFETY: at - distance >= 0 and at + 24 <= size - 10 <=
                // cap. Each chunk reads 8 bytes ending at least 8 before
                // its own start: written earlier, by this copy when the
                // match repeats itself.
                unsafe {
                    let src = out.add(at - distance);
                    copy8(src, out.add(at));
                    copy8(src.add(8), out.add(at + 8));
                    copy8(src.add(16), out.add(at + 16));
                }
                at += nibble + MIN_SELF_MATCH;
                ip = p;
                continue;
            }
            let mut len = nibble + MIN_SELF_MATCH;
            if nibble == 15 {
                len = len.checked_add(extension(stream, &mut p)?).ok_or(DecodeError::BadVarint)?;
                if len > size - at {
                    return Err(DecodeError::WrongSize);
                }
            }
            if distance >= 16 && len + 16 <= cap - at {
                // SAFETY: as above, in 16-byte chunks, writing below
                // at + len + 16 <= cap.
                unsafe {
                    let src = out.add(at - distance);
                    let mut done = 0;
                    while done < len {
                        copy16(src.add(done), out.add(at + done));
                        done += 16;
                    }
                }
            } else {
                // SAFETY: 1 <= distance <= at and at + len <= size <= cap.
                unsafe { copy_self(out, cap, at, distance, len) };
            }
            at += len;
        } else {
            let mut len = nibble + MIN_REFERENCE_MATCH;
            if nibble == 15 {
                len = len.checked_add(extension(stream, &mut p)?).ok_or(DecodeError::BadVarint)?;
                if len > size - at {
                    return Err(DecodeError::WrongSize);
                }
            }
            // Wrapping: a position before the reference's start becomes
            // huge and fails both checks below.
            let pos = last_ref.wrapping_add(unzigzag(u64::from(offset)) as usize);
            if pos < ref_fast && len <= MATCH_CHUNKS {
                // SAFETY: pos + 24 <= reference.len(), at + 24 <= cap, and
                // `reference` cannot overlap `out`, a unique borrow.
                unsafe {
                    let src = reference.as_ptr().add(pos);
                    copy8(src, out.add(at));
                    copy8(src.add(8), out.add(at + 8));
                    copy8(src.add(16), out.add(at + 16));
                }
            } else {
                if pos > reference.len() || len > reference.len() - pos {
                    return Err(DecodeError::BadOffset);
                }
                // SAFETY: pos + len <= reference.len(), at + len <= size <=
                // cap, distinct buffers.
                unsafe { ptr::copy_nonoverlapping(reference.as_ptr().add(pos), out.add(at), len) };
            }
            last_ref = pos + len;
            // Reference copies march through the reference with the
            // output: keep the lines ahead of them on their way in.
            let want = last_ref + PREFETCH_AHEAD;
            if want.wrapping_sub(prefetched) > 2 * PREFETCH_AHEAD {
                prefetched = want.saturating_sub(PREFETCH_AHEAD / 2);
            }
            while prefetched < want {
                prefetch(reference.as_ptr().wrapping_add(prefetched));
                prefetched += 64;
            }
            at += len;
        }
        ip = p;
    }
    *st = State { ip, at, last_ref };
    Ok(false)
}

/// Decodes one sequence with every check: `None` after the last one.
#[inline(never)]
fn sequence(b: &Buffers, st: State) -> Result<Option<State>, DecodeError> {
    let (stream, out, cap, size) = (b.stream, b.out, b.cap, b.size);
    let State { mut ip, mut at, mut last_ref } = st;
    let token = *stream.get(ip).ok_or(DecodeError::Truncated)?;
    ip += 1;
    let rest = stream.get(ip..).unwrap_or(&[]);
    let mut word = [0u8; 4];
    let n = rest.len().min(4);
    word[..n].copy_from_slice(&rest[..n]);
    let (code_len, code) = offset_code(u32::from_le_bytes(word));
    if code_len > rest.len() {
        return Err(DecodeError::Truncated);
    }
    ip += code_len;
    let mut lit = usize::from(token >> 4);
    if lit == 15 {
        lit = lit.checked_add(extension(stream, &mut ip)?).ok_or(DecodeError::BadVarint)?;
    }
    if lit > size - at {
        return Err(DecodeError::WrongSize);
    }
    let ahead = stream.len() - ip;
    if lit > ahead {
        return Err(DecodeError::Truncated);
    }
    // SAFETY: ip + lit <= stream.len() and at + lit <= size <= cap; the
    // 16-byte copy only where both have 16 bytes. `stream` is not `out`.
    unsafe {
        let src = stream.as_ptr().add(ip);
        if lit <= 16 && ahead >= 16 && cap - at >= 16 {
            copy16(src, out.add(at));
        } else {
            ptr::copy_nonoverlapping(src, out.add(at), lit);
        }
    }
    ip += lit;
    at += lit;
    if at == size {
        // The last sequence: literals only, after an offset of 0.
        if token & 15 != 0 {
            return Err(DecodeError::WrongSize);
        }
        if code != 0 || code_len != 1 {
            return Err(DecodeError::BadOffset);
        }
        if ip != stream.len() {
            return Err(DecodeError::TrailingData);
        }
        return Ok(None);
    }
    let nibble = usize::from(token & 15);
    let min = if code & 1 == 0 { MIN_SELF_MATCH } else { MIN_REFERENCE_MATCH };
    let mut len = nibble + min;
    if nibble == 15 {
        len = len.checked_add(extension(stream, &mut ip)?).ok_or(DecodeError::BadVarint)?;
    }
    if len > size - at {
        return Err(DecodeError::WrongSize);
    }
    let offset = code >> 1;
    if code & 1 == 0 {
        let distance = offset as usize + 1;
        if distance > at {
            return Err(DecodeError::BadOffset);
        }
        // SAFETY: 1 <= distance <= at, at + len <= size <= cap.
        unsafe { copy_self(out, cap, at, distance, len) };
    } else {
        let reference = b.reference;
        let pos = last_ref.wrapping_add(unzigzag(u64::from(offset)) as usize);
        if pos > reference.len() || len > reference.len() - pos {
            return Err(DecodeError::BadOffset);
        }
        // SAFETY: pos + len <= reference.len(), at + len <= size <= cap,
        // and `reference` cannot overlap `out`, a unique borrow.
        unsafe { ptr::copy_nonoverlapping(reference.as_ptr().add(pos), out.add(at), len) };
        last_ref = pos + len;
    }
    at += len;
    Ok(Some(State { ip, at, last_ref }))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// Decodes into a new buffer of exactly `size` bytes plus `room` spare,
    /// which start out as 0xaa.
    fn decode_with_room(
        stream: &[u8],
        reference: &[u8],
        size: usize,
        room: usize,
    ) -> Result<Vec<u8>, DecodeError> {
        let full = size.checked_add(room).ok_or(DecodeError::WrongSize)?;
        let mut out: Vec<u8> = Vec::new();
        out.try_reserve_exact(full).map_err(|_| DecodeError::WrongSize)?;
        out.resize(full, 0xaa);
        decode_into(stream, reference, &mut out, size)?;
        out.truncate(size);
        Ok(out)
    }

    fn decode(stream: &[u8], reference: &[u8], size: usize) -> Result<Vec<u8>, DecodeError> {
        decode_with_room(stream, reference, size, SLACK)
    }

    /// A test encoder, straight from the module doc.
    #[derive(Default)]
    struct Stream {
        bytes: Vec<u8>,
    }

    #[derive(Clone, Copy, Debug)]
    enum Copy {
        /// Distance back in the output.
        Back(usize),
        /// Offset from the end of the last reference copy.
        Ref(i64),
    }

    impl Stream {
        fn code(&mut self, code: u64) {
            let len = match code {
                0..0x40 => 1,
                0x40..0x4000 => 2,
                0x4000..0x40_0000 => 3,
                _ => 4,
            };
            assert!(code <= u64::from(MAX_OFFSET_CODE));
            let word = code << 2 | (len - 1);
            self.bytes.extend_from_slice(&word.to_le_bytes()[..len as usize]);
        }

        fn extension(&mut self, v: usize) {
            if v < 255 {
                self.bytes.push(v as u8);
                return;
            }
            self.bytes.push(255);
            let mut v = (v - 255) as u64;
            while v >= 0x80 {
                self.bytes.push(v as u8 | 0x80);
                v >>= 7;
            }
            self.bytes.push(v as u8);
        }

        fn seq(&mut self, literals: &[u8], len: usize, copy: Copy) -> &mut Self {
            let (min, code) = match copy {
                Copy::Back(d) => (MIN_SELF_MATCH, ((d - 1) as u64) << 1),
                Copy::Ref(o) => (MIN_REFERENCE_MATCH, (((o << 1) ^ (o >> 63)) as u64) << 1 | 1),
            };
            let m = len - min;
            let l = literals.len();
            self.bytes.push((l.min(15) as u8) << 4 | m.min(15) as u8);
            self.code(code);
            if l >= 15 {
                self.extension(l - 15);
            }
            self.bytes.extend_from_slice(literals);
            if m >= 15 {
                self.extension(m - 15);
            }
            self
        }

        fn end(&mut self, literals: &[u8]) -> Vec<u8> {
            let l = literals.len();
            self.bytes.push((l.min(15) as u8) << 4);
            self.code(0);
            if l >= 15 {
                self.extension(l - 15);
            }
            self.bytes.extend_from_slice(literals);
            core::mem::take(&mut self.bytes)
        }
    }

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn literals_self_and_reference_copies() {
        let reference = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let s = Stream::default()
            .seq(b"abc", 7, Copy::Back(3)) // overlapping self copy of "abc"
            .seq(b"", 4, Copy::Ref(2)) // reference copy at 0 + 2
            .seq(b"", 5, Copy::Ref(0)) // continues where the last one ended
            .end(b"!");
        assert_eq!(decode(&s, reference, 20).unwrap(), b"abcabcabca23456789a!");
        assert_eq!(decode(&Stream::default().end(b""), b"", 0).unwrap(), b"");
    }

    #[test]
    fn malformed_streams_are_errors() {
        let r = b"0123";
        let empty = Stream::default().end(b"");
        assert_eq!(empty, [0, 0]);
        assert_eq!(decode(&[], r, 0), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0], r, 0), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0, 0, 0], r, 0), Err(DecodeError::TrailingData));
        // The last offset must be a 1-byte 0.
        assert_eq!(decode(&[0, 4], r, 0), Err(DecodeError::BadOffset));
        assert_eq!(decode(&[0, 1, 0], r, 0), Err(DecodeError::BadOffset));
        // Literals past the stream's end, or past the declared size.
        assert_eq!(decode(&[0x50, 0, b'a'], r, 5), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0x10, 0, b'a'], r, 0), Err(DecodeError::WrongSize));
        // The stream ends before the declared size: after the sequence's
        // match, or inside it.
        assert_eq!(decode(&[0x10, 0, b'a'], r, 10), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0x10, 0, b'a'], r, 2), Err(DecodeError::WrongSize));
        // A match in the last sequence.
        assert_eq!(decode(&[0x11, 0, b'a'], r, 1), Err(DecodeError::WrongSize));
        // Self copy before the start; match past the declared size.
        let s = Stream::default().seq(b"a", 6, Copy::Back(2)).end(b"");
        assert_eq!(decode(&s, r, 7), Err(DecodeError::BadOffset));
        let s = Stream::default().seq(b"a", 6, Copy::Back(1)).end(b"");
        assert_eq!(decode(&s, r, 7).unwrap(), b"aaaaaaa");
        assert_eq!(decode(&s, r, 6), Err(DecodeError::WrongSize));
        // Reference copy past its end, and before its start.
        let s = Stream::default().seq(b"", 4, Copy::Ref(1)).end(b"");
        assert_eq!(decode(&s, r, 4), Err(DecodeError::BadOffset));
        let s = Stream::default().seq(b"", 4, Copy::Ref(-1)).end(b"");
        assert_eq!(decode(&s, r, 4), Err(DecodeError::BadOffset));
        assert_eq!(decode(&s, b"", 4), Err(DecodeError::BadOffset));
        // A truncated offset, a truncated and an overlong extension.
        assert_eq!(decode(&[0x00, 0x03, 0], r, 1), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0xf0, 0], r, 100), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0xf0, 0, 255, 0x80], r, 100), Err(DecodeError::Truncated));
        let mut s = vec![0xf0, 0, 255];
        s.extend_from_slice(&[0xff; 10]);
        assert_eq!(decode(&s, r, 100), Err(DecodeError::BadVarint));
        // A huge declared size fails cleanly.
        assert!(decode(&empty, r, usize::MAX).is_err());
        // Too small an output buffer.
        assert_eq!(decode_into(&empty, r, &mut [0; 3], 4), Err(DecodeError::WrongSize));
    }

    #[test]
    fn zigzag() {
        for (u, i) in [(0, 0), (1, -1), (2, 1), (3, -2), (4, 2)] {
            assert_eq!(unzigzag(u), i);
        }
    }

    #[test]
    fn offset_codes_of_every_length() {
        let mut data: Vec<u8> = Vec::new();
        let mut next = rng(11);
        data.extend((0..(1 << 23) + 64).map(|_| next() as u8));
        // Distances whose codes take 1, 2, 3 and 4 bytes, at both edges.
        for distance in [1, 32, 33, 8192, 8193, 1 << 21, (1 << 21) + 1, 1 << 23] {
            let lits = &data[..distance];
            let s = Stream::default().seq(lits, 30, Copy::Back(distance)).end(b"");
            let mut want = lits.to_vec();
            for k in 0..30 {
                want.push(want[k]);
            }
            assert_eq!(decode(&s, b"", want.len()).unwrap(), want, "distance {distance}");
        }
    }

    /// Literal and match lengths around the nibble's limit, the extension
    /// byte's limit and the varint escape.
    #[test]
    fn length_extensions_at_their_boundaries() {
        let mut next = rng(5);
        let reference: Vec<u8> = (0..2000).map(|_| next() as u8).collect();
        let lengths = [0, 1, 14, 15, 16, 17, 254, 268, 269, 270, 271, 300, 1000];
        for &lit in &lengths {
            for &extra in &lengths {
                for copy in [Copy::Back(40), Copy::Ref(0)] {
                    let literals: Vec<u8> = (0..lit.max(40)).map(|_| next() as u8).collect();
                    let len =
                        extra + if let Copy::Back(_) = copy { MIN_SELF_MATCH } else { MIN_REFERENCE_MATCH };
                    let s = Stream::default().seq(&literals, len, copy).end(&literals[..lit]);
                    let mut want = literals.clone();
                    match copy {
                        Copy::Back(d) => {
                            for _ in 0..len {
                                want.push(want[want.len() - d]);
                            }
                        }
                        Copy::Ref(_) => want.extend_from_slice(&reference[..len]),
                    }
                    want.extend_from_slice(&literals[..lit]);
                    for room in [0, 1, 15, 16, SLACK] {
                        let got = decode_with_room(&s, &reference, want.len(), room);
                        assert_eq!(
                            got.as_deref(),
                            Ok(&want[..]),
                            "lit {lit} extra {extra} {copy:?} room {room}"
                        );
                    }
                }
            }
        }
    }

    /// Random valid streams, decoded with every amount of spare room: the
    /// wild copies must never show, nor write past `out`.
    #[test]
    fn random_streams_decode_with_any_room() {
        let mut next = rng(7);
        let reference: Vec<u8> = (0..3000).map(|_| (next() % 4) as u8).collect();
        for round in 0..400 {
            let mut s = Stream::default();
            let mut want: Vec<u8> = Vec::new();
            let mut last_ref = 0i64;
            for _ in 0..(next() % 40) {
                let lit = match next() % 8 {
                    0 => (next() % 300) as usize,
                    1..=3 => 0,
                    _ => (next() % 15) as usize,
                };
                let literals: Vec<u8> = (0..lit).map(|_| (next() % 4) as u8).collect();
                want.extend_from_slice(&literals);
                let len_extra = match next() % 6 {
                    0 => (next() % 300) as usize,
                    _ => (next() % 20) as usize,
                };
                if want.is_empty() || next() % 3 == 0 {
                    let len = len_extra + MIN_REFERENCE_MATCH;
                    let pos = (next() % (reference.len() - len) as u64) as i64;
                    s.seq(&literals, len, Copy::Ref(pos - last_ref));
                    want.extend_from_slice(&reference[pos as usize..pos as usize + len]);
                    last_ref = pos + len as i64;
                } else {
                    let len = len_extra + MIN_SELF_MATCH;
                    // Mostly short distances: the overlapping cases.
                    let distance = match next() % 3 {
                        0 => 1 + (next() % 17) as usize,
                        1 => 1 + (next() % 40) as usize,
                        _ => 1 + (next() % want.len() as u64) as usize,
                    }
                    .min(want.len());
                    s.seq(&literals, len, Copy::Back(distance));
                    for _ in 0..len {
                        want.push(want[want.len() - distance]);
                    }
                }
            }
            let tail: Vec<u8> = (0..next() % 20).map(|_| next() as u8).collect();
            want.extend_from_slice(&tail);
            let stream = s.end(&tail);
            for room in 0..=SLACK + 8 {
                let got = decode_with_room(&stream, &reference, want.len(), room);
                assert_eq!(got.as_deref(), Ok(&want[..]), "round {round} room {room}");
            }
        }
    }

    /// Every distance from 1 to 40 with every length up to 100, at every
    /// spare room: the overlapping self copies.
    #[test]
    fn overlapping_self_copies() {
        let seed: Vec<u8> = (1..=40).collect();
        for distance in 1..=40 {
            for len in MIN_SELF_MATCH..100 {
                let s = Stream::default().seq(&seed, len, Copy::Back(distance)).end(b"");
                let mut want = seed.clone();
                for _ in 0..len {
                    want.push(want[want.len() - distance]);
                }
                for room in [0, 1, 7, 8, 15, 16, 24, SLACK] {
                    let got = decode_with_room(&s, b"", want.len(), room);
                    assert_eq!(got.as_deref(), Ok(&want[..]), "distance {distance} len {len} room {room}");
                }
                // Far from the end too, where the fast path runs.
                let s = Stream::default().seq(&seed, len, Copy::Back(distance)).end(&[7; 100]);
                want.extend_from_slice(&[7; 100]);
                assert_eq!(decode(&s, b"", want.len()).unwrap(), want);
            }
        }
    }

    #[test]
    fn segment_tables_must_match_the_stored_bytes() {
        // Two segments: 3 bytes from "abc" as literals, then 2 from "xy".
        let a = Stream::default().end(b"abc");
        let b = Stream::default().end(b"xy");
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

    /// Decoding in steps gives what one call gives, each step's bytes are
    /// final when it returns, and nothing below them is written again.
    #[test]
    fn steps_decode_the_same_bytes() {
        let mut next = rng(3);
        let reference: Vec<u8> = (0..500).map(|_| next() as u8).collect();
        let mut s = Stream::default();
        let mut size = 0;
        let mut last_ref = 0;
        for k in 0..200 {
            let lit: Vec<u8> = (0..k % 20).map(|_| next() as u8).collect();
            size += lit.len();
            if k % 3 == 0 {
                let (len, pos) = (4 + k % 40, (k * 7) % 400);
                s.seq(&lit, len, Copy::Ref(pos as i64 - last_ref as i64));
                last_ref = pos + len;
                size += len;
            } else if size > 0 {
                let len = 6 + k % 50;
                s.seq(&lit, len, Copy::Back(1 + k % size));
                size += len;
            }
        }
        let s = s.end(b"end");
        size += 3;
        let whole = decode(&s, &reference, size).unwrap();
        for step in [1, 5, 13, 64, 1000] {
            let mut out = vec![0; size + SLACK];
            let mut d = Decoder::new(&s, &reference);
            let mut last = 0;
            let mut snapshot: Vec<u8> = Vec::new();
            while !d.is_done() {
                let ready = d.decode_to(&mut out, size, last + step).unwrap();
                assert!(ready >= (last + step).min(size) && ready <= size, "step {step}");
                assert_eq!(out[..ready], whole[..ready], "step {step}");
                // What an earlier step published is untouched.
                assert_eq!(out[..snapshot.len()], snapshot[..], "step {step}");
                snapshot = out[..ready].to_vec();
                last = ready;
            }
            assert_eq!(d.decode_to(&mut out, size, usize::MAX), Ok(size));
        }
    }

    /// Arbitrary bytes, sizes and references: an error or a buffer of the
    /// declared size, never a panic.
    #[test]
    fn arbitrary_streams_never_panic() {
        let mut next = rng(0x9e37_79b9_7f4a_7c15);
        let reference: Vec<u8> = (0..300).map(|_| next() as u8).collect();
        for _ in 0..50_000 {
            let len = (next() % 80) as usize;
            // Small values make plausible lengths and offsets.
            let stream: Vec<u8> =
                (0..len).map(|_| (next() % if next() % 4 == 0 { 256 } else { 24 }) as u8).collect();
            let size = (next() % 200) as usize;
            let r = &reference[..(next() % 300) as usize];
            let room = (next() % 40) as usize;
            if let Ok(out) = decode_with_room(&stream, r, size, room) {
                assert_eq!(out.len(), size);
            }
        }
    }
}
