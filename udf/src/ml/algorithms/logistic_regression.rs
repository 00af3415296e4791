//! `logistic_regression`: multinomial logistic regression (a sigmoid for two classes, a softmax
//! for more, as scikit-learn's LogisticRegression) with an L2 penalty, trained on all rows by
//! Newton's method. A scan finds the classes, the categories of text features and each
//! column's largest absolute value; then each iteration is one distributed pass in which the
//! executors compute, at the coefficients the coordinator sent, every row's class
//! probabilities and sum the loss, its gradient and its Hessian; the coordinator solves for the
//! Newton step and sends the next coefficients.
//!
//! The objective is scikit-learn's: `Σ loss + l2/2 · Σ w²` over the coefficients but not the
//! intercepts, so `l2 = 1 / C` (`C = 1`, scikit-learn's default, is `l2 = 1`). Newton's method
//! converges in a handful of passes (quadratically near the optimum), where L-BFGS on gradient
//! passes alone would need dozens; a step that does not lower the loss enough is halved
//! (Armijo's rule) and evaluated again.
//!
//! The sums are integers: each row's terms, with every column divided by its largest absolute
//! value, are cut (towards zero) to a fixed grid (2^-62 for the gradient and 2^-52 for the loss,
//! as fine as an `f64`; 2^-30 for the Hessian, which only steers the step) and added exactly, so
//! the merged sums, the steps and the model are the same bits however the rows are partitioned.
//! The optimum is where the gradient vanishes, and the gradient is the sum of `f64`-exact terms:
//! the coarse Hessian costs at most an iteration, not accuracy.
//!
//! The gradient and the loss are summed over every row; the Hessian, whose terms cost the square
//! of the coefficients per row (561 for three classes of ten features, against 33 for the
//! gradient), over a sample of about `hessian_rows` of them (262,144 by default). This is
//! sub-sampled Newton (Byrd, Chin, Neveitt and Nocedal, 2011; Roosta-Khorasani and Mahoney,
//! 2016): the step points where the exact one does to within the sample's error, so iterations
//! still close in on the optimum, which is the same, the gradient's. The sample is by
//! importance, as those papers recommend: a row is drawn with probability proportional to its
//! curvature `w = Σ p_a (1 - p_a)` (capped at 1) and its terms weighted by the inverse, so rows
//! far from the decision boundary (whose terms are nearly 0) are rarely drawn and rows near it
//! nearly always — on nearly separable classes the boundary's few rows are the whole Hessian. The
//! draw is a seeded hash of the row's values against that probability, so the sample too does
//! not depend on the partitioning; the proportion comes from the previous pass's mean
//! curvature. Below `hessian_rows` rows every row is in it and the method is Newton's.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::scan;
use super::{check_classes, classes_from_probabilities, encoded_features, from_json, tagged, untagged, Algorithm, Fitted, Pass, Predictor, Setup, Trainer};
use crate::functions::blob_aggregate::{to_json, Partial};
use crate::ml::class_index::ClassIndex;
use crate::ml::error::coded;
use crate::ml::features::{Encoding, Feature, Matrix};
use crate::ml::least_norm::{self, upper_triangle};
use crate::ml::model::{Output, Task};
use crate::ml::row_hash::{fraction, mix};

/// Coefficients (intercepts included: classes × (encoded columns + 1), one row of them for two
/// classes) beyond which training is refused (54000): the Hessian has their square over two
/// entries, each summed for every row.
pub const MAX_PARAMETERS: usize = 512;

/// The fixed grids of the sums (see the module's comment).
const GRADIENT_SCALE: f64 = (1u64 << 62) as f64;
const LOSS_SCALE: f64 = (1u64 << 52) as f64;
const HESSIAN_SCALE: f64 = (1u64 << 30) as f64;

/// `hessian_rows`' default: the Hessian's sample (see the module's comment).
pub const HESSIAN_ROWS: u64 = 1 << 18;
/// Mixed into a row's key to decide whether it is in the Hessian's sample.
const HESSIAN_STREAM: u64 = 0x4865_7373_6961_6e;
/// The grid of the sum of the rows' curvatures (`w`, at most 1 each).
const CURVATURE_SCALE: f64 = (1u64 << 52) as f64;

