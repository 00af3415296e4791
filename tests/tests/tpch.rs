//! TPC-H at scale factor 0.01: all 22 queries through squall (2 executor processes, over the
//! Postgres wire) give the answers DataFusion gives in-process on the same Parquet files, and so
//! do they run in the coordinator (squall's route for small tables, planned with DataFusion's
//! own join and partitioning defaults). The same harness times them in `squall-bench tpch`;
//! here only correctness is checked.

use squall_tests::tpch;

use crate::squall;

#[tokio::test(flavor = "multi_thread")]
async fn all_22_tpch_queries_match_datafusion_at_sf_0_01() {
    let data = tempfile::tempdir().unwrap();
    let tables = tpch::generate(&data.path().join("sf0.01"), 0.01, 3).unwrap();
    let server = squall().executors(2).start();
    server.wait_for_executors(2).await;
    let client = server.client().await;
    client.batch_execute(&tpch::create_tables(&tables)).await.unwrap();
    let coordinator = server.client().await;
    coordinator.batch_execute("SET squall.local_scan_limit = '1GB'").await.unwrap();
    let mut failures = Vec::new();
    let mut empty = Vec::new();
    for n in 1..=22 {
        let expected = tpch::datafusion_answer(&tables, n).await.unwrap_or_else(|e| panic!("Q{n} in DataFusion: {e}"));
        if expected.is_empty() {
            empty.push(n);
        }
        for (route, client) in [("executors", &client), ("coordinator", &coordinator)] {
            match tpch::client_answer(client, n).await {
                Ok(got) => {
                    if let Err(difference) = tpch::compare(&got, &expected) {
                        failures.push(format!("Q{n} on the {route}: {difference}"));
                    }
                }
                Err(e) => failures.push(format!("Q{n} failed in squall on the {route}: {e:?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{} of 44 runs differ:\n{}", failures.len(), failures.join("\n"));
    // The comparison means something: every query has rows at this scale.
    assert!(empty.is_empty(), "queries with no rows at SF 0.01: {empty:?}");
}
