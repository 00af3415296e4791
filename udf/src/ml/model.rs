//! A trained model as stored in the model store (one JSON file per version) and applied by the
//! PREDICT functions: what it was trained on, and its fitted parameters.

use std::collections::BTreeMap;

use datafusion::arrow::array::ArrayRef;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::algorithms::decision_tree::Tree;
use super::algorithms::kmeans::Centroids;
use super::algorithms::linear_regression::Linear;
use super::algorithms::logistic_regression::Logistic;
use super::algorithms::random_forest::Forest;
use super::algorithms::{decision_tree, kmeans, linear_regression, logistic_regression, random_forest};
use super::error::{coded, invalid};
use super::features::{convert, null_rows, Feature, Matrix, Target};
use super::naive_bayes::{log_sum_exp, NaiveBayes};

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    NaiveBayes,
    DecisionTree,
    RandomForest,
    LinearRegression,
    LogisticRegression,
    Kmeans,
}

impl Algorithm {
    pub const ALL: &'static [Algorithm] = &[
        Algorithm::NaiveBayes,
        Algorithm::DecisionTree,
        Algorithm::RandomForest,
        Algorithm::LinearRegression,
        Algorithm::LogisticRegression,
        Algorithm::Kmeans,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::NaiveBayes => "naive_bayes",
            Algorithm::DecisionTree => "decision_tree",
            Algorithm::RandomForest => "random_forest",
            Algorithm::LinearRegression => "linear_regression",
            Algorithm::LogisticRegression => "logistic_regression",
            Algorithm::Kmeans => "kmeans",
        }
    }

    pub fn parse(name: &str) -> Result<Algorithm> {
        Self::ALL.iter().copied().find(|a| a.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|a| a.name()).collect();
            invalid(format!("unknown algorithm \"{name}\"; squall has: {}", names.join(", ")))
        })
    }

    /// The options this algorithm takes besides the common ones.
    pub fn options(self) -> &'static [&'static str] {
        match self {
            Algorithm::NaiveBayes => &["variant"],
            Algorithm::DecisionTree => decision_tree::OPTIONS,
            Algorithm::RandomForest => random_forest::OPTIONS,
            Algorithm::LinearRegression => linear_regression::OPTIONS,
            Algorithm::LogisticRegression => logistic_regression::OPTIONS,
            Algorithm::Kmeans => kmeans::OPTIONS,
        }
    }

    /// Which tasks it can do.
    pub fn supports(self, task: Task) -> bool {
        match self {
            Algorithm::NaiveBayes | Algorithm::LogisticRegression => task == Task::Classification,
            Algorithm::DecisionTree | Algorithm::RandomForest => task != Task::Clustering,
            Algorithm::LinearRegression => task == Task::Regression,
            Algorithm::Kmeans => task == Task::Clustering,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Classification,
    Regression,
    Clustering,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::Clustering => "clustering",
        }
    }
}

/// The fitted parameters.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Params {
    NaiveBayes(NaiveBayes),
    Tree(Tree),
    Forest(Forest),
    Linear(Linear),
    Logistic(Logistic),
    Kmeans(Centroids),
}

/// One version of a model.
#[derive(Debug, Serialize, Deserialize)]
pub struct Model {
    pub format: u32,
    pub name: String,
    pub version: u32,
    pub algorithm: Algorithm,
    pub task: Task,
    /// The options as given.
    pub options: BTreeMap<String, String>,
    pub features: Vec<Feature>,
    pub target: Option<Target>,
    /// Training rows the model was fitted on, and the training rows the query gave (more when
    /// `max_training_rows` capped them by a uniform sample).
    pub rows_used: u64,
    pub rows_total: u64,
    pub training_ms: u64,
    /// For trees and forests: mean decrease in impurity per feature.
    pub feature_importance: Option<Vec<f64>>,
    pub params: Params,
}

/// What a model says about a batch of rows. Rows with a NULL feature get `None`.
pub enum Output {
    /// Class index and, when the model has them, every class's probability.
    Classes { predicted: Vec<Option<usize>>, probabilities: Option<Vec<Option<Vec<f64>>>> },
    Values(Vec<Option<f64>>),
    /// Cluster and distance to its centroid.
    Clusters { cluster: Vec<Option<usize>>, distance: Vec<Option<f64>> },
}

impl Model {
    pub fn from_json(bytes: &[u8], origin: &str) -> Result<Model> {
        let model: Model = serde_json::from_slice(bytes).map_err(|e| coded("58030", format!("reading model file {origin}: {e}")))?;
        if model.format != FORMAT_VERSION {
            return Err(coded(
                "58030",
                format!("model file {origin} has format {}, this squall reads {FORMAT_VERSION}", model.format),
            ));
        }
        Ok(model)
    }

    /// `name` or `name@version`, as users address it.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The feature list a user must pass to PREDICT, for error messages.
    pub fn signature(&self) -> String {
        let features: Vec<String> = self.features.iter().map(|f| format!("{} {}", f.name, f.data_type)).collect();
        format!("model {} expects {} features: ({})", self.label(), self.features.len(), features.join(", "))
    }

    /// Checks the argument count and types of a PREDICT call (the features only).
    pub fn check_arguments(&self, types: &[datafusion::arrow::datatypes::DataType]) -> Result<()> {
        if types.len() != self.features.len() {
            return Err(coded("42883", format!("PREDICT got {} feature arguments, but {}", types.len(), self.signature())));
        }
        for (feature, t) in self.features.iter().zip(types) {
            let usable = t.is_null() || super::features::Kind::of(t).is_some_and(|k| k == feature.kind) || (feature.kind == super::features::Kind::Categorical && t.is_numeric());
            if !usable {
                return Err(invalid(format!(
                    "PREDICT argument for feature {} is {t}, but {}",
                    feature.name,
                    self.signature()
                )));
            }
        }
        Ok(())
    }

