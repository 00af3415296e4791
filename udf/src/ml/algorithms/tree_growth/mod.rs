//! Growing trees on all training rows by distributed histograms, as Spark MLlib (PLANET) and
//! LightGBM grow theirs, for `decision_tree` (one tree) and `random_forest` (many, all grown in
//! the same passes): one pass finds every feature's bins ([`super::bins`]), then each level is
//! one pass in which the executors count, per node still to split, the target over every
//! (feature, bin) ([`super::histograms`]); the coordinator picks each node's best split and
//! starts the next level. A level whose nodes need more cells than one pass holds is split over
//! several passes. Of two siblings, the executors count only the one with fewer rows; the other's
//! cells are their parent's less the counted one's, exactly (the cells are integers), as LightGBM
//! subtracts histograms: a level pass adds up at most half of its rows.
//!
//! Options as scikit-learn's trees: `max_depth` (splits from the root; none by default),
//! `min_samples_split`, `min_samples_leaf`, `min_impurity_decrease` and, for classification,
//! `criterion` (gini or entropy); `max_bins` (default 32) bounds the thresholds tried per
//! numeric feature. A forest's trees see bootstrap weights and, at each node, a random subset of
//! the features ([`Ensemble`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::bins::{self, Bins};
use super::held_rounds;
use super::holdout_loss::{self, Patience, Scoring};
use super::scan::Scan;
use super::score_cache;
use super::boosting_scores::{Loss, Scored, Scores};
use super::histograms::{self, Histograms, Level, Routing, Rule, Target, MAX_CELLS};
use super::splits::{self, best_split, Criterion, Limits, Stats};
use super::tree_walk::Node;
use super::{check_classes, from_json, Pass, Setup};
use crate::functions::blob_aggregate::Partial;
use crate::ml::error::{coded, invalid};
use crate::ml::features::{Encoding, Kind};
use crate::ml::model::Task;
use crate::ml::row_hash::mix;

mod boosting_rounds;

use boosting_rounds::boosting_target;

/// The options every tree takes.
pub const OPTIONS: &[&str] = &["max_depth", "min_samples_split", "min_samples_leaf", "min_impurity_decrease", "criterion", "max_bins"];

/// The passes, as the executors get them.
#[derive(Serialize, Deserialize)]
pub enum Spec {
    Bins(bins::Columns),
    Level(Level),
    /// Boosting's early stopping: the holdout rows' loss under the rounds so far.
    HoldoutLoss(Scoring),
}

/// The executors' side of a pass of [`Spec`].
pub fn partial(spec: &[u8]) -> Result<Box<dyn Partial>> {
    Ok(match from_json(spec)? {
        Spec::Bins(columns) => bins::partial(columns),
        Spec::Level(mut level) => {
            if let Target::Gradients { scores, .. } = &mut level.target {
                held_rounds::complete(scores)?;
            }
            histograms::partial(level)
        }
        Spec::HoldoutLoss(mut scoring) => {
            held_rounds::complete(&mut scoring.scores)?;
            holdout_loss::partial(scoring)
        }
    })
}

/// How many trees, and how each differs: bootstrap weights from the row's key and a random
/// subset of `max_features` features per node.
pub struct Ensemble {
    pub trees: usize,
    pub bootstrap: bool,
    pub max_features: Option<usize>,
    /// Gradient boosting: rounds of trees fitted to the loss's gradients ([`super::boosted_trees`]).
    pub boosting: Option<Boosting>,
}

/// Gradient boosting's settings.
#[derive(Debug, Clone, Copy)]
pub struct Boosting {
    pub rounds: usize,
    pub learning_rate: f64,
    pub l2: f64,
    /// The least sum of hessians in a leaf.
    pub min_child_weight: f64,
    /// Stop once this many rounds in a row have not lowered the holdout rows' loss, keeping
    /// the rounds up to the best ([`super::holdout_loss`]).
    pub early_stopping: Option<usize>,
}

