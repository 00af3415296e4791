//! The first pass of the algorithms that must know their columns before they learn: how many
//! rows there are (and how many have a NULL), and the categories of every text or boolean
//! column (the target's classes, the one-hot columns of a feature). Category counts merge by
//! addition, so the result does not depend on the partitioning.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::{check_rows, columns_with_nulls, from_json, Pass, Setup};
use crate::functions::blob_aggregate::{to_json, Partial};
use crate::ml::error::coded;
use crate::ml::exact_sum::ExactSum;
use crate::ml::features::{null_rows, Encoding, Kind};

/// More distinct values than this in one column is refused (54000) rather than encoded.
pub const MAX_CATEGORIES: usize = 10_000;

/// What the scan found, once merged.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Scan {
    /// Rows without a NULL in any column, and rows with one.
    pub rows: u64,
    pub null_rows: u64,
    /// Per column (target first), NULLs seen.
    pub nulls_by_column: Vec<u64>,
    /// Per column, the count of each category (`None` for numeric columns).
    pub categories: Vec<Option<BTreeMap<String, u64>>>,
    /// Per column, the largest absolute value of a complete row (0 for categorical columns).
    #[serde(default)]
    pub max_abs: Vec<f64>,
    /// Per column, the exact sum over complete rows (0 for categorical columns).
    #[serde(default)]
    pub sums: Vec<ExactSum>,
}

impl Scan {
    /// The sorted categories of column `i`.
    pub fn categories_of(&self, i: usize) -> Vec<String> {
        self.categories.get(i).and_then(|c| c.as_ref()).map(|c| c.keys().cloned().collect()).unwrap_or_default()
    }
}

/// What the NOTICE of a scan pass says.
pub const DESCRIPTION: &str = "counting the training rows and their categories";

/// The columns a scan pass reads, as its partial names them: the target (if any), then the
/// features.
pub fn columns(setup: &Setup) -> Vec<String> {
    setup.target.iter().cloned().chain(setup.features.iter().map(|(name, _)| name.clone())).collect()
}

/// Whether `setup` has a categorical feature (whose categories a scan must find first).
pub fn has_categories(setup: &Setup) -> bool {
    setup.features.iter().any(|(_, kind)| *kind == Kind::Categorical)
}

/// The features' encodings when no scan is needed (every feature a number); `None` when a
/// categorical feature's categories must first be found by [`pass`].
pub fn encodings_without_scan(setup: &Setup) -> Option<Vec<Encoding>> {
    (!has_categories(setup)).then(|| vec![Encoding::Number; setup.features.len()])
}

/// The scan pass, in the spec an algorithm's [`super::Algorithm::partial`] reads (`spec` wraps
/// the column names as that algorithm's own scan variant).
pub fn pass<S: Serialize>(setup: &Setup, spec: impl FnOnce(Vec<String>) -> S) -> Result<Option<Pass>> {
    Pass::new(DESCRIPTION, &spec(columns(setup))).map(Some)
}

/// The merged result of a scan pass, its rows checked, and the features' encodings it
/// implies: numbers stay numbers, each text or boolean feature becomes one-hot over the
/// categories found.
pub fn encodings_from(setup: &Setup, merged: &[u8]) -> Result<(Scan, Vec<Encoding>)> {
    let scan: Scan = if merged.is_empty() { Scan::default() } else { from_json(merged)? };
    check_rows(setup, scan.rows, scan.null_rows, || columns_with_nulls(setup, &scan.nulls_by_column))?;
    // The scan read the target first (if any), then the features.
    let offset = usize::from(setup.target.is_some());
    let encodings = setup
        .features
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| match kind {
            Kind::Numeric => Encoding::Number,
            Kind::Categorical => Encoding::OneHot { categories: scan.categories_of(offset + i) },
        })
        .collect();
    Ok((scan, encodings))
}

/// The executors' side of a scan of the columns named `names`.
pub fn partial(names: Vec<String>) -> Box<dyn Partial> {
    Box::new(ScanPartial { names, scan: Scan::default() })
}

impl Scan {
    fn ensure_columns(&mut self, columns: usize) {
        if self.nulls_by_column.is_empty() {
            self.nulls_by_column = vec![0; columns];
            self.categories = vec![None; columns];
        }
        if self.max_abs.is_empty() {
            self.max_abs = vec![0.0; columns];
            self.sums = vec![ExactSum::new(); columns];
        }
    }

    /// Adds rows (`values`: the converted columns, numbers as Float64 and categories as text).
    pub fn update(&mut self, values: &[ArrayRef]) {
        self.ensure_columns(values.len());
        let rows = values.first().map(|c| c.len()).unwrap_or(0);
        let nulls = null_rows(values, rows);
        let complete = nulls.iter().filter(|n| !**n).count() as u64;
        self.rows += complete;
        self.null_rows += rows as u64 - complete;
        for (i, column) in values.iter().enumerate() {
            self.nulls_by_column[i] += column.null_count() as u64;
            if column.data_type().is_numeric() {
                let numbers = column.as_primitive::<Float64Type>();
                for (row, null) in nulls.iter().enumerate() {
                    if !null {
                        self.max_abs[i] = self.max_abs[i].max(numbers.value(row).abs());
                        self.sums[i].add(numbers.value(row));
                    }
                }
                continue;
            }
            let counts = self.categories[i].get_or_insert_with(BTreeMap::new);
            let text = column.as_string::<i32>();
            for (row, null) in nulls.iter().enumerate() {
                if !null {
                    *counts.entry(text.value(row).to_string()).or_default() += 1;
                }
            }
        }
    }

    /// Adds another scan's rows.
    pub fn merge(&mut self, other: Scan) {
        self.ensure_columns(other.nulls_by_column.len());
        self.rows += other.rows;
        self.null_rows += other.null_rows;
        for (mine, theirs) in self.nulls_by_column.iter_mut().zip(&other.nulls_by_column) {
            *mine += theirs;
        }
        for (mine, theirs) in self.max_abs.iter_mut().zip(&other.max_abs) {
            *mine = mine.max(*theirs);
        }
        for (mine, theirs) in self.sums.iter_mut().zip(&other.sums) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.categories.iter_mut().zip(other.categories) {
            if let Some(theirs) = theirs {
                let mine = mine.get_or_insert_with(BTreeMap::new);
                for (category, count) in theirs {
                    *mine.entry(category).or_default() += count;
                }
            }
        }
    }

    /// 54000 when a column (named as in `names`) has more categories than squall encodes.
    pub fn check_size(&self, names: &[String]) -> Result<()> {
        for (i, categories) in self.categories.iter().enumerate() {
            if categories.as_ref().is_some_and(|c| c.len() > MAX_CATEGORIES) {
                let name = names.get(i).map(String::as_str).unwrap_or("a column");
                return Err(coded(
                    "54000",
                    format!("\"{name}\" has more than {MAX_CATEGORIES} distinct values; squall encodes at most {MAX_CATEGORIES} categories per column"),
                ));
            }
        }
        Ok(())
    }

    /// Roughly the bytes it holds.
    pub fn size(&self) -> usize {
        self.categories.iter().flatten().map(|c| c.len() * 48).sum::<usize>() + self.sums.len() * 600 + 64
    }
}

#[derive(Debug)]
struct ScanPartial {
    names: Vec<String>,
    scan: Scan,
}

impl Partial for ScanPartial {
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.scan.update(values);
        self.scan.check_size(&self.names)
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        self.scan.merge(from_json(bytes)?);
        self.scan.check_size(&self.names)
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        to_json(&self.scan)
    }

    fn size(&self) -> usize {
        self.scan.size()
    }
}
