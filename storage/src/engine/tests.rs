//! Engine tests: durability across reopen (clean and crash), flush/replay interplay,
//! schema evolution, DELETE rewrites, partition pruning and backpressure.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use std::path::{Path, PathBuf};

use super::*;
use crate::ErrorKind;
use crate::parquet_io::read_parquet;
use crate::schema::{ColumnType, DEFAULT_PARTITION_MICROS, UTC};

const DAY: i64 = 86_400_000_000;

fn def(name: &str) -> TableDef {
    TableDef {
        id: TableId::new(0),
        name: name.into(),
        columns: vec![
            ColumnDef {
                name: "ts".into(),
                ty: ColumnType::Timestamptz,
                nullable: false,
                default: None,
                max_length: None,
            },
            ColumnDef {
                name: "host".into(),
                ty: ColumnType::Text,
                nullable: true,
                default: None,
                max_length: None,
            },
            ColumnDef {
                name: "v".into(),
                ty: ColumnType::Float8,
                nullable: true,
                default: None,
                max_length: None,
            },
            ColumnDef {
                name: "id".into(),
                ty: ColumnType::Int8,
                nullable: false,
                default: None,
                max_length: None,
            },
        ],
        time_column: Some(0),
        partition_micros: DAY,
        primary_key: vec![],
        hypertable: true,
        internal: false,
        raw_schema: None,
    }
}

fn batch(d: &TableDef, ids: std::ops::Range<i64>, ts_of: impl Fn(i64) -> i64) -> RecordBatch {
    let ts: TimestampMicrosecondArray = ids.clone().map(&ts_of).collect::<Vec<_>>().into();
    let ts = ts.with_timezone(UTC);
    let host: StringArray = ids.clone().map(|i| Some(format!("h{}", i % 7))).collect();
    let v: Float64Array = ids.clone().map(|i| Some(i as f64 * 0.5)).collect();
    let id: Int64Array = ids.collect::<Vec<_>>().into();
    RecordBatch::try_new(
        d.arrow_schema(),
        vec![Arc::new(ts), Arc::new(host), Arc::new(v), Arc::new(id)],
    )
    .unwrap()
}

fn config(dir: &Path) -> StorageConfig {
    let mut c = StorageConfig::new(dir);
    c.flush_max_age = Duration::from_secs(3600);
    c
}

/// Every batch visible in a snapshot (memtables + files, hot and cold), in the table's schema.
fn visible_batches(s: &Storage, t: TableId) -> Vec<RecordBatch> {
    let snap = s.snapshot(t, TimeRange::ALL).unwrap();
    let mut out = snap.batches.clone();
    for f in &snap.files {
        // The default cold store is `<data_dir>/cold`, at the same relative path.
        let path = match f.tier {
            manifest::Tier::Hot => s.data_dir().join(&f.path),
            manifest::Tier::Cold => s.data_dir().join("cold").join(&f.path),
        };
        out.extend(read_parquet(&path, &snap.schema).unwrap());
    }
    out
}

/// All ids visible in a snapshot (memtables + files), sorted.
fn ids(s: &Storage, t: TableId) -> Vec<i64> {
    let mut out: Vec<i64> = visible_batches(s, t)
        .iter()
        .flat_map(|b| b.column(3).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    out.sort_unstable();
    out
}

#[tokio::test]
async fn rows_survive_clean_reopen_and_crash_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let t;
    {
        let s = Storage::open(config(dir.path())).unwrap();
        let d = s.create_table(def("cpu")).await.unwrap();
        t = d.id;
        s.write(t, batch(&d, 0..100, |i| i * 1_000_000))
            .await
            .unwrap();
        s.checkpoint().await.unwrap();
        s.write(t, batch(&d, 100..150, |i| i * 1_000_000))
            .await
            .unwrap();
        // Dropped without shutdown: a crash after the acknowledgements.
    }
    {
        let s = Storage::open(config(dir.path())).unwrap();
        assert_eq!(
            ids(&s, t),
            (0..150).collect::<Vec<_>>(),
            "every acknowledged row exactly once after crash"
        );
        s.shutdown().await.unwrap();
    }
    let s = Storage::open(config(dir.path())).unwrap();
    assert_eq!(ids(&s, t), (0..150).collect::<Vec<_>>());
    // After a clean shutdown everything is in Parquet: memtables are empty on reopen.
    assert!(s.snapshot(t, TimeRange::ALL).unwrap().batches.is_empty());
}

