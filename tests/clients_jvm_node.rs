//! Client compatibility for the JVM, Node and Rust drivers and pgbench: each client does what
//! its users do (connect, discover the schema, create, insert with parameters, query with
//! time_bucket) against Strata and against PostgreSQL 15, and the transcripts must be equal.
//! On PostgreSQL a setup step (guarded by `STRATA_TARGET`) defines `time_bucket(interval,
//! timestamptz)` with `date_bin`, so the query text is the same on both servers.
//!
//! - pgjdbc (`tests/clients/java/Transcript.java`, compiled against the distribution's
//!   `/usr/share/java/postgresql.jar`): DatabaseMetaData, server-prepared statements and
//!   binary results past `prepareThreshold`, `reWriteBatchedInserts`.
//! - node-postgres (`tests/clients/node`, `npm ci` installs the pinned `pg`).
//! - tokio-postgres (below, in Rust).
//! - pgbench `-M prepared` with a custom script, and `pgbench -i` (client- and server-side
//!   data generation) followed by its built-in TPC-B-like script.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use common::TestServer;
use common::pg::Cluster;
use common::pki::Pki;
use common::transcript::{Target, compare, compare_on, first_difference};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Row, SimpleQueryMessage};

const JDBC_JAR: &str = "/usr/share/java/postgresql.jar";

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// The SQL that gives PostgreSQL Strata's `time_bucket` (TimescaleDB's origin for
/// timestamptz buckets is Monday 2000-01-03).
const PG_TIME_BUCKET: &str = "CREATE FUNCTION time_bucket(interval, timestamptz) RETURNS timestamptz \
     LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin($1, $2, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$";

// ---------------------------------------------------------------------------------------
// pgjdbc

/// Compiles `tests/clients/java/<class>.java` against pgjdbc; returns the class directory
/// (keep it alive while the program runs) and the class path.
fn javac(class: &str) -> (tempfile::TempDir, String) {
    assert!(
        Path::new(JDBC_JAR).is_file(),
        "{JDBC_JAR} is missing: apt-get install libpostgresql-jdbc-java (.ci/run does)"
    );
    let classes = tempfile::tempdir().expect("tempdir");
    let javac = Command::new("javac")
        .arg("-d")
        .arg(classes.path())
        .arg("-cp")
        .arg(JDBC_JAR)
        .arg(clients_dir().join(format!("java/{class}.java")))
        .output()
        .expect("javac runs (a JDK is needed; .ci/run installs one)");
    assert!(
        javac.status.success(),
        "javac failed:\n{}",
        String::from_utf8_lossy(&javac.stderr)
    );
    let cp = format!("{}:{JDBC_JAR}", classes.path().display());
    (classes, cp)
}

#[tokio::test]
async fn pgjdbc_metadata_prepared_binary_batch() {
    let (_classes, cp) = javac("Transcript");
    let out = compare(
        &[],
        || {
            let mut c = Command::new("java");
            c.arg("-Duser.timezone=UTC")
                .arg("-cp")
                .arg(&cp)
                .arg("Transcript")
                .env("TZ", "UTC");
            c
        },
        "pgjdbc Transcript.java",
    )
    .await;
    // The prepared query ran past prepareThreshold (server-prepared, binary results).
    assert!(out.contains("time_bucket execution 7"), "{out}");
    assert!(out.contains("batch counts: [-2,"), "{out}");
    assert!(out.contains("getPrimaryKeys metrics\n"), "{out}");
    // numeric(10,2)'s precision and scale and varchar(3)'s length reach pgjdbc
    assert!(
        out.contains(" a(10,2,") && out.contains(" v(3,0,3)"),
        "{out}"
    );
    assert!(out.contains("\ndone"), "{out}");
}

