//! `COPY t FROM STDIN`: the client's data flows through a bounded channel (so a fast client waits
//! for squall instead of filling its memory), is cut into records and typed in batches, and is
//! written to one staged Parquet file that joins the table only when the client's CopyDone arrives
//! and every row was good. A bad row fails the COPY with its line number and the table is as it
//! was; so is it when the client sends CopyFail or goes away.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{new_null_array, Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use tokio::sync::mpsc;

use super::binary::BinaryDecoder;
use super::format::{BadRecord, Decoder, Kind, Options, Record};
use crate::storage::catalog::Entry;
use crate::engine::Engine;
use crate::error::{Result, SquallError};

/// Rows typed and written at a time.
const BATCH_ROWS: usize = 8192;
/// Chunks of client data in flight between the connection and the loader.
const CHUNKS_IN_FLIGHT: usize = 16;

/// What a COPY FROM loads into.
#[derive(Debug, Clone)]
pub struct Target {
    pub table: String,
    /// Where the table is, and who commits to it.
    pub url: url::Url,
    pub committer: crate::storage::delta::write::Committer,
    pub schema: SchemaRef,
    /// For each input field, the index of its table column.
    pub columns: Vec<usize>,
    pub options: Options,
}

impl Target {
    /// The managed table `table`, with `columns` named (none: all, in order).
    pub fn resolve(engine: &Engine, user: &str, table: &str, columns: &[String], options: Options) -> Result<Self> {
        let (url, schema) = match engine.catalog.get(table) {
            Some(Entry::Managed { schema, location, .. }) => (engine.tables.url_of(table, location.as_deref())?, Arc::new(schema)),
            Some(Entry::External { .. }) => {
                return Err(SquallError::Unsupported(format!("cannot copy to external table \"{table}\": squall does not write files it does not own")))
            }
            Some(Entry::View { .. }) => return Err(SquallError::WrongObjectType(format!("cannot copy to view \"{table}\""))),
            None => return Err(SquallError::UndefinedTable(format!("relation \"{table}\" does not exist"))),
        };
        let columns = if columns.is_empty() {
            (0..schema.fields().len()).collect()
        } else {
            let mut indexes = Vec::with_capacity(columns.len());
            for name in columns {
                let index = schema.index_of(name).map_err(|_| SquallError::UndefinedColumn(format!("column \"{name}\" of relation \"{table}\" does not exist")))?;
                if indexes.contains(&index) {
                    return Err(SquallError::Syntax(format!("column \"{name}\" specified more than once")));
                }
                indexes.push(index);
            }
            indexes
        };
        Ok(Self { table: table.to_string(), url, committer: crate::storage::delta::write::Committer { user: user.to_string() }, schema, columns, options })
    }
}

enum Chunk {
    Data(Bytes),
    /// The client sent CopyDone. Without it the copy never commits: a connection that closes
    /// mid-copy drops the sender, which the loader takes as an abort.
    End,
    /// The client sent CopyFail with this message.
    Abort(String),
}

/// A COPY FROM STDIN under way.
pub struct CopyIn {
    chunks: mpsc::Sender<Chunk>,
    loader: tokio::task::JoinHandle<Result<u64>>,
}

impl CopyIn {
    pub fn start(engine: Arc<Engine>, target: Target) -> Self {
        let (chunks, received) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let loader = tokio::spawn(load(engine, target, received));
        Self { chunks, loader }
    }

    /// A sender for the client's data; it waits while the loader is behind.
    pub fn sender(&self) -> CopySender {
        CopySender(self.chunks.clone())
    }

    /// The client sent CopyDone: the rows loaded, once they are part of the table.
    pub async fn finish(self) -> Result<u64> {
        // Refused only when the decoder has stopped on an error, which the loader then reports.
        let _ = self.chunks.send(Chunk::End).await;
        drop(self.chunks);
        self.loader.await.map_err(|e| SquallError::Internal(format!("the COPY loader stopped: {e}")))?
    }

    /// The client sent CopyFail: nothing is loaded.
    pub async fn abort(self, message: String) -> SquallError {
        let _ = self.chunks.send(Chunk::Abort(message.clone())).await;
        drop(self.chunks);
        match self.loader.await {
            Ok(Err(e)) => e,
            _ => SquallError::QueryCanceled(format!("COPY from stdin failed: {message}")),
        }
    }
}

#[derive(Clone)]
pub struct CopySender(mpsc::Sender<Chunk>);

impl CopySender {
    /// Passes on a chunk of data; after a bad row the rest is discarded (the error is reported
    /// when the client ends the copy, as PostgreSQL does).
    pub async fn send(&self, data: Bytes) {
        let _ = self.0.send(Chunk::Data(data)).await;
    }
}

