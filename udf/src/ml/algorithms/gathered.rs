//! Training by gathering the training rows in one place and fitting them there with smartcore:
//! one pass, an aggregate that keeps a uniform sample of at most `max_training_rows` rows
//! (`functions::training_sample`), then the fit in the coordinator. The algorithms that still
//! train this way implement [`FitsInOnePlace`], which makes them an [`Algorithm`].

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::error::Result;
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::{check_classes, check_rows, from_json, Algorithm, Fitted, Labels, Pass, Predictor, Setup, Trainer};
use crate::functions::blob_aggregate::Partial;
use crate::functions::training_sample::{self, Sample};
use crate::ml::error::coded;
use crate::ml::features::{Encoding, Kind, Matrix};
use crate::ml::model::Task;

/// How many rows are gathered when `max_training_rows` is not given.
pub const DEFAULT_CAP: u64 = 1_000_000;

/// An algorithm fitted on rows gathered in one place.
pub trait FitsInOnePlace: Send + Sync + Copy + 'static {
    fn name(&self) -> &'static str;
    fn options(&self) -> &'static [&'static str];
    fn supports(&self, task: Task) -> bool;
    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>>;
    /// Whether categorical features become one column per category (else one ordinal code).
    fn one_hot(&self) -> bool;
    /// The parameters (as [`super::Algorithm::predictor`] reads them) and, for trees, the
    /// importance of each encoded column.
    fn fit(&self, matrix: &Matrix, labels: Option<Labels>, setup: &Setup) -> Result<(serde_json::Value, Option<Vec<f64>>)>;
}

impl<T: FitsInOnePlace> Algorithm for T {
    fn name(&self) -> &'static str {
        FitsInOnePlace::name(self)
    }

    fn options(&self) -> &'static [&'static str] {
        FitsInOnePlace::options(self)
    }

    fn supports(&self, task: Task) -> bool {
        FitsInOnePlace::supports(self, task)
    }

    fn trainer(&self, setup: Setup) -> Result<Box<dyn Trainer>> {
        Ok(Box::new(Gathered { algorithm: *self, setup, asked: false, sample: None }))
    }

    /// A sample of at most the cap the spec gives.
    fn partial(&self, spec: &[u8]) -> Result<Box<dyn Partial>> {
        Ok(training_sample::partial(from_json(spec)?))
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        FitsInOnePlace::predictor(self, params)
    }
}

struct Gathered<T> {
    algorithm: T,
    setup: Setup,
    asked: bool,
    sample: Option<Sample>,
}

impl<T: FitsInOnePlace> Trainer for Gathered<T> {
    fn next_pass(&mut self) -> Result<Option<Pass>> {
        if std::mem::replace(&mut self.asked, true) {
            return Ok(None);
        }
        let cap = self.setup.max_training_rows.unwrap_or(DEFAULT_CAP);
        let mut pass = Pass::new(format!("gathering up to {cap} training rows"), &cap)?;
        pass.row_key = true;
        Ok(Some(pass))
    }

    fn absorb(&mut self, merged: &[u8]) -> Result<Option<String>> {
        let sample = training_sample::decode(merged)?;
        let rows = sample.columns.first().map(|c| c.len()).unwrap_or(0);
        check_rows(&self.setup, rows as u64, sample.null_rows, || "the target or a feature".to_string())?;
        let notice = format!("fitting {} on {rows} rows (of {} training rows)", FitsInOnePlace::name(&self.algorithm), sample.rows_seen);
        self.sample = Some(sample);
        Ok(Some(notice))
    }

    fn finish(self: Box<Self>) -> Result<Fitted> {
        let sample = self.sample.ok_or_else(|| coded("XX000", "training finished before its pass ran"))?;
        let setup = self.setup;
        let offset = usize::from(setup.target.is_some());
        let feature_columns: Vec<ArrayRef> = sample.columns[offset..].to_vec();
        let encodings: Vec<Encoding> = setup
            .features
            .iter()
            .zip(&feature_columns)
            .map(|((_, kind), column)| match kind {
                Kind::Numeric => Encoding::Number,
                Kind::Categorical if self.algorithm.one_hot() => Encoding::OneHot { categories: distinct(column) },
                Kind::Categorical => Encoding::Ordinal { categories: distinct(column) },
            })
            .collect();
        let (labels, classes) = match (setup.task, sample.columns.first()) {
            (Task::Classification, Some(target)) => {
                let classes = distinct(target);
                check_classes(&setup, &classes)?;
                let text = target.as_string::<i32>();
                let y = (0..text.len()).map(|r| classes.binary_search(&text.value(r).to_string()).unwrap_or(0) as u32).collect();
                (Some(Labels::Classes(y, classes.len())), Some(classes))
            }
            (Task::Regression, Some(target)) => (Some(Labels::Values(target.as_primitive::<Float64Type>().values().to_vec())), None),
            _ => (None, None),
        };
        let features: Vec<_> = setup
            .features
            .iter()
            .zip(&encodings)
            .map(|((name, kind), encoding)| crate::ml::features::Feature {
                name: name.clone(),
                data_type: kind.arrow_type(),
                kind: *kind,
                encoding: encoding.clone(),
            })
            .collect();
        let matrix = Matrix::encode(&features, &feature_columns);
        let (params, importance) = self.algorithm.fit(&matrix, labels, &setup)?;
        Ok(Fitted { params, encodings, classes, rows_used: matrix.height() as u64, rows_total: sample.rows_seen, importance })
    }
}

/// The rows of `matrix` as smartcore's matrix type.
pub fn dense(matrix: &Matrix) -> Result<DenseMatrix<f64>> {
    DenseMatrix::new(matrix.height(), matrix.width, matrix.values.clone(), false)
        .map_err(|e| coded("XX000", format!("building the training matrix: {e}")))
}

/// The distinct non-null values of a text column, sorted.
fn distinct(column: &ArrayRef) -> Vec<String> {
    let text = column.as_string::<i32>();
    let mut values: Vec<String> = text.iter().flatten().map(str::to_string).collect();
    values.sort();
    values.dedup();
    values
}
