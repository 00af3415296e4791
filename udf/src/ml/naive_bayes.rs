//! Naive Bayes: the sufficient statistics an aggregate gathers on the executors (per class: row
//! count; per numeric feature: count, mean and M2 merged with Chan's formula, plus how many values
//! are positive or negative; per categorical feature: category counts), and the model built from
//! them.
//!
//! The Gaussian part follows scikit-learn's GaussianNB exactly: population variance per class
//! plus `var_smoothing` (1e-9) times the largest variance of any Gaussian feature over all rows.
//! Categorical, multinomial and Bernoulli parts use Laplace smoothing with alpha = 1, as
//! scikit-learn's CategoricalNB, MultinomialNB and BernoulliNB do by default.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::error::{coded, invalid};
use super::features::Kind;
use super::moments::Moments;

const VAR_SMOOTHING: f64 = 1e-9;
const ALPHA: f64 = 1.0;

/// Which likelihood numeric features get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Numeric features Gaussian, categorical features categorical: one model may mix both.
    Mixed,
    Gaussian,
    Multinomial,
    Bernoulli,
    Categorical,
}

impl Variant {
    pub fn parse(text: &str) -> Result<Variant> {
        Ok(match text {
            "gaussian" => Variant::Gaussian,
            "multinomial" => Variant::Multinomial,
            "bernoulli" => Variant::Bernoulli,
            "categorical" => Variant::Categorical,
            other => {
                return Err(invalid(format!(
                    "unknown naive_bayes variant '{other}': use gaussian, multinomial, bernoulli or categorical"
                )))
            }
        })
    }
}

/// What one class has seen of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureStats {
    Numeric { moments: Moments, positive: u64, negative: u64 },
    Categorical { counts: BTreeMap<String, u64> },
}

