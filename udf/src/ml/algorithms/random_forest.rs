//! `random_forest`: smartcore's random forests, fitted on gathered rows ([`super::gathered`]).
//! The trees are kept as their nodes; a class's probability is the share of trees voting for
//! it, a regression the trees' mean.

use datafusion::arrow::array::ArrayRef;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_classifier::{RandomForestClassifier, RandomForestClassifierParameters};
use smartcore::ensemble::random_forest_regressor::{RandomForestRegressor, RandomForestRegressorParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::SplitCriterion;

use super::gathered::{dense, FitsInOnePlace};
use super::tree_walk::{self, Node};
use super::{classes_from_probabilities, fit_failed, tagged, untagged, Labels, Predictor, Setup};
use crate::ml::error::coded;
use crate::ml::features::{Feature, Matrix};
use crate::ml::model::{Output, Task};
use crate::ml::options::Options;

#[derive(Clone, Copy)]
pub struct RandomForest;

impl FitsInOnePlace for RandomForest {
    fn name(&self) -> &'static str {
        "random_forest"
    }

    fn options(&self) -> &'static [&'static str] {
        &["n_trees", "max_depth", "min_samples_split", "min_samples_leaf", "criterion", "max_features"]
    }

    fn supports(&self, task: Task) -> bool {
        task != Task::Clustering
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(untagged::<Forest>(params)?))
    }

    fn one_hot(&self) -> bool {
        false
    }

    fn fit(&self, matrix: &Matrix, labels: Option<Labels>, setup: &Setup) -> Result<(serde_json::Value, Option<Vec<f64>>)> {
        let labels = labels.ok_or_else(|| coded("XX000", "a random forest needs a target"))?;
        let (forest, importance) = fit(&dense(matrix)?, &labels, &setup.options)?;
        Ok((tagged("forest", &forest)?, Some(importance)))
    }
}

/// scikit-learn's `max_depth` counts splits from the root; smartcore counts levels of nodes.
fn smartcore_depth(options: &Options) -> Result<Option<u16>> {
    Ok(options.optional_integer("max_depth", 1, 1000)?.map(|d| d as u16 + 1))
}

fn criterion(options: &Options) -> Result<SplitCriterion> {
    Ok(match options.choice("criterion", "gini", &["gini", "entropy"])? {
        "entropy" => SplitCriterion::Entropy,
        _ => SplitCriterion::Gini,
    })
}

type Classifier = RandomForestClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>;
type Regressor = RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

#[derive(Debug, Serialize, Deserialize)]
pub struct Forest {
    pub trees: Vec<Vec<Node>>,
    /// Number of classes for a classifier; `None` for regression.
    pub classes: Option<usize>,
}

pub fn fit(x: &DenseMatrix<f64>, labels: &Labels, options: &Options) -> Result<(Forest, Vec<f64>)> {
    let max_depth = smartcore_depth(options)?;
    let min_samples_split = options.integer("min_samples_split", 2, 2, u32::MAX as u64)? as usize;
    let min_samples_leaf = options.integer("min_samples_leaf", 1, 1, u32::MAX as u64)? as usize;
    let n_trees = options.integer("n_trees", 100, 1, 10_000)?;
    let m = options.optional_integer("max_features", 1, 100_000)?.map(|m| m as usize);
    let seed = options.seed()?;
    match labels {
        Labels::Classes(y, classes) => {
            let parameters = RandomForestClassifierParameters {
                criterion: criterion(options)?,
                max_depth,
                min_samples_leaf,
                min_samples_split,
                n_trees: n_trees as u16,
                m,
                keep_samples: false,
                seed,
            };
            let model = Classifier::fit(x, y, parameters).map_err(|e| fit_failed("random_forest", e))?;
            let value = serde_json::to_value(&model).unwrap_or_default();
            let classes_of_forest = value["classes"].clone();
            let trees: Vec<Vec<Node>> = value["trees"]
                .as_array()
                .map(|ts| {
                    ts.iter()
                        .map(|t| {
                            let mut t = t.clone();
                            t["classes"] = classes_of_forest.clone();
                            tree_walk::class_nodes(&t)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let importance = tree_walk::importances(&trees, x_width(x));
            Ok((Forest { trees, classes: Some(*classes) }, importance))
        }
        Labels::Values(y) => {
            if options.text("criterion").is_some() {
                return Err(crate::ml::error::invalid("option \"criterion\" applies to classification forests only"));
            }
            let parameters = RandomForestRegressorParameters {
                max_depth,
                min_samples_leaf,
                min_samples_split,
                n_trees: n_trees as usize,
                m,
                keep_samples: false,
                seed,
            };
            let model = Regressor::fit(x, y, parameters).map_err(|e| fit_failed("random_forest", e))?;
            let importance = model.compute_feature_importances().unwrap_or_default();
            let value = serde_json::to_value(&model).unwrap_or_default();
            let trees = value["forest_regressor"]["trees"]
                .as_array()
                .map(|ts| ts.iter().map(tree_walk::nodes).collect())
                .unwrap_or_default();
            Ok((Forest { trees, classes: None }, importance))
        }
    }
}

fn x_width(x: &DenseMatrix<f64>) -> usize {
    use smartcore::linalg::basic::arrays::Array;
    x.shape().1
}

impl Forest {
    /// Per row: class vote shares (classification) or `[mean]` (regression).
    pub fn predict_row(&self, row: &[f64]) -> Vec<f64> {
        match self.classes {
            Some(k) => {
                let mut votes = vec![0.0; k];
                for nodes in &self.trees {
                    let class = nodes[tree_walk::leaf(nodes, row)].output as usize;
                    if class < k {
                        votes[class] += 1.0;
                    }
                }
                let n = self.trees.len().max(1) as f64;
                votes.iter_mut().for_each(|v| *v /= n);
                votes
            }
            None => {
                let sum: f64 = self.trees.iter().map(|nodes| nodes[tree_walk::leaf(nodes, row)].output).sum();
                vec![sum / self.trees.len().max(1) as f64]
            }
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
