//! The training rows of the algorithms that fit in one place (`ml::algorithms::gathered`),
//! gathered by an aggregate so that the scan and the filtering run on the executors. Beyond the
//! cap it keeps a uniform sample: each row comes with a key in [0, 1) from a seeded hash of the
//! row (`squall_row_fraction`), and the rows of the `cap` smallest keys survive every merge, so
//! the sample is the same whatever the partitioning. Rows with a NULL among the columns are
//! counted, not kept.
//!
//! The result is an Arrow IPC stream: a `key` column and the columns as `c0, c1, ...`, with
//! `rows_seen` and `null_rows` in the schema metadata.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{concat_batches, filter, sort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{Field, Float64Type, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::error::Result;

use super::blob_aggregate::Partial;
use crate::ml::error::coded;
use crate::ml::features::null_rows;

/// A partial sample of at most `cap` rows, fed the key and then the columns.
pub fn partial(cap: u64) -> Box<dyn Partial> {
    Box::new(SamplePartial { cap: cap.max(1) as usize, ..Default::default() })
}

/// A decoded sample.
pub struct Sample {
    /// The sampled rows: `c0, c1, ...` (the key column removed).
    pub columns: Vec<ArrayRef>,
    pub rows_seen: u64,
    pub null_rows: u64,
}

/// Reads the aggregate's result.
pub fn decode(bytes: &[u8]) -> Result<Sample> {
    if bytes.is_empty() {
        return Ok(Sample { columns: vec![], rows_seen: 0, null_rows: 0 });
    }
    let (batch, seen, nulls) = read(bytes)?;
    Ok(Sample { columns: batch.columns()[1..].to_vec(), rows_seen: seen, null_rows: nulls })
}

#[derive(Debug, Default)]
struct SamplePartial {
    cap: usize,
    rows_seen: u64,
    null_rows: u64,
    schema: Option<SchemaRef>,
    batches: Vec<RecordBatch>,
    rows: usize,
}

impl SamplePartial {
    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if self.schema.is_none() {
            self.schema = Some(Arc::new(Schema::new(batch.schema().fields().clone())));
        }
        self.rows += batch.num_rows();
        self.batches.push(batch);
        // Compact only when well over the cap, so the sort runs rarely.
        if self.cap > 0 && self.rows > 2 * self.cap + 8192 {
            self.compact()?;
        }
        Ok(())
    }

    /// Keeps the `cap` rows with the smallest keys.
    fn compact(&mut self) -> Result<()> {
        let Some(schema) = &self.schema else { return Ok(()) };
        let all = concat_batches(schema, &self.batches)?;
        let kept = if self.cap > 0 && all.num_rows() > self.cap {
            let order = sort_to_indices(all.column(0), None, Some(self.cap))?;
            take_record_batch(&all, &order)?
        } else {
            all
        };
        self.rows = kept.num_rows();
        self.batches = vec![kept];
        Ok(())
    }
}

impl Partial for SamplePartial {
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(keys) = values[0].as_primitive_opt::<Float64Type>() else {
            return Err(coded("XX000", "a training sample's rows come with a double key first"));
        };
        let columns = &values[1..];
        let rows = values[0].len();
        let nulls = null_rows(columns, rows);
        let keep: BooleanArray = nulls.iter().map(|n| Some(!n)).collect();
        let kept = keep.true_count();
        self.null_rows += (rows - kept) as u64;
        self.rows_seen += kept as u64;
        let keys: ArrayRef = Arc::new(keys.clone());
        let mut fields = vec![Field::new("key", keys.data_type().clone(), false)];
        let mut arrays = vec![filter(&keys, &keep)?];
        for (i, column) in columns.iter().enumerate() {
            fields.push(Field::new(format!("c{i}"), column.data_type().clone(), true));
            arrays.push(filter(column, &keep)?);
        }
        self.push(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let (batch, seen, nulls) = read(bytes)?;
        self.rows_seen += seen;
        self.null_rows += nulls;
        let cap: usize = batch.schema().metadata().get("cap").and_then(|c| c.parse().ok()).unwrap_or(0);
        self.cap = self.cap.max(cap);
        let batch = RecordBatch::try_new(Arc::new(Schema::new(batch.schema().fields().clone())), batch.columns().to_vec())?;
        self.push(batch)
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        self.compact()?;
        let Some(schema) = &self.schema else { return Ok(vec![]) };
        let metadata = HashMap::from([
            ("rows_seen".to_string(), self.rows_seen.to_string()),
            ("null_rows".to_string(), self.null_rows.to_string()),
            ("cap".to_string(), self.cap.to_string()),
        ]);
        let schema = Arc::new(Schema::new_with_metadata(schema.fields().clone(), metadata));
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, &schema)?;
        for batch in &self.batches {
            writer.write(&RecordBatch::try_new(Arc::clone(&schema), batch.columns().to_vec())?)?;
        }
        writer.finish()?;
        drop(writer);
        Ok(bytes)
    }

    fn size(&self) -> usize {
        self.batches.iter().map(|b| b.get_array_memory_size()).sum()
    }
}

fn read(bytes: &[u8]) -> Result<(RecordBatch, u64, u64)> {
    let reader = StreamReader::try_new(bytes, None)?;
    let schema = reader.schema();
    let meta = |k: &str| schema.metadata().get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let (seen, nulls) = (meta("rows_seen"), meta("null_rows"));
    let batches: Vec<RecordBatch> = reader.collect::<std::result::Result<_, _>>()?;
    let batch = concat_batches(&schema, &batches).map_err(|e| coded("XX000", format!("reading a training sample: {e}")))?;
    Ok((batch, seen, nulls))
}
