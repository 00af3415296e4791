//! The prediction API (`POST /v1/models/<name>[@version]/predict`, engine/src/models/serving.rs),
//! with curl as the client: the same predictions, probabilities and scores as PREDICT,
//! PREDICT_PROBA and PREDICT_SCORE in SQL for the same rows; versions by `@`; 401, 403, 404 and
//! 422 as JSON with their SQLSTATE; counted in `/metrics`.

use serde_json::{json, Value};

use crate::squall;

#[tokio::test(flavor = "multi_thread")]
async fn the_prediction_api_answers_as_predict_does_and_refuses_with_sqlstates() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client
        .batch_execute(
            "CREATE TABLE flowers AS SELECT g AS id, (g % 17) * 0.5 + (g % 7) * 0.01 AS x, ((g * 7) % 11) - 5.0 AS z, \
                 CASE g % 3 WHEN 0 THEN 'a' WHEN 1 THEN 'b' ELSE 'c' END AS c, (g % 4)::int AS n, \
                 CASE WHEN (g % 17) < 6 + (g % 4) THEN 'low' WHEN (g % 17) < 12 THEN 'mid' ELSE 'high' END AS y, \
                 2.0 * ((g % 17) * 0.5) - 0.5 * (((g * 7) % 11) - 5.0) + ((g * 13) % 5) * 0.1 AS v \
               FROM generate_series(1, 600) AS s(g); \
             TRAIN MODEL cls USING naive_bayes TARGET y AS SELECT x, z, c, n, y FROM flowers; \
             TRAIN MODEL reg USING linear_regression TARGET v AS SELECT x, z, v FROM flowers; \
             TRAIN MODEL km USING kmeans (k = 3) AS SELECT x, z FROM flowers; \
             CREATE USER analyst PASSWORD 'pw'",
        )
        .await
        .unwrap();
    let predict = |reference: &str, credentials: &str, body: &Value| {
        let (status, answer) = server.http_post(&format!("/v1/models/{reference}/predict"), Some(credentials), "application/json", body.to_string().as_bytes());
        (status, serde_json::from_str::<Value>(&answer).unwrap_or_else(|e| panic!("{e}: {answer}")))
    };

    // The same 60 rows through SQL and through the API.
    let rows = client
        .query(
            "SELECT x, z, c, n, PREDICT('cls', x, z, c, n), PREDICT_PROBA('cls', x, z, c, n), PREDICT_SCORE('cls', x, z, c, n), \
                    PREDICT('reg', x, z), PREDICT('km', x, z), PREDICT_SCORE('km', x, z) FROM flowers ORDER BY id LIMIT 60",
            &[],
        )
        .await
        .unwrap();
    // PREDICT in SQL counts too (executors report theirs within a second): the API's rows are
    // counted from the settled counts on.
    let before = settled_counts(&server).await;
    let features: Vec<Value> = rows.iter().map(|r| json!({"x": r.get::<_, f64>(0), "z": r.get::<_, f64>(1), "c": r.get::<_, String>(2), "n": r.get::<_, i32>(3)})).collect();
    let (status, answer) = predict("cls", "squall:", &json!({"rows": features, "probabilities": true, "scores": true}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model"], "cls");
    assert_eq!(answer["version"], 1);
    for (i, row) in rows.iter().enumerate() {
        let class: String = row.get(4);
        assert_eq!(answer["predictions"][i], json!(class), "row {i}");
        // PREDICT_PROBA is the predicted class's probability; the API gives every class's.
        assert_eq!(answer["probabilities"][i][&class].as_f64(), Some(row.get::<_, f64>(5)), "row {i}");
        let total: f64 = answer["probabilities"][i].as_object().unwrap().values().map(|p| p.as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-12, "row {i}: {total}");
        assert_eq!(answer["scores"][i].as_f64(), Some(row.get::<_, f64>(6)), "row {i}");
    }
    let xz: Vec<Value> = rows.iter().map(|r| json!({"x": r.get::<_, f64>(0), "z": r.get::<_, f64>(1)})).collect();
    let (status, answer) = predict("reg", "squall:", &json!({"rows": xz}));
    assert_eq!(status, 200, "{answer}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(answer["predictions"][i].as_f64(), Some(row.get::<_, f64>(7)), "row {i}");
    }
    let (status, answer) = predict("km", "squall:", &json!({"rows": xz, "scores": true}));
    assert_eq!(status, 200, "{answer}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(answer["predictions"][i].as_i64(), Some(row.get::<_, i64>(8)), "row {i}");
        assert_eq!(answer["scores"][i].as_f64(), Some(row.get::<_, f64>(9)), "row {i}");
    }

    // One row; a NULL feature predicts NULL, as PREDICT does.
    let (status, answer) = predict("reg", "squall:", &json!({"rows": [{"x": 1.0, "z": null}]}));
    assert_eq!((status, answer["predictions"].clone()), (200, json!([null])));

    // Versions: `@n` names one, the bare name the current one.
    client.batch_execute("DROP MODEL reg; TRAIN MODEL reg USING linear_regression TARGET v AS SELECT x, v FROM flowers").await.unwrap();
    let (status, answer) = predict("reg", "squall:", &json!({"rows": [{"x": 2.0}]}));
    assert_eq!((status, answer["version"].clone()), (200, json!(1)), "{answer}");
    client.batch_execute("TRAIN MODEL cls USING naive_bayes (holdout = 0.5) TARGET y AS SELECT x, z, c, n, y FROM flowers").await.unwrap();
    let (status, answer) = predict("cls", "squall:", &json!({"rows": [features[0]]}));
    assert_eq!((status, answer["version"].clone()), (200, json!(2)));
    let (status, answer) = predict("cls@1", "squall:", &json!({"rows": [features[0]]}));
    assert_eq!((status, answer["version"].clone()), (200, json!(1)));

    // Refusals, each with its status and SQLSTATE.
    let refused = |(status, answer): (u16, Value)| (status, answer["sqlstate"].as_str().unwrap_or_default().to_string());
    let one = json!({"rows": [features[0]]});
    assert_eq!(refused(predict("cls", "analyst:wrong", &one)), (401, "28P01".into()));
    assert_eq!(refused(predict("cls", "nobody:pw", &one)), (401, "28P01".into()));
    assert_eq!(refused(predict("cls", "analyst:pw", &one)), (403, "42501".into()));
    assert_eq!(refused(predict("nope", "analyst:pw", &one)), (404, "42704".into()));
    assert_eq!(refused(predict("cls@9", "squall:", &one)), (404, "42704".into()));
    client.batch_execute("GRANT USAGE ON MODEL cls TO analyst").await.unwrap();
    assert_eq!(predict("cls", "analyst:pw", &one).0, 200);
    assert_eq!(refused(predict("cls", "analyst:pw", &json!({"rows": [{"x": 1.0, "z": 2.0, "c": "a"}]}))), (422, "42703".into()), "a missing feature");
    assert_eq!(refused(predict("cls", "analyst:pw", &json!({"rows": [{"x": "one", "z": 2.0, "c": "a", "n": 1}]}))), (422, "22P02".into()), "text for a number");
    assert_eq!(refused(predict("cls", "analyst:pw", &json!({"rows": [{"x": 1.0, "z": 2.0, "c": "a", "n": 1.5}]}))), (422, "22P02".into()), "a fraction for an integer");
    assert_eq!(refused(predict("cls", "analyst:pw", &json!({"rows": [{"x": 1.0, "z": 2.0, "c": "a", "n": 1, "w": 3}]}))), (422, "42703".into()), "a feature the model does not have");
    assert_eq!(refused(predict("reg", "squall:", &json!({"rows": [{"x": 1.0}], "probabilities": true}))), (422, "42809".into()), "no probabilities from a regression");
    let (status, answer) = server.http_post("/v1/models/cls/predict", Some("squall:"), "application/json", b"[1, 2]");
    assert_eq!((status, answer.contains("22P02")), (400, true), "{answer}");

    // Counted per model: the rows of the answered requests (refused ones are not).
    let after = counts(&server.http_get("/metrics"));
    let added = |model: &str| after.get(model).copied().unwrap_or(0) - before.get(model).copied().unwrap_or(0);
    assert_eq!((added("cls"), added("reg"), added("km")), (63, 62, 60), "{before:?} → {after:?}");
}

/// `squall_predictions_total` per model.
fn counts(metrics: &str) -> std::collections::BTreeMap<String, u64> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("squall_predictions_total{model=\""))
        .filter_map(|rest| {
            let (model, value) = rest.split_once("\"} ")?;
            Some((model.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// The counts once two readings 1.5 s apart agree (the executors have reported).
async fn settled_counts(server: &squall_tests::Server) -> std::collections::BTreeMap<String, u64> {
    let mut last = counts(&server.http_get("/metrics"));
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
        let now = counts(&server.http_get("/metrics"));
        if now == last {
            return now;
        }
        last = now;
    }
}
