//! Per-table manifest: the list of published Parquet files, in `tables/<id>/manifest.json`.
//!
//! Invariant: a Parquet file is visible to readers iff the manifest lists it. Files are
//! written under a temporary name, fsynced and renamed before the manifest that lists them
//! is published; files not listed in the manifest at start-up are leftovers of a crash and
//! are deleted. Paths are relative to the data directory (no absolute paths persisted).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::ids::{FileId, SegmentId, TableId};

/// Version of `manifest.json` this binary writes and the newest it reads. Version 2 adds
/// `tier` to files; a manifest without cold files is still written as version 1, so an
/// older binary can open a data directory that never used the cold store.
pub const MANIFEST_FORMAT_VERSION: u32 = 2;

/// Where a file lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Local disk, under the data directory.
    #[default]
    Hot,
    /// The cold object store, under its prefix (same relative path).
    Cold,
}

impl Tier {
    pub fn is_hot(&self) -> bool {
        *self == Tier::Hot
    }

    /// `hot` or `cold`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Cold => "cold",
        }
    }
}

/// One published Parquet file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    pub id: FileId,
    /// Path relative to the data directory, `/`-separated.
    pub path: String,
    /// Start of the time partition this file belongs to (microseconds since epoch).
    pub partition: i64,
    /// Min and max of the time column in the file (microseconds); for tables without a
    /// time column both are 0.
    pub min_time: i64,
    pub max_time: i64,
    pub rows: u64,
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Tier::is_hot")]
    pub tier: Tier,
    /// Where each series' latest rows are in the file, if known (files written before
    /// this existed, and files of more than [`MAX_SERIES_TAILS`] series, have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tails: Option<std::sync::Arc<SeriesTails>>,
}

/// Files with more series than this keep no [`SeriesTails`] (the manifest, rewritten on
/// every flush, would grow by two numbers per series per file).
pub const MAX_SERIES_TAILS: usize = 10_000;

/// The rows of a file at each series' latest time: in a file sorted by the series columns
/// then time, the end of each series' run of rows. A query for the latest row of every
/// series (`DISTINCT ON (series) ... ORDER BY series, time DESC`, TSBS `lastpoint`) reads
/// only these rows of the file instead of all of them (see the SQL layer's
/// `latest_per_series`).
///
/// Kept in the manifest, not in the file: the planner needs it before opening any file.
/// A missing or stale entry is never wrong, only slower: files are immutable, a rewrite
/// (DELETE, UPDATE, compaction, tiering) writes a new file with its own tails, and a
/// reader that finds none reads the whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesTails {
    /// The columns whose values name a series (the file's leading sort columns), in sort
    /// order: a run of rows with equal values of all of them is one series.
    pub keys: Vec<String>,
    /// The time column the rows of a run are sorted by.
    pub time: String,
    /// `[first row, row count]` of each series' rows at its latest time, ascending.
    /// Stored as one string, `"first+count first+count ..."` (a manifest of JSON arrays
    /// took ~40 bytes per series and file, pretty-printed).
    #[serde(with = "ranges_text")]
    pub ranges: Vec<[u64; 2]>,
    /// Each series' values of `keys`, in the order of `ranges`: a JSON array of the
    /// values as Arrow displays them (NULL as `null`). With `latest`, a reader skips the
    /// series of a file whose latest time another file's same series exceeds.
    /// Stored as one string, one series per line (JSON escapes newlines in values).
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "lines_text")]
    pub series: Vec<String>,
    /// Each series' latest time (microseconds), in the order of `ranges`; stored as one
    /// space-separated string.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "numbers_text")]
    pub latest: Vec<i64>,
    /// Where each entry of `series` is, built on first use ([`SeriesTails::position`]).
    #[serde(skip)]
    pub lookup: SeriesLookup,
}

/// [`SeriesTails::series`] sorted by a hash of each name, so that a query for a few
/// series finds their runs in a file of thousands without comparing every name (a
/// one-host query over 1000-host files spent ~10 % of its time doing that). Built once
/// per file's tails, on first use; 16 bytes per series.
/// Also whether `ranges` ascend, and where the last one ends ([`SeriesTails::rows_covered`]).
#[derive(Debug, Clone, Default)]
pub struct SeriesLookup(std::sync::Arc<std::sync::OnceLock<Lookup>>);

