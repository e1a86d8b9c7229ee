//! The checksum that tells a damaged bundle from an intact one.
//!
//! `multiarch pack` records, per build, [`checksum`] of the build's bytes;
//! the launcher recomputes it over every build it decodes (or finds stored)
//! before the build is written to the cache or started, and refuses a
//! mismatch as a damaged bundle (exit 126). It detects damage (a flipped bit,
//! a truncated or mangled file), not tampering: whoever can change the blobs
//! can change the recorded checksum next to them.
//!
//! # Definition
//!
//! The build is cut into chunks of [`CHUNK`] bytes (the last one shorter);
//! chunk `i` hashes to XXH64 of its bytes with seed `i`, and the checksum is
//! the wrapping sum of those hashes. XXH64 is Yann Collet's published
//! algorithm (xxHash's `doc/xxhash_spec.md`), implemented here from that
//! specification and tested against the vectors of xxHash's own sanity
//! check. Two reasons for the chunks:
//!
//! - any part of the build can be hashed on its own, so each decoding thread
//!   hashes its segment, and a chunk is hashed right after it is decoded,
//!   while its bytes are still in the CPU's cache: the check then costs a
//!   fraction of a second pass over the 33 MB build;
//! - the sum does not depend on the order the parts finish in, and the seed
//!   makes a chunk's hash depend on where it is, so moved chunks show.
//!
//! A change to any one chunk changes its hash pseudo-randomly, so damage
//! goes unnoticed with a probability of about 2^-64.
//!
//! Why not SHA-256, which names the cache entry: about 0.2 s for a 33 MB
//! build on the machine the benchmarks ran on, where a cold start takes
//! about 20 ms; XXH64 hashes several GB/s. Why not CRC-32C: 32 bits, and the
//! fast instruction is not part of the x86-64 baseline the launcher is built
//! for.

/// The bytes hashed together: small enough to be hashed while they are in
/// the cache after being decoded, large enough that the per-chunk cost
/// (about 20 ns) is lost in it. Part of the format: changing it changes
/// every checksum.
pub const CHUNK: usize = 64 << 10;

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

#[inline(always)]
fn read64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[inline(always)]
fn round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
}

#[inline(always)]
fn merge(acc: u64, lane: u64) -> u64 {
    (acc ^ round(0, lane)).wrapping_mul(P1).wrapping_add(P4)
}

/// XXH64 of `data` with `seed`.
pub fn xxh64(data: &[u8], seed: u64) -> u64 {
    let len = data.len();
    let mut at = 0;
    let mut acc = if len >= 32 {
        let mut v =
            [seed.wrapping_add(P1).wrapping_add(P2), seed.wrapping_add(P2), seed, seed.wrapping_sub(P1)];
        // Whole 32-byte stripes: four independent lanes.
        for stripe in data.chunks_exact(32) {
            v[0] = round(v[0], read64(stripe, 0));
            v[1] = round(v[1], read64(stripe, 8));
            v[2] = round(v[2], read64(stripe, 16));
            v[3] = round(v[3], read64(stripe, 24));
        }
        at = len - len % 32;
        let mut acc = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for lane in v {
            acc = merge(acc, lane);
        }
        acc
    } else {
        seed.wrapping_add(P5)
    };
    acc = acc.wrapping_add(len as u64);
    while at + 8 <= len {
        acc ^= round(0, read64(data, at));
        acc = acc.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        at += 8;
    }
    if at + 4 <= len {
        let mut word = [0u8; 4];
        word.copy_from_slice(&data[at..at + 4]);
        acc ^= u64::from(u32::from_le_bytes(word)).wrapping_mul(P1);
        acc = acc.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        at += 4;
    }
    for &byte in &data[at..] {
        acc ^= u64::from(byte).wrapping_mul(P5);
        acc = acc.rotate_left(11).wrapping_mul(P1);
    }
    acc ^= acc >> 33;
    acc = acc.wrapping_mul(P2);
    acc ^= acc >> 29;
    acc = acc.wrapping_mul(P3);
    acc ^ (acc >> 32)
}

/// The checksum of a whole build (see the module docs).
pub fn checksum(build: &[u8]) -> u64 {
    let mut sum = Sum::new(0);
    sum.update(build, 0, build.len(), build.len());
    sum.value()
}

/// A checksum computed part by part: [`Sum::update`] hashes the chunks that
/// are complete in what it is given, and whoever holds the sums of all
/// chunks adds them with [`Sum::add`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sum {
    /// Where the next chunk to hash starts, in the build.
    next: usize,
    value: u64,
}

impl Sum {
    /// A sum that starts with the chunk at or after `from` in the build.
    pub fn new(from: usize) -> Sum {
        Sum { next: from.div_ceil(CHUNK) * CHUNK, value: 0 }
    }

