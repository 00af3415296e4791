//! `decision_tree`: a CART tree grown on all training rows by distributed histograms, as Spark
//! MLlib (PLANET) and LightGBM grow theirs: one pass finds every feature's bins
//! ([`super::bins`]), then each level of the tree is one pass in which the executors count, per
//! node still to split, the target over every (feature, bin) ([`super::histograms`]); the
//! coordinator picks each node's best split and starts the next level. A level whose nodes need
//! more cells than one pass holds is split over several passes.
//!
//! Options as scikit-learn's `DecisionTreeClassifier` / `Regressor`: `max_depth` (splits from
//! the root; none by default), `min_samples_split`, `min_samples_leaf`, `min_impurity_decrease`
//! and, for classification, `criterion` (gini or entropy); `max_bins` (default 32) bounds the
//! thresholds tried per numeric feature. Class probabilities are the class shares of the
//! training rows in a leaf (scikit-learn's `predict_proba`).

use std::collections::VecDeque;

use datafusion::arrow::array::ArrayRef;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::bins::{self, Bins};
use super::histograms::{self, best_split, Criterion, Histograms, Level, Limits, Routing, Rule, Stats, Target, MAX_CELLS};
use super::tree_walk::{self, Node};
use super::{check_classes, from_json, tagged, untagged, Algorithm, Fitted, Pass, Predictor, Setup, Trainer};
use crate::functions::blob_aggregate::Partial;
use crate::ml::error::{coded, invalid};
use crate::ml::features::{Encoding, Feature, Kind, Matrix};
use crate::ml::model::{Output, Task};

pub struct DecisionTree;

impl Algorithm for DecisionTree {
    fn name(&self) -> &'static str {
        "decision_tree"
    }

    fn options(&self) -> &'static [&'static str] {
        &["max_depth", "min_samples_split", "min_samples_leaf", "min_impurity_decrease", "criterion", "max_bins"]
    }

    fn supports(&self, task: Task) -> bool {
        task != Task::Clustering
    }

    fn trainer(&self, setup: Setup) -> Result<Box<dyn Trainer>> {
        let options = &setup.options;
        let classification = setup.task == Task::Classification;
        let criterion = match options.choice("criterion", "gini", &["gini", "entropy"])? {
            _ if !classification && options.text("criterion").is_some() => {
                return Err(invalid("option \"criterion\" applies to classification trees only"));
            }
            _ if !classification => Criterion::Variance,
            "entropy" => Criterion::Entropy,
            _ => Criterion::Gini,
        };
        let growth = Growth {
            max_depth: options.optional_integer("max_depth", 1, 1000)?.map(|d| d as usize),
            min_samples_split: options.integer("min_samples_split", 2, 2, u32::MAX as u64)?,
            min_samples_leaf: options.integer("min_samples_leaf", 1, 1, u32::MAX as u64)?,
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
        Ok(Box::new(Growing { setup, growth, max_bins, bins: None, target: None, rows: 0, nodes: vec![], queue: VecDeque::new(), batch: vec![] }))
    }

    fn partial(&self, spec: &[u8]) -> Result<Box<dyn Partial>> {
        Ok(match from_json(spec)? {
            Spec::Bins(columns) => bins::partial(columns),
            Spec::Level(level) => histograms::partial(level),
        })
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(untagged::<Tree>(params)?))
    }
}

fn too_many_cells(cells: usize) -> datafusion::error::DataFusionError {
    coded(
        "54000",
        format!("a node of this tree needs {cells} histogram cells (features × bins × classes); squall keeps at most {MAX_CELLS} per pass: lower max_bins or use fewer features or classes"),
    )
}

/// The passes, as the executors get them.
#[derive(Serialize, Deserialize)]
enum Spec {
    Bins(bins::Columns),
    Level(Level),
}

struct Growth {
    max_depth: Option<usize>,
    min_samples_split: u64,
    min_samples_leaf: u64,
    min_impurity_decrease: f64,
    criterion: Criterion,
}

