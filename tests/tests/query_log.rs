//! `squall.query_log`: every statement with its user, client address, duration, rows and
//! SQLSTATE; kept across a kill -9; readable by superusers only.

use squall_tests::data::write_orders;

use crate::squall;

/// (user, statement, rows, sqlstate) of every logged `statement`, oldest first.
async fn logged(client: &tokio_postgres::Client, statement: &str) -> Vec<(String, String, Option<i64>, String)> {
    client
        .query("SELECT \"user\", statement, rows, sqlstate FROM squall.query_log WHERE statement = $1 ORDER BY time", &[&statement])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_statement_is_logged_kept_across_kill_9_and_shown_to_superusers_only() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    write_orders(&files.path().join("orders"), 4, 1_000, 50);
    let mut server = squall().executors(2).data_dir(data.path()).start();
    let client = server.client().await;
    client
        .batch_execute(&format!("CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{}/'", files.path().join("orders").display()))
        .await
        .unwrap();
    client.batch_execute("CREATE TABLE notes (body TEXT)").await.unwrap();
    // A distributed query, its rows counted as they are sent; an INSERT; a failure; a parameter.
    assert_eq!(client.query("SELECT id FROM orders WHERE id < 1500", &[]).await.unwrap().len(), 1500);
    assert_eq!(client.execute("INSERT INTO notes VALUES ('a'), ('b')", &[]).await.unwrap(), 2);
    let err = client.batch_execute("SELEC 1").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42601");
    let err = client.query("SELECT 1 / 0", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "22012");
    client.query("SELECT count(*) FROM orders WHERE amount > $1", &[&10i64]).await.unwrap();
    // Commands the connection carries out itself are logged too.
    let err = client.batch_execute("DEALLOCATE nope").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "26000");
    client.batch_execute("DISCARD ALL").await.unwrap();
    // SHOWs answered by queries are logged as written.
    client.batch_execute("SHOW statement_timeout").await.unwrap();
    client.batch_execute("SHOW EXECUTORS").await.unwrap();

    client.batch_execute("CREATE USER alice; GRANT SELECT ON orders TO alice").await.unwrap();
    let (alice, connection) =
        tokio_postgres::connect(&server.connection_string().replace("user=squall", "user=alice"), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    alice.query("SELECT count(*) FROM orders", &[]).await.unwrap();
    let err = alice.query("SELECT * FROM squall.query_log", &[]).await.unwrap_err();
    assert_eq!((err.code().unwrap().code(), err.as_db_error().unwrap().message()), ("42501", "permission denied for table query_log"));
    // Not through a view either.
    let err = alice.query("SELECT count(*) FROM (SELECT * FROM squall.query_log) AS l", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42501");

    let check = |entries: Vec<(String, String, Option<i64>, String)>| {
        let summary: Vec<(String, Option<i64>, String)> = entries.into_iter().map(|(user, _, rows, state)| (user, rows, state)).collect();
        summary
    };
    let by_squall = |rows: Option<i64>, state: &str| ("squall".to_string(), rows, state.to_string());
    assert_eq!(check(logged(&client, "SELECT id FROM orders WHERE id < 1500").await), vec![by_squall(Some(1500), "00000")]);
    assert_eq!(check(logged(&client, "INSERT INTO notes VALUES ('a'), ('b')").await), vec![by_squall(Some(2), "00000")]);
    assert_eq!(check(logged(&client, "SELEC 1").await), vec![by_squall(None, "42601")]);
    assert_eq!(check(logged(&client, "SELECT 1 / 0").await), vec![by_squall(None, "22012")]);
    assert_eq!(check(logged(&client, "SELECT count(*) FROM orders WHERE amount > $1").await), vec![by_squall(Some(1), "00000")]);
    assert_eq!(check(logged(&client, "DEALLOCATE nope").await), vec![by_squall(None, "26000")]);
    assert_eq!(check(logged(&client, "DISCARD ALL").await), vec![by_squall(None, "00000")]);
    assert_eq!(check(logged(&client, "SHOW statement_timeout").await), vec![by_squall(Some(1), "00000")]);
    assert_eq!(check(logged(&client, "SHOW EXECUTORS").await), vec![by_squall(Some(2), "00000")]);
    assert_eq!(check(logged(&client, "SELECT count(*) FROM orders").await), vec![("alice".to_string(), Some(1), "00000".to_string())]);
    let denied: i64 = client
        .query_one("SELECT count(*) FROM squall.query_log WHERE \"user\" = 'alice' AND sqlstate = '42501'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(denied, 2, "refused reads are logged too");
    let row = client.query_one("SELECT client, duration_ms, time FROM squall.query_log WHERE statement = 'SELECT id FROM orders WHERE id < 1500'", &[]).await.unwrap();
    assert!(row.get::<_, String>(0).starts_with("127.0.0.1:"), "{}", row.get::<_, String>(0));
    assert!(row.get::<_, i64>(1) >= 0);

    // The log is on disk: a kill -9 and a restart keep it.
    server.kill9();
    let server = squall().executors(1).data_dir(data.path()).start();
    let client = server.client().await;
    assert_eq!(check(logged(&client, "SELECT id FROM orders WHERE id < 1500").await), vec![by_squall(Some(1500), "00000")]);
    assert_eq!(check(logged(&client, "SELECT count(*) FROM orders").await).len(), 1);
}
