//! An application writing one row at a time: N single-row INSERTs over the wire (prepared, one
//! client), then `SELECT count(*)` and a grouped aggregate over the table, before and after
//! compaction (squall's `OPTIMIZE`; PostgreSQL's `VACUUM ANALYZE`), then an UPDATE of 1% of the
//! rows; then an UPDATE of 1% of a large table made with CREATE TABLE AS; against a PostgreSQL 15
//! this benchmark starts, same machine, same run (fsync on in both).

use std::path::Path;
use std::time::{Duration, Instant};

use squall_tests::ServerBuilder;
use tokio_postgres::{Client, NoTls};

use crate::pgbench::Postgres;
use crate::report::{median, Report};

const QUERY_RUNS: usize = 5;

async fn connect(port: u16, user: &str, database: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(&format!("host=127.0.0.1 port={port} user={user} dbname={database}"), NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The median of `QUERY_RUNS` runs of `sql`, with its answer (checked equal across systems).
async fn timed(client: &Client, sql: &str) -> anyhow::Result<(Duration, String)> {
    let mut samples = Vec::new();
    let mut answer = String::new();
    for _ in 0..QUERY_RUNS {
        let started = Instant::now();
        let rows = client.simple_query(sql).await?;
        samples.push(started.elapsed());
        answer = rows
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).unwrap_or("NULL").to_string()).collect::<Vec<_>>().join(",")),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(";");
    }
    Ok((median(samples), answer))
}

pub async fn run(squall: &Path, inserts: usize, large: usize) -> anyhow::Result<Report> {
    let postgres = Postgres::start()?;
    let server = ServerBuilder::new(squall).executors(2).start();
    let systems = [("squall", server.pg_port, "squall", "squall", "OPTIMIZE events"), ("PostgreSQL 15", postgres.port(), "postgres", "postgres", "VACUUM ANALYZE events")];
    let count = "SELECT count(*) FROM events";
    let grouped = "SELECT kind, count(*), sum(amount) FROM events GROUP BY kind ORDER BY kind";
    let mut rows = Vec::new();
    let mut table = format!("| system | INSERT p50 | INSERT p99 | inserts/s | count(*) before | grouped before | compaction | count(*) after | grouped after | UPDATE 1% | UPDATE 1% of {large} rows |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    let mut answers: Vec<Vec<String>> = Vec::new();
    for (name, port, user, database, compact) in systems {
        let client = connect(port, user, database).await?;
        client.batch_execute("CREATE TABLE events (id BIGINT, kind TEXT, amount DOUBLE PRECISION)").await?;
        let insert = client.prepare("INSERT INTO events VALUES ($1, $2, $3)").await?;
        let mut latencies = Vec::with_capacity(inserts);
        let started = Instant::now();
        for i in 0..inserts as i64 {
            let kind = format!("k{}", i % 7);
            let amount = i as f64 * 0.5;
            let one = Instant::now();
            client.execute(&insert, &[&i, &kind, &amount]).await?;
            latencies.push(one.elapsed());
        }
        let all = started.elapsed();
        latencies.sort();
        let (p50, p99) = (latencies[latencies.len() / 2], latencies[latencies.len() * 99 / 100]);
        let (count_before, a1) = timed(&client, count).await?;
        let (grouped_before, a2) = timed(&client, grouped).await?;
        let compacting = Instant::now();
        client.batch_execute(compact).await?;
        let compaction = compacting.elapsed();
        let (count_after, a3) = timed(&client, count).await?;
        let (grouped_after, a4) = timed(&client, grouped).await?;
        let updating = Instant::now();
        client.batch_execute("UPDATE events SET amount = amount + 1 WHERE id % 100 = 0").await?;
        let update = updating.elapsed();
        // A large table: 1% of its rows updated in one statement (Delta rewrites the files
        // holding them; PostgreSQL writes new row versions).
        client
            .batch_execute(&format!("CREATE TABLE big AS SELECT g AS id, g % 1000 AS amount FROM generate_series(1, {large}) AS s(g)"))
            .await?;
        let updating = Instant::now();
        let updated = client.execute("UPDATE big SET amount = amount + 1 WHERE id % 100 = 0", &[]).await?;
        let big_update = updating.elapsed();
        let (_, a5) = timed(&client, "SELECT count(*), sum(amount) FROM big").await?;
        answers.push(vec![a1, a2, a3, a4, updated.to_string(), a5]);
        table.push_str(&format!(
            "| {name} | {:.2} ms | {:.2} ms | {:.0} | {:.2} ms | {:.2} ms | {:.0} ms | {:.2} ms | {:.2} ms | {:.0} ms | {:.0} ms |\n",
            ms(p50),
            ms(p99),
            inserts as f64 / all.as_secs_f64(),
            ms(count_before),
            ms(grouped_before),
            ms(compaction),
            ms(count_after),
            ms(grouped_after),
            ms(update),
            ms(big_update)
        ));
        for (what, took) in [
            ("single-row INSERT, p50", p50),
            ("count(*) before compaction", count_before),
            ("grouped aggregate before compaction", grouped_before),
            ("count(*) after compaction", count_after),
            ("grouped aggregate after compaction", grouped_after),
            ("UPDATE of 1% of the rows", update),
            ("UPDATE of 1% of the large table", big_update),
        ] {
            rows.push((name.to_string(), what.to_string(), took));
        }
    }
    anyhow::ensure!(answers[0] == answers[1], "the answers differ: squall {:?}, PostgreSQL {:?}", answers[0], answers[1]);
    drop(server);
    drop(postgres);
    Ok(Report {
        name: "small-writes".into(),
        description: format!(
            "{inserts} single-row INSERTs (prepared, one client) into squall (2 executors; a Delta table) and PostgreSQL 15 started by the benchmark (default settings, fsync on), then queries before and after compaction (median of {QUERY_RUNS}) and an UPDATE of 1% of the rows, then an UPDATE of 1% of a {large}-row table; same machine, same run; answers checked equal."
        ),
        rows,
        notes: vec![table],
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