    /// Where the next chunk to hash starts.
    pub fn next(&self) -> usize {
        self.next
    }

    /// Hashes every chunk from [`Sum::next`] that ends at or before `end`,
    /// the last chunk of the build included once `end` is `size`. `part`
    /// holds the build's bytes from `base` (at most [`Sum::next`]) to at
    /// least `end`.
    pub fn update(&mut self, part: &[u8], base: usize, end: usize, size: usize) {
        let end = end.min(size).min(base.saturating_add(part.len()));
        while self.next < end && self.next >= base {
            let stop = self.next.saturating_add(CHUNK);
            if stop > end && end < size {
                break;
            }
            let stop = stop.min(end);
            let chunk = &part[self.next - base..stop - base];
            self.value = self.value.wrapping_add(xxh64(chunk, (self.next / CHUNK) as u64));
            self.next = stop;
        }
    }

    /// Hashes the one chunk that starts at `at` (a multiple of [`CHUNK`]),
    /// cut at `size`, from `build`, the whole build.
    pub fn add_chunk(&mut self, build: &[u8], at: usize, size: usize) {
        let stop = at.saturating_add(CHUNK).min(size).min(build.len());
        if at < stop {
            self.value = self.value.wrapping_add(xxh64(&build[at..stop], (at / CHUNK) as u64));
        }
    }

    /// Adds another part's sum.
    pub fn add(&mut self, other: Sum) {
        self.value = self.value.wrapping_add(other.value);
    }

    /// The sum of the chunks hashed so far.
    pub fn value(&self) -> u64 {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIME32: u64 = 2_654_435_761;
    const PRIME64: u64 = 11_400_714_785_074_694_797;

    /// xxHash's sanity-check buffer (`XSUM_fillTestBuffer` in its CLI).
    fn sanity_buffer(len: usize) -> Vec<u8> {
        let mut gen = PRIME32;
        (0..len)
            .map(|_| {
                let byte = (gen >> 56) as u8;
                gen = gen.wrapping_mul(PRIME64);
                byte
            })
            .collect()
    }

    /// The XXH64 vectors of xxHash's sanity check (`XSUM_XXH64_testdata`).
    #[test]
    fn xxh64_matches_the_published_vectors() {
        let buf = sanity_buffer(222);
        let vectors = [
            (0, 0, 0xEF46_DB37_51D8_E999),
            (0, PRIME32, 0xAC75_FDA2_929B_17EF),
            (1, 0, 0xE934_A84A_DB05_2768),
            (1, PRIME32, 0x5014_6076_43A9_B4C3),
            (4, 0, 0x9136_A0DC_A574_57EE),
            (14, 0, 0x8282_DCC4_994E_35C8),
            (14, PRIME32, 0xC3BD_6BF6_3DEB_6DF0),
            (222, 0, 0xB641_AE8C_B691_C174),
            (222, PRIME32, 0x20CB_8AB7_AE10_C14A),
        ];
        for (len, seed, want) in vectors {
            assert_eq!(xxh64(&buf[..len], seed), want, "len {len} seed {seed}");
        }
    }

    #[test]
    fn parts_in_any_order_sum_to_the_whole() {
        let build = sanity_buffer(5 * CHUNK + 1234);
        let whole = checksum(&build);
        // Hashed in small steps, as a decoder publishes its progress.
        let mut steps = Sum::new(0);
        for end in (0..build.len()).step_by(7919).chain([build.len()]) {
            steps.update(&build, 0, end, build.len());
        }
        assert_eq!(steps.value(), whole);
        // Two parts split off a chunk boundary, and the chunk between them.
        let cut = 2 * CHUNK + 100;
        let mut head = Sum::new(0);
        head.update(&build, 0, cut, build.len());
        assert_eq!(head.next(), 2 * CHUNK);
        let mut tail = Sum::new(cut);
        tail.update(&build[cut..], cut, build.len(), build.len());
        tail.add(head);
        tail.add_chunk(&build, 2 * CHUNK, build.len());
        assert_eq!(tail.value(), whole);
        assert_eq!(checksum(&[]), 0);
    }

    #[test]
    fn every_single_bit_flip_changes_it() {
        let build = sanity_buffer(2 * CHUNK + 77);
        let whole = checksum(&build);
        let mut damaged = build.clone();
        for at in (0..build.len()).step_by(997) {
            for bit in 0..8 {
                damaged[at] ^= 1 << bit;
                assert_ne!(checksum(&damaged), whole, "byte {at} bit {bit}");
                damaged[at] ^= 1 << bit;
            }
        }
        // Two chunks swapped.
        let mut swapped = build[CHUNK..2 * CHUNK].to_vec();
        swapped.extend_from_slice(&build[..CHUNK]);
        swapped.extend_from_slice(&build[2 * CHUNK..]);
        assert_ne!(checksum(&swapped), whole);
    }
}
