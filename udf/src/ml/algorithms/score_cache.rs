//! Boosted trees' scores, kept by each process between a training's passes.
//!
//! Every pass of boosting needs each row's scores after the rounds so far; walking all earlier
//! rounds' trees for every row in every pass costs rounds × classes walks per row, so training
//! grew with the square of the rounds (100 rounds over 1M rows did not finish in 14 minutes).
//! A row's scores depend only on its bins, so each process keeps, per distinct row of bins, the
//! scores after the rounds it last saw, and a later pass adds only the rounds since: the same
//! additions in the same order as walking every round, so the same bits.
//!
//! The cache is an optimisation only: a row it does not hold (read by another executor last
//! time, or past [`MAX_ROWS`]) is scored from its trees. It serves one training at a time (a
//! second one replaces it) and is dropped when idle for [`IDLE`].

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use super::histograms::Scores;
use crate::ml::row_hash::mix;

/// Distinct rows one process keeps scores for (about 100 bytes each).
const MAX_ROWS: usize = 6_000_000;
/// A cache unused this long is dropped.
const IDLE: Duration = Duration::from_secs(300);

struct Cache {
    training: u64,
    /// Bins (one byte per feature) → rounds added so far, and the scores after them.
    scores: HashMap<Box<[u8]>, (u32, Box<[f64]>), BuildHasherDefault<BinsHasher>>,
    used: Instant,
}

/// A multiplicative hash of a few bytes, eight at a time (the standard SipHash cost a pass more
/// than its histograms). The keys are a training's own bins: no one gains by colliding them.
#[derive(Default)]
struct BinsHasher(u64);

impl Hasher for BinsHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        mix(self.0)
    }
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

/// A number that names one training's scores (0 is none: never cached).
pub fn new_training_id() -> u64 {
    RandomState::new().hash_one(Instant::now()).max(1)
}

fn lock() -> MutexGuard<'static, Option<Cache>> {
    static JANITOR: Once = Once::new();
    JANITOR.call_once(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(IDLE / 5);
            let mut cache = lock_only();
            if cache.as_ref().is_some_and(|c| c.used.elapsed() > IDLE) {
                *cache = None;
            }
        });
    });
    lock_only()
}

fn lock_only() -> MutexGuard<'static, Option<Cache>> {
    // A panic while holding it leaves nothing half-done that matters: the entries are whole.
    CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The scores of every row of a batch whose `skip` is false, row by row (`model.base.len()`
/// each; skipped rows' are zeros). `all_bins`: every row's bins, `width` per row.
pub fn batch_scores(model: &Scores, all_bins: &[usize], width: usize, skip: &[bool]) -> Vec<f64> {
    let k = model.base.len();
    let mut out = vec![0.0; skip.len() * k];
    let rounds = model.rounds.len();
    let cacheable = model.training != 0 && all_bins.iter().all(|b| *b <= u8::MAX as usize);
    let mut guard = cacheable.then(lock);
    let mut cache = guard.as_deref_mut().map(|slot| {
        if slot.as_ref().is_none_or(|c| c.training != model.training) {
            *slot = Some(Cache { training: model.training, scores: HashMap::default(), used: Instant::now() });
        }
        let cache = slot.as_mut().expect("just set");
        cache.used = Instant::now();
        cache
    });
    let mut key = Vec::with_capacity(width);
    for (row, skip) in skip.iter().enumerate() {
        if *skip {
            continue;
        }
        let bins = &all_bins[row * width..(row + 1) * width];
        let scores = &mut out[row * k..(row + 1) * k];
        let Some(cache) = cache.as_deref_mut() else {
            model.of_row(bins, scores);
            continue;
        };
        key.clear();
        key.extend(bins.iter().map(|b| *b as u8));
        match cache.scores.get_mut(key.as_slice()) {
            Some((done, kept)) if *done as usize <= rounds => {
                scores.copy_from_slice(kept);
                model.add_rounds(*done as usize, bins, scores);
                kept.copy_from_slice(scores);
                *done = rounds as u32;
            }
            // Kept after rounds that early stopping has since cut: from the trees.
            Some(_) => model.of_row(bins, scores),
            None => {
                model.of_row(bins, scores);
                if cache.scores.len() < MAX_ROWS {
                    cache.scores.insert(key.clone().into_boxed_slice(), (rounds as u32, scores.to_vec().into_boxed_slice()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::algorithms::histograms::{Loss, Routing, Rule, Scored};

    /// A stump on `feature` at `bin`, with leaf values from `seed`.
    fn stump(feature: usize, bin: usize, seed: f64) -> Scored {
        let routing = vec![Some(Routing { feature, rule: Rule::AtMost(bin), left: 1, right: 2 }), None, None];
        Scored { routing, values: vec![0.0, 0.1 * seed, -0.07 * seed + 1e-9] }
    }

    /// Passes over growing rounds, with some rows missing from some passes (as when another
    /// executor read them), give the scores of walking every round, bit for bit.
    #[test]
    fn kept_scores_equal_walking_every_round() {
        let width = 3;
        let rows = 200;
        let all_bins: Vec<usize> = (0..rows * width).map(|i| (i * 7919 + i / 3) % 5).collect();
        let mut model = Scores { loss: Loss::Softmax(vec!["a".into(), "b".into()]), base: vec![0.3, -0.3], rounds: vec![], training: new_training_id() };
        for round in 0..12 {
            model.rounds.push(vec![stump(round % width, round % 4, round as f64 + 1.0), stump((round + 1) % width, 2, 0.5)]);
            let skip: Vec<bool> = (0..rows).map(|r| (r + round) % 5 == 0).collect();
            let got = batch_scores(&model, &all_bins, width, &skip);
            for row in (0..rows).filter(|r| !skip[*r]) {
                let mut want = vec![0.0; 2];
                model.of_row(&all_bins[row * width..(row + 1) * width], &mut want);
                assert_eq!(got[row * 2..row * 2 + 2].iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "round {round}, row {row}");
            }
        }
        // Rounds cut by early stopping: scores from the trees again.
        model.rounds.truncate(5);
        let got = batch_scores(&model, &all_bins, width, &vec![false; rows]);
        let mut want = vec![0.0; 2];
        model.of_row(&all_bins[..width], &mut want);
        assert_eq!(&got[..2], &want[..]);
    }
}
