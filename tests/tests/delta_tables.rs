//! Managed tables are Delta Lake tables: each statement one commit, UPDATE / DELETE / MERGE with
//! PostgreSQL's tags and errors, conflicting changes refused with 40001, tables of earlier
//! versions converted at start-up.

use std::path::Path;

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::squall;

fn code(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

/// The command tag of a statement run over the simple protocol (`UPDATE 2`).
async fn tag(client: &Client, sql: &str) -> String {
    let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let rows = messages.iter().rev().find_map(|m| match m {
        SimpleQueryMessage::CommandComplete(n) => Some(*n),
        _ => None,
    });
    // tokio-postgres keeps only the count; the verb is the statement's.
    format!("{} {}", sql.split_whitespace().next().unwrap().to_uppercase(), rows.expect("a command tag"))
}

async fn rows(client: &Client, sql: &str) -> Vec<(i64, Option<String>, Option<f64>)> {
    client.query(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
}

fn commits(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("_delta_log")).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".json")).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn insert_update_delete_and_merge_change_exactly_their_rows() {
    let data = tempfile::tempdir().unwrap();
    let server = squall().data_dir(data.path()).executors(2).start();
    let client = server.client().await;
    let table = data.path().join("tables").join("items");
    client.batch_execute("CREATE TABLE items (id bigint NOT NULL, name text, price double precision)").await.unwrap();
    assert_eq!(commits(&table), 1, "CREATE TABLE is version 0");
    assert_eq!(tag(&client, "INSERT INTO items VALUES (1, 'apple', 1.0), (2, 'pear', 2.0), (3, 'fig', 3.0)").await, "INSERT 3");
    assert_eq!(tag(&client, "INSERT INTO items VALUES (4, 'kiwi', 4.0), (5, NULL, 5.0)").await, "INSERT 2");
    assert_eq!(commits(&table), 3, "one commit per statement");

    assert_eq!(tag(&client, "UPDATE items SET price = price * 10, name = upper(name) WHERE id >= 4").await, "UPDATE 2");
    assert_eq!(tag(&client, "UPDATE items SET name = 'none' WHERE id > 100").await, "UPDATE 0");
    assert_eq!(tag(&client, "DELETE FROM items WHERE id = 2").await, "DELETE 1");
    assert_eq!(
        rows(&client, "SELECT id, name, price FROM items ORDER BY id").await,
        vec![
            (1, Some("apple".into()), Some(1.0)),
            (3, Some("fig".into()), Some(3.0)),
            (4, Some("KIWI".into()), Some(40.0)),
            (5, None, Some(50.0)),
        ]
    );

    client.batch_execute("CREATE TABLE changes (id bigint, name text, price double precision)").await.unwrap();
    client.batch_execute("INSERT INTO changes VALUES (1, 'apple', 1.5), (3, NULL, NULL), (6, 'plum', 6.0), (7, 'lime', 7.0)").await.unwrap();
    let merged = tag(
        &client,
        "MERGE INTO items i USING changes c ON i.id = c.id \
         WHEN MATCHED AND c.name IS NULL THEN DELETE \
         WHEN MATCHED THEN UPDATE SET price = c.price \
         WHEN NOT MATCHED AND c.id < 7 THEN INSERT (id, name, price) VALUES (c.id, c.name, c.price)",
    )
    .await;
    assert_eq!(merged, "MERGE 3", "1 updated, 3 deleted, 6 inserted");
    assert_eq!(
        rows(&client, "SELECT id, name, price FROM items ORDER BY id").await,
        vec![
            (1, Some("apple".into()), Some(1.5)),
            (4, Some("KIWI".into()), Some(40.0)),
            (5, None, Some(50.0)),
            (6, Some("plum".into()), Some(6.0)),
        ]
    );
    // Read distributed (every scan on the executors in these tests) and by the coordinator.
    let on_executors: i64 = client.query_one("SELECT count(*) FROM items WHERE price > 2", &[]).await.unwrap().get(0);
    assert_eq!(on_executors, 3);
    assert_eq!(tag(&client, "DELETE FROM items").await, "DELETE 4");
    assert!(rows(&client, "SELECT id, name, price FROM items").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_changes_get_postgresql_errors_and_change_nothing() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client
        .batch_execute(
            "CREATE TABLE t (id bigint NOT NULL, name text, price double precision); \
             INSERT INTO t VALUES (1, 'a', 1.0), (2, 'b', 2.0); \
             CREATE TABLE dup (id bigint, price double precision); INSERT INTO dup VALUES (1, 10.0), (1, 20.0)",
        )
        .await
        .unwrap();
    for (sql, expected) in [
        ("UPDATE t SET nope = 1", "42703"),
        ("UPDATE t SET price = true", "42804"),
        ("UPDATE t SET id = NULL WHERE id = 1", "23502"),
        ("DELETE FROM missing", "42P01"),
        ("MERGE INTO t USING dup d ON t.id = d.id WHEN MATCHED THEN UPDATE SET price = d.price", "21000"),
    ] {
        let e = client.batch_execute(sql).await.unwrap_err();
        assert_eq!(code(&e), expected, "{sql}: {e}");
    }
    assert_eq!(
        rows(&client, "SELECT id, name, price FROM t ORDER BY id").await,
        vec![(1, Some("a".into()), Some(1.0)), (2, Some("b".into()), Some(2.0))]
    );

    // UPDATE and DELETE are privileges of their own; reading columns needs SELECT too.
    client.batch_execute("CREATE USER ann PASSWORD 'pw'; GRANT SELECT, UPDATE ON t TO ann").await.unwrap();
    let (ann, connection) =
        tokio_postgres::connect(&format!("host=127.0.0.1 port={} user=ann password=pw dbname=squall", server.pg_port), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    assert_eq!(tag(&ann, "UPDATE t SET price = 3.0 WHERE id = 2").await, "UPDATE 1");
    assert_eq!(code(&ann.batch_execute("DELETE FROM t WHERE id = 2").await.unwrap_err()), "42501");
    client.batch_execute("REVOKE SELECT ON t FROM ann").await.unwrap();
    assert_eq!(code(&ann.batch_execute("UPDATE t SET price = 4.0 WHERE id = 2").await.unwrap_err()), "42501", "WHERE reads t");
    assert_eq!(tag(&ann, "UPDATE t SET price = 5.0").await, "UPDATE 2", "reads no column");
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_conflicting_updates_one_wins_and_the_other_gets_40001() {
    let server = squall().executors(1).start();
    let setup = server.client().await;
    setup.batch_execute("CREATE TABLE acct (id bigint, balance double precision)").await.unwrap();
    setup.batch_execute("INSERT INTO acct SELECT value, 100.0 FROM generate_series(1, 1000)").await.unwrap();
    let mut outcomes = Vec::new();
    // Several rounds: the two must overlap at least once for the test to mean something.
    for round in 0..5 {
        let (a, b) = (server.client().await, server.client().await);
        let add = |c: Client, amount: i32| async move { c.batch_execute(&format!("UPDATE acct SET balance = balance + {amount}")).await.map_err(|e| code(&e)) };
        let (ra, rb) = tokio::join!(add(a, 1), add(b, 1000));
        outcomes.push((round, ra.clone(), rb.clone()));
        for r in [&ra, &rb] {
            if let Err(c) = r {
                assert_eq!(c, "40001", "the loser's error");
            }
        }
        assert!(ra.is_ok() || rb.is_ok(), "one of them commits");
    }
    assert!(outcomes.iter().any(|(_, a, b)| a.is_err() || b.is_err()), "the updates never overlapped: {outcomes:?}");
    // Whatever committed is in every row, whole: the balances are all equal and add up.
    let committed: f64 = outcomes.iter().map(|(_, a, b)| a.is_ok() as i32 as f64 + b.is_ok() as i32 as f64 * 1000.0).sum();
    let row = setup.query_one("SELECT count(DISTINCT balance), min(balance), count(*) FROM acct", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 1, "no half-applied update: {outcomes:?}");
    assert_eq!(row.get::<_, f64>(1), 100.0 + committed);
    assert_eq!(row.get::<_, i64>(2), 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_of_the_previous_release_become_delta_tables_with_every_row() {
    let data = tempfile::tempdir().unwrap();
    // A data directory as squall wrote it before Delta Lake: a catalog entry with the schema,
    // and the rows in Parquet files under tables/<name>/.
    let dir = data.path().join("tables").join("old");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(data.path().join("tables").join("empty")).unwrap();
    squall_tests::data::write_numbers(&dir.join("part-1.parquet"), 0..600);
    squall_tests::data::write_numbers(&dir.join("part-2.parquet"), 600..1000);
    std::fs::create_dir_all(data.path().join("catalog")).unwrap();
    let column = |name: &str, nullable: bool| serde_json::json!({"name": name, "data_type": "Int64", "nullable": nullable, "dict_id": 0, "dict_is_ordered": false, "metadata": {}});
    let catalog = serde_json::json!({"version": 1, "entries": [
        {"kind": "managed", "name": "old", "schema": {"fields": [column("n", false)], "metadata": {}}},
        {"kind": "managed", "name": "empty", "schema": {"fields": [column("n", true)], "metadata": {}}},
    ]});
    std::fs::write(data.path().join("catalog").join("catalog.json"), serde_json::to_vec(&catalog).unwrap()).unwrap();

    let server = squall().data_dir(data.path()).executors(1).start();
    let client = server.client().await;
    let row = client.query_one("SELECT count(*), sum(n), count(DISTINCT n) FROM old", &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2)), (1000, 499_500, 1000));
    assert_eq!(commits(&dir), 1, "converted in one commit");
    client.batch_execute("INSERT INTO old VALUES (1000); INSERT INTO empty VALUES (1)").await.unwrap();
    assert_eq!(code(&client.batch_execute("INSERT INTO old VALUES (NULL)").await.unwrap_err()), "23502", "NOT NULL kept");
    assert_eq!(client.query_one("SELECT count(*) FROM old", &[]).await.unwrap().get::<_, i64>(0), 1001);
    assert_eq!(client.query_one("SELECT count(*) FROM empty", &[]).await.unwrap().get::<_, i64>(0), 1);
}

/// Runs `delta_interop.py` (tests/clients/python) with `args`; its output.
fn python(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python/delta_interop.py");
    let output = std::process::Command::new("python3").arg(script).args(args).output().expect("python3 (scripts/test installs deltalake)");
    assert!(output.status.success(), "delta_interop.py {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn other_engines_read_squalls_tables_and_squall_reads_theirs_on_the_executors() {
    let data = tempfile::tempdir().unwrap();
    let server = squall().data_dir(data.path()).executors(2).start();
    let client = server.client().await;
    client
        .batch_execute(
            "CREATE TABLE shared (id bigint NOT NULL, name text, price double precision, day date, at timestamp, ok boolean); \
             INSERT INTO shared VALUES (1, 'apple', 0.5, DATE '2026-01-02', TIMESTAMP '2026-01-02 03:04:05.123456', true), (2, NULL, NULL, NULL, NULL, NULL); \
             INSERT INTO shared VALUES (3, 'fig', 3.25, DATE '2026-12-31', TIMESTAMP '2026-12-31 23:59:59', false); \
             UPDATE shared SET price = 9.5 WHERE id = 3",
        )
        .await
        .unwrap();
    // delta-rs (Python) reads the same rows from squall's directory.
    let dir = data.path().join("tables").join("shared");
    let read: Vec<serde_json::Value> = python(&["read", dir.to_str().unwrap()]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        read,
        vec![
            serde_json::json!({"id": 1, "name": "apple", "price": 0.5, "day": "2026-01-02", "at": "2026-01-02 03:04:05.123456", "ok": true}),
            serde_json::json!({"id": 2, "name": null, "price": null, "day": null, "at": null, "ok": null}),
            serde_json::json!({"id": 3, "name": "fig", "price": 9.5, "day": "2026-12-31", "at": "2026-12-31 23:59:59", "ok": false}),
        ]
    );
    let history: serde_json::Value = serde_json::from_str(&python(&["history", dir.to_str().unwrap()])).unwrap();
    assert_eq!(history["version"], 3);
    assert_eq!(history["operations"], serde_json::json!(["UPDATE", "WRITE", "WRITE", "CREATE TABLE"]));

    // A table delta-rs (Python) wrote, partitioned, read by squall as an external Delta table.
    let theirs = tempfile::tempdir().unwrap();
    let location = theirs.path().join("events");
    python(&["write", location.to_str().unwrap()]);
    client.batch_execute(&format!("CREATE EXTERNAL TABLE events STORED AS DELTA LOCATION '{}'", location.display())).await.unwrap();
    let rows = client.query("SELECT region, count(*), sum(x) FROM events GROUP BY region ORDER BY region", &[]).await.unwrap();
    let got: Vec<(String, i64, f64)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    let expected: Vec<(String, i64, f64)> = ["east", "north", "south", "west"]
        .iter()
        .enumerate()
        .map(|(k, region)| {
            let ids = (0..3000i64).filter(|i| i % 4 == k as i64);
            (region.to_string(), 750, ids.map(|i| i as f64 * 0.5).sum())
        })
        .collect();
    assert_eq!(got, expected);
    // Partition pruning and distribution: a filter on the partition column, rows computed by
    // the executor processes.
    let executors = server.child_pids();
    let rows = client.query("SELECT count(*), min(squall_node_pid()), max(squall_node_pid()) FROM events WHERE region = 'west' AND id >= 1500", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 375);
    for pid in [rows[0].get::<_, i64>(1), rows[0].get::<_, i64>(2)] {
        assert!(executors.contains(&(pid as u32)), "scanned by pid {pid}; executors are {executors:?}");
    }
    // Writes go to squall's own tables only.
    assert_eq!(code(&client.batch_execute("INSERT INTO events VALUES (1, 1.0, 'east')").await.unwrap_err()), "0A000");
    // The other engine commits twice more: squall's next query reads the new version (squall
    // keeps the table it read and looks for the next commit's file before each query).
    python(&["write", location.to_str().unwrap()]);
    let count: i64 = client.query_one("SELECT count(*) FROM events", &[]).await.unwrap().get(0);
    assert_eq!(count, 6000);
}

fn data_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".parquet")).count()
}

/// How many files the latest version of the table in `dir` has, as delta-rs (Python) counts them.
fn live_files(dir: &Path) -> usize {
    python(&["files", dir.to_str().unwrap()]).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn small_files_are_compacted_vacuum_deletes_and_old_versions_stay_readable() {
    let data = tempfile::tempdir().unwrap();
    let server = squall().data_dir(data.path()).executors(1).start();
    let client = server.client().await;
    let dir = data.path().join("tables").join("events");
    client.batch_execute("CREATE TABLE events (id bigint, kind text)").await.unwrap();
    for i in 0..1000 {
        client.execute(&format!("INSERT INTO events VALUES ({i}, 'k{}')", i % 7), &[]).await.unwrap();
    }
    let digest = "SELECT count(*), sum(id), count(DISTINCT kind) FROM events";
    let before = client.query_one(digest, &[]).await.unwrap();
    assert_eq!((before.get::<_, i64>(0), before.get::<_, i64>(1), before.get::<_, i64>(2)), (1000, 499_500, 7));
    // squall compacted in the background as the small files gathered.
    let history = client.query("DESCRIBE HISTORY events", &[]).await.unwrap();
    let automatic = history.iter().filter(|r| r.get::<_, Option<String>>("operation").as_deref() == Some("OPTIMIZE")).count();
    assert!(automatic >= 10, "{automatic} background compactions over 1,000 single-row inserts");
    assert!(history.iter().any(|r| r.get::<_, Option<String>>("user").as_deref() == Some("squall (auto-compaction)")));
    let fragmented = live_files(&dir);
    assert!(fragmented < 100, "{fragmented} live files after 1,000 single-row inserts");

    // OPTIMIZE compacts what is left into one file; the rows are the same.
    let optimized = client.query_one("OPTIMIZE events", &[]).await.unwrap();
    assert_eq!(optimized.get::<_, i64>(1), fragmented as i64, "files removed");
    assert_eq!(optimized.get::<_, i64>(2), 1, "files added");
    assert_eq!(live_files(&dir), 1);
    let after = client.query_one(digest, &[]).await.unwrap();
    assert_eq!((after.get::<_, i64>(0), after.get::<_, i64>(1), after.get::<_, i64>(2)), (1000, 499_500, 7));

    client.batch_execute("DELETE FROM events WHERE id < 500").await.unwrap();
    // DESCRIBE HISTORY: newest first, with user, operation and rows.
    let history = client.query("DESCRIBE HISTORY events", &[]).await.unwrap();
    let head: Vec<(Option<String>, Option<String>, Option<i64>)> = history.iter().take(2).map(|r| (r.get("user"), r.get("operation"), r.get("rows"))).collect();
    assert_eq!(head, vec![(Some("squall".into()), Some("DELETE".into()), Some(500)), (Some("squall".into()), Some("OPTIMIZE".into()), None)]);
    let deleted_at: i64 = history[0].get("version");
    assert_eq!(history.len(), 1000.min(deleted_at as usize + 1), "the newest thousand commits");

    // Time travel: the version before the DELETE has every row; the first INSERT's, one.
    let old: i64 = client.query_one(&format!("SELECT count(*) FROM events VERSION AS OF {}", deleted_at - 1), &[]).await.unwrap().get(0);
    let first: i64 = client.query_one("SELECT count(*) FROM events VERSION AS OF 1 e WHERE e.id = 0", &[]).await.unwrap().get(0);
    let now: i64 = client.query_one("SELECT count(*) FROM events", &[]).await.unwrap().get(0);
    assert_eq!((old, first, now), (1000, 1, 500));
    let e = client.query_one("SELECT * FROM events VERSION AS OF 5000", &[]).await.unwrap_err();
    assert_eq!(code(&e), "22023", "{e}");
    let e = client.query_one("SELECT * FROM events TIMESTAMP AS OF '2000-01-01 00:00:00'", &[]).await.unwrap_err();
    assert_eq!(code(&e), "22023", "before the table existed: {e}");

    // VACUUM keeps what the retention needs; RETAIN 0 HOURS leaves only the live files.
    client.batch_execute("VACUUM events").await.unwrap();
    assert!(data_files(&dir) > 2);
    client.batch_execute("VACUUM events RETAIN 0 HOURS").await.unwrap();
    assert_eq!(data_files(&dir), 1, "the rewritten file of the DELETE");
    assert_eq!(client.query_one("SELECT count(*) FROM events", &[]).await.unwrap().get::<_, i64>(0), 500);
}

#[tokio::test(flavor = "multi_thread")]
async fn columns_are_added_and_not_null_dropped_as_delta_allows() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE t (id bigint NOT NULL, name text); INSERT INTO t VALUES (1, 'a')").await.unwrap();
    client.batch_execute("ALTER TABLE t ADD COLUMN price numeric(10, 2); INSERT INTO t VALUES (2, 'b', 3.5)").await.unwrap();
    let rows: Vec<(i64, Option<String>)> =
        client.query("SELECT id, CAST(price AS text) FROM t ORDER BY id", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(rows, vec![(1, None), (2, Some("3.50".into()))], "rows written before read the new column as NULL");
    assert_eq!(code(&client.batch_execute("INSERT INTO t VALUES (NULL, 'c', 1)").await.unwrap_err()), "23502");
    client.batch_execute("ALTER TABLE t ALTER COLUMN id DROP NOT NULL; INSERT INTO t VALUES (NULL, 'c', 1)").await.unwrap();
    let nullable: String = client
        .query_one("SELECT is_nullable FROM information_schema.columns WHERE table_name = 't' AND column_name = 'id'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(nullable, "YES");
    for (sql, expected) in [
        ("ALTER TABLE t ADD COLUMN name text", "42701"),
        ("ALTER TABLE t ADD COLUMN extra text NOT NULL", "0A000"),
        ("ALTER TABLE t ALTER COLUMN nope DROP NOT NULL", "42703"),
        ("ALTER TABLE missing ADD COLUMN c int", "42P01"),
    ] {
        assert_eq!(code(&client.batch_execute(sql).await.unwrap_err()), expected, "{sql}");
    }
    assert_eq!(client.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get::<_, i64>(0), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renamed_column_keeps_its_values_for_squall_time_travel_and_other_engines() {
    let data = tempfile::tempdir().unwrap();
    let server = squall().data_dir(data.path()).executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE t (id bigint NOT NULL, name text); INSERT INTO t VALUES (1, 'a'), (2, 'b'); INSERT INTO t VALUES (3, NULL)").await.unwrap();
    let before: i64 = client.query("DESCRIBE HISTORY t", &[]).await.unwrap()[0].get("version");
    client.batch_execute("ALTER TABLE t RENAME COLUMN name TO label").await.unwrap();

    let rows = |sql: &'static str| {
        let client = &client;
        async move { client.query(sql, &[]).await.unwrap().iter().map(|r| (r.get::<_, Option<i64>>(0), r.get::<_, Option<String>>(1))).collect::<Vec<_>>() }
    };
    let expected = vec![(Some(1), Some("a".to_string())), (Some(2), Some("b".into())), (Some(3), None)];
    assert_eq!(rows("SELECT id, label FROM t ORDER BY id").await, expected);
    assert_eq!(code(&client.batch_execute("SELECT name FROM t").await.unwrap_err()), "42703");
    let columns: Vec<(String, String)> = client
        .query("SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = 't' ORDER BY ordinal_position", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(columns, vec![("id".to_string(), "NO".to_string()), ("label".into(), "YES".into())], "the order and NOT NULL kept");
    assert_eq!(code(&client.batch_execute("INSERT INTO t VALUES (NULL, 'x')").await.unwrap_err()), "23502");

    // The version before the rename reads as it was, under the old name.
    let old = client.query(&format!("SELECT id, name FROM t VERSION AS OF {before} ORDER BY id"), &[]).await.unwrap();
    assert_eq!(old.iter().map(|r| (r.get::<_, Option<i64>>(0), r.get::<_, Option<String>>(1))).collect::<Vec<_>>(), expected);

    // Writes and compaction go on as before; another engine reads the new name.
    client.batch_execute("INSERT INTO t (id, label) VALUES (4, 'd'); OPTIMIZE t").await.unwrap();
    let read = python(&["read", data.path().join("tables/t").to_str().unwrap()]);
    assert_eq!(
        read.lines().collect::<Vec<_>>(),
        vec![r#"{"id": 1, "label": "a"}"#, r#"{"id": 2, "label": "b"}"#, r#"{"id": 3, "label": null}"#, r#"{"id": 4, "label": "d"}"#]
    );
    for (sql, expected) in [
        ("ALTER TABLE t RENAME COLUMN nope TO other", "42703"),
        ("ALTER TABLE t RENAME COLUMN id TO label", "42701"),
        ("ALTER TABLE missing RENAME COLUMN a TO b", "42P01"),
    ] {
        assert_eq!(code(&client.batch_execute(sql).await.unwrap_err()), expected, "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renamed_table_keeps_its_rows_and_grants_even_across_a_crash_in_the_rename() {
    let data = tempfile::tempdir().unwrap();
    let mut server = squall().data_dir(data.path()).executors(1).start();
    let client = server.client().await;
    client
        .batch_execute("CREATE TABLE t (id bigint); INSERT INTO t VALUES (1), (2); CREATE TABLE other (id bigint); CREATE USER ann PASSWORD 'pw'; GRANT SELECT ON t TO ann")
        .await
        .unwrap();
    assert_eq!(code(&client.batch_execute("ALTER TABLE t RENAME TO other").await.unwrap_err()), "42P07");
    client.batch_execute("ALTER TABLE t RENAME TO u; INSERT INTO u VALUES (3)").await.unwrap();
    assert_eq!(code(&client.batch_execute("SELECT * FROM t").await.unwrap_err()), "42P01");
    assert!(data.path().join("tables/u/_delta_log").is_dir() && !data.path().join("tables/t").exists());
    let (ann, connection) =
        tokio_postgres::connect(&format!("host=127.0.0.1 port={} user=ann password=pw dbname=squall", server.pg_port), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    assert_eq!(ann.query_one("SELECT count(*) FROM u", &[]).await.unwrap().get::<_, i64>(0), 3, "the grant followed the table");
    // A new table of the old name has no grant of the old one's.
    client.batch_execute("CREATE TABLE t (id bigint)").await.unwrap();
    assert_eq!(code(&ann.batch_execute("SELECT * FROM t").await.unwrap_err()), "42501");
    drop((client, ann));

    // A crash after the catalog named the move but before the directory moved: the next start
    // finishes it (the catalog as a RENAME TO of `u` to `w` leaves it at that moment).
    server.kill9();
    let path = data.path().join("catalog/catalog.json");
    let mut catalog: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for entry in catalog["entries"].as_array_mut().unwrap() {
        if entry["name"] == "u" {
            entry["name"] = "w".into();
            entry["moved_from"] = "u".into();
        }
    }
    std::fs::write(&path, serde_json::to_vec(&catalog).unwrap()).unwrap();
    let server = squall().data_dir(data.path()).executors(1).start();
    let client = server.client().await;
    let ids: Vec<i64> = client.query("SELECT id FROM w ORDER BY id", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert!(data.path().join("tables/w/_delta_log").is_dir() && !data.path().join("tables/u").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_records_the_table_versions_it_was_trained_on() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE points (x double precision, y double precision)").await.unwrap();
    client.batch_execute("INSERT INTO points SELECT value, 2 * value + 1 FROM generate_series(1, 50)").await.unwrap();
    client.batch_execute("INSERT INTO points SELECT value, 2 * value + 1 FROM generate_series(51, 100)").await.unwrap();
    client.batch_execute("TRAIN MODEL line USING linear_regression (holdout = 0) TARGET y AS SELECT x, y FROM points").await.unwrap();
    client.batch_execute("INSERT INTO points VALUES (1000, 0)").await.unwrap();
    let rows = client.query("DESCRIBE MODEL line", &[]).await.unwrap();
    let trained_on: String = rows.iter().find(|r| r.get::<_, String>(0) == "trained on").expect("a 'trained on' row").get(1);
    assert_eq!(trained_on, "points VERSION AS OF 2");
    // The recorded version reads back the training rows exactly.
    let count: i64 = client.query_one(&format!("SELECT count(*) FROM {trained_on}"), &[]).await.unwrap().get(0);
    assert_eq!(count, 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_in_a_large_copy_or_an_update_leaves_each_table_at_a_committed_version() {
    use futures::SinkExt;
    let data = tempfile::tempdir().unwrap();
    let mut server = squall().data_dir(data.path()).executors(1).start();
    let client = server.client().await;
    client
        .batch_execute("CREATE TABLE big (id bigint, v bigint); INSERT INTO big SELECT value, value * 10 FROM generate_series(1, 200000)")
        .await
        .unwrap();
    // A COPY streaming rows when the server is killed: none of them is in the table afterwards.
    let copying = tokio::spawn(async move {
        let sink = client.copy_in("COPY big FROM STDIN").await.unwrap();
        futures::pin_mut!(sink);
        for chunk in 0..10_000i64 {
            let rows: String = (0..1000).map(|i| format!("{}\t0\n", 1_000_000 + chunk * 1000 + i)).collect();
            if sink.send(bytes::Bytes::from(rows)).await.is_err() {
                return chunk;
            }
        }
        let _ = sink.finish().await;
        10_000
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    server.kill9();
    let sent = copying.await.unwrap();
    assert!(sent < 10_000, "the COPY was still running when the server was killed");

    let mut server = squall().data_dir(data.path()).executors(1).start();
    let client = server.client().await;
    let digest = "SELECT count(*), count(DISTINCT v - 10 * id), min(v - 10 * id) FROM big";
    let row = client.query_one(digest, &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2)), (200_000, 1, 0), "no row of the killed COPY");

    // An UPDATE of every row when the server is killed: all rows changed or none.
    let updating = tokio::spawn(async move { client.batch_execute("UPDATE big SET v = v + 1").await.is_ok() });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.kill9();
    let reported = updating.await.unwrap();
    let server = squall().data_dir(data.path()).executors(1).start();
    let client = server.client().await;
    let row = client.query_one(digest, &[]).await.unwrap();
    let (count, kinds, offset) = (row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2));
    assert_eq!((count, kinds), (200_000, 1), "every row at one version");
    if reported {
        assert_eq!(offset, 1, "an UPDATE reported done is kept");
    }
    // The table takes writes again at the version it was left at.
    client.batch_execute("INSERT INTO big VALUES (0, 0)").await.unwrap();
    assert_eq!(client.query_one("SELECT count(*) FROM big", &[]).await.unwrap().get::<_, i64>(0), 200_001);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_managed_table_can_live_in_an_object_store() {
    let s3 = squall_tests::s3::LocalS3::start("lake");
    let mut builder = squall().executors(2);
    for (key, value) in s3.env() {
        builder = builder.env(key, &value);
    }
    let server = builder.start();
    let client = server.client().await;
    client
        .batch_execute(
            "CREATE TABLE remote (id bigint NOT NULL, v text) LOCATION 's3://lake/tables/remote'; \
             INSERT INTO remote SELECT value, 'v' || value FROM generate_series(1, 1000); \
             UPDATE remote SET v = 'changed' WHERE id <= 10; DELETE FROM remote WHERE id > 900",
        )
        .await
        .unwrap();
    let executors = server.child_pids();
    let row = client.query_one("SELECT count(*), count(*) FILTER (WHERE v = 'changed'), min(squall_node_pid()) FROM remote", &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (900, 10));
    assert!(executors.contains(&(row.get::<_, i64>(2) as u32)), "scanned on the executors");
    let operations: Vec<String> = client.query("DESCRIBE HISTORY remote", &[]).await.unwrap().iter().map(|r| r.get("operation")).collect();
    assert_eq!(operations, vec!["DELETE", "UPDATE", "WRITE", "CREATE TABLE"]);
    let old: i64 = client.query_one("SELECT count(*) FROM remote VERSION AS OF 1", &[]).await.unwrap().get(0);
    assert_eq!(old, 1000);
    // Dropped, its files stay where the LOCATION said; they read as an external Delta table.
    client.batch_execute("DROP TABLE remote; CREATE EXTERNAL TABLE again STORED AS DELTA LOCATION 's3://lake/tables/remote'").await.unwrap();
    assert_eq!(client.query_one("SELECT count(*) FROM again", &[]).await.unwrap().get::<_, i64>(0), 900);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_inserts_from_many_sessions_all_commit() {
    let server = squall().executors(1).start();
    server.client().await.batch_execute("CREATE TABLE hits (session bigint, n bigint)").await.unwrap();
    let mut sessions = Vec::new();
    for session in 0..8i64 {
        let client = server.client().await;
        sessions.push(tokio::spawn(async move {
            for n in 0..25i64 {
                client.execute("INSERT INTO hits VALUES ($1, $2)", &[&session, &n]).await.unwrap();
            }
        }));
    }
    for s in sessions {
        s.await.unwrap();
    }
    let client = server.client().await;
    let row = client.query_one("SELECT count(*), count(DISTINCT (session, n)), sum(n) FROM hits", &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2)), (200, 200, 8 * 300));
}

#[tokio::test(flavor = "multi_thread")]
async fn compaction_and_checkpoints_keep_up_with_single_row_inserts_from_many_sessions() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let data = tempfile::tempdir().unwrap();
    let server = squall().data_dir(data.path()).executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE ticks (session bigint, n bigint)").await.unwrap();
    // Four sessions insert single rows without pause until told to stop.
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let mut sessions = Vec::new();
    for session in 0..4i64 {
        let client = server.client().await;
        let stop = std::sync::Arc::clone(&stop);
        sessions.push(tokio::spawn(async move {
            let mut n = 0i64;
            while !stop.load(Ordering::SeqCst) {
                client.execute("INSERT INTO ticks VALUES ($1, $2)", &[&session, &n]).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    // A background compaction commits while they go on (delta-rs's own lost every attempt to
    // the appends), and the appends go on after it: wait for both, and for 400 versions.
    let started = std::time::Instant::now();
    let (compacted, last_write) = loop {
        assert!(started.elapsed() < std::time::Duration::from_secs(180), "no background compaction committed amid the inserts");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let history = client.query("DESCRIBE HISTORY ticks", &[]).await.unwrap();
        let of = |operation: &str| {
            history.iter().filter(|r| r.get::<_, Option<String>>("operation").as_deref() == Some(operation)).map(|r| r.get::<_, i64>("version")).collect::<Vec<_>>()
        };
        let (compactions, writes) = (of("OPTIMIZE"), of("WRITE"));
        let last_write = writes.iter().copied().max().unwrap_or(0);
        if let Some(&first) = compactions.iter().min() {
            if last_write > first + 20 && last_write >= 400 {
                break (first, last_write);
            }
        }
    };
    stop.store(true, Ordering::SeqCst);
    let mut expected = (0i64, 0i64);
    for s in sessions {
        let n = s.await.unwrap();
        expected = (expected.0 + n, expected.1 + n * (n - 1) / 2);
    }
    assert!(compacted < last_write);
    // Every row exactly once.
    let row = client.query_one("SELECT count(*), count(DISTINCT (session, n)), sum(n) FROM ticks", &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2)), (expected.0, expected.0, expected.1));

    // A checkpoint about every 100 versions, as delta-rs writes them (of the latest version
    // when the background task runs, so perhaps a few after 99, 199, 299): an engine opening the
    // table reads it instead of every commit since the table was created.
    let log = data.path().join("tables/ticks/_delta_log");
    let mut checkpoints: Vec<u64> = std::fs::read_dir(&log)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().unwrap().strip_suffix(".checkpoint.parquet").map(|v| v.parse().unwrap()))
        .collect();
    checkpoints.sort();
    assert!(checkpoints.len() >= 3 && checkpoints[checkpoints.len() - 1] >= 299, "checkpoints of versions {checkpoints:?}");
    let last: serde_json::Value = serde_json::from_slice(&std::fs::read(log.join("_last_checkpoint")).unwrap()).unwrap();
    // (The newest may still be being announced by the background task.)
    assert!(last["version"].as_u64().is_some_and(|v| checkpoints.contains(&v) && v >= 199), "_last_checkpoint {last}, checkpoints {checkpoints:?}");
    // Another engine reads the same rows from it.
    let dir = data.path().join("tables/ticks");
    let read: Vec<serde_json::Value> = python(&["read", dir.to_str().unwrap()]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(read.len() as i64, expected.0);
    assert_eq!(read.iter().map(|r| r["n"].as_i64().unwrap()).sum::<i64>(), expected.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delta_table_with_a_feature_squall_cannot_read_is_refused_naming_it() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    // A table whose protocol requires a reader feature no reader here knows (as a newer writer's
    // would be): squall says so rather than read it wrong.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("future").join("_delta_log");
    std::fs::create_dir_all(&log).unwrap();
    let actions = [
        serde_json::json!({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7, "readerFeatures": ["futureFeature"], "writerFeatures": ["futureFeature"]}}),
        serde_json::json!({"metaData": {"id": "00000000-0000-0000-0000-000000000001", "format": {"provider": "parquet", "options": {}},
            "schemaString": "{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}",
            "partitionColumns": [], "configuration": {}, "createdTime": 0}}),
    ];
    let text: String = actions.iter().map(|a| format!("{a}\n")).collect();
    std::fs::write(log.join("00000000000000000000.json"), text).unwrap();
    let location = dir.path().join("future");
    let e = client.batch_execute(&format!("CREATE EXTERNAL TABLE future STORED AS DELTA LOCATION '{}'", location.display())).await.unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(code(&e), "0A000", "{}", db.message());
    assert!(db.message().contains("futureFeature"), "names the feature: {}", db.message());
}
