//! One level of a histogram tree, as the executors compute it and the coordinator splits it.
//!
//! The executors route each training row through the tree grown so far (its features turned
//! into bins, [`super::bins`]) and, if the row reaches a node that is still to be split, add its
//! target to that node's cell of every (feature, bin): class counts for classification; count,
//! sum and sum of squares for regression. Every cell is an integer (the target's sums in fixed
//! point, scaled by a power of two from its largest value), so partial states add up to the same
//! cells whatever the partitioning, and the tree does not depend on it. The coordinator then
//! finds each node's best split over the bins (Gini, entropy or variance): for a number, every
//! "bins up to b"; for a category, the categories ordered by their share of the node's most
//! frequent class (their mean, for regression) and every prefix of that order, as Spark and
//! LightGBM split categories.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::bins::{Bins, EdgeIndex};
use super::boosting_scores::Scores;
use super::score_cache;
use super::{from_json, to_json};
use crate::functions::blob_aggregate::Partial;
use crate::ml::class_index::ClassIndex;
use crate::ml::error::coded;
use crate::ml::features::null_rows;
use crate::ml::row_hash::mix;

/// Cells (16 bytes each) one pass may hold; a level with more nodes than fit is split over
/// several passes, and a model whose single node needs more is refused (54000).
pub const MAX_CELLS: usize = 2_000_000;

/// What a node's cells count of the target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Target {
    /// The count of each class (the target's values, in this order).
    Classes(Vec<String>),
    /// Count, sum × `scale` and sum of squares × `square_scale`, rounded per row.
    Values { scale: f64, square_scale: f64 },
    /// Gradient boosting: count, sum of gradients × `scale` and of hessians × `scale` of each
    /// row's loss at the scores of the rounds so far (tree `k` of a round is class `k`'s).
    Gradients { scale: f64, scores: Box<Scores> },
}

impl Target {
    /// Fixed-point scales for values of at most `max_abs` in magnitude: each row's value and
    /// square are integers below 2^52, so that sums of 2^63 rows fit in an i128.
    pub fn values(max_abs: f64) -> Target {
        let scale_for = |max: f64| if max > 0.0 && max.is_finite() { 2f64.powi(52 - max.log2().ceil() as i32 - 1) } else { 1.0 };
        Target::Values { scale: scale_for(max_abs), square_scale: scale_for(max_abs * max_abs) }
    }

    /// Cells per (feature, bin).
    pub fn width(&self) -> usize {
        match self {
            Target::Classes(classes) => classes.len(),
            Target::Values { .. } | Target::Gradients { .. } => 3,
        }
    }

    /// Gradient cells for a boosted model whose gradients are at most `bound` in magnitude.
    pub fn gradients(bound: f64, scores: Scores) -> Target {
        let scale = 2f64.powi(52 - bound.max(1.0).log2().ceil() as i32 - 1);
        Target::Gradients { scale, scores: Box::new(scores) }
    }
}

/// Which rows of a node go to its left (true) child, by bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Rule {
    /// Bins up to this one (a number at most its edge).
    AtMost(usize),
    /// These bins (categories).
    In(Vec<usize>),
}

/// A split node of the tree being grown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Routing {
    pub feature: usize,
    pub rule: Rule,
    pub left: usize,
    pub right: usize,
}

/// A level pass: the trees so far (per node, `None` while not split) and the (tree, node)s to
/// histogram.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Level {
    pub bins: Vec<Bins>,
    pub target: Target,
    pub trees: Vec<Vec<Option<Routing>>>,
    pub open: Vec<(usize, usize)>,
    /// For a forest: the seed of each row's bootstrap weights (the rows then come with their key).
    pub bootstrap: Option<u64>,
}

impl Level {
    /// Cells per node: every feature's bins times the target's width.
    pub fn cells_per_node(bins: &[Bins], target: &Target) -> usize {
        bins.iter().map(Bins::count).sum::<usize>() * target.width()
    }
}

