//! Boosted trees' rows, kept by each process between a training's passes, batch by batch.
//!
//! Every pass of boosting needs each row's scores after the rounds so far, the gradients of the
//! loss at them, and the node of the growing trees each row is in. Walking all earlier rounds'
//! trees for every row in every pass costs rounds × classes walks per row (training grew with
//! the square of the rounds), and computing the gradients again in each of a round's level
//! passes costs exponentials the round already took. So each process keeps, per batch of rows
//! it read (the batch's bins and targets), the scores after the rounds it last saw, the
//! gradients at them, and each row's node in the current round's trees; a later pass that
//! reads the same rows adds only the rounds since and routes each row on from its node: the
//! same additions in the same order as starting over, so the same bits.
//!
//! The batches are kept in a [`BatchMemo`], so only rows that are the same as those kept use what
//! was kept (and a pass that finds its batch does not bin its rows again); a batch it does not
//! hold (read by another executor last time, or dropped past [`MAX_BYTES`]) is scored from the
//! trees. It serves one training at a time (a second one replaces it) and is dropped when idle
//! for [`IDLE`].

use std::hash::{BuildHasher, RandomState};

use datafusion::arrow::array::{Array, ArrayRef};
use std::time::{Duration, Instant};

use super::boosting_scores::Scores;
use super::histograms::{leaf_from, RowBins};
use crate::ml::batch_memo::SharedMemo;
use crate::ml::class_index::ClassIndex;
use crate::ml::features::null_rows;

/// Bytes of kept batches one process holds.
const MAX_BYTES: usize = 2_000_000_000;
/// A cache unused this long is dropped.
const IDLE: Duration = Duration::from_secs(300);

static CACHE: SharedMemo<Kept> = SharedMemo::new(MAX_BYTES, IDLE);

/// A number that names one training's rows (0 is none: never kept).
pub fn new_training_id() -> u64 {
    RandomState::new().hash_one(Instant::now()).max(1)
}

/// One batch's rows as boosting reads them, and what was worked out for them.
pub struct Kept {
    /// Each row's bin of each feature, `width` per row.
    pub bins: Vec<u32>,
    pub width: usize,
    /// Each row's target (a value, or its class's index); `None`: the row is skipped (a NULL,
    /// or a class the model does not know).
    pub targets: Vec<Option<f64>>,
    /// Rounds added to `scores`.
    rounds: usize,
    /// Per row, per tree of a round, the score after `rounds` rounds.
    scores: Vec<f64>,
    /// The rounds and the fixed-point scale `gradients` are for.
    gradients_at: Option<(usize, u64)>,
    /// Per row, per tree of a round: the gradient and hessian, in fixed point.
    gradients: Vec<(i64, i64)>,
    /// The rounds before the trees `nodes` are in.
    nodes_at: Option<usize>,
    /// Per row, per tree of the round being grown: the node it reached in the last pass.
    nodes: Vec<u32>,
}

impl Kept {
    /// The rows' scores, brought to the rounds of `model`.
    pub fn scores(&mut self, model: &Scores) -> &[f64] {
        let k = model.base.len();
        let rounds = model.rounds.len();
        if self.scores.len() != self.targets.len() * k || self.rounds > rounds {
            // Never scored, or kept after rounds that early stopping has since cut.
            self.scores = model.base.iter().copied().cycle().take(self.targets.len() * k).collect();
            self.rounds = 0;
        }
        if self.rounds < rounds {
            // The rows were routed through the next round's trees as they grew: each row's leaf in
            // them is found from the node it reached (a step or two, not the whole depth).
            let routed = self.nodes_at == Some(self.rounds) && self.nodes.len() == self.scores.len();
            for (row, scores) in self.scores.chunks_exact_mut(k).enumerate() {
                if self.targets[row].is_some() {
                    let bins = &self.bins[row * self.width..(row + 1) * self.width];
                    let mut first = self.rounds;
                    if routed {
                        for (t, tree) in model.rounds[first].iter().enumerate() {
                            scores[t] += tree.values[leaf_from(&tree.routing, self.nodes[row * k + t] as usize, |f| bins[f] as usize)];
                        }
                        first += 1;
                    }
                    model.add_rounds(first, |f| bins[f] as usize, scores);
                }
            }
            self.rounds = rounds;
        }
        &self.scores
    }

