//! A session's DataFusion state for planning and running its statements, copied from its
//! context once per change of settings instead of once per statement.
//!
//! `SessionContext::state()` copies the whole state: every function registry (hundreds of named
//! functions), the optimizer's rules, the table options. For short statements that copy, with
//! the one `TaskContext::from` makes of the registries again, was a fifth of the coordinator's
//! CPU (pgbench, `SELECT 1`, 8 clients). The copy kept here is made again only after the session
//! changes its settings (SET, RESET); tables, views and models live in the catalog both copies
//! share, so they need no new copy.
//!
//! The copy plans what runs in this process (the coordinator route, see crate::routing), so it
//! takes DataFusion's own defaults for the settings Ballista changes for distributed plans:
//! sort-merge joins (which spill) over hash joins, 16 partitions, no round-robin repartitioning,
//! broadcast thresholds of 128 MB / 1M rows. Run in one process those made TPC-H SF1, forced onto
//! the coordinator (`SET squall.local_scan_limit = '100GB'`), take 9.7 s against 6.5 s on two
//! executors; with DataFusion's defaults it takes 4.6 s (22 queries by psql, 3 runs each). A
//! setting the session SET itself is kept as set.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::config::ConfigOptions;
use datafusion::execution::{SessionState, TaskContext};
use datafusion::prelude::SessionContext;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

#[derive(Default)]
pub struct PlanningState {
    copy: Mutex<Option<Copy>>,
    /// How many times the settings changed (what copies and kept physical plans are made under).
    generation: AtomicU64,
    /// Which of [`IN_PROCESS_DEFAULTS`] the session SET itself.
    chosen: std::sync::Mutex<BTreeSet<&'static str>>,
}

