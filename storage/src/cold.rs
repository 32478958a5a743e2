//! The cold tier: an object store (local directory, S3, GCS, Azure) holding old partitions
//! as plain Parquet files, at the same relative paths they had on local disk
//! (`tables/<table id>/p<partition>/<file id>.parquet` under the store's prefix), so any
//! Parquet engine can read them.
//!
//! Credentials and endpoints come the way object_store reads them from the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`,
//! `AWS_ALLOW_HTTP`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, ...), overridden
//! by explicit options (the `[cold_store_options]` table of the config file).

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::cold_cache::BlockCacheStore;
use crate::error::{Error, Result};

/// Files larger than this are uploaded in parts of this size.
pub const MULTIPART_CHUNK: usize = 8 * 1024 * 1024;

/// An opened cold store.
#[derive(Debug, Clone)]
pub struct ColdStore {
    url: String,
    store: Arc<dyn ObjectStore>,
    /// The same store behind a block cache, for queries.
    cached: Arc<BlockCacheStore>,
}

impl ColdStore {
    /// Opens the store at `url`: `file:///dir`, `s3://bucket[/prefix]`,
    /// `gs://bucket[/prefix]`, `az://container[/prefix]` (also `abfs://`, `azure://`).
    /// Nothing is contacted here; [`ColdStore::probe`] checks reachability.
    pub fn open(url: &str, options: &[(String, String)], cache_bytes: usize) -> Result<ColdStore> {
        let bad =
            |why: String| Error::InvalidInput(format!("invalid cold store URL {url:?}: {why}"));
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let prefix = Path::from(parsed.path().trim_matches('/'));
        // The same steps for every cloud: environment, URL, timeouts, explicit options.
        macro_rules! cloud {
            ($builder:ty) => {{
                // Timeouts through config keys: `with_client_options` would replace what the
                // environment set (AWS_ALLOW_HTTP, proxies, ...).
                let mut b = <$builder>::from_env().with_url(url).with_retry(retry());
                for (k, v) in CLIENT_DEFAULTS {
                    let key = k.parse().map_err(|e| bad(format!("option {k}: {e}")))?;
                    b = b.with_config(key, v);
                }
                for (k, v) in options {
                    let key = k.parse().map_err(|e| bad(format!("option {k}: {e}")))?;
                    b = b.with_config(key, v);
                }
                Arc::new(PrefixStore::new(b.build()?, prefix))
            }};
        }
        let store: Arc<dyn ObjectStore> = match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|_| bad("not an absolute local path".into()))?;
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                Arc::new(object_store::local::LocalFileSystem::new_with_prefix(&dir)?)
            }
            "s3" | "s3a" => cloud!(object_store::aws::AmazonS3Builder),
            "gs" => cloud!(object_store::gcp::GoogleCloudStorageBuilder),
            "az" | "abfs" | "abfss" | "azure" => {
                cloud!(object_store::azure::MicrosoftAzureBuilder)
            }
            other => {
                return Err(bad(format!(
                    "unsupported scheme {other:?} (use file://, s3://, gs:// or az://)"
                )));
            }
        };
        Ok(ColdStore {
            url: url.to_string(),
            cached: Arc::new(BlockCacheStore::new(Arc::clone(&store), cache_bytes)),
            store,
        })
    }

    /// The URL the store was opened with (for messages).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object store for query execution, rooted at the store's prefix, behind the
    /// block cache.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.cached) as Arc<dyn ObjectStore>
    }

    /// Counters of the query cache.
    pub fn cache_stats(&self) -> crate::cold_cache::CacheStats {
        self.cached.stats()
    }

    /// Checks that the store answers (lists the table directory).
    pub async fn probe(&self) -> Result<()> {
        self.list(&format!("{TABLES}/")).await.map(|_| ())
    }

    /// Uploads a local file to `key` (multipart above [`MULTIPART_CHUNK`]).
    pub async fn upload(&self, local: &FsPath, key: &str) -> Result<()> {
        use tokio::io::AsyncReadExt;
        let path = Path::from(key);
        let len = tokio::fs::metadata(local)
            .await
            .map_err(|e| Error::io(local, e))?
            .len();
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| Error::io(local, e))?;
        if len as usize <= MULTIPART_CHUNK {
            let mut buf = Vec::with_capacity(len as usize);
            file.read_to_end(&mut buf)
                .await
                .map_err(|e| Error::io(local, e))?;
            self.store.put(&path, PutPayload::from(buf)).await?;
            return Ok(());
        }
        let upload = self.store.put_multipart(&path).await?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, MULTIPART_CHUNK);
        let mut buf = vec![0u8; MULTIPART_CHUNK];
        loop {
            let n = file.read(&mut buf).await.map_err(|e| Error::io(local, e))?;
            if n == 0 {
                break;
            }
            w.wait_for_capacity(4).await?;
            w.write(&buf[..n]);
        }
        w.finish().await?;
        Ok(())
    }

    /// Seeds the query cache with the tail (footer) of `local`, just uploaded to `key`.
    pub fn prime_tail(&self, key: &str, local: &FsPath) {
        if let Err(e) = self.cached.prime_tail(&Path::from(key), local) {
            tracing::debug!(key, error = %e, "could not seed the cold cache");
        }
    }

    /// The whole object at `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        Ok(self.store.get(&Path::from(key)).await?.bytes().await?)
    }

    /// Deletes the object at `key` (a missing object is not an error).
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Keys of the objects under `prefix` (`/`-separated, relative to the store's prefix).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let p = Path::from(prefix.trim_end_matches('/'));
        let metas: Vec<_> = self.store.list(Some(&p)).try_collect().await?;
        Ok(metas.into_iter().map(|m| m.location.to_string()).collect())
    }
}

/// Top-level directory of table files, locally and in the cold store.
const TABLES: &str = "tables";

/// Retries: enough to ride out a blip, short enough that a store that is gone fails a
/// move within about a minute instead of hanging the job.
fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
        ..Default::default()
    }
}

/// Client timeouts (object_store keys; `[cold_store_options]` may override them).
const CLIENT_DEFAULTS: [(&str, &str); 2] = [("connect_timeout", "5s"), ("timeout", "120s")];
