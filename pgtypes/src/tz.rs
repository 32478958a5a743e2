//! The session `TimeZone`: a fixed offset or an IANA zone (tz database from `chrono-tz`).
//!
//! PostgreSQL semantics: a `timestamptz` is shown at the offset the zone has at that
//! instant; a local time is converted to UTC with `DetermineTimeZoneOffset`'s rules (a
//! time in a spring-forward gap takes the offset before the transition, so
//! `02:30` becomes `03:30` summer time; an ambiguous time in a fall-back overlap takes the
//! offset after it, i.e. standard time). `chrono-tz`'s rules end in 2099; later instants
//! keep the last offset (PostgreSQL extrapolates the zone's DST rule).

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

const USECS_PER_SEC: i64 = 1_000_000;

/// The session `TimeZone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZoneSetting {
    zone: Zone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Zone {
    /// Seconds east of UTC.
    Fixed(i32),
    Named(Tz),
}

impl Default for TimeZoneSetting {
    fn default() -> Self {
        Self::UTC
    }
}

impl TimeZoneSetting {
    /// UTC, the default.
    pub const UTC: TimeZoneSetting = TimeZoneSetting {
        zone: Zone::Fixed(0),
    };

    /// A fixed offset, in seconds east of UTC.
    pub const fn fixed(seconds_east: i32) -> Self {
        TimeZoneSetting {
            zone: Zone::Fixed(seconds_east),
        }
    }

    /// An IANA zone.
    pub const fn named(tz: Tz) -> Self {
        TimeZoneSetting {
            zone: Zone::Named(tz),
        }
    }

    /// An Arrow time zone string: `+05:30` / `-08:00` (east of UTC, ISO sign) or an IANA
    /// name. `None` if it is neither.
    pub fn from_arrow_tz(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if let Some(&sign) = b.first()
            && (sign == b'+' || sign == b'-')
        {
            let rest = &s[1..];
            let (h, m) = match rest.split_once(':') {
                Some((h, m)) => (h, m),
                None if rest.len() == 4 => rest.split_at(2),
                None => (rest, "0"),
            };
            let h: i32 = h.parse().ok()?;
            let m: i32 = m.parse().ok()?;
            let secs = h * 3600 + m * 60;
            return Some(Self::fixed(if sign == b'-' { -secs } else { secs }));
        }
        lookup_name(s).map(Self::named)
    }

    /// The offset in seconds east of UTC if it does not depend on the date.
    pub fn fixed_offset(&self) -> Option<i32> {
        match self.zone {
            Zone::Fixed(s) => Some(s),
            Zone::Named(_) => None,
        }
    }

    /// The IANA zone, if this is one.
    pub fn tz(&self) -> Option<Tz> {
        match self.zone {
            Zone::Fixed(_) => None,
            Zone::Named(tz) => Some(tz),
        }
    }

