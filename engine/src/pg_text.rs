//! Values in PostgreSQL's text form, for result rows and COPY TO, where pgwire's differ.
//!
//! Floats: pgwire writes Rust's forms (`10.0`, `inf`, `1e20`), which drivers do not all read back:
//! pgjdbc's `getDouble` and node-postgres' `parseFloat` fail on `inf`, and `10.0` differs from
//! what PostgreSQL shows for the same value. PostgreSQL's float8out/float4out write, with
//! `extra_float_digits` above 0 (the default, and what pgjdbc sets), the shortest digits that read
//! back exactly; at 0 or below, `%.{DIG + extra_float_digits}g`. Either way a value whose decimal
//! exponent is below -4 or at least the precision (15 digits for float8, 6 for float4) is written
//! in scientific form with a signed two-digit exponent (`1e+20`, `1.5e-07`), and the others as
//! plain decimals without a trailing `.0`. Non-finite values are `NaN`, `Infinity`, `-Infinity`.
//!
//! Times: pgwire always writes six digits of fractional seconds (`10:00:00.000000`, also in
//! timestamps and intervals); PostgreSQL writes only the digits that are not trailing zeros, and
//! no point when there are none (`10:00:00`, `00:00:01.5`).

use std::error::Error;
use std::sync::Arc;

use arrow_pg::encoder::{encode_value, Encoder};
use bytes::{BufMut, BytesMut};
use pgwire::api::results::FieldFormat;
use pgwire::error::PgWireError;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Float64Type};
use pgwire::api::results::FieldInfo;
use pgwire::error::PgWireResult;
use pgwire::types::format::FormatOptions;
use pgwire::types::ToSqlText;
use postgres_types::{to_sql_checked, IsNull, ToSql, Type};

/// Encodes one cell as arrow-pg does, except floats, which take PostgreSQL's text form.
pub fn encode_cell<E: Encoder>(encoder: &mut E, array: &Arc<dyn Array>, row: usize, arrow_field: &Field, pg_field: &FieldInfo) -> PgWireResult<()> {
    match arrow_field.data_type() {
        DataType::Float64 => {
            let value = array.is_valid(row).then(|| PgFloat8(array.as_primitive::<Float64Type>().value(row)));
            encoder.encode_field(&value, pg_field)
        }
        DataType::Float32 => {
            let value = array.is_valid(row).then(|| PgFloat4(array.as_primitive::<Float32Type>().value(row)));
            encoder.encode_field(&value, pg_field)
        }
        DataType::Timestamp(..) | DataType::Time32(_) | DataType::Time64(_) | DataType::Interval(_) | DataType::Duration(_)
            if pg_field.format() == FieldFormat::Text =>
        {
            let mut text = TextOf(None);
            encode_value(&mut text, array, row, arrow_field, pg_field)?;
            let trimmed = text.0.map(|text| String::from_utf8_lossy(&trim_fractional_seconds(&text)).into_owned());
            encoder.encode_field(&trimmed, pg_field)
        }
        _ => encode_value(encoder, array, row, arrow_field, pg_field),
    }
}

/// Catches the text arrow-pg writes for one value (`None` for NULL).
struct TextOf(Option<BytesMut>);

impl Encoder for TextOf {
    type Item = ();

    fn encode_field<T>(&mut self, value: &T, pg_field: &FieldInfo) -> PgWireResult<()>
    where
        T: ToSql + ToSqlText + Sized,
    {
        let mut text = BytesMut::new();
        let is_null = value.to_sql_text(pg_field.datatype(), &mut text, pg_field.format_options()).map_err(PgWireError::ApiError)?;
        self.0 = matches!(is_null, IsNull::No).then_some(text);
        Ok(())
    }

    fn take_row(&mut self) -> Self::Item {}
}

/// Drops the trailing zeros of the fractional seconds after `:SS` (and the point, if nothing is
/// left), wherever the date style puts the time.
fn trim_fractional_seconds(text: &[u8]) -> Vec<u8> {
    let seconds_point = (3..text.len()).find(|&i| {
        text[i] == b'.' && text[i - 3] == b':' && text[i - 2].is_ascii_digit() && text[i - 1].is_ascii_digit() && text.get(i + 1).is_some_and(u8::is_ascii_digit)
    });
    let Some(point) = seconds_point else { return text.to_vec() };
    let digits_end = (point + 1..text.len()).find(|&i| !text[i].is_ascii_digit()).unwrap_or(text.len());
    let mut keep = digits_end;
    while keep > point + 1 && text[keep - 1] == b'0' {
        keep -= 1;
    }
    if keep == point + 1 {
        keep = point;
    }
    [&text[..keep], &text[digits_end..]].concat()
}

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

/// A float8 that is written as PostgreSQL writes it in text, and as `f64` in binary.
#[derive(Debug, Clone, Copy)]
pub struct PgFloat8(pub f64);

/// A float4 that is written as PostgreSQL writes it in text, and as `f32` in binary.
#[derive(Debug, Clone, Copy)]
pub struct PgFloat4(pub f32);

macro_rules! pg_float {
    ($name:ident, $inner:ty, $text:ident) => {
        impl ToSql for $name {
            fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
                self.0.to_sql(ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                <$inner as ToSql>::accepts(ty)
            }

            to_sql_checked!();
        }

        impl ToSqlText for $name {
            fn to_sql_text(&self, _ty: &Type, out: &mut BytesMut, options: &FormatOptions) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
                out.put_slice($text(self.0, options.extra_float_digits).as_bytes());
                Ok(IsNull::No)
            }
        }
    };
}

pg_float!(PgFloat8, f64, float8_text);
pg_float!(PgFloat4, f32, float4_text);

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

    #[test]
    fn fractional_seconds_lose_their_trailing_zeros() {
        for (pgwire, postgres) in [
            ("2024-03-01 10:00:00.000000", "2024-03-01 10:00:00"),
            ("2024-03-01 10:00:00.500000+00", "2024-03-01 10:00:00.5+00"),
            ("10:00:00.250000", "10:00:00.25"),
            ("1 day 00:00:01.500000", "1 day 00:00:01.5"),
            ("01.03.2024 10:00:00.000000", "01.03.2024 10:00:00"),
            ("Fri Mar 01 10:00:00.123456 2024", "Fri Mar 01 10:00:00.123456 2024"),
            ("3 mons", "3 mons"),
            ("2024-03-01", "2024-03-01"),
        ] {
            assert_eq!(String::from_utf8(trim_fractional_seconds(pgwire.as_bytes())).unwrap(), postgres);
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
}
