//! Where a query runs: on the executors (through the Ballista scheduler) when it reads user
//! tables, on the coordinator when it reads nothing or only catalogs and system tables, which live
//! in the coordinator's memory and answer in milliseconds.
//!
//! Queries that read little of their user tables also run on the coordinator: at most the
//! session's `squall.local_scan_limit` (16 MB unless the server or the session chose otherwise).
//! A Ballista job costs milliseconds of scheduling, task launches and result fetching, which
//! dwarfs reading a lookup table (pgbench, 8 clients, a 1,000-row table: 233 lookups/s as jobs;
//! see benchmarks/README.md for the figure since).
//!
//! What a query reads is measured as a scan reads it: the Parquet column chunks of the columns it
//! asks for (from each file's footer, kept per file until the file changes), and the whole file
//! for other formats or a scan of every column. So `SELECT count(*) FROM events` or a query
//! over two narrow columns of a wide table stays in the coordinator, where it answers in
//! milliseconds, while one that reads the table's text columns goes to the executors. Only
//! local files are measured; tables in an object store are taken to be big.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::SystemTime;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::Result;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingTable, ListingTableUrl};

use crate::storage::delta::DeltaSnapshot;
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{LogicalPlan, TableScan};
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Run in the coordinator process.
    Coordinator,
    /// Split into stages and run as tasks on the executor processes.
    Executors,
}

/// Chooses where `plan` runs. A plan that reads user tables *and* coordinator-only tables (say, a
/// join of a table with `pg_catalog.pg_class`) cannot be shipped, so it runs on the coordinator.
/// Plans that read at most `local_scan_limit` bytes of user tables (0: no limit applies) run
/// there too. A scan reads the columns its projection names; an optimized plan has narrowed each
/// scan to them, an unoptimized one is measured as reading whole files.
pub fn route(plan: &LogicalPlan, local_scan_limit: u64) -> Result<Route> {
    Ok(decide(plan, local_scan_limit)?.route)
}

/// A route and why, as EXPLAIN's `squall_route` row tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub route: Route,
    pub reason: String,
}

impl Decision {
    pub fn coordinator(reason: impl Into<String>) -> Self {
        Decision { route: Route::Coordinator, reason: reason.into() }
    }
}

/// [`route`], with the reason.
pub fn decide(plan: &LogicalPlan, local_scan_limit: u64) -> Result<Decision> {
    let (mut reads, mut coordinator_tables) = (Vec::new(), false);
    visit_table_scans(plan, &mut |scan, provider| {
        let provider = provider.as_ref() as &dyn std::any::Any;
        if let Some(table) = provider.downcast_ref::<ListingTable>() {
            reads.push(ScanRead::of(scan, table));
        } else if let Some(table) = provider.downcast_ref::<DeltaSnapshot>() {
            reads.push(ScanRead::of_delta(scan, table));
        } else {
            coordinator_tables = true;
        }
    })?;
    if reads.is_empty() {
        return Ok(Decision::coordinator("reads no table of files (only values, catalogs or system tables)"));
    }
    if coordinator_tables {
        return Ok(Decision::coordinator("reads a catalog or system table, which lives in the coordinator"));
    }
    // A scan of a table without files is an empty scan, and Ballista's job for a join with an
    // empty scan on one side never finishes: such a query runs in the coordinator.
    if reads.iter().any(ScanRead::has_no_files) {
        return Ok(Decision::coordinator("reads a table that has no files"));
    }
    let limit = crate::pg::functions::size_pretty(local_scan_limit as i64);
    let what = if reads.iter().all(|r| r.parquet_columns.is_some()) { "of Parquet columns" } else { "of files" };
    if local_scan_limit == 0 {
        return Ok(Decision { route: Route::Executors, reason: format!("{} is 0: every table scan runs on the executors", crate::pg::settings::LOCAL_SCAN_LIMIT) });
    }
    Ok(match bytes_read(&reads, local_scan_limit) {
        Some(bytes) => Decision::coordinator(format!(
            "reads {} {what}, at most {} {limit}",
            crate::pg::functions::size_pretty(bytes as i64),
            crate::pg::settings::LOCAL_SCAN_LIMIT
        )),
        None => Decision {
            route: Route::Executors,
            reason: format!("reads more than {} {limit} {what} (or a table in an object store)", crate::pg::settings::LOCAL_SCAN_LIMIT),
        },
    })
}

