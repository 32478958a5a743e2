//! Wire-protocol integration tests: a real `strata serve` process driven by tokio-postgres
//! (simple and extended protocol, COPY, cancel, settings) and by raw sockets (garbage).
//!
//! Every test starts its own server on a free port with a fresh data directory.

mod common;

use std::fmt::Debug;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use common::TestServer;
use futures::{SinkExt, TryStreamExt};
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::types::{Json, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

// ------------------------------------------------------------------------------ helpers

/// The SQLSTATE of an error, or a description when the error has none.
fn sqlstate(e: &tokio_postgres::Error) -> String {
    match e.code() {
        Some(c) => c.code().to_string(),
        None => format!("<no SQLSTATE: {e:?}>"),
    }
}

/// Collects mismatches so that one test run reports all of them, then fails.
#[derive(Default)]
struct Checks {
    fails: Vec<String>,
}

impl Checks {
    fn eq<T: PartialEq + Debug>(&mut self, what: &str, actual: T, expected: T) {
        if actual != expected {
            self.fails.push(format!(
                "{what}:\n      expected: {expected:?}\n      actual:   {actual:?}"
            ));
        }
    }

    fn ok(&mut self, what: &str, cond: bool, detail: impl Debug) {
        if !cond {
            self.fails.push(format!("{what}: {detail:?}"));
        }
    }

    fn fail(&mut self, what: String) {
        self.fails.push(what);
    }

    fn finish(self, server: &TestServer) {
        if !self.fails.is_empty() {
            let log = server.log();
            let tail: String = log
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!(
                "{} check(s) failed:\n  - {}\n--- server log tail ---\n{tail}",
                self.fails.len(),
                self.fails.join("\n  - ")
            );
        }
    }
}

/// All data rows of a simple query (all statements), as text.
async fn simple_rows(
    c: &Client,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, tokio_postgres::Error> {
    let msgs = c.simple_query(sql).await?;
    Ok(msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect())
}

/// The single text value of a simple query.
async fn simple_one(c: &Client, sql: &str) -> Option<String> {
    let rows = simple_rows(c, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    assert_eq!(rows.len(), 1, "{sql}: expected one row, got {rows:?}");
    assert_eq!(rows[0].len(), 1, "{sql}: expected one column, got {rows:?}");
    rows[0][0].clone()
}

async fn count(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get::<_, i64>(0)
}

/// Connects with extra libpq-style connection parameters.
async fn connect_with(s: &TestServer, extra: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(&format!("{} {extra}", s.conn_str()), NoTls)
        .await
        .expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + chrono::Duration::microseconds(us as i64)
}

fn naive(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_micro_opt(h, mi, s, us)
        .unwrap()
}

/// Queries that run for many seconds in a debug build if nothing stops them: a long scan
/// (~20 s) and a nested-loop join of 10^10 pairs (~10 s; the filter defeats hash joins and
/// statistics shortcuts).
const SLOW_QUERIES: &[(&str, &str)] = &[
    (
        "scan",
        "select sum(g % 7) from generate_series(1,5000000000) g",
    ),
    (
        "join",
        "select count(*) from generate_series(1,100000) a, generate_series(1,100000) b where a.a + b.b = 7",
    ),
];

/// How soon a timeout or cancel must take effect.
const PROMPT: Duration = Duration::from_millis(2000);

// ------------------------------------------------------------------ simple protocol

#[tokio::test]
async fn simple_protocol_multiple_statements_in_one_message() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();

    c.batch_execute(
        "create table m (ts timestamptz not null, id bigint, v double precision, s text);
         insert into m values ('2024-01-01 00:00:00+00', 1, 1.5, 'one');
         insert into m values ('2024-01-01 00:00:01+00', 2, 2.5, 'two'), ('2024-01-01 00:00:02+00', 3, null, null);",
    )
    .await
    .expect("batch_execute of CREATE + 2 INSERTs");

    let msgs = c
        .simple_query("select count(*) from m; select id, v, s from m order by id; insert into m values ('2024-01-01 00:00:03+00', 4, 4, 'four')")
        .await
        .expect("three statements in one Query message");
    let mut seq = vec![];
    for m in &msgs {
        match m {
            SimpleQueryMessage::Row(r) => seq.push(format!(
                "row:{}",
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL"))
                    .collect::<Vec<_>>()
                    .join("|")
            )),
            SimpleQueryMessage::CommandComplete(n) => seq.push(format!("complete:{n}")),
            SimpleQueryMessage::RowDescription(cols) => seq.push(format!(
                "desc:{}",
                cols.iter().map(|c| c.name()).collect::<Vec<_>>().join(",")
            )),
            _ => seq.push("other".into()),
        }
    }
    k.eq(
        "message sequence of `select count(*); select ...; insert ...`",
        seq,
        vec![
            "desc:count".to_string(),
            "row:3".into(),
            "complete:1".into(),
            "desc:id,v,s".into(),
            "row:1|1.5|one".into(),
            "row:2|2.5|two".into(),
            "row:3|NULL|NULL".into(),
            "complete:3".into(),
            "complete:1".into(),
        ],
    );
    k.eq(
        "count after the INSERT of the batch",
        count(&c, "select count(*) from m").await,
        4,
    );

    // An error stops the rest of the message: the statement after the error never runs.
    let err = c
        .simple_query("insert into m values ('2024-01-01 00:00:05+00', 100, 0, 'x'); select 1/0; insert into m values ('2024-01-01 00:00:06+00', 101, 0, 'y')")
        .await;
    match err {
        Ok(_) => k.fail("`...; select 1/0; ...` in one message succeeded".into()),
        Err(e) => k.eq(
            "SQLSTATE of select 1/0 inside a multi-statement message",
            sqlstate(&e),
            "22012".into(),
        ),
    }
    k.eq(
        "statement after the failing one must not run (id 101)",
        count(&c, "select count(*) from m where id = 101").await,
        0,
    );
    // Empty statements and trailing semicolons.
    match c.simple_query(";;select 7;;").await {
        Ok(m) => {
            let rows: Vec<_> = m
                .iter()
                .filter_map(|x| {
                    if let SimpleQueryMessage::Row(r) = x {
                        r.get(0).map(str::to_string)
                    } else {
                        None
                    }
                })
                .collect();
            k.eq("`;;select 7;;` rows", rows, vec!["7".to_string()]);
        }
        Err(e) => k.fail(format!("`;;select 7;;` failed: {e:?}")),
    }
    k.eq(
        "connection still usable",
        simple_one(&c, "select 'ok'").await,
        Some("ok".into()),
    );
    k.finish(&s);
}

// ------------------------------------------------------------------ extended protocol

#[derive(Debug, Clone, PartialEq)]
struct TypedRow {
    ts: DateTime<Utc>,
    i2: Option<i16>,
    i4: Option<i32>,
    i8: Option<i64>,
    f4: Option<f32>,
    f8: Option<f64>,
    t: Option<String>,
    b: Option<bool>,
    bin: Option<Vec<u8>>,
    d: Option<NaiveDate>,
    tsn: Option<NaiveDateTime>,
    tz: Option<DateTime<Utc>>,
}

/// A JSON value (the test crate cannot name serde_json; tokio-postgres' `Json<T>` carries
/// any serde type as json/jsonb).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(std::collections::BTreeMap<String, J>),
}

fn obj(kv: &[(&str, J)]) -> Json<J> {
    Json(J::Obj(
        kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
    ))
}

const TYPED_COLS: &str = "ts, c_i2, c_i4, c_i8, c_f4, c_f8, c_t, c_b, c_bin, c_d, c_tsn, c_tz";

fn typed_rows() -> Vec<TypedRow> {
    vec![
        TypedRow {
            ts: ts(2024, 1, 1, 0, 0, 0, 1),
            i2: Some(12),
            i4: Some(-123_456),
            i8: Some(9_000_000_000),
            f4: Some(1.25),
            f8: Some(0.1 + 0.2),
            t: Some("hello".into()),
            b: Some(true),
            bin: Some(vec![0xde, 0xad, 0xbe, 0xef]),
            d: NaiveDate::from_ymd_opt(2024, 2, 29),
            tsn: Some(naive(2024, 1, 1, 0, 5, 0, 123_456)),
            tz: Some(ts(2024, 1, 1, 0, 5, 0, 654_321)),
        },
        TypedRow {
            ts: ts(2024, 1, 1, 0, 0, 1, 0),
            i2: Some(i16::MIN),
            i4: Some(i32::MAX),
            i8: Some(i64::MIN),
            f4: Some(f32::MAX),
            f8: Some(f64::MIN_POSITIVE),
            t: Some("héllo ✓ 日本 \"q\" 'a' \\ \t\n\r end".into()),
            b: Some(false),
            bin: Some((0..=255u8).collect()),
            d: NaiveDate::from_ymd_opt(1900, 1, 1),
            tsn: Some(naive(1969, 12, 31, 23, 59, 59, 999_999)),
            tz: Some(ts(1970, 1, 1, 0, 0, 0, 0)),
        },
        TypedRow {
            ts: ts(2024, 1, 1, 0, 0, 2, 0),
            i2: None,
            i4: None,
            i8: None,
            f4: None,
            f8: None,
            t: None,
            b: None,
            bin: None,
            d: None,
            tsn: None,
            tz: None,
        },
        TypedRow {
            ts: ts(2024, 1, 1, 0, 0, 3, 999_999),
            i2: Some(i16::MAX),
            i4: Some(i32::MIN),
            i8: Some(i64::MAX),
            f4: Some(f32::NEG_INFINITY),
            f8: Some(f64::INFINITY),
            t: Some(String::new()),
            b: Some(true),
            bin: Some(vec![]),
            d: NaiveDate::from_ymd_opt(2300, 12, 31),
            tsn: Some(naive(2300, 1, 1, 12, 0, 0, 1)),
            tz: Some(ts(2100, 6, 15, 12, 0, 0, 1)),
        },
        TypedRow {
            ts: ts(2024, 1, 1, 0, 0, 4, 0),
            i2: Some(0),
            i4: Some(0),
            i8: Some(0),
            f4: Some(-0.5),
            f8: Some(-1.0e-300),
            t: Some("x".repeat(10_000)),
            b: None,
            bin: Some(vec![0; 3]),
            d: NaiveDate::from_ymd_opt(1970, 1, 1),
            tsn: Some(naive(2000, 2, 29, 23, 59, 59, 0)),
            tz: Some(ts(1999, 12, 31, 23, 59, 59, 999_999)),
        },
    ]
}

async fn read_typed(c: &Client) -> Result<Vec<TypedRow>, tokio_postgres::Error> {
    let rows = c
        .query(&format!("select {TYPED_COLS} from typed order by ts"), &[])
        .await?;
    rows.iter()
        .map(|r| {
            Ok(TypedRow {
                ts: r.try_get(0)?,
                i2: r.try_get(1)?,
                i4: r.try_get(2)?,
                i8: r.try_get(3)?,
                f4: r.try_get(4)?,
                f8: r.try_get(5)?,
                t: r.try_get(6)?,
                b: r.try_get(7)?,
                bin: r.try_get(8)?,
                d: r.try_get(9)?,
                tsn: r.try_get(10)?,
                tz: r.try_get(11)?,
            })
        })
        .collect()
}

fn compare_typed(
    k: &mut Checks,
    when: &str,
    got: Result<Vec<TypedRow>, tokio_postgres::Error>,
    expected: &[TypedRow],
) {
    match got {
        Err(e) => k.fail(format!(
            "{when}: reading the typed table back failed: {e:?}"
        )),
        Ok(got) => {
            k.eq(&format!("{when}: row count"), got.len(), expected.len());
            for (i, (g, e)) in got.iter().zip(expected).enumerate() {
                if g != e {
                    // Report the differing fields only.
                    let gs = format!("{g:?}");
                    let es = format!("{e:?}");
                    let diff: Vec<String> = gs
                        .split(", ")
                        .zip(es.split(", "))
                        .filter(|(a, b)| a != b)
                        .map(|(a, b)| format!("got {a} want {b}"))
                        .collect();
                    let diff = diff.join("; ");
                    k.fail(format!(
                        "{when}: row {i} differs: {}",
                        if diff.len() > 2000 {
                            format!("{}…", &diff[..2000])
                        } else {
                            diff
                        }
                    ));
                }
            }
        }
    }
}

/// Every supported parameter type goes in through binary Bind parameters and comes back
/// in binary DataRows unchanged: from memory, after CHECKPOINT (Parquet), after restart.
#[tokio::test]
async fn extended_protocol_all_types_roundtrip() {
    let mut s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    c.batch_execute(
        "create table typed (ts timestamptz not null, c_i2 smallint, c_i4 integer, c_i8 bigint, c_f4 real, c_f8 double precision, \
         c_t text, c_b boolean, c_bin bytea, c_d date, c_tsn timestamp, c_tz timestamptz)",
    )
    .await
    .expect("create typed");
    let ins = c
        .prepare(&format!("insert into typed ({TYPED_COLS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
        .await
        .expect("prepare insert");
    k.eq(
        "parameter types the server infers for the INSERT",
        ins.params().to_vec(),
        vec![
            Type::TIMESTAMPTZ,
            Type::INT2,
            Type::INT4,
            Type::INT8,
            Type::FLOAT4,
            Type::FLOAT8,
            Type::TEXT,
            Type::BOOL,
            Type::BYTEA,
            Type::DATE,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ,
        ],
    );
    let rows = typed_rows();
    for (i, r) in rows.iter().enumerate() {
        let res = c
            .execute(
                &ins,
                &[
                    &r.ts, &r.i2, &r.i4, &r.i8, &r.f4, &r.f8, &r.t, &r.b, &r.bin, &r.d, &r.tsn,
                    &r.tz,
                ],
            )
            .await;
        match res {
            Ok(n) => k.eq(&format!("rows affected by INSERT of typed row {i}"), n, 1),
            Err(e) => k.fail(format!("INSERT of typed row {i} failed: {e:?}")),
        }
    }
    compare_typed(&mut k, "in memory", read_typed(&c).await, &rows);

    // Parameters in WHERE, including NULL handling.
    let sel = c
        .prepare("select c_i8 from typed where ts >= $1 order by ts")
        .await
        .expect("prepare where ts >= $1");
    k.eq(
        "param type of `ts >= $1`",
        sel.params().to_vec(),
        vec![Type::TIMESTAMPTZ],
    );
    match c.query(&sel, &[&ts(2024, 1, 1, 0, 0, 2, 0)]).await {
        Ok(r) => k.eq(
            "where ts >= $1",
            r.iter()
                .map(|r| r.get::<_, Option<i64>>(0))
                .collect::<Vec<_>>(),
            vec![None, Some(i64::MAX), Some(0)],
        ),
        Err(e) => k.fail(format!("where ts >= $1: {e:?}")),
    }
    match c
        .query(
            "select ts from typed where c_t = $1 and c_b = $2",
            &[&"hello", &true],
        )
        .await
    {
        Ok(r) => k.eq(
            "where c_t = $1 and c_b = $2",
            r.iter()
                .map(|r| r.get::<_, DateTime<Utc>>(0))
                .collect::<Vec<_>>(),
            vec![rows[0].ts],
        ),
        Err(e) => k.fail(format!("where c_t = $1 and c_b = $2: {e:?}")),
    }
    match c
        .query(
            "select count(*) from typed where c_i4 = $1",
            &[&None::<i32>],
        )
        .await
    {
        Ok(r) => k.eq(
            "`c_i4 = NULL` parameter matches nothing",
            r[0].get::<_, i64>(0),
            0,
        ),
        Err(e) => k.fail(format!("where c_i4 = $1 (NULL): {e:?}")),
    }
    match c
        .query("select count(*) from typed where c_i4 is null", &[])
        .await
    {
        Ok(r) => k.eq(
            "rows with NULL c_i4 (inserted as NULL parameters)",
            r[0].get::<_, i64>(0),
            1,
        ),
        Err(e) => k.fail(format!("where c_i4 is null: {e:?}")),
    }
    match c
        .query_one(
            "select $1::text as t, $2::bigint as n",
            &[&None::<String>, &None::<i64>],
        )
        .await
    {
        Ok(r) => k.eq(
            "NULL parameters selected back",
            (r.get::<_, Option<String>>(0), r.get::<_, Option<i64>>(1)),
            (None, None),
        ),
        Err(e) => k.fail(format!("select $1::text, $2::bigint with NULLs: {e:?}")),
    }

    // From Parquet after a checkpoint, then after a clean restart.
    if let Err(e) = c.batch_execute("CHECKPOINT").await {
        k.fail(format!("CHECKPOINT failed: {e:?}"));
    }
    compare_typed(&mut k, "after CHECKPOINT", read_typed(&c).await, &rows);
    drop(c);
    k.ok(
        "clean stop (SIGTERM) exits with success",
        s.stop(),
        "exit status not success",
    );
    s.restart();
    let c = s.connect().await;
    compare_typed(&mut k, "after restart", read_typed(&c).await, &rows);
    k.finish(&s);
}

/// jsonb parameters and results in binary (tokio-postgres `Json<T>`, what `serde_json::Value`
/// uses too), with the server's own parameter types and with declared ones.
#[tokio::test]
async fn extended_protocol_jsonb_roundtrip() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    c.batch_execute("create table js (ts timestamptz not null, j jsonb)")
        .await
        .expect("create js");
    let values: Vec<Option<Json<J>>> = vec![
        Some(obj(&[
            ("a", J::Num(1.0)),
            (
                "b",
                J::Arr(vec![
                    J::Bool(true),
                    J::Null,
                    J::Num(2.5),
                    J::Str("x".into()),
                ]),
            ),
            ("c", obj(&[("d", J::Str("é".into()))]).0),
        ])),
        Some(Json(J::Arr(vec![
            J::Num(1.0),
            J::Str("two".into()),
            obj(&[("three", J::Arr(vec![J::Num(3.0)]))]).0,
            J::Null,
            J::Bool(false),
        ]))),
        Some(obj(&[])),
        Some(Json(J::Str("just a string".into()))),
        None,
    ];
    let base = ts(2024, 1, 1, 0, 0, 0, 0);
    match c.prepare("insert into js (ts, j) values ($1, $2)").await {
        Ok(st) => {
            k.eq(
                "parameter types inferred for a jsonb column",
                st.params().to_vec(),
                vec![Type::TIMESTAMPTZ, Type::JSONB],
            );
            for (i, v) in values.iter().enumerate() {
                if let Err(e) = c
                    .execute(&st, &[&(base + chrono::Duration::seconds(i as i64)), v])
                    .await
                {
                    k.fail(format!("insert jsonb value {i} with inferred types: {e:?}"));
                }
            }
        }
        Err(e) => k.fail(format!("prepare insert into js: {e:?}")),
    }
    match c
        .prepare_typed(
            "insert into js (ts, j) values ($1, $2)",
            &[Type::TIMESTAMPTZ, Type::JSONB],
        )
        .await
    {
        Ok(st) => {
            for (i, v) in values.iter().enumerate() {
                if let Err(e) = c
                    .execute(
                        &st,
                        &[&(base + chrono::Duration::seconds(100 + i as i64)), v],
                    )
                    .await
                {
                    k.fail(format!("insert jsonb value {i} with declared JSONB: {e:?}"));
                }
            }
        }
        Err(e) => k.fail(format!("prepare_typed insert into js: {e:?}")),
    }
    match c.query("select ts, j from js order by ts", &[]).await {
        Ok(rows) => {
            if let Some(r) = rows.first() {
                k.eq(
                    "result type of a jsonb column",
                    r.columns()[1].type_().clone(),
                    Type::JSONB,
                );
            }
            let mut got = vec![];
            for r in &rows {
                match r.try_get::<_, Option<Json<J>>>(1) {
                    Ok(v) => got.push((r.get::<_, DateTime<Utc>>(0), v)),
                    Err(e) => {
                        k.fail(format!("decode jsonb result: {e:?}"));
                        break;
                    }
                }
            }
            let mut want = vec![];
            for off in [0i64, 100] {
                for (i, v) in values.iter().enumerate() {
                    want.push((base + chrono::Duration::seconds(off + i as i64), v.clone()));
                }
            }
            k.eq("jsonb values read back in binary", got, want);
        }
        Err(e) => k.fail(format!("select from js: {e:?}")),
    }
    // Text form is PostgreSQL's jsonb normal form.
    // (The row inserted with a declared JSONB parameter, so this check does not depend on
    // parameter-type inference.)
    let t100 = base + chrono::Duration::seconds(100);
    match simple_rows(
        &c,
        &format!(
            "select j from js where ts = '{}'",
            t100.format("%Y-%m-%d %H:%M:%S+00")
        ),
    )
    .await
    {
        Ok(r) => k.eq(
            "jsonb text output",
            r,
            vec![vec![Some(
                "{\"a\": 1.0, \"b\": [true, null, 2.5, \"x\"], \"c\": {\"d\": \"é\"}}".into(),
            )]],
        ),
        Err(e) => k.fail(format!("select jsonb as text: {e:?}")),
    }
    k.finish(&s);
}

/// A named statement is parsed once and executed many times; several coexist.
#[tokio::test]
async fn extended_protocol_named_statements_reused() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    c.batch_execute("create table kv (ts timestamptz not null, id bigint not null, v text)")
        .await
        .unwrap();
    let ins = c
        .prepare("insert into kv (ts, id, v) values ($1, $2, $3)")
        .await
        .expect("prepare insert");
    let get = c
        .prepare("select v from kv where id = $1")
        .await
        .expect("prepare select");
    let cnt = c
        .prepare("select count(*) from kv")
        .await
        .expect("prepare count");
    let base = ts(2024, 3, 1, 0, 0, 0, 0);
    for i in 0..500i64 {
        let t = base + chrono::Duration::seconds(i);
        if let Err(e) = c.execute(&ins, &[&t, &i, &format!("v{i}")]).await {
            k.fail(format!("execution {i} of the prepared INSERT: {e:?}"));
            break;
        }
        if i % 50 == 49 {
            let n: i64 = c.query_one(&cnt, &[]).await.expect("count").get(0);
            k.eq(&format!("count after {} inserts", i + 1), n, i + 1);
        }
    }
    let mut wrong = 0;
    for i in (0..500i64).step_by(7) {
        match c.query(&get, &[&i]).await {
            Ok(r) if r.len() == 1 && r[0].get::<_, Option<String>>(0) == Some(format!("v{i}")) => {}
            Ok(r) => {
                wrong += 1;
                if wrong < 5 {
                    k.fail(format!(
                        "select v where id = {i}: got {:?}",
                        r.iter()
                            .map(|r| r.get::<_, Option<String>>(0))
                            .collect::<Vec<_>>()
                    ));
                }
            }
            Err(e) => {
                k.fail(format!("select v where id = {i}: {e:?}"));
                break;
            }
        }
    }
    // prepare_typed: declared parameter types are used, including a narrower integer
    // for a bigint column (assignment cast, as in PostgreSQL).
    match c
        .prepare_typed(
            "insert into kv (ts, id, v) values ($1, $2, $3)",
            &[Type::TIMESTAMPTZ, Type::INT4, Type::TEXT],
        )
        .await
    {
        Ok(st) => {
            k.eq(
                "prepare_typed params",
                st.params().to_vec(),
                vec![Type::TIMESTAMPTZ, Type::INT4, Type::TEXT],
            );
            if let Err(e) = c.execute(&st, &[&base, &1_000_000i32, &"typed"]).await {
                k.fail(format!("execute prepare_typed insert: {e:?}"));
            }
            match c.query(&get, &[&1_000_000i64]).await {
                Ok(r) => k.eq(
                    "row inserted through prepare_typed",
                    r.iter()
                        .map(|r| r.get::<_, Option<String>>(0))
                        .collect::<Vec<_>>(),
                    vec![Some("typed".into())],
                ),
                Err(e) => k.fail(format!("select the prepare_typed row: {e:?}")),
            }
        }
        Err(e) => k.fail(format!("prepare_typed insert: {e:?}")),
    }
    match c.prepare_typed("select $1 + 1 as n", &[Type::INT8]).await {
        Ok(st) => {
            k.eq(
                "prepare_typed `select $1 + 1` param types",
                st.params().to_vec(),
                vec![Type::INT8],
            );
            k.eq(
                "prepare_typed `select $1 + 1` result type",
                st.columns().first().map(|c| c.type_().clone()),
                Some(Type::INT8),
            );
            match c.query_one(&st, &[&41i64]).await {
                Ok(r) => k.eq(
                    "select $1 + 1 with 41",
                    r.try_get::<_, i64>(0).ok(),
                    Some(42),
                ),
                Err(e) => k.fail(format!("execute `select $1 + 1`: {e:?}")),
            }
        }
        Err(e) => k.fail(format!("prepare_typed `select $1 + 1`: {e:?}")),
    }
    match c
        .prepare_typed(
            "select count(*) from kv where id >= $1 and v <> $2",
            &[Type::INT8, Type::TEXT],
        )
        .await
    {
        Ok(st) => match c.query_one(&st, &[&490i64, &"v499"]).await {
            Ok(r) => k.eq(
                "count where id >= 490 and v <> 'v499'",
                r.get::<_, i64>(0),
                10,
            ),
            Err(e) => k.fail(format!("prepare_typed count: {e:?}")),
        },
        Err(e) => k.fail(format!("prepare_typed count: {e:?}")),
    }
    k.finish(&s);
}

/// RowDescription carries the PostgreSQL type of each result column.
#[tokio::test]
async fn result_column_type_oids() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    c.batch_execute(
        "create table o (ts timestamptz not null, i2 smallint, i4 int, i8 bigint, f4 real, f8 double precision, t text, vc varchar(10), \
         b boolean, bin bytea, d date, tsn timestamp, j jsonb);
         insert into o values ('2024-01-01 00:00:00+00', 1, 2, 3, 4.5, 5.5, 't', 'vc', true, '\\x01', '2024-01-01', '2024-01-01 00:00:00', '{\"a\":1}')",
    )
    .await
    .expect("create + insert");
    let cases: &[(&str, Type)] = &[
        ("select count(*) from o", Type::INT8),
        ("select avg(f8) from o", Type::FLOAT8),
        ("select sum(f8) from o", Type::FLOAT8),
        ("select sum(i4) from o", Type::INT8),
        ("select min(i2) from o", Type::INT2),
        ("select max(f4) from o", Type::FLOAT4),
        ("select min(ts) from o", Type::TIMESTAMPTZ),
        ("select ts from o", Type::TIMESTAMPTZ),
        ("select i2 from o", Type::INT2),
        ("select i4 from o", Type::INT4),
        ("select i8 from o", Type::INT8),
        ("select f4 from o", Type::FLOAT4),
        ("select f8 from o", Type::FLOAT8),
        ("select t from o", Type::TEXT),
        ("select vc from o", Type::VARCHAR),
        ("select b from o", Type::BOOL),
        ("select bin from o", Type::BYTEA),
        ("select d from o", Type::DATE),
        ("select tsn from o", Type::TIMESTAMP),
        ("select j from o", Type::JSONB),
        ("select now()", Type::TIMESTAMPTZ),
        ("select 'x'::text", Type::TEXT),
        ("select 1", Type::INT4),
        ("select 1.5::float8", Type::FLOAT8),
        ("select true", Type::BOOL),
    ];
    for (sql, want) in cases {
        match c.prepare(sql).await {
            Ok(st) => {
                k.eq(
                    &format!("type of `{sql}` (Describe)"),
                    st.columns().first().map(|c| c.type_().clone()),
                    Some(want.clone()),
                );
                match c.query(&st, &[]).await {
                    Ok(rows) => {
                        if let Some(r) = rows.first() {
                            k.eq(
                                &format!("type of `{sql}` (rows)"),
                                r.columns()[0].type_().clone(),
                                want.clone(),
                            );
                        }
                    }
                    Err(e) => k.fail(format!("`{sql}` failed: {e:?}")),
                }
            }
            Err(e) => k.fail(format!("prepare `{sql}` failed: {e:?}")),
        }
    }
    // Values of the aggregates in binary, with the types above.
    match c
        .query_one("select count(*), avg(f8), min(ts), max(t) from o", &[])
        .await
    {
        Ok(r) => {
            k.eq("count(*) as i64", r.try_get::<_, i64>(0).ok(), Some(1));
            k.eq("avg(f8) as f64", r.try_get::<_, f64>(1).ok(), Some(5.5));
            k.eq(
                "min(ts) as DateTime<Utc>",
                r.try_get::<_, DateTime<Utc>>(2).ok(),
                Some(ts(2024, 1, 1, 0, 0, 0, 0)),
            );
            k.eq(
                "max(t) as String",
                r.try_get::<_, String>(3).ok(),
                Some("t".into()),
            );
        }
        Err(e) => k.fail(format!("aggregates: {e:?}")),
    }
    k.finish(&s);
}