/// A boosted model's rounds, as [`Grower::finish_boosted`] gives them.
pub struct Boosted {
    pub loss: Loss,
    pub base: Vec<f64>,
    /// Per round, per tree of the round, its nodes (`output`: the leaf's value).
    pub rounds: Vec<Vec<Vec<Node>>>,
    pub encodings: Vec<Encoding>,
    pub features: usize,
    pub rows: u64,
    /// Per feature, the gain of its splits over the rounds kept (XGBoost's `total_gain`).
    pub gains: Vec<f64>,
}

struct Growth {
    max_depth: Option<usize>,
    min_samples_split: u64,
    min_samples_leaf: u64,
    min_impurity_decrease: f64,
    criterion: Criterion,
}

/// A counted node's sibling, which a level pass does not count: its cells are `parent`'s less
/// the counted node's.
struct Subtraction {
    parent: Vec<i128>,
    sibling: usize,
    /// Whether the counted node itself is to be split (else it is counted for its sibling only).
    counted_splits: bool,
}

/// A node of a tree being grown.
struct Grown {
    depth: usize,
    /// Its rows' target cells (known once its parent's level has run; the root's from its own).
    stats: Option<Stats>,
    routing: Option<Routing>,
}

/// The grown trees, as models keep them.
pub struct Trees {
    /// Per tree, its nodes and each node's class shares (classification) or `[mean]`.
    pub trees: Vec<(Vec<Node>, Vec<Vec<f64>>)>,
    pub encodings: Vec<Encoding>,
    pub classes: Option<Vec<String>>,
    pub features: usize,
    pub rows: u64,
}

/// The coordinator's side: the passes to ask for and what their results make of the trees.
pub struct Grower {
    setup: Setup,
    name: &'static str,
    growth: Growth,
    ensemble: Ensemble,
    max_bins: usize,
    bins: Option<Vec<Bins>>,
    target: Option<Target>,
    rows: u64,
    trees: Vec<Vec<Grown>>,
    /// (tree, node) still to histogram, breadth first, and those of the pass running.
    queue: VecDeque<(usize, usize)>,
    batch: Vec<(usize, usize)>,
    /// (tree, counted node) → its sibling, whose cells are the parent's less its own.
    subtractions: HashMap<(usize, usize), Subtraction>,
    /// Whether siblings are subtracted (always, but in the test that checks they equal counting).
    subtract: bool,
    /// Boosting: the rounds finished.
    rounds_done: usize,
    /// Boosting: whether the round just grown is closed (its values in the scores), whether its
    /// holdout pass is running, the holdout losses so far, and whether they stopped training.
    round_closed: bool,
    awaiting_holdout: bool,
    patience: Patience,
    stopped: bool,
    /// Boosting: the rounds the processes hold (sent by a pass that ran), and those the pass
    /// running sends ([`held_rounds`]).
    rounds_held: usize,
    rounds_sending: usize,
    /// Boosting: per round closed, per feature, the gain of its splits (their trees' nodes keep
    /// no statistics), for the importance.
    round_gains: Vec<Vec<f64>>,
    /// The pass running, as [`Grower::pass_in_full`] sends it again.
    running: Option<Running>,
}

/// A pass as it was asked for.
struct Running {
    description: String,
    spec: Spec,
    row_key: bool,
    holdout: bool,
}

fn too_many_cells(cells: usize) -> datafusion::error::DataFusionError {
    coded(
        "54000",
        format!("a node of this tree needs {cells} histogram cells (features × bins × classes); squall keeps at most {MAX_CELLS} per pass: lower max_bins or use fewer features or classes"),
    )
}

