//! The encoder of `multiarch_launcher::codec`: LZ77 over the reference
//! build followed by the target, with hash chains, one step of lazy matching,
//! and a "repeat" candidate that resumes the last reference copy after a
//! few differing bytes (a changed call offset, a different register), which
//! is how builds of one program for different levels mostly differ.

use multiarch_launcher::codec::{MAX_OFFSET_CODE, MIN_REFERENCE_MATCH, MIN_SELF_MATCH};

/// Shortest match the hash chains find (the hash covers this many bytes).
const MIN_MATCH: usize = MIN_SELF_MATCH;
/// Shortest resumed reference copy: its code is one byte.
const MIN_REPEAT: usize = MIN_REFERENCE_MATCH;
/// A match this long ends the search: longer candidates gain too little.
const GOOD_ENOUGH: usize = 128;
/// Self copies from farther back than this miss the decoding core's caches
/// (1 MiB is a typical L2), and a miss costs more than the few bytes a short
/// match saves: beyond it only matches of `FAR_MIN_MATCH` bytes count. On the
/// 33 MB workload_big build this took decoding from 11.9 to 10.3 ms for 0.45%
/// more bytes; windows from 256 KiB to 4 MiB all did about as well, and a
/// longer minimum (32, 64) no better.
const NEAR: usize = 1 << 20;
const FAR_MIN_MATCH: usize = 16;
const HASH_BITS: u32 = 22;
const NONE: u32 = u32::MAX;

/// How hard to search: more candidates find longer matches, slower.
#[derive(Clone, Copy, Debug)]
pub struct Effort {
    /// Candidates visited per position.
    pub chain: usize,
}

impl Default for Effort {
    fn default() -> Self {
        Effort { chain: 8 }
    }
}

/// An offset code: 1 to 4 bytes, little-endian, whose low 2 bits are the
/// byte count less one.
fn offset_code(out: &mut Vec<u8>, code: u32) {
    let len = offset_code_len(code);
    let word = u64::from(code) << 2 | (len as u64 - 1);
    out.extend_from_slice(&word.to_le_bytes()[..len]);
}

fn offset_code_len(code: u32) -> usize {
    match code {
        0..0x40 => 1,
        0x40..0x4000 => 2,
        0x4000..0x40_0000 => 3,
        _ => 4,
    }
}

/// A length extension: a byte below 255, or 255 and a LEB128 varint.
fn extension(out: &mut Vec<u8>, v: usize) {
    if v < 255 {
        out.push(v as u8);
        return;
    }
    out.push(255);
    varint(out, (v - 255) as u64);
}

/// A LEB128 varint, as the codec reads them (extensions, segment tables).
pub fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes a match length adds beyond its token nibble.
fn extension_len(len: usize, min: usize) -> usize {
    match len - min {
        0..15 => 0,
        15..270 => 1,
        n => 1 + (64 - ((n - 270) as u64 | 1).leading_zeros() as usize).div_ceil(7),
    }
}

