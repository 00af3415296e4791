//! Queries over real Parquet and CSV files run distributed on the executor processes, with
//! answers checked against values computed here from the same generated rows.

use std::collections::BTreeMap;

use squall_tests::data::{segment, write_customers_csv, write_orders, Order};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::squall;

const CUSTOMERS: i64 = 50;

async fn orders_and_customers(client: &Client, dir: &std::path::Path) -> Vec<Order> {
    let orders = write_orders(&dir.join("orders"), 4, 2_500, CUSTOMERS);
    write_customers_csv(&dir.join("customers.csv"), CUSTOMERS);
    client
        .batch_execute(&format!(
            "CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{}/orders/';
             CREATE EXTERNAL TABLE customers STORED AS CSV LOCATION '{}/customers.csv' OPTIONS ('format.has_header' 'true');",
            dir.display(),
            dir.display()
        ))
        .await
        .unwrap();
    orders
}

/// Sum of completed tasks per executor, from `SHOW EXECUTORS` (simple protocol, text values).
async fn completed_tasks(client: &Client) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for message in client.simple_query("SHOW EXECUTORS").await.unwrap() {
        if let SimpleQueryMessage::Row(row) = message {
            counts.insert(row.get("id").unwrap().to_string(), row.get("completed_tasks").unwrap().parse().unwrap());
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn distributed_queries_return_correct_results() {
    let server = squall().executors(2).start();
    server.wait_for_executors(2).await;
    let files = tempfile::tempdir().unwrap();
    let client = server.client().await;
    let orders = orders_and_customers(&client, files.path()).await;

    // Aggregate per region.
    let mut expected: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for o in &orders {
        let e = expected.entry(o.region).or_default();
        e.0 += 1;
        e.1 += o.amount;
    }
    let rows = client
        .query("SELECT region, count(*) AS n, sum(amount) AS total FROM orders GROUP BY region ORDER BY region", &[])
        .await
        .unwrap();
    let got: Vec<(String, i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    let want: Vec<(String, i64, i64)> = expected.iter().map(|(r, (n, t))| (r.to_string(), *n, *t)).collect();
    assert_eq!(got, want);

    // Join a Parquet table with a CSV table.
    let mut by_segment: BTreeMap<&str, i64> = BTreeMap::new();
    for o in &orders {
        *by_segment.entry(segment(o.customer_id)).or_default() += o.amount;
    }
    let rows = client
        .query(
            "SELECT c.segment, sum(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.segment ORDER BY c.segment",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let want: Vec<(String, i64)> = by_segment.iter().map(|(s, t)| (s.to_string(), *t)).collect();
    assert_eq!(got, want);

    // A CTE and a window function.
    let mut ranked: Vec<(&str, i64)> = expected.iter().map(|(r, (_, t))| (*r, *t)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let rows = client
        .query(
            "WITH totals AS (SELECT region, sum(amount) AS total FROM orders GROUP BY region)
             SELECT region, total, rank() OVER (ORDER BY total DESC) AS place FROM totals ORDER BY place, region",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let want: Vec<(String, i64)> = ranked.iter().map(|(r, t)| (r.to_string(), *t)).collect();
    assert_eq!(got, want);
    assert_eq!(rows[0].get::<_, i64>(2), 1);

    // ORDER BY ... LIMIT.
    let mut top = orders.clone();
    top.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.id.cmp(&b.id)));
    let rows = client.query("SELECT id, amount FROM orders ORDER BY amount DESC, id LIMIT 5", &[]).await.unwrap();
    let got: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let want: Vec<(i64, i64)> = top.iter().take(5).map(|o| (o.id, o.amount)).collect();
    assert_eq!(got, want);

    // Extended protocol with typed parameters, statement reused.
    let statement = client.prepare("SELECT count(*) FROM orders WHERE region = $1 AND amount > $2").await.unwrap();
    for (region, min) in [("north", 500i64), ("west", 10)] {
        let n: i64 = client.query_one(&statement, &[&region, &min]).await.unwrap().get(0);
        let want = orders.iter().filter(|o| o.region == region && o.amount > min).count() as i64;
        assert_eq!(n, want, "{region} > {min}");
    }

    // Simple protocol: text values.
    let messages = client.simple_query("SELECT count(DISTINCT customer_id) FROM orders").await.unwrap();
    let distinct = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap().to_string()),
        _ => None,
    });
    assert_eq!(distinct.as_deref(), Some(CUSTOMERS.to_string().as_str()));

    // The work ran on both executor processes, and not in the coordinator.
    let counts = completed_tasks(&client).await;
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(counts.values().all(|&n| n > 0), "every executor completed tasks: {counts:?}");
    let executor_pids = server.child_pids();
    let rows = client.query("SELECT DISTINCT squall_node_pid() FROM orders", &[]).await.unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let pid: i64 = row.get(0);
        assert!(executor_pids.contains(&(pid as u32)), "rows computed by pid {pid}, executors are {executor_pids:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_shows_the_distributed_stages() {
    let server = squall().executors(2).start();
    let files = tempfile::tempdir().unwrap();
    let client = server.client().await;
    orders_and_customers(&client, files.path()).await;
    let rows = client.query("EXPLAIN SELECT region, count(*) FROM orders GROUP BY region", &[]).await.unwrap();
    let plans: BTreeMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let distributed = plans.get("distributed_plan").unwrap_or_else(|| panic!("no distributed plan in {plans:?}"));
    assert!(distributed.contains("stage_id=1"), "{distributed}");
    assert!(distributed.contains("stage_id=2"), "{distributed}");
    assert!(distributed.contains("ShuffleWriterExec"), "{distributed}");
}

/// The hash partitioning of the shuffle a GROUP BY query's distributed plan writes.
async fn shuffle_partitions(client: &Client) -> String {
    let rows = client.query("EXPLAIN SELECT region, count(*) FROM orders GROUP BY region", &[]).await.unwrap();
    let plans: BTreeMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let distributed = &plans["distributed_plan"];
    let line = distributed.lines().find(|l| l.contains("ShuffleWriterExec") && l.contains("Hash(")).unwrap_or_else(|| panic!("{distributed}"));
    line.rsplit_once(", ").map(|(_, n)| n.trim_end_matches(')').to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_are_split_into_one_partition_per_task_slot_unless_the_session_chooses() {
    // 2 executors x 3 slots: neither the machine's cores nor any DataFusion/Ballista default.
    let server = squall().executors(2).args(&["--executor-slots", "3"]).start();
    server.wait_for_executors(2).await;
    let files = tempfile::tempdir().unwrap();
    let client = server.client().await;
    orders_and_customers(&client, files.path()).await;
    assert_eq!(shuffle_partitions(&client).await, "6");
    client.batch_execute("SET datafusion.execution.target_partitions = 5").await.unwrap();
    assert_eq!(shuffle_partitions(&client).await, "5");
    // Another connection is not affected by this one's SET.
    let other = server.client().await;
    assert_eq!(shuffle_partitions(&other).await, "6");
    client.batch_execute("RESET datafusion.execution.target_partitions").await.unwrap();
    assert_eq!(shuffle_partitions(&client).await, "6");
    // RESET returns a setting to squall's value, which need not be DataFusion's default.
    client.batch_execute("SET datafusion.execution.parquet.schema_force_view_types = true").await.unwrap();
    client.batch_execute("RESET datafusion.execution.parquet.schema_force_view_types").await.unwrap();
    let value: String = client.query_one("SHOW datafusion.execution.parquet.schema_force_view_types", &[]).await.unwrap().get(1);
    assert_eq!(value, "false");
    // Unknown names and bad values are refused with PostgreSQL's SQLSTATEs before anything
    // changes; Ballista alone would have kept the bad codec and failed every later job.
    for (bad, code) in [
        ("SET datafusion.execution.target_partitions = 'lots'", "22023"),
        ("SET datafusion.optimizer.prefer_hash_join = 'maybe'", "22023"),
        ("SET ballista.shuffle.compression.codec = 'bogus'", "22023"),
        ("SET ballista.scheduler.max_partitions_per_task = -1", "22023"),
        ("SET datafusion.execution.no_such_setting = 1", "42704"),
        ("RESET ballista.no_such_setting", "42704"),
    ] {
        let err = client.batch_execute(bad).await.unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some(code), "{bad}: {err}");
    }
    assert_eq!(shuffle_partitions(&client).await, "6");
    let codec: String = client.query_one("SHOW ballista.shuffle.compression.codec", &[]).await.unwrap().get(1);
    assert_eq!(codec, "lz4");
    // RESET ALL: PostgreSQL's parameters and DataFusion's and Ballista's settings alike.
    let show_digits = "SHOW extra_float_digits";
    let digits_before: String = client.query_one(show_digits, &[]).await.unwrap().get(0);
    client
        .batch_execute("SET datafusion.execution.target_partitions = 5; SET ballista.shuffle.compression.codec = 'zstd'; SET extra_float_digits = 0")
        .await
        .unwrap();
    client.batch_execute("RESET ALL").await.unwrap();
    assert_eq!(shuffle_partitions(&client).await, "6");
    assert_eq!(client.query_one("SHOW ballista.shuffle.compression.codec", &[]).await.unwrap().get::<_, String>(1), "lz4");
    assert_eq!(client.query_one(show_digits, &[]).await.unwrap().get::<_, String>(0), digits_before);
    // A setting SET to the value a new session shows is still the session's choice until RESET
    // ALL, after which the session shows what a new one does.
    let at_start: String = server.client().await.query_one("SHOW datafusion.execution.target_partitions", &[]).await.unwrap().get(1);
    client.batch_execute(&format!("SET datafusion.execution.target_partitions = {at_start}")).await.unwrap();
    assert_eq!(shuffle_partitions(&client).await, at_start);
    client.batch_execute("RESET ALL").await.unwrap();
    assert_eq!(shuffle_partitions(&client).await, "6");
    assert_eq!(client.query_one("SHOW datafusion.execution.target_partitions", &[]).await.unwrap().get::<_, String>(1), at_start);
    // DISCARD ALL, which connection poolers send between clients (pgbouncer's
    // server_reset_query), resets them too.
    client.batch_execute("SET datafusion.execution.target_partitions = 5; SET extra_float_digits = 0").await.unwrap();
    // Shown once under the SET values, so that a plan kept from then would show them again.
    assert_eq!(client.query_one(show_digits, &[]).await.unwrap().get::<_, String>(0), "0");
    assert_eq!(shuffle_partitions(&client).await, "5");
    client.batch_execute("DISCARD ALL").await.unwrap();
    assert_eq!(shuffle_partitions(&client).await, "6");
    assert_eq!(client.query_one(show_digits, &[]).await.unwrap().get::<_, String>(0), digits_before);
    client.batch_execute("DISCARD PLANS").await.unwrap();
    client.batch_execute("discard temporary;").await.unwrap();
    // DEALLOCATE ALL and DISCARD ALL drop the statements the connection prepared, as in
    // PostgreSQL: a driver's statement from before them is gone (26000).
    for reset in ["DEALLOCATE ALL", "DISCARD ALL"] {
        let statement = client.prepare("SELECT 1::bigint").await.unwrap();
        assert_eq!(client.query_one(&statement, &[]).await.unwrap().get::<_, i64>(0), 1);
        client.batch_execute(reset).await.unwrap();
        let err = client.query_one(&statement, &[]).await.unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("26000"), "{reset}: {err}");
    }
    let grouped = "SELECT sum(n) FROM (SELECT region, count(*) AS n FROM orders GROUP BY region) t";
    let rows: i64 = client.query_one(grouped, &[]).await.unwrap().get(0);
    assert_eq!(rows, 10_000, "a shuffled query still runs after the refused SETs");
}

#[tokio::test(flavor = "multi_thread")]
async fn catalog_and_constant_queries_stay_on_the_coordinator() {
    let server = squall().executors(2).start();
    server.wait_for_executors(2).await;
    let client = server.client().await;
    let before = completed_tasks(&client).await;
    let one: i64 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    client.query("SELECT relname FROM pg_catalog.pg_class", &[]).await.unwrap();
    client.query("SELECT table_name FROM information_schema.tables", &[]).await.unwrap();
    let executors = client.query("SELECT id, slots FROM squall.executors", &[]).await.unwrap();
    assert_eq!(executors.len(), 2);
    assert_eq!(completed_tasks(&client).await, before, "no task ran on an executor");

    // PostgreSQL's catalog functions live in the coordinator only: a query over a table that
    // calls one is answered there, whatever the table's size.
    client.batch_execute("CREATE TABLE sizes (bytes BIGINT); INSERT INTO sizes VALUES (2048), (NULL)").await.unwrap();
    let rows = client
        .query("SELECT pg_size_pretty(bytes), pg_has_role('squall', 'USAGE'), squall_node_pid() FROM sizes ORDER BY bytes", &[])
        .await
        .unwrap();
    let answers: Vec<(Option<String>, bool, i64)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    let pid = server.pid() as i64;
    assert_eq!(answers, [(Some("2048 bytes".to_string()), true, pid), (None, true, pid)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_over_small_tables_run_on_the_coordinator_unless_the_session_says_otherwise() {
    let server = squall().default_routing().executors(2).start();
    server.wait_for_executors(2).await;
    let files = tempfile::tempdir().unwrap();
    let client = server.client().await;
    let orders = orders_and_customers(&client, files.path()).await;
    let limit: String = client.query_one("SHOW squall.local_scan_limit", &[]).await.unwrap().get(0);
    assert_eq!(limit, "16MB");
    let before = completed_tasks(&client).await;
    let count_and_pids = "SELECT count(*), min(squall_node_pid()), max(squall_node_pid()) FROM orders";
    let row = client.query_one(count_and_pids, &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), orders.len() as i64);
    let (min_pid, max_pid): (i64, i64) = (row.get(1), row.get(2));
    assert_eq!((min_pid, max_pid), (server.pid() as i64, server.pid() as i64), "computed in the coordinator");
    assert_eq!(completed_tasks(&client).await, before, "no task ran on an executor");

    // A limit below what a query reads (or 0) sends it to the executors, for this session only.
    // What counts is what the query reads: the Parquet columns it needs. With a limit of half the
    // table's files, counting rows (no column read) stays in the coordinator, and reading every
    // column goes to the executors.
    let sum_and_pids = "SELECT count(*), min(squall_node_pid()), max(squall_node_pid()), sum(id), sum(customer_id), sum(amount), max(region) FROM orders";
    let file_bytes: u64 = std::fs::read_dir(files.path().join("orders")).unwrap().map(|f| f.unwrap().metadata().unwrap().len()).sum();
    client.batch_execute(&format!("SET squall.local_scan_limit = {}", file_bytes / 2)).await.unwrap();
    let row = client.query_one(count_and_pids, &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (orders.len() as i64, server.pid() as i64), "count(*) reads no column");
    assert_eq!(completed_tasks(&client).await, before, "no task ran on an executor");
    let row = client.query_one(sum_and_pids, &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), orders.len() as i64);
    assert_eq!(row.get::<_, i64>(5), orders.iter().map(|o| o.amount).sum::<i64>());
    let executor_pids = server.child_pids();
    assert!(executor_pids.contains(&(row.get::<_, i64>(1) as u32)), "{executor_pids:?}");
    assert!(completed_tasks(&client).await.values().sum::<i64>() > before.values().sum::<i64>());
    let other = server.client().await;
    assert_eq!(other.query_one(sum_and_pids, &[]).await.unwrap().get::<_, i64>(1), server.pid() as i64);
    client.batch_execute("RESET squall.local_scan_limit").await.unwrap();
    assert_eq!(client.query_one(sum_and_pids, &[]).await.unwrap().get::<_, i64>(1), server.pid() as i64);

    // Rows a statement added are seen by the next one, on either path.
    client.batch_execute("CREATE TABLE notes (id BIGINT); INSERT INTO notes VALUES (1)").await.unwrap();
    for n in 2..=3i64 {
        client.batch_execute(&format!("INSERT INTO notes VALUES ({n})")).await.unwrap();
        let row = client.query_one("SELECT count(*), max(squall_node_pid()) FROM notes", &[]).await.unwrap();
        assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (n, server.pid() as i64));
    }

    // Models train and predict over small tables in the coordinator too. (No holdout: these rows
    // have four distinct values, and the holdout keeps identical rows together, so it could hold
    // out a whole class.)
    client
        .batch_execute("TRAIN MODEL small_regions USING decision_tree (max_depth = 4, holdout = 0) TARGET region AS SELECT id % 4 AS k, region FROM orders")
        .await
        .unwrap();
    let row = client
        .query_one("SELECT count(*) FILTER (WHERE PREDICT('small_regions', id % 4) = region), count(*), max(squall_node_pid()) FROM orders", &[])
        .await
        .unwrap();
    let (right, all, pid): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((right, all, pid), (orders.len() as i64, orders.len() as i64, server.pid() as i64));

    let error = client.batch_execute("SET squall.local_scan_limit = 'lots'").await.unwrap_err();
    assert_eq!(error.code(), Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE), "{error:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_locations_work_when_configured_through_the_environment() {
    let s3 = squall_tests::s3::LocalS3::start("lake");
    let files = tempfile::tempdir().unwrap();
    let orders = write_orders(&files.path().join("orders"), 3, 1_000, CUSTOMERS);
    for f in 0..3 {
        s3.put("lake", &format!("orders/orders-{f}.parquet"), &files.path().join(format!("orders/orders-{f}.parquet")));
    }
    let mut builder = squall().executors(2);
    for (key, value) in s3.env() {
        builder = builder.env(key, &value);
    }
    let server = builder.start();
    let client = server.client().await;
    client.batch_execute("CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION 's3://lake/orders/'").await.unwrap();
    let row = client.query_one("SELECT count(*), sum(amount) FROM orders", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), orders.len() as i64);
    assert_eq!(row.get::<_, i64>(1), orders.iter().map(|o| o.amount).sum::<i64>());
    let counts = completed_tasks(&client).await;
    assert!(counts.values().sum::<i64>() > 0, "the scan ran on the executors: {counts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn portals_hand_out_rows_in_chunks_as_a_driver_fetch_size_asks() {
    let server = squall().executors(2).start();
    let files = tempfile::tempdir().unwrap();
    let mut client = server.client().await;
    let orders = orders_and_customers(&client, files.path()).await;
    let expected: Vec<i64> = {
        let mut ids: Vec<i64> = orders.iter().filter(|o| o.amount > 500).map(|o| o.id).collect();
        ids.sort();
        ids
    };
    // What pgjdbc does with setFetchSize inside a transaction: Execute with a row limit, then
    // Execute again on the suspended portal until it completes.
    let transaction = client.transaction().await.unwrap();
    let statement = transaction.prepare("SELECT id FROM orders WHERE amount > $1 ORDER BY id").await.unwrap();
    let portal = transaction.bind(&statement, &[&500i64]).await.unwrap();
    let mut got = Vec::new();
    let mut chunks = 0;
    loop {
        let rows = transaction.query_portal(&portal, 100).await.unwrap();
        if rows.is_empty() {
            break;
        }
        assert!(rows.len() <= 100);
        chunks += 1;
        got.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
    }
    transaction.commit().await.unwrap();
    assert_eq!(got, expected);
    assert_eq!(chunks, expected.len().div_ceil(100), "{} rows in chunks of 100", expected.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cast_gives_a_parameter_its_type_as_in_postgresql() {
    let server = squall().executors(1).start();
    let files = tempfile::tempdir().unwrap();
    let client = server.client().await;
    orders_and_customers(&client, files.path()).await;
    // tokio-postgres binds by the types the server describes, as asyncpg does.
    let statement = client.prepare("SELECT $1::BIGINT + 1, $2::TEXT || '!'").await.unwrap();
    assert_eq!(statement.params(), &[tokio_postgres::types::Type::INT8, tokio_postgres::types::Type::TEXT]);
    let row = client.query_one(&statement, &[&41i64, &"hi"]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, String>(1)), (42, "hi!".to_string()));
    // On the executors too.
    let n: i64 = client.query_one("SELECT count(*) FROM orders WHERE id < $1::BIGINT", &[&25i64]).await.unwrap().get(0);
    assert_eq!(n, 25);
}


#[tokio::test(flavor = "multi_thread")]
async fn session_parameters_are_per_connection_and_listed_in_pg_settings() {
    let server = squall().executors(1).start();
    let (a, b) = (server.client().await, server.client().await);
    a.batch_execute("SET DateStyle = 'ISO'").await.unwrap();
    let of = |rows: Vec<SimpleQueryMessage>| -> Vec<String> {
        rows.into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_string()),
                _ => None,
            })
            .collect()
    };
    let listed = "SELECT setting FROM pg_catalog.pg_settings WHERE name IN ('datestyle', 'max_index_keys') ORDER BY name";
    assert_eq!(of(a.simple_query(listed).await.unwrap()), ["ISO", "32"]);
    assert_eq!(of(b.simple_query(listed).await.unwrap()), ["ISO, MDY", "32"]);
    assert_eq!(of(a.simple_query("SELECT current_setting('datestyle')").await.unwrap()), ["ISO"]);
    assert_eq!(of(b.simple_query("SHOW datestyle").await.unwrap()), ["ISO, MDY"]);
    // A set-returning function in the select list gives rows, as in PostgreSQL.
    assert_eq!(of(a.simple_query("SELECT generate_series(1, 3) AS i").await.unwrap()), ["1", "2", "3"]);
    let read_only = a.batch_execute("SET max_index_keys = 64").await.unwrap_err();
    assert_eq!(read_only.code().map(|c| c.code()), Some("55P02"), "{read_only:?}");
    let unknown = a.batch_execute("SET no_such_parameter = 1").await.unwrap_err();
    assert_eq!(unknown.code().map(|c| c.code()), Some("42704"), "{unknown:?}");
}

