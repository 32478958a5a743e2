//! Session settings: what `SET`, `SHOW` and `RESET` act on, and what the wire layer
//! reports as ParameterStatus.

use strata_pgtypes::tz::TimeZoneSetting;

use crate::error::{Error, Result, SqlState};

/// Parameters that the server reports to the client on change (ParameterStatus).
pub const REPORTED: &[&str] = &[
    "TimeZone",
    "DateStyle",
    "application_name",
    "client_encoding",
    "IntervalStyle",
    "standard_conforming_strings",
    "integer_datetimes",
    "server_encoding",
    "server_version",
    "is_superuser",
    "session_authorization",
];

/// The server_version reported to clients: a PostgreSQL version first (drivers parse it),
/// Strata's own after it.
pub const SERVER_VERSION: &str = concat!("15.0 (Strata ", env!("CARGO_PKG_VERSION"), ")");

/// Per-session settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The TimeZone setting as the user gave it (normalised: `UTC`, `+05:30`, ...).
    pub timezone: String,
    /// The TimeZone: a fixed offset or an IANA zone.
    pub tz: TimeZoneSetting,
    pub datestyle: String,
    pub application_name: String,
    /// The role the session logged in as (`current_user`, `"$user"` in `search_path`).
    pub user: String,
    pub client_encoding: String,
    pub search_path: String,
    /// 0 = no timeout.
    pub statement_timeout_ms: u64,
    pub extra_float_digits: i32,
    pub intervalstyle: String,
    /// Other accepted parameters, kept so SHOW returns what SET stored.
    pub other: Vec<(String, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: "UTC".into(),
            tz: TimeZoneSetting::UTC,
            datestyle: "ISO, MDY".into(),
            application_name: String::new(),
            user: "strata".into(),
            client_encoding: "UTF8".into(),
            search_path: "\"$user\", public".into(),
            statement_timeout_ms: 0,
            extra_float_digits: 1,
            intervalstyle: "postgres".into(),
            other: vec![],
        }
    }
}

/// Parameters accepted by SET and stored without effect (so that client start-up scripts
/// work), with their defaults.
const PASSIVE: &[(&str, &str)] = &[
    ("bytea_output", "hex"),
    ("lc_messages", "C"),
    ("lc_monetary", "C"),
    ("lc_numeric", "C"),
    ("lc_time", "C"),
    ("lock_timeout", "0"),
    ("idle_in_transaction_session_timeout", "0"),
    ("default_table_access_method", "heap"),
    ("default_transaction_isolation", "read committed"),
    ("transaction_isolation", "read committed"),
    ("default_transaction_read_only", "off"),
    ("transaction_read_only", "off"),
    ("synchronous_commit", "on"),
    ("join_collapse_limit", "8"),
    ("max_parallel_workers_per_gather", "2"),
    ("work_mem", "4MB"),
    ("jit", "off"),
    ("row_security", "on"),
    ("xmloption", "content"),
    ("geqo", "on"),
    ("enable_seqscan", "on"),
    ("client_min_messages", "notice"),
    ("statement_timeout_units", "ms"),
    ("standard_conforming_strings", "on"),
    ("integer_datetimes", "on"),
    ("server_encoding", "UTF8"),
    ("server_version_num", "150000"),
    ("max_identifier_length", "63"),
    ("is_superuser", "on"),
    ("session_authorization", "strata"),
    ("default_text_search_config", "pg_catalog.english"),
];

impl Settings {
    /// The TimeZone as DataFusion's `execution.time_zone` (`+05:30`, `Europe/Berlin`).
    pub fn datafusion_time_zone(&self) -> String {
        match self.tz.iana_name() {
            Some(name) => name.to_string(),
            None => {
                let s = self.tz.fixed_offset().unwrap_or(0);
                let sign = if s < 0 { '-' } else { '+' };
                let a = s.unsigned_abs();
                format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
            }
        }
    }

