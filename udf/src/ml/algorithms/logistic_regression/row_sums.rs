//! A derivatives pass on the executors: each row's loss, gradient and (for the rows drawn into
//! the Hessian's sample) Hessian at a point, added on fixed integer grids (see the parent
//! module's comment), and the rows a pass brings back for the coordinator's refit. The
//! coordinator runs the same [`RowSums`] over the rows it holds.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::super::{encoded_features, framed, from_json, unframe};
use super::Point;
use crate::functions::blob_aggregate::{to_json, Partial};
use crate::ml::class_index::ClassIndex;
use crate::ml::error::coded;
use crate::ml::features::{Encoding, Feature};
use crate::ml::kept_matrices;
use crate::ml::least_norm::upper_triangle;
use crate::ml::row_hash::{fraction, mix};

/// The fixed grids of the sums (see the module's comment).
const GRADIENT_SCALE: f64 = (1u64 << 51) as f64;
/// `1.5 · 2^52`: a number of at most 2^51 added to it is rounded to an integer, which its bits
/// then hold in their low part (the gradient's terms go to their grid this way, without a
/// checked conversion per term).
const ROUNDING: f64 = 6_755_399_441_055_744.0;
/// Rows whose gradient terms a [`RowSums`] adds in 64 bits before it moves them to the sums: at
/// most 2^51 each, 4,096 of them fit.
const FLUSH_ROWS: usize = 2048;
const LOSS_SCALE: f64 = (1u64 << 52) as f64;
const HESSIAN_SCALE: f64 = (1u64 << 30) as f64;

/// Mixed into a row's key to decide whether a pass brings it back (see `Point::collect_scale`).
const COLLECT_STREAM: u64 = 0x436f_6c6c_6563_74;
/// Mixed into a row's key to decide whether it is in the Hessian's sample.
const HESSIAN_STREAM: u64 = 0x4865_7373_6961_6e;
/// Values below this (2^63) convert to an i64.
const I64_LIMIT: f64 = 9.223372036854775807e18;
/// The grid of the sum of the rows' curvatures (`w`, at most 1 each).
const CURVATURE_SCALE: f64 = (1u64 << 52) as f64;

/// The merged sums of a derivatives pass, on their integer grids (scaled columns).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Derivatives {
    pub(super) rows: u64,
    pub(super) null_rows: u64,
    pub(super) loss: i128,
    pub(super) gradient: Vec<i128>,
    /// The upper triangle, row by row, over the rows of the Hessian's sample, each weighted by
    /// the inverse of its chance to be drawn.
    pub(super) hessian: Vec<i64>,
    /// The sum of every row's curvature `w`, for the next pass's draw.
    #[serde(default)]
    pub(super) curvature: i128,
}

impl Derivatives {
    pub(super) fn ensure(&mut self, parameters: usize) {
        if self.gradient.is_empty() {
            self.gradient = vec![0; parameters];
            self.hessian = vec![0; parameters * (parameters + 1) / 2];
        }
    }

    /// The rows' mean curvature `w`.
    pub(super) fn mean_curvature(&self) -> Option<f64> {
        (self.rows > 0 && self.curvature > 0).then(|| self.curvature as f64 / CURVATURE_SCALE / self.rows as f64)
    }

