//! `linear_regression`: least squares (ridge with `l2`) on all training rows, in one distributed
//! pass (two when a feature is categorical: a scan finds its categories first, for its one-hot
//! columns).
//!
//! The pass sums, over the rows, every column `z` of the encoded features followed by the target
//! and every product `z_i z_j`, into exact sums ([`ExactSum`]; a product enters as the two
//! `f64`s that are exactly equal to it), so the sums, and the model, are the same bits however
//! the rows are partitioned; most rows are added as integers on a grid per batch and column,
//! which is as exact and several times faster ([`crate::ml::grid_sum`]). The coordinator centres
//! them (`Σ x_i x_j - Σ x_i Σ x_j / n`, as scikit-learn centres the rows) and solves `(XᵀX + l2·I) w = Xᵀy` by smartcore's SVD, whose
//! pseudo-inverse gives the least-norm solution where features are collinear, as scikit-learn's
//! `lstsq` does. The intercept is not penalized (scikit-learn's Ridge).

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::scan;
use super::{check_rows, encoded_features, from_json, tagged, untagged, Algorithm, Fitted, Pass, Predictor, Setup, Trainer};
use crate::functions::blob_aggregate::{to_json, Partial};
use crate::ml::error::coded;
use crate::ml::exact_sum::ExactSum;
use crate::ml::features::{Encoding, Feature, Matrix};
use crate::ml::grid_sum::{Grid, Wide};
use crate::ml::{importance, least_norm};
use crate::ml::model::{Output, Task};

/// Encoded feature columns (one-hot categories counted) beyond which the sums of products are
/// refused (54000): there are (w + 1)(w + 2) / 2 of them, each an exact sum.
pub const MAX_COLUMNS: usize = 256;

pub struct LinearRegression;

impl Algorithm for LinearRegression {
    fn name(&self) -> &'static str {
        "linear_regression"
    }

    fn options(&self) -> &'static [&'static str] {
        &["l2"]
    }

    fn supports(&self, task: Task) -> bool {
        task == Task::Regression
    }

    fn trainer(&self, setup: Setup) -> Result<Box<dyn Trainer>> {
        let l2 = setup.options.float("l2", 0.0, (0.0, 1e300))?;
        let encodings = scan::encodings_without_scan(&setup);
        Ok(Box::new(Training { setup, l2, encodings, sums: None }))
    }

    fn partial(&self, spec: &[u8]) -> Result<Box<dyn Partial>> {
        Ok(match from_json(spec)? {
            Spec::Scan(names) => scan::partial(names),
            Spec::Products(encodings) => Box::new(ProductsPartial::new(encodings)),
        })
    }

    fn importance(&self) -> super::Importance {
        super::Importance::StandardisedCoefficients
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(untagged::<Linear>(params)?))
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Linear {
    pub coefficients: Vec<f64>,
    pub intercept: f64,
}

impl Linear {
    pub fn predict_row(&self, row: &[f64]) -> f64 {
        self.intercept + row.iter().zip(&self.coefficients).map(|(x, w)| x * w).sum::<f64>()
    }
}

impl Predictor for Linear {
    fn predict(&self, features: &[Feature], columns: &[ArrayRef], _probabilities: bool) -> Result<Output> {
        let matrix = Matrix::encode(features, columns);
        Ok(Output::Values(matrix.rows.iter().map(|at| at.map(|at| self.predict_row(matrix.row(at)))).collect()))
    }
}

/// The passes, as the executors get them.
#[derive(Serialize, Deserialize)]
enum Spec {
    Scan(Vec<String>),
    /// Sums of the columns and their products, the features encoded so.
    Products(Vec<Encoding>),
}

struct Training {
    setup: Setup,
    l2: f64,
    encodings: Option<Vec<Encoding>>,
    sums: Option<Products>,
}

