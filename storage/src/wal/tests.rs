use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;

use super::*;
use crate::ids::TableId;

fn config(dir: &Path, segment_bytes: u64, fsync: FsyncPolicy) -> WalConfig {
    WalConfig {
        dir: dir.to_path_buf(),
        segment_bytes,
        fsync,
    }
}

fn payload(i: usize) -> Bytes {
    Bytes::from(format!("record-{i}-{}", "x".repeat(i % 37)))
}

fn all_records(segments: &[ReplayedSegment]) -> Vec<Bytes> {
    segments
        .iter()
        .flat_map(|s| s.records.iter().cloned())
        .collect()
}

fn seg_file(dir: &Path, id: u64) -> PathBuf {
    segment::segment_path(dir, SegmentId::new(id))
}

/// Writes `payloads` into a fresh WAL (segment 1) and shuts it down.
async fn write_one_segment(dir: &Path, payloads: &[Bytes]) {
    let wal = Wal::open(config(dir, u64::MAX, FsyncPolicy::Always)).unwrap();
    for p in payloads {
        assert_eq!(wal.append(p.clone()).await.unwrap(), SegmentId::new(1));
    }
    wal.shutdown().await.unwrap();
}

#[tokio::test]
async fn round_trip_across_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(config(tmp.path(), 200, FsyncPolicy::Always)).unwrap();
    assert_eq!(wal.current_segment(), SegmentId::new(1));
    let mut acked = Vec::new();
    for i in 0..120 {
        acked.push((wal.append(payload(i)).await.unwrap(), payload(i)));
    }
    let group = vec![payload(1000), payload(1001), payload(1002)];
    let group_seg = wal.append_many(group.clone()).await.unwrap();
    wal.shutdown().await.unwrap();

    let segments = Wal::replay(tmp.path()).unwrap();
    assert!(
        segments.len() >= 10,
        "expected many segments, got {}",
        segments.len()
    );
    assert!(
        acked.windows(2).all(|w| w[0].0 <= w[1].0),
        "segment ids must not decrease"
    );
    let mut expected: Vec<Bytes> = acked.iter().map(|(_, p)| p.clone()).collect();
    expected.extend(group.iter().cloned());
    assert_eq!(all_records(&segments), expected);
    for seg in &segments {
        let in_seg: Vec<&Bytes> = acked
            .iter()
            .filter(|(s, _)| *s == seg.id)
            .map(|(_, p)| p)
            .collect();
        if seg.id == group_seg {
            assert_eq!(
                &seg.records[seg.records.len() - 3..],
                &group[..],
                "append_many split"
            );
        } else {
            assert_eq!(seg.records.iter().collect::<Vec<_>>(), in_seg);
        }
        let len = std::fs::metadata(seg_file(tmp.path(), seg.id.as_u64()))
            .unwrap()
            .len();
        assert!(len <= 200, "segment {} is {len} bytes", seg.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appenders_acked_and_replayed_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(config(tmp.path(), 4096, FsyncPolicy::Always)).unwrap());
    let mut tasks = Vec::new();
    for t in 0..32 {
        let wal = Arc::clone(&wal);
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            for i in 0..40 {
                let p = Bytes::from(format!("task{t}-rec{i}"));
                acks.push((wal.append(p.clone()).await.unwrap(), p));
            }
            acks
        }));
    }
    let mut acked = HashMap::new();
    for task in tasks {
        for (seg, p) in task.await.unwrap() {
            assert!(acked.insert(p, seg).is_none());
        }
    }
    wal.shutdown().await.unwrap();
    let segments = Wal::replay(tmp.path()).unwrap();
    assert!(segments.len() > 1);
    let mut seen = HashSet::new();
    let mut last_index: HashMap<String, i64> = HashMap::new();
    for seg in &segments {
        for r in &seg.records {
            assert!(seen.insert(r.clone()), "record replayed twice: {r:?}");
            assert_eq!(
                acked.get(r),
                Some(&seg.id),
                "record in a different segment than acked"
            );
            let s = std::str::from_utf8(r).unwrap();
            let (task, i) = s.split_once("-rec").unwrap();
            let i: i64 = i.parse().unwrap();
            let prev = last_index.insert(task.to_string(), i).unwrap_or(-1);
            assert_eq!(prev + 1, i, "per-task order broken");
        }
    }
    assert_eq!(seen.len(), 32 * 40);
}

