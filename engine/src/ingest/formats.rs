//! The formats rows arrive in by HTTP and by pipes, read into batches of a table's columns (by
//! name, in any order; columns left out are NULL) without writing anything: the caller commits
//! them. A bad value is an error naming its line (and column, for CSV) as COPY names them
//! (`<table>, line 3, column id: ...`), and nothing of the input is taken.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::new_null_array;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;

use crate::copy::format::{Kind, Options};
use crate::copy::from_stdin::{decoded, Target};
use crate::engine::Engine;
use crate::error::{Result, SquallError};

/// One of the formats squall reads rows in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A header row naming the columns, then rows, as `COPY ... WITH (FORMAT csv, HEADER)`.
    Csv,
    /// One JSON object per line, keys naming columns (a key naming none is an error).
    Ndjson,
    /// An Arrow IPC stream.
    ArrowStream,
    /// A Parquet file.
    Parquet,
}

impl Format {
    /// A pipe's `FORMAT` word.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "csv" => Some(Self::Csv),
            "ndjson" | "jsonl" | "json" => Some(Self::Ndjson),
            "parquet" => Some(Self::Parquet),
            "arrow" => Some(Self::ArrowStream),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
            Self::ArrowStream => "arrow",
            Self::Parquet => "parquet",
        }
    }
}

/// `data` as batches of `target`'s table (its columns, types and NOT NULLs checked). `delimiter`
/// is CSV's field separator.
pub async fn read_rows(engine: &Engine, user: &str, target: &Target, format: Format, data: Bytes, delimiter: u8) -> Result<Vec<RecordBatch>> {
    let rows = match format {
        Format::Csv => csv(engine, user, &target.table, data, delimiter).await?,
        Format::Ndjson => ndjson(&target.table, &target.schema, &data)?,
        Format::ArrowStream => {
            let reader = datafusion::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(data.as_ref()), None).map_err(unreadable("the Arrow stream"))?;
            reader.map(|batch| by_name(&target.schema, batch.map_err(unreadable("the Arrow stream"))?)).collect::<Result<_>>()?
        }
        Format::Parquet => {
            let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(data)
                .map_err(unreadable("the Parquet file"))?
                .build()
                .map_err(unreadable("the Parquet file"))?;
            reader.map(|batch| by_name(&target.schema, batch.map_err(unreadable("the Parquet file"))?)).collect::<Result<_>>()?
        }
    };
    rows.into_iter().map(|batch| crate::storage::delta::write::conform(batch, &target.schema)).collect()
}

fn unreadable<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> SquallError {
    move |e| SquallError::WithContext { code: "22P02", message: format!("reading {what}: {e}"), context: String::new() }
}

/// A CSV input through COPY's own decoder: its header names the columns it holds.
async fn csv(engine: &Engine, user: &str, table: &str, data: Bytes, delimiter: u8) -> Result<Vec<RecordBatch>> {
    let header_line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let header_line = std::str::from_utf8(header_line).map_err(|_| SquallError::WithContext { code: "22021", message: "the CSV header is not UTF-8".into(), context: format!("{table}, line 1") })?;
    let columns: Vec<String> = header_line.trim_end_matches('\r').split(delimiter as char).map(|c| c.trim().trim_matches('"').to_lowercase()).collect();
    let mut options = Options::new(Kind::Csv);
    options.header = true;
    options.delimiter = delimiter;
    let target = Target::resolve(engine, user, table, &columns, options)?;
    decoded(&target, data).await
}

/// NDJSON rows as the table's columns (absent keys NULL); a line that does not fit is named.
fn ndjson(table: &str, schema: &SchemaRef, data: &[u8]) -> Result<Vec<RecordBatch>> {
    let nullable = Arc::new(Schema::new(schema.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect::<Vec<_>>()));
    let mut batches = Vec::new();
    for (index, line) in data.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        // Strict: a key the table has no column for is an error, not a value silently dropped.
        let mut decoder = datafusion::arrow::json::ReaderBuilder::new(Arc::clone(&nullable)).with_strict_mode(true).build_decoder()?;
        let bad = |e: ArrowError| SquallError::WithContext { code: "22P02", message: e.to_string(), context: format!("{table}, line {}", index + 1) };
        decoder.decode(line).map_err(bad)?;
        if let Some(batch) = decoder.flush().map_err(bad)? {
            batches.push(batch);
        }
    }
    Ok(batches)
}

/// `batch`'s columns by name, in the table's order: the input's own order may differ, and a
/// column it leaves out is NULL (refused with 23502 when NOT NULL, by `conform`).
fn by_name(schema: &SchemaRef, batch: RecordBatch) -> Result<RecordBatch> {
    if let Some(extra) = batch.schema().fields().iter().find(|f| schema.field_with_name(f.name()).is_err()) {
        return Err(SquallError::UndefinedColumn(format!("the table has no column \"{}\"", extra.name())));
    }
    let columns: Vec<_> =
        schema.fields().iter().map(|f| batch.column_by_name(f.name()).cloned().unwrap_or_else(|| new_null_array(f.data_type(), batch.num_rows()))).collect();
    let fields: Vec<Field> = schema.fields().iter().zip(&columns).map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true)).collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}
