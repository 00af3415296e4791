//! Delta Lake tables: squall's managed tables (under `<data-dir>/tables/<name>/`, or at a
//! `LOCATION` URL) and external ones written by anything else.
//!
//! delta-rs does the table format: commits (each statement one, put-if-absent of the next
//! `_delta_log` entry, so after a crash at any moment the table is at a committed version),
//! UPDATE / DELETE / MERGE, OPTIMIZE, VACUUM, history. squall plans reads itself
//! ([`snapshot_scan`]) so that Ballista can ship them to the executors.
//!
//! A query reads one version of each table, chosen when it starts ([`DeltaTables::pin`]): the
//! registered provider of a table ([`LiveDeltaTable`]) stands for "the latest version", and is
//! replaced in each query's plan by that version's [`DeltaSnapshot`].

pub mod durable_store;
pub mod convert;
pub mod errors;
pub mod external;
pub mod grouped_append;
pub mod maintenance;
pub mod object_store_tables;
pub mod plan_codec;
pub mod producer_batches;
pub mod appended_since;
pub mod commit;
pub mod compaction;
pub mod rename_column;
pub mod small_append;
pub mod snapshot_scan;
pub mod time_travel;
pub mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::Transformed;
use datafusion::datasource::provider_as_source;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use deltalake::{DeltaTable, DeltaTableBuilder};
use object_store::ObjectStore;
use url::Url;

pub use snapshot_scan::DeltaSnapshot;

use crate::error::{Result, SquallError};

/// The Delta tables of one data directory, and the handles of every table squall has opened.
#[derive(Debug)]
pub struct DeltaTables {
    tables_dir: PathBuf,
    local: Arc<durable_store::DurableLocalStore>,
    /// The latest version read of each table, reused while the table has no newer version.
    latest: Mutex<HashMap<Url, Opened>>,
    /// The session delta-rs plans writes in ([`write`]).
    write_session: std::sync::OnceLock<datafusion::execution::SessionState>,
    /// Background compaction ([`maintenance`]).
    auto_compaction: maintenance::AutoCompaction,
    /// The last batch each producer committed to each table ([`producer_batches`]).
    producer_batches: Mutex<HashMap<(Url, String), i64>>,
    /// Each producer's turn to append a batch ([`producer_batches`]).
    producer_turns: Mutex<HashMap<(Url, String), Arc<tokio::sync::Mutex<()>>>>,
    /// The group committer of each table's batches sent over HTTP ([`grouped_append`]).
    grouped: grouped_append::Committers,
    /// The decoded rows of files that plans run again read.
    pub cache: Arc<crate::plans::table_cache::TableCache>,
}

impl DeltaTables {
    pub fn open(data_dir: &Path) -> Result<Self> {
        object_store_tables::register();
        let tables_dir = data_dir.join("tables");
        std::fs::create_dir_all(&tables_dir)?;
        Ok(Self {
            tables_dir,
            local: Arc::new(durable_store::DurableLocalStore::new()),
            latest: Default::default(),
            write_session: Default::default(),
            auto_compaction: Default::default(),
            producer_batches: Default::default(),
            producer_turns: Default::default(),
            grouped: Default::default(),
            cache: Default::default(),
        })
    }

    /// Where managed table `name` lives unless created with a `LOCATION`.
    pub fn managed_url(&self, name: &str) -> Url {
        Url::from_directory_path(self.tables_dir.join(name)).expect("the data directory is absolute")
    }

    pub fn managed_dir(&self, name: &str) -> PathBuf {
        self.tables_dir.join(name)
    }

    /// The URL of managed table `name`, created at `location` (a URL or an absolute path) or in
    /// the data directory.
    pub fn url_of(&self, name: &str, location: Option<&str>) -> Result<Url> {
        match location {
            None => Ok(self.managed_url(name)),
            Some(location) => location_url(location),
        }
    }