/// A node of the tree being grown.
struct Grown {
    depth: usize,
    /// Its rows' target cells (known once its parent's level has run; the root's from its own).
    stats: Option<Stats>,
    routing: Option<Routing>,
}

struct Growing {
    setup: Setup,
    growth: Growth,
    max_bins: usize,
    bins: Option<Vec<Bins>>,
    target: Option<Target>,
    rows: u64,
    nodes: Vec<Grown>,
    /// Nodes still to histogram, in breadth-first order, and those of the pass running.
    queue: VecDeque<usize>,
    batch: Vec<usize>,
}

impl Growing {
    /// Whether a node with these rows at this depth is a leaf without looking at its splits.
    fn stops(&self, stats: &Stats, depth: usize) -> bool {
        let target = self.target.as_ref().expect("bins first");
        stats.rows(target) < self.growth.min_samples_split
            || self.growth.max_depth.is_some_and(|max| depth >= max)
            || stats.impurity(target, self.growth.criterion) <= 1e-12
    }

    /// The node's split, if one passes `min_impurity_decrease` (scikit-learn's weighted form).
    fn split(&mut self, node: usize, cells: &[i128]) {
        let (bins, target) = (self.bins.as_ref().expect("bins first"), self.target.as_ref().expect("bins first"));
        let stats = histograms::totals(cells, bins, target);
        let depth = self.nodes[node].depth;
        let stop = self.stops(&stats, depth);
        self.nodes[node].stats = Some(stats);
        if stop {
            return;
        }
        let limits = Limits { criterion: self.growth.criterion, min_samples_leaf: self.growth.min_samples_leaf };
        let Some(found) = best_split(cells, bins, target, &limits) else { return };
        if found.decrease / self.rows as f64 + 1e-12 < self.growth.min_impurity_decrease {
            return;
        }
        let (left, right) = (self.nodes.len(), self.nodes.len() + 1);
        for stats in [found.left, found.right] {
            let child = self.nodes.len();
            if !self.stops(&stats, depth + 1) {
                self.queue.push_back(child);
            }
            self.nodes.push(Grown { depth: depth + 1, stats: Some(stats), routing: None });
        }
        self.nodes[node].routing = Some(Routing { feature: found.feature, rule: found.rule, left, right });
    }
}

impl Trainer for Growing {
    fn next_pass(&mut self) -> Result<Option<Pass>> {
        let (Some(bins), Some(target)) = (&self.bins, &self.target) else {
            return bins::pass(&self.setup, Spec::Bins).map(Some);
        };
        let per_node = Level::cells_per_node(bins, target);
        let fit = (MAX_CELLS / per_node).max(1);
        self.batch = (0..fit).map_while(|_| self.queue.pop_front()).collect();
        let Some(first) = self.batch.first() else { return Ok(None) };
        let depth = self.nodes[*first].depth;
        let description = match self.growth.max_depth {
            Some(max) => format!("level {} of at most {max}, {} nodes to split, {} rows", depth + 1, self.batch.len(), self.rows),
            None => format!("level {}, {} nodes to split, {} rows", depth + 1, self.batch.len(), self.rows),
        };
        let level = Level {
            bins: bins.clone(),
            target: target.clone(),
            tree: self.nodes.iter().map(|n| n.routing.clone()).collect(),
            open: self.batch.clone(),
        };
        Pass::new(description, &Spec::Level(level)).map(Some)
    }

