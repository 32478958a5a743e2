//! Arrow value → PostgreSQL text (byte-identical to PostgreSQL 15 with `DateStyle = ISO`,
//! `IntervalStyle = postgres`) or binary (what PostgreSQL's `*send` functions produce).
//!
//! Use [`ColumnEncoder`] on the hot path: it resolves the column's PostgreSQL type and
//! representation once, then [`ColumnEncoder::encode`] (or
//! [`ColumnEncoder::encode_with_len`], which writes the `DataRow` length prefix too)
//! appends one value straight into the output buffer without allocating (except for
//! `jsonb` values, which are parsed to be normalised). [`encode_text`] /
//! [`encode_binary`] are one-shot conveniences that build an encoder per call.
//!
//! The PostgreSQL type of a column is [`crate::oid::pg_type_of_field`]; the encoder
//! produces exactly that type's representation (e.g. an Arrow `UInt32` column is `int8`
//! and is sent as 8 bytes in binary).
//!
//! Documented compromises:
//! - **Unconstrained `numeric`.** Storage keeps `numeric` without a modifier as
//!   `Decimal128(38, 10)`. A field tagged exactly `"numeric"` with type
//!   `Decimal128(38, 10)` is printed with trailing fractional zeros removed (`1.5`, `2`),
//!   which is what PostgreSQL prints for values entered that way; the binary `dscale` is
//!   trimmed the same way. Values whose original text had trailing zeros (`1.50`) print as
//!   `1.5`, unlike PostgreSQL. Every other decimal prints at its scale (`1.50` for
//!   `numeric(5,2)`), including untagged `Decimal128(38, 10)` query results.
//! - **Time zones.** `timestamptz` is rendered at the offset [`TextOptions::timezone`] has
//!   at that instant (fixed offsets, or IANA zones from `chrono-tz`, whose rules end in
//!   2099 where PostgreSQL extrapolates them).
//! - **Sub-microsecond precision** (Arrow nanosecond timestamps, times, intervals) is
//!   dropped: timestamps and times are floored to the microsecond, interval and duration
//!   nanoseconds truncated toward zero.
//! - **Infinity.** `i64::MAX` / `i64::MIN` timestamps (any unit) and `i32::MAX` /
//!   `i32::MIN` `Date32` values are PostgreSQL's `infinity` / `-infinity`.
//! - **jsonb** text that does not parse as JSON is passed through verbatim; `json` is
//!   always passed through verbatim.
//! - Arrow types with no PostgreSQL counterpart (Map, Union, ListView, ...) are reported as
//!   `text` and rendered by Arrow's display formatter in both formats.

mod datetime;
mod float;
mod json;
mod numeric;
mod ryu;
#[cfg(test)]
mod tests;

use std::io::Write as _;

use arrow::array::{
    Array, ArrowPrimitiveType, BinaryArray, BinaryViewArray, BooleanArray, Date32Array,
    Date64Array, Decimal32Array, Decimal64Array, Decimal128Array, Decimal256Array, DictionaryArray,
    DurationMicrosecondArray, DurationMillisecondArray, DurationNanosecondArray,
    DurationSecondArray, FixedSizeBinaryArray, FixedSizeListArray, Float16Array, Float32Array,
    Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, IntervalDayTimeArray,
    IntervalMonthDayNanoArray, IntervalYearMonthArray, LargeBinaryArray, LargeListArray,
    LargeStringArray, ListArray, RunArray, StringArray, StringViewArray, StructArray,
    Time32MillisecondArray, Time32SecondArray, Time64MicrosecondArray, Time64NanosecondArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{
    ArrowDictionaryKeyType, DataType, Field, Int8Type, Int16Type, Int32Type, Int64Type,
    IntervalUnit, RunEndIndexType, TimeUnit, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::oid::{
    PgTypeInfo, char_padding, element_type_of, oids, pg_type_of_field, tag_fits, tag_type,
};
use datetime::{PG_EPOCH_DAYS, PG_EPOCH_USECS};
use numeric::DecDigits;

/// Why a value could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The Arrow type (or the array given) cannot be encoded as the field's type.
    #[error("cannot encode value: {0}")]
    Unsupported(String),
    /// The value has no PostgreSQL representation (e.g. out of range).
    #[error("invalid value: {0}")]
    Invalid(String),
}

pub use crate::tz::TimeZoneSetting;

/// JSON text rendered as PostgreSQL prints a `jsonb` value (keys sorted by length then
/// bytes, one space after `:` and `,`); None if `src` is not JSON.
pub fn jsonb_text(src: &str) -> Option<String> {
    let mut out = Vec::with_capacity(src.len() + 8);
    if json::write_jsonb(&mut out, src) {
        String::from_utf8(out).ok()
    } else {
        None
    }
}

/// Session settings that affect text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    /// The session `TimeZone` (for `timestamptz`). Default UTC.
    pub timezone: TimeZoneSetting,
    /// The session `extra_float_digits` (PostgreSQL clamps it to -15..=3). Default 1.
    pub extra_float_digits: i32,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            timezone: TimeZoneSetting::UTC,
            extra_float_digits: 1,
        }
    }
}

/// Appends the PostgreSQL text representation of `array[row]` (typed per `field`) to
/// `out`. Returns false (and appends nothing) if the value is NULL.
pub fn encode_text(
    array: &dyn Array,
    field: &Field,
    row: usize,
    opts: &TextOptions,
    out: &mut Vec<u8>,
) -> Result<bool, EncodeError> {
    ColumnEncoder::new(field, false, opts).encode(array, row, out)
}

