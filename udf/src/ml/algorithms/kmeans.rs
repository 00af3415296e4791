//! `kmeans`: smartcore's k-means. The model is its centroids; a row's cluster is the nearest
//! centroid and its anomaly score the distance to it.

use datafusion::error::Result;
use serde::{Deserialize, Serialize};
use smartcore::cluster::kmeans::{KMeans, KMeansParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::fit_failed;
use crate::ml::error::coded;
use crate::ml::options::Options;

pub const OPTIONS: &[&str] = &["k", "max_iter"];

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