impl Trainer for Training {
    fn next_pass(&mut self) -> Result<Option<Pass>> {
        if self.sums.is_some() {
            return Ok(None);
        }
        let Some(encodings) = &self.encodings else {
            return scan::pass(&self.setup, Spec::Scan);
        };
        let width: usize = encodings.iter().map(Encoding::width).sum();
        if width > MAX_COLUMNS {
            return Err(coded(
                "54000",
                format!(
                    "linear_regression's features encode to {width} columns (each category of a text or boolean feature is one); \
                     squall sums the products of at most {MAX_COLUMNS}"
                ),
            ));
        }
        Pass::new(format!("summing the products of {width} feature columns and the target over all training rows"), &Spec::Products(encodings.clone())).map(Some)
    }

    fn absorb(&mut self, merged: &[u8]) -> Result<Option<String>> {
        if self.encodings.is_none() {
            self.encodings = Some(scan::encodings_from(&self.setup, merged)?.1);
            return Ok(None);
        }
        let sums: Products = if merged.is_empty() { Products::default() } else { from_json(merged)? };
        check_rows(&self.setup, sums.rows, sums.null_rows, || "the target or a feature".to_string())?;
        self.sums = Some(sums);
        Ok(None)
    }

    fn finish(self: Box<Self>) -> Result<Fitted> {
        let (Some(encodings), Some(sums)) = (self.encodings, self.sums) else {
            return Err(coded("XX000", "training finished before its passes ran"));
        };
        let linear = solve(&sums, self.l2)?;
        // Each encoded column's spread over the training rows, from the same exact sums.
        let q = sums.columns.len();
        let stds: Vec<f64> = (0..linear.coefficients.len())
            .map(|i| importance::std_from_sums(sums.rows as f64, sums.columns[i].value(), sums.products[least_norm::upper_triangle(q, i, i)].value()))
            .collect();
        let importance = importance::standardised_coefficients(&encodings, &stds, std::slice::from_ref(&linear.coefficients));
        Ok(Fitted { params: tagged("linear", &linear)?, encodings, classes: None, rows_used: sums.rows, rows_total: sums.rows, importance: Some(importance) })
    }
}

/// The least-squares coefficients from the sums (see the module's comment).
fn solve(sums: &Products, l2: f64) -> Result<Linear> {
    let q = sums.columns.len();
    let p = q - 1;
    let n = sums.rows as f64;
    let total: Vec<f64> = sums.columns.iter().map(ExactSum::value).collect();
    let mean: Vec<f64> = total.iter().map(|s| s / n).collect();
    let centred = |i: usize, j: usize| sums.products[least_norm::upper_triangle(q, i.min(j), i.max(j))].value() - total[i] * total[j] / n;
    let mut gram = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..p {
            gram[i * p + j] = centred(i, j) + if i == j { l2 } else { 0.0 };
        }
    }
    let with_target: Vec<f64> = (0..p).map(|i| centred(i, p)).collect();
    let coefficients = least_norm::solve(p, gram, with_target)
        .map_err(|e| coded("22000", format!("linear_regression could not be solved on these rows: {e}")))?;
    let intercept = mean[p] - coefficients.iter().zip(&mean).map(|(w, m)| w * m).sum::<f64>();
    Ok(Linear { coefficients, intercept })
}

/// The merged state of the products pass: over complete rows, the sum of each column `z` (the
/// encoded features, then the target) and of each product `z_i z_j` (`i <= j`).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Products {
    rows: u64,
    null_rows: u64,
    columns: Vec<ExactSum>,
    products: Vec<ExactSum>,
}

impl Products {
    fn ensure(&mut self, q: usize) {
        if self.columns.is_empty() {
            self.columns = vec![ExactSum::new(); q];
            self.products = vec![ExactSum::new(); q * (q + 1) / 2];
        }
    }

    fn merge(&mut self, other: &Products) {
        self.ensure(other.columns.len());
        self.rows += other.rows;
        self.null_rows += other.null_rows;
        for (a, b) in self.columns.iter_mut().zip(&other.columns) {
            a.merge(b);
        }
        for (a, b) in self.products.iter_mut().zip(&other.products) {
            a.merge(b);
        }
    }
}

