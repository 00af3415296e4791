//! Statement outputs as pgwire responses: Arrow batches become DataRows (text or binary, per the
//! client's format codes) through arrow-pg's encoders, floats as PostgreSQL writes them
//! ([`crate::pg::text`]).

use std::sync::Arc;

use arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use futures::{stream, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyResponse, DataRowEncoder, FieldInfo, QueryResponse, Response, Tag};
use pgwire::messages::copy::CopyData;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;

use super::errors::to_pg_error;
use crate::copy::to_stdout::RowWriter;
use crate::error::SquallError;
use crate::plans::last_made::{LastMade, Same};
use crate::pg::text::encode_cell;

/// The overall format code of COPY's text and CSV formats.
const COPY_TEXT: i8 = 0;
use crate::session::Output;

/// The Postgres descriptions of the last columns described with the same format options and
/// format: a statement run again answers under the same schema, and drivers describe it at each
/// execution.
#[derive(Debug, Default)]
pub struct FieldsMemo(LastMade<(Same<Schema>, Option<Same<FormatOptions>>, bool), Arc<Vec<FieldInfo>>>);

impl FieldsMemo {
    /// `schema`'s columns as Postgres fields in `format`, written with `options`.
    pub fn fields(&self, schema: &SchemaRef, format: &Format, options: Option<Arc<FormatOptions>>) -> PgWireResult<Arc<Vec<FieldInfo>>> {
        let binary = match format {
            Format::UnifiedText => false,
            Format::UnifiedBinary => true,
            // Per-column formats are rarer: made each time.
            Format::Individual(_) => return Ok(Arc::new(arrow_schema_to_pg_fields(schema, format, options)?)),
        };
        let key = (Same(Arc::clone(schema)), options.clone().map(Same), binary);
        self.0.get_or_try_make(key, || Ok(Arc::new(arrow_schema_to_pg_fields(schema, format, options)?)))
    }
}

pub async fn to_response(output: Output, format: &Format, options: Arc<FormatOptions>, memo: &FieldsMemo) -> PgWireResult<Response> {
    match output {
        Output::Done { tag: "", .. } => Ok(Response::EmptyQuery),
        Output::Done { tag, rows } => {
            let mut pg_tag = Tag::new(tag);
            if let Some(rows) = rows {
                // INSERT's tag carries an oid (always 0) before the count.
                if tag == "INSERT" {
                    pg_tag = pg_tag.with_oid(0);
                }
                pg_tag = pg_tag.with_rows(rows as usize);
            }
            Ok(Response::Execution(pg_tag))
        }
        Output::TransactionStart => Ok(Response::TransactionStart(Tag::new("BEGIN"))),
        Output::TransactionEnd { tag } => Ok(Response::TransactionEnd(Tag::new(tag))),
        Output::CopyIn { columns } => Ok(Response::CopyIn(CopyResponse::new(COPY_TEXT, columns, stream::empty()))),
        Output::CopyOut { schema, mut rows, options } => {
            let mut writer = RowWriter::new(&schema, options)?;
            // As for rows: a failing query fails before the copy starts.
            let first = match rows.next().await {
                Some(Err(e)) => return Err(to_pg_error(&SquallError::from(e))),
                other => other,
            };
            let batches = stream::iter(first).chain(rows).map(Some).chain(stream::once(async { None }));
            let data = batches
                .map(move |batch| -> Vec<PgWireResult<CopyData>> {
                    let lines = match batch {
                        Some(Ok(batch)) => writer.rows(&batch),
                        Some(Err(e)) => return vec![Err(to_pg_error(&SquallError::from(e)))],
                        // The end: a header still here had no row to travel with.
                        None => Ok(writer.take_header().into_iter().collect()),
                    };
                    match lines {
                        Ok(lines) => lines.into_iter().map(|line| Ok(CopyData::new(line))).collect(),
                        Err(e) => vec![Err(e)],
                    }
                })
                .flat_map(stream::iter);
            Ok(Response::CopyOut(CopyResponse::new(COPY_TEXT, schema.fields().len(), data)))
        }
        Output::Rows { schema, mut rows } => {
            let fields = memo.fields(&schema, format, Some(options))?;
            // Distributed queries fail when their stream is first polled; reading the first batch
            // here turns such a failure into a proper ErrorResponse before any row is sent.
            let first = match rows.next().await {
                Some(Err(e)) => return Err(to_pg_error(&SquallError::from(e))),
                other => other,
            };
            let batches = stream::iter(first).chain(rows);
            let encoded_fields = fields.clone();
            let data_rows = batches
                .map(move |batch| -> Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> {
                    match batch {
                        Ok(batch) => rows_of(encoded_fields.clone(), batch),
                        Err(e) => Box::new(std::iter::once(Err::<DataRow, PgWireError>(to_pg_error(&SquallError::from(e))))),
                    }
                })
                .flat_map(stream::iter);
            Ok(Response::Query(QueryResponse::new(fields, data_rows)))
        }
    }
}

fn rows_of(
    fields: Arc<Vec<pgwire::api::results::FieldInfo>>,
    batch: RecordBatch,
) -> Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> {
    let mut encoder = DataRowEncoder::new(fields.clone());
    Box::new((0..batch.num_rows()).map(move |row| {
        let schema = batch.schema_ref();
        for (column, (array, pg_field)) in batch.columns().iter().zip(fields.iter()).enumerate() {
            encode_cell(&mut encoder, array, row, schema.field(column), pg_field)?;
        }
        Ok(encoder.take_row())
    }))
}
