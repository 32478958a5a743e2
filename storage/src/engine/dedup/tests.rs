//! Primary keys in storage: the key index, plain writes refused on a taken key, replacing
//! rows in memtables and in files, WAL replay of replacements.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{Float64Type, TimestampMicrosecondType};

use super::super::*;
use crate::ErrorKind;
use crate::parquet_io::read_parquet;
use crate::schema::{ColumnType, UTC};

const DAY: i64 = 86_400_000_000;

fn def(name: &str) -> TableDef {
    let col = |name: &str, ty, nullable| ColumnDef {
        name: name.into(),
        ty,
        nullable,
        default: None,
        max_length: None,
    };
    TableDef {
        id: TableId::new(0),
        name: name.into(),
        columns: vec![
            col("ts", ColumnType::Timestamptz, false),
            col("host", ColumnType::Text, false),
            col("v", ColumnType::Float8, true),
        ],
        time_column: Some(0),
        partition_micros: DAY,
        primary_key: vec!["ts".into(), "host".into()],
        hypertable: true,
        internal: false,
        raw_schema: None,
        segment_by: vec![],
    }
}

/// Rows (ts in hours, host, v).
fn rows(d: &TableDef, r: &[(i64, &str, f64)]) -> RecordBatch {
    let ts: TimestampMicrosecondArray = r
        .iter()
        .map(|x| x.0 * 3_600_000_000)
        .collect::<Vec<_>>()
        .into();
    let host: StringArray = r.iter().map(|x| Some(x.1)).collect();
    let v: Float64Array = r.iter().map(|x| Some(x.2)).collect();
    RecordBatch::try_new(
        d.arrow_schema(),
        vec![Arc::new(ts.with_timezone(UTC)), Arc::new(host), Arc::new(v)],
    )
    .unwrap()
}

fn config(dir: &Path) -> StorageConfig {
    let mut c = StorageConfig::new(dir);
    c.flush_max_age = Duration::from_secs(3600);
    c
}

/// Every stored row as (hour, host, v), sorted.
async fn all(s: &Storage, t: TableId) -> Vec<(i64, String, f64)> {
    let snap = s.snapshot(t, TimeRange::ALL).unwrap();
    let mut batches = snap.batches.clone();
    for f in &snap.files {
        batches.extend(read_parquet(&s.data_dir().join(&f.path), &snap.schema).unwrap());
    }
    let mut out = vec![];
    for b in batches {
        let ts = b.column(0).as_primitive::<TimestampMicrosecondType>();
        let h = b.column(1).as_string::<i32>();
        let v = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            out.push((
                ts.value(i) / 3_600_000_000,
                h.value(i).to_string(),
                v.value(i),
            ));
        }
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn owned(r: &[(i64, &str, f64)]) -> Vec<(i64, String, f64)> {
    r.iter().map(|x| (x.0, x.1.to_string(), x.2)).collect()
}

#[tokio::test]
async fn plain_write_of_a_stored_key_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    let d = s.create_table(def("t")).await.unwrap();
    s.write(d.id, rows(&d, &[(0, "a", 1.0), (0, "b", 2.0)]))
        .await
        .unwrap();
    let e = s
        .write(d.id, rows(&d, &[(1, "a", 3.0), (0, "b", 9.0)]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UniqueViolation);
    assert_eq!(
        e.to_string(),
        "duplicate key value violates unique constraint \"t_pkey\""
    );
    let Error::UniqueViolation { key, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(key.num_rows(), 1);
    assert_eq!(key.num_columns(), 2);
    assert_eq!(key.column(1).as_string::<i32>().value(0), "b");
    // A repeat inside one write fails too.
    let e = s
        .write(d.id, rows(&d, &[(2, "a", 1.0), (2, "a", 2.0)]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UniqueViolation);
    assert_eq!(
        all(&s, d.id).await,
        owned(&[(0, "a", 1.0), (0, "b", 2.0)]),
        "a failed write writes nothing"
    );
}

#[tokio::test]
async fn keys_are_checked_against_files_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let t;
    {
        let s = Storage::open(config(dir.path())).unwrap();
        let d = s.create_table(def("t")).await.unwrap();
        t = d.id;
        s.write(t, rows(&d, &[(0, "a", 1.0), (30, "a", 2.0)]))
            .await
            .unwrap();
        s.checkpoint().await.unwrap();
        // The index was never built (no lookup before the flush): built from files.
        let e = s.write(t, rows(&d, &[(30, "a", 5.0)])).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UniqueViolation);
        s.write(t, rows(&d, &[(31, "a", 3.0)])).await.unwrap();
        // Index built, then a flush: the flushed file is known, still the same keys.
        s.checkpoint().await.unwrap();
        {
            let tbl = s.table(t).unwrap();
            let td = tbl.lock();
            assert_eq!(td.keys.indexed(DAY), Some(2), "hours 30 and 31 of day 1");
            assert!(td.keys.is_valid(DAY, &td.manifest));
        }
        let e = s.write(t, rows(&d, &[(31, "a", 4.0)])).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UniqueViolation);
        s.write(t, rows(&d, &[(32, "a", 4.0)])).await.unwrap();
        // Crash: the last row is only in the WAL.
    }
    let s = Storage::open(config(dir.path())).unwrap();
    let d = s.catalog().table_by_id(t).cloned().unwrap();
    for r in [
        (0, "a", 0.0),
        (30, "a", 0.0),
        (31, "a", 0.0),
        (32, "a", 0.0),
    ] {
        let e = s.write(t, rows(&d, &[r])).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UniqueViolation, "{r:?}");
    }
    assert_eq!(all(&s, t).await.len(), 4);
}

