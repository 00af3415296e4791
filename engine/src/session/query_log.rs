//! `squall.query_log`: every statement a client sent, who sent it from where, how long it took,
//! how many rows it returned or changed and how it ended (its SQLSTATE). The audit trail: kept in
//! `<data-dir>/log/query_log.jsonl`, one JSON object per line, across restarts; only superusers
//! may read it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SquallError};

/// The system table's name in the `squall` schema.
pub const TABLE: &str = "query_log";

/// One statement, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When it started, in milliseconds since the Unix epoch.
    pub time: i64,
    pub user: String,
    pub client: String,
    pub statement: String,
    pub duration_ms: i64,
    /// Rows returned (queries) or written (INSERT); `None` for other commands and failures.
    pub rows: Option<i64>,
    /// `00000` for success.
    pub sqlstate: String,
}

/// The log file of one data directory.
pub struct QueryLog {
    path: PathBuf,
    /// Opened to append: each `write` is appended whole.
    file: File,
    /// Lines recorded while another session was writing (see [`QueryLog::record`]).
    pending: Mutex<Pending>,
    /// Signalled when a writer has written everything pending.
    written: Condvar,
    /// The `squall.query_log` provider, to recognise queries that read it.
    table: std::sync::OnceLock<Arc<dyn TableProvider>>,
}

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    /// A session is writing: it writes `lines` too before it stops.
    writing: bool,
    /// Readers waiting for the writing to end (a notification is a system call: only for them).
    readers: usize,
}

impl QueryLog {
    pub fn open(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("log");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("query_log.jsonl");
        let mut file = OpenOptions::new().create(true).append(true).read(true).open(&path)?;
        // A line cut short by a crash is ended, so the next entry starts on a line of its own.
        if ends_mid_line(&mut file)? {
            file.write_all(b"\n")?;
        }
        Ok(Self { path, file, pending: Default::default(), written: Condvar::new(), table: Default::default() })
    }

    /// Appends `entry`. Whole lines are written, so a crash leaves at most the last one cut
    /// short, which reading skips. Sessions that finish statements at once share `write`s (one
    /// system call per statement was a tenth of a short statement's cost): the first writes its
    /// line and then whatever the others added meanwhile, while they go on. A statement is never
    /// failed because it could not be logged.
    pub fn record(&self, entry: &Entry) {
        let mut line = Vec::with_capacity(192 + entry.statement.len());
        if serde_json::to_writer(&mut line, entry).is_err() {
            return;
        }
        line.push(b'\n');
        {
            let mut pending = self.pending();
            if pending.writing {
                pending.lines.extend_from_slice(&line);
                return;
            }
            pending.writing = true;
        }
        let mut lines = line;
        loop {
            if let Err(e) = (&self.file).write_all(&lines) {
                tracing::warn!(path = %self.path.display(), "could not write to the query log: {e}");
            }
            let mut pending = self.pending();
            if pending.lines.is_empty() {
                pending.writing = false;
                if pending.readers > 0 {
                    self.written.notify_all();
                }
                return;
            }
            lines.clear();
            std::mem::swap(&mut lines, &mut pending.lines);
        }
    }

    /// Every entry, oldest first; those recorded before the call included.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        {
            let mut pending = self.pending();
            pending.readers += 1;
            while pending.writing {
                pending = self.written.wait(pending).unwrap_or_else(|p| p.into_inner());
            }
            pending.readers -= 1;
        }
        let file = File::open(&self.path)?;
        Ok(BufReader::new(file).lines().map_while(|l| l.ok()).filter_map(|line| serde_json::from_str(&line).ok()).collect())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_table(&self, table: Arc<dyn TableProvider>) {
        let _ = self.table.set(table);
    }

    /// Whether `plan` reads `squall.query_log` (directly, in a subquery or through a view).
    pub fn is_read_by(&self, plan: &datafusion::logical_expr::LogicalPlan) -> bool {
        let Some(table) = self.table.get() else { return false };
        let mut reads = false;
        let _ = crate::routing::visit_scans(plan, &mut |provider| reads |= Arc::ptr_eq(provider, table));
        reads
    }
}

fn ends_mid_line(file: &mut File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("time", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("user", DataType::Utf8, false),
        Field::new("client", DataType::Utf8, false),
        Field::new("statement", DataType::Utf8, false),
        Field::new("duration_ms", DataType::Int64, false),
        Field::new("rows", DataType::Int64, true),
        Field::new("sqlstate", DataType::Utf8, false),
    ]))
}

