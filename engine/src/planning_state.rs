//! A session's DataFusion state for planning and running its statements, copied from its
//! context once per change of settings instead of once per statement.
//!
//! `SessionContext::state()` copies the whole state: every function registry (hundreds of named
//! functions), the optimizer's rules, the table options. For short statements that copy, with
//! the one `TaskContext::from` makes of the registries again, was a fifth of the coordinator's
//! CPU (pgbench, `SELECT 1`, 8 clients). The copy kept here is made again only after the session
//! changes its settings (SET, RESET); tables, views and models live in the catalog both copies
//! share, so they need no new copy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::execution::{SessionState, TaskContext};
use datafusion::prelude::SessionContext;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

#[derive(Default)]
pub struct PlanningState {
    copy: Mutex<Option<Copy>>,
    /// How many times the settings changed (what copies and kept physical plans are made under).
    generation: AtomicU64,
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

    /// Changes with every change of settings.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    async fn current(&self, ctx: &SessionContext) -> MappedMutexGuard<'_, Copy> {
        let mut copy = self.copy.lock().await;
        let generation = self.generation();
        if copy.as_ref().is_none_or(|copy| copy.generation != generation) {
            let state = ctx.state();
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
    async fn each_statement_starts_at_its_own_time() {
        let ctx = SessionContext::new();
        let planning = PlanningState::default();
        let first = planning.state(&ctx).await.execution_props().query_execution_start_time;
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = planning.state(&ctx).await.execution_props().query_execution_start_time;
        assert!(second > first, "now() must move on between statements: {first:?} then {second:?}");
    }
}
