//! `date`, `timestamp` and `timestamptz` input, following PostgreSQL's `ParseDateTime` /
//! `DecodeDateTime` (DateStyle = ISO, MDY) for the forms clients actually send, with a
//! fast path for ISO 8601 `YYYY-MM-DD[ T]HH:MM:SS[.ffffff][zone]`.
//!
//! Representation (Arrow): dates are days since 1970-01-01 (`i32::MAX` / `i32::MIN` =
//! `infinity` / `-infinity`); timestamps are microseconds since 1970-01-01 00:00
//! (`timestamp`: wall clock; `timestamptz`: UTC), `i64::MAX` / `i64::MIN` = ±infinity.

use super::DecodeError;
use super::num::is_pg_space;
use crate::tz::TimeZoneSetting;

pub(crate) const USECS_PER_SEC: i64 = 1_000_000;
pub(crate) const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;
/// Days between 1970-01-01 and 2000-01-01 (the PostgreSQL epoch).
pub(crate) const PG_EPOCH_DAYS: i64 = 10_957;
/// Microseconds between 1970-01-01 and 2000-01-01.
pub(crate) const PG_EPOCH_USECS: i64 = PG_EPOCH_DAYS * USECS_PER_DAY;

/// Smallest valid date: 4714-11-24 BC (Julian day 0), in days since 1970.
pub(crate) const MIN_DATE_DAYS: i64 = -2_440_588;
/// One past the largest valid date (5874898-01-01), in days since 1970.
pub(crate) const END_DATE_DAYS: i64 = 2_147_483_494 - 2_440_588;
/// Smallest valid timestamp: 4714-11-24 00:00:00 BC, in microseconds since 1970.
pub(crate) const MIN_TS_USECS: i64 = MIN_DATE_DAYS * USECS_PER_DAY;

/// Which type is being parsed (error messages and what is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DtTarget {
    Date,
    Timestamp,
    Timestamptz,
}

impl DtTarget {
    fn type_name(self) -> &'static str {
        match self {
            DtTarget::Date => "date",
            DtTarget::Timestamp => "timestamp",
            DtTarget::Timestamptz => "timestamp with time zone",
        }
    }
}

/// Internal datetime errors, mapped to PostgreSQL's `DateTimeParseError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DtErr {
    BadFormat,
    FieldOverflow,
    TzDispOverflow,
    UnknownTz(String),
    OutOfRange,
}

fn dt_error(e: DtErr, input: &[u8], target: DtTarget) -> DecodeError {
    let s = String::from_utf8_lossy(input);
    match e {
        DtErr::BadFormat => DecodeError::new(
            "22007",
            format!(
                "invalid input syntax for type {}: \"{}\"",
                target.type_name(),
                s
            ),
        ),
        DtErr::FieldOverflow => DecodeError::new(
            "22008",
            format!("date/time field value out of range: \"{s}\""),
        ),
        DtErr::TzDispOverflow => DecodeError::new(
            "22009",
            format!("time zone displacement out of range: \"{s}\""),
        ),
        DtErr::UnknownTz(name) => {
            DecodeError::new("22023", format!("time zone \"{name}\" not recognized"))
        }
        DtErr::OutOfRange => match target {
            DtTarget::Date => DecodeError::new("22008", format!("date out of range: \"{s}\"")),
            _ => DecodeError::new("22008", format!("timestamp out of range: \"{s}\"")),
        },
    }
}

pub(crate) use crate::calendar::{civil_from_days, days_from_civil};

pub(crate) fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub(crate) fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

/// Today's date (days since 1970) in the zone `tz`.
pub(crate) fn local_today(tz: TimeZoneSetting) -> i64 {
    tz.utc_to_local_usecs(now_usecs()).div_euclid(USECS_PER_DAY)
}

/// Current time as microseconds since 1970 UTC.
pub(crate) fn now_usecs() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

// ---------------------------------------------------------------------------------------
// Public entry points (crate-internal)

/// Parse a `date` (days since 1970).
pub(crate) fn parse_date(b: &[u8], session_tz: TimeZoneSetting) -> Result<i32, DecodeError> {
    if let Some(d) = fast_date(b) {
        return Ok(d);
    }
    let r = decode(b, session_tz).map_err(|e| dt_error(e, b, DtTarget::Date))?;
    let days = match r {
        Decoded::Special(sp) => match sp {
            Special::Infinity => return Ok(i32::MAX),
            Special::NegInfinity => return Ok(i32::MIN),
            Special::Epoch => 0,
            Special::Now => local_today(session_tz),
        },
        Decoded::Fields(f) => f.days,
    };
    if !(MIN_DATE_DAYS..END_DATE_DAYS).contains(&days) {
        return Err(dt_error(DtErr::OutOfRange, b, DtTarget::Date));
    }
    Ok(days as i32)
}

