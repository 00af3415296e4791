//! What a statement is between the planner and its runs: [`Prepared`], a statement planned once
//! and executed any number of times, and [`Output`], what a run produced.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use squall_sql::Command;

use crate::error::Result;
use crate::plans::last_made::{LastMade, Same};

/// What a statement produced.
pub enum Output {
    /// Rows, streamed as the executors (or the coordinator) produce them.
    Rows { schema: SchemaRef, rows: SendableRecordBatchStream },
    /// A command tag such as `CREATE TABLE` or `INSERT 0 3` (`rows` gives the count).
    Done { tag: &'static str, rows: Option<u64> },
    TransactionStart,
    TransactionEnd { tag: &'static str },
    /// COPY FROM STDIN started: the client sends `columns` columns of data now.
    CopyIn { columns: usize },
    /// COPY TO STDOUT: rows to send as COPY data.
    CopyOut { schema: SchemaRef, rows: SendableRecordBatchStream, options: crate::copy::format::Options },
}

impl Output {
    /// Rows already computed (squall's own commands answer this way).
    pub fn from_batches(schema: SchemaRef, batches: Vec<datafusion::arrow::record_batch::RecordBatch>) -> Result<Output> {
        let stream = datafusion::physical_plan::memory::MemoryStream::try_new(batches, Arc::clone(&schema), None)?;
        Ok(Output::Rows { schema, rows: Box::pin(stream) })
    }
}

/// A statement parsed and planned once, executed any number of times (extended protocol).
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// The SQL text the plan came from (kept for statements that are stored as text).
    pub sql: String,
    /// `None` for an empty statement or a squall command.
    pub plan: Option<LogicalPlan>,
    /// A squall command that is an action rather than a query (TRAIN MODEL, ...).
    pub command: Option<Command>,
    /// The tables and models it uses, whose privileges are checked at each execution.
    pub uses: crate::access::checks::Uses,
    /// A COPY statement (whose query, for COPY TO, is `plan`).
    pub copy: Option<crate::copy::Copy>,
    /// PostgreSQL's names for the result columns where they differ from the plan's (see
    /// [`crate::pg::column_names`]).
    pub column_names: Option<Vec<Option<String>>>,
    /// The physical plan, when it may run again ([`crate::plans::reused_plans`]).
    pub(crate) kept: crate::plans::reused_plans::KeptPlan,
    /// [`Self::result_schema`], once asked for; set by the planner for a command.
    pub(crate) result_schema: Arc<std::sync::OnceLock<Option<SchemaRef>>>,
    /// The last schema given PostgreSQL's names, with them: a kept plan answers under the same
    /// schema at each execution.
    pub(crate) renamed: Arc<LastMade<Same<Schema>, SchemaRef>>,
    /// The parameters' types in `$1, $2, ...` order, found at the first execution (the wire
    /// decodes each execution's values by them).
    pub(crate) parameter_types: Arc<std::sync::OnceLock<Vec<Option<datafusion::arrow::datatypes::DataType>>>>,
}

impl Prepared {
    /// The columns the statement answers with, if it answers with rows.
    pub fn result_schema(&self) -> Option<SchemaRef> {
        // Made once: drivers describe a statement at each execution.
        self.result_schema.get_or_init(|| self.make_result_schema()).clone()
    }

    fn make_result_schema(&self) -> Option<SchemaRef> {
        if self.copy.is_some() {
            return None; // COPY answers with copy data, not rows
        }
        match (&self.plan, &self.command) {
            (Some(plan), _) if is_query_plan(plan) => {
                Some(self.named(Arc::new(plan.schema().as_arrow().clone())))
            }
            _ => None,
        }
    }

    /// The parameters' types in `$1, $2, ...` order, as DataFusion inferred them (`None`:
    /// unknown; no plan, no parameters). Found once; a failure is reported each time.
    pub fn parameter_types(&self) -> Result<Vec<Option<datafusion::arrow::datatypes::DataType>>, crate::error::SquallError> {
        if let Some(types) = self.parameter_types.get() {
            return Ok(types.clone());
        }
        let Some(plan) = &self.plan else { return Ok(Vec::new()) };
        let found = parameter_data_types(plan)?;
        let _ = self.parameter_types.set(found.clone());
        Ok(found)
    }

    pub fn is_empty(&self) -> bool {
        self.plan.is_none() && self.command.is_none() && self.copy.is_none()
    }

    /// A query (rows from a plan, no command, no COPY): what [`crate::plans::statement_cache`] keeps.
    pub(super) fn is_query(&self) -> bool {
        self.command.is_none()
            && self.copy.is_none()
            && self.plan.as_ref().is_some_and(is_query_plan)
    }

    /// What running the statement may change of how later statements plan.
    pub(super) fn effect(&self) -> Effect {
        use datafusion::logical_expr::Statement;
        match &self.plan {
            _ if self.is_query() || self.is_empty() => Effect::Nothing,
            Some(LogicalPlan::Statement(Statement::TransactionStart(_) | Statement::TransactionEnd(_))) => Effect::Nothing,
            Some(LogicalPlan::Statement(Statement::SetVariable(_) | Statement::ResetVariable(_))) => Effect::SessionSettings,
            // DDL, INSERT, COPY, TRAIN MODEL, CREATE USER, cluster commands, ...
            _ => Effect::Anything,
        }
    }

    /// `schema` under PostgreSQL's column names.
    pub(super) fn named(&self, schema: SchemaRef) -> SchemaRef {
        let Some(names) = &self.column_names else { return schema };
        self.renamed.get_or_make(Same(Arc::clone(&schema)), || crate::pg::column_names::renamed(&schema, names))
    }

    /// `output` with its columns under PostgreSQL's names (result rows and COPY TO's header).
    pub(super) fn with_column_names(&self, output: Output) -> Output {
        match output {
            Output::Rows { schema, rows } => Output::Rows { schema: self.named(schema), rows },
            Output::CopyOut { schema, rows, options } => Output::CopyOut { schema: self.named(schema), rows, options },
            other => other,
        }
    }
}

/// Whether `plan` answers with rows (rather than being DDL, DML or a statement such as SET).
pub(crate) fn is_query_plan(plan: &LogicalPlan) -> bool {
    !matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Statement(_))
}

/// See [`Prepared::effect`].
pub(super) enum Effect {
    Nothing,
    /// SET or RESET: this session's settings.
    SessionSettings,
    /// Possibly the catalog, models or users, which every session plans against.
    Anything,
}

/// Parameter types in `$1, $2, ...` order, as DataFusion inferred them (`None`: unknown).
fn parameter_data_types(plan: &LogicalPlan) -> Result<Vec<Option<datafusion::arrow::datatypes::DataType>>, crate::error::SquallError> {
    let types = plan.get_parameter_types()?;
    let mut numbered: Vec<(usize, Option<datafusion::arrow::datatypes::DataType>)> = types
        .into_iter()
        .map(|(name, t)| {
            let n = name.trim_start_matches('$').parse::<usize>().map_err(|_| {
                crate::error::SquallError::Syntax(format!("parameter {name} is not of the form $n"))
            })?;
            Ok((n, t))
        })
        .collect::<Result<_, crate::error::SquallError>>()?;
    numbered.sort_by_key(|(n, _)| *n);
    let count = numbered.last().map(|(n, _)| *n).unwrap_or(0);
    let mut ordered = vec![None; count];
    for (n, t) in numbered {
        ordered[n - 1] = t;
    }
    Ok(ordered)
}
