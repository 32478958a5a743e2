//! Tiered storage against a real S3 API (moto): partitions moved by a tiering policy to
//! `s3://bucket/prefix`, read back by queries, rewritten by DELETE, removed by drop_chunks,
//! surviving restarts and kill -9 in the middle of a move; a store that goes away.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::TestServer;
use common::moto::Moto;

const BUCKET: &str = "strata-cold";

fn server_on(moto: &Moto, prefix: &str) -> TestServer {
    server_via(moto, &moto.endpoint(), prefix)
}

/// A server whose S3 endpoint is `endpoint` (moto itself, or a proxy in front of it).
fn server_via(moto: &Moto, endpoint: &str, prefix: &str) -> TestServer {
    let mut env = moto.env();
    for (k, v) in env.iter_mut() {
        if *k == "AWS_ENDPOINT" {
            *v = endpoint.to_string();
        }
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestServer::start_with_env(&["--cold-store", &format!("s3://{BUCKET}/{prefix}")], &env)
}

/// `days` days of 2020 from Jan 1, one row per host every 10 s, hosts h0 and h1.
async fn load(c: &tokio_postgres::Client, days: i64) -> i64 {
    c.batch_execute(
        "CREATE TABLE m (ts timestamptz NOT NULL, host text, v float8); \
         SELECT create_hypertable('m', by_range('ts', INTERVAL '1 day'))",
    )
    .await
    .unwrap();
    let start = 1_577_836_800i64; // 2020-01-01 00:00:00 UTC
    let per_day = 8640;
    let mut n = 0;
    for d in 0..days {
        for chunk in 0..(per_day / 960) {
            let mut rows = Vec::with_capacity(2 * 960);
            for i in 0..960 {
                let s = start + d * 86_400 + (chunk * 960 + i) * 10;
                for h in 0..2 {
                    rows.push(format!("(to_timestamp({s}), 'h{h}', {})", n % 1000));
                    n += 1;
                }
            }
            c.batch_execute(&format!("INSERT INTO m VALUES {}", rows.join(",")))
                .await
                .unwrap();
        }
    }
    c.batch_execute("CHECKPOINT").await.unwrap();
    n
}

async fn count(c: &tokio_postgres::Client) -> i64 {
    c.query_one("SELECT count(*) FROM m", &[])
        .await
        .unwrap()
        .get(0)
}

async fn tiers(c: &tokio_postgres::Client) -> Vec<(String, i64)> {
    c.query(
        "SELECT tier, count(*) FROM timescaledb_information.chunks \
         WHERE hypertable_name = 'm' GROUP BY tier ORDER BY tier",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

fn parquet_keys(moto: &Moto, prefix: &str) -> Vec<String> {
    moto.keys(BUCKET, prefix)
        .into_iter()
        .filter(|k| k.ends_with(".parquet"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_move_to_s3_and_stay_queryable_writable_and_durable() {
    let moto = Moto::start(BUCKET);
    let mut s = server_on(&moto, "lifecycle");
    let c = s.connect().await;
    let n = load(&c, 5).await;
    // A recent row stays hot.
    c.batch_execute("INSERT INTO m VALUES (now(), 'h0', 1)")
        .await
        .unwrap();
    let n = n + 1;
    let sum_before: f64 = c
        .query_one("SELECT sum(v) FROM m", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tiers(&c).await, vec![("hot".into(), 6)]);

    let job: i32 = c
        .query_one("SELECT add_tiering_policy('m', INTERVAL '7 days')", &[])
        .await
        .unwrap()
        .get(0);
    // A reader counts rows over and over while the move runs: every row exactly once.
    let done = Arc::new(AtomicBool::new(false));
    let wrong = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (done, wrong, reads) = (done.clone(), wrong.clone(), reads.clone());
        let r = s.connect().await;
        tokio::spawn(async move {
            while !done.load(Ordering::Acquire) {
                if count(&r).await != n {
                    wrong.fetch_add(1, Ordering::Relaxed);
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    c.execute(&format!("CALL run_job({job})"), &[])
        .await
        .unwrap();
    done.store(true, Ordering::Release);
    reader.await.unwrap();
    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "a reader saw rows missing or twice"
    );
    assert!(reads.load(Ordering::Relaxed) > 0);

    assert_eq!(
        tiers(&c).await,
        vec![("cold".into(), 5), ("hot".into(), 1)],
        "the five 2020 days are cold, today is hot"
    );
    let keys = parquet_keys(&moto, "lifecycle/");
    assert_eq!(keys.len(), 5, "one object per moved day: {keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("lifecycle/tables/")));
    assert_eq!(count(&c).await, n);
    let sum_after: f64 = c
        .query_one("SELECT sum(v) FROM m", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sum_after, sum_before);
    // One hour of a cold day.
    let hour: i64 = c
        .query_one(
            "SELECT count(*) FROM m WHERE ts >= '2020-01-02 10:00:00+00' AND ts < '2020-01-02 11:00:00+00'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(hour, 2 * 360);

    // Erasure reaches the cold tier.
    let deleted = c
        .execute("DELETE FROM m WHERE host = 'h1'", &[])
        .await
        .unwrap();
    assert_eq!(deleted as i64, (n - 1) / 2);
    let n = n - deleted as i64;
    assert_eq!(count(&c).await, n);
    // Late rows for a cold day are accepted (hot until the next move).
    c.batch_execute("INSERT INTO m VALUES ('2020-01-03 12:00:00+00', 'h2', 5)")
        .await
        .unwrap();
    let n = n + 1;

    // kill -9, restart: the same rows; replaced cold objects are gone.
    s.kill9();
    s.restart();
    let c = s.connect().await;
    assert_eq!(count(&c).await, n);
    let h1: i64 = c
        .query_one("SELECT count(*) FROM m WHERE host = 'h1'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(h1, 0, "erased rows came back after a restart");
    assert_eq!(
        parquet_keys(&moto, "lifecycle/").len(),
        5,
        "objects replaced by the DELETE are removed"
    );

    // drop_chunks removes cold chunks and their objects.
    let dropped = c
        .query(
            "SELECT drop_chunks('m', older_than => '2020-01-03 00:00:00+00'::timestamptz)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(dropped.len(), 2);
    assert_eq!(parquet_keys(&moto, "lifecycle/").len(), 3);
    assert_eq!(count(&c).await, n - 2 * 8640);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_store_that_goes_away_fails_the_job_and_keeps_the_data_hot() {
    let mut moto = Moto::start(BUCKET);
    let s = server_on(&moto, "away");
    let c = s.connect().await;
    let n = load(&c, 2).await;
    let job: i32 = c
        .query_one("SELECT add_tiering_policy('m', INTERVAL '7 days')", &[])
        .await
        .unwrap()
        .get(0);
    moto.stop();
    let err = c
        .execute(&format!("CALL run_job({job})"), &[])
        .await
        .expect_err("a move to a store that is down fails");
    let msg = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("cold store"), "{msg}");
    assert_eq!(count(&c).await, n, "nothing lost");
    assert_eq!(tiers(&c).await, vec![("hot".into(), 2)]);
    let (status, failures): (String, i64) = {
        let r = c
            .query_one(
                "SELECT last_run_status, total_failures FROM timescaledb_information.job_stats WHERE job_id = $1",
                &[&job],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((status.as_str(), failures), ("Failed", 1));
    assert!(s.log().contains("cold store"), "the log says why");

    // The store comes back: the next run moves everything.
    moto.restart(BUCKET);
    c.execute(&format!("CALL run_job({job})"), &[])
        .await
        .unwrap();
    assert_eq!(tiers(&c).await, vec![("cold".into(), 2)]);
    assert_eq!(count(&c).await, n);
    assert_eq!(parquet_keys(&moto, "away/").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_move_keeps_every_row_exactly_once() {
    let moto = Moto::start(BUCKET);
    let mut s = server_on(&moto, "crash");
    let c = s.connect().await;
    let n = load(&c, 4).await;
    let job: i32 = c
        .query_one("SELECT add_tiering_policy('m', INTERVAL '7 days')", &[])
        .await
        .unwrap()
        .get(0);
    for delay_ms in [0u64, 20, 60, 150] {
        let c = s.connect().await;
        // Each round is killed somewhere: before, during or after a partition's switch.
        let run =
            tokio::spawn(async move { c.execute(&format!("CALL run_job({job})"), &[]).await });
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        s.kill9();
        let _ = run.await;
        s.restart();
        let c = s.connect().await;
        assert_eq!(count(&c).await, n, "after kill -9 at {delay_ms} ms");
    }
    let c = s.connect().await;
    c.execute(&format!("CALL run_job({job})"), &[])
        .await
        .unwrap();
    assert_eq!(tiers(&c).await, vec![("cold".into(), 4)]);
    assert_eq!(count(&c).await, n);
    // Objects of interrupted moves were removed at start: one per chunk.
    s.kill9();
    s.restart();
    assert_eq!(parquet_keys(&moto, "crash/").len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_store_that_goes_away_in_the_middle_of_a_move() {
    let moto = Moto::start(BUCKET);
    // Every request to the store takes at least 40 ms: the move of six days is long enough
    // to cut the store after the first day is uploaded.
    let proxy = common::moto::Cuttable::start(moto.port, Duration::from_millis(40)).await;
    let s = server_via(&moto, &proxy.endpoint(), "midway");
    let c = s.connect().await;
    let n = load(&c, 6).await;
    let job: i32 = c
        .query_one("SELECT add_tiering_policy('m', INTERVAL '7 days')", &[])
        .await
        .unwrap()
        .get(0);
    let mover = s.connect().await;
    let run =
        tokio::spawn(async move { mover.execute(&format!("CALL run_job({job})"), &[]).await });
    let t0 = std::time::Instant::now();
    while parquet_keys(&moto, "midway/").is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "nothing was uploaded"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.cut();
    let r = run.await.unwrap();
    let err = r.expect_err("the move cannot finish without the store");
    let code = err.code().map(|c| c.code().to_string());
    assert_eq!(code.as_deref(), Some("58030"), "{err:?}");
    let t = tiers(&c).await;
    let cold: i64 = t.iter().filter(|(k, _)| k == "cold").map(|(_, n)| n).sum();
    let hot: i64 = t.iter().filter(|(k, _)| k == "hot").map(|(_, n)| n).sum();
    assert!(cold < 6 && hot >= 1, "the move stopped midway: {t:?}");
    assert_eq!(cold + hot, 6);
    // Hot days stay readable while the store is away.
    let hot_rows: i64 = c
        .query_one(
            "SELECT count(*) FROM m WHERE ts >= '2020-01-06 00:00:00+00'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(hot_rows, 2 * 8640);
    // The store is back: nothing was lost, and the next run finishes the job.
    proxy.restore();
    assert_eq!(count(&c).await, n);
    c.execute(&format!("CALL run_job({job})"), &[])
        .await
        .unwrap();
    assert_eq!(tiers(&c).await, vec![("cold".into(), 6)]);
    assert_eq!(count(&c).await, n);
}

/// The cold store and its credentials from the config file (`cold_store`,
/// `[cold_store_options]`, `cold_cache_mb`) instead of the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cold_store_can_be_configured_in_the_config_file() {
    let moto = Moto::start(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("strata.toml");
    std::fs::write(
        &cfg,
        format!(
            "cold_store = \"s3://{BUCKET}/fromconfig\"\ncold_cache_mb = 8\n\n\
             [cold_store_options]\naws_endpoint = \"{}\"\naws_allow_http = \"true\"\n\
             aws_access_key_id = \"testing\"\naws_secret_access_key = \"testing\"\n\
             aws_region = \"us-east-1\"\n",
            moto.endpoint()
        ),
    )
    .unwrap();
    let s = TestServer::start_with(&["--config", cfg.to_str().unwrap()]);
    let c = s.connect().await;
    let n = load(&c, 1).await;
    let job: i32 = c
        .query_one("SELECT add_tiering_policy('m', INTERVAL '7 days')", &[])
        .await
        .unwrap()
        .get(0);
    c.execute(&format!("CALL run_job({job})"), &[])
        .await
        .unwrap();
    assert_eq!(tiers(&c).await, vec![("cold".into(), 1)]);
    assert_eq!(parquet_keys(&moto, "fromconfig/").len(), 1);
    assert_eq!(count(&c).await, n);
}
