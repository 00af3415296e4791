//! Pipes: files loaded into a table as they land in a directory or under an object store prefix
//! (`CREATE PIPE p INTO t FROM 's3://bucket/in/' FORMAT parquet`), each exactly once, as
//! Snowflake's Snowpipe loads them.
//!
//! A pipe is kept in `catalog/pipes/<name>.json`, written atomically after every change: its
//! definition and every file it has met, with the sequence number it gave the file and what
//! became of it (loading, loaded, quarantined with its error). A file's rows are committed as
//! batch `sequence` of the pipe's own producer (a Delta `txn` action, as rows sent over HTTP with
//! an `Idempotency-Key`; [`crate::storage::delta::producer_batches`]), so a file whose commit
//! landed before a crash but whose state did not is found committed after the restart and not
//! loaded twice, and one whose commit did not land is loaded again. Files are loaded one at a time
//! in the order of their sequence numbers (those already numbered first, so that no new file is
//! numbered while one waits), which makes "at or below the last committed" mean "committed". A
//! numbered file removed before it was loaded is quarantined (or loaded, if its commit landed).
//! A file that cannot be read as the table's rows is quarantined (never retried, its
//! error in `squall.pipe_files`); a failure that is not the file's (storage, a dropped table)
//! stops the round and the file is tried again at the next poll.

pub mod loader;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::error::{Result, SquallError};
use crate::storage::catalog::write_atomically;

/// What `CREATE PIPE` said, and who created it (its loads commit as that user).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Definition {
    pub name: String,
    pub table: String,
    pub source: String,
    pub format: String,
    pub poll_interval_ms: u64,
    /// CSV's field separator.
    pub delimiter: char,
    pub owner: String,
    /// Names the pipe's producer in the table's log, so that a pipe dropped and created again
    /// under the same name starts its own sequence.
    pub id: String,
    pub paused: bool,
    pub created_at: i64,
}

impl Definition {
    /// The producer whose batches are this pipe's files.
    pub fn producer(&self) -> String {
        format!("squall-pipe:{}:{}", self.name, self.id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Given its sequence number; its commit may or may not have landed.
    Loading,
    Loaded,
    Quarantined,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Loading => "loading",
            Status::Loaded => "loaded",
            Status::Quarantined => "quarantined",
        }
    }
}

/// A file the pipe has met.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRecord {
    pub sequence: i64,
    pub size: u64,
    pub status: Status,
    pub rows: u64,
    pub error: Option<String>,
    /// When it was loaded or quarantined (ms since the epoch).
    pub at: Option<i64>,
}

/// A pipe as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pipe {
    pub definition: Definition,
    pub next_sequence: i64,
    /// By the file's name under the source (`later/c.csv`).
    pub files: BTreeMap<String, FileRecord>,
    /// The last failure that was not a file's own (storage, a dropped table), while it lasts.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Set by DROP PIPE (under this pipe's lock): its loader, if it has not stopped yet, must
    /// not write the pipe's file again.
    #[serde(skip)]
    dropped: bool,
}

/// A pipe's shared state and its loader.
struct Running {
    pipe: Arc<Mutex<Pipe>>,
    wake: Arc<Notify>,
    loader: Option<tokio::task::JoinHandle<()>>,
}

/// Every pipe of the server.
pub struct Pipes {
    dir: PathBuf,
    pipes: Mutex<BTreeMap<String, Running>>,
}

impl std::fmt::Debug for Pipes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipes").field("dir", &self.dir).finish()
    }
}

