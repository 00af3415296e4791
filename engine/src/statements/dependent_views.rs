//! The views that read a table or view. A view is kept as its statement and planned once, at
//! CREATE VIEW (and at start-up), against the relations of that moment: dropping, renaming or
//! renaming a column of a relation it reads would leave it reading files that moved, or a new
//! relation that took the name, where PostgreSQL's views follow the object they were made on.
//! So such statements are refused while views depend on the relation: DROP with 2BP01, as
//! PostgreSQL refuses it without CASCADE; a rename with 0A000, saying how to do it.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{visit_relations, Query, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use squall_udf::settings::{DATABASE, DEFAULT_SCHEMA};

use crate::engine::Engine;
use crate::error::{Result, SquallError};
use crate::storage::catalog::Entry;

/// The views whose statement reads `name` (in a subquery too; a view of a view reads that view,
/// not what it reads), sorted. Read from the statements kept in the catalog: the plans DataFusion
/// keeps have the views they read inlined.
pub(crate) fn of(engine: &Engine, name: &str) -> Vec<String> {
    let mut dependents: Vec<String> = engine
        .catalog
        .entries()
        .into_iter()
        .filter_map(|entry| match entry {
            Entry::View { name: view, ddl } if view != name && reads(&ddl, name) => Some(view),
            _ => None,
        })
        .collect();
    dependents.sort();
    dependents
}

/// Whether the statement `ddl` names the relation `name` (bare, `public.name` or
/// `squall.public.name`) other than as one of its own CTEs.
fn reads(ddl: &str, name: &str) -> bool {
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, ddl) else { return false };
    let mut ctes = CteNames::default();
    let _ = statements.visit(&mut ctes);
    let mut found = false;
    let _ = visit_relations(&statements, |relation| {
        let parts: Vec<String> = relation.0.iter().filter_map(|part| part.as_ident()).map(|ident| match ident.quote_style {
            Some(_) => ident.value.clone(),
            None => ident.value.to_lowercase(),
        }).collect();
        let matches = match parts.as_slice() {
            [table] => table == name && !ctes.0.contains(name),
            [schema, table] => schema == DEFAULT_SCHEMA && table == name,
            [catalog, schema, table] => catalog == DATABASE && schema == DEFAULT_SCHEMA && table == name,
            _ => false,
        };
        if matches {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// The names of the CTEs a statement defines, anywhere in it.
#[derive(Default)]
struct CteNames(BTreeSet<String>);

impl Visitor for CteNames {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        for cte in query.with.iter().flat_map(|with| &with.cte_tables) {
            let ident = &cte.alias.name;
            self.0.insert(if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_lowercase() });
        }
        ControlFlow::Continue(())
    }
}

fn listed(views: &[String]) -> String {
    match views {
        [one] => format!("view {one}"),
        many => format!("views {}", many.join(", ")),
    }
}

/// 2BP01 when views read `name` (`what`: "table" or "view"), as PostgreSQL's DROP without
/// CASCADE.
pub(crate) fn refuse_drop(engine: &Engine, what: &str, name: &str) -> Result<()> {
    refuse_if_read(engine, name, |views, singular| {
        SquallError::DependentObjectsStillExist(format!(
            "cannot drop {what} {name} because other objects depend on it: {views} {} on {what} {name}; drop the dependent views first",
            if singular { "depends" } else { "depend" }
        ))
    })
}

/// 0A000 when views read `name`, which `change` (e.g. "rename table t") would leave reading
/// the wrong thing.
pub(crate) fn refuse_rename(engine: &Engine, change: &str, name: &str) -> Result<()> {
    refuse_if_read(engine, name, |views, singular| {
        SquallError::Unsupported(format!(
            "cannot {change}: {views} {} it, and squall's views do not follow a rename; drop the views, rename, and create them again",
            if singular { "reads" } else { "read" }
        ))
    })
}

/// `refusal(the views listed, whether there is one)` when views read `name`.
fn refuse_if_read(engine: &Engine, name: &str, refusal: impl FnOnce(String, bool) -> SquallError) -> Result<()> {
    let views = of(engine, name);
    if views.is_empty() {
        return Ok(());
    }
    Err(refusal(listed(&views), views.len() == 1))
}

#[cfg(test)]
mod tests {
    use super::reads;

    #[test]
    fn a_view_reads_the_relations_its_statement_names_but_not_its_own_ctes() {
        assert!(reads("CREATE VIEW v AS SELECT a FROM t", "t"));
        assert!(reads("CREATE VIEW v AS SELECT a FROM public.t JOIN u USING (a)", "u"));
        assert!(reads("CREATE VIEW v AS SELECT a FROM squall.public.T", "t"));
        assert!(reads("CREATE VIEW v AS SELECT 1 WHERE EXISTS (SELECT 1 FROM u WHERE u.a IN (SELECT a FROM w))", "w"));
        assert!(reads("CREATE VIEW v AS SELECT * FROM \"Mixed\"", "Mixed"));
        assert!(!reads("CREATE VIEW v AS SELECT * FROM \"Mixed\"", "mixed"));
        assert!(!reads("CREATE VIEW v AS SELECT a FROM tt", "t"));
        assert!(!reads("CREATE VIEW v AS SELECT a FROM other.t", "t"));
        assert!(!reads("CREATE VIEW v AS WITH t AS (SELECT 1 AS a) SELECT a FROM t", "t"));
    }
}
