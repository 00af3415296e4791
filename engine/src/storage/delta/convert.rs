//! Tables written by squall before its tables were Delta tables (a directory of Parquet files
//! and a schema in the catalog) become Delta tables in place the first time this version starts.
//! The conversion is one commit (version 0, naming every file already there), written with
//! put-if-absent: a crash before it leaves the directory as it was, to be converted at the next
//! start; after it, the table is a Delta table with every row it had.

use std::sync::Arc;

use arrow_schema::Schema;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use deltalake::operations::convert_to_delta::ConvertToDeltaBuilder;

use super::write::Committer;
use super::{errors, DeltaTables};
use crate::error::Result;

/// Converts managed table `name` if it is not a Delta table yet; returns its columns as the
/// Delta table has them when it converted it.
pub async fn to_delta(tables: &DeltaTables, name: &str, schema: &Schema) -> Result<Option<Schema>> {
    let dir = tables.managed_dir(name);
    if dir.join("_delta_log").is_dir() || !dir.is_dir() {
        return Ok(None);
    }
    let has_files = std::fs::read_dir(&dir)?.flatten().any(|e| e.path().extension().is_some_and(|x| x == "parquet"));
    let url = tables.managed_url(name);
    let committer = Committer { user: "squall".into() };
    tracing::info!(table = name, "converting the table to Delta Lake");
    if !has_files {
        tables.create(&url, name, schema, &committer).await?;
    } else {
        convert_files(tables, &url, name, &committer).await?;
    }
    let (_, snapshot) = tables.latest_snapshot(&url).await?;
    Ok(Some(snapshot.schema().as_ref().clone()))
}

async fn convert_files(tables: &DeltaTables, url: &url::Url, name: &str, committer: &Committer) -> Result<()> {
    let log_store = tables.unloaded(url)?.log_store();
    ConvertToDeltaBuilder::new()
        .with_log_store(log_store)
        .with_table_name(name)
        .with_commit_properties(committer.properties())
        .await
        .map_err(|e| errors::classify(format!("converting table \"{name}\" to Delta Lake"), e))?;
    tables.forget(url);
    Ok(())
}

/// A managed table still in the format of squall before Delta Lake (its conversion failed): its
/// Parquet files as DataFusion lists them, to be read; writes to it are refused.
pub fn legacy(tables: &DeltaTables, name: &str, location: Option<&str>, schema: &Schema) -> Result<Option<Arc<dyn TableProvider>>> {
    let dir = tables.managed_dir(name);
    if location.is_some() || dir.join("_delta_log").is_dir() || !dir.is_dir() {
        return Ok(None);
    }
    let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(Arc::new(schema.clone()));
    Ok(Some(Arc::new(ListingTable::try_new(config)?)))
}
