//! Privilege checks on what a statement does. What a statement reads is taken from its text as
//! written (DataFusion's planner inlines views, after which a view's rows would look like reads of
//! its tables); it is checked when the statement is planned and again at each execution, so that
//! a REVOKE applies to statements prepared before it.

use std::ops::ControlFlow;

use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{visit_relations, FromTable, MergeAction, ObjectName, Statement, TableFactor, TableObject};
use squall_sql::{ObjectKind, Privilege};

use crate::error::{Result, SquallError};
use crate::session::Session;

/// The catalog objects a statement uses, by name.
#[derive(Debug, Clone, Default)]
pub struct Uses {
    /// Tables and views it reads.
    pub reads: Vec<String>,
    /// The tables it changes, and how (INSERT, UPDATE, DELETE; MERGE each its clauses do).
    pub writes: Vec<(String, Privilege)>,
    /// Models its PREDICT calls apply.
    pub models: Vec<String>,
}

impl Uses {
    /// What `statement` reads and writes; `models` were found resolving its PREDICT calls.
    pub fn of(statement: &Statement, models: Vec<String>) -> Self {
        let mut reads = Vec::new();
        let _ = visit_relations(statement, |name: &ObjectName| {
            reads.push(relation_name(name));
            ControlFlow::<()>::Continue(())
        });
        let mut writes = Vec::new();
        // The target is visited as a relation too: it is written, and read only when the
        // statement reads its columns (PostgreSQL's rule: UPDATE ... WHERE needs SELECT too).
        let mut written = |target: &ObjectName, privileges: &[Privilege], reads_it: bool| {
            let target = relation_name(target);
            if !reads_it {
                if let Some(at) = reads.iter().position(|r| *r == target) {
                    reads.remove(at);
                }
            }
            writes.extend(privileges.iter().map(|p| (target.clone(), *p)));
        };
        match statement {
            Statement::Insert(insert) => {
                if let TableObject::TableName(target) = &insert.table {
                    written(target, &[Privilege::Insert], false);
                }
            }
            Statement::Update(update) => {
                if let TableFactor::Table { name, .. } = &update.table.relation {
                    let reads_columns = update.selection.is_some() || update.assignments.iter().any(|a| reads_a_column(&a.value));
                    written(name, &[Privilege::Update], reads_columns);
                }
            }
            Statement::Delete(delete) => {
                let targets = match &delete.from {
                    FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => from,
                };
                if let Some(TableFactor::Table { name, .. }) = targets.first().map(|t| &t.relation) {
                    written(name, &[Privilege::Delete], delete.selection.is_some());
                }
            }
            Statement::Merge(merge) => {
                if let TableFactor::Table { name, .. } = &merge.table {
                    let mut privileges: Vec<Privilege> = merge
                        .clauses
                        .iter()
                        .map(|clause| match clause.action {
                            MergeAction::Insert(_) => Privilege::Insert,
                            MergeAction::Update { .. } => Privilege::Update,
                            MergeAction::Delete { .. } => Privilege::Delete,
                        })
                        .collect();
                    privileges.sort();
                    privileges.dedup();
                    // ON reads the target's columns.
                    written(name, &privileges, true);
                }
            }
            _ => {}
        }
        Self { reads, writes, models }
    }
}

/// Whether `value` names a column (rather than being made of constants only).
fn reads_a_column(value: &datafusion::sql::sqlparser::ast::Expr) -> bool {
    let mut found = false;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(value, |e: &datafusion::sql::sqlparser::ast::Expr| {
        found |= matches!(e, datafusion::sql::sqlparser::ast::Expr::Identifier(_) | datafusion::sql::sqlparser::ast::Expr::CompoundIdentifier(_) | datafusion::sql::sqlparser::ast::Expr::Subquery(_));
        ControlFlow::<()>::Continue(())
    });
    found
}

/// The table name DataFusion resolves `name` to in squall's one schema (unquoted parts fold to
/// lower case); names in other schemas (pg_catalog, squall's system tables) give "".
pub(crate) fn relation_name(name: &ObjectName) -> String {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| if i.quote_style.is_some() { i.value.clone() } else { i.value.to_lowercase() })
        .collect();
    match parts.as_slice() {
        [table] => table.clone(),
        [schema, table] if schema == squall_udf::settings::DEFAULT_SCHEMA => table.clone(),
        [catalog, schema, table] if catalog == squall_udf::settings::DATABASE && schema == squall_udf::settings::DEFAULT_SCHEMA => table.clone(),
        // Not in the user schema: never a catalog entry, so never checked here.
        _ => String::new(),
    }
}

