//! The autoscale policy, apart from any process or clock: given what the scheduler shows at an
//! instant, what to do. Spark's dynamic allocation is the reference.
//!
//! - Runnable tasks (or queued jobs) have waited longer than `scale_up_after`: request executors,
//!   doubling the request each consecutive round (1, 2, 4, ...), capped by what the backlog needs
//!   (pending tasks / slots per executor) and by `max_executors`. Rounds are `scale_up_after` apart.
//! - An executor that squall started and that has had no running task for `idle_timeout` is
//!   drained, down to `min_executors`; draining keeps its shuffle output served until no running
//!   job needs it, so this is safe while jobs run.
//! - Fewer than `min_executors` (one was lost or removed): start replacements at once.
//! - An operator's ADD / REMOVE / DRAIN holds the cluster at the size it left against the opposite
//!   move for `idle_timeout` ([`operator_hold`](super::operator_hold)); the first time a hold stops
//!   a move, the policy says so ([`Action::Held`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::operator_hold::{Against, Hold};
use super::settings::ClusterSettings;

/// One registered executor, as the policy needs it.
#[derive(Debug, Clone)]
pub struct ExecutorView {
    pub id: String,
    pub running_tasks: u64,
    /// Started by squall's launcher (only those are scaled down).
    pub ours: bool,
    pub draining: bool,
}

/// The scheduler at one instant.
#[derive(Debug, Clone)]
pub struct Observation {
    pub now: Instant,
    /// Runnable tasks waiting for a slot, over all running jobs.
    pub pending_tasks: u64,
    /// Jobs submitted and not yet planned into stages.
    pub queued_jobs: u64,
    /// Registered executors (draining ones included).
    pub executors: Vec<ExecutorView>,
    /// Executors launched that have not registered yet.
    pub starting: u64,
    /// Task slots of one executor.
    pub slots_per_executor: u64,
    /// The operator's hold in force, if any.
    pub hold: Option<Hold>,
}

impl Observation {
    /// Executors that count towards the cluster's size: registered and not draining, or coming.
    fn current(&self) -> u64 {
        self.executors.iter().filter(|e| !e.draining).count() as u64 + self.starting
    }

    fn backlog(&self) -> u64 {
        self.pending_tasks + self.queued_jobs
    }

