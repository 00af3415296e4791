//! Ballista's in-memory cluster state with two changes:
//! - executors being drained are offered no new tasks (their heartbeats, registration and shuffle
//!   output are untouched, so running jobs keep reading what they hold);
//! - before an executor is removed, [`on_removal`](DrainingClusterState::on_removal) runs: squall
//!   cancels the jobs that had output there before Ballista's own reset (see
//!   [`super::lost_jobs`]). Every removal path of the scheduler comes through here first;
//! - executors squall just stopped ([`Stopped`]) are not registered again: in pull mode
//!   every `poll_work` (and every heartbeat) registers an unknown executor, so a poll the executor
//!   sent just before it was killed, answered after the scheduler removed it, would bring it back
//!   as a ghost that stays listed until its heartbeat times out.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ballista_core::error::Result;
use ballista_core::serde::protobuf::ExecutorHeartbeat;
use ballista_core::serde::scheduler::{ExecutorData, ExecutorMetadata};
use ballista_core::JobId;
use ballista_scheduler::cluster::memory::InMemoryClusterState;
use ballista_scheduler::cluster::{BoundTask, ClusterState, ClusterStateEventStream, ExecutorSlot};
use ballista_scheduler::config::TaskDistributionPolicy;
use ballista_scheduler::state::task_manager::JobInfoCache;

/// The executors being drained, shared by the scheduler (which offers them no tasks) and the
/// engine (which finishes the drains).
#[derive(Debug, Default, Clone)]
pub struct Drains(Arc<Mutex<HashMap<String, Drain>>>);

#[derive(Debug, Clone)]
pub struct Drain {
    pub started: Instant,
    /// The last time a running job was seen to need the executor.
    pub last_needed: Instant,
    /// Stopped; kept until the scheduler has let it go, so it never looks active meanwhile.
    pub stopped: bool,
}

impl Drains {
    /// Starts draining `id`; false if it already is.
    pub fn start(&self, id: &str) -> bool {
        let now = Instant::now();
        let mut drains = self.lock();
        if drains.contains_key(id) {
            return false;
        }
        drains.insert(id.to_string(), Drain { started: now, last_needed: now, stopped: false });
        true
    }

