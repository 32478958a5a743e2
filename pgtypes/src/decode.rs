//! PostgreSQL input syntax (text and binary) → Arrow values.
//!
//! Three entry points:
//!
//! - [`parse_text_value`]: one value in PostgreSQL text input syntax for a column
//!   ([`Field`]), e.g. an INSERT literal or a text-format bind parameter.
//! - [`parse_binary_value`]: one binary-format bind parameter (`*recv` format) of a given
//!   type OID, converted for a target Arrow type.
//! - [`ColumnBuilder`]: appends parsed values straight into a typed Arrow builder (COPY and
//!   multi-row INSERT fast paths; numbers are parsed without allocating).
//!
//! Values travel as [`ScalarLike`]; `parse_text_value` returns the *canonical* variant of
//! the column's type (see [`ScalarLike`]), which [`ColumnBuilder::append_scalar`] appends
//! without further conversion.
//!
//! ## Representation conventions (shared with `encode`)
//!
//! | PostgreSQL | Arrow | canonical [`ScalarLike`] |
//! | --- | --- | --- |
//! | int2/int4/int8 | Int16/Int32/Int64 | `I64` (range-checked) |
//! | float4/float8 | Float32/Float64 | `F64` (float4: already rounded to f32) |
//! | numeric(p,s) | Decimal128(p,s) | `Decimal(unscaled, s)` (rounded half away from zero) |
//! | text/varchar | Utf8 | `Str` |
//! | json | Utf8 | `Str` (validated, verbatim) |
//! | jsonb | Utf8 | `Str` (PostgreSQL's canonical jsonb text, e.g. `{"a": 1}`) |
//! | bool | Boolean | `Bool` |
//! | bytea | Binary | `Bytes` |
//! | date | Date32 (days since 1970-01-01) | `Date`; `infinity` = `i32::MAX`, `-infinity` = `i32::MIN` |
//! | timestamp | Timestamp(µs, None), wall clock | `TimestampMicros`; ±infinity = `i64::MAX`/`i64::MIN` |
//! | timestamptz | Timestamp(µs, "+00:00"), UTC | `TimestamptzMicros`; ±infinity = `i64::MAX`/`i64::MIN` |
//! | interval | Interval(MonthDayNano) | `IntervalMDN` (nanos = µs × 1000) |
//!
//! `session_tz_offset_secs` is the session time zone as seconds **east** of UTC
//! (`+05:30` → 19800). It is used for `timestamptz` input without an explicit zone, for
//! `now`/`today`, and for timestamp ↔ timestamptz coercions.
//!
//! Known differences from PostgreSQL 15: full time zone names other than UTC aliases
//! (`America/New_York`) are rejected with 22023 (no tz database); timestamps after
//! 294247-01-10 do not fit i64 microseconds since 1970 and are "out of range"; hexadecimal
//! float input (`0x10`) is rejected; numeric `NaN`/`Infinity` cannot be stored in Decimal128.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, IntervalMonthDayNanoBuilder,
    StringBuilder, TimestampMicrosecondBuilder, new_null_array,
};
use arrow::datatypes::{DataType, Field, IntervalMonthDayNano, IntervalUnit, TimeUnit};

mod binary;
mod datetime;
mod interval;
mod json;
mod num;
#[cfg(test)]
mod tests;

/// Field metadata key holding the PostgreSQL type name (same as `strata_storage::schema`).
pub const PG_TYPE_METADATA_KEY: &str = "strata.pg_type";

/// Date32 value used for `infinity`.
pub const DATE_INFINITY: i32 = i32::MAX;
/// Date32 value used for `-infinity`.
pub const DATE_NEG_INFINITY: i32 = i32::MIN;
/// Timestamp value (µs) used for `infinity`.
pub const TIMESTAMP_INFINITY: i64 = i64::MAX;
/// Timestamp value (µs) used for `-infinity`.
pub const TIMESTAMP_NEG_INFINITY: i64 = i64::MIN;

/// PostgreSQL type OIDs understood by [`parse_binary_value`].
pub mod oids {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const UNKNOWN: u32 = 705;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC: u32 = 1700;
    pub const JSONB: u32 = 3802;
}

/// A PostgreSQL error raised while decoding a value: SQLSTATE plus primary message, both
/// exactly as PostgreSQL 15 reports them (the DETAIL/HINT lines are not reproduced).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub sqlstate: &'static str,
    pub message: String,
}

impl DecodeError {
    pub fn new(sqlstate: &'static str, message: impl Into<String>) -> Self {
        DecodeError { sqlstate, message: message.into() }
    }

