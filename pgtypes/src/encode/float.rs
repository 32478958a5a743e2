//! `float4out` / `float8out` of PostgreSQL 15.
//!
//! With `extra_float_digits > 0` PostgreSQL prints the shortest decimal that reads back
//! as the same value (its copy of Ryu), in fixed notation when the decimal exponent is in
//! `-4 ..= 14` (float8) or `-4 ..= 5` (float4), else as `d.ddde±XX`. With
//! `extra_float_digits <= 0` it prints `%.*g` with `15 + extra_float_digits` (float8) or
//! `6 + extra_float_digits` (float4) significant digits.
//!
//! The shortest digits come from a port of PostgreSQL's Ryu ([`super::ryu`]; std's `{:e}`
//! differs in rare boundary and tie cases), the `%g` digits from std's exactly rounded
//! `{:.Ne}` (ties-to-even on the exact binary value, as glibc's printf); the layout is
//! then written PostgreSQL's way. No heap allocation.

use std::fmt::Write as _;

/// A fixed-capacity `fmt::Write` sink on the stack.
pub(crate) struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    pub(crate) fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> std::fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let b = s.as_bytes();
        let end = self.len + b.len();
        if end > N {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(b);
        self.len = end;
        Ok(())
    }
}

/// Decimal digits (no leading zeros except for zero itself) and the decimal exponent of
/// the first digit, parsed from std's `{:e}` output.
struct Digits {
    digits: [u8; 40],
    n: usize,
    exp: i32,
}

fn parse_sci(s: &[u8]) -> Digits {
    let mut d = Digits {
        digits: [0; 40],
        n: 0,
        exp: 0,
    };
    let mut i = 0;
    while i < s.len() && s[i] != b'e' {
        if s[i].is_ascii_digit() && d.n < d.digits.len() {
            d.digits[d.n] = s[i];
            d.n += 1;
        }
        i += 1;
    }
    let mut neg = false;
    let mut exp: i32 = 0;
    for &c in &s[(i + 1).min(s.len())..] {
        match c {
            b'-' => neg = true,
            b'0'..=b'9' => exp = exp * 10 + i32::from(c - b'0'),
            _ => {}
        }
    }
    d.exp = if neg { -exp } else { exp };
    d
}

fn write_exp(out: &mut Vec<u8>, exp: i32) {
    out.push(b'e');
    out.push(if exp < 0 { b'-' } else { b'+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push(b'0');
    }
    super::write_u64(out, u64::from(e));
}

/// Lays out `m × 10^e` (`m > 0`, the shortest digits of a float) as [`layout`] does,
/// writing the digits two at a time without an intermediate [`Digits`].
fn layout_int(out: &mut Vec<u8>, mut m: u64, mut e: i32, fixed_limit: i32) {
    while m >= 10 && m % 10 == 0 {
        m /= 10;
        e += 1;
    }
    let mut tmp = [0u8; 20];
    let i = super::u64_digits(m, &mut tmp);
    let digits = &tmp[i..];
    lay_digits(out, digits, e + digits.len() as i32 - 1, fixed_limit);
}

/// Lays out `digits × 10^(exp - n + 1)`: fixed when `-4 <= exp < fixed_limit`, else
/// exponential. Trailing zeros of `digits` are dropped (they never carry information in
/// either `%g` or shortest output).
fn layout(out: &mut Vec<u8>, d: &Digits, fixed_limit: i32) {
    let mut n = d.n;
    while n > 1 && d.digits[n - 1] == b'0' {
        n -= 1;
    }
    lay_digits(out, &d.digits[..n], d.exp, fixed_limit);
}

/// [`layout`] of digits without trailing zeros, `exp` the exponent of the first.
fn lay_digits(out: &mut Vec<u8>, digits: &[u8], exp: i32, fixed_limit: i32) {
    let n = digits.len();
    if (-4..fixed_limit).contains(&exp) {
        if exp < 0 {
            out.extend_from_slice(b"0.");
            for _ in 0..(-exp - 1) {
                out.push(b'0');
            }
            out.extend_from_slice(digits);
        } else {
            let int_len = (exp + 1) as usize;
            if n <= int_len {
                out.extend_from_slice(digits);
                for _ in n..int_len {
                    out.push(b'0');
                }
            } else {
                out.extend_from_slice(&digits[..int_len]);
                out.push(b'.');
                out.extend_from_slice(&digits[int_len..]);
            }
        }
    } else {
        out.push(digits[0]);
        if n > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        write_exp(out, exp);
    }
}

/// Writes NaN / ±Infinity / the sign; returns false if nothing more is to be written.
fn special(out: &mut Vec<u8>, v: f64) -> bool {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return false;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"Infinity" as &[u8]
        } else {
            b"-Infinity"
        });
        return false;
    }
    if v.is_sign_negative() {
        out.push(b'-');
    }
    true
}

/// `%.*g` with `prec` significant digits (0 is treated as 1, as C does).
fn write_g(out: &mut Vec<u8>, v: f64, prec: i32) {
    let prec = prec.max(1);
    let mut buf = StackBuf::<64>::new();
    // 17 significant digits at most are ever requested (15 + 3 clamp below).
    let prec = prec.min(32) as usize;
    let _ = write!(buf, "{:.*e}", prec - 1, v.abs());
    let d = parse_sci(buf.as_bytes());
    // %g: fixed iff -4 <= X < P.
    layout(out, &d, prec as i32);
}

/// Appends PostgreSQL's `float8out` text of `v`.
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64, extra_float_digits: i32) {
    if !special(out, v) {
        return;
    }
    if extra_float_digits > 0 {
        if v == 0.0 {
            out.push(b'0');
            return;
        }
        let (m, e) = super::ryu::f64_shortest(v);
        layout_int(out, m, e, 15);
    } else {
        write_g(out, v, 15 + extra_float_digits.max(-15));
    }
}

/// Appends PostgreSQL's `float4out` text of `v`.
pub(crate) fn write_f32(out: &mut Vec<u8>, v: f32, extra_float_digits: i32) {
    if !special(out, f64::from(v)) {
        return;
    }
    if extra_float_digits > 0 {
        if v == 0.0 {
            out.push(b'0');
            return;
        }
        let (m, e) = super::ryu::f32_shortest(v);
        layout_int(out, u64::from(m), e, 6);
    } else {
        write_g(out, f64::from(v), 6 + extra_float_digits.max(-15));
    }
}
