//! `random_forest`: `n_trees` CART trees (default 20) grown together on all training rows by
//! distributed histograms ([`super::tree_growth`]): every level of every tree is grown in the
//! same pass. Each tree sees the rows with a bootstrap weight, Poisson(1) from a hash of the row
//! (as Spark draws them, so no row is copied and the weights do not depend on the partitioning),
//! and each node chooses among `max_features` random features (default: the square root of the
//! features for classification, a third for regression). A class's probability is the mean of
//! the trees' leaf class shares (scikit-learn's `predict_proba`), a regression the trees' mean.

use datafusion::arrow::array::ArrayRef;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::tree_growth::{self, Ensemble, Grower};
use super::tree_walk::{self, Node};
use super::{classes_from_probabilities, tagged, untagged, Algorithm, Fitted, Pass, Predictor, Setup, Trainer};
use crate::functions::blob_aggregate::Partial;
use crate::ml::features::{Feature, Matrix};
use crate::ml::model::{Output, Task};

pub struct RandomForest;

impl Algorithm for RandomForest {
    fn name(&self) -> &'static str {
        "random_forest"
    }

    fn options(&self) -> &'static [&'static str] {
        &["n_trees", "max_features", "max_depth", "min_samples_split", "min_samples_leaf", "min_impurity_decrease", "criterion", "max_bins"]
    }

    fn supports(&self, task: Task) -> bool {
        task != Task::Clustering
    }

    fn trainer(&self, setup: Setup) -> Result<Box<dyn Trainer>> {
        let features = setup.features.len();
        let trees = setup.options.integer("n_trees", 20, 1, 10_000)? as usize;
        let default = match setup.task {
            Task::Classification => (features as f64).sqrt() as usize,
            _ => features / 3,
        };
        let max_features = setup.options.integer("max_features", default.max(1) as u64, 1, features.max(1) as u64)? as usize;
        let ensemble = Ensemble { trees, bootstrap: true, max_features: Some(max_features), boosting: None };
        Ok(Box::new(Growing(Grower::new("random_forest", setup, ensemble)?)))
    }

    fn partial(&self, spec: &[u8]) -> Result<Box<dyn Partial>> {
        tree_growth::partial(spec)
    }

    fn importance(&self) -> super::Importance {
        super::Importance::Gain
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(untagged::<Forest>(params)?))
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

    fn finish(self: Box<Self>) -> Result<Fitted> {
        let grown = self.0.finish()?;
        let (trees, shares): (Vec<Vec<Node>>, Vec<Vec<Vec<f64>>>) = grown.trees.into_iter().unzip();
        let importance = tree_walk::importances(&trees, grown.features);
        let classes = grown.classes.as_ref().map(Vec::len);
        let forest = Forest { trees, classes, leaf_probabilities: classes.map(|_| shares) };
        Ok(Fitted { params: tagged("forest", &forest)?, encodings: grown.encodings, classes: grown.classes, rows_used: grown.rows, rows_total: grown.rows, importance: Some(importance) })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Forest {
    pub trees: Vec<Vec<Node>>,
    /// Number of classes for a classifier; `None` for regression.
    pub classes: Option<usize>,
    /// Per tree, per node, the class shares of its training rows (models from before squall grew
    /// forests itself have none, and vote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_probabilities: Option<Vec<Vec<Vec<f64>>>>,
}

impl Forest {
    /// Per row: class probabilities (classification) or `[mean]` (regression).
    pub fn predict_row(&self, row: &[f64]) -> Vec<f64> {
        let n = self.trees.len().max(1) as f64;
        match (self.classes, &self.leaf_probabilities) {
            (Some(k), Some(shares)) => {
                let mut mean = vec![0.0; k];
                for (nodes, shares) in self.trees.iter().zip(shares) {
                    mean.iter_mut().zip(&shares[tree_walk::leaf(nodes, row)]).for_each(|(m, s)| *m += s / n);
                }
                mean
            }
            (Some(k), None) => {
                let mut votes = vec![0.0; k];
                for nodes in &self.trees {
                    let class = nodes[tree_walk::leaf(nodes, row)].output as usize;
                    if class < k {
                        votes[class] += 1.0 / n;
                    }
                }
                votes
            }
            (None, _) => vec![self.trees.iter().map(|nodes| nodes[tree_walk::leaf(nodes, row)].output).sum::<f64>() / n],
        }
    }
}

impl Predictor for Forest {
    fn predict(&self, features: &[Feature], columns: &[ArrayRef], probabilities: bool) -> Result<Output> {
        let matrix = Matrix::encode(features, columns);
        let per_row: Vec<Option<Vec<f64>>> = matrix.rows.iter().map(|at| at.map(|at| self.predict_row(matrix.row(at)))).collect();
        Ok(match self.classes {
            Some(_) => classes_from_probabilities(per_row, probabilities),
            None => Output::Values(per_row.into_iter().map(|v| v.map(|v| v[0])).collect()),
        })
    }
}
