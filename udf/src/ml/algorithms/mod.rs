//! The learning algorithms, one file each, all of one shape ([`Algorithm`]): a name and options,
//! the tasks it does, how it trains as a sequence of distributed passes over the training rows
//! ([`Trainer`]: the coordinator asks for a pass, the executors run it as an aggregate whose
//! partial states merge, the coordinator takes the merged state and decides the next pass), and
//! how its fitted parameters predict ([`Predictor`]). Adding an algorithm is one file here and one
//! line in [`ALL`].

pub mod bins;
pub mod boosted_trees;
pub mod boosting_scores;
pub mod decision_tree;
pub mod held_rounds;
pub mod histograms;
pub mod holdout_loss;
pub mod key_sample;
pub mod kmeans;
pub mod linear_regression;
pub mod logistic_regression;
pub mod naive_bayes;
pub mod newton;
pub mod random_forest;
pub mod scan;
pub mod splits;
pub mod score_cache;
pub mod tree_growth;
pub mod tree_walk;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{coded, invalid};
use super::features::{Encoding, Feature, Kind};
pub use super::importance::Importance;
use super::model::{Output, Task};
use super::options::Options;
use crate::functions::blob_aggregate::Partial;

/// Every algorithm squall trains, as `TRAIN MODEL ... USING <name>` names it.
pub static ALL: &[&dyn Algorithm] = &[
    &naive_bayes::NaiveBayes,
    &decision_tree::DecisionTree,
    &random_forest::RandomForest,
    &boosted_trees::BoostedTrees,
    &linear_regression::LinearRegression,
    &logistic_regression::LogisticRegression,
    &kmeans::Kmeans,
];

/// The algorithm called `name` (22023 naming the others when there is none).
pub fn find(name: &str) -> Result<&'static dyn Algorithm> {
    ALL.iter().copied().find(|a| a.name() == name).ok_or_else(|| {
        let names: Vec<&str> = ALL.iter().map(|a| a.name()).collect();
        invalid(format!("unknown algorithm \"{name}\"; squall has: {}", names.join(", ")))
    })
}

pub trait Algorithm: Send + Sync {
    fn name(&self) -> &'static str;

    /// The options it takes besides the common ones ([`super::options::COMMON`]).
    fn options(&self) -> &'static [&'static str];

    fn supports(&self, task: Task) -> bool;

    /// How a feature column of `data_type` takes part: as its natural kind, unless the options
    /// say otherwise (Naive Bayes' categorical variant treats numbers as categories).
    fn feature_kind(&self, _options: &Options, _name: &str, _data_type: &DataType, kind: Kind) -> Result<Kind> {
        Ok(kind)
    }

    /// Starts training. Bad options (22023) and limits (54000) are refused here, before any pass.
    fn trainer(&self, setup: Setup) -> Result<Box<dyn Trainer>>;

    /// The executors' side of one pass its trainer asked for ([`Pass::spec`]).
    fn partial(&self, spec: &[u8]) -> Result<Box<dyn Partial>>;

    /// What applies fitted parameters (as [`Fitted::params`] holds them) to rows.
    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>>;

    /// How its feature importance is measured: [`Fitted::importance`] brings it, except by
    /// permutation, which a pass over the holdout rows measures after training.
    fn importance(&self) -> Importance {
        Importance::Permutation
    }
}

/// What training starts from.
pub struct Setup {
    pub task: Task,
    /// The target column's name, for messages (its values come first in every pass).
    pub target: Option<String>,
    /// The feature columns, in the order the passes get them (after the target, if any).
    pub features: Vec<(String, Kind)>,
    pub options: Options,
    pub seed: u64,
    /// `max_training_rows`, when given.
    pub max_training_rows: Option<u64>,
    /// `nulls = 'skip'`: rows with a NULL are left out rather than refused.
    pub skip_nulls: bool,
    /// Whether training leaves holdout rows out (`holdout` > 0), which a pass may read instead
    /// ([`Pass::holdout`]).
    pub holdout: bool,
    /// A fitted model to update with the rows (new rows only), for the algorithms that can
    /// (`kmeans`, `logistic_regression`); `None`: train from nothing.
    pub warm: Option<Warm>,
}

