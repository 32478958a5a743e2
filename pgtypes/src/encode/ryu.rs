//! Shortest round-trip decimal digits of `f64` / `f32` exactly as PostgreSQL computes
//! them: a port of `d2d` / `f2d` (and the `*_small_int` fast paths) from PostgreSQL's
//! copy of Ryu (`src/common/d2s.c`, `src/common/f2s.c`).
//!
//! PostgreSQL builds Ryu with `STRICTLY_SHORTEST = 0` (`acceptBounds = false`): a decimal
//! lying exactly on the rounding boundary between two floats is never chosen, even when
//! it would read back correctly under round-half-even. So PostgreSQL prints
//! `7.0710472665560224e+16` where the strictly shortest (std's `{:e}`) is
//! `7.071047266556022e16`, and exact decimal ties round to even (`98278927054287.62`).
//! Only a faithful port reproduces that.
//!
//! The multiplier tables (`DOUBLE_POW5_SPLIT` etc. in PostgreSQL) are computed once at
//! first use with a tiny bignum rather than pasted in; the float tables are checked
//! against PostgreSQL's in the tests.

use std::sync::OnceLock;

const DOUBLE_MANTISSA_BITS: u32 = 52;
const DOUBLE_EXPONENT_BITS: u32 = 11;
const DOUBLE_BIAS: i32 = 1023;
const DOUBLE_POW5_INV_BITCOUNT: i32 = 122;
const DOUBLE_POW5_BITCOUNT: i32 = 121;

const FLOAT_MANTISSA_BITS: u32 = 23;
const FLOAT_EXPONENT_BITS: u32 = 8;
const FLOAT_BIAS: i32 = 127;
const FLOAT_POW5_INV_BITCOUNT: i32 = 59;
const FLOAT_POW5_BITCOUNT: i32 = 61;

/// `ceil(log2(5^e))` for `e >= 1`, 1 for `e = 0` (`pow5bits`).
fn pow5bits(e: i32) -> i32 {
    (((e as u32) * 1_217_359) >> 19) as i32 + 1
}

/// `floor(log10(2^e))`
fn log10_pow2(e: i32) -> u32 {
    ((e as u32) * 78_913) >> 18
}

/// `floor(log10(5^e))`
fn log10_pow5(e: i32) -> u32 {
    ((e as u32) * 732_923) >> 20
}

// --- table generation ---------------------------------------------------------------------

/// Little-endian u64 limbs.
struct Big(Vec<u64>);

impl Big {
    fn mul_small(&mut self, k: u64) {
        let mut carry = 0u128;
        for l in self.0.iter_mut() {
            let v = u128::from(*l) * u128::from(k) + carry;
            *l = v as u64;
            carry = v >> 64;
        }
        if carry != 0 {
            self.0.push(carry as u64);
        }
    }

    fn bit_len(&self) -> u32 {
        let top = self.0.len() - 1;
        top as u32 * 64 + (64 - self.0[top].leading_zeros())
    }

    fn bit(&self, i: u32) -> bool {
        let limb = (i / 64) as usize;
        limb < self.0.len() && (self.0[limb] >> (i % 64)) & 1 == 1
    }

    /// The top `n <= 128` bits (left-aligned to exactly `n` bits when shorter).
    fn top_bits(&self, n: u32) -> u128 {
        let len = self.bit_len();
        let mut v = 0u128;
        for k in 0..n {
            // bit (len - 1 - k) of self goes to bit (n - 1 - k) of v
            if k < len && self.bit(len - 1 - k) {
                v |= 1 << (n - 1 - k);
            }
        }
        v
    }

    fn ge(&self, other: &Big) -> bool {
        let n = self.0.len().max(other.0.len());
        for i in (0..n).rev() {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = other.0.get(i).copied().unwrap_or(0);
            if a != b {
                return a > b;
            }
        }
        true
    }

    fn sub(&mut self, other: &Big) {
        let mut borrow = false;
        for i in 0..self.0.len() {
            let b = other.0.get(i).copied().unwrap_or(0);
            let (x, o1) = self.0[i].overflowing_sub(b);
            let (x, o2) = x.overflowing_sub(u64::from(borrow));
            self.0[i] = x;
            borrow = o1 || o2;
        }
    }