    /// Per row, per tree of a round: the gradient and hessian of the loss at the scores of
    /// `model`'s rounds, times `scale`, rounded (as the histograms add them).
    fn gradients(&mut self, model: &Scores, scale: f64) -> &[(i64, i64)] {
        let at = (model.rounds.len(), scale.to_bits());
        if self.gradients_at != Some(at) {
            let k = model.base.len();
            self.scores(model);
            self.gradients.clear();
            self.gradients.resize(self.targets.len() * k, (0, 0));
            let mut row_gradients = Vec::with_capacity(k);
            for (row, y) in self.targets.iter().enumerate() {
                let Some(y) = y else { continue };
                model.loss.gradients(&self.scores[row * k..(row + 1) * k], *y, &mut row_gradients);
                for (kept, (g, h)) in self.gradients[row * k..(row + 1) * k].iter_mut().zip(&row_gradients) {
                    *kept = ((g * scale).round() as i64, (h * scale).round() as i64);
                }
            }
            self.gradients_at = Some(at);
        }
        &self.gradients
    }

    /// What a level pass of the round after `model`'s rounds reads and writes of the rows.
    pub fn for_level(&mut self, model: &Scores, scale: f64) -> LevelRows<'_> {
        self.gradients(model, scale);
        let (rounds, trees) = (model.rounds.len(), model.base.len());
        if self.nodes_at != Some(rounds) || self.nodes.len() != self.targets.len() * trees {
            self.nodes.clear();
            self.nodes.resize(self.targets.len() * trees, 0);
            self.nodes_at = Some(rounds);
        }
        LevelRows { bins: &self.bins, width: self.width, targets: &self.targets, gradients: &self.gradients, nodes: &mut self.nodes }
    }

    fn bytes(&self) -> usize {
        self.bins.len() * 4 + self.targets.len() * 16 + self.scores.len() * 8 + self.gradients.len() * 16 + self.nodes.len() * 4 + 128
    }
}

/// A batch's rows as a level pass reads them, row by row.
pub struct LevelRows<'a> {
    /// Each row's bins, `width` per row.
    pub bins: &'a [u32],
    pub width: usize,
    /// `None`: the row is skipped.
    pub targets: &'a [Option<f64>],
    /// Per row, per tree of the round, the gradient and hessian in fixed point.
    pub gradients: &'a [(i64, i64)],
    /// Per row, per tree of the round, the node to route the row on from (the root when the
    /// round's trees have not routed it yet); the pass stores the node each row reaches, for
    /// the next level's pass to go on from, since the trees only grow below their leaves.
    pub nodes: &'a mut [u32],
}

/// What [`take`] reads of a batch it does not find kept: each row's bins (`row_bins` of the
/// features) and its target as [`Kept::targets`] has it (`None` for a row with a NULL, or of a
/// class the model does not know: such rows are skipped). `columns`: the target, then the
/// features.
pub fn read_rows(model: &Scores, row_bins: &RowBins, classes: &ClassIndex, columns: &[ArrayRef]) -> (Vec<usize>, usize, Vec<Option<f64>>) {
    let (target, features) = (&columns[0], &columns[1..]);
    let rows = target.len();
    let targets = null_rows(columns, rows).into_iter().enumerate().map(|(row, null)| if null { None } else { model.loss.target_of(classes, target, row) }).collect();
    (row_bins.read_all(features, rows), features.len(), targets)
}

/// The batch of these rows (`columns`: the target, then the features), as this process kept it
/// for `model`'s training, or new from `read`: each row's bins (`width` per row) and its target
/// as [`Kept::targets`] has it. Give it back with [`give_back`] once the pass has used it.
pub fn take(model: &Scores, columns: &[ArrayRef], read: impl FnOnce() -> (Vec<usize>, usize, Vec<Option<f64>>)) -> Kept {
    if model.training != 0 {
        if let Some(kept) = CACHE.take_owned(model.training, columns) {
            return kept;
        }
    }
    let (all_bins, width, targets) = read();
    // A bin fits in 32 bits: a node's cells, every bin of every feature, are at most MAX_CELLS.
    let bins = all_bins.iter().map(|b| *b as u32).collect();
    Kept { bins, width, targets, rounds: 0, scores: vec![], gradients_at: None, gradients: vec![], nodes_at: None, nodes: vec![] }
}