/// Text-format results (simple protocol) are byte-identical to PostgreSQL's.
#[tokio::test]
async fn text_format_exactness() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    let cases: &[(&str, Option<&str>)] = &[
        (
            "select timestamptz '2024-01-01 00:05:00+00'",
            Some("2024-01-01 00:05:00+00"),
        ),
        (
            "select timestamptz '2024-01-01 00:05:00.25+00'",
            Some("2024-01-01 00:05:00.25+00"),
        ),
        (
            "select timestamp '2024-01-01 00:05:00.5'",
            Some("2024-01-01 00:05:00.5"),
        ),
        ("select date '2024-02-29'", Some("2024-02-29")),
        ("select true", Some("t")),
        ("select false", Some("f")),
        ("select 4::float8", Some("4")),
        (
            "select 0.1::float8 + 0.2::float8",
            Some("0.30000000000000004"),
        ),
        ("select 1e100::float8", Some("1e+100")),
        ("select 1e16::float8", Some("1e+16")),
        ("select 123456789012::float8", Some("123456789012")),
        ("select 1.5e-7::float8", Some("1.5e-07")),
        ("select (-1.5)::float8", Some("-1.5")),
        ("select 'NaN'::float8", Some("NaN")),
        ("select '-Infinity'::float8", Some("-Infinity")),
        ("select 0.1::real", Some("0.1")),
        (
            "select 9223372036854775807::bigint",
            Some("9223372036854775807"),
        ),
        ("select interval '1 day 23:59:50'", Some("1 day 23:59:50")),
        (
            "select timestamp '2024-01-02 23:59:50' - timestamp '2024-01-01 00:00:00'",
            Some("1 day 23:59:50"),
        ),
        ("select interval '90 minutes'", Some("01:30:00")),
        ("select '\\x00ff10'::bytea", Some("\\x00ff10")),
        (
            "select '{\"b\":[1,2],\"a\":\"x\"}'::jsonb",
            Some("{\"a\": \"x\", \"b\": [1, 2]}"),
        ),
        ("select null::int", None),
        ("select null", None),
    ];
    for (sql, want) in cases {
        match simple_rows(&c, sql).await {
            Ok(rows) => {
                let got = rows.first().and_then(|r| r.first().cloned()).flatten();
                k.eq(&format!("text of `{sql}`"), got.as_deref(), *want);
            }
            Err(e) => k.fail(format!("`{sql}` failed: {e:?} (expected {want:?})")),
        }
    }
    // The same through a table column.
    c.batch_execute(
        "create table tf (ts timestamptz not null, f8 double precision, b boolean, n int);
         insert into tf values ('2024-01-01 00:05:00+00', 4, true, null)",
    )
    .await
    .expect("create tf");
    match simple_rows(&c, "select ts, f8, b, n from tf").await {
        Ok(rows) => k.eq(
            "table row as text",
            rows,
            vec![vec![
                Some("2024-01-01 00:05:00+00".into()),
                Some("4".into()),
                Some("t".into()),
                None,
            ]],
        ),
        Err(e) => k.fail(format!("select from tf: {e:?}")),
    }
    k.finish(&s);
}

