//! `POST /v1/models/<name>[@version]/predict`: predictions for rows sent as JSON, answered in the
//! coordinator from the cached model (the same file and the same vectorised code as PREDICT on
//! the executors), without planning a query or starting a job.
//!
//! Request: `{"rows": [{"feature": value, ...}, ...]}`, features by name (other keys are
//! refused: a misspelt feature must not pass as a missing one), plus optionally
//! `"probabilities": true` (classifiers: each class's probability per row) and `"scores": true`
//! (naive_bayes and kmeans: PREDICT_SCORE's anomaly score per row). A value is JSON's own type
//! for the feature's column type: a number for numeric columns (a whole number for integer
//! ones), a string for text, `true`/`false` for booleans, `null` for NULL (whose prediction is
//! `null`, as PREDICT's).
//!
//! Answer (with a `Server-Timing: predict;dur=<ms>` header: the server's time for the request):
//! `{"model": name, "version": v, "predictions": [...]}` in the target's JSON type (the
//! cluster number for kmeans), with `"probabilities": [{class: p, ...}, ...]` and `"scores":
//! [...]` when asked. Errors are JSON `{"sqlstate", "message"}`: 401 without valid credentials,
//! 404 for an unknown model or version (42704), 403 without USAGE on the model (42501), 422 for a
//! feature missing, unknown or of the wrong type (42703, 22P02), 400 for a body that is not such
//! JSON (22P02).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use squall_sql::{ObjectKind, Privilege};
use squall_udf::ml::features::Feature;
use squall_udf::ml::model::{Model, Output};

use super::registry::split_reference;
use crate::engine::Engine;
use crate::http::credentials::authenticate;
use crate::http::failure::Failure;

/// Rows one request may carry, and its bytes.
pub const MAX_ROWS: usize = 100_000;
pub const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    rows: Vec<Map<String, Value>>,
    #[serde(default)]
    probabilities: bool,
    #[serde(default)]
    scores: bool,
}

pub async fn post_predict(
    State(engine): State<Arc<Engine>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    match predict(&engine, peer, &reference, &headers, &body) {
        Ok(answer) => {
            // The server's own time (the body read, the rows decoded, predicted and encoded but
            // for the last step), for clients that measure latency apart from the network's.
            let timing = format!("predict;dur={:.3}", started.elapsed().as_secs_f64() * 1000.0);
            ([(axum::http::header::HeaderName::from_static("server-timing"), timing)], Json(answer)).into_response()
        }
        Err(failure) => failure.into_response(),
    }
}

fn predict(engine: &Arc<Engine>, peer: SocketAddr, reference: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, Failure> {
    let user = authenticate(engine, headers, peer).map_err(Failure::unauthorized)?;
    let (name, version) = split_reference(&reference.to_lowercase()).map_err(|e| Failure::from(&e).with_status(StatusCode::NOT_FOUND))?;
    let unknown = |what: String| Failure::new(StatusCode::NOT_FOUND, "42704", what);
    // An unknown model is 404 to whoever asks; a known one needs USAGE.
    let entry = engine.models.get(&name).ok_or_else(|| unknown(format!("model \"{name}\" does not exist")))?;
    if !engine.users.is_superuser(&user) && !engine.users.allows(&user, ObjectKind::Model, &name, Privilege::Usage) {
        return Err(Failure::new(StatusCode::FORBIDDEN, "42501", format!("permission denied for model {name}")));
    }
    let wanted = version.unwrap_or(entry.current);
    let url = &entry.version(wanted).ok_or_else(|| unknown(format!("model \"{name}\" has no version {wanted}")))?.url;
    let request: Request = serde_json::from_slice(body).map_err(|e| {
        Failure::new(StatusCode::BAD_REQUEST, "22P02", format!("the body must be JSON {{\"rows\": [{{\"feature\": value, ...}}, ...]}}: {e}"))
    })?;
    if request.rows.len() > MAX_ROWS {
        return Err(Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "54000", format!("a request may hold at most {MAX_ROWS} rows")));
    }
    let model = squall_udf::ml::store::load(url).map_err(|e| Failure::from(&crate::error::SquallError::DataFusion(e)))?;
    let columns = columns(&model, &request.rows)?;
    let failed = |e: datafusion::error::DataFusionError| Failure::from(&crate::error::SquallError::DataFusion(e));
    let mut answer = json!({"model": name, "version": model.version});
    let output = model.predict(&columns, request.probabilities).map_err(failed)?;
    answer["predictions"] = predictions(&model, &output);
    if request.probabilities {
        let Output::Classes { probabilities: Some(probabilities), .. } = &output else {
            return Err(Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "42809", format!("{} gives no class probabilities", model.label())));
        };
        let classes = classes(&model);
        answer["probabilities"] = probabilities
            .iter()
            .map(|row| row.as_ref().map_or(Value::Null, |p| Value::Object(classes.iter().zip(p).map(|(c, p)| (c.clone(), json!(p))).collect())))
            .collect();
    }
    if request.scores {
        if !model.has_score() {
            return Err(Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "42809", format!("{} gives no anomaly score (naive_bayes and kmeans models do)", model.label())));
        }
        answer["scores"] = json!(model.score(&columns).map_err(failed)?);
    }
    engine.predictions.record(&name, request.rows.len() as u64);
    Ok(answer)
}