/// Keeps a batch [`take`] gave for `columns` for the passes that follow, if there is room.
pub fn give_back(model: &Scores, columns: &[ArrayRef], kept: Kept) {
    if model.training == 0 {
        return;
    }
    let bytes = kept.bytes();
    CACHE.put_owned(model.training, columns, kept, bytes);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Float64Array;

    use super::*;
    use crate::ml::algorithms::boosting_scores::{Loss, Scored};
    use crate::ml::algorithms::histograms::{Routing, Rule};

    /// A stump on `feature` at `bin`, with leaf values from `seed`.
    fn stump(feature: usize, bin: usize, seed: f64) -> Scored {
        let routing = vec![Some(Routing { feature, rule: Rule::AtMost(bin), left: 1, right: 2 }), None, None];
        Scored { routing, values: vec![0.0, 0.1 * seed, -0.07 * seed + 1e-9] }
    }

    /// A batch's columns (the target, then the features as numbers) and what reading it gives.
    fn batch(bins: &[usize], width: usize, targets: &[Option<f64>]) -> (Vec<ArrayRef>, (Vec<usize>, usize, Vec<Option<f64>>)) {
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(targets.to_vec()))];
        columns.extend((0..width).map(|f| Arc::new(Float64Array::from_iter_values(bins.chunks(width).map(|row| row[f] as f64))) as ArrayRef));
        (columns, (bins.to_vec(), width, targets.to_vec()))
    }

    /// Passes over growing rounds, with some batches missing from some passes (as when another
    /// executor read them), give the scores and gradients of walking every round, bit for bit.
    #[test]
    fn kept_scores_equal_walking_every_round() {
        let width = 3;
        let rows = 200;
        let batches: Vec<Vec<usize>> = (0..4).map(|b| (0..rows * width).map(|i| (i * 7919 + i / 3 + b) % 5).collect()).collect();
        let targets = |b: usize| (0..rows).map(|r| ((r + b) % 7 != 0).then_some(((r * 31 + b) % 2) as f64)).collect::<Vec<_>>();
        let mut model = Scores { loss: Loss::Softmax(vec!["a".into(), "b".into()]), base: vec![0.3, -0.3], rounds: vec![], first_round: 0, training: new_training_id() };
        let check = |model: &Scores, b: usize, kept: &mut Kept| {
            let scale = 2f64.powi(40);
            let (got, got_gradients) = (kept.scores(model).to_vec(), kept.gradients(model, scale).to_vec());
            for (row, y) in targets(b).iter().enumerate() {
                let Some(y) = y else { continue };
                let mut want = vec![0.0; 2];
                model.of_row(&batches[b][row * width..(row + 1) * width], &mut want);
                assert_eq!(got[row * 2..row * 2 + 2].iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "batch {b}, row {row}");
                let mut gradients = vec![];
                model.loss.gradients(&want, *y, &mut gradients);
                let want: Vec<(i64, i64)> = gradients.iter().map(|(g, h)| ((g * scale).round() as i64, (h * scale).round() as i64)).collect();
                assert_eq!(&got_gradients[row * 2..row * 2 + 2], &want[..]);
            }
        };
        let mut found = 0;
        for round in 0..12 {
            model.rounds.push(Arc::new(vec![stump(round % width, round % 4, round as f64 + 1.0), stump((round + 1) % width, 2, 0.5)]));
            for b in (0..4).filter(|b| (b + round) % 3 != 0) {
                let (columns, read) = batch(&batches[b], width, &targets(b));
                let mut fresh = true;
                let mut kept = take(&model, &columns, || read);
                fresh &= kept.scores.is_empty();
                found += usize::from(!fresh);
                check(&model, b, &mut kept);
                give_back(&model, &columns, kept);
            }
        }
        assert!(found > 20, "batches found kept: {found}");
        // Rounds cut by early stopping: scores from the trees again.
        model.rounds.truncate(5);
        let (columns, read) = batch(&batches[1], width, &targets(1));
        let mut kept = take(&model, &columns, || read);
        assert!(!kept.scores.is_empty());
        check(&model, 1, &mut kept);
        give_back(&model, &columns, kept);
        // Rows whose bins are the same but not their target are not the kept ones.
        let mut other = targets(1);
        other[3] = Some(5.0);
        let (columns, read) = batch(&batches[1], width, &other);
        assert!(take(&model, &columns, || read).scores.is_empty());
    }
}
