//! Solving the small symmetric systems the coordinator meets between passes (a linear
//! regression's normal equations, a Newton step of logistic regression) by smartcore's SVD,
//! whose pseudo-inverse gives the least-norm solution where the system is singular (collinear
//! one-hot columns beside an intercept, a softmax's intercepts that may all move together), as
//! numpy's `lstsq` does.

use smartcore::linalg::basic::arrays::Array as _;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linalg::traits::svd::SVDDecomposable;

/// `x` with `matrix · x = rhs` (least norm), `matrix` being `n × n` row by row; the error says
/// why not.
pub fn solve(n: usize, matrix: Vec<f64>, rhs: Vec<f64>) -> Result<Vec<f64>, String> {
    let matrix = DenseMatrix::new(n, n, matrix, false).map_err(|e| e.to_string())?;
    let rhs = DenseMatrix::new(n, 1, rhs, true).map_err(|e| e.to_string())?;
    let x = matrix.svd_solve(rhs).map_err(|e| e.to_string())?;
    let x: Vec<f64> = (0..n).map(|i| *x.get((i, 0))).collect();
    if x.iter().any(|v| !v.is_finite()) {
        return Err("the solution is not finite (the features' values are too large)".into());
    }
    Ok(x)
}

/// Where entry `(i, j)`, `i <= j`, of a symmetric `n × n` matrix is kept when only its upper
/// triangle is, row by row.
pub fn upper_triangle(n: usize, i: usize, j: usize) -> usize {
    // rows 0..i hold n, n - 1, ..., n - i + 1 entries
    i * n - i * i.saturating_sub(1) / 2 + (j - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_and_takes_the_least_norm_solution_of_a_singular_system() {
        let x = solve(2, vec![2.0, 1.0, 1.0, 3.0], vec![3.0, 5.0]).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12, "{x:?}");
        // x0 + x1 = 2 twice: the least-norm answer is (1, 1).
        let x = solve(2, vec![1.0, 1.0, 1.0, 1.0], vec![2.0, 2.0]).unwrap();
        assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 1.0).abs() < 1e-12, "{x:?}");
    }
}