/// Appends the PostgreSQL binary (send) representation of `array[row]`. Returns false
/// (and appends nothing) if the value is NULL.
pub fn encode_binary(
    array: &dyn Array,
    field: &Field,
    row: usize,
    out: &mut Vec<u8>,
) -> Result<bool, EncodeError> {
    ColumnEncoder::new(field, true, &TextOptions::default()).encode(array, row, out)
}

/// Encoder for one result column, resolved once from its [`Field`].
#[derive(Debug, Clone)]
pub struct ColumnEncoder {
    enc: Enc,
    binary: bool,
    opts: TextOptions,
    pg_type: PgTypeInfo,
}

impl ColumnEncoder {
    /// An encoder for values of `field`, in binary (`true`) or text format.
    pub fn new(field: &Field, binary: bool, opts: &TextOptions) -> Self {
        ColumnEncoder {
            enc: Enc::for_field(field),
            binary,
            opts: *opts,
            pg_type: pg_type_of_field(field),
        }
    }

    /// The PostgreSQL type the values are encoded as (for `RowDescription`).
    pub fn pg_type(&self) -> PgTypeInfo {
        self.pg_type
    }

    /// Is this encoder producing the binary format?
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    /// Appends the value at `row` of `array` (an array of the field's type) to `out`.
    /// Returns false, appending nothing, if it is NULL. On error `out` is left as it was.
    #[inline]
    pub fn encode(
        &self,
        array: &dyn Array,
        row: usize,
        out: &mut Vec<u8>,
    ) -> Result<bool, EncodeError> {
        let mark = out.len();
        let r = if self.binary {
            self.enc.binary(array, row, out)
        } else {
            self.enc.text(array, row, &self.opts, out)
        };
        if r.is_err() {
            out.truncate(mark);
        }
        r
    }

    /// Appends the value as a `DataRow` column: a big-endian i32 length then the bytes, or
    /// length -1 for NULL. On error `out` is left as it was.
    #[inline]
    pub fn encode_with_len(
        &self,
        array: &dyn Array,
        row: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let mark = out.len();
        out.extend_from_slice(&[0; 4]);
        match self.encode(array, row, out) {
            Ok(true) => patch_len(out, mark),
            Ok(false) => {
                out[mark..mark + 4].copy_from_slice(&(-1i32).to_be_bytes());
                Ok(())
            }
            Err(e) => {
                out.truncate(mark);
                Err(e)
            }
        }
    }
}

/// A column of one batch bound to its encoder ([`ColumnEncoder::bind`]).
///
/// The generic path downcasts the array and goes through [`Val`] for every value. A
/// result set of float8 and text columns (a `SELECT *` over a metrics table) spent about
/// a third of its encoding time there; those types are downcast once per batch here
/// and written directly. Their output is the same bytes as the generic path's.
#[derive(Debug)]
pub struct BoundColumn<'a> {
    enc: &'a ColumnEncoder,
    array: &'a dyn Array,
    fast: Fast<'a>,
}

