//! A trained model as stored in the model store (one JSON file per version) and applied by the
//! PREDICT functions: what it was trained on, and its fitted parameters.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::algorithms::{self, Predictor};
use super::error::{coded, invalid};
use super::features::{convert, Feature, Target};

pub const FORMAT_VERSION: u32 = 1;

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

/// One version of a model.
#[derive(Debug, Serialize, Deserialize)]
pub struct Model {
    pub format: u32,
    pub name: String,
    pub version: u32,
    /// Its algorithm's name ([`algorithms::find`]).
    pub algorithm: String,
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
    /// The fitted parameters, as the algorithm's [`Predictor`] reads them.
    pub params: serde_json::Value,
    /// What applies them, made once when the model is read.
    #[serde(skip)]
    pub predictor: Option<Arc<dyn Predictor>>,
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
        let mut model: Model = serde_json::from_slice(bytes).map_err(|e| coded("58030", format!("reading model file {origin}: {e}")))?;
        if model.format != FORMAT_VERSION {
            return Err(coded(
                "58030",
                format!("model file {origin} has format {}, this squall reads {FORMAT_VERSION}", model.format),
            ));
        }
        let algorithm = algorithms::find(&model.algorithm).map_err(|_| coded("58030", format!("model file {origin} is of an algorithm this squall does not know: {}", model.algorithm)))?;
        model.predictor = Some(Arc::from(algorithm.predictor(&model.params)?));
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
        self.predictor()?.predict(&self.features, &self.converted(columns)?, probabilities)
    }

    /// Whether the model gives anomaly scores (PREDICT_SCORE).
    pub fn has_score(&self) -> bool {
        self.predictor().is_ok_and(|p| p.has_score())
    }

    /// The anomaly score of every row: higher is more unusual.
    pub fn score(&self, columns: &[ArrayRef]) -> Result<Vec<Option<f64>>> {
        let columns = self.converted(columns)?;
        match self.predictor()?.score(&self.features, &columns) {
            Some(scores) => scores,
            None => Err(invalid(format!("{} gives no anomaly score", self.label()))),
        }
    }

    fn predictor(&self) -> Result<&Arc<dyn Predictor>> {
        self.predictor.as_ref().ok_or_else(|| coded("XX000", format!("model {} was not read from its file", self.label())))
    }

    /// Feature columns as the model reads them (numbers as doubles, categories as text).
    fn converted(&self, columns: &[ArrayRef]) -> Result<Vec<ArrayRef>> {
        self.features.iter().zip(columns).map(|(f, c)| convert(c, f.kind)).collect()
    }
}
