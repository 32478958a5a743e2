//! The per-session plan cache (`strata_sql::plan_cache`): which queries keep their plan.
//! That a repeated query still answers as PostgreSQL does after rows, columns, tables and
//! settings changed is checked in `sqllogictest/pg_compat_plan_cache.slt`.

mod common;

use common::{TestEngine, run};

#[test]
fn keeps_plans_of_repeated_table_queries_only() {
    let t = TestEngine::new(64 * 1024 * 1024);
    t.rt.block_on(async {
        let mut s = t.engine.new_session().expect("session");
        run(
            &mut s,
            "CREATE TABLE m (ts timestamptz NOT NULL, host text, v float8); \
             INSERT INTO m VALUES ('2024-01-01 00:00:00+00', 'a', 1)",
        )
        .await;
        assert!(s.plan_cache().is_empty());
        let q = "SELECT host, sum(v) FROM m WHERE ts >= '2024-01-01' GROUP BY host";
        let first = run(&mut s, q).await;
        assert_eq!(s.plan_cache().len(), 1, "a table query is kept");
        run(
            &mut s,
            "INSERT INTO m VALUES ('2024-01-01 00:01:00+00', 'a', 2)",
        )
        .await;
        let second = run(&mut s, q).await;
        assert_eq!(
            s.plan_cache().len(),
            1,
            "the same statement reuses its entry"
        );
        assert!(first.contains("| a    | 1.0 "), "{first}");
        assert!(second.contains("| a    | 3.0 "), "{second}");

        // Not kept: functions that are not immutable, catalog relations, no table at all,
        // statements inside a transaction block.
        for q in [
            "SELECT now(), count(*) FROM m",
            "SELECT count(*) FROM m WHERE random() < 2",
            "SELECT relname FROM pg_catalog.pg_class",
            "SELECT table_name FROM information_schema.tables",
            "SELECT 1 + 1",
        ] {
            run(&mut s, q).await;
            assert_eq!(s.plan_cache().len(), 1, "{q} must not be kept");
        }
        run(&mut s, "BEGIN").await;
        run(&mut s, "SELECT count(*) FROM m WHERE host = 'z'").await;
        run(&mut s, "COMMIT").await;
        assert_eq!(s.plan_cache().len(), 1, "nothing is kept inside a block");

        // Text read as a moment of the clock is folded while optimising: not kept.
        run(
            &mut s,
            "SELECT count(*) FROM m WHERE ts < 'now'::timestamptz",
        )
        .await;
        run(&mut s, "SELECT count(*) FROM m WHERE ts::date < 'Today'").await;
        assert_eq!(s.plan_cache().len(), 1, "relative time words are not kept");

        // DDL makes an entry stale: the same text is planned again and sees the new column.
        let star = "SELECT * FROM m WHERE host = 'a'";
        let before = run(&mut s, star).await;
        assert_eq!(s.plan_cache().len(), 2);
        run(&mut s, "ALTER TABLE m ADD COLUMN w int4").await;
        let after = run(&mut s, star).await;
        assert!(!before.contains("| w"), "{before}");
        assert!(after.contains("| w"), "{after}");
        assert_eq!(s.plan_cache().len(), 2);

        // A change of settings forgets every plan.
        run(&mut s, "SET TimeZone = 'Europe/Paris'").await;
        assert!(s.plan_cache().is_empty());
    });
}