#[tokio::test]
async fn checkpoint_trims_wal_and_replay_skips_flushed_records() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    let d = s.create_table(def("t")).await.unwrap();
    for k in 0..5 {
        s.write(d.id, batch(&d, k * 10..k * 10 + 10, |i| i))
            .await
            .unwrap();
    }
    s.checkpoint().await.unwrap();
    let segs: Vec<_> = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(
        segs.len(),
        1,
        "only the open segment remains after a checkpoint"
    );
    drop(s);
    let s = Storage::open(config(dir.path())).unwrap();
    assert_eq!(
        ids(&s, d.id).len(),
        50,
        "no duplicates from replaying flushed records"
    );
}

#[tokio::test]
async fn partitions_become_files_and_snapshot_prunes_by_range() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    let d = s.create_table(def("t")).await.unwrap();
    // 4 days of data in one batch: split across 4 partitions.
    s.write(d.id, batch(&d, 0..400, |i| i * DAY / 100))
        .await
        .unwrap();
    s.checkpoint().await.unwrap();
    let snap = s.snapshot(d.id, TimeRange::ALL).unwrap();
    assert_eq!(snap.files.len(), 4);
    let day2 = s
        .snapshot(
            d.id,
            TimeRange {
                min: 2 * DAY,
                max: 2 * DAY + 1,
            },
        )
        .unwrap();
    assert_eq!(day2.files.len(), 1, "only the partition holding day 2");
    assert_eq!(day2.files[0].rows, 100);
    // Files are sorted by time.
    let b = &read_parquet(&s.data_dir().join(&day2.files[0].path), &snap.schema).unwrap()[0];
    let ts = b.column(0).as_primitive::<TimestampMicrosecondType>();
    assert!(ts.values().windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn not_null_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    let d = s.create_table(def("t")).await.unwrap();
    let b = batch(&d, 0..3, |i| i);
    let ids: Int64Array = vec![Some(1), None, Some(3)].into();
    let b = RecordBatch::try_new(
        d.arrow_schema(),
        vec![
            Arc::clone(b.column(0)),
            Arc::clone(b.column(1)),
            Arc::clone(b.column(2)),
            Arc::new(ids),
        ],
    )
    .unwrap();
    let e = s.write(d.id, b).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotNull, "{e}");
    assert!(e.to_string().contains("\"id\""), "{e}");
}

