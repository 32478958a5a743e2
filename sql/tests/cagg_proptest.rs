//! Property tests of continuous aggregates (see `strata_sql::cagg`).
//!
//! A continuous aggregate stores *partial* aggregate states: each batch written to the
//! hypertable is aggregated in DataFusion's Partial mode and the state rows are appended
//! to the view's state table; reading the view runs the Final mode over all state rows
//! (some in Parquet after a CHECKPOINT, some in memtables). DELETE and
//! `refresh_continuous_aggregate` recompute the states of the affected buckets from raw
//! rows, `CREATE ... WITH DATA` backfills them, and inside `BEGIN ... COMMIT` the session
//! reads states computed on the fly from its buffered rows.
//!
//! The properties: whatever the rows (NULLs, NaN, infinities, bigints near the limits
//! included), the batches they arrive in (1 to 49 rows), their order (late rows for old
//! buckets included), the moment the view is created (before, between or after the
//! inserts; with or without data), checkpoints, transaction blocks (committed or rolled
//! back) and deletes, `SELECT * FROM v ORDER BY b, host` equals the view's defining
//! query run on the raw table. Both are also checked against a model computed here in
//! Rust: the set of groups, the exact aggregates, min/max, and the values `first` /
//! `last` may take when several rows share the extreme time (either tied value is
//! accepted).
//!
//! Everything goes through the public API of the crate (`Session::parse` / `execute`)
//! on a temporary data directory; no network. Comparisons: exact for exact aggregates
//! (counts, numeric sums and averages, booleans, text, bits) and min/max; a relative
//! tolerance of 1e-9 (absolute below 1) for float sums, averages and variances, whose
//! order of summation differs; `approx_distinct` equal (HyperLogLog registers merge
//! exactly) up to 2 % above 100, and within 2 of the exact count. Known upstream bug
//! left out of the checks: [`GROUPED_FLOAT_MIN_MAX_BUG`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::array::RecordBatch;
use datafusion::common::ScalarValue;
use futures::TryStreamExt;
use proptest::prelude::*;
use proptest::sample::Index;
use strata_sql::{Engine, Output, Session};

mod common;

use common::TestEngine;

// ------------------------------------------------------------------------------ harness

/// 2024-01-01 00:00:00 UTC in µs since the epoch: the start of the generated times.
const BASE: i64 = 1_704_067_200_000_000;
/// TimescaleDB's default bucket origin, 2000-01-03 00:00:00 UTC, in µs.
const ORIGIN: i64 = 946_857_600_000_000;
/// Span of the generated times: 5 minutes.
const SPAN: i64 = 300_000_000;
const HOSTS: [&str; 3] = ["h0", "h1", "h2"];

/// Every aggregate the view computes; the view and the reference query share it. The
/// second half goes beyond the usual set: DISTINCT and FILTER inside aggregates, numeric
/// results (`sum`/`avg` of a bigint are numeric), text min/max, bit operations.
const AGGS: &str = "count(*) AS c, count(v) AS cv, count(DISTINCT n) AS cd, sum(n) AS sn, \
     sum(v) AS sv, min(v) AS mi, max(v) AS ma, avg(v) AS av, stddev(v) AS sd, \
     variance(v) AS va, first(v, ts) AS fi, last(v, ts) AS la, bool_and(ok) AS ba, \
     bool_or(ok) AS bo, approx_distinct(n) AS ad, \
     sum(DISTINCT n) AS sdn, avg(n) AS an, var_pop(v) AS vp, stddev_pop(v) AS sdp, \
     sum(v) FILTER (WHERE ok) AS sf, count(*) FILTER (WHERE n > 2) AS cf, \
     min(host) AS mih, max(host) AS mah, bit_and(n) AS ban, bit_or(n) AS bon";
/// The names of the aggregates of [`AGGS`].
const AGG_NAMES: [&str; 25] = [
    "c", "cv", "cd", "sn", "sv", "mi", "ma", "av", "sd", "va", "fi", "la", "ba", "bo", "ad", "sdn",
    "an", "vp", "sdp", "sf", "cf", "mih", "mah", "ban", "bon",
];

thread_local! {
    /// One engine per test (each engine starts an execution runtime that lives as long
    /// as the process, so not one per case); every case uses tables of its own. Tests
    /// run on threads of their own, so they do not share an engine (a failure replays
    /// the same way) and the directory is removed when the test ends.
    static SHARED: TestEngine = TestEngine::new(256 * 1024 * 1024);
}

/// Runs `f` with this test's engine.
fn block_on<T>(f: impl AsyncFnOnce(&Arc<Engine>) -> T) -> T {
    SHARED.with(|s| s.rt.block_on(f(&s.engine)))
}

