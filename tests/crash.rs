//! Crash test: a client inserts in a loop while the server is SIGKILLed at random moments
//! and restarted on the same data directory. Every INSERT that returned Ok must be present
//! exactly once after every restart; nothing that was never sent may appear.
//!
//! Reproduce a failure with the seed it prints: `STRATA_CRASH_SEED=<seed> cargo test --test crash`.
//! `STRATA_CRASH_CYCLES` overrides the number of kill/restart cycles (default 24).

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use common::TestServer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_postgres::{Client, NoTls};

fn base_ts() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

async fn connect(s: &TestServer) -> Client {
    let mut last = None;
    for _ in 0..50 {
        match tokio_postgres::connect(&s.conn_str(), NoTls).await {
            Ok((c, conn)) => {
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                return c;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "cannot connect after restart: {last:?}\nserver log:\n{}",
        s.log()
    );
}

fn log_tail(s: &TestServer) -> String {
    let log = s.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Checks the table against what the client knows. Panics with everything needed to debug.
async fn verify(
    s: &TestServer,
    c: &Client,
    acked: &HashSet<i64>,
    next_id: i64,
    seed: u64,
    when: &str,
    history: &[String],
    with_view: bool,
) -> usize {
    let fail = |msg: String| -> ! {
        panic!(
            "seed {seed}: {when}: {msg}\nreproduce with STRATA_CRASH_SEED={seed}\ncycle history:\n  {}\n--- server log tail ---\n{}",
            history.join("\n  "),
            log_tail(s)
        )
    };
    let r = match c
        .query_one("select count(*), count(distinct id) from t", &[])
        .await
    {
        Ok(r) => r,
        Err(e) => fail(format!("count query failed: {e:?}")),
    };
    let (n, distinct): (i64, i64) = (r.get(0), r.get(1));
    if n != distinct {
        fail(format!(
            "duplicate rows: count(*) = {n} but count(distinct id) = {distinct}"
        ));
    }
    let rows = match c.query("select id, ts, payload from t", &[]).await {
        Ok(r) => r,
        Err(e) => fail(format!("select ids failed: {e:?}")),
    };
    if rows.len() as i64 != n {
        fail(format!(
            "select returned {} rows but count(*) = {n}",
            rows.len()
        ));
    }
    let mut present = HashSet::with_capacity(rows.len());
    let mut bad = vec![];
    for r in &rows {
        let id: i64 = r.get(0);
        let ts: DateTime<Utc> = r.get(1);
        let payload: Option<String> = r.get(2);
        if !present.insert(id) {
            bad.push(format!("id {id} appears twice"));
        }
        if id < 0 || id >= next_id {
            bad.push(format!("id {id} was never sent (next id {next_id})"));
        }
        if ts != base_ts() + chrono::Duration::milliseconds(id) {
            bad.push(format!("id {id}: ts {ts} does not match"));
        }
        if payload
            .as_deref()
            .and_then(|p| p.rsplit_once('-'))
            .map(|(_, x)| x)
            != Some(id.to_string().as_str())
        {
            bad.push(format!("id {id}: payload {payload:?} does not match"));
        }
    }
    if !bad.is_empty() {
        bad.truncate(20);
        fail(format!("corrupt rows:\n  {}", bad.join("\n  ")));
    }
    let mut missing: Vec<i64> = acked.difference(&present).copied().collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        fail(format!(
            "{} acknowledged ids are missing (of {} acknowledged, {} present); first missing: {:?}",
            missing.len(),
            acked.len(),
            present.len(),
            &missing[..missing.len().min(30)]
        ));
    }
    // The continuous aggregate (when the test has one) agrees with the raw rows: both
    // come from the same WAL records.
    if with_view {
        let q = "select count(*) from (\
            (select b, n, s, mx from tv except \
             select time_bucket('1 second', ts), count(*), sum(id), max(id) from t group by 1) \
            union all \
            (select time_bucket('1 second', ts), count(*), sum(id), max(id) from t group by 1 \
             except select b, n, s, mx from tv)) d";
        match c.query_one(q, &[]).await {
            Ok(r) => {
                let diff: i64 = r.get(0);
                if diff != 0 {
                    fail(format!(
                        "the continuous aggregate differs from the raw table in {diff} rows"
                    ));
                }
            }
            Err(e) => fail(format!("view comparison failed: {e:?}")),
        }
    }
    present.len()
}

fn seed_and_cycles(default_cycles: usize) -> (u64, usize) {
    let seed: u64 = std::env::var("STRATA_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let cycles: usize = std::env::var("STRATA_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_cycles);
    (seed, cycles)
}

/// The spec's crash test: default settings (fsync always), one client inserting small
/// literal batches, a CHECKPOINT in some cycles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_at_random_moments_loses_no_acknowledged_insert() {
    let (seed, cycles) = seed_and_cycles(24);
    crash_cycles("default", &[], seed, cycles, false).await;
}

/// The same with a 1 MB memtable budget, so background flushes run all the time and kills
/// land in the middle of them, with a second writer using a prepared statement, and a
/// continuous aggregate on the table that must agree with the raw rows after every crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_background_flushes_with_two_writers() {
    let (seed, cycles) = seed_and_cycles(20);
    crash_cycles(
        "memtable-budget-mb 1",
        &["--memtable-budget-mb", "1"],
        seed.wrapping_add(1),
        cycles,
        true,
    )
    .await;
}

