//! A sample of a pass's rows that the coordinator can hold: the complete rows (no NULL) with the
//! smallest row keys, at most `capacity` of them. The key is a seeded hash of the row's values,
//! so the sample is the same rows however they are partitioned (the rule `max_training_rows`
//! follows), and its rows come out sorted by key, in the same order on every run. Partial samples
//! travel as Arrow IPC: the columns as the pass read them, a key column first.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, RecordBatch};
use datafusion::arrow::compute::{concat_batches, filter_record_batch, sort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::error::Result;

use crate::ml::error::coded;
use crate::ml::features::null_rows;

#[derive(Debug)]
pub struct KeySample {
    capacity: usize,
    batches: Vec<RecordBatch>,
    rows: usize,
    /// Once `capacity` rows are held, a row must have a key below the largest held to enter.
    threshold: f64,
}

impl KeySample {
    pub fn new(capacity: usize) -> KeySample {
        KeySample { capacity, batches: Vec::new(), rows: 0, threshold: f64::INFINITY }
    }

    /// Offers a batch: `keys` in [0, 1) and the row's columns.
    pub fn add(&mut self, keys: &Float64Array, columns: &[ArrayRef]) -> Result<()> {
        let nulls = null_rows(columns, keys.len());
        let chosen: BooleanArray =
            (0..keys.len()).map(|row| Some(keys.is_valid(row) && !nulls[row] && keys.value(row) < self.threshold)).collect();
        if chosen.true_count() == 0 {
            return Ok(());
        }
        let batch = with_key(Arc::new(keys.clone()), columns)?;
        self.push(filter_record_batch(&batch, &chosen)?)
    }

    /// Adds another node's sample, as [`KeySample::to_bytes`] wrote it.
    pub fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let reader = StreamReader::try_new(bytes, None)?;
        for batch in reader {
            self.push(batch?)?;
        }
        Ok(())
    }

    pub fn to_bytes(&mut self) -> Result<Vec<u8>> {
        let Some(rows) = self.sorted()? else { return Ok(Vec::new()) };
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, &rows.schema())?;
        writer.write(&rows)?;
        writer.finish()?;
        drop(writer);
        Ok(bytes)
    }

    /// The sample, by key: column 0 the keys, then the columns as offered. `None` when no row
    /// was complete.
    pub fn sorted(&mut self) -> Result<Option<RecordBatch>> {
        self.compact()?;
        Ok(self.batches.first().cloned())
    }

    /// Roughly the bytes it holds.
    pub fn size(&self) -> usize {
        self.batches.iter().map(|b| b.get_array_memory_size()).sum::<usize>() + 64
    }

    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        self.rows += batch.num_rows();
        self.batches.push(batch);
        // Sorting when twice full keeps the work per row offered constant.
        if self.rows > self.capacity.max(1024).saturating_mul(2) {
            self.compact()?;
        }
        Ok(())
    }

    /// Leaves one batch: the `capacity` rows of smallest key, sorted by it.
    fn compact(&mut self) -> Result<()> {
        let Some(first) = self.batches.first() else { return Ok(()) };
        let all = concat_batches(&first.schema(), &self.batches)?;
        // A stable sort: rows of equal keys are (but for a one-in-2^53 chance) equal rows.
        let order = sort_to_indices(all.column(0), None, Some(self.capacity))?;
        let kept = take_record_batch(&all, &order)?;
        if kept.num_rows() == self.capacity {
            let keys = kept.column(0).as_any().downcast_ref::<Float64Array>().expect("keys");
            self.threshold = keys.value(self.capacity - 1);
        }
        self.rows = kept.num_rows();
        self.batches = vec![kept];
        Ok(())
    }
}

fn with_key(keys: ArrayRef, columns: &[ArrayRef]) -> Result<RecordBatch> {
    let arrays: Vec<ArrayRef> = std::iter::once(keys).chain(columns.iter().cloned()).collect();
    let schema: SchemaRef = Arc::new(Schema::new(
        arrays.iter().enumerate().map(|(i, a)| Field::new(format!("c{i}"), a.data_type().clone(), true)).collect::<Vec<_>>(),
    ));
    RecordBatch::try_new(schema, arrays).map_err(|e| coded("XX000", format!("keeping a sample of the training rows: {e}")))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, StringArray};
    use datafusion::arrow::datatypes::Float64Type;

    use super::*;

    fn offer(sample: &mut KeySample, keys: Vec<f64>, labels: Vec<Option<&str>>) {
        let labels: ArrayRef = Arc::new(StringArray::from(labels));
        sample.add(&Float64Array::from(keys), &[labels]).unwrap();
    }

    #[test]
    fn keeps_the_smallest_keys_however_the_rows_are_split() {
        let keys: Vec<f64> = (0..5000).map(|i| ((i * 7919) % 5000) as f64 / 5000.0).collect();
        let labels: Vec<String> = (0..5000).map(|i| format!("r{i}")).collect();
        let whole = {
            let mut s = KeySample::new(1500);
            offer(&mut s, keys.clone(), labels.iter().map(|l| Some(l.as_str())).collect());
            s.sorted().unwrap().unwrap()
        };
        // Three partitions, merged in another order through their bytes.
        let mut parts: Vec<KeySample> = (0..3).map(|_| KeySample::new(1500)).collect();
        for (i, (k, l)) in keys.iter().zip(&labels).enumerate() {
            offer(&mut parts[i % 3], vec![*k], vec![Some(l.as_str())]);
        }
        let mut merged = KeySample::new(1500);
        for part in parts.iter_mut().rev() {
            merged.merge(&part.to_bytes().unwrap()).unwrap();
        }
        let merged = merged.sorted().unwrap().unwrap();
        assert_eq!(whole.num_rows(), 1500);
        assert_eq!(merged, whole);
        let got = merged.column(0).as_primitive::<Float64Type>();
        assert!(got.values().windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(got.value(1499), 1499.0 / 5000.0);
    }

    #[test]
    fn leaves_out_rows_with_a_null() {
        let mut s = KeySample::new(10);
        offer(&mut s, vec![0.1, 0.2, 0.3], vec![Some("a"), None, Some("c")]);
        let rows = s.sorted().unwrap().unwrap();
        assert_eq!(rows.num_rows(), 2);
        assert_eq!(rows.column(1).as_string::<i32>().value(1), "c");
        assert!(KeySample::new(10).sorted().unwrap().is_none());
    }
}
