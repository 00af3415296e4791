//! One client connection's session: its own DataFusion session (settings, session id) over the
//! shared catalog, and the path of a statement from text to [`Output`]: planned by its planner
//! ([`crate::planner`]), checked, logged and run here and in [`crate::statements`].

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::ParamValues;
use datafusion::execution::{SendableRecordBatchStream, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use squall_sql::Command;

use crate::engine::Engine;
use crate::error::{Result, SquallError};
use crate::plans::last_made::{LastMade, Same};
use crate::statements;

/// The DataFusion setting for how many partitions a query's plan is split into.
const TARGET_PARTITIONS: &str = "datafusion.execution.target_partitions";

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

    pub fn is_empty(&self) -> bool {
        self.plan.is_none() && self.command.is_none() && self.copy.is_none()
    }

    /// A query (rows from a plan, no command, no COPY): what [`crate::plans::statement_cache`] keeps.
    fn is_query(&self) -> bool {
        self.command.is_none()
            && self.copy.is_none()
            && self.plan.as_ref().is_some_and(is_query_plan)
    }

    /// What running the statement may change of how later statements plan.
    fn effect(&self) -> Effect {
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
    fn named(&self, schema: SchemaRef) -> SchemaRef {
        let Some(names) = &self.column_names else { return schema };
        self.renamed.get_or_make(Same(Arc::clone(&schema)), || crate::pg::column_names::renamed(&schema, names))
    }

    /// `output` with its columns under PostgreSQL's names (result rows and COPY TO's header).
    fn with_column_names(&self, output: Output) -> Output {
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
enum Effect {
    Nothing,
    /// SET or RESET: this session's settings.
    SessionSettings,
    /// Possibly the catalog, models or users, which every session plans against.
    Anything,
}

/// Where NOTICE messages of the running statement go (the connection's client).
pub type NoticeSink = tokio::sync::mpsc::UnboundedSender<String>;

pub struct Session {
    pub(crate) engine: Arc<Engine>,
    pub(crate) ctx: SessionContext,
    /// The user the client connected as.
    pub(crate) user: String,
    /// The client's address, for the query log.
    client: String,
    notices: std::sync::Mutex<Option<NoticeSink>>,
    /// The running statement, for cancel requests and `statement_timeout`.
    pub(crate) interrupts: crate::interrupts::Interrupts,
    /// `SET statement_timeout`: `None` (0) means no limit.
    statement_timeout: std::sync::Mutex<Option<std::time::Duration>>,
    /// PostgreSQL's session parameters (DateStyle, search_path, ...).
    pub(crate) pg_settings: crate::pg::settings::PgSettings,
    /// The session's DataFusion state, copied from `ctx` when its settings change.
    pub(crate) planning: crate::plans::planning_state::PlanningState,
    /// Queries planned before, by text.
    statements: crate::plans::statement_cache::StatementCache,
    /// How text results are written, made at the settings generation it is keyed by.
    format_options: LastMade<u64, Arc<pgwire::types::format::FormatOptions>>,
    /// The COPY FROM STDIN whose data the client is sending, with its query-log entry.
    copy_in: std::sync::Mutex<Option<(crate::copy::from_stdin::CopyIn, crate::query_log::Entry, std::time::Instant)>>,
}

impl Session {
    /// A session for `user` connected from `client`, with the parameters its start-up message set.
    pub fn new(engine: Arc<Engine>, user: String, client: String, startup: &std::collections::HashMap<String, String>) -> Self {
        // Each connection has its own session id, so the scheduler keeps its settings apart.
        let state = SessionStateBuilder::new_from_existing(engine.base.state())
            .with_session_id(uuid::Uuid::new_v4().to_string())
            .with_analyzer_rule(Arc::new(crate::pg::session_user::SessionUser { user: user.clone() }))
            .build();
        let pg_settings = crate::pg::settings::PgSettings::with_startup(Arc::clone(&engine.session_defaults), startup);
        let ctx = SessionContext::new_with_state(state);
        ctx.register_udf(pg_settings.current_setting_udf());
        Self {
            engine,
            ctx,
            pg_settings,
            user,
            client,
            notices: Default::default(),
            interrupts: Default::default(),
            statement_timeout: Default::default(),
            planning: Default::default(),
            statements: Default::default(),
            format_options: Default::default(),
            copy_in: Default::default(),
        }
    }

    /// How text results are written ([`crate::pg::settings::PgSettings::format_options`]), made
    /// again only after SET or RESET.
    pub(crate) fn format_options(&self) -> Arc<pgwire::types::format::FormatOptions> {
        self.format_options.get_or_make(self.planning.generation(), || Arc::new(self.pg_settings.format_options()))
    }

    /// Notes a `SET` (`chosen`) or `RESET` of a setting: a setting the session chose is kept as
    /// set where squall would otherwise choose (see [`Session::partitions_chosen`] and
    /// crate::plans::planning_state).
    pub(crate) fn note_setting(&self, variable: &str, chosen: bool) {
        self.planning.note_setting(variable, chosen);
    }

    /// `DISCARD ALL`: every setting back to its start-up value (as `RESET ALL`), and the plans
    /// this session kept, which were made under the old settings, dropped.
    pub(crate) async fn discard_all(&self) -> Result<()> {
        let reset = crate::statements::reset_all(self).await;
        self.settings_changed();
        reset.map(|_| ())
    }

    /// The session's settings changed: its planning copy is made again, and the plans it kept,
    /// made under the old settings, are dropped.
    fn settings_changed(&self) {
        self.planning.settings_changed();
        self.discard_plans();
    }

    /// `DISCARD PLANS`: the plans this session kept to run again are dropped.
    pub(crate) fn discard_plans(&self) {
        self.statements.clear();
    }

    pub(crate) fn statement_timeout(&self) -> Option<std::time::Duration> {
        *self.statement_timeout.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_statement_timeout(&self, timeout: Option<std::time::Duration>) {
        *self.statement_timeout.lock().unwrap_or_else(|p| p.into_inner()) = timeout;
    }

    /// Whether the session `SET` the partition count of its queries itself; until it does,
    /// distributed queries take the cluster's slot count.
    pub(crate) fn partitions_chosen(&self) -> bool {
        self.planning.chosen(TARGET_PARTITIONS)
    }

    /// Whether the connected user is a superuser (`squall`, the bootstrap user, always is).
    pub fn is_superuser(&self) -> bool {
        self.engine.users.is_superuser(&self.user)
    }

    /// Sends NOTICE messages of the statements that follow to `sink` (`None`: drop them).
    pub fn set_notice_sink(&self, sink: Option<NoticeSink>) {
        *self.notices.lock().unwrap_or_else(|p| p.into_inner()) = sink;
    }

    /// Tells the client something while a statement runs (progress of TRAIN MODEL, ...).
    pub(crate) fn notice(&self, message: String) {
        tracing::info!("{message}");
        if let Some(sink) = self.notices.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = sink.send(message);
        }
    }

    /// Runs every statement of a simple-query message, stopping at the first error as
    /// PostgreSQL does; the outputs before the error are kept.
    pub async fn run_text(&self, text: &str) -> Vec<Result<Output>> {
        if let Some(prepared) = self.statements.get(text, &self.engine.plan_changes) {
            return vec![self.execute(&prepared, None).await];
        }
        if let Some(output) = self.run_as_template(text).await {
            return vec![output];
        }
        let changes_before = self.engine.plan_changes.current();
        let statements = match squall_sql::parse_with_texts(text) {
            Ok(statements) => statements,
            Err(e) => {
                let error = SquallError::Syntax(e.message);
                self.log_failure(text, &error);
                return vec![Err(error)];
            }
        };
        let mut outputs = Vec::with_capacity(statements.len());
        let single = statements.len() == 1;
        for (statement, shown) in statements {
            let output = match crate::panics::contained(self.planner().statement(&statement, &shown)).await {
                Ok(prepared) => {
                    let prepared = Arc::new(prepared);
                    if single && prepared.is_query() {
                        self.statements.put(text, Arc::clone(&prepared), changes_before);
                    }
                    self.execute(&prepared, None).await
                }
                Err(e) => {
                    self.log_failure(&shown, &e);
                    Err(e)
                }
            };
            let failed = output.is_err();
            outputs.push(output);
            if failed {
                break;
            }
        }
        outputs
    }

    /// Runs `text` with the generic plan of its template ([`crate::plans::literal_templates`]), when it
    /// has one; `None` when it is to be planned as written.
    async fn run_as_template(&self, text: &str) -> Option<Result<Output>> {
        let template = crate::plans::literal_templates::template(text)?;
        // Kept apart from texts a client sends, which hold no NUL.
        let key = format!("\0{}", template.text);
        let prepared = match self.statements.get(&key, &self.engine.plan_changes) {
            Some(prepared) => prepared,
            None => {
                let changes_before = self.engine.plan_changes.current();
                // Kept even when it does not plan as a query, as an empty statement, so that
                // the next such text is not tried again.
                let planned = self.planner().text(&template.text).await.ok();
                let prepared = Arc::new(planned.filter(Prepared::is_query).unwrap_or_default());
                self.statements.put(&key, Arc::clone(&prepared), changes_before);
                prepared
            }
        };
        let plan = prepared.plan.as_ref().filter(|_| prepared.is_query())?;
        if !statements::query::has_generic_plan(self, plan, &prepared.kept).await.ok()? {
            return None;
        }
        // Logged, shown and checked as the text the client sent.
        let mut prepared = Prepared::clone(&prepared);
        prepared.sql = text.to_string();
        Some(self.execute(&prepared, Some(ParamValues::from(template.values))).await)
    }

    /// Parses and plans one statement for the extended protocol.
    pub async fn prepare(&self, text: &str) -> Result<Prepared> {
        if let Some(prepared) = self.statements.get(text, &self.engine.plan_changes) {
            return Ok(Prepared::clone(&prepared));
        }
        let changes_before = self.engine.plan_changes.current();
        let prepared = self.planner().text(text).await;
        match &prepared {
            Ok(prepared) if prepared.is_query() => self.statements.put(text, Arc::new(prepared.clone()), changes_before),
            Ok(_) => {}
            Err(e) => self.log_failure(text, e),
        }
        prepared
    }

    /// Executes a prepared statement with its parameter values.
    pub async fn execute(&self, prepared: &Prepared, params: Option<ParamValues>) -> Result<Output> {
        if prepared.is_empty() {
            return Ok(Output::Done { tag: "", rows: None });
        }
        let started = std::time::Instant::now();
        let started_at = crate::epoch_ms();
        self.engine.metrics.statement_started();
        let session_id = self.ctx.session_id();
        self.engine.running_statements.set(&session_id, &prepared.sql, &self.user);
        let running = self.interrupts.begin(&self.engine.scheduler, self.statement_timeout());
        let output = running.guard(crate::panics::contained(self.run_checked(prepared, params))).await.map(|output| match prepared.with_column_names(output) {
            Output::Rows { schema, rows } => Output::Rows { schema, rows: running.guard_rows(crate::panics::contained_rows(rows)) },
            Output::CopyOut { schema, rows, options } => Output::CopyOut { schema, rows: running.guard_rows(crate::panics::contained_rows(rows)), options },
            other => other,
        });
        if output.is_err() {
            self.engine.metrics.statement_failed();
        }
        // Whether it succeeded or not: a failed statement may have done part of its work.
        match prepared.effect() {
            Effect::Nothing => {}
            Effect::SessionSettings => self.settings_changed(),
            Effect::Anything => self.engine.plan_changes.note(),
        }
        self.engine.metrics.statement_took(started.elapsed());
        self.logged(&prepared.sql, started, started_at, output)
    }

    /// Records the statement in `squall.query_log`: now for commands and failures, when its last
    /// row has been sent (or the client stopped reading) for queries.
    fn logged(&self, sql: &str, started: std::time::Instant, started_at: i64, output: Result<Output>) -> Result<Output> {
        let entry = self.log_entry(sql, started_at);
        let log = Arc::clone(&self.engine.query_log);
        match output {
            Ok(Output::Rows { schema, rows }) => Ok(Output::Rows { schema, rows: crate::query_log::counted(rows, entry, started, log) }),
            Ok(Output::CopyOut { schema, rows, options }) => {
                Ok(Output::CopyOut { schema, rows: crate::query_log::counted(rows, entry, started, log), options })
            }
            // Logged when the client ends the copy, with the rows loaded.
            Ok(Output::CopyIn { columns }) => {
                if let Some((_, pending, _)) = self.copy_in.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                    *pending = entry;
                }
                Ok(Output::CopyIn { columns })
            }
            Ok(Output::Done { tag, rows }) => {
                log.record(&crate::query_log::Entry { duration_ms: started.elapsed().as_millis() as i64, rows: rows.map(|n| n as i64), ..entry });
                Ok(Output::Done { tag, rows })
            }
            Ok(other) => {
                log.record(&crate::query_log::Entry { duration_ms: started.elapsed().as_millis() as i64, ..entry });
                Ok(other)
            }
            Err(e) => {
                let sqlstate = e.sqlstate().to_string();
                log.record(&crate::query_log::Entry { duration_ms: started.elapsed().as_millis() as i64, sqlstate, ..entry });
                Err(e)
            }
        }
    }

    /// Records a command the connection carries out itself (DEALLOCATE, DISCARD), which never
    /// reaches [`Self::run_text`]; `sqlstate` is `00000` when it succeeded.
    pub(crate) fn log_connection_command(&self, sql: &str, started: std::time::Instant, started_at: i64, sqlstate: &str) {
        let entry = crate::query_log::Entry { duration_ms: started.elapsed().as_millis() as i64, sqlstate: sqlstate.to_string(), ..self.log_entry(sql, started_at) };
        self.engine.query_log.record(&entry);
    }

    /// Records a statement that failed before it could run (it did not parse or plan).
    fn log_failure(&self, sql: &str, error: &SquallError) {
        let sqlstate = error.sqlstate().to_string();
        self.engine.query_log.record(&crate::query_log::Entry { sqlstate, ..self.log_entry(sql, crate::epoch_ms()) });
    }

    /// A successful, instant, row-less entry for `sql` started at `time`, to be filled in.
    fn log_entry(&self, sql: &str, time: i64) -> crate::query_log::Entry {
        crate::query_log::Entry {
            time,
            user: self.user.clone(),
            client: self.client.clone(),
            statement: sql.to_string(),
            duration_ms: 0,
            rows: None,
            sqlstate: "00000".into(),
        }
    }

    /// Runs a statement the user may run. Privileges are checked again at each execution, so a
    /// REVOKE applies to statements prepared before it.
    async fn run_checked(&self, prepared: &Prepared, params: Option<ParamValues>) -> Result<Output> {
        match (&prepared.plan, &prepared.copy) {
            (Some(plan), _) => crate::access::checks::check(self, plan, &prepared.uses)?,
            (None, Some(_)) => crate::access::checks::check_uses(self, &prepared.uses)?,
            (None, None) => {}
        }
        self.run_prepared(prepared, params).await
    }

    async fn run_prepared(&self, prepared: &Prepared, params: Option<ParamValues>) -> Result<Output> {
        if let Some(copy) = &prepared.copy {
            return Box::pin(self.run_copy(copy, prepared.plan.as_ref())).await;
        }
        match (&prepared.command, &prepared.plan) {
            (Some(command), _) => match crate::commands::action(self, command) {
                crate::commands::Action::Run { run, .. } => run.await,
                crate::commands::Action::Query(_) => Err(SquallError::Internal(format!("{command:?} is planned as a query"))),
            },
            (None, Some(plan)) => {
                // A query bound without values runs as a simple query does, reusing its plan.
                let params = params.filter(|params| !(prepared.is_query() && matches!(params, ParamValues::List(values) if values.is_empty())));
                match params {
                    Some(params) => {
                        if prepared.is_query() {
                            if let Some(output) = statements::query::run_generic(self, plan, &prepared.kept, &params).await? {
                                return Ok(output);
                            }
                        }
                        statements::execute(self, &prepared.sql, plan.clone().replace_params_with_values(&params)?, None).await
                    }
                    None => statements::execute(self, &prepared.sql, plan.clone(), Some(&prepared.kept)).await,
                }
            }
            (None, None) => Ok(Output::Done { tag: "", rows: None }),
        }
    }

    /// Starts a COPY FROM STDIN (the client's data comes through [`Self::copy_data`]), or runs
    /// the query of a COPY TO STDOUT.
    async fn run_copy(&self, copy: &crate::copy::Copy, query: Option<&LogicalPlan>) -> Result<Output> {
        use crate::copy::{from_stdin, Copy};
        match (copy, query) {
            (Copy::In { table, columns, options }, _) => {
                let target = from_stdin::Target::resolve(&self.engine, table, columns, options.clone())?;
                let columns = target.columns.len();
                let copy_in = from_stdin::CopyIn::start(Arc::clone(&self.engine), target);
                let entry = self.log_entry("", crate::epoch_ms());
                *self.copy_in.lock().unwrap_or_else(|p| p.into_inner()) = Some((copy_in, entry, std::time::Instant::now()));
                Ok(Output::CopyIn { columns })
            }
            (Copy::Out { options, .. }, _) if options.kind == crate::copy::format::Kind::Binary => {
                Err(SquallError::Unsupported("COPY TO in binary format is not supported: use text or csv".into()))
            }
            (Copy::Out { options, .. }, Some(plan)) => match statements::execute(self, "", plan.clone(), None).await? {
                Output::Rows { schema, rows } => Ok(Output::CopyOut { schema, rows, options: options.clone() }),
                _ => Err(SquallError::Internal("COPY TO's query gave no rows".into())),
            },
            (Copy::Out { .. }, None) => Err(SquallError::Internal("COPY TO without its query".into())),
        }
    }

    /// Where the client's COPY data goes; `None` when no COPY FROM STDIN is under way.
    pub fn copy_sender(&self) -> Option<crate::copy::from_stdin::CopySender> {
        self.copy_in.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(copy, _, _)| copy.sender())
    }

    /// The client ended its COPY data (CopyDone): the rows loaded, or why none were.
    pub async fn finish_copy(&self) -> Result<u64> {
        let taken = self.copy_in.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some((copy, entry, started)) = taken else {
            return Err(SquallError::Internal("CopyDone without a COPY in progress".into()));
        };
        let result = copy.finish().await;
        // The table's files changed after the statement itself ended.
        self.engine.plan_changes.note();
        self.log_copy(entry, started, result.as_ref().map(|rows| *rows));
        result
    }

    /// The client gave up its COPY (CopyFail, or the connection closed): nothing is loaded.
    pub async fn abort_copy(&self, message: String) -> SquallError {
        let taken = self.copy_in.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some((copy, entry, started)) = taken else {
            return SquallError::QueryCanceled(format!("COPY from stdin failed: {message}"));
        };
        let error = copy.abort(message).await;
        self.log_copy(entry, started, Err(&error));
        error
    }

    fn log_copy(&self, entry: crate::query_log::Entry, started: std::time::Instant, result: std::result::Result<u64, &SquallError>) {
        let duration_ms = started.elapsed().as_millis() as i64;
        let entry = match result {
            Ok(rows) => crate::query_log::Entry { duration_ms, rows: Some(rows as i64), ..entry },
            Err(e) => crate::query_log::Entry { duration_ms, sqlstate: e.sqlstate().to_string(), ..entry },
        };
        self.engine.query_log.record(&entry);
    }
}

impl Drop for Session {
    /// The connection is gone: its last statement no longer names any job.
    fn drop(&mut self) {
        self.engine.running_statements.forget(&self.ctx.session_id());
    }
}
