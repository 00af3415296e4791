//! The cluster commands an operator runs in SQL, one file each (the autoscaler will live here
//! too): `ADD EXECUTOR(S)` and `REMOVE EXECUTOR`.

mod add_executors;
mod remove_executor;
pub mod settings;
mod show_cluster;

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use squall_sql::Command;

use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

/// The columns a cluster command answers with (`None`: a command tag).
pub fn result_schema(command: &Command) -> Option<SchemaRef> {
    match command {
        Command::AddExecutors { .. } => Some(Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]))),
        Command::ShowCluster => Some(show_cluster::schema()),
        _ => None,
    }
}

/// Whether `command` is one of this module's.
pub fn handles(command: &Command) -> bool {
    matches!(
        command,
        Command::AddExecutors { .. } | Command::RemoveExecutor { .. } | Command::ShowCluster | Command::AlterCluster { .. }
    )
}

pub async fn run(session: &Session, command: &Command) -> Result<Output> {
    match command {
        Command::AddExecutors { count } => add_executors::run(session, *count).await,
        Command::RemoveExecutor { id } => remove_executor::run(session, id).await,
        Command::ShowCluster => {
            let batch = show_cluster::rows(session).await?;
            let schema = batch.schema();
            let stream = datafusion::physical_plan::memory::MemoryStream::try_new(vec![batch], Arc::clone(&schema), None)?;
            Ok(Output::Rows { schema, rows: Box::pin(stream) })
        }
        Command::AlterCluster { options } => {
            session.engine.alter_cluster(options)?;
            Ok(Output::Done { tag: "ALTER CLUSTER", rows: None })
        }
        other => Err(SquallError::Internal(format!("{other:?} is not a cluster command"))),
    }
}
