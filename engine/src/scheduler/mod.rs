//! The Ballista scheduler, embedded in the coordinator process, with what squall keeps of its
//! jobs: the jobs each running statement submitted ([`statement_jobs`]), `squall.jobs`
//! ([`jobs`]), the jobs that lost shuffle output with an executor ([`lost_jobs`]), and the
//! cluster state that offers draining executors no tasks ([`draining_state`]). The cluster's
//! operation (`cluster/`) uses it; it uses nothing of `cluster/`.
//!
//! squall serves the scheduler's gRPC API itself (rather than through Ballista's
//! `start_grpc_service`) so that it can see every task status an executor reports: the
//! [`TaskLedger`] counts completed tasks per executor for `SHOW EXECUTORS`. Running tasks are read
//! from the scheduler's own execution graphs, so they are exact.

pub mod draining_state;
pub mod executor_orders;
pub mod job_slots;
pub mod jobs;
pub mod lost_jobs;
pub mod statement_jobs;
pub mod work_signal;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ballista_core::serde::protobuf::scheduler_grpc_server::{SchedulerGrpc, SchedulerGrpcServer};
use ballista_core::serde::protobuf::{self as pb, task_status};
use ballista_core::config::BALLISTA_JOB_NAME;
use ballista_core::extension::SessionConfigHelperExt;
use ballista_core::serde::{BallistaCodec, BallistaPhysicalExtensionCodec};
use ballista_core::utils::GrpcServerConfig;
use ballista_scheduler::cluster::memory::InMemoryJobState;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::metrics::NoopMetricsCollector;
use ballista_scheduler::scheduler_server::event::SubmitPlan;
use ballista_scheduler::scheduler_server::SchedulerServer;
use ballista_scheduler::state::session_manager::share_file_statistics_cache;
use datafusion::execution::SessionStateBuilder;
use datafusion_proto::logical_plan::AsLogicalPlan;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use squall_udf::{object_stores, registry, settings};
use tonic::{Request, Response, Status};

use crate::scheduler::draining_state::{Drains, DrainingClusterState, RemovalHook, Stopped};
use crate::scheduler::lost_jobs::LostJobs;
use crate::error::{Result, SquallError};
use crate::internal_auth::InternalAuth;
use crate::scheduler::executor_orders::{OrdersService, StopOrders};
use crate::scheduler::statement_jobs::StatementJobs;
use crate::scheduler::work_signal::WorkSignal;

pub type Scheduler = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

/// Completed and failed task counts per executor, as the executors report them.
#[derive(Debug, Default)]
pub struct TaskLedger {
    counts: Mutex<HashMap<String, TaskCounts>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct TaskCounts {
    pub completed: u64,
    pub failed: u64,
}

impl TaskLedger {
    fn record(&self, executor_id: &str, statuses: &[pb::TaskStatus], lost_jobs: &LostJobs) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let entry = counts.entry(executor_id.to_string()).or_default();
        for status in statuses {
            match status.status {
                Some(task_status::Status::Successful(_)) => {
                    entry.completed += 1;
                    lost_jobs.output_on(&status.job_id, executor_id);
                }
                Some(task_status::Status::Failed(_)) => entry.failed += 1,
                _ => {}
            }
        }
    }

    pub fn counts(&self, executor_id: &str) -> TaskCounts {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).get(executor_id).copied().unwrap_or_default()
    }
}

/// The scheduler running inside this process, and what squall observes of it.
#[derive(Clone)]
pub struct EmbeddedScheduler {
    pub server: Scheduler,
    pub ledger: Arc<TaskLedger>,
    /// The address executors and the coordinator's Ballista client connect to.
    pub address: SocketAddr,
    /// Executors being drained: offered no new tasks.
    pub drains: Drains,
    /// Executors squall just stopped: not registered again by a message sent before the stop.
    pub stopped: Stopped,
    /// Jobs' states, finished ones included (for `squall.jobs`).
    pub job_state: Arc<InMemoryJobState>,
    /// Jobs cancelled because an executor holding their output was lost.
    pub lost_jobs: LostJobs,
    /// The jobs each running statement submitted.
    pub statement_jobs: StatementJobs,
    /// The cluster's credential: checked on every call to the scheduler.
    pub auth: InternalAuth,
    /// Executors told to stop, which learn it from their orders (see [`executor_orders`]).
    pub stop_orders: StopOrders,
    /// Predictions counted per model and hour; executors report theirs with their requests for
    /// orders.
    pub predictions: Arc<crate::models::predictions::Predictions>,
}

