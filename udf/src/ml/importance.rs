//! Feature importance, as DESCRIBE MODEL shows it: one figure per input feature (a text feature
//! one-hot encoded to many columns still gets one), at least 0, summing to 1 (or all 0 when
//! nothing mattered), so that every algorithm answers "which columns matter" on one scale.
//!
//! How each algorithm measures it ([`Importance`]):
//! - trees and forests: the mean decrease in impurity of each feature's splits (scikit-learn's
//!   `feature_importances_`, [`super::algorithms::tree_walk::importances`]); boosting: the
//!   decrease in the loss its splits bring, summed over the rounds (XGBoost's `total_gain`);
//! - linear and logistic regression: the standardised coefficients' magnitude: each encoded
//!   column's coefficient times the column's standard deviation over the training rows (the
//!   change in the prediction, or the log-odds, for one standard deviation of the column),
//!   absolute, summed over a feature's columns and, for several classes, over the classes;
//! - Naive Bayes and k-means: permutation importance (Breiman 2001; scikit-learn's
//!   `permutation_importance`): how much the holdout rows' loss grows when the feature's values
//!   are shuffled among the rows, breaking its link with the rest of the row; for k-means, the
//!   share of rows that change cluster (their distance to the nearest centre barely changes
//!   when the feature that separates the clusters is shuffled: they move to another)
//!   ([`crate::functions::permutation_importance`], on the executors).

use super::features::Encoding;

/// How an algorithm's importance is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importance {
    /// Computed while growing trees.
    Gain,
    /// From the coefficients and the columns' spread.
    StandardisedCoefficients,
    /// By a pass over the holdout rows after training.
    Permutation,
}

impl Importance {
    /// As DESCRIBE MODEL names it.
    pub fn describe(self) -> &'static str {
        match self {
            Importance::Gain => "the decrease in impurity (boosting: in the loss) that the feature's splits bring",
            Importance::StandardisedCoefficients => "standardised coefficients' magnitude (|coefficient| × the column's standard deviation)",
            Importance::Permutation => {
                "permutation: how much the holdout rows' loss grows (k-means: how many rows change cluster) when the feature's values are shuffled"
            }
        }
    }
}

/// Shares of the total, each at least 0 (a negative or non-finite figure counts as 0).
pub fn normalised(raw: Vec<f64>) -> Vec<f64> {
    let raw: Vec<f64> = raw.into_iter().map(|v| if v.is_finite() && v > 0.0 { v } else { 0.0 }).collect();
    let total: f64 = raw.iter().sum();
    if total > 0.0 {
        raw.iter().map(|v| v / total).collect()
    } else {
        raw
    }
}

/// Standardised coefficients' magnitude per input feature. `stds`: each encoded column's
/// standard deviation; `coefficients`: per class (one row for regression), per encoded column.
pub fn standardised_coefficients(encodings: &[Encoding], stds: &[f64], coefficients: &[Vec<f64>]) -> Vec<f64> {
    let mut raw = Vec::with_capacity(encodings.len());
    let mut column = 0;
    for encoding in encodings {
        let columns = column..column + encoding.width();
        raw.push(coefficients.iter().map(|row| columns.clone().map(|c| (row[c] * stds[c]).abs()).sum::<f64>()).sum());
        column = columns.end;
    }
    normalised(raw)
}

/// The standard deviation of a column from its rows' count, sum and sum of squares.
pub fn std_from_sums(rows: f64, sum: f64, squares: f64) -> f64 {
    if rows <= 0.0 {
        return 0.0;
    }
    let mean = sum / rows;
    (squares / rows - mean * mean).max(0.0).sqrt()
}

/// Permutation importance from the loss with every feature as it is (`base`) and with each
/// feature shuffled (`shuffled`, one per feature).
pub fn from_losses(base: f64, shuffled: &[f64]) -> Vec<f64> {
    normalised(shuffled.iter().map(|loss| loss - base).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_features_columns_and_classes_add_up_and_the_shares_sum_to_one() {
        let encodings = vec![Encoding::Number, Encoding::OneHot { categories: vec!["a".into(), "b".into()] }];
        // Column 0: coefficient 2, spread 3 → 6; the one-hot columns: |-1 × 0.5| + |1 × 0.5| → 1,
        // over two classes: (6 + 0) and (1 + 1) → 6 and 2.
        let stds = [3.0, 0.5, 0.5];
        let got = standardised_coefficients(&encodings, &stds, &[vec![2.0, -1.0, 1.0], vec![0.0, 1.0, -1.0]]);
        assert_eq!(got, vec![0.75, 0.25]);
    }

    #[test]
    fn a_shuffle_that_lowers_the_loss_counts_as_nothing_and_all_nothing_stays_zero() {
        assert_eq!(from_losses(1.0, &[1.5, 0.9, 2.0]), vec![0.5 / 1.5, 0.0, 1.0 / 1.5]);
        assert_eq!(from_losses(1.0, &[1.0, 0.5]), vec![0.0, 0.0]);
        assert_eq!(std_from_sums(4.0, 10.0, 30.0), (30.0f64 / 4.0 - 6.25).sqrt());
    }
}
