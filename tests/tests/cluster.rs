//! Operating the executors with SQL: `ADD EXECUTOR(S)`, `REMOVE EXECUTOR`, and what
//! `SHOW EXECUTORS` says about who started each one.

use std::time::{Duration, Instant};

use squall_tests::data::write_orders;
use squall_tests::server::is_alive;

use crate::squall;

/// Writes `files` Parquet files of orders under `dir` and creates the external table `orders`.
async fn create_orders(client: &tokio_postgres::Client, dir: &std::path::Path, files: usize, rows: usize) -> Vec<squall_tests::data::Order> {
    let orders = write_orders(&dir.join("orders"), files, rows, 50);
    client
        .batch_execute(&format!("CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{}/'", dir.join("orders").display()))
        .await
        .unwrap();
    orders
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_add_and_remove_executors_and_queries_stay_correct() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    let client = server.client().await;
    let files = tempfile::tempdir().unwrap();
    let orders = create_orders(&client, files.path(), 4, 2_000).await;
    let total = orders.iter().map(|o| o.amount).sum::<i64>();
    let sum = || async { client.query_one("SELECT sum(amount) FROM orders", &[]).await.unwrap().get::<_, i64>(0) };

    let first: Vec<(String, String)> =
        client.query("SELECT id, launched_by FROM squall.executors", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].1, "autoscaler");

    // ADD EXECUTORS answers once the new executors have registered: they are usable at once.
    let added: Vec<String> = client.query("ADD EXECUTORS 2", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(added.len(), 2);
    let rows = client.query("SELECT id, launched_by, started_at IS NOT NULL FROM squall.executors ORDER BY id", &[]).await.unwrap();
    assert_eq!(rows.len(), 3);
    for id in &added {
        let row = rows.iter().find(|r| r.get::<_, String>(0) == *id).expect("added executor listed");
        assert_eq!(row.get::<_, String>(1), "operator");
        assert!(row.get::<_, bool>(2));
    }
    assert_eq!(server.child_pids().len(), 3, "three executor processes");
    assert_eq!(sum().await, total);

    // REMOVE EXECUTOR stops the process now and the scheduler forgets it at once.
    let before = server.child_pids();
    client.batch_execute(&format!("REMOVE EXECUTOR '{}'", added[0])).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while before.iter().filter(|&&p| is_alive(p)).count() > 2 {
        assert!(Instant::now() < deadline, "the removed executor's process is still running");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ids: Vec<String> = client.query("SELECT id FROM squall.executors", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert!(!ids.contains(&added[0]), "{ids:?}");
    assert_eq!(ids.len(), 2);
    assert_eq!(sum().await, total);

    let err = client.batch_execute("REMOVE EXECUTOR 'exec-nosuch'").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42704");
    let err = client.batch_execute("ADD EXECUTORS 0").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42601");
    assert_eq!(sum().await, total);
}

async fn show_cluster(client: &tokio_postgres::Client) -> std::collections::HashMap<String, String> {
    client.query("SHOW CLUSTER", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_settings_are_validated_and_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut server = squall().executors(1).data_dir(data.path()).start();
    server.wait_for_executors(1).await;
    let client = server.client().await;
    let shown = show_cluster(&client).await;
    assert_eq!(shown["min_executors"], "1");
    assert_eq!(shown["max_executors"], "8");
    assert_eq!(shown["scale_up_after"], "1s");
    assert_eq!(shown["idle_timeout"], "60s");
    assert_eq!(shown["executors_active"], "1");
    assert_eq!(shown["pending_tasks"], "0");
    assert_eq!(shown["queued_jobs"], "0");

    client
        .batch_execute("ALTER CLUSTER SET (min_executors = 2, max_executors = 4, scale_up_after = '500ms', idle_timeout = '30s')")
        .await
        .unwrap();
    for bad in [
        "ALTER CLUSTER SET (max_executors = 1)",
        "ALTER CLUSTER SET (min_executors = -1)",
        "ALTER CLUSTER SET (idle_timeout = 'soon')",
        "ALTER CLUSTER SET (colour = 'blue')",
    ] {
        let err = client.batch_execute(bad).await.unwrap_err();
        assert_eq!(err.code().unwrap().code(), "22023", "{bad}: {err}");
    }
    // Only a superuser changes or inspects the cluster's make-up; other users still query.
    client.batch_execute("CREATE USER alice").await.unwrap();
    let (alice, connection) =
        tokio_postgres::connect(&server.connection_string().replace("user=squall", "user=alice"), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    for denied in ["ADD EXECUTOR", "REMOVE EXECUTOR 'x'", "DRAIN EXECUTOR 'x'", "SHOW CLUSTER", "ALTER CLUSTER SET (max_executors = 9)"] {
        let err = alice.batch_execute(denied).await.unwrap_err();
        assert_eq!(err.code().unwrap().code(), "42501", "{denied}: {err}");
    }
    assert_eq!(alice.query_one("SELECT 1 + 1", &[]).await.unwrap().get::<_, i64>(0), 2);
    let shown = show_cluster(&client).await;
    assert_eq!((shown["min_executors"].as_str(), shown["max_executors"].as_str()), ("2", "4"));
    assert_eq!((shown["scale_up_after"].as_str(), shown["idle_timeout"].as_str()), ("500ms", "30s"));
    drop(client);
    server.kill9();

    // The stored settings win over the command line: two executors start, not one.
    let server = squall().executors(1).data_dir(data.path()).start();
    server.wait_for_executors(2).await;
    let client = server.client().await;
    let shown = show_cluster(&client).await;
    assert_eq!((shown["min_executors"].as_str(), shown["idle_timeout"].as_str()), ("2", "30s"));
    assert_eq!(server.child_pids().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_adds_executors_and_idleness_removes_them() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    let client = server.client().await;
    client
        .batch_execute("ALTER CLUSTER SET (min_executors = 1, max_executors = 3, scale_up_after = '200ms', idle_timeout = '2s')")
        .await
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let orders = create_orders(&client, files.path(), 24, 20_000).await;
    let expected: i64 = orders.iter().map(|o| o.amount * (o.id % 7)).sum();
    // A burst of concurrent scans, many more tasks than one executor has slots.
    let mut burst = Vec::new();
    for _ in 0..6 {
        let client = server.client().await;
        burst.push(tokio::spawn(async move {
            client
                .query_one("SELECT sum(amount * (id % 7)) FROM orders WHERE region <> 'nowhere'", &[])
                .await
                .unwrap()
                .get::<_, i64>(0)
        }));
    }
    for answer in burst {
        assert_eq!(answer.await.unwrap(), expected);
    }
    let events: Vec<(String, String)> =
        client.query("SELECT kind, reason FROM squall.cluster_events", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    let ups: Vec<&(String, String)> = events.iter().filter(|(k, _)| k == "scale-up").collect();
    assert!(!ups.is_empty(), "no scale-up in {events:?}");
    assert!(ups.len() <= 2, "max_executors = 3 allows two more: {events:?}");
    assert!(ups[0].1.starts_with("pending tasks "), "{ups:?}");
    // Idle executors go, down to min_executors.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = client.query_one("SELECT count(*) FROM squall.executors", &[]).await.unwrap().get(0);
        if n == 1 && server.child_pids().len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "still {n} executors: {:?}", client.query("SELECT kind, executor, reason FROM squall.cluster_events", &[]).await.unwrap().iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(2))).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let downs: i64 = client.query_one("SELECT count(*) FROM squall.cluster_events WHERE kind = 'scale-down'", &[]).await.unwrap().get(0);
    assert_eq!(downs as usize, ups.len(), "{:?}", client.query("SELECT kind, executor, reason FROM squall.cluster_events", &[]).await.unwrap().iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(1), r.get::<_, String>(2))).collect::<Vec<_>>());
    // And the one left still answers.
    assert_eq!(client.query_one("SELECT sum(amount * (id % 7)) FROM orders", &[]).await.unwrap().get::<_, i64>(0), expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_an_executor_mid_query_still_gives_the_right_answer() {
    let server = squall().executors(2).start();
    server.wait_for_executors(2).await;
    let client = server.client().await;
    let files = tempfile::tempdir().unwrap();
    let orders = create_orders(&client, files.path(), 24, 20_000).await;
    let mut expected: std::collections::BTreeMap<String, i64> = Default::default();
    for o in &orders {
        *expected.entry(o.region.to_string()).or_default() += o.amount;
    }
    let query = "SELECT region, sum(amount) FROM orders GROUP BY region ORDER BY region";
    let mut running = Vec::new();
    for _ in 0..4 {
        let client = server.client().await;
        running.push(tokio::spawn(async move { client.query(query, &[]).await.map(|rows| rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))).collect::<Vec<_>>()) }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let victim = server.child_pids()[0];
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    assert!(running.iter().any(|q| !q.is_finished()), "the queries ended before the kill: make them longer");
    for answer in running {
        let rows = answer.await.unwrap().expect("the query survives the loss of an executor");
        assert_eq!(rows, expected.clone().into_iter().collect::<Vec<_>>());
    }
    // The loss is noticed from the process exit, and the floor of two executors restored (the
    // autoscaler may also have added one for the backlog the loss left).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let kinds: Vec<String> = client.query("SELECT kind FROM squall.cluster_events", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        let active: i64 = client.query_one("SELECT count(*) FROM squall.executors WHERE state = 'active'", &[]).await.unwrap().get(0);
        if kinds.contains(&"loss".to_string()) && kinds.contains(&"replace".to_string()) && active >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "events {kinds:?}, {active} active executors");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows: Vec<(String, i64)> = client.query(query, &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(rows, expected.into_iter().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn running_jobs_are_shown_with_their_sql_and_can_be_cancelled() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    let client = server.client().await;
    let files = tempfile::tempdir().unwrap();
    create_orders(&client, files.path(), 8, 20_000).await;
    // A self-join that keeps the executor busy for a while.
    let heavy = "SELECT count(*) FROM orders a JOIN orders b ON a.customer_id = b.customer_id WHERE a.amount + b.amount > 10";
    let runner = server.client().await;
    let running = tokio::spawn(async move { runner.query_one(heavy, &[]).await });
    let deadline = Instant::now() + Duration::from_secs(20);
    let id: String = loop {
        let jobs = client.query("SELECT id, query, state FROM squall.jobs", &[]).await.unwrap();
        if let Some(job) = jobs.iter().find(|j| j.get::<_, String>(1) == heavy) {
            break job.get(0);
        }
        assert!(
            Instant::now() < deadline && !running.is_finished(),
            "the job never showed in squall.jobs: {:?}",
            jobs.iter().map(|j| (j.get::<_, String>(1), j.get::<_, String>(2))).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let shown = client.simple_query("SHOW JOBS").await.unwrap();
    assert!(shown.iter().any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some(id.as_str()))));
    client.batch_execute(&format!("CANCEL JOB '{id}'")).await.unwrap();
    let err = running.await.unwrap().expect_err("a cancelled query fails");
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err:?}");
    let err = client.batch_execute("CANCEL JOB 'nosuch'").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42704");
    assert_eq!(client.query_one("SELECT count(*) FROM orders", &[]).await.unwrap().get::<_, i64>(0), 160_000);
}

/// `(id, state, failed_tasks)` of every executor.
async fn executors(client: &tokio_postgres::Client) -> Vec<(String, String, i64)> {
    client
        .query("SELECT id, state, failed_tasks FROM squall.executors ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

async fn events(client: &tokio_postgres::Client) -> Vec<(String, String, String)> {
    client
        .query("SELECT kind, cause, executor FROM squall.cluster_events ORDER BY time", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_mid_query_keeps_answers_right_and_the_executor_leaves_once_unneeded() {
    let server = squall().executors(2).start();
    let ids = server.wait_for_executors(2).await;
    let client = server.client().await;
    // min 1 so nothing replaces the drained executor; a long idle timeout so nothing else goes.
    client.batch_execute("ALTER CLUSTER SET (min_executors = 1, max_executors = 1, idle_timeout = '600s')").await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let orders = create_orders(&client, files.path(), 24, 20_000).await;
    let mut expected: std::collections::BTreeMap<String, i64> = Default::default();
    for o in &orders {
        *expected.entry(o.region.to_string()).or_default() += o.amount;
    }
    // Two-stage queries: the scan stage's shuffle output lives on both executors.
    let query = "SELECT region, sum(amount) FROM orders GROUP BY region ORDER BY region";
    let mut running = Vec::new();
    for _ in 0..4 {
        let client = server.client().await;
        running.push(tokio::spawn(async move {
            client.query(query, &[]).await.map(|rows| rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))).collect::<Vec<_>>())
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let victim = ids[0].clone();
    client.batch_execute(&format!("DRAIN EXECUTOR '{victim}'")).await.unwrap();
    assert!(running.iter().any(|q| !q.is_finished()), "the queries ended before the drain: make them longer");
    let state = executors(&client).await.into_iter().find(|e| e.0 == victim).map(|e| e.1);
    assert!(matches!(state.as_deref(), Some("draining") | None), "{state:?}");
    for answer in running {
        let rows = answer.await.unwrap().expect("a drain does not fail running queries");
        assert_eq!(rows, expected.clone().into_iter().collect::<Vec<_>>());
    }
    // It leaves once no running job needs it: listed no more, its process gone.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = executors(&client).await;
        if !listed.iter().any(|e| e.0 == victim) && server.child_pids().len() == 1 {
            // Nothing was lost on the way: no task anywhere failed to read its shuffle output.
            assert!(listed.iter().all(|e| e.2 == 0), "{listed:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the drained executor did not leave: {listed:?} {:?}\n{}", events(&client).await, server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = events(&client).await;
    assert!(seen.contains(&("drain".into(), "operator".into(), victim.clone())), "{seen:?}");
    assert!(seen.contains(&("drained".into(), "no-longer-needed".into(), victim.clone())), "{seen:?}");
    assert!(!seen.iter().any(|e| e.0 == "loss"), "{seen:?}");
    // New queries run on the executor left.
    let rows: Vec<(String, i64)> = client.query(query, &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(rows, expected.into_iter().collect::<Vec<_>>());

    let err = client.batch_execute("DRAIN EXECUTOR 'exec-nosuch'").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42704");
    let metrics = server.http_get("/metrics");
    assert!(metrics.contains("squall_cluster_events_total{kind=\"drained\",reason=\"no-longer-needed\"} 1"), "{metrics}");
    assert!(metrics.contains("squall_executors{state=\"active\"} 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_every_executor_mid_query_never_hangs_and_the_floor_is_restored() {
    let server = squall().executors(2).start();
    server.wait_for_executors(2).await;
    let client = server.client().await;
    let files = tempfile::tempdir().unwrap();
    let orders = create_orders(&client, files.path(), 24, 20_000).await;
    let total: i64 = orders.iter().map(|o| o.amount).sum();
    let query = "SELECT sum(amount) FROM (SELECT region, sum(amount) AS amount FROM orders GROUP BY region) AS t";
    let runner = server.client().await;
    let running = tokio::spawn(async move { runner.query_one(query, &[]).await.map(|r| r.get::<_, i64>(0)) });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!running.is_finished(), "the query ended before the kills: make it longer");
    for pid in server.child_pids() {
        // SAFETY: signalling processes this test started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    // The autoscaler replaces both; the query then finishes with the right answer, or fails with
    // a clear error, well within a minute: it must not hang.
    let outcome = tokio::time::timeout(Duration::from_secs(90), running).await.expect("the query hung after every executor was lost").unwrap();
    match outcome {
        Ok(sum) => assert_eq!(sum, total),
        Err(e) => {
            let db = e.as_db_error().expect("an error from squall, not a dropped connection");
            assert!(db.message().contains("executor"), "the error says what happened: {db:?}");
        }
    }
    server.wait_for_executors(2).await;
    let seen = events(&client).await;
    assert_eq!(seen.iter().filter(|e| e.0 == "loss").count(), 2, "{seen:?}");
    assert!(seen.iter().filter(|e| e.0 == "replace").count() >= 2, "{seen:?}");
    assert_eq!(client.query_one(query, &[]).await.unwrap().get::<_, i64>(0), total);
}

#[tokio::test(flavor = "multi_thread")]
async fn finished_jobs_stay_in_squall_jobs_with_their_user_and_tasks() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    let client = server.client().await;
    let files = tempfile::tempdir().unwrap();
    create_orders(&client, files.path(), 4, 1_000).await;
    let query = "SELECT region, count(*) FROM orders GROUP BY region";
    client.query(query, &[]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = client
            .query("SELECT \"user\", state, stages_done, stages_total, tasks_done, elapsed_ms FROM squall.jobs WHERE query = $1", &[&query])
            .await
            .unwrap();
        if let Some(row) = rows.first() {
            assert_eq!(row.get::<_, String>(0), "squall");
            assert_eq!(row.get::<_, String>(1), "done");
            assert_eq!(row.get::<_, i64>(2), row.get::<_, i64>(3));
            // A scan stage and a final stage: at least a task each (Ballista gives one task as
            // many partitions as the executor has free slots).
            assert!(row.get::<_, i64>(4) >= 2, "at least a task per stage");
            assert!(row.get::<_, i64>(5) >= 0);
            break;
        }
        assert!(Instant::now() < deadline, "the finished job is not in squall.jobs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_launcher_starts_executors_from_a_template() {
    let binary = env!("CARGO_BIN_EXE_squall");
    let template = format!("exec {binary} executor --scheduler {{scheduler}} --id {{id}} --slots {{slots}} --work-dir {{work_dir}}");
    let server = squall().executors(1).args(&["--launcher", "command", "--launcher-command", &template]).start();
    server.wait_for_executors(1).await;
    let client = server.client().await;
    let added: Vec<String> = client.query("ADD EXECUTOR", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(added.len(), 1);
    let files = tempfile::tempdir().unwrap();
    let orders = create_orders(&client, files.path(), 4, 1_000).await;
    let total: i64 = orders.iter().map(|o| o.amount).sum();
    assert_eq!(client.query_one("SELECT sum(amount) FROM orders", &[]).await.unwrap().get::<_, i64>(0), total);
    client.batch_execute(&format!("REMOVE EXECUTOR '{}'", added[0])).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.child_pids().len() > 1 {
        assert!(Instant::now() < deadline, "the removed executor's command is still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(client.query_one("SELECT sum(amount) FROM orders", &[]).await.unwrap().get::<_, i64>(0), total);
}

/// An operator's ADD EXECUTOR is not undone by idle scale-down: with an executor idle for longer
/// than `idle_timeout`, the cluster stays at two for `idle_timeout` from the ADD, SHOW CLUSTER
/// and squall.cluster_events tell the hold and what it stopped, and once it ends idleness takes
/// the cluster back to `min_executors`.
#[tokio::test(flavor = "multi_thread")]
async fn an_added_executor_holds_the_cluster_against_idle_scale_down_for_idle_timeout() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    let client = server.client().await;
    client.batch_execute("ALTER CLUSTER SET (min_executors = 1, max_executors = 3, idle_timeout = '4s')").await.unwrap();
    // The first executor has run nothing: idle for longer than idle_timeout before the ADD.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let added: String = client.query_one("ADD EXECUTOR", &[]).await.unwrap().get(0);
    let at = Instant::now();
    let hold = show_cluster(&client).await["operator_hold"].clone();
    assert!(hold.starts_with("2 executors held against idle scale-down until ") && hold.ends_with("(set by ADD EXECUTOR)"), "{hold}");
    let active = || async { client.query_one("SELECT count(*) FROM squall.executors WHERE state = 'active'", &[]).await.unwrap().get::<_, i64>(0) };
    while at.elapsed() < Duration::from_millis(3600) {
        assert_eq!(active().await, 2, "{:?} after the ADD: {:?}", at.elapsed(), events(&client).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The hold ends; the longest idle one goes, down to min_executors.
    let deadline = Instant::now() + Duration::from_secs(30);
    while active().await != 1 || server.child_pids().len() != 1 || !events(&client).await.iter().any(|(kind, _, _)| kind == "drained") {
        assert!(Instant::now() < deadline, "not back to one: {:?}", events(&client).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(show_cluster(&client).await["operator_hold"], "none");
    let told: Vec<(String, String, String)> = events(&client).await;
    let kinds: Vec<&str> = told.iter().map(|(kind, _, _)| kind.as_str()).skip_while(|kind| *kind != "add").collect();
    assert_eq!(kinds, ["add", "hold", "held", "scale-down", "drained"], "{told:?}");
    let held: String = client.query_one("SELECT reason FROM squall.cluster_events WHERE kind = 'held'", &[]).await.unwrap().get(0);
    assert!(held.starts_with("idle scale-down of ") && !held.contains(&added), "the executor idle since before the ADD was kept: {held}");
}
