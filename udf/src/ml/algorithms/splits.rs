//! The coordinator's side of a histogram level: each node's totals and its best split over the
//! bins the executors counted (Gini, entropy or variance; for boosting, the gain of the gradient
//! sums), within the model's limits.

use serde::{Deserialize, Serialize};

use super::bins::Bins;
use super::histograms::{Histograms, Rule, Target};

/// How a node's impurity is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Criterion {
    Gini,
    Entropy,
    Variance,
    /// Gradient boosting's: a node's loss is `-G² / (H + l2)`.
    Gradient { l2: f64 },
}

/// A node's rows, as cells of the target's width.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats(pub Vec<i128>);

impl Stats {
    pub fn rows(&self, target: &Target) -> u64 {
        match target {
            Target::Classes(_) => self.0.iter().sum::<i128>() as u64,
            Target::Values { .. } | Target::Gradients { .. } => self.0[0] as u64,
        }
    }

    /// The sums of gradients and hessians (gradient cells only).
    pub fn gradient_sums(&self, target: &Target) -> (f64, f64) {
        match target {
            Target::Gradients { scale, .. } => (self.0[1] as f64 / scale, self.0[2] as f64 / scale),
            _ => (0.0, 0.0),
        }
    }

    /// What a split lowers: rows × impurity, or the boosting loss `-G² / (H + l2)`.
    pub fn loss(&self, target: &Target, criterion: Criterion) -> f64 {
        match criterion {
            Criterion::Gradient { l2 } => {
                let (g, h) = self.gradient_sums(target);
                if h + l2 > 0.0 {
                    -g * g / (h + l2)
                } else {
                    0.0
                }
            }
            _ => self.rows(target) as f64 * self.impurity(target, criterion),
        }
    }

    pub fn impurity(&self, target: &Target, criterion: Criterion) -> f64 {
        let n = self.rows(target) as f64;
        if n == 0.0 {
            return 0.0;
        }
        if let Criterion::Gradient { .. } = criterion {
            return self.loss(target, criterion) / n;
        }
        match target {
            Target::Classes(_) => {
                let shares = self.0.iter().map(|c| *c as f64 / n);
                match criterion {
                    Criterion::Entropy => -shares.filter(|p| *p > 0.0).map(|p| p * p.log2()).sum::<f64>(),
                    _ => 1.0 - shares.map(|p| p * p).sum::<f64>(),
                }
            }
            Target::Values { scale, square_scale } => {
                let mean = self.0[1] as f64 / scale / n;
                (self.0[2] as f64 / square_scale / n - mean * mean).max(0.0)
            }
            Target::Gradients { .. } => 0.0,
        }
    }

    /// The mean of the target (regression), or the class shares (classification).
    pub fn output(&self, target: &Target) -> Vec<f64> {
        let n = self.rows(target).max(1) as f64;
        match target {
            Target::Classes(_) => self.0.iter().map(|c| *c as f64 / n).collect(),
            Target::Values { scale, .. } => vec![self.0[1] as f64 / scale / n],
            Target::Gradients { .. } => {
                let (g, h) = self.gradient_sums(target);
                vec![if h > 0.0 { -g / h } else { 0.0 }]
            }
        }
    }

    fn add(&mut self, cells: &[i128]) {
        self.0.iter_mut().zip(cells).for_each(|(a, b)| *a += b);
    }

    fn minus(&self, other: &Stats) -> Stats {
        Stats(self.0.iter().zip(&other.0).map(|(a, b)| a - b).collect())
    }
}

/// One node's cells in a pass's histograms.
pub fn node_cells<'a>(histograms: &'a Histograms, slot: usize, cells_per_node: usize) -> &'a [i128] {
    &histograms.cells[slot * cells_per_node..(slot + 1) * cells_per_node]
}

/// A node's totals: the sum over the first feature's bins (every row is in one of them).
pub fn totals(cells: &[i128], bins: &[Bins], target: &Target) -> Stats {
    let width = target.width();
    let mut stats = Stats(vec![0; width]);
    for bin in 0..bins.first().map_or(0, Bins::count) {
        stats.add(&cells[bin * width..(bin + 1) * width]);
    }
    stats
}

