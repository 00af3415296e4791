//! An interval times or divided by a number, as PostgreSQL's `interval_mul` and `interval_div`
//! compute it (DataFusion has no such arithmetic): `2 * interval '1 day'`, `interval '1 month' *
//! 1.5` (`1 mon 15 days`), `interval '1 day' / 3` (`08:00:00`). Months and days are multiplied
//! on their own and truncated; what a fraction of a month leaves is carried down as days of 30
//! days, what a fraction of a day leaves as seconds of 86,400 (never up: `justify_*` does that in
//! PostgreSQL), and the time is rounded to microseconds. Written by
//! [`crate::interval_arithmetic`] in place of the operators.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, IntervalMonthDayNanoBuilder};
use datafusion::arrow::datatypes::{DataType, Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit};
use datafusion::arrow::error::ArrowError;
use datafusion::common::{plan_err, DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::moments::answer;

/// Which of PostgreSQL's two functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scaling {
    Multiply,
    Divide,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IntervalScale {
    scaling: Scaling,
    signature: Signature,
}

impl IntervalScale {
    pub fn new(scaling: Scaling) -> Self {
        Self { scaling, signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for IntervalScale {
    /// PostgreSQL's names for them.
    fn name(&self) -> &str {
        match self.scaling {
            Scaling::Multiply => "interval_mul",
            Scaling::Divide => "interval_div",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    /// `(interval, number)`: the interval as months, days and nanoseconds, the number as float8
    /// (PostgreSQL's `interval * float8`, which integers and numerics are cast to).
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [DataType::Interval(_), n] if n.is_numeric() || n.is_null() => {
                Ok(vec![DataType::Interval(IntervalUnit::MonthDayNano), DataType::Float64])
            }
            _ => plan_err!("{} takes an interval and a number, not {arg_types:?}", self.name()),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (spans, factors) = (arrays[0].as_primitive::<IntervalMonthDayNanoType>(), arrays[1].as_primitive::<Float64Type>());
        let mut out = IntervalMonthDayNanoBuilder::with_capacity(spans.len());
        for row in 0..spans.len() {
            if spans.is_null(row) || factors.is_null(row) {
                out.append_null();
            } else {
                out.append_value(scale(spans.value(row), factors.value(row), self.scaling)?);
            }
        }
        answer(Arc::new(out.finish()), &args.args)
    }
}

const DAYS_PER_MONTH: f64 = 30.0;
const SECONDS_PER_DAY: f64 = 86_400.0;

/// PostgreSQL's `TSROUND`: to whole microseconds, ties to even (C's `rint`).
fn to_microseconds(x: f64) -> f64 {
    (x * 1e6).round_ties_even() / 1e6
}

fn out_of_range() -> DataFusionError {
    DataFusionError::Execution("interval out of range".into())
}

/// `span * factor` or `span / factor`, field by field as PostgreSQL's `interval_mul` and
/// `interval_div`.
pub fn scale(span: IntervalMonthDayNano, factor: f64, scaling: Scaling) -> Result<IntervalMonthDayNano> {
    if scaling == Scaling::Divide && factor == 0.0 {
        return Err(DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None));
    }
    let apply = |x: f64| match scaling {
        Scaling::Multiply => x * factor,
        Scaling::Divide => x / factor,
    };
    let whole = |x: f64| -> Result<i32> {
        if x.is_nan() || x > f64::from(i32::MAX) || x < f64::from(i32::MIN) {
            return Err(out_of_range());
        }
        Ok(x.trunc() as i32)
    };
    let (months, days) = (f64::from(span.months), f64::from(span.days));
    let month = whole(apply(months))?;
    let mut day = whole(apply(days))?;
    // Fractions of a month become days, fractions of a day seconds.
    let month_remainder_days = to_microseconds((apply(months) - f64::from(month)) * DAYS_PER_MONTH);
    let mut seconds = to_microseconds((apply(days) - f64::from(day) + month_remainder_days - month_remainder_days.trunc()) * SECONDS_PER_DAY);
    // 24:00:00 from rounding, or more from the carries, makes a day (the most carried down).
    if seconds.abs() >= SECONDS_PER_DAY {
        let carried = (seconds / SECONDS_PER_DAY).trunc();
        day = whole(f64::from(day) + carried)?;
        seconds -= carried * SECONDS_PER_DAY;
    }
    day = whole(f64::from(day) + month_remainder_days.trunc())?;
    let micros = (apply(span.nanoseconds as f64 / 1_000.0) + seconds * 1e6).round_ties_even();
    if micros.is_nan() || micros.abs() >= i64::MAX as f64 / 1_000.0 {
        return Err(out_of_range());
    }
    Ok(IntervalMonthDayNano::new(month, day, micros as i64 * 1_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Months, days and microseconds.
    fn interval(months: i32, days: i32, micros: i64) -> IntervalMonthDayNano {
        IntervalMonthDayNano::new(months, days, micros * 1_000)
    }

    /// Each answer as PostgreSQL 15 gave it (`SELECT interval '...' * x`), in its words.
    #[test]
    fn products_and_quotients_are_postgresqls() {
        use Scaling::*;
        const HOUR: i64 = 3_600_000_000;
        let cases = [
            // '1 day' * 2 = '2 days'
            (interval(0, 1, 0), 2.0, Multiply, interval(0, 2, 0)),
            // '1 mon' * 1.5 = '1 mon 15 days'
            (interval(1, 0, 0), 1.5, Multiply, interval(1, 15, 0)),
            // '1 day' * 1.5 = '1 day 12:00:00'
            (interval(0, 1, 0), 1.5, Multiply, interval(0, 1, 12 * HOUR)),
            // '1 day' / 3 = '08:00:00'
            (interval(0, 1, 0), 3.0, Divide, interval(0, 0, 8 * HOUR)),
            // '1 mon' / 7 = '4 days 06:51:25.6896'
            (interval(1, 0, 0), 7.0, Divide, interval(0, 4, 24_685_689_600)),
            // '1 hour' * -2.5 = '-02:30:00'
            (interval(0, 0, HOUR), -2.5, Multiply, interval(0, 0, -9_000_000_000)),
            // '1 year 2 mons 3 days 04:05:06' * 0.3 = '4 mons 6 days 22:49:31.8'
            (interval(14, 3, 14_706_000_000), 0.3, Multiply, interval(4, 6, 82_171_800_000)),
            // '1 mon 3 days' * 0.37 = '12 days 05:02:24'
            (interval(1, 3, 0), 0.37, Multiply, interval(0, 12, 18_144_000_000)),
            // '5 days 03:00' / 1.3 = '3 days 22:36:55.384616'
            (interval(0, 5, 3 * HOUR), 1.3, Divide, interval(0, 3, 81_415_384_616)),
            // '1 microsecond' * 0.5 = '00:00:00', '3 microseconds' * 0.5 = '00:00:00.000002'
            (interval(0, 0, 1), 0.5, Multiply, interval(0, 0, 0)),
            (interval(0, 0, 3), 0.5, Multiply, interval(0, 0, 2)),
            // '-1 mon -2 days' * 1.7 = '-1 mons -24 days -09:36:00'
            (interval(-1, -2, 0), 1.7, Multiply, interval(-1, -24, -34_560_000_000)),
        ];
        for (span, factor, scaling, expected) in cases {
            assert_eq!(scale(span, factor, scaling).unwrap(), expected, "{span:?} {scaling:?} {factor}");
        }
        assert!(matches!(scale(interval(1, 0, 0), 0.0, Divide), Err(DataFusionError::ArrowError(..))));
        assert_eq!(scale(interval(i32::MAX, 0, 0), 2.0, Multiply).unwrap_err().to_string(), "Execution error: interval out of range");
    }
}