    fn shl1(&mut self) {
        let mut carry = 0u64;
        for l in self.0.iter_mut() {
            let c = *l >> 63;
            *l = (*l << 1) | carry;
            carry = c;
        }
        if carry != 0 {
            self.0.push(carry);
        }
    }
}

/// `(POW5_SPLIT, POW5_INV_SPLIT)` for `i < n`: the top `bits` bits of `5^i`, and
/// `floor(2^(bitlen(5^i) - 1 + inv_bits) / 5^i) + 1`.
fn gen_tables(n: usize, bits: u32, inv_bits: u32) -> (Vec<u128>, Vec<u128>) {
    let mut pow = Vec::with_capacity(n);
    let mut inv = Vec::with_capacity(n);
    let mut p = Big(vec![1]);
    for i in 0..n {
        if i > 0 {
            p.mul_small(5);
        }
        pow.push(p.top_bits(bits));
        if i == 0 {
            inv.push((1u128 << inv_bits) + 1);
        } else {
            // long division of 2^(len-1) * 2^inv_bits by p; 2^(len-1) < p
            let len = p.bit_len();
            let mut r = Big(vec![0; (len as usize).div_ceil(64) + 1]);
            r.0[((len - 1) / 64) as usize] = 1 << ((len - 1) % 64);
            let mut q = 0u128;
            for _ in 0..inv_bits {
                r.shl1();
                q <<= 1;
                if r.ge(&p) {
                    r.sub(&p);
                    q |= 1;
                }
            }
            inv.push(q + 1);
        }
    }
    (pow, inv)
}

struct Tables {
    d_pow: Vec<[u64; 2]>,
    d_inv: Vec<[u64; 2]>,
    f_pow: Vec<u64>,
    f_inv: Vec<u64>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let split = |v: u128| [v as u64, (v >> 64) as u64];
        let (dp, _) = gen_tables(
            326,
            DOUBLE_POW5_BITCOUNT as u32,
            DOUBLE_POW5_INV_BITCOUNT as u32,
        );
        let (_, di) = gen_tables(
            292,
            DOUBLE_POW5_BITCOUNT as u32,
            DOUBLE_POW5_INV_BITCOUNT as u32,
        );
        let (fp, _) = gen_tables(
            48,
            FLOAT_POW5_BITCOUNT as u32,
            FLOAT_POW5_INV_BITCOUNT as u32,
        );
        let (_, fi) = gen_tables(
            31,
            FLOAT_POW5_BITCOUNT as u32,
            FLOAT_POW5_INV_BITCOUNT as u32,
        );
        Tables {
            d_pow: dp.into_iter().map(split).collect(),
            d_inv: di.into_iter().map(split).collect(),
            f_pow: fp.into_iter().map(|v| v as u64).collect(),
            f_inv: fi.into_iter().map(|v| v as u64).collect(),
        }
    })
}

#[cfg(test)]
pub(super) fn float_tables_for_test() -> (Vec<u64>, Vec<u64>) {
    let t = tables();
    (t.f_inv.clone(), t.f_pow[..47].to_vec())
}

// --- double -------------------------------------------------------------------------------

fn pow5_factor64(mut v: u64) -> u32 {
    let mut count = 0;
    while v % 5 == 0 {
        v /= 5;
        count += 1;
    }
    count
}

fn mul_shift64(m: u64, mul: &[u64; 2], j: i32) -> u64 {
    let b0 = u128::from(m) * u128::from(mul[0]);
    let b2 = u128::from(m) * u128::from(mul[1]);
    (((b0 >> 64) + b2) >> (j - 64)) as u64
}

