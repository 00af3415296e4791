//! `ALTER TABLE t RENAME COLUMN a TO b`: the table rewritten, in one commit, with the column under
//! its new name.
//!
//! Delta renames a column without rewriting through column mapping (files keep physical names and
//! the log maps them to the names queries use). delta-rs 1.1.3 reads and writes column-mapped
//! tables, but refuses OPTIMIZE (`operations/optimize.rs`), ADD COLUMN (`add_column.rs`) and
//! table properties (`set_tbl_properties.rs`) on them: a mapped table would lose compaction,
//! squall's answer to small INSERTs. So until it allows them the rename is a rewrite: one
//! overwrite whose new schema has the new name. Every reader (Spark, pandas, DuckDB) sees the
//! renamed column with no column-mapping support, older versions keep the old name (time travel
//! reads them as they were), and a write that commits meanwhile makes one of the two fail with
//! 40001 rather than lose rows.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::Column;
use datafusion::datasource::provider_as_source;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use url::Url;

use super::write::{writer_properties, Committer};
use super::{errors, DeltaTables};
use crate::error::Result;

impl DeltaTables {
    /// Rewrites the table at `url` with column `from` named `to`; `state` plans the rewrite (a
    /// session's, with delta-rs's planner). The caller has checked both names, and reopens the
    /// table afterwards, as after any ALTER TABLE.
    pub async fn rename_column(&self, url: &Url, from: &str, to: &str, state: SessionState, committer: &Committer) -> Result<()> {
        let (table, snapshot) = self.latest_snapshot(url).await?;
        let columns: Vec<Expr> = snapshot
            .schema()
            .fields()
            .iter()
            .map(|f| {
                let column = Expr::Column(Column::from_name(f.name()));
                if f.name() == from { column.alias(to) } else { column }
            })
            .collect();
        let rows = LogicalPlanBuilder::scan("t", provider_as_source(snapshot as Arc<dyn TableProvider>), None)?.project(columns)?.build()?;
        table
            .write(Vec::new())
            .with_input_plan(rows)
            .with_session_state(Arc::new(state))
            .with_session_fallback_policy(deltalake::delta_datafusion::SessionFallbackPolicy::RequireSessionState)
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(SchemaMode::Overwrite)
            .with_writer_properties(writer_properties())
            .with_commit_properties(committer.properties())
            .await
            .map_err(|e| errors::classify(format!("renaming column \"{from}\" of the table at {url}"), e))?;
        Ok(())
    }
}
