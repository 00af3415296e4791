//! The algorithms trained on sampled rows with smartcore, one file each: each turns an encoded
//! matrix and labels into fitted parameters, and fitted parameters plus rows into predictions.
//! Naive Bayes is not here: it trains from merged statistics (see `ml::naive_bayes`).

pub mod decision_tree;
pub mod kmeans;
pub mod linear_regression;
pub mod logistic_regression;
pub mod random_forest;
pub mod tree_walk;

use datafusion::error::Result;
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::error::coded;
use super::features::Matrix;

/// What a supervised algorithm learns from.
pub enum Labels {
    /// Class indices into the target's classes.
    Classes(Vec<u32>, usize),
    Values(Vec<f64>),
}

/// The rows of `matrix` as smartcore's matrix type.
pub fn dense(matrix: &Matrix) -> Result<DenseMatrix<f64>> {
    DenseMatrix::new(matrix.height(), matrix.width, matrix.values.clone(), false)
        .map_err(|e| coded("XX000", format!("building the training matrix: {e}")))
}

/// smartcore's failures during fitting, as 22000 (the data cannot make this model).
pub fn fit_failed(algorithm: &str, e: impl std::fmt::Display) -> datafusion::error::DataFusionError {
    coded("22000", format!("{algorithm} could not be trained on these rows: {e}"))
}