fn next_id() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Runs every statement of `sql`; the batches of the last one if it returns rows.
async fn exec(session: &mut Session, sql: &str) -> Result<Vec<RecordBatch>, String> {
    let stmts = session.parse(sql).map_err(|e| format!("{sql}\n  -> {e}"))?;
    let mut out = vec![];
    for s in &stmts {
        out = match session
            .execute(s)
            .await
            .map_err(|e| format!("{sql}\n  -> {e}"))?
        {
            Output::Rows { stream, .. } => stream
                .try_collect::<Vec<_>>()
                .await
                .map_err(|e| format!("{sql}\n  -> {e}"))?,
            _ => vec![],
        };
    }
    Ok(out)
}

// ------------------------------------------------------------------------------ data

#[derive(Clone, Debug)]
struct Row {
    /// µs after [`BASE`].
    ts: i64,
    host: Option<u8>,
    v: Option<f64>,
    n: Option<i64>,
    ok: Option<bool>,
}

fn row() -> impl Strategy<Value = Row> {
    (
        prop_oneof![
            // A coarse grid (half-seconds): rows of a group often share a time, which
            // exercises the ties of first/last.
            3 => (0..SPAN / 500_000).prop_map(|h| h * 500_000),
            1 => 0..SPAN,
        ],
        prop_oneof![4 => (0..HOSTS.len() as u8).prop_map(Some), 1 => Just(None)],
        prop_oneof![
            12 => (-100_000i64..100_000).prop_map(|k| Some(k as f64 / 100.0)),
            3 => Just(None),
            1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)]
                .prop_map(Some),
        ],
        prop_oneof![
            8 => (-5i64..15).prop_map(Some),
            2 => Just(None),
            1 => any::<i64>().prop_map(Some),
        ],
        proptest::option::weighted(0.8, any::<bool>()),
    )
        .prop_map(|(ts, host, v, n, ok)| Row { ts, host, v, n, ok })
}

fn sql_f64(v: f64) -> String {
    if v.is_nan() {
        "'NaN'".into()
    } else if v == f64::INFINITY {
        "'Infinity'".into()
    } else if v == f64::NEG_INFINITY {
        "'-Infinity'".into()
    } else {
        format!("{v}")
    }
}

fn sql_ts(us: i64) -> String {
    let t = chrono::DateTime::from_timestamp_micros(BASE + us).expect("time");
    format!("'{}'", t.format("%Y-%m-%d %H:%M:%S%.6f+00"))
}

fn insert_sql(table: &str, rows: &[Row]) -> String {
    let vals: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "({}, {}, {}, {}, {})",
                sql_ts(r.ts),
                r.host
                    .map(|h| format!("'{}'", HOSTS[h as usize]))
                    .unwrap_or("NULL".into()),
                r.v.map(sql_f64).unwrap_or("NULL".into()),
                r.n.map(|n| n.to_string()).unwrap_or("NULL".into()),
                r.ok.map(|b| b.to_string()).unwrap_or("NULL".into()),
            )
        })
        .collect();
    format!(
        "INSERT INTO {table} (ts, host, v, n, ok) VALUES {}",
        vals.join(", ")
    )
}

/// Bucket widths (SQL, µs) and hypertable chunk intervals (SQL): chunks not aligned with
/// buckets make recomputation read a bucket from several partitions.
const BUCKETS: [(&str, i64); 2] = [("1 minute", 60_000_000), ("90 seconds", 90_000_000)];
const CHUNKS: [&str; 4] = ["30 seconds", "1 minute", "150 seconds", "1 day"];

/// How the view gets the rows written before it exists.
#[derive(Clone, Copy, Debug)]
enum Backfill {
    /// `CREATE ... WITH DATA` (the default).
    WithData,
    /// `WITH NO DATA`, then `CALL refresh_continuous_aggregate('v', NULL, NULL)` at the end.
    NoDataThenRefresh,
}

#[derive(Clone, Debug)]
struct Scenario {
    bucket: usize,
    chunk: usize,
    rows: Vec<Row>,
    /// Batch sizes, used in turn to cut `rows` into INSERT statements.
    sizes: Vec<usize>,
    /// Number of batches inserted before the view is created.
    view_at: Index,
    backfill: Backfill,
    /// Checkpoints, each after a number of batches.
    checkpoints: Vec<Index>,
    txn: Option<Txn>,
}