#[derive(Debug)]
enum Fast<'a> {
    F64Text(&'a Float64Array),
    F64Binary(&'a Float64Array),
    /// Plain text (not `jsonb` or `char(n)`): the same bytes in both formats.
    Str(&'a StringArray),
    StrView(&'a StringViewArray),
    Generic,
}

impl ColumnEncoder {
    /// `array` (a column of the field's type) ready to encode row by row.
    pub fn bind<'a>(&'a self, array: &'a dyn Array) -> BoundColumn<'a> {
        let any = array.as_any();
        let fast = match (&self.enc, self.binary) {
            (Enc::F64, false) => any.downcast_ref().map(Fast::F64Text),
            (Enc::F64, true) => any.downcast_ref().map(Fast::F64Binary),
            (
                Enc::Utf8 {
                    kind: StrKind::Plain,
                },
                _,
            ) => any.downcast_ref().map(Fast::Str),
            (
                Enc::Utf8View {
                    kind: StrKind::Plain,
                },
                _,
            ) => any.downcast_ref().map(Fast::StrView),
            _ => None,
        };
        BoundColumn {
            enc: self,
            array,
            fast: fast.unwrap_or(Fast::Generic),
        }
    }
}

impl BoundColumn<'_> {
    /// [`ColumnEncoder::encode_with_len`] of the bound column's value at `row`.
    #[inline]
    pub fn encode_with_len(&self, row: usize, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let bytes = |out: &mut Vec<u8>, b: &[u8]| {
            let len = i32::try_from(b.len())
                .map_err(|_| EncodeError::Invalid("value longer than 2 GiB".into()))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(b);
            Ok(())
        };
        match self.fast {
            Fast::Generic => self.enc.encode_with_len(self.array, row, out),
            _ if self.array.is_null(row) => {
                out.extend_from_slice(&(-1i32).to_be_bytes());
                Ok(())
            }
            Fast::F64Text(a) => {
                let mark = out.len();
                out.extend_from_slice(&[0; 4]);
                float::write_f64(out, a.value(row), self.enc.opts.extra_float_digits);
                patch_len(out, mark)
            }
            Fast::F64Binary(a) => bytes(out, &a.value(row).to_be_bytes()),
            Fast::Str(a) => bytes(out, a.value(row).as_bytes()),
            Fast::StrView(a) => bytes(out, a.value(row).as_bytes()),
        }
    }
}

/// Writes the length of what follows the 4-byte placeholder at `mark`.
fn patch_len(out: &mut [u8], mark: usize) -> Result<(), EncodeError> {
    let len = i32::try_from(out.len() - mark - 4)
        .map_err(|_| EncodeError::Invalid("value longer than 2 GiB".into()))?;
    out[mark..mark + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// integer formatting

const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    let mut tmp = [0u8; 20];
    let start = u64_digits(v, &mut tmp);
    out.extend_from_slice(&tmp[start..]);
}

/// Writes the decimal digits of `v` at the end of `tmp`, two at a time; returns where
/// they start.
#[inline]
pub(crate) fn u64_digits(mut v: u64, tmp: &mut [u8; 20]) -> usize {
    let mut i = tmp.len();
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        i -= 1;
        tmp[i] = b'0' + v as u8;
    }
    i
}

pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

// ---------------------------------------------------------------------------------------
// resolved column representation

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    List,
    Large,
    Fixed,
}

#[derive(Debug, Clone)]
enum Enc {
    /// Arrow `Null`: every value is NULL.
    Null,
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    /// `numeric`
    U64,
    F16,
    F32,
    F64,
    Dec32 {
        scale: i8,
    },
    Dec64 {
        scale: i8,
    },
    Dec128 {
        scale: i8,
        trim: bool,
    },
    Dec256 {
        scale: i8,
    },
    Utf8 {
        kind: StrKind,
    },
    LargeUtf8 {
        kind: StrKind,
    },
    Utf8View {
        kind: StrKind,
    },
    Binary,
    LargeBinary,
    BinaryView,
    FixedBinary,
    Date32,
    Date64,
    Time(DataType),
    Timestamp {
        unit: TimeUnit,
        tz: bool,
    },
    IntervalYM,
    IntervalDT,
    IntervalMDN,
    Duration(TimeUnit),
    List {
        kind: ListKind,
        elem: Box<Enc>,
        elem_oid: u32,
    },
    Dict {
        key: DataType,
        values: Box<Enc>,
    },
    RunEnd {
        run: DataType,
        values: Box<Enc>,
    },
    Struct {
        fields: Vec<(Enc, u32)>,
    },
    /// No PostgreSQL counterpart: Arrow's display text, typed `text`.
    Display,
}

/// One scalar value, extracted from its array.
enum Val<'a> {
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Dec {
        neg: bool,
        digits: DecDigits,
        scale: i32,
        trim: bool,
    },
    Str(&'a str),
    Jsonb(&'a str),
    /// a `char(n)` value (without trailing spaces) and `n`
    Padded(&'a str, usize),
    Bytes(&'a [u8]),
    /// days since 1970-01-01; `i32::MAX`/`i32::MIN` are ±infinity
    Date(i64),
    /// microseconds since midnight
    Time(i64),
    /// microseconds since the Unix epoch; `i64::MAX`/`i64::MIN` are ±infinity
    Ts {
        usecs: i64,
        tz: bool,
    },
    Interval {
        months: i32,
        days: i32,
        usecs: i64,
    },
}

fn downcast<T: 'static>(array: &dyn Array) -> Result<&T, EncodeError> {
    array.as_any().downcast_ref::<T>().ok_or_else(|| {
        EncodeError::Unsupported(format!(
            "array of type {} does not match the column's type",
            array.data_type()
        ))
    })
}

fn out_of_range(what: &str) -> EncodeError {
    EncodeError::Invalid(format!("{what} out of range"))
}

/// Timestamp value in `unit` → microseconds (floored), keeping the ±infinity sentinels.
fn ts_usecs(v: i64, unit: TimeUnit) -> Result<i64, EncodeError> {
    if v == i64::MAX || v == i64::MIN {
        return Ok(v);
    }
    match unit {
        TimeUnit::Second => v
            .checked_mul(1_000_000)
            .ok_or_else(|| out_of_range("timestamp")),
        TimeUnit::Millisecond => v
            .checked_mul(1_000)
            .ok_or_else(|| out_of_range("timestamp")),
        TimeUnit::Microsecond => Ok(v),
        TimeUnit::Nanosecond => Ok(v.div_euclid(1_000)),
    }
}

/// Duration in `unit` → microseconds (truncated toward zero).
fn dur_usecs(v: i64, unit: TimeUnit) -> Result<i64, EncodeError> {
    match unit {
        TimeUnit::Second => v
            .checked_mul(1_000_000)
            .ok_or_else(|| out_of_range("interval")),
        TimeUnit::Millisecond => v.checked_mul(1_000).ok_or_else(|| out_of_range("interval")),
        TimeUnit::Microsecond => Ok(v),
        TimeUnit::Nanosecond => Ok(v / 1_000),
    }
}

impl Enc {
    fn for_field(field: &Field) -> Enc {
        let tag = tag_type(field).map(|t| t.oid);
        let mut enc = Enc::build(field.data_type(), tag);
        // char(n): blank-padded to n characters
        if let Some(n) = char_padding(field)
            && let Enc::Utf8 { kind } | Enc::LargeUtf8 { kind } | Enc::Utf8View { kind } = &mut enc
        {
            *kind = StrKind::Padded(n);
        }
        enc
    }

    /// `tag`: the OID of the field's (valid) metadata tag.
    fn build(dt: &DataType, tag: Option<u32>) -> Enc {
        use DataType as D;
        let kind = if tag == Some(oids::JSONB) {
            StrKind::Jsonb
        } else {
            StrKind::Plain
        };
        match dt {
            D::Null => Enc::Null,
            D::Boolean => Enc::Bool,
            D::Int8 => Enc::I8,
            D::Int16 => Enc::I16,
            D::Int32 => Enc::I32,
            D::Int64 => Enc::I64,
            D::UInt8 => Enc::U8,
            D::UInt16 => Enc::U16,
            D::UInt32 => Enc::U32,
            D::UInt64 => Enc::U64,
            D::Float16 => Enc::F16,
            D::Float32 => Enc::F32,
            D::Float64 => Enc::F64,
            D::Decimal32(_, s) => Enc::Dec32 { scale: *s },
            D::Decimal64(_, s) => Enc::Dec64 { scale: *s },
            D::Decimal128(p, s) => Enc::Dec128 {
                scale: *s,
                trim: tag == Some(oids::NUMERIC) && *p == 38 && *s == 10,
            },
            D::Decimal256(_, s) => Enc::Dec256 { scale: *s },
            D::Utf8 => Enc::Utf8 { kind },
            D::LargeUtf8 => Enc::LargeUtf8 { kind },
            D::Utf8View => Enc::Utf8View { kind },
            D::Binary => Enc::Binary,
            D::LargeBinary => Enc::LargeBinary,
            D::BinaryView => Enc::BinaryView,
            D::FixedSizeBinary(_) => Enc::FixedBinary,
            D::Date32 => Enc::Date32,
            D::Date64 => Enc::Date64,
            D::Time32(_) | D::Time64(_) => Enc::Time(dt.clone()),
            D::Timestamp(unit, tz) => Enc::Timestamp {
                unit: *unit,
                tz: match tag {
                    Some(oids::TIMESTAMPTZ) => true,
                    Some(oids::TIMESTAMP) => false,
                    _ => tz.is_some(),
                },
            },
            D::Interval(IntervalUnit::YearMonth) => Enc::IntervalYM,
            D::Interval(IntervalUnit::DayTime) => Enc::IntervalDT,
            D::Interval(IntervalUnit::MonthDayNano) => Enc::IntervalMDN,
            D::Duration(unit) => Enc::Duration(*unit),
            D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => {
                let kind = match dt {
                    D::List(_) => ListKind::List,
                    D::LargeList(_) => ListKind::Large,
                    _ => ListKind::Fixed,
                };
                // a tag on the list (`_oid`) names the element type
                let t = match tag.and_then(element_type_of) {
                    Some(e) if tag_fits(e.oid, f.data_type()) => e,
                    _ => pg_type_of_field(f),
                };
                let elem_oid = t.element().map_or(t.oid, |e| e.oid);
                Enc::List {
                    kind,
                    elem: Box::new(Enc::for_field(f)),
                    elem_oid,
                }
            }
            D::Dictionary(k, v) if k.is_dictionary_key_type() => Enc::Dict {
                key: (**k).clone(),
                values: Box::new(Enc::build(v, tag)),
            },
            D::RunEndEncoded(r, v) => Enc::RunEnd {
                run: r.data_type().clone(),
                values: Box::new(Enc::build(
                    v.data_type(),
                    tag.or(tag_type(v).map(|t| t.oid)),
                )),
            },
            D::Struct(fields) => Enc::Struct {
                fields: fields
                    .iter()
                    .map(|f| (Enc::for_field(f), pg_type_of_field(f).oid))
                    .collect(),
            },
            _ => Enc::Display,
        }
    }

    /// The scalar at `row` (which is not null) of a leaf-typed array.
    fn scalar<'a>(&self, a: &'a dyn Array, row: usize) -> Result<Val<'a>, EncodeError> {
        Ok(match self {
            Enc::Bool => Val::Bool(downcast::<BooleanArray>(a)?.value(row)),
            Enc::I8 => Val::I16(i16::from(downcast::<Int8Array>(a)?.value(row))),
            Enc::I16 => Val::I16(downcast::<Int16Array>(a)?.value(row)),
            Enc::I32 => Val::I32(downcast::<Int32Array>(a)?.value(row)),
            Enc::I64 => Val::I64(downcast::<Int64Array>(a)?.value(row)),
            Enc::U8 => Val::I16(i16::from(downcast::<UInt8Array>(a)?.value(row))),
            Enc::U16 => Val::I32(i32::from(downcast::<UInt16Array>(a)?.value(row))),
            Enc::U32 => Val::I64(i64::from(downcast::<UInt32Array>(a)?.value(row))),
            Enc::U64 => Val::Dec {
                neg: false,
                digits: DecDigits::from_u64(downcast::<UInt64Array>(a)?.value(row)),
                scale: 0,
                trim: false,
            },
            Enc::F16 => Val::F32(downcast::<Float16Array>(a)?.value(row).to_f32()),
            Enc::F32 => Val::F32(downcast::<Float32Array>(a)?.value(row)),
            Enc::F64 => Val::F64(downcast::<Float64Array>(a)?.value(row)),
            Enc::Dec32 { scale } => dec_val(
                i128::from(downcast::<Decimal32Array>(a)?.value(row)),
                *scale,
                false,
            ),
            Enc::Dec64 { scale } => dec_val(
                i128::from(downcast::<Decimal64Array>(a)?.value(row)),
                *scale,
                false,
            ),
            Enc::Dec128 { scale, trim } => {
                dec_val(downcast::<Decimal128Array>(a)?.value(row), *scale, *trim)
            }
            Enc::Dec256 { scale } => {
                let (neg, digits) =
                    DecDigits::from_i256(downcast::<Decimal256Array>(a)?.value(row));
                Val::Dec {
                    neg,
                    digits,
                    scale: i32::from(*scale),
                    trim: false,
                }
            }
            Enc::Utf8 { kind } => str_val(downcast::<StringArray>(a)?.value(row), *kind),
            Enc::LargeUtf8 { kind } => str_val(downcast::<LargeStringArray>(a)?.value(row), *kind),
            Enc::Utf8View { kind } => str_val(downcast::<StringViewArray>(a)?.value(row), *kind),
            Enc::Binary => Val::Bytes(downcast::<BinaryArray>(a)?.value(row)),
            Enc::LargeBinary => Val::Bytes(downcast::<LargeBinaryArray>(a)?.value(row)),
            Enc::BinaryView => Val::Bytes(downcast::<BinaryViewArray>(a)?.value(row)),
            Enc::FixedBinary => Val::Bytes(downcast::<FixedSizeBinaryArray>(a)?.value(row)),
            Enc::Date32 => Val::Date(i64::from(downcast::<Date32Array>(a)?.value(row))),
            Enc::Date64 => {
                let ms = downcast::<Date64Array>(a)?.value(row);
                Val::Date(match ms {
                    i64::MAX => i64::from(i32::MAX),
                    i64::MIN => i64::from(i32::MIN),
                    ms => ms.div_euclid(86_400_000),
                })
            }
            Enc::Time(dt) => Val::Time(match dt {
                DataType::Time32(TimeUnit::Second) => {
                    i64::from(downcast::<Time32SecondArray>(a)?.value(row)) * 1_000_000
                }
                DataType::Time32(_) => {
                    i64::from(downcast::<Time32MillisecondArray>(a)?.value(row)) * 1_000
                }
                DataType::Time64(TimeUnit::Nanosecond) => downcast::<Time64NanosecondArray>(a)?
                    .value(row)
                    .div_euclid(1_000),
                _ => downcast::<Time64MicrosecondArray>(a)?.value(row),
            }),
            Enc::Timestamp { unit, tz } => {
                let v = match unit {
                    TimeUnit::Second => downcast::<TimestampSecondArray>(a)?.value(row),
                    TimeUnit::Millisecond => downcast::<TimestampMillisecondArray>(a)?.value(row),
                    TimeUnit::Microsecond => downcast::<TimestampMicrosecondArray>(a)?.value(row),
                    TimeUnit::Nanosecond => downcast::<TimestampNanosecondArray>(a)?.value(row),
                };
                Val::Ts {
                    usecs: ts_usecs(v, *unit)?,
                    tz: *tz,
                }
            }
            Enc::IntervalYM => Val::Interval {
                months: downcast::<IntervalYearMonthArray>(a)?.value(row),
                days: 0,
                usecs: 0,
            },
            Enc::IntervalDT => {
                let v = downcast::<IntervalDayTimeArray>(a)?.value(row);
                Val::Interval {
                    months: 0,
                    days: v.days,
                    usecs: i64::from(v.milliseconds) * 1_000,
                }
            }
            Enc::IntervalMDN => {
                let v = downcast::<IntervalMonthDayNanoArray>(a)?.value(row);
                Val::Interval {
                    months: v.months,
                    days: v.days,
                    usecs: v.nanoseconds / 1_000,
                }
            }
            Enc::Duration(unit) => {
                let v = match unit {
                    TimeUnit::Second => downcast::<DurationSecondArray>(a)?.value(row),
                    TimeUnit::Millisecond => downcast::<DurationMillisecondArray>(a)?.value(row),
                    TimeUnit::Microsecond => downcast::<DurationMicrosecondArray>(a)?.value(row),
                    TimeUnit::Nanosecond => downcast::<DurationNanosecondArray>(a)?.value(row),
                };
                // A duration comes from subtracting timestamps; PostgreSQL's timestamp_mi
                // justifies whole 24-hour periods into days (`1 day 23:59:50`).
                let us = dur_usecs(v, *unit)?;
                const DAY_US: i64 = 86_400_000_000;
                Val::Interval {
                    months: 0,
                    days: (us / DAY_US) as i32,
                    usecs: us % DAY_US,
                }
            }
            Enc::Null
            | Enc::List { .. }
            | Enc::Dict { .. }
            | Enc::RunEnd { .. }
            | Enc::Struct { .. }
            | Enc::Display => unreachable!("not a scalar encoder"),
        })
    }

    /// Text of `a[row]`; false if NULL.
    fn text(
        &self,
        a: &dyn Array,
        row: usize,
        opts: &TextOptions,
        out: &mut Vec<u8>,
    ) -> Result<bool, EncodeError> {
        if matches!(self, Enc::Null) || a.is_null(row) {
            return Ok(false);
        }
        match self {
            Enc::List { kind, elem, .. } => {
                let (values, start, end) = list_range(*kind, a, row)?;
                out.push(b'{');
                for i in start..end {
                    if i > start {
                        out.push(b',');
                    }
                    let mark = out.len();
                    if !elem.text(values, i, opts, out)? {
                        out.extend_from_slice(b"NULL");
                    } else if !matches!(**elem, Enc::List { .. }) {
                        quote_in_place(out, mark, Quoting::Array);
                    }
                }
                out.push(b'}');
                Ok(true)
            }
            Enc::Dict { key, values } => {
                let (v, i) = dict_lookup(key, a, row)?;
                values.text(v, i, opts, out)
            }
            Enc::RunEnd { run, values } => {
                let (v, i) = run_lookup(run, a, row)?;
                values.text(v, i, opts, out)
            }
            Enc::Struct { fields } => {
                let s = downcast::<StructArray>(a)?;
                out.push(b'(');
                for (i, (enc, _)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let mark = out.len();
                    if enc.text(s.column(i).as_ref(), row, opts, out)? {
                        quote_in_place(out, mark, Quoting::Record);
                    }
                }
                out.push(b')');
                Ok(true)
            }
            Enc::Display => display(a, row, out),
            _ => {
                write_text(self.scalar(a, row)?, opts, out);
                Ok(true)
            }
        }
    }

    /// Binary of `a[row]`; false if NULL.
    fn binary(&self, a: &dyn Array, row: usize, out: &mut Vec<u8>) -> Result<bool, EncodeError> {
        if matches!(self, Enc::Null) || a.is_null(row) {
            return Ok(false);
        }
        match self {
            Enc::List { .. } => {
                self.binary_array(a, row, out)?;
                Ok(true)
            }
            Enc::Dict { key, values } => {
                let (v, i) = dict_lookup(key, a, row)?;
                values.binary(v, i, out)
            }
            Enc::RunEnd { run, values } => {
                let (v, i) = run_lookup(run, a, row)?;
                values.binary(v, i, out)
            }
            Enc::Struct { fields } => {
                // record_send: ncolumns, then (type oid, length or -1, bytes) per column
                let s = downcast::<StructArray>(a)?;
                out.extend_from_slice(&(fields.len() as i32).to_be_bytes());
                for (i, (enc, oid)) in fields.iter().enumerate() {
                    out.extend_from_slice(&oid.to_be_bytes());
                    with_len(out, |out| enc.binary(s.column(i).as_ref(), row, out))?;
                }
                Ok(true)
            }
            Enc::Display => display(a, row, out),
            _ => {
                write_binary(self.scalar(a, row)?, out)?;
                Ok(true)
            }
        }
    }

    /// `array_send` of the (non-null) list at `a[row]`; nested lists are dimensions.
    fn binary_array(
        &self,
        a: &dyn Array,
        row: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        const MAXDIM: usize = 6;
        let mut dims = [0usize; MAXDIM];
        let mut ndim = 0;
        let mut leaf_oid = oids::TEXT;
        // walk down the first elements to learn the dimensions
        let (mut enc, mut arr, mut r) = (self, a, row);
        while let Enc::List {
            kind,
            elem,
            elem_oid,
        } = enc
        {
            if ndim == MAXDIM {
                return Err(EncodeError::Invalid(format!(
                    "number of array dimensions exceeds the maximum allowed ({MAXDIM})"
                )));
            }
            let (values, start, end) = list_range(*kind, arr, r)?;
            dims[ndim] = end - start;
            ndim += 1;
            leaf_oid = *elem_oid;
            if end == start || !matches!(**elem, Enc::List { .. }) {
                break;
            }
            if values.is_null(start) {
                return Err(ragged());
            }
            (enc, arr, r) = (elem, values, start);
        }
        out.extend_from_slice(
            &(if dims[..ndim].contains(&0) {
                0i32
            } else {
                ndim as i32
            })
            .to_be_bytes(),
        );
        let hasnull_at = out.len();
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&leaf_oid.to_be_bytes());
        if dims[..ndim].contains(&0) {
            return Ok(());
        }
        for &d in &dims[..ndim] {
            let d = i32::try_from(d).map_err(|_| out_of_range("array size"))?;
            out.extend_from_slice(&d.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
        }
        let mut hasnull = false;
        self.binary_elements(a, row, &dims[1..ndim], &mut hasnull, out)?;
        if hasnull {
            out[hasnull_at..hasnull_at + 4].copy_from_slice(&1i32.to_be_bytes());
        }
        Ok(())
    }

    fn binary_elements(
        &self,
        a: &dyn Array,
        row: usize,
        inner_dims: &[usize],
        hasnull: &mut bool,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let Enc::List { kind, elem, .. } = self else {
            unreachable!("list encoder")
        };
        let (values, start, end) = list_range(*kind, a, row)?;
        for i in start..end {
            if let Some((&d, rest)) = inner_dims.split_first() {
                if values.is_null(i) || list_range_len(elem, values, i)? != d {
                    return Err(ragged());
                }
                elem.binary_elements(values, i, rest, hasnull, out)?;
            } else if !with_len(out, |out| elem.binary(values, i, out))? {
                *hasnull = true;
            }
        }
        Ok(())
    }
}

fn ragged() -> EncodeError {
    EncodeError::Invalid(
        "multidimensional arrays must have sub-arrays with matching dimensions".into(),
    )
}

fn list_range_len(enc: &Enc, a: &dyn Array, row: usize) -> Result<usize, EncodeError> {
    let Enc::List { kind, .. } = enc else {
        return Err(ragged());
    };
    let (_, s, e) = list_range(*kind, a, row)?;
    Ok(e - s)
}

/// Writes a 4-byte length placeholder, the value, then patches the length (-1 if NULL).
/// Returns whether the value was non-null.
fn with_len(
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut Vec<u8>) -> Result<bool, EncodeError>,
) -> Result<bool, EncodeError> {
    let mark = out.len();
    out.extend_from_slice(&[0; 4]);
    if f(out)? {
        patch_len(out, mark)?;
        Ok(true)
    } else {
        out.truncate(mark);
        out.extend_from_slice(&(-1i32).to_be_bytes());
        Ok(false)
    }
}