    /// The canonical PostgreSQL name of a parameter, or None if unknown.
    fn canonical(name: &str) -> Option<&'static str> {
        let l = name.to_ascii_lowercase();
        Some(match l.as_str() {
            "timezone" | "time zone" | "time_zone" => "TimeZone",
            "datestyle" => "DateStyle",
            "application_name" => "application_name",
            "client_encoding" | "names" => "client_encoding",
            "search_path" => "search_path",
            "statement_timeout" => "statement_timeout",
            "extra_float_digits" => "extra_float_digits",
            "intervalstyle" => "IntervalStyle",
            "server_version" => "server_version",
            _ => return PASSIVE.iter().find(|(n, _)| *n == l).map(|(n, _)| *n),
        })
    }

    /// Applies `SET name = value`; returns the (name, value) to report as ParameterStatus.
    pub fn set(&mut self, name: &str, value: &str) -> Result<Option<(String, String)>> {
        let Some(canon) = Self::canonical(name) else {
            return Err(Error::user(
                SqlState::UndefinedObject,
                format!("unrecognized configuration parameter \"{name}\""),
            ));
        };
        let report = |n: &str, v: &str| Some((n.to_string(), v.to_string()));
        match canon {
            "TimeZone" => {
                let (norm, tz) = parse_timezone(value)?;
                self.timezone = norm.clone();
                self.tz = tz;
                Ok(report("TimeZone", &norm))
            }
            "DateStyle" => {
                let v = value.to_ascii_uppercase();
                if !v.contains("ISO") {
                    return Err(Error::with_hint(
                        SqlState::InvalidParameterValue,
                        format!("invalid value for parameter \"DateStyle\": \"{value}\""),
                        "Strata outputs dates in ISO style only; use SET DateStyle = 'ISO, MDY'.",
                    ));
                }
                self.datestyle = if v.contains("DMY") {
                    "ISO, DMY".into()
                } else if v.contains("YMD") {
                    "ISO, YMD".into()
                } else {
                    "ISO, MDY".into()
                };
                Ok(report("DateStyle", &self.datestyle.clone()))
            }
            "application_name" => {
                self.application_name = value.to_string();
                Ok(report("application_name", value))
            }
            "client_encoding" => {
                let v = value.to_ascii_uppercase().replace('-', "");
                if v != "UTF8" && v != "UNICODE" {
                    return Err(Error::user(
                        SqlState::FeatureNotSupported,
                        format!(
                            "client encoding \"{value}\" is not supported; Strata speaks UTF8 only"
                        ),
                    ));
                }
                self.client_encoding = "UTF8".into();
                Ok(report("client_encoding", "UTF8"))
            }
            "search_path" => {
                self.search_path = value.to_string();
                Ok(None)
            }
            "statement_timeout" => {
                self.statement_timeout_ms = parse_duration_ms(value).ok_or_else(|| {
                    Error::user(
                        SqlState::InvalidParameterValue,
                        format!("invalid value for parameter \"statement_timeout\": \"{value}\""),
                    )
                })?;
                Ok(None)
            }
            "extra_float_digits" => {
                let v: i32 = value.trim().parse().map_err(|_| {
                    Error::user(
                        SqlState::InvalidParameterValue,
                        format!("invalid value for parameter \"extra_float_digits\": \"{value}\""),
                    )
                })?;
                if !(-15..=3).contains(&v) {
                    return Err(Error::user(
                        SqlState::InvalidParameterValue,
                        format!(
                            "{v} is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"
                        ),
                    ));
                }
                self.extra_float_digits = v;
                Ok(None)
            }
            "IntervalStyle" => {
                if !value.eq_ignore_ascii_case("postgres") {
                    return Err(Error::user(
                        SqlState::FeatureNotSupported,
                        format!("IntervalStyle \"{value}\" is not supported; only postgres"),
                    ));
                }
                Ok(report("IntervalStyle", "postgres"))
            }
            "server_version" => Err(Error::user(
                SqlState::InvalidParameterValue,
                "parameter \"server_version\" cannot be changed",
            )),
            other => {
                self.other.retain(|(n, _)| n != other);
                self.other.push((other.to_string(), value.to_string()));
                Ok(None)
            }
        }
    }

    /// `RESET name` / `RESET ALL`.
    /// `defaults` are the session's start-up values (PostgreSQL resets to those, not to the
    /// server defaults).
    pub fn reset(
        &mut self,
        name: Option<&str>,
        defaults: &Settings,
    ) -> Result<Option<(String, String)>> {
        let d = defaults.clone();
        match name {
            None => {
                let tz = d.timezone.clone();
                *self = d;
                Ok(Some(("TimeZone".into(), tz)))
            }
            Some(n) => {
                let Some(canon) = Self::canonical(n) else {
                    return Err(Error::user(
                        SqlState::UndefinedObject,
                        format!("unrecognized configuration parameter \"{n}\""),
                    ));
                };
                let v = d.get(canon).unwrap_or_default();
                self.other.retain(|(x, _)| x != canon);
                if canon == "server_version" {
                    return Ok(None);
                }
                self.set(canon, &v)
            }
        }
    }

    /// `SHOW name`.
    pub fn get(&self, name: &str) -> Option<String> {
        let canon = Self::canonical(name)?;
        Some(match canon {
            "TimeZone" => self.timezone.clone(),
            "DateStyle" => self.datestyle.clone(),
            "application_name" => self.application_name.clone(),
            "client_encoding" => self.client_encoding.clone(),
            "search_path" => self.search_path.clone(),
            "statement_timeout" => {
                if self.statement_timeout_ms == 0 {
                    "0".into()
                } else if self.statement_timeout_ms % 1000 == 0 {
                    format!("{}s", self.statement_timeout_ms / 1000)
                } else {
                    format!("{}ms", self.statement_timeout_ms)
                }
            }
            "extra_float_digits" => self.extra_float_digits.to_string(),
            "IntervalStyle" => self.intervalstyle.clone(),
            "server_version" => SERVER_VERSION.to_string(),
            other => self
                .other
                .iter()
                .find(|(n, _)| n == other)
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    PASSIVE
                        .iter()
                        .find(|(n, _)| *n == other)
                        .map(|(_, v)| v.to_string())
                })?,
        })
    }
}