#[tokio::test]
async fn torn_tail_at_every_offset_is_truncated() {
    let src = tempfile::tempdir().unwrap();
    let payloads: Vec<Bytes> = (0..3)
        .map(|i| Bytes::from(format!("payload number {i} {}", "z".repeat(30))))
        .collect();
    write_one_segment(src.path(), &payloads).await;
    let full = std::fs::read(seg_file(src.path(), 1)).unwrap();
    let last_start = full.len() - (8 + payloads[2].len());
    for cut in last_start..full.len() {
        let tmp = tempfile::tempdir().unwrap();
        let path = seg_file(tmp.path(), 1);
        std::fs::write(&path, &full[..cut]).unwrap();
        let segments = Wal::replay(tmp.path()).unwrap();
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].records, payloads[..2], "cut at {cut}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            last_start as u64,
            "cut at {cut}"
        );
        // Sample: reopen, append, replay again.
        if cut % 7 == 0 || cut + 1 == full.len() {
            let wal = Wal::open(config(tmp.path(), u64::MAX, FsyncPolicy::Always)).unwrap();
            assert_eq!(
                wal.append(Bytes::from_static(b"after")).await.unwrap(),
                SegmentId::new(2)
            );
            wal.shutdown().await.unwrap();
            let segments = Wal::replay(tmp.path()).unwrap();
            assert_eq!(segments[0].records, payloads[..2]);
            assert_eq!(segments[1].id, SegmentId::new(2));
            assert_eq!(segments[1].records, vec![Bytes::from_static(b"after")]);
        }
    }
}

#[tokio::test]
async fn flipped_byte_in_last_record_drops_it() {
    let tmp = tempfile::tempdir().unwrap();
    let payloads: Vec<Bytes> = (0..4).map(payload).collect();
    write_one_segment(tmp.path(), &payloads).await;
    let path = seg_file(tmp.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let last_start = bytes.len() - (8 + payloads[3].len());
    bytes[last_start + 8 + 3] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let segments = Wal::replay(tmp.path()).unwrap();
    assert_eq!(segments[0].records, payloads[..3]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), last_start as u64);
    // Replaying again is stable.
    assert_eq!(Wal::replay(tmp.path()).unwrap()[0].records, payloads[..3]);
}

#[tokio::test]
async fn corruption_in_non_last_segment_stops_that_segment_only() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(config(tmp.path(), u64::MAX, FsyncPolicy::Always)).unwrap();
    let first: Vec<Bytes> = (0..4).map(payload).collect();
    wal.append_many(first.clone()).await.unwrap();
    wal.rotate().await.unwrap();
    wal.append(payload(99)).await.unwrap();
    wal.shutdown().await.unwrap();
    let path = seg_file(tmp.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let len_before = bytes.len();
    let second_payload = 12 + 8 + first[0].len() + 8; // corrupt the second record's payload
    bytes[second_payload] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let segments = Wal::replay(tmp.path()).unwrap();
    assert_eq!(segments[0].records, first[..1]);
    assert_eq!(segments[1].records, vec![payload(99)]);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        len_before as u64,
        "non-last segment must not be truncated"
    );
}

#[tokio::test]
async fn unknown_header_version_is_unsupported() {
    let tmp = tempfile::tempdir().unwrap();
    write_one_segment(tmp.path(), &[payload(1)]).await;
    let path = seg_file(tmp.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = Wal::replay(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedVersion {
                found: 7,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("00000000000000000001.wal"),
        "{err}"
    );
    bytes[..8].copy_from_slice(b"NOTAWAL!");
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        Wal::replay(tmp.path()).unwrap_err(),
        Error::Corrupt { .. }
    ));
}

#[tokio::test]
async fn torn_header_of_last_segment_is_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    write_one_segment(tmp.path(), &[payload(1)]).await;
    std::fs::write(seg_file(tmp.path(), 2), &MAGIC[..5]).unwrap();
    let segments = Wal::replay(tmp.path()).unwrap();
    assert_eq!(segments.len(), 2);
    assert!(segments[1].records.is_empty());
    assert_eq!(
        std::fs::metadata(seg_file(tmp.path(), 2)).unwrap().len(),
        segment::HEADER_LEN
    );
    let wal = Wal::open(config(tmp.path(), u64::MAX, FsyncPolicy::Always)).unwrap();
    assert_eq!(wal.current_segment(), SegmentId::new(3));
    wal.shutdown().await.unwrap();
}