pub struct LogisticRegression;

impl Algorithm for LogisticRegression {
    fn name(&self) -> &'static str {
        "logistic_regression"
    }

    /// `alpha` is `l2`'s older name (smartcore's, whose objective is the same).
    fn options(&self) -> &'static [&'static str] {
        &["l2", "alpha", "max_iter", "tol", "hessian_rows"]
    }

    fn supports(&self, task: Task) -> bool {
        task == Task::Classification
    }

    fn trainer(&self, setup: Setup) -> Result<Box<dyn Trainer>> {
        let name = if setup.options.text("alpha").is_some() { "alpha" } else { "l2" };
        let l2 = setup.options.float(name, 1.0, (0.0, 1e300))?;
        let max_iter = setup.options.integer("max_iter", 100, 1, 10_000)? as usize;
        let tol = setup.options.float("tol", 1e-10, (0.0, 1.0))?;
        let hessian_rows = setup.options.integer("hessian_rows", HESSIAN_ROWS, 1, u64::MAX)?;
        Ok(Box::new(Training { setup, l2, max_iter, tol, hessian_rows, model: None, at: None, iterations: 0, done: false }))
    }

    fn partial(&self, spec: &[u8]) -> Result<Box<dyn Partial>> {
        Ok(match from_json(spec)? {
            Spec::Scan(names) => scan::partial(names),
            Spec::Derivatives(point) => Box::new(DerivativesPartial::new(point)),
        })
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(untagged::<Logistic>(params)?))
    }
}

/// The fitted parameters, as model files keep them.
#[derive(Debug, Serialize, Deserialize)]
pub struct Logistic {
    /// One row per class for more than two classes; one row (for the second class) for two.
    pub coefficients: Vec<Vec<f64>>,
    pub intercepts: Vec<f64>,
    /// Model row → class index (models trained by smartcore numbered only the classes it saw).
    pub classes: Vec<u32>,
    pub class_count: usize,
}

impl Logistic {
    /// Probabilities of every class of the target.
    pub fn probabilities(&self, row: &[f64]) -> Vec<f64> {
        let z: Vec<f64> = self
            .coefficients
            .iter()
            .zip(&self.intercepts)
            .map(|(w, b)| b + w.iter().zip(row).map(|(w, x)| w * x).sum::<f64>())
            .collect();
        let local = if self.classes.len() == 2 { sigmoid_pair(z[0]) } else { softmax(&z) };
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

fn sigmoid_pair(z: f64) -> Vec<f64> {
    let p1 = 1.0 / (1.0 + (-z).exp());
    vec![1.0 - p1, p1]
}

fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// The passes, as the executors get them.
#[derive(Serialize, Deserialize)]
enum Spec {
    Scan(Vec<String>),
    /// The loss and its derivatives at a point.
    Derivatives(Point),
}

/// Where the derivatives are taken, and how the rows are read.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Point {
    encodings: Vec<Encoding>,
    classes: Vec<String>,
    /// Per encoded column, intercept first (1), the largest absolute value: rows are divided by
    /// it before their terms are rounded to the sums' grids.
    scales: Vec<f64>,
    /// Row by row (one per class, or one for two classes): the intercept, then the
    /// coefficients, in the scaled columns' units (a coefficient times its column's scale).
    theta: Vec<f64>,
    /// The share of the rows the Hessian's sample is to hold (1: every row, and the pass reads
    /// no key).
    hessian_fraction: f64,
    /// A row of curvature `w` is drawn into the sample with probability `min(1, w ·
    /// hessian_scale)`: the share over the mean curvature.
    hessian_scale: f64,
}

impl Point {
    fn columns(&self) -> usize {
        self.scales.len()
    }

    /// Rows of coefficients: one for two classes, else one per class.
    fn score_rows(&self) -> usize {
        if self.classes.len() == 2 {
            1
        } else {
            self.classes.len()
        }
    }
}

/// The merged sums of a derivatives pass, on their integer grids (scaled columns).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Derivatives {
    rows: u64,
    null_rows: u64,
    loss: i128,
    gradient: Vec<i128>,
    /// The upper triangle, row by row, over the rows of the Hessian's sample, each weighted by
    /// the inverse of its chance to be drawn.
    hessian: Vec<i64>,
    /// The sum of every row's curvature `w`, for the next pass's draw.
    #[serde(default)]
    curvature: i128,
}

