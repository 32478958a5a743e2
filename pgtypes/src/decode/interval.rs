//! `interval` input: PostgreSQL 15's `DecodeInterval` (postgres style, with `@` and
//! `ago`, SQL `Y-M` and `H:M:S` fields) and `DecodeISO8601Interval` (`P1Y2M3DT4H5M6S`,
//! `P0001-02-03T04:05:06`).

use std::borrow::Cow;

use super::DecodeError;
use super::datetime::{USECS_PER_DAY, USECS_PER_SEC, frac_usecs};
use super::num::is_pg_space;

/// An interval as PostgreSQL stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Itv {
    pub months: i32,
    pub days: i32,
    pub usecs: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IErr {
    BadFormat,
    Overflow,
    /// The final months/days/time do not fit (PostgreSQL: 22008 `interval out of range`).
    Range,
}

const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
const USECS_PER_HOUR: i64 = 3600 * USECS_PER_SEC;

pub(crate) fn parse_interval(b: &[u8]) -> Result<Itv, DecodeError> {
    let r = match decode_postgres(b) {
        Err(IErr::BadFormat) => decode_iso8601(b),
        r => r,
    };
    r.map_err(|e| {
        let s = String::from_utf8_lossy(b);
        match e {
            IErr::BadFormat => DecodeError::new(
                "22007",
                format!("invalid input syntax for type interval: \"{s}\""),
            ),
            IErr::Overflow => DecodeError::new(
                "22015",
                format!("interval field value out of range: \"{s}\""),
            ),
            IErr::Range => DecodeError::new("22008", "interval out of range"),
        }
    })
}

/// Accumulator mirroring PostgreSQL 15's `pg_itm_in`.
#[derive(Default)]
struct Acc {
    usec: i64,
    mday: i32,
    mon: i32,
    year: i32,
}