/// Some consecutive batches inside `BEGIN ... COMMIT` or `ROLLBACK`: the session buffers
/// the rows, reads them through an overlay (states computed on the fly for the view), and
/// writes rows and states at COMMIT in one WAL record.
#[derive(Clone, Debug)]
struct Txn {
    start: Index,
    len: Index,
    commit: bool,
    /// Compare the view with the raw query before COMMIT / ROLLBACK (if it exists).
    compare_inside: bool,
}

fn scenario(max_rows: usize) -> impl Strategy<Value = Scenario> {
    (
        0..BUCKETS.len(),
        0..CHUNKS.len(),
        proptest::collection::vec(row(), 1..max_rows),
        proptest::collection::vec(1usize..50, 1..8),
        any::<Index>(),
        prop_oneof![4 => Just(Backfill::WithData), 1 => Just(Backfill::NoDataThenRefresh)],
        proptest::collection::vec(any::<Index>(), 0..3),
        proptest::option::weighted(
            0.3,
            (any::<Index>(), any::<Index>(), any::<bool>(), any::<bool>()).prop_map(
                |(start, len, commit, compare_inside)| Txn {
                    start,
                    len,
                    commit,
                    compare_inside,
                },
            ),
        ),
    )
        .prop_map(
            |(bucket, chunk, rows, sizes, view_at, backfill, checkpoints, txn)| Scenario {
                bucket,
                chunk,
                rows,
                sizes,
                view_at,
                backfill,
                checkpoints,
                txn,
            },
        )
}

fn batches<'a>(rows: &'a [Row], sizes: &[usize]) -> Vec<&'a [Row]> {
    let mut out = vec![];
    let mut i = 0;
    let mut k = 0;
    while i < rows.len() {
        let n = sizes[k % sizes.len()].min(rows.len() - i);
        out.push(&rows[i..i + n]);
        i += n;
        k += 1;
    }
    out
}

/// A DELETE of a time range, optionally of one host only (or of the NULL host).
#[derive(Clone, Debug)]
struct Delete {
    from: i64,
    len: i64,
    host: Option<Option<u8>>,
    /// Rows inserted after the DELETE (before the next comparison).
    then_insert: Vec<Row>,
}

fn delete() -> impl Strategy<Value = Delete> {
    (
        -10_000_000..SPAN,
        prop_oneof![1 => Just(0i64), 3 => 1..SPAN / 2, 1 => Just(SPAN * 2)],
        prop_oneof![
            3 => Just(None),
            2 => (0..HOSTS.len() as u8).prop_map(|h| Some(Some(h))),
            1 => Just(Some(None)),
        ],
        proptest::collection::vec(row(), 0..20),
    )
        .prop_map(|(from, len, host, then_insert)| Delete {
            from,
            len,
            host,
            then_insert,
        })
}

impl Delete {
    fn matches(&self, r: &Row) -> bool {
        r.ts >= self.from
            && r.ts < self.from + self.len
            && match self.host {
                None => true,
                Some(h) => r.host == h,
            }
    }

    fn sql(&self, table: &str) -> String {
        let host = match self.host {
            None => String::new(),
            Some(None) => " AND host IS NULL".into(),
            Some(Some(h)) => format!(" AND host = '{}'", HOSTS[h as usize]),
        };
        format!(
            "DELETE FROM {table} WHERE ts >= {} AND ts < {}{host}",
            sql_ts(self.from),
            sql_ts(self.from + self.len)
        )
    }
}

/// A second read of the view: some of its columns, buckets in a time range and maybe one
/// host (filters on group columns are pushed down to the state scan).
#[derive(Clone, Debug)]
struct Filter {
    from: i64,
    len: i64,
    host: Option<Option<u8>>,
    columns: Vec<&'static str>,
}

fn filter() -> impl Strategy<Value = Filter> {
    (
        -60_000_000..SPAN,
        1..SPAN,
        prop_oneof![
            2 => Just(None),
            2 => (0..HOSTS.len() as u8).prop_map(|h| Some(Some(h))),
            1 => Just(Some(None)),
        ],
        proptest::sample::subsequence(AGG_NAMES.to_vec(), 0..=AGG_NAMES.len()),
    )
        .prop_map(|(from, len, host, columns)| Filter {
            from,
            len,
            host,
            columns,
        })
}

impl Filter {
    fn matches(&self, key: &Key) -> bool {
        key.0 >= BASE + self.from
            && key.0 < BASE + self.from + self.len
            && self.host.is_none_or(|h| h == key.1)
    }

