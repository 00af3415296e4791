//! Arrow-native clients and the prediction API (issue: Flight SQL, status page, prediction API),
//! each beside the Postgres wire in the same run:
//!
//! - fetching `rows` rows × 4 columns (bigint, double, int, text) into pandas (and pyarrow) through
//!   ADBC's Flight SQL driver, psycopg (binary) and asyncpg (benchmarks/clients/serving.py);
//! - the prediction API's latency for one row (client-observed p50 / p99 over one keep-alive
//!   connection, and the server's own time from `Server-Timing`) and rows/s for batches of 1,000,
//!   beside psycopg's prepared `SELECT PREDICT(...)` for the same rows.

use std::path::Path;
use std::time::Duration;

use squall_tests::ServerBuilder;

use crate::report::Report;

fn python(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/serving.py");
    let out = std::process::Command::new("python3").arg(script).args(args).output()?;
    anyhow::ensure!(out.status.success(), "serving.py {}: {}", args[0], String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn seconds(value: &serde_json::Value) -> Vec<f64> {
    let mut v: Vec<f64> = value.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

pub async fn run(squall: &Path, rows: u64, runs: usize, requests: usize) -> anyhow::Result<Report> {
    let server = ServerBuilder::new(squall).executors(2).start();
    let client = server.client().await;
    client
        .batch_execute(&format!(
            "CREATE TABLE wide AS SELECT g AS id, g * 0.5 AS x, (g % 1000)::int AS n, 'row-' || (g % 100000) AS t FROM generate_series(1, {rows}) AS s(g)"
        ))
        .await?;
    let fetched = python(&["fetch", &server.pg_port.to_string(), &server.flight_sql, "SELECT id, x, n, t FROM wide", &runs.to_string()])?;
    anyhow::ensure!(fetched["rows"].as_u64() == Some(rows), "fetched {} rows of {rows}", fetched["rows"]);
    let mut report_rows = Vec::new();
    let mut table = String::from("| client | into | median seconds | rows/s |\n|---|---|---|---|\n");
    let mut medians = Vec::new();
    for (key, system, into) in [
        ("adbc_arrow", "ADBC Flight SQL", "pyarrow Table"),
        ("adbc_pandas", "ADBC Flight SQL", "pandas DataFrame"),
        ("psycopg_binary_pandas", "psycopg 3 (binary)", "pandas DataFrame"),
        ("asyncpg_pandas", "asyncpg", "pandas DataFrame"),
    ] {
        let times = seconds(&fetched["seconds"][key]);
        let median = quantile(&times, 0.5);
        medians.push((key, median));
        table.push_str(&format!("| {system} | {into} | {median:.2} | {:.0} |\n", rows as f64 / median));
        report_rows.push((system.to_string(), format!("{rows} rows × 4 columns into a {into}"), Duration::from_secs_f64(median)));
    }
    let get = |k: &str| medians.iter().find(|(key, _)| *key == k).map(|(_, m)| *m).unwrap_or(f64::NAN);
    let best_wire = get("psycopg_binary_pandas").min(get("asyncpg_pandas"));
    let mut notes = vec![table];
    notes.push(format!(
        "Flight SQL into pandas is {:.1}x the best Postgres-wire client ({:.2} s against {:.2} s); into a pyarrow Table {:.1}x.",
        best_wire / get("adbc_pandas"),
        get("adbc_pandas"),
        best_wire,
        best_wire / get("adbc_arrow")
    ));

    // The prediction API: a model over the same columns.
    client.batch_execute("TRAIN MODEL wide_lr USING linear_regression (holdout = 0) TARGET x AS SELECT n, id, x FROM wide WHERE id <= 200000").await?;
    let features: Vec<serde_json::Value> = (0..1000).map(|i| serde_json::json!({"n": (i * 7) % 1000, "id": i * 13 + 1})).collect();
    let features_file = tempfile::NamedTempFile::new()?;
    std::fs::write(features_file.path(), serde_json::Value::from(features).to_string())?;
    let predicted = python(&["predict", &server.pg_port.to_string(), &server.http, "wide_lr", features_file.path().to_str().unwrap(), &requests.to_string(), "1000"])?;
    let (api_one, api_server, api_batch, sql_one, sql_batch) =
        (seconds(&predicted["api_one"]), seconds(&predicted["api_one_server"]), seconds(&predicted["api_batch"]), seconds(&predicted["sql_one"]), seconds(&predicted["sql_batch"]));
    let ms = |s: f64| s * 1e3;
    notes.push(format!(
        "| prediction | p50 | p99 | rows/s (batches of 1,000) |\n|---|---|---|---|\n\
         | squall prediction API, one row (client, keep-alive HTTP) | {:.3} ms | {:.3} ms | |\n\
         | squall prediction API, one row (server time, Server-Timing) | {:.3} ms | {:.3} ms | |\n\
         | psycopg prepared SELECT PREDICT(...), one row | {:.3} ms | {:.3} ms | |\n\
         | squall prediction API, 1,000 rows per request | {:.2} ms | {:.2} ms | {:.0} |\n\
         | psycopg SELECT PREDICT(...) FROM (VALUES ...) 1,000 rows | {:.2} ms | {:.2} ms | {:.0} |\n",
        ms(quantile(&api_one, 0.5)), ms(quantile(&api_one, 0.99)),
        ms(quantile(&api_server, 0.5)), ms(quantile(&api_server, 0.99)),
        ms(quantile(&sql_one, 0.5)), ms(quantile(&sql_one, 0.99)),
        ms(quantile(&api_batch, 0.5)), ms(quantile(&api_batch, 0.99)), 1000.0 / quantile(&api_batch, 0.5),
        ms(quantile(&sql_batch, 0.5)), ms(quantile(&sql_batch, 0.99)), 1000.0 / quantile(&sql_batch, 0.5),
    ));
    report_rows.push(("squall".into(), "prediction API, one row, p50 (client)".into(), Duration::from_secs_f64(quantile(&api_one, 0.5))));
    report_rows.push(("squall".into(), "prediction API, one row, p99 (client)".into(), Duration::from_secs_f64(quantile(&api_one, 0.99))));
    report_rows.push(("squall".into(), "prediction API, one row, p50 (server time)".into(), Duration::from_secs_f64(quantile(&api_server, 0.5))));
    report_rows.push(("squall (Postgres wire)".into(), "psycopg SELECT PREDICT, one row, p50".into(), Duration::from_secs_f64(quantile(&sql_one, 0.5))));
    report_rows.push(("squall".into(), "prediction API, 1,000 rows, p50".into(), Duration::from_secs_f64(quantile(&api_batch, 0.5))));
    report_rows.push(("squall (Postgres wire)".into(), "psycopg SELECT PREDICT over 1,000 VALUES rows, p50".into(), Duration::from_secs_f64(quantile(&sql_batch, 0.5))));
    drop(server);
    Ok(Report {
        name: "serving".into(),
        description: format!(
            "{rows} rows × 4 columns (bigint, double, int, text) fetched {runs} times per client through ADBC Flight SQL, psycopg 3 (binary) and asyncpg, \
             same server (2 executors), same run; the prediction API ({requests} one-row requests, {} of 1,000 rows) beside psycopg's prepared \
             SELECT PREDICT for the same rows (Python clients on the same machine).",
            (requests / 100).max(1)
        ),
        rows: report_rows,
        notes,
    })
}