    fn absorb(&mut self, merged: &[u8]) -> Result<Option<String>> {
        if self.bins.is_none() {
            let (scan, bins) = bins::bins_from(&self.setup, merged, self.max_bins)?;
            let target = match self.setup.task {
                Task::Classification => {
                    let classes = scan.categories_of(0);
                    check_classes(&self.setup, &classes)?;
                    Target::Classes(classes)
                }
                _ => Target::values(scan.max_abs.first().copied().unwrap_or(0.0)),
            };
            let per_node = Level::cells_per_node(&bins, &target);
            if per_node > MAX_CELLS {
                return Err(too_many_cells(per_node));
            }
            self.rows = scan.rows;
            self.bins = Some(bins);
            self.target = Some(target);
            self.nodes.push(Grown { depth: 0, stats: None, routing: None });
            self.queue.push_back(0);
            return Ok(None);
        }
        let histograms = Histograms::decode(merged)?;
        let per_node = Level::cells_per_node(self.bins.as_deref().unwrap_or_default(), self.target.as_ref().expect("bins first"));
        if histograms.cells.len() != per_node * self.batch.len() {
            return Err(coded("XX000", "a tree level's histograms do not have its nodes' cells"));
        }
        for (slot, node) in std::mem::take(&mut self.batch).into_iter().enumerate() {
            self.split(node, histograms::node_cells(&histograms, slot, per_node));
        }
        Ok(None)
    }

    fn finish(self: Box<Self>) -> Result<Fitted> {
        let (Some(bins), Some(target)) = (self.bins, self.target) else {
            return Err(coded("XX000", "training finished before its passes ran"));
        };
        let classification = matches!(target, Target::Classes(_));
        let mut nodes = vec![];
        let mut probabilities = vec![];
        for grown in &self.nodes {
            let stats = grown.stats.clone().unwrap_or(Stats(vec![0; target.width()]));
            let output = stats.output(&target);
            let (split_value, categories) = match &grown.routing {
                Some(Routing { feature, rule: Rule::AtMost(b), .. }) => match &bins[*feature] {
                    Bins::Numeric { edges } => (Some(edges[*b]), None),
                    Bins::Categorical { .. } => (None, Some((0..=*b).collect())),
                },
                Some(Routing { rule: Rule::In(set), .. }) => (None, Some(set.clone())),
                None => (None, None),
            };
            nodes.push(Node {
                split_feature: grown.routing.as_ref().map_or(0, |r| r.feature),
                split_value,
                true_child: grown.routing.as_ref().map(|r| r.left),
                false_child: grown.routing.as_ref().map(|r| r.right),
                output: if classification { super::argmax(&output) as f64 } else { output[0] },
                n_node_samples: Some(stats.rows(&target) as f64),
                impurity: Some(stats.impurity(&target, self.growth.criterion)),
                categories,
            });
            probabilities.push(output);
        }
        let importance = tree_walk::importances(std::slice::from_ref(&nodes), bins.len());
        let encodings = self
            .setup
            .features
            .iter()
            .zip(&bins)
            .map(|((_, kind), bins)| match (kind, bins) {
                (Kind::Categorical, Bins::Categorical { categories }) => Encoding::Ordinal { categories: categories.clone() },
                _ => Encoding::Number,
            })
            .collect();
        let classes = match &target {
            Target::Classes(classes) => Some(classes.clone()),
            Target::Values { .. } => None,
        };
        let tree = Tree { nodes, leaf_probabilities: classification.then_some(probabilities) };
        Ok(Fitted { params: tagged("tree", &tree)?, encodings, classes, rows_used: self.rows, rows_total: self.rows, importance: Some(importance) })
    }
}

/// A fitted tree: its nodes (as [`tree_walk`] routes rows) and, for classification, each node's
/// class shares.
#[derive(Debug, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
    pub leaf_probabilities: Option<Vec<Vec<f64>>>,
}

impl Predictor for Tree {
    fn predict(&self, features: &[Feature], columns: &[ArrayRef], probabilities: bool) -> Result<Output> {
        let matrix = Matrix::encode(features, columns);
        let leaf = |at: usize| tree_walk::leaf(&self.nodes, matrix.row(at));
        Ok(match &self.leaf_probabilities {
            Some(p) => Output::Classes {
                predicted: matrix.rows.iter().map(|at| at.map(|at| self.nodes[leaf(at)].output as usize)).collect(),
                probabilities: probabilities.then(|| matrix.rows.iter().map(|at| at.map(|at| p[leaf(at)].clone())).collect()),
            },
            None => Output::Values(matrix.rows.iter().map(|at| at.map(|at| self.nodes[leaf(at)].output)).collect()),
        })
    }
}
