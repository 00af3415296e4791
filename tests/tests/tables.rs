//! Managed and external tables: created, filled, dropped, and still there after `kill -9`.

use squall_tests::data::write_orders;
use squall_tests::Server;

use crate::squall;

async fn count(client: &tokio_postgres::Client, table: &str) -> i64 {
    client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_tables_hold_their_rows() {
    let server = squall().executors(2).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE items (id INT NOT NULL, name TEXT, price DOUBLE)").await.unwrap();
    let inserted = client
        .execute("INSERT INTO items VALUES (1, 'apple', 0.5), (2, 'pear', 0.75), (3, NULL, 2.0)", &[])
        .await
        .unwrap();
    assert_eq!(inserted, 3);
    // Extended protocol with parameters, as an application inserts one row at a time.
    let insert = client.prepare("INSERT INTO items VALUES ($1, $2, $3)").await.unwrap();
    for i in 4..=6i32 {
        let (id, name, price) = (i, format!("item {i}"), i as f64);
        client.execute(&insert, &[&id, &name, &price]).await.unwrap();
    }
    assert_eq!(count(&client, "items").await, 6);

    // Drivers wrap statements in BEGIN/COMMIT; each INSERT is atomic on its own.
    let mut client = client;
    let tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO items VALUES (7, 'plum', 3.0)", &[]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count(&client, "items").await, 7);

    // INSERT ... SELECT and CREATE TABLE AS read the table on the executors.
    assert_eq!(client.execute("INSERT INTO items SELECT id + 10, name, price * 2 FROM items WHERE id <= 2", &[]).await.unwrap(), 2);
    assert_eq!(client.execute("CREATE TABLE cheap AS SELECT id, name FROM items WHERE price < 1", &[]).await.unwrap(), 2);
    let rows = client.query("SELECT id, name FROM cheap ORDER BY id", &[]).await.unwrap();
    let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![(1, "apple".to_string()), (2, "pear".to_string())]);
    let total: f64 = client.query_one("SELECT sum(price) FROM items", &[]).await.unwrap().get(0);
    assert!((total - (0.5 + 0.75 + 2.0 + 4.0 + 5.0 + 6.0 + 3.0 + 1.0 + 1.5)).abs() < 1e-9, "{total}");

    // NOT NULL is enforced, and a failed INSERT adds nothing.
    let err = client.execute("INSERT INTO items VALUES (NULL, 'x', 1.0)", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "23502", "{err:?}");
    // The same through the simple protocol (psql), and with the columns named in another order.
    let err = client.batch_execute("INSERT INTO items (name, id) VALUES ('x', NULL)").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "23502", "{err:?}");
    assert!(err.as_db_error().unwrap().message().contains("\"id\""), "{err:?}");
    assert_eq!(count(&client, "items").await, 9);

    client.batch_execute("DROP TABLE cheap").await.unwrap();
    let err = client.query("SELECT * FROM cheap", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42P01");
    assert!(!server.data_dir.join("tables/cheap").exists(), "a dropped table's files are deleted");
    client.batch_execute("DROP TABLE IF EXISTS cheap").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_reported_committed_survives_kill_9() {
    let files = tempfile::tempdir().unwrap();
    let data_dir = files.path().join("data");
    let orders = write_orders(&files.path().join("orders"), 3, 1_000, 10);
    let mut server: Server = squall().executors(2).data_dir(&data_dir).start();
    {
        let client = server.client().await;
        client
            .batch_execute(&format!(
                "CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{}/orders/';
                 CREATE TABLE big AS SELECT id, amount FROM orders WHERE amount > 500;
                 CREATE TABLE notes (id BIGINT, body TEXT);
                 INSERT INTO notes VALUES (1, 'first'), (2, 'second');
                 CREATE VIEW expensive AS SELECT id FROM big WHERE amount > 900;",
                files.path().display()
            ))
            .await
            .unwrap();
        let (id, body) = (3i64, "third");
        client.execute("INSERT INTO notes VALUES ($1, $2)", &[&id, &body]).await.unwrap();
    }
    let executors = server.kill9();
    assert_eq!(executors.len(), 2);

    let server = squall().executors(2).data_dir(&data_dir).start();
    let client = server.client().await;
    assert_eq!(count(&client, "orders").await, orders.len() as i64);
    assert_eq!(count(&client, "big").await, orders.iter().filter(|o| o.amount > 500).count() as i64);
    assert_eq!(count(&client, "expensive").await, orders.iter().filter(|o| o.amount > 900).count() as i64);
    let notes: Vec<String> = client.query("SELECT body FROM notes ORDER BY id", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(notes, vec!["first", "second", "third"]);
    // The catalog is one whole JSON document, never a half-written one.
    let catalog = std::fs::read_to_string(data_dir.join("catalog/catalog.json")).unwrap();
    assert!(catalog.trim_end().ends_with('}'), "{catalog}");
}

#[tokio::test(flavor = "multi_thread")]
async fn string_columns_are_plain_utf8_even_when_a_file_asks_for_views() {
    let server = squall().executors(2).start();
    let client = server.client().await;
    let dir = tempfile::tempdir().unwrap();
    squall_tests::data::write_view_strings(&dir.path().join("names.parquet"), 20_000);
    client.batch_execute(&format!("CREATE EXTERNAL TABLE names STORED AS PARQUET LOCATION '{}/'", dir.path().display())).await.unwrap();
    let row = client.query_one("SELECT arrow_typeof(name) FROM names LIMIT 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "Utf8");
    // Through a shuffle (GROUP BY on the strings) and back over Flight, every value intact.
    let rows = client.query("SELECT name, count(*) FROM names WHERE id % 1000 = 7 GROUP BY name ORDER BY name", &[]).await.unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let mut expected: Vec<String> = (0..20_000).filter(|i| i % 1000 == 7).map(|i| format!("customer name number {i}")).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert!(rows.iter().all(|r| r.get::<_, i64>(1) == 1));
    // SQL's TEXT is plain too.
    client.batch_execute("CREATE TABLE notes (body TEXT)").await.unwrap();
    let row = client.query_one("SELECT data_type FROM information_schema.columns WHERE table_name = 'notes'", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "Utf8");
}


/// A view is planned against the relations of its CREATE VIEW: DROP of a relation a view reads is
/// refused with 2BP01 (PostgreSQL's answer without CASCADE), a rename of a table or of one of its
/// columns with 0A000 (PostgreSQL's views follow a rename; squall's would read the wrong files or
/// a new table that took the name), so no view is left answering from what it was not made on, or
/// lost at the next start. Once the views are dropped, all of it works.
#[tokio::test(flavor = "multi_thread")]
async fn relations_that_views_read_are_not_dropped_or_renamed_under_them() {
    let data = tempfile::tempdir().unwrap();
    let mut server = squall().executors(0).data_dir(data.path()).start();
    let client = server.client().await;
    client
        .batch_execute(
            "CREATE TABLE t AS SELECT 1 AS a; CREATE TABLE u AS SELECT 1 AS b; \
             CREATE VIEW v AS SELECT a FROM t WHERE a IN (SELECT b FROM public.u); CREATE VIEW w AS SELECT * FROM v; \
             CREATE VIEW own AS WITH t AS (SELECT 2 AS a) SELECT a FROM t",
        )
        .await
        .unwrap();
    let refused = |sql: &'static str, code: &'static str, words: &'static str| {
        let client = &client;
        async move {
            let error = client.batch_execute(sql).await.unwrap_err();
            let db = error.as_db_error().unwrap_or_else(|| panic!("{sql}: {error}"));
            assert_eq!(db.code().code(), code, "{sql}: {}", db.message());
            assert!(db.message().contains(words), "{sql}: {}", db.message());
        }
    };
    refused("DROP TABLE u", "2BP01", "view v depends on table u").await;
    refused("DROP TABLE t", "2BP01", "view v depends on table t").await;
    refused("DROP VIEW v", "2BP01", "view w depends on view v").await;
    refused("ALTER TABLE t RENAME TO t_old", "0A000", "view v reads it").await;
    refused("ALTER TABLE u RENAME COLUMN b TO c", "0A000", "view v reads it").await;
    assert_eq!(client.query_one("SELECT a FROM w", &[]).await.unwrap().get::<_, i64>(0), 1);

    // Kept across a restart: every view is still there and answers.
    drop(client);
    server.kill9();
    let server = squall().executors(0).data_dir(data.path()).start();
    let client = server.client().await;
    assert_eq!(client.query_one("SELECT a FROM w", &[]).await.unwrap().get::<_, i64>(0), 1);
    assert_eq!(client.query_one("SELECT a FROM own", &[]).await.unwrap().get::<_, i64>(0), 2);
    let error = client.batch_execute("DROP TABLE t").await.unwrap_err();
    assert_eq!(error.code().unwrap().code(), "2BP01");
    client.batch_execute("DROP VIEW w; DROP VIEW v; ALTER TABLE t RENAME TO t_old; ALTER TABLE u RENAME COLUMN b TO c; DROP TABLE u").await.unwrap();
    assert_eq!(client.query_one("SELECT a FROM t_old", &[]).await.unwrap().get::<_, i64>(0), 1);
}
