//! `linear_regression`: ordinary least squares (smartcore, QR solver). The model is its
//! coefficients and intercept.

use datafusion::error::Result;
use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::linear_regression::{LinearRegression, LinearRegressionParameters, LinearRegressionSolverName};

use super::fit_failed;

pub const OPTIONS: &[&str] = &[];

#[derive(Debug, Serialize, Deserialize)]
pub struct Linear {
    pub coefficients: Vec<f64>,
    pub intercept: f64,
}

pub fn fit(x: &DenseMatrix<f64>, y: &Vec<f64>) -> Result<Linear> {
    let parameters = LinearRegressionParameters::default().with_solver(LinearRegressionSolverName::QR);
    let model: LinearRegression<f64, f64, DenseMatrix<f64>, Vec<f64>> =
        LinearRegression::fit(x, y, parameters).map_err(|e| fit_failed("linear_regression", e))?;
    let c = model.coefficients();
    let coefficients = (0..c.shape().0).map(|i| *c.get((i, 0))).collect();
    Ok(Linear { coefficients, intercept: *model.intercept() })
}

impl Linear {
    pub fn predict_row(&self, row: &[f64]) -> f64 {
        self.intercept + row.iter().zip(&self.coefficients).map(|(x, w)| x * w).sum::<f64>()
    }
}
