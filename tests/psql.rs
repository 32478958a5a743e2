//! The real `psql` (PostgreSQL 15 client) against a real server: `-c`, `\copy`, `-f`,
//! errors. Expected outputs are what psql prints against PostgreSQL 15 for the same input.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::TestServer;

/// Runs psql like `TestServer::psql` does, but also returns the exit code.
fn psql(s: &TestServer, args: &[&str], cwd: Option<&Path>) -> (Option<i32>, String, String) {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-h",
        "127.0.0.1",
        "-p",
        &s.port.to_string(),
        "-U",
        "strata",
        "-d",
        "strata",
        "-v",
        "ON_ERROR_STOP=1",
    ])
    .args(args)
    .env("PGCONNECT_TIMEOUT", "10")
    .env_remove("PGOPTIONS")
    .env_remove("PGTZ")
    .env_remove("PGDATESTYLE");
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let out = cmd.output().expect("run psql");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_output(
    what: &str,
    got: &(Option<i32>, String, String),
    want_stdout: &str,
    s: &TestServer,
) {
    let (code, out, err) = got;
    if *code != Some(0) || out != want_stdout {
        panic!(
            "{what}:\n--- expected stdout (exit 0) ---\n{want_stdout}\n--- actual stdout (exit {code:?}) ---\n{out}\n--- stderr ---\n{err}\n--- server log ---\n{}",
            s.log()
        );
    }
}

#[test]
fn psql_c_with_several_statements() {
    let s = TestServer::start();
    let r = psql(
        &s,
        &[
            "-c",
            "create table m (ts timestamptz not null, id int, name text); insert into m values ('2024-01-01 00:00:00+00', 1, 'a'), ('2024-01-01 00:00:01+00', 2, 'b'); select id, name from m order by id",
        ],
        None,
    );
    assert_output(
        "psql -c 'create; insert; select'",
        &r,
        "CREATE TABLE\nINSERT 0 2\n id | name \n----+------\n  1 | a\n  2 | b\n(2 rows)\n\n",
        &s,
    );
    let r = psql(
        &s,
        &[
            "-c",
            "select count(*) from m",
            "-c",
            "select 'x' as y, null::text as z, 2.5::float8 as w",
        ],
        None,
    );
    assert_output(
        "psql -c ... -c ...",
        &r,
        " count \n-------\n     2\n(1 row)\n\n y | z |  w  \n---+---+-----\n x |   | 2.5\n(1 row)\n\n",
        &s,
    );
    // Unaligned, tuples only: what scripts use.
    let r = psql(
        &s,
        &["-At", "-c", "select id, name from m order by id"],
        None,
    );
    assert_output("psql -At -c", &r, "1|a\n2|b\n", &s);
}

/// Writes the CSV file the \copy test loads: 1000 rows, a quoted name, empty = NULL.
fn write_readings(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create csv"));
    writeln!(f, "ts,id,name,value").unwrap();
    let base = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    for i in 1..=1000i64 {
        let ts = (base + chrono::Duration::minutes(i)).format("%Y-%m-%d %H:%M:%S+00");
        let name = if i == 2 {
            "\"a, \"\"quoted\"\" name\"".to_string()
        } else {
            format!("sensor-{}", i % 10)
        };
        let value = if i % 100 == 0 {
            String::new()
        } else {
            format!("{}", i as f64 * 0.25)
        };
        writeln!(f, "{ts},{i},{name},{value}").unwrap();
    }
    f.flush().unwrap();
}

#[test]
fn psql_backslash_copy_csv_header_then_aligned_query() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    write_readings(&dir.path().join("readings.csv"));
    let r = psql(
        &s,
        &[
            "-c",
            "create table readings (ts timestamptz not null, id int, name text, value double precision)",
        ],
        None,
    );
    assert_output("create table readings", &r, "CREATE TABLE\n", &s);
    let r = psql(
        &s,
        &["-c", "\\copy readings from 'readings.csv' csv header"],
        Some(dir.path()),
    );
    assert_output(
        "\\copy readings from 'readings.csv' csv header",
        &r,
        "COPY 1000\n",
        &s,
    );
    let r = psql(
        &s,
        &[
            "-c",
            "select count(*) as n, sum(id) as sum_id, count(value) as n_value, sum(value) as sum_value, min(ts) as first_ts, max(ts) as last_ts from readings",
            "-c",
            "select id, name, value, ts from readings where id <= 3 or id >= 999 or id = 100 order by id",
        ],
        None,
    );
    // (The first line starts with spaces, so it cannot follow a `\` line continuation.)
    let want =
        "  n   | sum_id | n_value | sum_value |        first_ts        |        last_ts         