    /// Deletes the directories of managed tables the catalog does not list (a CREATE TABLE
    /// that crashed before the catalog knew of it, a DROP TABLE that crashed after).
    pub fn remove_unlisted<'a>(&self, listed: impl Iterator<Item = &'a str>) -> Result<()> {
        let listed: std::collections::HashSet<&str> = listed.collect();
        for dir in std::fs::read_dir(&self.tables_dir)? {
            let dir = dir?;
            let name = dir.file_name();
            if !listed.contains(name.to_string_lossy().as_ref()) {
                tracing::info!(table = %name.to_string_lossy(), "removing files of a table that was never committed");
                std::fs::remove_dir_all(dir.path())?;
            }
        }
        Ok(())
    }

    /// Moves managed table `from`'s directory to `to`'s (ALTER TABLE ... RENAME TO), unless
    /// that was done already (a start finishing a rename a crash interrupted).
    pub fn finish_move(&self, from: &str, to: &str) -> Result<()> {
        let (source, target) = (self.managed_dir(from), self.managed_dir(to));
        if source.is_dir() && !target.exists() {
            std::fs::rename(&source, &target)?;
            crate::storage::catalog::sync_dir(&self.tables_dir)?;
        }
        self.forget(&self.managed_url(from));
        Ok(())
    }

    /// Deletes managed table `name`'s directory (dropped, or left by a crash).
    pub fn delete_managed(&self, name: &str) -> Result<()> {
        self.forget(&self.managed_url(name));
        match std::fs::remove_dir_all(self.managed_dir(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether `url` is (in) the directory of a managed table.
    pub fn holds(&self, url: &Url) -> bool {
        url.scheme() == "file" && url.to_file_path().is_ok_and(|path| path.starts_with(&self.tables_dir))
    }

    fn builder(&self, url: &Url) -> Result<DeltaTableBuilder> {
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "file" => self.local.clone(),
            _ => {
                use datafusion::execution::object_store::ObjectStoreRegistry;
                squall_udf::object_stores::EnvObjectStores::default().get_store(url)?
            }
        };
        Ok(DeltaTableBuilder::from_url(url.clone())
            .map_err(|e| errors::classify(format!("opening {url}"), e))?
            .with_storage_backend(store, url.clone()))
    }

    /// A handle on the table at `url` (not loaded: for creating it).
    pub fn unloaded(&self, url: &Url) -> Result<DeltaTable> {
        self.builder(url)?.build().map_err(|e| errors::classify(format!("opening {url}"), e))
    }

    /// The table at `url` at its latest version. Its live files are not read (an append does
    /// not need them): see [`Self::latest_snapshot`].
    pub async fn latest(&self, url: &Url) -> Result<DeltaTable> {
        let cached = self.latest.lock().unwrap_or_else(|p| p.into_inner()).get(url).map(|o| (o.table.clone(), o.head));
        let table = match cached {
            Some((mut table, head)) => {
                if table.version() < Some(head) || has_newer_version(&table, head).await? {
                    table.update_incremental(None).await.map_err(|e| errors::classify(format!("reading the Delta log of {url}"), e))?;
                }
                table
            }
            None => self.builder(url)?.load().await.map_err(|e| errors::classify(format!("opening the Delta table at {url}"), e))?,
        };
        self.remember(url, &table);
        Ok(table)
    }

    /// Keeps `table` as the latest version known of `url`, unless a newer one is known already
    /// (another statement committed meanwhile). A statement that committed passes the table its
    /// commit returned, so the next one starts from it without reading the log again.
    pub fn remember(&self, url: &Url, table: &DeltaTable) {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        let replaced = match latest.get_mut(url) {
            Some(known) if known.table.version() >= table.version() => None,
            Some(known) => {
                let head = known.head.max(table.version().unwrap_or_default());
                Some(std::mem::replace(known, Opened::new(table.clone(), head)))
            }
            None => latest.insert(url.clone(), Opened::new(table.clone(), table.version().unwrap_or_default())),
        };
        drop(latest);
        // The replaced version's state (its files, maybe thousands) is freed outside the lock.
        drop(replaced);
    }

    /// What an append to `url` starts from: a handle on the table whose columns and protocol are
    /// those of every version up to the second, the latest version known (see [`small_append`]).
    async fn append_head(&self, url: &Url) -> Result<(DeltaTable, u64)> {
        let known = self.latest.lock().unwrap_or_else(|p| p.into_inner()).get(url).map(|o| (o.table.clone(), o.head));
        match known {
            Some(known) => Ok(known),
            None => {
                let table = self.latest(url).await?;
                let head = table.version().unwrap_or_default();
                Ok((table, head))
            }
        }
    }

    /// Notes that squall committed `version` of the table at `url`, changing neither its columns
    /// nor its protocol (which `table` describes): the next append starts after it, and a query
    /// reads up to it.
    fn advanced(&self, url: &Url, table: &DeltaTable, version: u64) {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        match latest.get_mut(url) {
            Some(known) => known.head = known.head.max(version),
            None => {
                latest.insert(url.clone(), Opened::new(table.clone(), version));
            }
        }
        drop(latest);
        self.checkpoint_when_due(url, table, version);
    }

    /// The table at `url` at its latest version, and what squall reads of it (its live files,
    /// read once per version).
    pub async fn latest_snapshot(&self, url: &Url) -> Result<(DeltaTable, Arc<DeltaSnapshot>)> {
        let table = self.latest(url).await?;
        let version = table.version();
        let known = self.latest.lock().unwrap_or_else(|p| p.into_inner()).get(url).and_then(|o| o.snapshot.clone());
        if let Some(snapshot) = known.filter(|s| Some(s.version) == version) {
            return Ok((table, snapshot));
        }
        let snapshot = Arc::new(DeltaSnapshot::of(url.clone(), table_state(&table, url)?)?);
        if let Some(known) = self.latest.lock().unwrap_or_else(|p| p.into_inner()).get_mut(url) {
            if known.table.version() == version {
                known.snapshot = Some(Arc::clone(&snapshot));
            }
        }
        Ok((table, snapshot))
    }

    /// The table at `url` as it was at `at`: a version that exists, or the last version committed
    /// at or before a time after the table was created (22023 otherwise, as Delta says).
    pub async fn snapshot_at(&self, url: &Url, at: &TimeTravel) -> Result<Arc<DeltaSnapshot>> {
        let latest = self.latest(url).await?;
        let newest = latest.version().unwrap_or_default();
        let mut table = latest.clone();
        let loaded = match at {
            TimeTravel::Version(v) if *v > newest => {
                return Err(SquallError::InvalidParameter(format!("the table at {url} has no version {v}: its latest is {newest}")));
            }
            TimeTravel::Version(v) => table.load_version(*v).await,
            TimeTravel::Timestamp(ts) => {
                let first = self.first_commit_time(&latest).await;
                if first.is_some_and(|first| ts.timestamp_millis() < first) {
                    return Err(SquallError::InvalidParameter(format!("the table at {url} did not exist yet at {ts}: its first version is later")));
                }
                table.load_with_datetime(*ts).await
            }
        };
        loaded.map_err(|e| errors::classify(format!("reading the Delta table at {url} as of {at}"), e))?;
        Ok(Arc::new(DeltaSnapshot::of(url.clone(), table_state(&table, url)?)?))
    }

    /// When the table's first version was committed (`None` once its log entry is cleaned up).
    async fn first_commit_time(&self, table: &DeltaTable) -> Option<i64> {
        let entry = table.log_store().read_commit_entry(0).await.ok()??;
        maintenance::commit_of(0, &entry).time
    }

    /// Forgets the cached handle of `url` (the table was dropped or moved).
    pub fn forget(&self, url: &Url) {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).remove(url);
        self.producer_batches.lock().unwrap_or_else(|p| p.into_inner()).retain(|(table, _), _| table != url);
    }

    /// `plan` with every table at its latest version replaced by that version's snapshot, so
    /// that the whole query reads one version of each table, wherever it runs.
    pub async fn pin(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        let mut live = Vec::new();
        crate::routing::visit_scans(&plan, &mut |provider| {
            if let Some(table) = (provider.as_ref() as &dyn std::any::Any).downcast_ref::<LiveDeltaTable>() {
                live.push(table.url.clone());
            }
        })?;
        if live.is_empty() {
            return Ok(plan);
        }
        let mut pinned = HashMap::new();
        for url in live {
            if !pinned.contains_key(&url) {
                let snapshot = self.latest_snapshot(&url).await?.1;
                pinned.insert(url, snapshot);
            }
        }
        let replaced = plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::TableScan(mut scan) => {
                let provider = datafusion::datasource::source_as_provider(&scan.source)?;
                match (provider.as_ref() as &dyn std::any::Any).downcast_ref::<LiveDeltaTable>().and_then(|t| pinned.get(&t.url)) {
                    Some(snapshot) if snapshot.schema() == provider.schema() => {
                        scan.source = provider_as_source(Arc::clone(snapshot) as Arc<dyn TableProvider>);
                        Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
                    }
                    // The table's columns changed since the statement was planned: the plan
                    // reads the latest version as it finds it at scan time.
                    _ => Ok(Transformed::no(LogicalPlan::TableScan(scan))),
                }
            }
            other => Ok(Transformed::no(other)),
        })?;
        Ok(replaced.data)
    }
}