    /// 22P02 `invalid input syntax for type <ty>: "<input>"`.
    pub(crate) fn syntax(ty: &str, input: &[u8]) -> Self {
        DecodeError::new(
            "22P02",
            format!("invalid input syntax for type {}: \"{}\"", ty, String::from_utf8_lossy(input)),
        )
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

/// 22021 `invalid byte sequence for encoding "UTF8": 0x..` for the first bad sequence.
pub(crate) fn invalid_utf8(b: &[u8]) -> DecodeError {
    let pos = match std::str::from_utf8(b) {
        Ok(_) => b.iter().position(|&c| c == 0).unwrap_or(0),
        Err(e) => e.valid_up_to(),
    };
    let lead = b.get(pos).copied().unwrap_or(0);
    let want = match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    };
    let bytes: Vec<String> = b[pos..(pos + want).min(b.len())].iter().map(|c| format!("0x{c:02x}")).collect();
    DecodeError::new("22021", format!("invalid byte sequence for encoding \"UTF8\": {}", bytes.join(" ")))
}

/// A decoded value, independent of the column it goes into.
///
/// [`parse_text_value`] and [`parse_binary_value`] return the canonical variant for the
/// target type (table in the module docs). Other variants are accepted by
/// [`ColumnBuilder::append_scalar`] and converted with PostgreSQL's assignment-cast rules.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarLike {
    Null,
    Bool(bool),
    I64(i64),
    F64(f64),
    /// Unscaled value and scale: `Decimal(12345, 2)` is 123.45.
    Decimal(i128, i8),
    Str(String),
    Bytes(Vec<u8>),
    /// Days since 1970-01-01 (`i32::MAX`/`i32::MIN` = ±infinity).
    Date(i32),
    /// `timestamp` (without time zone): wall-clock µs since 1970-01-01 00:00.
    TimestampMicros(i64),
    /// `timestamptz`: UTC µs since 1970-01-01 00:00 UTC.
    TimestamptzMicros(i64),
    IntervalMDN { months: i32, days: i32, nanos: i64 },
}

impl ScalarLike {
    /// PostgreSQL name of the value's natural type (for error messages).
    pub fn pg_type_name(&self) -> &'static str {
        match self {
            ScalarLike::Null => "unknown",
            ScalarLike::Bool(_) => "boolean",
            ScalarLike::I64(_) => "bigint",
            ScalarLike::F64(_) => "double precision",
            ScalarLike::Decimal(..) => "numeric",
            ScalarLike::Str(_) => "text",
            ScalarLike::Bytes(_) => "bytea",
            ScalarLike::Date(_) => "date",
            ScalarLike::TimestampMicros(_) => "timestamp without time zone",
            ScalarLike::TimestamptzMicros(_) => "timestamp with time zone",
            ScalarLike::IntervalMDN { .. } => "interval",
        }
    }
}

/// Classify an unquoted SQL numeric literal as PostgreSQL does: an integer that fits
/// int8 → `I64`; otherwise a decimal → `Decimal` (when it fits 38 digits) or `F64`.
/// Use this for INSERT literals like `1.5`, so that assignment to an integer column rounds
/// half away from zero exactly as PostgreSQL's numeric → int cast does.
pub fn parse_numeric_literal(s: &str) -> Result<ScalarLike, DecodeError> {
    let b = s.as_bytes();
    if let Ok(v) = num::parse_i64(b) {
        return Ok(ScalarLike::I64(v));
    }
    match num::parse_decimal_parts(b) {
        Ok(Ok(p)) => {
            let scale = (p.frac_len - p.exp).clamp(0, 38);
            if let Some(v) = num::decimal_to_i128(&p, 38, scale as i8) {
                // Only exact representations (no rounding happened).
                if p.frac_len - p.exp <= 38 {
                    return Ok(ScalarLike::Decimal(v, scale as i8));
                }
            }
            num::parse_f64(b).map(ScalarLike::F64)
        }
        Ok(Err(_)) => num::parse_f64(b).map(ScalarLike::F64),
        Err(()) => Err(DecodeError::syntax("numeric", b)),
    }
}

/// The PostgreSQL type of a column, derived from its Arrow type and metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    Varchar,
    Json,
    Jsonb,
    Bool,
    Bytea,
    Date,
    Timestamp,
    Timestamptz,
    Interval,
    Unsupported,
}