    /// `SELECT <columns> FROM <from> WHERE ... ORDER BY b, host`.
    fn sql(&self, from: &str) -> String {
        let host = match self.host {
            None => String::new(),
            Some(None) => " AND host IS NULL".into(),
            Some(Some(h)) => format!(" AND host = '{}'", HOSTS[h as usize]),
        };
        let mut cols = vec!["b", "host"];
        cols.extend(&self.columns);
        format!(
            "SELECT {} FROM {from} WHERE b >= {} AND b < {}{host} ORDER BY b, host",
            cols.join(", "),
            sql_ts(self.from),
            sql_ts(self.from + self.len)
        )
    }
}

// ------------------------------------------------------------------------------ model

/// DataFusion 55's *grouped* min/max of floats (`GROUP BY`; ungrouped ones are right):
///
/// * compare with a partial order, so a NaN replaces or is replaced by the current value
///   depending on row order: over (1, NaN) min = max = NaN, over (NaN, 1) min = max = 1
///   (PostgreSQL: min 1, max NaN). A view's result then depends on how rows were
///   batched, and the raw query's on the order rows are scanned in;
/// * start from f64::MAX / f64::MIN instead of ±Infinity, so min of only `+Infinity`
///   is 1.797…e308 and max of only `-Infinity` is -1.797…e308 (view and raw query agree).
///
/// Upstream: <https://github.com/apache/datafusion/issues/24432>. While true, min/max of
/// groups holding a NaN are not checked, and those holding an infinity are only checked
/// view against raw query, not against the model. To check an upgrade, run the SQL in
/// docs/architecture.md ("Known gaps") against the new DataFusion.
const GROUPED_FLOAT_MIN_MAX_BUG: bool = true;

/// Group key: bucket start (µs since the epoch) and host.
type Key = (i64, Option<u8>);

fn bucket_of(ts: i64, width: i64) -> i64 {
    ORIGIN + (BASE + ts - ORIGIN).div_euclid(width) * width
}

/// What the model knows of a group: the exact aggregates and the admissible first/last.
#[derive(Debug, PartialEq)]
struct Expected {
    c: i64,
    cv: i64,
    cd: i64,
    sn: Option<i128>,
    ba: Option<bool>,
    bo: Option<bool>,
    /// min(v) / max(v), NaN the greatest value (as in PostgreSQL and DataFusion's
    /// ungrouped min/max).
    mi: Option<f64>,
    ma: Option<f64>,
    /// Whether a `v` is NaN / infinite.
    nan: bool,
    inf: bool,
    /// Values of `v` at the smallest / largest time of the group (several on ties).
    fi: Vec<Option<f64>>,
    la: Vec<Option<f64>>,
}

/// The groups in the order of `ORDER BY b, host` (NULL hosts last, as in PostgreSQL).
fn model(rows: &[Row], width: i64) -> Vec<(Key, Expected)> {
    let mut groups: BTreeMap<(i64, bool, Option<u8>), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        groups
            .entry((bucket_of(r.ts, width), r.host.is_none(), r.host))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|((b, _, h), rs)| {
            let k = (b, h);
            let ns: Vec<i64> = rs.iter().filter_map(|r| r.n).collect();
            let oks: Vec<bool> = rs.iter().filter_map(|r| r.ok).collect();
            let tmin = rs.iter().map(|r| r.ts).min().unwrap_or_default();
            let tmax = rs.iter().map(|r| r.ts).max().unwrap_or_default();
            let e = Expected {
                c: rs.len() as i64,
                cv: rs.iter().filter(|r| r.v.is_some()).count() as i64,
                cd: ns.iter().collect::<HashSet<_>>().len() as i64,
                sn: (!ns.is_empty()).then(|| ns.iter().map(|&n| i128::from(n)).sum()),
                ba: (!oks.is_empty()).then(|| oks.iter().all(|b| *b)),
                bo: (!oks.is_empty()).then(|| oks.iter().any(|b| *b)),
                fi: rs.iter().filter(|r| r.ts == tmin).map(|r| r.v).collect(),
                la: rs.iter().filter(|r| r.ts == tmax).map(|r| r.v).collect(),
                mi: rs.iter().filter_map(|r| r.v).min_by(f64::total_cmp),
                ma: rs.iter().filter_map(|r| r.v).max_by(f64::total_cmp),
                nan: rs.iter().any(|r| r.v.is_some_and(f64::is_nan)),
                inf: rs.iter().any(|r| r.v.is_some_and(f64::is_infinite)),
            };
            (k, e)
        })
        .collect()
}

// ------------------------------------------------------------------------------ comparison

/// A query result: column names and rows of values.
struct Table {
    names: Vec<String>,
    types: Vec<String>,
    rows: Vec<Vec<ScalarValue>>,
}

