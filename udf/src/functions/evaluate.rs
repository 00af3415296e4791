//! `squall_evaluate(model_url, [target,] feature, ...)`: scores rows with a model where they are
//! read (on the executors) and tallies the outcome in mergeable pieces (confusion matrix and log
//! loss, or error sums, or squared distances). EVALUATE MODEL and the holdout evaluation of TRAIN
//! MODEL both run it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::error::Result;

use super::blob_aggregate::{from_json, to_json, BlobAggregate, Partial};
use crate::ml::error::invalid;
use crate::ml::features::{convert, Kind};
use crate::ml::metrics::Tally;
use crate::ml::model::{Model, Output, Task};
use crate::ml::store;

pub const NAME: &str = "squall_evaluate";

pub fn aggregate() -> BlobAggregate {
    BlobAggregate::new(NAME, || Box::<EvaluatePartial>::default())
}

/// An empty tally for a model's task.
pub fn empty_tally(task: Task) -> Tally {
    match task {
        Task::Classification => Tally::Classification {
            confusion: Default::default(),
            log_loss_sum: 0.0,
            log_loss_rows: 0,
            skipped: 0,
        },
        Task::Regression => Tally::Regression { target: Default::default(), squared_error: 0.0, absolute_error: 0.0, skipped: 0 },
        Task::Clustering => Tally::Clustering { rows: 0, squared_distance: 0.0, skipped: 0 },
    }
}

#[derive(Debug, Default)]
struct EvaluatePartial {
    model: Option<Arc<Model>>,
    tally: Option<Tally>,
}

impl Partial for EvaluatePartial {
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let model = model_of(NAME, values, &mut self.model)?;
        let tally = self.tally.get_or_insert_with(|| empty_tally(model.task));
        let (target, features) = match model.target {
            Some(_) => (Some(&values[1]), &values[2..]),
            None => (None, &values[1..]),
        };
        tally_rows(&model, target, features, tally)
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let other: Tally = from_json(bytes)?;
        match &mut self.tally {
            Some(mine) => mine.merge(&other),
            None => self.tally = Some(other),
        }
        Ok(())
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        match &self.tally {
            Some(t) => to_json(t),
            None => Ok(vec![]),
        }
    }

    fn size(&self) -> usize {
        1024
    }
}

/// The model a call of `function` names by its first argument, loaded once per partial state.
pub(crate) fn model_of(function: &str, values: &[ArrayRef], loaded: &mut Option<Arc<Model>>) -> Result<Arc<Model>> {
    if let Some(model) = loaded {
        return Ok(Arc::clone(model));
    }
    let urls = values[0].as_string_opt::<i32>().filter(|u| u.is_valid(0));
    let Some(urls) = urls else {
        return Err(invalid(format!("{function} takes the model file URL first")));
    };
    let model = store::load(urls.value(0))?;
    *loaded = Some(Arc::clone(&model));
    Ok(model)
}

/// Scores rows with `model` and adds the outcome to `tally`: `target` (for a model that has one)
/// and `features` as the SQL call gives them.
pub(crate) fn tally_rows(model: &Model, target: Option<&ArrayRef>, features: &[ArrayRef], tally: &mut Tally) -> Result<()> {
    let output = model.predict(features, true)?;
    match output {
        Output::Classes { predicted, probabilities } => {
            let classes = model.target.as_ref().and_then(|t| t.classes.as_ref()).cloned().unwrap_or_default();
            let actual = convert(target.expect("classification has a target"), Kind::Categorical)?;
            let actual = actual.as_string::<i32>();
            for (row, p) in predicted.iter().enumerate() {
                match (p, actual.is_valid(row)) {
                    (Some(p), true) => {
                        let a = actual.value(row);
                        let proba = probabilities.as_ref().and_then(|ps| ps[row].as_ref()).map(|ps| {
                            classes.iter().position(|c| c == a).map(|i| ps[i]).unwrap_or(0.0)
                        });
                        tally.add_class(a, &classes[*p], proba);
                    }
                    _ => tally.skip(),
                }
            }
        }
        Output::Values(predicted) => {
            let actual = convert(target.expect("regression has a target"), Kind::Numeric)?;
            let actual = actual.as_primitive::<Float64Type>();
            for (row, p) in predicted.iter().enumerate() {
                match (p, actual.is_valid(row)) {
                    (Some(p), true) => tally.add_value(actual.value(row), *p),
                    _ => tally.skip(),
                }
            }
        }
        Output::Clusters { distance, .. } => {
            for d in distance {
                match d {
                    Some(d) => tally.add_distance(d),
                    None => tally.skip(),
                }
            }
        }
    }
    Ok(())
}