------+--------+---------+-----------+------------------------+------------------------
 1000 | 500500 |     990 |    123750 | 2024-01-01 00:01:00+00 | 2024-01-01 16:40:00+00
(1 row)

  id  |       name       | value  |           ts           
------+------------------+--------+------------------------
    1 | sensor-1         |   0.25 | 2024-01-01 00:01:00+00
    2 | a, \"quoted\" name |    0.5 | 2024-01-01 00:02:00+00
    3 | sensor-3         |   0.75 | 2024-01-01 00:03:00+00
  100 | sensor-0         |        | 2024-01-01 01:40:00+00
  999 | sensor-9         | 249.75 | 2024-01-01 16:39:00+00
 1000 | sensor-0         |        | 2024-01-01 16:40:00+00
(6 rows)

";
    assert_output("aggregate and row queries after \\copy", &r, want, &s);
    // \copy out again, and the bytes equal the input (same header, same quoting, NULL as empty).
    let r = psql(
        &s,
        &[
            "-c",
            "\\copy (select ts, id, name, value from readings order by id) to 'out.csv' csv header",
        ],
        Some(dir.path()),
    );
    let input = std::fs::read_to_string(dir.path().join("readings.csv")).unwrap();
    let output = std::fs::read_to_string(dir.path().join("out.csv")).unwrap_or_default();
    let mut problems = vec![];
    if input != output {
        let first_diff = input
            .lines()
            .zip(output.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b);
        problems.push(format!(
            "\\copy to file differs from the loaded file; first differing line: {first_diff:?}; lines in {} out {}",
            input.lines().count(),
            output.lines().count()
        ));
    }
    if r != (Some(0), "COPY 1000\n".to_string(), String::new()) {
        problems.push(format!("\\copy (query) to 'out.csv' csv header: expected exit 0, stdout \"COPY 1000\\n\", got {r:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn psql_f_script() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let script = "\
-- Strata psql -f test script
create table metrics (
    ts timestamptz not null,
    host text,
    cpu double precision,
    up boolean
);
insert into metrics values
    ('2024-03-01 12:00:00+00', 'web-1', 0.5, true),
    ('2024-03-01 12:00:10+00', 'web-2', 1.25, false),
    ('2024-03-01 12:00:20+00', 'web-1', 2, true);
select host, count(*) as samples, avg(cpu) as avg_cpu, max(ts) as last_seen
  from metrics
 group by host
 order by host;
\\echo done with metrics
select ts, host, cpu, up from metrics where cpu > 1 order by ts;
";
    std::fs::write(dir.path().join("script.sql"), script).unwrap();
    let r = psql(&s, &["-f", "script.sql"], Some(dir.path()));
    let want = "\
CREATE TABLE
INSERT 0 3
 host  | samples | avg_cpu |       last_seen        
-------+---------+---------+------------------------
 web-1 |       2 |    1.25 | 2024-03-01 12:00:20+00
 web-2 |       1 |    1.25 | 2024-03-01 12:00:10+00
(2 rows)

done with metrics
           ts           | host  | cpu  | up 
------------------------+-------+------+----
 2024-03-01 12:00:10+00 | web-2 | 1.25 | f
 2024-03-01 12:00:20+00 | web-1 |    2 | t
(2 rows)

";
    assert_output("psql -f script.sql", &r, want, &s);
    // Running the script again: the table exists now, so CREATE fails
    // with 42P07, psql stops (ON_ERROR_STOP) and exits 3.
    let (code, out, err) = psql(&s, &["-f", "script.sql"], Some(dir.path()));
    assert_eq!(
        code,
        Some(3),
        "second run of the script: psql exit code (stdout {out:?}, stderr {err:?})"
    );
    assert!(
        err.contains("psql:script.sql:7: ERROR:  relation \"metrics\" already exists"),
        "stderr of the second run: {err:?}"
    );
    assert_eq!(out, "", "nothing after the failing statement runs");
}

#[test]
fn psql_error_exits_nonzero_with_message() {
    let s = TestServer::start();
    // -c: exit code 1, message on stderr.
    let (code, out, err) = psql(&s, &["-c", "select * from nope"], None);
    assert_eq!(
        code,
        Some(1),
        "psql -c 'select * from nope' exit code (stdout {out:?}, stderr {err:?})"
    );
    assert!(
        err.contains("ERROR:  relation \"nope\" does not exist"),
        "stderr of select * from nope: {err:?}"
    );
    // VERBOSITY=verbose shows the SQLSTATE.
    let (code, _, err) = psql(
        &s,
        &["-v", "VERBOSITY=verbose", "-c", "select * from nope"],
        None,
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("ERROR:  42P01: relation \"nope\" does not exist"),
        "verbose stderr of select * from nope: {err:?}"
    );
    // The other common errors, by SQLSTATE.
    psql(
        &s,
        &["-c", "create table e (ts timestamptz not null, a int)"],
        None,
    );
    for (sql, state) in [
        ("selec 1", "42601"),
        ("select nocol from e", "42703"),
        ("create table e (x int)", "42P07"),
        ("select 1/0", "22012"),
        (
            "insert into e values ('2024-01-01 00:00:00+00', 'abc')",
            "22P02",
        ),
    ] {
        let (code, _, err) = psql(&s, &["-v", "VERBOSITY=verbose", "-c", sql], None);
        assert_eq!(code, Some(1), "exit code of `{sql}` (stderr {err:?})");
        assert!(
            err.contains(&format!("ERROR:  {state}: ")),
            "`{sql}` should report SQLSTATE {state}; stderr: {err:?}"
        );
    }
    // -f: exit code 3, the file and line in the message, nothing after the error runs.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("err.sql"),
        "insert into e values ('2024-01-01 00:00:02+00', 3);\nselect * from nope;\ninsert into e values ('2024-01-01 00:00:03+00', 4);\n",
    )
    .unwrap();
    let (code, out, err) = psql(&s, &["-f", "err.sql"], Some(dir.path()));
    assert_eq!(
        code,
        Some(3),
        "psql -f err.sql exit code (stdout {out:?}, stderr {err:?})"
    );
    assert_eq!(out, "INSERT 0 1\n", "stdout of err.sql");
    assert!(
        err.contains("psql:err.sql:2: ERROR:  relation \"nope\" does not exist"),
        "stderr of err.sql: {err:?}"
    );
    let (code, out, err) = psql(&s, &["-At", "-c", "select count(*) from e"], None);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "1\n"),
        "rows in e after err.sql (stderr {err:?})"
    );
}