/// A sequence up to its match length extension: token, offset code,
/// literals. `nibble` is the match length's.
fn sequence(out: &mut Vec<u8>, literals: &[u8], nibble: u8, code: u32) {
    let n = literals.len();
    out.push((n.min(15) as u8) << 4 | nibble);
    offset_code(out, code);
    if n >= 15 {
        extension(out, n - 15);
    }
    out.extend_from_slice(literals);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn hash(buf: &[u8], i: usize) -> usize {
    let mut b = [0u8; 8];
    b[..MIN_MATCH].copy_from_slice(&buf[i..i + MIN_MATCH]);
    (u64::from_le_bytes(b).wrapping_mul(0x9E37_79B1_85EB_CA87) >> (64 - HASH_BITS)) as usize
}

/// Length of the common prefix of `a` and `b`.
#[inline]
fn common(a: &[u8], b: &[u8]) -> usize {
    let max = a.len().min(b.len());
    let mut n = 0;
    while n + 8 <= max {
        let x = u64::from_le_bytes(a[n..n + 8].try_into().unwrap_or([0; 8]))
            ^ u64::from_le_bytes(b[n..n + 8].try_into().unwrap_or([0; 8]));
        if x != 0 {
            return n + (x.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < max && a[n] == b[n] {
        n += 1;
    }
    n
}

#[derive(Clone, Copy)]
struct Match {
    len: usize,
    /// Position in the concatenated buffer.
    pos: usize,
    /// Its offset code.
    code: u32,
    /// Bytes saved: length minus the cost of its code.
    gain: isize,
}

struct Encoder {
    buf: Vec<u8>,
    r: usize,
    head: Vec<u32>,
    prev: Vec<u32>,
    effort: Effort,
}

impl Encoder {
    fn insert(&mut self, i: usize) {
        if i + MIN_MATCH <= self.buf.len() {
            let h = hash(&self.buf, i);
            self.prev[i] = self.head[h];
            self.head[h] = i as u32;
        }
    }

    /// The offset code of a match at `i` from `pos`, if it has one.
    fn code(&self, i: usize, pos: usize, last_ref: usize) -> Option<u32> {
        let code = if pos < self.r {
            zigzag(pos as i64 - last_ref as i64) << 1 | 1
        } else {
            ((i - pos - 1) as u64) << 1
        };
        u32::try_from(code).ok().filter(|&c| c <= MAX_OFFSET_CODE)
    }

    /// The best match at `i`, given where the last reference copy ended.
    fn best(&self, i: usize, last_ref: usize, repeat: Option<usize>) -> Option<Match> {
        let n = self.buf.len();
        let mut best: Option<Match> = None;
        let mut consider = |len: usize, pos: usize, min: usize, this: &Self| {
            if len < min {
                return;
            }
            // Out of the offset code's reach: builds of over 512 MiB lose
            // their farthest matches.
            let Some(code) = this.code(i, pos, last_ref) else {
                return;
            };
            let min = if pos < this.r { MIN_REFERENCE_MATCH } else { MIN_SELF_MATCH };
            let cost = offset_code_len(code) + extension_len(len, min) + 1;
            let gain = len as isize - cost as isize;
            if best.is_none_or(|b| gain > b.gain) {
                best = Some(Match { len, pos, code, gain });
            }
        };
        if let Some(p) = repeat.filter(|&p| p < self.r) {
            let len = common(&self.buf[i..n], &self.buf[p..self.r]);
            consider(len, p, MIN_REPEAT, self);
            if len >= GOOD_ENOUGH {
                return best;
            }
        }
        if i + MIN_MATCH > n {
            return best;
        }
        let mut cand = self.head[hash(&self.buf, i)];
        let mut steps = 0;
        while cand != NONE && steps < self.effort.chain {
            let p = cand as usize;
            let limit = if p < self.r { self.r } else { n };
            let len = common(&self.buf[i..n], &self.buf[p..limit]);
            let min = if p >= self.r && i - p > NEAR { FAR_MIN_MATCH } else { MIN_MATCH };
            consider(len, p, min, self);
            if len >= GOOD_ENOUGH {
                break;
            }
            cand = self.prev[p];
            steps += 1;
        }
        best
    }
}

/// What an encoded stream is made of, for measuring the codec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sequences, the end marker included.
    pub sequences: usize,
    /// Matches copying from the output.
    pub self_copies: usize,
    /// Matches copying from the reference.
    pub reference_copies: usize,
    /// Bytes stored as literals.
    pub literal_bytes: usize,
}

/// Encodes `target` against `reference` (empty for a self-contained stream).
pub fn encode(target: &[u8], reference: &[u8], effort: Effort) -> Vec<u8> {
    encode_with_stats(target, reference, effort).0
}

/// [`encode`], and what the stream is made of.
pub fn encode_with_stats(target: &[u8], reference: &[u8], effort: Effort) -> (Vec<u8>, Stats) {
    let mut stats = Stats::default();
    let r = reference.len();
    let mut buf = Vec::with_capacity(r + target.len());
    buf.extend_from_slice(reference);
    buf.extend_from_slice(target);
    let n = buf.len();
    let mut enc = Encoder { head: vec![NONE; 1 << HASH_BITS], prev: vec![NONE; n], buf, r, effort };
    for i in 0..r.saturating_sub(MIN_MATCH - 1) {
        enc.insert(i);
    }

    let mut out = Vec::with_capacity(target.len() / 2);
    let mut last_ref = 0usize; // where the last reference copy ended, in the reference
    let mut last_ref_t = r; // and the target position it ended at
    let mut lit_start = r;
    let mut i = r;
    let mut misses = 0usize;
    while i < n {
        let repeat =
            |at: usize| Some(last_ref + (at - last_ref_t)).filter(|_| last_ref_t > r || last_ref > 0);
        let Some(m) = enc.best(i, last_ref, repeat(i)) else {
            // Incompressible stretch (random data, a different padding):
            // look at fewer positions the longer nothing matches, as LZ4
            // does, so such input encodes at close to memcpy speed.
            enc.insert(i);
            i += 1 + (misses >> 5);
            misses += 1;
            continue;
        };
        misses = 0;
        // Lazy: a better match one byte later wins over this one.
        if m.len < 64 && i + 1 < n {
            if let Some(next) = enc.best(i + 1, last_ref, repeat(i + 1)) {
                if next.gain > m.gain + 1 {
                    enc.insert(i);
                    i += 1;
                    continue;
                }
            }
        }
        let min = if m.pos < r { MIN_REFERENCE_MATCH } else { MIN_SELF_MATCH };
        sequence(&mut out, &enc.buf[lit_start..i], (m.len - min).min(15) as u8, m.code);
        if m.len - min >= 15 {
            extension(&mut out, m.len - min - 15);
        }
        stats.sequences += 1;
        stats.literal_bytes += i - lit_start;
        if m.pos < r {
            stats.reference_copies += 1;
            last_ref = m.pos + m.len;
            last_ref_t = i + m.len;
        } else {
            stats.self_copies += 1;
        }
        for k in i..i + m.len {
            enc.insert(k);
        }
        i += m.len;
        lit_start = i;
    }
    // A skip may have stepped past the end: the tail is literals.
    // The last sequence: literals only, after an offset of 0.
    sequence(&mut out, &enc.buf[lit_start..n], 0, 0);
    stats.sequences += 1;
    stats.literal_bytes += n - lit_start;
    (out, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode_stream as decode;

    fn round_trip(target: &[u8], reference: &[u8]) -> usize {
        let enc = encode(target, reference, Effort::default());
        assert_eq!(decode(&enc, reference, target.len()).unwrap(), target);
        enc.len()
    }

    fn noise(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn round_trips() {
        round_trip(b"", b"");
        round_trip(b"a", b"");
        round_trip(b"abcabcabcabcabcabcabc", b"");
        round_trip(&[0u8; 10_000], b"");
        round_trip(b"hello world", b"hello world");
        round_trip(&noise(1, 5000), &noise(2, 5000));
        // Lengths around the minimum match and the tail.
        for n in 0..40 {
            let t: Vec<u8> = (0..n).map(|i| (i % 7) as u8).collect();
            round_trip(&t, &t[..n / 2]);
        }
    }

    #[test]
    fn repeated_data_shrinks() {
        assert!(round_trip(&[7u8; 100_000], b"") < 100);
        let r = noise(3, 200_000);
        // Identical to the reference: a handful of bytes.
        assert!(round_trip(&r, &r) < 32);
    }

    /// Like two builds: same bytes with a changed 4-byte field every 64 bytes.
    #[test]
    fn sparse_edits_against_the_reference_stay_small() {
        let r = noise(4, 400_000);
        let mut t = r.clone();
        for k in (10..t.len()).step_by(64) {
            t[k..k + 4].copy_from_slice(&(k as u32).to_le_bytes());
        }
        let size = round_trip(&t, &r);
        // Per 64 bytes: 4 literals + about 4 bytes of codes.
        assert!(size < t.len() / 6, "{size}");
    }

    #[test]
    fn noise_does_not_grow_much() {
        let t = noise(5, 100_000);
        let size = round_trip(&t, &noise(6, 1000));
        assert!(size <= t.len() + 16, "{size}");
    }
}