/// `d2d`: shortest `mantissa × 10^exponent` (PostgreSQL flavour) of a finite non-zero
/// double given by its IEEE fields.
fn d2d(ieee_mantissa: u64, ieee_exponent: u32) -> (u64, i32) {
    let t = tables();
    let (e2, m2) = if ieee_exponent == 0 {
        (
            1 - DOUBLE_BIAS - DOUBLE_MANTISSA_BITS as i32 - 2,
            ieee_mantissa,
        )
    } else {
        (
            ieee_exponent as i32 - DOUBLE_BIAS - DOUBLE_MANTISSA_BITS as i32 - 2,
            (1u64 << DOUBLE_MANTISSA_BITS) | ieee_mantissa,
        )
    };
    // STRICTLY_SHORTEST = 0
    let accept_bounds = false;
    let mv = 4 * m2;
    let mm_shift = u64::from(ieee_mantissa != 0 || ieee_exponent <= 1);

    let (mut vr, mut vp, mut vm);
    let e10: i32;
    let mut vm_is_trailing_zeros = false;
    let mut vr_is_trailing_zeros = false;
    if e2 >= 0 {
        let q = log10_pow2(e2) - u32::from(e2 > 3);
        let k = DOUBLE_POW5_INV_BITCOUNT + pow5bits(q as i32) - 1;
        let i = -e2 + q as i32 + k;
        e10 = q as i32;
        let mul = &t.d_inv[q as usize];
        vr = mul_shift64(4 * m2, mul, i);
        vp = mul_shift64(4 * m2 + 2, mul, i);
        vm = mul_shift64(4 * m2 - 1 - mm_shift, mul, i);
        if q <= 21 {
            if mv % 5 == 0 {
                vr_is_trailing_zeros = pow5_factor64(mv) >= q;
            } else if accept_bounds {
                vm_is_trailing_zeros = pow5_factor64(mv - 1 - mm_shift) >= q;
            } else {
                vp -= u64::from(pow5_factor64(mv + 2) >= q);
            }
        }
    } else {
        let q = log10_pow5(-e2) - u32::from(-e2 > 1);
        let i = -e2 - q as i32;
        let k = pow5bits(i) - DOUBLE_POW5_BITCOUNT;
        let j = q as i32 - k;
        e10 = q as i32 + e2;
        let mul = &t.d_pow[i as usize];
        vr = mul_shift64(4 * m2, mul, j);
        vp = mul_shift64(4 * m2 + 2, mul, j);
        vm = mul_shift64(4 * m2 - 1 - mm_shift, mul, j);
        if q <= 1 {
            vr_is_trailing_zeros = true;
            if accept_bounds {
                vm_is_trailing_zeros = mm_shift == 1;
            } else {
                vp -= 1;
            }
        } else if q < 63 {
            vr_is_trailing_zeros = mv & ((1u64 << (q - 1)) - 1) == 0;
        }
    }

    let mut removed = 0i32;
    let mut last_removed_digit = 0u64;
    let output = if vm_is_trailing_zeros || vr_is_trailing_zeros {
        while vp / 10 > vm / 10 {
            vm_is_trailing_zeros &= vm % 10 == 0;
            vr_is_trailing_zeros &= last_removed_digit == 0;
            last_removed_digit = vr % 10;
            vr /= 10;
            vp /= 10;
            vm /= 10;
            removed += 1;
        }
        if vm_is_trailing_zeros {
            while vm % 10 == 0 {
                vr_is_trailing_zeros &= last_removed_digit == 0;
                last_removed_digit = vr % 10;
                vr /= 10;
                vm /= 10;
                removed += 1;
            }
        }
        if vr_is_trailing_zeros && last_removed_digit == 5 && vr % 2 == 0 {
            last_removed_digit = 4;
        }
        vr + u64::from(
            (vr == vm && (!accept_bounds || !vm_is_trailing_zeros)) || last_removed_digit >= 5,
        )
    } else {
        let (output, n) = remove_digits(vr, vp, vm);
        removed += n;
        output
    };
    (output, e10 + removed)
}