/// pgjdbc with each sslmode against servers that accept only TLS: Strata with
/// `--tls-cert --tls-key --tls-required`, PostgreSQL 15 with `ssl = on` and `hostssl` only,
/// the same certificate (for `localhost`, signed by the test CA). `sslmode=disable` is
/// refused with PostgreSQL's FATAL, `require` and `verify-full` (with `sslrootcert`) run
/// queries, and `verify-full` fails on a wrong host name and on an untrusted CA.
#[tokio::test]
async fn pgjdbc_tls_sslmodes() {
    let (_classes, cp) = javac("TlsProbe");
    let pki = Pki::new();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let server =
        TestServer::start_with(&["--tls-cert", &cert, "--tls-key", &key, "--tls-required"]);
    let cluster = match Cluster::start_tls_required(Path::new(&cert), Path::new(&key)).await {
        Ok(c) => c,
        Err(e) => panic!("the PostgreSQL 15 reference cannot start with TLS: {e}"),
    };
    let out = compare_on(
        &server,
        &cluster,
        || {
            let mut c = Command::new("java");
            c.arg("-cp")
                .arg(&cp)
                .arg("TlsProbe")
                .env("TLS_DIR", pki.path(""));
            c
        },
        "pgjdbc TlsProbe.java",
    )
    .await;
    for want in [
        "sslmode=disable: ERROR 28000 FATAL: no pg_hba.conf entry for host \"127.0.0.1\", user \"strata\", database \"strata\", no encryption",
        "sslmode=require: rows=5000 chars=1000000 last=5000",
        "sslmode=verify-full: n=300 chars=45150",
        "sslmode=verify-full, wrong host name: ERROR 08006",
        "sslmode=verify-full, untrusted certificate: ERROR 08006",
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
}

// ---------------------------------------------------------------------------------------
// node-postgres

#[tokio::test]
async fn node_postgres_parameters_and_types() {
    let dir = clients_dir().join("node");
    assert!(
        dir.join("node_modules/pg").is_dir(),
        "node-postgres is not installed: run `npm ci` in tests/clients/node (.ci/run does)"
    );
    let out = compare(
        &[],
        || {
            let mut c = Command::new("node");
            c.arg("transcript.js").current_dir(&dir).env("TZ", "UTC");
            c
        },
        "node-postgres transcript.js",
    )
    .await;
    assert!(out.contains("bucket dev-b (SELECT 2)"), "{out}");
    assert!(out.contains("division by zero: ERROR 22012"), "{out}");
    assert!(out.contains("\ndone"), "{out}");
}

// ---------------------------------------------------------------------------------------
// tokio-postgres

fn show_value(row: &Row, i: usize) -> String {
    let ty = row.columns()[i].type_().clone();
    macro_rules! get {
        ($t:ty) => {
            match row.try_get::<_, Option<$t>>(i) {
                Ok(Some(v)) => format!("{v:?}"),
                Ok(None) => "NULL".to_string(),
                Err(e) => format!("<{e}>"),
            }
        };
    }
    let v = match ty {
        Type::BOOL => get!(bool),
        Type::INT2 => get!(i16),
        Type::INT4 => get!(i32),
        Type::INT8 => get!(i64),
        Type::FLOAT4 => get!(f32),
        Type::FLOAT8 => get!(f64),
        Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => get!(String),
        Type::BYTEA => get!(Vec<u8>),
        Type::DATE => get!(NaiveDate),
        Type::TIMESTAMP => get!(NaiveDateTime),
        Type::TIMESTAMPTZ => get!(DateTime<Utc>),
        Type::JSON | Type::JSONB => get!(serde_json::Value),
        Type::OID => get!(u32),
        _ => "<no Rust type in this transcript>".to_string(),
    };
    format!("{}:{v}", ty.name())
}

fn show_rows(out: &mut String, title: &str, rows: &[Row]) {
    let _ = writeln!(out, "{title} ({} rows)", rows.len());
    if let Some(r) = rows.first() {
        let cols: Vec<String> = r
            .columns()
            .iter()
            .map(|c| format!("{}[{}]", c.name(), c.type_().name()))
            .collect();
        let _ = writeln!(out, "  columns: {}", cols.join(" "));
    }
    for r in rows {
        let vals: Vec<String> = (0..r.len()).map(|i| show_value(r, i)).collect();
        let _ = writeln!(out, "  row: {}", vals.join(" "));
    }
}

fn show_error(out: &mut String, title: &str, e: &tokio_postgres::Error) {
    match e.as_db_error() {
        Some(d) => {
            let _ = writeln!(out, "{title}: ERROR {} {}", d.code().code(), d.message());
        }
        None => {
            let _ = writeln!(out, "{title}: client error {e}");
        }
    }
}

async fn tokio_transcript(port: u16, target: Target) -> Result<String, tokio_postgres::Error> {
    let (c, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={port} user=strata dbname=strata application_name=tokio-transcript"
        ),
        NoTls,
    )
    .await?;
    tokio::spawn(conn);
    let mut out = String::new();
    tokio_script(&c, target, &mut out).await?;
    Ok(out)
}