#[tokio::test]
async fn rotate_semantics_and_remove_segments_before() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(config(tmp.path(), u64::MAX, FsyncPolicy::Always)).unwrap());
    let a = wal.append(payload(1)).await.unwrap();
    let b = wal.rotate().await.unwrap();
    assert!(b > a);
    assert_eq!(wal.current_segment(), b);
    assert_eq!(wal.append(payload(2)).await.unwrap(), b);
    // Appends racing with a rotation: those that returned before rotate() was called are below it.
    let rotating = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (w, flag) = (Arc::clone(&wal), Arc::clone(&rotating));
    let (started_tx, started) = oneshot::channel();
    let bg = tokio::spawn(async move {
        let mut ids = Vec::new();
        let mut started_tx = Some(started_tx);
        for i in 0..200 {
            let id = w.append(payload(i)).await.unwrap();
            ids.push((id, !flag.load(Ordering::SeqCst)));
            if i == 10 {
                let _ = started_tx.take().map(|tx| tx.send(()));
            }
        }
        ids
    });
    started.await.unwrap();
    rotating.store(true, Ordering::SeqCst);
    let c = wal.rotate().await.unwrap();
    let ids = bg.await.unwrap();
    assert!(c > b);
    assert!(ids.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(
        ids.iter().any(|(_, before)| *before),
        "no append finished before rotate; test is vacuous"
    );
    for (id, before) in &ids {
        assert!(
            !before || *id < c,
            "append acked in {id} before rotate() returned {c}"
        );
    }
    let segments = replay_copy(tmp.path());
    assert_eq!(segments[0].records, vec![payload(1)]);
    assert_eq!(segments[1].records[0], payload(2));

    let d = wal.rotate().await.unwrap();
    assert!(
        wal.remove_segments_before(d.next()).is_err(),
        "must not delete the open segment"
    );
    wal.remove_segments_before(c).unwrap();
    let left: Vec<SegmentId> = segment::list_segments(tmp.path())
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(left, vec![c, d]);
    wal.remove_segments_before(c).unwrap(); // idempotent
    wal.shutdown().await.unwrap();
}

/// Replays a copy of `dir`, so nothing is truncated under an open WAL.
fn replay_copy(dir: &Path) -> Vec<ReplayedSegment> {
    let copy = tempfile::tempdir().unwrap();
    for (id, path) in segment::list_segments(dir).unwrap() {
        std::fs::copy(path, segment::segment_path(copy.path(), id)).unwrap();
    }
    Wal::replay(copy.path()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_batches_concurrent_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(config(tmp.path(), u64::MAX, FsyncPolicy::Always)).unwrap());
    assert_eq!(wal.sync_count(), 0);
    wal.append(payload(0)).await.unwrap();
    assert_eq!(wal.sync_count(), 1, "Always must fdatasync before acking");

    // Natural concurrency: 100 tasks at once share far fewer than 100 syncs.
    let before = wal.sync_count();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let wal = Arc::clone(&wal);
            tokio::spawn(async move { wal.append(payload(i)).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let used = wal.sync_count() - before;
    assert!(used <= 50, "100 concurrent appends used {used} syncs");

    // Deterministic: with the writer paused, 100 queued appends are committed by exactly one sync.
    let resume = wal.pause_writer().await;
    let before = wal.sync_count();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let wal = Arc::clone(&wal);
            tokio::spawn(async move { wal.append(payload(i)).await.unwrap() })
        })
        .collect();
    let queued = async {
        while wal.queued_commands() < 100 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), queued)
        .await
        .expect("appends never queued up");
    resume.send(()).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(wal.sync_count() - before, 1);
    wal.shutdown().await.unwrap();
    assert_eq!(all_records(&Wal::replay(tmp.path()).unwrap()).len(), 201);
}

#[tokio::test]
async fn fsync_never_does_not_sync_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(config(tmp.path(), u64::MAX, FsyncPolicy::Never)).unwrap();
    for i in 0..10 {
        wal.append(payload(i)).await.unwrap();
    }
    assert_eq!(wal.sync_count(), 0);
    wal.shutdown().await.unwrap();
    assert_eq!(wal.sync_count(), 1, "shutdown syncs once");
    assert_eq!(all_records(&Wal::replay(tmp.path()).unwrap()).len(), 10);
}

