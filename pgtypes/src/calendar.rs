//! The proleptic Gregorian calendar on day numbers since 1970-01-01, with astronomical
//! years (year 0 is 1 BC, as PostgreSQL's `tm_year`). H. Hinnant's `days_from_civil` /
//! `civil_from_days`, exact for every `i64` day number the callers use (PostgreSQL's
//! range is 4714 BC to 294276 AD).

/// Days since 1970-01-01 of the civil date `y-m-d` (month 1..=12, day 1..=31).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let m = i64::from(m);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month 1..=12, day 1..=31) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // 0 <= doy < 366 and 0 <= mp < 12: both fit u32.
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 1, 1), 10_957);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        // 4714-11-24 BC (year -4713), PostgreSQL's first day (Julian day 0)
        assert_eq!(days_from_civil(-4713, 11, 24), -2_440_588);
        assert_eq!(civil_from_days(-2_440_588), (-4713, 11, 24));
        let mut z = -2_440_588;
        while z < 106_000_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z, "{y}-{m}-{d}");
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            z += 997;
        }
    }
}
