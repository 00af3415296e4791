//! The executor process, put together from Ballista's public parts rather than started with its
//! `start_executor_process`: Ballista's `Executor` runs the tasks, its `poll_loop` asks the
//! scheduler for them and reports their statuses, its Flight service (behind squall's credential
//! check, [`crate::guarded_flight`]) serves their output.
//!
//! Why not `start_executor_process`: under pull scheduling (the only kind whose executors serve no
//! unauthenticated port, see `squall_engine::scheduler::executor_orders`) it runs `poll_loop`
//! without a wake-up, so an executor that found no task slept 50 ms before asking again, and a
//! finished task's status waited for that sleep: each stage boundary cost 50–100 ms and TPC-H SF1
//! took 1.65x as long as under push scheduling. Here the loop is woken the moment one of this
//! executor's tasks has finished (its status is then queued: [`crate::cooperative`] wakes it when
//! the stage is dropped, after Ballista sent the status), and every 20 ms otherwise; the
//! scheduler holds an idle executor's empty request until there is work.
//!
//! What `start_executor_process` did that this keeps: each task a memory pool of its share of the
//! host's memory (70%, split over the task slots), a goodbye to the scheduler on SIGTERM / Ctrl-C
//! (terminating heartbeat and `executor_stopped`), then waiting for running tasks to end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ballista_core::serde::protobuf::executor_status::Status as ExecutorState;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{ExecutorStatus, ExecutorStoppedParams, HeartBeatParams};
use ballista_core::serde::BallistaCodec;
use ballista_core::utils::GrpcServerConfig;
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::execution_loop::poll_loop;
use ballista_executor::executor::Executor;
use ballista_executor::executor_process::{structure_executor_metadata, ExecutorProcessConfig};
use ballista_executor::health::ExecutorHealth;
use ballista_executor::metrics::LoggingMetricsCollector;
use ballista_executor::shutdown::ShutdownNotifier;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use squall_engine::internal_auth::InternalAuth;
use squall_udf::{registry, settings};
use tokio::sync::Notify;

use crate::running_tasks::RunningTasks;

/// How often a busy executor's poll loop is woken to ask for more tasks.
const NUDGE: Duration = Duration::from_millis(20);
/// The share of the host's memory the tasks' pools split, as Ballista's default.
const MEMORY_FRACTION: f64 = 0.7;

/// What the process is made of.
pub struct Parts {
    pub config: Arc<ExecutorProcessConfig>,
    pub work_dir: String,
    pub auth: InternalAuth,
    pub tasks: RunningTasks,
    /// Wakes the poll loop; [`crate::cooperative`] rings it when a task has finished.
    pub wake: Arc<Notify>,
    /// The runtime every task shares (object stores, caches); each task gets its own memory pool.
    pub shared_runtime: Arc<RuntimeEnv>,
    pub config_producer: ConfigProducer,
    pub execution_engine: Arc<dyn ballista_executor::execution_engine::ExecutionEngine>,
}