/// Text results as PostgreSQL writes them (drivers parse these: pgjdbc's getDouble and
/// node-postgres' parseFloat read `Infinity` but not Rust's `inf`), under each session's own
/// extra_float_digits and DateStyle; bad values are 22023.
#[tokio::test(flavor = "multi_thread")]
async fn text_results_are_written_as_postgresql_writes_them() {
    let server = squall().executors(1).start();
    let (a, b) = (server.client().await, server.client().await);
    let row = |rows: Vec<SimpleQueryMessage>| -> Vec<String> {
        rows.into_iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).unwrap_or("NULL").to_string()).collect()),
                _ => None,
            })
            .expect("a row")
    };
    let values = "SELECT 10.0::float8, 'Infinity'::float8, '-inf'::float8, 'NaN'::float8, 1e20::float8, 1.5e-7::float8, \
                  0.1::float4, -0.0::float8, TIMESTAMP '2024-03-01 10:00:00', TIMESTAMP '2024-03-01 10:00:00.5', \
                  TIMESTAMPTZ '2024-03-01 10:00:00+00', TIME '10:00:00.25', INTERVAL '1.5 seconds'";
    assert_eq!(
        row(a.simple_query(values).await.unwrap()),
        [
            "10", "Infinity", "-Infinity", "NaN", "1e+20", "1.5e-07", "0.1", "-0", "2024-03-01 10:00:00", "2024-03-01 10:00:00.5",
            "2024-03-01 10:00:00+00", "10:00:00.25", "00:00:01.5"
        ]
    );
    // Binary results are unchanged.
    let binary = a.query_one("SELECT 'Infinity'::float8, 0.1::float8", &[]).await.unwrap();
    assert_eq!((binary.get::<_, f64>(0), binary.get::<_, f64>(1)), (f64::INFINITY, 0.1));

    a.batch_execute("SET extra_float_digits = 0; SET DateStyle = 'German'").await.unwrap();
    let third = "SELECT 1 / 3.0::float8, DATE '2024-03-01'";
    assert_eq!(row(a.simple_query(third).await.unwrap()), ["0.333333333333333", "01.03.2024"]);
    assert_eq!(row(b.simple_query(third).await.unwrap()), ["0.3333333333333333", "2024-03-01"]);
    for bad in ["SET extra_float_digits = 99", "SET DateStyle = 'bogus'", "SET IntervalStyle = 'bogus'", "SET bytea_output = 'bogus'"] {
        let error = b.batch_execute(bad).await.unwrap_err();
        assert_eq!(error.code().map(|c| c.code()), Some("22023"), "{bad}: {error:?}");
    }

    // Casts to text write them too (PostgreSQL's casts are its output functions), on the
    // coordinator and on the executors.
    assert_eq!(
        row(b.simple_query("SELECT 10.0::float8::text, 1e20::float8::text, 'x' || 2.5::float8, TIMESTAMP '2024-03-05 14:07:00.5'::text, TIMESTAMPTZ '2024-03-05 14:07:00+00'::text").await.unwrap()),
        ["10", "1e+20", "x2.5", "2024-03-05 14:07:00.5", "2024-03-05 14:07:00+00"]
    );
    b.batch_execute("CREATE TABLE moments (at TIMESTAMP, x DOUBLE PRECISION); INSERT INTO moments VALUES (TIMESTAMP '2024-01-02 03:04:05', 10)").await.unwrap();
    assert_eq!(
        row(b.simple_query("SELECT at::text, x::text, count(*) OVER () FROM moments WHERE at::text LIKE '2024-01-02 %'").await.unwrap()),
        ["2024-01-02 03:04:05", "10", "1"]
    );

    // NULL is NULL for every type (a NULL interval was written as 00:00:00).
    assert_eq!(row(b.simple_query("SELECT CAST(NULL AS INTERVAL), NULL::float8, NULL::timestamp").await.unwrap()), ["NULL", "NULL", "NULL"]);

    // Intervals are read back in the form they are written.
    assert_eq!(
        row(b.simple_query("SELECT INTERVAL '1 day 02:00:00', '-04:05:06.5'::interval, INTERVAL '1 year 2 mons 3 days 04:05:06.5'").await.unwrap()),
        ["1 day 02:00:00", "-04:05:06.5", "1 year 2 mons 3 days 04:05:06.5"]
    );

    // COPY TO writes the same forms.
    let copied = crate::copy::copy_out(&b, "COPY (SELECT 'Infinity'::float8, TIMESTAMP '2024-03-01 10:00:00') TO STDOUT").await;
    assert_eq!(copied, "Infinity\t2024-03-01 10:00:00\n");
}

