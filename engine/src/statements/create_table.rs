//! `CREATE TABLE t (...)` and `CREATE TABLE t AS query`: a managed table, a Delta table under
//! the data directory.
//!
//! The table's first commit (version 0) holds its columns and, for `AS query`, all its rows; the
//! catalog learns of it after that commit, so the statement is atomic: after a crash the table
//! either exists with all its rows or does not exist (the next start removes a directory the
//! catalog does not list).

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::logical_expr::{CreateMemoryTable, LogicalPlan};

use super::{claim_name, query};
use crate::storage::catalog::Entry;
use crate::storage::delta::write::delta_schema;
use crate::error::Result;
use crate::session::{Output, Session};

pub(super) async fn run(session: &Session, create: CreateMemoryTable) -> Result<Output> {
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

    // A directory left by a crash before its catalog entry is no table's.
    engine.tables.delete_managed(&name)?;
    let url = engine.tables.managed_url(&name);
    let rows = if has_rows {
        let rows = query::stream(session, create.input.as_ref().clone()).await?;
        Some(engine.tables.append(&url, Arc::clone(&schema), rows, &session.committer(), Some(&name)).await?)
    } else {
        engine.tables.create(&url, &name, &schema, &session.committer()).await?;
        None
    };
    let entry = Entry::Managed { name: name.clone(), schema: schema.as_ref().clone(), location: None, moved_from: None };
    engine.catalog.insert(entry.clone())?;
    engine.register(&entry).await?;
    Ok(match rows {
        Some(rows) => Output::Done { tag: "SELECT", rows: Some(rows) },
        None => Output::Done { tag: "CREATE TABLE", rows: None },
    })
}
