//! Queries: routed to the executors when they read user tables, run on the coordinator
//! otherwise (see [`crate::routing`]).

use crate::scheduler::job_slots::Waiting;
use std::sync::Arc;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::common::ParamValues;
use datafusion::execution::{SendableRecordBatchStream, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DfResult;
use futures::{Stream, StreamExt};

use crate::error::Result;
use crate::plans::reused_plans::{is_constant, Answer, GenericPlan, KeptPlan, MadeUnder};
use super::explain::Explained;
use crate::routing::{decide, route, Route};
use crate::session::{Output, Session};

use super::job_planning::{has_join, JobPlanning};

pub(crate) async fn run(session: &Session, plan: LogicalPlan, kept: Option<&KeptPlan>) -> Result<Output> {
    let schema = match kept {
        Some(kept) => kept.schema_of(&plan),
        None => Arc::new(plan.schema().as_arrow().clone()),
    };
    let rows = stream_reusing(session, plan, kept).await?;
    Ok(Output::Rows { schema, rows })
}

/// The rows of a prepared query for `values`, from its generic plan ([`crate::plans::generic_plans`])
/// when it has one or may have one; `None` when it is to be planned with its values instead.
pub(crate) async fn run_generic(session: &Session, plan: &LogicalPlan, kept: &KeptPlan, values: &ParamValues) -> Result<Option<Output>> {
    let made_under = made_under(session);
    let Some(generic) = generic_plan(session, plan, kept, made_under).await? else { return Ok(None) };
    // Held by the rows until they are all read: the plan's parameters answer with these values
    // until then.
    let Some(bound) = generic.parameters.bind(values) else { return Ok(None) };
    let rows = execute_stream(generic.physical, session.planning.task_context(&session.ctx).await)?;
    let schema = rows.schema();
    Ok(Some(Output::Rows { schema: generic.schema, rows: holding(schema, rows, bound) }))
}

/// What a plan kept now would be made under: the count of changes and the session's settings.
fn made_under(session: &Session) -> MadeUnder {
    (session.engine.plan_changes.current(), session.planning.generation())
}

/// `rows`, keeping `held` alive until they are all read or dropped.
fn holding(schema: SchemaRef, rows: impl Stream<Item = DfResult<RecordBatch>> + Send + 'static, held: impl Send + 'static) -> SendableRecordBatchStream {
    let rows = rows.map(move |batch| {
        let _held = &held;
        batch
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, rows))
}

/// The rows of an answer already computed.
fn answered(answer: Answer) -> SendableRecordBatchStream {
    Box::pin(RecordBatchStreamAdapter::new(answer.schema, futures::stream::iter(answer.batches.into_iter().map(Ok))))
}

/// Whether `plan` has a generic plan kept in `kept`, or can have one now.
pub(crate) async fn has_generic_plan(session: &Session, plan: &LogicalPlan, kept: &KeptPlan) -> Result<bool> {
    let made_under = made_under(session);
    Ok(kept.has_generic(made_under) || generic_plan(session, plan, kept, made_under).await?.is_some())
}

/// The generic plan kept in `kept`, or one made now if none was found not reusable since.
async fn generic_plan(session: &Session, plan: &LogicalPlan, kept: &KeptPlan, made_under: MadeUnder) -> Result<Option<GenericPlan>> {
    if let Some(generic) = kept.take_generic(made_under)? {
        return Ok(Some(generic));
    }
    if kept.generic_declined(made_under) {
        return Ok(None);
    }
    let made = make_generic(session, plan, kept, made_under).await;
    if made.is_none() {
        kept.decline_generic(made_under);
    }
    Ok(made)
}

/// A generic plan for `plan`, kept in `kept`, if it runs on the coordinator and may be kept.
/// Failing to plan it is not an error: planned with its values, the query says what is wrong.
async fn make_generic(session: &Session, plan: &LogicalPlan, kept: &KeptPlan, made_under: MadeUnder) -> Option<GenericPlan> {
    if route(plan, session.pg_settings.local_scan_limit()).ok()? != Route::Coordinator {
        return None;
    }
    let (generic, parameters) = crate::plans::generic_plans::open(plan).ok()??;
    let physical = session.planning.state(&session.ctx).await.create_physical_plan(&generic).await.ok()?;
    let physical = kept.keep_generic_if_reusable(made_under, &generic, &physical, &parameters, &session.engine.tables)?;
    Some(GenericPlan { physical, parameters, schema: Arc::new(generic.schema().as_arrow().clone()) })
}

/// How many times a query runs when executors holding its job's output are lost.
const ATTEMPTS: usize = 3;

/// The rows of `plan`, computed where [`route`] says.
pub(crate) async fn stream(session: &Session, plan: LogicalPlan) -> Result<SendableRecordBatchStream> {
    stream_reusing(session, plan, None).await
}

/// [`stream`], running again the physical plan `kept` holds when it may (the route is part of
/// what it was made under: only squall's own statements change table sizes).
async fn stream_reusing(session: &Session, plan: LogicalPlan, kept: Option<&KeptPlan>) -> Result<SendableRecordBatchStream> {
    let made_under = made_under(session);
    // An EXPLAIN is answered anew each time, with where its query runs and why.
    let explained = Explained::of(&plan);
    let kept = kept.filter(|_| explained.is_none());
    if let Some(kept) = kept {
        if let Some(answer) = kept.answer(made_under) {
            return Ok(answered(answer));
        }
        if let Some(physical) = kept.take(made_under)? {
            return Ok(execute_stream(physical, session.planning.task_context(&session.ctx).await)?);
        }
    }
    // One version of each Delta table for the whole query, wherever it runs.
    let plan = session.engine.tables.pin(plan).await?;
    let (plan, place, kept) = match place(session, &plan).await {
        // What no decorrelation turns into a join may be, once its uncorrelated subqueries are
        // answered: planned again with their values, and not kept (the values are of now).
        Err(refused) if is_not_a_join(&refused) => match super::subqueries_first::with_uncorrelated_answered(session, &plan).await? {
            Some(answered) => {
                let place = place(session, &answered).await?;
                (answered, place, None)
            }
            None => return Err(refused),
        },
        placed => (plan, placed?, kept),
    };
    let (optimized, reason) = match place {
        Place::Coordinator(optimized, reason) => (optimized, reason),
        // Boxed: inline, the job's state would make every coordinator query's future as large.
        Place::Executors(job, reason) => {
            let rows = Box::pin(stream_on_executors(session, plan, job)).await?;
            return match explained {
                Some(explained) => explained.annotate(session, Route::Executors, &reason, statement_id(session), rows).await,
                None => Ok(rows),
            };
        }
    };
    if let Some(explained) = explained {
        let physical = {
            let state = session.planning.state(&session.ctx).await;
            state.query_planner().create_physical_plan(&optimized, &*state).await?
        };
        let rows = execute_stream(physical, session.planning.task_context(&session.ctx).await)?;
        return explained.annotate(session, Route::Coordinator, &reason, None, rows).await;
    }
    let physical = {
        let state = session.planning.state(&session.ctx).await;
        state.query_planner().create_physical_plan(&optimized, &*state).await?
    };
    let task_context = session.planning.task_context(&session.ctx).await;
    // Whether it may be kept is judged on the plan as written: optimized, `now()` is a
    // constant.
    let reused = kept.and_then(|kept| Some((kept, kept.keep_if_reusable(made_under, &plan, &physical, &session.engine.tables)?)));
    Ok(match reused {
        Some((kept, reused)) if is_constant(&reused) => {
            let answer = Answer { schema: reused.schema(), batches: datafusion::physical_plan::collect(reused, task_context).await? };
            kept.keep_answer(made_under, &answer);
            answered(answer)
        }
        Some((_, reused)) => execute_stream(reused, task_context)?,
        None => execute_stream(physical, task_context)?,
    })
}

/// Where a query runs ([`place`]), and why (EXPLAIN tells it).
enum Place {
    /// In the coordinator, this plan (optimized).
    Coordinator(LogicalPlan, String),
    /// As a Ballista job, planned as [`JobPlanning`] says.
    Executors(JobPlanning, String),
}

/// `plan` optimized, when it runs on the coordinator ([`place`]); `None` when it runs on the
/// executors.
pub(crate) async fn on_coordinator(session: &Session, plan: &LogicalPlan) -> Result<Option<LogicalPlan>> {
    Ok(match place(session, plan).await? {
        Place::Coordinator(optimized, _) => Some(optimized),
        Place::Executors(..) => None,
    })
}

/// Where `plan` runs: in the coordinator ([`route`]), or on the executors. Measured first as
/// reading its tables' whole files, which needs no planning; a plan too big for the coordinator
/// that way is measured again optimized, when each scan reads only the columns the query needs.
async fn place(session: &Session, plan: &LogicalPlan) -> Result<Place> {
    let limit = session.pg_settings.local_scan_limit();
    let whole_files = decide(plan, limit)?;
    let optimized = session.planning.state(&session.ctx).await.optimize(plan).map_err(refuse_subqueries_misplaced)?;
    refuse_subqueries_left(&optimized)?;
    if whole_files.route == Route::Coordinator {
        return Ok(Place::Coordinator(optimized, whole_files.reason));
    }
    // Ballista runs each partition of such a join's probe side as a task of its own, and each
    // task answers for the left rows by itself (LEFT ANTI joins kept rows others matched, ALL
    // kept rows twice); one process answers them right.
    if has_left_tracking_loop_join(&optimized) {
        return Ok(Place::Coordinator(optimized, "a nested-loop join that keeps unmatched rows runs in one process".into()));
    }
    // The executors know DataFusion's functions and squall's own; the PostgreSQL catalog
    // functions (pg_size_pretty, pg_has_role, ...) live in the coordinator only.
    if calls_coordinator_only_function(&optimized) {
        return Ok(Place::Coordinator(optimized, "calls a PostgreSQL catalog function, which lives in the coordinator".into()));
    }
    let unreadable = "Ballista's scheduler would not plan it as written";
    if scheduler_misreads(&optimized) {
        return Ok(Place::Coordinator(optimized, unreadable.into()));
    }
    let columns = if limit > 0 { decide(&optimized, limit)? } else { whole_files };
    if columns.route == Route::Coordinator {
        return Ok(Place::Coordinator(optimized, columns.reason));
    }
    // What the executors get is the plan as Ballista's session optimizes it (its own rules come
    // first: NOT IN becomes an anti join and a count), which its scheduler must be able to read.
    let ballista = ballista_state(session)?;
    let for_executors = ballista.optimize(plan)?;
    if scheduler_misreads(&for_executors) || !scheduler_can_read(session, &for_executors) {
        return Ok(Place::Coordinator(optimized, unreadable.into()));
    }
    Ok(Place::Executors(JobPlanning::of(&for_executors), columns.reason))
}

/// The session's state for planning a Ballista job, Ballista's rules placed among squall's.
fn ballista_state(session: &Session) -> Result<datafusion::execution::SessionState> {
    let state = session.ctx.state().upgrade_for_ballista(session.engine.scheduler_url.clone())?;
    Ok(squall_udf::registry::with_ballista_rewrites_after_squall(state))
}

/// The id of the statement running, which its jobs are submitted under.
fn statement_id(session: &Session) -> Option<String> {
    session.interrupts.current().map(|running| running.id().to_string())
}

/// The rows of `plan`, run as a Ballista job on the executors.
async fn stream_on_executors(session: &Session, plan: LogicalPlan, job: JobPlanning) -> Result<SendableRecordBatchStream> {
    // Built per query from the session's current settings, so `SET` applies to both paths; the
    // job is named after the statement, which SHOW JOBS then shows.
    let state = ballista_state(session)?;
    let sql = session.engine.running_statements.sql(&session.ctx.session_id()).unwrap_or_default();
    let mut config = state.config().clone().with_ballista_job_name(&sql);
    if !session.partitions_chosen() {
        config = config.with_target_partitions(cluster_parallelism(session).await?);
    }
    let config = job.configure(config);
    // Planned under the statement's own id, which the scheduler files the job under, so that
    // stopping the statement (cancel request, statement_timeout) can cancel the job.
    let statement = statement_id(session).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    // The user's cap on jobs at once (MAX_JOBS): wait for a slot, held until the rows are read.
    let waiting = Waiting { statement: statement.clone(), sql: sql.clone(), user: session.user.clone(), since: crate::epoch_ms() };
    let users = Arc::clone(&session.engine.users);
    let user = session.user.clone();
    let slot = session.engine.job_slots.acquire(waiting, move || users.get(&user).and_then(|u| u.max_jobs)).await;
    // Before anything is submitted: CANCEL JOB lets users cancel their own statements' jobs.
    session.engine.scheduler.statement_jobs.started_by(&statement, &session.user);
    let state = SessionStateBuilder::new_from_existing(state).with_config(config).with_session_id(statement).build();
    let mut attempt = 1;
    loop {
        // Until its rows are all read, the query may still fetch results from executors: a drain
        // waits for it.
        let in_flight = session.engine.queries_in_flight.begin();
        let losses_before = session.engine.scheduler.lost_jobs.losses();
        let physical = state.create_physical_plan(&plan).await?;
        let mut rows = execute_stream(physical, Arc::new(TaskContext::from(&state)))?;
        // The first batch comes once the job has finished: a job that failed because an executor
        // was lost (squall cancels those holding output there) has sent nothing yet, and runs
        // again (see `scheduler::lost_jobs`).
        let first = rows.next().await;
        if let Some(Err(e)) = &first {
            if attempt < ATTEMPTS && session.engine.scheduler.lost_jobs.is_lost(&e.to_string(), losses_before) {
                session.notice(format!("an executor holding this query's intermediate results was lost; running it again (attempt {})", attempt + 1));
                attempt += 1;
                continue;
            }
        }
        let schema = rows.schema();
        let rows = futures::stream::iter(first).chain(rows).map({
            let schema = schema.clone();
            move |batch| batch.and_then(|batch| of_the_query_shape(&schema, batch))
        });
        return Ok(holding(schema, rows, (in_flight, slot)));
    }
}

/// `batch`, if it has the columns the query announced to the client. A job whose plan Ballista
/// changed after it was planned has answered with other columns (see `job_planning`);
/// sent on, its rows would not match the row description the client was given.
fn of_the_query_shape(schema: &SchemaRef, batch: RecordBatch) -> DfResult<RecordBatch> {
    if batch.num_columns() != schema.fields().len() {
        return Err(datafusion::error::DataFusionError::Internal(format!(
            "the executors answered with {} columns where the query has {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    Ok(batch)
}

/// DataFusion's optimizer checks the plan it made, and finds a subquery that its decorrelation
/// (or squall's) moved where no operator can run it: into a join's condition, or a join that
/// still reads the outer query's columns. That is a subquery squall cannot turn into a join
/// (0A000, as [`refuse_subqueries_left`]), not an error in the query (42000).
fn refuse_subqueries_misplaced(e: datafusion::error::DataFusionError) -> crate::error::SquallError {
    const MISPLACED: &[&str] = &["Correlated scalar subquery can only be used in", "Accessing outer reference columns is not allowed in the plan"];
    let message = e.to_string();
    if MISPLACED.iter().any(|m| message.contains(m)) {
        return cannot_turn_into_a_join("a subquery");
    }
    e.into()
}

fn cannot_turn_into_a_join(construct: &str) -> crate::error::SquallError {
    crate::error::SquallError::Unsupported(format!(
        "{construct} in this position is not supported yet: {CANNOT_TURN_INTO_A_JOIN} \
         (correlated by a comparison other than =, or used as a value)"
    ))
}

const CANNOT_TURN_INTO_A_JOIN: &str = "squall cannot turn it into a join";

/// Whether `e` refuses a subquery no decorrelation turns into a join: [`cannot_turn_into_a_join`]'s
/// refusal, or `across_levels`' of a reference two levels out that it could not bring in.
fn is_not_a_join(e: &crate::error::SquallError) -> bool {
    match e {
        crate::error::SquallError::Unsupported(message) => message.contains(CANNOT_TURN_INTO_A_JOIN),
        crate::error::SquallError::DataFusion(e) => e.to_string().contains(squall_udf::subqueries::across_levels::REFUSED),
        _ => false,
    }
}

/// DataFusion turns the subqueries it can into joins and leaves the others in the plan, where
/// neither path can run them: a clear 0A000 naming the construct, not an internal error.
fn refuse_subqueries_left(plan: &LogicalPlan) -> Result<()> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::Expr;
    let mut left = None;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                left = match e {
                    Expr::ScalarSubquery(_) => Some("a scalar subquery"),
                    Expr::InSubquery(_) => Some("IN (subquery)"),
                    Expr::Exists(_) => Some("EXISTS (subquery)"),
                    Expr::SetComparison(_) => Some("ANY/ALL (subquery)"),
                    _ => None,
                };
                Ok(if left.is_some() { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
            })
        })
    });
    match left {
        Some(construct) => Err(cannot_turn_into_a_join(construct)),
        None => Ok(()),
    }
}

