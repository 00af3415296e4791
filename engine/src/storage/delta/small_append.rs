//! A statement's few rows (an INSERT of one row, a small COPY) appended as one file in one commit,
//! without re-reading the table's files.
//!
//! delta-rs's write reads the live files of the version it starts from and, after committing,
//! derives the new version's live files again: a cost that grows with the table (after 1,000
//! single-row INSERTs each of them spent most of its 10 ms there). An append reads nothing of the
//! table, so it needs none of that: the rows become one Parquet file (delta-rs's
//! `RecordBatchWriter`, with the statistics file skipping uses), committed by squall
//! ([`super::commit`]) after the latest version it knows of.
//!
//! Queries still read the live files through delta-rs ([`DeltaTables::latest`] brings the handle
//! up to date once for all the appends since). Checkpoints, which delta-rs writes after a commit,
//! are written in the background every `delta.checkpointInterval` versions
//! ([`DeltaTables::after_append`]). Tables squall cannot commit to by itself
//! ([`super::commit::squall_can_commit`]) are appended to by delta-rs's `WriteBuilder`.

use datafusion::arrow::record_batch::RecordBatch;
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use serde_json::json;
use url::Url;

use super::commit::{log_entry, squall_can_commit, Conflicts};
use super::write::{writer_properties, Committer};
use super::{errors, DeltaTables};
use crate::error::Result;

/// Up to this many bytes of rows, an append collects them and takes this path.
pub(super) const SMALL_APPEND_BYTES: usize = 16 * 1024 * 1024;

impl DeltaTables {
    /// Appends `batches` (already in the table's columns) to the table at `url` in one commit and
    /// returns how many rows they hold and the version committed; `None` when the table needs
    /// delta-rs's writer.
    /// The commit records `transactions`, the producers' batches these rows are (`txn` actions).
    pub(super) async fn small_append(&self, url: &Url, batches: &[RecordBatch], committer: &Committer, transactions: &[Transaction]) -> Result<Option<(u64, u64)>> {
        let (table, head) = self.append_head(url).await?;
        if !squall_can_commit(&table)? {
            return Ok(None);
        }
        let writing = |e| errors::classify(format!("writing to the table at {url}"), e);
        let mut writer = RecordBatchWriter::for_table(&table).map_err(writing)?.with_writer_properties(writer_properties());
        let started = std::time::Instant::now();
        for batch in batches {
            writer.write(batch.clone()).await.map_err(writing)?;
        }
        let adds = writer.flush().await.map_err(writing)?;
        let files = adds.len();
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let entry = commit_entry(adds, rows, started, committer, transactions.to_vec())?;

        let producers = transactions.iter().map(|t| t.app_id.as_str()).collect();
        let version = self.commit_after(url, &table, head, entry, Conflicts::Append { producers }).await?;
        self.small_files_added(url, files);
        Ok(Some((rows, version)))
    }
}

/// The log entry of an append of `adds`: its `commitInfo` as delta-rs's writer records it (the
/// operation, the user, the rows and files added), then the files.
fn commit_entry(adds: Vec<deltalake::kernel::Add>, rows: u64, started: std::time::Instant, committer: &Committer, batches: Vec<Transaction>) -> Result<bytes::Bytes> {
    let metrics = json!({
        "execution_time_ms": started.elapsed().as_millis() as u64,
        "num_added_files": adds.len(),
        "num_added_rows": rows,
        "num_partitions": 0,
        "num_removed_files": 0,
        "num_retries": 0,
    });
    let operation = DeltaOperation::Write { mode: SaveMode::Append, partition_by: None, predicate: None };
    log_entry(adds.into_iter().map(Action::Add).collect(), operation, metrics, committer, batches)
}
