//! Orders for executors, which serve no calls under pull scheduling: which of their running tasks
//! to stop, and whether to stop altogether. Each executor asks for them over squall's own small
//! gRPC service, `squall.ExecutorOrders`, served on the scheduler's port beside Ballista's
//! service, behind the same credential check and TLS (every 100 ms while it runs tasks, every
//! second otherwise; see `squall_flight::orders`).
//!
//! Why not Ballista's own way: Ballista pushes cancellations and stop requests to a gRPC service
//! each executor serves itself, and that service (started inside `start_executor_process`) can
//! neither check a credential nor speak TLS, so squall's executors do not run it.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tonic::codegen::{http, Body, BoxFuture, StdError};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

use super::Scheduler;
use crate::internal_auth::InternalAuth;

/// One task an executor runs: `(job_id, stage_id, task_id)` names it in the whole cluster.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct RunningTask {
    #[prost(string, tag = "1")]
    pub job_id: String,
    #[prost(uint32, tag = "2")]
    pub stage_id: u32,
    #[prost(uint32, tag = "3")]
    pub task_id: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OrdersRequest {
    #[prost(string, tag = "1")]
    pub executor_id: String,
    #[prost(message, repeated, tag = "2")]
    pub running: Vec<RunningTask>,
    /// Rows the executor predicted per model since it started (`squall_udf::ml::served`).
    #[prost(message, repeated, tag = "3")]
    pub predictions: Vec<Predicted>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Predicted {
    #[prost(string, tag = "1")]
    pub model: String,
    #[prost(uint64, tag = "2")]
    pub rows: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Orders {
    /// Tasks the scheduler no longer counts as running on this executor (their job was cancelled,
    /// failed or finished, or the task was taken back): stop them.
    #[prost(message, repeated, tag = "1")]
    pub stop_tasks: Vec<RunningTask>,
    /// Set when the executor is to stop: why.
    #[prost(string, optional, tag = "2")]
    pub stop_executor: Option<String>,
}

const SERVICE: &str = "squall.ExecutorOrders";
const GET: &str = "/squall.ExecutorOrders/Get";

/// The executors told to stop (REMOVE EXECUTOR, a finished drain, an expired heartbeat) that
/// squall cannot stop itself, with why.
#[derive(Debug, Default, Clone)]
pub struct StopOrders(Arc<Mutex<HashMap<String, String>>>);

impl StopOrders {
    pub fn order(&self, executor: &str, reason: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(executor.to_string(), reason.to_string());
    }

    pub fn get(&self, executor: &str) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(executor).cloned()
    }
}

/// The service, on the scheduler's side.
#[derive(Clone)]
pub struct OrdersService {
    pub(super) scheduler: Scheduler,
    pub(super) stops: StopOrders,
    pub(super) auth: InternalAuth,
    pub(super) predictions: Arc<crate::models::predictions::Predictions>,
}

impl OrdersService {
    async fn answer(&self, request: OrdersRequest) -> Orders {
        let predicted: Vec<(String, u64)> = request.predictions.iter().map(|p| (p.model.clone(), p.rows)).collect();
        self.predictions.absorb(&request.executor_id, &predicted);
        let jobs: HashSet<&str> = request.running.iter().map(|task| task.job_id.as_str()).collect();
        let cache = self.scheduler.state.task_manager.get_running_job_cache();
        let mut wanted = HashSet::new();
        for job in jobs {
            if let Some(info) = cache.get(&ballista_core::JobId::new(job)) {
                let graph = info.execution_graph.read().await;
                for task in graph.running_tasks() {
                    if task.executor_id == request.executor_id {
                        wanted.insert((task.job_id.to_string(), task.stage_id as u32, task.task_id as u32));
                    }
                }
            }
        }
        let stop_tasks = request
            .running
            .into_iter()
            .filter(|task| !wanted.contains(&(task.job_id.clone(), task.stage_id, task.task_id)))
            .collect();
        Orders { stop_tasks, stop_executor: self.stops.get(&request.executor_id) }
    }
}

impl tonic::server::NamedService for OrdersService {
    const NAME: &'static str = SERVICE;
}

struct Get(OrdersService);

impl tonic::server::UnaryService<OrdersRequest> for Get {
    type Response = Orders;
    type Future = BoxFuture<Response<Orders>, Status>;

    fn call(&mut self, request: Request<OrdersRequest>) -> Self::Future {
        let service = self.0.clone();
        Box::pin(async move {
            service.auth.check(&request, "executor_orders", Some(&request.get_ref().executor_id))?;
            Ok(Response::new(service.answer(request.into_inner()).await))
        })
    }
}

impl<B> tonic::codegen::Service<http::Request<B>> for OrdersService
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move {
            if request.uri().path() != GET {
                return Ok(Status::unimplemented(format!("{SERVICE} has no method {}", request.uri().path())).into_http());
            }
            Ok(tonic::server::Grpc::new(ProstCodec::<Orders, OrdersRequest>::default()).unary(Get(service), request).await)
        })
    }
}

/// An executor's side: asks the scheduler at the other end of `channel` for its orders.
pub async fn fetch(channel: tonic::transport::Channel, request: OrdersRequest) -> Result<Orders, Status> {
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.map_err(|e| Status::unavailable(format!("the scheduler is not reachable: {e}")))?;
    let path = http::uri::PathAndQuery::from_static(GET);
    Ok(client.unary(Request::new(request), path, ProstCodec::<OrdersRequest, Orders>::default()).await?.into_inner())
}