impl Acc {
    fn add_usec(&mut self, val: i64, fval: f64, scale: i64) -> Result<(), IErr> {
        self.usec = val
            .checked_mul(scale)
            .and_then(|v| v.checked_add(self.usec))
            .ok_or(IErr::Overflow)?;
        self.add_fract_usec(fval, scale)
    }
    fn add_fract_usec(&mut self, frac: f64, scale: i64) -> Result<(), IErr> {
        if frac == 0.0 {
            return Ok(());
        }
        let f = frac * scale as f64;
        let mut usec = f as i64;
        usec += (f - usec as f64).round_ties_even() as i64;
        self.usec = self.usec.checked_add(usec).ok_or(IErr::Overflow)?;
        Ok(())
    }
    fn add_days(&mut self, val: i64, scale: i64) -> Result<(), IErr> {
        let d = val.checked_mul(scale).ok_or(IErr::Overflow)?;
        let d = i32::try_from(d).map_err(|_| IErr::Overflow)?;
        self.mday = self.mday.checked_add(d).ok_or(IErr::Overflow)?;
        Ok(())
    }
    fn add_fract_days(&mut self, frac: f64, scale: i64) -> Result<(), IErr> {
        if frac == 0.0 {
            return Ok(());
        }
        let f = frac * scale as f64;
        let extra = f as i32;
        self.mday = self.mday.checked_add(extra).ok_or(IErr::Overflow)?;
        self.add_fract_usec(f - extra as f64, USECS_PER_DAY)
    }
    fn add_months(&mut self, val: i64) -> Result<(), IErr> {
        let m = i32::try_from(val).map_err(|_| IErr::Overflow)?;
        self.mon = self.mon.checked_add(m).ok_or(IErr::Overflow)?;
        Ok(())
    }
    fn add_years(&mut self, val: i64, scale: i64) -> Result<(), IErr> {
        let y = val.checked_mul(scale).ok_or(IErr::Overflow)?;
        let y = i32::try_from(y).map_err(|_| IErr::Overflow)?;
        self.year = self.year.checked_add(y).ok_or(IErr::Overflow)?;
        Ok(())
    }
    fn add_fract_years(&mut self, frac: f64, scale: i64) -> Result<(), IErr> {
        let extra = (frac * scale as f64 * 12.0).round_ties_even() as i32;
        self.mon = self.mon.checked_add(extra).ok_or(IErr::Overflow)?;
        Ok(())
    }
    fn finish(self, negate: bool) -> Result<Itv, IErr> {
        let months = self
            .year
            .checked_mul(12)
            .and_then(|y| y.checked_add(self.mon))
            .ok_or(IErr::Range)?;
        let mut r = Itv {
            months,
            days: self.mday,
            usecs: self.usec,
        };
        if negate {
            r.months = r.months.checked_neg().ok_or(IErr::Overflow)?;
            r.days = r.days.checked_neg().ok_or(IErr::Overflow)?;
            r.usecs = r.usecs.checked_neg().ok_or(IErr::Overflow)?;
        }
        Ok(r)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Microsec,
    Millisec,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Decade,
    Century,
    Millennium,
}

impl Unit {
    fn mask(self) -> u32 {
        1 << (self as u32)
    }
}

const TIME_MASK: u32 = (1 << Unit::Hour as u32)
    | (1 << Unit::Minute as u32)
    | (1 << Unit::Second as u32)
    | (1 << Unit::Millisec as u32)
    | (1 << Unit::Microsec as u32);
const ALL_SECS_MASK: u32 =
    (1 << Unit::Second as u32) | (1 << Unit::Millisec as u32) | (1 << Unit::Microsec as u32);

fn unit_of(w: &[u8]) -> Option<Unit> {
    Some(match w {
        b"us" | b"usec" | b"usecs" | b"useconds" | b"microsecon" | b"microsecond"
        | b"microseconds" => Unit::Microsec,
        b"ms" | b"msec" | b"msecs" | b"mseconds" | b"millisecon" | b"millisecond"
        | b"milliseconds" => Unit::Millisec,
        b"s" | b"sec" | b"secs" | b"second" | b"seconds" => Unit::Second,
        b"m" | b"min" | b"mins" | b"minute" | b"minutes" => Unit::Minute,
        b"h" | b"hr" | b"hrs" | b"hour" | b"hours" => Unit::Hour,
        b"d" | b"day" | b"days" => Unit::Day,
        b"w" | b"week" | b"weeks" => Unit::Week,
        b"mon" | b"mons" | b"month" | b"months" => Unit::Month,
        b"y" | b"yr" | b"yrs" | b"year" | b"years" => Unit::Year,
        b"dec" | b"decs" | b"decade" | b"decades" => Unit::Decade,
        b"c" | b"cent" | b"century" | b"centuries" => Unit::Century,
        b"mil" | b"mils" | b"millennium" | b"millennia" => Unit::Millennium,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum T {
    Num,  // digits / .digits / digits.digits / y-m
    Time, // h:m[:s]
    Signed,
    Word,
}

type Toks<'a> = Vec<(T, Cow<'a, [u8]>)>;

fn tokenize(lc: &[u8]) -> Result<Toks<'_>, IErr> {
    let n = lc.len();
    let mut out = Vec::with_capacity(8);
    let mut i = 0;
    while i < n {
        let c = lc[i];
        if is_pg_space(c) {
            i += 1;
            continue;
        }
        let st = i;
        if c.is_ascii_digit() {
            while i < n && lc[i].is_ascii_digit() {
                i += 1;
            }
            if i < n && lc[i] == b':' {
                while i < n && (lc[i].is_ascii_digit() || lc[i] == b':' || lc[i] == b'.') {
                    i += 1;
                }
                out.push((T::Time, Cow::Borrowed(&lc[st..i])));
            } else {
                if i < n && matches!(lc[i], b'-' | b'/' | b'.') {
                    let d = lc[i];
                    i += 1;
                    while i < n && (lc[i].is_ascii_alphanumeric() || lc[i] == d) {
                        i += 1;
                    }
                }
                out.push((T::Num, Cow::Borrowed(&lc[st..i])));
            }
        } else if c == b'.' {
            i += 1;
            while i < n && lc[i].is_ascii_digit() {
                i += 1;
            }
            out.push((T::Num, Cow::Borrowed(&lc[st..i])));
        } else if c == b'+' || c == b'-' {
            i += 1;
            while i < n && is_pg_space(lc[i]) {
                i += 1;
            }
            if i < n && (lc[i].is_ascii_digit() || lc[i] == b'.') {
                let ds = i;
                while i < n && (lc[i].is_ascii_digit() || matches!(lc[i], b':' | b'.' | b'-')) {
                    i += 1;
                }
                // keep the sign, drop the whitespace between it and the digits
                let mut tok = Vec::with_capacity(i - ds + 1);
                tok.push(c);
                tok.extend_from_slice(&lc[ds..i]);
                out.push((T::Signed, Cow::Owned(tok)));
            } else {
                return Err(IErr::BadFormat);
            }
        } else if c.is_ascii_alphabetic() {
            while i < n && lc[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push((T::Word, Cow::Borrowed(&lc[st..i])));
        } else if c.is_ascii_punctuation() {
            i += 1;
        } else {
            return Err(IErr::BadFormat);
        }
    }
    Ok(out)
}

fn parse_i64_prefix(s: &[u8]) -> Result<(i64, &[u8]), IErr> {
    let mut i = 0;
    let neg = matches!(s.first(), Some(b'-'));
    if matches!(s.first(), Some(b'-' | b'+')) {
        i = 1;
    }
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((s[i] - b'0') as i64))
            .ok_or(IErr::Overflow)?;
        i += 1;
    }
    Ok((if neg { -v } else { v }, &s[i..]))
}

fn parse_fraction(rest: &[u8]) -> Result<f64, IErr> {
    // rest starts with '.'
    let digits = &rest[1..];
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(IErr::BadFormat);
    }
    if digits.is_empty() {
        return Ok(0.0);
    }
    let s = format!(
        "0.{}",
        std::str::from_utf8(digits).map_err(|_| IErr::BadFormat)?
    );
    s.parse().map_err(|_| IErr::BadFormat)
}

