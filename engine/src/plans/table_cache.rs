//! The rows of managed tables' Parquet files, decoded once and kept in memory for the plans that
//! run again ([`crate::plans::reused_plans`]). Such a plan reads a small table (it runs on the
//! coordinator), and each run opened its files, read their footers and decoded every page again:
//! half of what a prepared one-row lookup cost once its plan was kept.
//!
//! A managed table's files are never changed once written: an INSERT or COPY adds a file, DROP
//! removes the directory. So a file's decoded rows stay right for as long as the file exists
//! under its path, size and modification time, which is what they are kept under. At most
//! [`BUDGET`] bytes of decoded rows are kept; the least recently used files go first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use datafusion::arrow::array::{new_null_array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::{FileScanConfig, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::ExecutionPlan;

/// How many bytes of decoded rows are kept at most, over all tables.
pub const BUDGET: usize = 256 << 20;

/// What identifies a file's contents: a managed file is never rewritten in place, and a path
/// used again (it is not: names are random) would differ in size or time.
type Version = (u64, SystemTime);

#[derive(Debug, Default)]
pub struct TableCache {
    files: Mutex<Files>,
}

#[derive(Debug, Default)]
struct Files {
    by_path: HashMap<PathBuf, Decoded>,
    bytes: usize,
    /// Counts uses, to find the least recently used file.
    clock: u64,
}

#[derive(Debug)]
struct Decoded {
    version: Version,
    batches: Vec<RecordBatch>,
    bytes: usize,
    used: u64,
}

impl TableCache {
    /// `plan` with each scan of local Parquet files replaced by a scan of their rows in memory,
    /// when they fit; the scans that cannot be replaced are left as they are.
    pub fn in_memory(&self, plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        let replaced = Arc::clone(&plan).transform_up(|node| {
            Ok(match self.scan_in_memory(node.as_ref()) {
                Some(scan) => Transformed::yes(scan),
                None => Transformed::no(node),
            })
        });
        replaced.map(|t| t.data).unwrap_or(plan)
    }

    /// `node`, if it scans local Parquet files, as a scan of their rows in memory: the same
    /// partitions, columns and row limit.
    fn scan_in_memory(&self, node: &dyn ExecutionPlan) -> Option<Arc<dyn ExecutionPlan>> {
        let config = node.downcast_ref::<DataSourceExec>()?.data_source().downcast_ref::<FileScanConfig>()?;
        let parquet = config.file_source.downcast_ref::<ParquetSource>()?;
        // Rows a scan filters itself (pushed-down filters), or returns in an order or a
        // partitioning it promised (its parents were planned on it), would need more than its
        // files' rows.
        let plain = !parquet.table_parquet_options().global.pushdown_filters
            && config.output_ordering.is_empty()
            && !config.preserve_order
            && config.output_partitioning.is_none();
        let table_schema = config.file_source.table_schema();
        if !plain || !table_schema.table_partition_cols().is_empty() || config.object_store_url != ObjectStoreUrl::local_filesystem() {
            return None;
        }
        let schema = Arc::clone(table_schema.file_schema());
        // A file split into byte ranges over several partitions is read whole, by the first.
        let mut seen = std::collections::HashSet::new();
        let mut partitions = Vec::with_capacity(config.file_groups.len());
        for group in &config.file_groups {
            let mut rows = Vec::new();
            for file in group.files() {
                let path = object_store::local::LocalFileSystem::new().path_to_filesystem(&file.object_meta.location).ok()?;
                if seen.insert(path.clone()) {
                    rows.extend(self.rows(&path, &schema)?);
                }
            }
            partitions.push(rows);
        }
        let memory = MemorySourceConfig::try_new(&partitions, Arc::clone(&schema), None).ok()?.with_limit(config.limit);
        let mut scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(memory);
        if let Some(projection) = config.file_source.projection() {
            scan = Arc::new(ProjectionExec::try_new(projection.iter().cloned(), scan).ok()?);
        }
        let (was, is) = (node.schema(), scan.schema());
        let same = was.fields().len() == is.fields().len()
            && was.fields().iter().zip(is.fields()).all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        same.then_some(scan)
    }

