//! Queries for a few series read only those series' rows of local files
//! (`strata_sql::series_scan`): `EXPLAIN ANALYZE` counts the rows selected. The answers
//! themselves are checked against PostgreSQL in `sqllogictest/pg_compat_series.slt`.

mod common;

use common::{TestEngine, run};

/// The value of the `rows_selected` metric in an `EXPLAIN ANALYZE` output, if shown
/// (DataFusion prints counts of thousands as `4.32 K`).
fn rows_selected(plan: &str) -> Option<f64> {
    let at = plan.find("rows_selected=")? + "rows_selected=".len();
    let text: String = plan[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ' ' || *c == 'K')
        .collect();
    let text = text.trim().trim_end_matches(',');
    match text.strip_suffix('K') {
        Some(k) => k.trim().parse::<f64>().ok().map(|v| (v * 1000.0).round()),
        None => text.parse().ok(),
    }
}

#[test]
fn reads_only_the_rows_of_the_series_and_hour_asked_for() {
    let t = TestEngine::new(64 * 1024 * 1024);
    t.rt.block_on(async {
        let mut s = t.engine.new_session().expect("session");
        // 20 hosts x 8640 rows (a day at 10 s), one file sorted by host then time, in pages of
        // 4096 rows: one page holds only h3's rows, two hold the hosts' next to it too.
        run(
            &mut s,
            "CREATE TABLE m (ts timestamptz NOT NULL, host text, v float8); \
             ALTER TABLE m SET (timescaledb.compress, timescaledb.compress_segmentby = 'host'); \
             INSERT INTO m SELECT '2024-01-01 00:00:00+00'::timestamptz \
               + (g / 20) * interval '10 seconds', 'h' || (g % 20), g \
               FROM generate_series(0, 172799) g; \
             CHECKPOINT; \
             SELECT count(*) FROM m",
        )
        .await;
        let q = "SELECT count(*), sum(v) FROM m WHERE host = 'h3' \
                 AND ts >= '2024-01-01 02:00:00+00' AND ts < '2024-01-01 03:00:00+00'";
        let answer = run(&mut s, q).await;
        // Rows 720..1080 of h3 (times 02:00 to 02:59:50): g = 20 * i + 3.
        let sum: u64 = (720..1080).map(|i| 20 * i + 3).sum();
        assert!(
            answer.contains("| 360 ") && answer.contains(&format!("| {sum}.0 ")),
            "{answer}"
        );
        let plan = run(&mut s, &format!("EXPLAIN ANALYZE {q}")).await;
        let selected = rows_selected(&plan).unwrap_or_else(|| panic!("no rows_selected:\n{plan}"));
        assert!(
            (360.0..8640.0).contains(&selected),
            "at least the hour's 360 rows, less than the host's 8640:\n{plan}"
        );
        // The time column of those rows is decoded first and filtered, and the rows
        // outside the hour are not read: the series read returns exactly the hour's rows
        // (03:00 itself too is left out), so the scan has nothing left to filter.
        let scan = plan
            .lines()
            .find(|l| l.contains("StorageScanExec"))
            .unwrap_or_default();
        assert!(
            scan.contains("source_rows=360") && scan.contains("output_rows=360,"),
            "{plan}"
        );

        // A filter on a column other than the time: evaluated on the rows of the first
        // read (`v` is decoded with the time), the others decoded for the rows kept only.
        let q = "SELECT count(*), sum(v) FROM m WHERE host = 'h3' AND v % 7 = 0 \
                 AND ts >= '2024-01-01 02:00:00+00' AND ts < '2024-01-01 03:00:00+00'";
        let kept: Vec<u64> = (720..1080u64)
            .map(|i| 20 * i + 3)
            .filter(|g| g % 7 == 0)
            .collect();
        let answer = run(&mut s, q).await;
        let (n, sum) = (kept.len(), kept.iter().sum::<u64>());
        assert!(
            answer.contains(&format!("| {n} ")) && answer.contains(&format!("| {sum}.0 ")),
            "{answer}"
        );
        let plan = run(&mut s, &format!("EXPLAIN ANALYZE {q}")).await;
        assert!(
            rows_selected(&plan).is_some()
                && [",", "]"]
                    .iter()
                    .any(|e| plan.contains(&format!("source_rows={n}{e}"))),
            "the series read returns only the rows kept:\n{plan}"
        );

        // Hosts no file has, and an IN list of two: only their rows.
        let plan = run(
            &mut s,
            "EXPLAIN ANALYZE SELECT count(*) FROM m WHERE host = 'nope'",
        )
        .await;
        assert!(plan.contains("output_rows=0"), "{plan}");
        let plan = run(
            &mut s,
            "EXPLAIN ANALYZE SELECT count(*) FROM m WHERE host IN ('h1', 'h2')",
        )
        .await;
        assert_eq!(rows_selected(&plan), Some(17280.0), "{plan}");

        // A filter on a column that names no series reads the file through DataFusion.
        let plan = run(
            &mut s,
            "EXPLAIN ANALYZE SELECT count(*) FROM m WHERE v < 10",
        )
        .await;
        assert_eq!(rows_selected(&plan), None, "{plan}");
    });
}
