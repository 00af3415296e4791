//! Damped Newton's method, one evaluation at a time: the caller evaluates the objective, its
//! gradient and its Hessian at [`Newton::point`] (a distributed pass, or a sum over rows the
//! coordinator holds) and hands them to [`Newton::take`], which accepts the point and steps on,
//! or halves the step that led there when it did not lower the objective enough (Armijo's rule).

use datafusion::error::Result;

use crate::ml::error::coded;
use crate::ml::least_norm;

pub struct Newton {
    tol: f64,
    max_iter: usize,
    /// The point to evaluate next.
    point: Vec<f64>,
    at: Option<Accepted>,
    /// Points accepted so far.
    pub iterations: usize,
}

/// The last point accepted, and the step being tried from it.
struct Accepted {
    point: Vec<f64>,
    objective: f64,
    /// The Newton step (to subtract), its decrement `gradient · step`, and the fraction of it
    /// being tried.
    step: Vec<f64>,
    decrement: f64,
    fraction: f64,
}

/// What [`Newton::take`] made of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// The point raised the objective (to `objective`): `fraction` of the step is tried next.
    Shrunk { objective: f64, fraction: f64 },
    /// No fraction of the step lowers the objective: the point is the last accepted one; done.
    Stalled,
    /// Accepted; the next point is a Newton step on, whose largest entry is `largest`.
    Stepped { objective: f64, largest: f64 },
    /// Accepted and the step is within the tolerance: the point is the one after it; done.
    Converged { objective: f64, largest: f64 },
    /// Accepted, and the most iterations were taken: the point is the accepted one; done.
    Exhausted { objective: f64, largest: f64 },
}

impl Outcome {
    pub fn is_done(&self) -> bool {
        matches!(self, Outcome::Stalled | Outcome::Converged { .. } | Outcome::Exhausted { .. })
    }
}

impl Newton {
    /// From `start`, stopping when a step's largest entry is at most `tol`, or after `max_iter`
    /// accepted points.
    pub fn new(start: Vec<f64>, tol: f64, max_iter: usize) -> Newton {
        Newton { tol, max_iter, point: start, at: None, iterations: 0 }
    }

    /// The point to evaluate next (after a finishing outcome, the answer).
    pub fn point(&self) -> &[f64] {
        &self.point
    }

    /// Goes on from `point` (found another way) as from a first point: it is accepted as it is.
    pub fn restart(&mut self, point: Vec<f64>) {
        self.point = point;
        self.at = None;
    }

    /// Whether the next evaluation tries a fraction of a step (for what the user is told).
    pub fn trying(&self) -> Option<f64> {
        self.at.as_ref().map(|at| at.fraction).filter(|f| *f < 1.0)
    }

    /// Takes the evaluation at [`Newton::point`]: `objective`, and `derivatives` to give the
    /// gradient and the Hessian (`n × n`, row by row) when the point is accepted. `adjust`
    /// may change a step before it is taken (to project out a direction the objective does not
    /// depend on).
    pub fn take(
        &mut self,
        objective: f64,
        derivatives: impl FnOnce() -> (Vec<f64>, Vec<f64>),
        adjust: impl FnOnce(&mut [f64]),
    ) -> Result<Outcome> {
        if let Some(at) = &mut self.at {
            // Armijo's rule, with room for the last bits of the objective's rounding near the
            // optimum.
            let enough = at.objective - 1e-4 * at.fraction * at.decrement + 1e-12 * (1.0 + at.objective.abs());
            if objective > enough || !objective.is_finite() {
                at.fraction /= 2.0;
                if at.fraction < 1e-10 {
                    self.point = at.point.clone();
                    return Ok(Outcome::Stalled);
                }
                self.point = at.point.iter().zip(&at.step).map(|(t, s)| t - at.fraction * s).collect();
                return Ok(Outcome::Shrunk { objective, fraction: at.fraction });
            }
        }
        self.iterations += 1;
        let n = self.point.len();
        let (gradient, hessian) = derivatives();
        let mut step = least_norm::solve(n, hessian, gradient.clone()).map_err(|e| coded("22000", format!("could not take a Newton step: {e}")))?;
        adjust(&mut step);
        let decrement: f64 = gradient.iter().zip(&step).map(|(g, s)| g * s).sum();
        let largest = step.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        let accepted = std::mem::take(&mut self.point);
        let outcome = if largest <= self.tol {
            // Converged: the full step is as good as the point after it.
            Outcome::Converged { objective, largest }
        } else if self.iterations >= self.max_iter {
            Outcome::Exhausted { objective, largest }
        } else {
            Outcome::Stepped { objective, largest }
        };
        self.point = if matches!(outcome, Outcome::Exhausted { .. }) {
            accepted.clone()
        } else {
            accepted.iter().zip(&step).map(|(t, s)| t - s).collect()
        };
        self.at = Some(Accepted { point: accepted, objective, step, decrement, fraction: 1.0 });
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimises `Σ e^{x_i} - 2 x_i` (optimum `ln 2` in every coordinate) from far away, where
    /// full steps overshoot and must be halved.
    #[test]
    fn finds_the_optimum_halving_steps_that_overshoot() {
        let mut newton = Newton::new(vec![-8.0, 6.0], 1e-12, 100);
        let mut shrunk = 0;
        let outcome = loop {
            let x = newton.point().to_vec();
            let objective: f64 = x.iter().map(|x| x.exp() - 2.0 * x).sum();
            let outcome = newton
                .take(objective, || (x.iter().map(|x| x.exp() - 2.0).collect(), vec![x[0].exp(), 0.0, 0.0, x[1].exp()]), |_| {})
                .unwrap();
            shrunk += matches!(outcome, Outcome::Shrunk { .. }) as usize;
            if outcome.is_done() {
                break outcome;
            }
        };
        assert!(matches!(outcome, Outcome::Converged { .. }), "{outcome:?}");
        assert!(shrunk > 0);
        for x in newton.point() {
            assert!((x - 2f64.ln()).abs() < 1e-12, "{x}");
        }
    }
}