#[derive(Debug)]
struct Lookup {
    /// (hash of a name, its position), sorted.
    by_hash: Vec<(u64, u32)>,
    /// The end of the last run if the runs ascend (each starts at or after the end of the
    /// one before); None if they do not.
    covered: Option<u64>,
}

/// The lookup is derived from the other fields: equal tails are equal whatever it holds.
impl PartialEq for SeriesLookup {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

fn name_hash(name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same name hashes the same in every lookup.
    let mut h = std::hash::DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

impl SeriesTails {
    /// The positions in `series` (and `ranges`) of the entries equal to `name`, ascending
    /// (one, unless the list repeats a name).
    pub fn position(&self, name: &str) -> Vec<usize> {
        let sorted = &self.lookup().by_hash;
        let h = name_hash(name);
        let from = sorted.partition_point(|(x, _)| *x < h);
        sorted[from..]
            .iter()
            .take_while(|(x, _)| *x == h)
            .map(|(_, i)| *i as usize)
            .filter(|&i| self.series.get(i).is_some_and(|s| s == name))
            .collect()
    }

    /// The rows the runs cover from row 0, if they ascend: the tails describe a file of
    /// `n` rows only if this is `Some(n)`. Checked once per file's tails.
    pub fn rows_covered(&self) -> Option<u64> {
        self.lookup().covered
    }

    fn lookup(&self) -> &Lookup {
        self.lookup.0.get_or_init(|| {
            let mut by_hash: Vec<(u64, u32)> = self
                .series
                .iter()
                .enumerate()
                .filter_map(|(i, s)| Some((name_hash(s), u32::try_from(i).ok()?)))
                .collect();
            by_hash.sort_unstable();
            let mut covered = Some(0u64);
            for [first, n] in &self.ranges {
                covered = covered
                    .filter(|start| first >= start)
                    .and_then(|_| first.checked_add(*n));
            }
            Lookup { by_hash, covered }
        })
    }
}

/// [`SeriesTails::series`] as text: one entry per line.
mod lines_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(lines: &[String], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&lines.join("\n"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let text = String::deserialize(d)?;
        Ok(text.split('\n').map(str::to_string).collect())
    }
}

/// [`SeriesTails::latest`] as text: space-separated integers.
mod numbers_text {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(numbers: &[i64], s: S) -> Result<S::Ok, S::Error> {
        let text: Vec<String> = numbers.iter().map(i64::to_string).collect();
        s.serialize_str(&text.join(" "))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
        let text = String::deserialize(d)?;
        text.split_ascii_whitespace()
            .map(|n| n.parse().map_err(D::Error::custom))
            .collect()
    }
}

/// [`SeriesTails::ranges`] as text.
mod ranges_text {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ranges: &[[u64; 2]], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(ranges.len() * 10);
        for (i, [first, n]) in ranges.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&format!("{first}+{n}"));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u64; 2]>, D::Error> {
        let text = String::deserialize(d)?;
        text.split_ascii_whitespace()
            .map(|r| {
                let (first, n) = r
                    .split_once('+')
                    .ok_or_else(|| D::Error::custom(format!("series tail range {r:?}")))?;
                Ok([
                    first.parse().map_err(D::Error::custom)?,
                    n.parse().map_err(D::Error::custom)?,
                ])
            })
            .collect()
    }
}

/// The manifest of one table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub table: TableId,
    pub next_file_id: u64,
    /// WAL records of this table in segments before this one are already in `files`.
    pub replay_from: SegmentId,
    pub files: Vec<FileMeta>,
}

impl Manifest {
    /// An empty manifest for a new table.
    pub fn new(table: TableId, replay_from: SegmentId) -> Self {
        Manifest {
            format_version: MANIFEST_FORMAT_VERSION,
            table,
            next_file_id: 1,
            replay_from,
            files: vec![],
        }
    }

    /// Allocates the next file id.
    pub fn allocate_file_id(&mut self) -> FileId {
        let id = FileId::new(self.next_file_id);
        self.next_file_id += 1;
        id
    }
}

/// Directory of a table inside the data directory (relative).
pub fn table_dir_rel(table: TableId) -> String {
    format!("tables/{:010}", table.as_u64())
}

/// Path of the manifest of a table.
pub fn manifest_path(data_dir: &Path, table: TableId) -> PathBuf {
    data_dir.join(table_dir_rel(table)).join("manifest.json")
}

/// Relative path of a new Parquet file.
pub fn file_path_rel(table: TableId, partition: i64, file: FileId) -> String {
    format!(
        "{}/p{}/{:020}.parquet",
        table_dir_rel(table),
        partition,
        file.as_u64()
    )
}