/// One setting the coordinator's copy takes at DataFusion's default: its key, and how to copy
/// DataFusion's value (the second options) into the session's (the first).
type InProcessDefault = (&'static str, fn(&mut ConfigOptions, &ConfigOptions));

/// The settings Ballista changes for distributed plans that the coordinator's copy takes at
/// DataFusion's defaults (see the module docs).
const IN_PROCESS_DEFAULTS: [InProcessDefault; 5] = [
    ("datafusion.execution.target_partitions", |o, df| o.execution.target_partitions = df.execution.target_partitions),
    ("datafusion.optimizer.prefer_hash_join", |o, df| o.optimizer.prefer_hash_join = df.optimizer.prefer_hash_join),
    ("datafusion.optimizer.enable_round_robin_repartition", |o, df| {
        o.optimizer.enable_round_robin_repartition = df.optimizer.enable_round_robin_repartition
    }),
    ("datafusion.optimizer.hash_join_single_partition_threshold", |o, df| {
        o.optimizer.hash_join_single_partition_threshold = df.optimizer.hash_join_single_partition_threshold
    }),
    ("datafusion.optimizer.hash_join_single_partition_threshold_rows", |o, df| {
        o.optimizer.hash_join_single_partition_threshold_rows = df.optimizer.hash_join_single_partition_threshold_rows
    }),
];

/// `options` with the settings of [`IN_PROCESS_DEFAULTS`] not in `chosen` at DataFusion's
/// defaults.
fn with_in_process_defaults(options: &mut ConfigOptions, chosen: &BTreeSet<&'static str>) {
    let datafusion = ConfigOptions::default();
    for (key, take_default) in IN_PROCESS_DEFAULTS {
        if !chosen.contains(key) {
            take_default(options, &datafusion);
        }
    }
}

struct Copy {
    state: SessionState,
    task: Arc<TaskContext>,
    /// The settings generation the copy was made at.
    generation: u64,
}

impl PlanningState {
    /// The session's state for one statement, its start time set to now (`now()` is read from
    /// it). Held for the statement's planning only: the statements of a session run one at a time.
    pub async fn state(&self, ctx: &SessionContext) -> MappedMutexGuard<'_, SessionState> {
        MappedMutexGuard::map(self.current(ctx).await, |copy| {
            copy.state.mark_start_execution();
            &mut copy.state
        })
    }

    /// What running a plan on the coordinator needs: the session's functions and settings.
    pub async fn task_context(&self, ctx: &SessionContext) -> Arc<TaskContext> {
        Arc::clone(&self.current(ctx).await.task)
    }

    /// The session's settings changed: the next statement copies the context again.
    pub fn settings_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Notes a SET (`chosen`) or RESET of `variable`, which keeps or gives back DataFusion's
    /// default on the coordinator if it is one of [`IN_PROCESS_DEFAULTS`].
    pub fn note_setting(&self, variable: &str, chosen: bool) {
        let Some((key, _)) = IN_PROCESS_DEFAULTS.into_iter().find(|(key, _)| key.eq_ignore_ascii_case(variable)) else { return };
        let mut set = self.chosen.lock().unwrap_or_else(|p| p.into_inner());
        if chosen {
            set.insert(key);
        } else {
            set.remove(key);
        }
    }

    /// Whether the session SET `key` (one of [`IN_PROCESS_DEFAULTS`]) itself.
    pub fn chosen(&self, key: &str) -> bool {
        self.chosen.lock().unwrap_or_else(|p| p.into_inner()).contains(key)
    }

    /// Changes with every change of settings.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    async fn current(&self, ctx: &SessionContext) -> MappedMutexGuard<'_, Copy> {
        let mut copy = self.copy.lock().await;
        let generation = self.generation();
        if copy.as_ref().is_none_or(|copy| copy.generation != generation) {
            let mut state = ctx.state();
            with_in_process_defaults(state.config_mut().options_mut(), &self.chosen.lock().unwrap_or_else(|p| p.into_inner()));
            let task = Arc::new(TaskContext::from(&state));
            *copy = Some(Copy { state, task, generation });
        }
        MutexGuard::map(copy, |copy| copy.as_mut().expect("made above"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_setting_changed_is_seen_by_the_next_statement() {
        let ctx = SessionContext::new();
        let planning = PlanningState::default();
        let before = planning.state(&ctx).await.config().batch_size();
        ctx.sql("SET datafusion.execution.batch_size = 1234").await.unwrap();
        assert_eq!(planning.state(&ctx).await.config().batch_size(), before, "the copy is kept until told");
        planning.settings_changed();
        assert_eq!(planning.state(&ctx).await.config().batch_size(), 1234);
        assert_eq!(planning.task_context(&ctx).await.session_config().batch_size(), 1234);
    }

    #[tokio::test]
    async fn the_coordinator_plans_with_datafusions_defaults_unless_the_session_set_them() {
        // A session configured as squall's are, with Ballista's settings for distributed plans.
        let ctx = SessionContext::new_with_config(squall_udf::settings::session_config());
        assert!(!ctx.state().config().options().optimizer.prefer_hash_join);
        let planning = PlanningState::default();
        let datafusion = ConfigOptions::default();
        {
            let state = planning.state(&ctx).await;
            let options = state.config().options();
            assert!(options.optimizer.prefer_hash_join);
            assert!(options.optimizer.enable_round_robin_repartition);
            assert_eq!(options.execution.target_partitions, datafusion.execution.target_partitions);
            assert_eq!(options.optimizer.hash_join_single_partition_threshold_rows, datafusion.optimizer.hash_join_single_partition_threshold_rows);
        }
        // What the session SETs is kept; RESET gives DataFusion's default back.
        ctx.sql("SET datafusion.execution.target_partitions = 5").await.unwrap();
        ctx.sql("SET datafusion.optimizer.prefer_hash_join = false").await.unwrap();
        planning.note_setting("datafusion.execution.target_partitions", true);
        planning.note_setting("DATAFUSION.OPTIMIZER.PREFER_HASH_JOIN", true);
        planning.settings_changed();
        {
            let state = planning.state(&ctx).await;
            assert_eq!(state.config().options().execution.target_partitions, 5);
            assert!(!state.config().options().optimizer.prefer_hash_join);
            assert!(state.config().options().optimizer.enable_round_robin_repartition);
        }
        planning.note_setting("datafusion.optimizer.prefer_hash_join", false);
        planning.settings_changed();
        assert!(planning.state(&ctx).await.config().options().optimizer.prefer_hash_join);
        assert!(planning.chosen("datafusion.execution.target_partitions"));
    }

    #[test]
    fn every_in_process_default_names_a_datafusion_setting() {
        let keys: Vec<String> = ConfigOptions::default().entries().into_iter().map(|e| e.key).collect();
        for (key, _) in IN_PROCESS_DEFAULTS {
            assert!(keys.iter().any(|k| k == key), "{key} is not a DataFusion setting");
        }
    }

    #[tokio::test]
    async fn each_statement_starts_at_its_own_time() {
        let ctx = SessionContext::new();
        let planning = PlanningState::default();
        let first = planning.state(&ctx).await.execution_props().query_execution_start_time;
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = planning.state(&ctx).await.execution_props().query_execution_start_time;
        assert!(second > first, "now() must move on between statements: {first:?} then {second:?}");
    }
}
