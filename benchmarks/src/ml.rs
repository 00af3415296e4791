//! Training and prediction through squall (TRAIN MODEL / PREDICT over the Postgres wire, two
//! executor processes) beside scikit-learn's fit and predict (benchmarks/ml/sklearn_bench.py) on
//! the same Parquet files, in the same run: `rows` × 10 numeric features, 3 classes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use squall_tests::ServerBuilder;

use crate::report::{timed, Report};

const FILES: usize = 8;
const FEATURES: usize = 10;
const CLASSES: [&str; 3] = ["alpha", "beta", "gamma"];
const MAX_DEPTH: usize = 8;

pub async fn run(squall: &Path, data: &Path, rows: usize, runs: usize) -> anyhow::Result<Report> {
    let dir = data.join(format!("ml-{rows}"));
    generate(&dir, rows)?;
    let dir = dir.canonicalize()?;

    // scikit-learn first, so the two do not compete for the cores.
    let output = std::process::Command::new("python3")
        .arg("benchmarks/ml/sklearn_bench.py")
        .arg(&dir)
        .arg(MAX_DEPTH.to_string())
        .arg(runs.to_string())
        .output()?;
    anyhow::ensure!(output.status.success(), "sklearn_bench.py failed: {}", String::from_utf8_lossy(&output.stderr));
    let sk: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let seconds = |k: &str| Duration::from_secs_f64(sk[k].as_f64().unwrap_or(f64::NAN));

    let server = ServerBuilder::new(squall).executors(2).start();
    server.wait_for_executors(2).await;
    let client = server.client().await;
    client.batch_execute(&format!("CREATE EXTERNAL TABLE ml STORED AS PARQUET LOCATION '{}/'", dir.display())).await?;
    let features: Vec<String> = (0..FEATURES).map(|f| format!("f{f}")).collect();
    let features = features.join(", ");

    let (nb_train, ()) = timed(runs, || async {
        client.batch_execute("TRAIN MODEL nb USING naive_bayes (holdout = 0) TARGET label AS SELECT * FROM ml").await?;
        Ok(())
    })
    .await?;
    let predict_sql = format!("SELECT count(*) FROM ml WHERE PREDICT('nb', {features}) = label");
    let (nb_predict, right) = timed(runs, || async { Ok(client.query_one(&predict_sql, &[]).await?.get::<_, i64>(0)) }).await?;
    let nb_accuracy = right as f64 / rows as f64;
    let sk_nb_accuracy = sk["nb_accuracy"].as_f64().unwrap_or(0.0);
    anyhow::ensure!((nb_accuracy - sk_nb_accuracy).abs() < 1e-3, "NB accuracy: squall {nb_accuracy}, scikit-learn {sk_nb_accuracy}");

    let (tree_train, ()) = timed(1, || async {
        client
            .batch_execute(&format!(
                "TRAIN MODEL tree USING decision_tree (holdout = 0, max_depth = {MAX_DEPTH}) TARGET label AS SELECT * FROM ml"
            ))
            .await?;
        Ok(())
    })
    .await?;
    let tree_sql = format!("SELECT count(*) FROM ml WHERE PREDICT('tree', {features}) = label");
    let (tree_predict, right) = timed(runs, || async { Ok(client.query_one(&tree_sql, &[]).await?.get::<_, i64>(0)) }).await?;
    let tree_accuracy = right as f64 / rows as f64;
    // A scan-only query over the same rows: what PREDICT adds on top of reading them.
    let (scan, ()) = timed(runs, || async {
        client.query_one("SELECT count(*) FROM ml WHERE label <> 'x'", &[]).await?;
        Ok(())
    })
    .await?;

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let per_core = |d: Duration| rows as f64 / d.as_secs_f64() / cores / 1e6;
    let predict_only = nb_predict.saturating_sub(scan);
    Ok(Report {
        name: format!("ml-{rows}"),
        description: format!(
            "{rows} rows × {FEATURES} float features, 3 classes, {FILES} Parquet files. squall: TRAIN MODEL / \
             `SELECT count(*) ... WHERE PREDICT(...) = label` over the wire, 2 executor processes; scikit-learn {} \
             fit/predict on the same rows already in memory (loading them took {:.2} s). One warm-up, median of {runs} \
             (decision tree training: one run). Accuracy on the training rows: naive_bayes squall {nb_accuracy:.4} / \
             scikit-learn {sk_nb_accuracy:.4}; decision_tree (max_depth {MAX_DEPTH}) squall {tree_accuracy:.4} / \
             scikit-learn {:.4}.",
            "1.9",
            sk["load_seconds"].as_f64().unwrap_or(f64::NAN),
            sk["tree_accuracy"].as_f64().unwrap_or(f64::NAN),
        ),
        rows: vec![
            ("scikit-learn GaussianNB".into(), "fit (text labels, as in the table)".into(), seconds("nb_fit_seconds")),
            ("scikit-learn GaussianNB".into(), "fit (labels as integer codes)".into(), seconds("nb_fit_codes_seconds")),
            ("squall naive_bayes".into(), "TRAIN MODEL".into(), nb_train),
            ("scikit-learn GaussianNB".into(), "predict".into(), seconds("nb_predict_seconds")),
            ("squall naive_bayes".into(), "scan + PREDICT + count".into(), nb_predict),
            ("squall".into(), "scan + count (no PREDICT)".into(), scan),
            ("scikit-learn DecisionTreeClassifier".into(), "fit".into(), seconds("tree_fit_seconds")),
            ("squall decision_tree".into(), "TRAIN MODEL".into(), tree_train),
            ("scikit-learn DecisionTreeClassifier".into(), "predict".into(), seconds("tree_predict_seconds")),
            ("squall decision_tree".into(), "scan + PREDICT + count".into(), tree_predict),
        ],
        notes: vec![
            format!(
                "naive_bayes training: scikit-learn fit / squall TRAIN MODEL = {:.2}x with text labels, {:.2}x with integer codes (goal ≥ 2x); with scikit-learn's load added: {:.2}x",
                seconds("nb_fit_seconds").as_secs_f64() / nb_train.as_secs_f64(),
                seconds("nb_fit_codes_seconds").as_secs_f64() / nb_train.as_secs_f64(),
                (seconds("nb_fit_seconds") + seconds("load_seconds")).as_secs_f64() / nb_train.as_secs_f64()
            ),
            format!(
                "PREDICT naive_bayes: {:.1} M rows/s per core including the scan, {:.1} M rows/s per core for PREDICT alone (scan time subtracted), {cores} cores (goal ≥ 5)",
                per_core(nb_predict),
                if predict_only.is_zero() { f64::INFINITY } else { per_core(predict_only) }
            ),
            format!(
                "decision_tree training: scikit-learn fit / squall TRAIN MODEL = {:.2}x; squall fits on a uniform sample of at most \
                 max_training_rows = 1,000,000 rows (here {} rows), scikit-learn on all of them",
                seconds("tree_fit_seconds").as_secs_f64() / tree_train.as_secs_f64(),
                rows.min(1_000_000)
            ),
        ],
    })
}