impl Derivatives {
    fn ensure(&mut self, parameters: usize) {
        if self.gradient.is_empty() {
            self.gradient = vec![0; parameters];
            self.hessian = vec![0; parameters * (parameters + 1) / 2];
        }
    }

    fn merge(&mut self, other: &Derivatives) {
        self.ensure(other.gradient.len());
        self.rows += other.rows;
        self.null_rows += other.null_rows;
        self.curvature += other.curvature;
        self.loss += other.loss;
        for (a, b) in self.gradient.iter_mut().zip(&other.gradient) {
            *a += b;
        }
        for (a, b) in self.hessian.iter_mut().zip(&other.hessian) {
            *a += b;
        }
    }
}

#[derive(Debug)]
struct DerivativesPartial {
    point: Point,
    features: Vec<Feature>,
    classes: ClassIndex,
    sums: Derivatives,
}

impl DerivativesPartial {
    fn new(point: Point) -> DerivativesPartial {
        let features = encoded_features(point.encodings.clone());
        let classes = ClassIndex::new(&point.classes);
        DerivativesPartial { point, features, classes, sums: Derivatives::default() }
    }

    /// The class numbered as the scan found it (a class it did not see cannot come: it read the
    /// same rows).
    fn class_of(&self, value: &str) -> Result<usize> {
        self.classes.of(value).ok_or_else(|| coded("XX000", "a training row's class was not among the scan's"))
    }
}

/// One row's loss at scores `z`, with `residual` set to the loss's derivative by each score
/// (probability minus indicator of the row's class) and `p` to the probabilities.
fn row_terms(z: &[f64], class: usize, p: &mut [f64], residual: &mut [f64]) -> f64 {
    if z.len() == 1 {
        // Two classes: the second class's log-odds.
        p[0] = 1.0 / (1.0 + (-z[0]).exp());
        let y = if class == 1 { 1.0 } else { 0.0 };
        residual[0] = p[0] - y;
        return softplus(z[0]) - y * z[0];
    }
    let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    for (p, z) in p.iter_mut().zip(z) {
        *p = (z - max).exp();
    }
    let total: f64 = p.iter().sum();
    for (a, p) in p.iter_mut().enumerate() {
        *p /= total;
        residual[a] = *p - if a == class { 1.0 } else { 0.0 };
    }
    max + total.ln() - z[class]
}

