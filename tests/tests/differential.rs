//! squall against PostgreSQL 15 on random queries: the same small tables with NULLs in both,
//! seeded random queries with joins, subqueries of every form, aggregates, CASE, IN lists and
//! ORDER BY ... LIMIT, run on squall's coordinator path and its distributed path
//! (`squall.local_scan_limit = 0`), answers compared (see `squall_tests::differential`).
//!
//! 3,000 queries by default (every third on the distributed path too), on every CI run. The
//! long run (README: "Correct answers, or a clear refusal"):
//! `SQUALL_DIFFERENTIAL_QUERIES=1000000 cargo test --workspace --test e2e differential -- --nocapture`;
//! `SQUALL_DIFFERENTIAL_SEED` picks another set of queries, and a failure names the seed and the
//! query's number, which replay it: `SQUALL_DIFFERENTIAL_FIRST` is the number of the first query
//! run. `SQUALL_DIFFERENTIAL_WORKERS` runs that many queries at once (each on its own clients).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use squall_tests::differential::generator::QueryGenerator;
use squall_tests::differential::outcome::{run, show, Outcome};
use squall_tests::differential::{judge, tables, Verdict};
use squall_tests::postgres::Postgres;

use crate::squall;

/// PostgreSQL 15 and squall (two executors, default routing) over the same tables, with a client
/// of PostgreSQL and two of squall: one on the coordinator path, one on the distributed path
/// (`squall.local_scan_limit = 0`).
pub struct Peers {
    /// Held: PostgreSQL stops when it is dropped.
    postgres: Postgres,
    pub server: squall_tests::Server,
    pub pg: tokio_postgres::Client,
    pub coordinator: tokio_postgres::Client,
    pub distributed: tokio_postgres::Client,
}