/// Loads a table's manifest; a missing one is an empty manifest.
pub fn load(data_dir: &Path, table: TableId) -> Result<Manifest> {
    let path = manifest_path(data_dir, table);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                    what: "manifest",
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
            let version = v
                .get("format_version")
                .and_then(|v| v.as_u64())
                .unwrap_or(0) as u32;
            if version > MANIFEST_FORMAT_VERSION || version == 0 {
                return Err(Error::UnsupportedVersion {
                    what: format!("manifest {}", path.display()),
                    found: version,
                    supported: MANIFEST_FORMAT_VERSION,
                });
            }
            serde_json::from_value(v).map_err(|e| Error::Corrupt {
                what: "manifest",
                path,
                detail: e.to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Manifest::new(table, SegmentId::new(0)))
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Publishes a manifest atomically.
pub fn store(data_dir: &Path, m: &Manifest) -> Result<()> {
    let path = manifest_path(data_dir, m.table);
    let mut m = m.clone();
    m.format_version = if m.files.iter().any(|f| !f.tier.is_hot()) {
        2
    } else {
        1
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    write_atomic(&path, &serde_json::to_vec_pretty(&m)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(tails: Option<SeriesTails>) -> FileMeta {
        FileMeta {
            id: FileId::new(7),
            path: "tables/0000000001/p0/00000000000000000007.parquet".into(),
            partition: 0,
            min_time: 1,
            max_time: 9,
            rows: 100,
            size_bytes: 1000,
            tier: Tier::Hot,
            tails: tails.map(std::sync::Arc::new),
        }
    }

    #[test]
    fn series_positions_are_found_by_name() {
        let series: Vec<String> = (0..3000)
            .map(|i| format!(r#"["host_{i}"]"#))
            .chain([r#"["host_7"]"#.to_string()])
            .collect();
        let t = SeriesTails {
            keys: vec!["host".into()],
            time: "ts".into(),
            ranges: (0..series.len() as u64).map(|i| [i, 1]).collect(),
            series,
            latest: vec![],
            lookup: Default::default(),
        };
        assert_eq!(t.position(r#"["host_2999"]"#), vec![2999]);
        assert_eq!(t.position(r#"["host_0"]"#), vec![0]);
        // A repeated name is found at each of its positions; a missing one nowhere.
        assert_eq!(t.position(r#"["host_7"]"#), vec![7, 3000]);
        assert!(t.position(r#"["host_3000"]"#).is_empty());
        assert!(t.position("host_1").is_empty());
        // A clone shares the lookup built by the first query.
        let c = t.clone();
        assert!(c.lookup.0.get().is_some());
        assert_eq!(c.position(r#"["host_12"]"#), vec![12]);
        assert_eq!(t.rows_covered(), Some(3001));
        // Runs that go back cover nothing.
        let back = SeriesTails {
            ranges: vec![[5, 1], [3, 1]],
            series: vec![r#"["a"]"#.into(), r#"["b"]"#.into()],
            lookup: Default::default(),
            ..t
        };
        assert_eq!(back.rows_covered(), None);
    }

    #[test]
    fn series_tails_round_trip_as_text_and_are_optional() {
        let f = file(Some(SeriesTails {
            keys: vec!["host".into(), "dc".into()],
            time: "ts".into(),
            ranges: vec![[9, 1], [40, 3], [99, 1]],
            series: vec![
                r#"["a","x"]"#.into(),
                r#"["b",null]"#.into(),
                r#"[null,"y"]"#.into(),
            ],
            latest: vec![5, 9, -3],
            lookup: Default::default(),
        }));
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains(r#""ranges":"9+1 40+3 99+1""#), "{json}");
        assert!(json.contains(r#""latest":"5 9 -3""#), "{json}");
        assert!(
            json.contains(r#""series":"[\"a\",\"x\"]\n[\"b\",null]\n[null,\"y\"]""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<FileMeta>(&json).unwrap(), f);
        // a manifest written before tails existed
        let old = json.split(r#","tails""#).next().unwrap().to_string() + "}";
        assert_eq!(serde_json::from_str::<FileMeta>(&old).unwrap(), file(None));
        // a damaged range is an error, not a wrong selection
        let bad = json.replace("40+3", "40-3");
        assert!(serde_json::from_str::<FileMeta>(&bad).is_err());
    }
}
