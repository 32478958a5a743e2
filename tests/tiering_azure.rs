//! Tiered storage against Azure Blob Storage's API (Azurite, the official emulator, from
//! `tests/emulators`): `az://container/prefix` goes through the same object_store code as
//! `s3://`, and this checks that it really does: partitions move to blobs, queries read
//! them back after a restart, and DELETE rewrites them.
//!
//! Needs `tests/emulators/node_modules` (`npm ci` there) and the Python package
//! `azure-storage-blob` (to create the container and list blobs); `.ci/run` installs both.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, free_port};

/// Azurite's well-known development account.
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const CONTAINER: &str = "strata-cold";

struct Azurite {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Azurite {
    fn start() -> Azurite {
        let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/emulators/node_modules/.bin/azurite-blob");
        assert!(
            bin.is_file(),
            "{} is missing: run `npm ci` in tests/emulators (.ci/run does)",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir.path())
            .args(["--skipApiVersionCheck", "--loose", "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "azurite did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let a = Azurite {
            child,
            port,
            _dir: dir,
        };
        a.python(&format!("c.create_container('{CONTAINER}')"));
        a
    }

    /// Runs `code` with `c` bound to a BlobServiceClient of the emulator; returns stdout.
    fn python(&self, code: &str) -> String {
        let script = format!(
            "from azure.storage.blob import BlobServiceClient\n\
             c = BlobServiceClient.from_connection_string('DefaultEndpointsProtocol=http;\
             AccountName={ACCOUNT};AccountKey={KEY};\
             BlobEndpoint=http://127.0.0.1:{}/{ACCOUNT};')\n{code}\n",
            self.port
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "azure-storage-blob (pip) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Names of the blobs under `prefix`.
    fn blobs(&self, prefix: &str) -> Vec<String> {
        self.python(&format!(
            "for b in c.get_container_client('{CONTAINER}').list_blobs(name_starts_with='{prefix}'):\n    print(b.name)"
        ))
        .lines()
        .map(str::to_string)
        .collect()
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
            ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT.into()),
            ("AZURE_STORAGE_ACCOUNT_KEY", KEY.into()),
            (
                "AZURITE_BLOB_STORAGE_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
        ]
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn count_sum(c: &tokio_postgres::Client) -> (i64, i64) {
    let r = c
        .query_one("SELECT count(*), sum(v)::int8 FROM m", &[])
        .await
        .expect("count");
    (r.get(0), r.get(1))
}

#[tokio::test]
async fn partitions_move_to_azure_blobs_and_stay_queryable_and_erasable() {
    let az = Azurite::start();
    let env = az.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut s =
        TestServer::start_with_env(&["--cold-store", &format!("az://{CONTAINER}/cold")], &env);
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE m (ts timestamptz NOT NULL, v int8); \
         SELECT create_hypertable('m', by_range('ts', INTERVAL '1 day')); \
         INSERT INTO m SELECT '2024-01-01'::timestamptz + g * interval '1 minute', g \
         FROM generate_series(0, 4319) g",
    )
    .await
    .expect("load three days");
    c.batch_execute("CHECKPOINT").await.expect("checkpoint");
    let before = count_sum(&c).await;
    assert_eq!(before, (4320, (0..4320).sum::<i64>()));
    let job: i32 = c
        .query_one("SELECT add_tiering_policy('m', INTERVAL '1 day')", &[])
        .await
        .expect("policy")
        .get(0);
    c.batch_execute(&format!("CALL run_job({job})"))
        .await
        .expect("move");
    let cold: i64 = c
        .query_one(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE tier = 'cold'",
            &[],
        )
        .await
        .expect("chunks")
        .get(0);
    assert_eq!(cold, 3, "every day moved");
    let blobs = az.blobs("cold/tables/");
    assert_eq!(
        blobs.iter().filter(|b| b.ends_with(".parquet")).count(),
        3,
        "one Parquet blob per day: {blobs:?}"
    );
    assert_eq!(count_sum(&c).await, before, "cold rows read back");

    // After a restart the cold files are read from the emulator.
    s.restart();
    let c = s.connect().await;
    assert_eq!(count_sum(&c).await, before, "cold rows after a restart");

    // Erasure: DELETE rewrites the blobs; the rows stay gone after a restart.
    c.batch_execute("DELETE FROM m WHERE v % 2 = 0")
        .await
        .expect("delete");
    let odd = (2160, (0..4320).filter(|v| v % 2 == 1).sum::<i64>());
    assert_eq!(count_sum(&c).await, odd);
    s.restart();
    let c = s.connect().await;
    assert_eq!(count_sum(&c).await, odd, "deleted rows stay gone");
}
