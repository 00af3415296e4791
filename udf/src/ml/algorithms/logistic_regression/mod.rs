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
//! value (so each gradient term is at most 1), are put on a fixed grid (2^-51 for the gradient,
//! rounded to the nearest, and 2^-52 for the loss, cut towards zero: as fine as an `f64` for a
//! term of 1; 2^-30 for the Hessian, which only steers the step) and added exactly, so
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
//!
//! The passes start close to the optimum, from fits the coordinator makes of rows it holds
//! (`held_rows`): the scan brings a sample of `start_rows` rows (65,536; those of smallest row
//! key, which do not depend on the partitioning), whose optimum is the first point; the first
//! pass also brings about as many rows drawn by how far their probabilities are from their class (`Σ|r|`, each
//! weighted by the inverse of its chance), whose weighted optimum is where the passes go on from.
//! On nearly separable classes most rows are far from every boundary and add next to nothing,
//! so a uniform sample holds few of the rows that decide the optimum and the second does. At 10M
//! rows this cut the passes from 19 to 4. The coordinator's sums are the executors' own
//! ([`row_sums::RowSums`]), in two halves on two threads (integers: the same bits).
//!
//! The model keeps the objective's Hessian at its coefficients, from which a refresh updates it
//! with new rows alone: [`warm`].

mod held_rows;
mod row_sums;
mod warm;

use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use self::held_rows::HeldRows;
use self::row_sums::{derivatives, floats_from, objective, Derivatives, DerivativesPartial};
use self::warm::{Curvature, Prior, Start};
use super::newton::{Newton, Outcome};
use super::scan;
use super::{check_classes, classes_from_probabilities, from_json, tagged, unframe, untagged, Algorithm, Fitted, Pass, Predictor, Setup, Trainer};
use crate::functions::blob_aggregate::Partial;
use crate::ml::error::coded;
use crate::ml::features::{Encoding, Feature, Matrix};
use crate::ml::model::{Output, Task};

/// Coefficients (intercepts included: classes × (encoded columns + 1), one row of them for two
/// classes) beyond which training is refused (54000): the Hessian has their square over two
/// entries, each summed for every row.
pub const MAX_PARAMETERS: usize = 512;

/// The rows of the sample the start is fitted on, and of them the rows its Hessian is summed
/// over (see the module's comment).
const START_ROWS: usize = 1 << 16;
/// `start_rows` above this is refused (22023): the coordinator holds them.
const MAX_START_ROWS: usize = 1 << 22;
const START_HESSIAN_ROWS: f64 = 4096.0;
/// A fit in the coordinator is a start for the passes, which take it from there: it stops at
/// this step (or `tol`, if larger), or after this many iterations (or `max_iter`, if fewer).
const START_TOL: f64 = 1e-3;
const START_MAX_ITER: usize = 30;

/// `hessian_rows`' default: the Hessian's sample (see the module's comment).
pub const HESSIAN_ROWS: u64 = 1 << 17;

pub struct LogisticRegression;