/// The scheduler's backlog, as the autoscaler and SHOW CLUSTER see it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Signal {
    pub pending_tasks: usize,
    pub running_tasks: usize,
    pub queued_jobs: usize,
}

impl EmbeddedScheduler {
    /// What the autoscaler reads: tasks waiting for a slot, tasks running, jobs not started.
    pub async fn signal(&self) -> Signal {
        let (mut pending_tasks, mut running_tasks) = (0, 0);
        for job in self.server.state.task_manager.get_running_job_cache().values() {
            let graph = job.execution_graph.read().await;
            pending_tasks += graph.available_tasks();
            running_tasks += graph.running_tasks().len();
        }
        Signal { pending_tasks, running_tasks, queued_jobs: self.server.state.task_manager.pending_job_number() }
    }

    /// The ids of the executors registered now.
    pub async fn registered_executors(&self) -> Result<Vec<String>> {
        Ok(self.registered().await?.into_iter().map(|metadata| metadata.id).collect())
    }

    /// What the registered executors told the scheduler about themselves.
    async fn registered(&self) -> Result<Vec<ballista_core::serde::scheduler::ExecutorMetadata>> {
        let executors = self
            .server
            .state
            .executor_manager
            .get_executors_state()
            .await
            .map_err(|e| SquallError::Internal(format!("reading the scheduler's executors: {e}")))?;
        Ok(executors.into_iter().map(|(metadata, _, _)| metadata).collect())
    }

    /// Task slots (vcores) over the registered executors, draining ones included: the cluster's
    /// parallelism, which a distributed query's partition count follows (see `settings`).
    pub async fn total_slots(&self) -> Result<usize> {
        Ok(self.registered().await?.iter().map(|metadata| metadata.specification.vcores as usize).sum())
    }

    /// Waits until `done` holds for the registered executors' ids, at most `timeout`; whether it
    /// did.
    pub async fn wait_for_executors(&self, timeout: std::time::Duration, done: impl Fn(&[String]) -> bool) -> Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if done(&self.registered_executors().await?) {
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Binds `listen` (port 0 picks a free port) and starts serving the scheduler API.
    /// `advertised_host` is the host name executors are told to call back. Every call must carry
    /// `auth`'s credential.
    pub async fn start(listen: &str, advertised_host: &str, auth: InternalAuth) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| SquallError::InvalidParameter(format!("cannot listen for executors on {listen}: {e}")))?;
        let address = listener.local_addr()?;

        let session_builder = Arc::new(|config| {
            let builder = SessionStateBuilder::new()
                .with_config(config)
                .with_runtime_env(object_stores::runtime_env(None)?);
            Ok(registry::install_functions(builder).build())
        });
        let config_producer = Arc::new(settings::session_config);
        let mut config = SchedulerConfig {
            bind_host: address.ip().to_string(),
            bind_port: address.port(),
            external_host: advertised_host.to_string(),
            override_session_builder: Some(session_builder.clone()),
            override_config_producer: Some(config_producer.clone()),
            // Spread tasks over the executors rather than filling one first, as Spark does: a
            // query uses every process's cores.
            task_distribution: TaskDistributionPolicy::RoundRobin,
            // Executors ask for tasks and serve no calls: Ballista's executor task service, which
            // push scheduling calls, can neither check a credential nor speak TLS (see
            // `executor_orders` for how cancellations and stops reach executors instead).
            scheduling_policy: ballista_core::config::TaskSchedulingPolicy::PullStaged,
            ..Default::default()
        };
        // Lost executors are noticed from missed heartbeats (they beat every 5 s).
        config.executor_timeout_seconds = 30;
        config.expire_dead_executor_interval_seconds = 5;
        let config = Arc::new(config);

