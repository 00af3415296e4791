//! Models that follow their data (engine/src/models/refresh.rs): a continuous naive_bayes and
//! linear_regression model refreshed from each batch posted over HTTP equals the model TRAIN
//! MODEL makes from the whole table; PREDICT uses each new version; queries that cannot be
//! refreshed are refused with 0A000.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::squall;

/// `n` rows from `first` as NDJSON: two numeric features, a category, a class and a value.
fn rows(first: i64, n: i64) -> String {
    (first..first + n)
        .map(|i| {
            let x = (i % 17) as f64 * 0.5 + (i % 7) as f64 * 0.01;
            let z = ((i * 7) % 11) as f64 - 5.0;
            let c = ["a", "b", "c"][(i % 3) as usize];
            let y = if (i % 17) < 6 + (i % 4) { "low" } else { "high" };
            let v = 2.0 * x - 0.5 * z + ((i * 13) % 5) as f64 * 0.1;
            format!("{{\"id\": {i}, \"x\": {x}, \"z\": {z}, \"c\": \"{c}\", \"y\": \"{y}\", \"v\": {v}}}\n")
        })
        .collect()
}

async fn single_i64(client: &Client, query: &str) -> i64 {
    client.query_one(query, &[]).await.unwrap().get(0)
}

async fn wait_for_refreshes(server: &squall_tests::Server, client: &Client, model: &str, count: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = single_i64(client, &format!("SELECT count(*) FROM squall.model_refreshes WHERE model = '{model}' AND version IS NOT NULL")).await;
        if done >= count {
            return;
        }
        let errors: Vec<Option<String>> = client.query("SELECT error FROM squall.model_refreshes WHERE error IS NOT NULL", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        assert!(errors.is_empty(), "{errors:?}");
        if Instant::now() > deadline {
            let log = server.log();
            let telling: Vec<&str> = log.lines().filter(|l| l.contains("panicked") || l.contains("WARN") || l.contains("ERROR")).collect();
            panic!("{model}: {done} of {count} refreshes; the server's warnings:\n{}", telling.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn continuous_models_follow_posted_batches_and_equal_models_trained_on_all_rows() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client
        .batch_execute(
            "CREATE TABLE obs (id BIGINT, x DOUBLE PRECISION, z DOUBLE PRECISION, c TEXT, y TEXT, v DOUBLE PRECISION); \
             CREATE TABLE other (id BIGINT, w DOUBLE PRECISION)",
        )
        .await
        .unwrap();
    let post = |first: i64, n: i64, key: String| {
        let (status, body) = server.http_post_with("/v1/tables/obs/rows", Some("squall:"), "application/x-ndjson", &[("Idempotency-Key", &key)], rows(first, n).as_bytes());
        assert_eq!(status, 200, "{body}");
    };
    post(0, 300, "loader:0".into());
    client
        .batch_execute(
            "TRAIN MODEL nb USING naive_bayes (refresh = 'continuous', keep_versions = 4) TARGET y AS SELECT x, c, y FROM obs WHERE id >= 0; \
             TRAIN MODEL lr USING linear_regression (refresh = 'continuous') TARGET v AS SELECT x, z, v FROM obs",
        )
        .await
        .unwrap();

    // Ten batches, each one commit; after each, both models have a version more, and PREDICT
    // (naming the model, not a version) answers with it.
    let probe = "SELECT PREDICT_PROBA('nb', 3.0::float8, 'b') AS now, PREDICT_PROBA('nb@{v}', 3.0::float8, 'b') AS named";
    let mut previous = single_i64(&client, "SELECT version::bigint FROM squall.models WHERE name = 'nb' AND current").await;
    let mut changed = 0;
    for batch in 1..=10 {
        post(300 + 40 * (batch - 1), 40, format!("loader:{batch}"));
        wait_for_refreshes(&server, &client, "nb", batch).await;
        wait_for_refreshes(&server, &client, "lr", batch).await;
        let current = single_i64(&client, "SELECT version::bigint FROM squall.models WHERE name = 'nb' AND current").await;
        assert_eq!(current, previous + 1);
        let row = client.query_one(&probe.replace("{v}", &current.to_string()), &[]).await.unwrap();
        let (now, named): (f64, f64) = (row.get(0), row.get(1));
        assert_eq!(now, named, "PREDICT uses the newest version");
        let before: f64 = client.query_one(&format!("SELECT PREDICT_PROBA('nb@{previous}', 3.0::float8, 'b')"), &[]).await.unwrap().get(0);
        if before != now {
            changed += 1;
        }
        previous = current;
    }
    assert!(changed >= 5, "the new rows changed the model in {changed} of 10 refreshes");

    // Each refresh merged the batch's 40 rows alone, within a second or so of the commit.
    let merges: Vec<(String, Option<i64>)> =
        client.query("SELECT how, rows_added FROM squall.model_refreshes WHERE model = 'nb' ORDER BY refreshed_at", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(merges, vec![("merge".to_string(), Some(40)); 10]);
    // Only the last four versions are kept.
    assert_eq!(single_i64(&client, "SELECT count(*) FROM squall.models WHERE name = 'nb'").await, 4);
    let gone = client.query("SELECT PREDICT('nb@1', 1.0::float8, 'a')", &[]).await.unwrap_err();
    assert_eq!(gone.code().map(|c| c.code()), Some("42704"));

    // Trained from scratch on all rows, the same models: class probabilities and predictions to 1e-9.
    client
        .batch_execute(
            "TRAIN MODEL nb_all USING naive_bayes TARGET y AS SELECT x, c, y FROM obs WHERE id >= 0; \
             TRAIN MODEL lr_all USING linear_regression TARGET v AS SELECT x, z, v FROM obs",
        )
        .await
        .unwrap();
    let compare = "SELECT max(abs(PREDICT_PROBA('nb', x, c) - PREDICT_PROBA('nb_all', x, c))), \
                   sum(CASE WHEN PREDICT('nb', x, c) = PREDICT('nb_all', x, c) THEN 0 ELSE 1 END), \
                   max(abs(PREDICT('lr', x, z) - PREDICT('lr_all', x, z))), count(*) FROM obs";
    let row = client.query_one(compare, &[]).await.unwrap();
    let (nb_gap, nb_differ, lr_gap, count): (f64, i64, f64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(count, 700);
    assert!(nb_gap < 1e-9 && nb_differ == 0, "naive_bayes: {nb_gap}, {nb_differ} predictions differ");
    assert!(lr_gap < 1e-9, "linear_regression: {lr_gap}");
    let rows_used = client.query("SELECT name, rows_used FROM squall.models WHERE current AND name IN ('nb', 'nb_all') ORDER BY name", &[]).await.unwrap();
    assert_eq!(rows_used[0].get::<_, i64>(1), rows_used[1].get::<_, i64>(1));

    // A DELETE is not an append: the next refresh trains again on all rows, and still agrees.
    client.batch_execute("DELETE FROM obs WHERE id % 10 = 0").await.unwrap();
    wait_for_refreshes(&server, &client, "nb", 11).await;
    let how: String = client.query_one("SELECT how FROM squall.model_refreshes WHERE model = 'nb' ORDER BY refreshed_at DESC LIMIT 1", &[]).await.unwrap().get(0);
    assert_eq!(how, "retrain");
    client.batch_execute("DROP MODEL nb_all; TRAIN MODEL nb_all USING naive_bayes TARGET y AS SELECT x, c, y FROM obs WHERE id >= 0").await.unwrap();
    let row = client.query_one(compare, &[]).await.unwrap();
    assert!(row.get::<_, f64>(0) < 1e-9);

    // REFRESH MODEL with nothing new: no row. Manual models are left alone until asked.
    client.batch_execute("ALTER MODEL nb SET (refresh = 'manual')").await.unwrap();
    assert!(client.query("REFRESH MODEL nb", &[]).await.unwrap().is_empty());
    let refreshes = single_i64(&client, "SELECT count(*) FROM squall.model_refreshes WHERE model = 'nb'").await;
    post(2_000, 40, "loader:11".into());
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(single_i64(&client, "SELECT count(*) FROM squall.model_refreshes WHERE model = 'nb'").await, refreshes);
    let row = client.query_one("REFRESH MODEL nb", &[]).await.unwrap();
    assert_eq!((row.get::<_, String>("how"), row.get::<_, Option<i64>>("rows_added")), ("merge".into(), Some(40)));

    // Queries whose rows are not the table's rows one by one are refused, with the reason.
    let refused = |e: tokio_postgres::Error| {
        let db = e.as_db_error().cloned().unwrap();
        (db.code().code().to_string(), db.message().to_string())
    };
    for (query, why) in [
        ("TRAIN MODEL g USING naive_bayes (refresh = 'continuous') TARGET y AS SELECT avg(x) AS x, y FROM obs GROUP BY y", "aggregates"),
        ("TRAIN MODEL j USING linear_regression (refresh = '5min') TARGET v AS SELECT o.x, t.w, o.v FROM obs o JOIN other t ON o.id = t.id", "joins"),
        ("TRAIN MODEL s USING naive_bayes (refresh = 'continuous', max_training_rows = 100) TARGET y AS SELECT x, y FROM obs", "max_training_rows"),
        // Trees cannot be updated from new rows: they retrain on an interval.
        ("TRAIN MODEL t USING decision_tree (refresh = 'continuous') TARGET y AS SELECT x, c, y FROM obs", "interval"),
    ] {
        let (code, message) = refused(client.batch_execute(query).await.unwrap_err());
        assert_eq!(code, "0A000", "{query}");
        assert!(message.contains(why), "{message}");
    }
    client.batch_execute("TRAIN MODEL g USING naive_bayes (holdout = 0) TARGET y AS SELECT avg(x) AS x, y FROM obs GROUP BY y").await.unwrap();
    let (code, _) = refused(client.batch_execute("ALTER MODEL g SET (refresh = 'continuous')").await.unwrap_err());
    assert_eq!(code, "0A000");
    // Asked to refresh anyway, such a model is trained again on all rows, never merged.
    post(2_100, 40, "loader:13".into());
    let row = client.query_one("REFRESH MODEL g", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>("how"), "retrain");
    client.batch_execute("TRAIN MODEL g_all USING naive_bayes (holdout = 0) TARGET y AS SELECT avg(x) AS x, y FROM obs GROUP BY y").await.unwrap();
    let gap: f64 = client.query_one("SELECT max(abs(PREDICT_PROBA('g', x) - PREDICT_PROBA('g_all', x))) FROM (SELECT x FROM obs LIMIT 50)", &[]).await.unwrap().get(0);
    assert!(gap < 1e-9, "{gap}");
    let (code, _) = refused(client.batch_execute("ALTER MODEL nb SET (refresh = 'sometimes')").await.unwrap_err());
    assert_eq!(code, "22023");

    // A tree retrains on all rows at its interval.
    client.batch_execute("TRAIN MODEL tree USING decision_tree (refresh = '1s') TARGET y AS SELECT x, c, y FROM obs").await.unwrap();
    post(3_000, 40, "loader:14".into());
    wait_for_refreshes(&server, &client, "tree", 1).await;
    let row = client.query_one("SELECT how, rows_added, version::bigint FROM squall.model_refreshes WHERE model = 'tree'", &[]).await.unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, Option<i64>>(1), row.get::<_, i64>(2)), ("retrain".into(), None, 2));
    let used: Vec<i64> = client.query("SELECT rows_total FROM squall.models WHERE name = 'tree' ORDER BY version", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert!(used.len() == 2 && used[1] > used[0], "the retrain read the new rows too: {used:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_continuous_kmeans_model_moves_each_centre_to_the_mean_of_its_old_and_new_rows() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client
        .batch_execute(
            "CREATE TABLE pts (x DOUBLE PRECISION); \
             INSERT INTO pts SELECT CASE WHEN g % 2 = 0 THEN 0.0 ELSE 10.0 END FROM generate_series(1, 200) AS s(g); \
             TRAIN MODEL km USING kmeans (k = 2, holdout = 0, refresh = 'continuous') AS SELECT x FROM pts",
        )
        .await
        .unwrap();
    let score = |x: f64| format!("SELECT PREDICT_SCORE('km', {x}::float8)");
    assert_eq!(client.query_one(&score(0.0), &[]).await.unwrap().get::<_, f64>(0), 0.0, "centres at 0 and 10");

    // 100 new rows at 2, all nearest the centre at 0: it becomes (100·0 + 100·2) / 200 = 1.
    let body: String = (0..100).map(|_| "{\"x\": 2.0}\n").collect();
    let (status, answer) = server.http_post("/v1/tables/pts/rows", Some("squall:"), "application/x-ndjson", body.as_bytes());
    assert_eq!(status, 200, "{answer}");
    wait_for_refreshes(&server, &client, "km", 1).await;
    let row = client.query_one("SELECT how, rows_added FROM squall.model_refreshes WHERE model = 'km'", &[]).await.unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, Option<i64>>(1)), ("update".into(), Some(100)));
    for (x, distance) in [(1.0, 0.0), (10.0, 0.0), (0.0, 1.0)] {
        let got: f64 = client.query_one(&score(x), &[]).await.unwrap().get(0);
        assert!((got - distance).abs() < 1e-12, "x = {x}: {got}, expected {distance}");
    }
    assert_eq!(single_i64(&client, "SELECT rows_used FROM squall.models WHERE name = 'km' AND current").await, 300);
}

/// `n` rows from `first` as NDJSON: two features in [-2, 2] and a class drawn with probability
/// `sigmoid(1.5 x1 - x2 + shift)` (a seeded hash, the same on every run).
fn logistic_rows(first: i64, n: i64, shift: f64) -> String {
    let uniform = |i: i64, stream: u64| {
        let mut z = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    (first..first + n)
        .map(|i| {
            let (x1, x2) = (uniform(i, 1) * 4.0 - 2.0, uniform(i, 2) * 4.0 - 2.0);
            let p = 1.0 / (1.0 + (-(1.5 * x1 - x2 + shift)).exp());
            let y = if uniform(i, 3) < p { "yes" } else { "no" };
            format!("{{\"id\": {i}, \"x1\": {x1}, \"x2\": {x2}, \"y\": \"{y}\"}}\n")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_continuous_logistic_regression_updates_from_new_rows_alone_and_stays_near_training_on_all_rows() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE events (id BIGINT, x1 DOUBLE PRECISION, x2 DOUBLE PRECISION, y TEXT)").await.unwrap();
    let post = |body: String| {
        let (status, answer) = server.http_post("/v1/tables/events/rows", Some("squall:"), "application/x-ndjson", body.as_bytes());
        assert_eq!(status, 200, "{answer}");
    };
    post(logistic_rows(0, 2_000, 0.0));
    client
        .batch_execute("TRAIN MODEL lr USING logistic_regression (holdout = 0, refresh = 'continuous') TARGET y AS SELECT x1, x2, y FROM events")
        .await
        .unwrap();

    // The boundary moves: five batches drawn with it shifted, each an update from its rows alone.
    for batch in 0..5 {
        post(logistic_rows(2_000 + 400 * batch, 400, 1.0));
        wait_for_refreshes(&server, &client, "lr", batch + 1).await;
    }
    let updates: Vec<(String, Option<i64>)> =
        client.query("SELECT how, rows_added FROM squall.model_refreshes WHERE model = 'lr' ORDER BY refreshed_at", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(updates, vec![("update".to_string(), Some(400)); 5]);
    assert_eq!(single_i64(&client, "SELECT rows_used FROM squall.models WHERE name = 'lr' AND current").await, 4_000);

    // Beside the model trained on all 4,000 rows: the updated one is close to it, the first
    // version (before the new rows) far from it, so the updates learned what the rows say.
    client.batch_execute("TRAIN MODEL lr_all USING logistic_regression (holdout = 0) TARGET y AS SELECT x1, x2, y FROM events").await.unwrap();
    let gaps = "SELECT max(abs(PREDICT_PROBA('lr', x1, x2) - PREDICT_PROBA('lr_all', x1, x2))), \
                max(abs(PREDICT_PROBA('lr@1', x1, x2) - PREDICT_PROBA('lr_all', x1, x2))), \
                sum(CASE WHEN PREDICT('lr', x1, x2) = PREDICT('lr_all', x1, x2) THEN 0 ELSE 1 END) FROM events";
    let row = client.query_one(gaps, &[]).await.unwrap();
    let (updated, first, differ): (f64, f64, i64) = (row.get(0), row.get(1), row.get(2));
    println!("updated {updated}, first {first}, predictions that differ {differ}");
    assert!(first > 0.1, "the shifted rows move the model: {first}");
    // Measured: 0.0094 against 0.14, 15 predictions of rows near the boundary (p ≈ 0.5).
    assert!(updated < first / 10.0, "updated {updated} against first {first}");
    assert!(differ <= 40, "{differ} of 4,000 predictions differ");

    // A class the model does not know cannot be added by an update: the refresh trains again on
    // all rows, which gives the model TRAIN MODEL gives.
    post((4_000..4_060).map(|i| format!("{{\"id\": {i}, \"x1\": 0.5, \"x2\": -0.5, \"y\": \"maybe\"}}\n")).collect());
    wait_for_refreshes(&server, &client, "lr", 6).await;
    let how: String = client.query_one("SELECT how FROM squall.model_refreshes WHERE model = 'lr' ORDER BY refreshed_at DESC LIMIT 1", &[]).await.unwrap().get(0);
    assert_eq!(how, "retrain");
    client.batch_execute("DROP MODEL lr_all; TRAIN MODEL lr_all USING logistic_regression (holdout = 0) TARGET y AS SELECT x1, x2, y FROM events").await.unwrap();
    let row = client.query_one(gaps, &[]).await.unwrap();
    assert!(row.get::<_, f64>(0) < 1e-9, "{}", row.get::<_, f64>(0));
}
