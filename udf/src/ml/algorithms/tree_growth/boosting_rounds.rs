//! Boosting's rounds as the grower runs them: a round's trees closed into the scores, the
//! holdout rows' loss after each round (early stopping), and what each pass sends of the rounds
//! so far ([`super::held_rounds`]).

use super::*;

impl Grower {
    /// Boosting, once a round's trees are grown: closes the round (its leaves' values into the
    /// scores); then, with early stopping, asks for the holdout rows' loss; then plants the next
    /// round's trees, or none once the rounds are done.
    pub(super) fn after_round(&mut self) -> Result<Option<Pass>> {
        let Some(boosting) = self.ensemble.boosting else { return Ok(None) };
        if self.trees.is_empty() {
            return Ok(None);
        }
        if !std::mem::replace(&mut self.round_closed, true) {
            self.close_round(boosting);
            if boosting.early_stopping.is_some() {
                self.awaiting_holdout = true;
                return self.holdout_pass(boosting).map(Some);
            }
        }
        self.round_closed = false;
        if self.rounds_done >= boosting.rounds || self.stopped {
            if boosting.early_stopping.is_some() {
                self.keep_rounds(self.patience.best());
            }
            self.trees.clear();
            return Ok(None);
        }
        self.plant(self.trees.len());
        Ok(None)
    }

    /// Puts the leaves' values of the round just grown into the scores.
    pub(super) fn close_round(&mut self, boosting: Boosting) {
        let l2 = match self.growth.criterion {
            Criterion::Gradient { l2 } => l2,
            _ => 0.0,
        };
        let Some(Target::Gradients { scale, .. }) = &self.target else { return };
        let scale = *scale;
        let round: Vec<Scored> = self
            .trees
            .iter()
            .map(|grown| Scored {
                routing: grown.iter().map(|n| n.routing.clone()).collect(),
                values: grown
                    .iter()
                    .map(|n| match (&n.routing, &n.stats) {
                        (None, Some(stats)) => {
                            let (g, h) = (stats.0[1] as f64 / scale, stats.0[2] as f64 / scale);
                            if h + l2 > 0.0 {
                                -g / (h + l2) * boosting.learning_rate
                            } else {
                                0.0
                            }
                        }
                        _ => 0.0,
                    })
                    .collect(),
            })
            .collect();
        // A split's gain: how much it lowers the loss's second-order approximation,
        // G_l²/(H_l+λ) + G_r²/(H_r+λ) - G²/(H+λ), halved as XGBoost reports it.
        let strength = |stats: &Option<Stats>| {
            stats.as_ref().map_or(0.0, |s| {
                let (g, h) = (s.0[1] as f64 / scale, s.0[2] as f64 / scale);
                if h + l2 > 0.0 { g * g / (h + l2) } else { 0.0 }
            })
        };
        let mut gains = vec![0.0; self.bins.as_ref().map_or(0, Vec::len)];
        for grown in &self.trees {
            for node in grown {
                if let Some(Routing { feature, left, right, .. }) = &node.routing {
                    gains[*feature] += 0.5 * (strength(&grown[*left].stats) + strength(&grown[*right].stats) - strength(&node.stats)).max(0.0);
                }
            }
        }
        self.round_gains.push(gains);
        if let Some(Target::Gradients { scores, .. }) = &mut self.target {
            scores.rounds.push(Arc::new(round));
        }
        self.rounds_done += 1;
    }

    /// Keeps the first `rounds` rounds (early stopping's best).
    pub(super) fn keep_rounds(&mut self, rounds: usize) {
        if let Some(Target::Gradients { scores, .. }) = &mut self.target {
            scores.rounds.truncate(rounds);
        }
        self.round_gains.truncate(rounds);
        self.rounds_done = self.rounds_done.min(rounds);
    }

