//! Primary keys over the wire: concurrent writers of the same keys, prepared
//! INSERT ... ON CONFLICT, COPY with a duplicate key, and upserts surviving kill -9.

mod common;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use common::TestServer;
use futures::SinkExt;
use tokio_postgres::Client;

const TABLE: &str = "CREATE TABLE m (ts timestamptz NOT NULL, host text NOT NULL, v float8, \
                     PRIMARY KEY (ts, host)) WITH (tsdb.hypertable, tsdb.partition_column = 'ts', \
                     tsdb.chunk_interval = '1 hour')";

fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("<no SQLSTATE: {e:?}>"))
}

/// VALUES rows for keys `keys` (ts = 2024-01-01 + k seconds, host 'h'), v = `v`.
fn values(keys: std::ops::Range<i64>, v: f64) -> String {
    keys.map(|k| format!("('{}', 'h', {v})", at(k).format("%Y-%m-%d %H:%M:%S+00")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// (key, v) of every row, in key order.
async fn rows(c: &Client) -> Vec<(i64, f64)> {
    c.query("SELECT ts, v FROM m ORDER BY ts, host", &[])
        .await
        .expect("select")
        .iter()
        .map(|r| {
            let ts: DateTime<Utc> = r.get(0);
            ((ts - at(0)).num_seconds(), r.get(1))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_of_the_same_keys_keep_one_row_per_key() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(TABLE).await.expect("create");
    const KEYS: i64 = 400;
    // Two connections insert the same keys in the same order, in batches of 10 (across
    // several chunks): one with plain INSERT (a batch either goes in whole or fails with
    // 23505), one with DO NOTHING (only new keys count).
    let mut tasks = vec![];
    for (w, clause) in ["", " ON CONFLICT DO NOTHING", " ON CONFLICT DO NOTHING"]
        .into_iter()
        .enumerate()
    {
        let c = s.connect().await;
        tasks.push(tokio::spawn(async move {
            let mut inserted = 0u64;
            for start in (0..KEYS).step_by(10) {
                let sql = format!(
                    "INSERT INTO m VALUES {}{clause}",
                    values(start * 20..start * 20 + 10, w as f64)
                );
                match c.execute(sql.as_str(), &[]).await {
                    Ok(n) => inserted += n,
                    Err(e) => assert_eq!(sqlstate(&e), "23505", "{e:?}"),
                }
            }
            inserted
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    // Keys start*20 .. start*20+10 for start = 0, 10, ..., 390: 40 batches of 10 keys,
    // over three one-hour chunks.
    let expected = KEYS as u64;
    assert_eq!(total, expected, "every key inserted by exactly one writer");
    let got = rows(&c).await;
    assert_eq!(got.len() as u64, expected);
    let mut keys: Vec<i64> = got.iter().map(|r| r.0).collect();
    keys.dedup();
    assert_eq!(keys.len() as u64, expected, "one row per key");

    // Concurrent DO UPDATE of the same keys: still one row per key, with some writer's value.
    let mut tasks = vec![];
    for w in 0..3 {
        let c = s.connect().await;
        tasks.push(tokio::spawn(async move {
            for start in (0..KEYS).step_by(10) {
                let sql = format!(
                    "INSERT INTO m VALUES {} ON CONFLICT (ts, host) DO UPDATE SET v = EXCLUDED.v",
                    values(start * 20..start * 20 + 10, 100.0 + w as f64)
                );
                let n = c.execute(sql.as_str(), &[]).await.expect("upsert");
                assert_eq!(n, 10);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let got = rows(&c).await;
    assert_eq!(got.len() as u64, expected);
    assert!(got.iter().all(|r| (100.0..103.0).contains(&r.1)), "{got:?}");
}

#[tokio::test]
async fn prepared_insert_on_conflict_and_the_error_detail() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(TABLE).await.expect("create");
    let up = c
        .prepare("INSERT INTO m VALUES ($1, $2, $3) ON CONFLICT (ts, host) DO UPDATE SET v = EXCLUDED.v + m.v")
        .await
        .expect("prepare upsert");
    let nothing = c
        .prepare("INSERT INTO m (ts, host, v) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .await
        .expect("prepare do nothing");
    let plain = c
        .prepare("INSERT INTO m VALUES ($1, $2, $3)")
        .await
        .expect("prepare insert");
    let t0 = at(0);
    assert_eq!(c.execute(&nothing, &[&t0, &"a", &1.0f64]).await.unwrap(), 1);
    assert_eq!(c.execute(&nothing, &[&t0, &"a", &9.0f64]).await.unwrap(), 0);
    for _ in 0..3 {
        assert_eq!(c.execute(&up, &[&t0, &"a", &2.0f64]).await.unwrap(), 1);
    }
    assert_eq!(c.execute(&up, &[&at(1), &"a", &5.0f64]).await.unwrap(), 1);
    assert_eq!(rows(&c).await, vec![(0, 7.0), (1, 5.0)]);
    let e = c
        .execute(&plain, &[&t0, &"a", &0.0f64])
        .await
        .expect_err("duplicate");
    let db = e.as_db_error().expect("server error");
    assert_eq!(db.code().code(), "23505");
    assert_eq!(
        db.message(),
        "duplicate key value violates unique constraint \"m_pkey\""
    );
    assert_eq!(
        db.detail(),
        Some("Key (ts, host)=(2024-01-01 00:00:00+00, a) already exists.")
    );
    // Parameters in DO UPDATE SET and WHERE.
    let up2 = c
        .prepare(
            "INSERT INTO m VALUES ($1, $2, $3) ON CONFLICT (ts, host) DO UPDATE SET v = m.v * $4 WHERE m.v < $5",
        )
        .await
        .expect("prepare upsert with parameters");
    let n = c
        .execute(&up2, &[&at(1), &"a", &0.0f64, &3.0f64, &100.0f64])
        .await
        .unwrap();
    assert_eq!(n, 1);
    let n = c
        .execute(&up2, &[&at(1), &"a", &0.0f64, &3.0f64, &1.0f64])
        .await
        .unwrap();
    assert_eq!(n, 0, "WHERE m.v < 1 rejects the update");
    assert_eq!(rows(&c).await, vec![(0, 7.0), (1, 15.0)]);
    // The session is still usable, and the failed statement wrote nothing.
    assert_eq!(
        c.execute(&plain, &[&at(2), &"a", &0.0f64]).await.unwrap(),
        1
    );
    assert_eq!(rows(&c).await, vec![(0, 7.0), (1, 15.0), (2, 0.0)]);
}

async fn copy_in(c: &Client, data: &str) -> Result<u64, tokio_postgres::Error> {
    let sink = c.copy_in::<_, Bytes>("COPY m FROM STDIN").await?;
    futures::pin_mut!(sink);
    sink.send(Bytes::copy_from_slice(data.as_bytes())).await?;
    sink.finish().await
}

#[tokio::test]
async fn copy_with_a_duplicate_key_fails_and_writes_nothing() {
    let s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(TABLE).await.expect("create");
    let n = copy_in(
        &c,
        "2024-01-01 00:00:00+00\ta\t1\n2024-01-01 00:00:01+00\ta\t2\n",
    )
    .await
    .expect("copy");
    assert_eq!(n, 2);
    // A key already stored (in memory, then in a file).
    for flush in [false, true] {
        if flush {
            c.batch_execute("CHECKPOINT").await.expect("checkpoint");
        }
        let e = copy_in(
            &c,
            "2024-01-01 00:00:05+00\ta\t5\n2024-01-01 00:00:01+00\ta\t9\n",
        )
        .await
        .expect_err("duplicate");
        assert_eq!(sqlstate(&e), "23505");
        assert_eq!(
            e.as_db_error().and_then(|d| d.detail()),
            Some("Key (ts, host)=(2024-01-01 00:00:01+00, a) already exists.")
        );
        assert_eq!(rows(&c).await, vec![(0, 1.0), (1, 2.0)], "nothing written");
    }
    // A key repeated inside the COPY.
    let e = copy_in(
        &c,
        "2024-01-01 00:00:07+00\tb\t1\n2024-01-01 00:00:08+00\tb\t1\n2024-01-01 00:00:07+00\tb\t2\n",
    )
    .await
    .expect_err("duplicate in the data");
    assert_eq!(sqlstate(&e), "23505");
    assert_eq!(rows(&c).await.len(), 2);
    // COPY inside a transaction block: checked at COMMIT.
    c.batch_execute("BEGIN").await.unwrap();
    copy_in(&c, "2024-01-01 00:00:00+00\ta\t3\n")
        .await
        .expect("buffered");
    let e = c.batch_execute("COMMIT").await.expect_err("commit");
    assert_eq!(sqlstate(&e), "23505");
    assert_eq!(rows(&c).await.len(), 2);
}

#[tokio::test]
async fn acknowledged_upserts_survive_kill_9() {
    let mut s = TestServer::start();
    let c = s.connect().await;
    c.batch_execute(TABLE).await.expect("create");
    // 30 keys over two chunks; rounds of upserts with the round number as the value,
    // checkpoints in between so that replaced rows are in files and in memory.
    let mut last = std::collections::BTreeMap::new();
    for round in 0..12i64 {
        let keys: Vec<i64> = (0..30)
            .filter(|k| (k + round) % 3 != 0)
            .map(|k| k * 250)
            .collect();
        let vals = keys
            .iter()
            .map(|k| {
                format!(
                    "('{}', 'h', {round})",
                    at(*k).format("%Y-%m-%d %H:%M:%S+00")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let n = c
            .execute(
                format!("INSERT INTO m VALUES {vals} ON CONFLICT (ts, host) DO UPDATE SET v = EXCLUDED.v").as_str(),
                &[],
            )
            .await
            .expect("upsert");
        assert_eq!(n as usize, keys.len());
        for k in keys {
            last.insert(k, round as f64);
        }
        if round % 4 == 1 {
            c.batch_execute("CHECKPOINT").await.expect("checkpoint");
        }
    }
    // Then keys that only live in memory, replaced there (WAL Upsert records).
    for round in 0..3i64 {
        let vals = (0..5)
            .map(|k| {
                format!(
                    "('{}', 'h', {})",
                    at(10_000 + k).format("%Y-%m-%d %H:%M:%S+00"),
                    50 + round
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        c.execute(
            format!(
                "INSERT INTO m VALUES {vals} ON CONFLICT (ts, host) DO UPDATE SET v = EXCLUDED.v"
            )
            .as_str(),
            &[],
        )
        .await
        .expect("upsert in memory");
    }
    for k in 0..5 {
        last.insert(10_000 + k, 52.0);
    }
    let expected: Vec<(i64, f64)> = last.into_iter().collect();
    assert_eq!(rows(&c).await, expected);
    drop(c);
    s.kill9();
    s.restart();
    let c = s.connect().await;
    assert_eq!(rows(&c).await, expected, "after kill -9");
    // Keys are still enforced after recovery.
    let e = c
        .batch_execute("INSERT INTO m VALUES ('2024-01-01 00:00:00+00', 'h', 0)")
        .await
        .expect_err("duplicate after recovery");
    assert_eq!(sqlstate(&e), "23505");
}
