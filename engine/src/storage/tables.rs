//! Managed tables: their rows are Parquet files under `tables/<name>/` in the data directory.
//!
//! Each INSERT (or CREATE TABLE AS) writes exactly one new file: rows are streamed into a file
//! under `tmp/`, which is fsynced and then renamed into the table's directory, and the directory
//! is fsynced. A statement is therefore atomic — readers see all of its rows or none — and its
//! rows are durable once it reports success.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use futures::StreamExt;

use crate::storage::catalog::sync_dir;
use crate::error::{Result, SquallError};

/// The managed tables of one data directory.
#[derive(Debug, Clone)]
pub struct TableStore {
    tables: PathBuf,
    staging: PathBuf,
    /// The decoded rows of files that plans run again read.
    pub cache: Arc<crate::plans::table_cache::TableCache>,
}

impl TableStore {
    /// `data_dir` must be absolute: table locations are handed to other processes.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let store = Self { tables: data_dir.join("tables"), staging: data_dir.join("tmp"), cache: Default::default() };
        fs::create_dir_all(&store.tables)?;
        // Files left here by a crash mid-statement belong to statements that never reported
        // success: they are garbage.
        let _ = fs::remove_dir_all(&store.staging);
        fs::create_dir_all(&store.staging)?;
        Ok(store)
    }

    /// Whether `url` is (in) the directory of a managed table.
    pub fn holds(&self, url: &ListingTableUrl) -> bool {
        url.scheme() == "file" && url.get_url().to_file_path().is_ok_and(|path| path.starts_with(&self.tables))
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        self.tables.join(name)
    }

    /// Creates the (empty) directory of a new table. Files already there belong to no table the
    /// catalog lists (a crash between writing them and committing the catalog): they go.
    pub fn create(&self, name: &str) -> Result<()> {
        self.delete(name)?;
        fs::create_dir_all(self.dir(name))?;
        sync_dir(&self.tables)
    }

    /// Deletes the directories of tables the catalog does not list (left by a crash).
    pub fn remove_unlisted<'a>(&self, listed: impl Iterator<Item = &'a str>) -> Result<()> {
        let listed: std::collections::HashSet<&str> = listed.collect();
        for dir in fs::read_dir(&self.tables)? {
            let dir = dir?;
            let name = dir.file_name();
            if !listed.contains(name.to_string_lossy().as_ref()) {
                tracing::info!(table = %name.to_string_lossy(), "removing files of a table that was never committed");
                fs::remove_dir_all(dir.path())?;
            }
        }
        Ok(())
    }

    /// Deletes a dropped table's files. Called after the catalog no longer lists the table, so a
    /// crash half-way leaves only unreferenced files.
    pub fn delete(&self, name: &str) -> Result<()> {
        match fs::remove_dir_all(self.dir(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The table as DataFusion reads it: every Parquet file in its directory, with the schema the
    /// catalog recorded (so an empty table still has its columns).
    pub fn provider(&self, name: &str, schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
        let url = format!("{}/", self.dir(name).display());
        let url = ListingTableUrl::parse(&url)?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
        Ok(Arc::new(ListingTable::try_new(config)?))
    }

    /// Writes `rows` into one staged Parquet file, cast to the table's `schema`. Nothing is
    /// visible until [`TableStore::publish`]; a value that does not fit fails the whole statement.
    pub async fn stage(&self, schema: &SchemaRef, mut rows: SendableRecordBatchStream) -> Result<Staged> {
        let file_name = format!("part-{}.parquet", uuid::Uuid::new_v4().simple());
        let path = self.staging.join(&file_name);
        let mut writer: Option<ArrowWriter<fs::File>> = None;
        let mut count = 0u64;
        let written: Result<()> = async {
            while let Some(batch) = rows.next().await {
                let batch = conform(batch?, schema)?;
                if batch.num_rows() == 0 {
                    continue;
                }
                count += batch.num_rows() as u64;
                let writer = match &mut writer {
                    Some(w) => w,
                    None => writer.insert(new_writer(&path, schema)?),
                };
                tokio::task::block_in_place(|| writer.write(&batch))
                    .map_err(|e| SquallError::storage(format!("writing {}", path.display()), e))?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = written {
            drop(writer);
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        let Some(writer) = writer else {
            return Ok(Staged { file: None, rows: 0 }); // no rows: no file
        };
        tokio::task::block_in_place(|| -> Result<()> {
            let file = writer
                .into_inner()
                .map_err(|e| SquallError::storage(format!("finishing {}", path.display()), e))?;
            Ok(file.sync_all()?)
        })?;
        Ok(Staged { file: Some((path, file_name)), rows: count })
    }

    /// Moves a staged file into table `name` atomically and durably; returns its row count.
    pub fn publish(&self, name: &str, mut staged: Staged) -> Result<u64> {
        if let Some((path, file_name)) = staged.file.take() {
            let dir = self.dir(name);
            fs::rename(&path, dir.join(file_name))?;
            sync_dir(&dir)?;
        }
        Ok(staged.rows)
    }
}

/// Rows written but not yet part of any table.
#[derive(Debug)]
pub struct Staged {
    file: Option<(PathBuf, String)>,
    pub rows: u64,
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Not published (the statement failed after staging): the file is garbage.
        if let Some((path, _)) = self.file.take() {
            let _ = fs::remove_file(path);
        }
    }
}

fn new_writer(path: &Path, schema: &SchemaRef) -> Result<ArrowWriter<fs::File>> {
    let file = fs::File::create(path)?;
    // Snappy, as Spark and DuckDB write by default: every reader of a ZSTD column chunk makes
    // zstd contexts of its own (parquet-rs makes a compressor and a decompressor), which was a
    // twentieth of a small lookup's CPU (pgbench, a 1,000-row table).
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    ArrowWriter::try_new(file, Arc::clone(schema), Some(props))
        .map_err(|e| SquallError::storage(format!("creating {}", path.display()), e))
}

/// The batch with the table's column names, types and nullability.
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.num_columns() != schema.fields().len() {
        return Err(SquallError::InvalidParameter(format!(
            "INSERT has {} columns but the table has {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if !field.is_nullable() && column.null_count() > 0 {
                return Err(SquallError::NotNullViolation(format!(
                    "null value in column \"{}\" violates not-null constraint",
                    field.name()
                )));
            }
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                Ok(cast(column, field.data_type()).map_err(datafusion::error::DataFusionError::from)?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns).map_err(datafusion::error::DataFusionError::from)?)
}
