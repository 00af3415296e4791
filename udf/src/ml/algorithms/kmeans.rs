//! `kmeans`: Lloyd's k-means on all training rows, seeded by greedy k-means++ (scikit-learn's
//! seeding), every step a distributed pass:
//!
//! 1. (a scan for the categories of text features, which become one-hot columns;)
//! 2. the first centre, a row drawn uniformly, and the sums of every column and of its squares,
//!    which scale `tol` by the columns' mean variance as scikit-learn does;
//! 3. for each further centre, `2 + ln k` candidates, each a row drawn with probability
//!    proportional to its squared distance to the nearest centre so far, then a pass that sums
//!    each candidate's potential (the inertia if it were added); the best candidate is kept;
//! 4. Lloyd iterations: each row goes to its nearest centre, whose count and column sums it adds
//!    to; the new centres are the means, until they move less than `tol` or after `max_iter`.
//!
//! A refresh (`refresh` of TRAIN MODEL; [`super::Setup::warm`]) updates a fitted model with new
//! rows only, as sequential (MacQueen's) k-means does: one pass assigns each new row to its
//! nearest centre, and each centre becomes the mean of the rows it had and the rows it gained,
//! `(n·c + Σx) / (n + m)`. No centre is re-seeded and earlier rows are not reassigned, so the
//! result follows the data without being the model a full training would give.
//!
//! Rows are drawn by weighted reservoir keys (Efraimidis and Spirakis: the row of the largest
//! `u^(1/w)`, `u` from a seeded hash of the row), so a draw is a maximum, and sums are exact
//! ([`ExactSum`]): the centres do not depend on how the rows are partitioned.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::scan;
use super::{check_rows, encoded_features, from_json, tagged, untagged, Algorithm, Fitted, Pass, Predictor, Setup, Trainer};
use crate::functions::blob_aggregate::{to_json, Partial};
use crate::ml::error::coded;
use crate::ml::exact_sum::ExactSum;
use crate::ml::features::{Encoding, Feature, Matrix};
use crate::ml::grid_sum::{Grid, Wide};
use crate::ml::kept_matrices;
use crate::ml::model::{Output, Task};
use crate::ml::row_hash::mix;

/// Centres times encoded columns beyond which the per-centre sums are refused (54000): each is
/// an exact sum of about 600 bytes.
pub const MAX_SUMS: usize = 100_000;

#[derive(Clone, Copy)]
pub struct Kmeans;

impl Algorithm for Kmeans {
    fn name(&self) -> &'static str {
        "kmeans"
    }

    fn options(&self) -> &'static [&'static str] {
        &["k", "max_iter", "tol"]
    }

    fn supports(&self, task: Task) -> bool {
        task == Task::Clustering
    }

    fn trainer(&self, setup: Setup) -> Result<Box<dyn Trainer>> {
        let k = setup.options.integer("k", 2, 2, 100_000)? as usize;
        let max_iter = setup.options.integer("max_iter", 300, 1, 1_000_000)? as usize;
        let tol = setup.options.float("tol", 1e-4, (0.0, 1e300))?;
        if let Some(warm) = &setup.warm {
            let fitted: Centroids = untagged(&warm.params)?;
            let counts = if fitted.counts.len() == fitted.centroids.len() {
                fitted.counts.clone()
            } else {
                // A model trained before counts were kept: its rows shared evenly.
                vec![warm.rows / fitted.centroids.len().max(1) as u64; fitted.centroids.len()]
            };
            let (encodings, rows) = (Some(warm.encodings.clone()), warm.rows);
            return Ok(Box::new(Training {
                k: fitted.centroids.len(),
                max_iter: 1,
                tol,
                encodings,
                tol_scaled: 0.0,
                rows,
                centres: fitted.centroids,
                candidates: None,
                iterations: 0,
                converged: false,
                counts,
                updating: true,
                setup,
            }));
        }
        let encodings = scan::encodings_without_scan(&setup);
        Ok(Box::new(Training {
            setup,
            k,
            max_iter,
            tol,
            encodings,
            tol_scaled: 0.0,
            rows: 0,
            centres: vec![],
            candidates: None,
            iterations: 0,
            converged: false,
            counts: vec![],
            updating: false,
        }))
    }

    fn partial(&self, spec: &[u8]) -> Result<Box<dyn Partial>> {
        Ok(match from_json(spec)? {
            Spec::Scan(names) => scan::partial(names),
            Spec::Step { encodings, step, seed } => {
                Box::new(StepPartial { features: encoded_features(encodings), step, seed, state: State::default(), grid_sums: Vec::new() })
            }
        })
    }

    fn predictor(&self, params: &serde_json::Value) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(untagged::<Centroids>(params)?))
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Centroids {
    pub centroids: Vec<Vec<f64>>,
    /// The training rows nearest each centroid (at the last pass): a refresh's weights.
    #[serde(default)]
    pub counts: Vec<u64>,
}

