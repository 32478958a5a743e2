//! Tiering jobs against a real server: a job whose cold store is unusable fails with
//! 58030, says what to do, shows `Failed` in `timescaledb_information.job_stats` and a row
//! in `job_errors`, and leaves the data hot and readable; once the store is back the same
//! job moves the chunks. A tiering policy on a one-second schedule runs by itself.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use tokio_postgres::{Client, SimpleQueryMessage};

/// The rows of a simple query, as text.
async fn rows(c: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    c.simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

async fn one(c: &Client, sql: &str) -> Option<String> {
    rows(c, sql)
        .await
        .into_iter()
        .next()
        .and_then(|mut r| r.remove(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_tiering_job_reports_and_recovers() {
    let cold_root = tempfile::tempdir().unwrap();
    let cold = cold_root.path().join("cold");
    let url = format!("file://{}", cold.display());
    let s = TestServer::start_with(&["--cold-store", &url]);
    let c = s.connect().await;
    c.batch_execute(
        "create table ft (ts timestamptz not null, k int8); \
         select create_hypertable('ft', by_range('ts', interval '1 day')); \
         insert into ft values ('2020-01-01 00:00:00+00', 1), ('2020-01-02 00:00:00+00', 2)",
    )
    .await
    .unwrap();
    c.batch_execute("checkpoint").await.unwrap();
    // Extended protocol: the job id is an integer, sizes are bigints.
    let job: i32 = c
        .query_one("select add_tiering_policy('ft', interval '7 days')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(job, 1000);
    let hot_bytes: i64 = c
        .query_one("select hypertable_size($1)", &[&"ft"])
        .await
        .unwrap()
        .get(0);
    assert!(hot_bytes > 0);

    // The cold store's directory becomes a plain file: every upload fails.
    std::fs::remove_dir_all(&cold).unwrap();
    std::fs::write(&cold, b"not a directory").unwrap();
    let err = c.batch_execute("call run_job(1000)").await.unwrap_err();
    let db = err.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "58030", "{db:?}");
    assert!(
        db.message()
            .starts_with("tiering job 1000 could not move old chunks of \"ft\" to the cold store"),
        "{}",
        db.message()
    );
    assert!(
        db.hint().is_some_and(|h| h.contains("CALL run_job(1000)")),
        "{:?}",
        db.hint()
    );
    assert_eq!(
        rows(
            &c,
            "select last_run_status, job_status, total_runs, total_successes, total_failures, \
             last_successful_finish is null from timescaledb_information.job_stats"
        )
        .await,
        vec![vec![
            Some("Failed".into()),
            Some("Scheduled".into()),
            Some("1".into()),
            Some("0".into()),
            Some("1".into()),
            Some("t".into())
        ]]
    );
    let errors = rows(
        &c,
        "select job_id, proc_schema, proc_name, sqlerrcode, err_message, finish_time >= start_time \
         from timescaledb_information.job_errors",
    )
    .await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0][0].as_deref(), Some("1000"));
    assert_eq!(errors[0][1].as_deref(), Some("_timescaledb_functions"));
    assert_eq!(errors[0][2].as_deref(), Some("policy_tiering"));
    assert_eq!(errors[0][3].as_deref(), Some("58030"));
    assert!(
        errors[0][4]
            .as_deref()
            .is_some_and(|m| m.starts_with("tiering job 1000 could not move")),
        "{errors:?}"
    );
    assert_eq!(errors[0][5].as_deref(), Some("t"));
    // The data stayed hot and readable.
    assert_eq!(
        rows(
            &c,
            "select tier, count(*) from timescaledb_information.chunks group by tier"
        )
        .await,
        vec![vec![Some("hot".into()), Some("2".into())]]
    );
    assert_eq!(one(&c, "select sum(k) from ft").await.as_deref(), Some("3"));
    assert!(
        s.log().contains("job failed"),
        "the failure is logged:\n{}",
        s.log()
    );

    // The store is back: the same job moves both chunks.
    std::fs::remove_file(&cold).unwrap();
    std::fs::create_dir(&cold).unwrap();
    c.batch_execute("call run_job(1000)").await.unwrap();
    assert_eq!(
        rows(
            &c,
            "select tier, count(*) from timescaledb_information.chunks group by tier"
        )
        .await,
        vec![vec![Some("cold".into()), Some("2".into())]]
    );
    assert_eq!(one(&c, "select sum(k) from ft").await.as_deref(), Some("3"));
    // The files are in the cold store's directory now.
    let mut parquet = 0;
    let mut stack = vec![cold.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                parquet += 1;
            }
        }
    }
    assert!(parquet >= 2, "{parquet} cold files");
    let sized: i64 = c
        .query_one("select hypertable_size('ft')", &[])
        .await
        .unwrap()
        .get(0);
    assert!(sized > 0);
    assert_eq!(
        rows(
            &c,
            "select last_run_status, total_runs, total_successes, total_failures \
             from timescaledb_information.job_stats"
        )
        .await,
        vec![vec![
            Some("Success".into()),
            Some("2".into()),
            Some("1".into()),
            Some("1".into())
        ]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_tiering_policy_runs_by_itself() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(
        "create table st (ts timestamptz not null, k int8); \
         select create_hypertable('st', by_range('ts', interval '1 day')); \
         insert into st values ('2020-01-01 00:00:00+00', 1), ('2020-01-02 00:00:00+00', 2); \
         insert into st select now(), 3",
    )
    .await
    .unwrap();
    c.batch_execute("checkpoint").await.unwrap();
    c.batch_execute(
        "select add_tiering_policy('st', interval '7 days', schedule_interval => interval '1 second')",
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let tiers = rows(
            &c,
            "select tier, count(*) from timescaledb_information.chunks group by tier order by tier",
        )
        .await;
        if tiers
            == vec![
                vec![Some("cold".into()), Some("2".into())],
                vec![Some("hot".into()), Some("1".into())],
            ]
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tiering policy did not run within 20 s: {tiers:?}\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(one(&c, "select sum(k) from st").await.as_deref(), Some("6"));
    // The scheduler keeps the statistics too, and plans the next run.
    let stats = rows(
        &c,
        "select last_run_status, total_runs >= 1, total_failures, next_start > last_run_started_at \
         from timescaledb_information.job_stats",
    )
    .await;
    assert_eq!(
        stats,
        vec![vec![
            Some("Success".into()),
            Some("t".into()),
            Some("0".into()),
            Some("t".into())
        ]]
    );
    // A paused job is skipped by the scheduler; resumed, it runs again.
    let runs = || async {
        one(
            &c,
            "select total_runs from timescaledb_information.job_stats",
        )
        .await
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(-1)
    };
    c.batch_execute("select alter_job(1000, scheduled => false)")
        .await
        .unwrap();
    let paused_at = runs().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // At most one run that had already started when the job was paused.
    assert!(runs().await <= paused_at + 1, "a paused job kept running");
    let before = runs().await;
    c.batch_execute("select alter_job(1000, scheduled => true)")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while runs().await <= before {
        assert!(Instant::now() < deadline, "a resumed job did not run");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
