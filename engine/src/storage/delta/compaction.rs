//! Compaction (OPTIMIZE, and automatically after many small commits): a table's small files
//! rewritten as files of the table's target size, in one commit that changes no data.
//!
//! squall does it itself where it may commit by itself ([`super::commit::squall_can_commit`]),
//! because delta-rs's OPTIMIZE, when appends commit meanwhile, re-derives the table's live files
//! before each new attempt at its commit: under single-row INSERTs a few milliseconds apart it
//! lost all 15 attempts, every time, and the table's files grew without bound. Here the rows of
//! the chosen files are read as a query reads them (older files without a later-added column
//! read NULL for it), written by delta-rs's `RecordBatchWriter` (with statistics), and committed
//! after any number of appends; a commit that removed one of the chosen files meanwhile (DELETE,
//! UPDATE, MERGE, another compaction) wins, and this one is dropped (40001).
//!
//! Other tables (partitioned, constraints, column mapping, ...) are compacted by delta-rs.

use std::collections::HashSet;

use datafusion::catalog::TableProvider;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::SessionContext;
use deltalake::kernel::{Action, Remove};
use deltalake::protocol::DeltaOperation;
use deltalake::table::config::TablePropertiesExt;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::StreamExt;
use serde_json::json;
use url::Url;

use super::commit::{log_entry, squall_can_commit, Conflicts};
use super::maintenance::Compacted;
use super::write::{writer_properties, Committer};
use super::{errors, DeltaTables};
use crate::error::{Result, SquallError};

impl DeltaTables {
    /// Rewrites the files of the table at `url` smaller than its target file size, unless there
    /// are fewer than two, or (`unless_fewer`) fewer than `n` files smaller than `bytes`;
    /// `None` when squall cannot commit to the table by itself.
    pub(super) async fn rewrite_small_files(&self, url: &Url, committer: &Committer, unless_fewer: Option<(usize, i64)>) -> Result<Option<Rewrite>> {
        let (table, snapshot) = self.latest_snapshot(url).await?;
        if !squall_can_commit(&table)? {
            return Ok(None);
        }
        if let Some((n, bytes)) = unless_fewer {
            let small = snapshot.files_smaller_than(bytes);
            if small < n {
                return Ok(Some(Rewrite::TooFew(small)));
            }
        }
        let state = table.snapshot().map_err(|e| errors::classify(format!("reading the Delta log of {url}"), e))?;
        let target = state.table_config().target_file_size().get();
        let chosen = snapshot.plain_files_smaller_than(target as i64);
        if chosen.len() < 2 {
            return Ok(Some(Rewrite::Done(Compacted { version: snapshot.version, files_removed: 0, files_added: 0 })));
        }
        let paths: HashSet<String> = chosen.iter().map(|(path, _)| path.clone()).collect();
        let started = std::time::Instant::now();

        // The chosen files' rows, read as a query of that version reads them.
        let ctx = SessionContext::new();
        ctx.register_object_store(url, table.log_store().root_object_store(None));
        let part = snapshot.with_only(&paths)?;
        let plan = part.scan(&ctx.state(), None, &[], None).await?;
        let mut rows = execute_stream(plan, ctx.task_ctx())?;

        let writing = |e| errors::classify(format!("compacting the table at {url}"), e);
        let mut writer =
            RecordBatchWriter::for_table(&table).map_err(writing)?.with_writer_properties(writer_properties()).with_target_file_size(target);
        let mut count = 0u64;
        while let Some(batch) = rows.next().await {
            let batch = batch?;
            count += batch.num_rows() as u64;
            writer.write(batch).await.map_err(writing)?;
        }
        let mut adds = writer.flush().await.map_err(writing)?;
        // A rewrite that lost or doubled a row must never commit.
        if let Some(logged) = part.num_records().filter(|&logged| logged != count) {
            return Err(SquallError::Internal(format!("compacting the table at {url}: the log counts {logged} rows in the files, {count} were read")));
        }
        for add in &mut adds {
            add.data_change = false;
        }

        let now = chrono::Utc::now().timestamp_millis();
        let removes = chosen.iter().map(|(path, size)| Remove {
            path: path.clone(),
            data_change: false,
            deletion_timestamp: Some(now),
            extended_file_metadata: Some(true),
            partition_values: Some(Default::default()),
            size: Some(*size),
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
        });
        let (files_removed, files_added) = (chosen.len() as u64, adds.len() as u64);
        let metrics = json!({
            "numFilesAdded": files_added,
            "numFilesRemoved": files_removed,
            "numBatches": 1,
            "totalConsideredFiles": snapshot.num_files(),
            "preserveInsertionOrder": true,
            "execution_time_ms": started.elapsed().as_millis() as u64,
        });
        let actions: Vec<Action> = removes.map(Action::Remove).chain(adds.into_iter().map(Action::Add)).collect();
        let operation = DeltaOperation::Optimize { predicate: None, target_size: target as i64 };
        let entry = log_entry(actions, operation, metrics, committer, Vec::new())?;
        let version = self.commit_after(url, &table, snapshot.version, entry, Conflicts::Rewrite { removes: &paths }).await?;
        Ok(Some(Rewrite::Done(Compacted { version, files_removed, files_added })))
    }
}

/// What [`DeltaTables::rewrite_small_files`] did.
pub(super) enum Rewrite {
    Done(Compacted),
    /// Nothing: the table has only this many small files.
    TooFew(usize),
}
