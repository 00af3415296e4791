//! Rows the coordinator holds, and the fits it makes of them for a start: the scan's sample, and
//! the rows the first pass drew by their residuals (see the parent module's comment).

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::error::Result;

use super::super::encoded_features;
use super::super::newton::{Newton, Outcome};
use super::row_sums::{derivatives, objective, Derivatives, RowSums};
use super::{center_across_classes, Point, START_HESSIAN_ROWS, START_MAX_ITER, START_TOL};
use crate::ml::class_index::ClassIndex;
use crate::ml::features::Matrix;

/// Rows the coordinator holds and fits: the scan's sample, or the rows a pass drew by residual
/// (each weighted by the inverse of its chance to be drawn, divided by the largest such).
pub(super) struct HeldRows {
    /// Encoded values, `width` per row, in the columns' own units.
    pub(super) values: Vec<f64>,
    pub(super) width: usize,
    pub(super) classes: Vec<usize>,
    pub(super) keys: Vec<f64>,
    pub(super) weights: Vec<f64>,
}

impl HeldRows {
    /// The scan's sample (column 0 the keys, then the target and the features) as `point`
    /// encodes it, each row of weight 1.
    pub(super) fn sample(sample: &RecordBatch, point: &Point) -> HeldRows {
        let columns = sample.columns();
        let keys = columns[0].as_primitive::<Float64Type>();
        let target = columns[1].as_string::<i32>();
        let matrix = Matrix::encode(&encoded_features(point.encodings.clone()), &columns[2..]);
        let class_index = ClassIndex::new(&point.classes);
        let mut held = HeldRows { values: Vec::new(), width: matrix.width, classes: Vec::new(), keys: Vec::new(), weights: Vec::new() };
        for (row, at) in matrix.rows.iter().enumerate() {
            if let (Some(at), Some(class)) = (at, class_index.of(target.value(row))) {
                held.values.extend_from_slice(matrix.row(*at));
                held.classes.push(class);
                held.keys.push(keys.value(row));
                held.weights.push(1.0);
            }
        }
        held
    }

    /// Per collected row: its key, class and chance, then its values.
    const COLLECTED: usize = 3;

    /// The rows a pass collected, ordered by key (the order they arrive in depends on the
    /// partitioning; the fit must not).
    pub(super) fn collected(floats: Vec<f64>, width: usize) -> HeldRows {
        let mut rows: Vec<&[f64]> = floats.chunks_exact(Self::COLLECTED + width).collect();
        rows.sort_by(|a, b| a[0].total_cmp(&b[0]).then_with(|| a.iter().map(|v| v.to_bits()).cmp(b.iter().map(|v| v.to_bits()))));
        let least = rows.iter().map(|r| r[2]).fold(1.0f64, f64::min);
        HeldRows {
            values: rows.iter().flat_map(|r| r[Self::COLLECTED..].iter().copied()).collect(),
            width,
            classes: rows.iter().map(|r| r[1] as usize).collect(),
            keys: rows.iter().map(|r| r[0]).collect(),
            weights: rows.iter().map(|r| least / r[2]).collect(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.classes.len()
    }
}

/// The optimum of `held`'s weighted loss with `penalties`, by Newton's method from `from`
/// (stopping at a step of `tol`, or [`START_TOL`] if larger, or after `max_iter` or
/// [`START_MAX_ITER`] evaluations, whichever is fewer: the passes go on from there).
pub(super) fn fit(point: &Point, held: &HeldRows, penalties: &[f64], tol: f64, max_iter: usize, from: Vec<f64>) -> Result<Fit> {
    let (q, k) = (point.columns(), point.score_rows());
    // Its Hessian, too, over a draw by curvature.
    let mut local = point.clone();
    local.hessian_fraction = (START_HESSIAN_ROWS / held.len().max(1) as f64).min(1.0);
    local.hessian_scale = local.hessian_fraction / local.first_curvature();
    local.collect_scale = None;
    let mut newton = Newton::new(from, tol.max(START_TOL), max_iter);
    // The rows' sums, in two halves on two threads: the sums are integers, so the halves
    // add up to the same bits as one; the residuals' mean adds the halves' in a fixed order.
    let half_sums = |local: &Point, rows: std::ops::Range<usize>| {
        let mut sums = Derivatives::default();
        let mut row_sums = RowSums::new(local);
        sums.ensure(row_sums.parameters());
        let mut residuals = 0.0;
        for row in rows {
            let values = &held.values[row * held.width..(row + 1) * held.width];
            row_sums.add(&mut sums, values, held.classes[row], Some(held.keys[row]), held.weights[row]);
            residuals += row_sums.residual_size();
        }
        row_sums.flush(&mut sums);
        (sums, residuals)
    };
    let sums_at = |local: &Point| {
        let middle = held.len() / 2;
        let ((mut sums, first), (second_sums, second)) = std::thread::scope(|scope| {
            let second = scope.spawn(|| half_sums(local, middle..held.len()));
            let first = half_sums(local, 0..middle);
            (first, second.join().expect("a fit's half does not panic"))
        });
        sums.merge(&second_sums);
        (sums, (first + second) / held.len().max(1) as f64)
    };
    // Every evaluation counts against the bound, halved steps too.
    let mut converged = false;
    for _ in 0..max_iter.min(START_MAX_ITER) {
        local.theta = newton.point().to_vec();
        let (sums, _) = sums_at(&local);
        let objective = objective(&sums, &local.theta, penalties);
        let outcome = newton.take(objective, || derivatives(&sums, &local.theta, penalties, q, k), |step| center_across_classes(step, q, k))?;
        local.redraw(&sums);
        if outcome.is_done() {
            converged = matches!(outcome, Outcome::Converged { .. });
            break;
        }
    }
    local.theta = newton.point().to_vec();
    let (_, mean_residual) = sums_at(&local);
    Ok(Fit { theta: local.theta, iterations: newton.iterations, converged, mean_residual })
}

/// What [`fit`] found.
pub(super) struct Fit {
    pub(super) theta: Vec<f64>,
    /// Points accepted.
    pub(super) iterations: usize,
    /// Whether its last step was within the tolerance.
    pub(super) converged: bool,
    /// The rows' mean `Σ|r|` at `theta`.
    pub(super) mean_residual: f64,
}
