//! A local S3-compatible server (moto, from PyPI, run as `python3 -m moto.server`) for testing `s3://` table locations without
//! leaving the machine.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalS3 {
    child: Child,
    pub endpoint: String,
}

impl LocalS3 {
    /// Starts `moto_server` on a free loopback port and creates `bucket`.
    pub fn start(bucket: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // Run as a module rather than through the `moto_server` script, which a fresh pyenv
        // install only puts on PATH after `pyenv rehash`.
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 must be installed, with moto: pip install 'moto[server]' (scripts/test does)");
        let s3 = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        // moto accepts an unsigned PUT of the bucket once it is up.
        while !curl(&["-sf", "--max-time", "10", "-X", "PUT", &format!("{}/{bucket}", s3.endpoint)]) {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        s3
    }

    /// Uploads a local file to `s3://bucket/key`.
    pub fn put(&self, bucket: &str, key: &str, file: &Path) {
        let url = format!("{}/{bucket}/{key}", self.endpoint);
        // -T sends the bytes as they are (no form encoding); no 100-continue handshake for moto.
        assert!(curl(&["-sf", "--max-time", "30", "-H", "Expect:", "-T", &file.to_string_lossy(), &url]), "uploading {url}");
    }

    /// The environment that points the object_store crate (and so squall) at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

impl Drop for LocalS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl(args: &[&str]) -> bool {
    Command::new("curl").args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
}