impl Grower {
    /// Reads the options (22023) and refuses what is too big already (54000).
    pub fn new(name: &'static str, setup: Setup, ensemble: Ensemble) -> Result<Grower> {
        let options = &setup.options;
        let classification = setup.task == Task::Classification;
        if !classification && options.text("criterion").is_some() {
            return Err(invalid("option \"criterion\" applies to classification trees only"));
        }
        let criterion = match options.choice("criterion", "gini", &["gini", "entropy"])? {
            _ if ensemble.boosting.is_some() => Criterion::Gradient { l2: ensemble.boosting.map_or(0.0, |b| b.l2) },
            _ if !classification => Criterion::Variance,
            "entropy" => Criterion::Entropy,
            _ => Criterion::Gini,
        };
        let growth = Growth {
            max_depth: options.optional_integer("max_depth", 1, 1000)?.map(|d| d as usize),
            min_samples_split: options.integer("min_samples_split", 2, 2, u32::MAX as u64)?,
            // LightGBM's and scikit-learn's boosted trees leave at least 20 rows in a leaf.
            min_samples_leaf: options.integer("min_samples_leaf", if ensemble.boosting.is_some() { 20 } else { 1 }, 1, u32::MAX as u64)?,
            min_impurity_decrease: options.float("min_impurity_decrease", 0.0, (0.0, 1e300))?,
            criterion,
        };
        let max_bins = options.integer("max_bins", 32, 2, 65_536)? as usize;
        // What is known before any pass: every numeric feature's bins (three cells each for
        // regression; the classes are counted by the first pass).
        let known = setup.features.len() * max_bins * if classification { 2 } else { 3 };
        if known > MAX_CELLS {
            return Err(too_many_cells(known));
        }
        Ok(Grower { setup, name, growth, ensemble, max_bins, bins: None, target: None, rows: 0, trees: vec![], queue: VecDeque::new(), batch: vec![], subtractions: HashMap::new(), subtract: true, rounds_done: 0, round_closed: false, awaiting_holdout: false, patience: Patience::default(), stopped: false, rounds_held: 0, rounds_sending: 0, round_gains: vec![], running: None })
    }

    fn target(&self) -> &Target {
        self.target.as_ref().expect("the bins pass comes first")
    }

    /// Whether a node with these rows at this depth is a leaf without looking at its splits.
    fn stops(&self, stats: &Stats, depth: usize) -> bool {
        let target = self.target();
        if let Some(boosting) = self.ensemble.boosting {
            return stats.rows(target) < 2 * self.growth.min_samples_leaf
                || self.growth.max_depth.is_some_and(|max| depth >= max)
                || stats.gradient_sums(target).1 < 2.0 * boosting.min_child_weight;
        }
        stats.rows(target) < self.growth.min_samples_split
            || self.growth.max_depth.is_some_and(|max| depth >= max)
            || stats.impurity(target, self.growth.criterion) <= 1e-12
    }

    /// The features a node may split on: all, or a forest's random subset (seeded by the tree
    /// and the node, so the same on every run).
    fn candidates(&self, tree: usize, node: usize) -> Vec<bool> {
        let features = self.bins.as_ref().map_or(0, Vec::len);
        let Some(m) = self.ensemble.max_features.filter(|m| *m < features) else { return vec![true; features] };
        let mut keys: Vec<(u64, usize)> = (0..features).map(|f| (mix(self.setup.seed ^ mix((tree as u64) << 32 ^ node as u64) ^ f as u64), f)).collect();
        keys.sort_unstable();
        let mut chosen = vec![false; features];
        keys.iter().take(m).for_each(|(_, f)| chosen[*f] = true);
        chosen
    }

