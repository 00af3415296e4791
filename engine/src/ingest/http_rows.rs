//! `POST /v1/tables/<table>/rows`: a batch of rows for a managed table, written in one Delta
//! commit (all of them or none), in the body's format by its `Content-Type`:
//!
//! - `text/csv`: a header row naming the columns, in any order; columns it leaves out are NULL
//!   (refused with 23502 when NOT NULL), read as `COPY t (columns) FROM STDIN WITH (FORMAT csv,
//!   HEADER)` reads them, by the same decoder;
//! - `application/x-ndjson`: one JSON object per line, by column name (absent keys are NULL, a
//!   key naming no column is an error);
//! - `application/vnd.apache.arrow.stream`: an Arrow IPC stream whose columns are named as the
//!   table's (any order; those it leaves out are NULL).
//!
//! With an `Idempotency-Key: producer:sequence` header the batch is applied once however often it
//! is sent, across restarts too: its commit records it (`storage::delta::producer_batches`), and
//! a batch sent again answers 200 with `"duplicate": true` and nothing written.
//!
//! The caller is a squall user ([`super::http_credentials`]) with INSERT on the table. Answers
//! are JSON: `{"table": ..., "rows": n}`, or `{"sqlstate": ..., "message": ..., "line": n,
//! "column": ...}` with 400 for a bad row (its line and column, as COPY names them), 401 without valid credentials, 403 without the
//! grant, 404 for an unknown table, 415 for another format.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use serde_json::json;

use super::accounting::Outcome;
use super::http_credentials::authenticate;
use squall_sql::{ObjectKind, Privilege};
use crate::copy::format::{Kind, Options};
use crate::copy::from_stdin::{CopyIn, Target};
use crate::engine::Engine;
use crate::error::SquallError;
use crate::storage::delta::producer_batches::Appended;

/// The largest body one request may carry.
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// A refused request: its status and the JSON error.
struct Failure {
    status: StatusCode,
    sqlstate: &'static str,
    message: String,
    line: Option<u64>,
    column: Option<String>,
}

impl Failure {
    fn new(status: StatusCode, sqlstate: &'static str, message: impl Into<String>) -> Self {
        Self { status, sqlstate, message: message.into(), line: None, column: None }
    }
}

impl From<SquallError> for Failure {
    fn from(e: SquallError) -> Self {
        let (sqlstate, message) = e.classified();
        // COPY's context: `COPY t, line 3, column a: "x"`.
        let context = match &e {
            SquallError::WithContext { context, .. } => context.as_str(),
            _ => "",
        };
        let line = context.split(", line ").nth(1).and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
        let column = context.split(", column ").nth(1).and_then(|rest| rest.split_once(':')).map(|(name, _)| name.to_string());
        let status = match sqlstate {
            "42501" => StatusCode::FORBIDDEN,
            "42P01" => StatusCode::NOT_FOUND,
            "40001" => StatusCode::CONFLICT,
            code if code.starts_with("22") || code.starts_with("23") || code.starts_with("42") || code == "0A000" => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self { status, sqlstate, message, line, column }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut body = json!({"sqlstate": self.sqlstate, "message": self.message});
        if let Some(line) = self.line {
            body["line"] = json!(line);
        }
        if let Some(column) = self.column {
            body["column"] = json!(column);
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"squall\""));
        }
        response
    }
}

pub async fn post_rows(
    State(engine): State<Arc<Engine>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(table): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match ingest(&engine, peer, &table, &headers, body).await {
        Ok(Appended::Rows(rows)) => Json(json!({"table": table, "rows": rows})).into_response(),
        Ok(Appended::Duplicate { through }) => Json(json!({"table": table, "rows": 0, "duplicate": true, "committed_through": through})).into_response(),
        Err(failure) => failure.into_response(),
    }
}

/// The `Idempotency-Key` header, `producer:sequence` (e.g. `sensor-7:1042`), if sent.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<(String, i64)>, Failure> {
    let Some(key) = headers.get("idempotency-key") else { return Ok(None) };
    let bad = || Failure::new(StatusCode::BAD_REQUEST, "22023", "Idempotency-Key must be producer:sequence, the sequence a whole number from 0 (e.g. sensor-7:1042)");
    let key = key.to_str().map_err(|_| bad())?;
    let (producer, sequence) = key.rsplit_once(':').ok_or_else(bad)?;
    let sequence: i64 = sequence.trim().parse().map_err(|_| bad())?;
    if producer.trim().is_empty() || sequence < 0 {
        return Err(bad());
    }
    Ok(Some((producer.trim().to_string(), sequence)))
}

async fn ingest(engine: &Arc<Engine>, peer: SocketAddr, table: &str, headers: &HeaderMap, body: Bytes) -> Result<Appended, Failure> {
    let user = authenticate(engine, headers, peer).map_err(|refused| Failure::new(StatusCode::UNAUTHORIZED, refused.0, refused.1))?;
    let table = table.to_lowercase();
    // Unknown tables are 404 to whoever may ask; a known one needs INSERT.
    let known = Target::resolve(engine, &user, &table, &[], Options::new(Kind::Csv))?;
    if !engine.users.is_superuser(&user) && !engine.users.allows(&user, ObjectKind::Table, &table, Privilege::Insert) {
        return Err(Failure::new(StatusCode::FORBIDDEN, "42501", format!("permission denied for table {table}")));
    }
    let batch = idempotency_key(headers)?;
    // Admitted: counted in squall.ingest until answered.
    let ticket = engine.ingest.received("http", &table, batch.as_ref().map(|(producer, _)| producer.as_str()));
    let loaded = load(engine, &user, &table, &known, headers, body, batch).await;
    ticket.answered(match &loaded {
        Ok(Appended::Rows(rows)) => Outcome::Committed { rows: *rows },
        Ok(Appended::Duplicate { .. }) => Outcome::Duplicate,
        Err(failure) => Outcome::Rejected { sqlstate: failure.sqlstate, message: failure.message.clone() },
    });
    loaded
}