/// A fitted model a refresh starts from.
#[derive(Debug, Clone)]
pub struct Warm {
    /// Its parameters, as [`Fitted::params`] held them.
    pub params: serde_json::Value,
    /// Its features' encodings (kept: the model's columns do not change).
    pub encodings: Vec<crate::ml::features::Encoding>,
    /// The rows it was fitted on.
    pub rows: u64,
    /// Its target's classes (a classifier's).
    pub classes: Option<Vec<String>>,
}

/// In the error of an algorithm that cannot update this fitted model with these rows (a class
/// it does not know, a model from before it kept what an update needs): a refresh then trains
/// on all rows instead.
pub const CANNOT_UPDATE: &str = "cannot update the model from the new rows alone";

/// The coordinator's side of training: one pass at a time.
pub trait Trainer: Send {
    /// The next pass over the training rows; `None` once the model is ready.
    fn next_pass(&mut self) -> Result<Option<Pass>>;
    /// The pass's partial states, merged; what to tell the user of it, if anything.
    fn absorb(&mut self, merged: &[u8]) -> Result<Option<String>>;
    /// The fitted model (after the last pass).
    fn finish(self: Box<Self>) -> Result<Fitted>;
    /// The pass [`Trainer::next_pass`] last gave, with what it left out because the processes
    /// held it from earlier passes, when a process refused it for want of that
    /// ([`held_rounds::NOT_HELD`]); `None` when it left out nothing.
    fn pass_in_full(&mut self) -> Result<Option<Pass>> {
        Ok(None)
    }
}

/// One distributed pass over the training rows.
pub struct Pass {
    /// What it does, for the NOTICE that tells the user (e.g. "level 3 of 8, 7 nodes to split").
    pub description: String,
    /// The pass as [`Algorithm::partial`] reads it on the executors.
    pub spec: Vec<u8>,
    /// Whether the rows come with a key in [0, 1) from a seeded hash of the whole row, before
    /// the target (uniform samples and bootstrap weights follow it).
    pub row_key: bool,
    /// Whether it reads the holdout rows instead of the training rows (early stopping).
    pub holdout: bool,
}

impl Pass {
    pub fn new(description: impl Into<String>, spec: &impl Serialize) -> Result<Pass> {
        Ok(Pass { description: description.into(), spec: to_json(spec)?, row_key: false, holdout: false })
    }
}

/// A trained model's parameters and what it learned of its columns.
pub struct Fitted {
    /// The parameters, as [`Algorithm::predictor`] reads them back.
    pub params: serde_json::Value,
    /// One per feature.
    pub encodings: Vec<Encoding>,
    /// For classification: the classes, as text, in the order the model numbers them.
    pub classes: Option<Vec<String>>,
    /// Training rows the model was fitted on, and the rows the query gave (more when a sample
    /// was taken).
    pub rows_used: u64,
    pub rows_total: u64,
    /// Per feature, its share of the importance ([`crate::ml::importance`]), for the algorithms
    /// that measure it while training.
    pub importance: Option<Vec<f64>>,
}

/// A trained model applied to rows.
pub trait Predictor: Send + Sync + std::fmt::Debug {
    /// `columns` are the features converted ([`super::features::convert`]), in the model's order.
    /// Class probabilities only when `probabilities` is asked for.
    fn predict(&self, features: &[Feature], columns: &[ArrayRef], probabilities: bool) -> Result<Output>;

    /// Whether it gives anomaly scores ([`Predictor::score`]).
    fn has_score(&self) -> bool {
        false
    }

    /// Anomaly scores (higher is more unusual), for the models that give them.
    fn score(&self, _features: &[Feature], _columns: &[ArrayRef]) -> Option<Result<Vec<Option<f64>>>> {
        None
    }
}