    /// Sets the node's rows and, if it splits (by scikit-learn's weighted
    /// `min_impurity_decrease`), adds its children.
    fn split(&mut self, tree: usize, node: usize, cells: &[i128]) {
        let stats = splits::totals(cells, self.bins.as_deref().unwrap_or_default(), self.target());
        let depth = self.trees[tree][node].depth;
        let stop = self.stops(&stats, depth);
        self.trees[tree][node].stats = Some(stats);
        if stop {
            return;
        }
        let limits = Limits {
            criterion: self.growth.criterion,
            min_samples_leaf: self.growth.min_samples_leaf,
            features: self.candidates(tree, node),
            min_hessian: self.ensemble.boosting.map_or(0.0, |b| b.min_child_weight),
        };
        let Some(found) = best_split(cells, self.bins.as_deref().unwrap_or_default(), self.target(), &limits) else { return };
        if found.decrease / self.rows as f64 + 1e-12 < self.growth.min_impurity_decrease || (self.ensemble.boosting.is_some() && found.decrease <= 0.0) {
            return;
        }
        let target = self.target();
        let children = [self.trees[tree].len(), self.trees[tree].len() + 1];
        let splits = [!self.stops(&found.left, depth + 1), !self.stops(&found.right, depth + 1)];
        // The child with fewer rows is counted (the left of equals); the other is subtracted.
        let (counted, subtracted) = if found.right.rows(target) < found.left.rows(target) { (1, 0) } else { (0, 1) };
        if !self.subtract {
            (0..2).filter(|i| splits[*i]).for_each(|i| self.queue.push_back((tree, children[i])));
        } else if splits[subtracted] {
            let subtraction = Subtraction { parent: cells.to_vec(), sibling: children[subtracted], counted_splits: splits[counted] };
            self.subtractions.insert((tree, children[counted]), subtraction);
            self.queue.push_back((tree, children[counted]));
        } else if splits[counted] {
            self.queue.push_back((tree, children[counted]));
        }
        for stats in [found.left, found.right] {
            self.trees[tree].push(Grown { depth: depth + 1, stats: Some(stats), routing: None });
        }
        self.trees[tree][node].routing = Some(Routing { feature: found.feature, rule: found.rule, left: children[0], right: children[1] });
    }

    /// Splits a node counted by a level pass and, if its sibling is to be split too, the sibling
    /// from its parent's cells less the counted node's, the left child first (as they were made).
    fn split_counted(&mut self, tree: usize, node: usize, cells: &[i128]) {
        let Some(Subtraction { parent, sibling, .. }) = self.subtractions.remove(&(tree, node)) else {
            return self.split(tree, node, cells);
        };
        let sibling_cells: Vec<i128> = parent.iter().zip(cells).map(|(p, c)| p - c).collect();
        if node < sibling {
            self.split(tree, node, cells);
            self.split(tree, sibling, &sibling_cells);
        } else {
            self.split(tree, sibling, &sibling_cells);
            self.split(tree, node, cells);
        }
    }

    /// Starts `trees` trees of a root each.
    fn plant(&mut self, trees: usize) {
        self.trees = (0..trees).map(|_| vec![Grown { depth: 0, stats: None, routing: None }]).collect();
        self.queue = (0..trees).map(|tree| (tree, 0)).collect();
        self.subtractions.clear();
    }

    /// The pass of `running`, kept for [`Grower::pass_in_full`].
    fn pass(&mut self, running: Running) -> Result<Pass> {
        let mut pass = Pass::new(running.description.clone(), &running.spec)?;
        (pass.row_key, pass.holdout) = (running.row_key, running.holdout);
        self.running = Some(running);
        Ok(pass)
    }