#[tokio::test]
async fn add_column_reads_null_for_old_rows_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    let d = s.create_table(def("t")).await.unwrap();
    s.write(d.id, batch(&d, 0..10, |i| i)).await.unwrap();
    s.checkpoint().await.unwrap();
    s.write(d.id, batch(&d, 10..20, |i| i)).await.unwrap();
    let d2 = s
        .add_column(
            "t",
            ColumnDef {
                name: "extra".into(),
                ty: ColumnType::Int4,
                nullable: true,
                default: None,
                max_length: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(d2.columns.len(), 5);
    let snap = s.snapshot(d.id, TimeRange::ALL).unwrap();
    assert_eq!(snap.schema.fields().len(), 5);
    for b in &snap.batches {
        assert_eq!(b.num_columns(), 5);
        assert_eq!(b.column(4).null_count(), b.num_rows());
    }
    drop(s);
    // Replay of WAL records written before the ALTER adapts them to the new schema.
    let s = Storage::open(config(dir.path())).unwrap();
    let snap = s.snapshot(d.id, TimeRange::ALL).unwrap();
    assert_eq!(snap.batches.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
    let files = read_parquet(&s.data_dir().join(&snap.files[0].path), &snap.schema).unwrap();
    assert_eq!(files[0].column(4).null_count(), 10);
}

#[tokio::test]
async fn delete_rewrites_files_durably() {
    let dir = tempfile::tempdir().unwrap();
    let t;
    {
        let s = Storage::open(config(dir.path())).unwrap();
        let d = s.create_table(def("t")).await.unwrap();
        t = d.id;
        s.write(t, batch(&d, 0..100, |i| i * 1000)).await.unwrap();
        s.checkpoint().await.unwrap();
        s.write(t, batch(&d, 100..200, |i| i * 1000)).await.unwrap();
        // Delete odd ids, both in files and (after the implicit flush) the memtable rows.
        let n = s
            .delete_where(t, TimeRange::ALL, &|b: &RecordBatch| {
                let ids = b.column(3).as_primitive::<Int64Type>();
                Ok(ids
                    .iter()
                    .map(|v| v.map(|v| v % 2 == 1))
                    .collect::<BooleanArray>())
            })
            .await
            .unwrap();
        assert_eq!(n, 100);
        assert_eq!(
            ids(&s, t),
            (0..200).filter(|i| i % 2 == 0).collect::<Vec<_>>()
        );
    }
    let s = Storage::open(config(dir.path())).unwrap();
    assert_eq!(
        ids(&s, t),
        (0..200).filter(|i| i % 2 == 0).collect::<Vec<_>>(),
        "deleted rows stay deleted after a crash"
    );
    // Replaced files are gone from disk.
    let listed: Vec<_> = s
        .snapshot(t, TimeRange::ALL)
        .unwrap()
        .files
        .into_iter()
        .map(|f| f.path)
        .collect();
    let mut on_disk = 0;
    for p in std::fs::read_dir(dir.path().join(manifest::table_dir_rel(t)))
        .unwrap()
        .flatten()
    {
        if p.path().is_dir() {
            on_disk += std::fs::read_dir(p.path()).unwrap().count();
        }
    }
    assert_eq!(on_disk, listed.len());
}

#[tokio::test]
async fn drop_table_removes_data_and_replay_ignores_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    let d = s.create_table(def("t")).await.unwrap();
    s.write(d.id, batch(&d, 0..10, |i| i)).await.unwrap();
    s.drop_table("t").await.unwrap();
    let d2 = s.create_table(def("t")).await.unwrap();
    assert_ne!(d.id, d2.id);
    drop(s);
    let s = Storage::open(config(dir.path())).unwrap();
    assert!(
        ids(&s, d2.id).is_empty(),
        "rows of the dropped table must not reappear in the new one"
    );
}

#[tokio::test]
async fn newer_catalog_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Storage::open(config(dir.path())).unwrap();
        s.create_table(def("t")).await.unwrap();
        s.shutdown().await.unwrap();
    }
    let p = dir.path().join("catalog.json");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"format_version\": 2", "\"format_version\": 99");
    std::fs::write(&p, text).unwrap();
    let e = Storage::open(config(dir.path())).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedVersion { found: 99, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("upgrade"), "{e}");
}