    pub(super) fn merge(&mut self, other: &Derivatives) {
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
pub(super) struct DerivativesPartial {
    point: Point,
    features: Vec<Feature>,
    classes: ClassIndex,
    sums: Derivatives,
    /// The rows drawn by residual (see `Point::collect_scale`), [`HeldRows::COLLECTED`] layout.
    collected: Vec<f64>,
}

impl DerivativesPartial {
    pub(super) fn new(point: Point) -> DerivativesPartial {
        let features = encoded_features(point.encodings.clone());
        let classes = ClassIndex::new(&point.classes);
        DerivativesPartial { point, features, classes, sums: Derivatives::default(), collected: Vec::new() }
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
        // e^0 is 1 exactly: the largest score's exponential is not computed.
        *p = if *z == max { 1.0 } else { (z - max).exp() };
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
        let features = &values[1..];
        let mut row_sums = RowSums::new(&self.point);
        self.sums.ensure(row_sums.parameters());
        // Numbers without a NULL are their own encoding: read from the columns as they are
        // (no copy of the batch in rows); otherwise encoded (and kept for the next pass).
        let numbers = self.features.iter().all(|f| f.encoding == Encoding::Number) && features.iter().all(|c| c.null_count() == 0);
        let matrix = (!numbers).then(|| kept_matrices::encoded(&self.features, features));
        let columns: Vec<&[f64]> = if numbers { features.iter().map(|c| c.as_primitive::<Float64Type>().values().as_ref()).collect() } else { vec![] };
        let mut row_values = vec![0.0; columns.len()];
        for row in 0..target.len() {
            let values = match &matrix {
                Some(matrix) => matrix.rows[row].map(|at| matrix.row(at)),
                None => {
                    for (value, column) in row_values.iter_mut().zip(&columns) {
                        *value = column[row];
                    }
                    Some(&row_values[..])
                }
            };
            let (Some(values), true) = (values, target.is_valid(row)) else {
                self.sums.null_rows += 1;
                continue;
            };
            let class = self.class_of(target.value(row))?;
            let key = keys.and_then(|keys| keys.is_valid(row).then(|| keys.value(row)));
            row_sums.add(&mut self.sums, values, class, key, 1.0);
            if let (Some(scale), Some(key)) = (self.point.collect_scale, key) {
                let chance = (row_sums.residual_size() * scale).min(1.0);
                if fraction(mix(key.to_bits() ^ COLLECT_STREAM)) < chance {
                    self.collected.extend([key, class as f64, chance]);
                    self.collected.extend_from_slice(values);
                }
            }
        }
        row_sums.flush(&mut self.sums);
        Ok(())
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        let (json, tail) = unframe(bytes)?;
        self.sums.merge(&from_json(json)?);
        self.collected.extend(floats_from(tail));
        Ok(())
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        let tail: Vec<u8> = self.collected.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(framed(to_json(&self.sums)?, &tail))
    }

    fn size(&self) -> usize {
        self.sums.gradient.len() * 16 + self.sums.hessian.len() * 8 + self.collected.len() * 8 + 64
    }
}

/// Adds rows to a [`Derivatives`] at a point: the one computation of a row's terms, on the
/// executors (every row) and in the coordinator (the start's sample).
pub(super) struct RowSums<'a> {
    point: &'a Point,
    /// `1 / scale` per encoded column (the intercept's first).
    inverse_scales: Vec<f64>,
    x: Vec<f64>,
    z: Vec<f64>,
    p: Vec<f64>,
    residual: Vec<f64>,
    /// The gradient terms of the rows added since the last [`RowSums::flush`].
    gradient: Vec<i64>,
    pending: usize,
}

impl<'a> RowSums<'a> {
    pub(super) fn new(point: &'a Point) -> RowSums<'a> {
        let (q, k) = (point.columns(), point.score_rows());
        let inverse_scales = point.scales.iter().map(|s| 1.0 / s).collect();
        RowSums { point, inverse_scales, x: vec![0.0; q], z: vec![0.0; k], p: vec![0.0; k], residual: vec![0.0; k], gradient: vec![0; q * k], pending: 0 }
    }

    /// Moves the gradient terms added so far into `sums` (after the last row, before `sums` is
    /// read).
    pub(super) fn flush(&mut self, sums: &mut Derivatives) {
        for (sum, pending) in sums.gradient.iter_mut().zip(&mut self.gradient) {
            *sum += *pending as i128;
            *pending = 0;
        }
        self.pending = 0;
    }

    pub(super) fn parameters(&self) -> usize {
        self.x.len() * self.z.len()
    }

    /// `Σ|r|` of the row last added: how far its probabilities are from its class.
    pub(super) fn residual_size(&self) -> f64 {
        self.residual.iter().map(|r| r.abs()).sum()
    }

    /// Adds a row of encoded `values` (its columns' own units) of class `class`, its terms times
    /// `weight` (at most 1; 1 for a table's rows); `key` (when the Hessian is summed over a
    /// sample) draws it into the Hessian's sample.
    pub(super) fn add(&mut self, sums: &mut Derivatives, values: &[f64], class: usize, key: Option<f64>, weight: f64) {
        let point = self.point;
        let (q, k) = (self.x.len(), self.z.len());
        sums.rows += 1;
        self.x[0] = 1.0;
        for ((x, value), inverse) in self.x[1..].iter_mut().zip(values).zip(&self.inverse_scales[1..]) {
            *x = value * inverse;
        }
        for (a, z) in self.z.iter_mut().enumerate() {
            *z = point.theta[a * q..(a + 1) * q].iter().zip(&self.x).map(|(t, x)| t * x).sum();
        }
        let loss = row_terms(&self.z, class, &mut self.p, &mut self.residual) * weight;
        // The loss is cut to its grid towards zero (`as`), the same on every node; through i64 when it fits (the same value, without a 128-bit conversion).
        let loss = loss * LOSS_SCALE;
        sums.loss += if loss.abs() < I64_LIMIT { loss as i64 as i128 } else { loss as i128 };
        // Of more than two classes, the last's gradient is left out: a row's residuals sum to
        // zero over the classes, so its sum is minus the others' ([`derivatives`]).
        let summed = if k > 1 { k - 1 } else { 1 };
        for (a, r) in self.residual.iter().enumerate().take(summed) {
            let gradient = &mut self.gradient[a * q..(a + 1) * q];
            let r = r * GRADIENT_SCALE * weight;
            for (g, x) in gradient.iter_mut().zip(&self.x) {
                // |r·x| ≤ 2^51 on the grid: rounded to the nearest integer by the addition.
                *g += ((r * x + ROUNDING).to_bits() as i64).wrapping_sub(ROUNDING.to_bits() as i64);
            }
        }
        self.pending += 1;
        if self.pending == FLUSH_ROWS {
            self.flush(sums);
        }
        let p = &self.p;
        // Weighted: a held row stands for `weight` times the rows of weight 1.
        let curvature = weight * if k == 1 { p[0] * (1.0 - p[0]) } else { p.iter().map(|p| p * (1.0 - p)).sum::<f64>() };
        // At most 1 on a 2^-52 grid: it fits an i64.
        sums.curvature += (curvature * CURVATURE_SCALE) as i64 as i128;
        // Drawn with probability `chance`, its terms weighted by `1 / chance`.
        let chance = if point.hessian_fraction >= 1.0 {
            1.0
        } else {
            match key {
                // Hashed again: `max_training_rows` keeps the rows of the smallest keys.
                Some(key) => {
                    let chance = (curvature * point.hessian_scale).min(1.0);
                    if fraction(mix(key.to_bits() ^ HESSIAN_STREAM)) < chance {
                        chance
                    } else {
                        0.0
                    }
                }
                None => 0.0,
            }
        };
        if chance > 0.0 {
            add_hessian(&mut sums.hessian, &self.x, p, k == 1, weight / chance);
        }
    }
}

/// The `f64`s of little-endian bytes.
pub(super) fn floats_from(bytes: &[u8]) -> impl Iterator<Item = f64> + '_ {
    bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
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

/// `ln(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// The objective at `theta`: the summed loss and the penalty.
pub(super) fn objective(sums: &Derivatives, theta: &[f64], penalties: &[f64]) -> f64 {
    sums.loss as f64 / LOSS_SCALE + 0.5 * theta.iter().zip(penalties).map(|(t, p)| p * t * t).sum::<f64>()
}

/// The objective's gradient and Hessian (`n × n`) at `theta`, from the sums on their grids
/// (`q` columns and `k` rows of coefficients).
pub(super) fn derivatives(sums: &Derivatives, theta: &[f64], penalties: &[f64], q: usize, k: usize) -> (Vec<f64>, Vec<f64>) {
    let n = theta.len();
    let mut summed = sums.gradient.clone();
    if k > 1 {
        // The last class's gradient, left out by the rows (see `RowSums::add`).
        for j in 0..q {
            summed[(k - 1) * q + j] = -(0..k - 1).map(|a| sums.gradient[a * q + j]).sum::<i128>();
        }
    }
    let gradient = (0..n).map(|u| summed[u] as f64 / GRADIENT_SCALE + penalties[u] * theta[u]).collect();
    let mut hessian = vec![0.0; n * n];
    for u in 0..n {
        for v in u..n {
            let h = sums.hessian[upper_triangle(n, u, v)] as f64 / HESSIAN_SCALE;
            hessian[u * n + v] = h;
            hessian[v * n + u] = h;
        }
        hessian[u * n + u] += penalties[u];
    }
    (gradient, hessian)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adding `ROUNDING` rounds a term of at most 2^51 to the nearest integer (ties to even), as
    /// a checked conversion of the rounded value would.
    #[test]
    fn rounding_by_addition_is_round_to_nearest() {
        let edge = GRADIENT_SCALE;
        let mut values = vec![0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, 0.49999999999999994, edge, -edge, edge - 0.5, -(edge - 1.5)];
        values.extend((0..10_000).map(|i| ((i as f64 * 0.618_033_988_75).fract() * 2.0 - 1.0) * edge / (1 + i % 97) as f64));
        for v in values {
            let by_addition = ((v + ROUNDING).to_bits() as i64).wrapping_sub(ROUNDING.to_bits() as i64);
            assert_eq!(by_addition, v.round_ties_even() as i64, "{v}");
        }
    }
}
