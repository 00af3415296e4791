//! Updating a fitted logistic regression with new rows only (a refresh, [`Setup::warm`]): a
//! warm-started Newton update, the second-order (Laplace) form of online learning.
//!
//! Training on all rows minimises `L_old(w) + L_new(w) + l2/2 · |w|²`. At the fitted
//! coefficients `w₀` the old part's gradient vanishes, so near them it is the quadratic
//! `½ (w − w₀)ᵀ A (w − w₀)` (plus a constant), `A` being its Hessian at `w₀`, penalty included.
//! The update minimises `L_new(w) + ½ (w − w₀)ᵀ A (w − w₀)` by the same Newton passes as
//! training, over the new rows alone and starting from `w₀`; the model then keeps
//! `A + H_new(w₁)` for the next update. The old rows are never read again, and the cost of an
//! update is that of the new rows.
//!
//! It is exact when the old rows' loss is quadratic, and close when the coefficients move little
//! (many rows before, a batch that does not contradict them); it is not the model training on all
//! rows would give, and drifts from it as updates add up, which a full retrain (`TRAIN MODEL`,
//! or an interval refresh) resets. A model trained before the Hessian was kept, or new rows with a
//! class or a category the model does not know (they would add parameters), cannot be updated:
//! the refresh trains again on all rows ([`super::super::CANNOT_UPDATE`]).

use serde::{Deserialize, Serialize};

use super::super::{untagged, Setup, Warm, CANNOT_UPDATE};
use super::Logistic;
use crate::ml::algorithms::scan::Scan;
use crate::ml::error::coded;
use crate::ml::features::Encoding;
use crate::ml::least_norm::upper_triangle;

/// What a fitted model keeps to be updated ([`Logistic::update`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Curvature {
    /// The objective's Hessian at the coefficients, penalty included, in the columns' own units:
    /// the upper triangle, row by row, over the parameters numbered class by class, intercept
    /// first (as the passes number them).
    pub hessian: Vec<f64>,
    /// Each encoded feature column's standard deviation over the rows trained on first (for
    /// the importance, which an update keeps).
    pub stds: Vec<f64>,
}

impl Curvature {
    /// From the last accepted Hessian of the passes (`n × n` over scaled parameters) and the
    /// columns' scales: `∂²/∂β_u∂β_v = s_u s_v ∂²/∂θ_u∂θ_v`, as `θ = s · β`.
    pub(super) fn from_scaled(hessian: &[f64], scales: &[f64], stds: Vec<f64>) -> Curvature {
        let q = scales.len();
        let n = (hessian.len() as f64).sqrt() as usize;
        let mut kept = Vec::with_capacity(n * (n + 1) / 2);
        for u in 0..n {
            for v in u..n {
                kept.push(hessian[u * n + v] * scales[u % q] * scales[v % q]);
            }
        }
        Curvature { hessian: kept, stds }
    }
}

/// The fitted model an update starts from.
pub(super) struct Start {
    pub(super) classes: Vec<String>,
    pub(super) encodings: Vec<Encoding>,
    /// The parameters in the columns' own units, numbered as the passes number them.
    beta: Vec<f64>,
    /// Their Hessian (`n × n`, the columns' own units).
    hessian: Vec<f64>,
    pub(super) stds: Vec<f64>,
    /// The rows the model was fitted on.
    pub(super) rows: u64,
}

/// The earlier rows' part of the objective, in the scaled units of an update's passes.
pub(super) struct Prior {
    pub(super) theta: Vec<f64>,
    hessian: Vec<f64>,
}

fn cannot(why: &str) -> datafusion::error::DataFusionError {
    coded("0A000", format!("logistic_regression {CANNOT_UPDATE}: {why}"))
}

impl Start {
    pub(super) fn from_warm(warm: &Warm) -> datafusion::error::Result<Start> {
        let fitted: Logistic = untagged(&warm.params)?;
        let Some(curvature) = fitted.update else {
            return Err(cannot("the model was trained before squall kept what an update needs"));
        };
        let classes = warm.classes.clone().ok_or_else(|| cannot("the model does not name its classes"))?;
        let k = fitted.coefficients.len();
        // The passes' numbering: one score row for two classes (the second's), else one per class.
        let in_order = if classes.len() == 2 { fitted.classes == [0, 1] } else { fitted.classes.iter().enumerate().all(|(i, c)| *c as usize == i) };
        if !in_order || k != if classes.len() == 2 { 1 } else { classes.len() } {
            return Err(cannot("the model's classes are not numbered as squall's training numbers them"));
        }
        let beta: Vec<f64> = fitted.intercepts.iter().zip(&fitted.coefficients).flat_map(|(b, w)| std::iter::once(*b).chain(w.iter().copied())).collect();
        let n = beta.len();
        if curvature.hessian.len() != n * (n + 1) / 2 {
            return Err(coded("XX000", "the model's kept Hessian does not match its coefficients"));
        }
        Ok(Start { classes, encodings: warm.encodings.clone(), hessian: expand(&curvature.hessian, n), beta, stds: curvature.stds, rows: warm.rows })
    }

