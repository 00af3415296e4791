//! `COPY ... TO STDOUT`: a query's rows as COPY text or CSV, one CopyData message per row (the
//! header, if asked for, travels with the first row, so that the command tag counts rows only).
//! Values are written as PostgreSQL writes them in text (arrow-pg's conversions, the same as for
//! query results); the framing, quoting and escaping are COPY's.

use std::sync::Arc;

use arrow_pg::datatypes::arrow_schema_to_pg_fields;
use arrow_pg::encoder::Encoder;
use bytes::{BufMut, Bytes, BytesMut};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::types::ToSqlText;

use super::format::{Kind, Options};
use crate::pg::text::encode_cell;

/// Writes rows of one schema as COPY data.
pub struct RowWriter {
    fields: Arc<Vec<FieldInfo>>,
    options: Options,
    /// The column names line, until the first row takes it.
    header: Option<Bytes>,
}

impl RowWriter {
    pub fn new(schema: &SchemaRef, options: Options) -> PgWireResult<Self> {
        let fields = Arc::new(arrow_schema_to_pg_fields(schema, &Format::UnifiedText, None)?);
        let header = options.header.then(|| {
            let mut line = BytesMut::new();
            let names: Vec<Option<Bytes>> = schema.fields().iter().map(|f| Some(Bytes::copy_from_slice(f.name().as_bytes()))).collect();
            write_line(&mut line, &names, &options);
            line.freeze()
        });
        Ok(Self { fields, options, header })
    }

    /// The header alone, for a result without rows.
    pub fn take_header(&mut self) -> Option<Bytes> {
        self.header.take()
    }

    /// One message per row of `batch`.
    pub fn rows(&mut self, batch: &RecordBatch) -> PgWireResult<Vec<Bytes>> {
        let mut out = Vec::with_capacity(batch.num_rows());
        let mut values = Values { fields: Vec::with_capacity(batch.num_columns()) };
        let schema = batch.schema();
        for row in 0..batch.num_rows() {
            values.fields.clear();
            for ((array, arrow_field), pg_field) in batch.columns().iter().zip(schema.fields()).zip(self.fields.iter()) {
                encode_cell(&mut values, array, row, arrow_field, pg_field)?;
            }
            let mut line = BytesMut::new();
            if let Some(header) = self.header.take() {
                line.put_slice(&header);
            }
            write_line(&mut line, &values.fields, &self.options);
            out.push(line.freeze());
        }
        Ok(out)
    }
}

/// Collects a row's values in PostgreSQL's text form (`None`: NULL).
struct Values {
    fields: Vec<Option<Bytes>>,
}

impl Encoder for Values {
    type Item = ();

    fn encode_field<T>(&mut self, value: &T, pg_field: &FieldInfo) -> PgWireResult<()>
    where
        T: postgres_types::ToSql + ToSqlText + Sized,
    {
        let mut text = BytesMut::new();
        let is_null = value.to_sql_text(pg_field.datatype(), &mut text, pg_field.format_options()).map_err(PgWireError::ApiError)?;
        self.fields.push(match is_null {
            postgres_types::IsNull::Yes => None,
            postgres_types::IsNull::No => Some(text.freeze()),
        });
        Ok(())
    }

    fn take_row(&mut self) -> Self::Item {}
}

/// One line of COPY output.
fn write_line(out: &mut BytesMut, fields: &[Option<Bytes>], options: &Options) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.put_u8(options.delimiter);
        }
        match (field, options.kind) {
            (None, _) => out.put_slice(options.null.as_bytes()),
            // Binary output is refused before any row is written (session::run_copy).
            (Some(value), Kind::Text | Kind::Binary) => {
                for &b in value.iter() {
                    match b {
                        b'\\' => out.put_slice(b"\\\\"),
                        b'\n' => out.put_slice(b"\\n"),
                        b'\r' => out.put_slice(b"\\r"),
                        // Control characters first, as PostgreSQL does: a tab is `\t` even when
                        // it is the delimiter.
                        b'\t' => out.put_slice(b"\\t"),
                        0x08 => out.put_slice(b"\\b"),
                        0x0b => out.put_slice(b"\\v"),
                        0x0c => out.put_slice(b"\\f"),
                        _ if b == options.delimiter => {
                            out.put_u8(b'\\');
                            out.put_u8(b);
                        }
                        _ => out.put_u8(b),
                    }
                }
            }
            (Some(value), Kind::Csv) => {
                // Quoted when it could be misread: holding a delimiter, quote, newline, or
                // looking like the null string (the empty string too, when NULL is empty).
                let needs_quotes = value.iter().any(|&b| b == options.delimiter || b == options.quote || b == b'\n' || b == b'\r')
                    || value.as_ref() == options.null.as_bytes()
                    || value.as_ref() == b"\\.";
                if needs_quotes {
                    out.put_u8(options.quote);
                    for &b in value.iter() {
                        if b == options.quote || b == options.escape {
                            out.put_u8(options.escape);
                        }
                        out.put_u8(b);
                    }
                    out.put_u8(options.quote);
                } else {
                    out.put_slice(value);
                }
            }
        }
    }
    out.put_u8(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::format::{Decoder, Record};
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("note", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(StringArray::from(vec![Some("tab\there, \"quoted\"\nnext"), Some(""), None])),
                Arc::new(Float64Array::from(vec![Some(2.5), Some(10.0), None])),
            ],
        )
        .unwrap()
    }

    /// What COPY TO writes, COPY FROM reads back the same. (Floats are written as in query
    /// results: pgwire writes 10.0 where PostgreSQL writes 10; both read back as the same value.)
    fn round_trip(options: Options) -> (String, Vec<Record>) {
        let batch = batch();
        let mut writer = RowWriter::new(&batch.schema(), options.clone()).unwrap();
        let rows = writer.rows(&batch).unwrap();
        assert_eq!(rows.len(), 3);
        let text: String = rows.iter().map(|r| String::from_utf8(r.to_vec()).unwrap()).collect();
        let mut decoder = Decoder::new(options);
        let mut records = Vec::new();
        decoder.push(text.as_bytes(), &mut records).unwrap();
        decoder.finish(&mut records).unwrap();
        (text, records)
    }

    fn fields(records: &[Record]) -> Vec<Vec<Option<&str>>> {
        records.iter().map(|r| r.fields.iter().map(|f| f.as_deref()).collect()).collect()
    }

    #[test]
    fn text_format_escapes_and_reads_back() {
        let (text, records) = round_trip(Options::new(Kind::Text));
        assert_eq!(text, "1\ttab\\there, \"quoted\"\\nnext\t2.5\n\\N\t\t10\n3\t\\N\t\\N\n");
        assert_eq!(
            fields(&records),
            vec![vec![Some("1"), Some("tab\there, \"quoted\"\nnext"), Some("2.5")], vec![None, Some(""), Some("10")], vec![Some("3"), None, None]]
        );
    }

    #[test]
    fn csv_quotes_what_needs_it_and_reads_back() {
        let options = Options { header: true, ..Options::new(Kind::Csv) };
        let (text, records) = round_trip(options);
        assert_eq!(text, "id,note,x\n1,\"tab\there, \"\"quoted\"\"\nnext\",2.5\n,\"\",10\n3,,\n");
        assert_eq!(
            fields(&records),
            vec![vec![Some("1"), Some("tab\there, \"quoted\"\nnext"), Some("2.5")], vec![None, Some(""), Some("10")], vec![Some("3"), None, None]]
        );
    }
}