fn dec_val<'a>(v: i128, scale: i8, trim: bool) -> Val<'a> {
    Val::Dec {
        neg: v < 0,
        digits: DecDigits::from_u128(v.unsigned_abs()),
        scale: i32::from(scale),
        trim,
    }
}

/// How a string column's values are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrKind {
    Plain,
    Jsonb,
    /// `char(n)`: trailing spaces cut, then blank-padded to `n` characters.
    Padded(usize),
}

fn str_val(s: &str, kind: StrKind) -> Val<'_> {
    match kind {
        StrKind::Plain => Val::Str(s),
        StrKind::Jsonb => Val::Jsonb(s),
        StrKind::Padded(n) => Val::Padded(s.trim_end_matches(' '), n),
    }
}

/// `s` followed by spaces up to `n` characters.
fn write_padded(out: &mut Vec<u8>, s: &str, n: usize) {
    out.extend_from_slice(s.as_bytes());
    let len = s.chars().count();
    out.resize(out.len() + n.saturating_sub(len), b' ');
}

/// (child values, start, end) of the list at `row`.
fn list_range(
    kind: ListKind,
    a: &dyn Array,
    row: usize,
) -> Result<(&dyn Array, usize, usize), EncodeError> {
    Ok(match kind {
        ListKind::List => {
            let l = downcast::<ListArray>(a)?;
            let o = l.value_offsets();
            (l.values().as_ref(), o[row] as usize, o[row + 1] as usize)
        }
        ListKind::Large => {
            let l = downcast::<LargeListArray>(a)?;
            let o = l.value_offsets();
            (l.values().as_ref(), o[row] as usize, o[row + 1] as usize)
        }
        ListKind::Fixed => {
            let l = downcast::<FixedSizeListArray>(a)?;
            let start = l.value_offset(row) as usize;
            (
                l.values().as_ref(),
                start,
                start + l.value_length() as usize,
            )
        }
    })
}

