//! Stopping running statements: a driver's cancel request, psql's Ctrl-C and `statement_timeout`
//! end the statement with 57014 and cancel its Ballista job on the executors.

use std::time::{Duration, Instant};

use squall_tests::data::write_orders;
use squall_tests::Server;
use tokio_postgres::{Client, NoTls};

use crate::squall;

/// A self-join that keeps two executors busy for far longer than any test waits.
pub(crate) const HEAVY: &str = "SELECT count(*) FROM orders a JOIN orders b ON a.customer_id = b.customer_id WHERE a.amount * b.amount % 7 = 3";

/// Two executors and an `orders` table of 8 Parquet files (320,000 rows).
pub(crate) async fn cluster_with_orders() -> (Server, Client, tempfile::TempDir) {
    let server = squall().executors(2).start();
    server.wait_for_executors(2).await;
    let client = server.client().await;
    let files = tempfile::tempdir().unwrap();
    write_orders(&files.path().join("orders"), 8, 40_000, 50);
    client
        .batch_execute(&format!("CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{}/'", files.path().join("orders").display()))
        .await
        .unwrap();
    (server, client, files)
}

/// The id of the job running `sql`, once its tasks have been running for a moment. (A cancel
/// that reaches an executor in the milliseconds before the task it names starts there is lost in
/// Ballista 55: the task then runs to its end. The tests cancel work that is under way.)
async fn running_job(observer: &Client, sql: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = observer.query("SELECT id, tasks_running FROM squall.jobs WHERE query = $1 AND state = 'running'", &[&sql]).await.unwrap();
        if let Some(job) = jobs.first().filter(|job| job.get::<_, i64>(1) > 0) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            return job.get(0);
        }
        assert!(Instant::now() < deadline, "no running job for {sql}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// CPU time (user + system, in clock ticks) the executor processes of `server` have used.
fn executors_cpu(server: &Server) -> u64 {
    server
        .child_pids()
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            // The fields after the parenthesised command name; utime and stime are the 14th and 15th.
            let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("").split_whitespace().collect();
            fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0) + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
        })
        .sum()
}

/// Waits until the executor processes are idle: the cancelled tasks really stopped computing.
async fn assert_executors_idle(server: &Server) {
    // Uncancelled, the query below computes for minutes; with the suite's other servers sharing
    // 2 cores, winding down can take a few seconds.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let before = executors_cpu(server);
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Clock ticks are 1/100 s: under 10 ticks in half a second is under 20% of one core.
        let used = executors_cpu(server) - before;
        if used < 10 {
            return;
        }
        if Instant::now() >= deadline {
            let logs: String = std::fs::read_dir(server.data_dir.join("executors"))
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default().lines().rev().take(15).collect::<Vec<_>>().join("\n"))
                .collect::<Vec<_>>()
                .join("\n----\n");
            panic!("the executors still compute after the cancel ({used} ticks in 0.5 s); executor logs, newest first:\n{logs}");
        }
    }
}

