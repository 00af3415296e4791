//! Models that follow their data: `TRAIN MODEL ... (refresh = 'continuous' | '<interval>')`,
//! `ALTER MODEL m SET (refresh = ...)`, `REFRESH MODEL m`. A refresh makes a new version from the
//! rows the source table gained since the version it starts from:
//!
//! - `naive_bayes`, and `linear_regression` on numeric features, **merge**: their one training
//!   pass gathers sufficient statistics (class counts, means and variances merged by Chan's
//!   formulas; exact sums of products) whose states merge as the executors' partial states do,
//!   so the pass runs over the new rows alone and its state is merged with the one kept with the
//!   earlier version: the same model, to rounding, as training on all rows;
//! - `kmeans` and `logistic_regression` **update** the fitted model with the new rows alone (a
//!   sequential k-means step; a warm-started Newton update whose earlier rows' part is the
//!   Hessian the model keeps): close to, not the same as, training on all rows;
//! - every other algorithm (and any refresh where the table did more than append: a DELETE,
//!   UPDATE or MERGE, a change of columns, files compacted before they were read) **retrains**
//!   on all rows, on the schedule the model asks for.
//!
//! Only a query that reads one managed table through projections and filters can be refreshed:
//! its rows are then the table's rows, one by one, and the new ones are the new files' (an
//! aggregate, a join, a LIMIT or DISTINCT is refused with 0A000 when the refresh is asked for).
//! Each refresh is a version (the oldest beyond `keep_versions` go), recorded in
//! `squall.model_refreshes`; a statement planned after it uses it (PREDICT names a version's file,
//! which executors load on first use).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::LogicalPlan;
use squall_sql::TrainModel;
use squall_udf::ml::features::Kind;

use super::registry::{ModelEntry, Refresh};
use super::train::{train_version, Mode};
use crate::engine::Engine;
use crate::error::{Result, SquallError};
use crate::session::Session;
use crate::storage::catalog::Entry;
use crate::storage::delta::appended_since::Since;
use crate::storage::delta::{DeltaSnapshot, LiveDeltaTable};

/// Whether `algorithm`'s training state merges with a later one's exactly (one pass of
/// sufficient statistics over fixed encodings).
pub fn mergeable(algorithm: &str, features: &[(String, Kind)]) -> bool {
    match algorithm {
        "naive_bayes" => true,
        // A categorical feature's one-hot columns follow the categories seen: new rows may
        // bring more.
        "linear_regression" => features.iter().all(|(_, kind)| *kind == Kind::Numeric),
        _ => false,
    }
}

/// Whether `algorithm` updates a fitted model with new rows itself (not the model training on
/// all rows would give: `kmeans`' sequential update, `logistic_regression`'s warm-started Newton
/// update; [`squall_udf::ml::algorithms::Warm`]).
pub fn updatable(algorithm: &str) -> bool {
    matches!(algorithm, "kmeans" | "logistic_regression")
}

/// Why `refresh = 'continuous'` is refused for a model whose training state does not merge.
pub fn not_continuous(algorithm: &str) -> SquallError {
    SquallError::Unsupported(format!(
        "{algorithm} cannot be updated from the new rows alone (naive_bayes, linear_regression on numeric features, logistic_regression \
         and kmeans can): it is trained again on all rows, so give it an interval, e.g. refresh = '10min'"
    ))
}