/// Whether `plan` joins without equality keys (a nested-loop join) in a way that decides on each
/// left row from all right rows: LEFT, FULL, and the semi, anti and mark joins of EXISTS, IN,
/// ANY and ALL. DataFusion's nested-loop join keeps one bitmap of matched left rows for all
/// partitions of the right side, in one process; Ballista's tasks cannot share it.
fn has_left_tracking_loop_join(plan: &LogicalPlan) -> bool {
    use datafusion::common::JoinType;
    has_join(plan, |join| join.on.is_empty() && matches!(join.join_type, JoinType::Left | JoinType::Full | JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark))
}

/// Whether `plan` calls a function the executors cannot decode (one registered in the
/// coordinator's session only).
fn calls_coordinator_only_function(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::expr::WindowFunctionDefinition;
    use datafusion::logical_expr::Expr;
    static EXECUTORS: std::sync::LazyLock<ballista_core::registry::BallistaFunctionRegistry> =
        std::sync::LazyLock::new(squall_udf::registry::function_registry);
    let executors_know = |expr: &Expr| match expr {
        Expr::ScalarFunction(f) => EXECUTORS.scalar_functions.contains_key(f.func.name()),
        Expr::AggregateFunction(f) => EXECUTORS.aggregate_functions.contains_key(f.func.name()),
        Expr::WindowFunction(f) => match &f.fun {
            WindowFunctionDefinition::AggregateUDF(f) => EXECUTORS.aggregate_functions.contains_key(f.name()),
            WindowFunctionDefinition::WindowUDF(f) => EXECUTORS.window_functions.contains_key(f.name()),
        },
        _ => true,
    };
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                found = !executors_know(e);
                Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
            })
        })
    });
    found
}

