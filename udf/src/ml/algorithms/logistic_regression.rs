//! `logistic_regression`: multinomial logistic regression by L-BFGS (smartcore), fitted on
//! gathered rows ([`super::gathered`]). Probabilities come from the coefficients: a sigmoid for
//! two classes, a softmax for more.

use datafusion::arrow::array::ArrayRef;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression as Smartcore, LogisticRegressionParameters};

use super::gathered::{dense, FitsInOnePlace};
use super::{classes_from_probabilities, fit_failed, tagged, untagged, Labels, Predictor, Setup};
use crate::ml::error::coded;
use crate::ml::features::{Feature, Matrix};
use crate::ml::model::{Output, Task};
use crate::ml::options::Options;

#[derive(Clone, Copy)]
pub struct LogisticRegression;

impl FitsInOnePlace for LogisticRegression {
    fn name(&self) -> &'static str {
        "logistic_regression"
    }

    fn options(&self) -> &'static [&'static str] {
        &["alpha"]
    }

    fn supports(&self, task: Task) -> bool {
        task == Task::Classification
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(untagged::<Logistic>(params)?))
    }

    fn one_hot(&self) -> bool {
        true
    }

    fn fit(&self, matrix: &Matrix, labels: Option<Labels>, setup: &Setup) -> Result<(serde_json::Value, Option<Vec<f64>>)> {
        let Some(Labels::Classes(y, k)) = labels else { return Err(coded("XX000", "logistic regression needs classes")) };
        Ok((tagged("logistic", &fit(&dense(matrix)?, &y, k, &setup.options)?)?, None))
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Logistic {
    /// One row per class for more than two classes; one row (for class 1) for two.
    pub coefficients: Vec<Vec<f64>>,
    pub intercepts: Vec<f64>,
    /// Model column → class index (smartcore numbers only the classes it saw).
    pub classes: Vec<u32>,
    pub class_count: usize,
}

pub fn fit(x: &DenseMatrix<f64>, y: &Vec<u32>, class_count: usize, options: &Options) -> Result<Logistic> {
    let alpha = options.float("alpha", 0.0, (0.0, 1e12))?;
    let parameters = LogisticRegressionParameters::default().with_alpha(alpha);
    let model: Smartcore<f64, u32, DenseMatrix<f64>, Vec<u32>> =
        Smartcore::fit(x, y, parameters).map_err(|e| fit_failed("logistic_regression", e))?;
    let (c, b) = (model.coefficients(), model.intercept());
    let (rows, cols) = c.shape();
    Ok(Logistic {
        coefficients: (0..rows).map(|r| (0..cols).map(|j| *c.get((r, j))).collect()).collect(),
        intercepts: (0..rows).map(|r| *b.get((r, 0))).collect(),
        classes: model.classes().clone(),
        class_count,
    })
}

impl Logistic {
    /// Probabilities of every class of the target (not only those smartcore saw).
    pub fn probabilities(&self, row: &[f64]) -> Vec<f64> {
        let z: Vec<f64> = self
            .coefficients
            .iter()
            .zip(&self.intercepts)
            .map(|(w, b)| b + w.iter().zip(row).map(|(w, x)| w * x).sum::<f64>())
            .collect();
        let local: Vec<f64> = if self.classes.len() == 2 {
            let p1 = 1.0 / (1.0 + (-z[0]).exp());
            vec![1.0 - p1, p1]
        } else {
            let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        };
        let mut p = vec![0.0; self.class_count];
        for (class, share) in self.classes.iter().zip(local) {
            p[*class as usize] = share;
        }
        p
    }
}

impl Predictor for Logistic {
    fn predict(&self, features: &[Feature], columns: &[ArrayRef], probabilities: bool) -> Result<Output> {
        let matrix = Matrix::encode(features, columns);
        let per_row = matrix.rows.iter().map(|at| at.map(|at| self.probabilities(matrix.row(at)))).collect();
        Ok(classes_from_probabilities(per_row, probabilities))
    }
}
