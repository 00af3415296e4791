//! What squall's date and time functions (to_char, age, squall_pg_text) share: timestamps read
//! at PostgreSQL's precision, microseconds, as UTC wall-clock moments (the session's zone), and
//! answers that are scalars when every argument was.

use chrono::{DateTime, NaiveDateTime};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;

/// The microsecond timestamp type a date or timestamp argument is coerced to (keeping a
/// timestamp's zone); `None` for other types.
pub fn microsecond_timestamp(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Timestamp(_, zone) => Some(DataType::Timestamp(TimeUnit::Microsecond, zone.clone())),
        DataType::Date32 | DataType::Date64 | DataType::Null => Some(DataType::Timestamp(TimeUnit::Microsecond, None)),
        _ => None,
    }
}

/// `array` (timestamps of any unit) in microseconds: calls put in place of casts after type
/// coercion (squall_udf::pg_casts) are not coerced.
pub fn in_microseconds(array: ArrayRef) -> Result<ArrayRef> {
    match array.data_type() {
        DataType::Timestamp(unit, zone) if *unit != TimeUnit::Microsecond => {
            Ok(datafusion::arrow::compute::cast(&array, &DataType::Timestamp(TimeUnit::Microsecond, zone.clone()))?)
        }
        _ => Ok(array),
    }
}

/// Row `row` of a microsecond timestamp array, as a UTC wall-clock moment.
pub fn moment_at(array: &dyn Array, row: usize) -> Result<NaiveDateTime> {
    match DateTime::from_timestamp_micros(array.as_primitive::<TimestampMicrosecondType>().value(row)) {
        Some(moment) => Ok(moment.naive_utc()),
        None => exec_err!("timestamp out of range"),
    }
}

/// `result` as a function's answer: a scalar when every argument in `args` was one.
pub fn answer(result: ArrayRef, args: &[ColumnarValue]) -> Result<ColumnarValue> {
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(result.as_ref(), 0)?))
    } else {
        Ok(ColumnarValue::Array(result))
    }
}
