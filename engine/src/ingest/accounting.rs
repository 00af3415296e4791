//! `squall.ingest`: what arrived over HTTP and through pipes for each table from each producer,
//! kept as Storm's acker keeps it: batches received, committed, rejected (with the last error),
//! duplicates ignored and in flight; rows received (once read), committed and rejected; the table
//! version of the last commit, when it was and how long it took from arrival; and the lag, how
//! long the oldest batch in flight has waited. A batch is counted received once it is admitted (its sender authenticated,
//! its table known) and moves to exactly one outcome when it is answered, so received =
//! committed + rejected + duplicates + in flight at every moment. A request its client abandons
//! mid-way is counted rejected. Kept in memory since the server started.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use datafusion::arrow::array::{Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;

pub const TABLE: &str = "ingest";

/// (endpoint, table, producer; empty when the batch named none).
type Key = (String, String, String);

#[derive(Debug, Default, Clone)]
struct Counts {
    received: i64,
    committed: i64,
    rejected: i64,
    duplicates: i64,
    rows_received: i64,
    rows_committed: i64,
    rows_rejected: i64,
    last_error: Option<String>,
    last_version: Option<i64>,
    last_commit: Option<i64>,
    last_commit_seconds: Option<f64>,
    /// The batches in flight: when each arrived, by ticket.
    in_flight: BTreeMap<u64, Instant>,
}

#[derive(Debug, Default)]
pub struct Ingest {
    counts: Mutex<BTreeMap<Key, Counts>>,
    tickets: std::sync::atomic::AtomicU64,
}

/// What became of a batch.
pub enum Outcome {
    Committed { rows: u64, version: Option<u64> },
    Duplicate,
    Rejected { sqlstate: &'static str, message: String },
}

/// A batch received and not yet answered; dropped unanswered (the client went away), it counts
/// as rejected.
pub struct Ticket {
    ingest: Arc<Ingest>,
    key: Key,
    id: u64,
    arrived: Instant,
    answered: bool,
    /// Its rows, once read.
    rows: Option<u64>,
}

impl Ingest {
    /// Counts a batch received for `table` at `endpoint` from `producer`.
    pub fn received(self: &Arc<Self>, endpoint: &str, table: &str, producer: Option<&str>) -> Ticket {
        let key = (endpoint.to_string(), table.to_string(), producer.unwrap_or_default().to_string());
        let id = self.tickets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let arrived = Instant::now();
        let mut counts = self.lock();
        let counts = counts.entry(key.clone()).or_default();
        counts.received += 1;
        counts.in_flight.insert(id, arrived);
        Ticket { ingest: Arc::clone(self), key, id, arrived, answered: false, rows: None }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Counts>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn to_batch(&self) -> Result<RecordBatch> {
        let rows: Vec<(Key, Counts)> = self.lock().iter().map(|(k, c)| (k.clone(), c.clone())).collect();
        let text = |f: fn(&(Key, Counts)) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f)));
        let number = |f: fn(&Counts) -> i64| Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, c)| f(c))));
        Ok(RecordBatch::try_new(
            schema(),
            vec![
                text(|(k, _)| k.0.as_str()),
                text(|(k, _)| k.1.as_str()),
                Arc::new(StringArray::from_iter(rows.iter().map(|(k, _)| Some(k.2.as_str()).filter(|p| !p.is_empty())))),
                number(|c| c.received),
                number(|c| c.committed),
                number(|c| c.rejected),
                number(|c| c.duplicates),
                number(|c| c.received - c.committed - c.rejected - c.duplicates),
                number(|c| c.rows_received),
                number(|c| c.rows_committed),
                number(|c| c.rows_rejected),
                Arc::new(StringArray::from_iter(rows.iter().map(|(_, c)| c.last_error.as_deref()))),
                Arc::new(Int64Array::from_iter(rows.iter().map(|(_, c)| c.last_version))),
                Arc::new(TimestampMillisecondArray::from_iter(rows.iter().map(|(_, c)| c.last_commit)).with_timezone("UTC")),
                Arc::new(Float64Array::from_iter(rows.iter().map(|(_, c)| c.last_commit_seconds))),
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|(_, c)| c.in_flight.values().min().map_or(0.0, |oldest| oldest.elapsed().as_secs_f64())))),
            ],
        )?)
    }
}

impl Ticket {
    /// The batch was read: `rows` rows.
    pub fn read(&mut self, rows: u64) {
        self.rows = Some(rows);
        self.ingest.lock().entry(self.key.clone()).or_default().rows_received += rows as i64;
    }

    pub fn answered(mut self, outcome: Outcome) {
        self.answered = true;
        let mut counts = self.ingest.lock();
        let counts = counts.entry(self.key.clone()).or_default();
        counts.in_flight.remove(&self.id);
        match outcome {
            Outcome::Committed { rows, version } => {
                counts.committed += 1;
                counts.rows_committed += rows as i64;
                counts.last_version = version.map(|v| v as i64).or(counts.last_version);
                counts.last_commit = Some(chrono::Utc::now().timestamp_millis());
                counts.last_commit_seconds = Some(self.arrived.elapsed().as_secs_f64());
            }
            Outcome::Duplicate => counts.duplicates += 1,
            Outcome::Rejected { sqlstate, message } => {
                counts.rejected += 1;
                counts.rows_rejected += self.rows.unwrap_or(0) as i64;
                counts.last_error = Some(format!("{sqlstate}: {message}"));
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.answered {
            let mut counts = self.ingest.lock();
            let counts = counts.entry(self.key.clone()).or_default();
            counts.in_flight.remove(&self.id);
            counts.rejected += 1;
            counts.rows_rejected += self.rows.unwrap_or(0) as i64;
            counts.last_error = Some("57014: the client went away before the batch was answered".into());
        }
    }
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("endpoint", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("producer", DataType::Utf8, true),
        Field::new("batches_received", DataType::Int64, false),
        Field::new("batches_committed", DataType::Int64, false),
        Field::new("batches_rejected", DataType::Int64, false),
        Field::new("duplicates_ignored", DataType::Int64, false),
        Field::new("in_flight", DataType::Int64, false),
        Field::new("rows_received", DataType::Int64, false),
        Field::new("rows_committed", DataType::Int64, false),
        Field::new("rows_rejected", DataType::Int64, false),
        Field::new("last_error", DataType::Utf8, true),
        Field::new("last_table_version", DataType::Int64, true),
        Field::new("last_commit", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
        Field::new("last_commit_seconds", DataType::Float64, true),
        Field::new("lag_seconds", DataType::Float64, false),
    ]))
}
