//! `TRAIN MODEL name USING algorithm AS query [WITH (...)]`: trains on the query's rows (see
//! [`crate::models::train`]) and answers with one row describing the new version, none when the
//! query had no rows. Superusers only.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use squall_sql::TrainModel;

use crate::access::checks::require_superuser;
use crate::error::Result;
use crate::session::{Output, Session};

pub(super) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("algorithm", DataType::Utf8, false),
        Field::new("rows_used", DataType::Int64, false),
        Field::new("training_ms", DataType::Int64, false),
        Field::new("holdout_metrics", DataType::Utf8, false),
    ]))
}

pub(super) async fn run(session: &Session, train: &TrainModel) -> Result<Output> {
    require_superuser(session, "TRAIN MODEL")?;
    let Some(version) = crate::models::train::train(session, train).await? else {
        return Output::from_batches(schema(), vec![]);
    };
    let summary: Vec<String> = version.metrics.iter().filter(|(m, _)| m != "rows").map(|(m, x)| format!("{m}={x:.4}")).collect();
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(vec![train.name.clone()])),
            Arc::new(Int64Array::from(vec![version.version as i64])),
            Arc::new(StringArray::from(vec![version.algorithm.clone()])),
            Arc::new(Int64Array::from(vec![version.rows_used as i64])),
            Arc::new(Int64Array::from(vec![version.training_ms as i64])),
            Arc::new(StringArray::from(vec![summary.join(", ")])),
        ],
    )?;
    Output::from_batches(schema(), vec![batch])
}