impl Centroids {
    /// The nearest centroid and the distance to it.
    pub fn nearest(&self, row: &[f64]) -> (usize, f64) {
        let (i, d) = nearest(&self.centroids, row);
        (i, d.sqrt())
    }
}

impl Predictor for Centroids {
    fn predict(&self, features: &[Feature], columns: &[ArrayRef], _probabilities: bool) -> Result<Output> {
        let matrix = Matrix::encode(features, columns);
        let nearest: Vec<Option<(usize, f64)>> = matrix.rows.iter().map(|at| at.map(|at| self.nearest(matrix.row(at)))).collect();
        Ok(Output::Clusters { cluster: nearest.iter().map(|n| n.map(|n| n.0)).collect(), distance: nearest.iter().map(|n| n.map(|n| n.1)).collect() })
    }

    fn has_score(&self) -> bool {
        true
    }

    fn score(&self, features: &[Feature], columns: &[ArrayRef]) -> Option<Result<Vec<Option<f64>>>> {
        Some(self.predict(features, columns, false).map(|output| match output {
            Output::Clusters { distance, .. } => distance,
            _ => unreachable!("k-means predicts clusters"),
        }))
    }
}

/// The nearest of `centres` to `row` (the first of equals) and the squared distance to it.
fn nearest(centres: &[Vec<f64>], row: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (i, c) in centres.iter().enumerate() {
        let d = squared_distance(c, row);
        if d < best.1 {
            best = (i, d);
        }
    }
    best
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The passes, as the executors get them.
#[derive(Serialize, Deserialize)]
enum Spec {
    Scan(Vec<String>),
    Step { encodings: Vec<Encoding>, step: Step, seed: u64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Step {
    /// Column sums and sums of squares; a uniform draw of one row.
    First,
    /// `trials` draws, each of one row, weighted by the squared distance to the nearest centre.
    Candidates { centres: Vec<Vec<f64>>, trials: usize },
    /// Per candidate, the sum over rows of the squared distance to the nearest of the centres
    /// and that candidate.
    Potentials { centres: Vec<Vec<f64>>, candidates: Vec<Vec<f64>> },
    /// Per nearest centre, its rows' count and column sums; the inertia.
    Lloyd { centres: Vec<Vec<f64>> },
}

impl Step {
    /// Which draw of the seeding this is, so that each uses other random numbers.
    fn round(&self) -> u64 {
        match self {
            Step::First => 0,
            Step::Candidates { centres, .. } => centres.len() as u64,
            _ => 0,
        }
    }

    /// Whether its rows come with their keys: only the seeding's draws use them.
    fn draws(&self) -> bool {
        matches!(self, Step::First | Step::Candidates { .. })
    }
}

struct Training {
    setup: Setup,
    k: usize,
    max_iter: usize,
    tol: f64,
    encodings: Option<Vec<Encoding>>,
    /// `tol` times the mean variance of the encoded columns.
    tol_scaled: f64,
    rows: u64,
    centres: Vec<Vec<f64>>,
    candidates: Option<Vec<Vec<f64>>>,
    iterations: usize,
    converged: bool,
    /// Rows nearest each centre: at the last Lloyd pass, or (updating) all so far.
    counts: Vec<u64>,
    /// Updating a fitted model with new rows ([`super::Setup::warm`]).
    updating: bool,
}

impl Training {
    fn pass(&self, description: String, step: Step) -> Result<Option<Pass>> {
        let encodings = self.encodings.clone().unwrap_or_default();
        let draws = step.draws();
        let mut pass = Pass::new(description, &Spec::Step { encodings, step, seed: self.setup.seed })?;
        pass.row_key = draws;
        Ok(Some(pass))
    }

    /// `2 + ln k` candidates per centre, as scikit-learn's greedy k-means++.
    fn trials(&self) -> usize {
        2 + (self.k as f64).ln() as usize
    }
}

impl Trainer for Training {
    fn next_pass(&mut self) -> Result<Option<Pass>> {
        let Some(encodings) = &self.encodings else {
            return scan::pass(&self.setup, Spec::Scan);
        };
        let width: usize = encodings.iter().map(Encoding::width).sum();
        if self.k * width > MAX_SUMS {
            return Err(coded("54000", format!("kmeans with k = {} over {width} encoded columns needs {} sums; squall keeps at most {MAX_SUMS}", self.k, self.k * width)));
        }
        if self.centres.is_empty() {
            return self.pass("k-means++: the first centre".into(), Step::First);
        }
        if self.centres.len() < self.k {
            let centres = self.centres.clone();
            return match &self.candidates {
                None => self.pass(format!("k-means++: candidates for centre {} of {}", centres.len() + 1, self.k), Step::Candidates { centres, trials: self.trials() }),
                Some(candidates) => {
                    let candidates = candidates.clone();
                    self.pass(format!("k-means++: choosing centre {} of {}", centres.len() + 1, self.k), Step::Potentials { centres, candidates })
                }
            };
        }
        if self.converged || self.iterations >= self.max_iter {
            return Ok(None);
        }
        self.pass(format!("Lloyd iteration {} (of at most {})", self.iterations + 1, self.max_iter), Step::Lloyd { centres: self.centres.clone() })
    }

    fn absorb(&mut self, merged: &[u8]) -> Result<Option<String>> {
        if self.encodings.is_none() {
            self.encodings = Some(scan::encodings_from(&self.setup, merged)?.1);
            return Ok(None);
        }
        let state: State = if merged.is_empty() { State::default() } else { from_json(merged)? };
        if self.centres.is_empty() {
            check_rows(&self.setup, state.rows, state.null_rows, || "a feature".to_string())?;
            if state.rows < self.k as u64 {
                return Err(coded("22000", format!("kmeans with k = {} needs at least {} rows, the query gave {}", self.k, self.k, state.rows)));
            }
            self.rows = state.rows;
            let n = state.rows as f64;
            let variances: Vec<f64> = state
                .column_sums
                .iter()
                .zip(&state.square_sums)
                .map(|(s, q)| {
                    let mean = s.value() / n;
                    (q.value() / n - mean * mean).max(0.0)
                })
                .collect();
            self.tol_scaled = self.tol * variances.iter().sum::<f64>() / variances.len().max(1) as f64;
            let first = state.picks.into_iter().flatten().next().ok_or_else(|| coded("XX000", "no row was drawn as the first centre"))?;
            self.centres.push(first.row);
            return Ok(None);
        }
        if self.centres.len() < self.k {
            match self.candidates.take() {
                None => {
                    let mut candidates: Vec<Vec<f64>> = state.picks.into_iter().flatten().map(|p| p.row).collect();
                    candidates.dedup();
                    if candidates.is_empty() {
                        return Err(coded(
                            "22000",
                            format!("kmeans with k = {} needs {} distinct rows; the training rows have {}", self.k, self.k, self.centres.len()),
                        ));
                    }
                    self.candidates = Some(candidates);
                }
                Some(candidates) => {
                    let potentials: Vec<f64> = state.potentials.iter().map(ExactSum::value).collect();
                    let best = (0..candidates.len()).min_by(|a, b| potentials[*a].total_cmp(&potentials[*b])).unwrap_or(0);
                    self.centres.push(candidates[best].clone());
                }
            }
            return Ok(None);
        }
        self.iterations += 1;
        if self.updating {
            // Each centre: the mean of the rows it had and those it gained.
            let mut added = 0;
            for (i, centre) in self.centres.iter_mut().enumerate() {
                let gained = state.counts.get(i).copied().unwrap_or(0);
                if gained == 0 {
                    continue;
                }
                let had = self.counts[i];
                let total = (had + gained) as f64;
                for (value, sum) in centre.iter_mut().zip(&state.sums[i]) {
                    *value = (*value * had as f64 + sum.value()) / total;
                }
                self.counts[i] = had + gained;
                added += gained;
            }
            self.rows += added;
            self.converged = true;
            return Ok(Some(format!("kmeans: {added} new rows moved their nearest centres")));
        }
        self.counts = state.counts.clone();
        let mut shift = 0.0;
        for (i, centre) in self.centres.iter_mut().enumerate() {
            // A centre that no row chose stays where it is.
            let count = state.counts.get(i).copied().unwrap_or(0);
            if count == 0 {
                continue;
            }
            let moved: Vec<f64> = state.sums[i].iter().map(|s| s.value() / count as f64).collect();
            shift += squared_distance(centre, &moved);
            *centre = moved;
        }
        self.converged = shift <= self.tol_scaled;
        Ok(Some(format!("kmeans: inertia {:.6}, the centres moved {:.3e} (squared)", state.inertia.value(), shift)))
    }

    fn finish(self: Box<Self>) -> Result<Fitted> {
        let encodings = self.encodings.ok_or_else(|| coded("XX000", "training finished before its passes ran"))?;
        Ok(Fitted {
            params: tagged("kmeans", &Centroids { centroids: self.centres, counts: self.counts })?,
            encodings,
            classes: None,
            rows_used: self.rows,
            rows_total: self.rows,
            importance: None,
        })
    }
}

/// A drawn row and its reservoir key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pick {
    key: f64,
    row: Vec<f64>,
}

impl Pick {
    /// Whether this pick wins over `other`: the larger key, then (equal keys come from equal
    /// rows, or from rows that hash alike) the smaller row, so that the winner is one row
    /// whatever order they meet in.
    fn beats(&self, other: &Pick) -> bool {
        match self.key.total_cmp(&other.key) {
            std::cmp::Ordering::Equal => self.row.iter().zip(&other.row).map(|(a, b)| a.total_cmp(b)).find(|o| o.is_ne()) == Some(std::cmp::Ordering::Less),
            order => order.is_gt(),
        }
    }
}

/// A pass's partial state; which parts are used depends on the step.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    rows: u64,
    null_rows: u64,
    column_sums: Vec<ExactSum>,
    square_sums: Vec<ExactSum>,
    picks: Vec<Option<Pick>>,
    potentials: Vec<ExactSum>,
    counts: Vec<u64>,
    sums: Vec<Vec<ExactSum>>,
    inertia: ExactSum,
}

fn merge_sums(mine: &mut Vec<ExactSum>, theirs: &[ExactSum]) {
    if mine.is_empty() {
        *mine = vec![ExactSum::new(); theirs.len()];
    }
    mine.iter_mut().zip(theirs).for_each(|(a, b)| a.merge(b));
}

impl State {
    fn merge(&mut self, other: State) {
        self.rows += other.rows;
        self.null_rows += other.null_rows;
        merge_sums(&mut self.column_sums, &other.column_sums);
        merge_sums(&mut self.square_sums, &other.square_sums);
        merge_sums(&mut self.potentials, &other.potentials);
        if self.picks.is_empty() {
            self.picks = vec![None; other.picks.len()];
        }
        for (stream, theirs) in other.picks.into_iter().enumerate() {
            if let Some(theirs) = theirs {
                self.offer(stream, theirs);
            }
        }
        if self.counts.is_empty() {
            self.counts = vec![0; other.counts.len()];
            self.sums = other.sums.iter().map(|s| vec![ExactSum::new(); s.len()]).collect();
        }
        self.counts.iter_mut().zip(&other.counts).for_each(|(a, b)| *a += b);
        for (mine, theirs) in self.sums.iter_mut().zip(&other.sums) {
            merge_sums(mine, theirs);
        }
        self.inertia.merge(&other.inertia);
    }

    fn offer(&mut self, stream: usize, pick: Pick) {
        if self.picks[stream].as_ref().is_none_or(|m| pick.beats(m)) {
            self.picks[stream] = Some(pick);
        }
    }
}

#[derive(Debug)]
struct StepPartial {
    features: Vec<Feature>,
    step: Step,
    seed: u64,
    state: State,
    /// A Lloyd pass's cluster sums of one batch on its grids (see [`crate::ml::grid_sum`]),
    /// drained into `state.sums` after each batch.
    grid_sums: Vec<Wide>,
}

impl StepPartial {
    /// A uniform number in (0, 1] for draw `stream` of this step, from the row's key.
    fn uniform(&self, key: f64, stream: usize) -> f64 {
        let bits = mix(key.to_bits() ^ mix(self.seed ^ (self.step.round() << 20) ^ stream as u64));
        ((bits >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    fn start(&mut self, width: usize) {
        let state = &mut self.state;
        if !state.picks.is_empty() || !state.counts.is_empty() || !state.potentials.is_empty() || !state.column_sums.is_empty() {
            return;
        }
        match &self.step {
            Step::First => {
                state.column_sums = vec![ExactSum::new(); width];
                state.square_sums = vec![ExactSum::new(); width];
                state.picks = vec![None];
            }
            Step::Candidates { trials, .. } => state.picks = vec![None; *trials],
            Step::Potentials { candidates, .. } => state.potentials = vec![ExactSum::new(); candidates.len()],
            Step::Lloyd { centres } => {
                state.counts = vec![0; centres.len()];
                state.sums = vec![vec![ExactSum::new(); width]; centres.len()];
            }
        }
    }
}

/// A Lloyd pass over one batch: each complete row counts for its nearest centre, adds its
/// values to that centre's sums (on the batch's grids when it can, see
/// [`crate::ml::grid_sum`]) and its squared distance to the inertia.
fn lloyd(state: &mut State, grid_sums: &mut Vec<Wide>, centres: &[Vec<f64>], matrix: &Matrix) {
    let width = matrix.width;
    let complete: Vec<usize> = matrix.rows.iter().flatten().copied().collect();
    state.rows += complete.len() as u64;
    state.null_rows += (matrix.rows.len() - complete.len()) as u64;
    let grids: Option<Vec<Grid>> = (0..width).map(|j| Grid::of(complete.iter().map(|at| matrix.row(*at)[j]))).collect();
    grid_sums.resize(centres.len() * width, Wide::default());
    let mut m = vec![0i64; width];
    for &at in &complete {
        let row = matrix.row(at);
        let (c, d) = nearest(centres, row);
        state.counts[c] += 1;
        state.inertia.add(d);
        let on_grid = grids.as_ref().is_some_and(|grids| {
            row.iter().zip(grids).zip(m.iter_mut()).all(|((x, grid), m)| grid.integer(*x).map(|i| *m = i).is_some())
        });
        if on_grid {
            for (sum, m) in grid_sums[c * width..(c + 1) * width].iter_mut().zip(&m) {
                sum.add(*m as i128);
            }
        } else {
            for (sum, x) in state.sums[c].iter_mut().zip(row) {
                sum.add(*x);
            }
        }
    }
    if let Some(grids) = grids {
        for (c, sums) in state.sums.iter_mut().enumerate() {
            for (j, (sum, grid)) in sums.iter_mut().zip(&grids).enumerate() {
                grid_sums[c * width + j].drain_into(sum, grid.exponent);
            }
        }
    }
}

impl Partial for StepPartial {
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        // The seeding's draws read each row's key first.
        let (keys, columns) = if self.step.draws() { (Some(values[0].as_primitive::<Float64Type>()), &values[1..]) } else { (None, values) };
        let matrix = kept_matrices::encoded(&self.features, columns);
        self.start(matrix.width);
        if let Step::Lloyd { centres } = &self.step {
            lloyd(&mut self.state, &mut self.grid_sums, centres, &matrix);
            return Ok(());
        }
        for (i, at) in matrix.rows.iter().enumerate() {
            let (Some(at), true) = (at, keys.is_none_or(|keys| keys.is_valid(i))) else {
                self.state.null_rows += 1;
                continue;
            };
            self.state.rows += 1;
            let row = matrix.row(*at);
            let key = keys.map_or(0.0, |keys| keys.value(i));
            match &self.step {
                Step::First => {
                    for (c, x) in row.iter().enumerate() {
                        self.state.column_sums[c].add(*x);
                        self.state.square_sums[c].add(x * x);
                    }
                    let pick = Pick { key: self.uniform(key, 0).ln(), row: row.to_vec() };
                    self.state.offer(0, pick);
                }
                Step::Candidates { centres, trials } => {
                    let weight = nearest(centres, row).1;
                    if weight > 0.0 {
                        for stream in 0..*trials {
                            let pick = Pick { key: self.uniform(key, stream).ln() / weight, row: row.to_vec() };
                            self.state.offer(stream, pick);
                        }
                    }
                }
                Step::Potentials { centres, candidates } => {
                    let current = nearest(centres, row).1;
                    for (c, candidate) in candidates.iter().enumerate() {
                        self.state.potentials[c].add(current.min(squared_distance(candidate, row)));
                    }
                }
                // Taken batch by batch above.
                Step::Lloyd { .. } => {}
            }
        }
        Ok(())
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        self.state.merge(from_json(bytes)?);
        Ok(())
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        to_json(&self.state)
    }

    fn size(&self) -> usize {
        (self.state.sums.iter().map(Vec::len).sum::<usize>() + self.state.column_sums.len() * 2 + self.state.potentials.len()) * 600
            + self.state.picks.len() * 64
    }
}
