//! Numbers, booleans and bytea in PostgreSQL text input syntax.
//!
//! All parsers work on raw bytes (COPY hands us byte slices) and never allocate on the
//! success path for numbers.

use super::DecodeError;

/// PostgreSQL's `isspace` (C locale): space, \t, \n, \v, \f, \r.
#[inline]
pub(crate) fn is_pg_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Strip PostgreSQL whitespace from both ends.
#[inline]
pub(crate) fn trim_pg(b: &[u8]) -> &[u8] {
    let mut s = 0;
    let mut e = b.len();
    while s < e && is_pg_space(b[s]) {
        s += 1;
    }
    while e > s && is_pg_space(b[e - 1]) {
        e -= 1;
    }
    &b[s..e]
}

/// Why an integer failed to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntErr {
    Syntax,
    Range,
}

/// Parse an integer the way `pg_strtoint64` does (PostgreSQL 15): optional surrounding
/// whitespace, optional sign, decimal digits. Range errors are reported for `i64`;
/// narrower types check the result themselves.
#[inline]
pub(crate) fn parse_i64(b: &[u8]) -> Result<i64, IntErr> {
    let n = b.len();
    let mut i = 0;
    // Fast path: plain digits, no sign, no spaces, at most 18 digits (cannot overflow).
    if n > 0 && n <= 18 {
        let mut acc: i64 = 0;
        let mut ok = true;
        for &c in b {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                ok = false;
                break;
            }
            acc = acc * 10 + d as i64;
        }
        if ok {
            return Ok(acc);
        }
    }
    while i < n && is_pg_space(b[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < n && (b[i] == b'-' || b[i] == b'+') {
        neg = b[i] == b'-';
        i += 1;
    }
    let start = i;
    // Accumulate as a negative number so that i64::MIN parses.
    let mut acc: i64 = 0;
    while i < n {
        let d = b[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        acc = match acc.checked_mul(10).and_then(|v| v.checked_sub(d as i64)) {
            Some(v) => v,
            None => return Err(IntErr::Range),
        };
        i += 1;
    }
    if i == start {
        return Err(IntErr::Syntax);
    }
    while i < n && is_pg_space(b[i]) {
        i += 1;
    }
    if i != n {
        return Err(IntErr::Syntax);
    }
    if neg {
        Ok(acc)
    } else {
        acc.checked_neg().ok_or(IntErr::Range)
    }
}

/// PostgreSQL name of an integer type by byte width.
pub(crate) fn int_type_name(width: u8) -> &'static str {
    match width {
        2 => "smallint",
        4 => "integer",
        _ => "bigint",
    }
}

/// Parse an integer for a column of the given byte width (2, 4, 8), with PG's errors.
#[inline]
pub(crate) fn parse_int_checked(b: &[u8], width: u8) -> Result<i64, DecodeError> {
    let (lo, hi) = match width {
        2 => (i16::MIN as i64, i16::MAX as i64),
        4 => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    };
    match parse_i64(b) {
        Ok(v) if v >= lo && v <= hi => Ok(v),
        Ok(_) | Err(IntErr::Range) => Err(DecodeError::new(
            "22003",
            format!(
                "value \"{}\" is out of range for type {}",
                String::from_utf8_lossy(b),
                int_type_name(width)
            ),
        )),
        Err(IntErr::Syntax) => Err(DecodeError::syntax(int_type_name(width), b)),
    }
}

fn eq_ignore_case(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// Does the mantissa of a float literal contain a non-zero digit?
fn mantissa_nonzero(b: &[u8]) -> bool {
    for &c in b {
        match c {
            b'1'..=b'9' => return true,
            b'e' | b'E' => return false,
            _ => {}
        }
    }
    false
}

/// Is this (trimmed) literal one of the infinity spellings PostgreSQL accepts?
fn is_inf_literal(t: &[u8]) -> bool {
    let t = match t.first() {
        Some(b'+') | Some(b'-') => &t[1..],
        _ => t,
    };
    eq_ignore_case(t, "infinity") || eq_ignore_case(t, "inf")
}

/// `float8in`: surrounding whitespace, `NaN`, `[+-]Infinity`, `[+-]inf`, decimal and
/// exponent forms. Overflow to infinity and underflow to zero are range errors (22003);
/// denormal results are accepted, as in PostgreSQL. Hexadecimal floats (`0x10`, which
/// glibc's strtod accepts) are not supported.
#[inline]
pub(crate) fn parse_f64(b: &[u8]) -> Result<f64, DecodeError> {
    let simple = simple_decimal(b);
    if let Some((m, frac, neg)) = simple
        && m <= (1u64 << 53)
        && frac <= 22
    {
        // Clinger's fast path: both operands exact, one correctly rounded division.
        let v = m as f64 / POW10_F64[frac];
        return Ok(if neg { -v } else { v });
    }
    parse_f64_general(b, simple.is_some())
}

/// [`parse_f64`] beyond Clinger's fast path, kept out of line so that the fast path stays
/// small where COPY inlines it. `plain`: `b` is `[-]digits[.digits]` (at most 19 digits).
#[inline(never)]
fn parse_f64_general(b: &[u8], plain: bool) -> Result<f64, DecodeError> {
    // A plain decimal with more digits than a double holds exactly is how drivers and
    // generators print most float8 values (up to 17 significant digits). lexical-core
    // rounds it correctly straight from the bytes, where std's parser needs a `&str` (a
    // UTF-8 check of every value) after trimming. Such input can neither overflow nor
    // underflow, so the range checks below have nothing to add.
    if plain && let Ok(v) = lexical_core::parse::<f64>(b) {
        return Ok(v);
    }
    let t = trim_pg(b);
    let s = std::str::from_utf8(t).map_err(|_| DecodeError::syntax("double precision", b))?;
    match s.parse::<f64>() {
        Ok(v) => {
            if v.is_infinite() && !is_inf_literal(t) {
                return Err(float_range(b, "double precision"));
            }
            if v == 0.0 && !v.is_nan() && mantissa_nonzero(t) {
                return Err(float_range(b, "double precision"));
            }
            Ok(v)
        }
        Err(_) => Err(DecodeError::syntax("double precision", b)),
    }
}

/// `float4in`: like [`parse_f64`] but parsed directly as `f32` (no double rounding).
#[inline]
pub(crate) fn parse_f32(b: &[u8]) -> Result<f32, DecodeError> {
    let simple = simple_decimal(b);
    if let Some((m, frac, neg)) = simple
        && m <= (1u64 << 24)
        && frac <= 10
    {
        let v = m as f32 / POW10_F32[frac];
        return Ok(if neg { -v } else { v });
    }
    parse_f32_general(b, simple.is_some())
}

/// [`parse_f32`] beyond the fast path (see [`parse_f64_general`]).
#[inline(never)]
fn parse_f32_general(b: &[u8], plain: bool) -> Result<f32, DecodeError> {
    if plain && let Ok(v) = lexical_core::parse::<f32>(b) {
        return Ok(v);
    }
    let t = trim_pg(b);
    let s = std::str::from_utf8(t).map_err(|_| DecodeError::syntax("real", b))?;
    match s.parse::<f32>() {
        Ok(v) => {
            if v.is_infinite() && !is_inf_literal(t) {
                return Err(float_range(b, "real"));
            }
            if v == 0.0 && mantissa_nonzero(t) {
                return Err(float_range(b, "real"));
            }
            Ok(v)
        }
        Err(_) => Err(DecodeError::syntax("real", b)),
    }
}

const POW10_F64: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];
const POW10_F32: [f32; 11] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// `[-]digits[.digits]` with at most 19 digits → (mantissa, fraction digits, negative).
#[inline]
fn simple_decimal(b: &[u8]) -> Option<(u64, usize, bool)> {
    let n = b.len();
    let neg = n > 0 && b[0] == b'-';
    let mut i = neg as usize;
    let mut m: u64 = 0;
    let mut nd = 0;
    let mut frac = 0;
    let mut point = false;
    while i < n {
        let c = b[i];
        let d = c.wrapping_sub(b'0');
        if d <= 9 {
            nd += 1;
            if nd > 19 {
                return None;
            }
            m = m * 10 + d as u64;
            frac += point as usize;
        } else if c == b'.' && !point {
            point = true;
        } else {
            return None;
        }
        i += 1;
    }
    if nd == 0 {
        return None;
    }
    Some((m, frac, neg))
}

fn float_range(b: &[u8], ty: &str) -> DecodeError {
    DecodeError::new(
        "22003",
        format!(
            "\"{}\" is out of range for type {}",
            String::from_utf8_lossy(b),
            ty
        ),
    )
}

/// A decimal literal decomposed: `(-1)^neg * digits * 10^exp10`, digits without leading zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecimalParts {
    pub neg: bool,
    /// Mantissa digits as ASCII (integer and fraction digits concatenated), may contain
    /// leading zeros.
    pub digits: Vec<u8>,
    /// Number of digits after the decimal point in the input.
    pub frac_len: i64,
    /// Explicit exponent.
    pub exp: i64,
}

