//! PostgreSQL's text forms of floats and timestamps, and `CAST(x AS TEXT)` that writes them.
//!
//! The forms are shared by result rows (squall_engine::pg_text) and by casts to text, which
//! DataFusion writes its own way (`10.0`, `1e20`, `2024-03-05T14:07:00`): a query that compares,
//! concatenates or pattern-matches `ts::text` must see what PostgreSQL's would. Floats follow
//! float8out/float4out: with `extra_float_digits` above 0 (the default, and what pgjdbc sets), the
//! shortest digits that read back exactly; at 0 or below, `%.{DIG + extra_float_digits}g`.
//! Either way a value whose decimal exponent is below -4 or at least the precision (15 digits for
//! float8, 6 for float4) is written in scientific form with a signed two-digit exponent (`1e+20`,
//! `1.5e-07`), and the others as plain decimals without a trailing `.0`; non-finite values are
//! `NaN`, `Infinity`, `-Infinity`. Timestamps are `2024-03-05 14:07:00.5` (fractional seconds
//! without trailing zeros), with `+00` for timestamptz (sessions are in UTC).

use std::sync::Arc;

use chrono::NaiveDateTime;
use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::moments::{answer, in_microseconds, microsecond_timestamp, moment_at};

/// PostgreSQL's text form of a float8 under `extra_float_digits`.
pub fn float8_text(value: f64, extra_float_digits: i8) -> String {
    let shortest = || format!("{value:e}");
    let rounded = |digits: usize| format!("{value:.*e}", digits - 1);
    float_text(value.is_nan(), value.is_infinite(), value < 0.0, 15, extra_float_digits, shortest, rounded)
}

/// PostgreSQL's text form of a float4 under `extra_float_digits`.
pub fn float4_text(value: f32, extra_float_digits: i8) -> String {
    let shortest = || format!("{value:e}");
    let rounded = |digits: usize| format!("{value:.*e}", digits - 1);
    float_text(value.is_nan(), value.is_infinite(), value < 0.0, 6, extra_float_digits, shortest, rounded)
}

/// The shared part of [`float8_text`] and [`float4_text`]: `shortest` is Rust's shortest
/// scientific form (`1.5e-7`), `rounded(n)` the one rounded to `n` significant digits.
fn float_text(
    nan: bool,
    infinite: bool,
    negative: bool,
    precision: i32,
    extra_float_digits: i8,
    shortest: impl Fn() -> String,
    rounded: impl Fn(usize) -> String,
) -> String {
    if nan {
        return "NaN".into();
    }
    if infinite {
        return if negative { "-Infinity" } else { "Infinity" }.into();
    }
    let (scientific, threshold) = if extra_float_digits > 0 {
        (shortest(), precision)
    } else {
        let digits = (precision + i32::from(extra_float_digits)).max(1);
        (rounded(digits as usize), digits)
    };
    let (mantissa, exponent) = scientific.split_once('e').expect("Rust's {:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("Rust's {:e} exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    // `%g` drops trailing zeros; the shortest form has none but zero's own.
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = match digits.trim_end_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    let mut out = String::from(sign);
    if exponent < -4 || exponent >= threshold {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(&format!("e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.unsigned_abs()));
    } else if exponent < 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat((-exponent - 1) as usize));
        out.push_str(digits);
    } else {
        let whole = exponent as usize + 1;
        if digits.len() <= whole {
            out.push_str(digits);
            out.push_str(&"0".repeat(whole - digits.len()));
        } else {
            out.push_str(&digits[..whole]);
            out.push('.');
            out.push_str(&digits[whole..]);
        }
    }
    out
}

/// PostgreSQL's text form of a timestamp: fractional seconds only as far as they are not zero;
/// `+00` when it has a zone (the session's, UTC).
pub fn timestamp_text(moment: NaiveDateTime, zoned: bool) -> String {
    let mut text = moment.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
    text.truncate(trimmed);
    if zoned {
        text.push_str("+00");
    }
    text
}

/// The name of the function the casts become (see squall_udf::pg_casts).
pub const PG_TEXT: &str = "squall_pg_text";

/// `squall_pg_text(x)`: `x` (a float or timestamp) in PostgreSQL's text form.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgText {
    signature: Signature,
}

