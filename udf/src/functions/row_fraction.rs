//! `squall_row_fraction(seed, column, ...)`: a number in [0, 1) determined by the row's values
//! and the seed alone. TRAIN MODEL's holdout split keeps rows whose fraction is below `holdout`
//! for evaluation, so the split is the same however the rows are partitioned, on every run.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use crate::ml::error::invalid;
use crate::ml::row_hash;

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
        let hashes = row_hash::hashes(seed.value(0) as u64, &arrays[1..], rows)?;
        let fractions: Float64Array = hashes.into_iter().map(row_hash::fraction).collect();
        Ok(ColumnarValue::Array(Arc::new(fractions)))
    }
}
