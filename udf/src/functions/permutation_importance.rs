//! `squall_permutation_importance(model_url, [target,] feature, ...)`: permutation importance
//! (Breiman 2001; scikit-learn's `permutation_importance`), measured where the rows are read.
//!
//! Each executor gathers its rows in groups of [`GROUP_ROWS`], scores each group with the model as
//! it is and once more per feature with that feature's values shuffled among the group's rows (the
//! other columns left as they are), and tallies the outcomes as EVALUATE does ([`Tally`]); the
//! tallies merge across executors (for k-means, a tally of the rows whose cluster changed).
//! The coordinator compares each shuffled loss with the loss of
//! the rows as they are ([`crate::ml::importance::from_losses`]). A shuffle is a seeded
//! Fisher-Yates over the group, seeded by the feature and the group's size, so the same rows in
//! the same groups give the same figures.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, UInt32Array};
use datafusion::arrow::compute::{concat, take};
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::blob_aggregate::{from_json, to_json, BlobAggregate, Partial};
use super::evaluate::{empty_tally, model_of, tally_rows};
use crate::ml::error::coded;
use crate::ml::metrics::Tally;
use crate::ml::model::{Model, Output, Task};

pub const NAME: &str = "squall_permutation_importance";

/// Rows shuffled together: a shuffle among the few rows of a small batch would leave a feature's
/// value with rows much like its own more often.
const GROUP_ROWS: usize = 16_384;

pub fn aggregate() -> BlobAggregate {
    BlobAggregate::new(NAME, || Box::<PermutationPartial>::default())
}

/// The tallies: the rows as they are, and per feature with that feature shuffled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Shuffled {
    pub as_they_are: Tally,
    pub shuffled: Vec<Tally>,
}

impl Shuffled {
    fn merge(&mut self, other: &Shuffled) {
        self.as_they_are.merge(&other.as_they_are);
        for (mine, theirs) in self.shuffled.iter_mut().zip(&other.shuffled) {
            mine.merge(theirs);
        }
    }

    /// Each feature's share of the importance; `None` without rows.
    pub fn importance(&self) -> Option<Vec<f64>> {
        let base = self.as_they_are.loss()?;
        let shuffled: Vec<f64> = self.shuffled.iter().map(|t| t.loss().unwrap_or(base)).collect();
        Some(crate::ml::importance::from_losses(base, &shuffled))
    }
}

#[derive(Debug, Default)]
struct PermutationPartial {
    model: Option<Arc<Model>>,
    /// Batches not yet scored: the target (if any) and the features, as the call gives them.
    gathered: Vec<Vec<ArrayRef>>,
    gathered_rows: usize,
    tallies: Option<Shuffled>,
}

impl PermutationPartial {
    /// Scores the gathered rows as they are and with each feature shuffled.
    fn score_gathered(&mut self) -> Result<()> {
        let (Some(model), false) = (self.model.clone(), self.gathered.is_empty()) else { return Ok(()) };
        let batches = std::mem::take(&mut self.gathered);
        let rows = std::mem::take(&mut self.gathered_rows);
        let columns: Vec<ArrayRef> = (0..batches[0].len())
            .map(|c| concat(&batches.iter().map(|b| b[c].as_ref()).collect::<Vec<_>>()))
            .collect::<std::result::Result<_, _>>()?;
        let offset = usize::from(model.target.is_some());
        let target = model.target.as_ref().map(|_| &columns[0]);
        let features = &columns[offset..];
        // Clustering is tallied as a classification of each row's cluster: shuffled among the
        // rows, a feature that alone separates the clusters leaves the distances to the nearest
        // centre as they were (the rows change cluster instead), so what counts is the change.
        let clusters = match model.task {
            Task::Clustering => Some(clusters_of(&model, features)?),
            _ => None,
        };
        let tally_kind = if clusters.is_some() { Task::Classification } else { model.task };
        let tallies = self.tallies.get_or_insert_with(|| Shuffled {
            as_they_are: empty_tally(tally_kind),
            shuffled: vec![empty_tally(tally_kind); features.len()],
        });
        let score = |columns: &[ArrayRef], tally: &mut Tally| match &clusters {
            Some(clusters) => tally_cluster_changes(&model, clusters, columns, tally),
            None => tally_rows(&model, target, columns, tally),
        };
        score(features, &mut tallies.as_they_are)?;
        let mut with_one_shuffled = features.to_vec();
        for (f, tally) in tallies.shuffled.iter_mut().enumerate() {
            with_one_shuffled[f] = take(features[f].as_ref(), &shuffle(rows, f as u64), None)?;
            score(&with_one_shuffled, tally)?;
            with_one_shuffled[f] = Arc::clone(&features[f]);
        }
        Ok(())
    }
}

/// Each row's cluster.
fn clusters_of(model: &Model, features: &[ArrayRef]) -> Result<Vec<Option<usize>>> {
    match model.predict(features, false)? {
        Output::Clusters { cluster, .. } => Ok(cluster),
        _ => Err(coded("XX000", "a clustering model gave no clusters")),
    }
}

/// Tallies each row's cluster among `columns` as the prediction of its cluster as it was.
fn tally_cluster_changes(model: &Model, clusters: &[Option<usize>], columns: &[ArrayRef], tally: &mut Tally) -> Result<()> {
    for (was, is) in clusters.iter().zip(clusters_of(model, columns)?) {
        match (was, is) {
            (Some(was), Some(is)) => tally.add_class(&was.to_string(), &is.to_string(), None),
            _ => tally.skip(),
        }
    }
    Ok(())
}

/// A seeded permutation of `0..rows` (Fisher-Yates with SplitMix64).
fn shuffle(rows: usize, feature: u64) -> UInt32Array {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ feature.wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (rows as u64).rotate_left(32);
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut order: Vec<u32> = (0..rows as u32).collect();
    for i in (1..rows).rev() {
        order.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    UInt32Array::from(order)
}

impl Partial for PermutationPartial {
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        model_of(NAME, values, &mut self.model)?;
        let rows = values[0].len();
        if rows == 0 {
            return Ok(());
        }
        self.gathered.push(values[1..].to_vec());
        self.gathered_rows += rows;
        if self.gathered_rows >= GROUP_ROWS {
            self.score_gathered()?;
        }
        Ok(())
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let other: Shuffled = from_json(bytes)?;
        match &mut self.tallies {
            Some(mine) => mine.merge(&other),
            None => self.tallies = Some(other),
        }
        Ok(())
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        self.score_gathered()?;
        match &self.tallies {
            Some(t) => to_json(t),
            None => Ok(vec![]),
        }
    }

    fn size(&self) -> usize {
        1024 + self.gathered.iter().flatten().map(|c| c.get_array_memory_size()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shuffle_is_a_permutation_the_same_each_time_and_different_per_feature() {
        let a = shuffle(1000, 0);
        let mut sorted: Vec<u32> = a.values().to_vec();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
        assert_eq!(a, shuffle(1000, 0));
        assert_ne!(a, shuffle(1000, 1));
        let moved = a.values().iter().enumerate().filter(|(i, v)| *i as u32 != **v).count();
        assert!(moved > 990, "only {moved} of 1000 rows moved");
    }
}