impl Kind {
    fn pg_name(self) -> &'static str {
        match self {
            Kind::Int2 => "smallint",
            Kind::Int4 => "integer",
            Kind::Int8 => "bigint",
            Kind::Float4 => "real",
            Kind::Float8 => "double precision",
            Kind::Numeric => "numeric",
            Kind::Text => "text",
            Kind::Varchar => "character varying",
            Kind::Json => "json",
            Kind::Jsonb => "jsonb",
            Kind::Bool => "boolean",
            Kind::Bytea => "bytea",
            Kind::Date => "date",
            Kind::Timestamp => "timestamp without time zone",
            Kind::Timestamptz => "timestamp with time zone",
            Kind::Interval => "interval",
            Kind::Unsupported => "unknown",
        }
    }

    fn natural_oid(self) -> u32 {
        match self {
            Kind::Int2 => oids::INT2,
            Kind::Int4 => oids::INT4,
            Kind::Int8 => oids::INT8,
            Kind::Float4 => oids::FLOAT4,
            Kind::Float8 => oids::FLOAT8,
            Kind::Numeric => oids::NUMERIC,
            Kind::Text => oids::TEXT,
            Kind::Varchar => oids::VARCHAR,
            Kind::Json => oids::JSON,
            Kind::Jsonb => oids::JSONB,
            Kind::Bool => oids::BOOL,
            Kind::Bytea => oids::BYTEA,
            Kind::Date => oids::DATE,
            Kind::Timestamp => oids::TIMESTAMP,
            Kind::Timestamptz => oids::TIMESTAMPTZ,
            Kind::Interval => oids::INTERVAL,
            Kind::Unsupported => 0,
        }
    }
}

/// Column type information needed for parsing.
#[derive(Debug, Clone)]
pub(crate) struct ColType {
    pub kind: Kind,
    pub precision: u8,
    pub scale: i8,
    pub dt: DataType,
}

impl ColType {
    pub(crate) fn from_data_type(dt: &DataType, pg_type: Option<&str>) -> Self {
        let (kind, precision, scale) = match dt {
            DataType::Int16 => (Kind::Int2, 0, 0),
            DataType::Int32 => (Kind::Int4, 0, 0),
            DataType::Int64 => (Kind::Int8, 0, 0),
            DataType::Float32 => (Kind::Float4, 0, 0),
            DataType::Float64 => (Kind::Float8, 0, 0),
            DataType::Decimal128(p, s) => (Kind::Numeric, *p, *s),
            DataType::Utf8 => (
                match pg_type {
                    Some("json") => Kind::Json,
                    Some("jsonb") => Kind::Jsonb,
                    Some("varchar") => Kind::Varchar,
                    _ => Kind::Text,
                },
                0,
                0,
            ),
            DataType::Boolean => (Kind::Bool, 0, 0),
            DataType::Binary => (Kind::Bytea, 0, 0),
            DataType::Date32 => (Kind::Date, 0, 0),
            DataType::Timestamp(TimeUnit::Microsecond, None) => (Kind::Timestamp, 0, 0),
            DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => (Kind::Timestamptz, 0, 0),
            DataType::Interval(IntervalUnit::MonthDayNano) => (Kind::Interval, 0, 0),
            _ => (Kind::Unsupported, 0, 0),
        };
        ColType { kind, precision, scale, dt: dt.clone() }
    }

    pub(crate) fn from_field(f: &Field) -> Self {
        Self::from_data_type(f.data_type(), f.metadata().get(PG_TYPE_METADATA_KEY).map(|s| s.as_str()))
    }
}

fn unsupported(ct: &ColType) -> DecodeError {
    DecodeError::new("0A000", format!("Arrow type {} is not supported as a column type", ct.dt))
}

/// Parse text input for a column type into its canonical [`ScalarLike`].
pub(crate) fn parse_text(b: &[u8], ct: &ColType, tz: i32) -> Result<ScalarLike, DecodeError> {
    Ok(match ct.kind {
        Kind::Int2 => ScalarLike::I64(num::parse_int_checked(b, 2)?),
        Kind::Int4 => ScalarLike::I64(num::parse_int_checked(b, 4)?),
        Kind::Int8 => ScalarLike::I64(num::parse_int_checked(b, 8)?),
        Kind::Float4 => ScalarLike::F64(num::parse_f32(b)? as f64),
        Kind::Float8 => ScalarLike::F64(num::parse_f64(b)?),
        Kind::Numeric => ScalarLike::Decimal(num::parse_numeric(b, ct.precision, ct.scale)?, ct.scale),
        Kind::Text | Kind::Varchar => ScalarLike::Str(text_str(b)?.to_string()),
        Kind::Json => {
            json::validate_json(b)?;
            ScalarLike::Str(text_str(b)?.to_string())
        }
        Kind::Jsonb => ScalarLike::Str(json::normalize_jsonb(b)?),
        Kind::Bool => ScalarLike::Bool(num::parse_bool(b)?),
        Kind::Bytea => {
            let mut v = Vec::new();
            num::parse_bytea(b, &mut v)?;
            ScalarLike::Bytes(v)
        }
        Kind::Date => ScalarLike::Date(datetime::parse_date(b, tz)?),
        Kind::Timestamp => ScalarLike::TimestampMicros(datetime::parse_timestamp(b, tz)?),
        Kind::Timestamptz => ScalarLike::TimestamptzMicros(datetime::parse_timestamptz(b, tz)?),
        Kind::Interval => {
            let iv = interval::parse_interval(b)?;
            ScalarLike::IntervalMDN { months: iv.months, days: iv.days, nanos: interval_nanos(iv.usecs)? }
        }
        Kind::Unsupported => return Err(unsupported(ct)),
    })
}

