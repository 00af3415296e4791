//! `PREDICT(model, feature, ...)`, `PREDICT_PROBA(...)` and `PREDICT_SCORE(...)`: apply a model
//! to rows, vectorised, wherever the query runs them (on the executors for table scans).
//!
//! The first argument reaches these functions as the URL of one model version: the coordinator
//! rewrites `'name'` and `'name@2'` before planning (engine `models::references`), so an
//! executor needs no catalog, only read access to the model store, and keeps each version it has
//! read in its cache.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::ml::error::{coded, invalid};
use crate::ml::model::{Model, Output, Task};
use crate::ml::store;

/// What the function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Returns {
    /// The prediction, in the target's type (the cluster number for k-means).
    Value,
    /// The probability of the predicted class.
    Probability,
    /// The anomaly score: higher is more unusual.
    Score,
}

pub const NAMES: [&str; 3] = ["predict", "predict_proba", "predict_score"];

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Predict {
    returns: Returns,
    signature: Signature,
}

impl Predict {
    pub fn new(returns: Returns) -> Self {
        Self { returns, signature: Signature::variadic_any(Volatility::Immutable) }
    }

    fn model(&self, reference: Option<&ScalarValue>) -> Result<Arc<Model>> {
        match reference {
            Some(ScalarValue::Utf8(Some(url))) | Some(ScalarValue::Utf8View(Some(url))) | Some(ScalarValue::LargeUtf8(Some(url)))
                if url.contains("://") =>
            {
                store::load(url)
            }
            _ => Err(invalid(format!(
                "{}() takes the model name as a string constant first, e.g. {}('iris', sepal_length, ...)",
                self.name(),
                self.name()
            ))),
        }
    }

    fn return_type_for(&self, model: &Model) -> Result<DataType> {
        Ok(match self.returns {
            Returns::Probability if model.task != Task::Classification => {
                return Err(invalid(format!(
                    "PREDICT_PROBA needs a classification model; {} does {}",
                    model.label(),
                    model.task.name()
                )))
            }
            Returns::Probability | Returns::Score => DataType::Float64,
            Returns::Value => match model.task {
                Task::Classification => match &model.target.as_ref().expect("classification has a target").data_type {
                    DataType::Dictionary(_, value) => value.as_ref().clone(),
                    DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                    other => other.clone(),
                },
                Task::Regression => DataType::Float64,
                Task::Clustering => DataType::Int64,
            },
        })
    }
}

impl ScalarUDFImpl for Predict {
    fn name(&self) -> &str {
        match self.returns {
            Returns::Value => NAMES[0],
            Returns::Probability => NAMES[1],
            Returns::Score => NAMES[2],
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Err(coded("XX000", "PREDICT's type comes from its model (return_field_from_args)"))
    }

    /// `predict(iris@2, sepal_length, ...)`: the model as users name it, not its file URL.
    fn schema_name(&self, args: &[datafusion::logical_expr::Expr]) -> Result<String> {
        let mut names: Vec<String> = args.iter().skip(1).map(|a| a.schema_name().to_string()).collect();
        let model = match args.first() {
            Some(datafusion::logical_expr::Expr::Literal(ScalarValue::Utf8(Some(url)), _)) => {
                store::load(url).map(|m| m.label()).unwrap_or_else(|_| url.clone())
            }
            Some(other) => other.schema_name().to_string(),
            None => String::new(),
        };
        names.insert(0, model);
        Ok(format!("{}({})", self.name(), names.join(", ")))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let model = self.model(args.scalar_arguments.first().copied().flatten())?;
        let types: Vec<DataType> = args.arg_fields[1..].iter().map(|f| f.data_type().clone()).collect();
        model.check_arguments(&types)?;
        if self.returns == Returns::Score && !model.has_score() {
            // Refused here, at planning, rather than on the first batch.
            return Err(invalid(format!(
                "PREDICT_SCORE needs a naive_bayes or kmeans model; {} is {}",
                model.label(),
                model.algorithm
            )));
        }
        Ok(Arc::new(Field::new(self.name(), self.return_type_for(&model)?, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let reference = match &args.args[0] {
            ColumnarValue::Scalar(s) => Some(s.clone()),
            ColumnarValue::Array(_) => None,
        };
        let model = self.model(reference.as_ref())?;
        let rows = args.number_rows;
        crate::ml::served::record(&model.name, rows as u64);
        let features: Vec<ArrayRef> = args.args[1..]
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<_>>()?;
        let result: ArrayRef = match self.returns {
            Returns::Score => Arc::new(Float64Array::from(model.score(&features)?)),
            Returns::Probability => match model.predict(&features, true)? {
                Output::Classes { predicted, probabilities: Some(p) } => Arc::new(Float64Array::from(
                    predicted
                        .iter()
                        .zip(p)
                        .map(|(c, p)| c.and_then(|c| p.map(|p| p[c])))
                        .collect::<Vec<_>>(),
                )),
                _ => return Err(invalid(format!("{} gives no class probabilities", model.label()))),
            },
            Returns::Value => match model.predict(&features, false)? {
                Output::Classes { predicted, .. } => {
                    let classes = model.target.as_ref().and_then(|t| t.classes.as_ref()).cloned().unwrap_or_default();
                    let labels: StringArray = predicted.iter().map(|c| c.map(|c| classes[c].as_str())).collect();
                    let wanted = args.return_field.data_type();
                    cast(&labels, wanted).map_err(|e| coded("XX000", format!("returning {} predictions: {e}", wanted)))?
                }
                Output::Values(values) => Arc::new(Float64Array::from(values)),
                Output::Clusters { cluster, .. } => {
                    Arc::new(Int64Array::from(cluster.iter().map(|c| c.map(|c| c as i64)).collect::<Vec<_>>()))
                }
            },
        };
        Ok(ColumnarValue::Array(result))
    }
}
