//! `decision_tree`: smartcore's CART, for classification and regression, fitted on gathered rows
//! ([`super::gathered`]). Class probabilities are the class shares of the training rows in each
//! leaf (as scikit-learn's `predict_proba`), which smartcore does not keep, so they are counted
//! once after fitting.

use datafusion::arrow::array::ArrayRef;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::{DecisionTreeClassifier, DecisionTreeClassifierParameters, SplitCriterion};
use smartcore::tree::decision_tree_regressor::{DecisionTreeRegressor, DecisionTreeRegressorParameters};

use super::gathered::{dense, FitsInOnePlace};
use super::tree_walk::{self, Node};
use super::{fit_failed, tagged, untagged, Labels, Predictor, Setup};
use crate::ml::error::coded;
use crate::ml::features::{Feature, Matrix};
use crate::ml::model::{Output, Task};
use crate::ml::options::Options;

#[derive(Clone, Copy)]
pub struct DecisionTree;

impl FitsInOnePlace for DecisionTree {
    fn name(&self) -> &'static str {
        "decision_tree"
    }

    fn options(&self) -> &'static [&'static str] {
        &["max_depth", "min_samples_split", "min_samples_leaf", "criterion"]
    }

    fn supports(&self, task: Task) -> bool {
        task != Task::Clustering
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(untagged::<Tree>(params)?))
    }

    fn one_hot(&self) -> bool {
        false
    }

    fn fit(&self, matrix: &Matrix, labels: Option<Labels>, setup: &Setup) -> Result<(serde_json::Value, Option<Vec<f64>>)> {
        let labels = labels.ok_or_else(|| coded("XX000", "a decision tree needs a target"))?;
        let (tree, importance) = fit(&dense(matrix)?, matrix, &labels, &setup.options)?;
        Ok((tagged("tree", &tree)?, Some(importance)))
    }
}

type Classifier = DecisionTreeClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>;
type Regressor = DecisionTreeRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

#[derive(Debug, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// For classification: per node, the class shares of the training rows that reached it.
    pub leaf_probabilities: Option<Vec<Vec<f64>>>,
}

/// scikit-learn's `max_depth` counts splits from the root; smartcore counts levels of nodes.
pub fn smartcore_depth(options: &Options) -> Result<Option<u16>> {
    Ok(options.optional_integer("max_depth", 1, 1000)?.map(|d| d as u16 + 1))
}

pub fn criterion(options: &Options) -> Result<SplitCriterion> {
    Ok(match options.choice("criterion", "gini", &["gini", "entropy"])? {
        "entropy" => SplitCriterion::Entropy,
        _ => SplitCriterion::Gini,
    })
}

pub fn fit(x: &DenseMatrix<f64>, matrix: &Matrix, labels: &Labels, options: &Options) -> Result<(Tree, Vec<f64>)> {
    let max_depth = smartcore_depth(options)?;
    let min_samples_split = options.integer("min_samples_split", 2, 2, u32::MAX as u64)? as usize;
    let min_samples_leaf = options.integer("min_samples_leaf", 1, 1, u32::MAX as u64)? as usize;
    match labels {
        Labels::Classes(y, classes) => {
            let parameters = DecisionTreeClassifierParameters {
                criterion: criterion(options)?,
                max_depth,
                min_samples_leaf,
                min_samples_split,
                seed: Some(options.seed()?),
            };
            let model = Classifier::fit(x, y, parameters).map_err(|e| fit_failed("decision_tree", e))?;
            let importance = model.compute_feature_importances(true);
            let value = serde_json::to_value(&model).unwrap_or_default();
            let nodes = tree_walk::class_nodes(&value);
            let mut counts = vec![vec![0.0; *classes]; nodes.len()];
            for (row, class) in y.iter().enumerate() {
                counts[tree_walk::leaf(&nodes, matrix.row(row))][*class as usize] += 1.0;
            }
            let probabilities = counts
                .into_iter()
                .map(|c| {
                    let total: f64 = c.iter().sum();
                    c.into_iter().map(|n| if total > 0.0 { n / total } else { 0.0 }).collect()
                })
                .collect();
            let importance = importance.into_iter().map(|v| if v.is_nan() { 0.0 } else { v }).collect();
            Ok((Tree { nodes, leaf_probabilities: Some(probabilities) }, importance))
        }
        Labels::Values(y) => {
            if options.text("criterion").is_some() {
                return Err(crate::ml::error::invalid("option \"criterion\" applies to classification trees only"));
            }
            let parameters = DecisionTreeRegressorParameters { max_depth, min_samples_leaf, min_samples_split, seed: None };
            let model = Regressor::fit(x, y, parameters).map_err(|e| fit_failed("decision_tree", e))?;
            let importance = model.compute_feature_importances(true).unwrap_or_default();
            let nodes = tree_walk::nodes(&serde_json::to_value(&model).unwrap_or_default()["tree_regressor"]);
            Ok((Tree { nodes, leaf_probabilities: None }, importance))
        }
    }
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
