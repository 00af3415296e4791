//! A running `squall serve` (or `squall scheduler`) process under test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio_postgres::{Client, NoTls};

/// How to start a server.
pub struct ServerBuilder {
    binary: PathBuf,
    subcommand: &'static str,
    executors: usize,
    data_dir: Option<PathBuf>,
    scheduler_listen: String,
    listen: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
    local_scan_limit: Option<&'static str>,
}

impl ServerBuilder {
    /// `binary` is the `squall` executable (`env!("CARGO_BIN_EXE_squall")` in the test binary).
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            subcommand: "serve",
            executors: 2,
            data_dir: None,
            scheduler_listen: "127.0.0.1:0".into(),
            listen: "127.0.0.1:0".into(),
            env: Vec::new(),
            args: Vec::new(),
            local_scan_limit: None,
        }
    }

    /// Extra command-line arguments for the server.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// An environment variable for the server (and so for its executors).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn executors(mut self, n: usize) -> Self {
        self.executors = n;
        self
    }

    /// The address for Postgres clients (default `127.0.0.1:0`, a free loopback port).
    pub fn listen(mut self, address: &str) -> Self {
        self.listen = address.to_string();
        self
    }

    /// `--local-scan-limit`: queries over tables holding at most this much run in the
    /// coordinator ("0": every query over tables runs on the executors).
    pub fn local_scan_limit(mut self, limit: &'static str) -> Self {
        self.local_scan_limit = Some(limit);
        self
    }

    /// squall's default routing: queries over small tables run in the coordinator.
    pub fn default_routing(mut self) -> Self {
        self.local_scan_limit = None;
        self
    }

    /// Reuse a data directory (to test a restart); a fresh temporary one otherwise.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// `squall scheduler` instead of `squall serve`: no executor processes of its own.
    pub fn scheduler_only(mut self) -> Self {
        self.subcommand = "scheduler";
        self
    }

    pub fn start(self) -> Server {
        let temp = match &self.data_dir {
            Some(_) => None,
            None => Some(tempfile::tempdir().expect("temporary directory")),
        };
        let data_dir = self.data_dir.clone().unwrap_or_else(|| temp.as_ref().unwrap().path().join("data"));
        std::fs::create_dir_all(&data_dir).unwrap();
        let log_path = data_dir.join("server.log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
        let mut command = Command::new(&self.binary);
        command
            .arg(self.subcommand)
            .args(["--data-dir", data_dir.to_str().unwrap()])
            .args(["--listen", &self.listen])
            .args(["--scheduler-listen", &self.scheduler_listen])
            .args(["--http-listen", "127.0.0.1:0"])
            .args(["--flight-sql-listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if self.subcommand == "serve" {
            command.args(["--executors", &self.executors.to_string()]);
        }
        if let Some(limit) = self.local_scan_limit {
            command.args(["--local-scan-limit", limit]);
        }
        command.args(&self.args);
        let mut child = command.spawn().expect("starting squall");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("squall is ready") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("squall did not become ready; log:\n{}", std::fs::read_to_string(&log_path).unwrap_or_default())
            }
        };
        let ready = ReadyLine::parse(&line);
        Server { child: Some(child), data_dir, _temp: temp, pg_port: ready.pg_port, scheduler: ready.scheduler, http: ready.http, flight_sql: ready.flight_sql, log_path }
    }
}

/// "squall is ready: psql -h 127.0.0.1 -p 5433 -U squall (scheduler 127.0.0.1:50050, http 127.0.0.1:8433, ...)"
struct ReadyLine {
    pg_port: u16,
    scheduler: String,
    http: String,
    flight_sql: String,
}

impl ReadyLine {
    fn parse(line: &str) -> Self {
        let word_after = |marker: &str| -> String {
            let rest = line.split(marker).nth(1).unwrap_or_else(|| panic!("no {marker:?} in {line:?}"));
            rest.split(|c: char| c == ' ' || c == ',' || c == ')').next().unwrap().to_string()
        };
        Self { pg_port: word_after(" -p ").parse().unwrap(), scheduler: word_after("(scheduler "), http: word_after(", http "), flight_sql: word_after(", flight-sql ") }
    }
}

pub struct Server {
    child: Option<Child>,
    pub data_dir: PathBuf,
    _temp: Option<TempDir>,
    pub pg_port: u16,
    /// `host:port` executors register with.
    pub scheduler: String,
    /// `host:port` of /health and /metrics.
    pub http: String,
    /// `host:port` of the Flight SQL endpoint.
    pub flight_sql: String,
    log_path: PathBuf,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    pub fn connection_string(&self) -> String {
        format!("host=127.0.0.1 port={} user=squall dbname=squall", self.pg_port)
    }