/// Special numeric values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumericSpecial {
    NaN,
    PosInf,
    NegInf,
}

/// Parse numeric input syntax into parts (`numeric_in`); `Err(())` = syntax error.
pub(crate) fn parse_decimal_parts(b: &[u8]) -> Result<Result<DecimalParts, NumericSpecial>, ()> {
    let t = trim_pg(b);
    if eq_ignore_case(t, "nan") {
        return Ok(Err(NumericSpecial::NaN));
    }
    if is_inf_literal(t) {
        return Ok(Err(if t[0] == b'-' {
            NumericSpecial::NegInf
        } else {
            NumericSpecial::PosInf
        }));
    }
    let n = t.len();
    let mut i = 0;
    let mut neg = false;
    if i < n && (t[i] == b'+' || t[i] == b'-') {
        neg = t[i] == b'-';
        i += 1;
    }
    let mut digits = Vec::with_capacity(n);
    let mut seen_point = false;
    let mut frac_len = 0i64;
    while i < n {
        let c = t[i];
        if c.is_ascii_digit() {
            digits.push(c);
            if seen_point {
                frac_len += 1;
            }
        } else if c == b'.' && !seen_point {
            seen_point = true;
        } else {
            break;
        }
        i += 1;
    }
    if digits.is_empty() {
        return Err(());
    }
    let mut exp = 0i64;
    if i < n && (t[i] == b'e' || t[i] == b'E') {
        i += 1;
        let mut eneg = false;
        if i < n && (t[i] == b'+' || t[i] == b'-') {
            eneg = t[i] == b'-';
            i += 1;
        }
        let s = i;
        while i < n && t[i].is_ascii_digit() {
            exp = (exp * 10 + (t[i] - b'0') as i64).min(1_000_000_000);
            i += 1;
        }
        if i == s {
            return Err(());
        }
        if eneg {
            exp = -exp;
        }
    }
    if i != n {
        return Err(());
    }
    Ok(Ok(DecimalParts {
        neg,
        digits,
        frac_len,
        exp,
    }))
}

