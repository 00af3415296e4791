//! `DESCRIBE HISTORY t`: a Delta table's commits, newest first — version, time, user, operation,
//! rows (written, updated, deleted or merged, by the operation) and the operation's parameters.
//! Needs SELECT on the table.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::error::Result;
use crate::session::{Output, Session};

pub(super) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("version", DataType::Int64, false),
        Field::new("time", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
        Field::new("user", DataType::Utf8, true),
        Field::new("operation", DataType::Utf8, true),
        Field::new("rows", DataType::Int64, true),
        Field::new("parameters", DataType::Utf8, true),
    ]))
}

pub(super) async fn run(session: &Session, table: &str) -> Result<Output> {
    let url = crate::storage::delta::time_travel::delta_url(session, table).await?;
    crate::access::checks::check_uses(
        session,
        &crate::access::checks::Uses { reads: vec![table.to_string()], ..Default::default() },
    )?;
    let commits = session.engine.tables.history(&url).await?;
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(commits.iter().map(|c| c.version as i64))),
            Arc::new(TimestampMillisecondArray::from(commits.iter().map(|c| c.time).collect::<Vec<_>>()).with_timezone("UTC")),
            Arc::new(StringArray::from(commits.iter().map(|c| c.user.clone()).collect::<Vec<_>>())),
            Arc::new(StringArray::from(commits.iter().map(|c| c.operation.clone()).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(commits.iter().map(|c| c.rows).collect::<Vec<_>>())),
            Arc::new(StringArray::from(commits.iter().map(|c| c.parameters.clone()).collect::<Vec<_>>())),
        ],
    )?;
    Output::from_batches(schema(), vec![batch])
}
