//! Evaluation metrics, accumulated in mergeable pieces so that EVALUATE runs as an aggregate on the
//! executors: a confusion matrix and the summed log loss for classification, moments of the
//! target and error sums for regression, summed squared distances for clustering.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::moments::Moments;

/// scikit-learn's clipping of probabilities in log_loss.
const EPS: f64 = 1e-15;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum Tally {
    Classification {
        /// (actual, predicted) → rows.
        confusion: BTreeMap<String, BTreeMap<String, u64>>,
        log_loss_sum: f64,
        /// Rows whose log loss is known (the model gives probabilities).
        log_loss_rows: u64,
        skipped: u64,
    },
    Regression { target: Moments, squared_error: f64, absolute_error: f64, skipped: u64 },
    Clustering { rows: u64, squared_distance: f64, skipped: u64 },
}

impl Tally {
    pub fn add_class(&mut self, actual: &str, predicted: &str, probability_of_actual: Option<f64>) {
        if let Tally::Classification { confusion, log_loss_sum, log_loss_rows, .. } = self {
            let row = confusion.entry(actual.to_string()).or_default();
            *row.entry(predicted.to_string()).or_default() += 1;
            if let Some(p) = probability_of_actual {
                *log_loss_sum -= p.clamp(EPS, 1.0 - EPS).ln();
                *log_loss_rows += 1;
            }
        }
    }

    pub fn add_value(&mut self, actual: f64, predicted: f64) {
        if let Tally::Regression { target, squared_error, absolute_error, .. } = self {
            target.push(actual);
            let e = actual - predicted;
            *squared_error += e * e;
            *absolute_error += e.abs();
        }
    }

    pub fn add_distance(&mut self, distance: f64) {
        if let Tally::Clustering { rows, squared_distance, .. } = self {
            *rows += 1;
            *squared_distance += distance * distance;
        }
    }

