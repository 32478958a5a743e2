//! A real S3 API for tests: `moto_server` (Python moto) on a free port, one bucket.
//!
//! The server is killed on drop. Objects live in moto's memory: a restarted moto is an
//! empty store (which is how the tests simulate a store that lost its contents or went
//! away and came back).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// A running moto S3 server.
pub struct Moto {
    child: Option<Child>,
    pub port: u16,
}

impl Moto {
    /// Starts moto and creates `bucket`.
    pub fn start(bucket: &str) -> Moto {
        let port = free_port();
        let mut m = Moto { child: None, port };
        m.spawn(bucket);
        m
    }

    fn spawn(&mut self, bucket: &str) {
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed (pip install 'moto[server]')");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto_server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let ok = Command::new("curl")
            .args(["-sf", "-X", "PUT", &format!("{}/{bucket}", self.endpoint())])
            .status()
            .expect("curl");
        assert!(ok.success(), "could not create bucket {bucket}");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for a client of this server (object_store's S3 variables).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// Keys of the objects under `prefix` in `bucket` (ListObjectsV2).
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let out = Command::new("curl")
            .args([
                "-sf",
                &format!(
                    "{}/{bucket}?list-type=2&max-keys=10000&prefix={prefix}",
                    self.endpoint()
                ),
            ])
            .output()
            .expect("curl");
        let xml = String::from_utf8_lossy(&out.stdout);
        xml.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    /// Stops the server (the store "goes away").
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty, with `bucket`.
    pub fn restart(&mut self, bucket: &str) {
        self.stop();
        self.spawn(bucket);
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