#[tokio::test]
async fn memory_stays_bounded_under_continuous_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.memtable_budget_bytes = 2 * 1024 * 1024;
    c.fsync = FsyncPolicy::Never;
    let s = Storage::open(c).unwrap();
    let bg = tokio::spawn(Arc::clone(&s).run_background(std::future::pending()));
    let d = s.create_table(def("t")).await.unwrap();
    let mut peak = 0;
    for k in 0..200 {
        s.write(d.id, batch(&d, k * 1000..k * 1000 + 1000, |i| i * 1000))
            .await
            .unwrap();
        let st = s.stats();
        peak = peak.max(st.active_bytes + st.frozen_bytes);
    }
    bg.abort();
    assert!(s.stats().flushes > 0, "flushes must have happened");
    // Active memtables never exceed the budget by more than one batch; frozen ones are
    // at most one budget's worth while being written.
    assert!(peak < 3 * 2 * 1024 * 1024, "peak memtable bytes {peak}");
    let total: f64 = {
        let snap = s.snapshot(d.id, TimeRange::ALL).unwrap();
        let mut sum = 0.0;
        for b in &snap.batches {
            sum += b
                .column(2)
                .as_primitive::<Float64Type>()
                .values()
                .iter()
                .sum::<f64>();
        }
        for f in &snap.files {
            for b in read_parquet(&s.data_dir().join(&f.path), &snap.schema).unwrap() {
                sum += b
                    .column(2)
                    .as_primitive::<Float64Type>()
                    .values()
                    .iter()
                    .sum::<f64>();
            }
        }
        sum
    };
    let expected: f64 = (0..200_000i64).map(|i| i as f64 * 0.5).sum();
    assert_eq!(total, expected);
    let _ = DEFAULT_PARTITION_MICROS;
}

#[tokio::test]
async fn many_small_files_of_a_partition_are_compacted_into_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    let t = s.create_table(def("t")).await.unwrap().id;
    let mut expected = vec![];
    // One flush per write: every checkpoint adds a file to the same partition (day 0).
    for k in 0..(COMPACT_MIN_FILES as i64 + 2) {
        let r = k * 10..k * 10 + 10;
        expected.extend(r.clone());
        s.write(t, batch(&def("t"), r, |i| i * 1_000_000))
            .await
            .unwrap();
        s.checkpoint().await.unwrap();
        let files = s.snapshot(t, TimeRange::ALL).unwrap().files.len();
        assert!(
            files < COMPACT_MIN_FILES,
            "after {} flushes the partition has {files} files",
            k + 1
        );
    }
    assert_eq!(ids(&s, t), expected);
    // The merged file is sorted by time and durable; replaced files go after the grace
    // period (at shutdown here).
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    assert_eq!(ids(&s, t), expected);
    let snap = s.snapshot(t, TimeRange::ALL).unwrap();
    let part_dir = dir.path().join(manifest::table_dir_rel(t));
    let on_disk: usize = std::fs::read_dir(&part_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| std::fs::read_dir(e.path()).unwrap().count())
        .sum();
    assert_eq!(on_disk, snap.files.len(), "replaced files were removed");
}

