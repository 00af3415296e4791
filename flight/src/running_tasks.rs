//! The tasks this executor is running, each with the token that stops it (see
//! [`crate::cooperative`]): what the executor lists when it asks for its orders, and what a stop
//! order cancels (see [`crate::orders`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use squall_engine::scheduler::executor_orders::RunningTask;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Default, Clone)]
pub struct RunningTasks(Arc<Mutex<HashMap<RunningTask, CancellationToken>>>);

impl RunningTasks {
    pub fn started(&self, task: RunningTask, stop: CancellationToken) {
        self.lock().insert(task, stop);
    }

    pub fn finished(&self, task: &RunningTask) {
        self.lock().remove(task);
    }

    pub fn list(&self) -> Vec<RunningTask> {
        self.lock().keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Stops `task`; false if it is not running here.
    pub fn stop(&self, task: &RunningTask) -> bool {
        match self.lock().remove(task) {
            Some(stop) => {
                stop.cancel();
                true
            }
            None => false,
        }
    }

    pub fn stop_all(&self) {
        for (_, stop) in self.lock().drain() {
            stop.cancel();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RunningTask, CancellationToken>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