    /// The pass that sums the holdout rows' loss under the rounds so far.
    pub(super) fn holdout_pass(&mut self, boosting: Boosting) -> Result<Pass> {
        let Some(Target::Gradients { scores, .. }) = self.target.clone() else {
            return Err(coded("XX000", "early stopping without a boosted model"));
        };
        let scoring = Scoring { bins: self.bins.clone().unwrap_or_default(), scores: self.sent_scores(&scores) };
        let description = format!("round {} of {}: the holdout rows' loss", self.rounds_done, boosting.rounds);
        self.pass(Running { description, spec: Spec::HoldoutLoss(scoring), row_key: false, holdout: true })
    }

    /// What a pass sends of the rounds so far: those the processes do not hold yet.
    pub(super) fn sent_scores(&mut self, scores: &Scores) -> Scores {
        self.rounds_sending = scores.rounds.len();
        held_rounds::sent(scores, self.rounds_held)
    }

    /// The pass running, with every round so far: a process did not hold the rounds it left out
    /// ([`held_rounds::NOT_HELD`]). `None` when it left out none.
    pub fn pass_in_full(&mut self) -> Result<Option<Pass>> {
        let Some(Target::Gradients { scores: all, .. }) = &self.target else { return Ok(None) };
        let Some(mut running) = self.running.take() else { return Ok(None) };
        let sent = match &mut running.spec {
            Spec::Level(Level { target: Target::Gradients { scores, .. }, .. }) => scores.as_mut(),
            Spec::HoldoutLoss(scoring) => &mut scoring.scores,
            _ => return Ok(None),
        };
        if sent.first_round == 0 {
            return Ok(None);
        }
        *sent = held_rounds::sent(all, 0);
        running.description += " (sent again with every round: a process did not hold the earlier ones)";
        self.pass(running).map(Some)
    }

    /// Takes the holdout rows' loss after a round: stops when it has not fallen for
    /// `early_stopping` rounds.
    pub(super) fn absorb_holdout(&mut self, merged: &[u8], patience: usize) -> Result<Option<String>> {
        let Some(loss) = holdout_loss::Loss::decode(merged)?.mean() else {
            return Err(coded("22000", format!("{}: early stopping found no holdout rows to score (raise holdout)", self.name)));
        };
        let round = self.rounds_done;
        if let Some(best) = self.patience.record(loss, patience) {
            self.stopped = true;
            return Ok(Some(format!(
                "{}: round {round}: holdout loss {loss:.6}; {patience} rounds without a lower loss: keeping the best {best} rounds",
                self.name
            )));
        }
        Ok(Some(format!("{}: round {round}: holdout loss {loss:.6} (the lowest after {} rounds)", self.name, self.patience.best())))
    }
}

/// The gradient cells of a boosted model over `classes` (none: regression), starting from the
/// scores of the class shares (log-odds, log-shares) or the target's mean.
pub(super) fn boosting_target(classes: Vec<String>, scan: &Scan) -> Target {
    let counts: Vec<f64> = classes.iter().map(|c| scan.categories.first().and_then(|m| m.as_ref()).and_then(|m| m.get(c)).copied().unwrap_or(0) as f64).collect();
    let n = scan.rows.max(1) as f64;
    let (loss, base, bound) = match classes.len() {
        0 => {
            let mean = scan.sums.first().map_or(0.0, |s| s.value()) / n;
            // |score - y| stays within twice the largest |y| (the scores approach the targets).
            (Loss::Squared, vec![mean], 4.0 * scan.max_abs.first().copied().unwrap_or(1.0))
        }
        2 => {
            let odds = ((counts[1].max(0.5)) / counts[0].max(0.5)).ln();
            (Loss::Logistic(classes), vec![odds], 1.0)
        }
        _ => {
            let base = counts.iter().map(|c| (c.max(0.5) / n).ln()).collect();
            (Loss::Softmax(classes), base, 1.0)
        }
    };
    Target::gradients(bound, Scores { loss, base, rounds: vec![], first_round: 0, training: score_cache::new_training_id() })
}