/// IS [NOT] DISTINCT FROM binds tighter than AND and OR, as in PostgreSQL.
#[tokio::test(flavor = "multi_thread")]
async fn is_distinct_from_binds_tighter_than_and() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    let row = client
        .query_one("SELECT 1 IS NOT DISTINCT FROM 1 AND false, NULL IS DISTINCT FROM 1 OR false, 2 IS DISTINCT FROM 2 AND true, true IS DISTINCT FROM (false AND true)", &[])
        .await
        .unwrap();
    assert_eq!((row.get::<_, bool>(0), row.get::<_, bool>(1), row.get::<_, bool>(2), row.get::<_, bool>(3)), (false, true, false, true));
}

/// Unaliased result columns carry PostgreSQL's names (`count`, `sum`, `?column?`, a cast's type),
/// repeated where PostgreSQL repeats them, in simple-query results and in what a prepared
/// statement describes.
#[tokio::test(flavor = "multi_thread")]
async fn result_columns_are_named_as_in_postgresql() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE named (id BIGINT, name TEXT); INSERT INTO named VALUES (1, 'a'), (2, 'b')").await.unwrap();
    let sql = "SELECT count(*), sum(id), named.name, upper(name), id + 1, 1, 2, id::text, 2.5::float8, DATE '2024-03-01', id AS kept \
               FROM named GROUP BY id, name ORDER BY sum(id)";
    let expected = ["count", "sum", "name", "upper", "?column?", "?column?", "?column?", "id", "float8", "date", "kept"];
    let described = client.prepare(sql).await.unwrap();
    assert_eq!(described.columns().iter().map(|c| c.name()).collect::<Vec<_>>(), expected);
    let simple = client.simple_query(sql).await.unwrap();
    let tokio_postgres::SimpleQueryMessage::RowDescription(columns) = &simple[0] else { panic!("{simple:?}") };
    assert_eq!(columns.iter().map(|c| c.name()).collect::<Vec<_>>(), expected);
    let rows = client.query(&described, &[]).await.unwrap();
    assert_eq!((rows.len(), rows[1].get::<_, i64>("sum")), (2, 2));

    // Repeated names, which PostgreSQL allows.
    let repeated = client.query("SELECT 1, 1::float8, count(*), count(*), id AS x, name AS x FROM named GROUP BY id, name ORDER BY id", &[]).await.unwrap();
    assert_eq!(repeated[0].columns().iter().map(|c| c.name()).collect::<Vec<_>>(), ["?column?", "float8", "count", "count", "x", "x"]);
    assert_eq!((repeated[1].get::<_, f64>(1), repeated[1].get::<_, i64>(4), repeated[1].get::<_, &str>(5)), (1.0, 2, "b"));

    // EXISTS as a value (SQLAlchemy's exists(), ORMs' existence checks), correlated or not.
    let exists = client.query_one("SELECT EXISTS (SELECT 1 FROM named WHERE id = 2 LIMIT 1), NOT EXISTS (SELECT * FROM named WHERE id = 3)", &[]).await.unwrap();
    assert_eq!(exists.columns().iter().map(|c| c.name()).collect::<Vec<_>>(), ["exists", "?column?"]);
    assert_eq!((exists.get::<_, bool>(0), exists.get::<_, bool>(1)), (true, true));
    let correlated = client.query("SELECT id, EXISTS (SELECT 1 FROM named AS later WHERE later.id = named.id + 1) FROM named ORDER BY id", &[]).await.unwrap();
    let answers: Vec<(i64, bool)> = correlated.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(answers, [(1, true), (2, false)]);
}

