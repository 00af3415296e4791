//! Pipes (engine/src/ingest/pipes/): files written into a directory during the test are loaded
//! exactly once, across pause, resume and kill -9; a bad file is quarantined with its error, not
//! retried; only superusers manage pipes.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::squall;

/// Writes `text` to `dir/name` as a producer should: under a hidden name, then renamed.
fn land(dir: &Path, name: &str, text: &str) {
    let hidden = dir.join(format!(".{}.part", name.replace('/', "_")));
    std::fs::write(&hidden, text).unwrap();
    let target = dir.join(name);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::rename(hidden, target).unwrap();
}

fn csv(first: i64, n: i64) -> String {
    let mut text = String::from("kind,id\n");
    for id in first..first + n {
        text.push_str(&format!("k{},{id}\n", id % 3));
    }
    text
}

/// Waits until `query` answers `expected` (its first column of its first row, as text).
async fn eventually(client: &Client, query: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = client.simple_query(query).await.unwrap();
        let value = rows.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        });
        if value.as_deref() == Some(expected) {
            return;
        }
        if Instant::now() > deadline {
            let pipes = client.simple_query("SELECT name || ' ' || state || ' ' || coalesce(last_error, '') FROM squall.pipes UNION ALL SELECT file || ' ' || status || ' ' || coalesce(error, '') FROM squall.pipe_files").await.unwrap();
            let shown: Vec<String> = pipes.iter().filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            }).collect();
            panic!("{query}: {value:?}, waiting for {expected}; pipes: {shown:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn count_and_distinct(client: &Client) -> (i64, i64) {
    let row = client.query_one("SELECT count(*), count(DISTINCT id) FROM events", &[]).await.unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipe_loads_each_landed_file_once_across_pause_and_kill_9_and_quarantines_a_bad_one() {
    let data = tempfile::tempdir().unwrap();
    let incoming = tempfile::tempdir().unwrap();
    let mut server = squall().data_dir(data.path()).executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE events (id BIGINT NOT NULL, kind TEXT); CREATE USER analyst PASSWORD 'pw'; GRANT INSERT ON events TO analyst").await.unwrap();

    // A file there before the pipe, then the pipe.
    land(incoming.path(), "a.csv", &csv(0, 100));
    let source = incoming.path().display().to_string();
    client
        .batch_execute(&format!("CREATE PIPE arrivals INTO events FROM '{source}' FORMAT csv OPTIONS (poll_interval = '100ms')"))
        .await
        .unwrap();
    eventually(&client, "SELECT count(*) FROM events", "100").await;

    // Files written while it runs, one in a subdirectory; marker and hidden files are skipped;
    // a file whose rows do not fit the table is quarantined with its line and column.
    land(incoming.path(), "b.csv", &csv(100, 50));
    land(incoming.path(), "later/c.csv", &csv(150, 25));
    std::fs::write(incoming.path().join("_SUCCESS"), "").unwrap();
    land(incoming.path(), "bad.csv", "kind,id\nx,1000\ny,not-a-number\n");
    eventually(&client, "SELECT files_loaded || '/' || files_quarantined || '/' || rows_loaded FROM squall.pipes WHERE name = 'arrivals'", "3/1/175").await;
    assert_eq!(count_and_distinct(&client).await, (175, 175), "nothing of the bad file");
    let bad = client.query_one("SELECT status, error FROM squall.pipe_files WHERE file = 'bad.csv'", &[]).await.unwrap();
    let error: String = bad.get(1);
    assert_eq!(bad.get::<_, String>(0), "quarantined");
    assert!(error.starts_with("22P02") && error.contains("line 3") && error.contains("column id"), "{error}");
    let files: Vec<String> = client.query("SELECT file FROM squall.pipe_files WHERE status = 'loaded' ORDER BY sequence", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(files, vec!["a.csv", "b.csv", "later/c.csv"]);

    // Paused, it takes nothing; resumed, it takes what landed meanwhile.
    client.batch_execute("ALTER PIPE arrivals PAUSE").await.unwrap();
    land(incoming.path(), "d.csv", &csv(175, 25));
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(count_and_distinct(&client).await, (175, 175));
    let shown = client.simple_query("SHOW PIPES").await.unwrap();
    let state = shown.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => Some((row.get("name").unwrap().to_string(), row.get("state").unwrap().to_string())),
        _ => None,
    });
    assert_eq!(state, Some(("arrivals".into(), "paused".into())));
    client.batch_execute("ALTER PIPE arrivals RESUME").await.unwrap();
    eventually(&client, "SELECT count(*) FROM events", "200").await;

    // kill -9 and a restart: the pipe goes on where it was, and nothing is loaded twice (the
    // quarantined file is not tried again either).
    land(incoming.path(), "e.csv", &csv(200, 30));
    server.kill9();
    let server = squall().data_dir(data.path()).executors(1).start();
    let client = server.client().await;
    land(incoming.path(), "f.csv", &csv(230, 20));
    eventually(&client, "SELECT count(*) FROM events", "250").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count_and_distinct(&client).await, (250, 250));
    eventually(&client, "SELECT files_loaded || '/' || files_quarantined || '/' || files_loading FROM squall.pipes", "6/1/0").await;
    // squall.ingest counts the pipe's files since the restart, and they add up.
    let row = client
        .query_one("SELECT batches_received, batches_committed + batches_rejected + duplicates_ignored + in_flight FROM squall.ingest WHERE endpoint = 'pipe:arrivals'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), row.get::<_, i64>(1));

    // Only superusers manage pipes; bad definitions are refused.
    let (analyst, connection) = tokio_postgres::connect(&format!("host=127.0.0.1 port={} user=analyst password=pw dbname=squall", server.pg_port), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let refused = analyst.batch_execute(&format!("CREATE PIPE mine INTO events FROM '{source}' FORMAT csv")).await.unwrap_err();
    assert_eq!(refused.code().map(|c| c.code()), Some("42501"));
    let code = |e: tokio_postgres::Error| e.code().map(|c| c.code().to_string());
    assert_eq!(code(client.batch_execute(&format!("CREATE PIPE arrivals INTO events FROM '{source}' FORMAT csv")).await.unwrap_err()).as_deref(), Some("42710"));
    assert_eq!(code(client.batch_execute(&format!("CREATE PIPE x INTO events FROM '{source}' FORMAT xml")).await.unwrap_err()).as_deref(), Some("22023"));
    assert_eq!(code(client.batch_execute("CREATE PIPE x INTO events FROM 'relative/dir' FORMAT csv").await.unwrap_err()).as_deref(), Some("22023"));
    assert_eq!(code(client.batch_execute(&format!("CREATE PIPE x INTO nowhere FROM '{source}' FORMAT csv")).await.unwrap_err()).as_deref(), Some("42P01"));
    assert_eq!(code(client.batch_execute("ALTER PIPE nothing PAUSE").await.unwrap_err()).as_deref(), Some("42704"));

    // Dropped, it loads no more; the rows it loaded stay.
    client.batch_execute("DROP PIPE arrivals; DROP PIPE IF EXISTS arrivals").await.unwrap();
    land(incoming.path(), "g.csv", &csv(250, 10));
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(count_and_distinct(&client).await, (250, 250));
    assert!(client.query("SHOW PIPES", &[]).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parquet_pipe_reads_columns_by_name() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE events (id BIGINT NOT NULL, kind TEXT)").await.unwrap();
    let incoming = tempfile::tempdir().unwrap();
    client
        .batch_execute(&format!("CREATE PIPE files INTO events FROM '{}' FORMAT parquet OPTIONS (poll_interval = '100ms')", incoming.path().display()))
        .await
        .unwrap();
    // Columns in another order than the table's, written by the parquet crate.
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("kind", arrow::datatypes::DataType::Utf8, true),
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, false),
    ]));
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![std::sync::Arc::new(arrow::array::StringArray::from(vec!["a", "b", "c"])), std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3]))],
    )
    .unwrap();
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let hidden = incoming.path().join(".part-0.parquet");
    std::fs::write(&hidden, &bytes).unwrap();
    std::fs::rename(&hidden, incoming.path().join("part-0.parquet")).unwrap();
    // Not Parquet at all: quarantined.
    land(incoming.path(), "part-1.parquet", "this is not parquet");
    eventually(&client, "SELECT files_loaded || '/' || files_quarantined FROM squall.pipes", "1/1").await;
    let rows: Vec<(i64, String)> = client.query("SELECT id, kind FROM events ORDER BY id", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(rows, vec![(1, "a".into()), (2, "b".into()), (3, "c".into())]);
}