    /// Refuses new rows the model has no parameters for: a class or a category it never saw.
    pub(super) fn check(&self, setup: &Setup, found: &Scan) -> datafusion::error::Result<()> {
        let unknown = |seen: Vec<String>, known: &[String]| seen.into_iter().find(|s| !known.contains(s));
        if let Some(class) = unknown(found.categories_of(0), &self.classes) {
            return Err(cannot(&format!("the new rows have class '{class}', which it was not trained on")));
        }
        for (i, ((name, _), encoding)) in setup.features.iter().zip(&self.encodings).enumerate() {
            if let Encoding::OneHot { categories } = encoding {
                if let Some(category) = unknown(found.categories_of(i + 1), categories) {
                    return Err(cannot(&format!("the new rows have '{category}' in feature \"{name}\", a category it was not trained on")));
                }
            }
        }
        Ok(())
    }

    /// The earlier rows' part of the objective in the units of passes whose columns are divided
    /// by `scales`.
    pub(super) fn prior(&self, scales: &[f64]) -> Prior {
        let q = scales.len();
        let n = self.beta.len();
        let theta = self.beta.iter().enumerate().map(|(u, b)| b * scales[u % q]).collect();
        let hessian = (0..n * n).map(|i| self.hessian[i] / (scales[(i / n) % q] * scales[(i % n) % q])).collect();
        Prior { theta, hessian }
    }
}

impl Prior {
    /// `A (θ − θ₀)`.
    fn pull(&self, theta: &[f64]) -> Vec<f64> {
        let n = theta.len();
        let d: Vec<f64> = theta.iter().zip(&self.theta).map(|(t, t0)| t - t0).collect();
        (0..n).map(|u| self.hessian[u * n..(u + 1) * n].iter().zip(&d).map(|(h, d)| h * d).sum()).collect()
    }

    /// `½ (θ − θ₀)ᵀ A (θ − θ₀)`.
    pub(super) fn objective(&self, theta: &[f64]) -> f64 {
        0.5 * self.pull(theta).iter().zip(theta.iter().zip(&self.theta)).map(|(p, (t, t0))| p * (t - t0)).sum::<f64>()
    }

    /// Adds its gradient and Hessian to the new rows'.
    pub(super) fn add_to(&self, theta: &[f64], gradient: &mut [f64], hessian: &mut [f64]) {
        for (g, p) in gradient.iter_mut().zip(self.pull(theta)) {
            *g += p;
        }
        for (h, a) in hessian.iter_mut().zip(&self.hessian) {
            *h += a;
        }
    }
}

/// The symmetric `n × n` matrix whose upper triangle, row by row, is `triangle`.
fn expand(triangle: &[f64], n: usize) -> Vec<f64> {
    let mut full = vec![0.0; n * n];
    for u in 0..n {
        for v in u..n {
            full[u * n + v] = triangle[upper_triangle(n, u, v)];
            full[v * n + u] = triangle[upper_triangle(n, u, v)];
        }
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Hessian kept in the columns' units and read back in other scales is the same
    /// quadratic form: `(β − β₀)ᵀ A_β (β − β₀) = (θ − θ₀)ᵀ A_θ (θ − θ₀)` with `θ = s β`.
    #[test]
    fn the_kept_hessian_is_the_same_form_in_any_scales() {
        let scales_then = [1.0, 4.0, 0.5];
        let scaled = [2.0, 0.3, -0.1, 0.3, 5.0, 0.2, -0.1, 0.2, 1.0];
        let curvature = Curvature::from_scaled(&scaled, &scales_then, vec![]);
        let beta = vec![0.1, 0.2, -0.3];
        let start = Start { classes: vec![], encodings: vec![], beta: beta.clone(), hessian: expand(&curvature.hessian, 3), stds: vec![], rows: 0 };
        let scales_now = [1.0, 7.0, 0.25];
        let prior = start.prior(&scales_now);
        let moved_beta = [0.4, -0.1, 0.2];
        let moved_theta: Vec<f64> = moved_beta.iter().zip(&scales_now).map(|(b, s)| b * s).collect();
        // The same form straight from the scaled matrix it was kept from.
        let theta_then: Vec<f64> = moved_beta.iter().zip(&beta).zip(&scales_then).map(|((m, b), s)| (m - b) * s).collect();
        let expected = 0.5 * (0..3).map(|u| (0..3).map(|v| theta_then[u] * scaled[u * 3 + v] * theta_then[v]).sum::<f64>()).sum::<f64>();
        assert!((prior.objective(&moved_theta) - expected).abs() < 1e-12, "{} vs {expected}", prior.objective(&moved_theta));
    }

}