    /// The rows of the Parquet file at `path`, in `schema`'s columns and types; decoded now if
    /// they are not kept, and kept if they fit.
    fn rows(&self, path: &Path, schema: &SchemaRef) -> Option<Vec<RecordBatch>> {
        let metadata = std::fs::metadata(path).ok()?;
        let version = (metadata.len(), metadata.modified().ok()?);
        {
            let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
            files.clock += 1;
            let now = files.clock;
            if let Some(decoded) = files.by_path.get_mut(path).filter(|d| d.version == version && d.batches.first().is_none_or(|b| b.schema() == *schema)) {
                decoded.used = now;
                return Some(decoded.batches.clone());
            }
        }
        let batches = decode(path, schema)?;
        let bytes = batches.iter().map(RecordBatch::get_array_memory_size).sum::<usize>();
        if bytes <= BUDGET {
            let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(old) = files.by_path.remove(path) {
                files.bytes -= old.bytes;
            }
            while files.bytes + bytes > BUDGET {
                let Some(oldest) = files.by_path.iter().min_by_key(|(_, d)| d.used).map(|(p, _)| p.clone()) else { break };
                let evicted = files.by_path.remove(&oldest).map_or(0, |d| d.bytes);
                files.bytes -= evicted;
            }
            let used = files.clock;
            files.bytes += bytes;
            files.by_path.insert(path.to_path_buf(), Decoded { version, batches: batches.clone(), bytes, used });
        }
        Some(batches)
    }
}

/// Every row of the Parquet file at `path`, with `schema`'s columns: cast where the file's type
/// differs (strings are read as views), NULL where the file has no such column.
fn decode(path: &Path, schema: &SchemaRef) -> Option<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).ok()?).ok()?.build().ok()?;
    reader
        .map(|batch| {
            let batch = batch.ok()?;
            let columns = schema
                .fields()
                .iter()
                .map(|field| match batch.column_by_name(field.name()) {
                    Some(column) if column.data_type() == field.data_type() => Some(Arc::clone(column)),
                    Some(column) => cast(column, field.data_type()).ok(),
                    None => Some(new_null_array(field.data_type(), batch.num_rows())),
                })
                .collect::<Option<Vec<ArrayRef>>>()?;
            RecordBatch::try_new(Arc::clone(schema), columns).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn a_scan_reads_the_same_rows_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SessionContext::new();
        for (i, rows) in ["(1, 'one'), (2, 'two')", "(3, 'three')"].iter().enumerate() {
            let file = dir.path().join(format!("part-{i}.parquet"));
            let sql = format!("COPY (SELECT CAST(column1 AS BIGINT) AS id, column2 AS name FROM (VALUES {rows})) TO '{}'", file.display());
            ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        }
        ctx.sql(&format!("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}/'", dir.path().display())).await.unwrap();
        let cache = TableCache::default();
        for sql in ["SELECT name FROM t WHERE id >= 2 ORDER BY name", "SELECT upper(name) AS u, id + 1 AS next FROM t ORDER BY 2 LIMIT 2", "SELECT count(*) FROM t WHERE name LIKE 't%'"] {
            let plan = || async { ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap() };
            let from_files = collect(plan().await, ctx.task_ctx()).await.unwrap();
            let in_memory = cache.in_memory(plan().await);
            let shown = displayable(in_memory.as_ref()).indent(true).to_string();
            assert!(!shown.contains("parquet"), "{sql}: the files are not read\n{shown}");
            let from_memory = collect(in_memory, ctx.task_ctx()).await.unwrap();
            assert_eq!(datafusion::arrow::util::pretty::pretty_format_batches(&from_memory).unwrap().to_string(), datafusion::arrow::util::pretty::pretty_format_batches(&from_files).unwrap().to_string(), "{sql}");
        }
        assert_eq!(cache.files.lock().unwrap().by_path.len(), 2, "each file decoded once");

        // A file written again under its name (squall does not, but rows must never go stale).
        let file = dir.path().join("part-1.parquet");
        std::thread::sleep(std::time::Duration::from_millis(20));
        ctx.sql(&format!("COPY (SELECT CAST(4 AS BIGINT) AS id, 'four four' AS name) TO '{}'", file.display())).await.unwrap().collect().await.unwrap();
        let plan = ctx.sql("SELECT name FROM t WHERE id > 2").await.unwrap().create_physical_plan().await.unwrap();
        let names = collect(cache.in_memory(plan), ctx.task_ctx()).await.unwrap();
        let shown = datafusion::arrow::util::pretty::pretty_format_batches(&names).unwrap().to_string();
        assert!(shown.contains("four four") && !shown.contains("three"), "{shown}");
    }
}
