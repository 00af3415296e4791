//! Executing a planned statement: one file per kind of statement squall handles itself; queries
//! and everything else go to [`query`].

mod create_external_table;
mod create_table;
mod create_view;
mod delete;
pub(crate) mod dependent_views;
mod drop;
mod engine_settings;
mod explain;
mod insert;
mod insert_values;
mod job_planning;
mod merge;
pub(crate) mod query;
pub(crate) mod row_changes;
mod subqueries_first;
mod update;

pub(crate) use engine_settings::reset_all;

use datafusion::common::TableReference;
use datafusion::logical_expr::{DdlStatement, LogicalPlan, Statement, TransactionConclusion, WriteOp};

use crate::error::{Result, SquallError};
use crate::plans::reused_plans::KeptPlan;
use crate::session::{Output, Session};
use squall_udf::settings::DEFAULT_SCHEMA;

/// `kept`: where a query's physical plan may be kept to run again (see [`crate::plans::reused_plans`]).
/// Statements other than queries run boxed: inline, their futures would make every query's as
/// large as the largest of them, and it is moved several times per statement.
pub(crate) async fn execute(session: &Session, sql: &str, plan: LogicalPlan, kept: Option<&KeptPlan>) -> Result<Output> {
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create)) => Box::pin(create_external_table::run(session, sql, create)).await,
        LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) => Box::pin(create_table::run(session, sql, create)).await,
        LogicalPlan::Ddl(DdlStatement::CreateView(create)) => Box::pin(create_view::run(session, sql, create)).await,
        LogicalPlan::Ddl(DdlStatement::DropTable(d)) => Box::pin(drop::run(session, drop::Kind::Table, &d.name, d.if_exists)).await,
        LogicalPlan::Ddl(DdlStatement::DropView(d)) => Box::pin(drop::run(session, drop::Kind::View, &d.name, d.if_exists)).await,
        LogicalPlan::Ddl(other) => Err(SquallError::Unsupported(format!("{} is not supported", other.name()))),
        LogicalPlan::Dml(dml) => match dml.op {
            WriteOp::Insert(_) => Box::pin(insert::run(session, dml)).await,
            WriteOp::Update => row_changes::again_if_compacted(session, || Box::pin(update::run(session, dml.clone()))).await,
            WriteOp::Delete => row_changes::again_if_compacted(session, || Box::pin(delete::run(session, dml.clone()))).await,
            WriteOp::MergeInto(_) => row_changes::again_if_compacted(session, || Box::pin(merge::run(session, dml.clone()))).await,
            op => Err(SquallError::Unsupported(format!("{op} is not supported"))),
        },
        LogicalPlan::Statement(Statement::Prepare(_) | Statement::Execute(_)) => Err(SquallError::Unsupported(
            "PREPARE and EXECUTE statements are not supported: prepare through the extended query protocol, as drivers (and psql's \\bind) do".into(),
        )),
        LogicalPlan::Statement(Statement::TransactionStart(_)) => Ok(Output::TransactionStart),
        LogicalPlan::Statement(Statement::TransactionEnd(end)) => Ok(Output::TransactionEnd {
            tag: match end.conclusion {
                TransactionConclusion::Commit => "COMMIT",
                TransactionConclusion::Rollback => "ROLLBACK",
            },
        }),
        LogicalPlan::Statement(Statement::SetVariable(set)) if set.variable == crate::session::interrupts::STATEMENT_TIMEOUT => {
            session.set_statement_timeout(crate::session::interrupts::parse_timeout(&set.value)?);
            Ok(Output::Done { tag: "SET", rows: None })
        }
        LogicalPlan::Statement(Statement::ResetVariable(reset)) if reset.variable.eq_ignore_ascii_case("all") => engine_settings::reset_all(session).await,
        LogicalPlan::Statement(Statement::ResetVariable(reset)) if reset.variable == crate::session::interrupts::STATEMENT_TIMEOUT => {
            session.set_statement_timeout(None);
            Ok(Output::Done { tag: "RESET", rows: None })
        }
        LogicalPlan::Statement(Statement::SetVariable(set)) if crate::pg::settings::PgSettings::knows(&set.variable) => {
            session.pg_settings.set(&set.variable, &set.value)?;
            Ok(Output::Done { tag: "SET", rows: None })
        }
        LogicalPlan::Statement(Statement::ResetVariable(reset)) if crate::pg::settings::PgSettings::knows(&reset.variable) => {
            session.pg_settings.reset(&reset.variable)?;
            Ok(Output::Done { tag: "RESET", rows: None })
        }
        LogicalPlan::Statement(Statement::SetVariable(set)) if !set.variable.contains('.') => {
            Err(SquallError::UndefinedObject(format!("unrecognized configuration parameter \"{}\"", set.variable)))
        }
        LogicalPlan::Statement(Statement::SetVariable(set)) => engine_settings::set(session, set).await,
        LogicalPlan::Statement(Statement::ResetVariable(reset)) => engine_settings::reset(session, reset).await,
        plan => query::run(session, plan, kept).await,
    }
}

/// `statement` without the `LOCATION '...'` of a `CREATE TABLE` (see [`create_table`]); true if it
/// had one.
pub(crate) fn without_table_location(statement: &mut datafusion::sql::sqlparser::ast::Statement) -> bool {
    create_table::take_location(statement).is_some()
}

/// A name claimed for a new table or view: checked free, with catalog changes locked out until
/// the creating statement is done with it.
pub(super) struct NewRelation<'a> {
    pub name: String,
    _ddl: tokio::sync::MutexGuard<'a, ()>,
}

/// The checks every CREATE shares. `Ok(None)` when the name is taken and IF NOT EXISTS was given.
pub(super) async fn claim_name<'a>(
    session: &'a Session,
    reference: &TableReference,
    or_replace: bool,
    temporary: bool,
    if_not_exists: bool,
) -> Result<Option<NewRelation<'a>>> {
    let name = user_table_name(reference)?;
    if or_replace {
        return Err(SquallError::Unsupported(format!("CREATE OR REPLACE is not supported; DROP \"{name}\" first")));
    }
    if temporary {
        return Err(SquallError::Unsupported("temporary tables and views are not supported".into()));
    }
    let ddl = session.engine.ddl_lock.lock().await;
    let taken = session.engine.catalog.get(&name).is_some() || session.ctx.table_exist(name.as_str()).unwrap_or(false);
    match (taken, if_not_exists) {
        (false, _) => Ok(Some(NewRelation { name, _ddl: ddl })),
        (true, true) => Ok(None),
        (true, false) => Err(SquallError::DuplicateTable(format!("relation \"{name}\" already exists"))),
    }
}

/// The name of a user table in the default schema; other schemas are not squall's to write.
fn user_table_name(name: &TableReference) -> Result<String> {
    match name.schema() {
        None | Some(DEFAULT_SCHEMA) => Ok(name.table().to_string()),
        Some(schema) => Err(SquallError::Unsupported(format!(
            "tables can only be created in schema \"{DEFAULT_SCHEMA}\", not \"{schema}\""
        ))),
    }
}
