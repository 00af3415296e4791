//! The planner: a statement's text → squall's statement → a plan. It parses (squall's commands
//! in `sql/`, standard SQL with DataFusion's Postgres-dialect parser), makes PostgreSQL's
//! rewrites ([`crate::pg`]), resolves model names, notes the tables and models a statement uses
//! for the privilege checks, types parameters named by casts, and plans with the session's
//! DataFusion state. A [`Session`] holds a connection's state and asks its planner
//! ([`Session::planner`]); what runs the plan is the session's ([`crate::statements`]).

use std::sync::{Arc, OnceLock};

use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use squall_sql::Statement;

use crate::commands::Action;
use crate::error::{Result, SquallError};
use crate::session::{is_query_plan, Prepared, Session};

/// Plans statements for one session, with its settings, user and planning state.
pub(crate) struct Planner<'a> {
    pub(crate) session: &'a Session,
}

impl Session {
    /// This session's planner.
    pub(crate) fn planner(&self) -> Planner<'_> {
        Planner { session: self }
    }
}

impl Planner<'_> {
    /// Parses and plans `text`, which holds at most one statement.
    pub(crate) async fn text(&self, text: &str) -> Result<Prepared> {
        let mut statements = squall_sql::parse_with_texts(text).map_err(|e| SquallError::Syntax(e.message))?;
        match statements.len() {
            0 => Ok(Prepared::default()),
            1 => {
                let (statement, shown) = statements.remove(0);
                crate::session::panics::contained(self.statement(&statement, &shown)).await
            }
            _ => Err(SquallError::Syntax("cannot insert multiple commands into a prepared statement".into())),
        }
    }

    /// `shown`: the statement's text as the query log and SHOW JOBS show it (passwords masked).
    pub(crate) async fn statement(&self, statement: &Statement, shown: &str) -> Result<Prepared> {
        if let Statement::Sql(sql) = statement {
            if crate::copy::is_copy(sql) {
                return self.copy(sql).await;
            }
        }
        // A SHOW answered by a query is planned as that query, and logged and shown as written.
        let (sql, rewritten) = match statement {
            // `statement_timeout` is squall's, not a DataFusion setting.
            Statement::Sql(sql) => match self.show_query(sql) {
                Some(query) => (query?, true),
                None => (sql.clone(), false),
            },
            Statement::Command(command) => match crate::commands::action(self.session, command) {
                // Commands that read state are queries over the system tables.
                Action::Query(query) => (query.to_string(), true),
                Action::Run { schema, .. } => {
                    return Ok(Prepared {
                        sql: shown.to_string(),
                        command: Some(command.clone()),
                        result_schema: Arc::new(OnceLock::from(schema)),
                        ..Default::default()
                    });
                }
            },
        };
        let (plan, uses, column_names) = self.sql_using(&sql).await?;
        let plan = crate::pg::parameters::typed_by_casts(plan)?;
        let plan = if is_query_plan(&plan) { crate::pg::types::with_postgres_types(plan)? } else { plan };
        let sql = if rewritten { shown.to_string() } else { sql };
        Ok(Prepared { sql, plan: Some(plan), uses, column_names, ..Default::default() })
    }

    /// `SHOW name` of a PostgreSQL parameter (which DataFusion does not know) as a one-row query.
    fn show_query(&self, sql: &str) -> Option<Result<String>> {
        let name = crate::pg::settings::shown_parameter(sql)?;
        let value = if name == crate::session::interrupts::STATEMENT_TIMEOUT {
            Ok(crate::session::interrupts::show_timeout(self.session.statement_timeout()))
        } else {
            self.session.pg_settings.get(&name)
        };
        Some(value.map(|v| format!("SELECT {} AS \"{name}\"", crate::pg::sql_rewrites::quoted(&v))))
    }

    async fn copy(&self, sql: &str) -> Result<Prepared> {
        let copy = crate::copy::parse(sql)?;
        let (plan, uses, column_names) = match &copy {
            crate::copy::Copy::In { table, .. } => (None, crate::access::checks::Uses { writes: vec![(table.clone(), squall_sql::Privilege::Insert)], ..Default::default() }, None),
            crate::copy::Copy::Out { query, .. } => {
                let (plan, uses, column_names) = self.sql_using(query).await?;
                (Some(crate::pg::types::with_postgres_types(plan)?), uses, column_names)
            }
        };
        Ok(Prepared { sql: sql.to_string(), plan, uses, copy: Some(copy), column_names, ..Default::default() })
    }

    /// Plans standard SQL. DataFusion's own parser reads its extension `CREATE EXTERNAL TABLE`;
    /// the Postgres-compatibility parser reads everything else, including what psql, JDBC and BI
    /// tools send (casts to `regclass`, `OPERATOR(pg_catalog.~)`, ...).
    pub(crate) async fn sql(&self, sql: &str) -> Result<LogicalPlan> {
        Ok(self.sql_using(sql).await?.0)
    }

    /// Plans standard SQL the session's user may run; with what it uses (see [`Self::sql`]).
    /// The third part is PostgreSQL's names for a query's columns ([`crate::pg::column_names`]).
    async fn sql_using(&self, sql: &str) -> Result<(LogicalPlan, crate::access::checks::Uses, Option<Vec<Option<String>>>)> {
        self.sql_naming(sql, false).await
    }

    /// [`Self::sql_using`]; with `unique_names`, a query's result columns get names of their
    /// own in the plan (see the retry below).
    async fn sql_naming(&self, sql: &str, unique_names: bool) -> Result<(LogicalPlan, crate::access::checks::Uses, Option<Vec<Option<String>>>)> {
        let mut uses = crate::access::checks::Uses::default();
        let mut column_names = None;
        let statement = match DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {}) {
            // sqlparser reads `CREATE EXTERNAL TABLE` as Hive's statement, which DataFusion
            // refuses; only DataFusion's parser gives the statement DataFusion plans.
            // The same holds for `RESET name`.
            Ok(mut statements)
                if matches!(statements.front(), Some(DfStatement::CreateExternalTable(_) | DfStatement::Reset(_))) && statements.len() == 1 =>
            {
                statements.pop_front().expect("one statement")
            }
            _ => match self.session.engine.pg_rules.parse(&time_travel_desugared(sql)) {
                Ok(mut statements) if statements.len() == 1 => {
                    let mut statement = statements.remove(0);
                    // Named from what the client wrote, before squall's rewrites.
                    column_names = crate::pg::column_names::of(&statement);
                    // PostgreSQL's BEGIN means START TRANSACTION, which is the form DataFusion plans.
                    if let SqlStatement::StartTransaction { begin, .. } = &mut statement {
                        *begin = false;
                    }
                    // `SET [SESSION CHARACTERISTICS AS] TRANSACTION ...` (JDBC's
                    // setTransactionIsolation): every squall statement is atomic on its own
                    // whatever the level (README: transactions), so the level is only recorded.
                    if let SqlStatement::Set(datafusion::sql::sqlparser::ast::Set::SetTransaction { .. }) = &statement {
                        return Box::pin(self.sql_using("SET transaction_isolation = 'read committed'")).await;
                    }
                    // `SET TIME ZONE x` is `SET timezone = x`, which DataFusion does not plan.
                    if let SqlStatement::Set(datafusion::sql::sqlparser::ast::Set::SetTimeZone { value, .. }) = &statement {
                        return Box::pin(self.sql_using(&format!("SET timezone = {value}"))).await;
                    }
                    // `CREATE TABLE t ... LOCATION 'url'`: a managed Delta table at that URL. sqlparser
                    // reads LOCATION as a Hive format, which DataFusion refuses; the statement is
                    // planned without it and CREATE TABLE reads it back from the text.
                    crate::statements::without_table_location(&mut statement);
                    let mut statement = self.session.engine.pg_rules.prepare(statement);
                    // squall's rewrites can hoist a catalog lookup out of CASE into the select
                    // list, where the catalog rules (run again) treat it as any other.
                    let mut statement = if crate::pg::sql_rewrites::rewrite(&mut statement) { self.session.engine.pg_rules.rewrite(statement) } else { statement };
                    crate::pg::rewrite_rules::strip_byte_order_collations(&mut statement)?;
                    if crate::pg::sql_rewrites::mentions(sql, "pg_settings") {
                        crate::pg::sql_rewrites::settings_view(&mut statement, &self.session.pg_settings.all());
                    }
                    if crate::pg::sql_rewrites::mentions(sql, "pg_roles") {
                        crate::pg::sql_rewrites::roles_view(&mut statement, &self.session.engine.users.roles());
                    }
                    crate::access::internal_functions::refuse_internal_calls(&statement)?;
                    let models = crate::models::references::resolve(&mut statement, &self.session.engine.models)?;
                    uses = crate::access::checks::Uses::of(&statement, models);
                    // `t VERSION AS OF n`: checked and loaded before planning.
                    crate::storage::delta::time_travel::resolve(&statement, self.session).await?;
                    if unique_names {
                        crate::pg::sql_rewrites::unique_output_names(&mut statement);
                    }
                    DfStatement::Statement(Box::new(statement))
                }
                Ok(_) => return Err(SquallError::Syntax("expected exactly one statement".into())),
                Err(e) => return Err(SquallError::Syntax(syntax_message(&e.to_string()))),
            },
        };
        let planned = self.session.planning.state(&self.session.ctx).await.statement_to_plan(statement).await;
        let plan = match planned {
            // PostgreSQL allows repeated result names, DataFusion does not (`SELECT a, a`, or
            // `SELECT a, 1 AS a`, where an alias repeats a column's name): the statement is
            // planned again with unique ones (rare, so the first attempt keeps no copy), and
            // clients still see PostgreSQL's (`column_names`).
            Err(e) if repeats_a_name(&e) && column_names.is_some() && !unique_names => {
                return Box::pin(self.sql_naming(sql, true)).await;
            }
            plan => plan?,
        };
        // Checked at planning too, so that the queries of TRAIN MODEL and EVALUATE ... ON are.
        crate::access::checks::check(self.session, &plan, &uses)?;
        Ok((plan, uses, column_names))
    }
}

/// `sql` as squall's parser reads it: regproc literals as names, `t VERSION | TIMESTAMP AS OF x`
/// as a table function (see [`crate::storage::delta::time_travel`]).
fn time_travel_desugared(sql: &str) -> std::borrow::Cow<'_, str> {
    let sql = match crate::pg::sql_rewrites::regproc_literals_as_names(sql) {
        Some(rewritten) => std::borrow::Cow::Owned(rewritten),
        None => std::borrow::Cow::Borrowed(sql),
    };
    match crate::storage::delta::time_travel::desugar(&sql) {
        Some(desugared) => std::borrow::Cow::Owned(desugared),
        None => sql,
    }
}

/// Whether DataFusion refused a plan because two of its result columns have the same name.
fn repeats_a_name(error: &datafusion::error::DataFusionError) -> bool {
    let text = error.to_string();
    text.contains("require unique expression names") || (text.contains("unqualified field name") && text.contains("would be ambiguous"))
}

/// sqlparser's "sql parser error: Expected: ..., found: x at Line: 1, Column: 8" in PostgreSQL's
/// words.
fn syntax_message(parser_error: &str) -> String {
    let detail = parser_error.trim_start_matches("sql parser error: ");
    format!("syntax error: {detail}")
}