/// The executors' side of a level pass.
pub fn partial(level: Level) -> Box<dyn Partial> {
    let mut slots: Vec<Vec<Option<usize>>> = level.trees.iter().map(|nodes| vec![None; nodes.len()]).collect();
    for (slot, (tree, node)) in level.open.iter().enumerate() {
        slots[*tree][*node] = Some(slot);
    }
    let mut offsets = vec![];
    let mut total = 0;
    for bins in &level.bins {
        offsets.push(total);
        total += bins.count();
    }
    let row_bins = RowBins::new(&level.bins);
    let classes = match &level.target {
        Target::Classes(classes) => ClassIndex::new(classes),
        Target::Gradients { scores, .. } => scores.class_lookup(),
        Target::Values { .. } => ClassIndex::default(),
    };
    let cells = vec![0; level.open.len() * total * level.target.width()];
    let counted_bins = level.bins.iter().map(Bins::count).collect();
    Box::new(LevelPartial { level, slots, offsets, counted_bins, total_bins: total, row_bins, classes, histograms: Histograms { cells }, near: vec![] })
}

/// The cells of a pass: per open node (in [`Level::open`]'s order), per feature, per bin, the
/// target's width.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Histograms {
    pub cells: Vec<i128>,
}

impl Histograms {
    pub fn decode(merged: &[u8]) -> Result<Histograms> {
        if merged.is_empty() {
            return Ok(Histograms::default());
        }
        from_json(merged)
    }
}

#[derive(Debug)]
struct LevelPartial {
    level: Level,
    /// Per tree, per node, its place among the open nodes.
    slots: Vec<Vec<Option<usize>>>,
    offsets: Vec<usize>,
    /// Per feature, its bins that are counted (a category unknown to the bins is past them).
    counted_bins: Vec<usize>,
    total_bins: usize,
    row_bins: RowBins,
    classes: ClassIndex,
    histograms: Histograms,
    /// Boosting: per (open node, feature, bin), the rows and their gradients' and hessians' sums
    /// not yet in `histograms`, in 64 bits: half the memory and the additions of the exact
    /// 128-bit cells, in the loop that counts every row. A cell moves into `histograms` once it
    /// holds [`NEAR_ROWS`] rows, and at the pass's end, so it never overflows.
    near: Vec<[i64; 3]>,
}

/// Rows a boosting cell adds in 64 bits before it moves them into its exact cell: each row's
/// gradient and hessian are at most 2^51 in magnitude ([`Target::gradients`]), so 1024 rows' sum
/// stays within 2^61, with room for gradients past the bound.
const NEAR_ROWS: i64 = 1024;

/// Reads a row's bin of each feature, as the level passes route rows.
#[derive(Debug)]
pub struct RowBins {
    features: Vec<FeatureBins>,
}

/// How one feature's values find their bin.
#[derive(Debug)]
enum FeatureBins {
    Numeric(EdgeIndex),
    /// Category → bin; a category not among them takes bin `unknown` (past the last).
    Categorical { lookup: HashMap<String, usize>, unknown: usize },
}

impl RowBins {
    pub fn new(bins: &[Bins]) -> RowBins {
        let features = bins
            .iter()
            .map(|b| match b {
                Bins::Numeric { edges } => FeatureBins::Numeric(EdgeIndex::new(edges)),
                Bins::Categorical { categories } => FeatureBins::Categorical {
                    lookup: categories.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect(),
                    unknown: categories.len(),
                },
            })
            .collect();
        RowBins { features }
    }

    /// Every row's bin of every feature (`features`: the features' columns), row by row: row
    /// `r`'s are at `r * features.len()..`. Read column by column, each column's array once.
    /// A NULL's slot holds some bin: its row is skipped by the caller.
    pub fn read_all(&self, features: &[ArrayRef], rows: usize) -> Vec<usize> {
        let width = features.len();
        let mut out = vec![0; rows * width];
        for (f, column) in self.columns(features).iter().enumerate() {
            for row in 0..rows {
                out[row * width + f] = self.bin(f, column, row);
            }
        }
        out
    }

