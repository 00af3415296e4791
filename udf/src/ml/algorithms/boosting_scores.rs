//! What a boosted model's finished rounds score a row with, as each boosting pass sends them to
//! the executors: the loss, the base score, and the rounds' trees (shared, not copied, between a
//! process's passes).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use serde::{Deserialize, Serialize};

use super::histograms::{leaf_from, Routing};
use crate::ml::class_index::ClassIndex;

/// What a boosted model's rounds so far score a row with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scores {
    pub loss: Loss,
    /// The score every row starts from, per tree of a round.
    pub base: Vec<f64>,
    /// Per round, per tree, the tree and each node's value (learning rate included). Rounds
    /// are only added during a training (early stopping cuts them once, at its end).
    #[serde(with = "shared_rounds")]
    pub rounds: Vec<Arc<Round>>,
    /// As a pass sends them, the rounds before this one are left out: the processes hold them
    /// ([`super::held_rounds`]); 0 once complete.
    #[serde(default)]
    pub first_round: usize,
    /// Names the training, whose executors keep rows' scores between passes
    /// ([`super::score_cache`]); 0: none kept.
    #[serde(default)]
    pub training: u64,
}

impl Scores {
    /// A row's scores (per tree of a round) after the rounds so far, from its bins.
    pub fn of_row(&self, bins: &[usize], scores: &mut [f64]) {
        scores.iter_mut().zip(&self.base).for_each(|(s, b)| *s = *b);
        self.add_rounds(0, |f| bins[f], scores);
    }

    /// Adds the trees of the rounds from `first` on to a row's `scores`, its bin of feature `f`
    /// being `bin(f)`.
    pub fn add_rounds(&self, first: usize, bin: impl Fn(usize) -> usize + Copy, scores: &mut [f64]) {
        for round in &self.rounds[first..] {
            for (k, tree) in round.iter().enumerate() {
                scores[k] += tree.values[leaf_from(&tree.routing, 0, bin)];
            }
        }
    }

    /// Class → index, as the rows' targets are looked up (none for regression).
    pub fn class_lookup(&self) -> ClassIndex {
        ClassIndex::new(self.loss.classes().unwrap_or_default())
    }
}

/// A round's trees, one per class (one for regression and two classes).
pub type Round = Vec<Scored>;

/// Rounds are shared (between a process's passes, and the coordinator's passes and model), and
/// written as the trees they are.
mod shared_rounds {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::Round;

    pub fn serialize<S: Serializer>(rounds: &[Arc<Round>], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(rounds.iter().map(|round| round.as_slice()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Arc<Round>>, D::Error> {
        Ok(Vec::<Round>::deserialize(deserializer)?.into_iter().map(Arc::new).collect())
    }
}

/// A finished tree of a boosting round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scored {
    pub routing: Vec<Option<Routing>>,
    pub values: Vec<f64>,
}

/// The loss a boosted model minimises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Loss {
    /// Regression: half the squared error (gradient `score - y`, hessian 1).
    Squared,
    /// Two classes: log-loss of the second class's score (one tree per round).
    Logistic(Vec<String>),
    /// More classes: softmax cross-entropy (one tree per class per round).
    Softmax(Vec<String>),
}

impl Loss {
    /// Per tree of a round, the gradient and hessian at `scores` for a row of target `y` (a
    /// value, or a class index).
    pub fn gradients(&self, scores: &[f64], y: f64, out: &mut Vec<(f64, f64)>) {
        out.clear();
        match self {
            Loss::Squared => out.push((scores[0] - y, 1.0)),
            Loss::Logistic(_) => {
                let p = 1.0 / (1.0 + (-scores[0]).exp());
                out.push((p - if y == 1.0 { 1.0 } else { 0.0 }, (p * (1.0 - p)).max(1e-16)));
            }
            Loss::Softmax(_) => {
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let total: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                for (k, s) in scores.iter().enumerate() {
                    let p = (s - max).exp() / total;
                    out.push((p - if y == k as f64 { 1.0 } else { 0.0 }, (p * (1.0 - p)).max(1e-16)));
                }
            }
        }
    }

    /// The loss of a row of target `y` (a value, or a class index) at `scores`.
    pub fn loss(&self, scores: &[f64], y: f64) -> f64 {
        match self {
            Loss::Squared => 0.5 * (scores[0] - y) * (scores[0] - y),
            Loss::Logistic(_) => {
                // ln(1 + e^s) - y·s, without overflow
                let s = scores[0];
                let softplus = if s > 0.0 { s + (-s).exp().ln_1p() } else { s.exp().ln_1p() };
                softplus - if y == 1.0 { s } else { 0.0 }
            }
            Loss::Softmax(_) => {
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                max + scores.iter().map(|s| (s - max).exp()).sum::<f64>().ln() - scores[y as usize]
            }
        }
    }

    /// A row's target as [`Loss::gradients`] and [`Loss::loss`] take it: the value, or the index
    /// of its class (`None` for a class the model does not know).
    pub fn target_of(&self, classes: &ClassIndex, target: &ArrayRef, row: usize) -> Option<f64> {
        match self {
            Loss::Squared => Some(target.as_primitive::<Float64Type>().value(row)),
            _ => classes.of(target.as_string::<i32>().value(row)).map(|c| c as f64),
        }
    }

    /// The classes (none for regression).
    pub fn classes(&self) -> Option<&[String]> {
        match self {
            Loss::Squared => None,
            Loss::Logistic(classes) | Loss::Softmax(classes) => Some(classes),
        }
    }
}
