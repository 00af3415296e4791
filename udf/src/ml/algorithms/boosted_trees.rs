//! `boosted_trees`: gradient-boosted trees on all training rows, as LightGBM and scikit-learn's
//! HistGradientBoosting grow them, by the same distributed histograms as the other trees
//! ([`super::tree_growth`]): each round grows one tree per class (one for regression and for two
//! classes) from histograms of the gradients and hessians of the loss at the scores of the
//! rounds before, which the executors compute for each row from those rounds' trees. A leaf's
//! value is `-G / (H + l2)` times `learning_rate`. Losses: squared error (regression), log-loss
//! (two classes), softmax cross-entropy (more); the first scores are the target's mean or the
//! classes' log-shares.
//!
//! Options: `n_rounds` (100), `learning_rate` (0.1), `max_depth` (6), `l2` (0),
//! `min_child_weight` (1e-3, the least sum of hessians in a leaf), `min_samples_leaf` (20),
//! `max_bins` (32), `early_stopping_rounds` (none: stop once that many rounds in a row have not
//! lowered the holdout rows' loss, keeping the best rounds; needs `holdout` > 0).

use datafusion::arrow::array::ArrayRef;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::boosting_scores::Loss;
use super::tree_growth::{self, Boosting, Ensemble, Grower};
use super::tree_walk::{self, Node};
use super::{classes_from_probabilities, tagged, untagged, Algorithm, Fitted, Pass, Predictor, Setup, Trainer};
use crate::functions::blob_aggregate::Partial;
use crate::ml::error::invalid;
use crate::ml::features::{Feature, Matrix};
use crate::ml::model::{Output, Task};

pub struct BoostedTrees;

impl Algorithm for BoostedTrees {
    fn name(&self) -> &'static str {
        "boosted_trees"
    }

    fn options(&self) -> &'static [&'static str] {
        &["n_rounds", "learning_rate", "max_depth", "l2", "min_child_weight", "min_samples_leaf", "max_bins", "early_stopping_rounds"]
    }

    fn supports(&self, task: Task) -> bool {
        task != Task::Clustering
    }

    fn trainer(&self, mut setup: Setup) -> Result<Box<dyn Trainer>> {
        let options = &setup.options;
        let boosting = Boosting {
            rounds: options.integer("n_rounds", 100, 1, 100_000)? as usize,
            learning_rate: options.float("learning_rate", 0.1, (1e-12, 1.0))?,
            l2: options.float("l2", 0.0, (0.0, 1e300))?,
            min_child_weight: options.float("min_child_weight", 1e-3, (0.0, 1e300))?,
            early_stopping: options.optional_integer("early_stopping_rounds", 1, 100_000)?.map(|n| n as usize),
        };
        if boosting.early_stopping.is_some() && !setup.holdout {
            return Err(invalid("option \"early_stopping_rounds\" stops on the holdout rows' loss: it needs holdout > 0"));
        }
        if options.text("max_depth").is_none() {
            setup.options.0.insert("max_depth".into(), "6".into());
        }
        let ensemble = Ensemble { trees: 1, bootstrap: false, max_features: None, boosting: Some(boosting) };
        Ok(Box::new(Growing(Grower::new("boosted_trees", setup, ensemble)?)))
    }

    fn partial(&self, spec: &[u8]) -> Result<Box<dyn Partial>> {
        tree_growth::partial(spec)
    }

    fn importance(&self) -> super::Importance {
        super::Importance::Gain
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(untagged::<Boosted>(params)?))
    }
}

struct Growing(Grower);

impl Trainer for Growing {
    fn next_pass(&mut self) -> Result<Option<Pass>> {
        self.0.next_pass()
    }

    fn absorb(&mut self, merged: &[u8]) -> Result<Option<String>> {
        self.0.absorb(merged)
    }

    fn pass_in_full(&mut self) -> Result<Option<Pass>> {
        self.0.pass_in_full()
    }

    fn finish(self: Box<Self>) -> Result<Fitted> {
        let grown = self.0.finish_boosted()?;
        let importance = crate::ml::importance::normalised(grown.gains.clone());
        let classes = grown.loss.classes().map(<[String]>::to_vec);
        let model = Boosted { loss: grown.loss, base: grown.base, rounds: grown.rounds };
        Ok(Fitted { params: tagged("boosted", &model)?, encodings: grown.encodings, classes, rows_used: grown.rows, rows_total: grown.rows, importance: Some(importance) })
    }
}

/// A boosted model: the first scores, and per round, per class, a tree whose leaves hold values.
#[derive(Debug, Serialize, Deserialize)]
pub struct Boosted {
    pub loss: Loss,
    pub base: Vec<f64>,
    pub rounds: Vec<Vec<Vec<Node>>>,
}

impl Boosted {
    fn scores(&self, row: &[f64]) -> Vec<f64> {
        let mut scores = self.base.clone();
        for round in &self.rounds {
            for (k, nodes) in round.iter().enumerate() {
                scores[k] += nodes[tree_walk::leaf(nodes, row)].output;
            }
        }
        scores
    }
}

impl Predictor for Boosted {
    fn predict(&self, features: &[Feature], columns: &[ArrayRef], probabilities: bool) -> Result<Output> {
        let matrix = Matrix::encode(features, columns);
        let scores = matrix.rows.iter().map(|at| at.map(|at| self.scores(matrix.row(at))));
        Ok(match &self.loss {
            Loss::Squared => Output::Values(scores.map(|s| s.map(|s| s[0])).collect()),
            Loss::Logistic(_) => {
                let p = scores.map(|s| s.map(|s| 1.0 / (1.0 + (-s[0]).exp())).map(|p| vec![1.0 - p, p])).collect();
                classes_from_probabilities(p, probabilities)
            }
            Loss::Softmax(_) => {
                let p = scores
                    .map(|s| {
                        s.map(|s| {
                            let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                            let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
                            let total: f64 = e.iter().sum();
                            e.into_iter().map(|x| x / total).collect()
                        })
                    })
                    .collect();
                classes_from_probabilities(p, probabilities)
            }
        })
    }
}
