//! smartcore keeps its tree nodes private; their serialized form (`nodes`: split_feature,
//! split_value, true_child, false_child, output) is the one way to reach a leaf, which class
//! probabilities and forest votes need.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub split_feature: usize,
    pub split_value: Option<f64>,
    pub true_child: Option<usize>,
    pub false_child: Option<usize>,
    pub output: f64,
    #[serde(default)]
    pub n_node_samples: Option<f64>,
    #[serde(default)]
    pub impurity: Option<f64>,
    /// For a split on a category: the category codes that go to `true_child` (the others,
    /// and categories not seen in training, go to `false_child`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<usize>>,
}

/// The nodes of a serialized tree (`{"nodes": [...]}` somewhere under `value`).
pub fn nodes(tree: &serde_json::Value) -> Vec<Node> {
    serde_json::from_value(tree["nodes"].clone()).unwrap_or_default()
}

/// The index of the leaf `row` falls into, routing as smartcore does (`x <= split` goes true),
/// or by category code.
pub fn leaf(nodes: &[Node], row: &[f64]) -> usize {
    let mut at = 0;
    while let (Some(t), Some(f)) = (nodes[at].true_child, nodes[at].false_child) {
        let x = row[nodes[at].split_feature];
        let left = match &nodes[at].categories {
            Some(codes) => x >= 0.0 && codes.contains(&(x as usize)),
            None => x <= nodes[at].split_value.unwrap_or(f64::NAN),
        };
        at = if left { t } else { f };
    }
    at
}

/// Mean decrease in impurity per feature, normalised to sum 1 (scikit-learn's
/// `feature_importances_`), summed over `trees` and normalised again.
pub fn importances(trees: &[Vec<Node>], features: usize) -> Vec<f64> {
    let mut total = vec![0.0; features];
    for nodes in trees {
        let weight = |i: usize| nodes[i].n_node_samples.unwrap_or(0.0) * nodes[i].impurity.unwrap_or(0.0);
        let mut tree = vec![0.0; features];
        for (i, node) in nodes.iter().enumerate() {
            if let (Some(l), Some(r)) = (node.true_child, node.false_child) {
                tree[node.split_feature] += weight(i) - weight(l) - weight(r);
            }
        }
        let sum: f64 = tree.iter().sum();
        if sum > 0.0 {
            tree.iter().zip(total.iter_mut()).for_each(|(a, b)| *b += a / sum);
        }
    }
    let sum: f64 = total.iter().sum();
    if sum > 0.0 {
        total.iter_mut().for_each(|a| *a /= sum);
    }
    total
}

/// The nodes of a serialized classification tree, with `output` mapped from smartcore's index
/// into its own `classes` back to the label it was given.
pub fn class_nodes(tree: &serde_json::Value) -> Vec<Node> {
    let classes: Vec<f64> = serde_json::from_value(tree["classes"].clone()).unwrap_or_default();
    let mut nodes = nodes(tree);
    for node in &mut nodes {
        if let Some(label) = classes.get(node.output as usize) {
            node.output = *label;
        }
    }
    nodes
}