/// to_char reads PostgreSQL's templates (DataFusion's returned the template itself), on the
/// coordinator and on the executors alike; chrono's `%` formats still work.
#[tokio::test(flavor = "multi_thread")]
async fn to_char_writes_postgresql_templates() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    let constant = client
        .query_one("SELECT to_char(TIMESTAMP '2024-03-05 14:07:09.25', 'YYYY-MM-DD HH24:MI:SS.MS'), to_char(DATE '2024-03-05', 'FMDay, FMMonth FMDDth YYYY'), to_char(TIMESTAMP '2024-03-05 14:07:09', '%d/%m/%Y')", &[])
        .await
        .unwrap();
    assert_eq!(
        (constant.get::<_, &str>(0), constant.get::<_, &str>(1), constant.get::<_, &str>(2)),
        ("2024-03-05 14:07:09.250", "Tuesday, March 5th 2024", "05/03/2024")
    );
    client.batch_execute("CREATE TABLE stamped (at TIMESTAMP); INSERT INTO stamped VALUES (TIMESTAMP '2024-01-02 03:04:05'), (TIMESTAMP '2024-12-31 23:59:59'), (NULL)").await.unwrap();
    // Over a table the executors evaluate it (the test server sends every table scan to them).
    let rows = client.query("SELECT to_char(at, 'Dy DD Mon YYYY HH12:MI AM \"Q\"Q'), squall_node_pid() <> pg_backend_pid() FROM stamped ORDER BY at", &[]).await.unwrap();
    let formatted: Vec<Option<String>> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(formatted, [Some("Tue 02 Jan 2024 03:04 AM Q1".to_string()), Some("Tue 31 Dec 2024 11:59 PM Q4".to_string()), None]);
    assert!(rows.iter().all(|r| r.get::<_, bool>(1)), "evaluated on an executor");
    // age() is PostgreSQL's symbolic difference, NULL for NULL.
    let ages = client.simple_query("SELECT age(TIMESTAMP '2001-04-10', TIMESTAMP '1957-06-13'), age(DATE '2024-03-01', DATE '2024-01-31'), age(TIMESTAMP '2025-01-02 03:04:05', at) FROM stamped ORDER BY at").await.unwrap();
    let ages: Vec<Vec<Option<String>>> = ages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some((0..3).map(|i| r.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect();
    assert_eq!(ages[0], [Some("43 years 9 mons 27 days".to_string()), Some("1 mon 1 day".to_string()), Some("1 year".to_string())]);
    assert_eq!(ages[2][2], None);

    // to_date and to_timestamp read PostgreSQL's templates too.
    let parsed = client.query_one("SELECT to_date('05/03/2024', 'DD/MM/YYYY')::text, to_timestamp('2024-03-05 14:07', 'YYYY-MM-DD HH24:MI')::text", &[]).await.unwrap();
    assert_eq!((parsed.get::<_, &str>(0), parsed.get::<_, &str>(1)), ("2024-03-05", "2024-03-05 14:07:00+00"));
    let bad = client.query_one("SELECT to_char(TIMESTAMP '2024-03-05 14:07:09', '%Q')", &[]).await.unwrap_err();
    assert_eq!(bad.code().map(|c| c.code()), Some("22007"), "{bad:?}");
}

/// `interval * number`, `number * interval` and `interval / number` (which DataFusion refuses)
/// answer as PostgreSQL 15 does, text for text, on the coordinator and on the executors, and fail
/// as it fails.
#[tokio::test(flavor = "multi_thread")]
async fn interval_times_a_number_answers_as_postgresql() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    let postgres = squall_tests::postgres::Postgres::start();
    let pg = postgres.client().await;
    let rows = |messages: Vec<tokio_postgres::SimpleQueryMessage>| -> Vec<Vec<Option<String>>> {
        messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect()),
                _ => None,
            })
            .collect()
    };
    let constants = "SELECT 2 * interval '1 day', interval '1 mon' * 1.5, interval '1 day' / 3, interval '1 mon' / 7, \
                     interval '1 year 2 mons 3 days 04:05:06' * 0.3, interval '-1 mon -2 days' * 1.7, interval '5 days 03:00' / 1.3, \
                     interval '3 microseconds' * 0.5, interval '1 day' * NULL::int, 2.5::float4 * interval '1 hour'";
    let ours = rows(client.simple_query(constants).await.unwrap());
    assert_eq!(ours, rows(pg.simple_query(constants).await.unwrap()));
    assert_eq!(ours[0][1].as_deref(), Some("1 mon 15 days"));

    // Over a table the executors evaluate it (the test server sends every table scan to them).
    let table = "CREATE TABLE ev AS SELECT v AS n, TIMESTAMP '2024-01-01 00:00:00' + v * interval '1 minute' AS at FROM generate_series(1, 5000) AS t(v)";
    client.batch_execute(table).await.unwrap();
    pg.batch_execute(table).await.unwrap();
    let over_rows = "SELECT n % 7 AS k, max(n * interval '90 seconds' / 2), min(at - n * interval '1 minute'), \
                     count(*) FILTER (WHERE at > TIMESTAMP '2024-01-03' - 2 * interval '1 hour'), sum(n) \
                     FROM ev GROUP BY n % 7 ORDER BY k";
    let ours = rows(client.simple_query(over_rows).await.unwrap());
    assert_eq!(ours.len(), 7);
    assert_eq!(ours, rows(pg.simple_query(over_rows).await.unwrap()));
    let on_executor: bool = client.query_one("SELECT bool_and(squall_node_pid() <> pg_backend_pid()) FROM ev WHERE n * interval '1 second' > interval '1 minute'", &[]).await.unwrap().get(0);
    assert!(on_executor);

    for (sql, code) in [("SELECT interval '1 mon' / 0", "22012"), ("SELECT interval '2147483647 mons' * 2", "22008")] {
        let ours = client.simple_query(sql).await.unwrap_err();
        let theirs = pg.simple_query(sql).await.unwrap_err();
        assert_eq!(ours.code().map(|c| c.code()), Some(code), "{sql}: {ours:?}");
        assert_eq!(theirs.code().map(|c| c.code()), Some(code), "{sql}: {theirs:?}");
    }
}