    /// A tokio-postgres client; its connection task runs on the current runtime.
    pub async fn client(&self) -> Client {
        let (client, connection) = tokio_postgres::connect(&self.connection_string(), NoTls)
            .await
            .unwrap_or_else(|e| panic!("connecting to squall: {e}\n{}", self.log()));
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// Waits until `n` executors are active; returns their ids.
    pub async fn wait_for_executors(&self, n: usize) -> Vec<String> {
        let client = self.client().await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rows = client.query("SELECT id FROM squall.executors WHERE state = 'active'", &[]).await.unwrap();
            if rows.len() >= n {
                return rows.iter().map(|r| r.get(0)).collect();
            }
            assert!(Instant::now() < deadline, "only {} of {n} executors registered\n{}", rows.len(), self.log());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Process ids of this server's child processes (its executors).
    pub fn child_pids(&self) -> Vec<u32> {
        children_of(self.pid())
    }

    /// SIGKILL: the server gets no chance to clean up. Returns the executor pids it had.
    pub fn kill9(&mut self) -> Vec<u32> {
        let children = self.child_pids();
        let mut child = self.child.take().expect("server running");
        child.kill().unwrap();
        child.wait().unwrap();
        children
    }

    /// SIGTERM, as Ctrl-C or a service manager would; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        wait_with_timeout(&mut child, Duration::from_secs(20))
    }

    /// `GET path` on the HTTP listener (with curl, as an operator's script would); the body.
    pub fn http_get(&self, path: &str) -> String {
        let output = Command::new("curl").args(["-sf", &format!("http://{}{path}", self.http)]).output().unwrap();
        assert!(output.status.success(), "GET {path}");
        String::from_utf8(output.stdout).unwrap()
    }

    /// `GET path` on the HTTP listener with curl, as `user:password` when given: the status and
    /// the body, whatever the status.
    pub fn http_get_with(&self, path: &str, credentials: Option<&str>) -> (u16, String) {
        let mut command = Command::new("curl");
        command.args(["-s", "-w", "\n%{http_code}"]);
        if let Some(credentials) = credentials {
            command.args(["-u", credentials]);
        }
        let output = command.arg(format!("http://{}{path}", self.http)).output().unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.trim().parse().unwrap(), body.to_string())
    }

    /// `POST path` on the HTTP listener with curl (a real HTTP client), as `user:password` when
    /// given: the status and the body.
    pub fn http_post(&self, path: &str, credentials: Option<&str>, content_type: &str, body: &[u8]) -> (u16, String) {
        post(&self.http, path, credentials, content_type, &[], body)
    }

    /// [`Self::http_post`] with more headers.
    pub fn http_post_with(&self, path: &str, credentials: Option<&str>, content_type: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        post(&self.http, path, credentials, content_type, headers, body)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.terminate();
        }
    }
}

/// `POST path` to the HTTP listener at `http` (host:port) with curl: the status and the body.
pub fn post(http: &str, path: &str, credentials: Option<&str>, content_type: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let answer = post_answer(http, path, credentials, content_type, headers, body);
    (answer.status, answer.body)
}

/// What a POST was answered: status 0 when no server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    /// The `Retry-After` header, if sent.
    pub retry_after: Option<String>,
}

/// [`post`], with the `Retry-After` header of the answer.
pub fn post_answer(http: &str, path: &str, credentials: Option<&str>, content_type: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    use std::io::Write;
    let mut command = Command::new("curl");
    command.args(["-s", "-w", "\n%{http_code} %header{retry-after}", "-X", "POST", "-H", &format!("Content-Type: {content_type}"), "--data-binary", "@-"]);
    for (name, value) in headers {
        command.args(["-H", &format!("{name}: {value}")]);
    }
    if let Some(credentials) = credentials {
        command.args(["-u", credentials]);
    }
    let mut child = command.arg(format!("http://{http}{path}")).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    // A server killed meanwhile stops reading: the client sees that as a failed request.
    let _ = child.stdin.take().unwrap().write_all(body);
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, trailer) = text.rsplit_once('\n').unwrap();
    let (status, retry_after) = trailer.split_once(' ').unwrap_or((trailer, ""));
    Answer { status: status.parse().unwrap(), body: body.to_string(), retry_after: Some(retry_after.trim().to_string()).filter(|r| !r.is_empty()) }
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pids whose parent is `parent`, from /proc.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // The command name may contain spaces; fields after the closing parenthesis are fixed.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let ppid: Option<u32> = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(parent) {
            pids.push(pid);
        }
    }
    pids
}

/// Whether process `pid` still exists (and is not a zombie).
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')).unwrap_or(false),
        Err(_) => false,
    }
}
