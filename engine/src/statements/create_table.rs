//! `CREATE TABLE t (...)` and `CREATE TABLE t AS query`: a managed table, stored as Parquet
//! under the data directory.
//!
//! For `AS query` the rows are written to a staged file first and the table is committed to the
//! catalog only after they are all on disk, so the statement is atomic: after a crash the table
//! either exists with all its rows or does not exist.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::logical_expr::{CreateMemoryTable, LogicalPlan};

use super::{claim_name, query};
use crate::storage::catalog::Entry;
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
    let schema = Arc::new(if has_rows {
        // CREATE TABLE AS: columns take the query's names and types and, as in PostgreSQL,
        // accept NULLs whatever the query's nullability.
        Schema::new(declared.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect::<Vec<_>>())
    } else {
        declared
    });

    let staged = if has_rows {
        let rows = query::stream(session, create.input.as_ref().clone()).await?;
        Some(engine.tables.stage(&schema, rows).await?)
    } else {
        None
    };
    engine.tables.create(&name)?;
    let rows = match staged {
        Some(staged) => Some(engine.tables.publish(&name, staged)?),
        None => None,
    };
    let entry = Entry::Managed { name: name.clone(), schema: schema.as_ref().clone() };
    engine.catalog.insert(entry.clone())?;
    engine.register(&entry).await?;
    Ok(match rows {
        Some(rows) => Output::Done { tag: "SELECT", rows: Some(rows) },
        None => Output::Done { tag: "CREATE TABLE", rows: None },
    })
}