/// Running the same text again reuses its plan (squall keeps each session's plans by text), yet
/// sees everything that changed since, in this session or another: rows inserted, a table dropped
/// and made again with other columns, a setting, the time.
#[tokio::test(flavor = "multi_thread")]
async fn a_query_run_again_sees_what_changed_since() {
    // Queries over small tables run in the coordinator, where their plans are kept.
    let server = squall().executors(1).default_routing().start();
    let (a, b) = (server.client().await, server.client().await);
    let rows = |messages: Vec<SimpleQueryMessage>| -> Vec<Vec<String>> {
        messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).unwrap_or("NULL").to_string()).collect()),
                _ => None,
            })
            .collect()
    };
    a.batch_execute("CREATE TABLE again (id BIGINT); INSERT INTO again VALUES (1)").await.unwrap();
    let count = "SELECT count(*) FROM again";
    assert_eq!(rows(a.simple_query(count).await.unwrap()), [["1"]]);
    b.batch_execute("INSERT INTO again VALUES (2)").await.unwrap();
    assert_eq!(rows(a.simple_query(count).await.unwrap()), [["2"]], "rows another session inserted");
    assert_eq!(crate::copy::copy_in(&b, "COPY again FROM STDIN", "3\n4\n").await.unwrap(), 2);
    assert_eq!(rows(a.simple_query(count).await.unwrap()), [["4"]], "rows another session copied in");
    let filtered = "SELECT id FROM again WHERE id % 2 = 0 ORDER BY id";
    assert_eq!(rows(a.simple_query(filtered).await.unwrap()), [["2"], ["4"]]);
    b.batch_execute("INSERT INTO again VALUES (6)").await.unwrap();
    assert_eq!(rows(a.simple_query(filtered).await.unwrap()), [["2"], ["4"], ["6"]], "a plan run again lists the files again");

    let all = "SELECT * FROM again ORDER BY 1";
    assert_eq!(a.query(all, &[]).await.unwrap().len(), 5);
    assert_eq!(rows(a.simple_query(all).await.unwrap()), [["1"], ["2"], ["3"], ["4"], ["6"]]);
    b.batch_execute("DROP TABLE again; CREATE TABLE again (name TEXT, id BIGINT); INSERT INTO again VALUES ('x', 7)").await.unwrap();
    assert_eq!(rows(a.simple_query(all).await.unwrap()), [["x", "7"]], "the table made again, with other columns");
    let extended = a.query(all, &[]).await.unwrap();
    assert_eq!((extended.len(), extended[0].get::<_, String>("name"), extended[0].get::<_, i64>("id")), (1, "x".to_string(), 7));

    let show = "SHOW extra_float_digits";
    assert_eq!(rows(a.simple_query(show).await.unwrap()), [["1"]]);
    a.batch_execute("SET extra_float_digits = 0").await.unwrap();
    assert_eq!(rows(a.simple_query(show).await.unwrap()), [["0"]], "a setting changed by SET");
    assert_eq!(rows(b.simple_query(show).await.unwrap()), [["1"]], "not in the other session");

    let now = "SELECT now()";
    let first = rows(a.simple_query(now).await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = rows(a.simple_query(now).await.unwrap());
    assert_ne!(first, second, "now() is each statement's own time");
    b.batch_execute("DROP TABLE again").await.unwrap();
    let gone = a.simple_query(count).await.unwrap_err();
    assert_eq!(gone.code().map(|c| c.code()), Some("42P01"), "a table dropped since: {gone:?}");
}

