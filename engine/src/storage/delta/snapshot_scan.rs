//! One version of a Delta table, read as a plain Parquet scan.
//!
//! Why not delta-rs's own scan: Ballista ships *physical* plans to the executors, and delta-rs
//! 1.1's `DeltaScanExec` has no physical codec (its `DeltaPhysicalCodec` handles only the retired
//! `DeltaScan` wrapper; `DeltaScanExec::new` and its `KernelScanPlan` are crate-private, so no
//! codec of squall's could rebuild one). What a Delta read needs is expressible with DataFusion's
//! own nodes, which Ballista already ships: the snapshot's live files as a `DataSourceExec` of
//! Parquet, partition values as partition columns, column-mapping names renamed above it. So the
//! executors need nothing new, and a table version's files are skipped with the Delta log's
//! statistics here, at planning, before any task is made.
//!
//! What this path does not read it refuses with 0A000 naming the feature (deletion vectors in a
//! live file, reader features delta-rs itself cannot read): never rows that are not there.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::stats::Precision;
use datafusion::common::{Column, DFSchema, ScalarValue, Statistics};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::ExecutionPlan;
use url::Url;

use crate::error::{Result, SquallError};

/// The name a column's values have inside the data files of a column-mapped table.
const PHYSICAL_NAME: &str = "delta.columnMapping.physicalName";

/// A table version's live files and what is known of each.
#[derive(Debug)]
pub struct DeltaSnapshot {
    /// The table's root (ends with `/`).
    pub url: Url,
    pub version: u64,
    /// Set when this is only some of the version's files ([`Self::with_only`]): which part, so
    /// that a plan naming it is never taken for the whole version.
    pub part: Option<u64>,
    /// The columns as queries see them, in the table's order.
    schema: SchemaRef,
    /// One row per live file: `path`, `size_bytes`, `num_records`, `min.<c>`, `max.<c>`,
    /// `null_count.<c>`, `partition.<c>` (delta-rs's `add_actions_table`, flattened).
    files: RecordBatch,
    partition_columns: Vec<String>,
    /// Logical name → the name in the files, for column-mapped tables.
    physical_names: HashMap<String, String>,
}

