//! Models: the registry of trained versions, and the statements that train, evaluate, describe
//! and drop them. Training and evaluation run as distributed aggregate queries; this module plans
//! them and reads their one-row results.

mod describe;
mod evaluate;
pub(crate) mod references;
pub mod registry;
pub mod store;
pub(crate) mod system_table;
mod train;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::physical_plan::common::collect;
use squall_sql::Command;

use crate::error::{Result, SquallError};
use crate::session::{Output, Session};
use crate::statements::query;

/// The columns a model command answers with (`None`: it answers with a command tag).
pub fn result_schema(command: &Command) -> Option<SchemaRef> {
    match command {
        Command::TrainModel(_) => Some(train_schema()),
        Command::EvaluateModel { .. } => Some(evaluate::schema()),
        Command::DescribeModel { .. } => Some(describe::schema()),
        _ => None,
    }
}

/// Runs a model command.
pub async fn run(session: &Session, command: &Command) -> Result<Output> {
    match command {
        Command::TrainModel(_) => crate::access::checks::require_superuser(session, "TRAIN MODEL")?,
        Command::DropModel { .. } => crate::access::checks::require_superuser(session, "DROP MODEL")?,
        Command::EvaluateModel { name, .. } | Command::DescribeModel { name } => {
            let (model, _) = session.engine.models.resolve(name)?;
            crate::access::checks::check_model(session, &model.name)?;
        }
        _ => {}
    }
    match command {
        Command::TrainModel(t) => {
            let trained = train::train(session, t).await?;
            let schema = train_schema();
            let batches = match trained {
                None => vec![],
                Some(v) => {
                    let summary: Vec<String> = v.metrics.iter().filter(|(m, _)| m != "rows").map(|(m, x)| format!("{m}={x:.4}")).collect();
                    vec![RecordBatch::try_new(
                        Arc::clone(&schema),
                        vec![
                            Arc::new(StringArray::from(vec![t.name.clone()])),
                            Arc::new(Int64Array::from(vec![v.version as i64])),
                            Arc::new(StringArray::from(vec![v.algorithm.clone()])),
                            Arc::new(Int64Array::from(vec![v.rows_used as i64])),
                            Arc::new(Int64Array::from(vec![v.training_ms as i64])),
                            Arc::new(StringArray::from(vec![summary.join(", ")])),
                        ],
                    )?]
                }
            };
            Output::from_batches(schema, batches)
        }
        Command::EvaluateModel { name, on } => Output::from_batches(evaluate::schema(), evaluate::run(session, name, on.as_deref()).await?),
        Command::DescribeModel { name } => Output::from_batches(describe::schema(), describe::run(session, name)?),
        Command::DropModel { name, if_exists } => {
            let _ddl = session.engine.ddl_lock.lock().await;
            match session.engine.models.remove(name).await? {
                Some(_) => {
                    session.engine.users.forget_object(squall_sql::ObjectKind::Model, name)?;
                    Ok(Output::Done { tag: "DROP MODEL", rows: None })
                }
                None if *if_exists => {
                    session.notice(format!("model \"{name}\" does not exist, skipping"));
                    Ok(Output::Done { tag: "DROP MODEL", rows: None })
                }
                None => Err(SquallError::UndefinedObject(format!("model \"{name}\" does not exist"))),
            }
        }
        other => Err(SquallError::Internal(format!("{other:?} is not a model command"))),
    }
}

fn train_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("algorithm", DataType::Utf8, false),
        Field::new("rows_used", DataType::Int64, false),
        Field::new("training_ms", DataType::Int64, false),
        Field::new("holdout_metrics", DataType::Utf8, false),
    ]))
}

/// Runs `rows` aggregated by one ML aggregate `call` (wherever routing sends it: the executors
/// for table scans) and returns its one Binary value (empty when there were no rows).
pub(crate) async fn aggregate_blob(session: &Session, rows: LogicalPlan, call: Expr) -> Result<Vec<u8>> {
    let plan = LogicalPlanBuilder::from(rows).aggregate(Vec::<Expr>::new(), vec![call])?.build()?;
    let batches = collect(query::stream(session, plan).await?).await?;
    let blob = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| b.column(0).clone())
        .ok_or_else(|| SquallError::Internal("a training aggregate returned no row".into()))?;
    let blob = blob.as_binary::<i32>();
    Ok(if blob.is_null(0) { vec![] } else { blob.value(0).to_vec() })
}

pub(crate) fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
