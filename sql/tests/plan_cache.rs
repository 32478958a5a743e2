//! The per-session plan cache (`strata_sql::plan_cache`): which queries keep their plan.
//! That a repeated query still answers as PostgreSQL does after rows, columns, tables and
//! settings changed is checked in `sqllogictest/pg_compat_plan_cache.slt`.

mod common;

use common::{TestEngine, run};

/// Runs `body` with a new engine and a session of it that has run `setup`.
fn in_session(setup: &str, body: impl AsyncFnOnce(&TestEngine, &mut strata_sql::Session)) {
    in_session_on(TestEngine::new(64 * 1024 * 1024), setup, body)
}

fn in_session_on(
    t: TestEngine,
    setup: &str,
    body: impl AsyncFnOnce(&TestEngine, &mut strata_sql::Session),
) {
    t.rt.block_on(async {
        let mut s = t.engine.new_session().expect("session");
        run(&mut s, setup).await;
        body(&t, &mut s).await;
    });
}

#[test]
fn keeps_plans_of_repeated_table_queries_only() {
    in_session(
        "CREATE TABLE m (ts timestamptz NOT NULL, host text, v float8); \
             INSERT INTO m VALUES ('2024-01-01 00:00:00+00', 'a', 1)",
        async |_, s| {
            assert!(s.plan_cache().is_empty());
            let q = "SELECT host, sum(v) FROM m WHERE ts >= '2024-01-01' GROUP BY host";
            let first = run(s, q).await;
            assert_eq!(s.plan_cache().len(), 1, "a table query is kept");
            run(s, "INSERT INTO m VALUES ('2024-01-01 00:01:00+00', 'a', 2)").await;
            let second = run(s, q).await;
            assert_eq!(
                s.plan_cache().len(),
                1,
                "the same statement reuses its entry"
            );
            assert!(first.contains("| a    | 1.0 "), "{first}");
            assert!(second.contains("| a    | 3.0 "), "{second}");

            // Not kept: functions that are not immutable, catalog relations, statements
            // inside a transaction block.
            for q in [
                "SELECT now(), count(*) FROM m",
                "SELECT count(*) FROM m WHERE random() < 2",
                "SELECT relname FROM pg_catalog.pg_class",
                "SELECT table_name FROM information_schema.tables",
                "SELECT version()",
                "SELECT current_setting('TimeZone')",
            ] {
                run(s, q).await;
                assert_eq!(s.plan_cache().len(), 1, "{q} must not be kept");
            }
            run(s, "BEGIN").await;
            run(s, "SELECT count(*) FROM m WHERE host = 'z'").await;
            run(s, "COMMIT").await;
            assert_eq!(s.plan_cache().len(), 1, "nothing is kept inside a block");

            // Text read as a moment of the clock is folded while optimising: not kept.
            run(s, "SELECT count(*) FROM m WHERE ts < 'now'::timestamptz").await;
            run(s, "SELECT count(*) FROM m WHERE ts::date < 'Today'").await;
            assert_eq!(s.plan_cache().len(), 1, "relative time words are not kept");

            // A statement without a table is kept (a driver's `SELECT 1` ping), and runs
            // again from its physical plan.
            let sum = run(s, "SELECT 1 + 1 AS two").await;
            let again = run(s, "SELECT 1 + 1 AS two").await;
            assert!(sum.contains("| 2 "), "{sum}");
            assert_eq!(sum, again);
            assert_eq!(
                s.plan_cache().len(),
                2,
                "a statement without tables is kept"
            );
            assert_eq!(s.plan_cache().physical_len(), 2);

            // DDL makes an entry stale: the same text is planned again and sees the new column.
            let star = "SELECT * FROM m WHERE host = 'a'";
            let before = run(s, star).await;
            assert_eq!(s.plan_cache().len(), 3);
            run(s, "ALTER TABLE m ADD COLUMN w int4").await;
            let after = run(s, star).await;
            assert!(!before.contains("| w"), "{before}");
            assert!(after.contains("| w"), "{after}");
            assert_eq!(s.plan_cache().len(), 3);

            // A change of settings forgets every plan.
            run(s, "SET TimeZone = 'Europe/Paris'").await;
            assert!(s.plan_cache().is_empty());
        },
    );
}

