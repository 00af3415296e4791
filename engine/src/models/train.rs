//! `TRAIN MODEL`: plan the user's query, split off the holdout rows by a seeded hash of each row,
//! take a uniform sample when `max_training_rows` asks for one, run the algorithm's passes over
//! the training rows as distributed aggregates (see `squall_udf::ml::algorithms`), write the
//! model file, score the holdout rows with it on the executors, and record the version.

use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{Column, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::functions_aggregate::expr_fn::{count, max, sum};
use datafusion::logical_expr::{cast, col, lit, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::physical_plan::common::collect;
use squall_sql::TrainModel;
use squall_udf::functions::blob_aggregate::constant;
use squall_udf::functions::{evaluate, train_pass};
use squall_udf::ml::algorithms::{self, Algorithm, Fitted, Importance, Setup};
use squall_udf::ml::features::{Feature, Kind, Target};
use squall_udf::ml::metrics::Tally;
use squall_udf::ml::model::{Model, Task, FORMAT_VERSION};
use squall_udf::ml::options::Options;

use super::registry::{Definition, Refresh, Version};

/// How many versions a model keeps unless `keep_versions` says otherwise.
pub const DEFAULT_KEEP_VERSIONS: u32 = 10;
use super::{aggregate_blob, now_seconds};
use crate::error::{Result, SquallError};
use crate::session::Session;
use crate::statements::query;

const ALIAS: &str = "training";

/// A training column: its name, type and the expression that converts it for the aggregates.
struct Input {
    name: String,
    data_type: DataType,
    kind: Kind,
    expr: Expr,
}

/// How a version is trained.
pub enum Mode {
    /// On all the query's rows.
    Full,
    /// From version `from` of the model, whose training pass state was `prior`, and the rows the
    /// source table gained since, up to the version `whole` (`rows`: the files they are in): the
    /// pass runs over those rows alone and its state is merged with `prior`, exactly as the
    /// executors' partial states merge ([`super::refresh`]).
    Adding { whole: std::sync::Arc<crate::storage::delta::DeltaSnapshot>, rows: std::sync::Arc<crate::storage::delta::DeltaSnapshot>, prior: Vec<u8>, from: u32 },
    /// From version `from` of the model (`fitted`), updated with the rows the source table gained
    /// since by the algorithm itself (`kmeans`, `logistic_regression`: [`algorithms::Warm`]); not the model training on
    /// all rows would give.
    Updating {
        whole: std::sync::Arc<crate::storage::delta::DeltaSnapshot>,
        rows: std::sync::Arc<crate::storage::delta::DeltaSnapshot>,
        fitted: algorithms::Warm,
        from: u32,
    },
}

/// The options of TRAIN MODEL that are squall's rather than the algorithm's.
const REFRESH_OPTIONS: &[&str] = &["refresh", "keep_versions"];

/// The version TRAIN MODEL made; `None` when IF NOT EXISTS found the model already there.
pub async fn train(session: &Session, t: &TrainModel) -> Result<Option<Version>> {
    train_version(session, t, Mode::Full).await
}

/// Trains a version of `t`'s model as `mode` says.
pub async fn train_version(session: &Session, t: &TrainModel, mode: Mode) -> Result<Option<Version>> {
    let started = Instant::now();
    let engine = &session.engine;
    let algorithm = algorithms::find(&t.algorithm)?;
    let (own, given): (Vec<_>, Vec<_>) = t.options.iter().cloned().partition(|(name, _)| REFRESH_OPTIONS.contains(&name.as_str()));
    let options = Options::new(&given, algorithm.options(), algorithm.name())?;
    let refresh = match own.iter().find(|(n, _)| n == "refresh") {
        Some((_, value)) => Refresh::parse(value)?,
        None => Refresh::Manual,
    };
    let keep_versions = match own.iter().find(|(n, _)| n == "keep_versions") {
        Some((_, value)) => super::registry::keep_versions(value)?,
        None => DEFAULT_KEEP_VERSIONS,
    };
    if t.if_not_exists && engine.models.get(&t.name).is_some() {
        session.notice(format!("model \"{}\" already exists, skipping", t.name));
        return Ok(None);
    }
    let holdout = options.float("holdout", 0.2, (0.0, 0.9))?;
    let seed = options.seed()?;
    let max_rows = options.optional_integer("max_training_rows", 1, i64::MAX as u64)?;
    let skip_nulls = options.choice("nulls", "error", &["error", "skip"])? == "skip";

    session.notice(format!("planning the training query of model \"{}\"", t.name));
    let unpinned = session.planner().sql(&t.query).await?;
    if refresh != Refresh::Manual {
        super::refresh::check_refreshable(&unpinned, max_rows.is_some())?;
    }
    // Every pass reads the same version of each Delta table, recorded with the model so that
    // its training rows can be read again (`SELECT ... FROM t VERSION AS OF n`); a refresh reads
    // the version it found the new rows in.
    // The rows the passes read: all of them, or those the table gained (the holdout split and
    // the metrics below still follow every row).
    let (query, pass_query, prior, warm, refreshed_from) = match mode {
        Mode::Full => {
            let query = engine.tables.pin(unpinned).await?;
            (query.clone(), query, None, None, None)
        }
        Mode::Adding { whole, rows, prior, from } => {
            (super::refresh::reading(unpinned.clone(), &whole)?, super::refresh::reading(unpinned, &rows)?, Some(prior), None, Some(from))
        }
        Mode::Updating { whole, rows, fitted, from } => {
            (super::refresh::reading(unpinned.clone(), &whole)?, super::refresh::reading(unpinned, &rows)?, None, Some(fitted), Some(from))
        }
    };
    let source_tables = crate::storage::delta::versions_read(&query);
    let pass_plan = LogicalPlanBuilder::from(pass_query).alias(ALIAS)?.build()?;
    let plan = LogicalPlanBuilder::from(query).alias(ALIAS)?.build()?;
    let columns: Vec<(String, DataType)> =
        plan.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
    let find = |name: &str| -> Result<(String, DataType)> {
        columns.iter().find(|(n, _)| n == name).cloned().ok_or_else(|| {
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            SquallError::UndefinedColumn(format!(
                "column \"{name}\" does not exist in the training query (its columns: {})",
                names.join(", ")
            ))
        })
    };
    let target = match &t.target {
        Some(_) if !algorithm.supports(Task::Classification) && !algorithm.supports(Task::Regression) => {
            return Err(SquallError::InvalidParameter(format!("{} is unsupervised: it takes no TARGET", algorithm.name())))
        }
        None if !algorithm.supports(Task::Clustering) => {
            return Err(SquallError::InvalidParameter(format!("{} needs a TARGET column", algorithm.name())))
        }
        None => None,
        Some(name) => Some(find(name)?),
    };
    let task = task_of(algorithm, &options, target.as_ref())?;

    let feature_names: Vec<String> = match &t.features {
        Some(names) => names.clone(),
        None => columns
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| Some(n) != target.as_ref().map(|(t, _)| t))
            .collect(),
    };
    if feature_names.is_empty() {
        return Err(SquallError::InvalidParameter("the training query has no feature columns besides the target".into()));
    }
    let mut inputs = Vec::with_capacity(feature_names.len());
    for name in &feature_names {
        let (name, data_type) = find(name)?;
        let Some(kind) = Kind::of(&data_type) else {
            return Err(SquallError::Unsupported(format!(
                "feature \"{name}\" has type {data_type}; squall trains on numbers, text and booleans (cast it to one of them)"
            )));
        };
        let kind = algorithm.feature_kind(&options, &name, &data_type, kind)?;
        let expr = cast(column(&name), kind.arrow_type());
        inputs.push(Input { name, data_type, kind, expr });
    }
    let target_input = target.as_ref().map(|(name, data_type)| {
        let kind = if task == Task::Regression { Kind::Numeric } else { Kind::Categorical };
        Input { name: name.clone(), data_type: data_type.clone(), kind, expr: cast(column(name), kind.arrow_type()) }
    });
    let mut all_exprs: Vec<Expr> = target_input.iter().map(|t| t.expr.clone()).collect();
    all_exprs.extend(inputs.iter().map(|i| i.expr.clone()));

    // The holdout split and the sample follow a seeded hash of every column of the row, so they
    // are the same on every run and however the data is partitioned (rows identical in every
    // column fall on the same side).
    let row_columns: Vec<Expr> = columns
        .iter()
        .filter(|(_, t)| hashable(t))
        .map(|(name, _)| column(name))
        .collect();
    let row_fraction = session.ctx.udf(squall_udf::functions::row_fraction::NAME)?;
    let fraction = row_fraction.call(std::iter::once(lit(seed as i64)).chain(row_columns.iter().cloned()).collect());
    let row_key = row_fraction.call(std::iter::once(lit(seed.wrapping_add(1) as i64)).chain(row_columns).collect());
    let training_rows = if holdout > 0.0 {
        LogicalPlanBuilder::from(pass_plan.clone()).filter(fraction.clone().gt_eq(lit(holdout)))?.build()?
    } else {
        pass_plan.clone()
    };
    let holdout_rows = LogicalPlanBuilder::from(pass_plan.clone()).filter(fraction.clone().lt(lit(holdout)))?.build()?;
    let all_holdout_rows = LogicalPlanBuilder::from(plan.clone()).filter(fraction.clone().lt(lit(holdout)))?.build()?;
    // A version made by adding rows is scored on the holdout rows among those it added: a pass
    // over all of them would cost the whole table at every refresh.
    let scored_rows = match refreshed_from {
        Some(_) => holdout_rows.clone(),
        None => all_holdout_rows.clone(),
    };

    // Decided as the training passes' queries will be: they read what `training_rows` reads.
    let place = match query::on_coordinator(session, &training_rows).await? {
        None => "on the executors",
        Some(_) => "in the coordinator (the training rows are small: see squall.local_scan_limit)",
    };
    session.notice(format!("training {} {place}: scanning the training rows", algorithm.name()));
    let setup = Setup {
        task,
        target: target_input.as_ref().map(|t| t.name.clone()),
        features: inputs.iter().map(|i| (i.name.clone(), i.kind)).collect(),
        options: options.clone(),
        seed,
        max_training_rows: max_rows,
        skip_nulls,
        holdout: holdout > 0.0,
        warm,
    };
    // Permutation importance reads the holdout rows, or the training rows when there are none
    // (all of them, for a version made by adding rows too).
    let importance_rows = if holdout > 0.0 { all_holdout_rows } else { plan.clone() };
    let mergeable = super::refresh::mergeable(algorithm.name(), &setup.features);
    if refresh == Refresh::Continuous && !mergeable && !super::refresh::updatable(algorithm.name()) {
        return Err(super::refresh::not_continuous(algorithm.name()));
    }
    let (training_rows, sampled_from) = match max_rows {
        Some(cap) => sample(session, training_rows, &setup, cap, &row_key, &all_exprs).await?,
        None => (training_rows, None),
    };
    let version_number = engine.models.reserve_version(&t.name);
    let (fitted, state) = run_passes(session, algorithm, setup, Rows { training: training_rows, holdout: holdout_rows }, &row_key, &all_exprs, prior.as_deref()).await?;
    let rows_used = fitted.rows_used;
    let rows_total = sampled_from.unwrap_or(fitted.rows_total);
    let features: Vec<Feature> = inputs
        .iter()
        .zip(fitted.encodings)
        .map(|(i, encoding)| Feature { name: i.name.clone(), data_type: i.data_type.clone(), kind: i.kind, encoding })
        .collect();
    let target_meta = fitted.classes;

    let model = Model {
        format: FORMAT_VERSION,
        name: t.name.clone(),
        version: version_number,
        algorithm: algorithm.name().to_string(),
        task,
        options: options.0.clone(),
        features,
        target: target_input.as_ref().map(|t| Target { name: t.name.clone(), data_type: t.data_type.clone(), classes: target_meta.clone() }),
        rows_used,
        rows_total,
        training_ms: started.elapsed().as_millis() as u64,
        feature_importance: fitted.importance,
        params: fitted.params,
        predictor: None,
    };
    let bytes = serde_json::to_vec(&model).map_err(|e| SquallError::Internal(format!("encoding the model: {e}")))?;
    let url = engine.models.store.write(&t.name, version_number, bytes).await?;
    // What a refresh merges the new rows' state with.
    let state_url = match state.filter(|_| mergeable) {
        Some(state) => Some(engine.models.store.write(&t.name, version_number, state).await?),
        None => None,
    };

    let (metrics, confusion) = if holdout > 0.0 {
        session.notice(format!("evaluating {}@{version_number} on the holdout rows", t.name));
        let tally = evaluate_on(session, scored_rows, &url, target_input.as_ref().map(|t| &t.expr), &inputs_exprs(&inputs)).await?;
        let (metrics, confusion) = match tally {
            Some(t) => (t.metrics(), t.confusion()),
            None => (vec![], vec![]),
        };
        if let Some(known) = &target_meta {
            warn_of_unseen_classes(session, known, &confusion);
        }
        (metrics, confusion)
    } else {
        (vec![], vec![])
    };
    let importance = match algorithm.importance() {
        // Carried from the version it was made from (measuring it reads all the holdout rows).
        Importance::Permutation if refreshed_from.is_some() => {
            refreshed_from.and_then(|from| engine.models.get(&t.name)?.version(from)?.importance.clone())
        }
        Importance::Permutation => {
            let which = if holdout > 0.0 { "holdout" } else { "training" };
            session.notice(format!("measuring each feature's importance on the {which} rows: the loss with the feature's values shuffled"));
            super::importance::by_permutation(session, importance_rows, &url, target_input.as_ref().map(|t| &t.expr), &inputs_exprs(&inputs)).await?
        }
        _ => None,
    };
    let version = Version {
        version: version_number,
        url,
        algorithm: algorithm.name().to_string(),
        task: task.name().to_string(),
        target: target_input.as_ref().map(|t| t.name.clone()),
        features: model.features.iter().map(|f| f.name.clone()).collect(),
        rows_used,
        rows_total,
        training_ms: started.elapsed().as_millis() as u64,
        created_at: now_seconds(),
        metrics,
        confusion,
        importance,
        source_tables,
        state_url,
        refreshed_from,
    };
    let definition = Definition {
        algorithm: algorithm.name().to_string(),
        options: given,
        target: t.target.clone(),
        features: t.features.clone(),
        query: t.query.clone(),
        refresh,
        keep_versions,
        owner: session.user.clone(),
    };
    for dropped in engine.models.add_version(&t.name, version.clone(), definition, refreshed_from)? {
        engine.models.store.delete(&dropped).await;
    }
    session.notice(format!(
        "model {}@{version_number} trained on {rows_used} rows in {:.1} s",
        t.name,
        started.elapsed().as_secs_f64()
    ));
    Ok(Some(version))
}

/// Classification or regression by the target's type (or `task = ...`), clustering without a
/// target; refused when the algorithm does not do it or the target cannot be its target.
fn task_of(algorithm: &dyn Algorithm, options: &Options, target: Option<&(String, DataType)>) -> Result<Task> {
    let task = match target {
        None => Task::Clustering,
        Some((name, data_type)) => {
            let inferred = if data_type.is_floating() || matches!(data_type, DataType::Decimal128(..) | DataType::Decimal256(..)) {
                "regression"
            } else {
                "classification"
            };
            let task = match options.choice("task", inferred, &["classification", "regression"])? {
                "regression" => Task::Regression,
                _ => Task::Classification,
            };
            let usable = match task {
                Task::Regression => data_type.is_numeric(),
                _ => Kind::of(data_type).is_some(),
            };
            if !usable {
                return Err(SquallError::Unsupported(format!(
                    "target \"{name}\" has type {data_type}, which cannot be the target of {}",
                    task.name()
                )));
            }
            task
        }
    };
    if !algorithm.supports(task) {
        return Err(SquallError::InvalidParameter(format!(
            "{} does not do {}{}",
            algorithm.name(),
            task.name(),
            match task {
                Task::Regression => " (the target is numeric: use task = 'classification' to treat its values as classes)",
                _ => "",
            }
        )));
    }
    Ok(task)
}

/// The rows a pass reads: those training learns from, or those it leaves out (a pass that says `holdout`).
struct Rows {
    training: LogicalPlan,
    holdout: LogicalPlan,
}

/// Trains: each pass the algorithm's trainer asks for runs as one `squall_train_pass` aggregate
/// over `rows` (on the executors for table scans), and its merged state goes back to the
/// trainer. `columns`: the target (if any), then the features, converted. With `prior` (a
/// one-pass algorithm's state from an earlier version), the pass's state is merged with it.
/// Returns the model and, when training took one pass, that pass's merged state.
async fn run_passes(
    session: &Session,
    algorithm: &'static dyn Algorithm,
    setup: Setup,
    rows: Rows,
    row_key: &Expr,
    columns: &[Expr],
    prior: Option<&[u8]>,
) -> Result<(Fitted, Option<Vec<u8>>)> {
    let pass_aggregate = session.ctx.udaf(train_pass::NAME)?;
    let mut trainer = algorithm.trainer(setup)?;
    let mut states = Vec::new();
    while let Some(mut pass) = trainer.next_pass()? {
        let started = Instant::now();
        let spec = pass.spec.clone();
        let result = loop {
            let mut args = vec![constant(ScalarValue::from(algorithm.name())), constant(train_pass::pass_constant(std::mem::take(&mut pass.spec)))];
            if pass.row_key {
                args.push(row_key.clone());
            }
            args.extend(columns.iter().cloned());
            let plan = if pass.holdout { &rows.holdout } else { &rows.training };
            match aggregate_blob(session, plan.clone(), pass_aggregate.call(args)).await {
                // A process (an executor that joined during the training) lacked what earlier
                // passes sent and this one left out: the pass again, with all of it.
                Err(e) if e.to_string().contains(algorithms::held_rounds::NOT_HELD) => match trainer.pass_in_full()? {
                    Some(full) => pass = full,
                    None => return Err(e),
                },
                result => break result?,
            }
        };
        let (processes, merged) = train_pass::decode(&result)?;
        // The earlier version's state and the new rows' merge as two executors' states do.
        let merged = match prior {
            Some(prior) if !prior.is_empty() => {
                let mut partial = algorithm.partial(&spec)?;
                partial.merge(prior)?;
                if !merged.is_empty() {
                    partial.merge(merged)?;
                }
                partial.to_bytes()?
            }
            _ => merged.to_vec(),
        };
        let merged = merged.as_slice();
        let processes: Vec<String> = processes.iter().map(u32::to_string).collect();
        session.notice(format!(
            "{}: {} ({:.1} s; rows read by process {})",
            algorithm.name(),
            pass.description,
            started.elapsed().as_secs_f64(),
            processes.join(", ")
        ));
        if let Some(notice) = trainer.absorb(merged)? {
            session.notice(notice);
        }
        states.push(merged.to_vec());
    }
    if prior.is_some() && states.len() != 1 {
        return Err(SquallError::Internal(format!("{} took {} passes where a refresh merges one", algorithm.name(), states.len())));
    }
    let state = if states.len() == 1 { states.pop() } else { None };
    // The fit after the last pass may be heavy (a linear solve of many columns): off the
    // runtime's threads.
    let fitted = tokio::task::spawn_blocking(move || trainer.finish()).await.map_err(|e| SquallError::Internal(format!("training thread: {e}")))??;
    Ok((fitted, state))
}

/// `rows` cut to a uniform sample of `cap` rows without NULLs, when they have more: those of the
/// smallest `row_key`s, which do not depend on how the rows are partitioned. Returns the rows to
/// train on and, when it sampled, how many there were.
async fn sample(session: &Session, rows: LogicalPlan, setup: &Setup, cap: u64, row_key: &Expr, columns: &[Expr]) -> Result<(LogicalPlan, Option<u64>)> {
    let complete = columns.iter().cloned().map(Expr::is_not_null).reduce(Expr::and).unwrap_or(lit(true));
    let counted = LogicalPlanBuilder::from(rows.clone())
        .aggregate(Vec::<Expr>::new(), vec![count(lit(1)).alias("all_rows"), sum(cast(complete.clone(), DataType::Int64)).alias("complete")])?
        .build()?;
    let batches = collect(query::stream(session, counted).await?).await?;
    let (all, complete_rows) = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| {
            let int = |i: usize| b.column(i).as_primitive_opt::<Int64Type>().filter(|a| a.is_valid(0)).map(|a| a.value(0) as u64).unwrap_or(0);
            (int(0), int(1))
        })
        .unwrap_or((0, 0));
    algorithms::check_rows(setup, complete_rows, all - complete_rows, || "the target or a feature".to_string())?;
    if complete_rows <= cap {
        return Ok((rows, None));
    }
    let threshold = LogicalPlanBuilder::from(rows.clone())
        .filter(complete.clone())?
        .project(vec![row_key.clone().alias("row_key")])?
        .sort(vec![col("row_key").sort(true, false)])?
        .limit(0, Some(cap as usize))?
        .aggregate(Vec::<Expr>::new(), vec![max(col("row_key"))])?
        .build()?;
    let batches = collect(query::stream(session, threshold).await?).await?;
    let key = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| b.column(0).as_primitive_opt::<Float64Type>().filter(|a| a.is_valid(0)).map(|a| a.value(0)))
        .ok_or_else(|| SquallError::Internal("the sample's threshold query returned no key".into()))?;
    let sampled = LogicalPlanBuilder::from(rows).filter(complete.and(row_key.clone().lt_eq(lit(key))))?.build()?;
    Ok((sampled, Some(complete_rows)))
}

