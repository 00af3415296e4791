//! Values in PostgreSQL's text form, for result rows and COPY TO, where pgwire's differ.
//!
//! Floats: pgwire writes Rust's forms (`10.0`, `inf`, `1e20`), which drivers do not all read back:
//! pgjdbc's `getDouble` and node-postgres' `parseFloat` fail on `inf`, and `10.0` differs from
//! what PostgreSQL shows for the same value. They are written as float8out/float4out write them,
//! under the session's `extra_float_digits` (squall_udf::functions::pg_text, which casts to text
//! share).
//!
//! Times: pgwire always writes six digits of fractional seconds (`10:00:00.000000`, also in
//! timestamps and intervals); PostgreSQL writes only the digits that are not trailing zeros, and
//! no point when there are none (`10:00:00`, `00:00:01.5`).

use std::error::Error;
use std::sync::Arc;

use arrow_pg::encoder::{encode_value, Encoder};
use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Float64Type};
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::types::format::FormatOptions;
use pgwire::types::ToSqlText;
use postgres_types::{to_sql_checked, IsNull, ToSql, Type};
use squall_udf::functions::pg_text::{float4_text, float8_text};

/// Encodes one cell as arrow-pg does, except NULLs, floats and (in text) times, which take
/// PostgreSQL's forms.
pub fn encode_cell<E: Encoder>(encoder: &mut E, array: &Arc<dyn Array>, row: usize, arrow_field: &Field, pg_field: &FieldInfo) -> PgWireResult<()> {
    // NULL is NULL whatever the type: arrow-pg wrote a NULL interval as `00:00:00`.
    if array.is_null(row) {
        return encoder.encode_field(&None::<i8>, pg_field);
    }
    match arrow_field.data_type() {
        DataType::Float64 => encoder.encode_field(&PgFloat8(array.as_primitive::<Float64Type>().value(row)), pg_field),
        DataType::Float32 => encoder.encode_field(&PgFloat4(array.as_primitive::<Float32Type>().value(row)), pg_field),
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
}