    /// The next pass: the bins, then the levels; `None` once every tree is grown.
    pub fn next_pass(&mut self) -> Result<Option<Pass>> {
        if self.bins.is_none() {
            return bins::pass(&self.setup, Spec::Bins).map(Some);
        }
        if self.queue.is_empty() {
            if let Some(pass) = self.after_round()? {
                return Ok(Some(pass));
            }
        }
        let (Some(bins), Some(target)) = (&self.bins, &self.target) else { return Ok(None) };
        let per_node = Level::cells_per_node(bins, target);
        let fit = (MAX_CELLS / per_node).max(1);
        self.batch = (0..fit).map_while(|_| self.queue.pop_front()).collect();
        let Some((tree, node)) = self.batch.first() else { return Ok(None) };
        let depth = self.trees[*tree][*node].depth;
        let of_trees = match self.ensemble.boosting {
            Some(boosting) => format!(" of round {} of {}", self.rounds_done + 1, boosting.rounds),
            None if self.ensemble.trees > 1 => format!(" of {} trees", self.ensemble.trees),
            None => String::new(),
        };
        let to_split: usize = self.batch.iter().map(|key| self.subtractions.get(key).map_or(1, |s| 1 + usize::from(s.counted_splits))).sum();
        let subtracted = self.batch.iter().filter(|key| self.subtractions.contains_key(key)).count();
        let description = match self.growth.max_depth {
            Some(max) => format!("level {} of at most {max}, {to_split} nodes{of_trees} to split, {} rows", depth + 1, self.rows),
            None => format!("level {}, {to_split} nodes{of_trees} to split, {} rows", depth + 1, self.rows),
        };
        let description = format!("{description} ({} counted, {subtracted} by subtraction)", self.batch.len());
        let target = match self.target.clone() {
            Some(Target::Gradients { scale, scores }) => Target::Gradients { scale, scores: Box::new(self.sent_scores(&scores)) },
            other => other.expect("the bins pass comes first"),
        };
        let level = Level {
            bins: self.bins.clone().unwrap_or_default(),
            target,
            trees: self.trees.iter().map(|nodes| nodes.iter().map(|n| n.routing.clone()).collect()).collect(),
            open: self.batch.clone(),
            bootstrap: self.ensemble.bootstrap.then_some(self.setup.seed),
        };
        self.pass(Running { description, spec: Spec::Level(level), row_key: self.ensemble.bootstrap, holdout: false }).map(Some)
    }

    /// Takes a pass's merged result.
    pub fn absorb(&mut self, merged: &[u8]) -> Result<Option<String>> {
        // The processes that ran the pass hold the rounds it sent.
        self.running = None;
        self.rounds_held = self.rounds_sending;
        if std::mem::take(&mut self.awaiting_holdout) {
            let patience = self.ensemble.boosting.and_then(|b| b.early_stopping).unwrap_or(1);
            return self.absorb_holdout(merged, patience);
        }
        if self.bins.is_none() {
            let (scan, bins) = bins::bins_from(&self.setup, merged, self.max_bins)?;
            let target = match self.setup.task {
                Task::Classification => {
                    let classes = scan.categories_of(0);
                    check_classes(&self.setup, &classes)?;
                    match self.ensemble.boosting {
                        Some(_) => boosting_target(classes, &scan),
                        None => Target::Classes(classes),
                    }
                }
                _ => match self.ensemble.boosting {
                    Some(_) => boosting_target(vec![], &scan),
                    None => Target::values(scan.max_abs.first().copied().unwrap_or(0.0)),
                },
            };
            let per_node = Level::cells_per_node(&bins, &target);
            if per_node > MAX_CELLS {
                return Err(too_many_cells(per_node));
            }
            self.rows = scan.rows;
            self.bins = Some(bins);
            self.target = Some(target);
            let trees = match &self.target {
                Some(Target::Gradients { scores, .. }) => scores.base.len(),
                _ => self.ensemble.trees,
            };
            self.plant(trees);
            return Ok(None);
        }
        let histograms = Histograms::decode(merged)?;
        let per_node = Level::cells_per_node(self.bins.as_deref().unwrap_or_default(), self.target());
        if histograms.cells.len() != per_node * self.batch.len() {
            return Err(coded("XX000", format!("{}: a level's histograms do not have its nodes' cells", self.name)));
        }
        // Each node counted holds the rows its parent's split sent it, to the unit (the cells
        // are exact): a pass whose histograms say otherwise read rows it should not have, or
        // missed some, and must not grow the trees.
        for (slot, (tree, node)) in self.batch.iter().enumerate() {
            let counted = splits::totals(splits::node_cells(&histograms, slot, per_node), self.bins.as_deref().unwrap_or_default(), self.target());
            if let Some(expected) = self.trees[*tree][*node].stats.as_ref().filter(|expected| **expected != counted) {
                return Err(coded(
                    "XX000",
                    format!(
                        "{}: the level pass counted other rows in node {node} of tree {tree} than its parent's split sent it ({:?} against {:?}): the pass is refused rather than grow a different tree",
                        self.name, counted.0, expected.0
                    ),
                ));
            }
        }
        for (slot, (tree, node)) in std::mem::take(&mut self.batch).into_iter().enumerate() {
            self.split_counted(tree, node, splits::node_cells(&histograms, slot, per_node));
        }
        Ok(None)
    }