        let drains = Drains::default();
        let lost_jobs = LostJobs::default();
        let statement_jobs = StatementJobs::default();
        let job_state = Arc::new(InMemoryJobState::new(
            config.scheduler_id.clone(),
            share_file_statistics_cache(session_builder),
            config_producer,
        ));
        let stopped = Stopped::default();
        let cluster_state = Arc::new(DrainingClusterState::new(drains.clone(), stopped.clone()));
        let on_removal = cluster_state.on_removal();
        let cluster = BallistaCluster::new(
            cluster_state,
            job_state.clone(),
        );
        let mut server: Scheduler = SchedulerServer::new(
            config.scheduler_endpoint(),
            cluster,
            // Ballista's, with squall's logical codec: Delta table versions come by name.
            BallistaCodec::new(crate::storage::delta::plan_codec::SquallLogicalCodec::shared(), Arc::new(BallistaPhysicalExtensionCodec::default())),
            config.clone(),
            Arc::new(NoopMetricsCollector::default()),
        );
        server.init().await.map_err(|e| SquallError::Internal(format!("starting the scheduler: {e}")))?;
        let _ = on_removal.set(cancel_jobs_on_removed_executor(server.clone(), drains.clone(), lost_jobs.clone()));

        let ledger = Arc::new(TaskLedger::default());
        let stop_orders = StopOrders::default();
        let predictions = Arc::new(crate::models::predictions::Predictions::default());
        let orders = OrdersService { scheduler: server.clone(), stops: stop_orders.clone(), auth: auth.clone(), predictions: Arc::clone(&predictions) };
        let service = SchedulerGrpcServer::new(ObservedScheduler {
            inner: server.clone(),
            ledger: ledger.clone(),
            lost_jobs: lost_jobs.clone(),
            statement_jobs: statement_jobs.clone(),
            auth: auth.clone(),
            drains: drains.clone(),
            stop_orders: stop_orders.clone(),
            work: Arc::new(WorkSignal::default()),
        })
            .max_decoding_message_size(config.grpc_server_max_decoding_message_size as usize)
            .max_encoding_message_size(config.grpc_server_max_encoding_message_size as usize);
        // Nagle's algorithm off on every accepted connection, as Ballista's own servers do: tonic
        // applies its builder's `tcp_nodelay` only to listeners it binds itself, and with Nagle on
        // each small gRPC message (a task status, a job's status) waited for the peer's delayed
        // ACK, about 40 ms: TPC-H Q10 spent 230 ms of 580 that way.
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let mut grpc = auth
            .server(&GrpcServerConfig::default())
            .map_err(|e| SquallError::InvalidParameter(format!("cannot serve the scheduler with internal TLS: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = grpc.add_service(service).add_service(orders).serve_with_incoming(incoming).await {
                tracing::error!("scheduler gRPC service stopped: {e}");
            }
        });
        tracing::info!(%address, "Ballista scheduler listening");
        Ok(Self { server, ledger, address, drains, stopped, job_state, lost_jobs, statement_jobs, auth, stop_orders, predictions })
    }
}

/// Before the scheduler removes an executor (lost or removed; a drained one is needed by no
/// running job): cancel the running jobs with output on it, so that Ballista's stage rollback never
/// runs for them (see [`crate::scheduler::lost_jobs`]).
fn cancel_jobs_on_removed_executor(server: Scheduler, drains: Drains, lost_jobs: LostJobs) -> RemovalHook {
    Arc::new(move |executor_id: String| {
        let (server, drains, lost_jobs) = (server.clone(), drains.clone(), lost_jobs.clone());
        Box::pin(async move {
            if drains.contains(&executor_id) {
                return;
            }
            for job in lost_jobs.lose_jobs_on(&executor_id) {
                tracing::warn!(%job, executor = %executor_id, "executor lost: cancelling the job to run it again");
                if let Err(e) = server.cancel_job(ballista_core::JobId::new(job.as_str())).await {
                    tracing::warn!(%job, "cancelling a job after an executor loss: {e}");
                }
            }
        })
    })
}

/// Ballista's scheduler service, with every call's credential checked and task status reports
/// counted on the way in.
struct ObservedScheduler {
    inner: Scheduler,
    ledger: Arc<TaskLedger>,
    lost_jobs: LostJobs,
    statement_jobs: StatementJobs,
    auth: InternalAuth,
    drains: Drains,
    stop_orders: StopOrders,
    /// Raised by whatever can make tasks runnable; held polls wait for it.
    work: Arc<WorkSignal>,
}

type Reply<T> = std::result::Result<Response<T>, Status>;

