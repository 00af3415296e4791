//! `squall_row_fraction(seed, column, ...)`: a number in [0, 1) determined by the row's values
//! and the seed alone. TRAIN MODEL's holdout split keeps rows whose fraction is below `holdout`
//! for evaluation, so the split is the same however the rows are partitioned, on every run.
//!
//! Training computes it in every pass, over the same rows each time (the executors replay the
//! batches they kept), and hashing every value of every row was a fifth of a pass: each
//! process keeps the fractions of the batches it read in a [`BatchMemo`] (up to
//! [`MEMO_BYTES`], dropped when idle for [`MEMO_IDLE`]).

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use crate::ml::batch_memo::SharedMemo;
use crate::ml::error::invalid;
use crate::ml::row_hash;

/// Bytes of kept fractions (and the columns they are of) one process holds.
const MEMO_BYTES: usize = 1_000_000_000;
/// Kept fractions unused this long are dropped.
const MEMO_IDLE: Duration = Duration::from_secs(300);

/// Per batch of rows: the seed and the fractions.
static MEMO: SharedMemo<(u64, ArrayRef)> = SharedMemo::new(MEMO_BYTES, MEMO_IDLE);

/// The fractions of a batch's rows (`columns`) for `seed`.
fn fractions(seed: u64, columns: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let kept = MEMO.take(columns).filter(|(kept_seed, _)| *kept_seed == seed);
    let fractions = match kept {
        Some((_, fractions)) => fractions,
        None => {
            let hashes = row_hash::hashes(seed, columns, rows)?;
            Arc::new(hashes.into_iter().map(row_hash::fraction).collect::<Float64Array>())
        }
    };
    MEMO.put(columns, (seed, Arc::clone(&fractions)), rows * 8);
    Ok(fractions)
}

pub const NAME: &str = "squall_row_fraction";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RowFraction {
    signature: Signature,
}

impl Default for RowFraction {
    fn default() -> Self {
        Self { signature: Signature::variadic_any(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for RowFraction {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let seed = arrays[0].as_primitive_opt::<Int64Type>().filter(|s| !s.is_empty() && s.is_valid(0));
        let Some(seed) = seed else {
            return Err(invalid(format!("{NAME} takes a bigint seed first")));
        };
        Ok(ColumnarValue::Array(fractions(seed.value(0) as u64, &arrays[1..], rows)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_fractions_are_the_ones_computed_for_that_seed() {
        let columns: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(vec![1.0, 2.5, -3.0])), Arc::new(datafusion::arrow::array::StringArray::from(vec!["a", "b", "c"]))];
        let want = |seed: u64| -> Vec<f64> { row_hash::hashes(seed, &columns, 3).unwrap().into_iter().map(row_hash::fraction).collect() };
        for seed in [7, 7, 8, 7] {
            let got = fractions(seed, &columns, 3).unwrap();
            assert_eq!(got.as_primitive::<datafusion::arrow::datatypes::Float64Type>().values().to_vec(), want(seed));
        }
        // The same values in other buffers are found too.
        let copy: Vec<ArrayRef> = columns.iter().map(|c| datafusion::arrow::array::make_array(c.to_data())).collect();
        assert_eq!(fractions(8, &copy, 3).unwrap().as_primitive::<datafusion::arrow::datatypes::Float64Type>().values().to_vec(), want(8));
    }
}