fn inputs_exprs(inputs: &[Input]) -> Vec<Expr> {
    inputs.iter().map(|i| i.expr.clone()).collect()
}

/// Runs `squall_evaluate` over `rows` on the executors.
pub(crate) async fn evaluate_on(
    session: &Session,
    rows: LogicalPlan,
    url: &str,
    target: Option<&Expr>,
    features: &[Expr],
) -> Result<Option<Tally>> {
    let bytes = model_aggregate(session, rows, evaluate::NAME, url, target, features).await?;
    if bytes.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| SquallError::Internal(format!("reading metrics: {e}")))
}

/// Runs the aggregate `function(url, [target,] feature, ...)` of squall's over `rows` (on the
/// executors, or in the coordinator for few rows) and gives its merged state.
pub(crate) async fn model_aggregate(
    session: &Session,
    rows: LogicalPlan,
    function: &str,
    url: &str,
    target: Option<&Expr>,
    features: &[Expr],
) -> Result<Vec<u8>> {
    let mut args = vec![lit(url.to_string())];
    args.extend(target.cloned());
    args.extend(features.iter().cloned());
    let call = session.ctx.udaf(function)?.call(args);
    aggregate_blob(session, rows, call).await
}

/// Whether a column's values can go into the row hash (as numbers or as text).
fn hashable(data_type: &DataType) -> bool {
    Kind::of(data_type).is_some() || data_type.is_temporal()
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new(Some(ALIAS), name))
}

/// The holdout keeps rows identical in every column together, so with few distinct rows a whole
/// class can land in it and the model never learns that class: said, not left to be discovered.
fn warn_of_unseen_classes(session: &Session, known: &[String], confusion: &[(String, String, u64)]) {
    let unseen: std::collections::BTreeSet<&str> = confusion.iter().map(|(actual, _, _)| actual.as_str()).filter(|a| !known.iter().any(|k| k == a)).collect();
    if !unseen.is_empty() {
        session.notice(format!(
            "class(es) {} appear only in the holdout rows, so the model never predicts them: rows identical in every column \
             fall on the same side of the split; give the query more distinct rows (an id column), another seed, or holdout = 0",
            unseen.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ")
        ));
    }
}