/// Waits until the scheduler reports job `id` cancelled and no task runs on any executor.
async fn assert_job_cancelled(observer: &Client, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state: String = observer.query_one("SELECT state FROM squall.jobs WHERE id = $1", &[&id]).await.unwrap().get(0);
        let busy: i64 = observer.query_one("SELECT coalesce(sum(running_tasks), 0) FROM squall.executors", &[]).await.unwrap().get(0);
        if state == "cancelled" && busy == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "job {id} is {state}, {busy} tasks still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_request_stops_the_query_and_its_job() {
    let (server, observer, _files) = cluster_with_orders().await;
    let runner = server.client().await;
    let cancel = runner.cancel_token();
    let running = tokio::spawn(async move {
        let started = Instant::now();
        let result = runner.query_one(HEAVY, &[]).await;
        (result.map(|_| ()), started.elapsed(), runner)
    });
    let id = running_job(&observer, HEAVY).await;
    let asked = Instant::now();
    cancel.cancel_query(NoTls).await.unwrap();
    let (result, _, runner) = running.await.unwrap();
    let err = result.expect_err("a cancelled query fails");
    assert!(asked.elapsed() < Duration::from_secs(5), "the cancel took {:?}", asked.elapsed());
    let db = err.as_db_error().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(db.code().code(), "57014");
    assert_eq!(db.message(), "canceling statement due to user request");
    assert_job_cancelled(&observer, &id).await;
    assert_executors_idle(&server).await;
    // The connection goes on; a cancel request with nothing running does nothing.
    let one: i64 = runner.query_one("SELECT count(*) FROM orders WHERE id < 10", &[]).await.unwrap().get(0);
    assert_eq!(one, 10);
    runner.cancel_token().cancel_query(NoTls).await.unwrap();
    // tokio-postgres returns once the request is sent, not once the server has acted on it; a
    // statement sent at once could start first and be the one stopped (PostgreSQL's protocol has
    // the same race). Give the server the time to find nothing running.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let one: i64 = runner.query_one("SELECT count(*) FROM orders WHERE id < 10", &[]).await.unwrap().get(0);
    assert_eq!(one, 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn statement_timeout_stops_long_queries_of_its_session_only() {
    let (server, observer, _files) = cluster_with_orders().await;
    let runner = server.client().await;
    runner.batch_execute("SET statement_timeout = '1500ms'").await.unwrap();
    let shown: String = runner.query_one("SHOW statement_timeout", &[]).await.unwrap().get(0);
    assert_eq!(shown, "1500ms");
    let other: String = observer.query_one("SHOW statement_timeout", &[]).await.unwrap().get(0);
    assert_eq!(other, "0", "SET changes only its own session");

    let started = Instant::now();
    let err = runner.query_one(HEAVY, &[]).await.expect_err("the query outlives its timeout");
    let db = err.as_db_error().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!((db.code().code(), db.message()), ("57014", "canceling statement due to statement timeout"));
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(6), "stopped after {elapsed:?}");
    let id: String = observer.query_one("SELECT id FROM squall.jobs WHERE query = $1", &[&HEAVY]).await.unwrap().get(0);
    assert_job_cancelled(&observer, &id).await;
    assert_executors_idle(&server).await;

    // Quick statements are unaffected; the extended protocol is covered too.
    let n: i64 = runner.query_one("SELECT count(*) FROM orders WHERE id < $1", &[&100i64]).await.unwrap().get(0);
    assert_eq!(n, 100);
    runner.batch_execute("SET statement_timeout = 0").await.unwrap();
    assert_eq!(runner.query_one("SHOW statement_timeout", &[]).await.unwrap().get::<_, String>(0), "0");
    runner.batch_execute("SET statement_timeout = 60000").await.unwrap();
    assert_eq!(runner.query_one("SHOW statement_timeout", &[]).await.unwrap().get::<_, String>(0), "1min");
    runner.batch_execute("RESET statement_timeout").await.unwrap();
    assert_eq!(runner.query_one("SHOW statement_timeout", &[]).await.unwrap().get::<_, String>(0), "0");
    let err = runner.batch_execute("SET statement_timeout = 'soon'").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("22023"));
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_ctrl_c_cancels_the_running_query() {
    let (server, observer, _files) = cluster_with_orders().await;
    let mut psql = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.pg_port.to_string(), "-U", "squall", "-X", "-c", HEAVY])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql must be installed (scripts/test installs postgresql-client)");
    let id = running_job(&observer, HEAVY).await;
    // What the terminal sends on Ctrl-C.
    let status = std::process::Command::new("kill").args(["-INT", &psql.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while psql.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "psql still waiting after Ctrl-C");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = psql.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Cancel request sent"), "{stderr}");
    assert!(stderr.contains("ERROR:  canceling statement due to user request"), "{stderr}");
    assert_job_cancelled(&observer, &id).await;
    assert_executors_idle(&server).await;
}

/// `pg_sleep`, the usual way to try a cancel: it sleeps and answers NULL; a cancel request or
/// `statement_timeout` ends it at once; the session goes on.
#[tokio::test(flavor = "multi_thread")]
async fn pg_sleep_sleeps_and_stops_when_told() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    let started = Instant::now();
    let row = client.query_one("SELECT pg_sleep(0.2) AS slept, pg_sleep(0) IS NULL AS void", &[]).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200), "{:?}", started.elapsed());
    assert_eq!((row.get::<_, Option<String>>("slept"), row.get::<_, bool>("void")), (None, true));

    let cancel = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel_query(NoTls).await.unwrap();
    });
    let started = Instant::now();
    let err = client.simple_query("SELECT pg_sleep(60)").await.unwrap_err();
    canceller.await.unwrap();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "the cancel took {:?}", started.elapsed());

    client.batch_execute("SET statement_timeout = '200ms'").await.unwrap();
    let err = client.query("SELECT pg_sleep(60)", &[]).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err:?}");
    client.batch_execute("RESET statement_timeout").await.unwrap();
    let err = client.query("SELECT pg_sleep('soon')", &[]).await.unwrap_err();
    assert!(err.code().is_some(), "a bad argument is an error with a SQLSTATE: {err:?}");
    assert_eq!(client.query_one("SELECT 1", &[]).await.unwrap().get::<_, i64>(0), 1);
}