/// Runs the executor until it is told to stop (SIGTERM, Ctrl-C, a stop order).
pub async fn serve(parts: Parts) -> anyhow::Result<()> {
    let Parts { config, work_dir, auth, tasks, wake, shared_runtime, config_producer, execution_engine } = parts;
    let vcores = match config.vcores {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    let metadata = structure_executor_metadata(&config, vcores as u32);
    let executor_id = metadata.id.clone();
    let per_task = task_memory(vcores);
    let runtime_producer: RuntimeProducer = Arc::new(move |_| {
        Ok(Arc::new(RuntimeEnv { memory_pool: Arc::new(FairSpillPool::new(per_task)), ..RuntimeEnv::clone(&shared_runtime) }))
    });
    let executor = Arc::new(Executor::new(
        metadata.clone(),
        &work_dir,
        runtime_producer,
        config_producer,
        Arc::new(registry::function_registry()),
        Arc::new(LoggingMetricsCollector::default()),
        vcores,
        execution_engine,
    ));

    let shutdown = ShutdownNotifier::new();
    let address: SocketAddr = format!("{}:{}", config.bind_host, config.port).parse().context("the Flight address")?;
    let flight = crate::guarded_flight::provider(auth.clone())(work_dir.clone(), address, shutdown.subscribe_for_shutdown(), GrpcServerConfig::default());

    let scheduler_address = format!("{}:{}", config.scheduler_host, config.scheduler_port);
    let channel = connect(&scheduler_address, &auth, Duration::from_secs(config.scheduler_connect_timeout_seconds as u64)).await?;
    let scheduler = SchedulerGrpcClient::new(channel)
        .max_encoding_message_size(settings::MAX_FLIGHT_MESSAGE)
        .max_decoding_message_size(settings::MAX_FLIGHT_MESSAGE);
    let codec: BallistaCodec<LogicalPlanNode, PhysicalPlanNode> = BallistaCodec::default();
    let nudges = {
        let wake = Arc::clone(&wake);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(NUDGE).await;
                wake.notify_one();
            }
        })
    };
    let mut polling = tokio::spawn(poll_loop(scheduler.clone(), Arc::clone(&executor), codec, Some(wake), None, ExecutorHealth::default()));
    tracing::info!(id = %executor_id, %address, vcores, "squall executor asking {scheduler_address} for tasks");

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let reason = tokio::select! {
        ended = &mut polling => format!("asking for tasks ended: {ended:?}"),
        ended = flight => format!("the Flight service ended: {ended:?}"),
        _ = tokio::signal::ctrl_c() => "interrupted".to_string(),
        _ = terminate.recv() => "terminated".to_string(),
    };
    tracing::info!(%reason, "executor stopping");
    polling.abort();
    nudges.abort();
    say_goodbye(scheduler, metadata, &reason).await;
    // The tasks already running finish (their output may be read), within a bound.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !tasks.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = shutdown.notify_shutdown.send(());
    Ok(())
}

/// Tells the scheduler this executor is going, as Ballista's own executor does: a terminating
/// heartbeat (offer it no more tasks), then `executor_stopped`.
async fn say_goodbye(
    mut scheduler: SchedulerGrpcClient<tonic::transport::Channel>,
    metadata: ballista_core::serde::protobuf::ExecutorRegistration,
    reason: &str,
) {
    let executor_id = metadata.id.clone();
    let terminating = HeartBeatParams {
        executor_id: executor_id.clone(),
        metrics: vec![],
        status: Some(ExecutorStatus { status: Some(ExecutorState::Terminating(String::new())) }),
        metadata: Some(metadata),
    };
    if let Err(e) = scheduler.heart_beat_from_executor(terminating).await {
        tracing::warn!("telling the scheduler this executor is terminating: {e}");
    }
    if let Err(e) = scheduler.executor_stopped(ExecutorStoppedParams { executor_id, reason: reason.to_string() }).await {
        tracing::warn!("telling the scheduler this executor stopped: {e}");
    }
}

/// A channel to the scheduler, with the credential (and TLS), retried while it starts.
async fn connect(scheduler: &str, auth: &InternalAuth, within: Duration) -> anyhow::Result<tonic::transport::Channel> {
    let deadline = tokio::time::Instant::now() + within.max(Duration::from_secs(1));
    loop {
        let endpoint = auth.endpoint(scheduler).map_err(|e| anyhow::anyhow!("{e}"))?;
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!("the scheduler at {scheduler} is not reachable yet ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => anyhow::bail!("cannot reach the scheduler at {scheduler}: {e}"),
        }
    }
}

/// Each task's memory pool: 70% of the host's memory over the task slots (unbounded when the
/// host's memory cannot be read).
fn task_memory(vcores: usize) -> usize {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| info.lines().find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().trim_end_matches("kB").trim().to_string())))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024);
    match total {
        Some(bytes) => ((bytes as f64 * MEMORY_FRACTION) as u64 / vcores.max(1) as u64) as usize,
        None => usize::MAX,
    }
}
