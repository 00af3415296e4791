//! `squall_single_row_value(rows, value)`: the value of a scalar subquery that gave `rows` rows,
//! or PostgreSQL's error 21000 when it gave more than one (see [`super::single_row`]).

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{cast::as_int64_array, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

pub const NAME: &str = "squall_single_row_value";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SingleRowValue {
    signature: Signature,
}

impl SingleRowValue {
    pub fn new() -> Self {
        Self { signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl Default for SingleRowValue {
    fn default() -> Self {
        Self::new()
    }
}

fn too_many_rows() -> datafusion::error::DataFusionError {
    crate::ml::error::coded("21000", "more than one row returned by a subquery used as an expression")
}

impl ScalarUDFImpl for SingleRowValue {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[1].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [rows, value] = args.args.as_slice() else { unreachable!("the signature takes two arguments") };
        match rows {
            ColumnarValue::Scalar(ScalarValue::Int64(Some(n))) if *n > 1 => Err(too_many_rows()),
            ColumnarValue::Scalar(_) => Ok(value.clone()),
            ColumnarValue::Array(rows) => {
                let rows: &Int64Array = as_int64_array(rows)?;
                if rows.iter().flatten().any(|n| n > 1) {
                    return Err(too_many_rows());
                }
                Ok(value.clone())
            }
        }
    }
}
