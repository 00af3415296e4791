//! Training inside the distributed query: an algorithm's passes run as aggregates in the executor
//! processes over all training rows, merge exactly (the same model whether the rows come in one
//! file or eight), and match scikit-learn (tests/data/iris_sklearn.json, made by
//! benchmarks/ml/sklearn_expected.py).

use serde_json::Value;
use squall_tests::data::{write_iris_with_ids, write_visits};
use tokio_postgres::Client;

use crate::models::{metric, sklearn};
use crate::squall;

async fn predict(client: &Client, model: &str, arguments: &str) -> f64 {
    client.query_one(&format!("SELECT PREDICT('{model}', {arguments})"), &[]).await.unwrap().get(0)
}

/// A linear model's intercept and coefficients, read back through PREDICT at the origin and at
/// each unit vector of its numeric features (`extra`: further arguments, e.g. a category).
async fn coefficients(client: &Client, model: &str, numeric: usize, extra: &str) -> (f64, Vec<f64>) {
    let point = |unit: Option<usize>| {
        let mut values: Vec<String> = (0..numeric).map(|i| if Some(i) == unit { "1.0" } else { "0.0" }.to_string()).collect();
        values.extend(extra.split(',').filter(|e| !e.is_empty()).map(str::to_string));
        values.join(", ")
    };
    let intercept = predict(client, model, &point(None)).await;
    let mut coefficients = Vec::new();
    for i in 0..numeric {
        coefficients.push(predict(client, model, &point(Some(i))).await - intercept);
    }
    (intercept, coefficients)
}

/// Checks a linear model's intercept and numeric coefficients against scikit-learn's to 1e-6;
/// returns the intercept.
async fn assert_linear_model(client: &Client, model: &str, numeric: usize, extra: &str, expected: &Value) -> f64 {
    let (intercept, coef) = coefficients(client, model, numeric, extra).await;
    assert_close(&format!("{model}: intercept"), intercept, &expected["intercept"], 1e-6);
    for (i, c) in coef.iter().enumerate() {
        assert_close(&format!("{model}: coefficient {i}"), *c, &expected["coef"][i], 1e-6);
    }
    intercept
}

/// Writes iris (with an id column) under `dir` and returns the statement that makes it table `iris`.
fn iris_table(dir: &std::path::Path) -> String {
    let path = dir.join("iris.csv");
    write_iris_with_ids(&path);
    format!("CREATE EXTERNAL TABLE iris STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')", path.display())
}

fn assert_close(what: &str, got: f64, want: &Value, tolerance: f64) {
    let want = want.as_f64().unwrap_or_else(|| panic!("no figure for {what}"));
    assert!((got - want).abs() <= tolerance, "{what}: squall {got}, scikit-learn {want}");
}

#[tokio::test(flavor = "multi_thread")]
async fn linear_regression_solves_exact_sums_as_scikit_learn_does() {
    let server = squall().executors(2).start();
    let client = server.client().await;
    let dir = tempfile::tempdir().unwrap();
    client.batch_execute(&iris_table(dir.path())).await.unwrap();
    let sk = sklearn();

    // Least squares: scikit-learn's LinearRegression.
    client
        .batch_execute("TRAIN MODEL ols USING linear_regression (holdout = 0) TARGET petal_width FEATURES (sepal_length, sepal_width, petal_length) AS SELECT * FROM iris")
        .await
        .unwrap();
    assert_linear_model(&client, "ols", 3, "", &sk["linear_regression"]).await;

    // Ridge: scikit-learn's Ridge(alpha = 10), the intercept not penalized.
    client
        .batch_execute("TRAIN MODEL ridge USING linear_regression (holdout = 0, l2 = 10) TARGET petal_width FEATURES (sepal_length, sepal_width, petal_length) AS SELECT * FROM iris")
        .await
        .unwrap();
    assert_linear_model(&client, "ridge", 3, "", &sk["ridge"]).await;

    // A text feature is one column per category beside the intercept: collinear, so the
    // answer is the least-norm solution, scikit-learn's lstsq.
    client
        .batch_execute("TRAIN MODEL species USING linear_regression (holdout = 0) TARGET petal_width FEATURES (sepal_length, petal_length, species) AS SELECT * FROM iris")
        .await
        .unwrap();
    let expected = &sk["linear_regression_one_hot"];
    let intercept = assert_linear_model(&client, "species", 2, "'no such species'", expected).await;
    for (i, species) in expected["categories"].as_array().unwrap().iter().enumerate() {
        let at_origin = predict(&client, "species", &format!("0.0, 0.0, '{}'", species.as_str().unwrap())).await;
        assert_close(&format!("coefficient of {species}"), at_origin - intercept, &expected["coef"][2 + i], 1e-6);
    }

    // More one-hot columns than the sums of products are kept for: 54000, and no model.
    client
        .batch_execute("CREATE TABLE wide AS SELECT CAST(value AS DOUBLE) AS y, 'c' || CAST(value AS VARCHAR) AS c FROM generate_series(1, 300)")
        .await
        .unwrap();
    let e = client.batch_execute("TRAIN MODEL wide USING linear_regression (holdout = 0) TARGET y AS SELECT * FROM wide").await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("54000"), "{e:?}");
    assert!(e.as_db_error().unwrap().message().contains("300 columns"), "{e:?}");
    let models: i64 = client.query_one("SELECT count(*) FROM squall.models WHERE name = 'wide'", &[]).await.unwrap().get(0);
    assert_eq!(models, 0);
}