#[tokio::test]
async fn old_partitions_move_to_the_cold_store_and_stay_readable_and_writable() {
    let dir = tempfile::tempdir().unwrap();
    let t;
    {
        let s = Storage::open(config(dir.path())).unwrap();
        let d = s.create_table(def("t")).await.unwrap();
        t = d.id;
        // Day 0 in three files, day 1 in one; ids 0..300 on day 0, 300..400 on day 1.
        for r in [0..100, 100..200, 200..300] {
            s.write(t, batch(&d, r, |i| i * 1000)).await.unwrap();
            s.checkpoint().await.unwrap();
        }
        s.write(t, batch(&d, 300..400, |i| DAY + i)).await.unwrap();
        s.checkpoint().await.unwrap();
        let moved = s.tier_partitions(t, DAY).await.unwrap();
        assert_eq!(
            moved,
            vec![0],
            "only the partition that ends by the cutoff moves"
        );
        let snap = s.snapshot(t, TimeRange::ALL).unwrap();
        let cold: Vec<_> = snap.files.iter().filter(|f| !f.tier.is_hot()).collect();
        assert_eq!(cold.len(), 1, "day 0's three files became one cold file");
        assert_eq!(cold[0].rows, 300);
        assert!(dir.path().join("cold").join(&cold[0].path).exists());
        assert_eq!(ids(&s, t), (0..400).collect::<Vec<_>>());
        let chunks = s.chunks(t).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            (chunks[0].tier, chunks[0].rows),
            (manifest::Tier::Cold, 300)
        );
        assert_eq!((chunks[1].tier, chunks[1].rows), (manifest::Tier::Hot, 100));
        // Nothing left to move: a second run is a no-op.
        assert!(s.tier_partitions(t, DAY).await.unwrap().is_empty());
        // A late row for the cold day lands hot; DELETE reaches into the cold file.
        s.write(t, batch(&d, 400..401, |_| 5)).await.unwrap();
        let n = s
            .delete_where(t, TimeRange::ALL, &|b: &RecordBatch| {
                let ids = b.column(3).as_primitive::<Int64Type>();
                Ok(ids
                    .iter()
                    .map(|v| v.map(|v| v < 10))
                    .collect::<BooleanArray>())
            })
            .await
            .unwrap();
        assert_eq!(n, 10);
        let snap = s.snapshot(t, TimeRange::ALL).unwrap();
        let cold: Vec<_> = snap.files.iter().filter(|f| !f.tier.is_hot()).collect();
        assert_eq!(cold.len(), 1);
        assert_eq!(
            cold[0].rows, 290,
            "the cold file was rewritten without the rows"
        );
        // The late row's hot file moves at the next run, as a second cold file.
        assert_eq!(s.tier_partitions(t, DAY).await.unwrap(), vec![0]);
        s.shutdown().await.unwrap();
    }
    let s = Storage::open(config(dir.path())).unwrap();
    let want: Vec<i64> = (10..401).collect();
    assert_eq!(
        ids(&s, t),
        want,
        "after restart every row once, the deleted ones gone"
    );
    // An object no manifest lists (a crash between upload and switch) is removed at start.
    let stray = dir
        .path()
        .join("cold")
        .join(manifest::table_dir_rel(t))
        .join("p0/99999.parquet");
    std::fs::write(&stray, b"partial").unwrap();
    s.check_cold_store().await.unwrap();
    assert!(!stray.exists());
    assert_eq!(ids(&s, t), want);
    // Dropping the chunk removes its cold objects.
    assert_eq!(
        s.drop_partitions(t, Some(DAY), None).await.unwrap(),
        vec![0]
    );
    let left = walk(&dir.path().join("cold"));
    assert!(
        left.is_empty(),
        "cold objects of a dropped chunk remain: {left:?}"
    );
}