impl Peers {
    /// Started, with `tables` (statements) run in both databases.
    pub async fn start(tables: &[impl AsRef<str>]) -> Self {
        let postgres = Postgres::start();
        let server = squall().default_routing().executors(2).start();
        server.wait_for_executors(2).await;
        let pg = postgres.client().await;
        let coordinator = server.client().await;
        let distributed = server.client().await;
        distributed.batch_execute("SET squall.local_scan_limit = 0").await.unwrap();
        for statement in tables {
            let statement = statement.as_ref();
            pg.batch_execute(statement).await.unwrap();
            coordinator.batch_execute(statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        Self { postgres, server, pg, coordinator, distributed }
    }

    /// Another client of each: PostgreSQL's, squall's coordinator path and distributed path.
    pub async fn more_clients(&self) -> Clients {
        let distributed = self.server.client().await;
        distributed.batch_execute("SET squall.local_scan_limit = 0").await.unwrap();
        Clients { pg: self.postgres.client().await, coordinator: self.server.client().await, distributed }
    }
}

pub struct Clients {
    pub pg: tokio_postgres::Client,
    pub coordinator: tokio_postgres::Client,
    pub distributed: tokio_postgres::Client,
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What one query's run found: each path's verdict, and the report of a disagreement.
type Findings = Vec<(&'static str, Verdict, Option<String>)>;

/// Runs query `index` of `seed` on PostgreSQL and on squall's paths (the distributed one too when
/// `distributed` is set), and judges squall's answers.
async fn check(clients: &Clients, server: &squall_tests::Server, seed: u64, index: u64, distributed: bool, show_known: bool) -> Findings {
    let query = QueryGenerator::new(seed, index).query();
    let expected = run(&clients.pg, &query.sql).await;
    let paths: &[(&str, &tokio_postgres::Client)] =
        if distributed { &[("coordinator", &clients.coordinator), ("distributed", &clients.distributed)] } else { &[("coordinator", &clients.coordinator)] };
    let mut findings = Vec::new();
    for (path, client) in paths {
        let got = run(client, &query.sql).await;
        if matches!(&got, Outcome::Error { sqlstate, .. } if sqlstate == "connection") {
            // The server is gone (or dropped this client): no later query can run, and the
            // findings so far are reported with this one.
            let log = server.log();
            let start = (log.len().saturating_sub(4000)..log.len()).find(|&i| log.is_char_boundary(i)).unwrap_or(log.len());
            let tail = &log[start..];
            let report = format!("[{path}] query {index} of seed {seed}: squall closed the connection\n  {}\n  server log, last lines:\n{tail}", query.sql);
            findings.push((*path, Verdict::Refused("connection".into()), Some(report)));
            return findings;
        }
        let verdict = judge(&query.sql, &expected, &got, query.ordered);
        if show_known && matches!(verdict, Verdict::Known(_)) {
            eprintln!("[{path}] query {index}: {verdict:?}\n  {}", query.sql);
        }
        let report = verdict.is_disagreement().then(|| {
            format!("[{path}] query {index} of seed {seed}: {verdict:?}\n  {}\n  PostgreSQL: {}\n  squall:     {}", query.sql, show(&expected), show(&got))
        });
        findings.push((*path, verdict, report));
    }
    findings
}

#[tokio::test(flavor = "multi_thread")]
async fn random_queries_answer_as_in_postgresql_on_both_paths() {
    let queries = setting("SQUALL_DIFFERENTIAL_QUERIES", 3000);
    let seed = setting("SQUALL_DIFFERENTIAL_SEED", 20261202);
    let first = setting("SQUALL_DIFFERENTIAL_FIRST", 0);
    let workers = setting("SQUALL_DIFFERENTIAL_WORKERS", 1).max(1);
    // The distributed path is slower (a Ballista job per query): every n-th query runs there too.
    let distributed_every = setting("SQUALL_DIFFERENTIAL_DISTRIBUTED_EVERY", 3).max(1);
    // Print the queries squall refuses as a known difference too (what to work on next).
    let show_known = setting("SQUALL_DIFFERENTIAL_SHOW_KNOWN", 0) == 1;

    let peers = Arc::new(Peers::start(&tables::setup_statements(seed)).await);
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(first));
    let mut running = Vec::new();
    for _ in 0..workers {
        let (peers, next) = (peers.clone(), next.clone());
        running.push(tokio::spawn(async move {
            let clients = peers.more_clients().await;
            for client in [&clients.pg, &clients.coordinator, &clients.distributed] {
                client.batch_execute("SET statement_timeout = '60s'").await.unwrap();
            }
            let mut findings = Findings::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= first + queries {
                    return findings;
                }
                let found = check(&clients, &peers.server, seed, index, index % distributed_every == 0, show_known).await;
                let connection_lost = found.iter().any(|(_, verdict, _)| *verdict == Verdict::Refused("connection".into()));
                findings.extend(found);
                if connection_lost {
                    return findings;
                }
                if (index + 1 - first) % 10_000 == 0 {
                    eprintln!("differential: {} queries in {:.0} s", index + 1 - first, started.elapsed().as_secs_f64());
                }
            }
        }));
    }
    let mut verdicts: BTreeMap<(&str, Verdict), u64> = BTreeMap::new();
    let mut failures = Vec::new();
    for worker in running {
        for (path, verdict, report) in worker.await.unwrap() {
            *verdicts.entry((path, verdict)).or_default() += 1;
            failures.extend(report);
        }
    }
    eprintln!("differential: {queries} queries from number {first} (seed {seed}, {workers} at once) in {:.1} s", started.elapsed().as_secs_f64());
    for ((path, verdict), count) in &verdicts {
        eprintln!("  {path:<12} {verdict:?}: {count}");
    }
    let disagreements = failures.len();
    failures.truncate(30);
    assert!(failures.is_empty(), "{disagreements} disagreements with PostgreSQL (first {}), over the tables\n{}\n\n{}", failures.len(), tables::setup_statements(seed).join(";\n"), failures.join("\n"));
    // Most generated queries must be valid, or the run tests little.
    let invalid = verdicts.get(&("coordinator", Verdict::Invalid)).copied().unwrap_or(0);
    assert!(invalid * 5 < queries, "{invalid} of {queries} generated queries were invalid PostgreSQL");
}