impl Partial for DerivativesPartial {
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        // The row key comes first when the Hessian is summed over a sample.
        let (keys, values) = if self.point.hessian_fraction < 1.0 {
            (Some(values[0].as_primitive::<Float64Type>()), &values[1..])
        } else {
            (None, values)
        };
        let target = values[0].as_string::<i32>();
        let matrix = Matrix::encode(&self.features, &values[1..]);
        let q = self.point.columns();
        let k = self.point.score_rows();
        let parameters = q * k;
        self.sums.ensure(parameters);
        let mut x = vec![0.0; q];
        let mut z = vec![0.0; k];
        let mut p = vec![0.0; k];
        let mut residual = vec![0.0; k];
        for (row, at) in matrix.rows.iter().enumerate() {
            let (Some(at), true) = (at, target.is_valid(row)) else {
                self.sums.null_rows += 1;
                continue;
            };
            let class = self.class_of(target.value(row))?;
            self.sums.rows += 1;
            x[0] = 1.0;
            for (j, value) in matrix.row(*at).iter().enumerate() {
                x[j + 1] = value / self.point.scales[j + 1];
            }
            for (a, z) in z.iter_mut().enumerate() {
                *z = self.point.theta[a * q..(a + 1) * q].iter().zip(&x).map(|(t, x)| t * x).sum();
            }
            let loss = row_terms(&z, class, &mut p, &mut residual);
            // Each term is cut to its grid towards zero (`as`), the same on every node.
            self.sums.loss += (loss * LOSS_SCALE) as i128;
            for (a, r) in residual.iter().enumerate() {
                let gradient = &mut self.sums.gradient[a * q..(a + 1) * q];
                for (g, x) in gradient.iter_mut().zip(&x) {
                    *g += (r * x * GRADIENT_SCALE) as i64 as i128;
                }
            }
            let curvature = if k == 1 { p[0] * (1.0 - p[0]) } else { p.iter().map(|p| p * (1.0 - p)).sum() };
            self.sums.curvature += (curvature * CURVATURE_SCALE) as i128;
            // Drawn with probability `chance`, its terms weighted by `1 / chance`.
            let chance = match keys {
                None => 1.0,
                // Hashed again: `max_training_rows` keeps the rows of the smallest keys.
                Some(keys) if keys.is_valid(row) => {
                    let chance = (curvature * self.point.hessian_scale).min(1.0);
                    if fraction(mix(keys.value(row).to_bits() ^ HESSIAN_STREAM)) < chance {
                        chance
                    } else {
                        0.0
                    }
                }
                Some(_) => 0.0,
            };
            if chance > 0.0 {
                add_hessian(&mut self.sums.hessian, &x, &p, k == 1, 1.0 / chance);
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
        self.sums.gradient.len() * 16 + self.sums.hessian.len() * 8 + 64
    }
}

/// Adds one row's Hessian (its upper triangle, row by row, parameters numbered class by class
/// then column by column) at probabilities `p`: for classes `a`, `b` and columns `j`, `l`,
/// `p_a (δ_ab - p_b) x_j x_l`, or `p (1 - p) x_j x_l` for the one score of two classes, times
/// `weight`.
fn add_hessian(hessian: &mut [i64], x: &[f64], p: &[f64], two_classes: bool, weight: f64) {
    let q = x.len();
    let k = p.len();
    let n = q * k;
    for a in 0..k {
        for (j, xj) in x.iter().enumerate() {
            if *xj == 0.0 {
                continue;
            }
            let u = a * q + j;
            // Entry (u, v) of the triangle is at `row + v`.
            let row = upper_triangle(n, u, u) - u;
            for b in a..k {
                let curvature = if two_classes {
                    p[0] * (1.0 - p[0])
                } else {
                    p[a] * (if a == b { 1.0 } else { 0.0 } - p[b])
                };
                let factor = curvature * weight * xj;
                let first = if a == b { j } else { 0 };
                let entries = &mut hessian[row + b * q + first..row + (b + 1) * q];
                for (h, xl) in entries.iter_mut().zip(&x[first..]) {
                    *h += (factor * xl * HESSIAN_SCALE) as i64;
                }
            }
        }
    }
}

/// A softmax is the same when every class's score moves alike, so for more than two classes
/// (`rows > 1`) the parameters are kept summing to zero across classes, column by column: the
/// Newton step's part that moves them all alike is an artefact of the Hessian being singular in
/// that direction (and the penalty's gradient keeps the optimum there).
fn center_across_classes(parameters: &mut [f64], columns: usize, rows: usize) {
    if rows < 2 {
        return;
    }
    for j in 0..columns {
        let mean = (0..rows).map(|a| parameters[a * columns + j]).sum::<f64>() / rows as f64;
        (0..rows).for_each(|a| parameters[a * columns + j] -= mean);
    }
}

/// `ln(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// The coordinator's side: a scan, then Newton iterations.
struct Training {
    setup: Setup,
    l2: f64,
    max_iter: usize,
    tol: f64,
    /// The most rows the Hessian is summed over (see the module's comment).
    hessian_rows: u64,
    /// After the scan: how the rows are read, and the point being evaluated next.
    model: Option<Point>,
    /// The last point accepted, with its derivatives, and the step being tried from it.
    at: Option<Accepted>,
    iterations: usize,
    done: bool,
}

struct Accepted {
    theta: Vec<f64>,
    objective: f64,
    /// The Newton step (to subtract), its decrement `gradient · step`, and the fraction of it
    /// being tried.
    step: Vec<f64>,
    decrement: f64,
    fraction: f64,
    rows: u64,
}

impl Training {
    /// The penalty on a parameter, in scaled units: the intercepts (column 0) are free.
    fn penalty(&self, point: &Point, u: usize) -> f64 {
        let j = u % point.columns();
        if j == 0 {
            0.0
        } else {
            self.l2 / (point.scales[j] * point.scales[j])
        }
    }

