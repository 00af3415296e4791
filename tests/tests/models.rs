//! Machine learning inside SQL: TRAIN MODEL, PREDICT, EVALUATE, DESCRIBE/SHOW/DROP MODEL, through
//! a Postgres client against the real server with executor processes, checked against
//! scikit-learn's figures for iris (tests/data/iris_sklearn.json, made by
//! benchmarks/ml/sklearn_expected.py).

use std::collections::HashMap;

use serde_json::Value;
use squall_tests::data::{shared_data_dir, visit, write_iris_with_ids, write_visits};
use tokio_postgres::Client;

use crate::squall;

/// scikit-learn's figures on iris (benchmarks/ml/sklearn_expected.py).
pub fn sklearn() -> Value {
    serde_json::from_slice(&std::fs::read(shared_data_dir().join("iris_sklearn.json")).unwrap()).unwrap()
}

async fn create_iris(client: &Client, dir: &std::path::Path) {
    let path = dir.join("iris.csv");
    write_iris_with_ids(&path);
    client
        .batch_execute(&format!(
            "CREATE EXTERNAL TABLE iris STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
            path.display()
        ))
        .await
        .unwrap();
}

/// The value of one metric of an EVALUATE MODEL statement.
pub async fn metric(client: &Client, sql: &str, name: &str) -> f64 {
    let rows = client.query(sql, &[]).await.unwrap();
    rows.iter().find(|r| r.get::<_, String>(0) == name).map(|r| r.get::<_, f64>(1)).unwrap_or_else(|| panic!("no {name} in {sql}"))
}

const IRIS_FEATURES: &str = "FEATURES (sepal_length, sepal_width, petal_length, petal_width)";