/// A repeated query runs the physical plan it was given the first time, and still reads
/// the rows written since; plans holding filters computed while they run (a top-k sort's)
/// are planned again.
/// EXTRACT reads the session's time zone only: its plans are kept (Grafana's
/// `$__timeGroup` is `floor(extract(epoch from ts)/300)*300`), and a new time zone clears
/// the cache.
#[test]
fn keeps_plans_that_read_the_time_zone_until_it_changes() {
    in_session(
        "CREATE TABLE m (ts timestamptz NOT NULL, host text, v float8); \
             INSERT INTO m VALUES ('2024-01-01 00:00:00+00', 'a', 1)",
        async |_, s| {
            let q = "SELECT extract(hour from ts), floor(extract(epoch from ts) / 300) * 300 \
                     FROM m ORDER BY ts LIMIT 1";
            let utc = run(s, q).await;
            assert_eq!(s.plan_cache().len(), 1, "EXTRACT is kept");
            run(s, "SET TimeZone = 'Asia/Tokyo'").await;
            assert!(
                s.plan_cache().is_empty(),
                "a setting's change clears the cache"
            );
            let tokyo = run(s, q).await;
            assert!(
                utc.contains("| 0 ") && utc.contains("| 1704067200 "),
                "{utc}"
            );
            assert!(
                tokyo.contains("| 9 ") && tokyo.contains("| 1704067200 "),
                "{tokyo}"
            );
            assert_eq!(
                s.plan_cache().len(),
                1,
                "planned again in the new time zone"
            );
        },
    );
}

#[test]
fn keeps_physical_plans_without_dynamic_filters() {
    in_session(
        "CREATE TABLE m (ts timestamptz NOT NULL, host text, v float8); \
             INSERT INTO m VALUES ('2024-01-01 00:00:00+00', 'a', 1)",
        async |_, s| {
            let q = "SELECT host, sum(v) FROM m WHERE host = 'a' GROUP BY host";
            let first = run(s, q).await;
            assert_eq!(s.plan_cache().physical_len(), 1, "{first}");
            run(s, "CHECKPOINT").await;
            run(s, "INSERT INTO m VALUES ('2024-01-01 00:01:00+00', 'a', 2)").await;
            let second = run(s, q).await;
            assert!(first.contains("| a    | 1.0 "), "{first}");
            assert!(second.contains("| a    | 3.0 "), "{second}");

            let top = "SELECT v FROM m ORDER BY ts DESC LIMIT 1";
            let newest = run(s, top).await;
            assert!(newest.contains("| 2.0 |"), "{newest}");
            assert_eq!(s.plan_cache().len(), 2);
            assert_eq!(
                s.plan_cache().physical_len(),
                1,
                "a top-k plan's scan holds the sort's dynamic filter"
            );
            run(s, "DELETE FROM m WHERE v = 2").await;
            let after = run(s, top).await;
            assert!(after.contains("| 1.0 |"), "{after}");
        },
    );
}

/// All scans of a table in one plan read one snapshot, taken before the plan runs: a row
/// written after that is seen by neither side of a self-join.
#[test]
fn scans_of_one_table_share_a_snapshot() {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::prelude::SessionContext;
    use strata_sql::scan_exec::{StorageScanExec, bind_snapshots};
    use strata_sql::table::TsTable;

    in_session(
        "CREATE TABLE j (ts timestamptz NOT NULL, k text); \
             INSERT INTO j VALUES ('2024-01-01 00:00:00+00', 'a'), ('2024-01-01 00:00:01+00', 'b')",
        async |t, s| {
            let storage = t.engine.storage();
            let def = storage.catalog().table("j").cloned().expect("table j");
            let ctx = SessionContext::new();
            ctx.register_table(
                "j",
                std::sync::Arc::new(
                    TsTable::new(std::sync::Arc::clone(storage), def).snapshot_at_execution(),
                ),
            )
            .expect("register");
            let plan = ctx
            .sql("SELECT x.k FROM j x JOIN j y ON x.k = y.k WHERE y.ts >= '2024-01-01' ORDER BY 1")
            .await
            .expect("plan")
            .create_physical_plan()
            .await
            .expect("physical plan");
            bind_snapshots(&plan).expect("bind");
            let mut snapshots = vec![];
            plan.apply(|node| {
                if let Some(scan) = node.downcast_ref::<StorageScanExec>() {
                    snapshots.push(scan.bound_snapshot().cloned().expect("bound"));
                }
                Ok(TreeNodeRecursion::Continue)
            })
            .expect("walk");
            assert_eq!(snapshots.len(), 2);
            assert!(std::sync::Arc::ptr_eq(&snapshots[0], &snapshots[1]));

            run(s, "INSERT INTO j VALUES ('2024-01-01 00:00:02+00', 'c')").await;
            let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx())
                .await
                .expect("run");
            let text = arrow::util::pretty::pretty_format_batches(&batches)
                .expect("format")
                .to_string();
            assert!(text.contains("| a |") && text.contains("| b |"), "{text}");
            assert!(!text.contains("| c |"), "{text}");
        },
    );
}