// ------------------------------------------------------------------------------- COPY

async fn copy_in_chunks(c: &Client, sql: &str, data: &[u8]) -> Result<u64, tokio_postgres::Error> {
    let sink = c.copy_in::<_, Bytes>(sql).await?;
    futures::pin_mut!(sink);
    for chunk in data.chunks(64 * 1024 + 17) {
        sink.send(Bytes::copy_from_slice(chunk)).await?;
    }
    sink.finish().await
}

async fn copy_out_bytes(c: &Client, sql: &str) -> Result<Vec<u8>, tokio_postgres::Error> {
    let stream = c.copy_out(sql).await?;
    let parts: Vec<Bytes> = stream.try_collect().await?;
    Ok(parts.concat())
}

/// 100 000 rows of COPY text format; aggregates check every row.
#[tokio::test]
async fn copy_from_stdin_text_100k() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    c.batch_execute(
        "create table ct (ts timestamptz not null, id bigint, v double precision, s text)",
    )
    .await
    .unwrap();
    const N: i64 = 100_000;
    let mut data = String::with_capacity(N as usize * 48);
    let base = ts(2024, 1, 1, 0, 0, 0, 0);
    let mut sum_v = 0i64;
    let mut non_null_v = 0i64;
    let mut sum_len = 0i64;
    for i in 1..=N {
        let t = (base + chrono::Duration::milliseconds(i * 10)).format("%Y-%m-%d %H:%M:%S%.3f+00");
        let v = if i % 10 == 0 {
            "\\N".to_string()
        } else {
            (i % 1000).to_string()
        };
        if i % 10 != 0 {
            sum_v += i % 1000;
            non_null_v += 1;
        }
        let txt = format!("s{}", i % 97);
        sum_len += txt.len() as i64;
        data.push_str(&format!("{t}\t{i}\t{v}\t{txt}\n"));
    }
    // Rows with escapes, ids above N.
    data.push_str("2024-02-01 00:00:00+00\t1000001\t1\ttab\\there\n");
    data.push_str("2024-02-01 00:00:01+00\t1000002\t2\tnew\\nline and back\\\\slash\n");
    data.push_str("2024-02-01 00:00:02+00\t1000003\t\\N\t\\N\n");
    data.push_str("\\.\n");
    let t0 = Instant::now();
    match copy_in_chunks(&c, "COPY ct FROM STDIN", data.as_bytes()).await {
        Ok(n) => k.eq("COPY text row count reported", n, N as u64 + 3),
        Err(e) => k.fail(format!("COPY ct FROM STDIN failed: {e:?}")),
    }
    println!("copy of {} rows took {:?}", N + 3, t0.elapsed());
    match c.query_one(&format!("select count(*), sum(id)::bigint, count(v), sum(v), sum(length(s)), min(ts), max(ts) from ct where id <= {N}"), &[]).await {
        Ok(r) => {
            k.eq("count(*)", r.get::<_, i64>(0), N);
            k.eq("sum(id)", r.get::<_, Option<i64>>(1), Some(N * (N + 1) / 2));
            k.eq("count(v)", r.get::<_, i64>(2), non_null_v);
            k.eq("sum(v)", r.get::<_, Option<f64>>(3), Some(sum_v as f64));
            k.eq("sum(length(s))", r.try_get::<_, Option<i64>>(4).ok().flatten().or_else(|| r.try_get::<_, Option<i32>>(4).ok().flatten().map(i64::from)), Some(sum_len));
            k.eq("min(ts)", r.get::<_, DateTime<Utc>>(5), base + chrono::Duration::milliseconds(10));
            k.eq("max(ts)", r.get::<_, DateTime<Utc>>(6), base + chrono::Duration::milliseconds(N * 10));
        }
        Err(e) => k.fail(format!("aggregate check: {e:?}")),
    }
    match c
        .query(
            "select id, v, s from ct where id > 1000000 order by id",
            &[],
        )
        .await
    {
        Ok(rows) => k.eq(
            "escaped rows",
            rows.iter()
                .map(|r| {
                    (
                        r.get::<_, i64>(0),
                        r.get::<_, Option<f64>>(1),
                        r.get::<_, Option<String>>(2),
                    )
                })
                .collect::<Vec<_>>(),
            vec![
                (1000001, Some(1.0), Some("tab\there".into())),
                (1000002, Some(2.0), Some("new\nline and back\\slash".into())),
                (1000003, None, None),
            ],
        ),
        Err(e) => k.fail(format!("select escaped rows: {e:?}")),
    }
    k.finish(&s);
}

/// float8 and float4 values printed with all their digits (as drivers and TSBS's generator
/// print them: 16-17 significant digits, past the exact fast path) arrive over COPY, text
/// and CSV, as the same bits Rust's correctly rounded parser gives, read back in binary;
/// multibyte text beside them arrives as sent; and all of it comes back the same from the
/// WAL after kill -9.
#[tokio::test]
async fn copy_full_precision_floats_round_exactly() {
    let mut s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    c.batch_execute(
        "create table cf (ts timestamptz not null, id bigint, d float8, r real, t text)",
    )
    .await
    .unwrap();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut text = String::new();
    let mut csv = String::new();
    let mut want = std::collections::BTreeMap::new();
    for i in 0..4000i64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = (x >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((x % 9) as i32 - 2);
        let v = if i % 3 == 0 { -v } else { v };
        // shortest round-trip text, and 19 fractional digits (rounded on input)
        let printed = if i % 2 == 0 {
            format!("{v}")
        } else {
            format!("{v:.19}")
        };
        let d: f64 = printed.parse().unwrap();
        let r: f32 = printed.parse().unwrap();
        // Multibyte text, plain in text format and quoted (with the delimiter) in CSV.
        let t = format!("h\u{e9},\u{20ac}{i}");
        want.insert(i, (d.to_bits(), r.to_bits(), t.clone()));
        let ts = format!("2024-01-01 00:00:{:02}+00", i % 60);
        if i % 2 == 0 {
            text.push_str(&format!("{ts}\t{i}\t{printed}\t{printed}\t{t}\n"));
        } else {
            csv.push_str(&format!("{ts},{i},{printed},{printed},\"{t}\"\n"));
        }
    }
    if let Err(e) = copy_in_chunks(&c, "COPY cf FROM STDIN", text.as_bytes()).await {
        k.fail(format!("COPY text: {e:?}"));
    }
    if let Err(e) = copy_in_chunks(&c, "COPY cf FROM STDIN (FORMAT csv)", csv.as_bytes()).await {
        k.fail(format!("COPY csv: {e:?}"));
    }
    // The rows as loaded, then as the WAL brings them back after kill -9: its records hold
    // the timestamps and ids LZ4-compressed and the random floats plain (split bodies).
    let mut c = c;
    for phase in ["after COPY", "after kill -9 and WAL replay"] {
        if phase != "after COPY" {
            s.kill9();
            s.restart();
            c = s.connect().await;
        }
        match c.query("select id, d, r, t from cf order by id", &[]).await {
            Ok(rows) => {
                k.eq(&format!("rows {phase}"), rows.len(), want.len());
                let mut wrong = 0;
                for row in &rows {
                    let id: i64 = row.get(0);
                    let got = (
                        row.get::<_, f64>(1).to_bits(),
                        row.get::<_, f32>(2).to_bits(),
                        row.get::<_, String>(3),
                    );
                    if want.get(&id) != Some(&got) {
                        wrong += 1;
                    }
                }
                k.eq(&format!("values not as sent ({phase})"), wrong, 0);
            }
            Err(e) => k.fail(format!("select {phase}: {e:?}")),
        }
    }
    k.finish(&s);
}

