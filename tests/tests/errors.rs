//! Every failure reaches the client with its SQLSTATE, and the connection stays usable.

use crate::squall;

#[tokio::test(flavor = "multi_thread")]
async fn failures_carry_sqlstates_and_the_session_lives_on() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE t (a INT, b TEXT); INSERT INTO t VALUES (1, 'x'), (0, 'y')").await.unwrap();
    let cases = [
        ("SELEC 1", "42601"),
        ("SELECT * FROM no_such_table", "42P01"),
        ("SELECT no_such_column FROM t", "42703"),
        ("SELECT no_such_function(a) FROM t", "42883"),
        ("CREATE TABLE t (x INT)", "42P07"),
        // Delta Lake tables have no time-of-day type.
        ("CREATE TABLE clock (at TIME)", "0A000"),
        // Column defaults are not kept: refused, rather than NULL stored where one was declared.
        ("CREATE TABLE counters (id INT, n INT NOT NULL DEFAULT 0)", "0A000"),
        ("ALTER TABLE t ADD COLUMN c INT DEFAULT 3", "0A000"),
        // An outer join's ON decides which rows are padded with NULLs: no filter above says it.
        ("SELECT * FROM t LEFT JOIN t AS u ON u.a IN (SELECT v.a FROM t AS v WHERE v.b < t.b)", "0A000"),
        ("SELECT 1 / a FROM t", "22012"),
        ("SELECT 'abc'::INT", "22P02"),
        // A value that does not fit the column's type: out of range, as PostgreSQL says.
        ("INSERT INTO t VALUES (3000000000, 'big')", "22003"),
        ("SELECT CAST(3000000000 AS INT)", "22003"),
        ("DROP TABLE no_such_table", "42P01"),
        ("CREATE EXTERNAL TABLE e STORED AS PARQUET LOCATION '/no/such/dir/'", "58P01"),
    ];
    for (sql, code) in cases {
        // Simple protocol.
        let err = client.batch_execute(sql).await.expect_err(sql);
        let db = err.as_db_error().unwrap_or_else(|| panic!("{sql}: {err}"));
        assert_eq!(db.code().code(), code, "{sql}: {}", db.message());
        assert!(!db.message().is_empty());
        // Extended protocol.
        let err = client.query(sql, &[]).await.expect_err(sql);
        assert_eq!(err.code().map(|c| c.code()), Some(code), "{sql} (extended): {err}");
        // The connection still works.
        let n: i64 = client.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get(0);
        assert_eq!(n, 2);
    }
    // DEFAULT NULL is what a column without a default has: accepted.
    client.batch_execute("CREATE TABLE plain (id INT, note TEXT DEFAULT NULL); INSERT INTO plain (id) VALUES (1)").await.unwrap();
    let note: Option<String> = client.query_one("SELECT note FROM plain", &[]).await.unwrap().get(0);
    assert_eq!(note, None);
    // A corrupt Parquet file is data_corrupted, read by a job on an executor or in the
    // coordinator (a small table, with squall's default routing).
    let corrupt = tempfile::tempdir().unwrap();
    std::fs::write(corrupt.path().join("part-0.parquet"), b"not a parquet file, just text pretending to be one").unwrap();
    client.batch_execute(&format!("CREATE EXTERNAL TABLE corrupt (a BIGINT) STORED AS PARQUET LOCATION '{}/'", corrupt.path().display())).await.unwrap();
    for limit in ["0", "'16MB'"] {
        client.batch_execute(&format!("SET squall.local_scan_limit = {limit}")).await.unwrap();
        let err = client.query("SELECT sum(a) FROM corrupt", &[]).await.unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("XX001"), "limit {limit}: {err:?}");
        assert_eq!(client.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get::<_, i64>(0), 2);
    }
    // SQL-level prepared statements (drivers prepare through the protocol, tested elsewhere).
    for sql in ["PREPARE p (INT) AS SELECT b FROM t WHERE a = $1", "EXECUTE p (1)"] {
        let err = client.batch_execute(sql).await.expect_err(sql);
        assert_eq!(err.code().map(|c| c.code()), Some("0A000"), "{sql}: {err}");
    }
    // Statements before the failing one in a multi-statement message have taken effect.
    let err = client.batch_execute("INSERT INTO t VALUES (5, 'z'); SELECT * FROM nope; INSERT INTO t VALUES (6, 'w')").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42P01");
    let ids: Vec<i32> = client.query("SELECT a FROM t ORDER BY a", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, vec![0, 1, 5]);
}
