//! `decision_tree`: one CART tree grown on all training rows by distributed histograms
//! ([`super::tree_growth`]). Class probabilities are the class shares of the training rows in a
//! leaf (scikit-learn's `predict_proba`).

use datafusion::arrow::array::ArrayRef;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::tree_growth::{self, Ensemble, Grower};
use super::tree_walk::{self, Node};
use super::{tagged, untagged, Algorithm, Fitted, Pass, Predictor, Setup, Trainer};
use crate::functions::blob_aggregate::Partial;
use crate::ml::error::coded;
use crate::ml::features::{Feature, Matrix};
use crate::ml::model::{Output, Task};

pub struct DecisionTree;

impl Algorithm for DecisionTree {
    fn name(&self) -> &'static str {
        "decision_tree"
    }

    fn options(&self) -> &'static [&'static str] {
        tree_growth::OPTIONS
    }

    fn supports(&self, task: Task) -> bool {
        task != Task::Clustering
    }

    fn trainer(&self, setup: Setup) -> Result<Box<dyn Trainer>> {
        Ok(Box::new(Growing(Grower::new("decision_tree", setup, Ensemble { trees: 1, bootstrap: false, max_features: None, boosting: None })?)))
    }

    fn partial(&self, spec: &[u8]) -> Result<Box<dyn Partial>> {
        tree_growth::partial(spec)
    }

    fn importance(&self) -> super::Importance {
        super::Importance::Gain
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(untagged::<Tree>(params)?))
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
        let (nodes, shares) = grown.trees.into_iter().next().ok_or_else(|| coded("XX000", "no tree was grown"))?;
        let importance = tree_walk::importances(std::slice::from_ref(&nodes), grown.features);
        let tree = Tree { nodes, leaf_probabilities: grown.classes.is_some().then_some(shares) };
        Ok(Fitted { params: tagged("tree", &tree)?, encodings: grown.encodings, classes: grown.classes, rows_used: grown.rows, rows_total: grown.rows, importance: Some(importance) })
    }
}

/// A fitted tree: its nodes (as [`tree_walk`] routes rows) and, for classification, each node's
/// class shares.
#[derive(Debug, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
    pub leaf_probabilities: Option<Vec<Vec<f64>>>,
}

impl Predictor for Tree {
    fn predict(&self, features: &[Feature], columns: &[ArrayRef], probabilities: bool) -> Result<Output> {
        let matrix = Matrix::encode(features, columns);
        let leaf = |at: usize| tree_walk::leaf(&self.nodes, matrix.row(at));
        Ok(match &self.leaf_probabilities {
            Some(p) => Output::Classes {
                predicted: matrix.rows.iter().map(|at| at.map(|at| self.nodes[leaf(at)].output as usize)).collect(),
                probabilities: probabilities.then(|| matrix.rows.iter().map(|at| at.map(|at| p[leaf(at)].clone())).collect()),
            },
            None => Output::Values(matrix.rows.iter().map(|at| at.map(|at| self.nodes[leaf(at)].output)).collect()),
        })
    }
}