#[tokio::test]
async fn shutdown_rejects_later_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(config(tmp.path(), u64::MAX, FsyncPolicy::Always)).unwrap();
    wal.append(payload(1)).await.unwrap();
    wal.shutdown().await.unwrap();
    assert!(matches!(
        wal.append(payload(2)).await,
        Err(Error::ShuttingDown)
    ));
    assert!(matches!(wal.rotate().await, Err(Error::ShuttingDown)));
    wal.shutdown().await.unwrap();
    assert_eq!(
        all_records(&Wal::replay(tmp.path()).unwrap()),
        vec![payload(1)]
    );
}

#[tokio::test]
async fn invalid_payloads_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(config(tmp.path(), u64::MAX, FsyncPolicy::Always)).unwrap();
    assert!(matches!(
        wal.append(Bytes::new()).await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(
        wal.append_many(Vec::new()).await.unwrap(),
        SegmentId::new(1)
    );
    wal.shutdown().await.unwrap();
}

#[tokio::test]
async fn failed_fsync_poisons_the_wal() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(config(tmp.path(), u64::MAX, FsyncPolicy::Always)).unwrap();
    wal.append(payload(1)).await.unwrap();
    wal.shared().fail_next_sync.store(true, Ordering::SeqCst);
    let err = wal.append(payload(2)).await.unwrap_err();
    assert!(err.to_string().contains("injected fsync failure"), "{err}");
    assert!(wal.is_poisoned());
    let err = wal.append(payload(3)).await.unwrap_err();
    assert!(err.to_string().contains("poisoned"), "{err}");
    assert!(wal.rotate().await.is_err());
    assert!(wal.shutdown().await.is_err());
}

fn sample_batch() -> RecordBatch {
    let meta = HashMap::from([(
        crate::schema::PG_TYPE_METADATA_KEY.to_string(),
        "jsonb".to_string(),
    )]);
    let schema = Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
        Field::new("host", DataType::Utf8, true),
        Field::new("doc", DataType::Utf8, true).with_metadata(meta),
        Field::new("value", DataType::Float64, true),
        Field::new("count", DataType::Int64, true),
        Field::new("ok", DataType::Boolean, true),
    ])
    .with_metadata(HashMap::from([("table".to_string(), "cpu".to_string())]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from(vec![
                1_700_000_000_000_000,
                1_700_000_001_000_000,
                1_700_000_002_000_000,
            ])
            .with_timezone("+00:00"),
        ),
        Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
        Arc::new(StringArray::from(vec![None, Some("{\"k\": 1}"), None])),
        Arc::new(Float64Array::from(vec![Some(1.5), Some(f64::MAX), None])),
        Arc::new(Int64Array::from(vec![None, Some(-7), Some(i64::MIN)])),
        Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).unwrap()
}

#[test]
fn record_encode_decode_round_trip() {
    let record = WalRecord::Insert {
        table: TableId::new(42),
        batch: sample_batch(),
    };
    let bytes = record.encode().unwrap();
    assert_eq!(bytes[0], 1);
    assert_eq!(&bytes[1..9], &42u64.to_le_bytes());
    let decoded = WalRecord::decode(&bytes).unwrap();
    assert_eq!(decoded, record);
    let WalRecord::Insert { batch, .. } = decoded else {
        panic!("expected an Insert record")
    };
    assert_eq!(
        batch
            .schema()
            .field(2)
            .metadata()
            .get(crate::schema::PG_TYPE_METADATA_KEY)
            .map(String::as_str),
        Some("jsonb")
    );
    assert_eq!(batch.column(1).null_count(), 1);
}

#[test]
fn record_decode_rejects_garbage() {
    let bytes = WalRecord::Insert {
        table: TableId::new(1),
        batch: sample_batch(),
    }
    .encode()
    .unwrap();
    let mut unknown = bytes.to_vec();
    unknown[0] = 9;
    let err = WalRecord::decode(&unknown).unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { .. })
            && err.to_string().contains("unknown record kind tag 9"),
        "{err}"
    );
    for cut in [0, 1, 5, 9, 12, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            matches!(WalRecord::decode(&bytes[..cut]), Err(Error::Corrupt { .. })),
            "cut at {cut}"
        );
    }
    let mut huge = bytes[..9].to_vec();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    huge.extend_from_slice(&[0u8; 4]);
    assert!(matches!(
        WalRecord::decode(&huge),
        Err(Error::Corrupt { .. })
    ));
}