/// Interval time part in nanoseconds. Arrow's MonthDayNano holds ±2562047 hours, less
/// than PostgreSQL's ±2562047788 hours.
#[inline]
fn interval_nanos(usecs: i64) -> Result<i64, DecodeError> {
    usecs.checked_mul(1000).ok_or_else(|| DecodeError::new("22008", "interval out of range"))
}

/// Validate text bytes: UTF-8 and no NUL (PostgreSQL text cannot hold NUL).
#[inline]
fn text_str(b: &[u8]) -> Result<&str, DecodeError> {
    match std::str::from_utf8(b) {
        Ok(s) if !b.contains(&0) => Ok(s),
        _ => Err(invalid_utf8(b)),
    }
}

/// Parse one value in PostgreSQL text input syntax for a column (`field`'s Arrow type plus
/// its `strata.pg_type` metadata, which tells text/varchar/json/jsonb apart).
///
/// Returns the canonical [`ScalarLike`] for the column type (see the module docs); errors
/// carry PostgreSQL's SQLSTATE and message, e.g. 22P02
/// `invalid input syntax for type integer: "abc"`, 22003
/// `value "99999" is out of range for type smallint`, 22007/22008 for date/time input.
pub fn parse_text_value(s: &str, field: &Field, session_tz_offset_secs: i32) -> Result<ScalarLike, DecodeError> {
    parse_text(s.as_bytes(), &ColType::from_field(field), session_tz_offset_secs)
}

/// Decode a binary-format bind parameter of PostgreSQL type `oid` (see [`oids`]; `0` means
/// "the natural type of `dt`") and convert it for Arrow type `dt` with assignment-cast
/// rules (e.g. an int8 parameter for an Int16 column is range-checked → 22003).
///
/// Formats: int2/4/8 and float4/8 big-endian; bool 1 byte; text/varchar/unknown/json raw
/// UTF-8; jsonb version byte 1 + text; bytea raw; date i32 days since 2000-01-01;
/// timestamp/timestamptz i64 µs since 2000-01-01; interval i64 µs, i32 days, i32 months;
/// numeric base-10000 (`ndigits, weight, sign, dscale, digits…`). A length that does not
/// match the type gives 22P03 `incorrect binary data format`.
///
/// Text-like parameters for non-text columns are parsed with the column's text input
/// syntax (`timestamptz` without a zone is taken as UTC here; use
/// [`parse_binary_value_tz`] to pass the session zone). For json/jsonb targets pass an
/// Arrow `Utf8` field through [`parse_binary_value_for_field`].
pub fn parse_binary_value(bytes: &[u8], oid: u32, dt: &DataType) -> Result<ScalarLike, DecodeError> {
    parse_binary_value_tz(bytes, oid, dt, 0)
}

/// [`parse_binary_value`] with the session time zone (seconds east of UTC).
pub fn parse_binary_value_tz(
    bytes: &[u8],
    oid: u32,
    dt: &DataType,
    session_tz_offset_secs: i32,
) -> Result<ScalarLike, DecodeError> {
    let ct = ColType::from_data_type(dt, None);
    binary_for(bytes, oid, &ct, session_tz_offset_secs)
}

/// [`parse_binary_value`] for a column field (honours json/jsonb metadata).
pub fn parse_binary_value_for_field(
    bytes: &[u8],
    oid: u32,
    field: &Field,
    session_tz_offset_secs: i32,
) -> Result<ScalarLike, DecodeError> {
    binary_for(bytes, oid, &ColType::from_field(field), session_tz_offset_secs)
}

fn binary_for(bytes: &[u8], oid: u32, ct: &ColType, tz: i32) -> Result<ScalarLike, DecodeError> {
    let oid = if oid == 0 { ct.kind.natural_oid() } else { oid };
    let v = binary::decode_binary(bytes, oid)?;
    coerce(v, ct, tz, None)
}

fn mismatch(ct: &ColType, v: &ScalarLike, col: Option<&str>) -> DecodeError {
    match col {
        Some(c) => DecodeError::new(
            "42804",
            format!(
                "column \"{}\" is of type {} but expression is of type {}",
                c,
                ct.kind.pg_name(),
                v.pg_type_name()
            ),
        ),
        None => DecodeError::new(
            "42804",
            format!("cannot convert a value of type {} to type {}", v.pg_type_name(), ct.kind.pg_name()),
        ),
    }
}