/// CSV with HEADER, NULL and DELIMITER options, quoted fields.
#[tokio::test]
async fn copy_from_stdin_csv_options() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    c.batch_execute(
        "create table cc (ts timestamptz not null, id bigint, v double precision, s text)",
    )
    .await
    .unwrap();
    const N: i64 = 50_000;
    let mut data = String::from("ts;id;v;s\n");
    let base = ts(2024, 5, 1, 0, 0, 0, 0);
    let mut sum_v = 0i64;
    for i in 1..=N {
        let t = (base + chrono::Duration::seconds(i)).format("%Y-%m-%d %H:%M:%S+00");
        let v = if i % 7 == 0 {
            "NA".to_string()
        } else {
            (i % 100).to_string()
        };
        if i % 7 != 0 {
            sum_v += i % 100;
        }
        data.push_str(&format!("{t};{i};{v};name{i}\n"));
    }
    data.push_str("2024-06-01 00:00:00+00;1000001;1;\"semi;colon\"\n");
    data.push_str("2024-06-01 00:00:01+00;1000002;2;\"quote \"\" inside\"\n");
    data.push_str("2024-06-01 00:00:02+00;1000003;3;\"multi\nline\"\n");
    data.push_str("2024-06-01 00:00:03+00;1000004;NA;\"NA\"\n"); // quoted NA is a string, not NULL
    data.push_str("2024-06-01 00:00:04+00;1000005;5;\n"); // empty unquoted = empty string when NULL is 'NA'
    match copy_in_chunks(&c, "COPY cc (ts, id, v, s) FROM STDIN WITH (FORMAT csv, HEADER true, NULL 'NA', DELIMITER ';')", data.as_bytes()).await {
        Ok(n) => k.eq("COPY csv row count reported", n, N as u64 + 5),
        Err(e) => k.fail(format!("COPY csv failed: {e:?}")),
    }
    match c
        .query_one(
            &format!("select count(*), sum(id)::bigint, count(v), sum(v) from cc where id <= {N}"),
            &[],
        )
        .await
    {
        Ok(r) => {
            k.eq("count(*)", r.get::<_, i64>(0), N);
            k.eq("sum(id)", r.get::<_, Option<i64>>(1), Some(N * (N + 1) / 2));
            k.eq("count(v)", r.get::<_, i64>(2), N - N / 7);
            k.eq("sum(v)", r.get::<_, Option<f64>>(3), Some(sum_v as f64));
        }
        Err(e) => k.fail(format!("aggregate check: {e:?}")),
    }
    match c
        .query(
            "select id, v, s from cc where id > 1000000 order by id",
            &[],
        )
        .await
    {
        Ok(rows) => k.eq(
            "quoted CSV rows",
            rows.iter()
                .map(|r| {
                    (
                        r.get::<_, i64>(0),
                        r.get::<_, Option<f64>>(1),
                        r.get::<_, Option<String>>(2),
                    )
                })
                .collect::<Vec<_>>(),
            vec![
                (1000001, Some(1.0), Some("semi;colon".into())),
                (1000002, Some(2.0), Some("quote \" inside".into())),
                (1000003, Some(3.0), Some("multi\nline".into())),
                (1000004, None, Some("NA".into())),
                (1000005, Some(5.0), Some(String::new())),
            ],
        ),
        Err(e) => k.fail(format!("select quoted rows: {e:?}")),
    }
    // The legacy spelling psql's \copy produces.
    let legacy = "ts,id,v,s\n2024-07-01 00:00:00+00,2000001,1.5,legacy\n";
    match copy_in_chunks(&c, "COPY cc FROM STDIN CSV HEADER", legacy.as_bytes()).await {
        Ok(n) => k.eq("legacy `CSV HEADER` COPY count", n, 1),
        Err(e) => k.fail(format!("COPY cc FROM STDIN CSV HEADER: {e:?}")),
    }
    k.finish(&s);
}

/// A bad row fails the whole COPY with 22P02; none of its rows become visible.
#[tokio::test]
async fn copy_bad_row_is_atomic() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    c.batch_execute("create table cb (ts timestamptz not null, id bigint, s text); insert into cb values ('2023-01-01 00:00:00+00', 0, 'before')")
        .await
        .unwrap();
    // 100 000 good rows (more than one parser batch) and then a bad one.
    let mut data = String::new();
    for i in 1..=100_000i64 {
        data.push_str(&format!("2024-01-01 00:00:00+00\t{i}\tok\n"));
    }
    data.push_str("2024-01-01 00:00:00+00\tnot_a_number\tbad\n");
    for i in 100_001..=100_010i64 {
        data.push_str(&format!("2024-01-01 00:00:00+00\t{i}\tafter\n"));
    }
    match copy_in_chunks(&c, "COPY cb FROM STDIN", data.as_bytes()).await {
        Ok(n) => k.fail(format!("COPY with a bad bigint succeeded ({n} rows)")),
        Err(e) => {
            k.eq(
                "SQLSTATE of COPY with a bad bigint",
                sqlstate(&e),
                "22P02".into(),
            );
            let msg = e
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_default();
            k.ok(
                "message names the bad value",
                msg.contains("not_a_number"),
                &msg,
            );
        }
    }
    k.eq(
        "rows visible after the failed COPY (only the one inserted before)",
        count(&c, "select count(*) from cb").await,
        1,
    );
    // CSV with a bad timestamp in the middle.
    let mut csv = String::new();
    for i in 1..=1000i64 {
        csv.push_str(&format!("2024-01-01 00:00:00+00,{i},ok\n"));
    }
    csv.push_str("not a time,5000,bad\n");
    match copy_in_chunks(&c, "COPY cb FROM STDIN (FORMAT csv)", csv.as_bytes()).await {
        Ok(n) => k.fail(format!(
            "COPY csv with a bad timestamptz succeeded ({n} rows)"
        )),
        Err(e) => k.ok(
            "SQLSTATE of a bad timestamptz in COPY is 22007 or 22P02",
            ["22007", "22P02", "22008"].contains(&sqlstate(&e).as_str()),
            sqlstate(&e),
        ),
    }
    // Too many columns.
    match copy_in_chunks(
        &c,
        "COPY cb FROM STDIN",
        b"2024-01-01 00:00:00+00\t1\tx\textra\n",
    )
    .await
    {
        Ok(n) => k.fail(format!("COPY with an extra column succeeded ({n} rows)")),
        Err(e) => k.eq(
            "SQLSTATE of COPY with extra data",
            sqlstate(&e),
            "22P04".into(),
        ),
    }
    // The client aborts a COPY half-way (CopyFail): nothing of it is visible.
    match c.copy_in::<_, Bytes>("COPY cb FROM STDIN").await {
        Ok(sink) => {
            let mut sink = Box::pin(sink);
            let mut ok = true;
            for chunk in data.as_bytes()[..data.len() / 2].chunks(64 * 1024) {
                if let Err(e) = sink.send(Bytes::copy_from_slice(chunk)).await {
                    k.fail(format!("sending COPY data before the abort: {e:?}"));
                    ok = false;
                    break;
                }
            }
            if ok {
                drop(sink); // tokio-postgres sends CopyFail
            }
        }
        Err(e) => k.fail(format!("COPY cb FROM STDIN (to abort): {e:?}")),
    }
    match c.query_one("select count(*) from cb", &[]).await {
        Ok(r) => k.eq(
            "rows visible after the failed and aborted COPYs",
            r.get::<_, i64>(0),
            1,
        ),
        Err(e) => k.fail(format!("connection unusable after an aborted COPY: {e:?}")),
    }
    // The connection is still usable, and a good COPY afterwards works.
    match copy_in_chunks(
        &c,
        "COPY cb FROM STDIN",
        b"2024-01-02 00:00:00+00\t7\tgood\n",
    )
    .await
    {
        Ok(n) => k.eq("good COPY after failures", n, 1),
        Err(e) => k.fail(format!("good COPY after failures: {e:?}")),
    }
    k.eq(
        "rows after the good COPY",
        count(&c, "select count(*) from cb").await,
        2,
    );
    k.finish(&s);
}

/// COPY (query) TO STDOUT in text and CSV produce PostgreSQL's bytes.
#[tokio::test]
async fn copy_to_stdout_text_and_csv() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    c.batch_execute(
        "create table co (ts timestamptz not null, id bigint, v double precision, s text, b boolean);
         insert into co values
           ('2024-01-01 00:00:00+00', 1, 1.5, 'plain', true),
           ('2024-01-01 00:00:01+00', 2, null, null, false),
           ('2024-01-01 00:00:02+00', 3, 0.1, E'tab\\there', null),
           ('2024-01-01 00:00:03+00', 4, -2, 'a,b \"q\"', true),
           ('2024-01-01 00:00:04+00', 5, 1e100, E'back\\\\slash\\nnl', true),
           ('2024-01-01 00:00:05+00', 6, 0, '', false)",
    )
    .await
    .expect("create + insert co");
    let text = copy_out_bytes(
        &c,
        "COPY (select ts, id, v, s, b from co order by id) TO STDOUT",
    )
    .await;
    let want_text = "2024-01-01 00:00:00+00\t1\t1.5\tplain\tt\n\
                     2024-01-01 00:00:01+00\t2\t\\N\t\\N\tf\n\
                     2024-01-01 00:00:02+00\t3\t0.1\ttab\\there\t\\N\n\
                     2024-01-01 00:00:03+00\t4\t-2\ta,b \"q\"\tt\n\
                     2024-01-01 00:00:04+00\t5\t1e+100\tback\\\\slash\\nnl\tt\n\
                     2024-01-01 00:00:05+00\t6\t0\t\tf\n";
    match text {
        Ok(b) => k.eq(
            "COPY TO STDOUT text bytes",
            String::from_utf8_lossy(&b).into_owned(),
            want_text.to_string(),
        ),
        Err(e) => k.fail(format!("COPY text out: {e:?}")),
    }
    let csv = copy_out_bytes(
        &c,
        "COPY (select ts, id, v, s, b from co order by id) TO STDOUT WITH (FORMAT csv, HEADER)",
    )
    .await;
    let want_csv = "ts,id,v,s,b\n\
                    2024-01-01 00:00:00+00,1,1.5,plain,t\n\
                    2024-01-01 00:00:01+00,2,,,f\n\
                    2024-01-01 00:00:02+00,3,0.1,tab\there,\n\
                    2024-01-01 00:00:03+00,4,-2,\"a,b \"\"q\"\"\",t\n\
                    2024-01-01 00:00:04+00,5,1e+100,\"back\\slash\nnl\",t\n\
                    2024-01-01 00:00:05+00,6,0,\"\",f\n";
    match csv {
        Ok(b) => k.eq(
            "COPY TO STDOUT csv bytes",
            String::from_utf8_lossy(&b).into_owned(),
            want_csv.to_string(),
        ),
        Err(e) => k.fail(format!("COPY csv out: {e:?}")),
    }
    let opts = copy_out_bytes(&c, "COPY (select id, s from co order by id) TO STDOUT WITH (FORMAT csv, DELIMITER '|', NULL 'NULL')").await;
    match opts {
        Ok(b) => k.eq(
            "COPY TO STDOUT csv with DELIMITER '|' and NULL 'NULL'",
            String::from_utf8_lossy(&b).into_owned(),
            "1|plain\n2|NULL\n3|tab\there\n4|\"a,b \"\"q\"\"\"\n5|\"back\\slash\nnl\"\n6|\n"
                .to_string(),
        ),
        Err(e) => k.fail(format!(
            "COPY (select id, s) TO STDOUT csv with options: {e:?}"
        )),
    }
    // COPY table (columns) TO STDOUT: table order is unspecified, so sort the lines.
    match copy_out_bytes(&c, "COPY co (id, b) TO STDOUT").await {
        Ok(b) => {
            let text = String::from_utf8_lossy(&b).into_owned();
            let mut lines: Vec<&str> = text.lines().collect();
            lines.sort();
            k.eq(
                "COPY co (id, b) TO STDOUT",
                lines,
                vec!["1\tt", "2\tf", "3\t\\N", "4\tt", "5\tt", "6\tf"],
            );
        }
        Err(e) => k.fail(format!("COPY co (id, b) TO STDOUT: {e:?}")),
    }
    k.finish(&s);
}

// ----------------------------------------------------------------------------- errors

/// Each error carries PostgreSQL's SQLSTATE, in the simple and the extended protocol, and
/// the connection stays usable.
#[tokio::test]
async fn sqlstates_and_connection_survives() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    c.batch_execute("create table e (ts timestamptz not null, a int, s text not null)")
        .await
        .unwrap();
    c.batch_execute("insert into e values ('2024-01-01 00:00:00+00', 1, 'x')")
        .await
        .unwrap();
    let cases: &[(&str, &str)] = &[
        ("selec 1", "42601"),
        ("select * from e where", "42601"),
        ("select * from nope", "42P01"),
        ("insert into nope values (1)", "42P01"),
        ("select nocol from e", "42703"),
        ("create table e (x int)", "42P07"),
        (
            "insert into e (ts, a, s) values ('2024-01-01 00:00:00+00', 1, null)",
            "23502",
        ),
        (
            "insert into e (ts, a) values ('2024-01-01 00:00:00+00', 1)",
            "23502",
        ),
        ("insert into e (ts, a, s) values (null, 1, 'x')", "23502"),
        (
            "insert into e (ts, a, s) values ('2024-01-01 00:00:00+00', 'abc', 'x')",
            "22P02",
        ),
        ("select 'abc'::int", "22P02"),
        ("select 1/0", "22012"),
        ("select a/0 from e", "22012"),
        ("update e set a = 2 returning a", "0A000"),
    ];
    for (sql, want) in cases {
        // Simple protocol.
        match c.simple_query(sql).await {
            Ok(_) => k.fail(format!("simple `{sql}` succeeded, expected {want}")),
            Err(e) => k.eq(&format!("simple `{sql}`"), sqlstate(&e), want.to_string()),
        }
        match simple_rows(&c, "select 1").await {
            Ok(r) => k.eq(
                &format!("select 1 after simple `{sql}`"),
                r,
                vec![vec![Some("1".into())]],
            ),
            Err(e) => k.fail(format!("connection unusable after simple `{sql}`: {e:?}")),
        }
        // Extended protocol (Parse/Bind/Execute).
        match c.query(*sql, &[]).await {
            Ok(_) => k.fail(format!("extended `{sql}` succeeded, expected {want}")),
            Err(e) => k.eq(&format!("extended `{sql}`"), sqlstate(&e), want.to_string()),
        }
        match c.query_one("select 2::int8", &[]).await {
            Ok(r) => k.eq(
                &format!("select 2 after extended `{sql}`"),
                r.get::<_, i64>(0),
                2,
            ),
            Err(e) => k.fail(format!("connection unusable after extended `{sql}`: {e:?}")),
        }
    }
    // Wrong number of parameters: refused by the server, connection usable.
    match c.prepare("select a from e where a = $1").await {
        Ok(st) => {
            k.eq(
                "param type of `a = $1` on an int column",
                st.params().to_vec(),
                vec![Type::INT4],
            );
        }
        Err(e) => k.fail(format!("prepare `a = $1`: {e:?}")),
    }
    k.eq(
        "table unchanged by the failed statements",
        count(&c, "select count(*) from e").await,
        1,
    );
    k.finish(&s);
}