fn dict_index<K: ArrowDictionaryKeyType>(
    a: &dyn Array,
    row: usize,
) -> Result<(&dyn Array, usize), EncodeError>
where
    <K as ArrowPrimitiveType>::Native: TryInto<usize>,
{
    let d = downcast::<DictionaryArray<K>>(a)?;
    let k = d.keys().value(row);
    let i = k
        .try_into()
        .map_err(|_| EncodeError::Invalid("negative dictionary key".into()))?;
    Ok((d.values().as_ref(), i))
}

fn dict_lookup<'a>(
    key: &DataType,
    a: &'a dyn Array,
    row: usize,
) -> Result<(&'a dyn Array, usize), EncodeError> {
    match key {
        DataType::Int8 => dict_index::<Int8Type>(a, row),
        DataType::Int16 => dict_index::<Int16Type>(a, row),
        DataType::Int32 => dict_index::<Int32Type>(a, row),
        DataType::Int64 => dict_index::<Int64Type>(a, row),
        DataType::UInt8 => dict_index::<UInt8Type>(a, row),
        DataType::UInt16 => dict_index::<UInt16Type>(a, row),
        DataType::UInt32 => dict_index::<UInt32Type>(a, row),
        DataType::UInt64 => dict_index::<UInt64Type>(a, row),
        other => Err(EncodeError::Unsupported(format!(
            "dictionary key type {other}"
        ))),
    }
}

