//! Keeping a Delta table fast and small: compaction (OPTIMIZE, and automatically after many small
//! commits), VACUUM, and the history of its commits.

use std::sync::Arc;

use serde_json::Value;
use url::Url;

use super::compaction::Rewrite;
use super::write::Committer;
use super::{errors, DeltaTables};
use crate::error::Result;

/// What a compaction did.
#[derive(Debug, Clone, Copy)]
pub struct Compacted {
    /// The table's version after it (the same as before when there was nothing to compact).
    pub version: u64,
    pub files_removed: u64,
    pub files_added: u64,
}

/// One commit of a table, as DESCRIBE HISTORY shows it.
#[derive(Debug, Clone)]
pub struct Commit {
    pub version: u64,
    /// Milliseconds since the epoch.
    pub time: Option<i64>,
    pub user: Option<String>,
    pub operation: Option<String>,
    /// The rows the operation wrote, updated, deleted or merged.
    pub rows: Option<i64>,
    pub parameters: Option<String>,
}

/// How many commits DESCRIBE HISTORY reads back, newest first.
const HISTORY_LIMIT: u64 = 1000;

/// A table with this many files smaller than [`SMALL_FILE`] is compacted in the background.
pub const AUTO_COMPACT_FILES: usize = 64;
const SMALL_FILE: i64 = 16 * 1024 * 1024;
/// The tables being compacted in the background now, and how many compactions committed so far
/// (a statement that lost a conflict to one runs again: see [`DeltaTables::compactions`]).
#[derive(Debug, Default)]
pub struct AutoCompaction {
    running: std::sync::Mutex<std::collections::HashSet<Url>>,
    /// How many small files each table has at most: counted, plus those appended since (absent:
    /// to be counted, as after a start, a compaction, or a large write).
    small_files: std::sync::Mutex<std::collections::HashMap<Url, usize>>,
    committed: std::sync::atomic::AtomicU64,
    /// Tables that reached a version to checkpoint after by an append that wrote no checkpoint
    /// ([`super::small_append`]).
    checkpoint_due: std::sync::Mutex<std::collections::HashSet<Url>>,
}

impl DeltaTables {
    /// Rewrites the small files of the table at `url` as fewer large ones, in one commit.
    pub async fn compact(&self, url: &Url, committer: &Committer) -> Result<Compacted> {
        match self.rewrite_small_files(url, committer, None).await? {
            Some(Rewrite::Done(done)) => return Ok(done),
            Some(Rewrite::TooFew(_)) => unreachable!("rewritten whatever their number"),
            None => {}
        }
        let table = self.latest(url).await?;
        let (table, metrics) = table
            .optimize()
            .with_commit_properties(committer.properties())
            .await
            .map_err(|e| errors::classify(format!("compacting the table at {url}"), e))?;
        Ok(Compacted { version: table.version().unwrap_or_default(), files_removed: metrics.num_files_removed, files_added: metrics.num_files_added })
    }

    /// Notes a checkpoint due when an append committed `version` of `table`, where delta-rs would
    /// write one after its commit: every `delta.checkpointInterval` versions (100 by default).
    /// Without checkpoints, opening the table would read every commit since it was created.
    pub(super) fn checkpoint_when_due(&self, url: &Url, table: &deltalake::DeltaTable, version: u64) {
        use deltalake::table::config::TablePropertiesExt;
        let interval = table.snapshot().map(|s| s.table_config().checkpoint_interval().get()).unwrap_or(100);
        if (version + 1).is_multiple_of(interval) {
            self.auto_compaction.checkpoint_due.lock().unwrap_or_else(|p| p.into_inner()).insert(url.clone());
        }
    }

