//! `CREATE TABLE t (...)` and `CREATE TABLE t AS query`: a managed table, stored as Parquet
//! under the data directory.
//!
//! For `AS query` the rows are written to a staged file first and the table is committed to the
//! catalog only after they are all on disk, so the statement is atomic: after a crash the table
//! either exists with all its rows or does not exist.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::logical_expr::{CreateMemoryTable, LogicalPlan};

use super::{query, user_table_name};
use crate::catalog::Entry;
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

pub(super) async fn run(session: &Session, create: CreateMemoryTable) -> Result<Output> {
    let name = user_table_name(&create.name)?;
    if create.or_replace {
        return Err(SquallError::Unsupported("CREATE OR REPLACE TABLE is not supported; DROP the table first".into()));
    }
    if create.temporary {
        return Err(SquallError::Unsupported("temporary tables are not supported".into()));
    }
    let engine = &session.engine;
    let _ddl = engine.ddl_lock.lock().await;
    if table_exists(session, &name).await {
        return if create.if_not_exists {
            Ok(Output::Done { tag: "CREATE TABLE", rows: None })
        } else {
            Err(SquallError::DuplicateTable(format!("relation \"{name}\" already exists")))
        };
    }

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

/// Whether `name` is taken in the default schema (by a table or a view, of any kind).
pub(super) async fn table_exists(session: &Session, name: &str) -> bool {
    session.engine.catalog.get(name).is_some() || session.ctx.table_exist(name).unwrap_or(false)
}
