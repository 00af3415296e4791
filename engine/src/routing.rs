//! Where a query runs: on the executors (through the Ballista scheduler) when it reads user
//! tables, on the coordinator when it reads nothing or only catalogs and system tables, which live
//! in the coordinator's memory and answer in milliseconds.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::Result;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::LogicalPlan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Run in the coordinator process.
    Coordinator,
    /// Split into stages and run as tasks on the executor processes.
    Executors,
}

/// Chooses where `plan` runs. A plan that reads user tables *and* coordinator-only tables (say, a
/// join of a table with `pg_catalog.pg_class`) cannot be shipped, so it runs on the coordinator.
pub fn route(plan: &LogicalPlan) -> Result<Route> {
    let (mut user_tables, mut coordinator_tables) = (false, false);
    visit_scans(plan, &mut |provider| {
        if provider.is::<ListingTable>() {
            user_tables = true;
        } else {
            coordinator_tables = true;
        }
    })?;
    Ok(if user_tables && !coordinator_tables { Route::Executors } else { Route::Coordinator })
}

/// Calls `visit` with the provider of every table `plan` scans, in subqueries and views too.
pub(crate) fn visit_scans(plan: &LogicalPlan, visit: &mut dyn FnMut(&Arc<dyn TableProvider>)) -> Result<()> {
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let provider = source_as_provider(&scan.source)?;
            match provider.get_logical_plan() {
                // A view: what matters is what it reads.
                Some(view) => visit_scans(&view, visit)?,
                None => visit(&provider),
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(())
}