/// Ryu's common case (no trailing-zero bookkeeping): drops the low digits of `vr` while
/// the interval `(vm, vp)` still holds a shorter decimal, rounding half up on the last
/// digit dropped. Returns the rounded digits and how many were dropped.
///
/// Ryu drops one digit per step, three divisions each, and a double usually needs a dozen
/// or more (`58.25` is computed with 17 digits). Whether `k` digits can be dropped is
/// `vp / 10^k > vm / 10^k`, which once false stays false for larger `k`, so the count is
/// found with steps of 8, 4, 2 and 1 digits instead; the digit that decides the rounding
/// is the highest one dropped, as in the one-at-a-time loop.
#[inline]
pub(super) fn remove_digits(mut vr: u64, mut vp: u64, mut vm: u64) -> (u64, i32) {
    let mut removed = 0;
    let mut round_up = false;
    let mut cut = |k: i32, p: u64, vr: &mut u64, vp: &mut u64, vm: &mut u64| {
        round_up = *vr % p >= p / 10 * 5;
        *vr /= p;
        *vp /= p;
        *vm /= p;
        removed += k;
    };
    while vp / 100_000_000 > vm / 100_000_000 {
        cut(8, 100_000_000, &mut vr, &mut vp, &mut vm);
    }
    for (k, p) in [(4, 10_000), (2, 100), (1, 10)] {
        if vp / p > vm / p {
            cut(k, p, &mut vr, &mut vp, &mut vm);
        }
    }
    (vr + u64::from(vr == vm || round_up), removed)
}

/// PostgreSQL's shortest decimal of a finite, non-zero `v`: `(digits, exponent)` with
/// value `digits × 10^exponent`. `digits` may carry trailing zeros (small-int path).
pub(crate) fn f64_shortest(v: f64) -> (u64, i32) {
    let bits = v.to_bits();
    let ieee_mantissa = bits & ((1u64 << DOUBLE_MANTISSA_BITS) - 1);
    let ieee_exponent =
        ((bits >> DOUBLE_MANTISSA_BITS) & ((1u64 << DOUBLE_EXPONENT_BITS) - 1)) as u32;
    // d2d_small_int
    let e2 = ieee_exponent as i32 - DOUBLE_BIAS - DOUBLE_MANTISSA_BITS as i32;
    if (-(DOUBLE_MANTISSA_BITS as i32)..=0).contains(&e2) {
        let mask = (1u64 << -e2) - 1;
        if ieee_mantissa & mask == 0 {
            let m2 = (1u64 << DOUBLE_MANTISSA_BITS) | ieee_mantissa;
            return (m2 >> -e2, 0);
        }
    }
    d2d(ieee_mantissa, ieee_exponent)
}

// --- float --------------------------------------------------------------------------------

fn pow5_factor32(mut v: u32) -> u32 {
    let mut count = 0;
    while v % 5 == 0 {
        v /= 5;
        count += 1;
    }
    count
}

fn mul_shift32(m: u32, factor: u64, shift: i32) -> u32 {
    ((u128::from(m) * u128::from(factor)) >> shift) as u32
}