/// A query that reads nothing (`SELECT 1`, as connection pools send it) keeps its answer: each
/// execution answers the same rows under PostgreSQL's column names, a failing one fails each
/// time, and one whose answer depends on a setting answers for the setting now (SET empties the
/// session's statements; a prepared statement's answer is kept under the settings it was made
/// under, see the unit tests of `reused_plans`).
#[tokio::test(flavor = "multi_thread")]
async fn a_query_that_reads_nothing_answers_alike_each_time() {
    let server = squall().executors(1).default_routing().start();
    let client = server.client().await;
    let constant = client.prepare("SELECT 1, 'a' || 'b' AS ab, 2.5::float8 * 2 AS five").await.unwrap();
    for _ in 0..3 {
        let rows = client.query(&constant, &[]).await.unwrap();
        assert_eq!(rows.len(), 1);
        let names: Vec<&str> = rows[0].columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["?column?", "ab", "five"]);
        assert_eq!((rows[0].get::<_, i64>(0), rows[0].get::<_, String>(1), rows[0].get::<_, f64>(2)), (1, "ab".to_string(), 5.0));
        let simple = client.simple_query("SELECT 1").await.unwrap();
        assert!(matches!(&simple[1], SimpleQueryMessage::Row(r) if r.get(0) == Some("1") && r.columns()[0].name() == "?column?"), "{simple:?}");
    }
    for _ in 0..2 {
        let failed = client.query("SELECT 1 / 0", &[]).await.unwrap_err();
        assert_eq!(failed.code().map(|c| c.code()), Some("22012"), "{failed:?}");
    }
    let hour = |messages: Vec<SimpleQueryMessage>| match &messages[1] {
        SimpleQueryMessage::Row(r) => r.get(0).unwrap().to_string(),
        other => panic!("{other:?}"),
    };
    let local = "SELECT extract(hour FROM '2026-01-01 12:00:00+00'::timestamptz)";
    client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
    for _ in 0..2 {
        assert_eq!(hour(client.simple_query(local).await.unwrap()), "12");
    }
    client.batch_execute("SET TimeZone = 'Asia/Tokyo'").await.unwrap();
    assert_eq!(hour(client.simple_query(local).await.unwrap()), "21", "the answer made under another TimeZone is not sent again");
}

