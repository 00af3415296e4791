//! The status page (`/`), its JSON (`/api/status`, engine/src/status) and `/health`: the JSON
//! checked field by field against what the cluster did, a login once passwords are set, no table
//! rows shown; the page opened in headless Chromium (Debian's, driven by Playwright:
//! tests/clients/node/status_page.js) renders without console errors, fetches nothing from
//! elsewhere, shows the live executor count and a prediction count that rises after a PREDICT
//! query; its screenshot is written to target/test-artifacts/status-page.png.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::squall;

#[tokio::test(flavor = "multi_thread")]
async fn the_status_api_reports_executors_jobs_models_predictions_and_errors_and_needs_a_login() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    let client = server.client().await;
    client
        .batch_execute(
            "CREATE TABLE secrets AS SELECT g AS x, CASE WHEN g % 2 = 0 THEN 'zebra-secret' ELSE 'other' END AS y FROM generate_series(1, 300) AS s(g); \
             TRAIN MODEL guess USING naive_bayes TARGET y AS SELECT x, y FROM secrets; \
             CREATE USER viewer PASSWORD 'pw'",
        )
        .await
        .unwrap();
    let predicted: i64 = client.query_one("SELECT count(PREDICT('guess', x)) FROM secrets", &[]).await.unwrap().get(0);
    assert_eq!(predicted, 300);
    client.simple_query("SELECT 1 / 0").await.unwrap_err();
    client.simple_query("SELECT nope FROM secrets").await.unwrap_err();

    // With a password set, the API and the page want a login; a squall user's works.
    assert_eq!(server.http_get_with("/api/status", None).0, 401);
    assert_eq!(server.http_get_with("/api/status", Some("viewer:wrong")).0, 401);
    assert_eq!(server.http_get_with("/", None).0, 401);
    let (status, page) = server.http_get_with("/", Some("viewer:pw"));
    assert_eq!(status, 200);
    assert!(page.contains("<title>squall status</title>") && !page.contains("src=\"http") && !page.contains("href=\"http"), "self-contained");
    // The executor reports its predictions with its next request for orders (within a second).
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let (code, body) = server.http_get_with("/api/status", Some("viewer:pw"));
        assert_eq!(code, 200, "{body}");
        let status: Value = serde_json::from_str(&body).unwrap();
        if status["predictions"]["total"]["guess"] == 300 || Instant::now() > deadline {
            assert!(!body.contains("zebra-secret"), "no table rows in the status: {body}");
            break status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["status"], "up");
    assert!(status["uptime_seconds"].as_i64().unwrap() >= 0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - status["started_at"].as_i64().unwrap()).abs() < 600, "{}", status["started_at"]);
    let checks: Vec<(&str, bool)> = status["health"].as_array().unwrap().iter().map(|c| (c["name"].as_str().unwrap(), c["ok"].as_bool().unwrap())).collect();
    assert_eq!(checks, vec![("scheduler", true), ("executors", true), ("data_directory", true)]);
    let executors = &status["executors"];
    assert_eq!((executors["active"].clone(), executors["draining"].clone(), executors["lost"].clone()), (1.into(), 0.into(), 0.into()));
    assert_eq!(executors["min_executors"], 1);
    let list = executors["list"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["state"], "active");
    assert!(list[0]["id"].as_str().unwrap().len() > 3 && list[0]["slots"].as_u64().unwrap() >= 1);
    assert_eq!((status["pending_tasks"].clone(), status["running_tasks"].clone(), status["queued_jobs"].clone()), (0.into(), 0.into(), 0.into()));
    let history = status["history"].as_array().unwrap();
    assert!(!history.is_empty());
    assert_eq!(history.last().unwrap()["executors"], 1);
    for sample in history {
        assert!(sample["at"].as_i64().unwrap() <= now + 1 && sample["pending_tasks"].is_u64() && sample["running_tasks"].is_u64());
    }
    // The PREDICT query ran as a job on the executor: finished, a SELECT, with its duration.
    let recent = status["jobs"]["recent"].as_array().unwrap();
    assert!(recent.iter().any(|j| j["statement"] == "SELECT" && j["state"] == "done" && j["seconds"].as_f64().unwrap() >= 0.0), "{recent:?}");
    assert!(status["jobs"]["running"].as_array().unwrap().is_empty());
    let models = status["models"].as_array().unwrap();
    assert_eq!(models.len(), 1);
    let model = &models[0];
    assert_eq!((model["name"].clone(), model["version"].clone(), model["algorithm"].clone(), model["task"].clone()), ("guess".into(), 1.into(), "naive_bayes".into(), "classification".into()));
    let accuracy = model["metrics"]["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy));
    assert_eq!(status["predictions"]["total"]["guess"], 300, "{}", status["predictions"]);
    let hourly = status["predictions"]["hourly"].as_array().unwrap();
    assert_eq!(hourly.len(), 1);
    assert_eq!((hourly[0]["model"].clone(), hourly[0]["rows"].clone()), ("guess".into(), 300.into()));
    assert_eq!(hourly[0]["hour"].as_i64().unwrap() % 3600, 0);
    let errors: Vec<(String, u64)> = status["errors"].as_array().unwrap().iter().map(|e| (e["sqlstate"].as_str().unwrap().to_string(), e["count"].as_u64().unwrap())).collect();
    assert!(errors.contains(&("22012".into(), 1)) && errors.contains(&("42703".into(), 1)), "{errors:?}");
    // /health needs no login.
    assert_eq!(server.http_get_with("/health", None), (200, "ok\n".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_503_naming_the_failing_check() {
    // Nobody starts executors: with min_executors 1 there are too few.
    let server = squall().executors(0).args(&["--launcher", "external"]).start();
    let client = server.client().await;
    assert_eq!(server.http_get_with("/health", None), (200, "ok\n".into()));
    client.batch_execute("ALTER CLUSTER SET (min_executors = 1)").await.unwrap();
    let (status, body) = server.http_get_with("/health", None);
    assert_eq!((status, body.as_str()), (503, "executors: 0 active, min_executors 1\n"));
    let status: Value = serde_json::from_str(&server.http_get_with("/api/status", None).1).unwrap();
    assert_eq!(status["status"], "degraded");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_renders_in_chromium_and_its_prediction_count_rises_after_predict() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    let client = server.client().await;
    client
        .batch_execute(
            "CREATE TABLE pts AS SELECT g AS x, (g % 3)::text AS y FROM generate_series(1, 90) AS s(g); \
             TRAIN MODEL shape USING naive_bayes TARGET y AS SELECT x, y FROM pts",
        )
        .await
        .unwrap();
    let node = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node");
    assert!(node.join("node_modules/playwright-core").exists(), "playwright-core is not installed: scripts/test runs npm ci in tests/clients/node");
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let mut browser = Command::new("node")
        .args(["status_page.js", &format!("http://{}/", server.http), "-", screenshot.to_str().unwrap()])
        .current_dir(&node)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node (scripts/test installs it)");
    let mut lines = BufReader::new(browser.stdout.take().unwrap()).lines();
    let mut said = |prefix: &str| -> Value {
        match lines.next() {
            Some(Ok(line)) if line.starts_with(prefix) => serde_json::from_str(&line[prefix.len()..]).unwrap(),
            other => panic!("expected {prefix}, got {other:?}"),
        }
    };
    let before = said("READY ");
    assert_eq!(before["executors"], 1, "{before}");
    assert_eq!(before["predictions"], 0, "{before}");
    let predicted: i64 = client.query_one("SELECT count(PREDICT('shape', x)) FROM pts", &[]).await.unwrap().get(0);
    assert_eq!(predicted, 90);
    browser.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let after = said("DONE ");
    let status = browser.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(after["predictions"], 90, "{after}");
    assert_eq!(after["executors"], 1);
    assert!(after["models"].as_str().unwrap().contains("shape"), "{after}");
    assert_eq!(after["consoleErrors"], serde_json::json!([]), "{after}");
    assert_eq!(after["elsewhere"], serde_json::json!([]), "{after}");
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000, "a screenshot of the page");
}
