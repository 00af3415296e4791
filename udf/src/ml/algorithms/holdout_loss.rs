//! Early stopping of boosted trees: after each round, a pass over the holdout rows (the rows
//! training leaves out) sums their loss under the rounds so far; training stops once
//! `early_stopping_rounds` rounds in a row have not lowered it, and keeps the rounds up to the
//! best, as LightGBM's `early_stopping_rounds` and scikit-learn's `n_iter_no_change` do. The
//! sum is exact ([`ExactSum`]), so the round chosen does not depend on the partitioning.

use datafusion::arrow::array::ArrayRef;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::bins::Bins;
use super::from_json;
use super::boosting_scores::Scores;
use super::histograms::RowBins;
use super::score_cache;
use crate::functions::blob_aggregate::{to_json, Partial};
use crate::ml::class_index::ClassIndex;
use crate::ml::exact_sum::ExactSum;

/// The pass: the features' bins and the model so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scoring {
    pub bins: Vec<Bins>,
    pub scores: Scores,
}

/// The merged result: complete holdout rows and their summed loss.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Loss {
    pub rows: u64,
    pub sum: ExactSum,
}

impl Loss {
    pub fn decode(merged: &[u8]) -> Result<Loss> {
        if merged.is_empty() {
            Ok(Loss::default())
        } else {
            from_json(merged)
        }
    }

    /// The mean loss per row (`None` without rows).
    pub fn mean(&self) -> Option<f64> {
        (self.rows > 0).then(|| self.sum.value() / self.rows as f64)
    }
}

/// The executors' side of the pass: `values` are the target, then the features.
pub fn partial(scoring: Scoring) -> Box<dyn Partial> {
    let row_bins = RowBins::new(&scoring.bins);
    let classes = scoring.scores.class_lookup();
    Box::new(LossPartial { scoring, row_bins, classes, loss: Loss::default() })
}

#[derive(Debug)]
struct LossPartial {
    scoring: Scoring,
    row_bins: RowBins,
    classes: ClassIndex,
    loss: Loss,
}

impl Partial for LossPartial {
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let model = &self.scoring.scores;
        // A class the training rows did not have scores no loss of its own: it is skipped.
        let mut kept = score_cache::take(model, values, || score_cache::read_rows(model, &self.row_bins, &self.classes, values));
        let k = model.base.len();
        let scores = kept.scores(model).to_vec();
        for (row, y) in kept.targets.iter().enumerate() {
            let Some(y) = y else { continue };
            self.loss.rows += 1;
            self.loss.sum.add(model.loss.loss(&scores[row * k..(row + 1) * k], *y));
        }
        score_cache::give_back(model, values, kept);
        Ok(())
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        let other: Loss = from_json(bytes)?;
        self.loss.rows += other.rows;
        self.loss.sum.merge(&other.sum);
        Ok(())
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        to_json(&self.loss)
    }

    fn size(&self) -> usize {
        600
    }
}

/// The coordinator's record of the holdout losses, round by round.
#[derive(Debug, Default)]
pub struct Patience {
    losses: Vec<f64>,
}

impl Patience {
    /// Records the loss after another round; `Some(best rounds)` once `patience` rounds have
    /// passed without a lower loss than the best.
    pub fn record(&mut self, loss: f64, patience: usize) -> Option<usize> {
        self.losses.push(loss);
        let best = self.best();
        (self.losses.len() - best >= patience).then_some(best)
    }

    /// The number of rounds with the lowest loss so far (the first of equals).
    pub fn best(&self) -> usize {
        let mut best = 0;
        for (i, loss) in self.losses.iter().enumerate() {
            if *loss < self.losses[best] {
                best = i;
            }
        }
        best + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_after_patience_rounds_without_improvement_and_keeps_the_best() {
        let mut patience = Patience::default();
        assert_eq!(patience.record(1.0, 2), None);
        assert_eq!(patience.record(0.5, 2), None);
        assert_eq!(patience.record(0.6, 2), None);
        assert_eq!(patience.record(0.5, 2), Some(2), "equal is no improvement");
        assert_eq!(patience.best(), 2);
    }
}