#[tokio::test(flavor = "multi_thread")]
async fn naive_bayes_matches_scikit_learn_and_runs_on_the_executors() {
    let server = squall().executors(2).start();
    let client = server.client().await;
    let dir = tempfile::tempdir().unwrap();
    create_iris(&client, dir.path()).await;
    let trained = client
        .query(&format!("TRAIN MODEL iris_nb USING naive_bayes (holdout = 0) TARGET species {IRIS_FEATURES} AS SELECT * FROM iris"), &[])
        .await
        .unwrap();
    assert_eq!(trained[0].get::<_, i64>("version"), 1);
    assert_eq!(trained[0].get::<_, i64>("rows_used"), 150);

    let expected = &sklearn()["gaussian_nb"];
    let rows = client
        .query(
            "SELECT id, PREDICT('iris_nb', iris.*), PREDICT_PROBA('iris_nb', iris.*), PREDICT_SCORE('iris_nb', iris.*), squall_node_pid() FROM iris",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 150);
    let executors = server.child_pids();
    for row in &rows {
        let id = row.get::<_, i64>(0) as usize;
        let predicted: String = row.get(1);
        let proba: f64 = row.get(2);
        let score: f64 = row.get(3);
        assert_eq!(predicted, expected["predicted"][id].as_str().unwrap(), "row {id}");
        let want = expected["max_proba"][id].as_f64().unwrap();
        assert!((proba - want).abs() < 1e-6, "row {id}: probability {proba} vs scikit-learn {want}");
        let want = expected["neg_log_likelihood"][id].as_f64().unwrap();
        assert!((score - want).abs() < 1e-6 * want.abs().max(1.0), "row {id}: score {score} vs {want}");
        // PREDICT ran where the rows were read: in an executor process.
        assert!(executors.contains(&(row.get::<_, i64>(4) as u32)), "row {id} computed outside the executors");
    }
    // PREDICT inside WHERE and GROUP BY.
    let right: i64 = client
        .query_one("SELECT count(*) FROM iris WHERE PREDICT('iris_nb', sepal_length, sepal_width, petal_length, petal_width) = species", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(right as f64 / 150.0, expected["accuracy"].as_f64().unwrap());
    let groups = client.query("SELECT PREDICT('iris_nb', iris.*) AS p, count(*) FROM iris GROUP BY 1 ORDER BY 1", &[]).await.unwrap();
    assert_eq!(groups.len(), 3);
    let accuracy = metric(&client, "EVALUATE MODEL iris_nb ON SELECT * FROM iris", "accuracy").await;
    assert_eq!(accuracy, expected["accuracy"].as_f64().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_algorithm_trains_predicts_and_evaluates() {
    let server = squall().executors(2).start();
    let client = server.client().await;
    let dir = tempfile::tempdir().unwrap();
    create_iris(&client, dir.path()).await;
    let sk = sklearn();
    let on_iris = |m: &str| format!("EVALUATE MODEL {m} ON SELECT * FROM iris");
    let train = |m: &str, algorithm: &str, options: &str| {
        format!("TRAIN MODEL {m} USING {algorithm} ({options}) TARGET species {IRIS_FEATURES} AS SELECT * FROM iris")
    };

    client.batch_execute(&train("dt", "decision_tree", "max_depth = 3, holdout = 0")).await.unwrap();
    let acc = metric(&client, &on_iris("dt"), "accuracy").await;
    assert!((acc - sk["decision_tree"]["accuracy"].as_f64().unwrap()).abs() <= 0.03, "decision_tree accuracy {acc}");

    client.batch_execute(&train("rf", "random_forest", "n_trees = 50, max_depth = 5, holdout = 0")).await.unwrap();
    let acc = metric(&client, &on_iris("rf"), "accuracy").await;
    assert!((acc - sk["random_forest"]["accuracy"].as_f64().unwrap()).abs() <= 0.04, "random_forest accuracy {acc}");

    client.batch_execute(&train("lr", "logistic_regression", "holdout = 0")).await.unwrap();
    let acc = metric(&client, &on_iris("lr"), "accuracy").await;
    assert!((acc - sk["logistic_regression"]["accuracy"].as_f64().unwrap()).abs() <= 0.04, "logistic_regression accuracy {acc}");

    // String labels come back as strings, with the probability of the predicted class.
    let row = client.query_one("SELECT PREDICT('rf', iris.*), PREDICT_PROBA('lr', iris.*) FROM iris WHERE id = 0", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "setosa");
    assert!(row.get::<_, f64>(1) > 0.5);

    client
        .batch_execute(
            "TRAIN MODEL lin USING linear_regression (holdout = 0) TARGET petal_width \
             FEATURES (sepal_length, sepal_width, petal_length) AS SELECT * FROM iris",
        )
        .await
        .unwrap();
    let r2 = metric(&client, &on_iris("lin"), "r2").await;
    assert!((r2 - sk["linear_regression"]["r2"].as_f64().unwrap()).abs() < 1e-6, "r2 {r2}");
    let rmse = metric(&client, &on_iris("lin"), "rmse").await;
    assert!((rmse - sk["linear_regression"]["rmse"].as_f64().unwrap()).abs() < 1e-6, "rmse {rmse}");
    let p: f64 = client.query_one("SELECT PREDICT('lin', iris.*) FROM iris WHERE id = 0", &[]).await.unwrap().get(0);
    assert!(p > 0.0 && p < 0.5, "predicted petal width {p} of a setosa");

    // A regression tree: a float target means regression unless told otherwise.
    client
        .batch_execute("TRAIN MODEL dtr USING decision_tree (max_depth = 4, holdout = 0) TARGET petal_width AS SELECT sepal_length, petal_length, petal_width FROM iris")
        .await
        .unwrap();
    assert!(metric(&client, "EVALUATE MODEL dtr ON SELECT * FROM iris", "r2").await > 0.9);

    client.batch_execute(&format!("TRAIN MODEL km USING kmeans (k = 3, holdout = 0) {IRIS_FEATURES} AS SELECT * FROM iris")).await.unwrap();
    let inertia = metric(&client, &on_iris("km"), "inertia").await;
    let want = sk["kmeans"]["inertia"].as_f64().unwrap();
    assert!((inertia - want).abs() / want < 0.02, "k-means inertia {inertia} vs scikit-learn {want}");
    let sizes: Vec<i64> =
        client.query("SELECT count(*) FROM iris GROUP BY PREDICT('km', iris.*) ORDER BY 1", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(sizes.len(), 3);
    // The anomaly score of k-means is the distance to the nearest centroid.
    let far: f64 = client
        .query_one("SELECT PREDICT_SCORE('km', 20.0, 20.0, 20.0, 20.0)", &[])
        .await
        .unwrap()
        .get(0);
    let typical: f64 = client.query_one("SELECT max(PREDICT_SCORE('km', iris.*)) FROM iris", &[]).await.unwrap().get(0);
    assert!(far > 10.0 * typical, "an outlier scores {far}, iris rows at most {typical}");

    // Trees report feature importance; petal measurements dominate iris.
    let describe: HashMap<String, String> =
        client.query("DESCRIBE MODEL dt", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(describe["feature 3"].contains("importance"), "{describe:?}");
    assert_eq!(describe["rows used"], "150 of 150 training rows");
    assert_eq!(describe["classes"], "setosa, versicolor, virginica");
}

#[tokio::test(flavor = "multi_thread")]
async fn mixed_naive_bayes_is_the_same_on_one_file_or_eight() {
    let server = squall().executors(2).start();
    let client = server.client().await;
    let dir = tempfile::tempdir().unwrap();
    let rows = 6000;
    write_visits(&dir.path().join("one"), 1, rows);
    write_visits(&dir.path().join("eight"), 8, rows);
    for name in ["one", "eight"] {
        client
            .batch_execute(&format!(
                "CREATE EXTERNAL TABLE visits_{name} STORED AS PARQUET LOCATION '{}/'",
                dir.path().join(name).display()
            ))
            .await
            .unwrap();
        // Numbers are Gaussian, text and booleans categorical, all in one model.
        client
            .batch_execute(&format!(
                "TRAIN MODEL m_{name} USING naive_bayes TARGET outcome FEATURES (seconds, pages, browser, mobile) AS SELECT * FROM visits_{name}"
            ))
            .await
            .unwrap();
    }
    let describe: HashMap<String, String> =
        client.query("DESCRIBE MODEL m_eight", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(describe["feature 3"].starts_with("browser"), "{describe:?}");
    assert!(describe["feature 3"].contains("category"), "{describe:?}");
    // The same training rows (the holdout split follows the rows' values, not their files).
    assert_eq!(describe["rows used"], {
        let one: HashMap<String, String> =
            client.query("DESCRIBE MODEL m_one", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
        one["rows used"].clone()
    });
    let both = client
        .query(
            "SELECT id, outcome, PREDICT('m_one', seconds, pages, browser, mobile), PREDICT('m_eight', seconds, pages, browser, mobile), \
                    PREDICT_PROBA('m_one', seconds, pages, browser, mobile), PREDICT_PROBA('m_eight', seconds, pages, browser, mobile), \
                    PREDICT_SCORE('m_one', seconds, pages, browser, mobile), PREDICT_SCORE('m_eight', seconds, pages, browser, mobile) \
             FROM visits_eight",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows, both.len());
    let mut right = 0;
    for row in &both {
        let (p1, p8): (String, String) = (row.get(2), row.get(3));
        assert_eq!(p1, p8);
        let (a, b): (f64, f64) = (row.get(4), row.get(5));
        assert!((a - b).abs() < 1e-9, "probabilities {a} vs {b}");
        let (a, b): (f64, f64) = (row.get(6), row.get(7));
        assert!((a - b).abs() < 1e-9 * a.abs().max(1.0), "scores {a} vs {b}");
        right += usize::from(p1 == row.get::<_, String>(1));
        assert_eq!(row.get::<_, String>(1), visit(row.get(0)).outcome);
    }
    assert!(right as f64 / rows as f64 > 0.9, "accuracy {}", right as f64 / rows as f64);
    // An unseen category and a NULL feature are handled, not a crash.
    let row = client.query_one("SELECT PREDICT('m_one', 250.0, 9, 'lynx', true), PREDICT('m_one', NULL, 9, 'lynx', true)", &[]).await.unwrap();
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("buy"));
    assert_eq!(row.get::<_, Option<String>>(1), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_survive_kill_9_and_drop_removes_them() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let mut server = squall().executors(1).data_dir(data.path()).start();
    let client = server.client().await;
    create_iris(&client, files.path()).await;
    client.batch_execute(&format!("TRAIN MODEL m USING naive_bayes TARGET species {IRIS_FEATURES} AS SELECT * FROM iris")).await.unwrap();
    client
        .batch_execute(&format!("TRAIN MODEL m USING decision_tree (max_depth = 1) TARGET species {IRIS_FEATURES} AS SELECT * FROM iris"))
        .await
        .unwrap();
    // IF NOT EXISTS keeps the current version.
    client.batch_execute(&format!("TRAIN MODEL IF NOT EXISTS m USING kmeans {IRIS_FEATURES} AS SELECT * FROM iris")).await.unwrap();
    let predictions = "SELECT count(DISTINCT PREDICT('m', iris.*)), count(DISTINCT PREDICT('m@1', iris.*)) FROM iris";
    // A view that applies a model is kept too.
    client.batch_execute("CREATE VIEW labelled AS SELECT id, PREDICT('m@1', iris.*) AS label FROM iris").await.unwrap();
    let row = client.query_one(predictions, &[]).await.unwrap();
    // A depth-1 tree splits once: two classes; the Naive Bayes version tells all three apart.
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (2, 3));
    drop(client);
    server.kill9();

    let server = squall().executors(1).data_dir(data.path()).start();
    let client = server.client().await;
    let row = client.query_one(predictions, &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (2, 3));
    let labels: i64 = client.query_one("SELECT count(DISTINCT label) FROM labelled", &[]).await.unwrap().get(0);
    assert_eq!(labels, 3, "the view applies version 1 after the restart");
    let models = client.query("SELECT name, version, current, algorithm FROM squall.models ORDER BY version", &[]).await.unwrap();
    let seen: Vec<(String, i64, bool, String)> = models.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
    assert_eq!(
        seen,
        vec![("m".into(), 1, false, "naive_bayes".into()), ("m".into(), 2, true, "decision_tree".into())]
    );
    let shown = client.simple_query("SHOW MODELS").await.unwrap();
    assert!(shown.iter().any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("m"))));
    let holdout = client.query("EVALUATE MODEL 'm@1'", &[]).await.unwrap();
    assert!(holdout.iter().any(|r| r.get::<_, String>(0) == "accuracy"));
    assert!(holdout.iter().any(|r| r.get::<_, String>(0) == "confusion"));

    client.batch_execute("DROP MODEL m").await.unwrap();
    client.batch_execute("DROP MODEL IF EXISTS m").await.unwrap();
    let err = client.query(predictions, &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42704");
    assert!(!data.path().join("models/m").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_sqlstate_and_breaks_nothing() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    let dir = tempfile::tempdir().unwrap();
    create_iris(&client, dir.path()).await;
    client
        .batch_execute(&format!(
            "TRAIN MODEL nb USING naive_bayes TARGET species {IRIS_FEATURES} AS SELECT * FROM iris;
             TRAIN MODEL lin USING linear_regression TARGET petal_width FEATURES (sepal_length) AS SELECT * FROM iris;
             CREATE TABLE holes (a DOUBLE, b TEXT, y TEXT);
             INSERT INTO holes VALUES (1.0, 'x', 'p'), (NULL, 'y', 'q'), (3.0, 'z', 'p'), (4.0, 'x', 'q')"
        ))
        .await
        .unwrap();
    let cases: &[(&str, &str)] = &[
        ("SELECT PREDICT('nosuch', 1.0)", "42704"),
        ("SELECT PREDICT('nb@9', 1.0, 2.0, 3.0, 4.0)", "42704"),
        ("EVALUATE MODEL nosuch", "42704"),
        ("DESCRIBE MODEL nosuch", "42704"),
        ("DROP MODEL nosuch", "42704"),
        ("TRAIN MODEL x USING magic TARGET species AS SELECT * FROM iris", "22023"),
        ("TRAIN MODEL x USING decision_tree (depth = 3) TARGET species AS SELECT * FROM iris", "22023"),
        ("TRAIN MODEL x USING decision_tree (max_depth = -3) TARGET species AS SELECT * FROM iris", "22023"),
        ("TRAIN MODEL x USING naive_bayes (holdout = 2) TARGET species AS SELECT * FROM iris", "22023"),
        ("TRAIN MODEL x USING naive_bayes (variant = 'gaussian') TARGET species FEATURES (s2) AS SELECT species, species AS s2 FROM iris", "22023"),
        ("TRAIN MODEL x USING naive_bayes TARGET nosuch AS SELECT * FROM iris", "42703"),
        ("TRAIN MODEL x USING naive_bayes TARGET species FEATURES (nosuch) AS SELECT * FROM iris", "42703"),
        ("TRAIN MODEL x USING naive_bayes TARGET species AS SELECT * FROM iris WHERE species = 'setosa'", "22000"),
        ("TRAIN MODEL x USING naive_bayes TARGET species AS SELECT * FROM iris WHERE id < 0", "22000"),
        ("TRAIN MODEL x USING naive_bayes (holdout = 0) TARGET y AS SELECT * FROM holes", "22004"),
        ("TRAIN MODEL x USING naive_bayes TARGET species AS SELECT species, DATE '2020-01-01' AS d FROM iris", "0A000"),
        ("TRAIN MODEL x USING linear_regression TARGET species AS SELECT * FROM iris", "22023"),
        ("TRAIN MODEL x USING kmeans TARGET species AS SELECT * FROM iris", "22023"),
        ("SELECT PREDICT('nb', sepal_length) FROM iris", "42883"),
        ("SELECT PREDICT('nb', 'a', 'b', DATE '2020-01-01', 4.0)", "22023"),
        ("SELECT PREDICT_PROBA('lin', 1.0)", "22023"),
        ("SELECT PREDICT_SCORE('lin', 1.0)", "22023"),
        ("SELECT PREDICT(species, 1.0) FROM iris", "22023"),
    ];
    for (sql, code) in cases {
        let err = client.batch_execute(sql).await.expect_err(sql);
        let db = err.as_db_error().unwrap_or_else(|| panic!("{sql}: {err}"));
        assert_eq!(db.code().code(), *code, "{sql}: {}", db.message());
        assert!(!db.message().contains("squall error"), "{sql}: the marker leaked: {}", db.message());
        let n: i64 = client.query_one("SELECT count(*) FROM iris", &[]).await.unwrap().get(0);
        assert_eq!(n, 150);
    }
    // nulls = 'skip' trains on the complete rows; the failed TRAINs left no model behind.
    client.batch_execute("TRAIN MODEL h USING naive_bayes (holdout = 0, nulls = 'skip') TARGET y AS SELECT * FROM holes").await.unwrap();
    let models: Vec<String> = client.query("SELECT name FROM squall.models ORDER BY name", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(models, vec!["h", "lin", "nb"]);
    let describe: HashMap<String, String> =
        client.query("DESCRIBE MODEL h", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(describe["rows used"], "3 of 3 training rows");
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_shows_training_progress_and_samples_are_capped() {
    let server = squall().executors(2).start();
    let dir = tempfile::tempdir().unwrap();
    write_iris_with_ids(&dir.path().join("iris.csv"));
    let create = format!(
        "CREATE EXTERNAL TABLE iris STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
        dir.path().join("iris.csv").display()
    );
    let train = format!(
        "TRAIN MODEL t USING decision_tree (max_training_rows = 40, holdout = 0.25, seed = 7) TARGET species {IRIS_FEATURES} AS SELECT * FROM iris"
    );
    let (stdout, stderr) = squall_tests::psql::psql_output(&server, &[&create, &train, "DESCRIBE MODEL t"]);
    // Progress arrives as NOTICE messages: the phases, the rows, the time.
    assert!(stderr.contains("NOTICE:  training decision_tree on the executors"), "{stderr}");
    assert!(stderr.contains("NOTICE:  decision_tree: level 1, 1 nodes to split, 40 rows"), "{stderr}");
    assert!(stderr.contains("NOTICE:  model t@1 trained on 40 rows in"), "{stderr}");
    // A uniform sample of 40 of the training rows (the holdout quarter is left out first).
    let used = stdout.lines().find(|l| l.contains("rows used")).unwrap_or_else(|| panic!("{stdout}"));
    let total: u64 = used.split(" of ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(used.contains("40 of "), "{used}");
    assert!((90..=130).contains(&total), "{used}");
    assert!(stdout.contains("holdout accuracy"), "{stdout}");
    // The same seed gives the same sample and split: the same model, by its metrics.
    let client = server.client().await;
    client.batch_execute(&train).await.unwrap();
    let accuracies: Vec<f64> = client
        .query("SELECT holdout_accuracy FROM squall.models WHERE name = 't' ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(accuracies.len(), 2);
    assert_eq!(accuracies[0], accuracies[1]);

    // Four distinct rows: the holdout keeps identical rows together, so some seed puts a whole
    // class there, and the user is told that the model never saw it. (A seed that leaves one
    // class for training fails with its own clear error.)
    client
        .batch_execute("CREATE TABLE few AS SELECT value % 4 AS k, CASE value % 4 WHEN 0 THEN 'a' WHEN 1 THEN 'b' WHEN 2 THEN 'c' ELSE 'd' END AS label FROM generate_series(1, 400)")
        .await
        .unwrap();
    let warned = (1..=30).find_map(|seed| {
        let train = format!("TRAIN MODEL few_{seed} USING decision_tree (seed = {seed}) TARGET label AS SELECT k, label FROM few");
        let (_, _, stderr) = squall_tests::psql::psql_status(&server, &[&train]);
        stderr.lines().find(|l| l.contains("appear only in the holdout rows, so the model never predicts them")).map(str::to_string)
    });
    let warned = warned.expect("no seed put a class in the holdout alone");
    assert!(warned.starts_with("NOTICE:  class(es) '"), "{warned}");
}

#[tokio::test(flavor = "multi_thread")]
async fn naive_bayes_variants_and_a_model_store_on_s3() {
    let s3 = squall_tests::s3::LocalS3::start("lake");
    let mut builder = squall().executors(2).env("SQUALL_MODEL_STORE", "s3://lake/models");
    for (key, value) in s3.env() {
        builder = builder.env(key, &value);
    }
    let server = builder.start();
    let client = server.client().await;
    let dir = tempfile::tempdir().unwrap();
    write_visits(&dir.path().join("visits"), 4, 3000);
    client
        .batch_execute(&format!(
            "CREATE EXTERNAL TABLE raw_visits STORED AS PARQUET LOCATION '{}/';
             CREATE VIEW visits AS SELECT *, seconds + 40 AS shifted FROM raw_visits",
            dir.path().join("visits").display()
        ))
        .await
        .unwrap();
    for (variant, features, floor) in [
        ("gaussian", "seconds, pages", 0.9),
        // Multinomial needs counts: non-negative numbers.
        ("multinomial", "shifted, pages", 0.4),
        ("bernoulli", "pages", 0.3),
        ("categorical", "pages, browser, mobile", 0.9),
    ] {
        client
            .batch_execute(&format!(
                "TRAIN MODEL v_{variant} USING naive_bayes (variant = '{variant}') TARGET outcome FEATURES ({features}) AS SELECT * FROM visits"
            ))
            .await
            .unwrap();
        let accuracy = metric(&client, &format!("EVALUATE MODEL v_{variant}"), "accuracy").await;
        assert!(accuracy >= floor, "{variant}: holdout accuracy {accuracy}");
        let row = client
            .query_one(&format!("SELECT PREDICT('v_{variant}', {features}) FROM visits WHERE id = 2"), &[])
            .await
            .unwrap();
        assert!(["leave", "browse", "buy"].contains(&row.get::<_, &str>(0)));
    }
    // The model files went to S3 and the executors read them from there.
    let describe: HashMap<String, String> =
        client.query("DESCRIBE MODEL v_gaussian", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(describe["file"].starts_with("s3://lake/models/v_gaussian/v1-"), "{describe:?}");
    let on_executors: i64 = client
        .query_one(
            "SELECT count(DISTINCT squall_node_pid()) FROM visits WHERE PREDICT('v_gaussian', seconds, pages) IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(on_executors >= 1);
    client.batch_execute("DROP MODEL v_gaussian").await.unwrap();
}

/// Rows where only `signal` matters: `label` is its sign (with noise), `y` three times it (with
/// noise), and it alone separates two clusters; `noise` has a hundred times its spread, `small`
/// the same spread, and `colour` is a category drawn at random. Written as CSV, from a fixed seed.
fn write_one_signal(path: &std::path::Path, rows: usize) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut normal = move || {
        let (u, v) = (uniform().max(1e-300), uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    let mut csv = String::from("noise,colour,small,signal,label,y\n");
    for row in 0..rows {
        let centre = if row % 2 == 0 { 3.0 } else { -3.0 };
        let signal = centre + normal();
        let label = if signal + 0.5 * normal() > 0.0 { "hi" } else { "lo" };
        let colour = ["red", "green", "blue"][(normal().abs() * 1000.0) as usize % 3];
        csv += &format!("{},{colour},{},{signal},{label},{}\n", 100.0 * normal(), normal(), 3.0 * signal + 0.5 * normal());
    }
    std::fs::write(path, csv).unwrap();
}

/// DESCRIBE MODEL gives every algorithm's feature importance, says how it was measured, and
/// ranks the one informative feature first: impurity or loss decrease for the trees, standardised coefficients for
/// the linear models (the noise column's hundredfold spread does not fool them), permutation on
/// the holdout rows for Naive Bayes and k-means.
#[tokio::test(flavor = "multi_thread")]
async fn every_algorithm_ranks_the_informative_feature_first() {
    let server = squall().executors(2).start();
    let client = server.client().await;
    let dir = tempfile::tempdir().unwrap();
    write_one_signal(&dir.path().join("signal.csv"), 4000);
    client
        .batch_execute(&format!(
            "CREATE EXTERNAL TABLE signal STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true'); SET squall.local_scan_limit = 0",
            dir.path().join("signal.csv").display()
        ))
        .await
        .unwrap();
    let trainings = [
        ("decision_tree", "max_depth = 4", "TARGET label FEATURES (noise, colour, signal)", "the decrease in impurity"),
        ("random_forest", "n_trees = 20, max_depth = 4", "TARGET label FEATURES (noise, colour, signal)", "the decrease in impurity"),
        ("boosted_trees", "n_rounds = 20, max_depth = 3", "TARGET label FEATURES (noise, colour, signal)", "the decrease in impurity"),
        ("logistic_regression", "holdout = 0.2", "TARGET label FEATURES (noise, colour, signal)", "standardised coefficients"),
        ("linear_regression", "holdout = 0.2", "TARGET y FEATURES (noise, colour, signal)", "standardised coefficients"),
        ("naive_bayes", "holdout = 0.2", "TARGET label FEATURES (noise, colour, signal)", "permutation"),
        ("kmeans", "k = 2", "FEATURES (small, colour, signal)", "permutation"),
    ];
    for (algorithm, options, columns, how) in trainings {
        client.batch_execute(&format!("TRAIN MODEL m_{algorithm} USING {algorithm} ({options}) {columns} AS SELECT * FROM signal")).await.unwrap();
        let describe: HashMap<String, String> =
            client.query(&format!("DESCRIBE MODEL m_{algorithm}"), &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
        assert!(describe.get("importance").is_some_and(|i| i.starts_with(how)), "{algorithm}: {describe:?}");
        // "feature 3" is "signal Float64 (number, importance 0.9731)".
        let shares: Vec<(String, f64)> = (1..=3)
            .map(|i| {
                let text = &describe[&format!("feature {i}")];
                let share = text.rsplit_once("importance ").and_then(|(_, v)| v.trim_end_matches(')').parse().ok());
                (text.split(' ').next().unwrap().to_string(), share.unwrap_or_else(|| panic!("{algorithm}: no importance in {text}")))
            })
            .collect();
        let total: f64 = shares.iter().map(|(_, s)| s).sum();
        assert!((total - 1.0).abs() < 1e-3 && shares.iter().all(|(_, s)| *s >= 0.0), "{algorithm}: {shares:?}");
        assert_eq!(shares[2].0, "signal");
        assert!(shares[2].1 > 0.6, "{algorithm}: the informative feature has {shares:?}");
    }
}
