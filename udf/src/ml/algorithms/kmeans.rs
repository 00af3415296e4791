//! `kmeans`: smartcore's k-means, fitted on gathered rows ([`super::gathered`]). The model is
//! its centroids; a row's cluster is the nearest centroid and its anomaly score the distance to
//! it.

use datafusion::arrow::array::ArrayRef;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};
use smartcore::cluster::kmeans::{KMeans, KMeansParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::gathered::{dense, FitsInOnePlace};
use super::{fit_failed, tagged, untagged, Labels, Predictor, Setup};
use crate::ml::error::coded;
use crate::ml::features::{Feature, Matrix};
use crate::ml::model::{Output, Task};
use crate::ml::options::Options;

#[derive(Clone, Copy)]
pub struct Kmeans;

impl FitsInOnePlace for Kmeans {
    fn name(&self) -> &'static str {
        "kmeans"
    }

    fn options(&self) -> &'static [&'static str] {
        &["k", "max_iter"]
    }

    fn supports(&self, task: Task) -> bool {
        task == Task::Clustering
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(untagged::<Centroids>(params)?))
    }

    fn one_hot(&self) -> bool {
        true
    }

    fn fit(&self, matrix: &Matrix, _labels: Option<Labels>, setup: &Setup) -> Result<(serde_json::Value, Option<Vec<f64>>)> {
        Ok((tagged("kmeans", &fit(&dense(matrix)?, matrix.height(), &setup.options)?)?, None))
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Centroids {
    pub centroids: Vec<Vec<f64>>,
}

pub fn fit(x: &DenseMatrix<f64>, rows: usize, options: &Options) -> Result<Centroids> {
    let k = options.integer("k", 2, 2, 100_000)? as usize;
    let max_iter = options.integer("max_iter", 100, 1, 1_000_000)? as usize;
    if rows < k {
        // smartcore would leave clusters empty (NaN centroids) or panic on no rows at all.
        return Err(coded("22000", format!("kmeans with k = {k} needs at least {k} rows, the query gave {rows}")));
    }
    let parameters = KMeansParameters { k, max_iter, seed: Some(options.seed()?) };
    let model: KMeans<f64, u32, DenseMatrix<f64>, Vec<u32>> =
        KMeans::fit(x, parameters).map_err(|e| fit_failed("kmeans", e))?;
    let centroids = serde_json::from_value(serde_json::to_value(&model).unwrap_or_default()["centroids"].clone())
        .map_err(|e| coded("XX000", format!("reading k-means centroids: {e}")))?;
    Ok(Centroids { centroids })
}

impl Centroids {
    /// The nearest centroid and the distance to it.
    pub fn nearest(&self, row: &[f64]) -> (usize, f64) {
        let mut best = (0, f64::INFINITY);
        for (i, c) in self.centroids.iter().enumerate() {
            let d: f64 = c.iter().zip(row).map(|(a, b)| (a - b) * (a - b)).sum();
            if d < best.1 {
                best = (i, d);
            }
        }
        (best.0, best.1.sqrt())
    }
}

impl Predictor for Centroids {
    fn predict(&self, features: &[Feature], columns: &[ArrayRef], _probabilities: bool) -> Result<Output> {
        let matrix = Matrix::encode(features, columns);
        let nearest: Vec<Option<(usize, f64)>> = matrix.rows.iter().map(|at| at.map(|at| self.nearest(matrix.row(at)))).collect();
        Ok(Output::Clusters { cluster: nearest.iter().map(|n| n.map(|n| n.0)).collect(), distance: nearest.iter().map(|n| n.map(|n| n.1)).collect() })
    }

    fn has_score(&self) -> bool {
        true
    }

    fn score(&self, features: &[Feature], columns: &[ArrayRef]) -> Option<Result<Vec<Option<f64>>>> {
        Some(self.predict(features, columns, false).map(|output| match output {
            Output::Clusters { distance, .. } => distance,
            _ => unreachable!("k-means predicts clusters"),
        }))
    }
}