impl Pipes {
    /// The pipes kept under `catalog_dir/pipes`; their loaders start with [`Self::start`].
    pub fn open(catalog_dir: &Path) -> Result<Self> {
        let dir = catalog_dir.join("pipes");
        std::fs::create_dir_all(&dir)?;
        let mut pipes = BTreeMap::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path)?;
                let pipe: Pipe = serde_json::from_slice(&bytes).map_err(|e| SquallError::storage(format!("reading {}", path.display()), e))?;
                pipes.insert(pipe.definition.name.clone(), Running { pipe: Arc::new(Mutex::new(pipe)), wake: Arc::new(Notify::new()), loader: None });
            }
        }
        Ok(Self { dir, pipes: Mutex::new(pipes) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Running>> {
        self.pipes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the loader of every pipe (a paused one waits to be resumed).
    pub fn start(&self, engine: &Arc<crate::engine::Engine>) {
        for (name, running) in self.lock().iter_mut() {
            if running.loader.is_none() {
                running.loader = Some(tokio::spawn(loader::run(Arc::clone(engine), name.clone(), Arc::clone(&running.pipe), Arc::clone(&running.wake), self.dir.clone())));
            }
        }
    }

    /// Keeps a new pipe and starts its loader; `false` when one of that name exists.
    pub fn create(&self, engine: &Arc<crate::engine::Engine>, definition: Definition) -> Result<bool> {
        let mut pipes = self.lock();
        if pipes.contains_key(&definition.name) {
            return Ok(false);
        }
        let pipe = Pipe { definition, next_sequence: 1, files: BTreeMap::new(), last_error: None, dropped: false };
        save(&self.dir, &pipe)?;
        let name = pipe.definition.name.clone();
        let (pipe, wake) = (Arc::new(Mutex::new(pipe)), Arc::new(Notify::new()));
        let loader = tokio::spawn(loader::run(Arc::clone(engine), name.clone(), Arc::clone(&pipe), Arc::clone(&wake), self.dir.clone()));
        pipes.insert(name, Running { pipe, wake, loader: Some(loader) });
        Ok(true)
    }

    /// `ALTER PIPE name PAUSE | RESUME`; `false` when there is no such pipe. A pause takes
    /// effect between files: a file being loaded is finished.
    pub fn set_paused(&self, name: &str, paused: bool) -> Result<bool> {
        let pipes = self.lock();
        let Some(running) = pipes.get(name) else { return Ok(false) };
        {
            let mut pipe = running.pipe.lock().unwrap_or_else(|p| p.into_inner());
            pipe.definition.paused = paused;
            save(&self.dir, &pipe)?;
        }
        running.wake.notify_one();
        Ok(true)
    }

    /// `DROP PIPE`: stops its loader and forgets it (the rows it loaded stay in the table);
    /// `false` when there is no such pipe.
    pub fn drop_pipe(&self, name: &str) -> Result<bool> {
        let Some(running) = self.lock().remove(name) else { return Ok(false) };
        running.pipe.lock().unwrap_or_else(|p| p.into_inner()).dropped = true;
        if let Some(loader) = running.loader {
            loader.abort();
        }
        match std::fs::remove_file(pipe_path(&self.dir, name)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e.into()),
        }
    }

    fn snapshot(&self) -> Vec<Pipe> {
        self.lock().values().map(|r| r.pipe.lock().unwrap_or_else(|p| p.into_inner()).clone()).collect()
    }

    /// `squall.pipes`: one row per pipe.
    pub fn pipes_batch(&self) -> datafusion::common::Result<RecordBatch> {
        let pipes = self.snapshot();
        let count = |status: Status| Arc::new(Int64Array::from_iter_values(pipes.iter().map(|p| p.files.values().filter(|f| f.status == status).count() as i64)));
        let text = |f: fn(&Pipe) -> String| Arc::new(StringArray::from_iter_values(pipes.iter().map(f)));
        Ok(RecordBatch::try_new(
            pipes_schema(),
            vec![
                text(|p| p.definition.name.clone()),
                text(|p| p.definition.table.clone()),
                text(|p| p.definition.source.clone()),
                text(|p| p.definition.format.clone()),
                text(|p| if p.definition.paused { "paused".into() } else { "running".into() }),
                count(Status::Loaded),
                count(Status::Quarantined),
                count(Status::Loading),
                Arc::new(Int64Array::from_iter_values(pipes.iter().map(|p| p.files.values().map(|f| f.rows as i64).sum::<i64>()))),
                Arc::new(StringArray::from_iter(pipes.iter().map(|p| p.last_error.clone()))),
                Arc::new(TimestampMillisecondArray::from_iter(pipes.iter().map(|p| p.files.values().filter_map(|f| f.at).max())).with_timezone("UTC")),
                text(|p| p.definition.owner.clone()),
            ],
        )?)
    }

    /// `squall.pipe_files`: every file each pipe has met.
    pub fn files_batch(&self) -> datafusion::common::Result<RecordBatch> {
        let rows: Vec<(String, String, FileRecord)> =
            self.snapshot().into_iter().flat_map(|p| p.files.into_iter().map(move |(file, record)| (p.definition.name.clone(), file, record))).collect();
        Ok(RecordBatch::try_new(
            files_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.as_str()))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1.as_str()))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2.sequence))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2.status.name()))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2.size as i64))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2.rows as i64))),
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2.error.as_deref()))),
                Arc::new(TimestampMillisecondArray::from_iter(rows.iter().map(|r| r.2.at)).with_timezone("UTC")),
            ],
        )?)
    }
}

fn pipe_path(dir: &Path, name: &str) -> PathBuf {
    // Pipe names are identifiers; hex keeps any of them a safe file name.
    let encoded: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{encoded}.json"))
}

/// Writes `pipe` atomically (fsynced) to its file.
pub(crate) fn save(dir: &Path, pipe: &Pipe) -> Result<()> {
    if pipe.dropped {
        return Ok(());
    }
    let bytes = serde_json::to_vec_pretty(pipe).map_err(|e| SquallError::Internal(e.to_string()))?;
    write_atomically(&pipe_path(dir, &pipe.definition.name), &bytes)
}

pub const PIPES_TABLE: &str = "pipes";
pub const FILES_TABLE: &str = "pipe_files";

pub fn pipes_schema() -> SchemaRef {
    let utc = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("format", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("files_loaded", DataType::Int64, false),
        Field::new("files_quarantined", DataType::Int64, false),
        Field::new("files_loading", DataType::Int64, false),
        Field::new("rows_loaded", DataType::Int64, false),
        Field::new("last_error", DataType::Utf8, true),
        Field::new("last_load", utc, true),
        Field::new("owner", DataType::Utf8, false),
    ]))
}

pub fn files_schema() -> SchemaRef {
    let utc = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("pipe", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("sequence", DataType::Int64, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("at", utc, true),
    ]))
}
