//! `numeric` text (`numeric_out`) and binary (`numeric_send`) from Arrow decimals and
//! unsigned integers.

use arrow::datatypes::i256;

/// The decimal digits of a magnitude, most significant first, no leading zeros (`"0"`
/// for zero). Lives on the stack.
pub(crate) struct DecDigits {
    buf: [u8; 80],
    start: usize,
}

impl DecDigits {
    pub(crate) fn digits(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub(crate) fn from_u64(mut v: u64) -> Self {
        let mut d = DecDigits {
            buf: [b'0'; 80],
            start: 80,
        };
        loop {
            d.start -= 1;
            d.buf[d.start] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        d
    }

    pub(crate) fn from_u128(v: u128) -> Self {
        if let Ok(small) = u64::try_from(v) {
            return Self::from_u64(small);
        }
        // Split into 19-digit chunks so the digit loop runs on u64.
        const CHUNK: u128 = 10_000_000_000_000_000_000;
        let mut d = DecDigits {
            buf: [b'0'; 80],
            start: 80,
        };
        let mut v = v;
        while v >= CHUNK {
            let mut low = (v % CHUNK) as u64;
            v /= CHUNK;
            for _ in 0..19 {
                d.start -= 1;
                d.buf[d.start] = b'0' + (low % 10) as u8;
                low /= 10;
            }
        }
        let mut high = v as u64;
        while high != 0 {
            d.start -= 1;
            d.buf[d.start] = b'0' + (high % 10) as u8;
            high /= 10;
        }
        d
    }

    /// Magnitude digits and sign of an `i256`.
    pub(crate) fn from_i256(v: i256) -> (bool, Self) {
        let bytes = v.to_le_bytes();
        let mut limbs = [0u64; 4];
        for (i, l) in limbs.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            *l = u64::from_le_bytes(b);
        }
        let neg = limbs[3] >> 63 == 1;
        if neg {
            // two's complement negation
            let mut carry = true;
            for l in limbs.iter_mut() {
                let (x, c) = (!*l).overflowing_add(u64::from(carry));
                *l = x;
                carry = c;
            }
        }
        let mut d = DecDigits {
            buf: [b'0'; 80],
            start: 80,
        };
        const CHUNK: u64 = 10_000_000_000_000_000_000;
        loop {
            // divide the 256-bit magnitude by 10^19
            let mut rem: u128 = 0;
            for l in limbs.iter_mut().rev() {
                let cur = (rem << 64) | u128::from(*l);
                *l = (cur / u128::from(CHUNK)) as u64;
                rem = cur % u128::from(CHUNK);
            }
            let mut low = rem as u64;
            let last = limbs.iter().all(|&l| l == 0);
            for _ in 0..19 {
                if last && low == 0 {
                    break;
                }
                d.start -= 1;
                d.buf[d.start] = b'0' + (low % 10) as u8;
                low /= 10;
            }
            if last {
                break;
            }
        }
        if d.start == 80 {
            d.start = 79;
        }
        (neg, d)
    }
}

/// Number of fractional digits shown: `scale`, or (when `trim`) as few as needed.
fn display_scale(digits: &[u8], scale: i32, trim: bool) -> usize {
    if scale <= 0 {
        return 0;
    }
    let s = scale as usize;
    if !trim {
        return s;
    }
    if digits == b"0" {
        return 0;
    }
    let trailing = digits.iter().rev().take_while(|&&c| c == b'0').count();
    s.saturating_sub(trailing)
}

/// `numeric_out` of `±digits × 10^-scale` printed with `scale` fractional digits, or with
/// trailing fractional zeros removed when `trim`.
pub(crate) fn write_text(out: &mut Vec<u8>, neg: bool, digits: &[u8], scale: i32, trim: bool) {
    let zero = digits == b"0";
    if neg && !zero {
        out.push(b'-');
    }
    if scale <= 0 {
        out.extend_from_slice(digits);
        if !zero {
            for _ in 0..(-scale) {
                out.push(b'0');
            }
        }
        return;
    }
    let s = scale as usize;
    let n = digits.len();
    let shown = display_scale(digits, scale, trim);
    let (int, frac): (&[u8], &[u8]) = if n > s {
        (&digits[..n - s], &digits[n - s..])
    } else {
        (b"0", digits)
    };
    out.extend_from_slice(int);
    if shown == 0 {
        return;
    }
    out.push(b'.');
    // the fraction is `s - frac.len()` zeros followed by `frac`, cut to `shown` digits
    let pad = s - frac.len();
    for _ in 0..pad.min(shown) {
        out.push(b'0');
    }
    if shown > pad {
        out.extend_from_slice(&frac[..shown - pad]);
    }
}

/// `numeric_send`: `ndigits i16, weight i16, sign u16, dscale i16, digits [i16]`, the
/// digits in base 10000 aligned on the decimal point, leading and trailing zero digits
/// stripped.
pub(crate) fn write_binary(out: &mut Vec<u8>, neg: bool, digits: &[u8], scale: i32, trim: bool) {
    let dscale = display_scale(digits, scale, trim) as i16;
    if digits == b"0" {
        out.extend_from_slice(&0i16.to_be_bytes());
        out.extend_from_slice(&0i16.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        return;
    }
    // strip trailing zeros: value = digits × 10^-scale
    let mut n = digits.len();
    let mut scale = scale;
    while digits[n - 1] == b'0' {
        n -= 1;
        scale -= 1;
    }
    let digits = &digits[..n];
    let e0 = n as i32 - 1 - scale; // decimal exponent of the first digit
    let weight = e0.div_euclid(4);
    let last = (-scale).div_euclid(4);
    let ndigits = (weight - last + 1) as usize;
    let mut groups = [0u16; 24];
    const POW: [u16; 4] = [1, 10, 100, 1000];
    for (i, &c) in digits.iter().enumerate() {
        let e = e0 - i as i32;
        let g = (weight - e.div_euclid(4)) as usize;
        groups[g] += u16::from(c - b'0') * POW[e.rem_euclid(4) as usize];
    }
    out.extend_from_slice(&(ndigits as i16).to_be_bytes());
    out.extend_from_slice(&(weight as i16).to_be_bytes());
    out.extend_from_slice(&(if neg { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for g in &groups[..ndigits] {
        out.extend_from_slice(&g.to_be_bytes());
    }
}