    /// One row's bin of feature `f`, from its column as [`RowBins::columns`] reads it.
    fn bin(&self, f: usize, column: &FeatureColumn, row: usize) -> usize {
        match (column, &self.features[f]) {
            (FeatureColumn::Number(values), FeatureBins::Numeric(index)) => index.bin(values[row]),
            (FeatureColumn::Text(text), FeatureBins::Categorical { lookup, unknown }) => lookup.get(text.value(row)).copied().unwrap_or(*unknown),
            _ => 0,
        }
    }

    /// The features' columns, each read as its bins need it.
    fn columns<'a>(&self, features: &'a [ArrayRef]) -> Vec<FeatureColumn<'a>> {
        features
            .iter()
            .zip(&self.features)
            .map(|(column, bins)| match bins {
                FeatureBins::Numeric(_) => FeatureColumn::Number(column.as_primitive::<Float64Type>().values()),
                FeatureBins::Categorical { .. } => FeatureColumn::Text(column.as_string::<i32>()),
            })
            .collect()
    }
}

/// A feature's column in a batch.
enum FeatureColumn<'a> {
    Number(&'a [f64]),
    Text(&'a datafusion::arrow::array::StringArray),
}

/// One row's bins, each computed the first time it is asked for: routing a row through the
/// trees reads only the features its path splits on, and a row that ends in a node that is not
/// counted (a leaf, or a sibling found by subtraction) never has its other features binned.
struct LazyBins<'a> {
    row_bins: &'a RowBins,
    columns: Vec<FeatureColumn<'a>>,
    row: usize,
    bins: Vec<usize>,
}

impl<'a> LazyBins<'a> {
    const UNKNOWN: usize = usize::MAX;

    fn new(row_bins: &'a RowBins, features: &'a [ArrayRef]) -> LazyBins<'a> {
        LazyBins { row_bins, columns: row_bins.columns(features), row: 0, bins: vec![Self::UNKNOWN; features.len()] }
    }

    fn start(&mut self, row: usize) {
        self.row = row;
        self.bins.fill(Self::UNKNOWN);
    }

    fn get(&mut self, f: usize) -> usize {
        if self.bins[f] == Self::UNKNOWN {
            self.bins[f] = self.row_bins.bin(f, &self.columns[f], self.row);
        }
        self.bins[f]
    }

    /// Every feature's bin.
    fn all(&mut self) -> &[usize] {
        for f in 0..self.bins.len() {
            self.get(f);
        }
        &self.bins
    }
}

/// The node of `tree` a row of these bins ends in.
pub fn leaf_of(tree: &[Option<Routing>], bins: &[usize]) -> usize {
    leaf_from(tree, 0, |f| bins[f])
}

/// The node of `tree` a row ends in from node `from` (the root, or a node it reached before the
/// tree grew), its bin of feature `f` being `bin(f)`.
pub fn leaf_from(tree: &[Option<Routing>], from: usize, mut bin: impl FnMut(usize) -> usize) -> usize {
    let mut node = from;
    while let Some(Some(routing)) = tree.get(node) {
        node = if goes_left(&routing.rule, bin(routing.feature)) { routing.left } else { routing.right };
    }
    node
}

