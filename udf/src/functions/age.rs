//! `age(a, b)` and `age(a)`: PostgreSQL's "symbolic" difference of two timestamps, in years,
//! months and days rather than a count of days (`age('2001-04-10', '1957-06-13')` is
//! `43 years 9 mons 27 days`); `age(a)` is measured from today's midnight (UTC, the session's
//! zone). Fields are subtracted one by one and a negative field borrows from the next, a day
//! borrow taking the length of the earlier timestamp's month, as PostgreSQL's `timestamp_age`.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, IntervalMonthDayNanoBuilder};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::moments::{answer, microsecond_timestamp, moment_at};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Age {
    signature: Signature,
}

impl Age {
    pub fn new() -> Self {
        // Stable, not immutable: `age(a)` depends on today's date.
        Self { signature: Signature::user_defined(Volatility::Stable) }
    }
}

impl Default for Age {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for Age {
    fn name(&self) -> &str {
        "age"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(1..=2).contains(&arg_types.len()) {
            return plan_err!("age takes one or two timestamps");
        }
        arg_types
            .iter()
            .map(|t| match (microsecond_timestamp(t), t) {
                (Some(timestamp), _) => Ok(timestamp),
                // Text, as PostgreSQL reads `age('2024-03-01', '2024-01-31')`.
                (None, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => Ok(DataType::Timestamp(TimeUnit::Microsecond, None)),
                (None, other) => plan_err!("age of {other} is not supported: it takes timestamps"),
            })
            .collect()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let today = chrono::Utc::now().date_naive().and_hms_opt(0, 0, 0).expect("midnight exists");
        let rows = arrays[0].len();
        let mut out = IntervalMonthDayNanoBuilder::with_capacity(rows);
        for row in 0..rows {
            if arrays.iter().any(|a| a.is_null(row)) {
                out.append_null();
                continue;
            }
            let (later, earlier) = match arrays.as_slice() {
                [only] => (today, moment_at(only, row)?),
                [a, b] => (moment_at(a, row)?, moment_at(b, row)?),
                _ => unreachable!("checked by coerce_types"),
            };
            out.append_value(age(later, earlier));
        }
        answer(Arc::new(out.finish()), &args.args)
    }
}

/// `a - b` as PostgreSQL's `age(a, b)`.
pub fn age(a: NaiveDateTime, b: NaiveDateTime) -> IntervalMonthDayNano {
    let fields = |t: NaiveDateTime| {
        [
            i64::from(t.year()),
            i64::from(t.month()),
            i64::from(t.day()),
            i64::from(t.hour()),
            i64::from(t.minute()),
            i64::from(t.second()),
            i64::from(t.nanosecond() / 1_000),
        ]
    };
    let (fa, fb) = (fields(a), fields(b));
    let flip = a < b;
    let sign = if flip { -1 } else { 1 };
    let mut d: [i64; 7] = std::array::from_fn(|i| (fa[i] - fb[i]) * sign);
    let [year, month, day, hour, minute, second, micro] = [0, 1, 2, 3, 4, 5, 6];
    // Borrow into each negative field from the next larger one.
    for (field, larger, size) in [(micro, second, 1_000_000), (second, minute, 60), (minute, hour, 60), (hour, day, 24)] {
        while d[field] < 0 {
            d[field] += size;
            d[larger] -= 1;
        }
    }
    // A day borrows the length of the earlier timestamp's month.
    let earlier = if flip { a } else { b };
    while d[day] < 0 {
        d[day] += days_in_month(earlier.year(), earlier.month());
        d[month] -= 1;
    }
    while d[month] < 0 {
        d[month] += 12;
        d[year] -= 1;
    }
    let months = (d[year] * 12 + d[month]) * sign;
    let days = d[day] * sign;
    let micros = (((d[hour] * 60 + d[minute]) * 60 + d[second]) * 1_000_000 + d[micro]) * sign;
    IntervalMonthDayNano::new(months as i32, days as i32, micros * 1_000)
}

fn days_in_month(year: i32, month: u32) -> i64 {
    let first = NaiveDate::from_ymd_opt(year, month, 1).expect("a month's first day");
    let next = if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) };
    next.expect("the next month's first day").signed_duration_since(first).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn interval(months: i32, days: i32, seconds: i64) -> IntervalMonthDayNano {
        IntervalMonthDayNano::new(months, days, seconds * 1_000_000_000)
    }

    /// As PostgreSQL 15 answers each.
    #[test]
    fn ages_are_postgresql_symbolic_differences() {
        // The manual's example: 43 years 9 mons 27 days.
        assert_eq!(age(at("2001-04-10 00:00:00"), at("1957-06-13 00:00:00")), interval(43 * 12 + 9, 27, 0));
        // 1 mon 1 day: the day borrows January's 31.
        assert_eq!(age(at("2024-03-01 00:00:00"), at("2024-01-31 00:00:00")), interval(1, 1, 0));
        // -1 mons -1 days
        assert_eq!(age(at("2024-01-31 00:00:00"), at("2024-03-01 00:00:00")), interval(-1, -1, 0));
        // 11 mons 30 days 23:00:00
        assert_eq!(age(at("2024-03-01 00:00:00"), at("2023-03-01 01:00:00")), interval(11, 30, 23 * 3600));
        assert_eq!(age(at("2024-03-05 10:00:00"), at("2024-03-05 10:00:00")), interval(0, 0, 0));
    }
}