fn run_index<R: RunEndIndexType>(
    a: &dyn Array,
    row: usize,
) -> Result<(&dyn Array, usize), EncodeError> {
    let r = downcast::<RunArray<R>>(a)?;
    Ok((r.values().as_ref(), r.get_physical_index(row)))
}

fn run_lookup<'a>(
    run: &DataType,
    a: &'a dyn Array,
    row: usize,
) -> Result<(&'a dyn Array, usize), EncodeError> {
    match run {
        DataType::Int16 => run_index::<Int16Type>(a, row),
        DataType::Int32 => run_index::<Int32Type>(a, row),
        DataType::Int64 => run_index::<Int64Type>(a, row),
        other => Err(EncodeError::Unsupported(format!("run-end type {other}"))),
    }
}

/// Arrow's display text (for types without a PostgreSQL counterpart).
fn display(a: &dyn Array, row: usize, out: &mut Vec<u8>) -> Result<bool, EncodeError> {
    let f = ArrayFormatter::try_new(a, &FormatOptions::default())
        .map_err(|e| EncodeError::Unsupported(e.to_string()))?;
    write!(out, "{}", f.value(row)).map_err(|e| EncodeError::Unsupported(e.to_string()))?;
    Ok(true)
}

#[derive(Clone, Copy)]
enum Quoting {
    /// `array_out`: quote if empty, `NULL`, or containing `{}",\` or whitespace;
    /// escape `"` and `\` with a backslash.
    Array,
    /// `record_out`: quote if empty or containing `()",\` or whitespace; double `"`
    /// and `\`.
    Record,
}