    fn start(&mut self, merged: &[u8]) -> Result<()> {
        let (found, encodings) = scan::encodings_from(&self.setup, merged)?;
        let classes = found.categories_of(0);
        check_classes(&self.setup, &classes)?;
        // The scan read the target first, then the features; one-hot columns are 0 or 1.
        let mut scales = vec![1.0];
        for (i, encoding) in encodings.iter().enumerate() {
            match encoding {
                Encoding::Number => scales.push(Some(found.max_abs[i + 1]).filter(|m| *m > 0.0 && m.is_finite()).unwrap_or(1.0)),
                other => scales.extend(std::iter::repeat_n(1.0, other.width())),
            }
        }
        // A sample of about `hessian_rows` of the rows, drawn by curvature (all of them when no more).
        let hessian_fraction = if found.rows > self.hessian_rows { self.hessian_rows as f64 / found.rows as f64 } else { 1.0 };
        // At the first point (every score 0) every row has the same curvature.
        let k = classes.len() as f64;
        let first_curvature = if classes.len() == 2 { 0.25 } else { 1.0 - 1.0 / k };
        let hessian_scale = hessian_fraction / first_curvature;
        let point = Point { encodings, classes, scales, theta: Vec::new(), hessian_fraction, hessian_scale };
        let parameters = point.columns() * point.score_rows();
        if parameters > MAX_PARAMETERS {
            return Err(coded(
                "54000",
                format!(
                    "logistic_regression would fit {parameters} coefficients ({} classes × {} encoded feature columns and an intercept; \
                     each category of a text or boolean feature is a column); squall fits at most {MAX_PARAMETERS}",
                    point.classes.len(),
                    point.columns() - 1
                ),
            ));
        }
        self.model = Some(Point { theta: vec![0.0; parameters], ..point });
        Ok(())
    }