/// What one scan of a listing table reads.
struct ScanRead {
    paths: Vec<ListingTableUrl>,
    /// The Parquet columns it reads; `None`: whole files (another format, or every column).
    parquet_columns: Option<Vec<String>>,
}

impl ScanRead {
    fn of(scan: &TableScan, table: &ListingTable) -> Self {
        let parquet = (table.options().format.as_ref() as &dyn std::any::Any).is::<ParquetFormat>();
        let schema = scan.source.schema();
        let parquet_columns = scan
            .projection
            .as_ref()
            .filter(|_| parquet)
            .map(|projection| projection.iter().map(|&i| schema.field(i).name().clone()).collect());
        Self { paths: table.table_paths().clone(), parquet_columns }
    }

    /// A Delta table version: its live files, all Parquet.
    fn of_delta(scan: &TableScan, table: &DeltaSnapshot) -> Self {
        let schema = scan.source.schema();
        let parquet_columns = Some(match &scan.projection {
            Some(projection) => projection.iter().map(|&i| schema.field(i).name().clone()).collect(),
            None => schema.fields().iter().map(|f| f.name().clone()).collect(),
        });
        let paths = table.file_urls().iter().filter_map(|url| ListingTableUrl::parse(url.as_str()).ok()).collect();
        Self { paths, parquet_columns }
    }
}

impl ScanRead {
    /// Whether the table is local and has no file at all (an object store's is taken to have).
    fn has_no_files(&self) -> bool {
        fn any_file(path: &Path) -> bool {
            match std::fs::metadata(path) {
                Ok(m) if m.is_file() => true,
                Ok(_) => std::fs::read_dir(path).map(|entries| entries.flatten().any(|e| any_file(&e.path()))).unwrap_or(true),
                Err(_) => false,
            }
        }
        self.paths.iter().all(|url| url.scheme() == "file" && url.get_url().to_file_path().is_ok_and(|p| !any_file(&p)))
    }
}

/// Whether `reads` add up to at most `limit` bytes; stops counting past it.
#[cfg(test)]
fn reads_at_most(reads: &[ScanRead], limit: u64) -> bool {
    bytes_read(reads, limit).is_some()
}

/// The bytes `reads` add up to, if at most `limit`; stops counting past it (`None`), and at a
/// table in an object store.
fn bytes_read(reads: &[ScanRead], limit: u64) -> Option<u64> {
    let mut total = 0;
    let within = reads.iter().all(|read| {
        read.paths.iter().all(|url| match url.get_url().to_file_path() {
            Ok(path) if url.scheme() == "file" => add_file_sizes(&path, read.parquet_columns.as_deref(), limit, &mut total),
            _ => false,
        })
    });
    within.then_some(total)
}

/// Adds what a scan of `columns` (whole files: `None`) reads from the files at or under `path`
/// to `total`; false once it passes `limit`.
fn add_file_sizes(path: &Path, columns: Option<&[String]>, limit: u64, total: &mut u64) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return true; // nothing there: the scan itself will say so, wherever it runs
    };
    if metadata.is_file() {
        *total += match columns {
            Some(columns) => column_bytes(path, &metadata, columns),
            None => metadata.len(),
        };
        return *total <= limit;
    }
    match std::fs::read_dir(path) {
        Ok(entries) => entries.flatten().all(|entry| add_file_sizes(&entry.path(), columns, limit, total)),
        Err(_) => false,
    }
}

/// The compressed size of each top-level column of one Parquet file, as of its length and
/// modification time.
struct Footer {
    len: u64,
    modified: Option<SystemTime>,
    column_bytes: Arc<HashMap<String, u64>>,
}

/// Footers read so far, by file. Bounded: forgotten all at once when it grows past this many
/// files (reading a footer again costs a fraction of a millisecond).
static FOOTERS: LazyLock<Mutex<HashMap<PathBuf, Footer>>> = LazyLock::new(Default::default);
const MAX_FOOTERS: usize = 100_000;

/// The bytes of `columns` in the Parquet file at `path`; the whole file when its footer cannot be
/// read (the scan will then say what is wrong with it).
fn column_bytes(path: &Path, metadata: &std::fs::Metadata, columns: &[String]) -> u64 {
    let modified = metadata.modified().ok();
    let cached = FOOTERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(path)
        .filter(|footer| footer.len == metadata.len() && footer.modified == modified)
        .map(|footer| Arc::clone(&footer.column_bytes));
    let column_bytes = match cached {
        Some(column_bytes) => column_bytes,
        None => {
            let Some(column_bytes) = read_column_bytes(path) else { return metadata.len() };
            let column_bytes = Arc::new(column_bytes);
            let mut footers = FOOTERS.lock().unwrap_or_else(|p| p.into_inner());
            if footers.len() >= MAX_FOOTERS {
                footers.clear();
            }
            footers.insert(path.to_path_buf(), Footer { len: metadata.len(), modified, column_bytes: Arc::clone(&column_bytes) });
            column_bytes
        }
    };
    columns.iter().filter_map(|column| column_bytes.get(column)).sum()
}