/// A prepared query with parameters is planned once and run with each execution's values
/// (a generic plan): every execution answers for its own values, also with two portals of the
/// statement open at once, values of another type than the parameter's, and after other
/// sessions changed the table.
#[tokio::test(flavor = "multi_thread")]
async fn a_prepared_query_answers_for_each_execution_values() {
    // Queries over small tables run in the coordinator, where generic plans are kept.
    let server = squall().executors(1).default_routing().start();
    let (mut a, b) = (server.client().await, server.client().await);
    a.batch_execute("CREATE TABLE lookup_values (id BIGINT, name TEXT)").await.unwrap();
    // One file per INSERT, so a scan reads them one batch at a time.
    for (id, name) in [(1i64, "one a"), (2, "two a"), (1, "one b"), (2, "two b"), (3, "three")] {
        a.execute("INSERT INTO lookup_values VALUES ($1, $2)", &[&id, &name]).await.unwrap();
    }
    let lookup = a.prepare("SELECT name FROM lookup_values WHERE id = $1 ORDER BY name").await.unwrap();
    let names = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>();
    for _ in 0..3 {
        assert_eq!(names(a.query(&lookup, &[&1i64]).await.unwrap()), ["one a", "one b"]);
        assert_eq!(names(a.query(&lookup, &[&3i64]).await.unwrap()), ["three"]);
        assert!(a.query(&lookup, &[&99i64]).await.unwrap().is_empty());
    }
    // Rows enough for many batches, which a portal reads (one partition: no task reads ahead) as
    // its rows are fetched: the first portal still reads when the second runs.
    a.batch_execute("SET datafusion.execution.target_partitions = 1").await.unwrap();
    a.batch_execute("CREATE TABLE halves AS SELECT v % 2 AS half FROM generate_series(1, 200000) AS t(v)").await.unwrap();
    let half = a.prepare("SELECT half FROM halves WHERE half = $1").await.unwrap();
    let transaction = a.transaction().await.unwrap();
    let (zeros, ones) = (transaction.bind(&half, &[&0i64]).await.unwrap(), transaction.bind(&half, &[&1i64]).await.unwrap());
    let mut seen = transaction.query_portal(&zeros, 1).await.unwrap();
    assert_eq!(transaction.query_portal(&ones, 1).await.unwrap()[0].get::<_, i64>(0), 1);
    seen.extend(transaction.query_portal(&zeros, 0).await.unwrap());
    assert_eq!(seen.len(), 100000, "two portals of one statement at once");
    assert!(seen.iter().all(|row| row.get::<_, i64>(0) == 0), "each portal reads with its own value");
    transaction.commit().await.unwrap();

    let int4 = a.prepare_typed("SELECT name FROM lookup_values WHERE id = $1 ORDER BY name", &[tokio_postgres::types::Type::INT4]).await.unwrap();
    assert_eq!(names(a.query(&int4, &[&2i32]).await.unwrap()), ["two a", "two b"], "an int4 value for a bigint column");
    let sum = a.prepare("SELECT $1::bigint + count(*) FROM lookup_values WHERE id >= $2").await.unwrap();
    assert_eq!(a.query_one(&sum, &[&100i64, &2i64]).await.unwrap().get::<_, i64>(0), 103);
    assert_eq!(a.query_one(&sum, &[&200i64, &3i64]).await.unwrap().get::<_, i64>(0), 201);
    let limited = a.prepare("SELECT name FROM lookup_values ORDER BY name LIMIT $1").await.unwrap();
    assert_eq!(names(a.query(&limited, &[&2i64]).await.unwrap()), ["one a", "one b"]);
    assert_eq!(names(a.query(&limited, &[&1i64]).await.unwrap()), ["one a"]);

    b.batch_execute("INSERT INTO lookup_values VALUES (3, 'three b')").await.unwrap();
    assert_eq!(names(a.query(&lookup, &[&3i64]).await.unwrap()), ["three", "three b"], "a row another session inserted");
    b.batch_execute("DROP TABLE lookup_values; CREATE TABLE lookup_values (id BIGINT, name TEXT); INSERT INTO lookup_values VALUES (3, 'new')").await.unwrap();
    let again = a.prepare("SELECT name FROM lookup_values WHERE id = $1 ORDER BY name").await.unwrap();
    assert_eq!(names(a.query(&again, &[&3i64]).await.unwrap()), ["new"], "the table made again");
}

