//! TPC-H side by side: the 22 queries through squall (`serve` with 1, 2 and 4 executor processes,
//! over the Postgres wire), DataFusion in this process (the floor under distribution overhead),
//! DuckDB and Spark local mode (`benchmarks/tpch/peer_bench.py`), all on the same Parquet files.
//! Every answer is checked against DataFusion's; a wrong answer is a failure, never a time.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use squall_tests::tpch::{self, Answer};
use squall_tests::ServerBuilder;

use crate::report::median;

/// One system's result for one query.
enum Outcome {
    Time(Duration),
    Wrong(String),
    Failed(String),
}

/// The `delta` variant: each table copied into a managed (Delta) table of the same name, so the
/// queries read Delta tables where the default cluster reads the Parquet files.
fn as_delta_tables(tables: &[(&'static str, std::path::PathBuf)]) -> String {
    tables
        .iter()
        .map(|(name, _)| format!("CREATE TABLE {name}_delta AS SELECT * FROM {name}; DROP TABLE {name}; ALTER TABLE {name}_delta RENAME TO {name};\n"))
        .collect()
}

/// What a `--variant` changes: `squall=PATH` another squall binary, `--flag ...` the server's
/// arguments, `delta` the tables (Delta tables instead of Parquet files), anything else SQL run
/// on the connection.
fn variant_parts<'a>(squall: &'a Path, variant: &'a str) -> (&'a Path, Vec<&'a str>, &'a str) {
    if let Some(binary) = variant.strip_prefix("squall=") {
        (Path::new(binary), Vec::new(), "")
    } else if variant.starts_with("--") {
        (squall, variant.split_whitespace().collect(), "")
    } else {
        (squall, Vec::new(), variant)
    }
}

pub async fn run(
    squall: &Path,
    data: &Path,
    scale_factor: f64,
    runs: usize,
    executors: &[usize],
    peers: &[String],
    setup: &str,
    variants: &[String],
) -> anyhow::Result<()> {
    let files = 8;
    let dir = data.join(format!("tpch-sf{scale_factor}"));
    let started = Instant::now();
    let tables = tpch::generate(&dir, scale_factor, files)?;
    eprintln!("data: {} ({:.1} s)", dir.display(), started.elapsed().as_secs_f64());

    // Every squall cluster runs at once (idle ones cost nothing), so each query's runs can be
    // interleaved: DataFusion, then each cluster, round after round. This machine's speed drifts
    // by 20% within minutes; timing one system after the other turned that drift into the ratios.
    let mut clusters = Vec::new();
    for &k in executors {
        for variant in std::iter::once("").chain(variants.iter().map(String::as_str)) {
            let (binary, server_args, sql) = variant_parts(squall, variant);
            let server = ServerBuilder::new(binary).executors(k).args(&server_args).start();
            server.wait_for_executors(k).await;
            let client = server.client().await;
            client.batch_execute(&tpch::create_tables(&tables)).await?;
            let sql = if variant == "delta" { as_delta_tables(&tables) } else { sql.to_string() };
            for sql in [setup, sql.as_str()] {
                if !sql.is_empty() {
                    client.batch_execute(sql).await?;
                }
            }
            let name = format!("squall, {k} executor{}", if k == 1 { "" } else { "s" });
            let name = if variant.is_empty() { name } else { format!("{name}; {variant}") };
            clusters.push((name, server, client));
        }
    }

    let mut reference: BTreeMap<usize, Answer> = BTreeMap::new();
    let mut datafusion = BTreeMap::new();
    let mut squall_outcomes: Vec<BTreeMap<usize, Outcome>> = clusters.iter().map(|_| BTreeMap::new()).collect();
    for n in 1..=22 {
        // DataFusion in-process gives the reference answer (and is warmed up by it).
        let answer = tpch::datafusion_answer(&tables, n).await?;
        let mut df_samples = Vec::new();
        let mut samples: Vec<Result<Vec<Duration>, Outcome>> = clusters.iter().map(|_| Ok(Vec::new())).collect();
        for round in 0..=runs {
            if round > 0 {
                let t = Instant::now();
                tpch::datafusion_answer(&tables, n).await?;
                df_samples.push(t.elapsed());
            }
            for ((_, _, client), samples) in clusters.iter().zip(samples.iter_mut()) {
                let Ok(times) = samples else { continue };
                let t = Instant::now();
                let outcome = match tpch::client_answer(client, n).await {
                    Ok(got) => tpch::compare(&got, &answer).map_err(Outcome::Wrong),
                    Err(e) => Err(Outcome::Failed(format!("{e}"))),
                };
                match outcome {
                    // Round 0 warms the cluster up (and checks its answer).
                    Ok(()) if round > 0 => times.push(t.elapsed()),
                    Ok(()) => {}
                    Err(failure) => *samples = Err(failure),
                }
            }
        }
        datafusion.insert(n, Outcome::Time(median(df_samples)));
        for (outcomes, samples) in squall_outcomes.iter_mut().zip(samples) {
            outcomes.insert(n, samples.map_or_else(|failure| failure, |times| Outcome::Time(median(times))));
        }
        reference.insert(n, answer);
        eprintln!("Q{n} done");
    }
    let mut systems: Vec<(String, BTreeMap<usize, Outcome>)> = vec![("DataFusion 55 in-process".into(), datafusion)];
    for ((name, _, _), outcomes) in clusters.iter().zip(squall_outcomes) {
        systems.push((name.clone(), outcomes));
    }
    drop(clusters);

    for peer in peers {
        let out = std::env::temp_dir().join(format!("squall-tpch-{peer}.json"));
        let status = std::process::Command::new("python3")
            .arg("benchmarks/tpch/peer_bench.py")
            .arg(peer)
            .arg(&dir)
            .arg(squall_tests::data::shared_data_dir().join("tpch"))
            .arg(runs.to_string())
            .arg(&out)
            .status()?;
        anyhow::ensure!(status.success(), "{peer}: peer_bench.py failed");
        let results: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
        let mut outcomes = BTreeMap::new();
        for n in 1..=22 {
            let r = &results[n.to_string()];
            let outcome = match (r.get("error"), r.get("median_s"), r.get("rows")) {
                (Some(e), _, _) => Outcome::Failed(e.to_string()),
                (_, Some(t), Some(rows)) => {
                    let got: Answer = serde_json::from_value(rows.clone())?;
                    match tpch::compare(&got, &reference[&n]) {
                        Ok(()) => Outcome::Time(Duration::from_secs_f64(t.as_f64().unwrap_or(0.0))),
                        Err(d) => Outcome::Wrong(d),
                    }
                }
                _ => Outcome::Failed("no result".into()),
            };
            outcomes.insert(n, outcome);
        }
        let name = if peer == "duckdb" { "DuckDB (Python)" } else { "Spark local (pyspark)" };
        systems.push((name.into(), outcomes));
    }

    write_report(scale_factor, runs, files, setup, &systems)
}

fn write_report(scale_factor: f64, runs: usize, files: usize, setup: &str, systems: &[(String, BTreeMap<usize, Outcome>)]) -> anyhow::Result<()> {
    let time = |o: &Outcome| if let Outcome::Time(t) = o { Some(*t) } else { None };
    let total = |outcomes: &BTreeMap<usize, Outcome>| -> Option<Duration> { outcomes.values().map(time).sum() };
    let df = &systems[0].1;
    let duck = systems.iter().find(|(n, _)| n.starts_with("DuckDB")).map(|(_, o)| o);
    let mut md = format!(
        "### TPC-H SF{scale_factor}\n\n22 queries on the same Parquet files ({files} per large table); one warm-up, median of {runs} runs, in ms; DataFusion and the squall clusters take turns run by run, DuckDB and Spark run afterwards. \
         Every answer checked against DataFusion in-process; `wrong` and `failed` are never timed.\n\n| query |"
    );
    if !setup.is_empty() {
        md = md.replacen("\n\n| query |", &format!(" squall's session ran `{setup}` first.\n\n| query |"), 1);
    }
    for (name, _) in systems {
        md.push_str(&format!(" {name} |"));
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(systems.len()));
    md.push('\n');
    for n in 1..=22 {
        md.push_str(&format!("| Q{n} |"));
        for (_, outcomes) in systems {
            md.push_str(&match &outcomes[&n] {
                Outcome::Time(t) => format!(" {:.1} |", t.as_secs_f64() * 1e3),
                Outcome::Wrong(_) => " wrong |".into(),
                Outcome::Failed(_) => " failed |".into(),
            });
        }
        md.push('\n');
    }
    md.push_str("| **total** |");
    for (_, outcomes) in systems {
        md.push_str(&match total(outcomes) {
            Some(t) => format!(" **{:.0}** |", t.as_secs_f64() * 1e3),
            None => " (incomplete) |".into(),
        });
    }
    md.push_str("\n\n| system | total / DataFusion | total / DuckDB | worst query / DataFusion |\n|---|---|---|---|\n");
    for (name, outcomes) in systems {
        let ratio = |base: Option<&BTreeMap<usize, Outcome>>| match (total(outcomes), base.and_then(total)) {
            (Some(a), Some(b)) => format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64()),
            _ => "—".into(),
        };
        let worst = (1..=22)
            .filter_map(|n| Some((n, time(&outcomes[&n])?.as_secs_f64() / time(&df[&n])?.as_secs_f64())))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(n, r)| format!("Q{n} {r:.2}x"))
            .unwrap_or_else(|| "—".into());
        md.push_str(&format!("| {name} | {} | {} | {worst} |\n", ratio(Some(df)), ratio(duck)));
    }
    let mut problems = Vec::new();
    for (name, outcomes) in systems {
        for (n, o) in outcomes {
            match o {
                Outcome::Wrong(d) => problems.push(format!("- {name} Q{n}: WRONG ANSWER: {d}")),
                Outcome::Failed(e) => problems.push(format!("- {name} Q{n}: failed: {e}")),
                Outcome::Time(_) => {}
            }
        }
    }
    if !problems.is_empty() {
        md.push_str(&format!("\n{}\n", problems.join("\n")));
    }
    println!("{md}");
    let dir = Path::new("benchmarks/results");
    std::fs::create_dir_all(dir)?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    std::fs::write(dir.join(format!("tpch-sf{scale_factor}-{stamp}.md")), &md)?;
    let json = serde_json::json!({
        "benchmark": "tpch",
        "scale_factor": scale_factor,
        "runs": runs,
        "squall_setup": setup,
        "unix_time": stamp,
        "machine": crate::report::machine(),
        "systems": systems.iter().map(|(name, outcomes)| serde_json::json!({
            "system": name,
            "queries": outcomes.iter().map(|(n, o)| match o {
                Outcome::Time(t) => serde_json::json!({"query": n, "median_seconds": t.as_secs_f64()}),
                Outcome::Wrong(d) => serde_json::json!({"query": n, "wrong": d}),
                Outcome::Failed(e) => serde_json::json!({"query": n, "failed": e}),
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    std::fs::write(dir.join(format!("tpch-sf{scale_factor}-{stamp}.json")), serde_json::to_string_pretty(&json)?)?;
    Ok(())
}