impl PgText {
    pub fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }

    /// Whether values of `data_type` have a PostgreSQL text form of their own here.
    pub fn writes(data_type: &DataType) -> bool {
        matches!(data_type, DataType::Float64 | DataType::Float32 | DataType::Timestamp(..))
    }
}

impl Default for PgText {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for PgText {
    fn name(&self) -> &str {
        PG_TEXT
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [timestamp @ DataType::Timestamp(..)] => Ok(vec![microsecond_timestamp(timestamp).expect("a timestamp")]),
            [other] if Self::writes(other) => Ok(vec![other.clone()]),
            _ => plan_err!("{PG_TEXT} takes one float or timestamp"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = in_microseconds(args.args[0].to_array(args.number_rows)?)?;
        let mut out = StringBuilder::with_capacity(array.len(), array.len() * 16);
        for row in 0..array.len() {
            if array.is_null(row) {
                out.append_null();
                continue;
            }
            match array.data_type() {
                DataType::Float64 => out.append_value(float8_text(array.as_primitive::<Float64Type>().value(row), 1)),
                DataType::Float32 => out.append_value(float4_text(array.as_primitive::<Float32Type>().value(row), 1)),
                DataType::Timestamp(_, zone) => out.append_value(timestamp_text(moment_at(&array, row)?, zone.is_some())),
                other => return exec_err!("{PG_TEXT} of {other}"),
            }
        }
        answer(Arc::new(out.finish()), &args.args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value as PostgreSQL 15 writes it with extra_float_digits = 1 (its default).
    #[test]
    fn float8_shortest_as_postgres_writes_it() {
        for (value, text) in [
            (10.0, "10"),
            (1e20, "1e+20"),
            (1.5e-7, "1.5e-07"),
            (0.1, "0.1"),
            (123456789012.0, "123456789012"),
            (123456789012345.0, "123456789012345"),
            (1e15, "1e+15"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-2.5, "-2.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(float8_text(value, 1), text, "{value:?}");
            assert_eq!(float8_text(value, 3), text, "{value:?} with pgjdbc's extra_float_digits");
        }
    }

    #[test]
    fn float4_shortest_as_postgres_writes_it() {
        for (value, text) in [(1_000_000.0f32, "1e+06"), (123456.0, "123456"), (0.1, "0.1"), (f32::MAX, "3.4028235e+38"), (-1.25, "-1.25")] {
            assert_eq!(float4_text(value, 1), text, "{value:?}");
        }
    }

    /// `%.15g` and `%.6g` at extra_float_digits = 0, and fewer digits below it.
    #[test]
    fn rounded_forms_at_extra_float_digits_zero_and_below() {
        assert_eq!(float8_text(1.0 / 3.0, 0), "0.333333333333333");
        assert_eq!(float8_text(0.1, 0), "0.1");
        assert_eq!(float8_text(1e20, 0), "1e+20");
        assert_eq!(float8_text(123456789012345678.0, 0), "1.23456789012346e+17");
        assert_eq!(float8_text(100.0, 0), "100");
        assert_eq!(float8_text(2.0 / 3.0, -13), "0.67");
        assert_eq!(float4_text(1.0 / 3.0, 0), "0.333333");
        assert_eq!(float4_text(1234567.0, 0), "1.23457e+06");
    }

    #[test]
    fn timestamps_as_postgresql_writes_them() {
        let at = |text: &str| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        assert_eq!(timestamp_text(at("2024-03-05 14:07:00"), false), "2024-03-05 14:07:00");
        assert_eq!(timestamp_text(at("2024-03-05 14:07:00.5"), false), "2024-03-05 14:07:00.5");
        assert_eq!(timestamp_text(at("2024-03-05 14:07:00.000123"), true), "2024-03-05 14:07:00.000123+00");
        assert_eq!(timestamp_text(at("2024-03-05 00:00:00"), true), "2024-03-05 00:00:00+00");
    }
}