#[tokio::test]
async fn delete_and_compaction_invalidate_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    let d = s.create_table(def("t")).await.unwrap();
    s.write(d.id, rows(&d, &[(0, "a", 1.0), (1, "a", 2.0)]))
        .await
        .unwrap();
    let hour1 = 3_600_000_000i64;
    s.delete_where(d.id, TimeRange::ALL, &|b: &RecordBatch| {
        Ok(b.column(0)
            .as_primitive::<TimestampMicrosecondType>()
            .iter()
            .map(|v| v.map(|v| v == hour1))
            .collect())
    })
    .await
    .unwrap();
    // The deleted key is free again; the other is still taken.
    s.write(d.id, rows(&d, &[(1, "a", 7.0)])).await.unwrap();
    assert!(s.write(d.id, rows(&d, &[(0, "a", 7.0)])).await.is_err());
    // Many flushes then a compaction: same keys, different files.
    for h in 2..(2 + COMPACT_MIN_FILES as i64) {
        s.write(d.id, rows(&d, &[(h, "b", h as f64)]))
            .await
            .unwrap();
        s.checkpoint().await.unwrap();
    }
    assert!(
        s.snapshot(d.id, TimeRange::ALL).unwrap().files.len() < COMPACT_MIN_FILES,
        "compacted"
    );
    assert!(s.write(d.id, rows(&d, &[(3, "b", 0.0)])).await.is_err());
    s.write(d.id, rows(&d, &[(3, "c", 0.0)])).await.unwrap();
}

/// Last write wins through the storage API: rows with new keys plus replacements.
async fn upsert(s: &Storage, d: &TableDef, r: &[(i64, &str, f64)]) {
    let b = rows(d, r);
    let g = s.lock_keys(d.id).await.unwrap();
    let look = s.lookup_keys(&g, &b, &[]).await.unwrap();
    let new: Vec<u32> = (0..b.num_rows() as u32)
        .filter(|&i| !look.exists[i as usize])
        .collect();
    let old: Vec<u32> = (0..b.num_rows() as u32)
        .filter(|&i| look.exists[i as usize])
        .collect();
    let (found, idx) = s
        .existing_rows(&g, &b, &old.iter().map(|&i| i as usize).collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(idx.iter().all(Option::is_some));
    assert_eq!(found.num_rows(), old.len());
    let ins = take_record_batch(&b, &UInt32Array::from(new)).unwrap();
    let rep = take_record_batch(&b, &UInt32Array::from(old)).unwrap();
    s.write_keyed(&g, vec![(d.id, ins)], Some(rep))
        .await
        .unwrap();
}

#[tokio::test]
async fn replacements_in_memtable_and_files_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let t;
    {
        let s = Storage::open(config(dir.path())).unwrap();
        let d = s.create_table(def("t")).await.unwrap();
        t = d.id;
        s.write(t, rows(&d, &[(0, "a", 1.0), (0, "b", 1.0)]))
            .await
            .unwrap();
        // In the memtable: replaced in place, one WAL Upsert record.
        upsert(&s, &d, &[(0, "a", 2.0), (0, "c", 2.0)]).await;
        assert_eq!(
            all(&s, t).await,
            owned(&[(0, "a", 2.0), (0, "b", 1.0), (0, "c", 2.0)])
        );
        s.checkpoint().await.unwrap();
        // In a file: rewritten.
        upsert(&s, &d, &[(0, "b", 3.0), (1, "b", 3.0)]).await;
        assert_eq!(
            all(&s, t).await,
            owned(&[(0, "a", 2.0), (0, "b", 3.0), (0, "c", 2.0), (1, "b", 3.0)])
        );
        // In the memtable again, then a crash: replay replaces by key.
        upsert(&s, &d, &[(1, "b", 4.0)]).await;
        s.write(t, rows(&d, &[(2, "b", 5.0)])).await.unwrap();
        upsert(&s, &d, &[(2, "b", 6.0), (1, "b", 7.0)]).await;
    }
    let s = Storage::open(config(dir.path())).unwrap();
    let expect = owned(&[
        (0, "a", 2.0),
        (0, "b", 3.0),
        (0, "c", 2.0),
        (1, "b", 7.0),
        (2, "b", 6.0),
    ]);
    assert_eq!(all(&s, t).await, expect);
    s.shutdown().await.unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    assert_eq!(all(&s, t).await, expect);
}

