//! The first pass of the histogram trees: how many rows there are, the categories of each text or
//! boolean column (the target's classes too), the largest target value, and the bins of each
//! numeric feature.
//!
//! Bin edges come from a sample of the rows: the [`SAMPLE_ROWS`] complete rows with the smallest
//! keys (a seeded hash of the whole row), which is the same set however the rows are partitioned,
//! so the bins, and the tree, are too. When the query gives no more rows than that, the sample is
//! every row and the edges are exact. A feature with at most `max_bins` distinct values gets one
//! bin per value, its edges the midpoints between neighbouring values (scikit-learn's
//! thresholds); otherwise the edges split the sample into `max_bins` parts of equal counts, each
//! edge a midpoint between two neighbouring distinct values (as LightGBM and Spark bin).

use std::cmp::Ordering;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::scan::{self, Scan};
use super::{check_rows, columns_with_nulls, from_json, to_json, Pass, Setup};
use crate::functions::blob_aggregate::Partial;
use crate::ml::features::{null_rows, Kind};

/// Rows sampled for the numeric features' bin edges.
pub const SAMPLE_ROWS: usize = 20_000;

/// The bins of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Bins {
    /// Bin `b` holds the values `x` with `edges[b - 1] < x <= edges[b]`: the values at most
    /// `edges[b]` are the bins up to `b`.
    Numeric { edges: Vec<f64> },
    /// One bin per category, in this order.
    Categorical { categories: Vec<String> },
}

impl Bins {
    pub fn count(&self) -> usize {
        match self {
            Bins::Numeric { edges } => edges.len() + 1,
            Bins::Categorical { categories } => categories.len(),
        }
    }
}

/// What the executors need for the bins pass.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Columns {
    /// Target (if any), then features, as the pass gets them.
    pub names: Vec<String>,
    pub has_target: bool,
}

/// The bins pass, in the spec an algorithm's partial reads (`spec` wraps [`Columns`] as that
/// algorithm's own variant).
pub fn pass<S: Serialize>(setup: &Setup, spec: impl FnOnce(Columns) -> S) -> Result<Pass> {
    let columns = Columns { names: scan::columns(setup), has_target: setup.target.is_some() };
    let mut pass = Pass::new("counting the training rows and finding each feature's bins", &spec(columns))?;
    pass.row_key = true;
    Ok(pass)
}

/// The executors' side of the bins pass.
pub fn partial(columns: Columns) -> Box<dyn Partial> {
    Box::new(SketchPartial { columns, sketch: Sketch::default() })
}

/// What the pass found, merged.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Sketch {
    pub scan: Scan,
    /// The sampled rows' numeric columns, by key.
    sample: Vec<Sampled>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sampled {
    key: f64,
    values: Vec<f64>,
}

fn by_key(a: &Sampled, b: &Sampled) -> Ordering {
    a.key.total_cmp(&b.key).then_with(|| a.values.iter().zip(&b.values).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal))
}

impl Sketch {
    fn keep_smallest(&mut self) {
        if self.sample.len() > SAMPLE_ROWS {
            self.sample.sort_by(by_key);
            self.sample.truncate(SAMPLE_ROWS);
        }
    }
}

/// The merged sketch, its rows checked, and each feature's bins: categories for text and
/// booleans, edges for numbers.
pub fn bins_from(setup: &Setup, merged: &[u8], max_bins: usize) -> Result<(Scan, Vec<Bins>)> {
    let sketch: Sketch = if merged.is_empty() { Sketch::default() } else { from_json(merged)? };
    let scan = sketch.scan;
    check_rows(setup, scan.rows, scan.null_rows, || columns_with_nulls(setup, &scan.nulls_by_column))?;
    let offset = usize::from(setup.target.is_some());
    let mut numeric = 0;
    let bins = setup
        .features
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| match kind {
            Kind::Categorical => Bins::Categorical { categories: scan.categories_of(offset + i) },
            Kind::Numeric => {
                let mut values: Vec<f64> = sketch.sample.iter().map(|s| s.values[numeric]).collect();
                numeric += 1;
                values.sort_by(f64::total_cmp);
                Bins::Numeric { edges: edges(&values, max_bins) }
            }
        })
        .collect();
    Ok((scan, bins))
}

/// At most `max_bins - 1` edges over sorted `values` (see the module's comment).
fn edges(values: &[f64], max_bins: usize) -> Vec<f64> {
    let mut distinct: Vec<(f64, usize)> = vec![];
    for v in values {
        match distinct.last_mut() {
            Some((last, count)) if *last == *v => *count += 1,
            _ => distinct.push((*v, 1)),
        }
    }
    let midpoint = |i: usize| distinct[i].0 / 2.0 + distinct[i + 1].0 / 2.0;
    if distinct.len() <= max_bins {
        return (0..distinct.len().saturating_sub(1)).map(midpoint).collect();
    }
    let mut edges = vec![];
    let mut seen = 0;
    let mut next_part = 1;
    for i in 0..distinct.len() - 1 {
        seen += distinct[i].1;
        // The edge after the distinct value where the running count first reaches a part's end.
        if seen * max_bins >= next_part * values.len() {
            edges.push(midpoint(i));
            while seen * max_bins >= next_part * values.len() {
                next_part += 1;
            }
            if edges.len() == max_bins - 1 {
                break;
            }
        }
    }
    edges
}