/// Runs a query and collects its result (names and types from the plan's schema, so
/// that an empty result has them too).
async fn query(session: &mut Session, sql: &str) -> Result<Table, String> {
    let err = |e: &dyn std::fmt::Display| format!("{sql}\n  -> {e}");
    let mut stmts = session.parse(sql).map_err(|e| err(&e))?;
    let stmt = match (stmts.pop(), stmts.is_empty()) {
        (Some(s), true) => s,
        _ => return Err(err(&"not one statement")),
    };
    let Output::Rows { schema, stream } = session.execute(&stmt).await.map_err(|e| err(&e))? else {
        return Err(err(&"not a query"));
    };
    let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(|e| err(&e))?;
    let mut rows = vec![];
    for b in &batches {
        for i in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| ScalarValue::try_from_array(c, i).map_err(|e| err(&e)))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
    }
    Ok(Table {
        names: schema.fields().iter().map(|f| f.name().clone()).collect(),
        types: schema
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect(),
        rows,
    })
}

fn as_f64(v: &ScalarValue) -> Option<f64> {
    match v {
        ScalarValue::Float64(x) => *x,
        ScalarValue::Float32(x) => x.map(f64::from),
        _ => None,
    }
}

fn as_i128(v: &ScalarValue) -> Option<i128> {
    match v {
        ScalarValue::Decimal128(x, _, 0) => *x,
        other => as_i64(other).map(i128::from),
    }
}

fn as_i64(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::Int64(x) => *x,
        ScalarValue::UInt64(x) => x.map(|x| x as i64),
        ScalarValue::Int32(x) => x.map(i64::from),
        ScalarValue::TimestampMicrosecond(x, _) => *x,
        _ => None,
    }
}

/// Equal within `tolerance` relative to the larger magnitude (absolute below 1); NaN
/// equals NaN, an infinity only itself.
fn same_f64(a: Option<f64>, b: Option<f64>, tolerance: f64) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            (a.is_nan() && b.is_nan())
                || a == b
                || (a.is_finite()
                    && b.is_finite()
                    && (a - b).abs() <= tolerance * a.abs().max(b.abs()).max(1.0))
        }
        _ => false,
    }
}

/// Compares a value of the view with the reference query's, by column.
fn same_value(col: &str, view: &ScalarValue, reference: &ScalarValue) -> bool {
    let float = matches!(view, ScalarValue::Float64(_) | ScalarValue::Float32(_));
    match col {
        // Checked against the model in [`compare`].
        "mi" | "ma" => true,
        // Either of the tied rows; checked against the model.
        "fi" | "la" => true,
        "ad" => match (as_i64(view), as_i64(reference)) {
            (Some(a), Some(b)) if b > 100 => (a - b).abs() as f64 <= 0.02 * b as f64,
            (a, b) => a == b,
        },
        // Float results whose summation order depends on how rows were split.
        _ if float => same_f64(as_f64(view), as_f64(reference), 1e-9),
        _ => view == reference,
    }
}

fn opt_f64_eq(a: Option<f64>, b: Option<f64>) -> bool {
    same_f64(a, b, 0.0)
}