#[tokio::test]
async fn lookup_reports_stored_pending_and_repeated_keys() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    let d = s.create_table(def("t")).await.unwrap();
    s.write(d.id, rows(&d, &[(0, "a", 1.0)])).await.unwrap();
    let g = s.lock_keys(d.id).await.unwrap();
    let b = rows(
        &d,
        &[(0, "a", 1.0), (0, "b", 1.0), (0, "b", 2.0), (0, "c", 0.0)],
    );
    let pending = rows(&d, &[(0, "c", 1.0)]);
    let look = s.lookup_keys(&g, &b, &[pending]).await.unwrap();
    assert_eq!(look.exists, vec![true, false, false, true]);
    assert_eq!(look.dup_of, vec![None, None, Some(1), None]);
    assert_eq!(look.first_conflict(), Some(0));
    assert_eq!(
        encode_keys(&d, &b).unwrap()[1],
        encode_keys(&d, &b).unwrap()[2]
    );
}

#[tokio::test]
async fn index_keeps_a_bounded_number_of_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    let d = s.create_table(def("t")).await.unwrap();
    let n = MAX_INDEXED_PARTITIONS as i64 + 4;
    for day in 0..n {
        s.write(d.id, rows(&d, &[(day * 24, "a", 1.0)]))
            .await
            .unwrap();
    }
    {
        let tbl = s.table(d.id).unwrap();
        assert_eq!(tbl.lock().keys.parts.len(), MAX_INDEXED_PARTITIONS);
    }
    // An evicted partition is rebuilt when written again.
    let e = s.write(d.id, rows(&d, &[(0, "a", 2.0)])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UniqueViolation);
    assert_eq!(all(&s, d.id).await.len(), n as usize);
    // One write over more partitions than are kept: every one is checked.
    let many: Vec<(i64, &str, f64)> = (0..n).map(|day| (day * 24 + 1, "a", 1.0)).collect();
    s.write(d.id, rows(&d, &many)).await.unwrap();
    let mut dup = many.clone();
    dup[0].0 += 1;
    let e = s.write(d.id, rows(&d, &dup)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UniqueViolation);
    let Error::UniqueViolation { key, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(
        key.column(0)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        (24 + 1) * 3_600_000_000,
        "the first taken key in row order"
    );
    assert_eq!(all(&s, d.id).await.len(), 2 * n as usize);
}

#[tokio::test]
async fn concurrent_writers_of_one_key_cannot_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::open(config(dir.path())).unwrap();
    let d = s.create_table(def("t")).await.unwrap();
    let mut tasks = vec![];
    for k in 0..8 {
        let s = Arc::clone(&s);
        let d = Arc::clone(&d);
        tasks.push(tokio::spawn(async move {
            s.write(d.id, rows(&d, &[(0, "a", k as f64), (1, "a", k as f64)]))
                .await
                .is_ok()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap() as usize;
    }
    assert_eq!(ok, 1);
    assert_eq!(all(&s, d.id).await.len(), 2);
}