fn f2d(ieee_mantissa: u32, ieee_exponent: u32) -> (u32, i32) {
    let t = tables();
    let (e2, m2) = if ieee_exponent == 0 {
        (
            1 - FLOAT_BIAS - FLOAT_MANTISSA_BITS as i32 - 2,
            ieee_mantissa,
        )
    } else {
        (
            ieee_exponent as i32 - FLOAT_BIAS - FLOAT_MANTISSA_BITS as i32 - 2,
            (1u32 << FLOAT_MANTISSA_BITS) | ieee_mantissa,
        )
    };
    let accept_bounds = false;
    let mv = 4 * m2;
    let mp = 4 * m2 + 2;
    let mm_shift = u32::from(ieee_mantissa != 0 || ieee_exponent <= 1);
    let mm = 4 * m2 - 1 - mm_shift;

    let (mut vr, mut vp, mut vm);
    let e10: i32;
    let mut vm_is_trailing_zeros = false;
    let mut vr_is_trailing_zeros = false;
    let mut last_removed_digit = 0u32;
    if e2 >= 0 {
        let q = log10_pow2(e2);
        e10 = q as i32;
        let k = FLOAT_POW5_INV_BITCOUNT + pow5bits(q as i32) - 1;
        let i = -e2 + q as i32 + k;
        let f = t.f_inv[q as usize];
        vr = mul_shift32(mv, f, i);
        vp = mul_shift32(mp, f, i);
        vm = mul_shift32(mm, f, i);
        if q != 0 && (vp - 1) / 10 <= vm / 10 {
            let l = FLOAT_POW5_INV_BITCOUNT + pow5bits(q as i32 - 1) - 1;
            last_removed_digit =
                mul_shift32(mv, t.f_inv[q as usize - 1], -e2 + q as i32 - 1 + l) % 10;
        }
        if q <= 9 {
            if mv % 5 == 0 {
                vr_is_trailing_zeros = pow5_factor32(mv) >= q;
            } else if accept_bounds {
                vm_is_trailing_zeros = pow5_factor32(mm) >= q;
            } else {
                vp -= u32::from(pow5_factor32(mp) >= q);
            }
        }
    } else {
        let q = log10_pow5(-e2);
        e10 = q as i32 + e2;
        let i = -e2 - q as i32;
        let k = pow5bits(i) - FLOAT_POW5_BITCOUNT;
        let j = q as i32 - k;
        let f = t.f_pow[i as usize];
        vr = mul_shift32(mv, f, j);
        vp = mul_shift32(mp, f, j);
        vm = mul_shift32(mm, f, j);
        if q != 0 && (vp - 1) / 10 <= vm / 10 {
            let j = q as i32 - 1 - (pow5bits(i + 1) - FLOAT_POW5_BITCOUNT);
            last_removed_digit = mul_shift32(mv, t.f_pow[i as usize + 1], j) % 10;
        }
        if q <= 1 {
            vr_is_trailing_zeros = true;
            if accept_bounds {
                vm_is_trailing_zeros = mm_shift == 1;
            } else {
                vp -= 1;
            }
        } else if q < 31 {
            vr_is_trailing_zeros = mv & ((1u32 << (q - 1)) - 1) == 0;
        }
    }

    let mut removed = 0i32;
    let output = if vm_is_trailing_zeros || vr_is_trailing_zeros {
        while vp / 10 > vm / 10 {
            vm_is_trailing_zeros &= vm % 10 == 0;
            vr_is_trailing_zeros &= last_removed_digit == 0;
            last_removed_digit = vr % 10;
            vr /= 10;
            vp /= 10;
            vm /= 10;
            removed += 1;
        }
        if vm_is_trailing_zeros {
            while vm % 10 == 0 {
                vr_is_trailing_zeros &= last_removed_digit == 0;
                last_removed_digit = vr % 10;
                vr /= 10;
                vm /= 10;
                removed += 1;
            }
        }
        if vr_is_trailing_zeros && last_removed_digit == 5 && vr % 2 == 0 {
            last_removed_digit = 4;
        }
        vr + u32::from(
            (vr == vm && (!accept_bounds || !vm_is_trailing_zeros)) || last_removed_digit >= 5,
        )
    } else {
        while vp / 10 > vm / 10 {
            last_removed_digit = vr % 10;
            vr /= 10;
            vp /= 10;
            vm /= 10;
            removed += 1;
        }
        vr + u32::from(vr == vm || last_removed_digit >= 5)
    };
    (output, e10 + removed)
}

/// PostgreSQL's shortest decimal of a finite, non-zero `v` (see [`f64_shortest`]).
pub(crate) fn f32_shortest(v: f32) -> (u32, i32) {
    let bits = v.to_bits();
    let ieee_mantissa = bits & ((1u32 << FLOAT_MANTISSA_BITS) - 1);
    let ieee_exponent = (bits >> FLOAT_MANTISSA_BITS) & ((1u32 << FLOAT_EXPONENT_BITS) - 1);
    let e2 = ieee_exponent as i32 - FLOAT_BIAS - FLOAT_MANTISSA_BITS as i32;
    if (-(FLOAT_MANTISSA_BITS as i32)..=0).contains(&e2) {
        let mask = (1u32 << -e2) - 1;
        if ieee_mantissa & mask == 0 {
            let m2 = (1u32 << FLOAT_MANTISSA_BITS) | ieee_mantissa;
            return (m2 >> -e2, 0);
        }
    }
    f2d(ieee_mantissa, ieee_exponent)
}