    /// Applies the model to feature columns in the model's order. Class probabilities are only
    /// computed when `probabilities` is asked for (PREDICT alone needs just the best class).
    pub fn predict(&self, columns: &[ArrayRef], probabilities: bool) -> Result<Output> {
        if let Params::NaiveBayes(nb) = &self.params {
            let (jll, skip) = self.naive_bayes_likelihoods(nb, columns)?;
            let k = nb.classes.len();
            if !probabilities {
                let predicted = jll.chunks_exact(k).zip(&skip).map(|(j, skip)| (!skip).then(|| argmax(j))).collect();
                return Ok(Output::Classes { predicted, probabilities: None });
            }
            let mut predicted = Vec::with_capacity(skip.len());
            let mut probabilities = Vec::with_capacity(skip.len());
            for (row, j) in jll.chunks_exact(k).enumerate() {
                if skip[row] {
                    predicted.push(None);
                    probabilities.push(None);
                    continue;
                }
                let norm = log_sum_exp(j);
                let p: Vec<f64> = j.iter().map(|x| (x - norm).exp()).collect();
                predicted.push(Some(argmax(&p)));
                probabilities.push(Some(p));
            }
            return Ok(Output::Classes { predicted, probabilities: Some(probabilities) });
        }
        let columns = self.converted(columns)?;
        let matrix = Matrix::encode(&self.features, &columns);
        let spread = |values: Vec<Option<Vec<f64>>>| -> Output {
            let predicted = values.iter().map(|v| v.as_ref().map(|p| argmax(p))).collect();
            Output::Classes { predicted, probabilities: Some(values) }
        };
        let per_row = |f: &dyn Fn(&[f64]) -> Vec<f64>| -> Vec<Option<Vec<f64>>> {
            matrix.rows.iter().map(|at| at.map(|at| f(matrix.row(at)))).collect()
        };
        Ok(match &self.params {
            Params::NaiveBayes(_) => unreachable!("handled above"),
            Params::Tree(tree) => {
                let leaf = |row: &[f64]| super::algorithms::tree_walk::leaf(&tree.nodes, row);
                match &tree.leaf_probabilities {
                    Some(p) => {
                        let predicted = matrix.rows.iter().map(|at| at.map(|at| tree.nodes[leaf(matrix.row(at))].output as usize)).collect();
                        let probabilities = probabilities.then(|| per_row(&|row| p[leaf(row)].clone()));
                        Output::Classes { predicted, probabilities }
                    }
                    None => Output::Values(matrix.rows.iter().map(|at| at.map(|at| tree.nodes[leaf(matrix.row(at))].output)).collect()),
                }
            }
            Params::Forest(forest) => match forest.classes {
                Some(_) => spread(per_row(&|row| forest.predict_row(row))),
                None => Output::Values(per_row(&|row| forest.predict_row(row)).into_iter().map(|v| v.map(|v| v[0])).collect()),
            },
            Params::Linear(linear) => Output::Values(matrix.rows.iter().map(|at| at.map(|at| linear.predict_row(matrix.row(at)))).collect()),
            Params::Logistic(logistic) => spread(per_row(&|row| logistic.probabilities(row))),
            Params::Kmeans(centroids) => {
                let nearest: Vec<Option<(usize, f64)>> = matrix.rows.iter().map(|at| at.map(|at| centroids.nearest(matrix.row(at)))).collect();
                Output::Clusters {
                    cluster: nearest.iter().map(|n| n.map(|n| n.0)).collect(),
                    distance: nearest.iter().map(|n| n.map(|n| n.1)).collect(),
                }
            }
        })
    }

    /// Feature columns as the model reads them (numbers as doubles, categories as text).
    fn converted(&self, columns: &[ArrayRef]) -> Result<Vec<ArrayRef>> {
        self.features.iter().zip(columns).map(|(f, c)| convert(c, f.kind)).collect()
    }

    /// Naive Bayes' joint log-likelihoods (rows × classes) and which rows had a NULL feature.
    fn naive_bayes_likelihoods(&self, nb: &NaiveBayes, columns: &[ArrayRef]) -> Result<(Vec<f64>, Vec<bool>)> {
        let columns = self.converted(columns)?;
        let rows = columns.first().map(|c| c.len()).unwrap_or(0);
        let skip = null_rows(&columns, rows);
        Ok((nb.joint_log_likelihood(&columns, &skip), skip))
    }

    /// Whether the model gives anomaly scores (PREDICT_SCORE).
    pub fn has_score(&self) -> bool {
        matches!(self.params, Params::NaiveBayes(_) | Params::Kmeans(_))
    }

    /// The anomaly score of every row: higher is more unusual.
    pub fn score(&self, columns: &[ArrayRef]) -> Result<Vec<Option<f64>>> {
        match &self.params {
            Params::NaiveBayes(nb) => {
                let (jll, skip) = self.naive_bayes_likelihoods(nb, columns)?;
                Ok(jll
                    .chunks_exact(nb.classes.len())
                    .zip(&skip)
                    .map(|(j, skip)| (!skip).then(|| -log_sum_exp(j)))
                    .collect())
            }
            Params::Kmeans(_) => match self.predict(columns, false)? {
                Output::Clusters { distance, .. } => Ok(distance),
                _ => unreachable!("k-means predicts clusters"),
            },
            _ => Err(invalid(format!("{} gives no anomaly score", self.label()))),
        }
    }
}

fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}
