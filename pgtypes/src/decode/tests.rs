use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    Date32Type, Decimal128Type, Float64Type, Int16Type, Int32Type, Int64Type,
    IntervalMonthDayNanoType, TimestampMicrosecondType,
};

use super::*;
use crate::tz::TimeZoneSetting;

#[path = "pg_cases.rs"]
mod pg_cases;

fn field(t: &str) -> Field {
    let (dt, tag) = match t {
        "int2" => (DataType::Int16, "int2"),
        "int4" => (DataType::Int32, "int4"),
        "int8" => (DataType::Int64, "int8"),
        "float4" => (DataType::Float32, "float4"),
        "float8" => (DataType::Float64, "float8"),
        "numeric(5,2)" => (DataType::Decimal128(5, 2), "numeric"),
        "numeric(3,0)" => (DataType::Decimal128(3, 0), "numeric"),
        "numeric(38,10)" => (DataType::Decimal128(38, 10), "numeric"),
        "bool" => (DataType::Boolean, "bool"),
        "bytea" => (DataType::Binary, "bytea"),
        "date" => (DataType::Date32, "date"),
        "timestamp" => (
            DataType::Timestamp(TimeUnit::Microsecond, None),
            "timestamp",
        ),
        "timestamptz" => (
            DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("+00:00"))),
            "timestamptz",
        ),
        "interval" => (DataType::Interval(IntervalUnit::MonthDayNano), "interval"),
        "json" => (DataType::Utf8, "json"),
        "jsonb" => (DataType::Utf8, "jsonb"),
        "text" => (DataType::Utf8, "text"),
        "varchar" => (DataType::Utf8, "varchar"),
        other => panic!("unknown test type {other}"),
    };
    Field::new("v", dt, true).with_metadata(HashMap::from([(
        PG_TYPE_METADATA_KEY.to_string(),
        tag.to_string(),
    )]))
}