fn int_range(kind: Kind) -> (i64, i64, &'static str) {
    match kind {
        Kind::Int2 => (i16::MIN as i64, i16::MAX as i64, "smallint out of range"),
        Kind::Int4 => (i32::MIN as i64, i32::MAX as i64, "integer out of range"),
        _ => (i64::MIN, i64::MAX, "bigint out of range"),
    }
}

/// Convert any [`ScalarLike`] to the canonical variant for `ct` (PostgreSQL assignment
/// casts: numeric → int rounds half away from zero, float → int rounds half to even,
/// anything → text via its output form, text → anything via the input syntax).
pub(crate) fn coerce(v: ScalarLike, ct: &ColType, tz: i32, col: Option<&str>) -> Result<ScalarLike, DecodeError> {
    use ScalarLike as S;
    if matches!(v, S::Null) {
        return Ok(S::Null);
    }
    if ct.kind == Kind::Unsupported {
        return Err(unsupported(ct));
    }
    let tzu = tz as i64 * datetime::USECS_PER_SEC;
    let is_text = matches!(ct.kind, Kind::Text | Kind::Varchar);
    Ok(match (v, ct.kind) {
        (S::Str(s), Kind::Text | Kind::Varchar) => {
            text_str(s.as_bytes())?;
            S::Str(s)
        }
        (S::Str(s), _) => parse_text(s.as_bytes(), ct, tz)?,

        (S::I64(i), Kind::Int2 | Kind::Int4 | Kind::Int8) => {
            let (lo, hi, msg) = int_range(ct.kind);
            if i < lo || i > hi {
                return Err(DecodeError::new("22003", msg));
            }
            S::I64(i)
        }
        (S::I64(i), Kind::Float4) => S::F64(i as f32 as f64),
        (S::I64(i), Kind::Float8) => S::F64(i as f64),
        (S::I64(i), Kind::Numeric) => S::Decimal(decimal_fit(i as i128, 0, ct)?, ct.scale),
        (S::I64(i), _) if is_text => S::Str(i.to_string()),

        (S::F64(f), Kind::Int2 | Kind::Int4 | Kind::Int8) => {
            let (lo, hi, msg) = int_range(ct.kind);
            let r = f.round_ties_even();
            if !r.is_finite() || r < lo as f64 || r >= -(lo as f64) || (r as i64) > hi {
                return Err(DecodeError::new("22003", msg));
            }
            S::I64(r as i64)
        }
        (S::F64(f), Kind::Float4) => {
            let g = f as f32;
            if g.is_infinite() && f.is_finite() {
                return Err(DecodeError::new("22003", "value out of range: overflow"));
            }
            if g == 0.0 && f != 0.0 {
                return Err(DecodeError::new("22003", "value out of range: underflow"));
            }
            S::F64(g as f64)
        }
        (S::F64(f), Kind::Float8) => S::F64(f),
        (S::F64(f), Kind::Numeric) => {
            if f.is_nan() {
                return Err(DecodeError::new(
                    "0A000",
                    "NaN cannot be stored in a numeric column with a fixed precision",
                ));
            }
            if f.is_infinite() {
                return Err(num::numeric_overflow());
            }
            // float8_numeric: via "%.15g"
            let txt = format!("{:.14e}", f);
            S::Decimal(num::parse_numeric(txt.as_bytes(), ct.precision, ct.scale)?, ct.scale)
        }
        (S::F64(f), _) if is_text => S::Str(num::format_float(f, false)),

        (S::Decimal(d, s), Kind::Int2 | Kind::Int4 | Kind::Int8) => {
            let (lo, hi, msg) = int_range(ct.kind);
            let r = binary::rescale_i128(d, s as i64, 0).ok_or_else(|| DecodeError::new("22003", msg))?;
            if r < lo as i128 || r > hi as i128 {
                return Err(DecodeError::new("22003", msg));
            }
            S::I64(r as i64)
        }
        (S::Decimal(d, s), Kind::Float4) => S::F64(num::format_decimal(d, s).parse::<f32>().unwrap_or(0.0) as f64),
        (S::Decimal(d, s), Kind::Float8) => S::F64(num::format_decimal(d, s).parse::<f64>().unwrap_or(0.0)),
        (S::Decimal(d, s), Kind::Numeric) => S::Decimal(decimal_fit(d, s, ct)?, ct.scale),
        (S::Decimal(d, s), _) if is_text => S::Str(num::format_decimal(d, s)),

        (S::Bool(b), Kind::Bool) => S::Bool(b),
        (S::Bool(b), _) if is_text => S::Str(if b { "true" } else { "false" }.to_string()),

        (S::Bytes(b), Kind::Bytea) => S::Bytes(b),
        (S::Bytes(b), _) if is_text => {
            let mut s = String::with_capacity(2 + 2 * b.len());
            s.push_str("\\x");
            for c in b {
                s.push_str(&format!("{c:02x}"));
            }
            S::Str(s)
        }

        (S::Date(d), Kind::Date) => S::Date(d),
        (S::Date(d), Kind::Timestamp | Kind::Timestamptz) => {
            let local = match d {
                i32::MAX => i64::MAX,
                i32::MIN => i64::MIN,
                _ => d as i64 * datetime::USECS_PER_DAY,
            };
            if ct.kind == Kind::Timestamp || local == i64::MAX || local == i64::MIN {
                if ct.kind == Kind::Timestamp { S::TimestampMicros(local) } else { S::TimestamptzMicros(local) }
            } else {
                S::TimestamptzMicros(local - tzu)
            }
        }
        (S::Date(d), _) if is_text => S::Str(datetime::format_date(d)),

        (S::TimestampMicros(t), Kind::Timestamp) => S::TimestampMicros(t),
        (S::TimestampMicros(t), Kind::Timestamptz) => {
            S::TimestamptzMicros(if t == i64::MAX || t == i64::MIN { t } else { t.saturating_sub(tzu) })
        }
        (S::TimestampMicros(t), Kind::Date) => S::Date(ts_to_date(t, 0)?),
        (S::TimestampMicros(t), _) if is_text => S::Str(datetime::format_timestamp(t, None)),

        (S::TimestamptzMicros(t), Kind::Timestamptz) => S::TimestamptzMicros(t),
        (S::TimestamptzMicros(t), Kind::Timestamp) => {
            S::TimestampMicros(if t == i64::MAX || t == i64::MIN { t } else { t.saturating_add(tzu) })
        }
        (S::TimestamptzMicros(t), Kind::Date) => S::Date(ts_to_date(t, tzu)?),
        (S::TimestamptzMicros(t), _) if is_text => S::Str(datetime::format_timestamp(t, Some(tz))),

        (S::IntervalMDN { months, days, nanos }, Kind::Interval) => {
            // PostgreSQL intervals have microsecond resolution.
            S::IntervalMDN { months, days, nanos: nanos - nanos % 1000 }
        }

        (v, _) => return Err(mismatch(ct, &v, col)),
    })
}