/// `data`, whole, as typed batches of the target's columns, without writing them (rows sent over
/// HTTP, committed by the table's group committer).
pub async fn decoded(target: &Target, data: Bytes) -> Result<Vec<RecordBatch>> {
    let (chunks, received) = mpsc::channel(2);
    let (batches, mut typed) = mpsc::channel::<datafusion::error::Result<RecordBatch>>(CHUNKS_IN_FLIGHT);
    let decoding = tokio::spawn(decode(target.clone(), received, batches));
    let _ = chunks.send(Chunk::Data(data)).await;
    let _ = chunks.send(Chunk::End).await;
    let mut rows = Vec::new();
    while let Some(Ok(batch)) = typed.recv().await {
        rows.push(batch);
    }
    decoding.await.map_err(|e| SquallError::Internal(format!("the COPY decoder stopped: {e}")))??;
    Ok(rows)
}

async fn load(engine: Arc<Engine>, target: Target, chunks: mpsc::Receiver<Chunk>) -> Result<u64> {
    let (batches, typed) = mpsc::channel::<datafusion::error::Result<RecordBatch>>(2);
    let decoding = tokio::spawn(decode(target.clone(), chunks, batches));
    let stream = futures::stream::unfold(typed, |mut typed| async move { typed.recv().await.map(|batch| (batch, typed)) });
    let rows = Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&target.schema), stream));
    let written = engine.tables.append(&target.url, Arc::clone(&target.schema), rows, &target.committer, None).await;
    // The decoder's error says which line was bad; the write's only that the input failed.
    decoding.await.map_err(|e| SquallError::Internal(format!("the COPY decoder stopped: {e}")))??;
    let rows = written?;
    engine.tables.after_append(&target.url);
    if !matches!(engine.catalog.get(&target.table), Some(Entry::Managed { .. })) {
        return Err(SquallError::UndefinedTable(format!("relation \"{}\" was dropped during the COPY", target.table)));
    }
    Ok(rows)
}

/// Reads the client's chunks into typed batches for the stage; on the first error, stops reading
/// and fails the stage so that its file is removed.
async fn decode(target: Target, mut chunks: mpsc::Receiver<Chunk>, batches: mpsc::Sender<datafusion::error::Result<RecordBatch>>) -> Result<()> {
    let result = async {
        let mut decoder = InputDecoder::new(&target);
        let mut records = Vec::new();
        loop {
            let more = match chunks.recv().await {
                Some(Chunk::Data(data)) => {
                    decoder.push(&data, &mut records).map_err(|bad| bad_record(&target, bad))?;
                    true
                }
                Some(Chunk::Abort(message)) => return Err(SquallError::QueryCanceled(format!("COPY from stdin failed: {message}"))),
                None => return Err(SquallError::QueryCanceled("COPY from stdin failed: the client went away".into())),
                Some(Chunk::End) => {
                    decoder.finish(&mut records).map_err(|bad| bad_record(&target, bad))?;
                    false
                }
            };
            while records.len() >= BATCH_ROWS || (!more && !records.is_empty()) {
                let take = records.len().min(BATCH_ROWS);
                let batch = typed(&target, &records[..take])?;
                records.drain(..take);
                if batches.send(Ok(batch)).await.is_err() {
                    return Err(SquallError::Internal("the COPY writer stopped".into()));
                }
            }
            if !more {
                return Ok(());
            }
        }
    }
    .await;
    if result.is_err() {
        let _ = batches.send(Err(DataFusionError::Execution("COPY input failed".into()))).await;
    }
    result
}

/// The decoder of the COPY's format.
enum InputDecoder {
    Text(Decoder),
    Binary(BinaryDecoder),
}

impl InputDecoder {
    fn new(target: &Target) -> Self {
        match target.options.kind {
            Kind::Binary => Self::Binary(BinaryDecoder::new(target.columns.iter().map(|&c| target.schema.field(c).data_type().clone()).collect())),
            _ => Self::Text(Decoder::new(target.options.clone())),
        }
    }