/// Whether Ballista's scheduler would misread `plan` as DataFusion encodes it ("could not read
/// the plan: No field named ..."): it runs in one process instead. A relation known to be empty
/// that has columns does that (what DataFusion makes of `WHERE false`, and Ballista's rewrite
/// of `NOT IN` of such a subquery): the encoding keeps no columns for it.
fn scheduler_misreads(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        found = matches!(node, LogicalPlan::EmptyRelation(empty) if !empty.schema.fields().is_empty());
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}

/// Whether the scheduler can read `plan` as the job's encoding sends it. Encoded, a plan's
/// nesting is its depth in messages, and the scheduler's decoder stops at prost's recursion
/// limit (100): a plan of nested subqueries, made a tower of joins, aggregates and projections,
/// failed with XX000 "could not read the plan: ... RecursionLimitReached" (differential seed 14,
/// query 18066). Such a plan (or one that does not encode) runs in one process instead.
fn scheduler_can_read(session: &Session, plan: &LogicalPlan) -> bool {
    use prost::Message;
    let codec = session.ctx.state().config().ballista_logical_extension_codec();
    datafusion_proto::bytes::logical_plan_to_bytes_with_extension_codec(plan, codec.as_ref())
        .is_ok_and(|bytes| datafusion_proto::protobuf::LogicalPlanNode::decode(bytes).is_ok())
}

/// How many partitions a distributed query is split into when its session did not choose: one
/// per task slot in the cluster now, so every slot has work and no slot has to take a second
/// round of tasks. With no executor registered yet (the job waits for one), the coordinator's
/// cores stand in.
async fn cluster_parallelism(session: &Session) -> Result<usize> {
    let slots = session.engine.scheduler.total_slots().await?;
    Ok(if slots > 0 { slots } else { std::thread::available_parallelism().map_or(2, |n| n.get()) })
}