/// Segments written before bodies were compressed buffer by buffer hold the whole IPC
/// stream as one LZ4 block behind its size, and sessions 22-23 one stream with every buffer
/// compressed: such records still decode. New bodies of a few
/// rows are plain IPC streams; of many repeated rows, one stream with compressed buffers.
#[test]
fn whole_stream_lz4_bodies_of_older_segments_still_decode() {
    let batch = sample_batch();
    let mut plain = Vec::new();
    {
        let mut w =
            arrow::ipc::writer::StreamWriter::try_new(&mut plain, batch.schema_ref()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
    }
    let mut old = vec![1u8];
    old.extend_from_slice(&11u64.to_le_bytes());
    old.extend_from_slice(&lz4_flex::compress_prepend_size(&plain));
    let expected = WalRecord::Insert {
        table: TableId::new(11),
        batch: batch.clone(),
    };
    assert_eq!(WalRecord::decode(&old).unwrap(), expected);

    // Sessions 22-23 wrote one IPC stream with every buffer compressed.
    let mut all_lz4 = vec![1u8];
    all_lz4.extend_from_slice(&11u64.to_le_bytes());
    {
        let options = arrow::ipc::writer::IpcWriteOptions::default()
            .try_with_compression(Some(arrow::ipc::CompressionType::LZ4_FRAME))
            .unwrap();
        let mut w = arrow::ipc::writer::StreamWriter::try_new_with_options(
            &mut all_lz4,
            batch.schema_ref(),
            options,
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
    }
    assert_eq!(WalRecord::decode(&all_lz4).unwrap(), expected);

    let new = expected.encode().unwrap();
    assert_eq!(
        &new[9..],
        &plain[..],
        "a batch of a few rows is one plain IPC stream"
    );
    let repetitive = RecordBatch::try_new(
        batch.schema(),
        batch
            .columns()
            .iter()
            .map(|c| {
                let parts: Vec<&dyn arrow::array::Array> = (0..200).map(|_| c.as_ref()).collect();
                arrow::compute::concat(&parts).unwrap()
            })
            .collect(),
    )
    .unwrap();
    let rec = WalRecord::Insert {
        table: TableId::new(11),
        batch: repetitive.clone(),
    };
    let bytes = rec.encode().unwrap();
    assert!(
        bytes.len() * 4 < repetitive.get_array_memory_size(),
        "{} bytes for {} bytes of repeated rows",
        bytes.len(),
        repetitive.get_array_memory_size()
    );
    assert_eq!(WalRecord::decode(&bytes).unwrap(), rec);
}

#[tokio::test]
async fn records_round_trip_through_the_wal() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(WalConfig::new(tmp.path())).unwrap();
    let record = WalRecord::Insert {
        table: TableId::new(3),
        batch: sample_batch(),
    };
    wal.append(record.encode().unwrap()).await.unwrap();
    wal.shutdown().await.unwrap();
    let segments = Wal::replay(tmp.path()).unwrap();
    assert_eq!(WalRecord::decode(&segments[0].records[0]).unwrap(), record);
}

#[test]
fn multi_insert_round_trip_and_truncation() {
    let record = WalRecord::InsertMany {
        entries: vec![
            (TableId::new(1), sample_batch()),
            (TableId::new(7), sample_batch().slice(0, 1)),
        ],
    };
    let bytes = record.encode().unwrap();
    assert_eq!(bytes[0], 2);
    assert_eq!(WalRecord::decode(&bytes).unwrap(), record);
    for cut in [1, 5, 13, bytes.len() / 2, bytes.len() - 1] {
        assert!(WalRecord::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn upsert_round_trip_and_truncation() {
    let record = WalRecord::Upsert {
        table: TableId::new(5),
        key_columns: vec!["ts".into(), "host".into()],
        batch: sample_batch(),
    };
    let bytes = record.encode().unwrap();
    assert_eq!(bytes[0], 3);
    assert_eq!(&bytes[1..9], &5u64.to_le_bytes());
    assert_eq!(WalRecord::decode(&bytes).unwrap(), record);
    for cut in [1, 5, 9, 10, 12, 15, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            matches!(WalRecord::decode(&bytes[..cut]), Err(Error::Corrupt { .. })),
            "cut at {cut}"
        );
    }
}

/// A batch of `rows` rows: timestamps ten seconds apart for 100 hosts (which LZ4 shrinks
/// many times), host names, and metrics that are random full-precision doubles (which it
/// cannot shrink), starting `offset` rows into larger arrays so that sliced columns are
/// sampled and written from their offset.
fn mixed_batch(rows: usize, offset: usize) -> RecordBatch {
    let total = rows + offset;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 11) as f64 / (1u64 << 53) as f64 * 100.0
    };
    let schema = Schema::new(vec![
        Field::new("m1", DataType::Float64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        )
        .with_metadata(HashMap::from([("k".to_string(), "v".to_string())])),
        Field::new("host", DataType::Utf8, true),
        Field::new("m2", DataType::Float64, true),
    ])
    .with_metadata(HashMap::from([("table".to_string(), "cpu".to_string())]));
    let m1: Float64Array = (0..total).map(|i| (i % 7 != 0).then(|| next())).collect();
    let m2: Float64Array = (0..total).map(|_| Some(next())).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(m1),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                (0..total).map(|i| 1_700_000_000_000_000 + (i / 100) as i64 * 10_000_000),
            )
            .with_timezone("+00:00"),
        ),
        Arc::new(StringArray::from_iter_values(
            (0..total).map(|i| format!("host_{}", i % 100)),
        )),
        Arc::new(m2),
    ];
    RecordBatch::try_new(Arc::new(schema), columns)
        .unwrap()
        .slice(offset, rows)
}

