//! `naive_bayes`: one pass. Each executor gathers per-class statistics of its partitions
//! (`ml::naive_bayes::Statistics`: counts, Chan-merged means and variances, category counts),
//! the final stage merges them, and the coordinator turns them into the model.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;

use super::{check_classes, check_rows, classes_from_probabilities, columns_with_nulls, tagged, untagged, Algorithm, Fitted, Pass, Predictor, Setup, Trainer};
use crate::functions::blob_aggregate::{from_json, to_json, Partial};
use crate::ml::error::{coded, invalid};
use crate::ml::features::{null_rows, Encoding, Feature, Kind};
use crate::ml::model::{Output, Task};
use crate::ml::naive_bayes::{log_sum_exp, NaiveBayes as Model, Statistics, Variant};
use crate::ml::options::Options;

pub struct NaiveBayes;

fn variant(options: &Options) -> Result<Variant> {
    options.text("variant").map_or(Ok(Variant::Mixed), Variant::parse)
}

impl Algorithm for NaiveBayes {
    fn name(&self) -> &'static str {
        "naive_bayes"
    }

    fn options(&self) -> &'static [&'static str] {
        &["variant"]
    }

    fn supports(&self, task: Task) -> bool {
        task == Task::Classification
    }

    fn feature_kind(&self, options: &Options, name: &str, data_type: &DataType, kind: Kind) -> Result<Kind> {
        match (variant(options)?, kind) {
            (Variant::Categorical, _) => Ok(Kind::Categorical),
            (Variant::Gaussian | Variant::Multinomial | Variant::Bernoulli, Kind::Categorical) => Err(invalid(format!(
                "variant '{}' needs numeric features, but \"{name}\" is {data_type}",
                options.text("variant").unwrap_or_default()
            ))),
            _ => Ok(kind),
        }
    }

    fn trainer(&self, setup: Setup) -> Result<Box<dyn Trainer>> {
        let variant = variant(&setup.options)?;
        Ok(Box::new(Training { setup, variant, asked: false, statistics: None }))
    }

    fn partial(&self, _spec: &[u8]) -> Result<Box<dyn Partial>> {
        Ok(Box::<StatisticsPartial>::default())
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(Predicting(untagged(params)?)))
    }
}

struct Training {
    setup: Setup,
    variant: Variant,
    asked: bool,
    statistics: Option<Statistics>,
}

impl Trainer for Training {
    fn next_pass(&mut self) -> Result<Option<Pass>> {
        if std::mem::replace(&mut self.asked, true) {
            return Ok(None);
        }
        Ok(Some(Pass::new("gathering per-class statistics", &())?))
    }

    fn absorb(&mut self, merged: &[u8]) -> Result<Option<String>> {
        let statistics: Statistics = if merged.is_empty() { Statistics::default() } else { from_json(merged)? };
        let setup = &self.setup;
        check_rows(setup, statistics.rows(), statistics.null_rows, || columns_with_nulls(setup, &statistics.nulls_by_column))?;
        check_classes(setup, &statistics.classes.keys().cloned().collect::<Vec<_>>())?;
        self.statistics = Some(statistics);
        Ok(None)
    }

    fn finish(self: Box<Self>) -> Result<Fitted> {
        let statistics = self.statistics.ok_or_else(|| coded("XX000", "training finished before its pass ran"))?;
        let names: Vec<String> = self.setup.features.iter().map(|(name, _)| name.clone()).collect();
        let model = Model::fit(&statistics, self.variant, &names)?;
        let rows = statistics.rows();
        Ok(Fitted {
            encodings: self
                .setup
                .features
                .iter()
                .map(|(_, kind)| match kind {
                    Kind::Numeric => Encoding::Number,
                    Kind::Categorical => Encoding::Category,
                })
                .collect(),
            classes: Some(model.classes.clone()),
            params: tagged("naive_bayes", &model)?,
            rows_used: rows,
            rows_total: rows,
            importance: None,
        })
    }
}

/// The partial state on the executors: target as text, numeric features as double,
/// categorical ones as text.
#[derive(Debug, Default)]
struct StatisticsPartial {
    statistics: Statistics,
}

impl Partial for StatisticsPartial {
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let kinds: Vec<Kind> = values[1..]
            .iter()
            .map(|v| if v.data_type().is_numeric() { Kind::Numeric } else { Kind::Categorical })
            .collect();
        self.statistics.update(&values[0], &values[1..], &kinds);
        Ok(())
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        self.statistics.merge(&from_json(bytes)?)
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        to_json(&self.statistics)
    }

    fn size(&self) -> usize {
        self.statistics.classes.len() * 256
    }
}

#[derive(Debug)]
struct Predicting(Model);

impl Predicting {
    /// The joint log-likelihoods (rows × classes) and which rows had a NULL feature.
    fn likelihoods(&self, columns: &[ArrayRef]) -> (Vec<f64>, Vec<bool>) {
        let rows = columns.first().map(|c| c.len()).unwrap_or(0);
        let skip = null_rows(columns, rows);
        (self.0.joint_log_likelihood(columns, &skip), skip)
    }
}

impl Predictor for Predicting {
    fn predict(&self, _features: &[Feature], columns: &[ArrayRef], probabilities: bool) -> Result<Output> {
        let (jll, skip) = self.likelihoods(columns);
        let k = self.0.classes.len();
        if !probabilities {
            let predicted = jll.chunks_exact(k).zip(&skip).map(|(j, skip)| (!skip).then(|| super::argmax(j))).collect();
            return Ok(Output::Classes { predicted, probabilities: None });
        }
        let per_row = jll
            .chunks_exact(k)
            .zip(&skip)
            .map(|(j, skip)| {
                (!skip).then(|| {
                    let norm = log_sum_exp(j);
                    j.iter().map(|x| (x - norm).exp()).collect()
                })
            })
            .collect();
        Ok(classes_from_probabilities(per_row, true))
    }

    fn has_score(&self) -> bool {
        true
    }

    fn score(&self, _features: &[Feature], columns: &[ArrayRef]) -> Option<Result<Vec<Option<f64>>>> {
        let (jll, skip) = self.likelihoods(columns);
        Some(Ok(jll.chunks_exact(self.0.classes.len()).zip(&skip).map(|(j, skip)| (!skip).then(|| -log_sum_exp(j))).collect()))
    }
}