/// Simple-protocol queries that differ only in their WHERE clause's constants share a generic
/// plan: each still answers for its own constants, with PostgreSQL's comparisons, and is logged
/// as the client wrote it.
#[tokio::test(flavor = "multi_thread")]
async fn queries_differing_in_constants_answer_for_their_own() {
    let server = squall().executors(1).default_routing().start();
    let (a, b) = (server.client().await, server.client().await);
    let rows = |messages: Vec<SimpleQueryMessage>| -> Vec<String> {
        messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).unwrap_or("NULL")).collect::<Vec<_>>().join("|")),
                _ => None,
            })
            .collect()
    };
    a.batch_execute("CREATE TABLE things (id BIGINT, small INT, price DOUBLE PRECISION, name TEXT)").await.unwrap();
    a.batch_execute("INSERT INTO things VALUES (1, 10, 1.25, 'one'), (2, 20, 2.5, 'it''s'), (3, 30, 3.75, 'three')").await.unwrap();
    for round in 0..2 {
        for (id, name) in [(1, "one"), (2, "it's"), (3, "three")] {
            assert_eq!(rows(a.simple_query(&format!("SELECT name FROM things WHERE id = {id}")).await.unwrap()), [name], "round {round}");
        }
        assert!(rows(a.simple_query("SELECT name FROM things WHERE id = 99").await.unwrap()).is_empty());
    }
    assert_eq!(rows(a.simple_query("SELECT id FROM things WHERE name = 'it''s'").await.unwrap()), ["2"]);
    assert_eq!(rows(a.simple_query("SELECT id FROM things WHERE name LIKE 't%' OR name = 'one' ORDER BY id").await.unwrap()), ["1", "3"]);
    assert_eq!(rows(a.simple_query("SELECT id FROM things WHERE small = 3000000000").await.unwrap()), Vec::<String>::new(), "beyond int");
    assert_eq!(rows(a.simple_query("SELECT id FROM things WHERE small = 20").await.unwrap()), ["2"]);
    assert_eq!(rows(a.simple_query("SELECT id FROM things WHERE price > 2 ORDER BY id").await.unwrap()), ["2", "3"], "an integer for a float");
    assert_eq!(rows(a.simple_query("SELECT id FROM things WHERE price > 2.5 ORDER BY id").await.unwrap()), ["3"]);
    assert_eq!(rows(a.simple_query("SELECT count(*) FROM things WHERE id BETWEEN 2 AND 3 AND name IN ('three', 'x')").await.unwrap()), ["1"]);
    let bad = a.simple_query("SELECT name FROM things WHERE id = 'abc'").await.unwrap_err();
    assert!(bad.code().is_some(), "a constant that is not a bigint: {bad:?}");

    b.batch_execute("INSERT INTO things VALUES (4, 40, 5.0, 'four')").await.unwrap();
    assert_eq!(rows(a.simple_query("SELECT name FROM things WHERE id = 4").await.unwrap()), ["four"], "a row another session inserted");
    let logged = rows(a.simple_query("SELECT statement FROM squall.query_log WHERE statement LIKE 'SELECT name FROM things WHERE id = %' ORDER BY time").await.unwrap());
    assert!(logged.contains(&"SELECT name FROM things WHERE id = 99".to_string()) && logged.contains(&"SELECT name FROM things WHERE id = 4".to_string()), "{logged:?}");
}

/// EXPLAIN says where a query runs and why, on both paths, and EXPLAIN ANALYZE of a distributed
/// query ends with each stage's tasks, rows, bytes and time from the scheduler.
#[tokio::test(flavor = "multi_thread")]
async fn explain_tells_the_route_and_explain_analyze_each_stage() {
    let server = squall().default_routing().executors(2).start();
    server.wait_for_executors(2).await;
    let files = tempfile::tempdir().unwrap();
    let client = server.client().await;
    let orders = orders_and_customers(&client, files.path()).await;
    let explain = |sql: String| {
        let client = &client;
        async move {
            client.query(&sql, &[]).await.unwrap().iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))).collect::<Vec<(String, String)>>()
        }
    };
    let grouped = "SELECT region, sum(amount) FROM orders GROUP BY region";
    let small = explain(format!("EXPLAIN {grouped}")).await;
    assert_eq!(small[0].0, "squall_route");
    assert!(small[0].1.starts_with("coordinator: reads ") && small[0].1.ends_with(" at most squall.local_scan_limit 16 MB"), "{small:?}");
    assert!(!small.iter().any(|(kind, _)| kind == "distributed_plan"), "{small:?}");
    let constant = explain("EXPLAIN SELECT 1".into()).await;
    assert_eq!(constant[0].1, "coordinator: reads no table of files (only values, catalogs or system tables)");

    client.batch_execute("SET squall.local_scan_limit = 1000").await.unwrap();
    let big = explain(format!("EXPLAIN {grouped}")).await;
    assert_eq!(big[0].0, "squall_route");
    assert!(big[0].1.starts_with("executors: 2 stages, 2 executors: reads more than squall.local_scan_limit 1000 bytes"), "{big:?}");
    assert!(big.iter().any(|(kind, _)| kind == "distributed_plan"), "{big:?}");

    let analyzed = explain(format!("EXPLAIN ANALYZE {grouped}")).await;
    assert_eq!(analyzed[0].0, "squall_route", "{analyzed:?}");
    let stages: Vec<&(String, String)> = analyzed.iter().filter(|(kind, _)| kind.starts_with("stage ")).collect();
    assert_eq!(stages.len(), 2, "{analyzed:?}");
    // The scan stage read every order and wrote one partial sum per region and task to the
    // shuffle; the last stage wrote one row per region as the result.
    let regions = orders.iter().map(|o| o.region).collect::<std::collections::BTreeSet<_>>().len();
    let figures = |text: &str| -> (usize, usize) {
        let tasks = text.split(" task").next().and_then(|t| t.rsplit(' ').next()).and_then(|t| t.parse().ok()).unwrap();
        let rows = text.split(" rows, ").next().and_then(|t| t.rsplit(' ').next()).and_then(|t| t.parse().ok()).unwrap();
        (tasks, rows)
    };
    let (scan_tasks, scan_rows) = figures(&stages[0].1);
    assert!(stages[0].1.contains("to the shuffle") && scan_tasks >= 1 && scan_rows >= regions && scan_rows <= regions * scan_tasks * 4, "{stages:?}");
    assert!(stages[1].1.contains("as the result") && figures(&stages[1].1).1 == regions, "{stages:?}");
    assert!(stages.iter().all(|(_, text)| text.contains(" ms (tasks ")), "{stages:?}");
}
