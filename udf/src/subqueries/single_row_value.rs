//! `squall_single_row_value(rows, value)`: the value of a scalar subquery that gave `rows` rows,
//! or PostgreSQL's error 21000 when it gave more than one (see [`super::single_row`]).
//!
//! `squall_single_row_value(counted)` takes the two as one struct `{rows, value}`, the one
//! column a scalar subquery can give: the subquery counts, and the call stands where the
//! subquery stood, so that the check is made only where PostgreSQL evaluates the subquery (not
//! in a CASE branch no row takes, nor for an outer query without rows).

use datafusion::arrow::array::{Array, Int64Array, StructArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{cast::as_int64_array, exec_err, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

pub const NAME: &str = "squall_single_row_value";

/// The names of the struct's fields.
pub const ROWS: &str = "rows";
pub const VALUE: &str = "value";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SingleRowValue {
    signature: Signature,
}

impl SingleRowValue {
    pub fn new() -> Self {
        Self { signature: Signature::variadic_any(Volatility::Immutable) }
    }
}

impl Default for SingleRowValue {
    fn default() -> Self {
        Self::new()
    }
}

/// 21000, as PostgreSQL words it.
pub fn too_many_rows() -> datafusion::error::DataFusionError {
    crate::ml::error::coded("21000", "more than one row returned by a subquery used as an expression")
}

/// Fails if any of `rows` is above 1.
fn check(rows: &ColumnarValue) -> Result<()> {
    match rows {
        ColumnarValue::Scalar(ScalarValue::Int64(Some(n))) if *n > 1 => Err(too_many_rows()),
        ColumnarValue::Scalar(_) => Ok(()),
        ColumnarValue::Array(rows) => {
            let rows: &Int64Array = as_int64_array(rows)?;
            if rows.iter().flatten().any(|n| n > 1) {
                return Err(too_many_rows());
            }
            Ok(())
        }
    }
}

impl ScalarUDFImpl for SingleRowValue {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [_, value] => Ok(value.clone()),
            [DataType::Struct(fields)] if fields.len() == 2 => Ok(fields[1].data_type().clone()),
            _ => exec_err!("{NAME} takes (rows, value) or a struct of the two"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.as_slice() {
            [rows, value] => {
                check(rows)?;
                Ok(value.clone())
            }
            [counted] => {
                let counted = counted.to_array(args.number_rows)?;
                let counted = counted.as_any().downcast_ref::<StructArray>().expect("the return type checked a struct");
                let rows: &Int64Array = as_int64_array(counted.column(0))?;
                if (0..rows.len()).any(|i| counted.is_valid(i) && rows.is_valid(i) && rows.value(i) > 1) {
                    return Err(too_many_rows());
                }
                // A NULL struct (no row of the subquery joined) is a NULL value.
                let value = counted.column(1).clone();
                Ok(ColumnarValue::Array(match counted.nulls() {
                    Some(nulls) if nulls.null_count() > 0 => {
                        let nulls = datafusion::arrow::buffer::NullBuffer::union(Some(nulls), value.nulls());
                        datafusion::arrow::array::make_array(value.to_data().into_builder().nulls(nulls).build()?)
                    }
                    _ => value,
                }))
            }
            _ => exec_err!("{NAME} takes (rows, value) or a struct of the two"),
        }
    }
}