pub fn to_batch(entries: &[Entry]) -> datafusion::error::Result<RecordBatch> {
    let text = |f: fn(&Entry) -> &str| Arc::new(StringArray::from_iter_values(entries.iter().map(f)));
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(TimestampMillisecondArray::from_iter_values(entries.iter().map(|e| e.time)).with_timezone("UTC")),
            text(|e| &e.user),
            text(|e| &e.client),
            text(|e| &e.statement),
            Arc::new(Int64Array::from_iter_values(entries.iter().map(|e| e.duration_ms))),
            Arc::new(Int64Array::from_iter(entries.iter().map(|e| e.rows))),
            text(|e| &e.sqlstate),
        ],
    )?)
}

/// `rows`, counted as they go; the entry is recorded when the stream ends or is dropped, with
/// the rows sent and the SQLSTATE of the error that ended it, if one did.
pub fn counted(rows: SendableRecordBatchStream, entry: Entry, started: Instant, log: Arc<QueryLog>) -> SendableRecordBatchStream {
    Box::pin(Counted { rows, entry: Some(entry), count: 0, started, log })
}

struct Counted {
    rows: SendableRecordBatchStream,
    /// `None` once recorded.
    entry: Option<Entry>,
    count: i64,
    started: Instant,
    log: Arc<QueryLog>,
}

impl Counted {
    fn record(&mut self, sqlstate: Option<String>) {
        if let Some(mut entry) = self.entry.take() {
            entry.duration_ms = self.started.elapsed().as_millis() as i64;
            match sqlstate {
                Some(code) => entry.sqlstate = code,
                None => entry.rows = Some(self.count),
            }
            self.log.record(&entry);
        }
    }
}

impl Stream for Counted {
    type Item = datafusion::error::Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.rows.as_mut().poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(batch))) => self.count += batch.num_rows() as i64,
            Poll::Ready(Some(Err(e))) => {
                let code = crate::error::classify_datafusion(e).0;
                self.record(Some(code.to_string()));
            }
            Poll::Ready(None) => self.record(None),
            Poll::Pending => {}
        }
        next
    }
}

impl RecordBatchStream for Counted {
    fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }
}

impl Drop for Counted {
    /// The client stopped reading: what was sent so far.
    fn drop(&mut self) {
        self.record(None);
    }
}

/// The error a non-superuser gets for reading the log, in PostgreSQL's words.
pub fn permission_denied() -> SquallError {
    SquallError::InsufficientPrivilege(format!("permission denied for table {TABLE}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(statement: &str, rows: Option<i64>, sqlstate: &str) -> Entry {
        Entry { time: 1, user: "squall".into(), client: "127.0.0.1:5000".into(), statement: statement.into(), duration_ms: 2, rows, sqlstate: sqlstate.into() }
    }

    #[test]
    fn entries_survive_reopening_and_a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let log = QueryLog::open(dir.path()).unwrap();
        log.record(&entry("SELECT 1", Some(1), "00000"));
        log.record(&entry("SELEC", None, "42601"));
        drop(log);
        // A crash mid-write leaves a partial line.
        std::fs::OpenOptions::new().append(true).open(dir.path().join("log/query_log.jsonl")).unwrap().write_all(b"{\"time\":3,\"us").unwrap();
        let log = QueryLog::open(dir.path()).unwrap();
        let entries = log.entries().unwrap();
        assert_eq!(entries, vec![entry("SELECT 1", Some(1), "00000"), entry("SELEC", None, "42601")]);
        log.record(&entry("SELECT 2", Some(1), "00000"));
        assert_eq!(log.entries().unwrap().len(), 3, "the next entry starts on a line of its own");
        assert_eq!(to_batch(&entries).unwrap().num_rows(), 2);
    }

    #[test]
    fn sessions_recording_at_once_lose_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(QueryLog::open(dir.path()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    for i in 0..500 {
                        log.record(&entry(&format!("SELECT {t}, {i}"), Some(i), "00000"));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut statements: Vec<String> = log.entries().unwrap().into_iter().map(|e| e.statement).collect();
        statements.sort();
        let mut expected: Vec<String> = (0..8).flat_map(|t| (0..500).map(move |i| format!("SELECT {t}, {i}"))).collect();
        expected.sort();
        assert_eq!(statements, expected);
    }
}