impl DeltaSnapshot {
    /// What squall reads of `state`, or 0A000 for what it cannot.
    pub fn of(url: Url, state: &deltalake::table::state::DeltaTableState) -> Result<Self> {
        use deltalake::kernel::transaction::{TransactionError, PROTOCOL};
        if let Err(e) = PROTOCOL.can_read_from(state.snapshot()) {
            return Err(match e {
                TransactionError::UnsupportedTableFeatures(features) => SquallError::Unsupported(format!(
                    "the Delta table at {url} uses reader features squall cannot read: {}",
                    features.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ")
                )),
                other => SquallError::Unsupported(format!("the Delta table at {url} cannot be read: {other}")),
            });
        }
        let files = state.add_actions_table(true).map_err(|e| SquallError::storage(format!("reading the Delta log of {url}"), e))?;
        if let Some(dv) = files.column_by_name("deletion_vector.storage_type") {
            if dv.null_count() < dv.len() {
                return Err(SquallError::Unsupported(format!(
                    "the Delta table at {url} has files with deletion vectors (reader feature deletionVectors), which squall does not apply yet; rewrite them with OPTIMIZE or PURGE in the engine that wrote them"
                )));
            }
        }
        let schema = state.snapshot().arrow_schema();
        let physical_names = schema
            .fields()
            .iter()
            .filter_map(|f| f.metadata().get(PHYSICAL_NAME).map(|p| (f.name().clone(), p.clone())))
            .collect();
        let partition_columns = state.metadata().partition_columns().to_vec();
        // Queries see columns without Delta's field metadata (it would travel in every plan).
        let schema = Arc::new(Schema::new(
            schema.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), f.is_nullable())).collect::<Vec<_>>(),
        ));
        Ok(Self { url, version: state.version(), part: None, schema, files, partition_columns, physical_names })
    }

    pub fn num_files(&self) -> usize {
        self.files.num_rows()
    }

    /// How many live files have fewer than `bytes` bytes.
    pub fn files_smaller_than(&self, bytes: i64) -> usize {
        let Some(sizes) = self.int64_column("size_bytes") else { return 0 };
        sizes.iter().flatten().filter(|&size| size < bytes).count()
    }

    /// The live files with fewer than `bytes` bytes whose paths are plain names (no character
    /// a URL path would escape): (path as the log names it, size).
    pub fn plain_files_smaller_than(&self, bytes: i64) -> Vec<(String, i64)> {
        let (Ok(paths), Some(sizes)) = (self.paths(), self.int64_column("size_bytes")) else {
            return Vec::new();
        };
        let plain = |path: &str| path.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
        (0..self.files.num_rows())
            .filter(|&row| paths.is_valid(row) && sizes.is_valid(row) && sizes.value(row) < bytes && plain(paths.value(row)))
            .map(|row| (paths.value(row).to_string(), sizes.value(row)))
            .collect()
    }

    /// The rows of all live files, when the log counts them for every file.
    pub fn num_records(&self) -> Option<u64> {
        let records = self.int64_column("num_records")?;
        (records.null_count() == 0).then(|| records.values().iter().map(|&n| n as u64).sum())
    }

    /// A numeric column of the file list, as 64-bit integers.
    fn int64_column(&self, name: &str) -> Option<datafusion::arrow::array::Int64Array> {
        let column = cast(self.files.column_by_name(name)?, &DataType::Int64).ok()?;
        column.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().cloned()
    }

    /// This version with only the live files at `paths` (to read just those).
    pub fn with_only(&self, paths: &std::collections::HashSet<String>) -> Result<Self> {
        let all = self.paths()?;
        let keep = BooleanArray::from((0..all.len()).map(|row| all.is_valid(row) && paths.contains(all.value(row))).collect::<Vec<_>>());
        let files = datafusion::arrow::compute::filter_record_batch(&self.files, &keep).map_err(DataFusionError::from)?;
        let part = {
            use std::hash::{Hash, Hasher};
            let mut sorted: Vec<&String> = paths.iter().collect();
            sorted.sort();
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            sorted.hash(&mut hasher);
            hasher.finish()
        };
        Ok(Self {
            url: self.url.clone(),
            version: self.version,
            part: Some(part),
            schema: Arc::clone(&self.schema),
            files,
            partition_columns: self.partition_columns.clone(),
            physical_names: self.physical_names.clone(),
        })
    }

    /// The URL of every live file, for sizing a scan ([`crate::routing`]).
    pub fn file_urls(&self) -> Vec<Url> {
        (0..self.files.num_rows()).filter_map(|row| self.file_url(row).ok()).collect()
    }

    fn paths(&self) -> DfResult<&datafusion::arrow::array::StringArray> {
        self.files
            .column_by_name("path")
            .and_then(|c| c.as_any().downcast_ref())
            .ok_or_else(|| DataFusionError::Internal("the Delta file list has no path column".into()))
    }

    fn file_url(&self, row: usize) -> DfResult<Url> {
        let path = self.paths()?.value(row);
        // Paths are relative to the table (percent-encoded as URL paths), or absolute URLs.
        Url::parse(path).or_else(|_| self.url.join(path)).map_err(|e| DataFusionError::Internal(format!("file {path} of {}: {e}", self.url)))
    }

    /// Which files can hold rows matching `filters` (all, without filters or statistics).
    fn live_files(&self, filters: &[Expr], session: &dyn Session) -> Vec<usize> {
        let all: Vec<usize> = (0..self.files.num_rows()).collect();
        // Column-mapped tables keep statistics under physical names: read every file.
        let Some(predicate) = conjunction(filters.iter().cloned()).filter(|_| self.physical_names.is_empty()) else { return all };
        let Ok(df_schema) = DFSchema::try_from(self.schema.as_ref().clone()) else { return all };
        let Ok(physical) = session.create_physical_expr(predicate, &df_schema) else { return all };
        let Some(pruning) = PruningPredicateBuilder::new().with_file_schema(Arc::clone(&self.schema)).build(physical) else { return all };
        match pruning.prune(&FileStatistics(self)) {
            Ok(keep) => all.into_iter().filter(|&row| keep[row]).collect(),
            Err(_) => all,
        }
    }

    fn stats_column(&self, prefix: &str, column: &str) -> Option<&ArrayRef> {
        self.files.column_by_name(&format!("{prefix}.{column}"))
    }

    fn partition_value(&self, column: &Field, row: usize) -> DfResult<ScalarValue> {
        let values = self
            .stats_column("partition", column.name())
            .or_else(|| self.physical_names.get(column.name()).and_then(|p| self.stats_column("partition", p)));
        match values {
            Some(values) => {
                let value = ScalarValue::try_from_array(values, row)?;
                if value.data_type() == *column.data_type() {
                    Ok(value)
                } else {
                    value.cast_to(column.data_type())
                }
            }
            None => ScalarValue::try_from(column.data_type()),
        }
    }
}