fn oid_of(t: &str) -> u32 {
    match t {
        "int2" => oids::INT2,
        "int4" => oids::INT4,
        "int8" => oids::INT8,
        "float4" => oids::FLOAT4,
        "float8" => oids::FLOAT8,
        "bool" => oids::BOOL,
        "bytea" => oids::BYTEA,
        "date" => oids::DATE,
        "timestamp" => oids::TIMESTAMP,
        "timestamptz" => oids::TIMESTAMPTZ,
        "interval" => oids::INTERVAL,
        "json" => oids::JSON,
        "jsonb" => oids::JSONB,
        "text" => oids::TEXT,
        t if t.starts_with("numeric") => oids::NUMERIC,
        other => panic!("{other}"),
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Equality that treats NaN == NaN (bitwise for floats).
fn same(a: &ScalarLike, b: &ScalarLike) -> bool {
    match (a, b) {
        (ScalarLike::F64(x), ScalarLike::F64(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// Inputs where Strata deliberately differs from PostgreSQL 15 (documented in decode.rs).
type KnownDiff = (
    &'static str,
    &'static str,
    Result<(), (&'static str, &'static str)>,
);
const KNOWN_DIFFS: &[KnownDiff] = &[
    // Decimal128 has no NaN.
    (
        "numeric(38,10)",
        "NaN",
        Err((
            "0A000",
            "NaN cannot be stored in a numeric column with a fixed precision",
        )),
    ),
    // Arrow's MonthDayNano holds ±2562047 hours in its time part (PostgreSQL: ±2562047788).
    (
        "interval",
        "2562047788 hours",
        Err(("22008", "interval out of range")),
    ),
];

#[test]
fn text_input_matches_postgres() {
    let mut failures = Vec::new();
    for (t, input, expect) in pg_cases::PG_CASES {
        let f = field(t);
        let got = parse_text_value(input, &f, TimeZoneSetting::fixed(0));
        if let Some((_, _, known)) = KNOWN_DIFFS
            .iter()
            .find(|(kt, ki, _)| kt == t && ki == input)
        {
            match (known, &got) {
                (Ok(()), Ok(_)) => {}
                (Err((c, m)), Err(e)) if e.sqlstate == *c && e.message == *m => {}
                _ => failures.push(format!("{t} {input:?}: known difference changed: {got:?}")),
            }
            continue;
        }
        match (expect, &got) {
            (Ok(hex), Ok(v)) => {
                let bytes = unhex(hex);
                let want = match *t {
                    "json" | "text" => ScalarLike::Str(String::from_utf8(bytes).unwrap()),
                    "jsonb" => ScalarLike::Str(String::from_utf8(bytes[1..].to_vec()).unwrap()),
                    _ => match parse_binary_value_for_field(
                        &bytes,
                        oid_of(t),
                        &f,
                        TimeZoneSetting::fixed(0),
                    ) {
                        Ok(w) => w,
                        Err(e) => {
                            failures.push(format!(
                                "{t} {input:?}: binary decode of PG bytes failed: {e:?}"
                            ));
                            continue;
                        }
                    },
                };
                if !same(v, &want) {
                    failures.push(format!("{t} {input:?}: got {v:?}, PostgreSQL {want:?}"));
                }
            }
            (Err((code, msg)), Err(e)) => {
                if e.sqlstate != *code || e.message != *msg {
                    failures.push(format!(
                        "{t} {input:?}: got error {} {:?}, PostgreSQL {code} {msg:?}",
                        e.sqlstate, e.message
                    ));
                }
            }
            (Ok(_), Err(e)) => failures.push(format!(
                "{t} {input:?}: got error {e:?}, PostgreSQL accepts it"
            )),
            (Err((code, msg)), Ok(v)) => failures.push(format!(
                "{t} {input:?}: got {v:?}, PostgreSQL errors {code} {msg:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn column_builder_matches_parse_text_value() {
    // The builder's direct paths must agree with parse_text_value.
    for (t, input, _) in pg_cases::PG_CASES {
        let f = field(t);
        let mut b = ColumnBuilder::new(&f, 4, TimeZoneSetting::fixed(0));
        let direct = b.append_text(input);
        let via = parse_text_value(input, &f, TimeZoneSetting::fixed(0));
        match (direct, via) {
            (Ok(()), Ok(v)) => {
                let mut b2 = ColumnBuilder::new(&f, 4, TimeZoneSetting::fixed(0));
                b2.append_scalar(&v).unwrap();
                let (a1, a2) = (b.finish(), b2.finish());
                assert_eq!(a1.to_data(), a2.to_data(), "{t} {input:?}");
            }
            (Err(e1), Err(e2)) => assert_eq!(e1, e2, "{t} {input:?}"),
            (d, v) => panic!("{t} {input:?}: builder {d:?} vs parse {v:?}"),
        }
    }
}

fn ts(s: &str, tz: i32) -> ScalarLike {
    parse_text_value(s, &field("timestamptz"), TimeZoneSetting::fixed(tz)).unwrap()
}

fn ts_in(s: &str, zone: &str) -> i64 {
    let tz = TimeZoneSetting::parse(zone).unwrap();
    match parse_text_value(s, &field("timestamptz"), tz).unwrap() {
        ScalarLike::TimestamptzMicros(t) => t / 1_000_000,
        other => panic!("{other:?}"),
    }
}

#[test]
fn timestamptz_named_session_zone() {
    // PostgreSQL 15: set timezone = '<zone>'; select extract(epoch from '<input>'::timestamptz);
    // Berlin: a time in the spring-forward gap takes the offset before it (02:30 = 01:30Z,
    // shown as 03:30+02); an ambiguous time in the fall-back overlap takes the one after.
    assert_eq!(ts_in("2024-07-01 14:00", "Europe/Berlin"), 1_719_835_200);
    assert_eq!(ts_in("2024-01-01 13:00:00", "Europe/Berlin"), 1_704_110_400);
    assert_eq!(ts_in("2024-03-31 02:30", "Europe/Berlin"), 1_711_848_600);
    assert_eq!(ts_in("2024-10-27 02:30", "Europe/Berlin"), 1_729_992_600);
    // New York: 2024-03-10 02:30 → 03:30-04; 2024-11-03 01:30 → 01:30-05
    assert_eq!(ts_in("2024-03-10 02:30", "America/New_York"), 1_710_055_800);
    assert_eq!(ts_in("2024-11-03 01:30", "America/New_York"), 1_730_615_400);
    // Lord Howe (30-minute DST): 2024-04-07 01:45 → 01:45+10:30; 2024-10-06 02:15 → 02:45+11
    assert_eq!(
        ts_in("2024-04-07 01:45", "Australia/Lord_Howe"),
        1_712_416_500
    );
    assert_eq!(
        ts_in("2024-10-06 02:15", "Australia/Lord_Howe"),
        1_728_143_100
    );
    // an explicit zone wins, also a named one in the literal
    assert_eq!(ts_in("2024-07-01 12:00+00", "Europe/Berlin"), 1_719_835_200);
    assert_eq!(
        ts_in("2024-07-01 14:00 Europe/Berlin", "UTC"),
        1_719_835_200
    );
    assert_eq!(
        ts_in("2024-07-01 08:00 america/new_york", "Asia/Tokyo"),
        1_719_835_200
    );
    // timestamptz -> timestamp in the zone: 2024-11-03 06:30Z is 01:30 local (EST)
    let tz = TimeZoneSetting::parse("America/New_York").unwrap();
    let utc = ScalarLike::TimestamptzMicros(1_730_615_400_000_000);
    let a = scalar_to_array(&utc, &field("timestamp"), tz).unwrap();
    let local = a.as_primitive::<TimestampMicrosecondType>().value(0);
    assert_eq!(local, (1_730_615_400 - 5 * 3600) * 1_000_000);
}

#[test]
fn timestamptz_session_zone() {
    // 2024-01-01 00:05:00 UTC
    let utc = 1_704_067_500_000_000i64;
    assert_eq!(
        ts("2024-01-01 00:05:00", 0),
        ScalarLike::TimestamptzMicros(utc)
    );
    // Session at +05:30: local wall time → UTC is 5h30 earlier.
    assert_eq!(
        ts("2024-01-01 00:05:00", 19_800),
        ScalarLike::TimestamptzMicros(utc - 19_800_000_000)
    );
    assert_eq!(
        ts("2024-01-01 00:05:00", -28_800),
        ScalarLike::TimestamptzMicros(utc + 28_800_000_000)
    );
    // An explicit zone wins over the session zone.
    assert_eq!(
        ts("2024-01-01 00:05:00Z", 19_800),
        ScalarLike::TimestamptzMicros(utc)
    );
    assert_eq!(
        ts("2024-01-01 00:05:00+00", -3600),
        ScalarLike::TimestamptzMicros(utc)
    );
    assert_eq!(
        ts("2024-01-01 00:05:00 UTC", 3600),
        ScalarLike::TimestamptzMicros(utc)
    );
    assert_eq!(
        ts("2024-01-01 05:35:00+05:30", 7),
        ScalarLike::TimestamptzMicros(utc)
    );
    // epoch/infinity do not depend on the zone
    assert_eq!(ts("epoch", 3600), ScalarLike::TimestamptzMicros(0));
    assert_eq!(
        ts("infinity", 3600),
        ScalarLike::TimestamptzMicros(i64::MAX)
    );
    assert_eq!(
        ts("-infinity", 3600),
        ScalarLike::TimestamptzMicros(i64::MIN)
    );
    // Plain timestamps ignore both.
    let f = field("timestamp");
    assert_eq!(
        parse_text_value("2024-01-01 00:05:00+05", &f, TimeZoneSetting::fixed(3600)).unwrap(),
        ScalarLike::TimestampMicros(utc)
    );
    // A date-only timestamptz is local midnight.
    assert_eq!(
        ts("2024-01-01", 3600),
        ScalarLike::TimestamptzMicros(1_704_067_200_000_000 - 3_600_000_000)
    );
}

#[test]
fn now_today_tomorrow() {
    let now = datetime::now_usecs();
    let day = datetime::USECS_PER_DAY;
    let ScalarLike::TimestamptzMicros(n) = ts("now", 0) else {
        panic!()
    };
    assert!((n - now).abs() < 60_000_000);
    let ScalarLike::TimestamptzMicros(t) = ts("today", 0) else {
        panic!()
    };
    assert_eq!(t, now.div_euclid(day) * day);
    let ScalarLike::TimestamptzMicros(t1) = ts("tomorrow", 0) else {
        panic!()
    };
    assert_eq!(t1 - t, day);
    let ScalarLike::TimestamptzMicros(y) = ts(" YESTERDAY ", 0) else {
        panic!()
    };
    assert_eq!(t - y, day);
    // today at +10:00 is local midnight, which is 10h before UTC midnight of that local day
    let ScalarLike::TimestamptzMicros(tl) = ts("today", 36_000) else {
        panic!()
    };
    assert_eq!((tl + 36_000_000_000).rem_euclid(day), 0);
    let f = field("timestamp");
    let ScalarLike::TimestampMicros(ln) =
        parse_text_value("now", &f, TimeZoneSetting::fixed(7200)).unwrap()
    else {
        panic!()
    };
    assert!((ln - (now + 7_200_000_000)).abs() < 60_000_000);
    let d = field("date");
    let ScalarLike::Date(dd) = parse_text_value("today", &d, TimeZoneSetting::fixed(0)).unwrap()
    else {
        panic!()
    };
    assert_eq!(dd as i64, now.div_euclid(day));
    assert_eq!(
        parse_text_value("now", &d, TimeZoneSetting::fixed(0)).unwrap(),
        ScalarLike::Date(dd)
    );
    assert_eq!(
        parse_text_value("tomorrow", &d, TimeZoneSetting::fixed(0)).unwrap(),
        ScalarLike::Date(dd + 1)
    );
}

#[test]
fn special_date_values() {
    let d = field("date");
    assert_eq!(
        parse_text_value("infinity", &d, TimeZoneSetting::fixed(0)).unwrap(),
        ScalarLike::Date(DATE_INFINITY)
    );
    assert_eq!(
        parse_text_value("-infinity", &d, TimeZoneSetting::fixed(0)).unwrap(),
        ScalarLike::Date(DATE_NEG_INFINITY)
    );
    assert_eq!(
        parse_text_value("epoch", &d, TimeZoneSetting::fixed(0)).unwrap(),
        ScalarLike::Date(0)
    );
    assert_eq!(
        parse_text_value("2000-01-01", &d, TimeZoneSetting::fixed(0)).unwrap(),
        ScalarLike::Date(10_957)
    );
}

#[test]
fn numeric_literal_classification() {
    assert_eq!(parse_numeric_literal("42").unwrap(), ScalarLike::I64(42));
    assert_eq!(
        parse_numeric_literal("-9223372036854775808").unwrap(),
        ScalarLike::I64(i64::MIN)
    );
    assert_eq!(
        parse_numeric_literal("9223372036854775808").unwrap(),
        ScalarLike::Decimal(9223372036854775808, 0)
    );
    assert_eq!(
        parse_numeric_literal("1.50").unwrap(),
        ScalarLike::Decimal(150, 2)
    );
    assert_eq!(
        parse_numeric_literal("1e3").unwrap(),
        ScalarLike::Decimal(1000, 0)
    );
    assert_eq!(
        parse_numeric_literal("1.5e-3").unwrap(),
        ScalarLike::Decimal(15, 4)
    );
    assert_eq!(
        parse_numeric_literal("1e100").unwrap(),
        ScalarLike::F64(1e100)
    );
    assert!(parse_numeric_literal("abc").is_err());
}

fn coerce_into(v: ScalarLike, t: &str, tz: i32) -> Result<ArrayRef, DecodeError> {
    let f = field(t);
    let mut b = ColumnBuilder::new(&f, 1, TimeZoneSetting::fixed(tz));
    b.append_scalar(&v)?;
    Ok(b.finish())
}

#[test]
fn append_scalar_coercions() {
    use ScalarLike as S;
    // ints: range checks
    let a = coerce_into(S::I64(12), "int2", 0).unwrap();
    assert_eq!(a.as_primitive::<Int16Type>().value(0), 12);
    let e = coerce_into(S::I64(40_000), "int2", 0).unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str()),
        ("22003", "smallint out of range")
    );
    let e = coerce_into(S::I64(1 << 40), "int4", 0).unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str()),
        ("22003", "integer out of range")
    );
    // float → int: rint (half to even), as float8 → int4
    let a = coerce_into(S::F64(2.5), "int4", 0).unwrap();
    assert_eq!(a.as_primitive::<Int32Type>().value(0), 2);
    let a = coerce_into(S::F64(3.0), "int8", 0).unwrap();
    assert_eq!(a.as_primitive::<Int64Type>().value(0), 3);
    assert_eq!(
        coerce_into(S::F64(f64::NAN), "int8", 0)
            .unwrap_err()
            .sqlstate,
        "22003"
    );
    assert_eq!(
        coerce_into(S::F64(1e19), "int8", 0).unwrap_err().message,
        "bigint out of range"
    );
    // numeric → int: half away from zero
    let a = coerce_into(S::Decimal(25, 1), "int4", 0).unwrap();
    assert_eq!(a.as_primitive::<Int32Type>().value(0), 3);
    let a = coerce_into(S::Decimal(-25, 1), "int4", 0).unwrap();
    assert_eq!(a.as_primitive::<Int32Type>().value(0), -3);
    // I64 / Decimal → float
    let a = coerce_into(S::I64(7), "float8", 0).unwrap();
    assert_eq!(a.as_primitive::<Float64Type>().value(0), 7.0);
    let a = coerce_into(S::Decimal(15, 1), "float8", 0).unwrap();
    assert_eq!(a.as_primitive::<Float64Type>().value(0), 1.5);
    assert_eq!(
        coerce_into(S::F64(1e300), "float4", 0).unwrap_err().message,
        "value out of range: overflow"
    );
    // → numeric: rescale with rounding, precision check
    let a = coerce_into(S::Decimal(123456, 4), "numeric(5,2)", 0).unwrap();
    assert_eq!(a.as_primitive::<Decimal128Type>().value(0), 1235);
    let a = coerce_into(S::I64(999), "numeric(5,2)", 0).unwrap();
    assert_eq!(a.as_primitive::<Decimal128Type>().value(0), 99900);
    let e = coerce_into(S::I64(1000), "numeric(5,2)", 0).unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str()),
        ("22003", "numeric field overflow")
    );
    let a = coerce_into(S::F64(0.1), "numeric(5,2)", 0).unwrap();
    assert_eq!(a.as_primitive::<Decimal128Type>().value(0), 10);
    let a = coerce_into(S::F64(1.005), "numeric(5,2)", 0).unwrap(); // %.15g → 1.005 → 1.01
    assert_eq!(a.as_primitive::<Decimal128Type>().value(0), 101);
    // Str → anything parses with the column's input syntax
    let a = coerce_into(S::Str(" 42 ".into()), "int8", 0).unwrap();
    assert_eq!(a.as_primitive::<Int64Type>().value(0), 42);
    let e = coerce_into(S::Str("abc".into()), "int4", 0).unwrap_err();
    assert_eq!(e.message, "invalid input syntax for type integer: \"abc\"");
    let a = coerce_into(S::Str("{\"b\":1,\"a\":2}".into()), "jsonb", 0).unwrap();
    assert_eq!(a.as_string::<i32>().value(0), "{\"a\": 2, \"b\": 1}");
    assert_eq!(
        coerce_into(S::Str("{".into()), "json", 0)
            .unwrap_err()
            .sqlstate,
        "22P02"
    );
    // anything → text via its output form
    for (v, want) in [
        (S::I64(-5), "-5"),
        (S::F64(1e20), "1e+20"),
        (S::F64(0.1), "0.1"),
        (S::F64(f64::INFINITY), "Infinity"),
        (S::Decimal(-5, 3), "-0.005"),
        (S::Bool(true), "true"),
        (S::Bytes(vec![1, 0xab]), "\\x01ab"),
        (S::Date(19_753), "2024-01-31"),
        (S::Date(i32::MAX), "infinity"),
        (
            S::TimestampMicros(1_704_067_500_500_000),
            "2024-01-01 00:05:00.5",
        ),
        (
            S::TimestamptzMicros(1_704_067_500_000_000),
            "2024-01-01 01:05:00+01",
        ),
    ] {
        let a = coerce_into(v.clone(), "text", 3600).unwrap();
        assert_eq!(a.as_string::<i32>().value(0), want, "{v:?}");
    }
    // date/timestamp conversions
    let a = coerce_into(S::Date(1), "timestamp", 0).unwrap();
    assert_eq!(
        a.as_primitive::<TimestampMicrosecondType>().value(0),
        86_400_000_000
    );
    let a = coerce_into(S::Date(1), "timestamptz", 3600).unwrap();
    assert_eq!(
        a.as_primitive::<TimestampMicrosecondType>().value(0),
        86_400_000_000 - 3_600_000_000
    );
    let a = coerce_into(S::TimestamptzMicros(-1), "date", 0).unwrap();
    assert_eq!(a.as_primitive::<Date32Type>().value(0), -1);
    let a = coerce_into(S::TimestamptzMicros(0), "timestamp", -3600).unwrap();
    assert_eq!(
        a.as_primitive::<TimestampMicrosecondType>().value(0),
        -3_600_000_000
    );
    let a = coerce_into(S::TimestampMicros(i64::MAX), "timestamptz", 3600).unwrap();
    assert_eq!(
        a.as_primitive::<TimestampMicrosecondType>().value(0),
        i64::MAX
    );
    // mismatches
    let e = coerce_into(S::I64(1), "bool", 0).unwrap_err();
    assert_eq!(e.sqlstate, "42804");
    assert_eq!(
        e.message,
        "column \"v\" is of type boolean but expression is of type bigint"
    );
    assert_eq!(
        coerce_into(S::Bool(true), "int4", 0).unwrap_err().sqlstate,
        "42804"
    );
    assert_eq!(
        coerce_into(S::I64(1), "json", 0).unwrap_err().sqlstate,
        "42804"
    );
    // NULL goes anywhere
    let a = coerce_into(S::Null, "interval", 0).unwrap();
    assert!(a.is_null(0));
}

#[test]
fn builder_types_and_reuse() {
    let f = field("timestamptz");
    let mut b = ColumnBuilder::new(&f, 2, TimeZoneSetting::fixed(0));
    b.append_text("2024-01-01 00:00:00+00").unwrap();
    b.append_null();
    assert!(b.append_text("nope").is_err());
    assert_eq!(b.len(), 2);
    let a = b.finish();
    assert_eq!(a.data_type(), f.data_type());
    assert_eq!(a.len(), 2);
    assert!(a.is_null(1));
    assert_eq!(b.len(), 0);
    b.append_text("1970-01-01 00:00:01Z").unwrap();
    let a = b.finish();
    assert_eq!(
        a.as_primitive::<TimestampMicrosecondType>().value(0),
        1_000_000
    );

    let f = field("numeric(5,2)");
    let mut b = ColumnBuilder::new(&f, 1, TimeZoneSetting::fixed(0));
    b.append_text("1.005").unwrap();
    let a = b.finish();
    assert_eq!(a.data_type(), &DataType::Decimal128(5, 2));
    assert_eq!(a.as_primitive::<Decimal128Type>().value(0), 101);

    let f = field("interval");
    let mut b = ColumnBuilder::new(&f, 1, TimeZoneSetting::fixed(0));
    b.append_text("1 year 2 mons 3 days 04:05:06.5").unwrap();
    let a = b.finish();
    let v = a.as_primitive::<IntervalMonthDayNanoType>().value(0);
    assert_eq!(
        (v.months, v.days, v.nanoseconds),
        (14, 3, 14_706_500_000_000)
    );

    // unsupported Arrow types: NULLs fine, values rejected
    let f = Field::new("u", DataType::UInt8, true);
    let mut b = ColumnBuilder::new(&f, 1, TimeZoneSetting::fixed(0));
    b.append_null();
    assert_eq!(b.append_text("1").unwrap_err().sqlstate, "0A000");
    let a = b.finish();
    assert_eq!((a.len(), a.null_count()), (1, 1));

    let a = scalar_to_array(
        &ScalarLike::Str("t".into()),
        &field("bool"),
        TimeZoneSetting::fixed(0),
    )
    .unwrap();
    assert!(a.as_boolean().value(0));

    // text rejects NUL and invalid UTF-8 (PostgreSQL: 22021)
    let mut b = ColumnBuilder::new(&field("text"), 1, TimeZoneSetting::fixed(0));
    let e = b.append_text_bytes(b"a\0b").unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str()),
        ("22021", "invalid byte sequence for encoding \"UTF8\": 0x00")
    );
    let e = b.append_text_bytes(b"a\xc3\x28").unwrap_err();
    assert_eq!(
        e.message,
        "invalid byte sequence for encoding \"UTF8\": 0xc3 0x28"
    );
}

// ---------------------------------------------------------------------------------------
// Binary format

fn bin(bytes: &[u8], oid: u32, t: &str) -> Result<ScalarLike, DecodeError> {
    parse_binary_value_for_field(bytes, oid, &field(t), TimeZoneSetting::fixed(0))
}

#[test]
fn binary_scalars() {
    use ScalarLike as S;
    assert_eq!(bin(&[0x00, 0x0c], oids::INT2, "int2").unwrap(), S::I64(12));
    assert_eq!(
        bin(&(-5i32).to_be_bytes(), oids::INT4, "int4").unwrap(),
        S::I64(-5)
    );
    assert_eq!(
        bin(&7i64.to_be_bytes(), oids::INT8, "int8").unwrap(),
        S::I64(7)
    );
    // int4/int8 parameters into narrower/wider columns, by value
    assert_eq!(
        bin(&300i64.to_be_bytes(), oids::INT8, "int2").unwrap(),
        S::I64(300)
    );
    let e = bin(&40_000i32.to_be_bytes(), oids::INT4, "int2").unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str()),
        ("22003", "smallint out of range")
    );
    assert_eq!(bin(&[0x00, 0x0c], oids::INT2, "int8").unwrap(), S::I64(12));
    assert_eq!(
        bin(&3i32.to_be_bytes(), oids::INT4, "float8").unwrap(),
        S::F64(3.0)
    );
    assert_eq!(
        bin(&3i32.to_be_bytes(), oids::INT4, "numeric(5,2)").unwrap(),
        S::Decimal(300, 2)
    );
    // wrong lengths
    assert_eq!(
        bin(&[1, 2, 3], oids::INT4, "int4").unwrap_err().sqlstate,
        "22P03"
    );
    assert_eq!(bin(&[], oids::BOOL, "bool").unwrap_err().sqlstate, "22P03");
    // floats
    assert_eq!(
        bin(&1.5f32.to_be_bytes(), oids::FLOAT4, "float4").unwrap(),
        S::F64(1.5)
    );
    assert_eq!(
        bin(&0.1f64.to_be_bytes(), oids::FLOAT8, "float8").unwrap(),
        S::F64(0.1)
    );
    assert_eq!(
        bin(&0.1f32.to_be_bytes(), oids::FLOAT4, "float8").unwrap(),
        S::F64(0.1f32 as f64)
    );
    // bool, text, bytea
    assert_eq!(bin(&[1], oids::BOOL, "bool").unwrap(), S::Bool(true));
    assert_eq!(bin(&[0], oids::BOOL, "bool").unwrap(), S::Bool(false));
    assert_eq!(
        bin("héllo".as_bytes(), oids::TEXT, "text").unwrap(),
        S::Str("héllo".into())
    );
    assert_eq!(
        bin(b"x", oids::VARCHAR, "varchar").unwrap(),
        S::Str("x".into())
    );
    assert_eq!(
        bin(&[0xff], oids::TEXT, "text").unwrap_err().sqlstate,
        "22021"
    );
    assert_eq!(
        bin(&[0, 1, 2], oids::BYTEA, "bytea").unwrap(),
        S::Bytes(vec![0, 1, 2])
    );
    // unknown/text parameters are parsed with the column's text syntax
    assert_eq!(bin(b"42", oids::UNKNOWN, "int4").unwrap(), S::I64(42));
    assert_eq!(
        bin(b"2024-01-01", oids::TEXT, "date").unwrap(),
        S::Date(19_723)
    );
    // json / jsonb
    assert_eq!(
        bin(b"{\"a\":1}", oids::JSON, "json").unwrap(),
        S::Str("{\"a\":1}".into())
    );
    assert_eq!(
        bin(b"\x01{\"b\":1,\"a\":2}", oids::JSONB, "jsonb").unwrap(),
        S::Str("{\"a\": 2, \"b\": 1}".into())
    );
    assert_eq!(
        bin(b"\x02{}", oids::JSONB, "jsonb").unwrap_err().sqlstate,
        "22P03"
    );
    // oid 0 = the column's natural type
    assert_eq!(bin(&[0x00, 0x0c], 0, "int2").unwrap(), S::I64(12));
    assert_eq!(
        parse_binary_value(&5i64.to_be_bytes(), 0, &DataType::Int64).unwrap(),
        S::I64(5)
    );
    assert_eq!(bin(&[1], 9999, "int4").unwrap_err().sqlstate, "42883");
}