/// Checks that the session's user may run a statement that plans to `plan` and uses `uses`.
pub fn check(session: &Session, plan: &LogicalPlan, uses: &Uses) -> Result<()> {
    if session.is_superuser() {
        return Ok(());
    }
    if session.engine.query_log.is_read_by(plan) {
        return Err(crate::session::query_log::permission_denied());
    }
    match plan {
        LogicalPlan::Ddl(ddl) => return Err(must_be_superuser(ddl.name())),
        LogicalPlan::Dml(dml) if uses.writes.is_empty() => return Err(must_be_superuser(&dml.op.to_string())),
        _ => {}
    }
    granted(session, uses)
}

/// Checks that the session's user may read, insert into and apply what `uses` names.
pub fn check_uses(session: &Session, uses: &Uses) -> Result<()> {
    if session.is_superuser() {
        return Ok(());
    }
    granted(session, uses)
}

/// The grants `uses` needs, for a user who is not a superuser.
fn granted(session: &Session, uses: &Uses) -> Result<()> {
    for (table, privilege) in &uses.writes {
        require(session, ObjectKind::Table, table, *privilege)?;
    }
    // Names that are not catalog objects are CTEs or system tables, which carry no grants.
    for table in uses.reads.iter().filter(|t| session.engine.catalog.get(t).is_some()) {
        require(session, ObjectKind::Table, table, Privilege::Select)?;
    }
    for model in &uses.models {
        check_model(session, model)?;
    }
    Ok(())
}

/// Checks that the session's user may use the model called `name`.
pub fn check_model(session: &Session, name: &str) -> Result<()> {
    require(session, ObjectKind::Model, name, Privilege::Usage)
}

/// 42501 unless the session's user is a superuser.
pub fn require_superuser(session: &Session, what: &str) -> Result<()> {
    if session.is_superuser() {
        Ok(())
    } else {
        Err(must_be_superuser(what))
    }
}

fn require(session: &Session, kind: ObjectKind, name: &str, privilege: Privilege) -> Result<()> {
    if session.engine.users.allows(&session.user, kind, name, privilege) {
        return Ok(());
    }
    let what = match kind {
        ObjectKind::Table => "table",
        ObjectKind::Model => "model",
    };
    Err(SquallError::InsufficientPrivilege(format!("permission denied for {what} {name}")))
}

fn must_be_superuser(what: &str) -> SquallError {
    SquallError::InsufficientPrivilege(format!("permission denied: {what} needs a superuser"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn uses(sql: &str) -> Uses {
        Uses::of(&Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap()[0], vec![])
    }

    #[test]
    fn reads_and_inserts_as_written() {
        let u = uses("INSERT INTO Orders SELECT * FROM orders o JOIN public.\"Items\" i ON true WHERE o.id IN (SELECT id FROM v)");
        assert_eq!(u.writes, vec![("orders".to_string(), Privilege::Insert)]);
        assert_eq!(u.reads, vec!["orders".to_string(), "Items".to_string(), "v".to_string()]);
        assert_eq!(uses("SELECT * FROM squall.query_log, pg_catalog.pg_class").reads, vec![String::new(), String::new()]);
        assert_eq!(uses("INSERT INTO t VALUES (1)").reads, Vec::<String>::new());
    }

    #[test]
    fn updates_deletes_and_merges_need_their_privileges_and_select_when_they_read() {
        let u = uses("UPDATE t SET a = 1");
        assert_eq!((u.writes, u.reads), (vec![("t".to_string(), Privilege::Update)], vec![]));
        let u = uses("UPDATE t SET a = a + 1");
        assert_eq!((u.writes, u.reads), (vec![("t".to_string(), Privilege::Update)], vec!["t".to_string()]));
        let u = uses("DELETE FROM t WHERE id = 3");
        assert_eq!((u.writes, u.reads), (vec![("t".to_string(), Privilege::Delete)], vec!["t".to_string()]));
        assert_eq!(uses("DELETE FROM t").reads, Vec::<String>::new());
        let u = uses("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT VALUES (s.id)");
        assert_eq!(u.writes, vec![("t".to_string(), Privilege::Insert), ("t".to_string(), Privilege::Delete)]);
        assert_eq!(u.reads, vec!["t".to_string(), "s".to_string()]);
    }
}