/// `DecodeTimeForInterval`: `h:m`, `h:m:s[.f]`, or `m:s.f` → microseconds.
fn time_usecs(s: &[u8]) -> Result<i64, IErr> {
    let parts: Vec<&[u8]> = s.split(|&c| c == b':').collect();
    let int = |p: &[u8]| -> Result<i64, IErr> {
        if p.is_empty() || !p.iter().all(u8::is_ascii_digit) {
            return Err(IErr::BadFormat);
        }
        let (v, _) = parse_i64_prefix(p)?;
        Ok(v)
    };
    let split_frac = |p: &[u8]| -> Result<(i64, i64), IErr> {
        match p.iter().position(|&c| c == b'.') {
            Some(k) => Ok((
                int(&p[..k])?,
                frac_usecs(&p[k + 1..]).map_err(|_| IErr::BadFormat)?,
            )),
            None => Ok((int(p)?, 0)),
        }
    };
    let (h, m, sec, fsec) = match parts.len() {
        2 if parts[1].contains(&b'.') => {
            let (sec, fsec) = split_frac(parts[1])?;
            (0, int(parts[0])?, sec, fsec)
        }
        2 => (int(parts[0])?, int(parts[1])?, 0, 0),
        3 => {
            let (sec, fsec) = split_frac(parts[2])?;
            (int(parts[0])?, int(parts[1])?, sec, fsec)
        }
        _ => return Err(IErr::BadFormat),
    };
    if !(0..60).contains(&m) || !(0..60).contains(&sec) || !(0..=USECS_PER_SEC).contains(&fsec) {
        return Err(IErr::Overflow);
    }
    h.checked_mul(USECS_PER_HOUR)
        .and_then(|v| v.checked_add(m * USECS_PER_MINUTE + sec * USECS_PER_SEC + fsec))
        .ok_or(IErr::Overflow)
}

fn decode_postgres(b: &[u8]) -> Result<Itv, IErr> {
    let lc = b.to_ascii_lowercase();
    decode_postgres_inner(&lc)
}