#[test]
fn binary_datetime() {
    use ScalarLike as S;
    // date_send('2024-01-31') = 0x0000225c (8796 days since 2000-01-01)
    assert_eq!(
        bin(&unhex("0000225c"), oids::DATE, "date").unwrap(),
        S::Date(19_753)
    );
    assert_eq!(
        bin(&unhex("7fffffff"), oids::DATE, "date").unwrap(),
        S::Date(i32::MAX)
    );
    assert_eq!(
        bin(&unhex("80000000"), oids::DATE, "date").unwrap(),
        S::Date(i32::MIN)
    );
    // timestamp_send('2024-01-01 00:05:00') = 0x0002b0d5e6cae300
    let want = 1_704_067_500_000_000i64;
    assert_eq!(
        bin(&unhex("0002b0d5e6cae300"), oids::TIMESTAMP, "timestamp").unwrap(),
        S::TimestampMicros(want)
    );
    assert_eq!(
        bin(&unhex("0002b0d5e6cae300"), oids::TIMESTAMPTZ, "timestamptz").unwrap(),
        S::TimestamptzMicros(want)
    );
    assert_eq!(
        bin(&unhex("7fffffffffffffff"), oids::TIMESTAMP, "timestamp").unwrap(),
        S::TimestampMicros(i64::MAX)
    );
    assert_eq!(
        bin(&unhex("8000000000000000"), oids::TIMESTAMPTZ, "timestamptz").unwrap(),
        S::TimestamptzMicros(i64::MIN)
    );
    // a timestamptz parameter for a timestamp column converts through the session zone
    assert_eq!(
        parse_binary_value_tz(
            &unhex("0002b0d5e6cae300"),
            oids::TIMESTAMPTZ,
            &field("timestamp").data_type().clone(),
            TimeZoneSetting::fixed(3600)
        )
        .unwrap(),
        S::TimestampMicros(want + 3_600_000_000)
    );
    // interval_send('1 year 2 mons 3 days 04:05:06.5') = usecs, days, months
    let mut b = Vec::new();
    b.extend_from_slice(&14_706_500_000i64.to_be_bytes());
    b.extend_from_slice(&3i32.to_be_bytes());
    b.extend_from_slice(&14i32.to_be_bytes());
    assert_eq!(
        bin(&b, oids::INTERVAL, "interval").unwrap(),
        S::IntervalMDN {
            months: 14,
            days: 3,
            nanos: 14_706_500_000_000
        }
    );
    assert_eq!(
        bin(&b[..12], oids::INTERVAL, "interval")
            .unwrap_err()
            .sqlstate,
        "22P03"
    );
}

