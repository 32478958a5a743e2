//! Plan shapes of the latest-row-per-series rewrite (`strata_sql::latest_per_series`): the
//! queries it must rewrite get a semi join with the per-series max/min time whose build
//! side is collected whole, and the shapes it must leave alone keep DataFusion's plan.
//! The answers themselves are checked against PostgreSQL in
//! `sqllogictest/pg_compat_latest.slt`.

mod common;

use common::{TestEngine, run};

#[test]
fn rewrites_latest_and_first_row_per_series_only() {
    let t = TestEngine::new(64 * 1024 * 1024);
    t.rt.block_on(async {
        let mut s = t.engine.new_session().expect("session");
        run(
            &mut s,
            "CREATE TABLE m (ts timestamptz NOT NULL, host text, region text, v float8, \
             seq int8 NOT NULL, ts2 timestamptz); \
             INSERT INTO m VALUES ('2024-01-01 00:00:00+00', 'a', 'eu', 1, 1, NULL); \
             CHECKPOINT; \
             INSERT INTO m VALUES ('2024-01-01 00:01:00+00', 'a', 'eu', 2, 2, NULL)",
        )
        .await;
        let rewritten = [
            (
                "SELECT DISTINCT ON (host) * FROM m ORDER BY host, ts DESC",
                "max(m.ts)",
            ),
            (
                "SELECT DISTINCT ON (host) host, v FROM m ORDER BY host, ts",
                "min(m.ts)",
            ),
            (
                "SELECT DISTINCT ON (host, region) * FROM m WHERE v > 1 \
                 ORDER BY host DESC, region, ts DESC, v",
                "max(m.ts)",
            ),
            (
                "SELECT DISTINCT ON (host) * FROM m ORDER BY host, seq DESC",
                "max(m.seq)",
            ),
            (
                "SELECT DISTINCT ON (x.h) x.h, x.t FROM (SELECT host AS h, ts AS t FROM m) x \
                 ORDER BY x.h, x.t DESC",
                "max(x.t)",
            ),
        ];
        for (q, agg) in rewritten {
            let plan = run(&mut s, &format!("EXPLAIN {q}")).await;
            assert!(plan.contains("RightSemi Join"), "{q}\n{plan}");
            assert!(plan.contains(agg), "{q}: no {agg}\n{plan}");
            assert!(
                plan.contains("mode=CollectLeft, join_type=RightSemi"),
                "{q}\n{plan}"
            );
            assert!(plan.contains("NullsEqual: true"), "{q}\n{plan}");
        }
        let untouched = [
            // A non-time column second.
            "SELECT DISTINCT ON (host) * FROM m ORDER BY host, v DESC",
            // A nullable time column (DESC puts its NULLs first).
            "SELECT DISTINCT ON (host) * FROM m ORDER BY host, ts2 DESC",
            // No ORDER BY term after the keys.
            "SELECT DISTINCT ON (host) * FROM m ORDER BY host",
            // A key that is an expression.
            "SELECT DISTINCT ON (upper(host)) * FROM m ORDER BY upper(host), ts DESC",
            // The input is not a scan of one table.
            "SELECT DISTINCT ON (a.host) a.* FROM m a JOIN m b ON a.seq = b.seq \
             ORDER BY a.host, a.ts DESC",
            // A volatile filter cannot be evaluated twice.
            "SELECT DISTINCT ON (host) * FROM m WHERE random() < 2 ORDER BY host, ts DESC",
        ];
        for q in untouched {
            let plan = run(&mut s, &format!("EXPLAIN {q}")).await;
            assert!(!plan.contains("RightSemi"), "{q}\n{plan}");
            assert!(!plan.contains("__strata_latest"), "{q}\n{plan}");
        }
    });
}

/// A table whose files are sorted by series: the rewrite reads only each series' latest
/// rows of its files (`latest_rows_of`, no semi join) when the keys and the filters'
/// columns are series columns, and the scan returns those rows only.
#[test]
fn reads_only_the_latest_rows_of_series_sorted_files() {
    let t = TestEngine::new(64 * 1024 * 1024);
    t.rt.block_on(async {
        let mut s = t.engine.new_session().expect("session");
        run(
            &mut s,
            "CREATE TABLE ms (ts timestamptz NOT NULL, host text, region text, v float8); \
             ALTER TABLE ms SET (timescaledb.compress, \
               timescaledb.compress_segmentby = 'host, region'); \
             INSERT INTO ms SELECT '2024-01-01 00:00:00+00'::timestamptz \
               + g * interval '10 seconds', 'h' || (g % 20), \
               CASE WHEN g % 40 < 20 THEN 'eu' ELSE 'us' END, g \
               FROM generate_series(0, 19999) g; \
             CHECKPOINT; \
             INSERT INTO ms SELECT '2024-01-04 00:00:00+00'::timestamptz \
               + g * interval '10 seconds', 'h' || (g % 5), \
               CASE WHEN g % 10 < 5 THEN 'eu' ELSE 'us' END, g \
               FROM generate_series(0, 99) g; \
             CHECKPOINT; \
             INSERT INTO ms VALUES ('2024-01-02 00:00:00+00', 'h3', 'eu', -1)",
        )
        .await;
        let latest = [
            (
                "SELECT DISTINCT ON (host) * FROM ms ORDER BY host, ts DESC",
                "[host]",
                40,
            ),
            (
                "SELECT DISTINCT ON (host, region) host, region, ts FROM ms \
                 ORDER BY host, region, ts DESC",
                "[host, region]",
                40,
            ),
            // the filter drops h1's two series' rows
            (
                "SELECT DISTINCT ON (region) * FROM ms WHERE host <> 'h1' \
                 ORDER BY region, ts DESC, v",
                "[region, host]",
                38,
            ),
        ];
        for (q, keys, rows) in latest {
            let plan = run(&mut s, &format!("EXPLAIN ANALYZE {q}")).await;
            assert!(
                plan.contains(&format!("latest_rows_of={keys}")),
                "{q}\n{plan}"
            );
            assert!(!plan.contains("RightSemi"), "{q}\n{plan}");
            // 20,000 rows in a file (40 host/region series, each with one row at its
            // latest time) and 100 later rows of 10 of them in a second file: the
            // Parquet reader returns 30 latest rows of the first file and 10 of the
            // second (the in-memory source, which holds the last row, keeps no count).
            let scanned = plan
                .split("StorageScanExec")
                .nth(1)
                .and_then(|s| s.split("source_rows=").nth(1))
                .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse::<u64>().ok());
            assert_eq!(scanned, Some(rows), "{q}\n{plan}");
        }
        // Filters on other columns than the series', and ASC: the semi join, all rows.
        for q in [
            "SELECT DISTINCT ON (host) * FROM ms WHERE v > 5 ORDER BY host, ts DESC",
            "SELECT DISTINCT ON (host) * FROM ms WHERE ts < '2024-01-02' \
             ORDER BY host, ts DESC",
            "SELECT DISTINCT ON (host) * FROM ms ORDER BY host, ts",
        ] {
            let plan = run(&mut s, &format!("EXPLAIN {q}")).await;
            assert!(!plan.contains("latest_rows_of"), "{q}\n{plan}");
            assert!(plan.contains("RightSemi"), "{q}\n{plan}");
        }
    });
}
