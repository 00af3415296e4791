//! Executors are separate OS processes that never outlive their coordinator, and the roles can
//! run apart as a cluster.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use squall_tests::server::is_alive;
use squall_tests::Server;

use crate::squall;

fn wait_until_gone(pids: &[u32], within: Duration) {
    let deadline = Instant::now() + within;
    while pids.iter().any(|&p| is_alive(p)) {
        assert!(Instant::now() < deadline, "executor processes still alive: {:?}", pids.iter().filter(|&&p| is_alive(p)).collect::<Vec<_>>());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn executors_exit_when_the_server_is_killed() {
    let mut server = squall().executors(2).start();
    server.wait_for_executors(2).await;
    let executors = server.kill9();
    assert_eq!(executors.len(), 2, "two executor child processes");
    wait_until_gone(&executors, Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_everything_cleanly() {
    let mut server = squall().executors(2).start();
    server.wait_for_executors(2).await;
    let executors = server.child_pids();
    let status = server.terminate();
    assert!(status.success(), "squall exited with {status}");
    wait_until_gone(&executors, Duration::from_secs(5));
}

/// A `squall executor` of `server`'s cluster (with its secret), working in `work_dir`, with
/// `extra` arguments; its output is discarded.
pub(crate) fn spawn_executor(server: &Server, work_dir: &std::path::Path, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_squall"))
        .args(["executor", "--scheduler", &server.scheduler])
        .args(["--cluster-secret-file", server.data_dir.join("cluster.secret").to_str().unwrap()])
        .args(["--work-dir", work_dir.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduler_and_executors_run_as_separate_roles() {
    let server = squall().scheduler_only().start();
    let work = tempfile::tempdir().unwrap();
    let mut executors: Vec<_> = (0..2).map(|i| spawn_executor(&server, &work.path().join(format!("e{i}")), &[])).collect();
    server.wait_for_executors(2).await;
    let client = server.client().await;
    client.batch_execute("CREATE TABLE nums (n BIGINT); INSERT INTO nums VALUES (1), (2), (3), (4)").await.unwrap();
    let sum: i64 = client.query_one("SELECT sum(n * n) FROM nums", &[]).await.unwrap().get(0);
    assert_eq!(sum, 30);
    for e in &mut executors {
        e.kill().unwrap();
        e.wait().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_metrics_answer_over_http() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    server.client().await.simple_query("SELECT 1").await.unwrap();
    let get = |path: &str| server.http_get(path);
    assert_eq!(get("/health"), "ok\n");
    let metrics = get("/metrics");
    assert!(metrics.contains("squall_pending_tasks 0"), "{metrics}");
    assert!(metrics.contains("squall_cluster_events_total{kind=\"scale-up\",reason=\"backlog\"} 0"), "{metrics}");
    assert!(metrics.contains("squall_jobs{state=\"running\"} 0"), "{metrics}");
    // Every statement lands in the latency histogram.
    let value = |name: &str| -> f64 {
        metrics.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert!(value("squall_statement_duration_seconds_count ") >= 1.0, "{metrics}");
    assert_eq!(value("squall_statement_duration_seconds_count "), value("squall_statements_total "));
    assert_eq!(value("squall_statement_duration_seconds_bucket{le=\"+Inf\"} "), value("squall_statements_total "));
    assert!(metrics.contains("squall_executors{state=\"active\"} 1"), "{metrics}");
}
