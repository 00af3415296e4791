//! Group commit of the batches sent over HTTP (`POST /v1/tables/<t>/rows`): the batches that
//! arrive for a table while its last commit is under way, or within `commit_interval` of it
//! (`ALTER CLUSTER SET (commit_interval = '200ms')`), are committed together, as one Delta commit
//! recording each producer's batch (one `txn` action per producer). A table receives at most one
//! such commit per interval however many producers send, so a stream of small batches does not
//! become a stream of tiny commits and files; a batch arriving after a quiet interval is committed
//! at once. Each batch is answered once the commit holding it is durable.
//!
//! One committer task per table and user (a commit records one user) takes the batches in order.
//! A producer's batch already committed (a retry) is answered `Duplicate` and left out; two
//! batches of one producer are never in one commit (the later waits for the next). A commit that
//! fails fails each of its batches; none of its rows is applied.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::kernel::Transaction;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use url::Url;

use super::producer_batches::Appended;
use super::write::Committer;
use super::DeltaTables;
use crate::error::{Result, SquallError};

/// One request's rows, in the table's columns, and the producer's batch they are, if named.
#[derive(Debug)]
pub struct Batch {
    pub rows: Vec<RecordBatch>,
    pub producer: Option<(String, i64)>,
}

#[derive(Debug)]
pub(super) struct Pending {
    batch: Batch,
    /// `commit_interval` when the batch was sent (the latest one sent decides).
    interval: Duration,
    reply: oneshot::Sender<Result<Appended>>,
}

/// The committer task of each (table, user).
pub(super) type Committers = std::sync::Mutex<HashMap<(Url, String), mpsc::UnboundedSender<Pending>>>;

impl DeltaTables {
    /// Appends `batch` to the table at `url` in the next group commit and answers once that is
    /// durable (or failed, with the commit's error).
    pub async fn append_grouped(self: &Arc<Self>, url: &Url, committer: &Committer, batch: Batch, interval: Duration) -> Result<Appended> {
        let (reply, answer) = oneshot::channel();
        let mut pending = Pending { batch, interval, reply };
        // A committer that stopped (it panicked) is replaced.
        for _ in 0..2 {
            let queue = {
                let mut committers = self.grouped.lock().unwrap_or_else(|p| p.into_inner());
                let key = (url.clone(), committer.user.clone());
                match committers.get(&key) {
                    Some(queue) if !queue.is_closed() => queue.clone(),
                    _ => {
                        let (queue, received) = mpsc::unbounded_channel();
                        tokio::spawn(commit_groups(Arc::clone(self), url.clone(), committer.clone(), received));
                        committers.insert(key, queue.clone());
                        queue
                    }
                }
            };
            match queue.send(pending) {
                Ok(()) => break,
                Err(mpsc::error::SendError(back)) => pending = back,
            }
        }
        answer.await.map_err(|_| SquallError::Internal(format!("the committer of the table at {url} stopped")))?
    }

    /// Commits `group` (at most one batch per producer) as one append.
    async fn commit_group(self: &Arc<Self>, url: &Url, committer: &Committer, group: Vec<Pending>) {
        // The producers' turns, taken in one order: their check and their commit must not
        // interleave with another commit of theirs in this process.
        let producers: BTreeSet<&str> = group.iter().filter_map(|p| p.batch.producer.as_ref().map(|(name, _)| name.as_str())).collect();
        let turns: Vec<_> = producers.iter().map(|producer| self.producer_turn(url, producer)).collect();
        let mut held = Vec::with_capacity(turns.len());
        for turn in &turns {
            held.push(turn.lock().await);
        }

        let mut fresh = Vec::with_capacity(group.len());
        for pending in group {
            let Some((producer, sequence)) = &pending.batch.producer else {
                fresh.push(pending);
                continue;
            };
            match self.last_batch(url, producer, false).await {
                Ok(Some(through)) if through >= *sequence => {
                    let _ = pending.reply.send(Ok(Appended::Duplicate { through }));
                }
                Ok(_) => fresh.push(pending),
                Err(e) => {
                    let _ = pending.reply.send(Err(e));
                }
            }
        }
        if fresh.is_empty() {
            return;
        }

        let now = chrono::Utc::now().timestamp_millis();
        let transactions: Vec<Transaction> =
            fresh.iter().filter_map(|p| p.batch.producer.as_ref().map(|(producer, sequence)| Transaction::new_with_last_update(producer, *sequence, Some(now)))).collect();
        let rows: Vec<RecordBatch> = fresh.iter().flat_map(|p| p.batch.rows.iter().cloned()).collect();
        // The version committed; none when there were no rows (nothing to commit).
        let committed = match rows.first().map(|b| b.schema()) {
            Some(schema) => {
                let stream = Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&schema), futures::stream::iter(rows.into_iter().map(Ok))));
                self.append_recording(url, schema, stream, committer, None, &transactions).await.map(|(_, version)| Some(version))
            }
            None => Ok(None),
        };
        match committed {
            Ok(version) => {
                for pending in fresh {
                    if let Some((producer, sequence)) = &pending.batch.producer {
                        self.batch_committed(url, producer, *sequence);
                    }
                    let rows = pending.batch.rows.iter().map(|b| b.num_rows() as u64).sum();
                    let _ = pending.reply.send(Ok(Appended::Rows { rows, version }));
                }
                self.after_append(url);
            }
            // Another commit recording one of these producers won: a batch it holds may be
            // this one (then it is a duplicate); the others are answered 40001 and sent again.
            Err(failure @ SquallError::SerializationFailure(_)) => {
                for pending in fresh {
                    let answer = match &pending.batch.producer {
                        Some((producer, sequence)) => match self.last_batch(url, producer, true).await {
                            Ok(Some(through)) if through >= *sequence => Ok(Appended::Duplicate { through }),
                            _ => Err(failure.copied()),
                        },
                        None => Err(failure.copied()),
                    };
                    let _ = pending.reply.send(answer);
                }
            }
            Err(failure) => {
                for pending in fresh {
                    let _ = pending.reply.send(Err(failure.copied()));
                }
            }
        }
    }
}

/// The committer of one table and user: waits for a batch, then for `commit_interval` since its
/// last commit began, and commits what arrived meanwhile.
async fn commit_groups(tables: Arc<DeltaTables>, url: Url, committer: Committer, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let mut waiting: VecDeque<Pending> = VecDeque::new();
    let mut last_commit: Option<Instant> = None;
    loop {
        if waiting.is_empty() {
            match queue.recv().await {
                Some(pending) => waiting.push_back(pending),
                None => return,
            }
        }
        if let (Some(last), Some(newest)) = (last_commit, waiting.back()) {
            tokio::time::sleep_until(last + newest.interval).await;
        }
        while let Ok(pending) = queue.try_recv() {
            waiting.push_back(pending);
        }
        last_commit = Some(Instant::now());
        // Delta records one transaction per application in a commit: a producer's second batch
        // waits for the next commit.
        let mut producers = std::collections::HashSet::new();
        let (group, later): (Vec<_>, Vec<_>) =
            waiting.drain(..).partition(|p| p.batch.producer.as_ref().is_none_or(|(producer, _)| producers.insert(producer.clone())));
        waiting.extend(later);
        tables.commit_group(&url, &committer, group).await;
    }
}
