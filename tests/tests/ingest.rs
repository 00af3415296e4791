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
}
