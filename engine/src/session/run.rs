//! The path of a statement through a session: text to [`Output`], planned by the session's
//! planner ([`crate::planner`]), checked, registered for cancel requests and `statement_timeout`
//! ([`super::interrupts`]), run by [`crate::commands`] or [`crate::statements`], and logged
//! ([`super::query_log`]); and the data of a COPY FROM STDIN.

use std::sync::Arc;

use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;

use super::prepared::Effect;
use super::{Output, Prepared, Session};
use crate::error::{Result, SquallError};
use crate::statements;

impl Session {
    /// Runs every statement of a simple-query message, stopping at the first error as
    /// PostgreSQL does; the outputs before the error are kept.
    pub async fn run_text(&self, text: &str) -> Vec<Result<Output>> {
        self.apply_role_settings().await;
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
            let output = match crate::session::panics::contained(self.planner().statement(&statement, &shown)).await {
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
        self.apply_role_settings().await;
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
        let output = running.guard(crate::session::panics::contained(self.run_checked(prepared, params))).await.map(|output| match prepared.with_column_names(output) {
            Output::Rows { schema, rows } => Output::Rows { schema, rows: running.guard_rows(crate::session::panics::contained_rows(rows)) },
            Output::CopyOut { schema, rows, options } => Output::CopyOut { schema, rows: running.guard_rows(crate::session::panics::contained_rows(rows)), options },
            other => other,
        });
        if let Err(e) = &output {
            self.engine.metrics.statement_failed(e.classified().0);
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
            Ok(Output::Rows { schema, rows }) => Ok(Output::Rows { schema, rows: crate::session::query_log::counted(rows, entry, started, log) }),
            Ok(Output::CopyOut { schema, rows, options }) => {
                Ok(Output::CopyOut { schema, rows: crate::session::query_log::counted(rows, entry, started, log), options })
            }
            // Logged when the client ends the copy, with the rows loaded.
            Ok(Output::CopyIn { columns }) => {
                if let Some((_, pending, _)) = self.copy_in.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                    *pending = entry;
                }
                Ok(Output::CopyIn { columns })
            }
            Ok(Output::Done { tag, rows }) => {
                log.record(&crate::session::query_log::Entry { duration_ms: started.elapsed().as_millis() as i64, rows: rows.map(|n| n as i64), ..entry });
                Ok(Output::Done { tag, rows })
            }
            Ok(other) => {
                log.record(&crate::session::query_log::Entry { duration_ms: started.elapsed().as_millis() as i64, ..entry });
                Ok(other)
            }
            Err(e) => {
                let sqlstate = e.sqlstate().to_string();
                log.record(&crate::session::query_log::Entry { duration_ms: started.elapsed().as_millis() as i64, sqlstate, ..entry });
                Err(e)
            }
        }
    }

    /// Records a command the connection carries out itself (DEALLOCATE, DISCARD), which never
    /// reaches [`Self::run_text`]; `sqlstate` is `00000` when it succeeded.
    pub(crate) fn log_connection_command(&self, sql: &str, started: std::time::Instant, started_at: i64, sqlstate: &str) {
        let entry = crate::session::query_log::Entry { duration_ms: started.elapsed().as_millis() as i64, sqlstate: sqlstate.to_string(), ..self.log_entry(sql, started_at) };
        self.engine.query_log.record(&entry);
    }

    /// Records a statement that failed before it could run (it did not parse or plan).
    fn log_failure(&self, sql: &str, error: &SquallError) {
        self.engine.metrics.failure_seen(error.classified().0);
        let sqlstate = error.sqlstate().to_string();
        self.engine.query_log.record(&crate::session::query_log::Entry { sqlstate, ..self.log_entry(sql, crate::epoch_ms()) });
    }

    /// A successful, instant, row-less entry for `sql` started at `time`, to be filled in.
    fn log_entry(&self, sql: &str, time: i64) -> crate::session::query_log::Entry {
        crate::session::query_log::Entry {
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
    pub(super) async fn run_checked(&self, prepared: &Prepared, params: Option<ParamValues>) -> Result<Output> {
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
                let target = from_stdin::Target::resolve(&self.engine, &self.user, table, columns, options.clone())?;
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

    fn log_copy(&self, entry: crate::session::query_log::Entry, started: std::time::Instant, result: std::result::Result<u64, &SquallError>) {
        let duration_ms = started.elapsed().as_millis() as i64;
        let entry = match result {
            Ok(rows) => crate::session::query_log::Entry { duration_ms, rows: Some(rows as i64), ..entry },
            Err(e) => crate::session::query_log::Entry { duration_ms, sqlstate: e.sqlstate().to_string(), ..entry },
        };
        self.engine.query_log.record(&entry);
    }
}
