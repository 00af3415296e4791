//! Training and prediction through squall (TRAIN MODEL / PREDICT over the Postgres wire, two
//! executor processes) beside its peers on the same Parquet files, in the same run: `rows` × 10
//! numeric features, 3 classes. The peers (benchmarks/ml/sklearn_bench.py: scikit-learn,
//! LightGBM, XGBoost; benchmarks/ml/spark_bench.py: Spark MLlib local[2]) run first, so they and
//! squall never compete for the cores. Every model is trained on all rows, with the same
//! settings on every side (see the scripts).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use serde_json::Value;
use squall_tests::ServerBuilder;
use tokio_postgres::Client;

use crate::report::{timed, Report};

const FILES: usize = 8;
const FEATURES: usize = 10;
const CLASSES: [&str; 3] = ["alpha", "beta", "gamma"];

/// squall's side of each model: its TRAIN MODEL, and the peers' figures beside it
/// (system, key of the fit time in the peer's JSON, key of its accuracy or r²).
struct Model {
    key: &'static str,
    train: String,
    peers: &'static [(&'static str, &'static str, &'static str)],
}

fn models(features: &str) -> Vec<Model> {
    let rest: Vec<String> = (1..FEATURES).map(|f| format!("f{f}")).collect();
    vec![
        Model {
            key: "nb",
            train: "TRAIN MODEL nb USING naive_bayes (holdout = 0) TARGET label AS SELECT * FROM ml".into(),
            peers: &[("scikit-learn GaussianNB", "sklearn.nb_fit_seconds", "sklearn.nb_accuracy")],
        },
        Model {
            key: "tree",
            train: "TRAIN MODEL tree USING decision_tree (holdout = 0, max_depth = 8) TARGET label AS SELECT * FROM ml".into(),
            peers: &[
                ("scikit-learn DecisionTreeClassifier (exact splits)", "sklearn.tree_fit_seconds", "sklearn.tree_accuracy"),
                ("Spark MLlib DecisionTreeClassifier", "spark.tree_fit_seconds", "spark.tree_accuracy"),
            ],
        },
        Model {
            key: "forest",
            train: "TRAIN MODEL forest USING random_forest (holdout = 0, n_trees = 20, max_depth = 8) TARGET label AS SELECT * FROM ml".into(),
            peers: &[
                ("scikit-learn RandomForestClassifier (n_jobs 2)", "sklearn.forest_fit_seconds", "sklearn.forest_accuracy"),
                ("Spark MLlib RandomForestClassifier", "spark.forest_fit_seconds", "spark.forest_accuracy"),
            ],
        },
        Model {
            key: "boosted",
            train: "TRAIN MODEL boosted USING boosted_trees (holdout = 0, n_rounds = 100, max_depth = 6, learning_rate = 0.1) TARGET label AS SELECT * FROM ml".into(),
            peers: &[
                ("scikit-learn HistGradientBoostingClassifier", "sklearn.hgb_fit_seconds", "sklearn.hgb_accuracy"),
                ("LightGBM (2 threads)", "sklearn.lightgbm_fit_seconds", "sklearn.lightgbm_accuracy"),
                ("XGBoost hist (2 threads)", "sklearn.xgboost_fit_seconds", "sklearn.xgboost_accuracy"),
            ],
        },
        Model {
            key: "linear",
            train: format!("TRAIN MODEL linear USING linear_regression (holdout = 0) TARGET f0 FEATURES ({}) AS SELECT * FROM ml", rest.join(", ")),
            peers: &[
                ("scikit-learn LinearRegression", "sklearn.linear_fit_seconds", "sklearn.linear_r2"),
                ("Spark MLlib LinearRegression (normal)", "spark.linear_fit_seconds", "spark.linear_r2"),
            ],
        },
        Model {
            key: "logistic",
            train: "TRAIN MODEL logistic USING logistic_regression (holdout = 0, l2 = 1) TARGET label AS SELECT * FROM ml".into(),
            peers: &[
                ("scikit-learn LogisticRegression (lbfgs)", "sklearn.logistic_fit_seconds", "sklearn.logistic_accuracy"),
                ("Spark MLlib LogisticRegression", "spark.logistic_fit_seconds", "spark.logistic_accuracy"),
            ],
        },
        Model {
            key: "kmeans",
            train: format!("TRAIN MODEL kmeans USING kmeans (holdout = 0, k = 3, max_iter = 10, tol = 0) FEATURES ({features}) AS SELECT * FROM ml"),
            peers: &[
                ("scikit-learn KMeans (10 iterations)", "sklearn.kmeans_fit_seconds", ""),
                ("Spark MLlib KMeans (10 iterations)", "spark.kmeans_fit_seconds", ""),
            ],
        },
    ]
}