/// `--fsync never` may lose acknowledged rows on power loss, but not when only the process
/// dies: the WAL writes are in the OS page cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_with_fsync_never_loses_nothing_acknowledged() {
    let (seed, cycles) = seed_and_cycles(20);
    crash_cycles(
        "fsync never",
        &["--fsync", "never"],
        seed.wrapping_add(2),
        cycles,
        false,
    )
    .await;
}

async fn crash_cycles(name: &str, args: &[&str], seed: u64, cycles: usize, second_writer: bool) {
    println!("crash test [{name}] seed = {seed} (STRATA_CRASH_SEED={seed}), cycles = {cycles}");
    eprintln!("crash test [{name}] seed = {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();

    let mut s = TestServer::start_with(args);
    {
        let c = connect(&s).await;
        c.batch_execute(
            "create table t (ts timestamptz not null, id bigint not null, cycle int, payload text)",
        )
        .await
        .expect("create table");
        if second_writer {
            c.batch_execute(
                "create materialized view tv with (timescaledb.continuous) as \
                 select time_bucket('1 second', ts) as b, count(*) as n, sum(id) as s, max(id) as mx \
                 from t group by b",
            )
            .await
            .expect("create view");
        }
    }
    let next_id = Arc::new(AtomicI64::new(0));
    let mut acked: HashSet<i64> = HashSet::new();
    let mut history: Vec<String> = vec![];
    let mut total_checkpoints = 0;

    for cycle in 0..cycles {
        if cycle > 0 {
            tokio::task::block_in_place(|| s.restart());
        }
        let c = connect(&s).await;
        let present = verify(
            &s,
            &c,
            &acked,
            next_id.load(Ordering::SeqCst),
            seed,
            &format!("after restart {cycle}"),
            &history,
            second_writer,
        )
        .await;

        // Writer: small batches with unique ids; an id counts as acknowledged only after Ok.
        let writer_seed: u64 = rng.r#gen();
        let ids = Arc::clone(&next_id);
        let cycle_i = cycle as i32;
        let writer = tokio::spawn(async move {
            let mut wrng = StdRng::seed_from_u64(writer_seed);
            let mut acked_now = vec![];
            let mut inserts = 0;
            let err;
            loop {
                let n = wrng.gen_range(1..=20i64);
                let first = ids.fetch_add(n, Ordering::SeqCst);
                let mut sql = String::from("insert into t (ts, id, cycle, payload) values ");
                for id in first..first + n {
                    if id > first {
                        sql.push(',');
                    }
                    let ts = (base_ts() + chrono::Duration::milliseconds(id))
                        .format("%Y-%m-%d %H:%M:%S%.3f+00");
                    sql.push_str(&format!("('{ts}', {id}, {cycle_i}, 'c{cycle_i}-{id}')"));
                }
                match c.execute(sql.as_str(), &[]).await {
                    Ok(k) if k == n as u64 => {
                        acked_now.extend(first..first + n);
                        inserts += 1;
                    }
                    Ok(k) => {
                        err = format!("INSERT of {n} rows reported {k}");
                        break;
                    }
                    Err(e) => {
                        err = format!("{e}");
                        break;
                    }
                }
            }
            (acked_now, inserts, err)
        });

        // Optionally a second writer: one row per INSERT through a prepared statement.
        let writer2 = if second_writer {
            let c2 = connect(&s).await;
            let ids = Arc::clone(&next_id);
            Some(tokio::spawn(async move {
                let mut acked_now = vec![];
                let st = match c2
                    .prepare("insert into t (ts, id, cycle, payload) values ($1, $2, $3, $4)")
                    .await
                {
                    Ok(st) => st,
                    Err(e) => return (acked_now, 0, format!("prepare: {e}")),
                };
                let mut inserts = 0;
                loop {
                    let id = ids.fetch_add(1, Ordering::SeqCst);
                    let ts = base_ts() + chrono::Duration::milliseconds(id);
                    match c2
                        .execute(&st, &[&ts, &id, &cycle_i, &format!("p{cycle_i}-{id}")])
                        .await
                    {
                        Ok(1) => {
                            acked_now.push(id);
                            inserts += 1;
                        }
                        Ok(k) => {
                            return (acked_now, inserts, format!("INSERT of 1 row reported {k}"));
                        }
                        Err(e) => return (acked_now, inserts, format!("{e}")),
                    }
                }
            }))
        } else {
            None
        };

        // Sometimes a CHECKPOINT at a random moment, so kills land during and after flushes.
        let delay = rng.gen_range(50..=400u64);
        let checkpoint_at = if rng.gen_bool(0.4) {
            Some(rng.gen_range(0..=delay))
        } else {
            None
        };
        let checkpointer = if let Some(at) = checkpoint_at {
            total_checkpoints += 1;
            let c2 = connect(&s).await;
            Some(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(at)).await;
                c2.batch_execute("CHECKPOINT")
                    .await
                    .map_err(|e| e.to_string())
            }))
        } else {
            None
        };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        tokio::task::block_in_place(|| s.kill9());

        let (acked_now, inserts, err) =
            match tokio::time::timeout(Duration::from_secs(30), writer).await {
                Ok(Ok(x)) => x,
                Ok(Err(e)) => panic!("seed {seed}: writer task panicked: {e:?}"),
                Err(_) => {
                    panic!("seed {seed}: cycle {cycle}: writer did not notice the kill within 30 s")
                }
            };
        let cp = match checkpointer {
            Some(h) => match tokio::time::timeout(Duration::from_secs(30), h).await {
                Ok(Ok(Ok(()))) => "checkpoint done".to_string(),
                Ok(Ok(Err(e))) => format!("checkpoint interrupted ({e})"),
                Ok(Err(e)) => format!("checkpoint task panicked: {e:?}"),
                Err(_) => "checkpoint hung".to_string(),
            },
            None => "no checkpoint".into(),
        };
        acked.extend(acked_now.iter().copied());
        let w2 = match writer2 {
            Some(h) => match tokio::time::timeout(Duration::from_secs(30), h).await {
                Ok(Ok((a, n, e))) => {
                    acked.extend(a.iter().copied());
                    format!(", writer 2: {n} prepared inserts acked, stopped by: {e}")
                }
                Ok(Err(e)) => panic!("seed {seed}: writer 2 panicked: {e:?}"),
                Err(_) => panic!(
                    "seed {seed}: cycle {cycle}: writer 2 did not notice the kill within 30 s"
                ),
            },
            None => String::new(),
        };
        history.push(format!(
            "[{name}] cycle {cycle}: {present} rows at start, kill after {delay} ms, {cp}{}, {inserts} inserts acked ({} rows), writer stopped by: {err}{w2}",
            checkpoint_at.map(|a| format!(" (at {a} ms)")).unwrap_or_default(),
            acked_now.len()
        ));
        println!("{}", history.last().map(String::as_str).unwrap_or(""));
    }

    tokio::task::block_in_place(|| s.restart());
    let c = connect(&s).await;
    let present = verify(
        &s,
        &c,
        &acked,
        next_id.load(Ordering::SeqCst),
        seed,
        "final check",
        &history,
        second_writer,
    )
    .await;
    // And once more after a clean shutdown.
    drop(c);
    let clean = tokio::task::block_in_place(|| s.stop());
    assert!(
        clean,
        "seed {seed}: clean shutdown after the crash cycles failed\n{}",
        log_tail(&s)
    );
    tokio::task::block_in_place(|| s.restart());
    let c = connect(&s).await;
    let present2 = verify(
        &s,
        &c,
        &acked,
        next_id.load(Ordering::SeqCst),
        seed,
        "after clean stop + restart",
        &history,
        second_writer,
    )
    .await;
    assert_eq!(
        present, present2,
        "seed {seed}: row count changed across a clean restart"
    );
    println!(
        "[{name}] seed {seed}: {cycles} kill -9 cycles ({total_checkpoints} with a CHECKPOINT), {} acknowledged rows all present, {} rows total, {:?}",
        acked.len(),
        present,
        started.elapsed()
    );
    assert!(
        acked.len() > 100,
        "seed {seed}: too few acknowledged inserts ({}) for the test to mean anything",
        acked.len()
    );
}