// ---------------------------------------------------------------------- SET/SHOW/RESET

/// Connects and keeps the ParameterStatus values the server sends, readable at any time.
async fn connect_watching(
    s: &TestServer,
    extra: &str,
) -> (
    Client,
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
) {
    let (client, mut conn) = tokio_postgres::connect(&format!("{} {extra}", s.conn_str()), NoTls)
        .await
        .expect("connect");
    let params = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    for name in [
        "TimeZone",
        "application_name",
        "DateStyle",
        "client_encoding",
        "server_version",
        "IntervalStyle",
    ] {
        if let Some(v) = conn.parameter(name) {
            params
                .lock()
                .unwrap()
                .insert(name.to_string(), v.to_string());
        }
    }
    let p2 = std::sync::Arc::clone(&params);
    tokio::spawn(async move {
        loop {
            let r = futures::future::poll_fn(|cx| {
                let r = conn.poll_message(cx);
                let mut m = p2.lock().unwrap();
                for name in [
                    "TimeZone",
                    "application_name",
                    "DateStyle",
                    "client_encoding",
                    "server_version",
                    "IntervalStyle",
                ] {
                    if let Some(v) = conn.parameter(name) {
                        m.insert(name.to_string(), v.to_string());
                    }
                }
                r
            })
            .await;
            match r {
                Some(Ok(_)) => continue,
                _ => break,
            }
        }
    });
    (client, params)
}

#[tokio::test]
async fn set_show_reset_timezone() {
    let s = TestServer::start();
    let (c, params) = connect_watching(&s, "").await;
    let mut k = Checks::default();
    let p = |n: &str| params.lock().unwrap().get(n).cloned();
    k.eq("TimeZone at start-up", p("TimeZone"), Some("UTC".into()));
    k.ok(
        "server_version starts with a PostgreSQL version",
        p("server_version").is_some_and(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit())),
        p("server_version"),
    );
    c.batch_execute("create table tz (ts timestamptz not null, n int); insert into tz values ('2024-01-01 00:05:00+00', 1)").await.unwrap();

    if let Err(e) = c.batch_execute("SET TIME ZONE 5").await {
        k.fail(format!("SET TIME ZONE 5: {e:?}"));
    }
    let reported = p("TimeZone");
    k.ok(
        "ParameterStatus TimeZone sent after SET TIME ZONE 5",
        reported.as_deref().is_some_and(|v| v != "UTC"),
        &reported,
    );
    let shown = simple_rows(&c, "SHOW TimeZone")
        .await
        .ok()
        .and_then(|r| r.first().and_then(|r| r[0].clone()));
    k.eq(
        "SHOW TimeZone equals the reported ParameterStatus",
        shown,
        reported,
    );
    k.eq(
        "timestamptz literal rendered in +05",
        simple_one(&c, "select timestamptz '2024-01-01 00:05:00+00'").await,
        Some("2024-01-01 05:05:00+05".into()),
    );
    k.eq(
        "timestamptz column rendered in +05",
        simple_one(&c, "select ts from tz").await,
        Some("2024-01-01 05:05:00+05".into()),
    );
    // Binary results are instants: unchanged by the session time zone.
    match c.query_one("select ts from tz", &[]).await {
        Ok(r) => k.eq(
            "binary timestamptz under TIME ZONE 5",
            r.get::<_, DateTime<Utc>>(0),
            ts(2024, 1, 1, 0, 5, 0, 0),
        ),
        Err(e) => k.fail(format!("binary select under TIME ZONE 5: {e:?}")),
    }
    // Input without an offset is read in the session time zone.
    if let Err(e) = c
        .batch_execute("insert into tz values ('2024-01-01 10:00:00', 2)")
        .await
    {
        k.fail(format!("insert local time under TIME ZONE 5: {e:?}"));
    }
    match c.query_one("select ts from tz where n = 2", &[]).await {
        Ok(r) => k.eq(
            "'2024-01-01 10:00:00' under TIME ZONE 5 is 05:00 UTC",
            r.get::<_, DateTime<Utc>>(0),
            ts(2024, 1, 1, 5, 0, 0, 0),
        ),
        Err(e) => k.fail(format!("select n = 2: {e:?}")),
    }
    if let Err(e) = c.batch_execute("SET TIME ZONE -3").await {
        k.fail(format!("SET TIME ZONE -3: {e:?}"));
    }
    k.eq(
        "timestamptz rendered in -03",
        simple_one(&c, "select ts from tz where n = 1").await,
        Some("2023-12-31 21:05:00-03".into()),
    );
    if let Err(e) = c.batch_execute("SET TimeZone = 'UTC'").await {
        k.fail(format!("SET TimeZone = 'UTC': {e:?}"));
    }
    k.eq(
        "ParameterStatus after SET TimeZone = 'UTC'",
        p("TimeZone"),
        Some("UTC".into()),
    );
    if let Err(e) = c.batch_execute("SET TIME ZONE 5; RESET TimeZone").await {
        k.fail(format!("RESET TimeZone: {e:?}"));
    }
    k.eq(
        "ParameterStatus after RESET TimeZone",
        p("TimeZone"),
        Some("UTC".into()),
    );
    k.eq(
        "rendering after RESET TimeZone",
        simple_one(&c, "select ts from tz where n = 1").await,
        Some("2024-01-01 00:05:00+00".into()),
    );
    match c.batch_execute("SET TimeZone = 'Mars/Olympus_Mons'").await {
        Ok(()) => k.fail("SET TimeZone to an unknown zone succeeded".into()),
        Err(e) => k.eq(
            "SQLSTATE of an unknown time zone",
            sqlstate(&e),
            "22023".into(),
        ),
    }
    match c.batch_execute("SET no_such_setting = 1").await {
        Ok(()) => k.fail("SET of an unknown parameter succeeded".into()),
        Err(e) => k.eq(
            "SQLSTATE of an unknown parameter",
            sqlstate(&e),
            "42704".into(),
        ),
    }
    k.finish(&s);
}

#[tokio::test]
async fn set_show_reset_application_name() {
    let s = TestServer::start();
    let (c, params) = connect_watching(&s, "application_name=wiretest").await;
    let mut k = Checks::default();
    let p = |n: &str| params.lock().unwrap().get(n).cloned();
    k.eq(
        "application_name ParameterStatus at start-up",
        p("application_name"),
        Some("wiretest".into()),
    );
    k.eq(
        "SHOW application_name at start-up",
        simple_one(&c, "SHOW application_name").await,
        Some("wiretest".into()),
    );
    if let Err(e) = c.batch_execute("SET application_name = 'other app'").await {
        k.fail(format!("SET application_name: {e:?}"));
    }
    k.eq(
        "application_name ParameterStatus after SET",
        p("application_name"),
        Some("other app".into()),
    );
    k.eq(
        "SHOW application_name after SET",
        simple_one(&c, "SHOW application_name").await,
        Some("other app".into()),
    );
    match simple_rows(&c, "select current_setting('application_name')").await {
        Ok(r) => k.eq(
            "current_setting('application_name') after SET",
            r,
            vec![vec![Some("other app".into())]],
        ),
        Err(e) => k.fail(format!("current_setting('application_name'): {e:?}")),
    }
    // RESET goes back to the session default, which is the start-up value (PostgreSQL).
    if let Err(e) = c.batch_execute("RESET application_name").await {
        k.fail(format!("RESET application_name: {e:?}"));
    }
    k.eq(
        "SHOW application_name after RESET (start-up value)",
        simple_one(&c, "SHOW application_name").await,
        Some("wiretest".into()),
    );
    k.eq(
        "application_name ParameterStatus after RESET",
        p("application_name"),
        Some("wiretest".into()),
    );
    k.finish(&s);
}

#[tokio::test]
async fn statement_timeout_enforced() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    if let Err(e) = c.batch_execute("SET statement_timeout = '200ms'").await {
        k.fail(format!("SET statement_timeout: {e:?}"));
    }
    k.eq(
        "SHOW statement_timeout",
        simple_one(&c, "SHOW statement_timeout").await,
        Some("200ms".into()),
    );
    for (name, sql) in SLOW_QUERIES {
        for proto in ["simple", "extended"] {
            let t0 = Instant::now();
            let r = if proto == "simple" {
                tokio::time::timeout(Duration::from_secs(60), async {
                    c.simple_query(sql).await.map(|_| ())
                })
                .await
            } else {
                tokio::time::timeout(Duration::from_secs(60), async {
                    c.query(*sql, &[]).await.map(|_| ())
                })
                .await
            };
            let el = t0.elapsed();
            let what = format!("{name} query, {proto} protocol, statement_timeout=200ms");
            match r {
                Err(_) => k.fail(format!("{what}: still running after 60 s")),
                Ok(Ok(())) => k.fail(format!("{what}: completed after {el:?} instead of failing")),
                Ok(Err(e)) => {
                    k.eq(&format!("{what}: SQLSTATE"), sqlstate(&e), "57014".into());
                    k.ok(&format!("{what}: fails within {PROMPT:?}"), el < PROMPT, el);
                }
            }
            match c
                .query_one("select count(*) from generate_series(1, 10)", &[])
                .await
            {
                Ok(r) => k.eq(
                    &format!("{what}: connection usable afterwards"),
                    r.get::<_, i64>(0),
                    10,
                ),
                Err(e) => k.fail(format!("{what}: connection unusable afterwards: {e:?}")),
            }
        }
    }
    // A quick statement is unaffected.
    k.eq(
        "short query under the timeout",
        count(&c, "select count(*) from generate_series(1, 1000)").await,
        1000,
    );
    if let Err(e) = c.batch_execute("RESET statement_timeout").await {
        k.fail(format!("RESET statement_timeout: {e:?}"));
    }
    k.eq(
        "SHOW statement_timeout after RESET",
        simple_one(&c, "SHOW statement_timeout").await,
        Some("0".into()),
    );
    // A query of ~0.5-1 s now runs to completion.
    let t0 = Instant::now();
    match c.query_one("select count(*) from generate_series(1,20000) a, generate_series(1,20000) b where a.a + b.b = 7", &[]).await {
        Ok(r) => k.eq("medium query after RESET statement_timeout", r.get::<_, i64>(0), 6),
        Err(e) => k.fail(format!("medium query after RESET failed after {:?}: {e:?}", t0.elapsed())),
    }
    // Start-up option: -c statement_timeout=100.
    let c2 = connect_with(&s, "options='-c statement_timeout=100'").await;
    k.eq(
        "statement_timeout from start-up options",
        simple_one(&c2, "SHOW statement_timeout").await,
        Some("100ms".into()),
    );
    k.finish(&s);
}