/// Creating a continuous aggregate over existing rows reports backfill progress as NOTICEs,
/// which psql prints.
#[test]
fn psql_prints_backfill_progress_notices() {
    let s = TestServer::start();
    let setup = "CREATE TABLE r (ts timestamptz NOT NULL, v float8); \
        SELECT create_hypertable('r', by_range('ts', INTERVAL '1 day')); \
        INSERT INTO r VALUES ('2024-01-01 00:00:00+00', 1), ('2024-01-02 00:00:00+00', 2), ('2024-01-03 00:00:00+00', 3);";
    let got = psql(&s, &["-q", "-c", setup], None);
    assert_eq!(got.0, Some(0), "{got:?}");
    let got = psql(
        &s,
        &[
            "-c",
            "CREATE MATERIALIZED VIEW r_d WITH (timescaledb.continuous) AS SELECT time_bucket('1 day', ts) AS d, sum(v) FROM r GROUP BY d",
        ],
        None,
    );
    assert_eq!(got.0, Some(0), "{got:?}");
    assert_eq!(got.1, "CREATE MATERIALIZED VIEW\n", "{got:?}");
    for i in 1..=3 {
        assert!(
            got.2
                .contains(&format!("NOTICE:  backfilled \"r_d\": {i} of 3 partitions")),
            "missing progress notice {i}: {}",
            got.2
        );
    }
}

/// A relation's oid is the same in every session (whatever the session asked before) and
/// after a restart: clients cache oids (and psql's `\d` passes them between queries).
#[test]
fn relation_oids_are_stable_across_sessions_and_restarts() {
    let mut s = TestServer::start();
    let oid_of = |s: &TestServer, before: &str| {
        let r = psql(
            s,
            &[
                "-At",
                "-c",
                before,
                "-c",
                "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname = 'st_b'",
            ],
            None,
        );
        assert_eq!(r.0, Some(0), "{r:?}");
        r.1.lines().last().unwrap_or_default().to_string()
    };
    let r = psql(
        &s,
        &[
            "-c",
            "CREATE TABLE st_a (x int); CREATE TABLE st_b (ts timestamptz NOT NULL, v float8)",
        ],
        None,
    );
    assert_eq!(r.0, Some(0), "{r:?}");
    let first = oid_of(&s, "SELECT count(*) FROM pg_catalog.pg_attribute");
    assert!(first.parse::<u32>().is_ok(), "{first:?}");
    assert_eq!(
        oid_of(&s, "SELECT count(*) FROM information_schema.columns"),
        first
    );
    assert_eq!(oid_of(&s, "SELECT 'st_b'::regclass::oid"), first);
    s.restart();
    assert_eq!(oid_of(&s, "SELECT 1"), first);
}