/// Parse, Bind and Execute of `sql` as an unnamed statement (what drivers send): the
/// column names it was described with, and the text of its rows.
async fn run_prepared(
    s: &mut strata_sql::Session,
    sql: &str,
    params: Vec<datafusion::common::ScalarValue>,
) -> (Vec<String>, String) {
    use futures::TryStreamExt;
    let stmt = s.parse(sql).expect("parse").pop().expect("one statement");
    let prepared = s.prepare(stmt, &[], &[]).await.expect("prepare");
    let described = prepared.result_schema.clone().expect("described");
    let names = described
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let strata_sql::Output::Rows { stream, .. } = s
        .execute_prepared(&prepared, params)
        .await
        .expect("execute")
    else {
        panic!("rows expected");
    };
    let batches: Vec<_> = stream.try_collect().await.expect("rows");
    let text = arrow::util::pretty::pretty_format_batches(&batches)
        .expect("format")
        .to_string();
    (names, text)
}

/// A query without parameters sent as an unnamed statement (Parse, Bind, Execute: how
/// drivers send a dashboard's queries) is prepared from the plan cache and runs through
/// it, reading the rows written since.
#[test]
fn statements_without_parameters_use_the_plan_cache() {
    in_session(
        "CREATE TABLE p (ts timestamptz NOT NULL, host text, v float8); \
             INSERT INTO p VALUES ('2024-01-01 00:00:00+00', 'a', 1)",
        async |_, s| {
            let q = "SELECT host, sum(v) AS total FROM p GROUP BY host";
            let mut answers = vec![];
            for round in 0..3 {
                if round == 2 {
                    run(s, "INSERT INTO p VALUES ('2024-01-01 00:01:00+00', 'a', 2)").await;
                }
                let (names, text) = run_prepared(s, q, vec![]).await;
                assert_eq!(names, ["host", "total"]);
                answers.push(text);
                assert_eq!(s.plan_cache().len(), 1, "round {round}");
                assert_eq!(s.plan_cache().physical_len(), 1, "round {round}");
            }
            assert!(answers[0].contains("| a    | 1.0 "), "{}", answers[0]);
            assert_eq!(answers[0], answers[1]);
            assert!(answers[2].contains("| a    | 3.0 "), "{}", answers[2]);
        },
    );
}

/// A query with parameters prepared again (drivers that bind send its Parse before every
/// execution) is taken from the cache, and binds each execution's values.
#[test]
fn statements_with_parameters_are_prepared_once() {
    use datafusion::common::ScalarValue;

    in_session(
        "CREATE TABLE q (ts timestamptz NOT NULL, host text, v float8); \
             INSERT INTO q VALUES ('2024-01-01 00:00:00+00', 'a', 1), ('2024-01-01 00:00:00+00', 'b', 5)",
        async |_, s| {
            let sql = "SELECT sum(v) AS total FROM q WHERE host = $1";
            let mut answers = vec![];
            for (round, host) in ["a", "b", "a"].into_iter().enumerate() {
                if round == 2 {
                    run(s, "INSERT INTO q VALUES ('2024-01-01 00:01:00+00', 'a', 2)").await;
                }
                let param = ScalarValue::Utf8(Some(host.to_owned()));
                let (_, text) = run_prepared(s, sql, vec![param]).await;
                answers.push(text);
                assert_eq!(s.plan_cache().prepared_len(), 1, "round {round}");
            }
            assert!(answers[0].contains("| 1.0 "), "{}", answers[0]);
            assert!(answers[1].contains("| 5.0 "), "{}", answers[1]);
            assert!(answers[2].contains("| 3.0 "), "{}", answers[2]);
        },
    );
}

