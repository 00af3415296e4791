//! Rows sent over HTTP (`POST /v1/tables/<table>/rows`, engine/src/ingest/http_rows.rs), with curl
//! as the client: CSV with a header in any order, NDJSON and Arrow IPC bodies each one commit; a
//! bad row rejects its whole batch with its line, column and SQLSTATE; credentials and GRANT
//! INSERT checked as on the Postgres port.

use crate::squall;

#[tokio::test(flavor = "multi_thread")]
async fn batches_of_rows_posted_over_http_commit_whole_or_not_at_all() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client
        .batch_execute(
            "CREATE TABLE events (id BIGINT NOT NULL, kind TEXT, x DOUBLE PRECISION); \
             CREATE USER app PASSWORD 'secret'; CREATE USER outsider PASSWORD 'pw'; GRANT INSERT ON events TO app",
        )
        .await
        .unwrap();
    let post = |credentials: Option<&str>, content_type: &str, body: &[u8]| server.http_post("/v1/tables/events/rows", credentials, content_type, body);
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    let app = Some("app:secret");
    // A query run before the rows arrive is not answered from its old plan after.
    assert_eq!(client.query_one("SELECT count(*) FROM events", &[]).await.unwrap().get::<_, i64>(0), 0);

    // CSV: the header names the columns in its own order; those it leaves out are NULL.
    let (status, body) = post(app, "text/csv", b"kind,id\na,1\nb,2\n");
    assert_eq!((status, json(&body)), (200, serde_json::json!({"table": "events", "rows": 2, "version": 1})), "the commit's table version");
    // NDJSON: objects by column name, absent keys NULL.
    let (status, body) = post(app, "application/x-ndjson", b"{\"id\": 3, \"kind\": \"c\", \"x\": 1.5}\n{\"id\": 4}\n");
    assert_eq!((status, json(&body)["rows"].clone()), (200, serde_json::json!(2)));
    // Arrow IPC stream, columns in another order.
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("x", arrow::datatypes::DataType::Float64, true),
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, false),
    ]));
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![std::sync::Arc::new(arrow::array::Float64Array::from(vec![2.5, 3.5])), std::sync::Arc::new(arrow::array::Int64Array::from(vec![10, 11]))],
    )
    .unwrap();
    let mut stream = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut stream, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    let (status, body) = post(app, "application/vnd.apache.arrow.stream", &stream);
    assert_eq!((status, json(&body)["rows"].clone()), (200, serde_json::json!(2)), "{body}");

    // A bad value rejects the whole batch (the good row before it too), naming line and column.
    let (status, body) = post(app, "text/csv", b"kind,id\na,5\nb,notanumber\n");
    let error = json(&body);
    assert_eq!((status, error["sqlstate"].as_str(), error["line"].as_u64(), error["column"].as_str()), (400, Some("22P02"), Some(3), Some("id")), "{body}");
    let (status, body) = post(app, "application/x-ndjson", b"{\"id\": 6}\n{\"id\": \"x7\"}\n");
    assert_eq!((status, json(&body)["line"].as_u64()), (400, Some(2)), "{body}");
    // A key naming no column (a typo) is refused, not dropped.
    let (status, body) = post(app, "application/x-ndjson", b"{\"id\": 8, \"kidn\": \"typo\"}\n");
    assert_eq!((status, json(&body)["line"].as_u64()), (400, Some(1)), "{body}");
    // A NOT NULL column left out.
    let (status, body) = post(app, "text/csv", b"kind\nz\n");
    assert_eq!((status, json(&body)["sqlstate"].as_str()), (400, Some("23502")), "{body}");

    // Credentials and grants.
    let (status, body) = post(None, "text/csv", b"id\n9\n");
    assert_eq!((status, json(&body)["sqlstate"].as_str()), (401, Some("28000")));
    let (status, body) = post(Some("app:wrong"), "text/csv", b"id\n9\n");
    assert_eq!((status, json(&body)["sqlstate"].as_str()), (401, Some("28P01")));
    let (status, body) = post(Some("outsider:pw"), "text/csv", b"id\n9\n");
    assert_eq!((status, json(&body)["sqlstate"].as_str()), (403, Some("42501")));
    let (status, _) = server.http_post("/v1/tables/nope/rows", app, "text/csv", b"id\n9\n");
    assert_eq!(status, 404);
    let (status, _) = post(app, "text/plain", b"9");
    assert_eq!(status, 415);

    // Exactly the accepted batches are in the table, each one commit.
    assert_eq!(client.query_one("SELECT count(*) FROM events", &[]).await.unwrap().get::<_, i64>(0), 6);
    let rows: Vec<(i64, Option<String>, Option<f64>)> =
        client.query("SELECT id, kind, x FROM events ORDER BY id", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(
        rows,
        vec![(1, Some("a".into()), None), (2, Some("b".into()), None), (3, Some("c".into()), Some(1.5)), (4, None, None), (10, None, Some(2.5)), (11, None, Some(3.5))]
    );
    let writes = client.query("DESCRIBE HISTORY events", &[]).await.unwrap().iter().filter(|r| r.get::<_, Option<String>>("operation").as_deref() == Some("WRITE")).count();
    assert_eq!(writes, 3);

    // squall.ingest adds up: the eight batches admitted (sender known, table known, granted),
    // three committed with their six rows, five rejected, the last error named.
    let row = client
        .query_one(
            "SELECT batches_received, batches_committed, batches_rejected, duplicates_ignored, in_flight, rows_committed, last_error, producer, \
                    rows_received, rows_rejected, last_table_version, lag_seconds \
             FROM squall.ingest WHERE endpoint = 'http' AND table_name = 'events'",
            &[],
        )
        .await
        .unwrap();
    let counts: Vec<i64> = (0..6).map(|i| row.get(i)).collect();
    assert_eq!(counts, vec![8, 3, 5, 0, 0, 6]);
    // The rejected batches were refused while being read: their rows never counted received.
    let rows: Vec<i64> = (8..11).map(|i| row.get(i)).collect();
    assert_eq!((rows, row.get::<_, f64>(11)), (vec![6, 0, 3], 0.0), "rows received, rejected, the last commit's version, no lag");
    assert!(row.get::<_, Option<String>>(6).is_some_and(|e| e.starts_with("0A000")), "{:?}", row.get::<_, Option<String>>(6));
    assert_eq!(row.get::<_, Option<String>>(7), None, "no Idempotency-Key: no producer");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_sent_again_with_its_idempotency_key_is_applied_once_even_across_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut server = squall().data_dir(data.path()).executors(1).start();
    server.client().await.batch_execute("CREATE TABLE readings (sensor TEXT, n BIGINT)").await.unwrap();
    // squall's own user has no password: trusted from this machine, as on the Postgres port.
    let send = |server: &squall_tests::Server, key: &str, body: &str| {
        let (status, body) = server.http_post_with("/v1/tables/readings/rows", Some("squall:"), "application/x-ndjson", &[("Idempotency-Key", key)], body.as_bytes());
        (status, serde_json::from_str::<serde_json::Value>(&body).unwrap())
    };
    let batch = |sensor: &str, from: i64| (from..from + 10).map(|n| format!("{{\"sensor\": \"{sensor}\", \"n\": {n}}}\n")).collect::<String>();

    // Batches 1 and 2 of sensor-7, then batch 1 again: not applied twice.
    assert_eq!(send(&server, "sensor-7:1", &batch("s7", 0)).1["rows"], 10);
    assert_eq!(send(&server, "sensor-7:2", &batch("s7", 10)).1["rows"], 10);
    let (status, again) = send(&server, "sensor-7:1", &batch("s7", 0));
    assert_eq!((status, again["duplicate"].as_bool(), again["rows"].as_i64(), again["committed_through"].as_i64()), (200, Some(true), Some(0), Some(2)));
    // Another producer's sequence numbers are its own.
    assert_eq!(send(&server, "sensor-8:1", &batch("s8", 0)).1["rows"], 10);
    // A bad key is refused.
    assert_eq!(send(&server, "no-sequence", &batch("x", 0)).0, 400);

    // After kill -9 and a restart, the log still knows which batches committed.
    server.kill9();
    let server = squall().data_dir(data.path()).executors(1).start();
    let (_, again) = send(&server, "sensor-7:2", &batch("s7", 10));
    assert_eq!(again["duplicate"].as_bool(), Some(true), "{again}");
    assert_eq!(send(&server, "sensor-7:3", &batch("s7", 20)).1["rows"], 10);
    // CSV bodies too.
    let csv = |from: i64| format!("n,sensor\n{from},s9\n{},s9\n", from + 1);
    let (status, body) = server.http_post_with("/v1/tables/readings/rows", Some("squall:"), "text/csv", &[("Idempotency-Key", "sensor-9:5")], csv(0).as_bytes());
    assert_eq!(status, 200, "{body}");
    let (_, body) = server.http_post_with("/v1/tables/readings/rows", Some("squall:"), "text/csv", &[("Idempotency-Key", "sensor-9:5")], csv(0).as_bytes());
    assert!(body.contains("\"duplicate\":true"), "{body}");

    // The same batch sent four times at once: one commit.
    let racing: Vec<_> = (0..4)
        .map(|_| {
            let http = server.http.clone();
            let body = batch("s10", 0);
            std::thread::spawn(move || squall_tests::server::post(&http, "/v1/tables/readings/rows", Some("squall:"), "application/x-ndjson", &[("Idempotency-Key", "sensor-10:1")], body.as_bytes()))
        })
        .collect();
    let answers: Vec<(u16, String)> = racing.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    assert_eq!(answers.iter().filter(|(_, body)| body.contains("\"rows\":10")).count(), 1, "{answers:?}");

    let client = server.client().await;
    // squall.ingest counts each producer's batches: the four copies, one committed.
    let row = client
        .query_one("SELECT batches_received, batches_committed, duplicates_ignored, in_flight FROM squall.ingest WHERE producer = 'sensor-10'", &[])
        .await
        .unwrap();
    assert_eq!((0..4).map(|i| row.get::<_, i64>(i)).collect::<Vec<_>>(), vec![4, 1, 3, 0]);
    let row = client.query_one("SELECT count(*), count(DISTINCT (sensor, n)) FROM readings", &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (30 + 10 + 2 + 10, 52), "sensor-7: 3 batches, sensor-8: 1, sensor-9: 2 rows, sensor-10: 1");
}