/// The Delta log's per-file statistics, for a pruning predicate: a file is a container.
struct FileStatistics<'a>(&'a DeltaSnapshot);

impl FileStatistics<'_> {
    fn typed(&self, prefix: &str, column: &Column) -> Option<ArrayRef> {
        let field = self.0.schema.field_with_name(&column.name).ok()?;
        let values = if self.0.partition_columns.contains(&column.name) {
            self.0.stats_column("partition", &column.name)?
        } else {
            self.0.stats_column(prefix, &column.name)?
        };
        if values.data_type() == field.data_type() {
            Some(Arc::clone(values))
        } else {
            cast(values, field.data_type()).ok()
        }
    }
}

impl PruningStatistics for FileStatistics<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.typed("min", column)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.typed("max", column)
    }

    fn num_containers(&self) -> usize {
        self.0.files.num_rows()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        if self.0.partition_columns.contains(&column.name) {
            let values = self.0.stats_column("partition", &column.name)?;
            let rows = self.row_counts()?;
            let rows = rows.as_any().downcast_ref::<UInt64Array>()?;
            return Some(Arc::new(UInt64Array::from_iter((0..values.len()).map(|i| {
                if values.is_null(i) { rows.is_valid(i).then(|| rows.value(i)) } else { Some(0) }
            }))));
        }
        cast(self.0.stats_column("null_count", &column.name)?, &DataType::UInt64).ok()
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        cast(self.0.files.column_by_name("num_records")?, &DataType::UInt64).ok()
    }

    fn contained(&self, _column: &Column, _values: &std::collections::HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

#[async_trait]
impl TableProvider for DeltaSnapshot {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Used to skip files and (by DataFusion's physical optimizer) row groups; the filter
        // itself stays above the scan.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let rows = self.live_files(filters, state);
        if rows.is_empty() {
            return Ok(Arc::new(EmptyExec::new(Arc::new(self.schema.project(&wanted)?))));
        }

        // The scan's own column order: the files' columns (by the name they have in the files),
        // then the partition columns.
        let in_files = |f: &FieldRef| !self.partition_columns.contains(f.name());
        let file_fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .filter(|f| in_files(f))
            .map(|f| f.as_ref().clone().with_name(self.physical_names.get(f.name()).unwrap_or(f.name())))
            .collect();
        let partition_fields: Vec<FieldRef> = self
            .partition_columns
            .iter()
            .map(|name| self.schema.field_with_name(name).map(|f| Arc::new(f.clone())))
            .collect::<std::result::Result<_, _>>()?;
        let file_count = file_fields.len();
        let scan_index = |logical: usize| -> usize {
            let field = self.schema.field(logical);
            match self.partition_columns.iter().position(|p| p == field.name()) {
                Some(p) => file_count + p,
                None => self.schema.fields().iter().take(logical).filter(|f| in_files(f)).count(),
            }
        };
        let file_schema = Arc::new(Schema::new(file_fields));
        let table_schema = TableSchema::builder(Arc::clone(&file_schema)).with_table_partition_cols(partition_fields.clone()).build();

        let store_url = object_store_url(&self.url)?;
        let mut files = Vec::with_capacity(rows.len());
        let sizes = self.files.column_by_name("size_bytes").map(|c| cast(c, &DataType::Int64)).transpose()?;
        let records = self.files.column_by_name("num_records").map(|c| cast(c, &DataType::Int64)).transpose()?;
        let mut total_rows = Some(0usize);
        for &row in &rows {
            let url = self.file_url(row)?;
            let size = sizes.as_ref().and_then(|s| s.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>()).map_or(0, |s| s.value(row));
            let path = object_store::path::Path::from_url_path(url.path())
                .map_err(|e| DataFusionError::Internal(format!("file {url}: {e}")))?;
            let mut file = PartitionedFile::new(path.to_string(), size.max(0) as u64);
            file.partition_values = partition_fields.iter().map(|f| self.partition_value(f, row)).collect::<DfResult<_>>()?;
            let count = records
                .as_ref()
                .and_then(|r| r.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>())
                .filter(|r| r.is_valid(row))
                .map(|r| r.value(row) as usize);
            total_rows = total_rows.zip(count).map(|(a, b)| a + b);
            files.push((size, file));
        }

        let mut statistics = Statistics::new_unknown(table_schema.table_schema());
        // Delta's numRecords is exact: `count(*)` without a filter is answered from it. Not for
        // plans made without statistics (`datafusion.execution.collect_statistics`): squall's
        // jobs are, because Ballista misplans a scan of exactly known few rows (see
        // `statements::job_planning`).
        let with_statistics = state.config().collect_statistics();
        if let Some(total) = total_rows.filter(|_| filters.is_empty() && with_statistics) {
            statistics.num_rows = Precision::Exact(total);
        }
        let groups = balanced_groups(files, state.config().target_partitions());
        let source = Arc::new(ParquetSource::new(table_schema));
        let scan_projection: Vec<usize> = wanted.iter().map(|&i| scan_index(i)).collect();
        let config = FileScanConfigBuilder::new(store_url, source)
            .with_file_groups(groups)
            .with_statistics(statistics)
            .with_projection_indices(Some(scan_projection))?
            .with_limit(limit)
            .build();
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let scan = format.create_physical_plan(state, config).await?;
        if self.physical_names.is_empty() {
            return Ok(scan);
        }
        // Column-mapped: the files' names back to the table's.
        let renames = wanted
            .iter()
            .enumerate()
            .map(|(at, &logical)| {
                let column: Arc<dyn PhysicalExpr> = Arc::new(PhysicalColumn::new(scan.schema().field(at).name(), at));
                (column, self.schema.field(logical).name().clone())
            })
            .collect::<Vec<_>>();
        Ok(Arc::new(ProjectionExec::try_new(renames, scan)?))
    }
}

/// The object store a table's files are in, as DataFusion names it (`file://`, `s3://bucket`).
fn object_store_url(url: &Url) -> DfResult<ObjectStoreUrl> {
    match url.scheme() {
        "file" => Ok(ObjectStoreUrl::local_filesystem()),
        scheme => ObjectStoreUrl::parse(format!("{scheme}://{}", url.host_str().unwrap_or_default())),
    }
}

/// Files spread over at most `partitions` groups of about equal bytes (largest first, each to
/// the group with the fewest bytes so far).
fn balanced_groups(mut files: Vec<(i64, PartitionedFile)>, partitions: usize) -> Vec<FileGroup> {
    files.sort_by(|a, b| b.0.cmp(&a.0));
    let count = partitions.max(1).min(files.len());
    let mut groups: Vec<(i64, Vec<PartitionedFile>)> = (0..count).map(|_| (0, Vec::new())).collect();
    for (size, file) in files {
        let smallest = groups.iter_mut().min_by_key(|g| g.0).expect("at least one group");
        smallest.0 += size;
        smallest.1.push(file);
    }
    groups.into_iter().map(|(_, files)| FileGroup::new(files)).collect()
}