async fn tokio_script(
    c: &Client,
    target: Target,
    out: &mut String,
) -> Result<(), tokio_postgres::Error> {
    c.batch_execute("SET TIME ZONE 'UTC'").await?;
    if target == Target::Postgres {
        c.batch_execute(PG_TIME_BUCKET).await?;
    }
    c.batch_execute(
        "CREATE TABLE sensors (ts timestamptz NOT NULL, id integer NOT NULL, v double precision, \
         big bigint, flag boolean, label text, PRIMARY KEY (id, ts))",
    )
    .await?;
    // Schema discovery through the catalog, with parameters.
    let rows = c
        .query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnum \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON a.attrelid = c.oid \
             JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 ORDER BY a.attnum",
            &[&"public", &"sensors"],
        )
        .await?;
    show_rows(out, "attributes", &rows);

    // Prepared insert: parameter types come from the server; values travel in binary.
    let ins = c
        .prepare(
            "INSERT INTO sensors (ts, id, v, big, flag, label) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    let types: Vec<&str> = ins.params().iter().map(|t| t.name()).collect();
    let _ = writeln!(out, "insert parameter types: {}", types.join(", "));
    let t0 = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    for i in 0..10i32 {
        let ts = t0 + chrono::Duration::seconds(i64::from(i) * 75);
        let v = if i == 4 {
            None
        } else {
            Some(f64::from(i) * 0.5)
        };
        let label = if i % 4 == 0 {
            None
        } else {
            Some(format!("l{i}"))
        };
        let n = c
            .execute(
                &ins,
                &[
                    &ts,
                    &(i % 3),
                    &v,
                    &(i64::from(i) << 40),
                    &(i % 2 == 0),
                    &label,
                ],
            )
            .await?;
        if i == 0 {
            let _ = writeln!(out, "insert: {n}");
        }
    }
    let q = c
        .prepare(
            "SELECT time_bucket(INTERVAL '5 minutes', ts) AS bucket, id, count(*) AS n, avg(v) AS avg_v, \
             max(big) AS max_big, min(label) AS first_label FROM sensors WHERE ts >= $1 AND id <> $2 \
             GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .await?;
    let types: Vec<&str> = q.params().iter().map(|t| t.name()).collect();
    let _ = writeln!(out, "query parameter types: {}", types.join(", "));
    for skip in [0i32, 1] {
        let rows = c.query(&q, &[&t0, &skip]).await?;
        show_rows(out, &format!("buckets without id {skip}"), &rows);
    }
    let rows = c
        .query(
            "SELECT 1 AS i4, CAST(2 AS smallint) AS i2, CAST(3 AS bigint) AS i8, CAST(1.5 AS real) AS f4, \
             CAST(0.25 AS double precision) AS f8, 'txt' AS t, true AS b, CAST('\\x0102ff' AS bytea) AS by, \
             DATE '2024-02-29' AS d, TIMESTAMP '2024-01-02 03:04:05.678' AS ts, \
             TIMESTAMPTZ '2024-01-02 03:04:05.678+00' AS tstz, CAST('{\"a\": [1, 2]}' AS jsonb) AS j",
            &[],
        )
        .await?;
    show_rows(out, "types", &rows);
    let rows = c
        .query(
            "SELECT $1::text AS s, $2::int8 + 1 AS n, $3::float8 * 2 AS f, $4::timestamptz AS t, $5::bool AS b",
            &[&"héllo", &41i64, &1.25f64, &t0, &true],
        )
        .await?;
    show_rows(out, "typed parameters", &rows);
    for m in c
        .simple_query("SELECT id, count(*), sum(big) FROM sensors GROUP BY id ORDER BY id")
        .await?
    {
        match m {
            SimpleQueryMessage::Row(r) => {
                let vals: Vec<&str> = (0..r.len()).map(|i| r.get(i).unwrap_or("NULL")).collect();
                let _ = writeln!(out, "simple row: {}", vals.join("|"));
            }
            SimpleQueryMessage::CommandComplete(n) => {
                let _ = writeln!(out, "simple complete: {n}");
            }
            _ => {}
        }
    }
    match c.query("SELECT 1/0", &[]).await {
        Ok(_) => out.push_str("1/0: no error\n"),
        Err(e) => show_error(out, "1/0", &e),
    }
    match c
        .execute(
            &ins,
            &[
                &t0,
                &0i32,
                &None::<f64>,
                &None::<i64>,
                &None::<bool>,
                &None::<String>,
            ],
        )
        .await
    {
        Ok(n) => {
            let _ = writeln!(out, "duplicate key: inserted {n}");
        }
        Err(e) => show_error(out, "duplicate key", &e),
    }
    match c.prepare("SELECT nosuch FROM sensors").await {
        Ok(_) => out.push_str("missing column: no error\n"),
        Err(e) => show_error(out, "missing column", &e),
    }
    let rows = c.query("SELECT count(*) AS n FROM sensors", &[]).await?;
    show_rows(out, "count", &rows);
    Ok(())
}

#[tokio::test]
async fn tokio_postgres_prepared_binary() {
    let server = TestServer::start();
    let cluster = match Cluster::start().await {
        Ok(c) => c,
        Err(e) => panic!("the PostgreSQL 15 reference cannot start: {e}"),
    };
    let pg = match tokio_transcript(cluster.port(), Target::Postgres).await {
        Ok(s) => s,
        Err(e) => panic!("tokio-postgres transcript failed against PostgreSQL 15: {e:?}"),
    };
    let st = match tokio_transcript(server.port, Target::Strata).await {
        Ok(s) => s,
        Err(e) => panic!(
            "tokio-postgres transcript failed against Strata: {e:?}\nserver log:\n{}",
            server.log()
        ),
    };
    assert!(
        st == pg,
        "tokio-postgres: {}\n=== strata transcript ===\n{st}",
        first_difference(&st, &pg)
    );
    assert!(pg.contains("buckets without id 1"), "{pg}");
}

// ---------------------------------------------------------------------------------------
// pgbench

/// pgbench -M prepared with a custom script (two clients), then the table's contents.
/// pgbench's own numbers (tps, latency) vary; only the processed-transactions line is kept.
fn pgbench_run() -> Command {
    let script = clients_dir().join("pgbench/insert_select.sql");
    let mut c = Command::new("sh");
    c.arg("-c").arg(format!(
        r#"set -e
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE TABLE bench (ts timestamptz NOT NULL, client integer NOT NULL, n integer NOT NULL, v double precision, PRIMARY KEY (client, n, ts))"
if [ "$STRATA_TARGET" = postgres ]; then psql -X -q -v ON_ERROR_STOP=1 -c "{tb}"; fi
pgbench -n -f {script} -M prepared -t 25 -c 2 > pgbench.out 2>&1 || {{ cat pgbench.out >&2; exit 1; }}
grep -E '^(query mode|number of clients|number of transactions actually processed|number of failed transactions)' pgbench.out
psql -X -A -c "SELECT client, count(*), count(DISTINCT n), sum(v) FROM bench GROUP BY client ORDER BY client"
psql -X -A -c "SELECT time_bucket(INTERVAL '1 hour', ts) AS h, count(*) FROM bench GROUP BY 1 ORDER BY 1"
"#,
        tb = PG_TIME_BUCKET.replace('$', "\\$"),
        script = script.display()
    ));
    c
}

#[tokio::test]
async fn pgbench_prepared_custom_script() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().to_path_buf();
    let out = compare(
        &[],
        || {
            let mut c = pgbench_run();
            c.current_dir(&dir).env("PGTZ", "UTC");
            c
        },
        "pgbench -M prepared",
    )
    .await;
    assert!(
        out.contains("number of transactions actually processed: 50/50"),
        "{out}"
    );
    assert!(out.contains("(2 rows)"), "{out}");
}

