//! Elastic executors, measured: how fast a backlog reaches a new executor, what autoscaling buys a
//! burst of queries against a fixed single executor, and how many executor kills the queries
//! survive with correct answers. Every answer is checked against the one computed from the data.

use std::path::Path;
use std::time::{Duration, Instant};

use squall_tests::data::write_orders;
use squall_tests::server::Server;
use squall_tests::ServerBuilder;

use crate::report::{median, Report};

const FILES: usize = 48;
/// A query with a scan stage of one task per file and a shuffle: enough tasks to make a backlog.
const QUERY: &str = "SELECT region, sum(amount * (id % 7)) FROM orders GROUP BY region ORDER BY region";

pub async fn run(squall: &Path, data: &Path, rows_per_file: usize, runs: usize, only: Option<&str>) -> anyhow::Result<Report> {
    let part = |name: &str| only.is_none_or(|o| o == name);
    let dir = data.join(format!("orders-{FILES}x{rows_per_file}"));
    let orders = write_orders(&dir, FILES, rows_per_file, 1000);
    let dir = dir.canonicalize()?;
    let mut expected: std::collections::BTreeMap<String, i64> = Default::default();
    for o in &orders {
        *expected.entry(o.region.to_string()).or_default() += o.amount * (o.id % 7);
    }
    let expected: Vec<(String, i64)> = expected.into_iter().collect();
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    // 1. Backlog start to the first task on a new executor (fresh cluster each time).
    let (mut to_event, mut to_task) = (Vec::new(), Vec::new());
    for _ in 0..if part("first-task") { runs } else { 0 } {
        let (event, task) = first_task_on_new_executor(squall, &dir, &expected).await?;
        to_event.push(event);
        to_task.push(task);
    }
    if part("first-task") {
        rows.push(("squall, process launcher".into(), "backlog start → scale-up decision (scale_up_after = 1s)".into(), median(to_event.clone())));
        rows.push(("squall, process launcher".into(), "backlog start → first task running on the new executor".into(), median(to_task.clone())));
        notes.push(format!(
            "First task on a new executor, each run: {:?} (goal ≤ 2 s).",
            to_task.iter().map(|d| format!("{:.2} s", d.as_secs_f64())).collect::<Vec<_>>()
        ));
    }

    // 2. A burst of 12 queries: one executor fixed, or autoscaled 1 → 4.
    if part("burst") {
    let fixed = burst(squall, &dir, &expected, 1).await?;
    let scaled = burst(squall, &dir, &expected, 4).await?;
    rows.push(("squall, 1 executor fixed".into(), "burst of 12 concurrent queries, all answered".into(), fixed.0));
    rows.push(("squall, autoscaled 1 → 4".into(), "burst of 12 concurrent queries, all answered".into(), scaled.0));
    notes.push(format!(
        "Burst: fixed / autoscaled = {:.2}x; the autoscaled run peaked at {} executors. This machine has {} cores: \
         more executor processes on the same cores add slots, not CPU.",
        fixed.0.as_secs_f64() / scaled.0.as_secs_f64(),
        scaled.1,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    ));
    }

    // 3. kill -9 of an executor in the middle of a query, 20 times.
    if part("kills") {
        let (survived, attempts, query_times) = kills(squall, &dir, &expected, 20).await?;
        rows.push(("squall, 2 executors, one killed mid-query".into(), "query time with the kill".into(), median(query_times)));
        notes.push(format!("Executor kills survived with the correct answer: {survived} of {attempts}."));
    }

    Ok(Report {
        name: "autoscale".into(),
        description: format!(
            "`{QUERY}` over {} rows in {FILES} Parquet files; executors are separate processes started by squall's process launcher; \
             every answer checked against the data. Medians of {runs} fresh clusters for the first measurement.",
            FILES * rows_per_file
        ),
        rows,
        notes,
    })
}

/// A fresh cluster; its data directory (logs included) is kept under `benchmarks/data/` until the
/// next run, for a look at what happened.
async fn start(squall: &Path, dir: &Path, executors: usize, settings: &str) -> anyhow::Result<(Server, tokio_postgres::Client)> {
    static CLUSTERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CLUSTERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let data_dir = dir.parent().unwrap().join(format!("autoscale-cluster-{n}"));
    let _ = std::fs::remove_dir_all(&data_dir);
    let server = ServerBuilder::new(squall).executors(executors).data_dir(&data_dir).start();
    server.wait_for_executors(executors).await;
    let client = server.client().await;
    client.batch_execute(&format!("ALTER CLUSTER SET ({settings})")).await?;
    client.batch_execute(&format!("CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{}/'", dir.display())).await?;
    Ok((server, client))
}