/// Runs a peer's script (before squall starts) on the models wanted, as the script names them
/// (scikit-learn's script names the three boosting peers apart; Spark has no multiclass
/// boosting and no naive Bayes of numbers).
fn peer(script: &str, dir: &Path, runs: Option<usize>, models: &[String]) -> anyhow::Result<Value> {
    let spark = runs.is_none();
    let names = models.iter().flat_map(|m| match (m.as_str(), spark) {
        ("boosted", false) => vec!["hgb", "lightgbm", "xgboost"],
        ("boosted" | "nb", true) => vec![],
        (other, _) => vec![other],
    });
    let mut command = std::process::Command::new("python3");
    command.arg(script).arg(dir).args(runs.map(|r| r.to_string())).args(names);
    let output = command.output()?;
    anyhow::ensure!(output.status.success(), "{script} failed: {}", String::from_utf8_lossy(&output.stderr));
    Ok(serde_json::from_slice(&output.stdout)?)
}

pub async fn run(squall: &Path, data: &Path, rows: usize, runs: usize, wanted: &[String], peers: &[String]) -> anyhow::Result<Report> {
    let dir = data.join(format!("ml-{rows}"));
    generate(&dir, rows)?;
    let dir = dir.canonicalize()?;
    let features: Vec<String> = (0..FEATURES).map(|f| format!("f{f}")).collect();
    let features = features.join(", ");
    let models: Vec<Model> = models(&features).into_iter().filter(|m| wanted.iter().any(|w| w == m.key)).collect();

    let mut figures = serde_json::Map::new();
    if peers.iter().any(|p| p == "sklearn") {
        figures.insert("sklearn".into(), peer("benchmarks/ml/sklearn_bench.py", &dir, Some(runs), wanted)?);
    }
    if peers.iter().any(|p| p == "spark") && wanted.iter().any(|w| !matches!(w.as_str(), "nb" | "boosted")) {
        figures.insert("spark".into(), peer("benchmarks/ml/spark_bench.py", &dir, None, wanted)?);
    }
    let figures = Value::Object(figures);
    let figure = |path: &str| -> Option<f64> {
        let (peer, key) = path.split_once('.')?;
        figures[peer][key].as_f64()
    };

    let server = ServerBuilder::new(squall).executors(2).start();
    server.wait_for_executors(2).await;
    let client = server.client().await;
    client.batch_execute(&format!("CREATE EXTERNAL TABLE ml STORED AS PARQUET LOCATION '{}/'", dir.display())).await?;
    // One pass over every column of the rows on the executors, as a training pass reads them:
    // what a pass cannot go below. (A count of one column may be answered in the coordinator
    // from a few megabytes, which no pass is.)
    let every_column = format!("SELECT sum({}), count(label) FROM ml", features.replace(", ", " + "));
    client.batch_execute("SET squall.local_scan_limit = 0").await?;
    let (scan, ()) = timed(runs, || async {
        client.query_one(&every_column, &[]).await?;
        Ok(())
    })
    .await?;
    client.batch_execute("RESET squall.local_scan_limit").await?;

    let mut lines = vec![("squall".to_string(), "one pass over every column on the executors".to_string(), scan)];
    let mut notes = Vec::new();
    for model in &models {
        let started = Instant::now();
        client.batch_execute(&model.train).await?;
        let train = started.elapsed();
        let quality = quality(&client, model.key, &features, rows).await?;
        lines.push((format!("squall {}", model.key), "TRAIN MODEL, all rows".into(), train));
        let mut note = format!("{}: squall {:.2} s ({:.1} scans){}", model.key, train.as_secs_f64(), train.as_secs_f64() / scan.as_secs_f64(), quality.map(|q| format!(", {q:.4}")).unwrap_or_default());
        for (system, time, metric) in model.peers {
            let Some(seconds) = figure(time) else { continue };
            lines.push((system.to_string(), "fit".into(), Duration::from_secs_f64(seconds)));
            note.push_str(&format!(
                "; {system} {seconds:.2} s (squall / it = {:.2}x){}",
                train.as_secs_f64() / seconds,
                figure(metric).map(|q| format!(", {q:.4}")).unwrap_or_default()
            ));
        }
        if model.key == "kmeans" {
            // Seeding costs the same at any max_iter: the difference is 9 Lloyd iterations.
            let started = Instant::now();
            client.batch_execute(&model.train.replace("kmeans USING", "kmeans_one USING").replace("max_iter = 10", "max_iter = 1")).await?;
            let per_iteration = train.saturating_sub(started.elapsed()) / 9;
            lines.push(("squall kmeans".into(), "one Lloyd iteration ((10 - 1 iterations) / 9)".into(), per_iteration));
            note.push_str(&format!("; a Lloyd iteration is {:.2} scans (goal ≤ 1.5)", per_iteration.as_secs_f64() / scan.as_secs_f64()));
        }
        notes.push(note);
    }
    if models.iter().any(|m| m.key == "nb") {
        let predict_sql = format!("SELECT count(*) FROM ml WHERE PREDICT('nb', {features}) = label");
        let (predict, _) = timed(runs, || async { Ok(client.query_one(&predict_sql, &[]).await?.get::<_, i64>(0)) }).await?;
        lines.push(("squall naive_bayes".into(), "scan + PREDICT + count".into(), predict));
        if let Some(seconds) = figure("sklearn.nb_predict_seconds") {
            lines.push(("scikit-learn GaussianNB".into(), "predict".into(), Duration::from_secs_f64(seconds)));
        }
    }
    Ok(Report {
        name: format!("ml-{rows}"),
        description: format!(
            "{rows} rows × {FEATURES} float features, 3 classes, {FILES} Parquet files, every model trained on all rows. squall: \
             TRAIN MODEL over the wire, 2 executor processes, {}; {}. Accuracy (r² for linear regression) on the training rows \
             beside each time. Versions: {}.",
            if runs == 1 { "one run each".to_string() } else { format!("the median of {runs} runs each") },
            {
                let loads: Vec<String> = [("scikit-learn's load", "sklearn.load_seconds"), ("Spark's load and cache", "spark.load_seconds")]
                    .iter()
                    .filter_map(|(what, key)| figure(key).map(|seconds| format!("{what} {seconds:.1} s")))
                    .collect();
                if loads.is_empty() {
                    "no peer ran".to_string()
                } else {
                    format!("the peers on the same rows, loaded into memory first ({}, not counted), one run each", loads.join(", "))
                }
            },
            ["sklearn.sklearn_version", "sklearn.lightgbm_version", "sklearn.xgboost_version", "spark.spark_version"]
                .iter()
                .filter_map(|k| k.split_once('.').and_then(|(p, key)| figures[p][key].as_str().map(|v| format!("{key} {v}"))))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        rows: lines,
        notes,
    })
}

/// A trained model's accuracy on its training rows (r² for the linear regression; none for
/// k-means).
async fn quality(client: &Client, key: &str, features: &str, rows: usize) -> anyhow::Result<Option<f64>> {
    Ok(match key {
        "kmeans" => None,
        "linear" => {
            let metrics = client.query("EVALUATE MODEL linear ON SELECT * FROM ml", &[]).await?;
            metrics.iter().find(|r| r.get::<_, String>(0) == "r2").map(|r| r.get::<_, f64>(1))
        }
        model => {
            let right: i64 = client.query_one(&format!("SELECT count(*) FROM ml WHERE PREDICT('{model}', {features}) = label"), &[]).await?.get(0);
            Some(right as f64 / rows as f64)
        }
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