/// `pgbench -i -s 1` in both data generation modes (client-side COPY, server-side
/// generate_series), then the built-in TPC-B-like script (BEGIN; three UPDATEs, a SELECT,
/// an INSERT; END) with a fixed random seed, once with the simple and once with the
/// extended protocol; then the balances and row counts, which depend on every UPDATE
/// having been applied exactly once.
fn pgbench_tpcb_run() -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(
        r#"set -e
summary() {
psql -X -A -v ON_ERROR_STOP=1 -c "SELECT sum(abalance), count(*), count(DISTINCT aid), min(aid), max(aid) FROM pgbench_accounts" \
  -c "SELECT sum(tbalance), count(*) FROM pgbench_tellers" \
  -c "SELECT sum(bbalance), count(*) FROM pgbench_branches" \
  -c "SELECT count(*), sum(delta), count(DISTINCT aid) FROM pgbench_history" \
  -c "SELECT a.aid, a.abalance FROM pgbench_accounts a JOIN (SELECT DISTINCT aid FROM pgbench_history) h ON a.aid = h.aid ORDER BY a.aid"
}
for mode in dtgvp:simple dtGvp:prepared; do
  steps=${mode%%:*}; proto=${mode#*:}
  echo "== pgbench -i -I $steps, then -M $proto"
  pgbench -i -s 1 -q -I "$steps" > init.out 2>&1 || { cat init.out >&2; exit 1; }
  grep -E '^(done|creating primary keys|vacuuming)' init.out | sed -e 's/ in .*//'
  summary
  pgbench -t 15 -c 1 -M "$proto" --random-seed=20241130 > run.out 2>&1 || { cat run.out >&2; exit 1; }
  grep -E '^(transaction type|scaling factor|query mode|number of transactions actually processed|number of failed transactions)' run.out
  summary
done
"#,
    );
    c
}

#[tokio::test]
async fn pgbench_init_and_builtin_tpcb() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().to_path_buf();
    let out = compare(
        &[],
        || {
            let mut c = pgbench_tpcb_run();
            c.current_dir(&dir).env("PGTZ", "UTC");
            c
        },
        "pgbench -i and the built-in script",
    )
    .await;
    assert!(
        out.contains("number of transactions actually processed: 15/15"),
        "{out}"
    );
    assert!(out.contains("query mode: prepared"), "{out}");
    assert!(out.contains("\n0|100000|100000|1|100000\n"), "{out}");
    assert!(out.contains("\n15|"), "{out}");
}
