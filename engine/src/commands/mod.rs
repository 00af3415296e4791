//! squall's own commands as the engine carries them out: one file per command, named as its
//! parser in `sql/src/commands/`, each owning its checks, its execution and the columns it answers
//! with. [`action`] is the one table that says which file carries out which command.

mod add_executors;
mod alter_cluster;
mod alter_model;
mod alter_table;
mod cancel_job;
mod describe_history;
mod describe_model;
pub mod discard;
mod drop_model;
mod evaluate_model;
mod grants;
mod optimize;
mod pipes;
mod refresh_model;
mod savepoint;
mod show_cluster;
mod show_executors;
mod show_jobs;
mod show_models;
mod stop_executor;
mod train_model;
mod users;
mod vacuum;

use datafusion::arrow::datatypes::SchemaRef;
use futures::future::BoxFuture;
use squall_sql::Command;

use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

/// How squall carries out one of its commands.
pub(crate) enum Action<'a> {
    /// A SHOW answered by a query over squall's system tables: planned, checked and run as any
    /// query, and logged and shown as the user wrote it.
    Query(&'static str),
    /// Carried out by the engine: `run` does it when awaited (a future does nothing before, so the
    /// planner may ask for `schema` alone and drop `run`). `schema`: the columns it answers with;
    /// `None` when it answers with a command tag.
    Run { schema: Option<SchemaRef>, run: BoxFuture<'a, Result<Output>> },
}

impl<'a> Action<'a> {
    fn rows(schema: SchemaRef, run: impl std::future::Future<Output = Result<Output>> + Send + 'a) -> Self {
        Action::Run { schema: Some(schema), run: Box::pin(run) }
    }

    fn tag(run: impl std::future::Future<Output = Result<Output>> + Send + 'a) -> Self {
        Action::Run { schema: None, run: Box::pin(run) }
    }
}

/// The one table of squall's commands: what carries out `command` for `session`'s user.
pub(crate) fn action<'a>(session: &'a Session, command: &'a Command) -> Action<'a> {
    match command {
        Command::ShowExecutors => Action::Query(show_executors::QUERY),
        Command::AddExecutors { count } => Action::rows(add_executors::schema(), add_executors::run(session, *count)),
        Command::RemoveExecutor { id } => Action::tag(stop_executor::remove(session, id)),
        Command::DrainExecutor { id } => Action::tag(stop_executor::drain(session, id)),
        Command::ShowCluster => Action::rows(show_cluster::schema(), show_cluster::run(session)),
        Command::AlterCluster { options } => Action::tag(alter_cluster::run(session, options)),
        Command::ShowJobs => Action::Query(show_jobs::QUERY),
        Command::CancelJob { id } => Action::tag(cancel_job::run(session, id)),
        Command::TrainModel(train) => Action::rows(train_model::schema(), train_model::run(session, train)),
        Command::EvaluateModel { name, on } => Action::rows(evaluate_model::schema(), evaluate_model::run(session, name, on.as_deref())),
        Command::ShowModels => Action::Query(show_models::QUERY),
        Command::DescribeModel { name } => Action::rows(describe_model::schema(), describe_model::run(session, name)),
        Command::DropModel { name, if_exists } => Action::tag(drop_model::run(session, name, *if_exists)),
        Command::CreateUser { name, options } => Action::tag(users::create(session, name, options)),
        Command::AlterUser { name, options } => Action::tag(users::alter(session, name, options)),
        Command::AlterUserSet { name, setting } => Action::tag(users::alter_set(session, name, setting)),
        Command::DropUser { names, if_exists } => Action::tag(users::drop(session, names, *if_exists)),
        Command::Grant(grant) => Action::tag(grants::run(session, grant, true)),
        Command::Revoke(grant) => Action::tag(grants::run(session, grant, false)),
        Command::Savepoint { action, .. } => Action::tag(savepoint::run(*action)),
        // Carried out by the connection when sent alone (see `discard`); not as a prepared
        // statement or among other statements, whose portals the connection would have to drop
        // while running them.
        Command::Discard(what) => Action::tag(sent_alone(what.tag())),
        Command::Deallocate(target) => Action::tag(sent_alone(target.tag())),
        Command::Optimize { table } => Action::rows(optimize::schema(), optimize::run(session, table)),
        Command::Vacuum { table, retain_hours } => Action::tag(vacuum::run(session, table, *retain_hours)),
        Command::AlterTable { table, change } => Action::tag(alter_table::run(session, table, change)),
        Command::DescribeHistory { table } => Action::rows(describe_history::schema(), describe_history::run(session, table)),
        Command::CreatePipe(create) => Action::tag(pipes::create(session, create)),
        Command::AlterPipe { name, paused } => Action::tag(pipes::alter(session, name, *paused)),
        Command::DropPipe { name, if_exists } => Action::tag(pipes::drop(session, name, *if_exists)),
        Command::ShowPipes => Action::Query(pipes::SHOW_QUERY),
        Command::RefreshModel { name } => Action::rows(refresh_model::schema(), refresh_model::run(session, name)),
        Command::AlterModel { name, options } => Action::tag(alter_model::run(session, name, options)),
    }
}

/// The URL of managed table `name`; `verb` names the command in refusals.
fn managed_table_url(session: &Session, name: &str, verb: &str) -> Result<url::Url> {
    use crate::storage::catalog::Entry;
    match session.engine.catalog.get(name) {
        Some(Entry::Managed { location, .. }) => session.engine.tables.url_of(name, location.as_deref()),
        Some(Entry::External { .. }) => Err(SquallError::Unsupported(format!("cannot {verb} external table \"{name}\": squall does not write files it does not own"))),
        Some(Entry::View { .. }) => Err(SquallError::WrongObjectType(format!("\"{name}\" is a view, not a table"))),
        None => Err(SquallError::UndefinedTable(format!("relation \"{name}\" does not exist"))),
    }
}

async fn sent_alone(tag: &str) -> Result<Output> {
    Err(SquallError::Unsupported(format!("{tag} is carried out only when sent alone as a simple query")))
}