/// kill -9 while CREATE MATERIALIZED VIEW backfills a table over many partitions: the
/// range stays marked dirty in the catalog, and the next start recomputes it, so the view
/// equals the raw GROUP BY whenever the kill landed (before, during or after the backfill).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_backfill_is_repaired_at_start() {
    let (seed, _) = seed_and_cycles(0);
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(7));
    for cycle in 0..4 {
        let mut s = TestServer::start();
        let c = connect(&s).await;
        c.batch_execute(
            "create table bf (ts timestamptz not null, k int8); \
             select create_hypertable('bf', by_range('ts', interval '1 hour'))",
        )
        .await
        .expect("create table");
        // 30 hourly partitions, 6000 rows.
        let mut sql = String::from("insert into bf values ");
        for i in 0..6000i64 {
            if i > 0 {
                sql.push(',');
            }
            let ts = (base_ts() + chrono::Duration::seconds(i * 18)).format("%Y-%m-%d %H:%M:%S+00");
            sql.push_str(&format!("('{ts}', {})", i % 97));
        }
        c.batch_execute(&sql).await.expect("insert");
        c.batch_execute("checkpoint").await.expect("checkpoint");
        let cs = s.conn_str();
        let create = tokio::spawn(async move {
            // The kill may come before the connection is made: that is an error too.
            let (c2, conn) = tokio_postgres::connect(&cs, NoTls).await?;
            tokio::spawn(conn);
            c2.batch_execute(
                "create materialized view bf_m with (timescaledb.continuous) as \
                 select time_bucket('10 minutes', ts) as b, count(*) as n, sum(k) as s from bf group by b",
            )
            .await
        });
        let delay = rng.gen_range(5..=60u64);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        tokio::task::block_in_place(|| s.restart());
        let created = create.await.expect("task").is_ok();
        let c = connect(&s).await;
        let exists = c.simple_query("select 1 from bf_m limit 1").await.is_ok();
        println!(
            "backfill cycle {cycle}: kill after {delay} ms, acknowledged {created}, view exists {exists}"
        );
        if !exists {
            // Killed before the catalog had the view: nothing to repair.
            assert!(
                !created,
                "seed {seed} cycle {cycle}: view acknowledged but missing after restart"
            );
            continue;
        }
        let diff: i64 = c
            .query_one(
                "select count(*) from (\
                 (select b, n, s from bf_m except \
                  select time_bucket('10 minutes', ts), count(*), sum(k) from bf group by 1) \
                 union all \
                 (select time_bucket('10 minutes', ts), count(*), sum(k) from bf group by 1 \
                  except select b, n, s from bf_m)) d",
                &[],
            )
            .await
            .expect("compare")
            .get(0);
        assert_eq!(
            diff,
            0,
            "seed {seed} cycle {cycle} (kill after {delay} ms, create acknowledged: {created}): view differs from raw\n{}",
            log_tail(&s)
        );
    }
}