/// Quotes the element text `out[mark..]` in place if PostgreSQL would.
fn quote_in_place(out: &mut Vec<u8>, mark: usize, q: Quoting) {
    let s = &out[mark..];
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let needs = s.is_empty()
        || match q {
            Quoting::Array => {
                s.eq_ignore_ascii_case(b"NULL")
                    || s.iter()
                        .any(|&c| matches!(c, b'"' | b'\\' | b'{' | b'}' | b',') || is_space(c))
            }
            Quoting::Record => s
                .iter()
                .any(|&c| matches!(c, b'"' | b'\\' | b'(' | b')' | b',') || is_space(c)),
        };
    if !needs {
        return;
    }
    let extra = s.iter().filter(|&&c| c == b'"' || c == b'\\').count();
    let old_len = out.len();
    let new_len = old_len + 2 + extra;
    out.resize(new_len, 0);
    let mut w = new_len - 1;
    out[w] = b'"';
    let mut r = old_len;
    while r > mark {
        r -= 1;
        let c = out[r];
        w -= 1;
        out[w] = c;
        if c == b'"' || c == b'\\' {
            w -= 1;
            out[w] = match q {
                Quoting::Array => b'\\',
                Quoting::Record => c,
            };
        }
    }
    w -= 1;
    out[w] = b'"';
    debug_assert_eq!(w, mark);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_text(v: Val<'_>, opts: &TextOptions, out: &mut Vec<u8>) {
    match v {
        Val::Bool(b) => out.push(if b { b't' } else { b'f' }),
        Val::I16(i) => write_i64(out, i64::from(i)),
        Val::I32(i) => write_i64(out, i64::from(i)),
        Val::I64(i) => write_i64(out, i),
        Val::F32(f) => float::write_f32(out, f, opts.extra_float_digits),
        Val::F64(f) => float::write_f64(out, f, opts.extra_float_digits),
        Val::Dec {
            neg,
            digits,
            scale,
            trim,
        } => numeric::write_text(out, neg, digits.digits(), scale, trim),
        Val::Str(s) => out.extend_from_slice(s.as_bytes()),
        Val::Padded(s, n) => write_padded(out, s, n),
        Val::Jsonb(s) => {
            if !json::write_jsonb(out, s) {
                out.extend_from_slice(s.as_bytes());
            }
        }
        Val::Bytes(b) => {
            out.reserve(2 + 2 * b.len());
            out.extend_from_slice(b"\\x");
            for &c in b {
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 15)]);
            }
        }
        Val::Date(d) => datetime::write_date(out, d),
        Val::Time(us) => datetime::write_time_of_day(out, us),
        Val::Ts { usecs, tz } => datetime::write_timestamp(
            out,
            usecs,
            tz.then(|| opts.timezone.utc_offset_usecs(usecs)),
        ),
        Val::Interval {
            months,
            days,
            usecs,
        } => datetime::write_interval(out, months, days, usecs),
    }
}