#[test]
fn binary_numeric() {
    use ScalarLike as S;
    // Bytes from PostgreSQL 15's numeric_send.
    let cases: &[(&str, &str, Result<i128, &str>)] = &[
        // numeric_send(-12.345) : ndigits 2, weight 0, sign 4000, dscale 3, digits 12, 3450
        (
            "0002000040000003000c0d7a",
            "numeric(38,10)",
            Ok(-123_450_000_000),
        ),
        ("0002000040000003000c0d7a", "numeric(5,2)", Ok(-1235)),
        // numeric_send(0) : no digits
        ("0000000000000000", "numeric(5,2)", Ok(0)),
        // numeric_send(123456789.000001)
        (
            "0005000200000006000109291a8500000064",
            "numeric(38,10)",
            Ok(1_234_567_890_000_010_000),
        ),
        // numeric_send(1e20::numeric) : 1 digit (1), weight 5
        (
            "0001000500000000", /* then digits */
            "numeric(38,10)",
            Err("22P03"),
        ),
        (
            "00010005000000000001",
            "numeric(38,10)",
            Ok(100_000_000_000_000_000_000 * 10_000_000_000),
        ),
        ("00010005000000000001", "numeric(5,2)", Err("22003")),
        // numeric_send(0.0001) : 1 digit, weight -1, dscale 4
        ("0001ffff000000040001", "numeric(38,10)", Ok(1_000_000)),
        // NaN / Infinity
        ("00000000c0000000", "numeric(5,2)", Err("0A000")),
        ("00000000d0000020", "numeric(5,2)", Err("22003")),
    ];
    for (hex, t, want) in cases {
        let got = bin(&unhex(hex), oids::NUMERIC, t);
        let scale = match field(t).data_type() {
            DataType::Decimal128(_, s) => *s,
            _ => unreachable!(),
        };
        match (want, got) {
            (Ok(v), Ok(g)) => assert_eq!(g, S::Decimal(*v, scale), "{hex} {t}"),
            (Err(code), Err(e)) => assert_eq!(e.sqlstate, *code, "{hex} {t}"),
            (w, g) => panic!("{hex} {t}: want {w:?} got {g:?}"),
        }
    }
}