#[tokio::test]
async fn cancel_request_stops_a_running_query() {
    let s = TestServer::start();
    let c = std::sync::Arc::new(s.connect().await);
    let mut k = Checks::default();
    for (name, sql) in SLOW_QUERIES {
        for proto in ["simple", "extended"] {
            let what = format!("{name} query, {proto} protocol");
            let token = c.cancel_token();
            let c2 = std::sync::Arc::clone(&c);
            let t0 = Instant::now();
            let task = tokio::spawn(async move {
                if proto == "simple" {
                    c2.simple_query(sql).await.map(|_| ())
                } else {
                    c2.query(*sql, &[]).await.map(|_| ())
                }
            });
            tokio::time::sleep(Duration::from_millis(500)).await;
            let tc = Instant::now();
            if let Err(e) = token.cancel_query(NoTls).await {
                k.fail(format!("{what}: sending CancelRequest failed: {e:?}"));
            }
            match tokio::time::timeout(Duration::from_secs(60), task).await {
                Err(_) => k.fail(format!("{what}: still running 60 s after CancelRequest")),
                Ok(Err(e)) => k.fail(format!("{what}: task panicked: {e:?}")),
                Ok(Ok(Ok(()))) => k.fail(format!(
                    "{what}: completed ({:?}) although canceled",
                    t0.elapsed()
                )),
                Ok(Ok(Err(e))) => {
                    k.eq(
                        &format!("{what}: SQLSTATE of a canceled query"),
                        sqlstate(&e),
                        "57014".into(),
                    );
                    k.ok(
                        &format!("{what}: cancel takes effect within {PROMPT:?}"),
                        tc.elapsed() < PROMPT,
                        tc.elapsed(),
                    );
                }
            }
            match c
                .query_one("select count(*) from generate_series(1, 42)", &[])
                .await
            {
                Ok(r) => k.eq(
                    &format!("{what}: connection usable after cancel"),
                    r.get::<_, i64>(0),
                    42,
                ),
                Err(e) => k.fail(format!("{what}: connection unusable after cancel: {e:?}")),
            }
        }
    }
    // A cancel with no query running is harmless; the next query is not affected.
    if let Err(e) = c.cancel_token().cancel_query(NoTls).await {
        k.fail(format!("idle CancelRequest failed: {e:?}"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    match c
        .query_one("select count(*) from generate_series(1, 100)", &[])
        .await
    {
        Ok(r) => k.eq("query after an idle cancel", r.get::<_, i64>(0), 100),
        Err(e) => k.fail(format!("query after an idle cancel failed: {e:?}")),
    }
    k.finish(&s);
}

// ------------------------------------------------------------------------ transactions

#[tokio::test]
async fn transactions_accepted() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    c.batch_execute("create table tx (ts timestamptz not null, id bigint)")
        .await
        .unwrap();
    for sql in [
        "BEGIN",
        "insert into tx values ('2024-01-01 00:00:00+00', 1)",
        "COMMIT",
        "BEGIN",
        "ROLLBACK",
        "START TRANSACTION",
        "COMMIT",
        "BEGIN; insert into tx values ('2024-01-01 00:00:01+00', 2); COMMIT",
    ] {
        if let Err(e) = c.batch_execute(sql).await {
            k.fail(format!("`{sql}`: {e:?}"));
        }
    }
    k.eq(
        "rows committed with BEGIN/COMMIT",
        count(&c, "select count(*) from tx").await,
        2,
    );
    let mut c = c;
    match c.transaction().await {
        Ok(t) => {
            let r = t
                .execute(
                    "insert into tx values ($1, $2)",
                    &[&ts(2024, 1, 1, 0, 0, 2, 0), &3i64],
                )
                .await;
            k.ok("insert inside client.transaction()", r.is_ok(), &r);
            let n = t
                .query_one("select count(*) from tx", &[])
                .await
                .map(|r| r.get::<_, i64>(0));
            k.eq("count inside the transaction", n.ok(), Some(3));
            if let Err(e) = t.commit().await {
                k.fail(format!("transaction.commit(): {e:?}"));
            }
        }
        Err(e) => k.fail(format!("client.transaction(): {e:?}")),
    }
    k.eq(
        "rows after client.transaction() commit",
        count(&c, "select count(*) from tx").await,
        3,
    );
    // A dropped Transaction rolls back; the connection must stay usable.
    match c.transaction().await {
        Ok(t) => drop(t),
        Err(e) => k.fail(format!("second client.transaction(): {e:?}")),
    }
    k.eq(
        "connection usable after a dropped transaction",
        simple_one(&c, "select 5").await,
        Some("5".into()),
    );

    // Transaction status in ReadyForQuery, seen on a raw connection.
    match RawConn::connect(s.port).await {
        Ok(mut raw) => {
            k.eq(
                "ReadyForQuery status after start-up",
                raw.startup().await.ok(),
                Some(b'I'),
            );
            k.eq(
                "status after BEGIN",
                raw.query("BEGIN").await.ok().map(|r| r.status),
                Some(b'T'),
            );
            k.eq(
                "status after a statement in the block",
                raw.query("select 1").await.ok().map(|r| r.status),
                Some(b'T'),
            );
            let failed = raw.query("select 1/0").await.ok();
            k.eq(
                "status after an error in the block",
                failed.as_ref().map(|r| r.status),
                Some(b'E'),
            );
            k.eq(
                "error code in the block",
                failed.and_then(|r| r.error_code),
                Some("22012".into()),
            );
            let ignored = raw.query("select 1").await.ok();
            k.eq(
                "statement in a failed block: SQLSTATE",
                ignored.as_ref().and_then(|r| r.error_code.clone()),
                Some("25P02".into()),
            );
            k.eq(
                "statement in a failed block: status",
                ignored.map(|r| r.status),
                Some(b'E'),
            );
            let rb = raw.query("ROLLBACK").await.ok();
            k.eq(
                "status after ROLLBACK",
                rb.as_ref().map(|r| r.status),
                Some(b'I'),
            );
            k.eq(
                "ROLLBACK command tag",
                rb.and_then(|r| r.tags.first().cloned()),
                Some("ROLLBACK".into()),
            );
            k.eq(
                "status after BEGIN; COMMIT in one message",
                raw.query("BEGIN; COMMIT").await.ok().map(|r| r.status),
                Some(b'I'),
            );
            let commit_failed = async {
                raw.query("BEGIN").await?;
                raw.query("select 1/0").await?;
                raw.query("COMMIT").await
            }
            .await
            .ok();
            k.eq(
                "COMMIT of a failed block reports ROLLBACK",
                commit_failed.as_ref().and_then(|r| r.tags.first().cloned()),
                Some("ROLLBACK".into()),
            );
            k.eq(
                "status after COMMIT of a failed block",
                commit_failed.map(|r| r.status),
                Some(b'I'),
            );
        }
        Err(e) => k.fail(format!("raw connect: {e}")),
    }
    k.finish(&s);
}

// -------------------------------------------------------------------- raw connections

/// A minimal frontend speaking the protocol by hand.
struct RawConn {
    sock: TcpStream,
}

#[derive(Debug)]
struct RawResult {
    status: u8,
    tags: Vec<String>,
    error_code: Option<String>,
    rows: usize,
}

impl RawConn {
    async fn connect(port: u16) -> std::io::Result<RawConn> {
        Ok(RawConn {
            sock: TcpStream::connect(("127.0.0.1", port)).await?,
        })
    }

    async fn startup(&mut self) -> std::io::Result<u8> {
        let mut body = vec![];
        body.extend_from_slice(&196608i32.to_be_bytes());
        for (k, v) in [("user", "strata"), ("database", "strata")] {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        msg.extend_from_slice(&body);
        self.sock.write_all(&msg).await?;
        loop {
            let (t, b) = self.read_msg().await?;
            match t {
                b'Z' => return Ok(b[0]),
                b'E' => {
                    return Err(std::io::Error::other(format!(
                        "start-up error: {}",
                        String::from_utf8_lossy(&b)
                    )));
                }
                _ => {}
            }
        }
    }

    async fn read_msg(&mut self) -> std::io::Result<(u8, Vec<u8>)> {
        let t = self.sock.read_u8().await?;
        let len = self.sock.read_i32().await?;
        if !(4..=100_000_000).contains(&len) {
            return Err(std::io::Error::other(format!("bad length {len}")));
        }
        let mut b = vec![0; len as usize - 4];
        self.sock.read_exact(&mut b).await?;
        Ok((t, b))
    }

    async fn query(&mut self, sql: &str) -> std::io::Result<RawResult> {
        let mut msg = vec![b'Q'];
        msg.extend_from_slice(&((sql.len() + 5) as i32).to_be_bytes());
        msg.extend_from_slice(sql.as_bytes());
        msg.push(0);
        self.sock.write_all(&msg).await?;
        let mut res = RawResult {
            status: 0,
            tags: vec![],
            error_code: None,
            rows: 0,
        };
        loop {
            let (t, b) = tokio::time::timeout(Duration::from_secs(30), self.read_msg())
                .await
                .map_err(|_| std::io::Error::other("timeout"))??;
            match t {
                b'Z' => {
                    res.status = b[0];
                    return Ok(res);
                }
                b'C' => res
                    .tags
                    .push(String::from_utf8_lossy(&b[..b.len().saturating_sub(1)]).into_owned()),
                b'D' => res.rows += 1,
                b'E' => res.error_code = error_field(&b, b'C'),
                _ => {}
            }
        }
    }
}

fn error_field(body: &[u8], field: u8) -> Option<String> {
    let mut i = 0;
    while i < body.len() && body[i] != 0 {
        let f = body[i];
        let end = body[i + 1..].iter().position(|&x| x == 0)? + i + 1;
        if f == field {
            return Some(String::from_utf8_lossy(&body[i + 1..end]).into_owned());
        }
        i = end + 1;
    }
    None
}

/// Reads until the server closes the connection; returns what it sent, or None if it was
/// still open after `wait`.
async fn read_until_closed(sock: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut all = vec![];
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, sock.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(all),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// Garbage on one connection gets that connection refused or closed; other connections
/// and the server carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_connections_do_not_hurt_the_server() {
    let s = TestServer::start();
    let good = s.connect().await;
    good.batch_execute("create table g (ts timestamptz not null, id bigint); insert into g values ('2024-01-01 00:00:00+00', 1)").await.unwrap();
    let mut k = Checks::default();
    let wait = Duration::from_secs(5);

    // Random bytes from the first byte on (seeded; the first word is an invalid length).
    for seed in [1u64, 2, 3, 4, 5] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut junk = vec![0u8; 64 * 1024];
        rng.fill(&mut junk[..]);
        junk[0] |= 0x40; // a start-up length of at least 1 GiB: never valid
        match TcpStream::connect(("127.0.0.1", s.port)).await {
            Ok(mut sock) => {
                let _ = sock.write_all(&junk).await;
                let r = read_until_closed(&mut sock, wait).await;
                k.ok(
                    &format!(
                        "random bytes (seed {seed}): server closes the connection within {wait:?}"
                    ),
                    r.is_some(),
                    "still open",
                );
            }
            Err(e) => k.fail(format!("connect for garbage: {e}")),
        }
    }

    // A start-up packet that claims to be 2 GB long.
    match TcpStream::connect(("127.0.0.1", s.port)).await {
        Ok(mut sock) => {
            let mut msg = 0x7fff_fff0i32.to_be_bytes().to_vec();
            msg.extend_from_slice(&196608i32.to_be_bytes());
            msg.extend_from_slice(b"user\0strata\0database\0strata\0\0");
            let _ = sock.write_all(&msg).await;
            let r = read_until_closed(&mut sock, wait).await;
            k.ok(
                "2 GB start-up length: server closes the connection (without waiting for 2 GB)",
                r.is_some(),
                "still open",
            );
        }
        Err(e) => k.fail(format!("connect: {e}")),
    }

    // A negative length.
    match TcpStream::connect(("127.0.0.1", s.port)).await {
        Ok(mut sock) => {
            let _ = sock.write_all(&(-8i32).to_be_bytes()).await;
            let _ = sock.write_all(&196608i32.to_be_bytes()).await;
            let r = read_until_closed(&mut sock, wait).await;
            k.ok(
                "negative start-up length: connection closed",
                r.is_some(),
                "still open",
            );
        }
        Err(e) => k.fail(format!("connect: {e}")),
    }

    // After a valid start-up: a Query message claiming 2 GB, and an unknown message type.
    for (what, msg) in [
        ("Query message claiming 2 GB", {
            let mut m = vec![b'Q'];
            m.extend_from_slice(&0x7fff_fff0i32.to_be_bytes());
            m.extend_from_slice(b"select 1");
            m
        }),
        ("unknown message type 0x01", {
            let mut m = vec![0x01u8];
            m.extend_from_slice(&8i32.to_be_bytes());
            m.extend_from_slice(&[1, 2, 3, 4]);
            m
        }),
        ("Query message with a length below 4", {
            let mut m = vec![b'Q'];
            m.extend_from_slice(&2i32.to_be_bytes());
            m.extend_from_slice(&[0; 16]);
            m
        }),
    ] {
        match RawConn::connect(s.port).await {
            Ok(mut raw) => match raw.startup().await {
                Ok(_) => {
                    let _ = raw.sock.write_all(&msg).await;
                    let r = read_until_closed(&mut raw.sock, wait).await;
                    k.ok(
                        &format!("{what}: connection closed within {wait:?}"),
                        r.is_some(),
                        "still open",
                    );
                }
                Err(e) => k.fail(format!("{what}: start-up failed: {e}")),
            },
            Err(e) => k.fail(format!("{what}: connect: {e}")),
        }
    }

    // A connection that sends half a start-up packet and stays silent does not block others.
    let mut silent = TcpStream::connect(("127.0.0.1", s.port))
        .await
        .expect("connect silent");
    let _ = silent.write_all(&[0, 0, 0, 40, 0, 3]).await;

    // The connection opened before the garbage still works, and so does a new one.
    match good.query_one("select count(*) from g", &[]).await {
        Ok(r) => k.eq("existing connection after garbage", r.get::<_, i64>(0), 1),
        Err(e) => k.fail(format!("existing connection broken by garbage: {e:?}")),
    }
    match tokio::time::timeout(
        Duration::from_secs(10),
        tokio_postgres::connect(&s.conn_str(), NoTls),
    )
    .await
    {
        Ok(Ok((c2, conn))) => {
            tokio::spawn(conn);
            match c2.query_one("select count(*) from g", &[]).await {
                Ok(r) => k.eq("new connection after garbage", r.get::<_, i64>(0), 1),
                Err(e) => k.fail(format!("new connection query failed: {e:?}")),
            }
        }
        Ok(Err(e)) => k.fail(format!("new connection after garbage failed: {e:?}")),
        Err(_) => k.fail("new connection after garbage timed out".into()),
    }
    drop(silent);
    k.finish(&s);
}

// -------------------------------------------------------------------------- concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_are_all_counted() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute("create table cc8 (ts timestamptz not null, client int, id bigint)")
        .await
        .unwrap();
    const CLIENTS: i64 = 8;
    const BATCHES: i64 = 10;
    const ROWS: i64 = 1000;
    let mut tasks = vec![];
    for cl in 0..CLIENTS {
        let cs = s.conn_str();
        tasks.push(tokio::spawn(async move {
            let (c, conn) = tokio_postgres::connect(&cs, NoTls).await.expect("connect");
            tokio::spawn(conn);
            for b in 0..BATCHES {
                let mut sql = String::from("insert into cc8 (ts, client, id) values ");
                for r in 0..ROWS {
                    let id = (cl * BATCHES + b) * ROWS + r;
                    if r > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!("('2024-01-01 00:00:00+00'::timestamptz + interval '{id} seconds', {cl}, {id})"));
                }
                let n = c.execute(sql.as_str(), &[]).await.map_err(|e| format!("client {cl} batch {b}: {e:?}"))?;
                if n != ROWS as u64 {
                    return Err(format!("client {cl} batch {b}: INSERT reported {n} rows"));
                }
            }
            Ok::<(), String>(())
        }));
    }
    let mut errors = vec![];
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(format!("task panicked: {e:?}")),
        }
    }
    assert!(
        errors.is_empty(),
        "concurrent inserts failed: {errors:#?}\nserver log:\n{}",
        s.log()
    );
    let total = CLIENTS * BATCHES * ROWS;
    let r = c
        .query_one(
            "select count(*), count(distinct id), sum(id)::bigint, min(id), max(id) from cc8",
            &[],
        )
        .await
        .expect("final count");
    assert_eq!(
        (
            r.get::<_, i64>(0),
            r.get::<_, i64>(1),
            r.get::<_, Option<i64>>(2),
            r.get::<_, Option<i64>>(3),
            r.get::<_, Option<i64>>(4)
        ),
        (
            total,
            total,
            Some(total * (total - 1) / 2),
            Some(0),
            Some(total - 1)
        ),
        "count, distinct, sum, min, max of ids"
    );
    let per: Vec<(i32, i64)> = c
        .query(
            "select client, count(*) from cc8 group by client order by client",
            &[],
        )
        .await
        .expect("per client")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        per,
        (0..CLIENTS as i32)
            .map(|c| (c, BATCHES * ROWS))
            .collect::<Vec<_>>(),
        "rows per client"
    );
}

