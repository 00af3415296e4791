//! `OPTIMIZE t`: compacts a managed table's small files into files of delta-rs's target size
//! (one commit, `dataChange = false`: readers and blind appends go on; an UPDATE, DELETE or MERGE
//! that read the old files when this commits first gets 40001). Answers with the files removed
//! and added. Superusers only, as DDL is.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::access::checks::require_superuser;
use crate::error::Result;
use crate::session::{Output, Session};

pub(super) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("version", DataType::Int64, false),
        Field::new("files_removed", DataType::Int64, false),
        Field::new("files_added", DataType::Int64, false),
    ]))
}

pub(super) async fn run(session: &Session, table: &str) -> Result<Output> {
    require_superuser(session, "OPTIMIZE")?;
    let url = super::managed_table_url(session, table, "optimize")?;
    let compacted = session.engine.tables.compact(&url, &session.committer()).await?;
    session.engine.plan_changes.note();
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(vec![compacted.version as i64])),
            Arc::new(Int64Array::from(vec![compacted.files_removed as i64])),
            Arc::new(Int64Array::from(vec![compacted.files_added as i64])),
        ],
    )?;
    Output::from_batches(schema(), vec![batch])
}
