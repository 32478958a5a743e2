//! Finding a COPY row's stop bytes (delimiter, newline, carriage return, and backslash or
//! quote) sixteen bytes at a time.
//!
//! A row of TSBS-like data has a stop every 5 to 20 bytes. A byte-at-a-time scan with a
//! 256-entry table pays a load and a branch per byte; `memchr3` pays its call and
//! dispatch per field, which cost more than it saved on 5-byte fields
//! (docs/performance.md, "Session 22"). Here one comparison of a 16-byte block against the
//! four stop bytes gives the positions of all its stops as a bit mask, and a [`StopCursor`]
//! keeps that mask while the parser consumes the stops in it, so a block holding three
//! short fields is loaded and compared once.
//!
//! Written by hand because no crate in the tree finds a set of four bytes with a
//! position mask: `memchr` stops at three needles and answers one position per call.

/// Up to four bytes that end the fast scan of a field (a byte may repeat).
#[derive(Debug, Clone, Copy)]
pub(super) struct StopSet {
    bytes: [u8; 4],
    table: [bool; 256],
}

impl StopSet {
    pub(super) fn new(bytes: [u8; 4]) -> Self {
        let mut table = [false; 256];
        for b in bytes {
            table[b as usize] = true;
        }
        StopSet { bytes, table }
    }

    /// Bit `k` is set when `data[at + k]` is a stop, for the up to 16 bytes from `at`
    /// (`at < data.len()`).
    #[inline(always)]
    fn mask(&self, data: &[u8], at: usize) -> u32 {
        match data
            .get(at..at + 16)
            .and_then(|b| <&[u8; 16]>::try_from(b).ok())
        {
            Some(block) => block_mask(block, self.bytes, &self.table),
            // Fewer than 16 bytes left.
            None => scalar_mask(data.get(at..).unwrap_or_default(), &self.table),
        }
    }
}

fn scalar_mask(bytes: &[u8], table: &[bool; 256]) -> u32 {
    bytes
        .iter()
        .take(16)
        .enumerate()
        .fold(0u32, |m, (k, &c)| m | (u32::from(table[c as usize]) << k))
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_mask(block: &[u8; 16], b: [u8; 4], _table: &[bool; 256]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86_64 baseline (every x86_64 CPU has it, and Rust's
    // x86_64 targets enable it), so its intrinsics can run; `block` is 16 readable bytes,
    // and `_mm_loadu_si128` has no alignment requirement.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
        let any = _mm_or_si128(
            _mm_or_si128(eq(b[0]), eq(b[1])),
            _mm_or_si128(eq(b[2]), eq(b[3])),
        );
        (_mm_movemask_epi8(any) as u32) & 0xFFFF
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn block_mask(block: &[u8; 16], _b: [u8; 4], table: &[bool; 256]) -> u32 {
    scalar_mask(block, table)
}

/// The next stop at or after a position of one buffer, remembering the mask of the last
/// block looked at. Positions asked for must not go backwards, and a cursor serves one
/// buffer only (make a new one for another).
#[derive(Debug)]
pub(super) struct StopCursor {
    /// Start of the block whose stops are in `mask`; `usize::MAX` before the first.
    blk: usize,
    mask: u32,
}

impl StopCursor {
    pub(super) fn new() -> Self {
        StopCursor {
            blk: usize::MAX,
            mask: 0,
        }
    }

    /// The position of the first stop of `set` at or after `from` in `data`, or
    /// `data.len()` if there is none.
    #[inline(always)]
    pub(super) fn next(&mut self, set: &StopSet, data: &[u8], from: usize) -> usize {
        let mut i = from;
        if self.blk != usize::MAX && i >= self.blk && i - self.blk < 16 {
            let m = self.mask & (u32::MAX << (i - self.blk));
            if m != 0 {
                return self.blk + m.trailing_zeros() as usize;
            }
            i = self.blk + 16;
        }
        while i < data.len() {
            let m = set.mask(data, i);
            self.blk = i;
            self.mask = m;
            if m != 0 {
                return i + m.trailing_zeros() as usize;
            }
            i += 16;
        }
        data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Lcg;

    #[test]
    fn cursor_finds_the_same_stops_as_a_byte_scan() {
        let set = StopSet::new([b'\t', b'\n', b'\r', b'\\']);
        let alphabet = b"\t\n\r\\abc0123456789.-";
        let mut rng = Lcg(7);
        for len in [0usize, 1, 5, 15, 16, 17, 31, 32, 33, 100, 257] {
            for _ in 0..200 {
                let density = 1 + rng.next() % 40;
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        if rng.next().is_multiple_of(density) {
                            alphabet[(rng.next() % 4) as usize]
                        } else {
                            alphabet[4 + (rng.next() % 15) as usize]
                        }
                    })
                    .collect();
                let mut cur = StopCursor::new();
                let mut i = (rng.next() % 3) as usize;
                while i <= data.len() {
                    let want = data[i.min(data.len())..]
                        .iter()
                        .position(|&c| set.table[c as usize])
                        .map_or(data.len(), |k| i + k);
                    let got = cur.next(&set, &data, i);
                    assert_eq!(got, want, "from {i} in {data:?}");
                    if got >= data.len() {
                        break;
                    }
                    // Like the parser: step over the stop, sometimes over an escaped byte too.
                    i = got + 1 + (rng.next() % 2) as usize;
                }
            }
        }
    }

    #[test]
    fn every_byte_value_is_classified_like_the_table() {
        let set = StopSet::new([b',', b'"', b'\n', b'\r']);
        let data: Vec<u8> = (0..=255u8).collect();
        for at in (0..256).step_by(16) {
            let block: &[u8; 16] = data[at..at + 16].try_into().expect("16 bytes");
            assert_eq!(
                block_mask(block, set.bytes, &set.table),
                scalar_mask(block, &set.table),
                "block at {at}"
            );
        }
    }
}