/// `n` rows `id,producer` from `first`, as CSV with a header.
fn csv_rows(first: i64, n: i64, producer: &str) -> String {
    let mut body = String::from("id,producer\n");
    for id in first..first + n {
        body.push_str(&format!("{id},{producer}\n"));
    }
    body
}

fn write_commits(rows: &[tokio_postgres::Row]) -> usize {
    rows.iter().filter(|r| r.get::<_, Option<String>>("operation").as_deref() == Some("WRITE")).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_arriving_together_share_a_commit_and_a_full_buffer_answers_503_with_retry_after() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE events (id BIGINT NOT NULL, producer TEXT); ALTER CLUSTER SET (commit_interval = '3s')").await.unwrap();
    let shown: std::collections::HashMap<String, String> = client.query("SHOW CLUSTER", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!((shown["commit_interval"].as_str(), shown["ingest_buffer"].as_str()), ("3s", "256MB"));
    let send = |http: String, body: String, producer: Option<String>| {
        std::thread::spawn(move || {
            let key = producer.map(|p| format!("{p}:1"));
            let headers: Vec<(&str, &str)> = key.iter().map(|k| ("Idempotency-Key", k.as_str())).collect();
            squall_tests::server::post_answer(&http, "/v1/tables/events/rows", Some("squall:"), "text/csv", &headers, body.as_bytes())
        })
    };

    // After a quiet interval a batch commits at once; the five sent within the next interval
    // are committed together, each producer's batch recorded.
    let first = send(server.http.clone(), csv_rows(0, 10, "first"), None).join().unwrap();
    assert_eq!(first.status, 200, "{first:?}");
    let together: Vec<_> = (0..5).map(|p| send(server.http.clone(), csv_rows(100 * (p + 1), 10, &format!("p{p}")), Some(format!("p{p}")))).collect();
    for answer in together.into_iter().map(|t| t.join().unwrap()) {
        assert_eq!((answer.status, answer.body.contains("\"rows\":10")), (200, true), "{answer:?}");
    }
    let history = client.query("DESCRIBE HISTORY events", &[]).await.unwrap();
    assert_eq!(write_commits(&history), 2, "one commit for the first batch, one for the five");
    // Each producer's batch is known as committed: sent again, it is a duplicate.
    let again = send(server.http.clone(), csv_rows(300, 10, "p2"), Some("p2".into())).join().unwrap();
    assert!(again.body.contains("\"duplicate\":true"), "{again:?}");

    // A producer faster than the committer: with 1MB of room, batches of 300kB sent at once
    // while the table waits for its next commit fill it; the rest are refused at once with 503
    // and Retry-After, and nothing of them is written.
    client.batch_execute("ALTER CLUSTER SET (ingest_buffer = '1MB')").await.unwrap();
    let big = |p: i64| csv_rows(1_000_000 * (p + 1), 22_000, "burst");
    assert!(big(0).len() > 300_000);
    let burst: Vec<_> = (0..8).map(|p| send(server.http.clone(), big(p), None)).collect();
    let answers: Vec<_> = burst.into_iter().map(|t| t.join().unwrap()).collect();
    let accepted = answers.iter().filter(|a| a.status == 200).count();
    let refused: Vec<_> = answers.iter().filter(|a| a.status == 503).collect();
    assert_eq!(accepted + refused.len(), 8, "{answers:?}");
    assert!(accepted >= 1 && !refused.is_empty(), "{answers:?}");
    for answer in &refused {
        let error: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!((answer.retry_after.as_deref(), error["sqlstate"].as_str()), (Some("1"), Some("53000")), "{answer:?}");
    }
    let count: i64 = client.query_one("SELECT count(*) FROM events", &[]).await.unwrap().get(0);
    assert_eq!(count, 60 + 22_000 * accepted as i64);
    // Refused batches are counted as such.
    let row = client.query_one("SELECT sum(batches_rejected), sum(in_flight) FROM squall.ingest WHERE table_name = 'events'", &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (refused.len() as i64, 0));
    // With the buffer empty again, a batch is taken.
    let after = send(server.http.clone(), csv_rows(5, 1, "after"), None).join().unwrap();
    assert_eq!(after.status, 200, "{after:?}");
}

/// A tiny deterministic generator (splitmix64), so a failure can be replayed.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_thousand_rows_from_producers_that_resend_survive_kill_9_exactly_once() {
    const PRODUCERS: i64 = 10;
    const BATCHES: i64 = 100;
    const ROWS: i64 = 200;
    let data = tempfile::tempdir().unwrap();
    let mut server = squall().data_dir(data.path()).executors(1).start();
    server.client().await.batch_execute("CREATE TABLE readings (id BIGINT NOT NULL, producer TEXT)").await.unwrap();
    let address = std::sync::Arc::new(std::sync::RwLock::new(server.http.clone()));
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));

    // Each producer sends its batches in order, each until answered 200 (a refused connection
    // while the server is down, a 503, a 409 are sent again), and sends a random tenth of the
    // answered ones once more.
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (address, acknowledged) = (address.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let mut random = 0x5EED + p as u64;
                let (mut resent, mut duplicates) = (0, 0);
                for b in 0..BATCHES {
                    let first = (p * BATCHES + b) * ROWS;
                    let body = csv_rows(first, ROWS, &format!("sensor-{p}"));
                    let key = format!("sensor-{p}:{b}");
                    let send = || loop {
                        let http = address.read().unwrap().clone();
                        let answer = squall_tests::server::post_answer(&http, "/v1/tables/readings/rows", Some("squall:"), "text/csv", &[("Idempotency-Key", &key)], body.as_bytes());
                        match answer.status {
                            200 => return answer.body,
                            0 | 409 | 500 | 503 => std::thread::sleep(std::time::Duration::from_millis(100)),
                            _ => panic!("batch {key}: {answer:?}"),
                        }
                    };
                    send();
                    acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if next_random(&mut random) % 10 == 0 {
                        resent += 1;
                        if send().contains("\"duplicate\":true") {
                            duplicates += 1;
                        }
                    }
                }
                (resent, duplicates)
            })
        })
        .collect();

    // A model that follows the table, trained while the producers send.
    while acknowledged.load(std::sync::atomic::Ordering::SeqCst) < PRODUCERS * BATCHES / 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let model_query = "SELECT CAST(id % 7 AS DOUBLE PRECISION) AS x, CAST(id % 3 AS TEXT) AS c, producer FROM readings";
    server
        .client()
        .await
        .batch_execute(&format!("TRAIN MODEL follow USING naive_bayes (refresh = 'continuous') TARGET producer AS {model_query}"))
        .await
        .unwrap();

    // Mid-way, kill -9 and start again on the same data.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while acknowledged.load(std::sync::atomic::Ordering::SeqCst) < PRODUCERS * BATCHES / 2 {
        assert!(std::time::Instant::now() < deadline, "producers stalled at {acknowledged:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.kill9();
    let server = squall().data_dir(data.path()).executors(1).start();
    *address.write().unwrap() = server.http.clone();
    let mut resent_total = 0;
    for producer in producers {
        let (resent, duplicates) = producer.join().unwrap();
        assert_eq!(resent, duplicates, "every batch sent again after its 200 is a duplicate");
        resent_total += resent;
    }
    assert!(resent_total > 0);

    let client = server.client().await;
    let row = client.query_one("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM readings", &[]).await.unwrap();
    let total = PRODUCERS * BATCHES * ROWS;
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2), row.get::<_, i64>(3)), (total, total, 0, total - 1));
    // squall.ingest (since the restart) adds up for every producer, nothing in flight, and the
    // committed batches hold their rows.
    for row in client.query("SELECT producer, batches_received, batches_committed, batches_rejected, duplicates_ignored, in_flight, rows_committed FROM squall.ingest WHERE table_name = 'readings'", &[]).await.unwrap() {
        let n = |i| row.get::<_, i64>(i);
        assert_eq!(n(1), n(2) + n(3) + n(4) + n(5), "{:?}", row.get::<_, Option<String>>(0));
        assert_eq!((n(5), n(6)), (0, n(2) * ROWS));
    }
    // The model followed every commit, across the kill: once it has caught up it is the model
    // TRAIN MODEL makes from all the rows (class probabilities to 1e-9).
    client.batch_execute(&format!("TRAIN MODEL at_once USING naive_bayes TARGET producer AS {model_query}")).await.unwrap();
    let compare = "SELECT max(abs(PREDICT_PROBA('follow', x, c) - PREDICT_PROBA('at_once', x, c))) FROM \
                   (SELECT CAST(id % 7 AS DOUBLE PRECISION) AS x, CAST(id % 3 AS TEXT) AS c FROM readings WHERE id < 2000)";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let gap: f64 = client.query_one(compare, &[]).await.unwrap().get(0);
        if gap < 1e-9 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the continuous model stays {gap} from the one trained on all rows");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Batches arriving together were committed together: fewer appends than batches in the log.
    let log = data.path().join("tables").join("readings").join("_delta_log");
    let appends = std::fs::read_dir(&log)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter(|e| std::fs::read_to_string(e.path()).unwrap().contains("\"operation\":\"WRITE\""))
        .count();
    assert!(appends > 0 && appends < (PRODUCERS * BATCHES) as usize, "{appends} appends");
}