/// Round a decimal to `scale` digits after the point (half away from zero) and return the
/// unscaled value, or `None` if it does not fit `precision` digits.
pub(crate) fn decimal_to_i128(p: &DecimalParts, precision: u8, scale: i8) -> Option<i128> {
    // value = M * 10^(exp - frac_len); want round(M * 10^k), k = exp - frac_len + scale.
    let k = p.exp - p.frac_len + scale as i64;
    let first_nz = p.digits.iter().position(|&c| c != b'0');
    let Some(first_nz) = first_nz else {
        return Some(0);
    };
    let digits = &p.digits[first_nz..];
    let limit = pow10_i128(precision as u32);
    let mut acc: i128 = 0;
    if k >= 0 {
        if digits.len() as i64 + k > 38 {
            return None;
        }
        for &c in digits {
            acc = acc * 10 + (c - b'0') as i128;
        }
        acc = acc.checked_mul(pow10_i128(k as u32))?;
    } else {
        let drop = (-k) as u64;
        if drop > digits.len() as u64 {
            return Some(0);
        }
        let keep = digits.len() - drop as usize;
        if keep > 38 {
            return None;
        }
        for &c in &digits[..keep] {
            acc = acc * 10 + (c - b'0') as i128;
        }
        if drop > 0 && digits[keep] >= b'5' {
            acc += 1;
        }
    }
    if acc >= limit {
        return None;
    }
    Some(if p.neg { -acc } else { acc })
}

pub(crate) fn pow10_i128(e: u32) -> i128 {
    10i128.pow(e.min(38))
}