    /// The upkeep of the table at `url` after an append, in the background: the checkpoint due
    /// ([`Self::checkpoint_when_due`]), and compaction when the table has gathered many small
    /// files (an application inserting rows one at a time). Readers and appends go on meanwhile:
    /// neither commit changes data. One compaction at a time per table; one that loses a
    /// conflict is dropped (the next commit tries again).
    pub fn after_append(self: &Arc<Self>, url: &Url) {
        if self.auto_compaction.checkpoint_due.lock().unwrap_or_else(|p| p.into_inner()).remove(url) {
            let tables = Arc::clone(self);
            let url = url.clone();
            tokio::spawn(async move {
                let checkpoint = async {
                    let table = tables.latest(&url).await?;
                    deltalake::checkpoints::create_checkpoint(&table, None).await.map_err(|e| errors::classify(format!("checkpointing the table at {url}"), e))
                };
                if let Err(e) = checkpoint.await {
                    tracing::warn!(table = %url, "could not write a checkpoint: {e}");
                }
            });
        }
        // Counting the small files reads the table's live files, which costs more than a small
        // INSERT: they are counted (and compacted when there are enough) only when the files
        // appended since the last count may have made enough of them.
        {
            let mut small_files = self.auto_compaction.small_files.lock().unwrap_or_else(|p| p.into_inner());
            if small_files.get(url).is_some_and(|&n| n < AUTO_COMPACT_FILES) {
                return;
            }
            // Appends meanwhile add to the count from here on.
            small_files.insert(url.clone(), 0);
        }
        if !self.auto_compaction.running.lock().unwrap_or_else(|p| p.into_inner()).insert(url.clone()) {
            // The compaction running counts again when it is done.
            return;
        }
        let tables = Arc::clone(self);
        let url = url.clone();
        tokio::spawn(async move {
            let committer = Committer { user: "squall (auto-compaction)".into() };
            let counted = match tables.rewrite_small_files(&url, &committer, Some((AUTO_COMPACT_FILES, SMALL_FILE))).await {
                Ok(Some(Rewrite::TooFew(small))) => Some(small),
                Ok(Some(Rewrite::Done(done))) => {
                    tables.auto_compaction.committed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tracing::info!(table = %url, files_removed = done.files_removed, files_added = done.files_added, "compacted small files");
                    Some(done.files_added as usize)
                }
                // A table squall does not commit to by itself: counted, and compacted by delta-rs.
                Ok(None) => tables.compact_through_delta_rs(&url, &committer).await,
                Err(e) => {
                    tracing::info!(table = %url, "background compaction gave way: {e}");
                    None
                }
            };
            match counted {
                Some(n) => *tables.auto_compaction.small_files.lock().unwrap_or_else(|p| p.into_inner()).entry(url.clone()).or_default() += n,
                None => tables.files_unknown(&url),
            }
            tables.auto_compaction.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&url);
        });
    }

    /// Background compaction of a table squall does not commit to by itself; how many small
    /// files it has left (`None`: not known).
    async fn compact_through_delta_rs(&self, url: &Url, committer: &Committer) -> Option<usize> {
        let (_, snapshot) = self.latest_snapshot(url).await.ok()?;
        let small = snapshot.files_smaller_than(SMALL_FILE);
        if small < AUTO_COMPACT_FILES {
            return Some(small);
        }
        match self.compact(url, committer).await {
            Ok(done) => {
                self.auto_compaction.committed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tracing::info!(table = %url, files_removed = done.files_removed, files_added = done.files_added, "compacted small files");
            }
            Err(e) => tracing::info!(table = %url, "background compaction gave way: {e}"),
        }
        None
    }

    /// Notes that an append added `files` small files to the table at `url`.
    pub(super) fn small_files_added(&self, url: &Url, files: usize) {
        if let Some(n) = self.auto_compaction.small_files.lock().unwrap_or_else(|p| p.into_inner()).get_mut(url) {
            *n += files;
        }
    }

    /// Notes that the table at `url` may have any number of small files now (a write of many
    /// rows, a compaction): the next append counts them.
    pub(super) fn files_unknown(&self, url: &Url) {
        self.auto_compaction.small_files.lock().unwrap_or_else(|p| p.into_inner()).remove(url);
    }

    /// How many background compactions have committed: a statement that lost a conflict while
    /// this changed lost it to squall itself, and may run again.
    pub fn compactions(&self) -> u64 {
        self.auto_compaction.committed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Deletes the files no version within `retain_hours` (the table's retention when `None`)
    /// needs; returns how many.
    pub async fn vacuum(&self, url: &Url, retain_hours: Option<u64>, committer: &Committer) -> Result<usize> {
        let table = self.latest(url).await?;
        let mut vacuum = table.vacuum().with_commit_properties(committer.properties());
        if let Some(hours) = retain_hours {
            vacuum = vacuum.with_retention_period(chrono::Duration::hours(hours as i64)).with_enforce_retention_duration(false);
        }
        let (_, metrics) = vacuum.await.map_err(|e| errors::classify(format!("vacuuming the table at {url}"), e))?;
        self.forget(url);
        Ok(metrics.files_deleted.len())
    }

    /// The table's commits, newest first (at most [`HISTORY_LIMIT`]; fewer when older log
    /// entries were cleaned up).
    pub async fn history(&self, url: &Url) -> Result<Vec<Commit>> {
        let table = self.latest(url).await?;
        let latest = table.version().unwrap_or_default();
        let log = table.log_store();
        let mut commits = Vec::new();
        for version in (latest.saturating_sub(HISTORY_LIMIT - 1)..=latest).rev() {
            let Some(entry) = log.read_commit_entry(version).await.map_err(|e| errors::classify(format!("reading the history of {url}"), e))? else {
                break;
            };
            commits.push(commit_of(version, &entry));
        }
        Ok(commits)
    }
}

/// The `commitInfo` action of a commit file (newline-delimited JSON actions).
pub(super) fn commit_of(version: u64, entry: &[u8]) -> Commit {
    let info = String::from_utf8_lossy(entry)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|action| action.get("commitInfo").cloned())
        .unwrap_or(Value::Null);
    let text = |key: &str| info.get(key).and_then(Value::as_str).map(str::to_string);
    let metric = |key: &str| info.get("operationMetrics").and_then(|m| m.get(key)).and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()));
    let operation = text("operation");
    let rows = match operation.as_deref() {
        Some("WRITE" | "CREATE TABLE AS SELECT" | "CONVERT") => metric("num_added_rows"),
        Some("UPDATE") => metric("num_updated_rows"),
        Some("DELETE") => metric("num_deleted_rows"),
        Some("MERGE") => Some(
            metric("num_target_rows_inserted").unwrap_or(0) + metric("num_target_rows_updated").unwrap_or(0) + metric("num_target_rows_deleted").unwrap_or(0),
        ),
        _ => None,
    };
    Commit {
        version,
        time: info.get("timestamp").and_then(Value::as_i64),
        user: text("userName"),
        operation,
        rows,
        parameters: info.get("operationParameters").filter(|p| !p.is_null()).map(|p| p.to_string()),
    }
}