type Query = tokio::task::JoinHandle<anyhow::Result<Vec<(String, i64)>>>;

async fn answer(client: &tokio_postgres::Client) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(client.query(QUERY, &[]).await?.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Submits a burst on one executor and polls `squall.executors` every 10 ms until another
/// executor has a task running or done; times are from the burst's submission.
async fn first_task_on_new_executor(squall: &Path, dir: &Path, expected: &[(String, i64)]) -> anyhow::Result<(Duration, Duration)> {
    let (server, client) = start(squall, dir, 1, "min_executors = 1, max_executors = 4, scale_up_after = '1s'").await?;
    let first: String = client.query_one("SELECT id FROM squall.executors", &[]).await?.get(0);
    // A sustained backlog: 4 queries at a time, each replaced as it finishes.
    let started = Instant::now();
    let mut queries: Vec<Query> = Vec::new();
    let mut event = None;
    let task = loop {
        let (done, running): (Vec<Query>, Vec<Query>) = queries.into_iter().partition(|q| q.is_finished());
        queries = running;
        for q in done {
            anyhow::ensure!(q.await?? == expected, "a backlog query answered wrongly");
        }
        while queries.len() < 4 {
            let client = server.client().await;
            queries.push(tokio::spawn(async move { answer(&client).await }));
        }
        if event.is_none() {
            let ups: i64 = client.query_one("SELECT count(*) FROM squall.cluster_events WHERE kind = 'scale-up'", &[]).await?.get(0);
            if ups > 0 {
                event = Some(started.elapsed());
            }
        }
        let busy: i64 = client
            .query_one("SELECT count(*) FROM squall.executors WHERE id <> $1 AND running_tasks + completed_tasks > 0", &[&first])
            .await?
            .get(0);
        if busy > 0 {
            break started.elapsed();
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "no task reached a new executor within 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    for q in queries {
        anyhow::ensure!(q.await?? == expected, "a burst query answered wrongly");
    }
    Ok((event.unwrap_or(task), task))
}

/// 12 concurrent queries; the time until all are answered, and the most executors seen.
async fn burst(squall: &Path, dir: &Path, expected: &[(String, i64)], max: usize) -> anyhow::Result<(Duration, i64)> {
    let (server, client) = start(squall, dir, 1, &format!("min_executors = 1, max_executors = {max}, scale_up_after = '1s'")).await?;
    answer(&client).await?; // warm the file metadata caches
    let started = Instant::now();
    let mut queries = Vec::new();
    for _ in 0..12 {
        let client = server.client().await;
        queries.push(tokio::spawn(async move { answer(&client).await }));
    }
    let mut peak = 1;
    while queries.iter().any(|q| !q.is_finished()) {
        let n: i64 = client.query_one("SELECT count(*) FROM squall.executors", &[]).await?.get(0);
        peak = peak.max(n);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    for q in queries {
        anyhow::ensure!(q.await?? == expected, "a burst query answered wrongly");
    }
    Ok((took, peak))
}

/// `attempts` times: start the query, kill -9 one of the executors 150 ms in, check the answer,
/// wait for the autoscaler to restore two executors.
async fn kills(squall: &Path, dir: &Path, expected: &[(String, i64)], attempts: usize) -> anyhow::Result<(usize, usize, Vec<Duration>)> {
    let (server, _client) = start(squall, dir, 2, "min_executors = 2, max_executors = 2").await?;
    let mut survived = 0;
    let mut times = Vec::new();
    for attempt in 0..attempts {
        let runner = server.client().await;
        let started = Instant::now();
        let query = tokio::spawn(async move { answer(&runner).await });
        tokio::time::sleep(Duration::from_millis(150)).await;
        let children = server.child_pids();
        let victim = children[attempt % children.len()];
        // SAFETY: signalling a process this benchmark started.
        unsafe { libc::kill(victim as i32, libc::SIGKILL) };
        match tokio::time::timeout(Duration::from_secs(120), query).await {
            Ok(Ok(Ok(rows))) if rows == expected => {
                survived += 1;
                times.push(started.elapsed());
            }
            other => eprintln!("kill {attempt} (pid {victim}): {other:?}"),
        }
        server.wait_for_executors(2).await;
        while server.child_pids().len() != 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    if times.is_empty() {
        times.push(Duration::ZERO);
    }
    Ok((survived, attempts, times))
}
