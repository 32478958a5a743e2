//! A bounded in-memory block cache in front of the cold store, for query reads.
//!
//! Queries read cold Parquet files with ranged requests (footer, page index, the column
//! chunks that survive pruning). Dashboards read the same recent-but-cold ranges again and
//! again; each request to S3 costs 10-50 ms. This wrapper keeps 1 MiB-aligned blocks of
//! objects in memory, least recently used out first, bounded by a byte budget
//! (`cold_cache_mb` in the config). Cold files are immutable (a rewrite writes a new file
//! id), so cached blocks never go stale.
//!
//! Written here rather than taken from a crate: the caching wrappers published for
//! object_store either cache only exact ranges (footers) or come with their own cache
//! service and runtime; we need a small, block-aligned, byte-bounded cache.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, Result,
};
use parking_lot::Mutex;

/// Cache granularity.
const BLOCK: u64 = 1024 * 1024;

/// An object store that serves bounded range reads from a block cache.
#[derive(Debug)]
pub struct BlockCacheStore {
    inner: Arc<dyn ObjectStore>,
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// (object, block index) -> (bytes, last use).
    blocks: HashMap<(Path, u64), (Bytes, u64)>,
    /// Object metadata (size), from the first HEAD.
    metas: HashMap<Path, ObjectMeta>,
    bytes: usize,
    clock: u64,
    hits: u64,
    misses: u64,
}

/// Cache counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