/// Parse a `timestamp` (wall-clock microseconds since 1970; any zone is ignored).
pub(crate) fn parse_timestamp(b: &[u8], session_tz: TimeZoneSetting) -> Result<i64, DecodeError> {
    parse_ts(b, session_tz, DtTarget::Timestamp)
}

/// Parse a `timestamptz` (UTC microseconds since 1970). Without an explicit zone the input
/// is local time in `session_tz`.
pub(crate) fn parse_timestamptz(b: &[u8], session_tz: TimeZoneSetting) -> Result<i64, DecodeError> {
    parse_ts(b, session_tz, DtTarget::Timestamptz)
}

fn parse_ts(b: &[u8], session_tz: TimeZoneSetting, target: DtTarget) -> Result<i64, DecodeError> {
    let with_tz = target == DtTarget::Timestamptz;
    if let Some((local, tz)) = fast_timestamp(b) {
        return Ok(if with_tz {
            match tz {
                Some(off) => local - off as i64 * USECS_PER_SEC,
                None => session_tz.local_to_utc_usecs(local),
            }
        } else {
            local
        });
    }
    let r = decode(b, session_tz).map_err(|e| dt_error(e, b, target))?;
    let v = match r {
        Decoded::Special(sp) => match sp {
            Special::Infinity => return Ok(i64::MAX),
            Special::NegInfinity => return Ok(i64::MIN),
            Special::Epoch => return Ok(0),
            Special::Now => {
                let now = now_usecs();
                return Ok(if with_tz {
                    now
                } else {
                    session_tz.utc_to_local_usecs(now)
                });
            }
        },
        Decoded::Fields(f) => {
            if !(MIN_DATE_DAYS..END_DATE_DAYS).contains(&f.days) {
                return Err(dt_error(DtErr::OutOfRange, b, target));
            }
            let local = f.days as i128 * USECS_PER_DAY as i128 + f.time_usecs as i128;
            let v = if with_tz {
                let zone = f.tz.unwrap_or(session_tz);
                // the offset of a zone with rules depends on the (clamped) local time
                let l = local.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
                local - zone.local_offset_usecs(l) as i128 * USECS_PER_SEC as i128
            } else {
                local
            };
            if v < MIN_TS_USECS as i128 || v >= i64::MAX as i128 {
                return Err(dt_error(DtErr::OutOfRange, b, target));
            }
            v as i64
        }
    };
    Ok(v)
}

// ---------------------------------------------------------------------------------------
// Fast paths

#[inline]
fn d2(b: &[u8], i: usize) -> Option<u32> {
    let a = b[i].wrapping_sub(b'0');
    let c = b[i + 1].wrapping_sub(b'0');
    if a > 9 || c > 9 {
        return None;
    }
    Some(a as u32 * 10 + c as u32)
}