/// Finds a number's bin among a feature's edges at a few nanoseconds: the range between the first
/// and last edge is cut into equal buckets, each knowing the first edge not below its start, and
/// a short walk from there (either way, so that rounding in the bucket's arithmetic cannot
/// matter) ends at exactly `edges.partition_point(|e| *e < x)`. Routing rows reads a bin per
/// feature per row in every level pass; a binary search over 31 edges was a quarter of a pass.
#[derive(Debug, Clone)]
pub struct EdgeIndex {
    edges: Vec<f64>,
    /// The buckets' origin and buckets per unit, when the edges are finite and ordered.
    lowest: f64,
    per_unit: f64,
    starts: Vec<u32>,
}

impl EdgeIndex {
    const BUCKETS: usize = 1024;

    pub fn new(edges: &[f64]) -> EdgeIndex {
        let ordered = edges.iter().all(|e| e.is_finite()) && edges.windows(2).all(|w| w[0] < w[1]);
        let (lowest, highest) = (edges.first().copied().unwrap_or(0.0), edges.last().copied().unwrap_or(0.0));
        let per_unit = Self::BUCKETS as f64 / (highest - lowest);
        if !ordered || edges.len() < 4 || !(per_unit.is_finite() && per_unit > 0.0) {
            return EdgeIndex { edges: edges.to_vec(), lowest: 0.0, per_unit: 0.0, starts: vec![] };
        }
        let starts = (0..Self::BUCKETS).map(|b| edges.partition_point(|e| *e < lowest + b as f64 / per_unit) as u32).collect();
        EdgeIndex { edges: edges.to_vec(), lowest, per_unit, starts }
    }

    /// How many edges are below `x`: its bin.
    #[inline]
    pub fn bin(&self, x: f64) -> usize {
        if self.starts.is_empty() {
            return self.edges.partition_point(|e| *e < x);
        }
        // NaN and numbers below the first edge take bucket 0; above the last, the last bucket.
        let bucket = (((x - self.lowest) * self.per_unit) as usize).min(Self::BUCKETS - 1);
        let mut i = self.starts[bucket] as usize;
        while i > 0 && !(self.edges[i - 1] < x) {
            i -= 1;
        }
        while i < self.edges.len() && self.edges[i] < x {
            i += 1;
        }
        i
    }
}

#[derive(Debug)]
struct SketchPartial {
    columns: Columns,
    sketch: Sketch,
}

impl Partial for SketchPartial {
    /// `values`: the row key, then the target (if any) and the features.
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let keys = values[0].as_primitive::<Float64Type>();
        let columns = &values[1..];
        self.sketch.scan.update(columns);
        // Only the features are binned, not the target (a number for regression).
        let numeric: Vec<_> = columns[usize::from(self.columns.has_target)..]
            .iter()
            .filter(|c| c.data_type().is_numeric())
            .map(|c| c.as_primitive::<Float64Type>())
            .collect();
        let nulls = null_rows(columns, keys.len());
        for (row, null) in nulls.iter().enumerate() {
            if *null || keys.is_null(row) {
                continue;
            }
            self.sketch.sample.push(Sampled { key: keys.value(row), values: numeric.iter().map(|c| c.value(row)).collect() });
        }
        if self.sketch.sample.len() > 2 * SAMPLE_ROWS {
            self.sketch.keep_smallest();
        }
        self.sketch.scan.check_size(&self.columns.names)
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        let other: Sketch = from_json(bytes)?;
        self.sketch.scan.merge(other.scan);
        self.sketch.sample.extend(other.sample);
        self.sketch.keep_smallest();
        self.sketch.scan.check_size(&self.columns.names)
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        self.sketch.keep_smallest();
        to_json(&self.sketch)
    }

    fn size(&self) -> usize {
        self.sketch.scan.size() + self.sketch.sample.len() * (16 + 8 * self.sketch.sample.first().map_or(0, |s| s.values.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::{edges, EdgeIndex};

    /// The index's bin is the binary search's, for numbers on, between and beyond the edges,
    /// for NaN and the infinities, and for edges the buckets cannot index.
    #[test]
    fn the_edge_index_finds_the_binary_searchs_bin() {
        let skewed: Vec<f64> = (1..32).map(|i| (i as f64 / 4.0).exp() - 1.0).collect();
        let even: Vec<f64> = (0..31).map(|i| i as f64 * 0.1 - 1.5).collect();
        let close: Vec<f64> = (0..31).map(|i| 1.0 + i as f64 * f64::EPSILON).collect();
        for edges in [skewed, even, close, vec![0.5], vec![], vec![-1e308, 0.0, 1e308, 1.7e308]] {
            let index = EdgeIndex::new(&edges);
            let mut probes = vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, 1e300, -1e300];
            for e in &edges {
                probes.extend([*e, e.next_up(), e.next_down(), e * 1.01, e * 0.99]);
            }
            probes.extend((0..2000).map(|i| i as f64 * 0.037 - 20.0));
            for x in probes {
                assert_eq!(index.bin(x), edges.partition_point(|e| *e < x), "{x} among {edges:?}");
            }
        }
    }

    #[test]
    fn few_values_get_one_bin_each_and_many_equal_counts() {
        assert_eq!(edges(&[1.0, 1.0, 2.0, 4.0], 32), vec![1.5, 3.0]);
        let values: Vec<f64> = (0..100).map(f64::from).collect();
        let e = edges(&values, 4);
        assert_eq!(e, vec![24.5, 49.5, 74.5]);
        assert!(edges(&[5.0; 10], 4).is_empty());
    }
}