/// Parses a TimeZone value with PostgreSQL's rules (a bare number is hours east of UTC;
/// a POSIX string such as `'+05:30'` or `'UTC+3'` is *west* of UTC; otherwise an IANA
/// zone name, case-insensitive). Returns the name SHOW reports (PostgreSQL shows a zone
/// name with the tz database's spelling: `europe/berlin` → `Europe/Berlin`).
pub fn parse_timezone(value: &str) -> Result<(String, TimeZoneSetting)> {
    let v = value.trim();
    match TimeZoneSetting::parse(v) {
        Some(tz) if tz.fixed_offset() == Some(0) && !v.chars().any(|c| c.is_ascii_digit()) => {
            Ok(("UTC".into(), tz))
        }
        Some(tz) => Ok((tz.iana_name().unwrap_or(v).to_string(), tz)),
        None => Err(Error::user(
            SqlState::InvalidParameterValue,
            format!("invalid value for parameter \"TimeZone\": \"{value}\""),
        )),
    }
}

/// Parses a duration setting (`5000`, `5s`, `100ms`, `1min`) into milliseconds.
pub fn parse_duration_ms(v: &str) -> Option<u64> {
    let v = v.trim().trim_matches('\'');
    let idx = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(idx);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezone_forms() {
        let off = |v: &str| parse_timezone(v).unwrap().1.fixed_offset();
        assert_eq!(parse_timezone("UTC").unwrap().0, "UTC");
        assert_eq!(off("UTC"), Some(0));
        // PostgreSQL: a bare number is east of UTC, a POSIX string is west.
        assert_eq!(off("5"), Some(5 * 3600));
        assert_eq!(off("+05:30"), Some(-19800));
        let (name, tz) = parse_timezone("europe/berlin").unwrap();
        assert_eq!(name, "Europe/Berlin");
        assert_eq!(tz.iana_name(), Some("Europe/Berlin"));
        let e = parse_timezone("Mars/Olympus").unwrap_err();
        assert_eq!(e.sqlstate(), SqlState::InvalidParameterValue);
    }

    #[test]
    fn set_show_reset() {
        let mut s = Settings::default();
        s.set("statement_timeout", "5s").unwrap();
        assert_eq!(s.get("statement_timeout").unwrap(), "5s");
        assert_eq!(s.statement_timeout_ms, 5000);
        s.set("application_name", "x").unwrap();
        s.reset(Some("application_name"), &Settings::default())
            .unwrap();
        assert_eq!(s.get("application_name").unwrap(), "");
        assert!(s.set("no_such_thing", "1").is_err());
        s.set("work_mem", "64MB").unwrap();
        assert_eq!(s.get("work_mem").unwrap(), "64MB");
    }
}
