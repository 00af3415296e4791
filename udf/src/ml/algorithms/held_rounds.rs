//! Boosting's finished rounds, held by each process for the rest of a training, so that a pass
//! sends only the rounds finished since the pass before.
//!
//! Every pass of boosting needs the rounds so far (to score the rows it does not find kept, and
//! to bring the kept ones up to date). Sent whole, a pass's constant grows with every round: at
//! round 90 of 100 at depth 6 with three classes it is megabytes, which DataFusion hashes, clones
//! and names while planning, and every process decodes — a level pass then took 0.4 s instead of
//! 0.2 s. So the coordinator sends the rounds from those the processes hold ([`sent`]), and each
//! process completes them from what it holds and holds the result ([`complete`]). A process
//! that does not hold the rounds a pass leaves out (an executor that joined during the training,
//! or one that ran none of the passes since) refuses the pass with [`NOT_HELD`]; the coordinator
//! then sends the pass again in full ([`super::Trainer::pass_in_full`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::error::Result;

use super::boosting_scores::{Round, Scores};
use crate::ml::error::coded;

/// Part of the message of a pass refused for want of earlier rounds: the coordinator looks for
/// it in a failed pass's error (which reaches it through the scheduler as text).
pub const NOT_HELD: &str = "squall: this process does not hold the rounds the pass builds on";

/// Rounds unused this long are dropped (a training that ended, or was cancelled).
const IDLE: Duration = Duration::from_secs(300);
/// Trainings whose rounds one process holds at once.
const TRAININGS: usize = 8;

struct Held {
    rounds: Vec<Arc<Round>>,
    used: Instant,
}

static HELD: Mutex<Option<HashMap<u64, Held>>> = Mutex::new(None);

/// What a pass sends of `scores`: the rounds from `from` on (the processes hold those before),
/// or all of them for a training whose rows are not kept (`training` 0).
pub fn sent(scores: &Scores, from: usize) -> Scores {
    let from = if scores.training == 0 { 0 } else { from.min(scores.rounds.len()) };
    Scores { loss: scores.loss.clone(), base: scores.base.clone(), rounds: scores.rounds[from..].to_vec(), first_round: from, training: scores.training }
}

/// On a process: `scores` as a pass sent them, completed with the earlier rounds this process
/// holds; holds the result for the passes that follow. [`NOT_HELD`] (XX000) when it does not
/// hold them.
pub fn complete(scores: &mut Scores) -> Result<()> {
    if scores.training == 0 {
        return Ok(());
    }
    let mut guard = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let held = guard.get_or_insert_with(HashMap::new);
    let now = Instant::now();
    held.retain(|_, h| now.duration_since(h.used) < IDLE);
    if scores.first_round > 0 {
        let Some(earlier) = held.get(&scores.training).filter(|h| h.rounds.len() >= scores.first_round) else {
            let holds = held.get(&scores.training).map_or(0, |h| h.rounds.len());
            return Err(coded("XX000", format!("{NOT_HELD} (it holds {holds}, the pass sends rounds from {} on)", scores.first_round)));
        };
        let mut rounds = earlier.rounds[..scores.first_round].to_vec();
        rounds.append(&mut scores.rounds);
        scores.rounds = rounds;
        scores.first_round = 0;
    }
    if held.len() >= TRAININGS && !held.contains_key(&scores.training) {
        if let Some(oldest) = held.iter().min_by_key(|(_, h)| h.used).map(|(id, _)| *id) {
            held.remove(&oldest);
        }
    }
    let entry = held.entry(scores.training).or_insert_with(|| Held { rounds: vec![], used: now });
    entry.used = now;
    // Rounds only grow during a training.
    if scores.rounds.len() >= entry.rounds.len() {
        entry.rounds = scores.rounds.clone();
    }
    Ok(())
}

/// Forgets a training's rounds, as a process that never ran its passes (tests).
#[cfg(test)]
pub fn forget(training: u64) {
    if let Some(held) = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_mut() {
        held.remove(&training);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::algorithms::boosting_scores::{Loss, Scored};
    use crate::ml::algorithms::score_cache::new_training_id;

    fn round(value: f64) -> Arc<Round> {
        Arc::new(vec![Scored { routing: vec![None], values: vec![value] }])
    }

    /// A process completes rounds sent from those it holds, refuses a pass that builds on rounds
    /// it does not hold, and takes the pass again sent in full.
    #[test]
    fn rounds_are_completed_from_those_held_or_refused() {
        let training = new_training_id();
        let mut all = Scores { loss: Loss::Squared, base: vec![0.5], rounds: vec![], first_round: 0, training };
        for r in 0..5 {
            all.rounds.push(round(r as f64));
            let mut got = sent(&all, r);
            assert_eq!(got.rounds.len(), 1);
            complete(&mut got).unwrap();
            assert_eq!(got.rounds.iter().map(|r| r[0].values[0]).collect::<Vec<_>>(), (0..=r).map(|r| r as f64).collect::<Vec<_>>());
            assert_eq!(got.first_round, 0);
        }
        forget(training);
        let err = complete(&mut sent(&all, 4)).unwrap_err().to_string();
        assert!(err.contains(NOT_HELD), "{err}");
        let mut full = sent(&all, 0);
        complete(&mut full).unwrap();
        assert_eq!(full.rounds.len(), 5);
        complete(&mut sent(&all, 5)).unwrap();
        // A training whose rows are not kept is always sent whole.
        let unkept = Scores { training: 0, ..all.clone() };
        assert_eq!(sent(&unkept, 3).rounds.len(), 5);
    }
}