/// A pipe commits its files in the order it numbered them, whatever their names: while a
/// numbered file cannot be loaded (its table is gone), no later file is numbered, so once the
/// table is back they commit in that order and neither is taken for a duplicate of the other (a
/// file named before it, numbered after it and committed first, had made its rows look loaded
/// already). A numbered file removed before it was loaded is quarantined, not left "loading".
#[tokio::test(flavor = "multi_thread")]
async fn files_landing_while_the_table_is_gone_load_once_it_is_back_in_their_numbers_order() {
    let incoming = tempfile::tempdir().unwrap();
    let server = squall().executors(0).start();
    let client = server.client().await;
    let create = "CREATE TABLE events (id BIGINT NOT NULL, kind TEXT)";
    client.batch_execute(create).await.unwrap();
    let source = incoming.path().display().to_string();
    client.batch_execute(&format!("CREATE PIPE arrivals INTO events FROM '{source}' FORMAT csv OPTIONS (poll_interval = '100ms')")).await.unwrap();
    let status = |file: &'static str| format!("SELECT coalesce(max(status), 'none') FROM squall.pipe_files WHERE file = '{file}'");

    client.batch_execute("DROP TABLE events").await.unwrap();
    land(incoming.path(), "c.csv", &csv(0, 40));
    eventually(&client, &status("c.csv"), "loading").await;
    land(incoming.path(), "a.csv", &csv(40, 60));
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    eventually(&client, &status("a.csv"), "none").await;
    client.batch_execute(create).await.unwrap();
    eventually(&client, &status("a.csv"), "loaded").await;
    eventually(&client, &status("c.csv"), "loaded").await;
    assert_eq!(count_and_distinct(&client).await, (100, 100));

    client.batch_execute("DROP TABLE events").await.unwrap();
    land(incoming.path(), "d.csv", &csv(1_000, 5));
    eventually(&client, &status("d.csv"), "loading").await;
    std::fs::remove_file(incoming.path().join("d.csv")).unwrap();
    land(incoming.path(), "e.csv", &csv(100, 30));
    client.batch_execute(create).await.unwrap();
    eventually(&client, &status("e.csv"), "loaded").await;
    eventually(&client, &status("d.csv"), "quarantined").await;
    let error: String = client.query_one("SELECT error FROM squall.pipe_files WHERE file = 'd.csv'", &[]).await.unwrap().get(0);
    assert!(error.contains("removed before it was loaded"), "{error}");
    assert_eq!(count_and_distinct(&client).await, (30, 30));
}