// ------------------------------------------------------------------------------ restart

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_rows() {
    let mut s = TestServer::start();
    let mut k = Checks::default();
    {
        let c = s.connect().await;
        c.batch_execute("create table r (ts timestamptz not null, id bigint, s text)")
            .await
            .unwrap();
        insert_range(&c, "r", 0, 1000)
            .await
            .expect("insert 0..1000");
    }
    // Clean shutdown flushes; a restart sees everything.
    k.ok(
        "SIGTERM shutdown exits successfully",
        s.stop(),
        "exit status not success",
    );
    s.restart();
    {
        let c = s.connect().await;
        check_range(&mut k, &c, "after stop + restart", 1000).await;
        // CHECKPOINT, more inserts, then SIGKILL: the WAL brings back the rest.
        if let Err(e) = c.batch_execute("CHECKPOINT").await {
            k.fail(format!("CHECKPOINT: {e:?}"));
        }
        insert_range(&c, "r", 1000, 1500)
            .await
            .expect("insert 1000..1500");
        if let Err(e) = c.batch_execute("CHECKPOINT").await {
            k.fail(format!("second CHECKPOINT: {e:?}"));
        }
        insert_range(&c, "r", 1500, 2000)
            .await
            .expect("insert 1500..2000");
    }
    s.kill9();
    s.restart();
    {
        let c = s.connect().await;
        check_range(
            &mut k,
            &c,
            "after CHECKPOINT + inserts + kill -9 + restart",
            2000,
        )
        .await;
        // And once more without any new writes (replaying the same WAL twice is harmless).
        insert_range(&c, "r", 2000, 2100)
            .await
            .expect("insert 2000..2100");
    }
    s.kill9();
    s.restart();
    {
        let c = s.connect().await;
        check_range(&mut k, &c, "after a second kill -9", 2100).await;
        // The schema survived too: a new insert with the same columns works.
        let r = c
            .execute(
                "insert into r (ts, id, s) values ('2030-01-01 00:00:00+00', 99999, 'late')",
                &[],
            )
            .await;
        k.ok("insert after restarts", r.is_ok(), &r);
    }
    k.ok(
        "second SIGTERM shutdown exits successfully",
        s.stop(),
        "exit status not success",
    );
    s.restart();
    {
        let c = s.connect().await;
        k.eq(
            "rows after the final stop + restart",
            count(&c, "select count(*) from r").await,
            2101,
        );
    }
    k.finish(&s);
}

/// `CREATE TABLE ... AS` and `ALTER TABLE ... RENAME TO` are in the catalog on disk: after
/// a kill -9 the copied table has its rows and the renamed table its rows (checkpointed and
/// from the WAL, which names tables by id) under the new name only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctas_and_rename_survive_kill9() {
    let mut s = TestServer::start();
    let mut k = Checks::default();
    {
        let c = s.connect().await;
        c.batch_execute("create table r (ts timestamptz not null, id bigint, s text)")
            .await
            .unwrap();
        insert_range(&c, "r", 0, 100).await.expect("insert 0..100");
        let r = c
            .batch_execute("CHECKPOINT; create table r_copy as select id, s from r where id < 10")
            .await;
        k.ok("CREATE TABLE AS", r.is_ok(), &r);
        let r = c.batch_execute("alter table r rename to r2").await;
        k.ok("ALTER TABLE RENAME TO", r.is_ok(), &r);
        let r = c
            .execute(
                "insert into r2 (ts, id, s) values ('2030-01-01 00:00:00+00', 100, 'late')",
                &[],
            )
            .await;
        k.ok("insert into the renamed table", r.is_ok(), &r);
    }
    s.kill9();
    s.restart();
    {
        let c = s.connect().await;
        k.eq(
            "rows of the renamed table",
            count(&c, "select count(*) from r2").await,
            101,
        );
        k.eq(
            "rows of the copy",
            count(&c, "select count(*) from r_copy").await,
            10,
        );
        let old = c.query("select count(*) from r", &[]).await;
        k.ok("the old name is gone", old.is_err(), &old);
    }
    k.finish(&s);
}

async fn insert_range(
    c: &Client,
    table: &str,
    from: i64,
    to: i64,
) -> Result<u64, tokio_postgres::Error> {
    let mut sql = format!("insert into {table} (ts, id, s) values ");
    for i in from..to {
        if i > from {
            sql.push(',');
        }
        sql.push_str(&format!(
            "('2024-01-01 00:00:00+00'::timestamptz + interval '{i} minutes', {i}, 's{i}')"
        ));
    }
    c.execute(sql.as_str(), &[]).await
}

async fn check_range(k: &mut Checks, c: &Client, when: &str, n: i64) {
    match c.query_one("select count(*), count(distinct id), sum(id)::bigint, min(ts), max(ts), sum(length(s)) from r", &[]).await {
        Ok(r) => {
            k.eq(&format!("{when}: count(*)"), r.get::<_, i64>(0), n);
            k.eq(&format!("{when}: count(distinct id)"), r.get::<_, i64>(1), n);
            k.eq(&format!("{when}: sum(id)"), r.get::<_, Option<i64>>(2), Some(n * (n - 1) / 2));
            k.eq(&format!("{when}: min(ts)"), r.get::<_, Option<DateTime<Utc>>>(3), Some(ts(2024, 1, 1, 0, 0, 0, 0)));
            k.eq(&format!("{when}: max(ts)"), r.get::<_, Option<DateTime<Utc>>>(4), Some(ts(2024, 1, 1, 0, 0, 0, 0) + chrono::Duration::minutes(n - 1)));
            let want_len: i64 = (0..n).map(|i| format!("s{i}").len() as i64).sum();
            let got_len = r.try_get::<_, Option<i64>>(5).ok().flatten().or_else(|| r.try_get::<_, Option<i32>>(5).ok().flatten().map(i64::from));
            k.eq(&format!("{when}: sum(length(s))"), got_len, Some(want_len));
        }
        Err(e) => k.fail(format!("{when}: check query failed: {e:?}")),
    }
}

