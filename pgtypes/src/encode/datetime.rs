//! Date, time, timestamp and interval text output of PostgreSQL 15 with
//! `DateStyle = ISO` and `IntervalStyle = postgres` (`EncodeDateOnly`, `EncodeTimeOnly`,
//! `EncodeDateTime`, `EncodeInterval`, `AppendSeconds`, `EncodeTimezone` in
//! `src/backend/utils/adt/datetime.c`).

use super::{write_i64, write_u64};

pub(crate) const USECS_PER_SEC: i64 = 1_000_000;
pub(crate) const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;
/// Days from 1970-01-01 (Arrow epoch) to 2000-01-01 (PostgreSQL epoch).
pub(crate) const PG_EPOCH_DAYS: i64 = 10_957;
/// Microseconds from the Unix epoch to the PostgreSQL epoch.
pub(crate) const PG_EPOCH_USECS: i64 = PG_EPOCH_DAYS * USECS_PER_DAY;

pub(crate) use crate::calendar::civil_from_days;

/// Zero-padded to at least `width` digits.
fn write_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut v = v;
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for _ in (tmp.len() - i)..width {
        out.push(b'0');
    }
    out.extend_from_slice(&tmp[i..]);
}

#[inline]
fn write2(out: &mut Vec<u8>, v: u32) {
    if v < 100 {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    } else {
        write_u64(out, u64::from(v));
    }
}

/// `YYYY-MM-DD` (year at least 4 digits, BC years as `1 - year`); returns whether the
/// date is BC (the caller appends ` BC` at the very end).
fn write_ymd(out: &mut Vec<u8>, days: i64) -> bool {
    let (y, m, d) = civil_from_days(days);
    let bc = y <= 0;
    let year = if bc { 1 - y } else { y };
    write_padded(out, year as u64, 4);
    out.push(b'-');
    write2(out, m);
    out.push(b'-');
    write2(out, d);
    bc
}

/// `AppendSeconds(.., precision = 6, fillzeros = true)`: `SS[.ffffff]`, fraction without
/// trailing zeros. `usecs` is the non-negative microseconds within the minute.
fn write_seconds(out: &mut Vec<u8>, sec: u64, fsec: u64) {
    write_padded(out, sec, 2);
    if fsec != 0 {
        out.push(b'.');
        let mut digits = [0u8; 6];
        let mut f = fsec;
        for i in (0..6).rev() {
            digits[i] = b'0' + (f % 10) as u8;
            f /= 10;
        }
        let mut n = 6;
        while digits[n - 1] == b'0' {
            n -= 1;
        }
        out.extend_from_slice(&digits[..n]);
    }
}

/// `HH:MM:SS[.ffffff]` of microseconds since midnight (0 ..= 24h).
pub(crate) fn write_time_of_day(out: &mut Vec<u8>, usecs: i64) {
    let u = usecs.unsigned_abs();
    let usec_per_sec = USECS_PER_SEC as u64;
    let secs = u / usec_per_sec;
    let fsec = u % usec_per_sec;
    write_padded(out, secs / 3600, 2);
    out.push(b':');
    write2(out, ((secs / 60) % 60) as u32);
    out.push(b':');
    write_seconds(out, secs % 60, fsec);
}

/// Date text of days since 1970-01-01; `i32::MAX` / `i32::MIN` day counts (PostgreSQL's
/// `DATEVAL_NOEND` / `DATEVAL_NOBEGIN` sentinels) print as `infinity` / `-infinity`.
pub(crate) fn write_date(out: &mut Vec<u8>, days: i64) {
    if days == i64::from(i32::MAX) {
        out.extend_from_slice(b"infinity");
    } else if days == i64::from(i32::MIN) {
        out.extend_from_slice(b"-infinity");
    } else if write_ymd(out, days) {
        out.extend_from_slice(b" BC");
    }
}

/// `EncodeTimezone`: `+HH`, `+HH:MM` or `+HH:MM:SS` of an offset in seconds east of UTC.
pub(crate) fn write_tz_offset(out: &mut Vec<u8>, seconds_east: i32) {
    out.push(if seconds_east >= 0 { b'+' } else { b'-' });
    let s = seconds_east.unsigned_abs();
    let (h, m, sec) = (s / 3600, (s / 60) % 60, s % 60);
    write_padded(out, u64::from(h), 2);
    if sec != 0 || m != 0 {
        out.push(b':');
        write2(out, m);
        if sec != 0 {
            out.push(b':');
            write2(out, sec);
        }
    }
}

/// Timestamp text of microseconds since the Unix epoch, as `timestamp` (`tz = None`) or
/// `timestamptz` rendered at the fixed offset `tz` (seconds east). `i64::MAX` / `i64::MIN`
/// are `infinity` / `-infinity` (PostgreSQL's `DT_NOEND` / `DT_NOBEGIN`).
pub(crate) fn write_timestamp(out: &mut Vec<u8>, usecs: i64, tz: Option<i32>) {
    if usecs == i64::MAX {
        out.extend_from_slice(b"infinity");
        return;
    }
    if usecs == i64::MIN {
        out.extend_from_slice(b"-infinity");
        return;
    }
    let local = i128::from(usecs) + i128::from(tz.unwrap_or(0)) * i128::from(USECS_PER_SEC);
    let day_usecs = i128::from(USECS_PER_DAY);
    let days = local.div_euclid(day_usecs) as i64;
    let tod = local.rem_euclid(day_usecs) as i64;
    let bc = write_ymd(out, days);
    out.push(b' ');
    write_time_of_day(out, tod);
    if let Some(off) = tz {
        write_tz_offset(out, off);
    }
    if bc {
        out.extend_from_slice(b" BC");
    }
}

/// `AddPostgresIntPart`.
fn int_part(out: &mut Vec<u8>, value: i64, unit: &[u8], is_zero: &mut bool, is_before: &mut bool) {
    if value == 0 {
        return;
    }
    if !*is_zero {
        out.push(b' ');
    }
    if *is_before && value > 0 {
        out.push(b'+');
    }
    write_i64(out, value);
    out.push(b' ');
    out.extend_from_slice(unit);
    if value != 1 {
        out.push(b's');
    }
    *is_before = value < 0;
    *is_zero = false;
}

/// `EncodeInterval` with `IntervalStyle = postgres`: `1 year 2 mons 3 days 04:05:06.5`,
/// `-1 days +02:00:00`, `00:00:00`.
pub(crate) fn write_interval(out: &mut Vec<u8>, months: i32, days: i32, usecs: i64) {
    let mut is_zero = true;
    let mut is_before = false;
    // C division truncates toward zero, as Rust's does.
    int_part(
        out,
        i64::from(months / 12),
        b"year",
        &mut is_zero,
        &mut is_before,
    );
    int_part(
        out,
        i64::from(months % 12),
        b"mon",
        &mut is_zero,
        &mut is_before,
    );
    int_part(out, i64::from(days), b"day", &mut is_zero, &mut is_before);
    if is_zero || usecs != 0 {
        let minus = usecs < 0;
        if !is_zero {
            out.push(b' ');
        }
        if minus {
            out.push(b'-');
        } else if is_before {
            out.push(b'+');
        }
        let u = usecs.unsigned_abs();
        let usec_per_sec = USECS_PER_SEC as u64;
        let secs = u / usec_per_sec;
        write_padded(out, secs / 3600, 2);
        out.push(b':');
        write2(out, ((secs / 60) % 60) as u32);
        out.push(b':');
        write_seconds(out, secs % 60, u % usec_per_sec);
    }
}