    /// The grown trees (after the last pass).
    pub fn finish(self) -> Result<Trees> {
        let (Some(bins), Some(target)) = (self.bins, self.target) else {
            return Err(coded("XX000", "training finished before its passes ran"));
        };
        let classification = matches!(target, Target::Classes(_));
        let trees = self
            .trees
            .iter()
            .map(|grown| {
                grown
                    .iter()
                    .map(|grown| {
                        let stats = grown.stats.clone().unwrap_or(Stats(vec![0; target.width()]));
                        let output = stats.output(&target);
                        let value = if classification { super::argmax(&output) as f64 } else { output[0] };
                        let node = node(&grown.routing, &bins, value, &stats, &target, self.growth.criterion);
                        (node, output)
                    })
                    .unzip()
            })
            .collect();
        let classes = match target {
            Target::Classes(classes) => Some(classes),
            _ => None,
        };
        Ok(Trees { trees, encodings: encodings(&self.setup, &bins), classes, features: bins.len(), rows: self.rows })
    }

    /// A boosted model's rounds (after the last pass).
    pub fn finish_boosted(self) -> Result<Boosted> {
        let (Some(bins), Some(Target::Gradients { scale, scores })) = (self.bins, self.target) else {
            return Err(coded("XX000", "training finished before its passes ran"));
        };
        let target = Target::Gradients { scale, scores: Box::new(Scores { loss: scores.loss.clone(), base: vec![], rounds: vec![], first_round: 0, training: 0 }) };
        let rounds = scores
            .rounds
            .iter()
            .map(|round| {
                round
                    .iter()
                    .map(|tree| {
                        let none = Stats(vec![0; 3]);
                        tree.routing.iter().zip(&tree.values).map(|(routing, value)| node(routing, &bins, *value, &none, &target, self.growth.criterion)).collect()
                    })
                    .collect()
            })
            .collect();
        let mut gains = vec![0.0; bins.len()];
        for round in &self.round_gains {
            gains.iter_mut().zip(round).for_each(|(total, gain)| *total += gain);
        }
        Ok(Boosted { loss: scores.loss, base: scores.base, rounds, encodings: encodings(&self.setup, &bins), features: bins.len(), rows: self.rows, gains })
    }
}

/// A node as models keep it: its split in the features' values (a bin's edge, or the category
/// codes that go left), `output` and its rows' statistics.
fn node(routing: &Option<Routing>, bins: &[Bins], output: f64, stats: &Stats, target: &Target, criterion: Criterion) -> Node {
    let (split_value, categories) = match routing {
        Some(Routing { feature, rule: Rule::AtMost(b), .. }) => match &bins[*feature] {
            Bins::Numeric { edges } => (Some(edges[*b]), None),
            Bins::Categorical { .. } => (None, Some((0..=*b).collect())),
        },
        Some(Routing { rule: Rule::In(set), .. }) => (None, Some(set.clone())),
        None => (None, None),
    };
    Node {
        split_feature: routing.as_ref().map_or(0, |r| r.feature),
        split_value,
        true_child: routing.as_ref().map(|r| r.left),
        false_child: routing.as_ref().map(|r| r.right),
        output,
        n_node_samples: Some(stats.rows(target) as f64),
        impurity: Some(stats.impurity(target, criterion)),
        categories,
    }
}