/// splitmix64: deterministic noise without a random-number crate.
fn noise(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 - 0.5
}

/// Class c's rows have feature j centred on (c + 1) * (j % 3 + 1) / 2 with unit-ish spread, so
/// the classes overlap and neither model is perfect.
fn generate(dir: &Path, rows: usize) -> anyhow::Result<()> {
    if dir.join("done").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let mut fields: Vec<Field> = (0..FEATURES).map(|f| Field::new(format!("f{f}"), DataType::Float64, false)).collect();
    fields.push(Field::new("label", DataType::Utf8, false));
    let schema = Arc::new(Schema::new(fields));
    let per_file = rows / FILES;
    for f in 0..FILES {
        let path = dir.join(format!("part-{f}.parquet"));
        let mut writer = ArrowWriter::try_new(std::fs::File::create(path)?, schema.clone(), None)?;
        let start = f * per_file;
        let end = if f == FILES - 1 { rows } else { start + per_file };
        let mut at = start;
        while at < end {
            let stop = (at + 65_536).min(end);
            let ids: Vec<u64> = (at as u64..stop as u64).collect();
            let mut columns: Vec<Arc<dyn arrow::array::Array>> = (0..FEATURES)
                .map(|j| {
                    Arc::new(Float64Array::from_iter_values(ids.iter().map(|i| {
                        let c = (i % 3) as f64;
                        (c + 1.0) * ((j % 3) as f64 + 1.0) / 2.0 + 2.0 * noise(i * 16 + j as u64)
                    }))) as _
                })
                .collect();
            columns.push(Arc::new(StringArray::from_iter_values(ids.iter().map(|i| CLASSES[(i % 3) as usize]))));
            writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
            at = stop;
        }
        writer.close()?;
    }
    std::fs::write(dir.join("done"), b"")?;
    Ok(())
}