/// 0A000 unless `plan` reads one managed table through projections and filters only.
pub fn check_refreshable(plan: &LogicalPlan, samples: bool) -> Result<()> {
    if samples {
        return Err(refused("max_training_rows takes a sample of all the rows, which the new rows alone cannot update"));
    }
    let mut scans = 0;
    let mut problem = None;
    plan.apply_with_subqueries(|node| {
        let why = match node {
            LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::SubqueryAlias(_) => None,
            LogicalPlan::TableScan(scan) => {
                scans += 1;
                let live = datafusion::datasource::source_as_provider(&scan.source)
                    .ok()
                    .is_some_and(|p| (p.as_ref() as &dyn std::any::Any).downcast_ref::<LiveDeltaTable>().is_some());
                (!live).then(|| format!("it reads \"{}\", which is not a table squall manages (its commits are not known)", scan.table_name))
            }
            LogicalPlan::Aggregate(_) => Some("it aggregates: a new row changes groups the model learned from".to_string()),
            LogicalPlan::Join(_) => Some("it joins tables: a change to the other side changes rows already learned".to_string()),
            LogicalPlan::Limit(_) => Some("it has a LIMIT: which rows it keeps depends on all of them".to_string()),
            LogicalPlan::Distinct(_) => Some("it has DISTINCT: whether a new row counts depends on the rows before".to_string()),
            LogicalPlan::Window(_) => Some("it has window functions: a new row changes rows already learned".to_string()),
            other => Some(format!("it has a {} step", other.display().to_string().split(':').next().unwrap_or("complex").trim())),
        };
        if let Some(why) = why {
            problem.get_or_insert(why);
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    match (problem, scans) {
        (Some(why), _) => Err(refused(&why)),
        (None, 1) => Ok(()),
        (None, _) => Err(refused("it must read exactly one table")),
    }
}

fn refused(why: &str) -> SquallError {
    SquallError::Unsupported(format!(
        "this model's query cannot be refreshed from new rows: {why}. Refresh applies to a query over one table with only projections and filters; \
         train it again with TRAIN MODEL instead"
    ))
}

/// `plan` with its table read through `snapshot` (a version of it, or some of a version's
/// files), whichever version the plan was pinned to: the table may have committed again since
/// the refresh looked, and the rows it learns from must be those of the version it records.
pub fn reading(plan: LogicalPlan, snapshot: &Arc<DeltaSnapshot>) -> Result<LogicalPlan> {
    let mut replaced = 0;
    let plan = plan
        .transform_up(|node| match node {
            LogicalPlan::TableScan(mut scan) => {
                let provider = datafusion::datasource::source_as_provider(&scan.source)?;
                let any = provider.as_ref() as &dyn std::any::Any;
                let url = any.downcast_ref::<DeltaSnapshot>().map(|s| &s.url).or_else(|| any.downcast_ref::<LiveDeltaTable>().map(|t| &t.url));
                if url == Some(&snapshot.url) {
                    replaced += 1;
                    scan.source = provider_as_source(Arc::clone(snapshot) as Arc<dyn datafusion::catalog::TableProvider>);
                    return Ok(Transformed::yes(LogicalPlan::TableScan(scan)));
                }
                Ok(Transformed::no(LogicalPlan::TableScan(scan)))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data;
    if replaced == 0 {
        return Err(SquallError::Internal(format!("the model's query does not read the table at {}", snapshot.url)));
    }
    Ok(plan)
}

/// One refresh, for `squall.model_refreshes`.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub model: String,
    /// The version made; `None` when it failed (`error` says why).
    pub version: Option<u32>,
    pub from_version: u32,
    /// `merge` (the new rows' statistics merged: as training on all rows), `update` (the model
    /// moved by the new rows: kmeans) or `retrain` (on all rows).
    pub how: &'static str,
    /// The rows merged; `None` for a retrain.
    pub rows_added: Option<u64>,
    pub source_table: String,
    pub source_version: u64,
    /// From the source commit's timestamp to the version being current.
    pub seconds_from_commit: Option<f64>,
    /// How long the refresh itself took.
    pub seconds: f64,
    pub at_ms: i64,
    pub error: Option<String>,
}

/// The refreshes made since the server started, and one turn per model.
#[derive(Debug, Default)]
pub struct Refreshes {
    log: Mutex<Vec<Refreshed>>,
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// When each model was last refreshed (for interval refreshes).
    last: Mutex<HashMap<String, Instant>>,
    /// When the refresher last failed to refresh each model (it waits before trying again).
    failed: Mutex<HashMap<String, Instant>>,
}

/// The most refreshes `squall.model_refreshes` keeps.
const LOG_LIMIT: usize = 10_000;

impl Refreshes {
    pub fn all(&self) -> Vec<Refreshed> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, refreshed: Refreshed) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() >= LOG_LIMIT {
            log.remove(0);
        }
        log.push(refreshed);
    }

    fn turn(&self, model: &str) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(self.turns.lock().unwrap_or_else(|p| p.into_inner()).entry(model.to_string()).or_default())
    }
}

/// The source table of a model's current version: (name, version read, its URL).
fn source_of(engine: &Engine, entry: &ModelEntry) -> Result<(String, u64, url::Url)> {
    let current = entry.version(entry.current).ok_or_else(|| SquallError::Internal(format!("model {} has no current version", entry.name)))?;
    let [(table, version)] = current.source_tables.as_slice() else {
        return Err(refused("it must read exactly one table"));
    };
    let url = match engine.catalog.get(table) {
        Some(Entry::Managed { location, .. }) => engine.tables.url_of(table, location.as_deref())?,
        _ => return Err(SquallError::UndefinedTable(format!("relation \"{table}\", the source of model \"{}\", does not exist", entry.name))),
    };
    Ok((table.clone(), *version, url))
}

/// Refreshes `name` now (REFRESH MODEL and the background refresher): `None` when its table has
/// no commit since its current version.
pub async fn refresh(session: &Session, name: &str) -> Result<Option<Refreshed>> {
    let engine = &session.engine;
    let turn = engine.refreshes.turn(name);
    let _turn = turn.lock().await;
    let entry = engine.models.get(name).ok_or_else(|| SquallError::UndefinedObject(format!("model \"{name}\" does not exist")))?;
    let definition = entry.definition.clone().ok_or_else(|| {
        SquallError::Unsupported(format!("model \"{name}\" was trained before squall kept how models were trained: train it again to refresh it"))
    })?;
    let (table, since, url) = source_of(engine, &entry)?;
    let current = entry.version(entry.current).cloned().ok_or_else(|| SquallError::Internal(format!("model {name} has no current version")))?;
    let changed = engine.tables.appended_since(&url, since).await?;
    let (source_version, committed_at_ms) = match &changed {
        Since::Unchanged => return Ok(None),
        Since::Appended { version, committed_at_ms, .. } | Since::Rewritten { version, committed_at_ms, .. } => (*version, *committed_at_ms),
    };
    let mut options = definition.options.clone();
    options.push(("refresh".into(), match definition.refresh {
        Refresh::Manual => "manual".into(),
        other => other.describe(),
    }));
    options.push(("keep_versions".into(), definition.keep_versions.to_string()));
    let t = TrainModel {
        name: name.to_string(),
        if_not_exists: false,
        algorithm: definition.algorithm.clone(),
        options,
        target: definition.target.clone(),
        features: definition.features.clone(),
        query: definition.query.clone(),
    };
    // Only a query whose rows are the table's rows one by one can learn from the new ones alone
    // (a model trained with refresh = 'manual' was never checked): any other is trained again.
    let samples = definition.options.iter().any(|(option, _)| option == "max_training_rows");
    let incremental = check_refreshable(&session.planner().sql(&definition.query).await?, samples);
    let changed = match (changed, incremental) {
        (Since::Appended { version, committed_at_ms, .. }, Err(e)) => Since::Rewritten { version, why: e.to_string(), committed_at_ms },
        (changed, _) => changed,
    };
    let prior = match &current.state_url {
        Some(state) => Some(engine.models.store.read(state).await?),
        None => None,
    };
    let (mode, how, rows_added) = match (changed, prior) {
        (Since::Appended { whole, rows, .. }, Some(prior)) => {
            let added = rows.num_records();
            (Mode::Adding { whole, rows, prior, from: current.version }, "merge", added)
        }
        (Since::Appended { whole, rows, .. }, None) if updatable(&definition.algorithm) => {
            let added = rows.num_records();
            let model: squall_udf::ml::model::Model = serde_json::from_slice(&engine.models.store.read(&current.url).await?)
                .map_err(|e| SquallError::Internal(format!("reading model {name}@{}: {e}", current.version)))?;
            let fitted = squall_udf::ml::algorithms::Warm {
                params: model.params,
                encodings: model.features.iter().map(|f| f.encoding.clone()).collect(),
                rows: model.rows_used,
                classes: model.target.and_then(|t| t.classes),
            };
            (Mode::Updating { whole, rows, fitted, from: current.version }, "update", added)
        }
        (Since::Rewritten { why, .. }, _) => {
            session.notice(format!("refreshing model \"{name}\" by training it again on all rows: {why}"));
            (Mode::Full, "retrain", None)
        }
        _ => (Mode::Full, "retrain", None),
    };
    let started = Instant::now();
    let mut outcome = train_version(session, &t, mode).await;
    // New rows the model has no parameters for (a new class), or a model from before updates
    // were possible: trained again on all rows.
    let (how, rows_added) = match &outcome {
        Err(e) if how == "update" && e.to_string().contains(squall_udf::ml::algorithms::CANNOT_UPDATE) => {
            session.notice(format!("refreshing model \"{name}\" by training it again on all rows: {e}"));
            outcome = train_version(session, &t, Mode::Full).await;
            ("retrain", None)
        }
        _ => (how, rows_added),
    };
    // Plans kept to run again name the version current when they were made.
    engine.plan_changes.note();
    engine.refreshes.last.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), Instant::now());
    let now = chrono::Utc::now().timestamp_millis();
    let made = outcome.as_ref().ok().and_then(|v| v.as_ref());
    let refreshed = Refreshed {
        model: name.to_string(),
        version: made.map(|v| v.version),
        from_version: current.version,
        how,
        // A retrain learned from all rows (squall.models has how many).
        rows_added: made.and(rows_added),
        source_table: table,
        source_version,
        seconds_from_commit: committed_at_ms.map(|at| (now - at) as f64 / 1000.0),
        seconds: started.elapsed().as_secs_f64(),
        at_ms: now,
        error: outcome.as_ref().err().map(|e| {
            let (code, message) = e.classified();
            format!("{code}: {message}")
        }),
    };
    engine.refreshes.record(refreshed.clone());
    outcome?;
    Ok(Some(refreshed))
}