impl ObservedScheduler {
    /// The task slots to offer `executor` of its `free` ones: none while it drains, else at most
    /// its share of the runnable tasks over the registered executors not draining.
    async fn offer(&self, executor: &str, free: u32) -> u32 {
        if free == 0 || self.drains.contains(executor) {
            return 0;
        }
        let mut runnable = 0;
        for job in self.inner.state.task_manager.get_running_job_cache().values() {
            runnable += job.execution_graph.read().await.available_tasks();
        }
        let executors = match self.inner.state.executor_manager.get_executors_state().await {
            Ok(executors) => executors.iter().filter(|(metadata, _, _)| !self.drains.contains(&metadata.id)).count(),
            Err(_) => 1,
        };
        let share = runnable.div_ceil(executors.max(1)).max(1);
        free.min(share as u32)
    }
}

#[tonic::async_trait]
impl SchedulerGrpc for ObservedScheduler {
    type ExecuteQueryPushStream = <Scheduler as SchedulerGrpc>::ExecuteQueryPushStream;

    async fn update_task_status(&self, request: Request<pb::UpdateTaskStatusParams>) -> Reply<pb::UpdateTaskStatusResult> {
        self.auth.check(&request, "update_task_status", Some(request.get_ref().executor_id.as_str()))?;
        let params = request.get_ref();
        self.ledger.record(&params.executor_id, &params.task_status, &self.lost_jobs);
        let result = self.inner.update_task_status(request).await;
        self.work.raise();
        result
    }

    /// Ballista's handler, with squall's rules around it: an executor told to stop is refused (so
    /// that it does not register again), a draining one is offered no task, an executor gets at
    /// most its share of the runnable tasks (spread as push scheduling's round robin spreads
    /// them), and an idle executor's empty poll is held until there is work (see [`work_signal`]).
    async fn poll_work(&self, mut request: Request<pb::PollWorkParams>) -> Reply<pb::PollWorkResult> {
        self.auth.check(&request, "poll_work", request.get_ref().metadata.as_ref().map(|m| m.id.as_str()))?;
        let params = request.get_mut();
        let Some(metadata) = params.metadata.clone() else { return self.inner.poll_work(request).await };
        if let Some(reason) = self.stop_orders.get(&metadata.id) {
            return Err(Status::failed_precondition(format!("executor {} was told to stop: {reason}", metadata.id)));
        }
        self.ledger.record(&metadata.id, &params.task_status, &self.lost_jobs);
        let reported = !params.task_status.is_empty();
        if reported {
            self.work.raise();
        }
        let slots = metadata.specification.clone().map(|spec| {
            let spec: ballista_core::serde::scheduler::ExecutorSpecification = spec.into();
            spec.vcores
        });
        // Every slot free: no task of it runs, so no status can be waiting behind a held request
        // (one it just reported was taken by the first call below).
        let idle = slots == Some(params.num_free_vcores);
        // What a held request asks again: the same, without the statuses already taken.
        let again = pb::PollWorkParams { metadata: Some(metadata.clone()), num_free_vcores: params.num_free_vcores, task_status: Vec::new() };
        params.num_free_vcores = self.offer(&metadata.id, params.num_free_vcores).await;
        let mut result = self.inner.poll_work(request).await?;
        if !idle {
            return Ok(result);
        }
        let deadline = tokio::time::Instant::now() + work_signal::HOLD;
        while result.get_ref().tasks.is_empty() && result.get_ref().jobs_to_clean.is_empty() && self.work.wait(deadline).await {
            if self.stop_orders.get(&metadata.id).is_some() {
                break;
            }
            let mut params = again.clone();
            params.num_free_vcores = self.offer(&metadata.id, params.num_free_vcores).await;
            result = self.inner.poll_work(Request::new(params)).await?;
        }
        Ok(result)
    }

    async fn register_executor(&self, r: Request<pb::RegisterExecutorParams>) -> Reply<pb::RegisterExecutorResult> {
        self.auth.check(&r, "register_executor", r.get_ref().metadata.as_ref().map(|m| m.id.as_str()))?;
        self.inner.register_executor(r).await
    }

    async fn heart_beat_from_executor(&self, r: Request<pb::HeartBeatParams>) -> Reply<pb::HeartBeatResult> {
        self.auth.check(&r, "heart_beat_from_executor", Some(r.get_ref().executor_id.as_str()))?;
        self.inner.heart_beat_from_executor(r).await
    }