#[inline]
fn ymd_fast(b: &[u8]) -> Option<i64> {
    // b.len() >= 10, "YYYY-MM-DD"
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = d2(b, 0)? as i64 * 100 + d2(b, 2)? as i64;
    let m = d2(b, 5)?;
    let d = d2(b, 8)?;
    if y == 0 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// `YYYY-MM-DD` exactly.
#[inline]
fn fast_date(b: &[u8]) -> Option<i32> {
    if b.len() != 10 {
        return None;
    }
    ymd_fast(b).map(|d| d as i32)
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.f{1,6}][Z|+HH|+HH:MM|+HHMM]` → (local micros, zone secs).
#[inline]
fn fast_timestamp(b: &[u8]) -> Option<(i64, Option<i32>)> {
    let n = b.len();
    if n < 19 || (b[10] != b' ' && b[10] != b'T') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let days = ymd_fast(b)?;
    let h = d2(b, 11)?;
    let mi = d2(b, 14)?;
    let s = d2(b, 17)?;
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if i < n && b[i] == b'.' {
        i += 1;
        let st = i;
        while i < n && b[i].is_ascii_digit() && i - st < 6 {
            frac = frac * 10 + (b[i] - b'0') as i64;
            i += 1;
        }
        if i == st || (i < n && b[i].is_ascii_digit()) {
            return None; // no digits or more than 6: use the exact general path
        }
        for _ in (i - st)..6 {
            frac *= 10;
        }
    }
    let mut tz = None;
    if i < n {
        let rest = &b[i..];
        // (no byte-string literal patterns here: they compile to memcmp calls)
        match rest {
            [b'Z' | b'z'] | [b' ', b'U', b'T', b'C'] => tz = Some(0),
            [sg @ (b'+' | b'-'), ..] => {
                let hh = if rest.len() >= 3 {
                    d2(rest, 1)?
                } else {
                    return None;
                };
                let mm = match rest.len() {
                    3 => 0,
                    5 => d2(rest, 3)?,
                    6 if rest[3] == b':' => d2(rest, 4)?,
                    _ => return None,
                };
                if hh > 15 || mm > 59 {
                    return None;
                }
                let secs = (hh * 3600 + mm * 60) as i32;
                tz = Some(if *sg == b'-' { -secs } else { secs });
            }
            _ => return None,
        }
    }
    let t = ((h as i64 * 60 + mi as i64) * 60 + s as i64) * USECS_PER_SEC + frac;
    Some((days * USECS_PER_DAY + t, tz))
}

// ---------------------------------------------------------------------------------------
// General parser

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FType {
    Number,
    Date,
    Time,
    Tz,
    Str,
    Special,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Tok<'a> {
    t: FType,
    s: &'a [u8],
}

/// PostgreSQL's `ParseDateTime`: split lowercased input into typed fields.
fn tokenize(lc: &[u8]) -> Result<Vec<Tok<'_>>, DtErr> {
    let n = lc.len();
    let mut toks = Vec::with_capacity(8);
    let mut i = 0;
    let dig = |i: usize| i < n && lc[i].is_ascii_digit();
    while i < n {
        let c = lc[i];
        if is_pg_space(c) {
            i += 1;
            continue;
        }
        let start = i;
        let t;
        if c.is_ascii_digit() {
            while dig(i) {
                i += 1;
            }
            if i < n && lc[i] == b':' {
                t = FType::Time;
                while i < n && (lc[i].is_ascii_digit() || lc[i] == b':' || lc[i] == b'.') {
                    i += 1;
                }
            } else if i < n && matches!(lc[i], b'-' | b'/' | b'.') {
                let delim = lc[i];
                i += 1;
                if dig(i) {
                    let mut tt = if delim == b'.' {
                        FType::Number
                    } else {
                        FType::Date
                    };
                    while dig(i) {
                        i += 1;
                    }
                    if i < n && lc[i] == delim {
                        tt = FType::Date;
                        while i < n && (lc[i].is_ascii_digit() || lc[i] == delim) {
                            i += 1;
                        }
                    }
                    t = tt;
                } else {
                    t = FType::Date;
                    while i < n && (lc[i].is_ascii_alphanumeric() || lc[i] == delim) {
                        i += 1;
                    }
                }
            } else {
                t = FType::Number;
            }
        } else if c == b'.' {
            i += 1;
            while dig(i) {
                i += 1;
            }
            t = FType::Number;
        } else if c.is_ascii_alphabetic() {
            while i < n && lc[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word = &lc[start..i];
            let mut is_date = false;
            if i < n && matches!(lc[i], b'-' | b'/' | b'.') {
                is_date = true;
            } else if i < n && (lc[i] == b'+' || lc[i].is_ascii_digit()) {
                is_date = !is_keyword(word);
            }
            if is_date {
                while i < n
                    && (lc[i].is_ascii_alphanumeric()
                        || matches!(lc[i], b'+' | b'-' | b'/' | b'_' | b'.' | b':'))
                {
                    i += 1;
                }
                t = FType::Date;
            } else {
                t = FType::Str;
            }
        } else if c == b'+' || c == b'-' {
            i += 1;
            while i < n && is_pg_space(lc[i]) {
                i += 1;
            }
            if dig(i) {
                while i < n && (lc[i].is_ascii_digit() || matches!(lc[i], b':' | b'.' | b'-')) {
                    i += 1;
                }
                t = FType::Tz;
            } else if i < n && lc[i].is_ascii_alphabetic() {
                while i < n && lc[i].is_ascii_alphabetic() {
                    i += 1;
                }
                t = FType::Special;
            } else {
                return Err(DtErr::BadFormat);
            }
        } else if c.is_ascii_punctuation() {
            i += 1;
            continue;
        } else {
            return Err(DtErr::BadFormat);
        }
        toks.push(Tok {
            t,
            s: &lc[start..i],
        });
    }
    Ok(toks)
}

/// Does an alphabetic-first date token start with a month or weekday name (`jan-31-2024`)
/// rather than being a time zone name (`america/new_york`, `gmt-2`)?
fn starts_with_date_word(s: &[u8]) -> bool {
    let end = s
        .iter()
        .position(|c| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    let w = &s[..end];
    month_of(w).is_some() || is_dow(w)
}

/// Words of PostgreSQL's core date token table that may be followed by digits.
fn is_keyword(w: &[u8]) -> bool {
    month_of(w).is_some()
        || is_dow(w)
        || matches!(
            w,
            b"t" | b"am"
                | b"pm"
                | b"bc"
                | b"ad"
                | b"epoch"
                | b"infinity"
                | b"now"
                | b"today"
                | b"tomorrow"
                | b"yesterday"
                | b"allballs"
                | b"at"
                | b"on"
                | b"z"
                | b"zulu"
                | b"j"
                | b"julian"
        )
}

fn month_of(w: &[u8]) -> Option<u32> {
    Some(match w {
        b"jan" | b"january" => 1,
        b"feb" | b"february" => 2,
        b"mar" | b"march" => 3,
        b"apr" | b"april" => 4,
        b"may" => 5,
        b"jun" | b"june" => 6,
        b"jul" | b"july" => 7,
        b"aug" | b"august" => 8,
        b"sep" | b"sept" | b"september" => 9,
        b"oct" | b"october" => 10,
        b"nov" | b"november" => 11,
        b"dec" | b"december" => 12,
        _ => return None,
    })
}

fn is_dow(w: &[u8]) -> bool {
    matches!(
        w,
        b"sun"
            | b"sunday"
            | b"mon"
            | b"monday"
            | b"tue"
            | b"tues"
            | b"tuesday"
            | b"wed"
            | b"wednesday"
            | b"thu"
            | b"thur"
            | b"thurs"
            | b"thursday"
            | b"fri"
            | b"friday"
            | b"sat"
            | b"saturday"
    )
}

/// Time zone abbreviations from PostgreSQL's `Default` set that clients commonly send
/// (seconds east of UTC).
pub(crate) fn tz_abbrev(w: &[u8]) -> Option<i32> {
    const H: i32 = 3600;
    Some(match w {
        b"utc" | b"ut" | b"gmt" | b"z" | b"zulu" | b"wet" => 0,
        b"est" => -5 * H,
        b"edt" => -4 * H,
        b"cst" => -6 * H,
        b"cdt" => -5 * H,
        b"mst" => -7 * H,
        b"mdt" => -6 * H,
        b"pst" => -8 * H,
        b"pdt" => -7 * H,
        b"akst" => -9 * H,
        b"akdt" => -8 * H,
        b"hst" => -10 * H,
        b"cet" | b"met" | b"bst" => H,
        b"cest" | b"mest" | b"eet" | b"ist" => 2 * H,
        b"eest" | b"msk" => 3 * H,
        b"awst" | b"sgt" | b"hkt" => 8 * H,
        b"jst" | b"kst" => 9 * H,
        b"acst" => 9 * H + 1800,
        b"acdt" => 10 * H + 1800,
        b"aest" => 10 * H,
        b"aedt" => 11 * H,
        b"nzst" => 12 * H,
        b"nzdt" => 13 * H,
        _ => return None,
    })
}

/// Full zone names we can resolve without a tz database (all UTC).
fn tz_name(w: &[u8]) -> Option<i32> {
    match w {
        b"utc" | b"etc/utc" | b"gmt" | b"etc/gmt" | b"universal" | b"etc/universal" | b"zulu"
        | b"etc/zulu" | b"greenwich" | b"etc/greenwich" | b"uct" | b"etc/uct" | b"gmt0"
        | b"etc/gmt0" | b"gmt+0" | b"gmt-0" | b"etc/gmt+0" | b"etc/gmt-0" => Some(0),
        _ => None,
    }
}

/// POSIX-style `UTC+3`, `GMT-2`, `Etc/GMT+3`, `UTC+03:30`: the sign means *west* of UTC.
fn posix_utc_offset(w: &[u8]) -> Option<i32> {
    let k = w.iter().position(|&c| c == b'+' || c == b'-')?;
    if !matches!(
        &w[..k],
        b"utc" | b"gmt" | b"ut" | b"etc/utc" | b"etc/gmt" | b"uct"
    ) {
        return None;
    }
    let mut p = w[k + 1..].split(|&c| c == b':');
    let h = num(p.next()?).ok()?;
    let m = p.next().map(num).transpose().ok()?.unwrap_or(0);
    let sec = p.next().map(num).transpose().ok()?.unwrap_or(0);
    if p.next().is_some() || h > 24 || m >= 60 || sec >= 60 {
        return None;
    }
    let off = (h * 3600 + m * 60 + sec) as i32;
    Some(if w[k] == b'+' { -off } else { off })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    Epoch,
    Infinity,
    NegInfinity,
    Now,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    /// Days since 1970 of the (local) date.
    days: i64,
    /// Microseconds since local midnight (may be 24h for `24:00:00` or leap seconds).
    time_usecs: i64,
    /// Explicit zone.
    tz: Option<TimeZoneSetting>,
}

pub(crate) enum Decoded {
    Special(Special),
    Fields(Fields),
}

fn num(s: &[u8]) -> Result<i64, DtErr> {
    if s.is_empty() || s.len() > 12 {
        return Err(if s.is_empty() {
            DtErr::BadFormat
        } else {
            DtErr::FieldOverflow
        });
    }
    let mut v = 0i64;
    for &c in s {
        if !c.is_ascii_digit() {
            return Err(DtErr::BadFormat);
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Ok(v)
}

/// `rint(strtod(".ffff") * 1e6)`, as PostgreSQL's `ParseFractionalSecond`.
pub(crate) fn frac_usecs(frac_digits: &[u8]) -> Result<i64, DtErr> {
    if frac_digits.is_empty() {
        return Ok(0);
    }
    if !frac_digits.iter().all(u8::is_ascii_digit) {
        return Err(DtErr::BadFormat);
    }
    let mut s = String::with_capacity(frac_digits.len() + 2);
    s.push_str("0.");
    s.push_str(std::str::from_utf8(frac_digits).map_err(|_| DtErr::BadFormat)?);
    let f: f64 = s.parse().map_err(|_| DtErr::BadFormat)?;
    Ok((f * 1e6).round_ties_even() as i64)
}

/// `H:M[:S[.f]]` → (h, m, s, fsec).
fn parse_time_tok(s: &[u8]) -> Result<(i64, i64, i64, i64), DtErr> {
    let mut parts = s.split(|&c| c == b':');
    let h = num(parts.next().ok_or(DtErr::BadFormat)?)?;
    let m = num(parts.next().ok_or(DtErr::BadFormat)?)?;
    let (sec, fsec) = match parts.next() {
        None => (0, 0),
        Some(p) => {
            let (ip, fp) = match p.iter().position(|&c| c == b'.') {
                Some(k) => (&p[..k], &p[k + 1..]),
                None => (p, &b""[..]),
            };
            (num(ip)?, frac_usecs(fp)?)
        }
    };
    if parts.next().is_some() {
        return Err(DtErr::BadFormat);
    }
    Ok((h, m, sec, fsec))
}

/// Signed zone displacement `+H`, `+HH`, `+HHMM`, `+HH:MM`, `+HH:MM:SS`, `+HHMMSS` → seconds east.
fn parse_tz_tok(s: &[u8]) -> Result<i32, DtErr> {
    let neg = s[0] == b'-';
    let mut body = &s[1..];
    while let [c, rest @ ..] = body {
        if !is_pg_space(*c) {
            break;
        }
        body = rest;
    }
    let (h, m, sec) = if body.contains(&b':') {
        let mut p = body.split(|&c| c == b':');
        let h = num(p.next().ok_or(DtErr::BadFormat)?)?;
        let m = num(p.next().ok_or(DtErr::BadFormat)?)?;
        let sec = match p.next() {
            Some(x) => num(x)?,
            None => 0,
        };
        if p.next().is_some() {
            return Err(DtErr::BadFormat);
        }
        (h, m, sec)
    } else {
        // PostgreSQL's DecodeTimezone: up to two digits are hours, more are HH...MM.
        let v = num(body)?;
        if body.len() <= 2 {
            (v, 0, 0)
        } else {
            (v / 100, v % 100, 0)
        }
    };
    if h > 15 || m >= 60 || sec >= 60 {
        return Err(DtErr::TzDispOverflow);
    }
    let t = (h * 3600 + m * 60 + sec) as i32;
    Ok(if neg { -t } else { t })
}

#[derive(Default)]
struct St {
    year: Option<(i64, bool)>, // (value, had <= 2 digits)
    mon: Option<u32>,
    mday: Option<u32>,
    time: Option<(i64, i64, i64, i64)>,
    tz: Option<TimeZoneSetting>,
    bc: bool,
    pm: Option<bool>,
    special: Option<Special>,
}

fn set_ymd(st: &mut St, y: (i64, bool), m: u32, d: i64) -> Result<(), DtErr> {
    if st.year.is_some() || st.mon.is_some() || st.mday.is_some() {
        return Err(DtErr::BadFormat);
    }
    if !(0..=31).contains(&d) {
        return Err(DtErr::FieldOverflow);
    }
    st.year = Some(y);
    st.mon = Some(m);
    st.mday = Some(d as u32);
    Ok(())
}

/// `DecodeDate` for a date field like `2024-01-31`, `1/31/2024`, `2024-jan-31`, `jan-31-2024`.
fn decode_date_tok(s: &[u8], st: &mut St) -> Result<(), DtErr> {
    let delim = *s
        .iter()
        .find(|c| matches!(c, b'-' | b'/' | b'.'))
        .ok_or(DtErr::BadFormat)?;
    let parts: Vec<&[u8]> = s.split(|&c| c == delim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(DtErr::BadFormat);
    }
    let mut mon_name = None;
    let mut nums: Vec<&[u8]> = Vec::with_capacity(3);
    for p in &parts {
        if p[0].is_ascii_alphabetic() {
            if let Some(m) = month_of(p) {
                if mon_name.is_some() {
                    return Err(DtErr::BadFormat);
                }
                mon_name = Some(m);
            } else if is_dow(p) {
                continue;
            } else {
                return Err(DtErr::BadFormat);
            }
        } else {
            nums.push(p);
        }
    }
    match (mon_name, nums.len()) {
        (Some(m), 2) => {
            // year first if it has more than two digits, else day first (DMY/MDY with name)
            let (y, d) = if nums[0].len() > 2 {
                (nums[0], nums[1])
            } else {
                (nums[1], nums[0])
            };
            set_ymd(st, (num(y)?, y.len() <= 2), m, num(d)?)
        }
        (None, 3) => {
            if nums[0].len() > 2 {
                // Y-M-D
                let m = num(nums[1])?;
                if !(1..=12).contains(&m) {
                    return Err(DtErr::FieldOverflow);
                }
                set_ymd(st, (num(nums[0])?, false), m as u32, num(nums[2])?)
            } else {
                // MDY
                let m = num(nums[0])?;
                if !(1..=12).contains(&m) {
                    return Err(DtErr::FieldOverflow);
                }
                set_ymd(
                    st,
                    (num(nums[2])?, nums[2].len() <= 2),
                    m as u32,
                    num(nums[1])?,
                )
            }
        }
        _ => Err(DtErr::BadFormat),
    }
}

/// Decode lowercased input into fields or a special value.
///
/// `today`/`tomorrow`/`yesterday` resolve against the session zone (`session_tz`,
/// east of UTC) and combine with a time of day; `epoch`/`infinity` ignore other fields
/// (as PostgreSQL does); `now` must stand alone.
pub(crate) fn decode(input: &[u8], session_tz: TimeZoneSetting) -> Result<Decoded, DtErr> {
    let lc = input.to_ascii_lowercase();
    let toks = tokenize(&lc)?;
    if toks.is_empty() {
        return Err(DtErr::BadFormat);
    }
    let mut st = St::default();
    let mut loose: Vec<&[u8]> = Vec::new();
    let mut iso_t = false;
    let mut rel_day: Option<i64> = None;
    let mut i = 0;
    while i < toks.len() {
        let tok = toks[i];
        let s = tok.s;
        i += 1;
        match tok.t {
            FType::Date => {
                if s[0].is_ascii_alphabetic() && !starts_with_date_word(s) || s.contains(&b'+') {
                    // A time zone name.
                    if st.tz.is_some() {
                        return Err(DtErr::BadFormat);
                    }
                    match tz_name(s)
                        .or_else(|| posix_utc_offset(s))
                        .map(TimeZoneSetting::fixed)
                        .or_else(|| {
                            crate::tz::lookup_name(&String::from_utf8_lossy(s))
                                .map(TimeZoneSetting::named)
                        }) {
                        Some(z) => st.tz = Some(z),
                        None => {
                            return Err(DtErr::UnknownTz(String::from_utf8_lossy(s).into_owned()));
                        }
                    }
                } else {
                    if st.time.is_some() {
                        return Err(DtErr::BadFormat); // PostgreSQL rejects "12:00 2024-01-31"
                    }
                    decode_date_tok(s, &mut st)?;
                }
            }
            FType::Time => {
                if st.time.is_some() {
                    return Err(DtErr::BadFormat);
                }
                st.time = Some(parse_time_tok(s)?);
                iso_t = false;
            }
            FType::Tz => {
                if st.tz.is_some() {
                    return Err(DtErr::BadFormat);
                }
                st.tz = Some(TimeZoneSetting::fixed(parse_tz_tok(s)?));
            }
            FType::Number => {
                let date_done = st.year.is_some() && st.mon.is_some() && st.mday.is_some();
                let (ip, fp) = match s.iter().position(|&c| c == b'.') {
                    Some(k) => (&s[..k], &s[k + 1..]),
                    None => (s, &b""[..]),
                };
                if (iso_t || date_done) && st.time.is_none() && matches!(ip.len(), 4 | 6) {
                    // HHMM / HHMMSS[.ffff] (ISO basic time)
                    let v = num(ip)?;
                    let (h, m, sec) = if ip.len() == 6 {
                        (v / 10000, (v / 100) % 100, v % 100)
                    } else {
                        (v / 100, v % 100, 0)
                    };
                    st.time = Some((h, m, sec, frac_usecs(fp)?));
                    iso_t = false;
                } else if !fp.is_empty() || s.contains(&b'.') {
                    return Err(DtErr::BadFormat);
                } else if !date_done
                    && st.mon.is_none()
                    && loose.is_empty()
                    && matches!(ip.len(), 8 | 6)
                {
                    // YYYYMMDD / YYMMDD
                    let v = num(ip)?;
                    let (y, m, d) = (v / 10000, (v / 100) % 100, v % 100);
                    if !(1..=12).contains(&m) {
                        return Err(DtErr::FieldOverflow);
                    }
                    set_ymd(&mut st, (y, ip.len() == 6), m as u32, d)?;
                } else {
                    loose.push(s);
                }
            }
            FType::Str => {
                if let Some(m) = month_of(s) {
                    if st.mon.is_some() {
                        return Err(DtErr::BadFormat);
                    }
                    st.mon = Some(m);
                } else if is_dow(s) || s == b"at" || s == b"on" || s == b"ad" {
                    // ignored
                } else if s == b"t" {
                    iso_t = true;
                } else if s == b"am" || s == b"pm" {
                    if st.pm.is_some() {
                        return Err(DtErr::BadFormat);
                    }
                    st.pm = Some(s == b"pm");
                } else if s == b"bc" {
                    st.bc = true;
                } else if s == b"allballs" {
                    if st.time.is_some() {
                        return Err(DtErr::BadFormat);
                    }
                    st.time = Some((0, 0, 0, 0));
                } else if let Some(k) = match s {
                    b"today" => Some(0),
                    b"tomorrow" => Some(1),
                    b"yesterday" => Some(-1),
                    _ => None,
                } {
                    if rel_day.is_some() {
                        return Err(DtErr::BadFormat);
                    }
                    rel_day = Some(k);
                } else if let Some(sp) = match s {
                    b"epoch" => Some(Special::Epoch),
                    b"infinity" => Some(Special::Infinity),
                    b"now" => Some(Special::Now),
                    _ => None,
                } {
                    if st.special.is_some() {
                        return Err(DtErr::BadFormat);
                    }
                    st.special = Some(sp);
                } else if let Some(z) = tz_abbrev(s) {
                    if st.tz.is_some() {
                        return Err(DtErr::BadFormat);
                    }
                    st.tz = Some(TimeZoneSetting::fixed(z));
                } else {
                    return Err(DtErr::BadFormat);
                }
            }
            FType::Special => {
                if s == b"-infinity" && st.special.is_none() {
                    st.special = Some(Special::NegInfinity);
                } else {
                    return Err(DtErr::BadFormat);
                }
            }
        }
    }
    if iso_t {
        return Err(DtErr::BadFormat);
    }
    if let Some(sp) = st.special {
        if sp == Special::Now && toks.len() != 1 || rel_day.is_some() {
            return Err(DtErr::BadFormat);
        }
        return Ok(Decoded::Special(sp));
    }
    if let Some(k) = rel_day {
        if st.year.is_some() || st.mon.is_some() || st.mday.is_some() || !loose.is_empty() {
            return Err(DtErr::BadFormat);
        }
        let (y, m, d) = civil_from_days(local_today(session_tz) + k);
        st.year = Some((y, false));
        st.mon = Some(m);
        st.mday = Some(d);
    }
    // Resolve loose numbers (textual month forms: "Jan 31 2024", "31 Jan 2024").
    if !loose.is_empty() {
        match (st.mon, st.year, st.mday, loose.len()) {
            (Some(_), None, None, 2) => {
                let (y, d) = if loose[0].len() > 2 {
                    (loose[0], loose[1])
                } else {
                    (loose[1], loose[0])
                };
                st.year = Some((num(y)?, y.len() <= 2));
                st.mday = Some(num(d)?.min(99) as u32);
            }
            _ => return Err(DtErr::BadFormat),
        }
    }
    let (Some((mut year, two_digit)), Some(mon), Some(mday)) = (st.year, st.mon, st.mday) else {
        return Err(DtErr::BadFormat);
    };
    if st.bc {
        if year <= 0 {
            return Err(DtErr::FieldOverflow);
        }
        year = 1 - year;
    } else if two_digit {
        year += if year < 70 { 2000 } else { 1900 };
    } else if year <= 0 {
        return Err(DtErr::FieldOverflow);
    }
    if !(1..=12).contains(&mon) || mday < 1 || mday > days_in_month(year, mon) {
        return Err(DtErr::FieldOverflow);
    }
    let (mut h, m, s, fsec) = st.time.unwrap_or((0, 0, 0, 0));
    if let Some(pm) = st.pm {
        if !(0..=12).contains(&h) {
            return Err(DtErr::FieldOverflow);
        }
        if pm && h < 12 {
            h += 12;
        } else if !pm && h == 12 {
            h = 0;
        }
    }
    if !(0..=24).contains(&h)
        || !(0..=59).contains(&m)
        || !(0..=60).contains(&s)
        || !(0..=USECS_PER_SEC).contains(&fsec)
        || (h == 24 && (m > 0 || s > 0 || fsec > 0))
    {
        return Err(DtErr::FieldOverflow);
    }
    // Julian-day validity (PostgreSQL checks this before anything else).
    if !(-4713..=5_874_898).contains(&year) {
        return Err(DtErr::OutOfRange);
    }
    let days = days_from_civil(year, mon, mday);
    Ok(Decoded::Fields(Fields {
        days,
        time_usecs: ((h * 60 + m) * 60 + s) * USECS_PER_SEC + fsec,
        tz: st.tz,
    }))
}

// ---------------------------------------------------------------------------------------
// Output helpers (used when coercing date/time values into text columns)

fn push2(s: &mut String, v: u32) {
    s.push((b'0' + (v / 10) as u8) as char);
    s.push((b'0' + (v % 10) as u8) as char);
}

fn push_date(s: &mut String, days: i64) -> bool {
    let (y, m, d) = civil_from_days(days);
    let (yy, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    s.push_str(&format!("{yy:04}-"));
    push2(s, m);
    s.push('-');
    push2(s, d);
    bc
}

/// PostgreSQL ISO text of a date.
pub(crate) fn format_date(days: i32) -> String {
    match days {
        i32::MAX => return "infinity".into(),
        i32::MIN => return "-infinity".into(),
        _ => {}
    }
    let mut s = String::with_capacity(13);
    if push_date(&mut s, days as i64) {
        s.push_str(" BC");
    }
    s
}

/// PostgreSQL ISO text of a timestamp (`tz_secs` = Some(offset) for timestamptz output).
pub(crate) fn format_timestamp(usecs: i64, tz_secs: Option<i32>) -> String {
    match usecs {
        i64::MAX => return "infinity".into(),
        i64::MIN => return "-infinity".into(),
        _ => {}
    }
    let local = usecs + tz_secs.unwrap_or(0) as i64 * USECS_PER_SEC;
    let days = local.div_euclid(USECS_PER_DAY);
    let t = local.rem_euclid(USECS_PER_DAY);
    let mut s = String::with_capacity(32);
    let bc = push_date(&mut s, days);
    s.push(' ');
    let secs = t / USECS_PER_SEC;
    push2(&mut s, (secs / 3600) as u32);
    s.push(':');
    push2(&mut s, ((secs / 60) % 60) as u32);
    s.push(':');
    push2(&mut s, (secs % 60) as u32);
    let us = t % USECS_PER_SEC;
    if us != 0 {
        let f = format!("{us:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    if let Some(z) = tz_secs {
        let a = z.unsigned_abs();
        s.push(if z < 0 { '-' } else { '+' });
        push2(&mut s, a / 3600);
        if a % 3600 != 0 {
            s.push(':');
            push2(&mut s, (a / 60) % 60);
            if a % 60 != 0 {
                s.push(':');
                push2(&mut s, a % 60);
            }
        }
    }
    if bc {
        s.push_str(" BC");
    }
    s
}
