//! Exactly once per producer batch: an append may carry a producer's name and the batch's
//! sequence number, which its commit records as a Delta `txn` action (application id, version),
//! as Spark's streaming sink records its micro-batches. A batch numbered at or below the last one
//! the table records for its producer is a retry of one already committed, and is not applied
//! again; this holds across restarts, since it is read back from the table's log. In this
//! process a producer's batches take turns (check, then commit: [`super::grouped_append`]); a
//! commit recording a batch of the same producer met on the way to a free version also stops one
//! ([`super::commit::Conflicts::Append`]), which then finds its batch committed or fails with
//! 40001.
//!
//! Sequence numbers of a producer must grow from one batch to the next, and a producer sends a
//! batch only after the one before it was answered (or retries that one): a batch numbered below
//! a later one already committed is taken for a retry.

use url::Url;

use super::{errors, DeltaTables};
use crate::error::Result;

/// What became of a producer's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Committed now, with this many rows, at this version of the table (none when there were
    /// no rows to commit).
    Rows { rows: u64, version: Option<u64> },
    /// Committed before (the table records this producer up to `through`): not applied again.
    Duplicate { through: i64 },
}

impl DeltaTables {
    /// The turn of `producer`'s batches to the table at `url` in this process.
    pub(super) fn producer_turn(&self, url: &Url, producer: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.producer_turns.lock().unwrap_or_else(|p| p.into_inner());
        std::sync::Arc::clone(turns.entry((url.clone(), producer.to_string())).or_default())
    }

    /// The last batch of `producer` the table at `url` records; `fresh` reads the log again
    /// rather than what squall remembers of its own commits.
    pub(crate) async fn last_batch(&self, url: &Url, producer: &str, fresh: bool) -> Result<Option<i64>> {
        let key = (url.clone(), producer.to_string());
        if !fresh {
            if let Some(&through) = self.producer_batches.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
                return Ok(Some(through));
            }
        }
        let table = self.latest(url).await?;
        let state = table.snapshot().map_err(|e| errors::classify(format!("reading the Delta log of {url}"), e))?;
        let through = state
            .transaction_version(table.log_store().as_ref(), producer)
            .await
            .map_err(|e| errors::classify(format!("reading the batches of producer \"{producer}\" in {url}"), e))?;
        if let Some(through) = through {
            self.batch_committed(url, producer, through);
        }
        Ok(through)
    }

    pub(super) fn batch_committed(&self, url: &Url, producer: &str, sequence: i64) {
        let mut known = self.producer_batches.lock().unwrap_or_else(|p| p.into_inner());
        let through = known.entry((url.clone(), producer.to_string())).or_insert(sequence);
        *through = (*through).max(sequence);
    }
}
