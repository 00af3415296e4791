//! Where a query runs: on the executors (through the Ballista scheduler) when it reads user
//! tables, on the coordinator when it reads nothing or only catalogs and system tables, which live
//! in the coordinator's memory and answer in milliseconds.
//!
//! Queries whose user tables are small (their files add up to at most the session's
//! `squall.local_scan_limit`, 16 MB unless the server or the session chose otherwise) also run on
//! the coordinator: a Ballista job costs milliseconds of scheduling, task launches and result
//! fetching, which dwarfs reading a lookup table (pgbench, 8 clients, a 1,000-row table: 233
//! lookups/s as jobs; see benchmarks/README.md for the figure since). Only local files are
//! measured; tables in an object store are taken to be big.

use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::Result;
use datafusion::datasource::listing::{ListingTable, ListingTableUrl};
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
/// User tables holding at most `local_scan_limit` bytes (0: no limit applies) run there too.
pub fn route(plan: &LogicalPlan, local_scan_limit: u64) -> Result<Route> {
    let (mut table_paths, mut coordinator_tables) = (Vec::new(), false);
    visit_scans(plan, &mut |provider| match (provider.as_ref() as &dyn std::any::Any).downcast_ref::<ListingTable>() {
        Some(table) => table_paths.extend(table.table_paths().iter().cloned()),
        None => coordinator_tables = true,
    })?;
    let distribute = !table_paths.is_empty() && !coordinator_tables && !(local_scan_limit > 0 && holds_at_most(&table_paths, local_scan_limit));
    Ok(if distribute { Route::Executors } else { Route::Coordinator })
}

/// Whether the files under `paths` add up to at most `limit` bytes; stops counting past it.
fn holds_at_most(paths: &[ListingTableUrl], limit: u64) -> bool {
    let mut total = 0;
    paths.iter().all(|url| match url.get_url().to_file_path() {
        Ok(path) if url.scheme() == "file" => add_file_sizes(&path, limit, &mut total),
        _ => false,
    })
}

/// Adds the sizes of the files at or under `path` to `total`; false once it passes `limit`.
fn add_file_sizes(path: &Path, limit: u64, total: &mut u64) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return true; // nothing there: the scan itself will say so, wherever it runs
    };
    if metadata.is_file() {
        *total += metadata.len();
        return *total <= limit;
    }
    match std::fs::read_dir(path) {
        Ok(entries) => entries.flatten().all(|entry| add_file_sizes(&entry.path(), limit, total)),
        Err(_) => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_files_are_measured_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("nested")).unwrap();
        std::fs::write(dir.path().join("a.parquet"), vec![0u8; 600]).unwrap();
        std::fs::write(dir.path().join("nested").join("b.parquet"), vec![0u8; 400]).unwrap();
        let table = ListingTableUrl::parse(format!("{}/", dir.path().display())).unwrap();
        assert!(holds_at_most(std::slice::from_ref(&table), 1_000));
        assert!(!holds_at_most(std::slice::from_ref(&table), 999));
        // Two scans of the same table count twice, as they read twice.
        assert!(!holds_at_most(&[table.clone(), table], 1_500));
        let remote = ListingTableUrl::parse("s3://bucket/table/").unwrap();
        assert!(!holds_at_most(&[remote], u64::MAX), "object-store tables are taken to be big");
    }
}