/// The Delta table versions a pinned plan reads: (table as the query names it, version), each
/// once, in the order met.
pub fn versions_read(plan: &LogicalPlan) -> Vec<(String, u64)> {
    let mut read = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source) {
                if let Some(snapshot) = (provider.as_ref() as &dyn std::any::Any).downcast_ref::<DeltaSnapshot>() {
                    let entry = (scan.table_name.table().to_string(), snapshot.version);
                    if !read.contains(&entry) {
                        read.push(entry);
                    }
                }
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    read
}

/// A table location as written in SQL: a URL, or an absolute local path; always a directory.
pub fn location_url(location: &str) -> Result<Url> {
    let url = if location.contains("://") {
        Url::parse(location).map_err(|e| SquallError::InvalidParameter(format!("LOCATION '{location}' is not a URL: {e}")))?
    } else if Path::new(location).is_absolute() {
        Url::from_directory_path(location).map_err(|_| SquallError::InvalidParameter(format!("LOCATION '{location}' is not a directory path")))?
    } else {
        return Err(SquallError::InvalidParameter(format!("LOCATION '{location}' must be a URL or an absolute path")));
    };
    Ok(if url.path().ends_with('/') { url } else { Url::parse(&format!("{url}/")).expect("a URL with a slash more") })
}