fn classes(model: &Model) -> Vec<String> {
    model.target.as_ref().and_then(|t| t.classes.clone()).unwrap_or_default()
}

/// The rows' values of each feature, as a column of the type it had in training (so a category
/// reads as the same text it was trained on).
fn columns(model: &Model, rows: &[Map<String, Value>]) -> Result<Vec<ArrayRef>, Failure> {
    for (i, row) in rows.iter().enumerate() {
        if let Some(key) = row.keys().find(|k| !model.features.iter().any(|f| &f.name == *k)) {
            return Err(unprocessable("42703", format!("row {} has \"{key}\", which is not a feature of {} ({})", i + 1, model.label(), model.signature())));
        }
    }
    model.features.iter().map(|feature| column(model, feature, rows)).collect()
}

fn unprocessable(sqlstate: &'static str, message: String) -> Failure {
    Failure::new(StatusCode::UNPROCESSABLE_ENTITY, sqlstate, message)
}

fn column(model: &Model, feature: &Feature, rows: &[Map<String, Value>]) -> Result<ArrayRef, Failure> {
    let values: Vec<&Value> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| row.get(&feature.name).ok_or_else(|| unprocessable("42703", format!("row {} has no feature \"{}\" ({})", i + 1, feature.name, model.signature()))))
        .collect::<Result<_, _>>()?;
    let mistyped = |i: usize, wanted: &str| {
        unprocessable("22P02", format!("row {}: feature \"{}\" is {}, so its value must be {wanted}, not {}", i + 1, feature.name, feature.data_type, values[i]))
    };
    let data_type = &feature.data_type;
    let array: ArrayRef = if data_type.is_integer() {
        let whole = values.iter().enumerate().map(|(i, v)| if v.is_null() { Ok(None) } else { v.as_i64().map(Some).ok_or_else(|| mistyped(i, "a whole number")) });
        std::sync::Arc::new(whole.collect::<Result<Int64Array, _>>()?)
    } else if data_type.is_numeric() {
        let numbers = values.iter().enumerate().map(|(i, v)| if v.is_null() { Ok(None) } else { v.as_f64().map(Some).ok_or_else(|| mistyped(i, "a number")) });
        std::sync::Arc::new(numbers.collect::<Result<Float64Array, _>>()?)
    } else if *data_type == DataType::Boolean {
        let booleans = values.iter().enumerate().map(|(i, v)| if v.is_null() { Ok(None) } else { v.as_bool().map(Some).ok_or_else(|| mistyped(i, "true or false")) });
        std::sync::Arc::new(booleans.collect::<Result<BooleanArray, _>>()?)
    } else {
        let texts = values.iter().enumerate().map(|(i, v)| if v.is_null() { Ok(None) } else { v.as_str().map(Some).ok_or_else(|| mistyped(i, "a string")) });
        std::sync::Arc::new(texts.collect::<Result<StringArray, _>>()?)
    };
    if array.data_type() == data_type {
        return Ok(array);
    }
    cast(&array, data_type).map_err(|e| unprocessable("22P02", format!("feature \"{}\": {e}", feature.name)))
}

/// The predictions in the target's JSON type: a classifier's class as its column's values are
/// (numbers stay numbers), a regression's number, a cluster's number.
fn predictions(model: &Model, output: &Output) -> Value {
    match output {
        Output::Classes { predicted, .. } => {
            let classes = classes(model);
            let numeric = model.target.as_ref().is_some_and(|t| t.data_type.is_numeric());
            let boolean = model.target.as_ref().is_some_and(|t| t.data_type == DataType::Boolean);
            predicted
                .iter()
                .map(|c| match c {
                    None => Value::Null,
                    Some(c) => {
                        let label = &classes[*c];
                        let typed = if numeric {
                            serde_json::from_str::<serde_json::Number>(label).ok().map(Value::Number)
                        } else if boolean {
                            label.parse::<bool>().ok().map(Value::Bool)
                        } else {
                            None
                        };
                        typed.unwrap_or_else(|| Value::String(label.clone()))
                    }
                })
                .collect()
        }
        Output::Values(values) => json!(values),
        Output::Clusters { cluster, .. } => json!(cluster),
    }
}
