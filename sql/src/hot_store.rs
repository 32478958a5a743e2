//! The object store DataFusion reads hot Parquet files through: object_store's
//! `LocalFileSystem`, except that a large multi-range read maps the file instead of copying
//! it.
//!
//! `LocalFileSystem::get_ranges` reads each range into a new buffer: the buffer is zeroed,
//! then the kernel copies the page-cache pages into it. For a scan over a whole partition
//! (double-groupby-all reads about 35 MB) the copy and the zeroing were a fifth of the
//! query's CPU (docs/performance.md, "Session 17"), and reading into uninitialised buffers
//! instead saved the zeroing but not the copy. Here a request whose ranges add up to
//! [`MAP_AT_LEAST`] bytes or more maps the parts of the file they cover and hands out
//! slices of the mappings, so the Parquet decoder reads the page cache in place. Small
//! requests (a footer, one series' pages) stay on `LocalFileSystem`'s `pread`: a mapping
//! costs an `open`, an `mmap` and an unmap, which a copy of a few kilobytes does not
//! need (not measured on its own; session 17's direct reads, which also opened the file
//! per request, made the one-host queries slower).
//!
//! object_store has no memory-mapped store of its own, hence this wrapper.

use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// Requests whose ranges add up to fewer bytes than this are read with `pread`.
pub const MAP_AT_LEAST: u64 = 256 * 1024;

/// The hot tier's object store (see the module docs).
#[derive(Debug)]
pub struct HotStore {
    local: LocalFileSystem,
    map_at_least: u64,
}

impl HotStore {
    /// A store rooted at the data directory `root`.
    pub fn new(root: impl AsRef<std::path::Path>) -> object_store::Result<HotStore> {
        Ok(HotStore {
            local: LocalFileSystem::new_with_prefix(root)?,
            map_at_least: MAP_AT_LEAST,
        })
    }

    /// The same store with another mapping threshold (tests map small files).
    pub fn with_map_at_least(mut self, bytes: u64) -> HotStore {
        self.map_at_least = bytes;
        self
    }
}

impl fmt::Display for HotStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HotStore({})", self.local)
    }
}

fn generic(source: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
    object_store::Error::Generic {
        store: "HotStore",
        source: Box::new(source),
    }
}

/// A range a request asked for that the file does not hold.
#[derive(Debug, thiserror::Error)]
#[error("range {start}..{end} is outside {path}, which holds {len} bytes")]
struct OutOfRange {
    path: String,
    start: u64,
    end: u64,
    len: u64,
}

/// Maps the parts of `file` that `ranges` cover (one mapping per run of nearby ranges)
/// and returns one slice of a mapping per range.
fn map_ranges(
    file: PathBuf,
    location: &Path,
    ranges: &[Range<u64>],
) -> object_store::Result<Vec<Bytes>> {
    let f = File::open(&file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => object_store::Error::NotFound {
            path: location.to_string(),
            source: Box::new(e),
        },
        _ => generic(e),
    })?;
    let len = f.metadata().map_err(generic)?.len();
    for r in ranges {
        if r.start > r.end || r.end > len {
            return Err(generic(OutOfRange {
                path: location.to_string(),
                start: r.start,
                end: r.end,
                len,
            }));
        }
    }
    // One mapping per run of ranges less than `MAP_GAP` apart (a scan's column chunks of one
    // row group are usually adjacent; the columns it does not read are not faulted in).
    let mut order: Vec<usize> = (0..ranges.len())
        .filter(|&i| !ranges[i].is_empty())
        .collect();
    order.sort_by_key(|&i| ranges[i].start);
    let mut out = vec![Bytes::new(); ranges.len()];
    let mut run = order.as_slice();
    while let Some(&first) = run.first() {
        let lo = ranges[first].start;
        let mut hi = ranges[first].end;
        let mut n = 1;
        while let Some(&i) = run.get(n) {
            if ranges[i].start > hi.saturating_add(MAP_GAP) {
                break;
            }
            hi = hi.max(ranges[i].end);
            n += 1;
        }
        let whole = map_span(&f, lo, hi)?;
        for &i in &run[..n] {
            let r = &ranges[i];
            out[i] = whole.slice(offset(r.start - lo)?..offset(r.end - lo)?);
        }
        run = &run[n..];
    }
    Ok(out)
}