#[test]
fn error_display() {
    let e = parse_text_value("abc", &field("int4"), TimeZoneSetting::fixed(0)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid input syntax for type integer: \"abc\""
    );
    let _: &dyn std::error::Error = &e;
}

/// Random inputs built from the characters the parsers care about must never panic
/// (debug builds check arithmetic overflow), and the builder must agree with
/// `parse_text_value`.
#[test]
fn random_inputs_do_not_panic() {
    const ALPHABET: &[u8] =
        b"0123456789999--++::..  TtZzPpYMDHSWaAeEnNiIfFbBcCuUlLyYoOgGrR/\\x{}[]\",\t@";
    const WORDS: &[&str] = &[
        "2024-01-31",
        "12:34:56.789",
        "infinity",
        "epoch",
        "today",
        "jan",
        "day",
        "hours",
        "ago",
        "utc",
        "+05:30",
        "1e5",
        "NaN",
        "P1Y",
        "T",
        "bc",
        "pm",
        "9223372036854775808",
        "1.5",
        "\\x",
        "\\\\",
        "\"a\"",
    ];
    let types = [
        "int2",
        "int4",
        "int8",
        "float4",
        "float8",
        "numeric(5,2)",
        "numeric(38,10)",
        "bool",
        "bytea",
        "date",
        "timestamp",
        "timestamptz",
        "interval",
        "json",
        "jsonb",
        "text",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for t in types {
        let f = field(t);
        for _ in 0..3000 {
            let mut s = String::new();
            let parts = next() % 5;
            for _ in 0..=parts {
                if next() % 3 == 0 {
                    s.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
                } else {
                    for _ in 0..next() % 6 {
                        s.push(ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char);
                    }
                }
            }
            let via = parse_text_value(&s, &f, TimeZoneSetting::fixed(3600));
            let mut b = ColumnBuilder::new(&f, 1, TimeZoneSetting::fixed(3600));
            let direct = b.append_text(&s);
            assert_eq!(
                via.is_ok(),
                direct.is_ok(),
                "{t} {s:?}: {via:?} vs {direct:?}"
            );
        }
    }
}

/// float8/float4 input with more significant digits than the fast path takes (how drivers
/// print most doubles) rounds exactly like the standard library's correctly rounded
/// parser, for random doubles in shortest, 17-digit and 19-digit decimal forms.
#[test]
fn long_float_mantissas_round_like_std() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut checked = 0;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // a random 53-bit mantissa scaled into [0, 1e7): printed without exponent
        let v = (x >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((x % 11) as i32 - 3);
        for s in [format!("{v}"), format!("{v:.17}"), format!("{v:.19}")] {
            let want: f64 = s.parse().expect("std parses its own output");
            let got = num::parse_f64(s.as_bytes()).expect("valid float8");
            assert_eq!(got.to_bits(), want.to_bits(), "float8 {s}");
            let want32: f32 = s.parse().expect("std parses its own output");
            let got32 = num::parse_f32(s.as_bytes()).expect("valid float4");
            assert_eq!(got32.to_bits(), want32.to_bits(), "float4 {s}");
            checked += 1;
        }
    }
    assert!(checked == 60_000, "only {checked} values checked");
    // out-of-line forms still take the general path
    assert_eq!(
        num::parse_f64(b" 12345678901234567.5 ").ok(),
        Some(12345678901234567.5)
    );
    assert_eq!(
        num::parse_f64(b"-0.12345678901234567890123").ok(),
        Some(-0.12345678901234568)
    );
}