impl Algorithm for LogisticRegression {
    fn name(&self) -> &'static str {
        "logistic_regression"
    }

    /// `alpha` is `l2`'s older name (smartcore's, whose objective is the same).
    fn options(&self) -> &'static [&'static str] {
        &["l2", "alpha", "max_iter", "tol", "hessian_rows", "start_rows"]
    }

    fn supports(&self, task: Task) -> bool {
        task == Task::Classification
    }

    fn trainer(&self, setup: Setup) -> Result<Box<dyn Trainer>> {
        let name = if setup.options.text("alpha").is_some() { "alpha" } else { "l2" };
        let l2 = setup.options.float(name, 1.0, (0.0, 1e300))?;
        let max_iter = setup.options.integer("max_iter", 100, 1, 10_000)? as usize;
        let tol = setup.options.float("tol", 1e-4, (0.0, 1.0))?;
        let hessian_rows = setup.options.integer("hessian_rows", HESSIAN_ROWS, 1, u64::MAX)?;
        let start_rows = setup.options.integer("start_rows", START_ROWS as u64, 1, MAX_START_ROWS as u64)? as usize;
        let warm = setup.warm.as_ref().map(Start::from_warm).transpose()?;
        Ok(Box::new(Training {
            setup,
            l2,
            max_iter,
            tol,
            hessian_rows,
            start_rows,
            point: None,
            newton: None,
            rows: 0,
            done: false,
            stds: Vec::new(),
            warm,
            prior: None,
            hessian: None,
        }))
    }

    fn partial(&self, spec: &[u8]) -> Result<Box<dyn Partial>> {
        Ok(match from_json(spec)? {
            Spec::Scan(names, sample) => scan::sampling_partial(names, sample),
            Spec::Derivatives(point) => Box::new(DerivativesPartial::new(point)),
        })
    }

    fn importance(&self) -> crate::ml::importance::Importance {
        crate::ml::importance::Importance::StandardisedCoefficients
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
    /// What an update with new rows starts from ([`warm`]); not in models trained before it was
    /// kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Curvature>,
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
    /// The scan, with a sample of this many rows for the start.
    Scan(Vec<String>, usize),
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
    /// When set, the pass also brings back rows drawn by the size of their residuals `Σ|r|`,
    /// each with probability `min(1, Σ|r| · collect_scale)` (see [`Training::refit`]).
    #[serde(default)]
    collect_scale: Option<f64>,
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

    /// Every row's curvature at the first point (every score 0).
    fn first_curvature(&self) -> f64 {
        let k = self.classes.len() as f64;
        if self.classes.len() == 2 {
            0.25
        } else {
            1.0 - 1.0 / k
        }
    }

    /// Draws the next Hessian's rows by the mean curvature `sums` saw.
    fn redraw(&mut self, sums: &Derivatives) {
        if let Some(mean_curvature) = sums.mean_curvature() {
            self.hessian_scale = self.hessian_fraction / mean_curvature;
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

/// The coordinator's side: a scan that brings a sample, Newton iterations on the sample in the
/// coordinator for a start, then Newton iterations over all rows.
struct Training {
    setup: Setup,
    l2: f64,
    max_iter: usize,
    tol: f64,
    /// The most rows the Hessian is summed over (see the module's comment).
    hessian_rows: u64,
    /// The rows of the scan's sample, fitted for the first point.
    start_rows: usize,
    /// After the scan: how the rows are read, and the point being evaluated next.
    point: Option<Point>,
    newton: Option<Newton>,
    /// Rows the last pass read.
    rows: u64,
    done: bool,
    /// Each encoded feature column's standard deviation over the training rows (from the scan),
    /// for the importance.
    stds: Vec<f64>,
    /// The fitted model an update starts from ([`warm`]), and (after the scan) its part of the
    /// objective.
    warm: Option<Start>,
    prior: Option<Prior>,
    /// The objective's Hessian (`n × n`, scaled units) at the last point accepted, which the
    /// model keeps.
    hessian: Option<Vec<f64>>,
}

/// Per encoded column, intercept first (1), what its values are divided by: the largest
/// absolute value the scan found.
fn scales_of(encodings: &[Encoding], found: &scan::Scan) -> Vec<f64> {
    let mut scales = vec![1.0];
    for (i, encoding) in encodings.iter().enumerate() {
        match encoding {
            Encoding::Number => scales.push(found.max_abs.get(i + 1).copied().filter(|m| *m > 0.0 && m.is_finite()).unwrap_or(1.0)),
            other => scales.extend(std::iter::repeat_n(1.0, other.width())),
        }
    }
    scales
}

impl Training {
    /// A sample of about `hessian_rows` of `rows` rows, drawn by curvature (all of them when no more).
    fn hessian_fraction(&self, rows: u64) -> f64 {
        if rows > self.hessian_rows {
            self.hessian_rows as f64 / rows as f64
        } else {
            1.0
        }
    }

    fn start(&mut self, merged: &[u8]) -> Result<String> {
        if self.warm.is_some() {
            return self.start_update(merged);
        }
        let ((found, encodings), sample) = scan::encodings_and_sample_from(&self.setup, merged)?;
        let classes = found.categories_of(0);
        check_classes(&self.setup, &classes)?;
        // The scan read the target first, then the features; one-hot columns are 0 or 1.
        self.stds = encodings.iter().enumerate().flat_map(|(i, encoding)| found.std_of(i + 1, encoding)).collect();
        let scales = scales_of(&encodings, &found);
        let hessian_fraction = self.hessian_fraction(found.rows);
        let mut point = Point { encodings, classes, scales, theta: Vec::new(), hessian_fraction, hessian_scale: 1.0, collect_scale: None };
        point.hessian_scale = hessian_fraction / point.first_curvature();
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
        point.theta = vec![0.0; parameters];
        let notice = match sample {
            Some(sample) => self.fit_sample(&mut point, &sample, found.rows)?,
            None => String::new(),
        };
        self.newton = Some(Newton::new(point.theta.clone(), self.tol, self.max_iter));
        self.point = Some(point);
        Ok(notice)
    }

    /// An update's start ([`warm`]): the fitted model's coefficients, in the scales of the new
    /// rows (whose scan is `merged`), with the earlier rows' part of the objective. No new
    /// training rows leave the model as it is (the one pass finds a zero step).
    fn start_update(&mut self, merged: &[u8]) -> Result<String> {
        let start = self.warm.as_ref().expect("an update");
        let found = scan::found_in(merged)?;
        if found.rows > 0 || found.null_rows > 0 {
            scan::encodings_and_sample_from(&self.setup, merged)?;
        }
        start.check(&self.setup, &found)?;
        let scales = scales_of(&start.encodings, &found);
        let hessian_fraction = self.hessian_fraction(found.rows);
        let prior = start.prior(&scales);
        let mut point = Point {
            encodings: start.encodings.clone(),
            classes: start.classes.clone(),
            scales,
            theta: prior.theta.clone(),
            hessian_fraction,
            hessian_scale: 1.0,
            collect_scale: None,
        };
        point.hessian_scale = hessian_fraction / point.first_curvature();
        self.stds = start.stds.clone();
        self.newton = Some(Newton::new(point.theta.clone(), self.tol, self.max_iter));
        self.point = Some(point);
        self.prior = Some(prior);
        Ok(format!("logistic_regression: updating the model fitted on {} rows with {} new rows, from its coefficients", start.rows, found.rows))
    }

    /// Moves `point` to the optimum of the scan's sample (`rows` being the table's), found in
    /// the coordinator, and sets the first pass to draw rows by residual for [`Training::refit`].
    fn fit_sample(&self, point: &mut Point, sample: &RecordBatch, rows: u64) -> Result<String> {
        let started = Instant::now();
        let held = HeldRows::sample(sample, point);
        // Its loss is the table's times its share of the rows: so is the penalty.
        let share = held.len() as f64 / rows.max(1) as f64;
        let penalties = penalties(self.l2, point, share);
        let held_rows::Fit { theta, iterations, mean_residual, .. } = held_rows::fit(point, &held, &penalties, self.tol, self.max_iter, point.theta.clone())?;
        point.theta = theta;
        // When the sample is not the whole table, the first pass draws about as many rows
        // by the size of their residuals there (a row needs its key to be drawn).
        if share < 1.0 && point.hessian_fraction < 1.0 && mean_residual > 0.0 {
            point.collect_scale = Some(self.start_rows as f64 / (mean_residual * rows as f64));
        }
        Ok(format!(
            "logistic_regression: starting from the optimum of a sample of {} rows ({iterations} Newton iterations in the coordinator, {:.2} s)",
            held.len(),
            started.elapsed().as_secs_f64()
        ))
    }

    /// After the first pass: the rows it drew by residual estimate the table's loss near the
    /// optimum far better than a uniform sample of as many (on nearly separable classes, most
    /// rows are far from every boundary and add almost nothing), so their weighted optimum,
    /// found in the coordinator, is where the passes go on from.
    fn refit(&mut self, collected: Vec<f64>) -> Result<Option<String>> {
        let started = Instant::now();
        let point = self.point.as_ref().expect("scanned");
        let held = HeldRows::collected(collected, point.columns() - 1);
        if held.len() == 0 || self.done {
            return Ok(None);
        }
        // The weights are the inverse chances divided by the largest: the penalty is too.
        let share = held.weights.iter().fold(1.0f64, |m, w| m.min(*w));
        // From the Newton step the pass's gradient gives.
        let from = self.newton.as_ref().expect("scanned").point().to_vec();
        let penalties = penalties(self.l2, point, share);
        let fit = held_rows::fit(point, &held, &penalties, self.tol, self.max_iter, from)?;
        if !fit.converged {
            // A start it could not settle is no better than the Newton step: the passes go on.
            return Ok(Some(format!(
                "logistic_regression: the {} rows it drew by their residuals gave no start in {} Newton iterations ({:.2} s); going on with the step",
                held.len(),
                fit.iterations,
                started.elapsed().as_secs_f64()
            )));
        }
        let (theta, iterations) = (fit.theta, fit.iterations);
        self.newton.as_mut().expect("scanned").restart(theta.clone());
        self.point.as_mut().expect("scanned").theta = theta;
        Ok(Some(format!(
            "logistic_regression: going on from the optimum of the {} rows it drew by their residuals ({iterations} Newton iterations in the coordinator, {:.2} s)",
            held.len(),
            started.elapsed().as_secs_f64()
        )))
    }

    /// Takes the derivatives at the point just evaluated: accepts it (and computes the next
    /// Newton step) or halves the step being tried.
    fn take(&mut self, sums: Derivatives) -> Result<String> {
        let point = self.point.as_mut().expect("scanned");
        let newton = self.newton.as_mut().expect("scanned");
        let mut sums = sums;
        sums.ensure(point.theta.len());
        // An update's penalty is in the earlier rows' part ([`warm`]).
        let penalties = if self.prior.is_some() { vec![0.0; point.theta.len()] } else { penalties(self.l2, point, 1.0) };
        let (q, k) = (point.columns(), point.score_rows());
        let prior = &self.prior;
        let objective = objective(&sums, &point.theta, &penalties) + prior.as_ref().map_or(0.0, |p| p.objective(&point.theta));
        let kept = &mut self.hessian;
        let outcome = newton.take(
            objective,
            || {
                let (mut gradient, mut hessian) = derivatives(&sums, &point.theta, &penalties, q, k);
                if let Some(prior) = prior {
                    prior.add_to(&point.theta, &mut gradient, &mut hessian);
                }
                *kept = Some(hessian.clone());
                (gradient, hessian)
            },
            |step| center_across_classes(step, q, k),
        )?;
        // The next pass draws its Hessian's rows by the curvature seen in this one.
        point.redraw(&sums);
        point.theta = newton.point().to_vec();
        self.rows = sums.rows;
        self.done = outcome.is_done();
        let iteration = newton.iterations;
        Ok(match outcome {
            Outcome::Shrunk { objective, fraction } => {
                format!("logistic_regression: the step raised the loss to {objective:.9}; trying a {fraction} of it")
            }
            Outcome::Stalled => format!("logistic_regression: no step lowers the loss further; stopping at iteration {iteration}"),
            Outcome::Stepped { objective, largest } | Outcome::Converged { objective, largest } => {
                format!("logistic_regression: iteration {iteration}: loss {objective:.9} (penalty included), Newton step {largest:.3e} in scaled units")
            }
            Outcome::Exhausted { objective, largest } => format!(
                "logistic_regression: iteration {iteration}: loss {objective:.9} (penalty included), Newton step {largest:.3e} in scaled units; \
                 stopping after max_iter = {} iterations without converging (the classes may be separable: raise l2)",
                self.max_iter
            ),
        })
    }
}

/// The penalty on each parameter, in scaled units (the intercepts, column 0, are free), times
/// `share`.
fn penalties(l2: f64, point: &Point, share: f64) -> Vec<f64> {
    (0..point.theta.len())
        .map(|u| {
            let j = u % point.columns();
            if j == 0 {
                0.0
            } else {
                share * l2 / (point.scales[j] * point.scales[j])
            }
        })
        .collect()
}

impl Trainer for Training {
    fn next_pass(&mut self) -> Result<Option<Pass>> {
        if self.done {
            return Ok(None);
        }
        let (Some(point), Some(newton)) = (&self.point, &self.newton) else {
            // An update fits nothing in the coordinator: its scan needs no sample.
            let sample = if self.warm.is_some() { 1 } else { self.start_rows };
            return scan::sampling_pass(&self.setup, sample, Spec::Scan);
        };
        let what = match newton.trying() {
            Some(fraction) => format!("iteration {}: the loss at {fraction} of the Newton step", newton.iterations),
            None => format!("iteration {} of at most {}: the loss, its gradient and Hessian", newton.iterations + 1, self.max_iter),
        };
        let sampled = point.hessian_fraction < 1.0;
        let what = if sampled { format!("{what} (the Hessian over a sample of about {} rows)", self.hessian_rows) } else { what };
        let mut pass = Pass::new(what, &Spec::Derivatives(point.clone()))?;
        pass.row_key = sampled;
        Ok(Some(pass))
    }

    fn absorb(&mut self, merged: &[u8]) -> Result<Option<String>> {
        if self.point.is_none() {
            return self.start(merged).map(|notice| Some(notice).filter(|n| !n.is_empty()));
        }
        let (json, tail) = if merged.is_empty() { (&merged[..0], &merged[..0]) } else { unframe(merged)? };
        let sums: Derivatives = if json.is_empty() { Derivatives::default() } else { from_json(json)? };
        let collecting = self.point.as_mut().and_then(|p| p.collect_scale.take()).is_some();
        let notice = self.take(sums)?;
        if collecting {
            if let Some(refit) = self.refit(floats_from(tail).collect())? {
                return Ok(Some(format!("{notice}; {refit}")));
            }
        }
        Ok(Some(notice))
    }

    fn finish(self: Box<Self>) -> Result<Fitted> {
        let (Some(point), Some(true)) = (self.point, self.newton.map(|n| n.iterations > 0)) else {
            return Err(coded("XX000", "training finished before its passes ran"));
        };
        let (q, k) = (point.columns(), point.score_rows());
        // The intercepts, and without a penalty the coefficients, sum to zero across classes,
        // as scikit-learn's solution (from zero) has them.
        let mut theta = point.theta.clone();
        center_across_classes(&mut theta, q, k);
        // Back to the columns' own units.
        let rows: Vec<Vec<f64>> = (0..k).map(|a| (0..q).map(|j| theta[a * q + j] / point.scales[j]).collect()).collect();
        let coefficients: Vec<Vec<f64>> = rows.iter().map(|r| r[1..].to_vec()).collect();
        let importance = crate::ml::importance::standardised_coefficients(&point.encodings, &self.stds, &coefficients);
        let update = self.hessian.as_ref().map(|h| Curvature::from_scaled(h, &point.scales, self.stds.clone()));
        let logistic = Logistic {
            intercepts: rows.iter().map(|r| r[0]).collect(),
            coefficients,
            classes: if k == 1 { vec![0, 1] } else { (0..k as u32).collect() },
            class_count: point.classes.len(),
            update,
        };
        let rows = self.rows + self.warm.as_ref().map_or(0, |w| w.rows);
        Ok(Fitted {
            params: tagged("logistic", &logistic)?,
            encodings: point.encodings,
            classes: Some(point.classes),
            rows_used: rows,
            rows_total: rows,
            importance: Some(importance),
        })
    }
}