fn decode_postgres_inner(lc: &[u8]) -> Result<Itv, IErr> {
    let toks = tokenize(lc)?;
    if toks.is_empty() {
        return Err(IErr::BadFormat);
    }
    let mut acc = Acc::default();
    let mut fmask: u32 = 0;
    let mut ty: Option<Unit> = None;
    let mut ago = false;
    for i in (0..toks.len()).rev() {
        let t = toks[i].0;
        let s: &[u8] = &toks[i].1;
        let tmask;
        match t {
            T::Time => {
                acc.usec = time_usecs(s)?;
                tmask = TIME_MASK;
                ty = Some(Unit::Day);
            }
            T::Signed if s[1..].contains(&b':') => {
                let mut v = time_usecs(&s[1..])?;
                if s[0] == b'-' {
                    v = -v;
                }
                acc.usec = v;
                tmask = TIME_MASK;
                ty = Some(Unit::Day);
            }
            T::Num | T::Signed => {
                let unit = ty.unwrap_or(Unit::Second);
                let (mut val, rest) = parse_i64_prefix(s)?;
                let mut fval = 0.0;
                let mut unit = unit;
                if rest.first() == Some(&b'-') {
                    // SQL "years-months"
                    let (v2, r2) = parse_i64_prefix(&rest[1..])?;
                    if !r2.is_empty() || rest.len() < 2 || !rest[1].is_ascii_digit() {
                        return Err(IErr::BadFormat);
                    }
                    if !(0..12).contains(&v2) {
                        return Err(IErr::Overflow);
                    }
                    let v2 = if s[0] == b'-' { -v2 } else { v2 };
                    val = val
                        .checked_mul(12)
                        .and_then(|v| v.checked_add(v2))
                        .ok_or(IErr::Overflow)?;
                    unit = Unit::Month;
                } else if rest.first() == Some(&b'.') {
                    fval = parse_fraction(rest)?;
                    if s[0] == b'-' {
                        fval = -fval;
                    }
                } else if !rest.is_empty() {
                    return Err(IErr::BadFormat);
                }
                tmask = match unit {
                    Unit::Second if fval != 0.0 => ALL_SECS_MASK,
                    u => u.mask(),
                };
                match unit {
                    Unit::Microsec => acc.add_usec(val, fval, 1)?,
                    Unit::Millisec => acc.add_usec(val, fval, 1000)?,
                    Unit::Second => acc.add_usec(val, fval, USECS_PER_SEC)?,
                    Unit::Minute => acc.add_usec(val, fval, USECS_PER_MINUTE)?,
                    Unit::Hour => acc.add_usec(val, fval, USECS_PER_HOUR)?,
                    Unit::Day => {
                        acc.add_days(val, 1)?;
                        acc.add_fract_usec(fval, USECS_PER_DAY)?;
                    }
                    Unit::Week => {
                        acc.add_days(val, 7)?;
                        acc.add_fract_days(fval, 7)?;
                    }
                    Unit::Month => {
                        acc.add_months(val)?;
                        acc.add_fract_days(fval, 30)?;
                    }
                    Unit::Year => {
                        acc.add_years(val, 1)?;
                        acc.add_fract_years(fval, 1)?;
                    }
                    Unit::Decade => {
                        acc.add_years(val, 10)?;
                        acc.add_fract_years(fval, 10)?;
                    }
                    Unit::Century => {
                        acc.add_years(val, 100)?;
                        acc.add_fract_years(fval, 100)?;
                    }
                    Unit::Millennium => {
                        acc.add_years(val, 1000)?;
                        acc.add_fract_years(fval, 1000)?;
                    }
                }
            }
            T::Word => {
                if s == b"ago" {
                    ago = true;
                    continue;
                }
                ty = Some(unit_of(s).ok_or(IErr::BadFormat)?);
                continue;
            }
        }
        if tmask & fmask != 0 {
            return Err(IErr::BadFormat);
        }
        fmask |= tmask;
    }
    if fmask == 0 {
        return Err(IErr::BadFormat);
    }
    acc.finish(ago)
}