/// kill -9 while a partition's small files are being compacted into one (compaction runs
/// after the flush that gives a partition its 8th file): every row exactly once after
/// each restart, and the files keep compacting afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_file_compaction_keeps_every_row_exactly_once() {
    let mut s = TestServer::start();
    let c = connect(&s).await;
    c.batch_execute("create table t (ts timestamptz not null, id bigint not null, payload text)")
        .await
        .expect("create table");
    let mut next = 0i64;
    for delay_ms in [0u64, 3, 10, 25, 60, 150] {
        let c = connect(&s).await;
        // Seven flushed files, then an eighth flush whose compaction is interrupted.
        for _ in 0..8 {
            c.batch_execute(&format!(
                "insert into t select '2024-01-01'::timestamptz + (g * interval '1 second'), g, \
                 repeat('x', 100) from generate_series({next}::bigint, {}::bigint) as s(g)",
                next + 1999
            ))
            .await
            .expect("insert");
            next += 2000;
            if next % 16000 != 0 {
                c.batch_execute("checkpoint").await.expect("checkpoint");
            }
        }
        let flush = tokio::spawn(async move { c.batch_execute("checkpoint").await });
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        s.kill9();
        let _ = flush.await;
        s.restart();
        let c = connect(&s).await;
        let (n, distinct): (i64, i64) = {
            let r = c
                .query_one("select count(*), count(distinct id) from t", &[])
                .await
                .expect("count");
            (r.get(0), r.get(1))
        };
        assert_eq!(
            (n, distinct),
            (next, next),
            "after kill -9 {delay_ms} ms into a compaction\n{}",
            log_tail(&s)
        );
    }
    // Compaction did run (and still does): the day's partition is not left with dozens of
    // small files. Files replaced by a compaction stay on disk for a grace period (queries
    // may still read them); a restart removes every file the manifest does not list, so
    // what is left after it is what the table uses.
    connect(&s)
        .await
        .batch_execute("checkpoint")
        .await
        .expect("checkpoint");
    assert!(s.stop(), "clean shutdown\n{}", log_tail(&s));
    s.restart();
    let mut files = 0;
    for table in std::fs::read_dir(s.data_dir().join("tables"))
        .expect("tables")
        .flatten()
    {
        for part in std::fs::read_dir(table.path())
            .expect("table dir")
            .flatten()
        {
            if part.path().is_dir() {
                files += std::fs::read_dir(part.path()).expect("partition").count();
            }
        }
    }
    assert!(
        files < 8,
        "{files} files in the partition: compaction did not run"
    );
}