/// Columns LZ4 halves go into the compressed part of a split body, random doubles into the
/// plain part; the batch comes back whole, in column order, with its metadata, and is
/// smaller than the plain stream.
#[test]
fn split_bodies_compress_only_what_lz4_shrinks() {
    for offset in [0, 3] {
        let batch = mixed_batch(5000, offset);
        let record = WalRecord::Upsert {
            table: TableId::new(8),
            key_columns: vec!["ts".into()],
            batch: batch.clone(),
        };
        let bytes = record.encode().unwrap();
        let body = &bytes[1 + 8 + 2 + 2 + 2..];
        assert_eq!(&body[..8], &[0xFF; 8], "a split body");
        assert_eq!(&body[8..12], &4u32.to_le_bytes());
        assert_eq!(
            &body[12..16],
            &[0, 1, 1, 0],
            "timestamps and hosts compressed"
        );
        assert_eq!(WalRecord::decode(&bytes).unwrap(), record);
        let mut plain = Vec::new();
        {
            let mut w =
                arrow::ipc::writer::StreamWriter::try_new(&mut plain, batch.schema_ref()).unwrap();
            w.write(&batch).unwrap();
            w.finish().unwrap();
        }
        let floats = 2 * 5000 * 8;
        assert!(
            body.len() < floats + (plain.len() - floats) / 2,
            "{} bytes, plain stream {} bytes",
            body.len(),
            plain.len()
        );
    }
}

/// Every truncation of a split body, and flags that do not match its parts, are reported
/// as corruption, never a panic or a wrong batch.
#[test]
fn damaged_split_bodies_are_corrupt() {
    let record = WalRecord::InsertMany {
        entries: vec![
            (TableId::new(1), mixed_batch(300, 0)),
            (TableId::new(2), sample_batch()),
        ],
    };
    let bytes = record.encode().unwrap();
    assert_eq!(&bytes[1 + 4 + 8 + 4..][..8], &[0xFF; 8], "a split body");
    assert_eq!(WalRecord::decode(&bytes).unwrap(), record);
    for cut in 1..bytes.len() {
        assert!(
            matches!(WalRecord::decode(&bytes[..cut]), Err(Error::Corrupt { .. })),
            "cut at {cut}"
        );
    }
    let flags = 1 + 4 + 8 + 4 + 8 + 4;
    for (at, value) in [(flags, 1u8), (flags + 1, 0), (flags + 2, 2), (flags - 4, 5)] {
        let mut bad = bytes.to_vec();
        bad[at] = value;
        let err = WalRecord::decode(&bad).unwrap_err();
        assert!(
            matches!(err, Error::Corrupt { .. }),
            "byte {at} = {value}: {err}"
        );
    }
}
