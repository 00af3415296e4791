//! `REFRESH MODEL name`: a new version of the model from the rows its table gained since its
//! current version ([`crate::models::refresh`]), answered with a row saying how; no row when the
//! table has no commit since. Superusers only, as TRAIN MODEL.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::access::checks::require_superuser;
use crate::error::Result;
use crate::session::{Output, Session};

pub(super) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("how", DataType::Utf8, false),
        Field::new("rows_added", DataType::Int64, true),
        Field::new("source_version", DataType::Int64, false),
    ]))
}

pub(super) async fn run(session: &Session, name: &str) -> Result<Output> {
    require_superuser(session, "REFRESH MODEL")?;
    let Some(refreshed) = crate::models::refresh::refresh(session, name).await? else {
        session.notice(format!("model \"{name}\" is up to date: its table has no commit since its current version"));
        return Output::from_batches(schema(), vec![]);
    };
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(vec![refreshed.model.clone()])),
            Arc::new(Int64Array::from(vec![refreshed.version.unwrap_or_default() as i64])),
            Arc::new(StringArray::from(vec![refreshed.how])),
            Arc::new(Int64Array::from(vec![refreshed.rows_added.map(|n| n as i64)])),
            Arc::new(Int64Array::from(vec![refreshed.source_version as i64])),
        ],
    )?;
    Output::from_batches(schema(), vec![batch])
}