/// Refreshes the models that follow their tables, in the background: every tick, each model whose
/// refresh is continuous (or whose interval has passed) and whose table has a newer version.
pub fn spawn(engine: Arc<Engine>) {
    tokio::spawn(async move {
        let mut sessions: HashMap<String, Session> = HashMap::new();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(TICK_MS)).await;
            for entry in engine.models.models() {
                let Some(definition) = &entry.definition else { continue };
                let due = match definition.refresh {
                    Refresh::Manual => false,
                    Refresh::Continuous => true,
                    Refresh::Every(ms) => engine
                        .refreshes
                        .last
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&entry.name)
                        .is_none_or(|last| last.elapsed().as_millis() as u64 >= ms),
                };
                let failed_lately = engine.refreshes.failed.lock().unwrap_or_else(|p| p.into_inner()).get(&entry.name).is_some_and(|at| at.elapsed() < RETRY_AFTER);
                if !due || failed_lately {
                    continue;
                }
                // One lookup of the table's next commit tells whether there is anything to do.
                let Ok((_, since, url)) = source_of(&engine, &entry) else { continue };
                match engine.tables.latest(&url).await {
                    Ok(table) if table.version().is_some_and(|v| v as u64 > since) => {}
                    _ => continue,
                }
                let session = sessions
                    .entry(definition.owner.clone())
                    .or_insert_with(|| Session::new(Arc::clone(&engine), definition.owner.clone(), "model refresher".into(), &Default::default()));
                if let Err(e) = refresh(session, &entry.name).await {
                    tracing::warn!(model = %entry.name, "refreshing the model failed: {e}");
                    engine.refreshes.failed.lock().unwrap_or_else(|p| p.into_inner()).insert(entry.name.clone(), Instant::now());
                }
            }
        }
    });
}

