//! COPY both ways, as clients use it: tokio-postgres's copy_in/copy_out (extended protocol) and
//! psql's `\copy` (simple protocol), with PostgreSQL's options, errors and atomicity.

use std::process::Command;

use bytes::Bytes;
use futures::{SinkExt, TryStreamExt};
use tokio_postgres::Client;

use crate::squall;
use squall_tests::Server;

async fn count(client: &Client, table: &str) -> i64 {
    client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0)
}

pub(crate) async fn copy_in(client: &Client, statement: &str, data: &str) -> Result<u64, tokio_postgres::Error> {
    let sink = client.copy_in(statement).await?;
    futures::pin_mut!(sink);
    // In uneven pieces, as a driver's buffer cuts them.
    for piece in data.as_bytes().chunks(7) {
        sink.send(Bytes::copy_from_slice(piece)).await?;
    }
    sink.finish().await
}

pub(crate) async fn copy_out(client: &Client, statement: &str) -> String {
    let stream = client.copy_out(statement).await.unwrap();
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    String::from_utf8(chunks.concat()).unwrap()
}

fn psql_at(server: &Server, dir: &std::path::Path, command: &str) -> std::process::Output {
    Command::new("psql")
        .args(["-X", "-h", "127.0.0.1", "-p", &server.pg_port.to_string(), "-U", "squall", "-v", "ON_ERROR_STOP=1", "-c", command])
        .current_dir(dir)
        .output()
        .expect("psql")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_stdin_loads_atomically_and_copy_to_stdout_reads_back() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE fruit (id BIGINT NOT NULL, name TEXT, price DOUBLE, picked DATE)").await.unwrap();

    // CSV with a header, a custom delimiter and NULL, quoted delimiters, quotes and newlines.
    let csv = "id;name;price;picked\n1;apple;1.5;2024-05-01\n2;\"pear; green\";NA;2024-05-02\n3;\"say \"\"hi\"\"\nthere\";2;NA\n";
    let loaded = copy_in(&client, "COPY fruit FROM STDIN WITH (FORMAT csv, HEADER, DELIMITER ';', NULL 'NA')", csv).await.unwrap();
    assert_eq!(loaded, 3);
    let rows = client.query("SELECT id, name, price, CAST(picked AS TEXT) FROM fruit ORDER BY id", &[]).await.unwrap();
    let got: Vec<(i64, Option<String>, Option<f64>, Option<String>)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    assert_eq!(
        got,
        vec![
            (1, Some("apple".into()), Some(1.5), Some("2024-05-01".into())),
            (2, Some("pear; green".into()), None, Some("2024-05-02".into())),
            (3, Some("say \"hi\"\nthere".into()), Some(2.0), None),
        ]
    );
    // Text format into some columns (the others NULL), with escapes.
    assert_eq!(copy_in(&client, "COPY fruit (name, id) FROM STDIN", "tab\\there\t4\n\\N\t5\n").await.unwrap(), 2);
    assert_eq!(client.query_one("SELECT name FROM fruit WHERE id = 4", &[]).await.unwrap().get::<_, String>(0), "tab\there");

    // A bad row anywhere fails the whole COPY, naming its line; nothing of it is loaded.
    let mut bad = String::new();
    for i in 0..5000 {
        bad.push_str(&format!("{},ok,1,2024-01-01\n", 100 + i));
    }
    bad.push_str("6000,bad,cheap,2024-01-01\n7000,after,1,2024-01-01\n");
    let err = copy_in(&client, "COPY fruit FROM STDIN (FORMAT csv)", &bad).await.unwrap_err();
    let db = err.as_db_error().expect("a server error");
    assert_eq!((db.code().code(), db.message()), ("22P02", "invalid input syntax for type double precision: \"cheap\""));
    assert_eq!(db.where_(), Some("COPY fruit, line 5001, column price: \"cheap\""));
    for (statement, data, code) in [
        ("COPY fruit FROM STDIN (FORMAT csv)", "1,a,1,2024-01-01,extra\n", "22P04"),
        ("COPY fruit FROM STDIN (FORMAT csv)", "1,a\n", "22P04"),
        ("COPY fruit FROM STDIN (FORMAT csv)", ",a,1,2024-01-01\n", "23502"),
        ("COPY fruit FROM STDIN (FORMAT csv)", "1,\"never closed\n", "22P04"),
    ] {
        let err = copy_in(&client, statement, data).await.unwrap_err();
        assert_eq!(err.code().unwrap().code(), code, "{data:?}: {err}");
    }
    // The client giving up (CopyFail, sent when the sink is dropped unfinished) loads nothing.
    {
        let sink = client.copy_in("COPY fruit FROM STDIN (FORMAT csv)").await.unwrap();
        futures::pin_mut!(sink);
        sink.send(Bytes::from_static(b"8000,dropped,1,2024-01-01\n")).await.unwrap();
    }
    assert_eq!(count(&client, "fruit").await, 5);
    client.query_one("SELECT 1", &[]).await.expect("the connection goes on after failed copies");

    // What cannot be copied into, and what squall does not do. Each on a connection of its own:
    // tokio-postgres cannot go on after a COPY refused before it starts, with PostgreSQL too
    // (its copy_in sends a second Sync; rust-postgres PR #1337).
    client.batch_execute("CREATE VIEW cheap_fruit AS SELECT * FROM fruit WHERE price < 2").await.unwrap();
    for (statement, code) in [
        ("COPY nosuch FROM STDIN", "42P01"),
        ("COPY cheap_fruit FROM STDIN", "42809"),
        ("COPY fruit (nosuch) FROM STDIN", "42703"),
        ("COPY fruit FROM '/etc/passwd'", "0A000"),
        ("COPY fruit TO STDOUT (FORMAT binary)", "0A000"),
        ("COPY fruit FROM STDIN (FORMAT xml)", "22023"),
    ] {
        let err = server.client().await.copy_in::<_, Bytes>(statement).await.err().unwrap_or_else(|| panic!("{statement} started"));
        assert_eq!(err.code().map(|c| c.code()), Some(code), "{statement}: {err:?}");
    }

    // COPY TO STDOUT: text and CSV, a table or a query, read back as written.
    let text = copy_out(&client, "COPY (SELECT id, name, price FROM fruit WHERE id IN (1, 2, 4, 5) ORDER BY id) TO STDOUT").await;
    assert_eq!(text, "1\tapple\t1.5\n2\tpear; green\t\\N\n4\ttab\\there\t\\N\n5\t\\N\t\\N\n");
    let csv = copy_out(&client, "COPY (SELECT id, name FROM fruit WHERE id <= 3 ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)").await;
    assert_eq!(csv, "id,name\n1,apple\n2,pear; green\n3,\"say \"\"hi\"\"\nthere\"\n");
    let header_only = copy_out(&client, "COPY (SELECT id FROM fruit WHERE id < 0) TO STDOUT (FORMAT csv, HEADER)").await;
    assert_eq!(header_only, "id\n");
    client.batch_execute("CREATE TABLE fruit_copy (id BIGINT NOT NULL, name TEXT, price DOUBLE, picked DATE)").await.unwrap();
    let all = copy_out(&client, "COPY fruit TO STDOUT (FORMAT csv)").await;
    assert_eq!(copy_in(&client, "COPY fruit_copy FROM STDIN (FORMAT csv)", &all).await.unwrap(), 5);
    let same: i64 = client
        .query_one("SELECT count(*) FROM fruit f JOIN fruit_copy c ON f.id = c.id AND (f.name IS NOT DISTINCT FROM c.name) AND (f.price IS NOT DISTINCT FROM c.price) AND (f.picked IS NOT DISTINCT FROM c.picked)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(same, 5, "a CSV round trip keeps every value, NULLs and empty strings apart");

    // psql's \copy, both ways, through files on the client's side.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("more.tsv"), "10\tkiwi\t0.25\t2024-06-01\n11\t\\N\t\\N\t\\N\n").unwrap();
    let out = psql_at(&server, dir.path(), "\\copy fruit FROM 'more.tsv'");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "COPY 2", "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.path().join("bad.csv"), "20,fig,1,2024-06-01\n21,fig,1,June\n").unwrap();
    let out = psql_at(&server, dir.path(), "\\copy fruit FROM 'bad.csv' WITH CSV");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("invalid input syntax for type date: \"June\"") && said.contains("COPY fruit, line 2, column picked: \"June\""), "{said}");
    let out = psql_at(&server, dir.path(), "\\copy (SELECT id, name FROM fruit WHERE id >= 10 ORDER BY id) TO 'out.csv' WITH CSV HEADER");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.path().join("out.csv")).unwrap(), "id,name\n10,kiwi\n11,\n");
    assert_eq!(count(&client, "fruit").await, 7);

    // Privileges: COPY FROM needs INSERT, COPY TO needs SELECT.
    client.batch_execute("CREATE USER alice").await.unwrap();
    let alice = || async {
        let (alice, connection) = tokio_postgres::connect(&server.connection_string().replace("user=squall", "user=alice"), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        alice
    };
    assert_eq!(alice().await.copy_in::<_, Bytes>("COPY fruit FROM STDIN").await.err().unwrap().code().unwrap().code(), "42501");
    assert_eq!(alice().await.copy_out("COPY fruit TO STDOUT").await.err().unwrap().code().unwrap().code(), "42501");

    // Every COPY is in the query log with its rows or its SQLSTATE.
    let logged = client
        .query("SELECT rows, sqlstate FROM squall.query_log WHERE statement LIKE 'COPY fruit FROM STDIN WITH (FORMAT csv, HEADER%' OR statement LIKE 'COPY fruit FROM STDIN (FORMAT csv)' ORDER BY time", &[])
        .await
        .unwrap();
    let logged: Vec<(Option<i64>, String)> = logged.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(logged.first(), Some(&(Some(3), "00000".to_string())));
    assert!(logged.iter().any(|(_, state)| state == "22P02") && logged.iter().any(|(_, state)| state == "57014"), "{logged:?}");
}