#[derive(Debug)]
struct ProductsPartial {
    features: Vec<Feature>,
    sums: Products,
    /// A batch's sums on its grids (see [`crate::ml::grid_sum`]), drained into `sums` after each batch.
    column_grid_sums: Vec<Wide>,
    product_grid_sums: Vec<Wide>,
}

impl ProductsPartial {
    fn new(encodings: Vec<Encoding>) -> ProductsPartial {
        ProductsPartial { features: encoded_features(encodings), sums: Products::default(), column_grid_sums: Vec::new(), product_grid_sums: Vec::new() }
    }
}

impl Products {
    /// Adds one row `z` (the encoded features, then the target) value by value.
    fn add_exactly(&mut self, z: &[f64], nonzero: &mut Vec<usize>) {
        let q = z.len();
        nonzero.clear();
        nonzero.extend((0..q).filter(|i| z[*i] != 0.0));
        for (k, &i) in nonzero.iter().enumerate() {
            self.columns[i].add(z[i]);
            let base = least_norm::upper_triangle(q, i, i);
            for &j in &nonzero[k..] {
                // z_i z_j exactly, as the rounded product and its rounding error.
                let product = z[i] * z[j];
                let error = z[i].mul_add(z[j], -product);
                let sum = &mut self.products[base + (j - i)];
                sum.add(product);
                sum.add(error);
            }
        }
    }
}

impl Partial for ProductsPartial {
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let target = values[0].as_primitive::<Float64Type>();
        let matrix = Matrix::encode(&self.features, &values[1..]);
        let q = matrix.width + 1;
        self.sums.ensure(q);
        // The complete rows, as where their features are and their target.
        let complete: Vec<(usize, f64)> = matrix
            .rows
            .iter()
            .enumerate()
            .filter_map(|(row, at)| at.filter(|_| target.is_valid(row)).map(|at| (at, target.value(row))))
            .collect();
        self.sums.rows += complete.len() as u64;
        self.sums.null_rows += (matrix.rows.len() - complete.len()) as u64;
        let value = |(at, y): (usize, f64), c: usize| if c + 1 < q { matrix.row(at)[c] } else { y };
        let grids: Option<Vec<Grid>> = (0..q).map(|c| Grid::of(complete.iter().map(|r| value(*r, c)))).collect();
        self.column_grid_sums.resize(q, Wide::default());
        self.product_grid_sums.resize(q * (q + 1) / 2, Wide::default());
        let mut z = vec![0.0; q];
        let mut m = vec![0i64; q];
        let mut nonzero = Vec::with_capacity(q);
        for &(at, y) in &complete {
            z[..q - 1].copy_from_slice(matrix.row(at));
            z[q - 1] = y;
            let on_grid = grids.as_ref().is_some_and(|grids| {
                z.iter().zip(grids).zip(m.iter_mut()).all(|((z, grid), m)| grid.integer(*z).map(|i| *m = i).is_some())
            });
            if !on_grid {
                self.sums.add_exactly(&z, &mut nonzero);
                continue;
            }
            for i in 0..q {
                if m[i] == 0 {
                    continue;
                }
                let mi = m[i] as i128;
                self.column_grid_sums[i].add(mi);
                let base = least_norm::upper_triangle(q, i, i);
                for (sum, mj) in self.product_grid_sums[base..base + q - i].iter_mut().zip(&m[i..]) {
                    sum.add(mi * *mj as i128);
                }
            }
        }
        if let Some(grids) = grids {
            for (i, grid) in grids.iter().enumerate() {
                self.column_grid_sums[i].drain_into(&mut self.sums.columns[i], grid.exponent);
                let base = least_norm::upper_triangle(q, i, i);
                for (j, other) in grids.iter().enumerate().skip(i) {
                    self.product_grid_sums[base + j - i].drain_into(&mut self.sums.products[base + j - i], grid.exponent + other.exponent);
                }
            }
        }
        Ok(())
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        self.sums.merge(&from_json(bytes)?);
        Ok(())
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        to_json(&self.sums)
    }

    fn size(&self) -> usize {
        (self.sums.columns.len() + self.sums.products.len()) * 600
    }
}