/// Each top-level column's compressed bytes over all row groups of the Parquet file at `path`.
fn read_column_bytes(path: &Path) -> Option<HashMap<String, u64>> {
    let reader = SerializedFileReader::new(std::fs::File::open(path).ok()?).ok()?;
    let mut bytes = HashMap::new();
    for row_group in reader.metadata().row_groups() {
        for chunk in row_group.columns() {
            let column = chunk.column_path().parts().first()?.clone();
            *bytes.entry(column).or_default() += chunk.compressed_size().max(0) as u64;
        }
    }
    Some(bytes)
}

/// Calls `visit` with every table scan in `plan` and the scanned table's provider, in subqueries
/// and views too (a view is visited as the scans of its definition).
fn visit_table_scans(plan: &LogicalPlan, visit: &mut dyn FnMut(&TableScan, &Arc<dyn TableProvider>)) -> Result<()> {
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let provider = source_as_provider(&scan.source)?;
            match provider.get_logical_plan() {
                Some(view) => visit_table_scans(&view, visit)?,
                None => visit(scan, &provider),
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(())
}

/// Calls `visit` with the provider of every table `plan` scans, in subqueries and views too.
pub(crate) fn visit_scans(plan: &LogicalPlan, visit: &mut dyn FnMut(&Arc<dyn TableProvider>)) -> Result<()> {
    visit_table_scans(plan, &mut |_, provider| visit(provider))
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
        let whole = |paths: Vec<ListingTableUrl>| ScanRead { paths, parquet_columns: None };
        assert!(reads_at_most(&[whole(vec![table.clone()])], 1_000));
        assert!(!reads_at_most(&[whole(vec![table.clone()])], 999));
        // Two scans of the same table count twice, as they read twice.
        assert!(!reads_at_most(&[whole(vec![table.clone()]), whole(vec![table.clone()])], 1_500));
        // Files whose Parquet footer cannot be read are counted whole, whatever the columns.
        assert!(!reads_at_most(&[ScanRead { paths: vec![table], parquet_columns: Some(vec!["a".into()]) }], 999));
        let remote = ListingTableUrl::parse("s3://bucket/table/").unwrap();
        assert!(!reads_at_most(&[whole(vec![remote])], u64::MAX), "object-store tables are taken to be big");
    }

    #[test]
    fn a_parquet_scan_counts_the_columns_it_reads() {
        use datafusion::arrow::array::{Int64Array, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::arrow::record_batch::RecordBatch;
        use datafusion::parquet::arrow::ArrowWriter;

        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("note", DataType::Utf8, false)]));
        let ids = Int64Array::from_iter_values(0..10_000);
        // Distinct, incompressible-ish text: far more bytes than the ids.
        let notes = StringArray::from_iter_values((0..10_000u64).map(|i| format!("{:x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).repeat(4)));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(ids), Arc::new(notes)]).unwrap();
        let file = dir.path().join("part-0.parquet");
        let mut writer = ArrowWriter::try_new(std::fs::File::create(&file).unwrap(), schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();

        let metadata = std::fs::metadata(&file).unwrap();
        let id = column_bytes(&file, &metadata, &["id".into()]);
        let both = column_bytes(&file, &metadata, &["id".into(), "note".into()]);
        assert!(id > 0 && id * 4 < both, "id {id} of {both} bytes");
        assert!(both <= metadata.len(), "{both} of a {}-byte file", metadata.len());
        assert_eq!(column_bytes(&file, &metadata, &[]), 0, "count(*) reads no column");

        let table = ListingTableUrl::parse(format!("{}/", dir.path().display())).unwrap();
        let reading = |columns: &[&str]| ScanRead { paths: vec![table.clone()], parquet_columns: Some(columns.iter().map(|c| c.to_string()).collect()) };
        assert!(reads_at_most(&[reading(&["id"])], id));
        assert!(!reads_at_most(&[reading(&["id", "note"])], id * 2));
    }
}