/// The server's resident memory, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches(" kB").trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_streams_a_large_load_without_holding_it() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE events (id BIGINT, kind TEXT, payload TEXT)").await.unwrap();
    let before = rss_kib(server.pid());
    // 1.5M rows, ~200 MB of CSV, generated as it is sent.
    const ROWS: u64 = 1_500_000;
    let payload = "x".repeat(100);
    let sink = client.copy_in("COPY events FROM STDIN (FORMAT csv)").await.unwrap();
    futures::pin_mut!(sink);
    let mut peak = before;
    let mut sent = 0u64;
    let mut chunk = String::new();
    for id in 0..ROWS {
        chunk.push_str(&format!("{id},kind{},{payload}{id}\n", id % 7));
        if chunk.len() > 64 * 1024 || id + 1 == ROWS {
            sent += chunk.len() as u64;
            sink.send(Bytes::from(std::mem::take(&mut chunk))).await.unwrap();
            if id % 100_000 < 600 {
                peak = peak.max(rss_kib(server.pid()));
            }
        }
    }
    assert_eq!(sink.as_mut().finish().await.unwrap(), ROWS);
    let growth_mib = (peak.saturating_sub(before)) / 1024;
    let input_mib = sent / (1024 * 1024);
    assert!(growth_mib * 2 < input_mib, "the server grew by {growth_mib} MiB while {input_mib} MiB streamed through it");
    let row = client.query_one("SELECT count(*), count(DISTINCT kind), sum(id) FROM events", &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2)), (ROWS as i64, 7, (ROWS * (ROWS - 1) / 2) as i64));
}