    pub fn contains(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    pub fn ids(&self) -> HashSet<String> {
        self.lock().keys().cloned().collect()
    }

    pub(crate) fn snapshot(&self) -> Vec<(String, Drain)> {
        self.lock().iter().map(|(id, d)| (id.clone(), d.clone())).collect()
    }

    pub(crate) fn needed_now(&self, id: &str) {
        if let Some(drain) = self.lock().get_mut(id) {
            drain.last_needed = Instant::now();
        }
    }

    pub(crate) fn stopped(&self, id: &str) {
        if let Some(drain) = self.lock().get_mut(id) {
            drain.stopped = true;
        }
    }

    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Drain>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The executors squall stopped lately (REMOVE EXECUTOR, a finished drain, the autoscaler). A
/// registration, metadata or heartbeat under one of their ids within [`Stopped::REFUSED_FOR`] of
/// the stop is a message sent before it and is refused. Only for that long: an operator may start
/// an executor again under the id they gave it (`squall executor --id`).
#[derive(Debug, Default, Clone)]
pub struct Stopped(Arc<Mutex<HashMap<String, Instant>>>);

impl Stopped {
    /// Far longer than a message in flight can take; shorter than an operator's restart.
    pub const REFUSED_FOR: std::time::Duration = std::time::Duration::from_secs(30);

    pub fn insert(&self, id: &str) {
        let mut stopped = self.lock();
        stopped.retain(|_, at| at.elapsed() < Self::REFUSED_FOR);
        stopped.insert(id.to_string(), Instant::now());
    }

    fn refuse(&self, id: &str) -> Result<()> {
        match self.lock().get(id) {
            Some(at) if at.elapsed() < Self::REFUSED_FOR => Err(ballista_core::error::BallistaError::General(format!(
                "executor {id} was stopped {:.1} s ago; it may register again {} s after it was stopped",
                at.elapsed().as_secs_f64(),
                Self::REFUSED_FOR.as_secs()
            ))),
            _ => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Called with an executor's id before the scheduler removes it.
pub type RemovalHook = Arc<dyn Fn(String) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

pub struct DrainingClusterState {
    inner: InMemoryClusterState,
    drains: Drains,
    stopped: Stopped,
    on_removal: Arc<std::sync::OnceLock<RemovalHook>>,
}

impl DrainingClusterState {
    pub fn new(drains: Drains, stopped: Stopped) -> Self {
        Self { inner: InMemoryClusterState::default(), drains, stopped, on_removal: Default::default() }
    }

    /// Where the removal hook is set once the scheduler exists.
    pub fn on_removal(&self) -> Arc<std::sync::OnceLock<RemovalHook>> {
        Arc::clone(&self.on_removal)
    }
}

#[async_trait::async_trait]
impl ClusterState for DrainingClusterState {
    async fn init(&self) -> Result<()> {
        self.inner.init().await
    }

    async fn bind_schedulable_tasks(
        &self,
        distribution: TaskDistributionPolicy,
        active_jobs: Arc<HashMap<JobId, JobInfoCache>>,
        executors: Option<HashSet<String>>,
    ) -> Result<Vec<BoundTask>> {
        let draining = self.drains.ids();
        let executors = match executors {
            Some(alive) => Some(alive.into_iter().filter(|id| !draining.contains(id)).collect()),
            // Ballista always passes the alive set; if it ever stops, name the candidates here.
            None => Some(
                self.inner
                    .registered_executor_metadata()
                    .await
                    .into_iter()
                    .map(|m| m.id)
                    .filter(|id| !draining.contains(id))
                    .collect(),
            ),
        };
        self.inner.bind_schedulable_tasks(distribution, active_jobs, executors).await
    }

    async fn unbind_tasks(&self, executor_slots: Vec<ExecutorSlot>) -> Result<()> {
        self.inner.unbind_tasks(executor_slots).await
    }

    async fn register_executor(&self, metadata: ExecutorMetadata, spec: ExecutorData) -> Result<()> {
        self.stopped.refuse(&metadata.id)?;
        self.inner.register_executor(metadata, spec).await
    }

    async fn save_executor_metadata(&self, metadata: ExecutorMetadata) -> Result<()> {
        self.stopped.refuse(&metadata.id)?;
        self.inner.save_executor_metadata(metadata).await
    }

    async fn get_executor_metadata(&self, executor_id: &str) -> Result<ExecutorMetadata> {
        self.inner.get_executor_metadata(executor_id).await
    }

    async fn registered_executor_metadata(&self) -> Vec<ExecutorMetadata> {
        self.inner.registered_executor_metadata().await
    }

    async fn save_executor_heartbeat(&self, heartbeat: ExecutorHeartbeat) -> Result<()> {
        self.stopped.refuse(&heartbeat.executor_id)?;
        self.inner.save_executor_heartbeat(heartbeat).await
    }

    async fn remove_executor(&self, executor_id: &str) -> Result<()> {
        if let Some(hook) = self.on_removal.get() {
            hook(executor_id.to_string()).await;
        }
        self.inner.remove_executor(executor_id).await
    }

    fn executor_heartbeats(&self) -> HashMap<String, ExecutorHeartbeat> {
        self.inner.executor_heartbeats()
    }

    fn get_executor_heartbeat(&self, executor_id: &str) -> Option<ExecutorHeartbeat> {
        self.inner.get_executor_heartbeat(executor_id)
    }

    async fn cluster_state_events(&self) -> Result<ClusterStateEventStream> {
        self.inner.cluster_state_events().await
    }
}

/// Distributed queries whose results are still being read by a client, with when they started.
#[derive(Debug, Default, Clone)]
pub struct QueriesInFlight(Arc<Mutex<(u64, HashMap<u64, Instant>)>>);

/// Held by a query's result stream; dropping it (all rows read, or the client gone) ends it.
pub struct InFlight {
    queries: QueriesInFlight,
    id: u64,
}

impl QueriesInFlight {
    pub fn begin(&self) -> InFlight {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += 1;
        let id = state.0;
        state.1.insert(id, Instant::now());
        InFlight { queries: self.clone(), id }
    }

    pub(crate) fn any_started_before(&self, instant: Instant) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).1.values().any(|started| *started <= instant)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.queries.0.lock().unwrap_or_else(|p| p.into_inner()).1.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_executor_is_refused_for_a_while_then_may_come_back() {
        let stopped = Stopped::default();
        stopped.insert("exec-1");
        assert!(stopped.refuse("exec-1").unwrap_err().to_string().contains("exec-1 was stopped"));
        assert!(stopped.refuse("exec-2").is_ok());
        // As if stopped longer ago than the window.
        stopped.lock().insert("exec-1".into(), Instant::now() - Stopped::REFUSED_FOR);
        assert!(stopped.refuse("exec-1").is_ok());
    }
}