/// The partition count of each storage scan in the physical plan `q` keeps in `s`'s cache,
/// and whether that plan runs on the connection's task as a small read.
fn kept_scans(t: &TestEngine, s: &strata_sql::Session, q: &str) -> (Vec<usize>, bool) {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::physical_plan::ExecutionPlan;
    use strata_sql::scan_exec::StorageScanExec;

    let strata_sql::Stmt::Sql(stmt) = s.parse(q).expect("parse").remove(0) else {
        panic!("{q} is not a SQL statement");
    };
    let catalog = t.engine.storage().catalog();
    let kept = s.plan_cache().get(&stmt, &catalog).expect("a kept plan");
    let mut counts = vec![];
    let physical = kept.physical.expect("a kept physical plan");
    physical
        .apply(|node| {
            if let Some(scan) = node.downcast_ref::<StorageScanExec>() {
                counts.push(scan.properties().output_partitioning().partition_count());
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .expect("walk");
    (counts, strata_sql::exec::small_read(&physical, 8192))
}

/// A scan the manifest says reads one batch of rows or less (one host's hour) runs on one
/// partition, its aggregate in one step; a scan of more rows is spread over the session's
/// partitions. A kept plan is planned again once the rows its scan reads have grown past
/// one batch, and answers from all of them. Only the one-partition plan runs on the
/// connection's task.
#[test]
fn small_scans_stay_on_one_partition_until_their_rows_grow() {
    in_session(FOUR_HOSTS_A_DAY, async |t, s| {
        let one_hour = ONE_HOUR_OF_H1;
        let whole_day = "SELECT host, count(*) AS n FROM r WHERE host = 'h1' GROUP BY host";

        let plan = run(s, &format!("EXPLAIN {one_hour}")).await;
        assert!(plan.contains("mode=Single"), "{plan}");
        assert!(!plan.contains("CoalescePartitionsExec"), "{plan}");
        let plan = run(s, &format!("EXPLAIN {whole_day}")).await;
        assert!(plan.contains("mode=Partial"), "{plan}");

        assert!(run(s, one_hour).await.contains("| h1   | 360 |"));
        assert_eq!(kept_scans(t, s, one_hour), (vec![1], true));
        assert!(run(s, whole_day).await.contains("| h1   | 8640 |"));
        assert_eq!(kept_scans(t, s, whole_day), (vec![2], false));

        // Backfill puts 20,000 more rows of h1 in the hour: the kept one-partition plan
        // no longer fits and is replaced by one spread over both partitions.
        run(s, BACKFILL_H1).await;
        let again = run(s, one_hour).await;
        assert!(again.contains("| h1   | 20360 |"), "{again}");
        assert_eq!(kept_scans(t, s, one_hour), (vec![2], false));
    });
}

/// With one partition (a one-core machine) every scan is planned on one partition, so a
/// kept plan's partition count never changes: it is still planned again when its scan's
/// rows grow past one batch, or the large read would run on the connection's task.
#[test]
fn on_one_partition_a_kept_small_read_is_planned_again_when_its_rows_grow() {
    in_session_on(
        TestEngine::with_partitions(64 * 1024 * 1024, 1),
        FOUR_HOSTS_A_DAY,
        async |t, s| {
            assert!(run(s, ONE_HOUR_OF_H1).await.contains("| h1   | 360 |"));
            assert_eq!(kept_scans(t, s, ONE_HOUR_OF_H1), (vec![1], true));
            run(s, BACKFILL_H1).await;
            let again = run(s, ONE_HOUR_OF_H1).await;
            assert!(again.contains("| h1   | 20360 |"), "{again}");
            assert_eq!(kept_scans(t, s, ONE_HOUR_OF_H1), (vec![1], false));
        },
    );
}

/// Four hosts, one row each every 10 seconds for a day, flushed to a file.
const FOUR_HOSTS_A_DAY: &str = "CREATE TABLE r (ts timestamptz NOT NULL, host text, v float8); \
     ALTER TABLE r SET (timescaledb.compress, timescaledb.compress_segmentby = 'host'); \
     INSERT INTO r SELECT '2024-01-01'::timestamptz + (g / 4) * interval '10 seconds', \
         'h' || (g % 4), g FROM generate_series(0, 4 * 8640 - 1) g; \
     CHECKPOINT";

/// One host's hour of [`FOUR_HOSTS_A_DAY`]: 360 rows.
const ONE_HOUR_OF_H1: &str = "SELECT host, count(*) AS n FROM r WHERE host = 'h1' \
     AND ts >= '2024-01-01 05:00:00+00' AND ts < '2024-01-01 06:00:00+00' GROUP BY host";

/// 20,000 more rows of h1 in [`ONE_HOUR_OF_H1`]'s hour, flushed.
const BACKFILL_H1: &str = "INSERT INTO r SELECT '2024-01-01 05:00:00+00'::timestamptz \
     + (g % 3600) * interval '1 second' + interval '1 millisecond', 'h1', g \
     FROM generate_series(1, 20000) g; CHECKPOINT";