/// What a node may split into.
pub struct Limits {
    pub criterion: Criterion,
    pub min_samples_leaf: u64,
    /// The features it may split on.
    pub features: Vec<bool>,
    /// The least sum of hessians on each side (boosting).
    pub min_hessian: f64,
}

/// The best split of a node.
#[derive(Debug, Clone)]
pub struct Found {
    pub feature: usize,
    pub rule: Rule,
    pub left: Stats,
    pub right: Stats,
    /// Rows × impurity of the node, less that of its children.
    pub decrease: f64,
}

/// The split of the node whose cells are `cells` that decreases impurity most (the first of
/// equals, by feature and bin), among those that leave `min_samples_leaf` rows on each side.
pub fn best_split(cells: &[i128], bins: &[Bins], target: &Target, limits: &Limits) -> Option<Found> {
    let width = target.width();
    let node = totals(cells, bins, target);
    let weighted = |s: &Stats| s.loss(target, limits.criterion);
    let parent = weighted(&node);
    let order_class = node.0.iter().enumerate().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0))).map_or(0, |(i, _)| i);
    let mut best: Option<Found> = None;
    let mut offset = 0;
    for (feature, feature_bins) in bins.iter().enumerate() {
        let count = feature_bins.count();
        let first = offset;
        offset += count;
        if !limits.features.get(feature).copied().unwrap_or(true) {
            continue;
        }
        let bin_stats: Vec<Stats> = (0..count).map(|b| Stats(cells[(first + b) * width..(first + b + 1) * width].to_vec())).collect();
        // The order in which prefixes of bins go left, and how a prefix is written as a rule.
        let order: Vec<usize> = match feature_bins {
            Bins::Numeric { .. } => (0..count).collect(),
            Bins::Categorical { .. } => {
                let mut present: Vec<usize> = (0..count).filter(|b| bin_stats[*b].rows(target) > 0).collect();
                let key = |b: usize| match target {
                    Target::Classes(_) => bin_stats[b].0[order_class] as f64 / bin_stats[b].rows(target) as f64,
                    Target::Values { .. } | Target::Gradients { .. } => bin_stats[b].output(target)[0],
                };
                present.sort_by(|a, b| key(*a).total_cmp(&key(*b)).then(a.cmp(b)));
                present
            }
        };
        let mut left = Stats(vec![0; width]);
        for (i, bin) in order.iter().enumerate().take(order.len().saturating_sub(1)) {
            left.add(&bin_stats[*bin].0);
            let right = node.minus(&left);
            let (n_left, n_right) = (left.rows(target), right.rows(target));
            if n_left < limits.min_samples_leaf || n_right < limits.min_samples_leaf {
                continue;
            }
            if limits.min_hessian > 0.0 && (left.gradient_sums(target).1 < limits.min_hessian || right.gradient_sums(target).1 < limits.min_hessian) {
                continue;
            }
            let decrease = parent - weighted(&left) - weighted(&right);
            if best.as_ref().is_none_or(|b| decrease > b.decrease) {
                let rule = match feature_bins {
                    Bins::Numeric { .. } => Rule::AtMost(*bin),
                    Bins::Categorical { .. } => {
                        let mut set = order[..=i].to_vec();
                        set.sort_unstable();
                        Rule::In(set)
                    }
                };
                best = Some(Found { feature, rule, left: left.clone(), right, decrease });
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pure_split_of_numbers_and_one_of_categories() {
        let bins = vec![Bins::Numeric { edges: vec![1.5, 2.5] }, Bins::Categorical { categories: vec!["a".into(), "b".into(), "c".into()] }];
        let target = Target::Classes(vec!["x".into(), "y".into()]);
        // feature 0: bins (x=2), (x=1,y=1), (y=2); feature 1: a (x=3), b (y=2), c (y=1)
        let cells = vec![2, 0, 1, 1, 0, 2, 3, 0, 0, 2, 0, 1];
        let limits = Limits { criterion: Criterion::Gini, min_samples_leaf: 1, features: vec![true, true], min_hessian: 0.0 };
        let found = best_split(&cells, &bins, &target, &limits).unwrap();
        // Categories by their share of class x (b and c have none) go left as a prefix.
        assert_eq!((found.feature, found.rule.clone()), (1, Rule::In(vec![1, 2])));
        assert_eq!(found.left, Stats(vec![0, 3]));
        assert_eq!(found.right, Stats(vec![3, 0]));
    }
}