    pub fn skip(&mut self) {
        match self {
            Tally::Classification { skipped, .. } | Tally::Regression { skipped, .. } | Tally::Clustering { skipped, .. } => {
                *skipped += 1
            }
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        match (self, other) {
            (
                Tally::Classification { confusion, log_loss_sum, log_loss_rows, skipped },
                Tally::Classification { confusion: c, log_loss_sum: l, log_loss_rows: r, skipped: s },
            ) => {
                for (actual, row) in c {
                    let mine = confusion.entry(actual.clone()).or_default();
                    for (predicted, n) in row {
                        *mine.entry(predicted.clone()).or_default() += n;
                    }
                }
                *log_loss_sum += l;
                *log_loss_rows += r;
                *skipped += s;
            }
            (
                Tally::Regression { target, squared_error, absolute_error, skipped },
                Tally::Regression { target: t, squared_error: se, absolute_error: ae, skipped: s },
            ) => {
                target.merge(t);
                *squared_error += se;
                *absolute_error += ae;
                *skipped += s;
            }
            (
                Tally::Clustering { rows, squared_distance, skipped },
                Tally::Clustering { rows: r, squared_distance: d, skipped: s },
            ) => {
                *rows += r;
                *squared_distance += d;
                *skipped += s;
            }
            _ => {}
        }
    }

    /// One loss per row, lower is better, as permutation importance compares them: the mean log
    /// loss (the error rate when the model gives no probabilities), the mean squared error, the
    /// mean squared distance to the nearest centre. `None` without rows.
    pub fn loss(&self) -> Option<f64> {
        let mean = |sum: f64, rows: u64| (rows > 0).then(|| sum / rows as f64);
        match self {
            Tally::Classification { confusion, log_loss_sum, log_loss_rows, .. } => {
                if *log_loss_rows > 0 {
                    return mean(*log_loss_sum, *log_loss_rows);
                }
                let rows: u64 = confusion.values().flat_map(|r| r.values()).sum();
                let wrong: u64 = confusion.iter().flat_map(|(a, r)| r.iter().filter(move |(p, _)| *p != a).map(|(_, n)| n)).sum();
                mean(wrong as f64, rows)
            }
            Tally::Regression { target, squared_error, .. } => mean(*squared_error, target.n),
            Tally::Clustering { rows, squared_distance, .. } => mean(*squared_distance, *rows),
        }
    }

    /// The metrics, in a fixed order: `(name, value)`.
    pub fn metrics(&self) -> Vec<(String, f64)> {
        match self {
            Tally::Classification { confusion, log_loss_sum, log_loss_rows, .. } => {
                let mut labels: Vec<&String> = confusion.keys().chain(confusion.values().flat_map(|r| r.keys())).collect();
                labels.sort();
                labels.dedup();
                let count = |a: &str, p: &str| confusion.get(a).and_then(|r| r.get(p)).copied().unwrap_or(0) as f64;
                let rows: f64 = confusion.values().flat_map(|r| r.values()).sum::<u64>() as f64;
                let correct: f64 = labels.iter().map(|l| count(l, l)).sum();
                let (mut precision, mut recall, mut f1) = (0.0, 0.0, 0.0);
                for label in &labels {
                    let tp = count(label, label);
                    let predicted: f64 = labels.iter().map(|a| count(a, label)).sum();
                    let actual: f64 = labels.iter().map(|p| count(label, p)).sum();
                    // scikit-learn's zero_division = 0.
                    let p = if predicted > 0.0 { tp / predicted } else { 0.0 };
                    let r = if actual > 0.0 { tp / actual } else { 0.0 };
                    precision += p;
                    recall += r;
                    f1 += if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
                }
                let k = labels.len().max(1) as f64;
                let mut out = vec![
                    ("rows".to_string(), rows),
                    ("accuracy".to_string(), if rows > 0.0 { correct / rows } else { 0.0 }),
                    ("precision".to_string(), precision / k),
                    ("recall".to_string(), recall / k),
                    ("f1".to_string(), f1 / k),
                ];
                if *log_loss_rows > 0 {
                    out.push(("log_loss".to_string(), log_loss_sum / *log_loss_rows as f64));
                }
                out
            }
            Tally::Regression { target, squared_error, absolute_error, .. } => {
                let n = target.n as f64;
                let r2 = if target.m2 > 0.0 { 1.0 - squared_error / target.m2 } else { 0.0 };
                vec![
                    ("rows".to_string(), n),
                    ("r2".to_string(), r2),
                    ("rmse".to_string(), if n > 0.0 { (squared_error / n).sqrt() } else { 0.0 }),
                    ("mae".to_string(), if n > 0.0 { absolute_error / n } else { 0.0 }),
                ]
            }
            Tally::Clustering { rows, squared_distance, .. } => vec![
                ("rows".to_string(), *rows as f64),
                ("inertia".to_string(), *squared_distance),
                ("mean_distance_squared".to_string(), if *rows > 0 { squared_distance / *rows as f64 } else { 0.0 }),
            ],
        }
    }

    /// The confusion matrix as `(actual, predicted, rows)`, every pair that occurred.
    pub fn confusion(&self) -> Vec<(String, String, u64)> {
        match self {
            Tally::Classification { confusion, .. } => confusion
                .iter()
                .flat_map(|(a, row)| row.iter().map(move |(p, n)| (a.clone(), p.clone(), *n)))
                .collect(),
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classification() -> Tally {
        Tally::Classification { confusion: BTreeMap::new(), log_loss_sum: 0.0, log_loss_rows: 0, skipped: 0 }
    }

    #[test]
    fn macro_scores_match_scikit_learn() {
        // y_true = [a, a, b, b, c], y_pred = [a, b, b, b, a]
        // sklearn: accuracy 0.6, precision_macro 0.3888..., recall_macro 0.5, f1_macro 0.4222...
        let mut t = classification();
        for (a, p) in [("a", "a"), ("a", "b"), ("b", "b"), ("b", "b"), ("c", "a")] {
            t.add_class(a, p, Some(0.5));
        }
        let m: BTreeMap<String, f64> = t.metrics().into_iter().collect();
        assert!((m["accuracy"] - 0.6).abs() < 1e-12);
        assert!((m["precision"] - (0.5 + 2.0 / 3.0 + 0.0) / 3.0).abs() < 1e-12);
        assert!((m["recall"] - 0.5).abs() < 1e-12);
        assert!((m["f1"] - (0.5 + 0.8 + 0.0) / 3.0).abs() < 1e-12);
        assert!((m["log_loss"] - std::f64::consts::LN_2).abs() < 1e-12);
    }

    #[test]
    fn regression_merges() {
        let mut a = Tally::Regression { target: Moments::default(), squared_error: 0.0, absolute_error: 0.0, skipped: 0 };
        let mut b = a.clone();
        a.add_value(1.0, 1.5);
        b.add_value(3.0, 2.5);
        a.merge(&b);
        let m: BTreeMap<String, f64> = a.metrics().into_iter().collect();
        assert!((m["rmse"] - 0.5).abs() < 1e-12);
        assert!((m["r2"] - (1.0 - 0.5 / 2.0)).abs() < 1e-12);
    }
}