fn ts_to_date(t: i64, tzu: i64) -> Result<i32, DecodeError> {
    Ok(match t {
        i64::MAX => i32::MAX,
        i64::MIN => i32::MIN,
        _ => i32::try_from((t + tzu).div_euclid(datetime::USECS_PER_DAY))
            .map_err(|_| DecodeError::new("22008", "date out of range"))?,
    })
}

/// Rescale a decimal to the column's scale and check its precision.
fn decimal_fit(v: i128, scale: i8, ct: &ColType) -> Result<i128, DecodeError> {
    let r = binary::rescale_i128(v, scale as i64, ct.scale as i64).ok_or_else(num::numeric_overflow)?;
    if r.unsigned_abs() >= num::pow10_i128(ct.precision as u32) as u128 {
        return Err(num::numeric_overflow());
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------
// ColumnBuilder

#[derive(Debug)]
enum Inner {
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Dec(Decimal128Builder),
    Str(StringBuilder),
    Bool(BooleanBuilder),
    Bin(BinaryBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
    Iv(IntervalMonthDayNanoBuilder),
    Unsupported(usize),
}

impl Inner {
    fn new(ct: &ColType, cap: usize) -> Inner {
        match ct.kind {
            Kind::Int2 => Inner::I16(Int16Builder::with_capacity(cap)),
            Kind::Int4 => Inner::I32(Int32Builder::with_capacity(cap)),
            Kind::Int8 => Inner::I64(Int64Builder::with_capacity(cap)),
            Kind::Float4 => Inner::F32(Float32Builder::with_capacity(cap)),
            Kind::Float8 => Inner::F64(Float64Builder::with_capacity(cap)),
            Kind::Numeric => {
                let b = Decimal128Builder::with_capacity(cap);
                Inner::Dec(b.with_data_type(ct.dt.clone()))
            }
            Kind::Text | Kind::Varchar | Kind::Json | Kind::Jsonb => {
                Inner::Str(StringBuilder::with_capacity(cap, cap.saturating_mul(16)))
            }
            Kind::Bool => Inner::Bool(BooleanBuilder::with_capacity(cap)),
            Kind::Bytea => Inner::Bin(BinaryBuilder::with_capacity(cap, cap.saturating_mul(16))),
            Kind::Date => Inner::Date(Date32Builder::with_capacity(cap)),
            Kind::Timestamp | Kind::Timestamptz => {
                let b = TimestampMicrosecondBuilder::with_capacity(cap);
                Inner::Ts(b.with_data_type(ct.dt.clone()))
            }
            Kind::Interval => Inner::Iv(IntervalMonthDayNanoBuilder::with_capacity(cap)),
            Kind::Unsupported => Inner::Unsupported(0),
        }
    }
}

/// Appends values for one column into a typed Arrow builder.
///
/// Text input is parsed directly into the builder (no intermediate [`ScalarLike`] for
/// numbers, booleans, dates, timestamps, numerics and text). After an error the builder
/// is unchanged (the failing value was not appended).
#[derive(Debug)]
pub struct ColumnBuilder {
    ct: ColType,
    inner: Inner,
    tz: i32,
    cap: usize,
    name: String,
    nullable: bool,
    scratch: Vec<u8>,
}

impl ColumnBuilder {
    /// A builder for `field` (Arrow type + `strata.pg_type` metadata), pre-sized for
    /// `capacity` values. Unsupported Arrow types build fine but every non-null append
    /// fails with 0A000.
    pub fn new(field: &Field, capacity: usize, session_tz_offset_secs: i32) -> Self {
        let ct = ColType::from_field(field);
        ColumnBuilder {
            inner: Inner::new(&ct, capacity),
            ct,
            tz: session_tz_offset_secs,
            cap: capacity,
            name: field.name().clone(),
            nullable: field.is_nullable(),
            scratch: Vec::new(),
        }
    }

    /// Column name (from the field).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the field allows NULLs (the builder itself accepts NULLs regardless).
    pub fn is_nullable(&self) -> bool {
        self.nullable
    }

    /// Parse `s` in PostgreSQL text input syntax and append it.
    pub fn append_text(&mut self, s: &str) -> Result<(), DecodeError> {
        self.append_text_bytes(s.as_bytes())
    }

    /// Like [`append_text`](Self::append_text) for raw bytes (COPY data); text columns
    /// validate UTF-8 (22021 on invalid bytes or NUL).
    #[inline]
    pub fn append_text_bytes(&mut self, b: &[u8]) -> Result<(), DecodeError> {
        let tz = self.tz;
        match &mut self.inner {
            Inner::I16(bd) => bd.append_value(num::parse_int_checked(b, 2)? as i16),
            Inner::I32(bd) => bd.append_value(num::parse_int_checked(b, 4)? as i32),
            Inner::I64(bd) => bd.append_value(num::parse_int_checked(b, 8)?),
            Inner::F32(bd) => bd.append_value(num::parse_f32(b)?),
            Inner::F64(bd) => bd.append_value(num::parse_f64(b)?),
            Inner::Dec(bd) => bd.append_value(num::parse_numeric(b, self.ct.precision, self.ct.scale)?),
            Inner::Str(bd) => match self.ct.kind {
                Kind::Json => {
                    json::validate_json(b)?;
                    bd.append_value(text_str(b)?)
                }
                Kind::Jsonb => bd.append_value(json::normalize_jsonb(b)?),
                _ => bd.append_value(text_str(b)?),
            },
            Inner::Bool(bd) => bd.append_value(num::parse_bool(b)?),
            Inner::Bin(bd) => {
                self.scratch.clear();
                num::parse_bytea(b, &mut self.scratch)?;
                bd.append_value(&self.scratch)
            }
            Inner::Date(bd) => bd.append_value(datetime::parse_date(b, tz)?),
            Inner::Ts(bd) => bd.append_value(if self.ct.kind == Kind::Timestamp {
                datetime::parse_timestamp(b, tz)?
            } else {
                datetime::parse_timestamptz(b, tz)?
            }),
            Inner::Iv(bd) => {
                let iv = interval::parse_interval(b)?;
                bd.append_value(IntervalMonthDayNano::new(iv.months, iv.days, interval_nanos(iv.usecs)?))
            }
            Inner::Unsupported(_) => return Err(unsupported(&self.ct)),
        }
        Ok(())
    }

    /// Append a NULL.
    #[inline]
    pub fn append_null(&mut self) {
        match &mut self.inner {
            Inner::I16(b) => b.append_null(),
            Inner::I32(b) => b.append_null(),
            Inner::I64(b) => b.append_null(),
            Inner::F32(b) => b.append_null(),
            Inner::F64(b) => b.append_null(),
            Inner::Dec(b) => b.append_null(),
            Inner::Str(b) => b.append_null(),
            Inner::Bool(b) => b.append_null(),
            Inner::Bin(b) => b.append_null(),
            Inner::Date(b) => b.append_null(),
            Inner::Ts(b) => b.append_null(),
            Inner::Iv(b) => b.append_null(),
            Inner::Unsupported(n) => *n += 1,
        }
    }

    /// Append a value of any [`ScalarLike`] variant, converted with PostgreSQL's
    /// assignment-cast rules: `I64` into int2 is range-checked (22003 `smallint out of
    /// range`); `F64` into an int column is rounded half to even (as float8 → int4);
    /// `Decimal` into an int column is rounded half away from zero; `Decimal`/`I64` into
    /// numeric is rescaled and precision-checked (22003 `numeric field overflow`); `Str`
    /// into any column is parsed with [`parse_text_value`]'s syntax; any value except
    /// interval goes into text columns via its PostgreSQL output text; `Date` ↔
    /// `TimestampMicros` ↔ `TimestamptzMicros` convert using the session zone. Other
    /// combinations fail with 42804 `column "x" is of type T but expression is of type U`.
    pub fn append_scalar(&mut self, v: &ScalarLike) -> Result<(), DecodeError> {
        let c = coerce(v.clone(), &self.ct, self.tz, Some(&self.name))?;
        self.append_canonical(c)
    }

    /// Append an owned value (avoids a clone for strings and bytes).
    pub fn append_scalar_owned(&mut self, v: ScalarLike) -> Result<(), DecodeError> {
        let c = coerce(v, &self.ct, self.tz, Some(&self.name))?;
        self.append_canonical(c)
    }

    fn append_canonical(&mut self, v: ScalarLike) -> Result<(), DecodeError> {
        use ScalarLike as S;
        match (&mut self.inner, v) {
            (_, S::Null) => self.append_null(),
            (Inner::I16(b), S::I64(i)) => b.append_value(i as i16),
            (Inner::I32(b), S::I64(i)) => b.append_value(i as i32),
            (Inner::I64(b), S::I64(i)) => b.append_value(i),
            (Inner::F32(b), S::F64(f)) => b.append_value(f as f32),
            (Inner::F64(b), S::F64(f)) => b.append_value(f),
            (Inner::Dec(b), S::Decimal(d, _)) => b.append_value(d),
            (Inner::Str(b), S::Str(s)) => b.append_value(s),
            (Inner::Bool(b), S::Bool(v)) => b.append_value(v),
            (Inner::Bin(b), S::Bytes(v)) => b.append_value(v),
            (Inner::Date(b), S::Date(d)) => b.append_value(d),
            (Inner::Ts(b), S::TimestampMicros(t) | S::TimestamptzMicros(t)) => b.append_value(t),
            (Inner::Iv(b), S::IntervalMDN { months, days, nanos }) => {
                b.append_value(IntervalMonthDayNano::new(months, days, nanos))
            }
            (_, v) => return Err(mismatch(&self.ct, &v, Some(&self.name))),
        }
        Ok(())
    }

    /// Number of values appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        match &self.inner {
            Inner::I16(b) => b.len(),
            Inner::I32(b) => b.len(),
            Inner::I64(b) => b.len(),
            Inner::F32(b) => b.len(),
            Inner::F64(b) => b.len(),
            Inner::Dec(b) => b.len(),
            Inner::Str(b) => b.len(),
            Inner::Bool(b) => b.len(),
            Inner::Bin(b) => b.len(),
            Inner::Date(b) => b.len(),
            Inner::Ts(b) => b.len(),
            Inner::Iv(b) => b.len(),
            Inner::Unsupported(n) => *n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Build the array of everything appended so far and reset the builder (keeping its
    /// capacity for the next batch).
    pub fn finish(&mut self) -> ArrayRef {
        let old = std::mem::replace(&mut self.inner, Inner::new(&self.ct, self.cap));
        match old {
            Inner::I16(mut b) => Arc::new(b.finish()),
            Inner::I32(mut b) => Arc::new(b.finish()),
            Inner::I64(mut b) => Arc::new(b.finish()),
            Inner::F32(mut b) => Arc::new(b.finish()),
            Inner::F64(mut b) => Arc::new(b.finish()),
            Inner::Dec(mut b) => Arc::new(b.finish()),
            Inner::Str(mut b) => Arc::new(b.finish()),
            Inner::Bool(mut b) => Arc::new(b.finish()),
            Inner::Bin(mut b) => Arc::new(b.finish()),
            Inner::Date(mut b) => Arc::new(b.finish()),
            Inner::Ts(mut b) => Arc::new(b.finish()),
            Inner::Iv(mut b) => Arc::new(b.finish()),
            Inner::Unsupported(n) => new_null_array(&self.ct.dt, n),
        }
    }
}

/// Convenience: a one-element Arrow array holding `v` converted for `field`.
pub fn scalar_to_array(v: &ScalarLike, field: &Field, session_tz_offset_secs: i32) -> Result<ArrayRef, DecodeError> {
    let mut b = ColumnBuilder::new(field, 1, session_tz_offset_secs);
    b.append_scalar(v)?;
    Ok(b.finish())
}
