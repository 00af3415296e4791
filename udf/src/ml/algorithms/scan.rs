//! The first pass of the algorithms that must know their columns before they learn: how many
//! rows there are (and how many have a NULL), and the categories of every text or boolean
//! column (the target's classes, the one-hot columns of a feature). Category counts merge by
//! addition, so the result does not depend on the partitioning.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::key_sample::KeySample;
use super::{framed, unframe, check_rows, columns_with_nulls, from_json, Pass, Setup};
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
    /// Per column, the exact sum over complete rows, kept for the first column only (the
    /// target, when there is one: a regression's mean); 0 for the others and for categorical
    /// columns (an exact sum costs more than the rest of a scan, and no other is read).
    #[serde(default)]
    pub sums: Vec<ExactSum>,
    /// Whether the scan also sums every numeric column and its squares, exactly (the columns'
    /// spread, for [`Scan::std_of`]); set for the scan of [`sampling_partial`].
    #[serde(default)]
    pub spread: bool,
    /// With `spread`, per column, the exact sum of squares over complete rows.
    #[serde(default)]
    pub squares: Vec<ExactSum>,
}

impl Scan {
    /// The sorted categories of column `i`.
    pub fn categories_of(&self, i: usize) -> Vec<String> {
        self.categories.get(i).and_then(|c| c.as_ref()).map(|c| c.keys().cloned().collect()).unwrap_or_default()
    }

    /// The standard deviation over the complete rows of each column `encoding` makes of column
    /// `i` (a one-hot column's is sqrt(p (1 - p)), p its category's share). Needs `spread`.
    pub fn std_of(&self, i: usize, encoding: &Encoding) -> Vec<f64> {
        let rows = self.rows as f64;
        match encoding {
            Encoding::OneHot { categories } => {
                let counts = self.categories.get(i).and_then(|c| c.as_ref());
                categories
                    .iter()
                    .map(|c| {
                        let p = counts.and_then(|m| m.get(c)).copied().unwrap_or(0) as f64 / rows.max(1.0);
                        (p * (1.0 - p)).max(0.0).sqrt()
                    })
                    .collect()
            }
            _ => {
                let (sum, squares) = (self.sums.get(i).map_or(0.0, ExactSum::value), self.squares.get(i).map_or(0.0, ExactSum::value));
                vec![crate::ml::importance::std_from_sums(rows, sum, squares)]
            }
        }
    }
}

/// Categories of a batch counted in a list before the map (see `Scan::update`).
const FEW_CATEGORIES: usize = 8;

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

/// The scan pass that also brings a [`KeySample`] of the complete rows, at most `rows` of them
/// (its partial is [`sampling_partial`]).
pub fn sampling_pass<S: Serialize>(setup: &Setup, rows: usize, spec: impl FnOnce(Vec<String>, usize) -> S) -> Result<Option<Pass>> {
    let mut pass = Pass::new(format!("{DESCRIPTION}, and a sample of {rows} of them"), &spec(columns(setup), rows))?;
    pass.row_key = true;
    Ok(Some(pass))
}

/// The merged result of a scan pass, its rows checked, and the features' encodings it
/// implies: numbers stay numbers, each text or boolean feature becomes one-hot over the
/// categories found.
pub fn encodings_from(setup: &Setup, merged: &[u8]) -> Result<(Scan, Vec<Encoding>)> {
    let (scan, _) = encodings_and_sample_from(setup, merged)?;
    Ok(scan)
}

/// As [`encodings_from`], with the sample of a [`sampling_pass`]: its rows by key, column 0 the
/// keys, then the target (if any) and the features as the scan read them.
#[allow(clippy::type_complexity)]
pub fn encodings_and_sample_from(setup: &Setup, merged: &[u8]) -> Result<((Scan, Vec<Encoding>), Option<RecordBatch>)> {
    let (scan, sample) = if merged.is_empty() { (Scan::default(), None) } else { read_framed(merged)? };
    check_rows(setup, scan.rows, scan.null_rows, || columns_with_nulls(setup, &scan.nulls_by_column))?;
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
    Ok(((scan, encodings), sample))
}

