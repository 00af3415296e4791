//! The `squall` schema: system tables computed when they are read (`squall.executors`, and later
//! `squall.models`, `squall.jobs`, ...). They live on the coordinator only, so a query that reads
//! them runs there.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::TableType;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use futures::future::BoxFuture;

/// The name of the schema that holds squall's system tables.
pub const SYSTEM_SCHEMA: &str = "squall";

/// Produces the current rows of a system table.
pub type RowSource = Arc<dyn Fn() -> BoxFuture<'static, Result<RecordBatch>> + Send + Sync>;

/// A table whose rows are produced fresh at every scan.
pub struct SystemTable {
    schema: SchemaRef,
    rows: RowSource,
}

impl SystemTable {
    pub fn new(schema: SchemaRef, rows: RowSource) -> Self {
        Self { schema, rows }
    }
}

impl fmt::Debug for SystemTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemTable").field("schema", &self.schema).finish()
    }
}

#[async_trait]
impl TableProvider for SystemTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = (self.rows)().await?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema(), projection.cloned())?)
    }
}

/// Builds the `squall` schema from its tables.
pub fn system_schema(tables: Vec<(&str, SystemTable)>) -> Result<Arc<dyn SchemaProvider>> {
    let schema = MemorySchemaProvider::new();
    for (name, table) in tables {
        schema.register_table(name.to_string(), Arc::new(table))?;
    }
    Ok(Arc::new(schema))
}
