//! The executor's side of `squall.ExecutorOrders` (see `squall_engine::scheduler::executor_orders`):
//! it asks the scheduler every 100 ms while it runs tasks (every second otherwise) which of them
//! to stop and whether to stop itself, and does so. Cancelled queries, failed jobs and removed
//! executors thus stop within about 100 ms, as Ballista's pushed cancellations did.

use std::time::Duration;

use squall_engine::internal_auth::InternalAuth;
use squall_engine::scheduler::executor_orders::{self, OrdersRequest};
use tonic::transport::Channel;

use crate::running_tasks::RunningTasks;

const BUSY: Duration = Duration::from_millis(100);
const IDLE: Duration = Duration::from_secs(1);

/// Asks for orders until the process ends.
pub fn spawn(scheduler: String, executor_id: String, auth: InternalAuth, tasks: RunningTasks) {
    tokio::spawn(async move {
        let mut channel: Option<Channel> = None;
        loop {
            tokio::time::sleep(if tasks.is_empty() { IDLE } else { BUSY }).await;
            if channel.is_none() {
                channel = connect(&scheduler, &auth).await;
            }
            let Some(open) = channel.clone() else { continue };
            let predictions = squall_udf::ml::served::counts().into_iter().map(|(model, rows)| executor_orders::Predicted { model, rows }).collect();
            let request = OrdersRequest { executor_id: executor_id.clone(), running: tasks.list(), predictions };
            let orders = match executor_orders::fetch(open, request).await {
                Ok(orders) => orders,
                Err(e) if e.code() == tonic::Code::Unauthenticated => {
                    // Nothing this executor sends will be accepted: say so and stop, rather than
                    // knock forever.
                    tracing::error!("the scheduler refuses this executor's credential ({}): is it started with the cluster's secret?", e.message());
                    eprintln!("squall executor: the scheduler refused this executor's cluster credential; stopping");
                    std::process::exit(2);
                }
                Err(e) => {
                    tracing::debug!("asking the scheduler for orders: {e}");
                    channel = None;
                    continue;
                }
            };
            for task in &orders.stop_tasks {
                if tasks.stop(task) {
                    tracing::info!(job = %task.job_id, stage = task.stage_id, task = task.task_id, "stopping a task the scheduler no longer runs here");
                }
            }
            if let Some(reason) = orders.stop_executor {
                tracing::info!(%reason, "the scheduler told this executor to stop");
                tasks.stop_all();
                // Ballista's own shutdown: it tells the scheduler and waits for its tasks.
                // SAFETY: signalling this very process.
                unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
                return;
            }
        }
    });
}

async fn connect(scheduler: &str, auth: &InternalAuth) -> Option<Channel> {
    auth.endpoint(scheduler).ok()?.connect().await.ok()
}
