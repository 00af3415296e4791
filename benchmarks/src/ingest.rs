//! Continuous ingestion with a model attached: the same rows sent to squall over HTTP as Arrow IPC
//! streams and as CSV (`POST /v1/tables/<t>/rows`, curl as the client, several producers at
//! once) and by COPY FROM STDIN, each table with a continuous naive_bayes model
//! (`refresh = 'continuous'`); beside it PostgreSQL 15's COPY of the same CSV batches, and River's
//! (the online-learning library) `GaussianNB.learn_one` over the same rows, same run.
//!
//! Measured: sustained rows/s per door; from each batch's acknowledgement to the model including
//! it (the answer names the table version its rows were committed at; a watcher sees when
//! `squall.model_refreshes` first reports a version at or past it, polling every 20 ms); rows are
//! queryable at acknowledgement by construction (the answer comes after the commit), which the
//! final counts confirm.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use futures::SinkExt;
use squall_tests::ServerBuilder;
use tokio_postgres::{Client, NoTls};

use crate::learner;
use crate::pgbench::Postgres;
use crate::report::Report;

const SENSORS: i64 = 100;

async fn connect(port: u16, user: &str, database: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(&format!("host=127.0.0.1 port={port} user={user} dbname={database}"), NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Row `i`: an id, a sensor, a reading that depends on the label, and the label.
fn row(i: i64) -> (i64, String, f64, &'static str) {
    let label = ["low", "mid", "high"][(i % 3) as usize];
    let base = [1.0, 5.0, 9.0][(i % 3) as usize];
    let x = base + ((i * 7919) % 1000) as f64 / 250.0;
    (i, format!("s{}", i % SENSORS), x, label)
}

fn arrow_body(first: i64, n: i64) -> anyhow::Result<Vec<u8>> {
    let rows: Vec<_> = (first..first + n).map(row).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("sensor", DataType::Utf8, false),
        Field::new("x", DataType::Float64, false),
        Field::new("label", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1.as_str()))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
        ],
    )?;
    let mut body = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut body, &schema)?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(body)
}

fn csv_body(first: i64, n: i64, header: bool) -> Vec<u8> {
    let mut text = if header { String::from("id,sensor,x,label\n") } else { String::new() };
    for i in first..first + n {
        let (id, sensor, x, label) = row(i);
        text.push_str(&format!("{id},{sensor},{x},{label}\n"));
    }
    text.into_bytes()
}

/// p50 and p99 of `samples`.
fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    if samples.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    (samples[samples.len() / 2], samples[(samples.len() * 99 / 100).min(samples.len() - 1)])
}

/// What one door measured.
struct Door {
    rows_per_second: f64,
    /// Acknowledgement → the model includes the batch.
    to_model: Vec<Duration>,
    /// First send → the model includes every row.
    model_caught_up: Option<Duration>,
}