/// Parameters stored with a `kind` tag beside their fields, as model files always had them.
pub fn tagged(kind: &str, params: &impl Serialize) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(params).map_err(|e| coded("XX000", format!("encoding a model: {e}")))?;
    if let Some(fields) = value.as_object_mut() {
        fields.insert("kind".into(), kind.into());
    }
    Ok(value)
}

/// Parameters read back from a model file.
pub fn untagged<T: DeserializeOwned>(params: &serde_json::Value) -> Result<T> {
    serde_json::from_value(params.clone()).map_err(|e| coded("58030", format!("reading a model's parameters: {e}")))
}

pub fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| coded("XX000", format!("encoding a training pass: {e}")))
}

pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| coded("XX000", format!("decoding a training pass: {e}")))
}

/// A partial state of JSON and a binary tail (a sample's rows): the JSON's length (8 bytes,
/// little-endian), the JSON, then the tail.
pub fn framed(json: Vec<u8>, tail: &[u8]) -> Vec<u8> {
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend(json);
    bytes.extend_from_slice(tail);
    bytes
}

/// The JSON and the tail of [`framed`] bytes.
pub fn unframe(bytes: &[u8]) -> Result<(&[u8], &[u8])> {
    let length = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize);
    match length {
        Some(length) if bytes.len() >= 8 + length => Ok((&bytes[8..8 + length], &bytes[8 + length..])),
        _ => Err(coded("XX000", "a partial result is cut short")),
    }
}

/// Features as [`super::features::Matrix::encode`] reads them on the executors, where only their
/// encodings matter.
pub fn encoded_features(encodings: Vec<Encoding>) -> Vec<Feature> {
    encodings
        .into_iter()
        .map(|encoding| {
            let kind = if matches!(encoding, Encoding::Number) { Kind::Numeric } else { Kind::Categorical };
            Feature { name: String::new(), data_type: kind.arrow_type(), kind, encoding }
        })
        .collect()
}

/// Refuses rows with NULLs unless `nulls = 'skip'` (22004), and no rows at all (22000).
pub fn check_rows(setup: &Setup, rows: u64, null_rows: u64, where_nulls: impl FnOnce() -> String) -> Result<()> {
    if null_rows > 0 && !setup.skip_nulls {
        return Err(coded(
            "22004",
            format!("{null_rows} training rows have NULLs in {}; filter them out or train with option nulls = 'skip'", where_nulls()),
        ));
    }
    if rows == 0 {
        return Err(coded(
            "22000",
            if null_rows > 0 {
                format!("no training rows are left: all {null_rows} had NULLs")
            } else {
                "the training query gave no rows (after the holdout split)".to_string()
            },
        ));
    }
    Ok(())
}

/// The columns of `setup` (target first) that had NULLs, and how many, for [`check_rows`]'s
/// error: `nulls_by_column` in the same order.
pub fn columns_with_nulls(setup: &Setup, nulls_by_column: &[u64]) -> String {
    let names = setup.target.iter().cloned().chain(setup.features.iter().map(|(name, _)| name.clone()));
    names.zip(nulls_by_column).filter(|(_, n)| **n > 0).map(|(name, n)| format!("{name} ({n})")).collect::<Vec<_>>().join(", ")
}

/// A classifier needs two classes.
pub fn check_classes(setup: &Setup, classes: &[String]) -> Result<()> {
    if let [only] = classes {
        let target = setup.target.as_deref().unwrap_or_default();
        return Err(coded("22000", format!("target \"{target}\" has one class ('{only}') in the training rows; a classifier needs at least two")));
    }
    Ok(())
}

/// The index of the largest value (the first of equals).
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// Classes and their probabilities from per-row probability vectors.
pub fn classes_from_probabilities(values: Vec<Option<Vec<f64>>>, probabilities: bool) -> Output {
    let predicted = values.iter().map(|v| v.as_ref().map(|p| argmax(p))).collect();
    Output::Classes { predicted, probabilities: probabilities.then_some(values) }
}