impl FeatureStats {
    fn merge(&mut self, other: &FeatureStats) -> Result<()> {
        match (self, other) {
            (
                FeatureStats::Numeric { moments, positive, negative },
                FeatureStats::Numeric { moments: m, positive: p, negative: n },
            ) => {
                moments.merge(m);
                *positive += p;
                *negative += n;
            }
            (FeatureStats::Categorical { counts }, FeatureStats::Categorical { counts: other }) => {
                for (category, count) in other {
                    *counts.entry(category.clone()).or_default() += count;
                }
            }
            _ => return Err(coded("XX000", "naive_bayes partial states disagree on a feature's kind")),
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassStats {
    pub rows: u64,
    pub features: Vec<FeatureStats>,
}

/// The partial (and, once merged, final) state of the training aggregate.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Statistics {
    /// By class, as text; a BTreeMap so the classes come out in one order on every node.
    pub classes: BTreeMap<String, ClassStats>,
    /// Rows left out because the target or a feature was NULL, by column (target first).
    pub null_rows: u64,
    pub nulls_by_column: Vec<u64>,
}

impl Statistics {
    /// Adds a batch: `target` as Utf8, `features` as Float64 (numeric) or Utf8 (categorical).
    /// Rows are grouped by class first; each class's values of a numeric feature then go through
    /// a two-pass mean and M2 over a plain slice, merged into the state with Chan's formula.
    pub fn update(&mut self, target: &ArrayRef, features: &[ArrayRef], kinds: &[Kind]) {
        let rows = target.len();
        if self.nulls_by_column.is_empty() {
            self.nulls_by_column = vec![0; features.len() + 1];
        }
        let mut all: Vec<&ArrayRef> = vec![target];
        all.extend(features.iter());
        let mut null = vec![false; rows];
        for (column, count) in all.iter().zip(self.nulls_by_column.iter_mut()) {
            if column.null_count() > 0 {
                for (row, n) in null.iter_mut().enumerate() {
                    if column.is_null(row) {
                        *count += 1;
                        *n = true;
                    }
                }
            }
        }
        self.null_rows += null.iter().filter(|n| **n).count() as u64;
        // The rows of each class, in order of first appearance in the batch.
        let labels = target.as_string::<i32>();
        let (offsets, bytes) = (labels.value_offsets(), labels.value_data());
        let mut index: HashMap<&[u8], usize> = HashMap::new();
        let mut names: Vec<&[u8]> = Vec::new();
        // Each class's label as a `ShortLabel`, for labels of up to eight bytes.
        let mut short: Vec<ShortLabel> = Vec::new();
        let mut members: Vec<Vec<u32>> = Vec::new();
        for (row, (null, ends)) in null.iter().zip(offsets.windows(2)).enumerate() {
            if *null {
                continue;
            }
            let (start, end) = (ends[0] as usize, ends[1] as usize);
            // Few classes (the usual case) are found faster by comparing than by hashing: labels
            // of up to eight bytes as words, longer ones (or one too near the end of the buffer
            // to load a word) by their bytes.
            let known = if names.len() <= 16 {
                let quick = ShortLabel::at(bytes, start, end);
                match short.iter().position(|s| *s == quick) {
                    Some(c) if quick.len <= 8 => Some(c),
                    _ => names.iter().position(|n| same_bytes(n, &bytes[start..end])),
                }
            } else {
                index.get(&bytes[start..end]).copied()
            };
            let class = match known {
                Some(c) => c,
                None => {
                    let label = &bytes[start..end];
                    index.insert(label, names.len());
                    names.push(label);
                    short.push(ShortLabel::of(label));
                    members.push(Vec::with_capacity(rows / 2));
                    names.len() - 1
                }
            };
            members[class].push(row as u32);
        }
        for (name, rows) in names.into_iter().zip(&members) {
            let mut stats = ClassStats { rows: rows.len() as u64, features: Vec::with_capacity(features.len()) };
            for (column, kind) in features.iter().zip(kinds) {
                stats.features.push(match kind {
                    Kind::Numeric => numeric_stats(column.as_primitive::<datafusion::arrow::datatypes::Float64Type>().values(), rows),
                    Kind::Categorical => {
                        let values = column.as_string::<i32>();
                        let mut counts: HashMap<&str, u64> = HashMap::new();
                        for &r in rows {
                            *counts.entry(values.value(r as usize)).or_default() += 1;
                        }
                        FeatureStats::Categorical { counts: counts.into_iter().map(|(k, v)| (k.to_string(), v)).collect() }
                    }
                });
            }
            // Labels come from a Utf8 column, so their bytes are UTF-8.
            self.merge_class(std::str::from_utf8(name).expect("a Utf8 label"), &stats).expect("kinds of one batch agree");
        }
    }

    fn merge_class(&mut self, name: &str, stats: &ClassStats) -> Result<()> {
        match self.classes.get_mut(name) {
            None => {
                self.classes.insert(name.to_string(), stats.clone());
            }
            Some(mine) => {
                mine.rows += stats.rows;
                for (a, b) in mine.features.iter_mut().zip(&stats.features) {
                    a.merge(b)?;
                }
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &Statistics) -> Result<()> {
        for (name, stats) in &other.classes {
            self.merge_class(name, stats)?;
        }
        self.null_rows += other.null_rows;
        if self.nulls_by_column.len() < other.nulls_by_column.len() {
            self.nulls_by_column.resize(other.nulls_by_column.len(), 0);
        }
        for (a, b) in self.nulls_by_column.iter_mut().zip(&other.nulls_by_column) {
            *a += b;
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.classes.values().map(|c| c.rows).sum()
    }
}

/// Equal byte strings, compared inline: class labels are short, and a call to `memcmp` per row
/// and candidate class cost more than the comparison itself.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// A label of up to eight bytes as one word (its bytes, zero past its end) and its length, so
/// that telling the classes apart is comparing integers. Longer labels, and those whose word
/// cannot be loaded, have `len` > 8 and are compared by bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ShortLabel {
    len: usize,
    word: u64,
}

impl ShortLabel {
    const NONE: ShortLabel = ShortLabel { len: usize::MAX, word: 0 };

    /// The label at `bytes[start..end]`, read as one unaligned eight-byte load when the buffer
    /// has eight bytes from `start`.
    #[inline(always)]
    fn at(bytes: &[u8], start: usize, end: usize) -> ShortLabel {
        let len = end - start;
        match bytes.get(start..start + 8) {
            Some(word) if len <= 8 => {
                let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
                ShortLabel { len, word: word & Self::mask(len) }
            }
            _ => Self::NONE,
        }
    }

    fn of(label: &[u8]) -> ShortLabel {
        if label.len() > 8 {
            return Self::NONE;
        }
        let mut word = [0u8; 8];
        word[..label.len()].copy_from_slice(label);
        ShortLabel { len: label.len(), word: u64::from_le_bytes(word) }
    }

    /// The low `len` bytes.
    #[inline(always)]
    fn mask(len: usize) -> u64 {
        if len == 0 {
            0
        } else {
            u64::MAX >> (64 - 8 * len)
        }
    }
}

/// Lanes of the sums in [`numeric_stats`].
const LANES: usize = 4;

/// One class's statistics of one numeric feature: `values` at `rows`. A two-pass mean and M2,
/// each summed in [`LANES`] interleaved lanes so the additions do not wait on one another (one
/// chain of dependent adds was a third of the learner's time); the lanes' order is fixed, so the
/// figures are the same on every run and node.
fn numeric_stats(values: &[f64], rows: &[u32]) -> FeatureStats {
    let n = rows.len();
    let lanes = rows.chunks_exact(LANES);
    let rest = lanes.remainder();
    let mut sums = [0.0; LANES];
    for chunk in lanes.clone() {
        for (sum, &r) in sums.iter_mut().zip(chunk) {
            *sum += values[r as usize];
        }
    }
    let sum = (sums[0] + sums[1]) + (sums[2] + sums[3]) + rest.iter().map(|&r| values[r as usize]).sum::<f64>();
    let mean = sum / n as f64;
    let (mut m2s, mut positive, mut negative) = ([0.0; LANES], 0u64, 0u64);
    for chunk in lanes {
        for (m2, &r) in m2s.iter_mut().zip(chunk) {
            let v = values[r as usize];
            *m2 += (v - mean) * (v - mean);
            positive += (v > 0.0) as u64;
            negative += (v < 0.0) as u64;
        }
    }
    let mut m2 = (m2s[0] + m2s[1]) + (m2s[2] + m2s[3]);
    for &r in rest {
        let v = values[r as usize];
        m2 += (v - mean) * (v - mean);
        positive += (v > 0.0) as u64;
        negative += (v < 0.0) as u64;
    }
    FeatureStats::Numeric { moments: Moments { n: n as u64, mean, m2 }, positive, negative }
}

/// One feature's part of the likelihood.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "likelihood", rename_all = "snake_case")]
pub enum Likelihood {
    /// Per class: mean and (smoothed) variance.
    Gaussian { mean: Vec<f64>, var: Vec<f64> },
    /// Per class, per category: log P(category | class). Unseen categories are left out.
    Categorical { categories: Vec<String>, log_prob: Vec<Vec<f64>> },
    /// Per class: log of the feature's share of the class's total count.
    Multinomial { log_prob: Vec<f64> },
    /// Per class: log P(x > 0 | class) and log P(x <= 0 | class).
    Bernoulli { log_p: Vec<f64>, log_not_p: Vec<f64> },
}

/// A trained Naive Bayes model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NaiveBayes {
    pub variant: Variant,
    pub classes: Vec<String>,
    pub log_prior: Vec<f64>,
    pub features: Vec<Likelihood>,
    /// The variance added to every Gaussian variance (scikit-learn's `epsilon_`).
    pub epsilon: f64,
}

impl NaiveBayes {
    /// Builds the model from merged statistics. `names` label errors.
    pub fn fit(stats: &Statistics, variant: Variant, names: &[String]) -> Result<NaiveBayes> {
        let classes: Vec<String> = stats.classes.keys().cloned().collect();
        let per_class: Vec<&ClassStats> = stats.classes.values().collect();
        let total = stats.rows() as f64;
        let log_prior = per_class.iter().map(|c| (c.rows as f64 / total).ln()).collect();
        let feature_count = per_class.first().map(|c| c.features.len()).unwrap_or(0);
        // scikit-learn: epsilon = var_smoothing * max over features of the variance over all rows.
        let mut largest_variance: f64 = 0.0;
        for f in 0..feature_count {
            let mut overall = Moments::default();
            for class in &per_class {
                if let FeatureStats::Numeric { moments, .. } = &class.features[f] {
                    overall.merge(moments);
                }
            }
            largest_variance = largest_variance.max(overall.variance());
        }
        let epsilon = VAR_SMOOTHING * largest_variance;
        let multinomial_totals: Vec<f64> = per_class
            .iter()
            .map(|c| {
                c.features
                    .iter()
                    .map(|f| match f {
                        FeatureStats::Numeric { moments, .. } => moments.sum(),
                        FeatureStats::Categorical { .. } => 0.0,
                    })
                    .sum()
            })
            .collect();
        let mut features = Vec::with_capacity(feature_count);
        for f in 0..feature_count {
            let likelihood = match &per_class[0].features[f] {
                FeatureStats::Categorical { .. } => {
                    let mut categories: Vec<String> = per_class
                        .iter()
                        .flat_map(|c| match &c.features[f] {
                            FeatureStats::Categorical { counts } => counts.keys().cloned().collect::<Vec<_>>(),
                            _ => vec![],
                        })
                        .collect();
                    categories.sort();
                    categories.dedup();
                    let k = categories.len() as f64;
                    let log_prob = per_class
                        .iter()
                        .map(|c| {
                            let FeatureStats::Categorical { counts } = &c.features[f] else { unreachable!() };
                            categories
                                .iter()
                                .map(|cat| {
                                    let count = counts.get(cat).copied().unwrap_or(0) as f64;
                                    ((count + ALPHA) / (c.rows as f64 + ALPHA * k)).ln()
                                })
                                .collect()
                        })
                        .collect();
                    Likelihood::Categorical { categories, log_prob }
                }
                FeatureStats::Numeric { .. } => match variant {
                    Variant::Mixed | Variant::Gaussian | Variant::Categorical => {
                        let (mean, var) = per_class
                            .iter()
                            .map(|c| {
                                let FeatureStats::Numeric { moments, .. } = &c.features[f] else { unreachable!() };
                                (moments.mean, moments.variance() + epsilon)
                            })
                            .unzip();
                        Likelihood::Gaussian { mean, var }
                    }
                    Variant::Multinomial => {
                        let mut log_prob = Vec::new();
                        for (c, class) in per_class.iter().enumerate() {
                            let FeatureStats::Numeric { moments, negative, .. } = &class.features[f] else { unreachable!() };
                            if *negative > 0 {
                                return Err(invalid(format!(
                                    "variant 'multinomial' needs counts, but feature {} has negative values",
                                    names[f]
                                )));
                            }
                            log_prob.push(
                                ((moments.sum() + ALPHA) / (multinomial_totals[c] + ALPHA * feature_count as f64)).ln(),
                            );
                        }
                        Likelihood::Multinomial { log_prob }
                    }
                    Variant::Bernoulli => {
                        let (log_p, log_not_p) = per_class
                            .iter()
                            .map(|c| {
                                let FeatureStats::Numeric { positive, .. } = &c.features[f] else { unreachable!() };
                                let p = (*positive as f64 + ALPHA) / (c.rows as f64 + 2.0 * ALPHA);
                                (p.ln(), (1.0 - p).ln())
                            })
                            .unzip();
                        Likelihood::Bernoulli { log_p, log_not_p }
                    }
                },
            };
            features.push(likelihood);
        }
        Ok(NaiveBayes { variant, classes, log_prior, features, epsilon })
    }

    /// The joint log-likelihood of every row and class, row-major (`rows × classes`).
    /// `columns` are converted (Float64 / Utf8) and have no NULLs in rows where `skip` is false.
    pub fn joint_log_likelihood(&self, columns: &[ArrayRef], skip: &[bool]) -> Vec<f64> {
        let k = self.classes.len();
        let rows = skip.len();
        let mut jll = Vec::with_capacity(rows * k);
        for _ in 0..rows {
            jll.extend_from_slice(&self.log_prior);
        }
        for (likelihood, column) in self.features.iter().zip(columns) {
            match likelihood {
                Likelihood::Gaussian { mean, var } => {
                    let values: &Float64Array = column.as_primitive();
                    let values = values.values();
                    let norm: Vec<f64> = var.iter().map(|v| -0.5 * (2.0 * std::f64::consts::PI * v).ln()).collect();
                    let half_inv: Vec<f64> = var.iter().map(|v| 0.5 / v).collect();
                    for (row, out) in jll.chunks_exact_mut(k).enumerate() {
                        let x = values[row];
                        for c in 0..k {
                            let d = x - mean[c];
                            out[c] += norm[c] - d * d * half_inv[c];
                        }
                    }
                }
                Likelihood::Categorical { categories, log_prob } => {
                    let values = column.as_string::<i32>();
                    let lookup: HashMap<&str, usize> =
                        categories.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
                    for (row, out) in jll.chunks_exact_mut(k).enumerate() {
                        if skip[row] {
                            continue;
                        }
                        // An unseen category says nothing about the class: it is left out.
                        if let Some(&at) = lookup.get(values.value(row)) {
                            for c in 0..k {
                                out[c] += log_prob[c][at];
                            }
                        }
                    }
                }
                Likelihood::Multinomial { log_prob } => {
                    let values: &Float64Array = column.as_primitive();
                    for (row, out) in jll.chunks_exact_mut(k).enumerate() {
                        let x = values.value(row);
                        for c in 0..k {
                            out[c] += x * log_prob[c];
                        }
                    }
                }
                Likelihood::Bernoulli { log_p, log_not_p } => {
                    let values: &Float64Array = column.as_primitive();
                    for (row, out) in jll.chunks_exact_mut(k).enumerate() {
                        let on = values.value(row) > 0.0;
                        for c in 0..k {
                            out[c] += if on { log_p[c] } else { log_not_p[c] };
                        }
                    }
                }
            }
        }
        jll
    }
}

/// log(sum(exp(xs))) without overflow.
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    let max = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if max.is_infinite() {
        return max;
    }
    max + xs.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use std::sync::Arc;

    fn batch(labels: &[&str], xs: &[f64], colours: &[&str]) -> (ArrayRef, Vec<ArrayRef>) {
        (
            Arc::new(StringArray::from(labels.to_vec())),
            vec![Arc::new(Float64Array::from(xs.to_vec())), Arc::new(StringArray::from(colours.to_vec()))],
        )
    }

    #[test]
    fn partitioning_does_not_change_the_model() {
        let labels = ["a", "b", "a", "b", "a", "a", "b"];
        let xs = [1.0, 5.0, 1.5, 6.0, 0.5, 1.2, 5.5];
        let colours = ["red", "blue", "red", "red", "blue", "red", "blue"];
        let kinds = [Kind::Numeric, Kind::Categorical];
        let names = vec!["x".to_string(), "colour".to_string()];
        let (t, f) = batch(&labels, &xs, &colours);
        let mut whole = Statistics::default();
        whole.update(&t, &f, &kinds);
        let (t1, f1) = batch(&labels[..3], &xs[..3], &colours[..3]);
        let (t2, f2) = batch(&labels[3..], &xs[3..], &colours[3..]);
        let (mut a, mut b) = (Statistics::default(), Statistics::default());
        a.update(&t1, &f1, &kinds);
        b.update(&t2, &f2, &kinds);
        b.merge(&a).unwrap();
        let m1 = NaiveBayes::fit(&whole, Variant::Mixed, &names).unwrap();
        let m2 = NaiveBayes::fit(&b, Variant::Mixed, &names).unwrap();
        let skip = vec![false; 7];
        let j1 = m1.joint_log_likelihood(&f, &skip);
        let j2 = m2.joint_log_likelihood(&f, &skip);
        for (x, y) in j1.iter().zip(&j2) {
            assert!((x - y).abs() < 1e-9, "{x} vs {y}");
        }
        assert_eq!(m1.classes, vec!["a", "b"]);
        // A row near class a's mean and of its usual colour is most likely a.
        let best = |j: &[f64]| if j[0] > j[1] { "a" } else { "b" };
        assert_eq!(best(&j1[0..2]), "a");
        assert_eq!(best(&j1[2..4]), "b");
    }

    /// Every way the batch kernel finds a row's class (short labels read as a word, labels at
    /// the end of the buffer, long and empty labels, more than 16 classes hashed, NULLs) against
    /// Welford's update row by row.
    #[test]
    fn class_statistics_equal_a_row_by_row_reference() {
        let long = "a label longer than eight bytes";
        let mut labels: Vec<Option<String>> = Vec::new();
        let mut xs: Vec<Option<f64>> = Vec::new();
        for i in 0..2_003usize {
            let label = match i % 7 {
                0 => Some("low".to_string()),
                1 => Some("eightchr".to_string()),
                2 => Some(long.to_string()),
                3 => Some(String::new()),
                4 => Some(format!("c{}", i % 23)),
                5 if i % 35 == 5 => None,
                _ => Some("ünï".to_string()),
            };
            labels.push(label);
            xs.push(if i % 97 == 3 { None } else { Some(((i * 7919) % 1000) as f64 / 7.0 - 60.0) });
        }
        // The last row's label is short and at the very end of the value buffer.
        labels.push(Some("low".to_string()));
        xs.push(Some(2.5));
        let target: ArrayRef = Arc::new(StringArray::from(labels.clone()));
        let feature: ArrayRef = Arc::new(Float64Array::from(xs.clone()));
        let mut stats = Statistics::default();
        stats.update(&target, &[feature], &[Kind::Numeric]);

        let mut reference: BTreeMap<String, (Moments, u64, u64)> = BTreeMap::new();
        for (label, x) in labels.iter().zip(&xs) {
            if let (Some(label), Some(x)) = (label, x) {
                let entry = reference.entry(label.clone()).or_default();
                entry.0.push(*x);
                entry.1 += (*x > 0.0) as u64;
                entry.2 += (*x < 0.0) as u64;
            }
        }
        assert!(reference.len() > 16, "the hashed path is exercised");
        assert_eq!(stats.classes.keys().collect::<Vec<_>>(), reference.keys().collect::<Vec<_>>());
        for (label, (moments, positive, negative)) in &reference {
            let class = &stats.classes[label];
            assert_eq!(class.rows, moments.n, "{label}");
            let FeatureStats::Numeric { moments: got, positive: p, negative: n } = &class.features[0] else { panic!("numeric") };
            assert_eq!((got.n, *p, *n), (moments.n, *positive, *negative), "{label}");
            assert!((got.mean - moments.mean).abs() <= 1e-12 * moments.mean.abs().max(1.0), "{label}: {} vs {}", got.mean, moments.mean);
            assert!((got.m2 - moments.m2).abs() <= 1e-10 * moments.m2.max(1.0), "{label}: {} vs {}", got.m2, moments.m2);
        }
        let null_rows = labels.iter().zip(&xs).filter(|(l, x)| l.is_none() || x.is_none()).count() as u64;
        assert_eq!(stats.null_rows, null_rows);
    }
}
