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

    // CSV: the header names the columns in its own order; those it leaves out are NULL.
    let (status, body) = post(app, "text/csv", b"kind,id\na,1\nb,2\n");
    assert_eq!((status, json(&body)), (200, serde_json::json!({"table": "events", "rows": 2})));
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
            "SELECT batches_received, batches_committed, batches_rejected, duplicates_ignored, in_flight, rows_committed, last_error, producer \
             FROM squall.ingest WHERE endpoint = 'http' AND table_name = 'events'",
            &[],
        )
        .await
        .unwrap();
    let counts: Vec<i64> = (0..6).map(|i| row.get(i)).collect();
    assert_eq!(counts, vec![8, 3, 5, 0, 0, 6]);
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