/// Binary COPY with a damaged field length (negative other than NULL's -1, or beyond the 1 GiB a
/// value may have) is a bad file, 22P04 naming the tuple, and loads nothing.
#[tokio::test(flavor = "multi_thread")]
async fn binary_copy_with_a_bad_field_length_is_22p04_with_its_line() {
    let server = squall().executors(0).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE nums (n BIGINT)").await.unwrap();
    for length in [-2i32, i32::MIN, 1 << 30, i32::MAX] {
        let mut data = b"PGCOPY\n\xff\r\n\0".to_vec();
        data.extend_from_slice(&[0; 8]);
        // Tuple 1: 7. Tuple 2: one field of `length` bytes. Then the trailer.
        data.extend_from_slice(&1i16.to_be_bytes());
        data.extend_from_slice(&8i32.to_be_bytes());
        data.extend_from_slice(&7i64.to_be_bytes());
        data.extend_from_slice(&1i16.to_be_bytes());
        data.extend_from_slice(&length.to_be_bytes());
        data.extend_from_slice(&[0; 8]);
        data.extend_from_slice(&(-1i16).to_be_bytes());
        let sink = client.copy_in::<_, Bytes>("COPY nums FROM STDIN (FORMAT binary)").await.unwrap();
        futures::pin_mut!(sink);
        let sent = sink.send(Bytes::from(data)).await;
        let err = match sent {
            Err(e) => e,
            Ok(()) => sink.finish().await.unwrap_err(),
        };
        let db = err.as_db_error().unwrap_or_else(|| panic!("{length}: {err}"));
        assert_eq!((db.code().code(), db.message()), ("22P04", format!("invalid field size {length}").as_str()));
        assert_eq!(db.where_(), Some("COPY nums, line 2"));
    }
    assert_eq!(count(&client, "nums").await, 0);
}
