//! `CREATE EXTERNAL TABLE t STORED AS DELTA LOCATION '<path or URL>'`: a Delta table written by
//! anything else (Spark, Databricks, the `deltalake` Python package), read as squall reads its
//! own: each query one version, planned as a Parquet scan the executors run.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::CreateExternalTable;

use super::{location_url, DeltaTables, LiveDeltaTable};

#[derive(Debug)]
pub struct DeltaTableFactory {
    pub tables: Arc<DeltaTables>,
}

#[async_trait]
impl TableProviderFactory for DeltaTableFactory {
    async fn create(&self, _state: &dyn Session, cmd: &CreateExternalTable) -> Result<Arc<dyn TableProvider>> {
        let external = |e: crate::error::SquallError| DataFusionError::External(Box::new(e));
        if !cmd.table_partition_cols.is_empty() {
            return Err(external(crate::error::SquallError::InvalidParameter(
                "a Delta table's partition columns are in its log: leave out PARTITIONED BY".into(),
            )));
        }
        let [location] = cmd.locations.as_slice() else {
            return Err(external(crate::error::SquallError::InvalidParameter("a Delta table has one LOCATION".into())));
        };
        let url = location_url(location).map_err(external)?;
        let table = LiveDeltaTable::open(&self.tables, url).await.map_err(external)?;
        // Columns written in the statement must be the table's (the log is the truth).
        let declared = cmd.schema.as_arrow();
        if !declared.fields().is_empty() {
            let actual = table.schema();
            let same = declared.fields().len() == actual.fields().len()
                && declared.fields().iter().zip(actual.fields()).all(|(d, a)| d.name() == a.name() && d.data_type() == a.data_type());
            if !same {
                return Err(external(crate::error::SquallError::InvalidParameter(format!(
                    "the columns given do not match the Delta table's: ({})",
                    actual.fields().iter().map(|f| format!("{} {}", f.name(), crate::copy::from_stdin::sql_type_name(f.data_type()))).collect::<Vec<_>>().join(", ")
                ))));
            }
        }
        Ok(Arc::new(table))
    }
}