/// A table handle squall keeps: the latest version it has seen, and that version's live files
/// once a query has needed them.
#[derive(Debug)]
struct Opened {
    table: DeltaTable,
    snapshot: Option<Arc<DeltaSnapshot>>,
    /// The latest version known to exist: `table`'s, or a later one committed by an append
    /// ([`small_append`]), which changes neither the columns nor the protocol.
    head: u64,
}

impl Opened {
    fn new(table: DeltaTable, head: u64) -> Self {
        Self { table, snapshot: None, head }
    }
}

/// Whether the table has a version after `version`. Delta versions are consecutive, so one
/// lookup of the next commit's file answers it, where reading the log lists its whole directory
/// (thousands of entries once a table has taken many small commits).
async fn has_newer_version(table: &DeltaTable, version: u64) -> Result<bool> {
    let next = deltalake::logstore::commit_uri_from_version(Some(version + 1));
    use object_store::ObjectStoreExt;
    match table.log_store().object_store(None).head(&next).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(SquallError::storage(format!("reading the Delta log of {}", table.table_url()), e)),
    }
}

fn table_state<'a>(table: &'a DeltaTable, url: &Url) -> Result<&'a deltalake::table::state::DeltaTableState> {
    table.snapshot().map_err(|e| errors::classify(format!("reading the Delta log of {url}"), e))
}

/// `VERSION AS OF n` or `TIMESTAMP AS OF '...'`.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeTravel {
    Version(u64),
    Timestamp(chrono::DateTime<chrono::Utc>),
}

impl std::fmt::Display for TimeTravel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeTravel::Version(v) => write!(f, "version {v}"),
            TimeTravel::Timestamp(ts) => write!(f, "{ts}"),
        }
    }
}

/// A Delta table as registered in the catalog: whatever its latest version is when a query
/// starts. Queries read it through [`DeltaTables::pin`]; a plan that was not pinned (one made
/// outside the query path) reads the latest version at scan time.
#[derive(Debug)]
pub struct LiveDeltaTable {
    pub url: Url,
    schema: SchemaRef,
    tables: Arc<DeltaTables>,
}

impl LiveDeltaTable {
    pub async fn open(tables: &Arc<DeltaTables>, url: Url) -> Result<Self> {
        let (_, snapshot) = tables.latest_snapshot(&url).await?;
        Ok(Self { url, schema: snapshot.schema(), tables: Arc::clone(tables) })
    }

    pub fn with_schema(tables: &Arc<DeltaTables>, url: Url, schema: Schema) -> Self {
        Self { url, schema: Arc::new(schema), tables: Arc::clone(tables) }
    }
}

#[async_trait]
impl TableProvider for LiveDeltaTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let (_, snapshot) = self.tables.latest_snapshot(&self.url).await.map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        if snapshot.schema() != self.schema {
            return Err(datafusion::error::DataFusionError::External(Box::new(SquallError::SerializationFailure(format!(
                "the columns of the table at {} changed while the statement was planned; run it again",
                self.url
            )))));
        }
        snapshot.scan(state, projection, filters, limit).await
    }
}