/// Sends `batches` bodies from `producers` threads over HTTP; each answer's version is matched
/// with when the model first reported it.
async fn http_door(server: &squall_tests::Server, client: &Client, table: &str, model: &str, content_type: &str, bodies: Vec<(i64, Vec<u8>)>, producers: usize) -> anyhow::Result<Door> {
    let seen: Arc<Mutex<Vec<(Instant, i64)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = watch_model(server.connection_string(), model.to_string(), seen.clone(), stop.clone());
    let total_rows: i64 = bodies.iter().map(|(n, _)| n).sum();
    let queue = Arc::new(Mutex::new(bodies));
    let started = Instant::now();
    let acks: Vec<(Instant, i64)> = {
        let threads: Vec<_> = (0..producers)
            .map(|p| {
                let (queue, http, path, content_type) = (queue.clone(), server.http.clone(), format!("/v1/tables/{table}/rows"), content_type.to_string());
                std::thread::spawn(move || -> anyhow::Result<Vec<(Instant, i64)>> {
                    let mut acks = Vec::new();
                    let mut sequence = 0;
                    loop {
                        let Some((_, body)) = queue.lock().unwrap().pop() else { return Ok(acks) };
                        sequence += 1;
                        let key = format!("bench-{p}:{sequence}");
                        loop {
                            let answer = squall_tests::server::post_answer(&http, &path, Some("squall:"), &content_type, &[("Idempotency-Key", &key)], &body);
                            match answer.status {
                                200 => {
                                    let version = serde_json::from_str::<serde_json::Value>(&answer.body)?["version"].as_i64().unwrap_or(0);
                                    acks.push((Instant::now(), version));
                                    break;
                                }
                                503 => std::thread::sleep(Duration::from_millis(100)),
                                _ => anyhow::bail!("{}: {}", answer.status, answer.body),
                            }
                        }
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for thread in threads {
            all.extend(thread.join().map_err(|_| anyhow::anyhow!("a producer panicked"))??);
        }
        all
    };
    let sent = started.elapsed();
    let last_version = acks.iter().map(|(_, v)| *v).max().unwrap_or(0);
    // Until the model has every batch (or a minute).
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().last().is_none_or(|(_, v)| *v < last_version) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    watcher.await??;
    let seen = seen.lock().unwrap().clone();
    let to_model = acks.iter().filter_map(|(at, version)| seen.iter().find(|(_, v)| v >= version).map(|(when, _)| when.saturating_duration_since(*at))).collect();
    let model_caught_up = seen.iter().find(|(_, v)| *v >= last_version).map(|(when, _)| when.duration_since(started));
    let count: i64 = client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await?.get(0);
    anyhow::ensure!(count >= total_rows, "{table}: {count} rows after sending {total_rows}");
    Ok(Door { rows_per_second: total_rows as f64 / sent.as_secs_f64(), to_model, model_caught_up })
}

/// Polls `squall.model_refreshes` every 20 ms: when each newest source version was first seen.
fn watch_model(connection: String, model: String, seen: Arc<Mutex<Vec<(Instant, i64)>>>, stop: Arc<std::sync::atomic::AtomicBool>) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    tokio::spawn(async move {
        let (client, connection) = tokio_postgres::connect(&connection, NoTls).await?;
        tokio::spawn(connection);
        let query = format!("SELECT max(source_version) FROM squall.model_refreshes WHERE model = '{model}' AND error IS NULL");
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let version: Option<i64> = client.query_one(&query, &[]).await?.get(0);
            if let Some(version) = version {
                let mut seen = seen.lock().unwrap();
                if seen.last().is_none_or(|(_, v)| *v < version) {
                    seen.push((Instant::now(), version));
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    })
}

/// COPY FROM STDIN of every CSV batch, `producers` connections at once; rows/s.
async fn copy_door(port: u16, user: &str, database: &str, table: &str, bodies: Vec<(i64, Vec<u8>)>, producers: usize) -> anyhow::Result<f64> {
    let total: i64 = bodies.iter().map(|(n, _)| n).sum();
    let queue = Arc::new(Mutex::new(bodies));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..producers {
        let client = connect(port, user, database).await?;
        let (queue, table) = (queue.clone(), table.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some((_, body)) = queue.lock().unwrap().pop() else { return anyhow::Ok(()) };
                let sink = client.copy_in(&format!("COPY {table} FROM STDIN WITH (FORMAT csv)")).await?;
                futures::pin_mut!(sink);
                sink.send(bytes::Bytes::from(body)).await?;
                sink.finish().await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

pub async fn run(squall: &Path, rows: i64, batch_rows: i64, producers: usize) -> anyhow::Result<Report> {
    let postgres = Postgres::start()?;
    let server = ServerBuilder::new(squall).executors(2).start();
    let client = connect(server.pg_port, "squall", "squall").await?;
    let pg = connect(postgres.port(), "postgres", "postgres").await?;
    let columns = "(id BIGINT, sensor TEXT, x DOUBLE PRECISION, label TEXT)";
    let batches: Vec<i64> = (0..rows / batch_rows).map(|b| 1_000 + b * batch_rows).collect();
    let mut report_rows = Vec::new();
    let mut table = String::from("| door | rows/s | ack → model includes the batch, p50 | p99 | first send → model has every row |\n|---|---|---|---|---|\n");
    let mut doors = Vec::new();
    for (door, content_type) in [("arrow", "application/vnd.apache.arrow.stream"), ("csv", "text/csv"), ("copy", "")] {
        let name = format!("ingest_{door}");
        client.batch_execute(&format!("CREATE TABLE {name} {columns}")).await?;
        // A seed batch to train on, then the model follows the table.
        let (status, body) = server.http_post(&format!("/v1/tables/{name}/rows"), Some("squall:"), "text/csv", &csv_body(0, 1_000, true));
        anyhow::ensure!(status == 200, "seeding {name}: {body}");
        client
            .batch_execute(&format!("TRAIN MODEL nb_{door} USING naive_bayes (refresh = 'continuous') TARGET label AS SELECT x, sensor, label FROM {name}"))
            .await?;
        if door == "copy" {
            let bodies = batches.iter().map(|&first| (batch_rows, csv_body(first, batch_rows, false))).collect();
            let per_second = copy_door(server.pg_port, "squall", "squall", &name, bodies, producers).await?;
            table.push_str(&format!("| squall COPY FROM STDIN (CSV), model attached | {per_second:.0} | | | |\n"));
            report_rows.push(("squall".to_string(), format!("COPY of {rows} rows, rows/s {per_second:.0}"), Duration::from_secs_f64(rows as f64 / per_second)));
            continue;
        }
        let bodies: Vec<(i64, Vec<u8>)> = batches
            .iter()
            .map(|&first| Ok((batch_rows, if door == "arrow" { arrow_body(first, batch_rows)? } else { csv_body(first, batch_rows, true) })))
            .collect::<anyhow::Result<_>>()?;
        let measured = http_door(&server, &client, &name, &format!("nb_{door}"), content_type, bodies, producers).await?;
        let (p50, p99) = percentiles(measured.to_model.clone());
        table.push_str(&format!(
            "| squall HTTP {door}, model attached | {:.0} | {:.0} ms | {:.0} ms | {} |\n",
            measured.rows_per_second,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            measured.model_caught_up.map_or("-".into(), |d| format!("{:.1} s", d.as_secs_f64()))
        ));
        report_rows.push(("squall".to_string(), format!("HTTP {door}: ack → model p99"), p99));
        doors.push((door, measured));
    }
    pg.batch_execute(&format!("CREATE TABLE ingest_copy {columns}")).await?;
    let bodies = batches.iter().map(|&first| (batch_rows, csv_body(first, batch_rows, false))).collect();
    let pg_per_second = copy_door(postgres.port(), "postgres", "postgres", "ingest_copy", bodies, producers).await?;
    table.push_str(&format!("| PostgreSQL 15 COPY FROM STDIN (CSV) | {pg_per_second:.0} | | | |\n"));
    report_rows.push(("PostgreSQL 15".to_string(), format!("COPY of {rows} rows, rows/s {pg_per_second:.0}"), Duration::from_secs_f64(rows as f64 / pg_per_second)));

    // Online Naive Bayes: rows the refreshes merged per second of their own time, and the
    // learner alone beside River's learn_one (learner.rs).
    let merged = client
        .query_one("SELECT sum(rows_added)::float8 / sum(seconds) FROM squall.model_refreshes WHERE how = 'merge' AND error IS NULL AND model = 'nb_arrow'", &[])
        .await?;
    let merged_per_second: Option<f64> = merged.get(0);
    let learner_rows = rows.max(10_000_000);
    let learned_per_second = learner::squall(learner_rows, batch_rows)?;
    let river_rows = rows.min(1_000_000);
    let river = learner::river(river_rows);
    let river_per_second = river.as_ref().map(|(_, r)| *r);
    let times = |squall: f64| river_per_second.map_or(String::new(), |r| format!(" ({:.0}x River)", squall / r));
    let mut notes = vec![table];
    notes.push(format!(
        "Online Naive Bayes. The learner, like for like with River {} GaussianNB.learn_one ({} rows/s over {river_rows} rows held as Python dicts): \
         squall's naive_bayes training state learned {learned_per_second:.0} rows/s{} over {learner_rows} rows held as Arrow columns, the same rows \
         (one feature, three classes), batches of {batch_rows} each learned by the executors' aggregate state and merged into the model's. \
         End to end: the continuous model's refreshes merged {} rows/s{} (the Arrow door's refreshes: rows added ÷ the refreshes' own seconds, \
         each reading the new Parquet files from the Delta table in a distributed pass, merging, writing the version and scoring the new holdout rows).",
        river.as_ref().map_or("-", |(v, _)| v.as_str()),
        river_per_second.map_or("not measured (pip install river)".into(), |r| format!("{r:.0}")),
        times(learned_per_second),
        merged_per_second.map_or("-".into(), |r| format!("{r:.0}")),
        merged_per_second.map_or(String::new(), times),
    ));
    report_rows.push(("squall".to_string(), format!("naive_bayes learner, rows/s {learned_per_second:.0}"), Duration::from_secs_f64(learner_rows as f64 / learned_per_second)));
    if let Some(r) = river_per_second {
        report_rows.push(("River".to_string(), format!("GaussianNB.learn_one, rows/s {r:.0}"), Duration::from_secs_f64(river_rows as f64 / r)));
    }
    drop(server);
    drop(postgres);
    Ok(Report {
        name: "ingest".into(),
        description: format!(
            "{rows} rows (id, sensor, x, label) in batches of {batch_rows}, {producers} producers at once, into squall (2 executors; Delta tables, group commit every 200 ms) with a continuous naive_bayes model on each table, over HTTP (Arrow IPC, CSV; curl) and COPY FROM STDIN; PostgreSQL 15 started by the benchmark (default settings, fsync on) COPY of the same CSV batches; River's GaussianNB learn_one; same machine, same run."
        ),
        rows: report_rows,
        notes,
    })
}