/// What a [`sampling_pass`] found, its rows not checked (no rows is no error): for an update of
/// a fitted model, which new rows may leave as it is.
pub fn found_in(merged: &[u8]) -> Result<Scan> {
    Ok(if merged.is_empty() { Scan::default() } else { read_framed(merged)?.0 })
}

/// The executors' side of a scan of the columns named `names`.
pub fn partial(names: Vec<String>) -> Box<dyn Partial> {
    Box::new(ScanPartial { names, scan: Scan::default(), sample: None })
}

/// The executors' side of a [`sampling_pass`]: the rows come with their key first. It also
/// sums the numeric columns and their squares ([`Scan::spread`]): the one algorithm that samples,
/// logistic regression, weighs its coefficients' importance by the columns' spread.
pub fn sampling_partial(names: Vec<String>, rows: usize) -> Box<dyn Partial> {
    Box::new(ScanPartial { names, scan: Scan { spread: true, ..Scan::default() }, sample: Some(KeySample::new(rows)) })
}

fn read_framed(bytes: &[u8]) -> Result<(Scan, Option<RecordBatch>)> {
    let (json, ipc) = unframe(bytes)?;
    let mut sample = KeySample::new(usize::MAX);
    sample.merge(ipc)?;
    Ok((from_json(json)?, sample.sorted()?))
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
        if self.spread && self.squares.is_empty() {
            self.squares = vec![ExactSum::new(); columns];
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
                let mut max_abs = self.max_abs[i];
                for (row, null) in nulls.iter().enumerate() {
                    if !null {
                        max_abs = max_abs.max(numbers.value(row).abs());
                    }
                }
                self.max_abs[i] = max_abs;
                if self.spread {
                    for (row, null) in nulls.iter().enumerate() {
                        if !null {
                            let x = numbers.value(row);
                            self.sums[i].add(x);
                            self.squares[i].add(x * x);
                        }
                    }
                } else if i == 0 {
                    for (row, null) in nulls.iter().enumerate() {
                        if !null {
                            self.sums[0].add(numbers.value(row));
                        }
                    }
                }
                continue;
            }
            let counts = self.categories[i].get_or_insert_with(BTreeMap::new);
            let text = column.as_string::<i32>();
            // A batch's first few categories are counted in a short list (a class column has
            // a handful), the rest in the map; a new String only for a category not seen before.
            let mut few: Vec<(&str, u64)> = Vec::new();
            for (row, null) in nulls.iter().enumerate() {
                if *null {
                    continue;
                }
                let value = text.value(row);
                if let Some((_, count)) = few.iter_mut().find(|(c, _)| *c == value) {
                    *count += 1;
                } else if few.len() < FEW_CATEGORIES {
                    few.push((value, 1));
                } else if let Some(count) = counts.get_mut(value) {
                    *count += 1;
                } else {
                    counts.insert(value.to_string(), 1);
                }
            }
            for (value, count) in few {
                match counts.get_mut(value) {
                    Some(kept) => *kept += count,
                    None => {
                        counts.insert(value.to_string(), count);
                    }
                }
            }
        }
    }

    /// Adds another scan's rows.
    pub fn merge(&mut self, other: Scan) {
        self.spread |= other.spread;
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
        for (mine, theirs) in self.squares.iter_mut().zip(&other.squares) {
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
    sample: Option<KeySample>,
}

impl Partial for ScanPartial {
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = match &mut self.sample {
            Some(sample) => {
                sample.add(values[0].as_primitive::<Float64Type>(), &values[1..])?;
                &values[1..]
            }
            None => values,
        };
        self.scan.update(values);
        self.scan.check_size(&self.names)
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        let (json, ipc) = unframe(bytes)?;
        self.scan.merge(from_json(json)?);
        if let Some(sample) = &mut self.sample {
            sample.merge(ipc)?;
        }
        self.scan.check_size(&self.names)
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        let sample = match &mut self.sample {
            Some(sample) => sample.to_bytes()?,
            None => Vec::new(),
        };
        Ok(framed(to_json(&self.scan)?, &sample))
    }

    fn size(&self) -> usize {
        self.scan.size() + self.sample.as_ref().map_or(0, KeySample::size)
    }
}