/// How often the refresher looks for new commits.
const TICK_MS: u64 = 100;

/// How long the refresher leaves a model whose refresh failed (the failure is in
/// `squall.model_refreshes`).
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

pub const TABLE: &str = "model_refreshes";

pub fn schema() -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::Int64, true),
        Field::new("from_version", DataType::Int64, false),
        Field::new("how", DataType::Utf8, false),
        Field::new("rows_added", DataType::Int64, true),
        Field::new("source_table", DataType::Utf8, false),
        Field::new("source_version", DataType::Int64, false),
        Field::new("seconds_from_commit", DataType::Float64, true),
        Field::new("seconds", DataType::Float64, false),
        Field::new("refreshed_at", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("error", DataType::Utf8, true),
    ]))
}

pub fn to_batch(refreshes: &[Refreshed]) -> datafusion::common::Result<datafusion::arrow::record_batch::RecordBatch> {
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
    Ok(datafusion::arrow::record_batch::RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter_values(refreshes.iter().map(|r| r.model.as_str()))),
            Arc::new(Int64Array::from_iter(refreshes.iter().map(|r| r.version.map(i64::from)))),
            Arc::new(Int64Array::from_iter_values(refreshes.iter().map(|r| r.from_version as i64))),
            Arc::new(StringArray::from_iter_values(refreshes.iter().map(|r| r.how))),
            Arc::new(Int64Array::from_iter(refreshes.iter().map(|r| r.rows_added.map(|n| n as i64)))),
            Arc::new(StringArray::from_iter_values(refreshes.iter().map(|r| r.source_table.as_str()))),
            Arc::new(Int64Array::from_iter_values(refreshes.iter().map(|r| r.source_version as i64))),
            Arc::new(Float64Array::from_iter(refreshes.iter().map(|r| r.seconds_from_commit))),
            Arc::new(Float64Array::from_iter_values(refreshes.iter().map(|r| r.seconds))),
            Arc::new(TimestampMillisecondArray::from_iter_values(refreshes.iter().map(|r| r.at_ms)).with_timezone("UTC")),
            Arc::new(StringArray::from_iter(refreshes.iter().map(|r| r.error.as_deref()))),
        ],
    )?)
}