/// How many times a row is drawn into tree `tree`'s bootstrap sample: Poisson(1), as Spark
/// draws, from a hash of the row's key, the seed and the tree, so that no row is copied and the
/// weights do not depend on the partitioning.
pub fn bootstrap_weight(key: f64, seed: u64, tree: usize) -> i128 {
    let bits = mix(key.to_bits() ^ mix(seed ^ mix(tree as u64 + 1)));
    let u = ((bits >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    // Inverse of Poisson(1)'s distribution function.
    let (mut k, mut p, mut cumulative) = (0, (-1f64).exp(), (-1f64).exp());
    while u > cumulative && k < 50 {
        k += 1;
        p /= k as f64;
        cumulative += p;
    }
    k
}

/// Adds a boosting cell's 64-bit sums to its exact cells and empties it.
fn move_near(near: &mut [i64; 3], cells: &mut [i128]) {
    for (cell, sum) in cells.iter_mut().zip(near.iter_mut()) {
        *cell += std::mem::take(sum) as i128;
    }
}

/// Whether a row in `bin` of the split feature goes to the left child.
pub fn goes_left(rule: &Rule, bin: usize) -> bool {
    match rule {
        Rule::AtMost(b) => bin <= *b,
        Rule::In(bins) => bins.contains(&bin),
    }
}

impl LevelPartial {
    /// A boosting pass over a batch: each row's bins, scores, gradients and node come from what
    /// this process kept of the batch ([`score_cache`]) when it read the same rows before.
    fn update_boosting(&mut self, scale: f64, values: &[ArrayRef]) {
        let Target::Gradients { scores: model, .. } = &self.level.target else { return };
        let rows = values[0].len();
        let width = values.len() - 1;
        let mut kept = score_cache::take(model, values, || score_cache::read_rows(model, &self.row_bins, &self.classes, values));
        let trees = self.level.trees.len();
        if self.near.is_empty() {
            self.near = vec![[0; 3]; self.histograms.cells.len() / 3];
        }
        let features: Vec<(usize, usize)> = self.offsets.iter().copied().zip(self.counted_bins.iter().copied()).collect();
        let rows_kept = kept.for_level(model, scale);
        for row in 0..rows {
            if rows_kept.targets[row].is_none() {
                continue;
            }
            let bins = &rows_kept.bins[row * width..(row + 1) * width];
            for tree in 0..trees {
                let from = &mut rows_kept.nodes[row * trees + tree];
                let node = leaf_from(&self.level.trees[tree], *from as usize, |f| bins[f] as usize);
                *from = node as u32;
                let Some(slot) = self.slots[tree].get(node).copied().flatten() else { continue };
                let (g, h) = rows_kept.gradients[row * trees + tree];
                let node_base = slot * self.total_bins;
                for (bin, (offset, counted)) in bins.iter().zip(&features) {
                    let bin = *bin as usize;
                    if bin >= *counted {
                        continue;
                    }
                    let at = node_base + offset + bin;
                    let near = &mut self.near[at];
                    near[0] += 1;
                    near[1] += g;
                    near[2] += h;
                    if near[0] == NEAR_ROWS {
                        move_near(near, &mut self.histograms.cells[at * 3..at * 3 + 3]);
                    }
                }
            }
        }
        score_cache::give_back(model, values, kept);
    }

    /// Moves every boosting cell's rows not yet in `histograms` into it.
    fn move_all_near(&mut self) {
        for (near, cells) in self.near.iter_mut().zip(self.histograms.cells.chunks_exact_mut(3)) {
            move_near(near, cells);
        }
    }
}

impl Partial for LevelPartial {
    /// `values`: the row key (for a forest), the target, then the features.
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (keys, values) = match self.level.bootstrap {
            Some(_) => (Some(values[0].as_primitive::<Float64Type>()), &values[1..]),
            None => (None, values),
        };
        let (target, features) = values.split_first().ok_or_else(|| coded("XX000", "a tree pass without a target"))?;
        if let (Target::Gradients { scale, .. }, None) = (&self.level.target, self.level.bootstrap) {
            self.update_boosting(*scale, values);
            return Ok(());
        }
        let rows = target.len();
        let nulls = null_rows(values, rows);
        let width = self.level.target.width();
        let trees = self.level.trees.len();
        let mut lazy = LazyBins::new(&self.row_bins, features);
        // Per tree, what a row adds to each of its cells (a class's count alone for classes).
        let mut add = vec![0i128; width * trees];
        for (row, null) in nulls.iter().enumerate() {
            if *null {
                continue;
            }
            lazy.start(row);
            let mut class = None;
            match &self.level.target {
                Target::Classes(_) => match self.classes.of(target.as_string::<i32>().value(row)) {
                    Some(found) => class = Some(found),
                    None => continue,
                },
                Target::Values { scale, square_scale } => {
                    let y = target.as_primitive::<Float64Type>().value(row);
                    for t in 0..trees {
                        add[t * width] = 1;
                        add[t * width + 1] = (y * scale).round() as i128;
                        add[t * width + 2] = (y * y * square_scale).round() as i128;
                    }
                }
                Target::Gradients { .. } => return Err(coded("XX000", "boosting rows with bootstrap weights")),
            }
            for tree in 0..trees {
                let node = leaf_from(&self.level.trees[tree], 0, |f| lazy.get(f));
                let Some(slot) = self.slots[tree].get(node).copied().flatten() else { continue };
                let weight = match (self.level.bootstrap, keys) {
                    (Some(seed), Some(keys)) => bootstrap_weight(keys.value(row), seed, tree),
                    _ => 1,
                };
                if weight == 0 {
                    continue;
                }
                let add = &add[tree * width..(tree + 1) * width];
                let node_base = slot * self.total_bins;
                for (f, bin) in lazy.all().iter().enumerate() {
                    if *bin >= self.level.bins[f].count() {
                        continue;
                    }
                    let base = (node_base + self.offsets[f] + bin) * width;
                    match class {
                        Some(class) => self.histograms.cells[base + class] += weight,
                        None => {
                            for (cell, a) in self.histograms.cells[base..base + width].iter_mut().zip(add) {
                                *cell += weight * a;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        let other: Histograms = from_json(bytes)?;
        if other.cells.len() != self.histograms.cells.len() {
            return Err(coded("XX000", "tree histograms of different shapes"));
        }
        self.histograms.cells.iter_mut().zip(other.cells).for_each(|(a, b)| *a += b);
        Ok(())
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        self.move_all_near();
        to_json(&self.histograms)
    }

    fn size(&self) -> usize {
        self.histograms.cells.len() * 16 + self.near.len() * 24
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::algorithms::boosting_scores::Loss;

    /// A boosting pass's cells, summed in 64 bits and moved into the exact cells every
    /// [`NEAR_ROWS`] rows, equal the sums of every row's fixed-point gradient and hessian.
    #[test]
    fn boosting_cells_equal_the_rows_sums_past_the_64_bit_batches() {
        use std::sync::Arc;

        use datafusion::arrow::array::Float64Array;

        let rows = 5 * NEAR_ROWS as usize + 17;
        let x: Vec<f64> = (0..rows).map(|i| (i % 3) as f64).collect();
        let y: Vec<f64> = (0..rows).map(|i| ((i * 7919) % 101) as f64 - 50.0).collect();
        let scores = Scores { loss: Loss::Squared, base: vec![3.25], rounds: vec![], first_round: 0, training: 0 };
        let target = Target::gradients(200.0, scores);
        let Target::Gradients { scale, .. } = target else { unreachable!() };
        let level = Level { bins: vec![Bins::Numeric { edges: vec![0.5, 1.5] }], target, trees: vec![vec![None]], open: vec![(0, 0)], bootstrap: None };
        let mut partial = partial(level);
        partial.update(&[Arc::new(Float64Array::from(y.clone())) as ArrayRef, Arc::new(Float64Array::from(x.clone()))]).unwrap();
        let got: Histograms = from_json(&partial.to_bytes().unwrap()).unwrap();
        let mut want = vec![0i128; 9];
        for (x, y) in x.iter().zip(&y) {
            let bin = *x as usize;
            want[bin * 3] += 1;
            want[bin * 3 + 1] += ((3.25 - y) * scale).round() as i128;
            want[bin * 3 + 2] += scale.round() as i128;
        }
        assert_eq!(got.cells, want);
        assert!(want.iter().step_by(3).all(|rows| *rows > NEAR_ROWS as i128), "{want:?}");
    }

    #[test]
    fn bootstrap_weights_average_one() {
        let weights: Vec<i128> = (0..100_000).map(|i| bootstrap_weight(i as f64 / 100_000.0, 7, 3)).collect();
        let total: i128 = weights.iter().sum();
        assert!((total - 100_000).abs() < 1_500, "{total}");
        // Poisson(1): a row is left out of a tree e^-1 of the time.
        let left_out = weights.iter().filter(|w| **w == 0).count() as f64 / 1e5;
        assert!((left_out - (-1f64).exp()).abs() < 0.01, "{left_out}");
    }
}