/// The PostgreSQL `numeric field overflow` error (22003).
pub(crate) fn numeric_overflow() -> DecodeError {
    DecodeError::new("22003", "numeric field overflow".to_string())
}

/// `numeric_in` into a `Decimal128(precision, scale)` value.
pub(crate) fn parse_numeric(b: &[u8], precision: u8, scale: i8) -> Result<i128, DecodeError> {
    // Fast path: [-]digits[.digits] with few digits, already at most `scale` fraction digits.
    if b.len() <= 30
        && scale >= 0
        && let Some(v) = fast_numeric(b, precision, scale as u32)
    {
        return Ok(v);
    }
    match parse_decimal_parts(b) {
        Err(()) => Err(DecodeError::syntax("numeric", b)),
        Ok(Err(NumericSpecial::NaN)) => Err(DecodeError::new(
            "0A000",
            "NaN cannot be stored in a numeric column with a fixed precision".to_string(),
        )),
        Ok(Err(_)) => Err(numeric_overflow()),
        Ok(Ok(p)) => decimal_to_i128(&p, precision, scale).ok_or_else(numeric_overflow),
    }
}

#[inline]
fn fast_numeric(b: &[u8], precision: u8, scale: u32) -> Option<i128> {
    let mut i = 0;
    let n = b.len();
    let neg = n > 0 && b[0] == b'-';
    if neg {
        i = 1;
    }
    let mut acc: i64 = 0;
    let mut nd = 0;
    let mut frac = 0u32;
    let mut point = false;
    while i < n {
        let c = b[i];
        if c.is_ascii_digit() {
            nd += 1;
            if nd > 18 {
                return None;
            }
            acc = acc * 10 + (c - b'0') as i64;
            if point {
                frac += 1;
            }
        } else if c == b'.' && !point {
            point = true;
        } else {
            return None;
        }
        i += 1;
    }
    if nd == 0 || nd > 18 || frac > scale {
        return None;
    }
    let v = (acc as i128) * pow10_i128(scale - frac);
    if v >= pow10_i128(precision as u32) {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// `boolin`: trimmed, case-insensitive prefixes of true/false/yes/no, `on`, `of[f]`, `1`, `0`.
pub(crate) fn parse_bool(b: &[u8]) -> Result<bool, DecodeError> {
    let t = trim_pg(b);
    let is_prefix = |word: &str, min: usize| {
        t.len() >= min
            && t.len() <= word.len()
            && word.as_bytes()[..t.len()].eq_ignore_ascii_case(t)
    };
    if t.is_empty() {
        return Err(DecodeError::syntax("boolean", b));
    }
    let r = match t[0].to_ascii_lowercase() {
        b't' if is_prefix("true", 1) => Some(true),
        b'f' if is_prefix("false", 1) => Some(false),
        b'y' if is_prefix("yes", 1) => Some(true),
        b'n' if is_prefix("no", 1) => Some(false),
        b'o' if is_prefix("on", 2) => Some(true),
        b'o' if is_prefix("off", 2) => Some(false),
        b'1' if t.len() == 1 => Some(true),
        b'0' if t.len() == 1 => Some(false),
        _ => None,
    };
    r.ok_or_else(|| DecodeError::syntax("boolean", b))
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `byteain`: hex format (`\x0a0b`, whitespace allowed between digit pairs) or escape
/// format (`\\` and `\ooo`). Appends to `out`.
pub(crate) fn parse_bytea(b: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    if b.len() >= 2 && b[0] == b'\\' && b[1] == b'x' {
        let mut i = 2;
        let n = b.len();
        out.reserve((n - 2) / 2);
        while i < n {
            let c = b[i];
            if is_pg_space(c) {
                i += 1;
                continue;
            }
            let hi = hex_val(c).ok_or_else(|| bad_hex_digit(&b[i..]))?;
            if i + 1 >= n {
                return Err(DecodeError::new(
                    "22023",
                    "invalid hexadecimal data: odd number of digits".to_string(),
                ));
            }
            let c2 = b[i + 1];
            let lo = match hex_val(c2) {
                Some(v) => v,
                None if is_pg_space(c2) => {
                    return Err(DecodeError::new(
                        "22023",
                        "invalid hexadecimal data: odd number of digits".to_string(),
                    ));
                }
                None => return Err(bad_hex_digit(&b[i + 1..])),
            };
            out.push(hi << 4 | lo);
            i += 2;
        }
        return Ok(());
    }
    let bad = || DecodeError::new("22P02", "invalid input syntax for type bytea".to_string());
    let mut i = 0;
    let n = b.len();
    out.reserve(n);
    while i < n {
        let c = b[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
        } else if i + 1 < n && b[i + 1] == b'\\' {
            out.push(b'\\');
            i += 2;
        } else if i + 3 < n
            && (b'0'..=b'3').contains(&b[i + 1])
            && (b'0'..=b'7').contains(&b[i + 2])
            && (b'0'..=b'7').contains(&b[i + 3])
        {
            out.push(((b[i + 1] - b'0') << 6) | ((b[i + 2] - b'0') << 3) | (b[i + 3] - b'0'));
            i += 4;
        } else {
            return Err(bad());
        }
    }
    Ok(())
}

fn bad_hex_digit(rest: &[u8]) -> DecodeError {
    // PostgreSQL prints the offending (possibly multibyte) character.
    let s = String::from_utf8_lossy(rest);
    let ch: String = s.chars().next().map(|c| c.to_string()).unwrap_or_default();
    DecodeError::new("22023", format!("invalid hexadecimal digit: \"{ch}\""))
}

/// Canonical text of a numeric literal as PostgreSQL's `numeric_out(numeric_in(s))` prints
/// it (used for jsonb numbers): exponent applied, display scale = max(0, frac - exp).
pub(crate) fn canonical_numeric_text(p: &DecimalParts) -> Option<String> {
    let first_nz = p.digits.iter().position(|&c| c != b'0');
    let e10 = p.exp - p.frac_len; // value = M * 10^e10
    let dscale = (-e10).max(0);
    if e10.abs() > 100_000 {
        return None;
    }
    let Some(first_nz) = first_nz else {
        // zero
        let mut s = String::from("0");
        if dscale > 0 {
            s.push('.');
            s.extend(std::iter::repeat_n('0', dscale as usize));
        }
        return Some(s);
    };
    let m = &p.digits[first_nz..];
    let mut s = String::with_capacity(m.len() + 8);
    if p.neg {
        s.push('-');
    }
    if e10 >= 0 {
        s.push_str(std::str::from_utf8(m).ok()?);
        s.extend(std::iter::repeat_n('0', e10 as usize));
    } else {
        let fd = (-e10) as usize;
        if m.len() > fd {
            let (ip, fp) = m.split_at(m.len() - fd);
            s.push_str(std::str::from_utf8(ip).ok()?);
            s.push('.');
            s.push_str(std::str::from_utf8(fp).ok()?);
        } else {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', fd - m.len()));
            s.push_str(std::str::from_utf8(m).ok()?);
        }
    }
    Some(s)
}

/// Format a decimal (unscaled value and scale) as PostgreSQL prints a numeric.
pub(crate) fn format_decimal(v: i128, scale: i8) -> String {
    let neg = v < 0;
    let mag = v.unsigned_abs().to_string();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if scale <= 0 {
        s.push_str(&mag);
        if mag != "0" {
            s.extend(std::iter::repeat_n('0', (-scale) as usize));
        }
        return s;
    }
    let sc = scale as usize;
    if mag.len() > sc {
        s.push_str(&mag[..mag.len() - sc]);
        s.push('.');
        s.push_str(&mag[mag.len() - sc..]);
    } else {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', sc - mag.len()));
        s.push_str(&mag);
    }
    s
}

/// Format a float the way PostgreSQL's `float8out`/`float4out` do (shortest round-trip
/// digits; exponent form when the decimal exponent is < -4 or >= 15 (float8) / 6 (float4)).
pub(crate) fn format_float(v: f64, is_f32: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let sci = if is_f32 {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    // sci looks like "-1.2345e-7" / "1e15" / "0e0"
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let hi = if is_f32 { 6 } else { 15 };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp >= -4 && exp < hi {
        if exp >= 0 {
            let ip = exp as usize + 1;
            if digits.len() <= ip {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', ip - digits.len()));
            } else {
                out.push_str(&digits[..ip]);
                out.push('.');
                out.push_str(&digits[ip..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
    }
    out
}