    async fn create_update_session(&self, r: Request<pb::CreateUpdateSessionParams>) -> Reply<pb::CreateUpdateSessionResult> {
        self.auth.check(&r, "create_update_session", None)?;
        self.inner.create_update_session(r).await
    }

    async fn remove_session(&self, r: Request<pb::RemoveSessionParams>) -> Reply<pb::RemoveSessionResult> {
        self.auth.check(&r, "remove_session", None)?;
        self.inner.remove_session(r).await
    }

    /// Ballista's own handler, except that the job id is kept for the statement that submitted
    /// it (see [`StatementJobs`]): the submitting query is planned with its statement's id as its
    /// Ballista session id.
    async fn execute_query_push(&self, request: Request<pb::ExecuteQueryParams>) -> Reply<Self::ExecuteQueryPushStream> {
        self.auth.check(&request, "execute_query", None)?;
        let pb::ExecuteQueryParams { query, session_id: statement, settings, .. } = request.into_inner();
        let Some(pb::execute_query_params::Query::LogicalPlan(plan)) = query else {
            return Err(Status::invalid_argument("squall's scheduler runs logical plans only"));
        };
        let job_name = settings.iter().find(|s| s.key == BALLISTA_JOB_NAME).and_then(|s| s.value.clone()).unwrap_or_default();
        let config = settings::session_config().update_from_key_value_pair(&settings);
        let state = &self.inner.state;
        let ctx = state
            .session_manager
            .create_or_update_session(&statement, &config)
            .await
            .map_err(|e| Status::internal(format!("creating the job's session: {e}")))?;
        let plan = LogicalPlanNode::try_decode(&plan)
            .and_then(|node| node.try_into_logical_plan(&ctx.task_ctx(), state.codec.logical_extension_codec()))
            .map_err(|e| Status::invalid_argument(format!("could not read the plan: {e}")))?;
        let (subscriber, statuses) = tokio::sync::mpsc::channel::<pb::JobStatus>(16);
        let job = self
            .inner
            .submit_plan(&job_name, ctx, &SubmitPlan::Logical(plan), Some(subscriber))
            .await
            .map_err(|e| Status::internal(format!("submitting the job: {e}")))?;
        if !self.statement_jobs.submitted(&statement, job.clone()) {
            // Its statement was stopped while the job was on its way.
            let _ = self.inner.cancel_job(job).await;
        }
        self.work.raise();
        let statuses = futures::stream::unfold(statuses, |mut statuses| async move {
            let status = statuses.recv().await?;
            Some((Ok(pb::GetJobStatusResult { status: Some(status), flight_proxy: None }), statuses))
        });
        let mut response = Response::new(Box::pin(statuses) as Self::ExecuteQueryPushStream);
        ballista_core::version::insert_version_header(response.metadata_mut());
        Ok(response)
    }

    async fn execute_query(&self, r: Request<pb::ExecuteQueryParams>) -> Reply<pb::ExecuteQueryResult> {
        self.auth.check(&r, "execute_query", None)?;
        self.inner.execute_query(r).await
    }

    async fn get_job_status(&self, r: Request<pb::GetJobStatusParams>) -> Reply<pb::GetJobStatusResult> {
        self.auth.check(&r, "get_job_status", None)?;
        self.inner.get_job_status(r).await
    }

    async fn get_job_metrics(&self, r: Request<pb::GetJobMetricsParams>) -> Reply<pb::GetJobMetricsResult> {
        self.auth.check(&r, "get_job_metrics", None)?;
        self.inner.get_job_metrics(r).await
    }

    async fn executor_stopped(&self, r: Request<pb::ExecutorStoppedParams>) -> Reply<pb::ExecutorStoppedResult> {
        self.auth.check(&r, "executor_stopped", Some(r.get_ref().executor_id.as_str()))?;
        self.inner.executor_stopped(r).await
    }

    async fn cancel_job(&self, r: Request<pb::CancelJobParams>) -> Reply<pb::CancelJobResult> {
        self.auth.check(&r, "cancel_job", None)?;
        SchedulerGrpc::cancel_job(&self.inner, r).await
    }

    async fn clean_job_data(&self, r: Request<pb::CleanJobDataParams>) -> Reply<pb::CleanJobDataResult> {
        self.auth.check(&r, "clean_job_data", None)?;
        self.inner.clean_job_data(r).await
    }
}