/// The body's rows, appended to the table.
async fn load(engine: &Arc<Engine>, user: &str, table: &str, known: &Target, headers: &HeaderMap, body: Bytes, batch: Option<(String, i64)>) -> Result<Appended, Failure> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match content_type.as_str() {
        "text/csv" => csv(engine, user, table, body, batch).await,
        "application/x-ndjson" | "application/jsonl" => {
            let batches = ndjson(&known.schema, &body)?;
            append(engine, known, batches, batch).await
        }
        "application/vnd.apache.arrow.stream" => {
            let batches = arrow_stream(&known.schema, &body)?;
            append(engine, known, batches, batch).await
        }
        other => Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "0A000",
            format!("Content-Type \"{other}\" is not one squall reads: text/csv, application/x-ndjson, application/vnd.apache.arrow.stream"),
        )),
    }
}

/// A CSV body through COPY's own decoder: its header names the columns it holds.
async fn csv(engine: &Arc<Engine>, user: &str, table: &str, body: Bytes, batch: Option<(String, i64)>) -> Result<Appended, Failure> {
    let header_line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let header_line = std::str::from_utf8(header_line).map_err(|_| Failure::new(StatusCode::BAD_REQUEST, "22021", "the CSV header is not UTF-8"))?;
    let columns: Vec<String> = header_line.trim_end_matches('\r').split(',').map(|c| c.trim().trim_matches('"').to_lowercase()).collect();
    let mut options = Options::new(Kind::Csv);
    options.header = true;
    let mut target = Target::resolve(engine, user, table, &columns, options)?;
    target.batch = batch;
    let copy = CopyIn::start(Arc::clone(engine), target);
    copy.sender().send(body).await;
    Ok(copy.finish_batch().await?)
}

/// NDJSON rows as the table's columns (absent keys NULL); a line that does not fit is named.
fn ndjson(schema: &SchemaRef, body: &[u8]) -> Result<Vec<RecordBatch>, Failure> {
    let nullable = Arc::new(Schema::new(schema.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect::<Vec<_>>()));
    let mut batches = Vec::new();
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        // Strict: a key the table has no column for is an error, not a value silently dropped.
        let mut decoder = datafusion::arrow::json::ReaderBuilder::new(Arc::clone(&nullable))
            .with_strict_mode(true)
            .build_decoder()
            .map_err(|e| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "XX000", e.to_string()))?;
        let bad = |e: datafusion::arrow::error::ArrowError| Failure { line: Some(index as u64 + 1), ..Failure::new(StatusCode::BAD_REQUEST, "22P02", e.to_string()) };
        decoder.decode(line).map_err(bad)?;
        if let Some(batch) = decoder.flush().map_err(bad)? {
            batches.push(batch);
        }
    }
    Ok(batches)
}

/// An Arrow IPC stream's batches.
fn arrow_stream(schema: &SchemaRef, body: &Bytes) -> Result<Vec<RecordBatch>, Failure> {
    let bad = |e: datafusion::arrow::error::ArrowError| Failure::new(StatusCode::BAD_REQUEST, "22P02", format!("reading the Arrow stream: {e}"));
    let reader = datafusion::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(body.as_ref()), None).map_err(bad)?;
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch.map_err(bad)?;
        // By name, in the table's order: the stream's own order may differ, and a column it
        // leaves out is NULL (refused with 23502 when NOT NULL), as in the other formats.
        if let Some(extra) = batch.schema().fields().iter().find(|f| schema.field_with_name(f.name()).is_err()) {
            return Err(Failure::new(StatusCode::BAD_REQUEST, "42703", format!("the table has no column \"{}\"", extra.name())));
        }
        let columns: Vec<_> = schema
            .fields()
            .iter()
            .map(|f| batch.column_by_name(f.name()).cloned().unwrap_or_else(|| datafusion::arrow::array::new_null_array(f.data_type(), batch.num_rows())))
            .collect();
        let fields: Vec<Field> = schema.fields().iter().zip(&columns).map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true)).collect();
        batches.push(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(bad)?);
    }
    Ok(batches)
}

/// `batches` appended to the table in one commit (cast to its columns on the way: a value that
/// does not fit is the statement's error, and nothing is written).
async fn append(engine: &Arc<Engine>, target: &Target, batches: Vec<RecordBatch>, batch: Option<(String, i64)>) -> Result<Appended, Failure> {
    let schema = Arc::clone(&target.schema);
    let stream = futures::stream::iter(batches.into_iter().map(Ok));
    let rows = Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&schema), stream));
    let appended = match batch {
        Some((producer, sequence)) => engine.tables.append_batch(&target.url, schema, rows, &target.committer, &producer, sequence).await?,
        None => Appended::Rows(engine.tables.append(&target.url, schema, rows, &target.committer, None).await?),
    };
    engine.tables.after_append(&target.url);
    Ok(appended)
}