/// Asserts that `one` and `eight` (two models' outputs) are the same bits on every row of
/// `visits_eight`; returns how many rows there were.
async fn same_bits(client: &Client, one: &str, eight: &str, what: &str) -> usize {
    let both = client.query(&format!("SELECT {one}, {eight} FROM visits_eight"), &[]).await.unwrap();
    for row in &both {
        let (one, eight): (f64, f64) = (row.get(0), row.get(1));
        assert_eq!(one.to_bits(), eight.to_bits(), "{what}: {one} vs {eight}");
    }
    both.len()
}

/// A model's fitted parameters, read from its file (DESCRIBE MODEL names it).
async fn model_params(client: &Client, model: &str) -> Value {
    let rows = client.query(&format!("DESCRIBE MODEL {model}"), &[]).await.unwrap();
    let url: String = rows.iter().find(|r| r.get::<_, String>(0) == "file").unwrap().get(1);
    let path = url.strip_prefix("file://").unwrap_or_else(|| panic!("a local model file: {url}"));
    let file: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    file["params"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn logistic_regression_takes_newton_steps_to_scikit_learns_optimum() {
    let server = squall().executors(2).start();
    let client = server.client().await;
    let dir = tempfile::tempdir().unwrap();
    client.batch_execute(&iris_table(dir.path())).await.unwrap();
    let sk = sklearn();
    // Softmax over three classes at scikit-learn's default penalty (C = 1, l2 = 1), and the
    // sigmoid of a boolean target at C = 0.5 (l2 = 2): every coefficient and intercept within
    // 1e-4 of scikit-learn's lbfgs optimum.
    client
        .batch_execute("TRAIN MODEL softmax USING logistic_regression (holdout = 0) TARGET species FEATURES (sepal_length, sepal_width, petal_length, petal_width) AS SELECT * FROM iris")
        .await
        .unwrap();
    client
        .batch_execute(
            "TRAIN MODEL sigmoid USING logistic_regression (holdout = 0, l2 = 2) TARGET virginica FEATURES (sepal_length, sepal_width, petal_length, petal_width) \
             AS SELECT *, species = 'virginica' AS virginica FROM iris",
        )
        .await
        .unwrap();
    for (model, expected) in [("softmax", &sk["logistic_regression"]), ("sigmoid", &sk["logistic_regression_binary"])] {
        let params = model_params(&client, model).await;
        let rows = expected["coef"].as_array().unwrap();
        assert_eq!(params["coefficients"].as_array().unwrap().len(), rows.len(), "{model}: {params}");
        for (a, row) in rows.iter().enumerate() {
            assert_close(&format!("{model}: intercept {a}"), params["intercepts"][a].as_f64().unwrap(), &expected["intercept"][a], 1e-4);
            for (j, want) in row.as_array().unwrap().iter().enumerate() {
                assert_close(&format!("{model}: coefficient {a}, {j}"), params["coefficients"][a][j].as_f64().unwrap(), want, 1e-4);
            }
        }
        let accuracy = metric(&client, &format!("EVALUATE MODEL {model} ON SELECT *, species = 'virginica' AS virginica FROM iris"), "accuracy").await;
        assert_close(&format!("{model}: accuracy"), accuracy, &expected["accuracy"], 1e-9);
    }

    // Too many coefficients for the Hessian: 54000 before any Newton pass, and no model.
    client
        .batch_execute("CREATE TABLE many AS SELECT 'c' || CAST(value % 40 AS VARCHAR) AS y, 'f' || CAST(value AS VARCHAR) AS f FROM generate_series(1, 400)")
        .await
        .unwrap();
    let e = client.batch_execute("TRAIN MODEL many USING logistic_regression (holdout = 0) TARGET y AS SELECT * FROM many").await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("54000"), "{e:?}");
    assert!(e.as_db_error().unwrap().message().contains("16040 coefficients"), "{e:?}");
    let models: i64 = client.query_one("SELECT count(*) FROM squall.models WHERE name = 'many'", &[]).await.unwrap().get(0);
    assert_eq!(models, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn linear_regression_is_the_same_on_one_file_or_eight_and_sums_in_the_executors() {
    let server = squall().executors(2).start();
    let dir = tempfile::tempdir().unwrap();
    let rows = 6000;
    write_visits(&dir.path().join("one"), 1, rows);
    write_visits(&dir.path().join("eight"), 8, rows);
    let mut commands = Vec::new();
    for name in ["one", "eight"] {
        commands.push(format!("CREATE EXTERNAL TABLE visits_{name} STORED AS PARQUET LOCATION '{}/'", dir.path().join(name).display()));
        commands.push(format!("TRAIN MODEL m_{name} USING linear_regression TARGET seconds FEATURES (pages, browser, mobile) AS SELECT * FROM visits_{name}"));
        commands.push(format!("TRAIN MODEL k_{name} USING kmeans (k = 4) FEATURES (seconds, pages, browser) AS SELECT * FROM visits_{name}"));
        // Newton's steps to the optimum (`tol` tight: the models are compared at it).
        commands.push(format!("TRAIN MODEL l_{name} USING logistic_regression (tol = 1e-10) TARGET outcome FEATURES (seconds, pages, browser, mobile) AS SELECT * FROM visits_{name}"));
        // As on large tables: the Hessian over a sample of the rows, and a start from a sample
        // of 1,000 rows and then from the rows the first pass draws by residual. The same optimum.
        commands.push(format!(
            "TRAIN MODEL h_{name} USING logistic_regression (hessian_rows = 500, start_rows = 1000, tol = 1e-10) TARGET outcome FEATURES (seconds, pages, browser, mobile) AS SELECT * FROM visits_{name}"
        ));
    }
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    let (_, stderr) = squall_tests::psql::psql_output(&server, &commands);
    // Each pass says which processes read its rows: the executors, never the coordinator.
    let executors = server.child_pids();
    let passes: Vec<&str> = stderr.lines().filter(|l| l.contains("rows read by process")).collect();
    let linear: Vec<&&str> = passes.iter().filter(|l| l.contains("NOTICE:  linear_regression: ")).collect();
    assert_eq!(linear.len(), 4, "a scan and a sum of products per model:\n{stderr}");
    assert!(linear[1].contains("summing the products of 6 feature columns and the target"), "{stderr}");
    // k-means: a scan, the first centre, two passes per further centre, then Lloyd's iterations.
    assert!(passes.iter().any(|l| l.contains("NOTICE:  kmeans: k-means++: choosing centre 4 of 4")), "{stderr}");
    assert!(passes.iter().any(|l| l.contains("NOTICE:  kmeans: Lloyd iteration 2 ")), "{stderr}");
    // Logistic regression: a scan with a sample, fitted in the coordinator for a start, then one
    // pass per Newton iteration, each followed by the loss.
    assert!(passes.iter().any(|l| l.contains("NOTICE:  logistic_regression: counting the training rows and their categories, and a sample of 65536 of them")), "{stderr}");
    assert!(stderr.contains("NOTICE:  logistic_regression: starting from the optimum of a sample of "), "{stderr}");
    assert!(stderr.contains("NOTICE:  logistic_regression: starting from the optimum of a sample of 1000 rows"), "{stderr}");
    // The first pass brought rows drawn by residual, and their fit went on (or, unsettled, made
    // way for the Newton step): the model is the same either way on one file or eight.
    assert!(stderr.contains(" rows it drew by their residuals "), "the rows drawn by residual: {stderr}");
    assert!(passes.iter().any(|l| l.contains("NOTICE:  logistic_regression: iteration 2 of at most 100: the loss, its gradient and Hessian")), "{stderr}");
    assert!(stderr.contains("NOTICE:  logistic_regression: iteration 2: loss "), "{stderr}");
    assert!(
        passes.iter().any(|l| l.contains("Hessian (the Hessian over a sample of about 500 rows)")),
        "{stderr}"
    );
    assert_read_by_executors(&passes, &executors);

    // Exact sums: the same coefficients, to the last bit, however the rows were split.
    let client = server.client().await;
    let both = same_bits(&client, "PREDICT('m_one', pages, browser, mobile)", "PREDICT('m_eight', pages, browser, mobile)", "prediction").await;
    assert_eq!(both, rows);
    same_bits(&client, "PREDICT_SCORE('k_one', seconds, pages, browser)", "PREDICT_SCORE('k_eight', seconds, pages, browser)", "distance to the nearest centre").await;
    same_bits(&client, "PREDICT_PROBA('l_one', seconds, pages, browser, mobile)", "PREDICT_PROBA('l_eight', seconds, pages, browser, mobile)", "logistic probability").await;
    same_bits(
        &client,
        "PREDICT_PROBA('h_one', seconds, pages, browser, mobile)",
        "PREDICT_PROBA('h_eight', seconds, pages, browser, mobile)",
        "logistic probability, Hessian sampled",
    )
    .await;
    // The sampled Hessian steers the steps; the optimum is the gradient's, the exact Newton one.
    let (exact, sampled) = (model_params(&client, "l_eight").await, model_params(&client, "h_eight").await);
    let flat = |params: &Value| -> Vec<f64> {
        let mut all: Vec<f64> = params["intercepts"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        for row in params["coefficients"].as_array().unwrap() {
            all.extend(row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()));
        }
        all
    };
    let (exact, sampled) = (flat(&exact), flat(&sampled));
    assert_eq!(exact.len(), sampled.len());
    for (e, s) in exact.iter().zip(&sampled) {
        assert!((e - s).abs() <= 1e-6 * (1.0 + e.abs()), "exact Newton {exact:?} vs sampled Hessian {sampled:?}");
    }
    let accuracy = metric(&client, "EVALUATE MODEL l_eight ON SELECT * FROM visits_one", "accuracy").await;
    assert!(accuracy > 0.8, "logistic accuracy {accuracy}");
    // And a model that learned: seconds follow the outcome, which pages tell.
    let r2 = metric(&client, "EVALUATE MODEL m_eight ON SELECT * FROM visits_one", "r2").await;
    assert!(r2 > 0.9, "r2 {r2}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kmeans_seeds_and_iterates_on_the_executors_as_scikit_learn_does() {
    let server = squall().executors(2).start();
    let dir = tempfile::tempdir().unwrap();
    let create = iris_table(dir.path());
    let train = "TRAIN MODEL km USING kmeans (k = 3, holdout = 0) FEATURES (sepal_length, sepal_width, petal_length, petal_width) AS SELECT * FROM iris";
    let (_, stderr) = squall_tests::psql::psql_output(&server, &[&create, train]);
    assert!(stderr.contains("NOTICE:  kmeans: k-means++: the first centre"), "{stderr}");
    assert!(stderr.contains("NOTICE:  kmeans: k-means++: choosing centre 3 of 3"), "{stderr}");
    assert!(stderr.contains("NOTICE:  kmeans: Lloyd iteration 1 (of at most 300)"), "{stderr}");
    let client = server.client().await;
    let inertia = metric(&client, "EVALUATE MODEL km ON SELECT * FROM iris", "inertia").await;
    let want = sklearn()["kmeans"]["inertia"].as_f64().unwrap();
    assert!((inertia - want).abs() / want < 0.01, "k-means inertia {inertia}, scikit-learn's {want}");
    // Fewer distinct rows than k: a clear 22000, no model.
    client.batch_execute("CREATE TABLE two AS SELECT CAST(value % 2 AS DOUBLE) AS x FROM generate_series(1, 50)").await.unwrap();
    let e = client.batch_execute("TRAIN MODEL three USING kmeans (k = 3, holdout = 0) AS SELECT x FROM two").await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("22000"), "{e:?}");
    assert!(e.as_db_error().unwrap().message().contains("needs 3 distinct rows"), "{e:?}");
}

/// Each pass's NOTICE names the processes that read its rows: executors, never the coordinator.
fn assert_read_by_executors(passes: &[&str], executors: &[u32]) {
    for pass in passes {
        let pids: Vec<u32> = pass.rsplit("rows read by process ").next().unwrap().trim_end_matches(')').split(", ").map(|p| p.parse().unwrap()).collect();
        assert!(!pids.is_empty() && pids.iter().all(|p| executors.contains(p)), "{pass} (executors: {executors:?})");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn trees_forests_and_boosted_trees_grow_level_by_level_on_the_executors_alike_on_one_file_or_eight() {
    let server = squall().executors(2).start();
    let dir = tempfile::tempdir().unwrap();
    // More rows than the bins' sample (20,000): the edges come from the rows of smallest key.
    let rows = 30_000;
    write_visits(&dir.path().join("one"), 1, rows);
    write_visits(&dir.path().join("eight"), 8, rows);
    let mut commands = Vec::new();
    for name in ["one", "eight"] {
        commands.push(format!("CREATE EXTERNAL TABLE visits_{name} STORED AS PARQUET LOCATION '{}/'", dir.path().join(name).display()));
        commands.push(format!("TRAIN MODEL c_{name} USING decision_tree (max_depth = 6, holdout = 0) TARGET outcome FEATURES (seconds, pages, browser, mobile) AS SELECT * FROM visits_{name}"));
        commands.push(format!("TRAIN MODEL r_{name} USING decision_tree (max_depth = 5, holdout = 0) TARGET seconds FEATURES (pages, browser, mobile) AS SELECT * FROM visits_{name}"));
        commands.push(format!("TRAIN MODEL b_{name} USING boosted_trees (n_rounds = 4, max_depth = 3, holdout = 0) TARGET outcome FEATURES (seconds, pages, browser, mobile) AS SELECT * FROM visits_{name}"));
        commands.push(format!("TRAIN MODEL f_{name} USING random_forest (n_trees = 5, max_depth = 4, holdout = 0) TARGET outcome FEATURES (seconds, pages, browser, mobile) AS SELECT * FROM visits_{name}"));
    }
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    let (_, stderr) = squall_tests::psql::psql_output(&server, &commands);
    let passes: Vec<&str> = stderr.lines().filter(|l| l.contains("NOTICE:  decision_tree: ") && l.contains("rows read by process")).collect();
    assert!(passes.iter().any(|l| l.contains("counting the training rows and finding each feature's bins")), "{stderr}");
    assert!(passes.iter().any(|l| l.contains(&format!("level 1 of at most 6, 1 nodes to split, {rows} rows"))), "{stderr}");
    // The regression tree splits to its last level; the classes are pure sooner.
    assert!(passes.iter().any(|l| l.contains("level 5 of at most 5, 10 nodes to split")), "{stderr}");
    // Of two siblings to split, one is counted and the other subtracted from their parent.
    assert!(passes.iter().any(|l| l.contains(" by subtraction)") && !l.contains(" 0 by subtraction)")), "{stderr}");
    // Boosting grows a round's trees (one per class) level by level.
    assert!(stderr.contains("NOTICE:  boosted_trees: level 3 of at most 3, "), "{stderr}");
    assert!(stderr.contains(" of round 4 of 4 to split"), "{stderr}");
    // A forest grows a level of all its trees in one pass.
    assert!(stderr.contains("NOTICE:  random_forest: level 1 of at most 4, 5 nodes of 5 trees to split"), "{stderr}");
    assert_read_by_executors(&passes, &server.child_pids());

    // Integer cells: the same trees, to the last bit of every probability and mean.
    let client = server.client().await;
    let both = client
        .query(
            "SELECT PREDICT('c_one', seconds, pages, browser, mobile), PREDICT('c_eight', seconds, pages, browser, mobile), \
                    PREDICT_PROBA('c_one', seconds, pages, browser, mobile), PREDICT_PROBA('c_eight', seconds, pages, browser, mobile), \
                    PREDICT('r_one', pages, browser, mobile), PREDICT('r_eight', pages, browser, mobile), \
                    PREDICT_PROBA('f_one', seconds, pages, browser, mobile), PREDICT_PROBA('f_eight', seconds, pages, browser, mobile), \
                    PREDICT_PROBA('b_one', seconds, pages, browser, mobile), PREDICT_PROBA('b_eight', seconds, pages, browser, mobile) FROM visits_eight",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(both.len(), rows);
    for row in &both {
        assert_eq!(row.get::<_, String>(0), row.get::<_, String>(1));
        let (one, eight): (f64, f64) = (row.get(2), row.get(3));
        assert_eq!(one.to_bits(), eight.to_bits(), "probability {one} vs {eight}");
        let (one, eight): (f64, f64) = (row.get(4), row.get(5));
        assert_eq!(one.to_bits(), eight.to_bits(), "mean {one} vs {eight}");
        let (one, eight): (f64, f64) = (row.get(6), row.get(7));
        assert_eq!(one.to_bits(), eight.to_bits(), "forest probability {one} vs {eight}");
        let (one, eight): (f64, f64) = (row.get(8), row.get(9));
        assert_eq!(one.to_bits(), eight.to_bits(), "boosted probability {one} vs {eight}");
    }
    // And trees that learned: the outcome follows the pages, the seconds the outcome.
    let accuracy = metric(&client, "EVALUATE MODEL c_one ON SELECT * FROM visits_one", "accuracy").await;
    assert!(accuracy > 0.8, "accuracy {accuracy}");

    // Parity with scikit-learn's DecisionTreeClassifier(max_depth = 3) on iris.
    client.batch_execute(&iris_table(dir.path())).await.unwrap();
    client
        .batch_execute("TRAIN MODEL dt USING decision_tree (max_depth = 3, holdout = 0) TARGET species FEATURES (sepal_length, sepal_width, petal_length, petal_width) AS SELECT * FROM iris")
        .await
        .unwrap();
    let accuracy = metric(&client, "EVALUATE MODEL dt ON SELECT * FROM iris", "accuracy").await;
    let want = sklearn()["decision_tree"]["accuracy"].as_f64().unwrap();
    assert!((accuracy - want).abs() <= 0.02, "decision tree accuracy {accuracy}, scikit-learn's {want}");
    client
        .batch_execute("TRAIN MODEL rf USING random_forest (n_trees = 50, max_depth = 5, holdout = 0) TARGET species FEATURES (sepal_length, sepal_width, petal_length, petal_width) AS SELECT * FROM iris")
        .await
        .unwrap();
    let accuracy = metric(&client, "EVALUATE MODEL rf ON SELECT * FROM iris", "accuracy").await;
    let want = sklearn()["random_forest"]["accuracy"].as_f64().unwrap();
    assert!((accuracy - want).abs() <= 0.02, "random forest accuracy {accuracy}, scikit-learn's {want}");
    // And scikit-learn's HistGradientBoostingClassifier(max_iter = 20, max_depth = 3).
    client
        .batch_execute("TRAIN MODEL gb USING boosted_trees (n_rounds = 20, max_depth = 3, holdout = 0) TARGET species FEATURES (sepal_length, sepal_width, petal_length, petal_width) AS SELECT * FROM iris")
        .await
        .unwrap();
    let accuracy = metric(&client, "EVALUATE MODEL gb ON SELECT * FROM iris", "accuracy").await;
    let want = sklearn()["boosted_trees"]["accuracy"].as_f64().unwrap();
    assert!((accuracy - want).abs() <= 0.02, "boosted trees accuracy {accuracy}, scikit-learn's {want}");
    // Regression by squared error learns the petal width.
    client
        .batch_execute("TRAIN MODEL gbr USING boosted_trees (n_rounds = 30, max_depth = 3, holdout = 0) TARGET petal_width FEATURES (sepal_length, petal_length, species) AS SELECT * FROM iris")
        .await
        .unwrap();
    let r2 = metric(&client, "EVALUATE MODEL gbr ON SELECT * FROM iris", "r2").await;
    assert!(r2 > 0.9, "boosted regression r2 {r2}");

    // Early stopping: after each round a pass sums the holdout rows' loss; training stops once
    // 3 rounds in a row have not lowered it and keeps the rounds up to the lowest.
    let early = "TRAIN MODEL early USING boosted_trees (n_rounds = 300, learning_rate = 0.5, max_depth = 4, early_stopping_rounds = 3, holdout = 0.3) \
                 TARGET outcome FEATURES (seconds, pages, browser, mobile) AS SELECT * FROM visits_one";
    let (_, stderr) = squall_tests::psql::psql_output(&server, &[early]);
    let holdout_passes: Vec<&str> = stderr.lines().filter(|l| l.contains("the holdout rows' loss (")).collect();
    assert!(holdout_passes.first().is_some_and(|l| l.contains("NOTICE:  boosted_trees: round 1 of 300: the holdout rows' loss")), "{stderr}");
    assert_read_by_executors(&holdout_passes, &server.child_pids());
    let stop = stderr.lines().find(|l| l.contains("rounds without a lower loss: keeping the best ")).unwrap_or_else(|| panic!("no early stop:\n{stderr}"));
    let best: usize = stop.rsplit("keeping the best ").next().unwrap().trim_end_matches(" rounds").parse().unwrap();
    assert_eq!(holdout_passes.len(), best + 3, "{stderr}");
    assert_eq!(model_params(&client, "early").await["rounds"].as_array().unwrap().len(), best);
    let e = client.batch_execute(&early.replace("holdout = 0.3", "holdout = 0")).await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("22023"), "{e:?}");

    // A node whose histogram would exceed the cells a pass holds: 54000 with the numbers, no model.
    client
        .batch_execute("CREATE TABLE many AS SELECT CAST(value AS DOUBLE) AS x, 'c' || CAST(value AS VARCHAR) AS c FROM generate_series(1, 3000)")
        .await
        .unwrap();
    let e = client.batch_execute("TRAIN MODEL many USING decision_tree (max_bins = 1024, holdout = 0) TARGET c AS SELECT * FROM many").await.unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("54000"), "{e:?}");
    assert!(e.as_db_error().unwrap().message().contains("3072000 histogram cells"), "{e:?}");
    let models: i64 = client.query_one("SELECT count(*) FROM squall.models WHERE name = 'many'", &[]).await.unwrap().get(0);
    assert_eq!(models, 0);
}

/// An executor added while boosting runs holds none of the rounds the passes before sent (each
/// pass sends only the rounds since the last), so it refuses the first pass it gets, which is sent
/// again with every round: it then reads rows, and the model is the one trained without it.
#[tokio::test(flavor = "multi_thread")]
async fn an_executor_that_joins_during_boosting_gets_every_round_and_the_model_is_the_same() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    let dir = tempfile::tempdir().unwrap();
    write_visits(&dir.path().join("visits"), 8, 20_000);
    let setup = format!("CREATE EXTERNAL TABLE visits STORED AS PARQUET LOCATION '{}/'", dir.path().join("visits").display());
    let train = |name: &str| {
        format!("TRAIN MODEL {name} USING boosted_trees (n_rounds = 30, max_depth = 3, holdout = 0) TARGET outcome FEATURES (seconds, pages, browser, mobile) AS SELECT * FROM visits")
    };
    let client = server.client().await;
    // The autoscaler is kept from adding executors of its own (a backlog of boosting tasks for
    // over a second would): the one that joins is the one ADD EXECUTOR starts.
    client.batch_execute(&format!("{setup}; SET squall.local_scan_limit = 0; ALTER CLUSTER SET (scale_up_after = '1h')")).await.unwrap();
    client.batch_execute(&train("alone")).await.unwrap();

    let (port, joined) = (server.pg_port, train("joined"));
    let joining = tokio::task::spawn_blocking(move || squall_tests::psql::psql_status_at(port, &["SET squall.local_scan_limit = 0", &joined]));
    // Join after two rounds, whose trees the later passes leave out (a pass sends the rounds
    // since the last; the first passes send them all).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let done: i64 = client.query_one("SELECT count(*) FROM squall.jobs WHERE state = 'done' AND query LIKE 'TRAIN MODEL joined %'", &[]).await.unwrap().get(0);
        if done >= 8 {
            break;
        }
        assert!(std::time::Instant::now() < deadline && !joining.is_finished(), "the passes of \"joined\" did not show in squall.jobs ({done} done)");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    client.batch_execute("ADD EXECUTOR").await.unwrap();
    assert!(!joining.is_finished(), "training ended before the executor joined: make it longer");
    let (ok, _, stderr) = joining.await.unwrap();
    assert!(ok, "{stderr}");
    let resent: Vec<&str> = stderr.lines().filter(|l| l.contains("(sent again with every round: a process did not hold the earlier ones)")).collect();
    assert!(!resent.is_empty(), "{stderr}");
    // The pass sent again, and the passes after it, read rows in the new executor too.
    let executors = server.child_pids();
    assert_eq!(executors.len(), 2);
    let last = stderr.lines().rfind(|l| l.contains("rows read by process")).unwrap();
    assert!(executors.iter().all(|pid| last.contains(&pid.to_string())), "{last}: executors {executors:?}");
    let both = client.query("SELECT PREDICT_PROBA('alone', seconds, pages, browser, mobile), PREDICT_PROBA('joined', seconds, pages, browser, mobile) FROM visits", &[]).await.unwrap();
    assert_eq!(both.len(), 20_000);
    // Told whole when it fails: how many rows differ, and the passes as the training told them
    // (which was sent again, which processes read rows).
    let differing: Vec<(f64, f64)> = both.iter().map(|row| (row.get::<_, f64>(0), row.get::<_, f64>(1))).filter(|(alone, joined)| alone.to_bits() != joined.to_bits()).collect();
    assert!(differing.is_empty(), "{} of 20000 rows differ, e.g. {:?}; the training told:\n{stderr}", differing.len(), &differing[..differing.len().min(5)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn training_survives_the_loss_of_an_executor_with_the_same_model_and_stops_when_asked() {
    let server = squall().executors(2).start();
    server.wait_for_executors(2).await;
    let dir = tempfile::tempdir().unwrap();
    write_visits(&dir.path().join("visits"), 8, 20_000);
    let setup = format!(
        "CREATE EXTERNAL TABLE visits STORED AS PARQUET LOCATION '{}/'; SET squall.local_scan_limit = 0",
        dir.path().join("visits").display()
    );
    let train = |name: &str| {
        format!("TRAIN MODEL {name} USING boosted_trees (n_rounds = 12, max_depth = 3, holdout = 0) TARGET outcome FEATURES (seconds, pages, browser, mobile) AS SELECT * FROM visits")
    };
    let client = server.client().await;
    client.batch_execute(&setup).await.unwrap();
    client.batch_execute(&train("calm")).await.unwrap();

    // The same training, and an executor killed while its passes run: the pass it was in runs
    // again (squall re-runs a job that lost an executor), and the model is the same.
    let runner = server.client().await;
    runner.batch_execute("SET squall.local_scan_limit = 0").await.unwrap();
    let shaken = train("shaken");
    let training = tokio::spawn(async move { runner.batch_execute(&shaken).await });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let victim = server.child_pids()[0];
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    assert!(!training.is_finished(), "training ended before the kill: make it longer");
    training.await.unwrap().expect("training survives the loss of an executor");
    let both = client
        .query("SELECT PREDICT_PROBA('calm', seconds, pages, browser, mobile), PREDICT_PROBA('shaken', seconds, pages, browser, mobile) FROM visits", &[])
        .await
        .unwrap();
    assert_eq!(both.len(), 20_000);
    for row in &both {
        let (calm, shaken): (f64, f64) = (row.get(0), row.get(1));
        assert_eq!(calm.to_bits(), shaken.to_bits(), "{calm} vs {shaken}");
    }

    // statement_timeout stops training within its passes: 57014, and no model is left.
    client.batch_execute("SET statement_timeout = '2s'").await.unwrap();
    let started = std::time::Instant::now();
    let e = client.batch_execute(&train("stopped")).await.unwrap_err();
    let db = e.as_db_error().unwrap_or_else(|| panic!("{e:?}"));
    assert_eq!((db.code().code(), db.message()), ("57014", "canceling statement due to statement timeout"));
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "stopped after {:?}", started.elapsed());
    client.batch_execute("SET statement_timeout = 0").await.unwrap();
    let models: i64 = client.query_one("SELECT count(*) FROM squall.models WHERE name = 'stopped'", &[]).await.unwrap().get(0);
    assert_eq!(models, 0);

    // A cancel request (psql's Ctrl-C) and CANCEL JOB on one of its passes stop training too.
    for (name, how) in [("interrupted", "cancel request"), ("cancelled", "CANCEL JOB")] {
        let runner = server.client().await;
        runner.batch_execute("SET squall.local_scan_limit = 0").await.unwrap();
        let token = runner.cancel_token();
        let statement = train(name);
        let training = tokio::spawn(async move { runner.batch_execute(&statement).await });
        // Wait for a pass of this training to run, then stop it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let job: String = loop {
            let jobs = client.query("SELECT id, query FROM squall.jobs", &[]).await.unwrap();
            if let Some(job) = jobs.iter().find(|j| j.get::<_, String>(1).contains(&format!("TRAIN MODEL {name} "))) {
                break job.get(0);
            }
            assert!(std::time::Instant::now() < deadline && !training.is_finished(), "no pass of {name} showed in squall.jobs");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        match how {
            "cancel request" => token.cancel_query(tokio_postgres::NoTls).await.unwrap(),
            _ => client.batch_execute(&format!("CANCEL JOB '{job}'")).await.unwrap(),
        }
        let e = training.await.unwrap().expect_err("stopped training fails");
        assert_eq!(e.code().map(|c| c.code()), Some("57014"), "{how}: {e:?}");
        let models: i64 = client.query_one(&format!("SELECT count(*) FROM squall.models WHERE name = '{name}'"), &[]).await.unwrap().get(0);
        assert_eq!(models, 0, "{how} left a model");
    }
}