/// Checks the view's result against the reference query's and the model.
fn compare(view: &Table, reference: &Table, expected: &[(Key, Expected)]) -> Result<(), String> {
    if view.names != reference.names {
        return Err(format!(
            "columns differ: view {:?}, reference {:?}",
            view.names, reference.names
        ));
    }
    if view.types != reference.types {
        return Err(format!(
            "column types differ: view {:?}, reference {:?}",
            view.types, reference.types
        ));
    }
    let col = |name: &str| view.names.iter().position(|n| n == name);
    let mut errors = vec![];
    if view.rows.len() != reference.rows.len() || view.rows.len() != expected.len() {
        errors.push(format!(
            "row counts differ: view {}, reference {}, model {}",
            view.rows.len(),
            reference.rows.len(),
            expected.len()
        ));
    }
    for (i, ((vr, rr), (key, exp))) in view
        .rows
        .iter()
        .zip(&reference.rows)
        .zip(expected)
        .enumerate()
    {
        for (j, name) in view.names.iter().enumerate() {
            if !same_value(name, &vr[j], &rr[j]) {
                errors.push(format!(
                    "row {i} ({:?}, {:?}) column {name}: view {:?}, reference {:?}",
                    vr[0], vr[1], vr[j], rr[j]
                ));
            }
        }
        // The model: groups, exact aggregates, first/last among the tied rows.
        let get = |name: &str| col(name).map(|j| (&vr[j], &rr[j]));
        // The host as the model numbers it: Some(None) for NULL, None if unknown.
        let host = |v: &ScalarValue| match v {
            ScalarValue::Utf8(h) | ScalarValue::Utf8View(h) | ScalarValue::LargeUtf8(h) => {
                match h {
                    None => Some(None),
                    Some(h) => HOSTS.iter().position(|x| x == h).map(|p| Some(p as u8)),
                }
            }
            _ => None,
        };
        let mut check = |what: &str, ok_view: bool, ok_ref: bool, want: String| {
            if !ok_view || !ok_ref {
                errors.push(format!(
                    "row {i} {key:?} {what}: model {want}, view ok: {ok_view}, reference ok: {ok_ref}"
                ));
            }
        };
        if let (Some((vb, rb)), Some((vh, rh))) = (get("b"), get("host")) {
            let k = |b: &ScalarValue, h: &ScalarValue| host(h).map(|h| (as_i64(b).unwrap_or(0), h));
            check(
                "group",
                k(vb, vh) == Some(*key),
                k(rb, rh) == Some(*key),
                format!("{key:?}"),
            );
        }
        for (name, want) in [
            ("c", Some(exp.c.into())),
            ("cv", Some(exp.cv.into())),
            ("cd", Some(exp.cd.into())),
            ("sn", exp.sn),
        ] {
            if let Some((v, r)) = get(name) {
                check(
                    name,
                    as_i128(v) == want,
                    as_i128(r) == want,
                    format!("{want:?}"),
                );
            }
        }
        for (name, want) in [("ba", exp.ba), ("bo", exp.bo)] {
            if let Some((v, r)) = get(name) {
                let b = |x: &ScalarValue| match x {
                    ScalarValue::Boolean(b) => *b,
                    _ => None,
                };
                check(name, b(v) == want, b(r) == want, format!("{want:?}"));
            }
        }
        for (name, want) in [("mi", exp.mi), ("ma", exp.ma)] {
            if exp.nan && GROUPED_FLOAT_MIN_MAX_BUG {
                continue;
            }
            if let Some((v, r)) = get(name) {
                if exp.inf && GROUPED_FLOAT_MIN_MAX_BUG {
                    let same = opt_f64_eq(as_f64(v), as_f64(r));
                    check(
                        name,
                        same,
                        same,
                        format!("not checked, view {v:?}, reference {r:?}"),
                    );
                    continue;
                }
                check(
                    name,
                    opt_f64_eq(as_f64(v), want),
                    opt_f64_eq(as_f64(r), want),
                    format!("{want:?}, view {v:?}, reference {r:?}"),
                );
            }
        }
        for (name, want) in [("fi", &exp.fi), ("la", &exp.la)] {
            if let Some((v, r)) = get(name) {
                let ok = |x: &ScalarValue| want.iter().any(|w| opt_f64_eq(as_f64(x), *w));
                check(
                    name,
                    ok(v),
                    ok(r),
                    format!("one of {want:?}, view {v:?}, reference {r:?}"),
                );
            }
        }
        if let Some((v, _)) = get("ad") {
            let (a, e) = (as_i64(v).unwrap_or(-1), exp.cd);
            if (a - e).abs() > 2.max(e / 50) {
                errors.push(format!("row {i} {key:?} ad: {a}, exact distinct count {e}"));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        errors.truncate(20);
        Err(errors.join("\n"))
    }
}

// ------------------------------------------------------------------------------ runs

/// One case's tables and how to compare them.
struct Case {
    session: Session,
    t: String,
    v: String,
    width: i64,
    bucket_sql: &'static str,
    /// Rows currently in the table.
    rows: Vec<Row>,
    /// A second, filtered read compared each time.
    filter: Option<Filter>,
    log: Vec<String>,
}

impl Case {
    async fn new(engine: &Arc<Engine>, bucket: usize, chunk: usize) -> Result<Case, String> {
        let id = next_id();
        let mut c = Case {
            session: engine.new_session().map_err(|e| e.to_string())?,
            t: format!("t{id}"),
            v: format!("v{id}"),
            width: BUCKETS[bucket].1,
            bucket_sql: BUCKETS[bucket].0,
            rows: vec![],
            filter: None,
            log: vec![],
        };
        let t = c.t.clone();
        c.run(&format!(
            "CREATE TABLE {t} (ts timestamptz NOT NULL, host text, v double precision, n bigint, ok boolean)"
        ))
        .await?;
        c.run(&format!(
            "SELECT create_hypertable('{t}', by_range('ts', INTERVAL '{}'))",
            CHUNKS[chunk]
        ))
        .await?;
        Ok(c)
    }

    async fn run(&mut self, sql: &str) -> Result<Vec<RecordBatch>, String> {
        self.log.push(sql.to_string());
        exec(&mut self.session, sql).await
    }

    fn group_by_query(&self) -> String {
        format!(
            "SELECT time_bucket('{}', ts) AS b, host, {AGGS} FROM {} GROUP BY b, host",
            self.bucket_sql, self.t
        )
    }

    async fn create_view(&mut self, backfill: Backfill) -> Result<(), String> {
        let data = match backfill {
            Backfill::WithData => "",
            Backfill::NoDataThenRefresh => " WITH NO DATA",
        };
        let sql = format!(
            "CREATE MATERIALIZED VIEW {} WITH (timescaledb.continuous) AS {}{data}",
            self.v,
            self.group_by_query()
        );
        self.run(&sql).await.map(|_| ())
    }

    async fn insert(&mut self, rows: &[Row]) -> Result<(), String> {
        if rows.is_empty() {
            return Ok(());
        }
        self.run(&insert_sql(&self.t.clone(), rows)).await?;
        self.rows.extend_from_slice(rows);
        Ok(())
    }

    async fn delete(&mut self, d: &Delete) -> Result<(), String> {
        self.run(&d.sql(&self.t.clone())).await?;
        self.rows.retain(|r| !d.matches(r));
        Ok(())
    }

    /// The view against the defining query on the raw table and the model; then the
    /// same for the filtered read, if any.
    async fn compare(&mut self, when: &str) -> Result<(), String> {
        let mut expected = model(&self.rows, self.width);
        let mut reads = vec![(
            format!("SELECT * FROM {} ORDER BY b, host", self.v),
            format!("{} ORDER BY b, host", self.group_by_query()),
        )];
        if let Some(f) = &self.filter {
            reads.push((
                f.sql(&self.v),
                f.sql(&format!("({}) AS q", self.group_by_query())),
            ));
        }
        for (i, (view_sql, ref_sql)) in reads.into_iter().enumerate() {
            if i == 1
                && let Some(f) = &self.filter
            {
                expected.retain(|(k, _)| f.matches(k));
            }
            let view = query(&mut self.session, &view_sql).await?;
            let reference = query(&mut self.session, &ref_sql).await?;
            compare(&view, &reference, &expected).map_err(|e| {
                format!(
                    "{when}: `{view_sql}` differs from `{ref_sql}`\n{e}\n-- statements run:\n{};",
                    self.log.join(";\n")
                )
            })?;
        }
        Ok(())
    }

    /// Drops the case's view and table (also after a failure: the engine is shared).
    async fn drop(mut self) -> Result<(), String> {
        let (t, v) = (self.t.clone(), self.v.clone());
        let view = self
            .run(&format!("DROP MATERIALIZED VIEW IF EXISTS {v}"))
            .await;
        let table = self.run(&format!("DROP TABLE IF EXISTS {t}")).await;
        view.and(table).map(|_| ())
    }
}

/// Inserts the scenario's batches, creating the view and checkpointing where it says.
async fn play(c: &mut Case, s: &Scenario) -> Result<(), String> {
    let batches = batches(&s.rows, &s.sizes);
    let view_at = s.view_at.index(batches.len() + 1);
    let checkpoints: Vec<usize> = s
        .checkpoints
        .iter()
        .map(|i| i.index(batches.len() + 1))
        .collect();
    // Batches [start, end) in a transaction block.
    let txn = s.txn.as_ref().map(|t| {
        let start = t.start.index(batches.len());
        (t, start, start + 1 + t.len.index(batches.len() - start))
    });
    let mut txn_mark = 0;
    for i in 0..=batches.len() {
        if let Some((t, _, end)) = txn
            && i == end
        {
            if t.compare_inside && view_at < i && matches!(s.backfill, Backfill::WithData) {
                c.compare("inside a transaction block").await?;
            }
            if t.commit {
                c.run("COMMIT").await?;
            } else {
                c.run("ROLLBACK").await?;
                c.rows.truncate(txn_mark);
            }
        }
        if i == view_at {
            c.create_view(s.backfill).await?;
        }
        for _ in checkpoints.iter().filter(|&&k| k == i) {
            c.run("CHECKPOINT").await?;
        }
        if let Some((_, start, _)) = txn
            && i == start
        {
            c.run("BEGIN").await?;
            txn_mark = c.rows.len();
        }
        if let Some(b) = batches.get(i) {
            c.insert(b).await?;
        }
    }
    if matches!(s.backfill, Backfill::NoDataThenRefresh) {
        let v = c.v.clone();
        c.run(&format!(
            "CALL refresh_continuous_aggregate('{v}', NULL, NULL)"
        ))
        .await?;
    }
    Ok(())
}

/// Runs a case on fresh tables, then drops them.
fn run_case(
    bucket: usize,
    chunk: usize,
    body: impl AsyncFnOnce(&mut Case) -> Result<(), String>,
) -> Result<(), TestCaseError> {
    block_on(async |engine| {
        let mut c = Case::new(engine, bucket, chunk).await?;
        let r = body(&mut c).await;
        let dropped = c.drop().await;
        r.and(dropped)
    })
    .map_err(TestCaseError::fail)
}

// ------------------------------------------------------------------------------ properties

proptest! {
    #![proptest_config(ProptestConfig {
        // About 20 s for both properties in the debug profile on 2 cores (they run in
        // parallel); PROPTEST_CASES=1000 for a longer search (a few minutes).
        cases: 64,
        max_shrink_iters: 200,
        // Shrinking replays whole cases; give up on a smaller example after a while.
        max_shrink_time: 60_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Partial states of random batches, merged in any order, from memory and Parquet,
    /// with the view created before, between or after the inserts, equal one aggregation
    /// over all rows.
    #[test]
    fn cagg_equals_aggregation_over_raw_rows(s in scenario(160), f in filter()) {
        run_case(s.bucket, s.chunk, async |c| {
            c.filter = Some(f);
            play(c, &s).await?;
            c.compare("after the inserts").await
        })?;
    }

    /// DELETE recomputes the buckets it touched; later inserts keep merging into them.
    #[test]
    fn cagg_after_deletes(s in scenario(100), deletes in proptest::collection::vec(delete(), 1..4),
                          checkpoint_between in any::<bool>(), f in filter()) {
        run_case(s.bucket, s.chunk, async |c| {
            c.filter = Some(f);
            play(c, &s).await?;
            for (i, d) in deletes.iter().enumerate() {
                c.delete(d).await?;
                if checkpoint_between && i == 0 {
                    c.run("CHECKPOINT").await?;
                }
                c.compare(&format!("after DELETE #{}", i + 1)).await?;
                c.insert(&d.then_insert).await?;
            }
            c.compare("after the last inserts").await
        })?;
    }
}

/// The comparison itself must be able to fail: a changed value of each kind is reported.
#[test]
fn comparison_detects_differences() {
    let rows = vec![
        Row {
            ts: 1_000_000,
            host: Some(0),
            v: Some(1.5),
            n: Some(3),
            ok: Some(true),
        },
        Row {
            ts: 2_000_000,
            host: Some(0),
            v: Some(2.5),
            n: Some(4),
            ok: Some(false),
        },
        Row {
            ts: 3_000_000,
            host: None,
            v: None,
            n: None,
            ok: None,
        },
    ];
    let width = BUCKETS[0].1;
    block_on(async |engine| {
        let mut c = Case::new(engine, 0, 1).await?;
        c.insert(&rows).await?;
        c.create_view(Backfill::WithData).await?;
        c.compare("sanity").await?;
        let view_sql = format!("SELECT * FROM {} ORDER BY b, host", c.v);
        let good = query(&mut c.session, &view_sql).await?;
        let expected = model(&c.rows, width);
        for (j, name) in good.names.clone().iter().enumerate() {
            let mut bad = query(&mut c.session, &view_sql).await?;
            let cell = &mut bad.rows[0][j];
            *cell = match cell {
                ScalarValue::Float64(_) => ScalarValue::Float64(Some(1234.5)),
                ScalarValue::Int64(x) => ScalarValue::Int64(Some(x.unwrap_or(0) + 7)),
                ScalarValue::UInt64(x) => ScalarValue::UInt64(Some(x.unwrap_or(0) + 7)),
                ScalarValue::Decimal128(x, p, s) => {
                    ScalarValue::Decimal128(Some(x.unwrap_or(0) + 7), *p, *s)
                }
                ScalarValue::Boolean(x) => ScalarValue::Boolean(x.map(|b| !b).or(Some(true))),
                ScalarValue::Utf8(_) => ScalarValue::Utf8(Some("zz".into())),
                ScalarValue::Utf8View(_) => ScalarValue::Utf8View(Some("zz".into())),
                ScalarValue::TimestampMicrosecond(x, tz) => {
                    ScalarValue::TimestampMicrosecond(x.map(|x| x + 60_000_000), tz.clone())
                }
                other => return Err(format!("column {name}: unexpected type {other:?}")),
            };
            if compare(&bad, &good, &expected).is_ok() {
                return Err(format!("a changed {name} was not noticed"));
            }
        }
        // A lost group is noticed too.
        let mut short = query(&mut c.session, &view_sql).await?;
        short.rows.pop();
        if compare(&short, &good, &expected).is_ok() {
            return Err("a missing row was not noticed".into());
        }
        c.drop().await
    })
    .unwrap();
}
