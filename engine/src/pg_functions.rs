//! PostgreSQL catalog functions psql and BI tools call that the pg_catalog emulation lacks, so
//! their introspection queries run (psql's `\df` needs all three). They run on the coordinator,
//! with the catalog tables they describe.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use datafusion::prelude::SessionContext;

/// Registers the functions in `ctx` (the base session every connection starts from).
pub fn register(ctx: &SessionContext) {
    // Every schema is on the search path, as for pg_table_is_visible.
    ctx.register_udf(per_oid("pg_function_is_visible", DataType::Boolean, |n| Arc::new(BooleanArray::from(vec![true; n]))));
    // squall does not know the signatures of the functions pg_proc lists: NULL, "unknown".
    ctx.register_udf(per_oid("pg_get_function_result", DataType::Utf8, |n| Arc::new(StringArray::new_null(n))));
    ctx.register_udf(per_oid("pg_get_function_arguments", DataType::Utf8, |n| Arc::new(StringArray::new_null(n))));
}

/// A function of one oid whose answer does not depend on it: `values(n)` gives n answers.
fn per_oid(name: &str, returns: DataType, values: fn(usize) -> ArrayRef) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Int32],
        returns,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let rows = ColumnarValue::values_to_arrays(args)?.first().map_or(1, |a| a.len());
            Ok(ColumnarValue::Array(values(rows)))
        }),
    )
}