    /// The canonical IANA name of a named zone (`Europe/Berlin`), None for fixed offsets.
    pub fn iana_name(&self) -> Option<&'static str> {
        self.tz().map(|t| t.name())
    }

    /// Offset (seconds east of UTC) in effect at `utc_secs` seconds since 1970 UTC.
    pub fn utc_offset(&self, utc_secs: i64) -> i32 {
        match self.zone {
            Zone::Fixed(s) => s,
            Zone::Named(tz) => named_offset(tz, utc_secs),
        }
    }

    /// Offset in effect at `utc_usecs` microseconds since 1970 UTC.
    pub fn utc_offset_usecs(&self, utc_usecs: i64) -> i32 {
        match self.zone {
            Zone::Fixed(s) => s,
            Zone::Named(tz) => named_offset(tz, utc_usecs.div_euclid(USECS_PER_SEC)),
        }
    }

    /// Offset to subtract from the local wall-clock time `local_secs` (seconds since
    /// 1970-01-01 00:00 local) to get UTC, with PostgreSQL's rules for times in a DST gap
    /// or overlap (`DetermineTimeZoneOffsetInternal`).
    pub fn local_offset(&self, local_secs: i64) -> i32 {
        let tz = match self.zone {
            Zone::Fixed(s) => return s,
            Zone::Named(tz) => tz,
        };
        const DAY: i64 = 86_400;
        let before = named_offset(tz, local_secs.saturating_sub(DAY));
        let after = named_offset(tz, local_secs.saturating_add(DAY));
        if before == after {
            return before;
        }
        let before_time = local_secs - i64::from(before);
        let after_time = local_secs - i64::from(after);
        // "before the boundary" = the offset there is still the earlier one
        let b_before = named_offset(tz, before_time) == before;
        let a_before = named_offset(tz, after_time) == before;
        if b_before && a_before {
            return before;
        }
        if !b_before && !a_before {
            return after;
        }
        // in a gap (spring forward) prefer "before", in an overlap (fall back) "after"
        if before_time > after_time {
            before
        } else {
            after
        }
    }

    /// Offset for a local time given in microseconds since 1970-01-01 00:00 local.
    pub fn local_offset_usecs(&self, local_usecs: i64) -> i32 {
        match self.zone {
            Zone::Fixed(s) => s,
            Zone::Named(_) => self.local_offset(local_usecs.div_euclid(USECS_PER_SEC)),
        }
    }

    /// UTC microseconds of a local wall-clock time (microseconds since 1970 local).
    pub fn local_to_utc_usecs(&self, local_usecs: i64) -> i64 {
        local_usecs.saturating_sub(i64::from(self.local_offset_usecs(local_usecs)) * USECS_PER_SEC)
    }

    /// Local wall-clock microseconds of a UTC instant.
    pub fn utc_to_local_usecs(&self, utc_usecs: i64) -> i64 {
        utc_usecs.saturating_add(i64::from(self.utc_offset_usecs(utc_usecs)) * USECS_PER_SEC)
    }

    /// Parses a `SET TIME ZONE` value the way PostgreSQL 15 does: the fixed-offset forms
    /// below, or an IANA zone name (case-insensitive, e.g. `Europe/Berlin`, `US/Eastern`,
    /// `EST5EDT`). `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_fixed(s).or_else(|| lookup_name(s.trim()).map(Self::named))
    }

    /// The fixed-offset forms of a `SET TIME ZONE` value (PostgreSQL 15 rules). `None` for
    /// anything else (IANA names, offsets that are not whole minutes).
    ///
    /// - `UTC`, `GMT`, `Etc/UTC`, `Z`, ... (case-insensitive): UTC;
    /// - a plain number of hours (`5`, `-8`, `-08`, `5.5`, `+3`): **east** of UTC (SQL
    ///   convention);
    /// - a POSIX zone `[NAME]±hh[:mm[:ss]]` (`+05:30`, `UTC+3`, `EST5`, `<+0530>-05:30`,
    ///   and the tz database's `Etc/GMT+3`): the offset is **west** of UTC (POSIX
    ///   convention), so `SET timezone = '+05:30'` shows timestamps at `-05:30`, exactly
    ///   as PostgreSQL does.
    fn parse_fixed(s: &str) -> Option<Self> {
        const UTC_NAMES: &[&str] = &[
            "utc",
            "gmt",
            "uct",
            "z",
            "zulu",
            "universal",
            "greenwich",
            "gmt0",
            "gmt+0",
            "gmt-0",
            "etc/utc",
            "etc/gmt",
            "etc/uct",
            "etc/zulu",
            "etc/universal",
            "etc/greenwich",
            "etc/gmt0",
            "etc/gmt+0",
            "etc/gmt-0",
        ];
        if UTC_NAMES.iter().any(|n| n.eq_ignore_ascii_case(s)) {
            return Some(Self::UTC);
        }
        let whole_minutes = |secs: i64| {
            (secs % 60 == 0 && secs.abs() <= 168 * 3600).then_some(Self::fixed(secs as i32))
        };
        // a plain number of hours (strtod), SQL sign convention
        let num = s.trim_start();
        let digits = num.strip_prefix(['+', '-']).unwrap_or(num);
        if !digits.is_empty()
            && digits.bytes().all(|c| c.is_ascii_digit() || c == b'.')
            && digits.bytes().filter(|&c| c == b'.').count() <= 1
            && digits != "."
        {
            let hours: f64 = num.parse().ok()?;
            return whole_minutes((hours * 3600.0) as i64);
        }
        // POSIX: optional name (alphabetic, or <...>), then [+-]hh[:mm[:ss]], nothing else.
        // The tz database's Etc/GMT+3 (= 3 hours west) follows the same convention.
        let s = match s.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("etc/") => &s[4..],
            _ => s,
        };
        let rest = if let Some(r) = s.strip_prefix('<') {
            &r[r.find('>')? + 1..]
        } else {
            let n = s.bytes().take_while(u8::is_ascii_alphabetic).count();
            if n != 0 && n < 3 {
                return None;
            }
            &s[n..]
        };
        let (west_sign, rest) = match rest.as_bytes().first()? {
            b'+' => (1, &rest[1..]),
            b'-' => (-1, &rest[1..]),
            _ => (1, rest),
        };
        let mut parts = rest.split(':');
        let mut secs: i64 = 0;
        let mut mult = 3600;
        for (i, p) in parts.by_ref().take(3).enumerate() {
            if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let v: i64 = p.parse().ok()?;
            if (i > 0 && v > 59) || (i == 0 && v > 167) {
                return None;
            }
            secs += v * mult;
            mult /= 60;
        }
        if parts.next().is_some() {
            return None;
        }
        whole_minutes(-west_sign * secs)
    }
}

/// Looks up an IANA zone name, case-insensitively (PostgreSQL accepts `europe/berlin`).
pub fn lookup_name(name: &str) -> Option<Tz> {
    if name.is_empty() || name.len() > 64 {
        return None;
    }
    if let Ok(tz) = name.parse::<Tz>() {
        return Some(tz);
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .copied()
        .find(|t| t.name().eq_ignore_ascii_case(name))
}

/// The offset of `tz` at `utc_secs`; instants outside chrono's range take the offset at
/// the nearest end of it.
fn named_offset(tz: Tz, utc_secs: i64) -> i32 {
    // chrono's range is about ±262,000 years; PostgreSQL's ends before 294,277 AD.
    const LIMIT: i64 = 8_000_000_000_000;
    let secs = utc_secs.clamp(-LIMIT, LIMIT);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(dt) => tz
            .offset_from_utc_datetime(&dt.naive_utc())
            .fix()
            .local_minus_utc(),
        None => 0,
    }
}
