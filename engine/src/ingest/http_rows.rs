//! `POST /v1/tables/<table>/rows`: a batch of rows for a managed table, committed all or none
//! (with the batches that arrive beside it, at most one commit per `commit_interval`:
//! `storage::delta::grouped_append`), in the body's format by its `Content-Type`:
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
//! The caller is a squall user ([`crate::http::credentials`]) with INSERT on the table. Answers
//! are JSON: `{"table": ..., "rows": n, "version": v}` (the table version the rows were committed
//! at), or `{"sqlstate": ..., "message": ..., "line": n,
//! "column": ...}` with 400 for a bad row (its line and column, as COPY names them), 401 without
//! valid credentials, 403 without the grant, 404 for an unknown table, 415 for another format,
//! 413 past [`MAX_BODY`], and 503 with `Retry-After` while the rows not yet committed fill the
//! ingest buffer (`super::backpressure`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;
use serde_json::json;

use super::accounting::{Outcome, Ticket};
use super::backpressure::{Full, Reservation};
use crate::http::credentials::authenticate;
use crate::http::failure::Failure;
use squall_sql::{ObjectKind, Privilege};
use crate::copy::format::{Kind, Options};
use super::formats::{read_rows, Format};
use crate::copy::from_stdin::Target;
use crate::engine::Engine;
use crate::storage::delta::grouped_append::Batch;
use crate::storage::delta::producer_batches::Appended;

/// The largest body one request may carry.
pub const MAX_BODY: usize = 256 * 1024 * 1024;

/// What a 503 asks the producer to wait: about one commit interval's worth, in whole seconds.
const RETRY_AFTER_SECONDS: u64 = 1;

pub async fn post_rows(
    State(engine): State<Arc<Engine>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(table): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match ingest(&engine, peer, &table, &headers, body).await {
        Ok(Appended::Rows { rows, version }) => Json(json!({"table": table, "rows": rows, "version": version})).into_response(),
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
    if producer.trim().starts_with("squall-pipe:") {
        return Err(Failure::new(StatusCode::BAD_REQUEST, "22023", "producer names starting with squall-pipe: are the pipes' own"));
    }
    Ok(Some((producer.trim().to_string(), sequence)))
}

async fn ingest(engine: &Arc<Engine>, peer: SocketAddr, table: &str, headers: &HeaderMap, body: Body) -> Result<Appended, Failure> {
    let user = authenticate(engine, headers, peer).map_err(Failure::unauthorized)?;
    let table = table.to_lowercase();
    // Unknown tables are 404 to whoever may ask; a known one needs INSERT.
    let known = Target::resolve(engine, &user, &table, &[], Options::new(Kind::Csv))?;
    if !engine.users.is_superuser(&user) && !engine.users.allows(&user, ObjectKind::Table, &table, Privilege::Insert) {
        return Err(Failure::new(StatusCode::FORBIDDEN, "42501", format!("permission denied for table {table}")));
    }
    let producer = idempotency_key(headers)?;
    // Admitted: counted in squall.ingest until answered.
    let mut ticket = engine.ingest.received("http", &table, producer.as_ref().map(|(name, _)| name.as_str()));
    let loaded = load(engine, &user, &known, headers, body, producer, &mut ticket).await;
    ticket.answered(match &loaded {
        Ok(Appended::Rows { rows, version }) => Outcome::Committed { rows: *rows, version: *version },
        Ok(Appended::Duplicate { .. }) => Outcome::Duplicate,
        Err(failure) => Outcome::Rejected { sqlstate: failure.sqlstate, message: failure.message.clone() },
    });
    loaded
}

/// The body read (within the ingest buffer's bound), its rows decoded, and handed to the table's
/// group committer; answered once their commit is durable.
async fn load(engine: &Arc<Engine>, user: &str, known: &Target, headers: &HeaderMap, body: Body, producer: Option<(String, i64)>, ticket: &mut Ticket) -> Result<Appended, Failure> {
    let settings = engine.cluster_settings();
    let mut reservation = engine.ingest_buffer.reservation();
    let body = read_body(body, headers, &mut reservation, settings.ingest_buffer_bytes).await?;
    let rows = decode(engine, user, known, headers, body).await?;
    ticket.read(rows.iter().map(|b| b.num_rows() as u64).sum());
    // Held as decoded rows (the body is gone) until committed.
    reservation.resize(rows.iter().map(|b| b.get_array_memory_size() as u64).sum());
    Ok(super::commit(engine, known, Batch { rows, producer }).await?)
}

/// The request's body, reserved in the ingest buffer as it arrives (all at once when its length
/// is known): 503 with Retry-After when the buffer is full, 413 past [`MAX_BODY`].
async fn read_body(body: Body, headers: &HeaderMap, reservation: &mut Reservation, bound: u64) -> Result<Bytes, Failure> {
    let full = |full: Full| Failure {
        retry_after: Some(RETRY_AFTER_SECONDS),
        ..Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "53000",
            format!(
                "squall holds {} bytes of rows not yet committed (ingest_buffer is {}): send this batch again after Retry-After",
                full.reserved, full.bound
            ),
        )
    };
    let too_large = || Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "54000", format!("a batch may hold at most {MAX_BODY} bytes; send smaller batches"));
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(length) = length {
        if length > MAX_BODY as u64 {
            return Err(too_large());
        }
        reservation.grow(length, bound).map_err(full)?;
    }
    let mut data = bytes::BytesMut::with_capacity(length.unwrap_or(0) as usize);
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| Failure::new(StatusCode::BAD_REQUEST, "08P01", format!("reading the request body: {e}")))?;
        if data.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        if length.is_none() {
            reservation.grow(chunk.len() as u64, bound).map_err(full)?;
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data.freeze())
}

/// The body's rows, by its `Content-Type`.
async fn decode(engine: &Arc<Engine>, user: &str, known: &Target, headers: &HeaderMap, body: Bytes) -> Result<Vec<RecordBatch>, Failure> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let format = match content_type.as_str() {
        "text/csv" => Format::Csv,
        "application/x-ndjson" | "application/jsonl" => Format::Ndjson,
        "application/vnd.apache.arrow.stream" => Format::ArrowStream,
        other => {
            return Err(Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "0A000",
                format!("Content-Type \"{other}\" is not one squall reads: text/csv, application/x-ndjson, application/vnd.apache.arrow.stream"),
            ))
        }
    };
    Ok(read_rows(engine, user, known, format, body, b',').await?)
}