/// How prediction encodes the features: numbers as they are, categories by their bin.
fn encodings(setup: &Setup, bins: &[Bins]) -> Vec<Encoding> {
    setup
        .features
        .iter()
        .zip(bins)
        .map(|((_, kind), bins)| match (kind, bins) {
            (Kind::Categorical, Bins::Categorical { categories }) => Encoding::Ordinal { categories: categories.clone() },
            _ => Encoding::Number,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};

    use super::*;
    use crate::ml::features::Kind;
    use crate::ml::options::Options;

    /// Three batches of rows: a row key, a class (or, for regression, a number), two numbers
    /// and a category; the class follows the numbers and the category, with noise.
    fn batches(regression: bool) -> Vec<Vec<ArrayRef>> {
        let mut state = 11u64;
        let mut next = move || {
            state = mix(state.wrapping_add(0x9e37_79b9_7f4a_7c15));
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..3)
            .map(|_| {
                let rows = 1500;
                let (mut key, mut y, mut num, mut a, mut b, mut c) = (vec![], vec![], vec![], vec![], vec![], vec![]);
                for _ in 0..rows {
                    let (x1, x2, noise) = ((next() * 40.0).floor(), next() * 10.0, next());
                    let category = ["red", "green", "blue", "grey"][(next() * 4.0) as usize];
                    let score = x1 / 40.0 + x2 / 20.0 + if category == "blue" { 0.4 } else { 0.0 } + noise * 0.3;
                    key.push(next());
                    y.push(["low", "mid", "high"][((score / 0.7) as usize).min(2)]);
                    num.push(score * 100.0);
                    a.push(x1);
                    b.push(x2);
                    c.push(category);
                }
                let target: ArrayRef = if regression { Arc::new(Float64Array::from(num)) } else { Arc::new(StringArray::from(y)) };
                vec![Arc::new(Float64Array::from(key)) as ArrayRef, target, Arc::new(Float64Array::from(a)), Arc::new(Float64Array::from(b)), Arc::new(StringArray::from(c))]
            })
            .collect()
    }

    /// Runs every pass here as the executors would (a partial state per batch, merged), and
    /// returns the grower after its last pass.
    fn grow(task: Task, options: &[(&str, &str)], ensemble: Ensemble, subtract: bool) -> Grower {
        grow_forgetting(task, options, ensemble, subtract, None).0
    }

    /// [`grow`], the process forgetting the rounds it holds before every `forget_every`th pass
    /// (as an executor new to the training would hold none); also says how many passes were
    /// refused for it and sent again in full.
    fn grow_forgetting(task: Task, options: &[(&str, &str)], ensemble: Ensemble, subtract: bool, forget_every: Option<usize>) -> (Grower, usize) {
        let given: Vec<(String, String)> = options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let allowed = [OPTIONS, &["n_trees", "max_features", "n_rounds", "learning_rate", "l2", "min_child_weight"]].concat();
        let setup = Setup {
            task,
            target: Some("y".into()),
            features: vec![("a".into(), Kind::Numeric), ("b".into(), Kind::Numeric), ("c".into(), Kind::Categorical)],
            options: Options::new(&given, &allowed, "test").unwrap(),
            seed: 5,
            max_training_rows: None,
            skip_nulls: false,
            holdout: false,
            warm: None,
        };
        let mut grower = Grower::new("test", setup, ensemble).unwrap();
        grower.subtract = subtract;
        let batches = batches(task == Task::Regression);
        let (mut passes, mut refused) = (0, 0);
        let run = |pass: &Pass| -> Result<Vec<Vec<u8>>> {
            batches
                .iter()
                .map(|batch| {
                    let mut partial = partial(&pass.spec)?;
                    partial.update(if pass.row_key { batch } else { &batch[1..] })?;
                    partial.to_bytes()
                })
                .collect()
        };
        while let Some(mut pass) = grower.next_pass().unwrap() {
            passes += 1;
            if let (Some(every), Some(Target::Gradients { scores, .. })) = (forget_every, &grower.target) {
                if passes % every == 0 {
                    held_rounds::forget(scores.training);
                }
            }
            let mut states = match run(&pass) {
                Err(e) if e.to_string().contains(held_rounds::NOT_HELD) => {
                    refused += 1;
                    pass = grower.pass_in_full().unwrap().expect("a pass that left rounds out");
                    run(&pass).unwrap()
                }
                states => states.unwrap(),
            };
            let mut merged = partial(&pass.spec).unwrap();
            states.drain(..).for_each(|state| merged.merge(&state).unwrap());
            grower.absorb(&merged.to_bytes().unwrap()).unwrap();
            if !subtract {
                // Every node counted, and boosting's rows scored from the trees in every pass
                // instead of from what the process kept of them.
                if let Some(Target::Gradients { scores, .. }) = &mut grower.target {
                    scores.training = 0;
                }
            }
        }
        (grower, refused)
    }

    fn single() -> Ensemble {
        Ensemble { trees: 1, bootstrap: false, max_features: None, boosting: None }
    }

    /// Subtracting a counted sibling from its parent gives the very trees that counting every
    /// node gives: trees, forests (bootstrap weights) and boosted rounds, classes and numbers;
    /// and boosting from the rows' scores, gradients and nodes kept between passes gives the
    /// rounds that scoring and routing every row from the start gives.
    #[test]
    fn siblings_by_subtraction_grow_the_trees_counting_grows() {
        let forest = || Ensemble { trees: 4, bootstrap: true, max_features: Some(2), boosting: None };
        let boosting = Boosting { rounds: 3, learning_rate: 0.3, l2: 1.0, min_child_weight: 1.0, early_stopping: None };
        let boosted = || Ensemble { trees: 1, bootstrap: false, max_features: None, boosting: Some(boosting) };
        for (task, options) in [(Task::Classification, vec![("max_depth", "6")]), (Task::Regression, vec![("max_depth", "5"), ("min_samples_leaf", "3")])] {
            for ensemble in [single as fn() -> Ensemble, forest] {
                let (subtracted, counted) = (grow(task, &options, ensemble(), true).finish().unwrap(), grow(task, &options, ensemble(), false).finish().unwrap());
                assert_eq!(subtracted.trees, counted.trees, "{task:?}");
                assert!(subtracted.trees.iter().all(|(nodes, _)| nodes.len() > 7), "trees that split: {:?}", subtracted.trees[0].0.len());
            }
            let (subtracted, counted) = (grow(task, &[("max_depth", "4")], boosted(), true).finish_boosted().unwrap(), grow(task, &[("max_depth", "4")], boosted(), false).finish_boosted().unwrap());
            assert_eq!(subtracted.rounds, counted.rounds, "{task:?}");
            assert_eq!(subtracted.rounds.len(), 3);
        }
    }

    /// Boosting's passes send only the rounds the processes do not hold; a process that holds
    /// none (as an executor that joined during the training) refuses such a pass, which is sent
    /// again with every round: the same rounds as when no process forgets.
    #[test]
    fn a_pass_refused_for_rounds_not_held_is_sent_again_in_full() {
        let boosting = Boosting { rounds: 4, learning_rate: 0.3, l2: 1.0, min_child_weight: 1.0, early_stopping: None };
        let boosted = || Ensemble { trees: 1, bootstrap: false, max_features: None, boosting: Some(boosting) };
        for task in [Task::Classification, Task::Regression] {
            let options = [("max_depth", "3")];
            let (forgetting, refused) = grow_forgetting(task, &options, boosted(), true, Some(4));
            let (holding, none_refused) = grow_forgetting(task, &options, boosted(), true, None);
            assert!(refused >= 2, "{task:?}: {refused} passes refused");
            assert_eq!(none_refused, 0);
            assert_eq!(forgetting.finish_boosted().unwrap().rounds, holding.finish_boosted().unwrap().rounds, "{task:?}");
        }
    }
}
