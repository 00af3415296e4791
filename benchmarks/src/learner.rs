//! Online Naive Bayes as a learner, like for like with River's `GaussianNB.learn_one`: the same
//! rows (one numeric feature, three classes) already in memory, learned by River one
//! `learn_one` at a time from Python dicts, and by squall's `naive_bayes` training state — the
//! `Partial` each executor runs over its Arrow batches (DataFusion's 8,192 rows at a time) — whose
//! state for each ingested batch is then merged into the model's, as a refresh merges the new
//! rows' state with the version's. Neither side reads storage here; what a refresh costs end to
//! end (reading the new files, the distributed pass, writing the version) is measured beside it
//! by the ingest benchmark.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, StringArray};

use crate::report::Report;

/// DataFusion's default batch size: the batches an executor's aggregate is given.
const EXECUTOR_BATCH_ROWS: usize = 8_192;

/// Row `i` of both learners: its feature and its class.
fn row(i: i64) -> (f64, &'static str) {
    let class = (i % 3) as usize;
    ([1.0, 5.0, 9.0][class] + ((i * 7919) % 1000) as f64 / 250.0, ["low", "mid", "high"][class])
}

/// squall's naive_bayes state over `rows` rows in ingested batches of `batch_rows`: rows/s.
pub fn squall(rows: i64, batch_rows: i64) -> anyhow::Result<f64> {
    let algorithm = squall_udf::ml::algorithms::find("naive_bayes")?;
    let spec = serde_json::to_vec(&())?;
    let batches: Vec<Vec<[ArrayRef; 2]>> = (0..rows / batch_rows)
        .map(|b| {
            let first = b * batch_rows;
            (first..first + batch_rows)
                .step_by(EXECUTOR_BATCH_ROWS)
                .map(|start| {
                    let end = (start + EXECUTOR_BATCH_ROWS as i64).min(first + batch_rows);
                    let (x, label): (Vec<f64>, Vec<&str>) = (start..end).map(row).unzip();
                    [Arc::new(StringArray::from(label)) as ArrayRef, Arc::new(Float64Array::from(x)) as ArrayRef]
                })
                .collect()
        })
        .collect();
    let mut model = algorithm.partial(&spec)?;
    let started = Instant::now();
    for batch in &batches {
        let mut state = algorithm.partial(&spec)?;
        for columns in batch {
            state.update(columns)?;
        }
        model.merge(&state.to_bytes()?)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let learned = rows / batch_rows * batch_rows;
    let statistics: squall_udf::ml::naive_bayes::Statistics = serde_json::from_slice(&model.to_bytes()?)?;
    anyhow::ensure!(statistics.rows() == learned as u64, "the model learned {} of {learned} rows", statistics.rows());
    Ok(learned as f64 / seconds)
}

/// River's GaussianNB over the same `rows` rows, one `learn_one` each: its version and rows/s
/// (None without River).
pub fn river(rows: i64) -> Option<(String, f64)> {
    let script = format!(
        "import time, river\nfrom river import naive_bayes\nm = naive_bayes.GaussianNB()\nrows = []\nfor i in range({rows}):\n    label = ['low','mid','high'][i % 3]\n    base = [1.0,5.0,9.0][i % 3]\n    rows.append(({{'x': base + ((i * 7919) % 1000) / 250.0}}, label))\nt = time.perf_counter()\nfor x, y in rows:\n    m.learn_one(x, y)\nprint(river.__version__, {rows} / (time.perf_counter() - t))\n"
    );
    let out = std::process::Command::new("python3").args(["-c", &script]).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let (version, rate) = text.trim().split_once(' ')?;
    Some((version.to_string(), rate.parse().ok()?))
}

/// `squall-bench learner`: both learners `runs` times in turn; medians of rows/s.
pub fn run(rows: i64, batch_rows: i64, river_rows: i64, runs: usize) -> anyhow::Result<Report> {
    let (mut ours, mut theirs, mut version) = (Vec::new(), Vec::new(), None);
    for _ in 0..runs.max(1) {
        ours.push(squall(rows, batch_rows)?);
        if let Some((v, rate)) = river(river_rows) {
            theirs.push(rate);
            version = Some(v);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let (ours, theirs) = (median(ours).unwrap_or_default(), median(theirs));
    let mut report_rows = vec![("squall".to_string(), format!("naive_bayes learner, rows/s {ours:.0}"), std::time::Duration::from_secs_f64(rows as f64 / ours))];
    if let Some(r) = theirs {
        report_rows.push(("River".to_string(), format!("GaussianNB.learn_one, rows/s {r:.0}"), std::time::Duration::from_secs_f64(river_rows as f64 / r)));
    }
    Ok(Report {
        name: "learner".into(),
        description: format!(
            "Online Naive Bayes learners over the same rows in memory (one feature, three classes), median of {runs} runs taken in turn: squall's naive_bayes training state over {rows} rows as Arrow columns, batches of {batch_rows} rows each learned by the executors' aggregate state (8,192-row Arrow batches) and merged into the model's; River {} GaussianNB.learn_one over {river_rows} rows held as Python dicts. Same machine, same run.",
            version.as_deref().unwrap_or("(not installed)")
        ),
        rows: report_rows,
        notes: vec![theirs.map_or("River not measured: pip install river".into(), |r| format!("squall / River: {:.1}x", ours / r))],
    })
}
