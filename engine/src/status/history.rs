//! What the status page charts over the last hour: every [`SAMPLE_SECONDS`], the active
//! executors and the tasks waiting for a slot and running.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::cluster::executors;
use crate::engine::Engine;

/// Seconds between samples, and how many are kept (an hour's).
pub const SAMPLE_SECONDS: u64 = 10;
const KEPT: usize = 3600 / SAMPLE_SECONDS as usize;

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the epoch.
    pub at: i64,
    pub executors: usize,
    pub pending_tasks: usize,
    pub running_tasks: usize,
}

#[derive(Debug, Default)]
pub struct History(Mutex<VecDeque<Sample>>);

impl History {
    pub fn samples(&self) -> Vec<Sample> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    fn push(&self, sample: Sample) {
        let mut samples = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == KEPT {
            samples.pop_front();
        }
        samples.push_back(sample);
    }
}

/// The cluster now.
pub async fn sample(engine: &Engine) -> crate::error::Result<Sample> {
    let executors = executors::list(&engine.scheduler, &engine.launched()).await?;
    Ok(Sample::of(&executors, &engine.scheduler.signal().await))
}

impl Sample {
    /// The sample of executors and a scheduler signal already read.
    pub fn of(executors: &[executors::ExecutorRow], signal: &crate::scheduler::Signal) -> Sample {
        Sample {
            at: chrono::Utc::now().timestamp(),
            executors: executors.iter().filter(|e| e.state == "active").count(),
            pending_tasks: signal.pending_tasks,
            running_tasks: signal.running_tasks,
        }
    }
}

/// Samples the cluster in the background, from now on.
pub fn spawn(engine: Arc<Engine>) {
    tokio::spawn(async move {
        loop {
            match sample(&engine).await {
                Ok(sample) => engine.status_history.push(sample),
                Err(e) => tracing::debug!("sampling the cluster for the status page: {e}"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(SAMPLE_SECONDS)).await;
        }
    });
}