/// `ParseISO8601Number`: signed decimal → (integer part, fraction with the same sign).
fn iso_number(s: &[u8]) -> Result<(i64, f64, usize), IErr> {
    let mut i = 0;
    if i < s.len() && (s[i] == b'-' || s[i] == b'+') {
        i += 1;
    }
    let ds = i;
    while i < s.len() && (s[i].is_ascii_digit() || s[i] == b'.') {
        i += 1;
    }
    if i == ds || (i == ds + 1 && s[ds] == b'.') {
        return Err(IErr::BadFormat);
    }
    let txt = std::str::from_utf8(&s[..i]).map_err(|_| IErr::BadFormat)?;
    let v: f64 = txt.parse().map_err(|_| IErr::BadFormat)?;
    if !(-9.2e18..9.2e18).contains(&v) {
        return Err(IErr::Overflow);
    }
    let ip = v.trunc();
    Ok((ip as i64, v - ip, i))
}

/// `DecodeISO8601Interval` (designator format and the alternative `PYYYY-MM-DDTHH:MM:SS`).
fn decode_iso8601(b: &[u8]) -> Result<Itv, IErr> {
    if b.len() < 2 || b[0] != b'P' {
        return Err(IErr::BadFormat);
    }
    let mut acc = Acc::default();
    let mut s = &b[1..];
    let mut datepart = true;
    let mut havefield = false;
    while !s.is_empty() {
        if s[0] == b'T' {
            datepart = false;
            havefield = false;
            s = &s[1..];
            continue;
        }
        let (val, fval, used) = iso_number(s)?;
        let unit = s.get(used).copied();
        s = &s[(used + 1).min(s.len())..];
        if datepart {
            match unit {
                Some(b'Y') => {
                    acc.add_years(val, 1)?;
                    acc.add_fract_years(fval, 1)?;
                }
                Some(b'M') => {
                    acc.add_months(val)?;
                    acc.add_fract_days(fval, 30)?;
                }
                Some(b'W') => {
                    acc.add_days(val, 7)?;
                    acc.add_fract_days(fval, 7)?;
                }
                Some(b'D') => {
                    acc.add_days(val, 1)?;
                    acc.add_fract_usec(fval, USECS_PER_DAY)?;
                }
                Some(b'-') if !havefield => {
                    // Alternative extended format: PYYYY-MM-DD[THH:MM:SS]
                    acc.add_years(val, 1)?;
                    acc.add_fract_years(fval, 1)?;
                    let (m, mf, u2) = iso_number(s)?;
                    acc.add_months(m)?;
                    acc.add_fract_days(mf, 30)?;
                    if s.get(u2) != Some(&b'-') {
                        return Err(IErr::BadFormat);
                    }
                    s = &s[u2 + 1..];
                    let (d, df, u3) = iso_number(s)?;
                    acc.add_days(d, 1)?;
                    acc.add_fract_usec(df, USECS_PER_DAY)?;
                    s = &s[u3..];
                    if s.is_empty() {
                        return acc.finish(false);
                    }
                    if s[0] != b'T' {
                        return Err(IErr::BadFormat);
                    }
                    continue;
                }
                _ => return Err(IErr::BadFormat),
            }
        } else {
            match unit {
                Some(b'H') => acc.add_usec(val, fval, USECS_PER_HOUR)?,
                Some(b'M') => acc.add_usec(val, fval, USECS_PER_MINUTE)?,
                Some(b'S') => acc.add_usec(val, fval, USECS_PER_SEC)?,
                Some(b':') if !havefield => {
                    // Alternative extended format: THH:MM:SS
                    acc.add_usec(val, fval, USECS_PER_HOUR)?;
                    let (m, mf, u2) = iso_number(s)?;
                    acc.add_usec(m, mf, USECS_PER_MINUTE)?;
                    s = &s[u2..];
                    if s.is_empty() {
                        return acc.finish(false);
                    }
                    if s[0] != b':' {
                        return Err(IErr::BadFormat);
                    }
                    s = &s[1..];
                    let (sec, sf, u3) = iso_number(s)?;
                    acc.add_usec(sec, sf, USECS_PER_SEC)?;
                    s = &s[u3..];
                    if !s.is_empty() {
                        return Err(IErr::BadFormat);
                    }
                    return acc.finish(false);
                }
                _ => return Err(IErr::BadFormat),
            }
        }
        havefield = true;
    }
    acc.finish(false)
}
