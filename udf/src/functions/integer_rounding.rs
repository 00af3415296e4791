//! The rounding PostgreSQL does before a cast to an integer type, which DataFusion's cast does
//! not (it truncates: `CAST(1.7 AS int)` was 1, `avg(x)::int` one less than PostgreSQL's answer).
//!
//! `pg_round_to_integer(x, ties_to_even)` gives `x` rounded to a whole number, of `x`'s type:
//! floats as `rint()` does for float8 and float4 (ties to even: 2.5 → 2) when `ties_to_even`,
//! else ties away from zero (2.5 → 3), as numeric does; decimals always away from zero. The cast
//! that follows then has nothing to truncate (see `crate::pg_integer_casts`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Decimal256Type, Float32Type, Float64Type, i256};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::moments::answer;

pub const PG_ROUND_TO_INTEGER: &str = "squall_pg_round_to_integer";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgRoundToInteger {
    signature: Signature,
}

impl PgRoundToInteger {
    pub fn new() -> Self {
        Self { signature: Signature::any(2, Volatility::Immutable) }
    }

    /// Whether values of `from` are rounded before a cast to an integer.
    pub fn rounds(from: &DataType) -> bool {
        matches!(from, DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) | DataType::Decimal256(..))
    }
}

impl Default for PgRoundToInteger {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for PgRoundToInteger {
    fn name(&self) -> &str {
        PG_ROUND_TO_INTEGER
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [from, DataType::Boolean] if Self::rounds(from) => Ok(from.clone()),
            _ => plan_err!("{PG_ROUND_TO_INTEGER} takes a float or decimal and a boolean"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ColumnarValue::Scalar(ScalarValue::Boolean(Some(ties_to_even))) = args.args[1] else {
            return exec_err!("{PG_ROUND_TO_INTEGER}'s second argument is a constant boolean");
        };
        let values = args.args[0].to_array(args.number_rows)?;
        let rounded: ArrayRef = match values.data_type() {
            DataType::Float64 => {
                let round = if ties_to_even { f64::round_ties_even } else { f64::round };
                Arc::new(values.as_primitive::<Float64Type>().unary::<_, Float64Type>(round))
            }
            DataType::Float32 => {
                let round = if ties_to_even { f32::round_ties_even } else { f32::round };
                Arc::new(values.as_primitive::<Float32Type>().unary::<_, Float32Type>(round))
            }
            DataType::Decimal128(precision, scale) => {
                let unit = 10i128.checked_pow(u32::from((*scale).max(0) as u8)).unwrap_or(i128::MAX);
                let array: PrimitiveArray<Decimal128Type> = values.as_primitive::<Decimal128Type>().unary(|v| {
                    let whole = v / unit * unit;
                    let rest = v - whole;
                    if rest.abs() * 2 >= unit { whole + rest.signum() * unit } else { whole }
                });
                Arc::new(array.with_precision_and_scale(*precision, *scale)?)
            }
            DataType::Decimal256(precision, scale) => {
                let unit = i256::from_i128(10).wrapping_pow((*scale).max(0) as u32);
                let two = i256::from_i128(2);
                let array: PrimitiveArray<Decimal256Type> = values.as_primitive::<Decimal256Type>().unary(|v| {
                    let whole = v.wrapping_div(unit).wrapping_mul(unit);
                    let rest = v.wrapping_sub(whole);
                    if rest.wrapping_abs().wrapping_mul(two) >= unit {
                        whole.wrapping_add(if rest.is_negative() { unit.wrapping_neg() } else { unit })
                    } else {
                        whole
                    }
                });
                Arc::new(array.with_precision_and_scale(*precision, *scale)?)
            }
            other => return exec_err!("{PG_ROUND_TO_INTEGER} of {other}"),
        };
        debug_assert_eq!(rounded.len(), values.len());
        answer(rounded, &args.args[..1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Decimal128Array, Float64Array};
    use datafusion::arrow::datatypes::Field;
    use datafusion::config::ConfigOptions;

    fn round(values: ArrayRef, ties_to_even: bool) -> ArrayRef {
        let udf = PgRoundToInteger::new();
        let args = ScalarFunctionArgs {
            number_rows: values.len(),
            arg_fields: vec![Arc::new(Field::new("x", values.data_type().clone(), true)), Arc::new(Field::new("e", DataType::Boolean, false))],
            return_field: Arc::new(Field::new("r", values.data_type().clone(), true)),
            args: vec![ColumnarValue::Array(values), ColumnarValue::Scalar(ScalarValue::Boolean(Some(ties_to_even)))],
            config_options: Arc::new(ConfigOptions::default()),
        };
        udf.invoke_with_args(args).unwrap().to_array(1).unwrap()
    }

    /// As PostgreSQL 15 answers `x::float8::int` (rint: ties to even) and `x::numeric::int`
    /// (ties away from zero).
    #[test]
    fn floats_round_half_to_even_numerics_half_away_from_zero() {
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.7), Some(2.5), Some(3.5), Some(-2.5), Some(-1.2), Some(0.5), None]));
        let even = round(Arc::clone(&floats), true);
        assert_eq!(even.as_primitive::<Float64Type>().iter().collect::<Vec<_>>(), vec![Some(2.0), Some(2.0), Some(4.0), Some(-2.0), Some(-1.0), Some(0.0), None]);
        let away = round(floats, false);
        assert_eq!(away.as_primitive::<Float64Type>().iter().collect::<Vec<_>>(), vec![Some(2.0), Some(3.0), Some(4.0), Some(-3.0), Some(-1.0), Some(1.0), None]);
        // numeric(5, 2): 1.70, 2.50, -2.50, -1.49, 0.49
        let decimals: ArrayRef = Arc::new(Decimal128Array::from(vec![Some(170), Some(250), Some(-250), Some(-149), Some(49), None]).with_precision_and_scale(5, 2).unwrap());
        let rounded = round(decimals, true);
        assert_eq!(rounded.as_primitive::<Decimal128Type>().iter().collect::<Vec<_>>(), vec![Some(200), Some(300), Some(-300), Some(-100), Some(0), None]);
    }
}