    /// Takes the derivatives at the point just evaluated: accepts it (and computes the next
    /// Newton step) or halves the step being tried.
    fn take(&mut self, sums: Derivatives) -> Result<String> {
        // The next pass draws its Hessian's rows by the curvature seen in this one.
        if sums.rows > 0 && sums.curvature > 0 {
            let mean_curvature = sums.curvature as f64 / CURVATURE_SCALE / sums.rows as f64;
            let model = self.model.as_mut().expect("scanned");
            model.hessian_scale = model.hessian_fraction / mean_curvature;
        }
        let point = self.model.as_ref().expect("scanned");
        let n = point.theta.len();
        let penalties: Vec<f64> = (0..n).map(|u| self.penalty(point, u)).collect();
        let objective =
            sums.loss as f64 / LOSS_SCALE + 0.5 * point.theta.iter().zip(&penalties).map(|(t, p)| p * t * t).sum::<f64>();
        if let Some(at) = &mut self.at {
            // Armijo's rule, with room for the last bits of the loss's rounding near the optimum.
            let enough = at.objective - 1e-4 * at.fraction * at.decrement + 1e-12 * (1.0 + at.objective.abs());
            if objective > enough || !objective.is_finite() {
                at.fraction /= 2.0;
                if at.fraction < 1e-10 {
                    self.done = true;
                    self.model.as_mut().expect("scanned").theta = at.theta.clone();
                    return Ok(format!("logistic_regression: no step lowers the loss further; stopping at iteration {}", self.iterations));
                }
                let trial = at.theta.iter().zip(&at.step).map(|(t, s)| t - at.fraction * s).collect();
                self.model.as_mut().expect("scanned").theta = trial;
                return Ok(format!("logistic_regression: the step raised the loss to {objective:.9}; trying a {} of it", at.fraction));
            }
        }
        self.iterations += 1;
        let gradient: Vec<f64> =
            (0..n).map(|u| sums.gradient[u] as f64 / GRADIENT_SCALE + penalties[u] * point.theta[u]).collect();
        let mut hessian = vec![0.0; n * n];
        for u in 0..n {
            for v in u..n {
                let h = sums.hessian[upper_triangle(n, u, v)] as f64 / HESSIAN_SCALE;
                hessian[u * n + v] = h;
                hessian[v * n + u] = h;
            }
            hessian[u * n + u] += penalties[u];
        }
        let mut step = least_norm::solve(n, hessian, gradient.clone())
            .map_err(|e| coded("22000", format!("logistic_regression could not take a Newton step on these rows: {e}")))?;
        center_across_classes(&mut step, point.columns(), point.score_rows());
        let decrement: f64 = gradient.iter().zip(&step).map(|(g, s)| g * s).sum();
        let largest = step.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        let theta = point.theta.clone();
        let notice = format!(
            "logistic_regression: iteration {}: loss {objective:.9} (penalty included), Newton step {largest:.3e} in scaled units",
            self.iterations
        );
        let model = self.model.as_mut().expect("scanned");
        if largest <= self.tol {
            // Converged: the full step is as good as the point after it.
            model.theta = theta.iter().zip(&step).map(|(t, s)| t - s).collect();
            self.done = true;
        } else if self.iterations >= self.max_iter {
            model.theta = theta.clone();
            self.done = true;
            return Ok(format!(
                "{notice}; stopping after max_iter = {} iterations without converging (the classes may be separable: raise l2)",
                self.max_iter
            ));
        } else {
            model.theta = theta.iter().zip(&step).map(|(t, s)| t - s).collect();
        }
        self.at = Some(Accepted { theta, objective, step, decrement, fraction: 1.0, rows: sums.rows });
        Ok(notice)
    }
}

impl Trainer for Training {
    fn next_pass(&mut self) -> Result<Option<Pass>> {
        if self.done {
            return Ok(None);
        }
        let Some(point) = &self.model else {
            return scan::pass(&self.setup, Spec::Scan);
        };
        let what = match &self.at {
            Some(at) if at.fraction < 1.0 => format!("iteration {}: the loss at {} of the Newton step", self.iterations, at.fraction),
            _ => format!("iteration {} of at most {}: the loss, its gradient and Hessian", self.iterations + 1, self.max_iter),
        };
        let sampled = point.hessian_fraction < 1.0;
        let what = if sampled { format!("{what} (the Hessian over a sample of about {} rows)", self.hessian_rows) } else { what };
        let mut pass = Pass::new(what, &Spec::Derivatives(point.clone()))?;
        pass.row_key = sampled;
        Ok(Some(pass))
    }

    fn absorb(&mut self, merged: &[u8]) -> Result<Option<String>> {
        if self.model.is_none() {
            self.start(merged)?;
            return Ok(None);
        }
        let sums: Derivatives = if merged.is_empty() { Derivatives::default() } else { from_json(merged)? };
        self.take(sums).map(Some)
    }

    fn finish(self: Box<Self>) -> Result<Fitted> {
        let (Some(point), Some(at)) = (self.model, self.at) else {
            return Err(coded("XX000", "training finished before its passes ran"));
        };
        let (q, k) = (point.columns(), point.score_rows());
        // The intercepts, and without a penalty the coefficients, sum to zero across classes,
        // as scikit-learn's solution (from zero) has them.
        let mut theta = point.theta.clone();
        center_across_classes(&mut theta, q, k);
        // Back to the columns' own units.
        let rows: Vec<Vec<f64>> = (0..k).map(|a| (0..q).map(|j| theta[a * q + j] / point.scales[j]).collect()).collect();
        let logistic = Logistic {
            intercepts: rows.iter().map(|r| r[0]).collect(),
            coefficients: rows.iter().map(|r| r[1..].to_vec()).collect(),
            classes: if k == 1 { vec![0, 1] } else { (0..k as u32).collect() },
            class_count: point.classes.len(),
        };
        Ok(Fitted {
            params: tagged("logistic", &logistic)?,
            encodings: point.encodings,
            classes: Some(point.classes),
            rows_used: at.rows,
            rows_total: at.rows,
            importance: None,
        })
    }
}