fn write_binary(v: Val<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match v {
        Val::Bool(b) => out.push(u8::from(b)),
        Val::I16(i) => out.extend_from_slice(&i.to_be_bytes()),
        Val::I32(i) => out.extend_from_slice(&i.to_be_bytes()),
        Val::I64(i) => out.extend_from_slice(&i.to_be_bytes()),
        Val::F32(f) => out.extend_from_slice(&f.to_bits().to_be_bytes()),
        Val::F64(f) => out.extend_from_slice(&f.to_bits().to_be_bytes()),
        Val::Dec {
            neg,
            digits,
            scale,
            trim,
        } => numeric::write_binary(out, neg, digits.digits(), scale, trim),
        Val::Str(s) => out.extend_from_slice(s.as_bytes()),
        Val::Padded(s, n) => write_padded(out, s, n),
        Val::Jsonb(s) => {
            out.push(1);
            if !json::write_jsonb(out, s) {
                out.extend_from_slice(s.as_bytes());
            }
        }
        Val::Bytes(b) => out.extend_from_slice(b),
        Val::Date(d) => {
            let pg = if d == i64::from(i32::MAX) || d == i64::from(i32::MIN) {
                d as i32
            } else {
                i32::try_from(d - PG_EPOCH_DAYS).map_err(|_| out_of_range("date"))?
            };
            out.extend_from_slice(&pg.to_be_bytes());
        }
        Val::Time(us) => out.extend_from_slice(&us.to_be_bytes()),
        Val::Ts { usecs, .. } => {
            let pg = if usecs == i64::MAX || usecs == i64::MIN {
                usecs
            } else {
                usecs
                    .checked_sub(PG_EPOCH_USECS)
                    .ok_or_else(|| out_of_range("timestamp"))?
            };
            out.extend_from_slice(&pg.to_be_bytes());
        }
        Val::Interval {
            months,
            days,
            usecs,
        } => {
            out.extend_from_slice(&usecs.to_be_bytes());
            out.extend_from_slice(&days.to_be_bytes());
            out.extend_from_slice(&months.to_be_bytes());
        }
    }
    Ok(())
}
