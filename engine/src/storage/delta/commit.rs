//! squall's own commits of the two writes that read nothing of the table's rows: appends
//! ([`super::small_append`]) and compactions ([`super::compaction`]).
//!
//! delta-rs's commit, when another commit took the version it wanted, re-derives the live files
//! of the table (a pass over every file's entry) before it tries the next version. Under a steady
//! stream of small INSERTs a few milliseconds apart, a compaction lost all its 15 attempts that
//! way, and every append paid the pass after its own commit too. These commits need none of it:
//! the entry is written at the next version if absent; when another commit took that version
//! first, its actions alone decide whether this one still holds (Delta's rules for blind appends
//! and for rewrites that change no data), and it goes on at the version after.

use std::collections::HashSet;

use bytes::Bytes;
use deltalake::kernel::transaction::{CommitData, TransactionError};
use deltalake::kernel::{Action, Transaction};
use deltalake::logstore::CommitOrBytes;
use deltalake::protocol::DeltaOperation;
use deltalake::DeltaTable;
use url::Url;

use super::write::{Committer, APPEND_ATTEMPTS};
use super::{errors, DeltaTables};
use crate::error::{Result, SquallError};

/// What a commit of squall's must not pass over.
pub(super) enum Conflicts<'a> {
    /// An append conflicts only with commits that change what the table is, and, when it records
    /// producers' batches (`txn` actions), with another commit recording one of those producers.
    Append { producers: Vec<&'a str> },
    /// A rewrite also conflicts with commits that removed any of the files it replaces.
    Rewrite { removes: &'a HashSet<String> },
}

/// Whether squall may commit to `table` by itself: its writer protocol asks for nothing beyond
/// writing files (version 2 or less: no CHECK constraints, generated columns, column mapping or
/// deletion vectors), it has no column invariants or partition columns, and its log store commits
/// by put-if-absent.
pub(super) fn squall_can_commit(table: &DeltaTable) -> Result<bool> {
    let state = table.snapshot().map_err(|e| errors::classify(format!("reading the Delta log of {}", table.table_url()), e))?;
    let metadata = state.metadata();
    Ok(table.log_store().name() == "DefaultLogStore"
        && state.protocol().min_writer_version() <= 2
        && metadata.partition_columns().is_empty()
        && !metadata.schema_string().contains("delta.invariants"))
}

/// The log entry of `operation` by `committer`: its `commitInfo` (with `metrics` as its
/// `operationMetrics`, as delta-rs records them), then `actions`, then `transactions` (the
/// producers' batches it records).
pub(super) fn log_entry(actions: Vec<Action>, operation: DeltaOperation, metrics: serde_json::Value, committer: &Committer, transactions: Vec<Transaction>) -> Result<Bytes> {
    let mut app_metadata = committer.metadata();
    app_metadata.insert("operationMetrics".into(), metrics);
    let data = CommitData::new(actions, operation, app_metadata, transactions);
    data.get_bytes().map_err(|e| SquallError::Internal(format!("writing a Delta commit: {e}")))
}

impl DeltaTables {
    /// Commits `entry` to the table at `url` (described by `table`, whose columns and protocol are
    /// those of every version up to `head`) at the first free version after `head`, and returns
    /// it. 40001 when a commit met on the way conflicts with this one: nothing of it is applied.
    pub(super) async fn commit_after(&self, url: &Url, table: &DeltaTable, head: u64, entry: Bytes, conflicts: Conflicts<'_>) -> Result<u64> {
        let log = table.log_store();
        let mut version = head + 1;
        for _ in 0..APPEND_ATTEMPTS {
            match log.write_commit_entry(version, CommitOrBytes::LogBytes(entry.clone()), uuid::Uuid::new_v4()).await {
                Ok(()) => {
                    self.advanced(url, table, version);
                    return Ok(version);
                }
                Err(TransactionError::VersionAlreadyExists(_)) => {
                    let winner = log.read_commit_entry(version).await.map_err(|e| errors::classify(format!("reading the Delta log of {url}"), e))?;
                    if let Some(why) = conflict(winner.as_ref(), &conflicts) {
                        // The next statement reads the table again: the handle kept may describe
                        // columns the table no longer has.
                        self.forget(url);
                        return Err(SquallError::SerializationFailure(format!(
                            "could not serialize access due to concurrent update (the table at {url}: version {version} {why})"
                        )));
                    }
                    version += 1;
                }
                Err(e) => return Err(errors::classify(format!("committing to the table at {url}"), e.into())),
            }
        }
        Err(SquallError::SerializationFailure(format!(
            "could not serialize access due to concurrent update (committing to the table at {url}: other commits kept winning, {APPEND_ATTEMPTS} attempts)"
        )))
    }
}

/// Why the commit `winner` (a log entry: one action per line) forbids committing after it, if it
/// does.
fn conflict(winner: Option<&Bytes>, conflicts: &Conflicts<'_>) -> Option<&'static str> {
    let Some(winner) = winner else { return Some("vanished from the log") };
    for line in String::from_utf8_lossy(winner).lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Action>(line) {
            Ok(Action::Metadata(_)) => return Some("changed the table's columns or properties"),
            Ok(Action::Protocol(_)) => return Some("changed the table's protocol"),
            Ok(Action::Txn(txn)) => {
                if matches!(conflicts, Conflicts::Append { producers } if producers.contains(&txn.app_id.as_str())) {
                    return Some("committed a batch of the same producer");
                }
            }
            Ok(Action::Remove(remove)) => {
                if let Conflicts::Rewrite { removes } = conflicts {
                    if removes.contains(&remove.path) {
                        return Some("removed files this commit replaces");
                    }
                }
            }
            Ok(_) => {}
            // An action this version of delta-rs does not know may mean anything.
            Err(_) => return Some("holds an action squall does not know"),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_stop_at_commits_that_alter_the_table_rewrites_also_at_removes_of_their_files() {
        let append = Bytes::from("{\"commitInfo\":{\"operation\":\"WRITE\"}}\n{\"add\":{\"path\":\"c.parquet\",\"partitionValues\":{},\"size\":1,\"modificationTime\":1,\"dataChange\":true}}");
        let delete_a = Bytes::from("{\"commitInfo\":{}}\n{\"remove\":{\"path\":\"a.parquet\",\"dataChange\":true}}");
        let delete_b = Bytes::from("{\"remove\":{\"path\":\"b.parquet\",\"dataChange\":true}}");
        let add_column = Bytes::from("{\"commitInfo\":{}}\n{\"metaData\":{\"id\":\"x\",\"format\":{\"provider\":\"parquet\",\"options\":{}},\"schemaString\":\"{}\",\"partitionColumns\":[],\"configuration\":{}}}");
        let upgrade = Bytes::from("{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":3}}");
        let unknown = Bytes::from("{\"somethingNew\":{}}");
        let rewriting_a: HashSet<String> = ["a.parquet".to_string()].into();
        let rewrite = Conflicts::Rewrite { removes: &rewriting_a };

        assert_eq!(conflict(Some(&append), &Conflicts::Append { producers: vec![] }), None);
        assert_eq!(conflict(Some(&delete_a), &Conflicts::Append { producers: vec![] }), None);
        assert!(conflict(Some(&add_column), &Conflicts::Append { producers: vec![] }).is_some());
        assert!(conflict(Some(&upgrade), &Conflicts::Append { producers: vec![] }).is_some());
        assert!(conflict(Some(&unknown), &Conflicts::Append { producers: vec![] }).is_some());
        assert!(conflict(None, &Conflicts::Append { producers: vec![] }).is_some());

        // A producer's batch: another commit recording a batch of the same producer stops it.
        let batch_of_p = Bytes::from("{\"commitInfo\":{}}\n{\"txn\":{\"appId\":\"p\",\"version\":7}}");
        assert!(conflict(Some(&batch_of_p), &Conflicts::Append { producers: vec!["p"] }).is_some());
        assert_eq!(conflict(Some(&batch_of_p), &Conflicts::Append { producers: vec!["q", "r"] }), None);
        assert_eq!(conflict(Some(&batch_of_p), &Conflicts::Append { producers: vec![] }), None);

        assert_eq!(conflict(Some(&append), &rewrite), None);
        assert_eq!(conflict(Some(&delete_b), &rewrite), None);
        assert_eq!(conflict(Some(&delete_a), &rewrite), Some("removed files this commit replaces"));
        assert!(conflict(Some(&add_column), &rewrite).is_some());
    }
}