/// Continuous aggregates are maintained by every write path a driver uses — COPY, prepared
/// INSERTs with bound parameters, literal INSERTs — from concurrent connections, and always
/// equal the defining query over the raw table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_aggregates_follow_copy_prepared_and_concurrent_writes() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "create table ca (ts timestamptz not null, dev text, v float8, n int8); \
         select create_hypertable('ca', by_range('ts', interval '1 hour')); \
         create materialized view ca_1m with (timescaledb.continuous) as \
           select time_bucket('1 minute', ts) as b, dev, count(*) as c, sum(n) as s, \
                  max(v) as mx, avg(v) as av from ca group by b, dev",
    )
    .await
    .unwrap();
    // COPY: 5000 rows over 100 minutes and 5 devices.
    let mut data = String::new();
    for i in 0..5000i64 {
        let ts = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::seconds(i * 6 / 5);
        data.push_str(&format!(
            "{}\td{}\t{}\t{}\n",
            ts.format("%Y-%m-%d %H:%M:%S+00"),
            i % 5,
            (i % 97) as f64 / 4.0,
            i
        ));
    }
    assert_eq!(
        copy_in_chunks(&c, "COPY ca FROM STDIN", data.as_bytes())
            .await
            .unwrap(),
        5000
    );
    // Prepared INSERTs and literal INSERTs from three connections at once.
    let mut tasks = vec![];
    for w in 0..3i64 {
        let cs = s.conn_str();
        tasks.push(tokio::spawn(async move {
            let (c, conn) = tokio_postgres::connect(&cs, NoTls).await.expect("connect");
            tokio::spawn(conn);
            let st = c
                .prepare("insert into ca (ts, dev, v, n) values ($1, $2, $3, $4)")
                .await
                .expect("prepare");
            for i in 0..200i64 {
                let ts = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
                    + chrono::Duration::seconds((i * 37 + w * 11) % 6000);
                let dev = format!("d{}", (i + w) % 7);
                if i % 2 == 0 {
                    c.execute(&st, &[&ts, &dev, &(i as f64), &(w * 1000 + i)])
                        .await
                        .expect("prepared insert");
                } else {
                    c.batch_execute(&format!(
                        "insert into ca values ('{}', '{dev}', {}, {})",
                        ts.format("%Y-%m-%d %H:%M:%S+00"),
                        i as f64 / 3.0,
                        w * 1000 + i
                    ))
                    .await
                    .expect("literal insert");
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let diff = "select count(*) from (\
        (select b, dev, c, s, mx, round(av::numeric, 9) from ca_1m except \
         select time_bucket('1 minute', ts), dev, count(*), sum(n), max(v), round(avg(v)::numeric, 9) from ca group by 1, 2) \
        union all \
        (select time_bucket('1 minute', ts), dev, count(*), sum(n), max(v), round(avg(v)::numeric, 9) from ca group by 1, 2 \
         except select b, dev, c, s, mx, round(av::numeric, 9) from ca_1m)) d";
    assert_eq!(count(&c, diff).await, 0, "view differs from the raw table");
    assert_eq!(count(&c, "select sum(c)::int8 from ca_1m").await, 5600);
    // The view answers a bound-parameter query too (extended protocol, binary results).
    let rows = c
        .query(
            "select dev, sum(c)::int8 from ca_1m where b >= $1 and b < $2 group by dev order by dev",
            &[
                &Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
                &Utc.with_ymd_and_hms(2024, 1, 1, 0, 10, 0).unwrap(),
            ],
        )
        .await
        .unwrap();
    let total: i64 = rows.iter().map(|r| r.get::<_, i64>(1)).sum();
    let raw = count(
        &c,
        "select count(*) from ca where ts >= '2024-01-01 00:00:00+00' and ts < '2024-01-01 00:10:00+00'",
    )
    .await;
    assert_eq!(total, raw);
}

/// Transaction blocks: rows are visible to their own session at once, to others only after
/// COMMIT; ROLLBACK (and a dropped connection) discards them; continuous aggregates see the
/// same; COPY inside a block is part of it; DELETE inside a block is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_blocks_commit_atomically_and_roll_back() {
    let s = TestServer::start();
    let a = s.connect().await;
    let b = s.connect().await;
    a.batch_execute(
        "create table tb (ts timestamptz not null, k int8); \
         select create_hypertable('tb', 'ts'); \
         create materialized view tb_h with (timescaledb.continuous) as \
           select time_bucket('1 hour', ts) as h, count(*) as n, sum(k) as s from tb group by h",
    )
    .await
    .unwrap();
    a.batch_execute("BEGIN").await.unwrap();
    a.batch_execute(
        "insert into tb values ('2024-01-01 00:00:00+00', 1), ('2024-01-01 00:30:00+00', 2)",
    )
    .await
    .unwrap();
    let data = "2024-01-01 01:00:00+00\t3\n";
    assert_eq!(
        copy_in_chunks(&a, "COPY tb FROM STDIN", data.as_bytes())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        count(&a, "select count(*) from tb").await,
        3,
        "own rows visible"
    );
    assert_eq!(
        count(&a, "select sum(n)::int8 from tb_h").await,
        3,
        "own rows in the view"
    );
    assert_eq!(
        count(&b, "select count(*) from tb").await,
        0,
        "others do not see them"
    );
    let e = a.batch_execute("delete from tb").await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("0A000"), "{e:?}");
    // The failed statement aborted the block: COMMIT reports ROLLBACK, nothing is written.
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(count(&b, "select count(*) from tb").await, 0);

    a.batch_execute("BEGIN; insert into tb values ('2024-01-01 02:00:00+00', 10); ROLLBACK")
        .await
        .unwrap();
    assert_eq!(count(&a, "select count(*) from tb").await, 0, "rolled back");

    a.batch_execute("BEGIN; insert into tb values ('2024-01-01 02:00:00+00', 10), ('2024-01-01 03:00:00+00', 20)")
        .await
        .unwrap();
    assert_eq!(count(&b, "select count(*) from tb").await, 0);
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(count(&b, "select count(*) from tb").await, 2, "committed");
    assert_eq!(
        count(&b, "select sum(s)::int8 from tb_h").await,
        30,
        "view after commit"
    );

    // A connection that goes away with an open block loses it.
    {
        let c = s.connect().await;
        c.batch_execute("BEGIN; insert into tb values ('2024-01-01 04:00:00+00', 100)")
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count(&b, "select count(*) from tb").await, 2);
    // Committed blocks survive a crash.
    drop(a);
    drop(b);
    let mut s = s;
    tokio::task::block_in_place(|| s.restart());
    let c = s.connect().await;
    assert_eq!(count(&c, "select count(*) from tb").await, 2);
    assert_eq!(count(&c, "select sum(s)::int8 from tb_h").await, 30);
}

/// Policies run on their schedule without anyone calling run_job: a retention policy with
/// a one-second schedule drops the old partitions of a table, and its continuous aggregate
/// keeps the rollups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_retention_policy_runs_by_itself() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "create table sp (ts timestamptz not null, k int8); \
         select create_hypertable('sp', by_range('ts', interval '1 day')); \
         insert into sp values ('2024-01-01 00:00:00+00', 1), ('2024-01-05 00:00:00+00', 2); \
         insert into sp select now(), 3; \
         create materialized view sp_d with (timescaledb.continuous) as \
           select time_bucket('1 day', ts) as d, sum(k) as s from sp group by d",
    )
    .await
    .unwrap();
    let job: i32 = c
        .query_one(
            "select add_retention_policy('sp', interval '7 days', schedule_interval => interval '1 second')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(job >= 1000);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if count(&c, "select count(*) from sp").await == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the retention policy did not run within 20 s\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        count(&c, "select sum(s)::int8 from sp_d").await,
        6,
        "rollups kept"
    );
}

/// COPY enforces a `varchar(n)` length like INSERT (22001, nothing written); values that
/// fit, counted in characters, are stored.
#[tokio::test]
async fn copy_enforces_varchar_length() {
    let s = TestServer::start();
    let c = s.connect().await;
    let mut k = Checks::default();
    c.batch_execute("create table cv (ts timestamptz not null, name varchar(3))")
        .await
        .unwrap();
    let mut data = String::new();
    for i in 0..1000 {
        data.push_str(&format!(
            "2024-01-01 00:00:{:02}+00\tab{}\n",
            i % 60,
            i % 10
        ));
    }
    data.push_str("2024-01-01 00:00:00+00\tabcd\n");
    match copy_in_chunks(&c, "COPY cv FROM STDIN", data.as_bytes()).await {
        Ok(n) => k.fail(format!("COPY of a too long value succeeded ({n} rows)")),
        Err(e) => {
            k.eq("SQLSTATE", sqlstate(&e), "22001".into());
            let msg = e
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_default();
            k.eq(
                "message",
                msg,
                "value too long for type character varying(3)".into(),
            );
        }
    }
    k.eq(
        "rows after the failed COPY",
        count(&c, "select count(*) from cv").await,
        0,
    );
    let ok = "2024-01-01 00:00:00+00\téüß\n2024-01-01 00:00:01+00\t\\N\n";
    match copy_in_chunks(&c, "COPY cv FROM STDIN", ok.as_bytes()).await {
        Ok(n) => k.eq("rows copied", n as i64, 2),
        Err(e) => k.fail(format!("COPY of values that fit failed: {e}")),
    }
    k.finish(&s);
}

/// Generated SQL with thousands of terms (BI tools' filters, ORMs' `OR` lists) is answered,
/// and what is still nested too deeply is refused with 54001; the server survives both
/// (a 5,000-term `OR` or a 1,000-term `UNION ALL` used to overflow a worker's stack and
/// abort the process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_expressions_do_not_crash_the_server() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "create table deep (ts timestamptz not null, a int); \
         insert into deep values ('2024-01-01 00:00:00+00', 5), ('2024-01-01 00:00:01+00', 4999), \
         ('2024-01-01 00:00:02+00', 7000)",
    )
    .await
    .unwrap();
    let terms = |n: usize, f: &dyn Fn(usize) -> String, sep: &str| {
        (0..n).map(f).collect::<Vec<_>>().join(sep)
    };
    let count = async |sql: String| -> Result<i64, String> {
        let rows = c.simple_query(&sql).await.map_err(|e| sqlstate(&e))?;
        rows.iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(r) => r.get(0)?.parse().ok(),
                _ => None,
            })
            .ok_or_else(|| "no row".to_string())
    };
    let ors = terms(5000, &|i| format!("a = {i}"), " OR ");
    assert_eq!(
        count(format!("select count(*) from deep where {ors}")).await,
        Ok(2),
        "5,000-term OR"
    );
    let ands = terms(5000, &|i| format!("a <> {i}"), " AND ");
    assert_eq!(
        count(format!("select count(*) from deep where {ands}")).await,
        Ok(1),
        "5,000-term AND"
    );
    // lists of values of any length become IN / NOT IN (10,000 terms overflowed the stack
    // of DataFusion's optimiser, which joins a filter's conjuncts again left-deep)
    let ors = terms(20_000, &|i| format!("a = {i}"), " OR ");
    assert_eq!(
        count(format!("select count(*) from deep where {ors}")).await,
        Ok(3),
        "20,000-term OR"
    );
    let ands = terms(20_000, &|i| format!("a <> {i}"), " AND ");
    assert_eq!(
        count(format!(
            "select count(*) from deep where {ands} or a is null"
        ))
        .await,
        Ok(0),
        "20,000-term AND"
    );
    let ands = terms(10_000, &|i| format!("a <> {}", i + 10), " AND ");
    assert_eq!(
        count(format!("select count(*) from deep where {ands}")).await,
        Ok(1),
        "10,000-term AND"
    );
    // any other chain that long is refused, not a crash
    let other = terms(
        10_000,
        &|i| format!("a <> {i} + ts::date - ts::date"),
        " AND ",
    );
    assert_eq!(
        count(format!("select count(*) from deep where {other}")).await,
        Err("54001".to_string()),
        "10,000 terms that are not a list"
    );
    // mixed: an OR of ANDs, inside a subquery
    let mixed = terms(2000, &|i| format!("(a > {i} AND a < {})", i + 2), " OR ");
    assert_eq!(
        count(format!(
            "select count(*) from (select * from deep where {mixed}) s"
        ))
        .await,
        Ok(1),
        "2,000 ANDs in an OR"
    );
    // a chain of another operator stays as deep as written: refused, not a crash
    let sum = terms(5000, &|_| "a".to_string(), " + ");
    assert_eq!(
        count(format!("select {sum} from deep")).await,
        Err("54001".to_string()),
        "5,000-term sum"
    );
    // set operations: a long UNION ALL is balanced; a chain of alternating operators is
    // refused
    let union = terms(3000, &|i| format!("select {i} as x"), " UNION ALL ");
    assert_eq!(
        count(format!("select count(distinct x) from ({union}) s")).await,
        Ok(3000),
        "3,000-term UNION ALL"
    );
    let mixed_ops = terms(
        3000,
        &|i| {
            let op = if i % 2 == 0 { "UNION" } else { "EXCEPT" };
            format!("{op} select {i} as x")
        },
        " ",
    );
    assert_eq!(
        count(format!(
            "select count(*) from (select -1 as x {mixed_ops}) s"
        ))
        .await,
        Err("54001".to_string()),
        "3,000 alternating UNION/EXCEPT"
    );
    // as a prepared statement too
    let e = c
        .prepare(&format!("select {sum} from deep where a = $1"))
        .await
        .expect_err("refused");
    assert_eq!(sqlstate(&e), "54001");
    assert_eq!(
        count("select count(*) from deep".into()).await,
        Ok(3),
        "the connection still works"
    );
}

/// `EXPLAIN [ANALYZE] EXECUTE` shows the plan of the prepared statement with its arguments
/// in place: the same plan as the query written out with those values, over the simple
/// and the extended protocol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_execute_shows_the_prepared_statements_plan() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "create table ex (ts timestamptz not null, v int, host text); \
         insert into ex values ('2024-01-01 00:00:00+00', 1, 'a'), \
         ('2024-01-01 00:00:01+00', 2, 'b'), ('2024-01-01 00:00:02+00', 2, 'c'); \
         prepare q (int, text) as select v, count(*) from ex where v = $1 and host <> $2 group by v",
    )
    .await
    .unwrap();
    let written = simple_rows(
        &c,
        "explain select v, count(*) from ex where v = 2 and host <> 'c' group by v",
    )
    .await
    .unwrap();
    assert!(!written.is_empty());
    let simple = simple_rows(&c, "explain execute q(2, 'c')").await.unwrap();
    assert_eq!(simple, written, "simple protocol");
    let extended: Vec<Vec<Option<String>>> = c
        .query("explain execute q(2, 'c')", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (0..r.len()).map(|i| r.get(i)).collect())
        .collect();
    assert_eq!(extended, written, "extended protocol");
    // ANALYZE runs it. The scan applies the filters itself (no FilterExec above it), and
    // its output rows are those the filters keep, not the rows it read.
    let analyzed = simple_rows(&c, "explain analyze execute q(2, 'c')")
        .await
        .unwrap();
    let text: String = analyzed
        .iter()
        .flatten()
        .flatten()
        .map(|cell| format!("{cell}\n"))
        .collect();
    let scan = text
        .lines()
        .find(|l| l.contains("StorageScanExec"))
        .unwrap_or_else(|| panic!("no scan in {text}"));
    let rows = scan
        .split("output_rows=")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next());
    assert!(rows == Some("1") && !text.contains("FilterExec"), "{text}");
    for (sql, state) in [
        ("explain execute q(2)", "42601"),
        ("explain execute nosuch(2)", "26000"),
        ("explain execute q($1, 'c')", "42P02"),
    ] {
        let e = c.simple_query(sql).await.unwrap_err();
        assert_eq!(sqlstate(&e), state, "{sql}");
    }
}

/// Queries over files big enough that the hot store maps their column chunks instead of
/// reading them (`strata_sql::hot_store`, requests of 256 KiB and more) answer as the same
/// rows did from memory, and again after a restart.
#[tokio::test]
async fn large_file_scans_answer_as_the_memtable_did() {
    const N: i64 = 300_000;
    let mut s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE big (ts timestamptz NOT NULL, host text, v float8, n bigint);
         INSERT INTO big SELECT '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second',
             'h' || (g % 10), (g % 1000) / 10.0, g FROM generate_series(0, 299999) g",
    )
    .await
    .expect("load");

    // Expected answers, from the same formula as the INSERT.
    let mut groups = vec![(0i64, 0i64, f64::MAX, f64::MIN); 10];
    let (mut day_rows, mut day_sum) = (0i64, 0i64);
    for g in 0..N {
        let v = (g % 1000) as f64 / 10.0;
        let e = &mut groups[(g % 10) as usize];
        e.0 += 1;
        e.1 += g;
        e.2 = e.2.min(v);
        e.3 = e.3.max(v);
        if (86_400..172_800).contains(&g) {
            day_rows += 1;
            day_sum += g;
        }
    }
    let by_host: Vec<Vec<Option<String>>> = groups
        .iter()
        .enumerate()
        .map(|(h, (n, sum, lo, hi))| {
            vec![
                Some(format!("h{h}")),
                Some(n.to_string()),
                Some(sum.to_string()),
                Some(lo.to_string()),
                Some(hi.to_string()),
            ]
        })
        .collect();
    let queries: Vec<(&str, Vec<Vec<Option<String>>>)> = vec![
        (
            "SELECT host, count(*), sum(n), min(v), max(v) FROM big GROUP BY host ORDER BY host",
            by_host,
        ),
        (
            "SELECT count(*), sum(n) FROM big \
             WHERE ts >= '2024-01-02 00:00:00+00' AND ts < '2024-01-03 00:00:00+00'",
            vec![vec![Some(day_rows.to_string()), Some(day_sum.to_string())]],
        ),
        (
            "SELECT host, v FROM big WHERE n = 123457",
            vec![vec![Some("h7".into()), Some("45.7".into())]],
        ),
    ];

    let mut k = Checks::default();
    for stage in ["memtable", "after CHECKPOINT", "after restart"] {
        match stage {
            "after CHECKPOINT" => c.batch_execute("CHECKPOINT").await.expect("checkpoint"),
            "after restart" => s.restart(),
            _ => {}
        }
        let c = s.connect().await;
        for (sql, want) in &queries {
            match simple_rows(&c, sql).await {
                Ok(got) => k.eq(&format!("{stage}: {sql}"), &got, want),
                Err(e) => k.fail(format!("{stage}: {sql}: {e:?}")),
            }
        }
    }
    k.finish(&s);
}