    fn push(&mut self, chunk: &[u8], out: &mut Vec<Record>) -> Result<(), BadRecord> {
        match self {
            Self::Text(d) => d.push(chunk, out),
            Self::Binary(d) => d.push(chunk, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<Record>) -> Result<(), BadRecord> {
        match self {
            Self::Text(d) => d.finish(out),
            Self::Binary(d) => d.finish(out),
        }
    }
}

/// The records as a batch of the table's columns; a value that does not fit its column's type
/// fails with its line, column and text.
fn typed(target: &Target, records: &[Record]) -> Result<RecordBatch> {
    let expected = target.columns.len();
    for record in records {
        if record.fields.len() > expected {
            return Err(copy_error(target, record.line, "22P04", "extra data after last expected column".into(), None));
        }
        if record.fields.len() < expected {
            let missing = target.schema.field(target.columns[record.fields.len()]).name();
            return Err(copy_error(target, record.line, "22P04", format!("missing data for column \"{missing}\""), None));
        }
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(target.schema.fields().len());
    for (index, field) in target.schema.fields().iter().enumerate() {
        let Some(position) = target.columns.iter().position(|&c| c == index) else {
            if !field.is_nullable() {
                let line = records.first().map_or(0, |r| r.line);
                return Err(not_null(target, line, field.name()));
            }
            columns.push(new_null_array(field.data_type(), records.len()));
            continue;
        };
        let text = StringArray::from_iter(records.iter().map(|r| r.fields[position].as_deref()));
        let array: ArrayRef = if field.data_type() == &DataType::Utf8 {
            Arc::new(text.clone())
        } else if field.data_type() == &DataType::Binary {
            Arc::new(bytea_from_text(&text))
        } else {
            cast_with_options(&text, field.data_type(), &CastOptions { safe: true, ..Default::default() })?
        };
        if array.null_count() != text.null_count() {
            let row = (0..text.len()).find(|&i| array.is_null(i) && !text.is_null(i)).expect("a value that did not convert");
            let value = text.value(row);
            let message = format!("invalid input syntax for type {}: \"{value}\"", sql_type_name(field.data_type()));
            return Err(copy_error(target, records[row].line, "22P02", message, Some((field.name(), value))));
        }
        if !field.is_nullable() {
            if let Some(row) = (0..text.len()).find(|&i| text.is_null(i)) {
                return Err(not_null(target, records[row].line, field.name()));
            }
        }
        columns.push(array);
    }
    Ok(RecordBatch::try_new(Arc::clone(&target.schema), columns)?)
}

/// bytea's text input: `\x` then hex digits, or the bytes as written; a malformed hex form is NULL
/// here, reported by the caller as invalid input.
fn bytea_from_text(text: &StringArray) -> datafusion::arrow::array::BinaryArray {
    text.iter()
        .map(|value| {
            let value = value?;
            match value.strip_prefix("\\x") {
                Some(hex) if hex.len() % 2 == 0 => (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect::<Option<Vec<u8>>>(),
                Some(_) => None,
                None => Some(value.as_bytes().to_vec()),
            }
        })
        .collect()
}

fn not_null(target: &Target, line: u64, column: &str) -> SquallError {
    let message = format!("null value in column \"{column}\" of relation \"{}\" violates not-null constraint", target.table);
    copy_error(target, line, "23502", message, None)
}

fn bad_record(target: &Target, bad: BadRecord) -> SquallError {
    copy_error(target, bad.line, bad.code, bad.message, None)
}

/// PostgreSQL's form: the message, and `COPY t, line 3, column a: "x"` as its context.
fn copy_error(target: &Target, line: u64, code: &'static str, message: String, column: Option<(&str, &str)>) -> SquallError {
    let context = match column {
        Some((name, value)) => format!("COPY {}, line {line}, column {name}: \"{value}\"", target.table),
        None => format!("COPY {}, line {line}", target.table),
    };
    SquallError::WithContext { code, message, context }
}

/// The type's name as PostgreSQL writes it in messages.
pub(crate) fn sql_type_name(t: &DataType) -> String {
    match t {
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "integer".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond) => "time".into(),
        DataType::Decimal128(..) | DataType::Decimal256(..) => "numeric".into(),
        DataType::Binary | DataType::LargeBinary => "bytea".into(),
        DataType::Interval(_) => "interval".into(),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::format::Kind;
    use datafusion::arrow::datatypes::{Field, Schema};

    fn target() -> Target {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("price", DataType::Float64, true),
            Field::new("note", DataType::Utf8, true),
        ]));
        Target { table: "t".into(), url: url::Url::parse("file:///t/").unwrap(), committer: crate::storage::delta::write::Committer { user: "test".into() }, schema, columns: vec![0, 1, 2], options: Options::new(Kind::Text) }
    }

    fn record(line: u64, fields: &[Option<&str>]) -> Record {
        Record { line, fields: fields.iter().map(|f| f.map(String::from)).collect() }
    }

    fn context(e: SquallError) -> (String, String, String) {
        match e {
            SquallError::WithContext { code, message, context } => (code.to_string(), message, context),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_are_typed() {
        let batch = typed(&target(), &[record(1, &[Some("1"), Some("2.5"), None]), record(2, &[Some("2"), None, Some("x")])]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(1).null_count(), 1);
    }

    #[test]
    fn a_bad_value_names_its_line_and_column() {
        let err = typed(&target(), &[record(1, &[Some("1"), Some("2"), None]), record(7, &[Some("2"), Some("cheap"), None])]).unwrap_err();
        assert_eq!(
            context(err),
            ("22P02".into(), "invalid input syntax for type double precision: \"cheap\"".into(), "COPY t, line 7, column price: \"cheap\"".into())
        );
        let err = typed(&target(), &[record(3, &[None, Some("2"), None])]).unwrap_err();
        assert_eq!(context(err).0, "23502");
        let err = typed(&target(), &[record(4, &[Some("1"), Some("2")])]).unwrap_err();
        assert_eq!(context(err), ("22P04".into(), "missing data for column \"note\"".into(), "COPY t, line 4".into()));
        let err = typed(&target(), &[record(5, &[Some("1"), Some("2"), None, Some("4")])]).unwrap_err();
        assert_eq!(context(err).1, "extra data after last expected column");
    }
}