/// Ranges closer than this share a mapping.
const MAP_GAP: u64 = 64 * 1024;

fn offset(n: u64) -> object_store::Result<usize> {
    usize::try_from(n).map_err(generic)
}

/// Maps bytes `lo..hi` (not empty) of `f`. Pages are faulted in when first read (the
/// kernel maps the neighbours of a cached page with it); `MAP_POPULATE`, which maps the
/// whole span at once, was slower (docs/performance.md, "Session 19"): a span usually
/// holds columns and pages the scan skips.
fn map_span(f: &File, lo: u64, hi: u64) -> object_store::Result<Bytes> {
    // SAFETY: a mapping is sound while no one truncates or rewrites the file under it. Hot
    // files are written under a temporary name, fsynced, renamed into place and never
    // written again (`strata_storage`'s flush and compaction); they are only ever
    // unlinked, and an unlinked file's pages stay mapped until the last slice is dropped.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(lo)
            .len(offset(hi - lo)?)
            .map(f)
    }
    .map_err(generic)?;
    Ok(Bytes::from_owner(map))
}

#[async_trait]
impl ObjectStore for HotStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.local.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.local.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.local.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let total: u64 = ranges.iter().map(|r| r.end.saturating_sub(r.start)).sum();
        if total < self.map_at_least {
            return self.local.get_ranges(location, ranges).await;
        }
        let file = self.local.path_to_filesystem(location)?;
        let location = location.clone();
        let ranges = ranges.to_vec();
        // Opening and mapping a file are quick, but `open` on a busy disk can wait: off the
        // async threads, as LocalFileSystem's reads are.
        tokio::task::spawn_blocking(move || map_ranges(file, &location, &ranges))
            .await
            .map_err(generic)?
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.local.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.local.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.local.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.local.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.local.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.local.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &tempfile::TempDir, map_at_least: u64) -> HotStore {
        HotStore::new(dir.path())
            .unwrap()
            .with_map_at_least(map_at_least)
    }

    fn write(dir: &tempfile::TempDir, name: &str, len: usize) -> Vec<u8> {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(dir.path().join(name), &data).unwrap();
        data
    }

    #[tokio::test]
    async fn mapped_ranges_equal_copied_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let data = write(&dir, "f.parquet", 100_000);
        let ranges = [
            10..20,
            4096..9000,
            0..1,
            99_990..100_000,
            50..50,
            70_000..90_000,
        ];
        let path = Path::from("f.parquet");
        let mapped = store(&dir, 0).get_ranges(&path, &ranges).await.unwrap();
        let copied = store(&dir, u64::MAX)
            .get_ranges(&path, &ranges)
            .await
            .unwrap();
        assert_eq!(mapped, copied);
        for (r, b) in ranges.iter().zip(&mapped) {
            assert_eq!(b.as_ref(), &data[r.start as usize..r.end as usize]);
        }
    }

    #[tokio::test]
    async fn slices_outlive_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let data = write(&dir, "g.parquet", 300_000);
        let path = Path::from("g.parquet");
        let got = store(&dir, 0)
            .get_ranges(&path, &[1000..280_000])
            .await
            .unwrap();
        std::fs::remove_file(dir.path().join("g.parquet")).unwrap();
        assert_eq!(got[0].as_ref(), &data[1000..280_000]);
    }

    #[tokio::test]
    async fn bad_ranges_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir, "h.parquet", 1000);
        let s = store(&dir, 0);
        let err = s
            .get_ranges(&Path::from("h.parquet"), &[0..10, 900..1001])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("900..1001"), "{err}");
        let err = s
            .get_ranges(&Path::from("nope.parquet"), &[0..10])
            .await
            .unwrap_err();
        assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
    }
}
