//! `CREATE TABLE t (...) [LOCATION 'url']` and `CREATE TABLE t [LOCATION 'url'] AS query`: a
//! managed table, a Delta table under the data directory or at the URL (an object store, or an
//! absolute path; DROP TABLE then leaves its files, as Spark does for tables with a location).
//!
//! The table's first commit (version 0) holds its columns and, for `AS query`, all its rows; the
//! catalog learns of it after that commit, so the statement is atomic: after a crash the table
//! either exists with all its rows or does not exist (the next start removes a directory the
//! catalog does not list).

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::logical_expr::{CreateMemoryTable, Expr, LogicalPlan};
use datafusion::sql::sqlparser::ast::Statement;

use super::{claim_name, query};
use crate::storage::catalog::Entry;
use crate::storage::delta::write::delta_schema;
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

/// The `LOCATION '...'` of a `CREATE TABLE` statement, taken out of it (only when it is the one
/// Hive format it has: `STORED AS` and the like are left for DataFusion to refuse).
pub(super) fn take_location(statement: &mut Statement) -> Option<String> {
    let Statement::CreateTable(create) = statement else { return None };
    let hive = create.hive_formats.as_ref()?;
    if hive.row_format.is_some() || hive.storage.is_some() || hive.serde_properties.is_some() {
        return None;
    }
    let location = hive.location.clone()?;
    create.hive_formats = None;
    Some(location)
}

/// The LOCATION written in `sql`, a CREATE TABLE.
fn location_in(sql: &str) -> Option<String> {
    let mut statements = datafusion::sql::sqlparser::parser::Parser::parse_sql(&datafusion::sql::sqlparser::dialect::PostgreSqlDialect {}, sql).ok()?;
    take_location(statements.first_mut()?)
}

/// 0A000 for a column `DEFAULT` other than NULL: squall does not keep defaults yet, and an
/// INSERT leaving the column out would store NULL where the user declared a value.
fn refuse_defaults(create: &CreateMemoryTable) -> Result<()> {
    fn is_null(expr: &Expr) -> bool {
        match expr {
            Expr::Literal(value, _) => value.is_null(),
            Expr::Cast(cast) => is_null(&cast.expr),
            _ => false,
        }
    }
    match create.column_defaults.iter().find(|(_, default)| !is_null(default)) {
        Some((column, default)) => Err(SquallError::Unsupported(format!(
            "column \"{column}\" has DEFAULT {default}: squall does not keep column defaults yet; leave DEFAULT out and insert the value explicitly"
        ))),
        None => Ok(()),
    }
}

pub(super) async fn run(session: &Session, sql: &str, create: CreateMemoryTable) -> Result<Output> {
    refuse_defaults(&create)?;
    let Some(relation) = claim_name(session, &create.name, create.or_replace, create.temporary, create.if_not_exists).await? else {
        return Ok(Output::Done { tag: "CREATE TABLE", rows: None });
    };
    let name = relation.name.clone();
    let engine = &session.engine;

    let has_rows = !matches!(create.input.as_ref(), LogicalPlan::EmptyRelation(e) if !e.produce_one_row);
    let declared = create.input.schema().as_arrow().clone();
    let schema = if has_rows {
        // CREATE TABLE AS: columns take the query's names and types and, as in PostgreSQL,
        // accept NULLs whatever the query's nullability.
        Schema::new(declared.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect::<Vec<_>>())
    } else {
        declared
    };
    // The columns as the Delta table gives them back (e.g. timestamps in microseconds).
    let schema = Arc::new(delta_schema(&schema)?);

    let location = location_in(sql);
    let url = match &location {
        Some(location) => crate::storage::delta::location_url(location)?,
        None => {
            // A directory left by a crash before its catalog entry is no table's.
            engine.tables.delete_managed(&name)?;
            engine.tables.managed_url(&name)
        }
    };
    let rows = if has_rows {
        let rows = query::stream(session, create.input.as_ref().clone()).await?;
        Some(engine.tables.append(&url, Arc::clone(&schema), rows, &session.committer(), Some(&name)).await?)
    } else {
        engine.tables.create(&url, &name, &schema, &session.committer()).await?;
        None
    };
    let entry = Entry::Managed { name: name.clone(), schema: schema.as_ref().clone(), location: location.map(|_| url.to_string()), moved_from: None };
    engine.catalog.insert(entry.clone())?;
    engine.register(&entry).await?;
    Ok(match rows {
        Some(rows) => Output::Done { tag: "SELECT", rows: Some(rows) },
        None => Output::Done { tag: "CREATE TABLE", rows: None },
    })
}