/// Interval columns (stored in Parquet in an encoding of their own) keep months, days and
/// nanoseconds exactly through flushes, compaction, a DELETE rewrite, a move to the cold
/// tier and a reopen.
#[tokio::test]
async fn intervals_survive_flush_compaction_delete_tiering_and_reopen() {
    use arrow::array::IntervalMonthDayNanoArray;
    use arrow::datatypes::{IntervalMonthDayNano, IntervalMonthDayNanoType};
    let interval_of = |id: i64| {
        (id % 5 != 0).then(|| {
            IntervalMonthDayNano::new(id as i32 - 40, -(id as i32), id * 1_000_001_000 - 7_000)
        })
    };
    let mut d = def("t");
    d.columns[2] = ColumnDef {
        name: "iv".into(),
        ty: ColumnType::Interval,
        nullable: true,
        default: None,
        max_length: None,
    };
    let rows = |s: &Storage, t: TableId| {
        let mut out: Vec<(i64, Option<IntervalMonthDayNano>)> = visible_batches(s, t)
            .iter()
            .flat_map(|b| {
                let id = b.column(3).as_primitive::<Int64Type>();
                let iv = b.column(2).as_primitive::<IntervalMonthDayNanoType>();
                (0..b.num_rows())
                    .map(|i| (id.value(i), iv.is_valid(i).then(|| iv.value(i))))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_unstable_by_key(|r| r.0);
        out
    };
    let dir = tempfile::tempdir().unwrap();
    let t;
    let mut want: Vec<_>;
    {
        let s = Storage::open(config(dir.path())).unwrap();
        let d = s.create_table(d).await.unwrap();
        t = d.id;
        // One file per flush in day 0, until compaction merges them.
        let n = COMPACT_MIN_FILES as i64;
        for k in 0..n {
            let r = k * 10..k * 10 + 10;
            let mut cols = batch(&def("t"), r.clone(), |i| i * 1_000_000)
                .columns()
                .to_vec();
            cols[2] = Arc::new(r.map(interval_of).collect::<IntervalMonthDayNanoArray>());
            let b = RecordBatch::try_new(d.arrow_schema(), cols).unwrap();
            s.write(t, b).await.unwrap();
            s.checkpoint().await.unwrap();
        }
        let files = s.snapshot(t, TimeRange::ALL).unwrap().files;
        assert!(files.len() < COMPACT_MIN_FILES, "compacted: {files:?}");
        want = (0..n * 10).map(|id| (id, interval_of(id))).collect();
        assert_eq!(rows(&s, t), want);
        // DELETE rewrites the file; the predicate reads the decoded intervals.
        let deleted = s
            .delete_where(t, TimeRange::ALL, &|b: &RecordBatch| {
                let iv = b.column(2).as_primitive::<IntervalMonthDayNanoType>();
                Ok(iv
                    .iter()
                    .map(|v| v.map(|v| v.months < 0))
                    .collect::<BooleanArray>())
            })
            .await
            .unwrap();
        want.retain(|(_, iv)| iv.is_none_or(|iv| iv.months >= 0));
        assert_eq!(deleted as usize, (n * 10) as usize - want.len());
        assert_eq!(rows(&s, t), want);
        // The day moves to the cold store (rewritten in the cold layout).
        assert_eq!(s.tier_partitions(t, DAY).await.unwrap(), vec![0]);
        let files = s.snapshot(t, TimeRange::ALL).unwrap().files;
        assert!(files.iter().all(|f| !f.tier.is_hot()), "{files:?}");
        assert_eq!(rows(&s, t), want);
        s.shutdown().await.unwrap();
    }
    let s = Storage::open(config(dir.path())).unwrap();
    assert_eq!(rows(&s, t), want);
}

/// A flush that keeps failing (here a file stands where the partition's directory goes)
/// loses nothing: the rows stay readable, a crash replays them from the WAL, and the
/// background flusher retries on its own — without new writes — until it succeeds.
#[tokio::test]
async fn a_failing_flush_keeps_the_rows_and_is_retried_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.flush_max_age = Duration::from_millis(100);
    let t;
    let blocker;
    {
        let s = Storage::open(c.clone()).unwrap();
        let d = s.create_table(def("t")).await.unwrap();
        t = d.id;
        blocker = dir.path().join(manifest::table_dir_rel(t)).join("p0");
        std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
        std::fs::write(&blocker, b"").unwrap();
        s.write(t, batch(&d, 0..10, |i| i)).await.unwrap();
        assert!(s.checkpoint().await.is_err());
        assert_eq!(ids(&s, t), (0..10).collect::<Vec<_>>());
        // A crash: no shutdown.
    }
    let s = Storage::open(c).unwrap();
    assert_eq!(
        ids(&s, t),
        (0..10).collect::<Vec<_>>(),
        "replayed from the WAL"
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let bg = tokio::spawn(Arc::clone(&s).run_background(async {
        let _ = stopped.await;
    }));
    s.write(t, batch(&def("t"), 10..20, |i| i)).await.unwrap();
    // The background flush froze the rows and failed to write them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.stats().frozen_bytes == 0 {
        assert!(
            Instant::now() < deadline,
            "no background flush was attempted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(s.snapshot(t, TimeRange::ALL).unwrap().files.is_empty());
    assert_eq!(ids(&s, t), (0..20).collect::<Vec<_>>());
    // Once the cause is gone, a retry succeeds.
    std::fs::remove_file(&blocker).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.snapshot(t, TimeRange::ALL).unwrap().files.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the failed flush was not retried"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.stats().frozen_bytes, 0);
    assert_eq!(ids(&s, t), (0..20).collect::<Vec<_>>());
    stop.send(()).unwrap();
    bg.await.unwrap();
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
