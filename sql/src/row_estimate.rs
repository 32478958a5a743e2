//! How many rows a scan will read, estimated from what storage knows without reading
//! them: each file's and memtable partition's row count and time extent, and the runs of
//! the series the query names ([`strata_storage::manifest::SeriesTails`]).
//!
//! The estimate decides a scan's partition count ([`partitions_for`]). A dashboard query
//! for one host over an hour reads a few hundred rows; spread over two partitions it paid
//! for a second task, a hash repartition and the wake-ups between them, about a seventh
//! of its time (docs/performance.md, "Session 16"). With one partition, and the estimate
//! reported to DataFusion as the scan's statistics, the plan stays on one partition and
//! its aggregate runs in one step.
//!
//! The estimate assumes a file's rows are spread evenly over its time extent. Every row of
//! a memtable partition the range overlaps counts: the scan hands them all to the filter
//! above it (a memtable has no series list or page index to skip by), so a large
//! memtable never makes a scan look small.

use strata_storage::{RowOutline, TimeRange};

use crate::series_scan::{KeyValues, series_rows};

/// The rows of `outline` a scan of `range` reads, for a table with a time column if
/// `timed`, and of the series `keys` allows if given.
pub(crate) fn expected_rows(
    outline: &RowOutline,
    range: TimeRange,
    timed: bool,
    keys: Option<&KeyValues>,
) -> u64 {
    let share = |min: i64, max: i64| {
        if timed {
            time_share(range, min, max)
        } else {
            1.0
        }
    };
    let mut rows = 0.0;
    for f in &outline.files {
        let share = share(f.min_time, f.max_time);
        if share == 0.0 {
            continue;
        }
        // The rows of the file the scan may read, and at least how many of them it reads
        // if the range is any instant of the file: one per series (a file of a table
        // without series runs may hold all its rows at one instant).
        let (in_file, floor) = match keys.and_then(|k| series_rows(f, k)) {
            Some(runs) => {
                let n: u64 = runs.runs.iter().map(|r| r.rows.end - r.rows.start).sum();
                (n, runs.runs.len() as u64)
            }
            None => (
                f.rows,
                f.tails.as_ref().map_or(f.rows, |t| t.ranges.len() as u64),
            ),
        };
        rows += (in_file as f64 * share).max(floor.min(in_file) as f64);
    }
    for p in &outline.memtable {
        if !timed || range.overlaps(p.min_time, p.max_time) {
            rows += p.rows as f64;
        }
    }
    rows.round() as u64
}

/// The share of rows between `min` and `max` (inclusive) that fall in `range`
/// (inclusive), for rows spread evenly: a range of one instant takes one instant's share.
fn time_share(range: TimeRange, min: i64, max: i64) -> f64 {
    if !range.overlaps(min, max) {
        return 0.0;
    }
    let lo = range.min.max(min) as f64;
    let hi = range.max.min(max) as f64;
    ((hi - lo + 1.0) / (max as f64 - min as f64 + 1.0)).clamp(0.0, 1.0)
}

/// How many partitions a scan of `rows` rows gets: one when a single batch holds them
/// (where DataFusion itself stops adding parallelism, given the rows as statistics),
/// otherwise the session's `target_partitions`.
pub(crate) fn partitions_for(rows: u64, batch_size: usize, target_partitions: usize) -> usize {
    if rows <= batch_size as u64 {
        1
    } else {
        target_partitions.max(1)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use strata_storage::Extent;
    use strata_storage::manifest::{FileMeta, SeriesTails, Tier};

    use super::*;

    const HOUR: i64 = 3_600_000_000;

    fn file(rows: u64, min: i64, max: i64, series: &[&str]) -> FileMeta {
        let per = rows / series.len().max(1) as u64;
        let tails = (!series.is_empty()).then(|| {
            Arc::new(SeriesTails {
                keys: vec!["host".into()],
                time: "time".into(),
                ranges: (0..series.len() as u64)
                    .map(|i| [i * per + per - 1, 1])
                    .collect(),
                series: series
                    .iter()
                    .map(|s| serde_json::to_string(&[s]).unwrap())
                    .collect(),
                latest: vec![],
                lookup: Default::default(),
            })
        });
        FileMeta {
            id: Default::default(),
            path: "f.parquet".into(),
            partition: 0,
            min_time: min,
            max_time: max,
            rows,
            size_bytes: 0,
            tier: Tier::Hot,
            tails,
        }
    }

    fn hosts(values: &[&str]) -> KeyValues {
        KeyValues::of(&[("host", values)])
    }

    #[test]
    fn a_window_of_a_file_takes_its_share_of_rows() {
        let outline = RowOutline {
            memtable: vec![],
            files: vec![file(24_000, 0, 24 * HOUR, &["a"])],
        };
        let hour = TimeRange {
            min: 5 * HOUR,
            max: 6 * HOUR,
        };
        assert_eq!(expected_rows(&outline, hour, true, None), 1000);
        assert_eq!(expected_rows(&outline, TimeRange::ALL, true, None), 24_000);
        // Without a time column every row counts.
        assert_eq!(expected_rows(&outline, hour, false, None), 24_000);
    }

    #[test]
    fn named_series_take_their_runs_instants_a_row_per_series_and_memtables_all_rows() {
        let outline = RowOutline {
            memtable: vec![Extent {
                rows: 4000,
                min_time: 24 * HOUR,
                max_time: 28 * HOUR,
            }],
            files: vec![file(24_000, 0, 24 * HOUR, &["a", "b", "c", "d"])],
        };
        let keys = hosts(&["b"]);
        // A quarter of the file's rows are b's, a 24th of them in the hour.
        let hour = TimeRange { min: 0, max: HOUR };
        assert_eq!(expected_rows(&outline, hour, true, Some(&keys)), 250);
        // Every row of the memtable: the scan filters them all.
        let later = TimeRange {
            min: 24 * HOUR + 1,
            max: 30 * HOUR,
        };
        assert_eq!(expected_rows(&outline, later, true, Some(&keys)), 4000);
        // One instant of the file: at least one row per series (b's, or all four).
        let instant = TimeRange {
            min: 5 * HOUR,
            max: 5 * HOUR,
        };
        assert_eq!(expected_rows(&outline, instant, true, Some(&keys)), 1);
        assert_eq!(expected_rows(&outline, instant, true, None), 4);
        // A file without series runs may hold all its rows at that instant.
        let plain = RowOutline {
            memtable: vec![],
            files: vec![file(24_000, 0, 24 * HOUR, &[])],
        };
        assert_eq!(expected_rows(&plain, instant, true, None), 24_000);
        // A value no file holds reads nothing from files.
        assert_eq!(expected_rows(&outline, hour, true, Some(&hosts(&["z"]))), 0);
    }

    #[test]
    fn one_batch_of_rows_is_one_partition() {
        assert_eq!(partitions_for(0, 8192, 4), 1);
        assert_eq!(partitions_for(8192, 8192, 4), 1);
        assert_eq!(partitions_for(8193, 8192, 4), 4);
        assert_eq!(partitions_for(10, 8192, 0), 1);
    }
}
