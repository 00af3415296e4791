//! The cost of one statement's round trip: `SELECT 1` answered by the coordinator's fast path.

use std::path::Path;
use std::time::Instant;

use squall_tests::ServerBuilder;

use crate::report::{median, Report};

pub async fn run(squall: &Path, iterations: usize) -> anyhow::Result<Report> {
    let server = ServerBuilder::new(squall).executors(2).start();
    let client = server.client().await;
    for _ in 0..50 {
        client.simple_query("SELECT 1").await?; // warm up
    }
    let mut simple = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        client.simple_query("SELECT 1").await?;
        simple.push(start.elapsed());
    }
    let statement = client.prepare("SELECT 1").await?;
    let mut extended = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        client.query(&statement, &[]).await?;
        extended.push(start.elapsed());
    }
    Ok(Report {
        name: "wire".into(),
        description: format!("`SELECT 1` through tokio-postgres over loopback, median of {iterations} round trips."),
        rows: vec![
            ("squall".into(), "simple query protocol".into(), median(simple)),
            ("squall".into(), "extended protocol, prepared once".into(), median(extended)),
        ],
        notes: vec![],
    })
}