    /// The operator's hold in force against `against`, if any.
    fn held(&self, against: Against) -> Option<&Hold> {
        self.hold.as_ref().filter(|h| h.against == against && h.active(self.now))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start `count` executors; `kind` is the cluster event to record (`scale-up` or `replace`).
    Launch { count: u64, kind: &'static str, reason: String },
    /// Drain this idle executor.
    Drain { id: String, reason: String },
    /// The operator's hold stopped a scale-up or scale-down (said once per hold).
    Held { reason: String },
}

/// What the policy remembers between observations.
#[derive(Debug, Default)]
pub struct Policy {
    /// Since when work has waited without a break.
    backlog_since: Option<Instant>,
    /// Consecutive scale-up rounds (the request doubles each round).
    round: u32,
    last_scale_up: Option<Instant>,
    /// Since when each executor has had no running task.
    idle_since: HashMap<String, Instant>,
    /// The hold (by its end) whose stopping a move was last said.
    held_said: Option<Instant>,
}

impl Policy {
    pub fn decide(&mut self, settings: &ClusterSettings, seen: &Observation) -> Vec<Action> {
        let now = seen.now;
        self.track_idle(seen);
        let current = seen.current();

        if current < settings.min_executors {
            return vec![Action::Launch {
                count: settings.min_executors - current,
                kind: "replace",
                reason: format!("executors: {current}, min_executors: {}", settings.min_executors),
            }];
        }

        let backlog = seen.backlog();
        if backlog == 0 {
            self.backlog_since = None;
            self.round = 0;
        } else {
            let since = *self.backlog_since.get_or_insert(now);
            let waited = now.duration_since(since);
            let scale_up_after = Duration::from_millis(settings.scale_up_after_ms);
            let rested = self.last_scale_up.is_none_or(|t| now.duration_since(t) >= scale_up_after);
            let ceiling = match seen.held(Against::ScaleUp) {
                Some(hold) => hold.size.min(settings.max_executors),
                None => settings.max_executors,
            };
            if waited >= scale_up_after && rested && current >= ceiling && current < settings.max_executors {
                let hold = seen.held(Against::ScaleUp).expect("only a hold lowers the ceiling");
                return self.say_held(hold, format!("scale-up for {backlog} pending tasks held: {}", hold.describe()));
            }
            if waited >= scale_up_after && rested && current < ceiling {
                let slots = seen.slots_per_executor.max(1);
                let needed = backlog.div_ceil(slots).saturating_sub(seen.starting).max(1);
                let count = (1u64 << self.round.min(16)).min(needed).min(ceiling - current);
                let registered = seen.executors.iter().filter(|e| !e.draining).count();
                self.round += 1;
                self.last_scale_up = Some(now);
                return vec![Action::Launch {
                    count,
                    kind: "scale-up",
                    reason: format!(
                        "pending tasks {} for {:.1} s, {registered} executor{} of {slots} slots",
                        backlog,
                        waited.as_secs_f64(),
                        if registered == 1 { "" } else { "s" },
                    ),
                }];
            }
            // Work is waiting: nothing is idle in a way worth acting on.
            return Vec::new();
        }

        if seen.starting > 0 {
            return Vec::new();
        }
        let idle_timeout = Duration::from_millis(settings.idle_timeout_ms);
        let mut idle: Vec<(String, Duration)> = self
            .idle_since
            .iter()
            .map(|(id, since)| (id.clone(), now.duration_since(*since)))
            .filter(|(id, idle_for)| *idle_for >= idle_timeout && seen.executors.iter().any(|e| &e.id == id && e.ours && !e.draining))
            .collect();
        // Longest idle first; ties by id so the choice is stable.
        idle.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let floor = settings.min_executors.max(seen.held(Against::ScaleDown).map_or(0, |h| h.size));
        let removable = current.saturating_sub(floor) as usize;
        let without_hold = current.saturating_sub(settings.min_executors) as usize;
        let mut said = Vec::new();
        if let Some(hold) = seen.held(Against::ScaleDown).filter(|_| idle.len().min(without_hold) > removable) {
            said = self.say_held(hold, format!("idle scale-down of {} held: {}", idle[removable].0, hold.describe()));
        }
        idle.into_iter().take(removable).map(|(id, idle_for)| drain_idle(&id, idle_for)).chain(said).collect()
    }

    /// [`Action::Held`] the first time `hold` stops a move; nothing after.
    fn say_held(&mut self, hold: &Hold, reason: String) -> Vec<Action> {
        if self.held_said == Some(hold.until) {
            return Vec::new();
        }
        self.held_said = Some(hold.until);
        vec![Action::Held { reason }]
    }

    fn track_idle(&mut self, seen: &Observation) {
        for e in &seen.executors {
            if e.running_tasks > 0 || e.draining {
                self.idle_since.remove(&e.id);
            } else {
                self.idle_since.entry(e.id.clone()).or_insert(seen.now);
            }
        }
        self.idle_since.retain(|id, _| seen.executors.iter().any(|e| &e.id == id));
    }
}

fn drain_idle(id: &str, idle_for: Duration) -> Action {
    Action::Drain { id: id.to_string(), reason: format!("idle for {:.1} s", idle_for.as_secs_f64()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(min: u64, max: u64) -> ClusterSettings {
        ClusterSettings { min_executors: min, max_executors: max, ..ClusterSettings::defaults(0) }
    }

    fn executor(id: &str, running_tasks: u64) -> ExecutorView {
        ExecutorView { id: id.into(), running_tasks, ours: true, draining: false }
    }

    /// A manual clock: observations at `start + ms`.
    struct Clock(Instant);
    impl Clock {
        fn at(&self, ms: u64) -> Instant {
            self.0 + Duration::from_millis(ms)
        }
    }

    fn seen(now: Instant, pending_tasks: u64, executors: Vec<ExecutorView>, starting: u64) -> Observation {
        Observation { now, pending_tasks, queued_jobs: 0, executors, starting, slots_per_executor: 2, hold: None }
    }

    fn launched(actions: &[Action]) -> u64 {
        actions.iter().map(|a| if let Action::Launch { count, .. } = a { *count } else { 0 }).sum()
    }

    #[test]
    fn scale_up_waits_then_doubles_each_round_capped_by_max() {
        let clock = Clock(Instant::now());
        let cfg = settings(1, 8);
        let mut policy = Policy::default();
        let mut executors = vec![executor("a", 2)];
        // A backlog younger than scale_up_after asks for nothing.
        assert!(policy.decide(&cfg, &seen(clock.at(0), 100, executors.clone(), 0)).is_empty());
        assert!(policy.decide(&cfg, &seen(clock.at(999), 100, executors.clone(), 0)).is_empty());
        // Round 1: one executor, with the reason an operator reads.
        let first = policy.decide(&cfg, &seen(clock.at(1000), 100, executors.clone(), 0));
        assert_eq!(
            first,
            vec![Action::Launch { count: 1, kind: "scale-up", reason: "pending tasks 100 for 1.0 s, 1 executor of 2 slots".into() }]
        );
        // Not again before scale_up_after has passed since the last round.
        assert!(policy.decide(&cfg, &seen(clock.at(1500), 100, executors.clone(), 1)).is_empty());
        executors.push(executor("b", 2));
        // Round 2: two, round 3: four capped by max (8 - 4 current = 4), then nothing at max.
        assert_eq!(launched(&policy.decide(&cfg, &seen(clock.at(2000), 100, executors.clone(), 0))), 2);
        executors.extend([executor("c", 2), executor("d", 2)]);
        assert_eq!(launched(&policy.decide(&cfg, &seen(clock.at(3000), 100, executors.clone(), 0))), 4);
        executors.extend([executor("e", 2), executor("f", 2), executor("g", 2), executor("h", 2)]);
        assert!(policy.decide(&cfg, &seen(clock.at(4000), 100, executors.clone(), 0)).is_empty());
    }

    #[test]
    fn request_is_capped_by_what_the_backlog_needs_and_resets_when_it_clears() {
        let clock = Clock(Instant::now());
        let cfg = settings(1, 50);
        let mut policy = Policy::default();
        let one = vec![executor("a", 2)];
        for round in 0..4 {
            policy.decide(&cfg, &seen(clock.at(round * 1000), 1000, one.clone(), 0));
        }
        // The round would ask for 8; 5 pending tasks on 2-slot executors need 3.
        assert_eq!(launched(&policy.decide(&cfg, &seen(clock.at(4000), 5, one.clone(), 0))), 3);
        // Executors still starting count against the need.
        assert_eq!(launched(&policy.decide(&cfg, &seen(clock.at(5000), 5, one.clone(), 2))), 1);
        // The backlog clears: the next backlog waits again and starts again at one.
        assert!(policy.decide(&cfg, &seen(clock.at(6000), 0, one.clone(), 0)).is_empty());
        assert!(policy.decide(&cfg, &seen(clock.at(6500), 40, one.clone(), 0)).is_empty());
        assert_eq!(launched(&policy.decide(&cfg, &seen(clock.at(7500), 40, one.clone(), 0))), 1);
    }

    #[test]
    fn queued_jobs_count_as_backlog() {
        let clock = Clock(Instant::now());
        let cfg = settings(1, 4);
        let mut policy = Policy::default();
        let mut waiting = seen(clock.at(0), 0, vec![executor("a", 2)], 0);
        waiting.queued_jobs = 3;
        assert!(policy.decide(&cfg, &waiting).is_empty());
        waiting.now = clock.at(1000);
        assert_eq!(launched(&policy.decide(&cfg, &waiting)), 1);
    }

    #[test]
    fn idle_executors_are_drained_down_to_min_longest_idle_first() {
        let clock = Clock(Instant::now());
        let cfg = settings(1, 4);
        let mut policy = Policy::default();
        let busy = vec![executor("a", 1), executor("b", 0), executor("c", 1)];
        policy.decide(&cfg, &seen(clock.at(0), 0, busy, 0));
        // "b" idle since 0, "a" and "c" since 10 s.
        let idle = vec![executor("a", 0), executor("b", 0), executor("c", 0)];
        assert!(policy.decide(&cfg, &seen(clock.at(10_000), 0, idle.clone(), 0)).is_empty());
        assert!(policy.decide(&cfg, &seen(clock.at(59_999), 0, idle.clone(), 0)).is_empty());
        assert_eq!(
            policy.decide(&cfg, &seen(clock.at(60_000), 0, idle.clone(), 0)),
            vec![Action::Drain { id: "b".into(), reason: "idle for 60.0 s".into() }]
        );
        // Later both others are past the timeout, but only one may go: min_executors is 1.
        let mut after = idle.clone();
        after[1].draining = true;
        let drains = policy.decide(&cfg, &seen(clock.at(70_000), 0, after, 0));
        assert_eq!(drains, vec![Action::Drain { id: "a".into(), reason: "idle for 60.0 s".into() }]);
    }

    #[test]
    fn nothing_is_drained_while_work_waits_or_executors_are_starting_or_not_ours() {
        let clock = Clock(Instant::now());
        let cfg = settings(0, 4);
        let mut policy = Policy::default();
        let mut external = executor("x", 0);
        external.ours = false;
        let idle = vec![executor("a", 0), external];
        policy.decide(&cfg, &seen(clock.at(0), 0, idle.clone(), 0));
        assert!(policy.decide(&cfg, &seen(clock.at(60_000), 0, idle.clone(), 1)).is_empty());
        assert!(policy.decide(&cfg, &seen(clock.at(60_000), 3, idle.clone(), 0)).iter().all(|a| !matches!(a, Action::Drain { .. })));
        let drains = policy.decide(&cfg, &seen(clock.at(61_000), 0, idle, 0));
        assert_eq!(drains.len(), 1, "only the executor squall started: {drains:?}");
    }

    #[test]
    fn below_min_is_replaced_at_once_and_draining_ones_do_not_count() {
        let clock = Clock(Instant::now());
        let cfg = settings(2, 4);
        let mut policy = Policy::default();
        assert_eq!(
            policy.decide(&cfg, &seen(clock.at(0), 0, vec![executor("a", 0)], 0)),
            vec![Action::Launch { count: 1, kind: "replace", reason: "executors: 1, min_executors: 2".into() }]
        );
        let mut draining = executor("b", 0);
        draining.draining = true;
        assert_eq!(launched(&policy.decide(&cfg, &seen(clock.at(10), 0, vec![executor("a", 0), draining], 0))), 1);
        // One already starting is enough.
        assert!(policy.decide(&cfg, &seen(clock.at(20), 0, vec![executor("a", 0)], 1)).is_empty());
    }

    fn hold(clock: &Clock, against: Against, size: u64, from_ms: u64, for_ms: u64) -> Option<Hold> {
        Some(Hold { against, size, until: clock.at(from_ms + for_ms), until_ms: 0, by: "test" })
    }

    /// After an ADD, the executor idle since before it is not drained below the size the ADD
    /// left, until the hold ends; the first refusal is said once, then it is drained as before.
    #[test]
    fn an_operators_add_holds_against_idle_scale_down_until_it_ends() {
        let clock = Clock(Instant::now());
        let cfg = settings(1, 3);
        let mut policy = Policy::default();
        policy.decide(&cfg, &seen(clock.at(0), 0, vec![executor("a", 0)], 0));
        // At 70 s (a idle for 70 s) the operator adds "b": the cluster is held at 2 for 60 s.
        let both = vec![executor("a", 0), executor("b", 0)];
        let at = |ms: u64| {
            let mut s = seen(clock.at(ms), 0, both.clone(), 0);
            s.hold = hold(&clock, Against::ScaleDown, 2, 70_000, 60_000);
            s
        };
        let first = policy.decide(&cfg, &at(70_100));
        assert!(matches!(&first[..], [Action::Held { reason }] if reason.starts_with("idle scale-down of a held: 2 executors held against idle scale-down")), "{first:?}");
        assert!(policy.decide(&cfg, &at(100_000)).is_empty(), "said once");
        assert!(policy.decide(&cfg, &at(129_999)).is_empty());
        // The hold over, the longest idle goes (down to min_executors, so one).
        let after = policy.decide(&cfg, &at(130_000));
        assert!(matches!(&after[..], [Action::Drain { id, .. }] if id == "a"), "{after:?}");
    }

    /// After a REMOVE, a backlog does not start executors past the size it left until the hold
    /// ends; a floor below min_executors is still restored at once.
    #[test]
    fn an_operators_remove_holds_against_scale_up_but_not_the_floor() {
        let clock = Clock(Instant::now());
        let cfg = settings(1, 4);
        let mut policy = Policy::default();
        let one = vec![executor("a", 2)];
        let at = |ms: u64, executors: Vec<ExecutorView>| {
            let mut s = seen(clock.at(ms), 100, executors, 0);
            s.hold = hold(&clock, Against::ScaleUp, 1, 0, 5_000);
            s
        };
        assert!(policy.decide(&cfg, &at(0, one.clone())).is_empty());
        let held = policy.decide(&cfg, &at(1_000, one.clone()));
        assert!(matches!(&held[..], [Action::Held { reason }] if reason.starts_with("scale-up for 100 pending tasks held: 1 executor held against scale-up")), "{held:?}");
        assert!(policy.decide(&cfg, &at(4_999, one.clone())).is_empty());
        assert_eq!(launched(&policy.decide(&cfg, &at(5_000, one.clone()))), 1);
        // With none left, min_executors wins over the hold.
        let replace = policy.decide(&cfg, &at(5_100, vec![]));
        assert!(matches!(&replace[..], [Action::Launch { kind: "replace", count: 1, .. }]), "{replace:?}");
    }
}
