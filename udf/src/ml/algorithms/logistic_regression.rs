//! `logistic_regression`: multinomial logistic regression by L-BFGS (smartcore). Probabilities
//! come from the coefficients: a sigmoid for two classes, a softmax for more.

use datafusion::error::Result;
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

use super::fit_failed;
use crate::ml::options::Options;

pub const OPTIONS: &[&str] = &["alpha"];

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
    let model: LogisticRegression<f64, u32, DenseMatrix<f64>, Vec<u32>> =
        LogisticRegression::fit(x, y, parameters).map_err(|e| fit_failed("logistic_regression", e))?;
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