impl BlockCacheStore {
    /// Wraps `inner` with a cache of at most `capacity` bytes (0 disables caching).
    pub fn new(inner: Arc<dyn ObjectStore>, capacity: usize) -> Self {
        BlockCacheStore {
            inner,
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    /// Hits, misses (in blocks) and bytes held.
    pub fn stats(&self) -> CacheStats {
        let s = self.state.lock();
        CacheStats {
            bytes: s.bytes,
            hits: s.hits,
            misses: s.misses,
        }
    }

    /// The bytes of `range` of `location` and the object's metadata, from cached blocks
    /// and one request for the missing ones. No HEAD: the first ranged response carries
    /// the object's size, and a block range past the end is clipped by the store.
    async fn read(&self, location: &Path, range: Range<u64>) -> Result<(Bytes, ObjectMeta)> {
        let known = self.state.lock().metas.get(location).cloned();
        let end = known.as_ref().map_or(range.end, |m| range.end.min(m.size));
        if range.start >= end {
            // Past the end (or empty): let the store answer as it does.
            let r = self
                .inner
                .get_opts(
                    location,
                    GetOptions {
                        range: Some(GetRange::Bounded(range)),
                        ..Default::default()
                    },
                )
                .await?;
            let meta = r.meta.clone();
            return Ok((r.bytes().await?, meta));
        }
        let (first, last) = (range.start / BLOCK, (end - 1) / BLOCK);
        let mut have: Vec<Option<Bytes>> = {
            let mut s = self.state.lock();
            s.clock += 1;
            let now = s.clock;
            let got: Vec<Option<Bytes>> = (first..=last)
                .map(|b| {
                    s.blocks.get_mut(&(location.clone(), b)).map(|e| {
                        e.1 = now;
                        e.0.clone()
                    })
                })
                .collect();
            let hit = got.iter().filter(|b| b.is_some()).count() as u64;
            s.hits += hit;
            s.misses += got.len() as u64 - hit;
            got
        };
        // One request spanning the first to the last missing block.
        let missing: Vec<usize> = (0..have.len()).filter(|i| have[*i].is_none()).collect();
        let mut meta = known;
        if let (Some(&lo), Some(&hi)) = (missing.first(), missing.last()) {
            let start = (first + lo as u64) * BLOCK;
            let mut stop = (first + hi as u64 + 1) * BLOCK;
            if let Some(m) = &meta {
                stop = stop.min(m.size);
            }
            let t = std::time::Instant::now();
            let r = self
                .inner
                .get_opts(
                    location,
                    GetOptions {
                        range: Some(GetRange::Bounded(start..stop)),
                        ..Default::default()
                    },
                )
                .await?;
            let m = r.meta.clone();
            let data = r.bytes().await?;
            tracing::debug!(
                %location, start, bytes = data.len(), asked = range.end - range.start,
                ms = t.elapsed().as_secs_f64() * 1e3,
                "cold cache miss: fetched"
            );
            let mut s = self.state.lock();
            s.metas.insert(location.clone(), m.clone());
            meta = Some(m);
            for i in lo..=hi {
                let b0 = ((first + i as u64) * BLOCK - start) as usize;
                if b0 >= data.len() {
                    break;
                }
                let b1 = (b0 + BLOCK as usize).min(data.len());
                let block = data.slice(b0..b1);
                if have[i].is_none() {
                    have[i] = Some(block.clone());
                }
                self.insert(&mut s, location, first + i as u64, block);
            }
        }
        let meta = match meta {
            Some(m) => m,
            None => self.inner.head(location).await?,
        };
        let end = range.end.min(meta.size);
        let mut out = BytesMut::with_capacity(end.saturating_sub(range.start) as usize);
        for (i, b) in have.into_iter().enumerate() {
            let Some(b) = b else { continue };
            let base = (first + i as u64) * BLOCK;
            let lo = range.start.saturating_sub(base) as usize;
            let hi = (end.saturating_sub(base) as usize).min(b.len());
            if lo < hi {
                out.extend_from_slice(&b[lo..hi]);
            }
        }
        Ok((out.freeze(), meta))
    }

    /// Seeds the cache with the end of an object just uploaded from `file` (its Parquet
    /// footer and page index, which every first query of the file reads), so the first
    /// query after a move does not pay those round trips.
    pub fn prime_tail(&self, location: &Path, file: &std::path::Path) -> std::io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        if self.capacity == 0 {
            return Ok(());
        }
        let mut f = std::fs::File::open(file)?;
        let size = f.metadata()?.len();
        if size == 0 {
            return Ok(());
        }
        let last = (size - 1) / BLOCK;
        let first = last.saturating_sub(1);
        let start = first * BLOCK;
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((size - start) as usize);
        f.read_to_end(&mut buf)?;
        let data = Bytes::from(buf);
        let mut s = self.state.lock();
        s.metas.insert(
            location.clone(),
            ObjectMeta {
                location: location.clone(),
                last_modified: chrono::Utc::now(),
                size,
                e_tag: None,
                version: None,
            },
        );
        for b in first..=last {
            let b0 = ((b - first) * BLOCK) as usize;
            let b1 = (b0 + BLOCK as usize).min(data.len());
            if b0 < b1 {
                self.insert(&mut s, location, b, data.slice(b0..b1));
            }
        }
        Ok(())
    }

    fn insert(&self, s: &mut State, location: &Path, block: u64, data: Bytes) {
        if self.capacity == 0 || data.len() > self.capacity {
            return;
        }
        while s.bytes + data.len() > self.capacity {
            let Some(oldest) = s
                .blocks
                .iter()
                .min_by_key(|(_, e)| e.1)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = s.blocks.remove(&oldest) {
                s.bytes -= e.0.len();
            }
        }
        s.clock += 1;
        let now = s.clock;
        s.bytes += data.len();
        if let Some(old) = s.blocks.insert((location.clone(), block), (data, now)) {
            s.bytes -= old.0.len();
        }
    }
}

impl fmt::Display for BlockCacheStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockCache({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for BlockCacheStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let plain = options.if_match.is_none()
            && options.if_none_match.is_none()
            && options.if_modified_since.is_none()
            && options.if_unmodified_since.is_none()
            && options.version.is_none()
            && !options.head;
        let range = match &options.range {
            Some(GetRange::Bounded(r)) if plain && self.capacity > 0 => r.clone(),
            _ => return self.inner.get_opts(location, options).await,
        };
        let (data, meta) = self.read(location, range.clone()).await?;
        let got = range.start..range.start + data.len() as u64;
        Ok(GetResult {
            payload: GetResultPayload::Stream(Box::pin(stream::once(async move { Ok(data) }))),
            meta,
            range: got,
            attributes: Default::default(),
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn ranges_are_served_from_blocks_and_bounded() {
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let data: Vec<u8> = (0..(3 * BLOCK + 123)).map(|i| (i % 251) as u8).collect();
        let p = Path::from("a/b.parquet");
        inner.put(&p, PutPayload::from(data.clone())).await.unwrap();
        let c = BlockCacheStore::new(Arc::clone(&inner), (2 * BLOCK) as usize);
        for r in [
            0..10,
            BLOCK - 5..BLOCK + 5,
            3 * BLOCK..3 * BLOCK + 123,
            100..2 * BLOCK + 7,
            5..6,
        ] {
            let got = c.get_range(&p, r.clone()).await.unwrap();
            assert_eq!(&got[..], &data[r.start as usize..r.end as usize], "{r:?}");
        }
        let s = c.stats();
        assert!(s.hits > 0, "repeated blocks are hits: {s:?}");
        assert!(s.bytes <= (2 * BLOCK) as usize, "bounded: {s:?}");
        // Unbounded reads go to the store.
        let all = c.get(&p).await.unwrap().bytes().await.unwrap();
        assert_eq!(all.len(), data.len());
    }

    #[tokio::test]
    async fn a_primed_tail_is_served_without_the_store() {
        let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let data: Vec<u8> = (0..(2 * BLOCK + 77)).map(|i| (i % 253) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("f.parquet");
        std::fs::write(&local, &data).unwrap();
        let p = Path::from("t/f.parquet");
        // The object is NOT in the inner store: only the primed blocks can answer.
        let c = BlockCacheStore::new(inner, (4 * BLOCK) as usize);
        c.prime_tail(&p, &local).unwrap();
        let n = data.len() as u64;
        let got = c.get_range(&p, n - 8..n).await.unwrap();
        assert_eq!(&got[..], &data[(n - 8) as usize..]);
        let got = c.get_range(&p, BLOCK + 3..n - 1).await.unwrap();
        assert_eq!(&got[..], &data[(BLOCK + 3) as usize..(n - 1) as usize]);
        let s = c.stats();
        assert_eq!(s.misses, 0, "{s:?}");
    }
}
