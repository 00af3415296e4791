//! The coordinator's shared state: the base DataFusion session every connection starts from (user
//! tables, pg_catalog, information_schema, the `squall` system schema, squall's functions), the
//! persistent catalog, managed-table storage and the embedded scheduler.

use std::path::{Path, PathBuf};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use ballista_core::extension::SessionConfigExt;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::setup_pg_catalog;
use futures::FutureExt;
use squall_udf::{object_stores, registry, settings};

use crate::storage::catalog::{Catalog, Entry};
use crate::error::{Result, SquallError};
use crate::cluster::settings::{self as cluster_settings, ClusterSettings};
use crate::cluster::executors;
use crate::cluster::launcher::{Launched, ProcessLauncher};
use crate::models::registry::ModelRegistry;
use crate::scheduler::EmbeddedScheduler;
use crate::system_tables::{self, SystemTable, SYSTEM_SCHEMA};
use crate::storage::delta::{DeltaTables, LiveDeltaTable};

pub struct Engine {
    /// Every connection's session is a copy of this one; tables registered here are seen by all.
    pub base: SessionContext,
    pub catalog: Catalog,
    /// The Delta tables: managed ones and external ones.
    pub tables: Arc<DeltaTables>,
    /// Trained models and their versions.
    pub models: Arc<ModelRegistry>,
    pub scheduler: Arc<EmbeddedScheduler>,
    /// `df://host:port` of the embedded scheduler, for the coordinator's Ballista client.
    pub scheduler_url: String,
    /// Rewrites what psql, JDBC and BI tools send into SQL DataFusion plans.
    /// The Postgres-compatibility rewrites each statement gets (see [`crate::pg::rewrite_rules`]).
    pub pg_rules: crate::pg::rewrite_rules::PgRewriteRules,
    /// Serialises catalog changes so that check-then-create is not racy.
    pub ddl_lock: tokio::sync::Mutex<()>,
    pub metrics: crate::session::metrics::Metrics,
    /// Starts and stops executor processes; set once the coordinator has made it.
    launcher: Arc<OnceLock<Arc<ProcessLauncher>>>,
    pub(crate) data_dir: PathBuf,
    /// The statement each session is running, for `squall.jobs`.
    pub running_statements: crate::scheduler::jobs::RunningStatements,
    /// Every statement, for `squall.query_log`.
    pub query_log: Arc<crate::session::query_log::QueryLog>,
    /// Users, passwords and grants.
    pub users: Arc<crate::access::Users>,
    /// Cluster jobs running per user, and the statements waiting for a slot (MAX_JOBS).
    pub job_slots: Arc<crate::scheduler::job_slots::JobSlots>,
    /// Open sessions per user (CONNECTION LIMIT).
    pub connections: Arc<crate::access::connections::Connections>,
    /// Sessions by their cancel keys.
    pub backends: Arc<crate::session::interrupts::Backends>,
    /// Jobs that finished, for `squall.jobs`.
    pub job_history: crate::scheduler::jobs::JobHistory,
    /// Distributed queries whose results are still being read (a drain waits for them).
    pub queries_in_flight: crate::scheduler::draining_state::QueriesInFlight,
    /// Scale-ups, scale-downs, replacements, for `squall.cluster_events`.
    pub cluster_events: crate::cluster::events::ClusterEvents,
    /// What arrived over HTTP, for `squall.ingest`.
    pub ingest: Arc<crate::ingest::accounting::Ingest>,
    /// Rows sent over HTTP not yet committed, against `ingest_buffer` ([`crate::ingest::backpressure`]).
    pub ingest_buffer: Arc<crate::ingest::backpressure::IngestBuffer>,
    /// Model refreshes, for `squall.model_refreshes` ([`crate::models::refresh`]).
    pub refreshes: Arc<crate::models::refresh::Refreshes>,
    /// Predictions served per model and hour ([`crate::models::predictions`]).
    pub predictions: Arc<crate::models::predictions::Predictions>,
    /// The cluster over the last hour, for the status page ([`crate::status::history`]).
    pub status_history: crate::status::history::History,
    /// When this server started (milliseconds since the epoch).
    pub started_at_ms: i64,
    /// The pipes loading files as they land ([`crate::ingest::pipes`]).
    pub pipes: Arc<crate::ingest::pipes::Pipes>,
    /// What the operator's last ADD / REMOVE / DRAIN EXECUTOR holds against the autoscaler.
    pub operator_hold: crate::cluster::operator_hold::OperatorHold,
    /// Session parameters chosen at start-up (`--local-scan-limit`), which RESET returns to.
    pub session_defaults: Arc<std::collections::BTreeMap<String, String>>,
    /// Statements that may have changed what queries plan to (see [`crate::plans::statement_cache`]).
    pub plan_changes: crate::plans::changes::Changes,
    /// The autoscale settings; `None` until set from the command line or the stored ones.
    cluster: std::sync::Mutex<Option<ClusterSettings>>,
}

impl Engine {
    /// Opens the data directory (absolute), restores the catalog, and wires in the scheduler.
    /// `session_defaults`: PostgreSQL-style session parameters the server was started with.
    pub async fn open(
        data_dir: &Path,
        model_store: Option<&str>,
        scheduler: EmbeddedScheduler,
        session_defaults: std::collections::BTreeMap<String, String>,
    ) -> Result<Arc<Self>> {
        let tables = Arc::new(DeltaTables::open(data_dir)?);
        let catalog = Catalog::open(&data_dir.join("catalog"))?;
        let users = Arc::new(crate::access::Users::open(&data_dir.join("catalog"))?);
        let models = Arc::new(ModelRegistry::open(data_dir, model_store)?);
        let cluster = std::sync::Mutex::new(cluster_settings::load(data_dir)?);
        let spill_dir = data_dir.join("tmp");
        // What a previous run spilled (or, before Delta tables, staged) there is garbage.
        let _ = std::fs::remove_dir_all(&spill_dir);
        std::fs::create_dir_all(&spill_dir)?;
        let state = crate::pg::plain_strings::install(registry::install_functions(
            SessionStateBuilder::new()
                // The coordinator's calls to the scheduler and its result reads from executors
                // carry the cluster's credential, over TLS when it is on (the job's settings
                // tell the executors too).
                .with_config(
                    settings::session_config()
                        .with_ballista_override_create_grpc_client_endpoint(scheduler.auth.endpoint_override())
                        .with_ballista_use_tls(scheduler.auth.tls.is_some())
                        // Delta table versions travel to the scheduler by name.
                        .with_ballista_logical_extension_codec(crate::storage::delta::plan_codec::SquallLogicalCodec::shared()),
                )
                .with_runtime_env(object_stores::runtime_env(Some(&spill_dir.to_string_lossy()))?),
        ))
        // CREATE EXTERNAL TABLE ... STORED AS DELTA (after plain_strings: it lists no files).
        .with_table_factory("DELTA".into(), Arc::new(crate::storage::delta::external::DeltaTableFactory { tables: Arc::clone(&tables) }))
        .build();
        let base = SessionContext::new_with_state(state);
        setup_pg_catalog(&base, settings::DATABASE, EmptyContextProvider)
            .map_err(|e| SquallError::Internal(format!("installing pg_catalog: {e}")))?;
        crate::pg::functions::register(&base);
        base.register_udf(crate::pg::has_role::udf(users.clone()));
        base.register_udtf(crate::storage::delta::time_travel::FUNCTION, Arc::new(crate::storage::delta::time_travel::TableVersion));

        let scheduler_url = format!("df://{}", scheduler.address);
        let launcher: Arc<OnceLock<Arc<ProcessLauncher>>> = Default::default();
        let cluster_events = crate::cluster::events::ClusterEvents::default();
        let ingest = Arc::new(crate::ingest::accounting::Ingest::default());
        let pipes = Arc::new(crate::ingest::pipes::Pipes::open(&data_dir.join("catalog"))?);
        let refreshes = Arc::new(crate::models::refresh::Refreshes::default());
        let rejected = cluster_events.clone();
        scheduler.auth.on_rejected(move |call| rejected.record_rejection(call));
        let running_statements = crate::scheduler::jobs::RunningStatements::default();
        let job_history = crate::scheduler::jobs::JobHistory::default();
        let job_slots = Arc::new(crate::scheduler::job_slots::JobSlots::default());
        let query_log = Arc::new(crate::session::query_log::QueryLog::open(data_dir)?);
        job_history.follow(&scheduler, running_statements.clone()).await?;
        let system = system_tables::system_schema(vec![
            ("executors", executors_table(scheduler.clone(), Arc::clone(&launcher))),
            ("models", models_table(Arc::clone(&models))),
            ("cluster_events", cluster_events_table(cluster_events.clone())),
            (crate::ingest::accounting::TABLE, ingest_table(Arc::clone(&ingest))),
            (crate::models::refresh::TABLE, refreshes_table(Arc::clone(&refreshes))),
            (crate::ingest::pipes::PIPES_TABLE, pipes_table(Arc::clone(&pipes), false)),
            (crate::ingest::pipes::FILES_TABLE, pipes_table(Arc::clone(&pipes), true)),
            ("jobs", jobs_table(scheduler.clone(), running_statements.clone(), job_history.clone(), job_slots.clone())),
            (crate::session::query_log::TABLE, query_log_table(Arc::clone(&query_log))),
        ])?;
        if let Some(table) = system.table(crate::session::query_log::TABLE).await? {
            query_log.set_table(table);
        }
        base.catalog(settings::DATABASE)
            .ok_or_else(|| SquallError::Internal("default catalog missing".into()))?
            .register_schema(SYSTEM_SCHEMA, system)?;

        let predictions = Arc::clone(&scheduler.predictions);
        let engine = Arc::new(Self {
            base,
            catalog,
            tables,
            models,
            scheduler: Arc::new(scheduler),
            scheduler_url,
            pg_rules: crate::pg::rewrite_rules::PgRewriteRules::new(),
            ddl_lock: tokio::sync::Mutex::new(()),
            metrics: Default::default(),
            launcher,
            data_dir: data_dir.to_path_buf(),
            cluster_events,
            ingest,
            ingest_buffer: Default::default(),
            pipes,
            refreshes,
            predictions,
            status_history: Default::default(),
            started_at_ms: crate::epoch_ms(),
            operator_hold: Default::default(),
            running_statements,
            query_log,
            backends: Default::default(),
            connections: Default::default(),
            job_slots,
            users,
            job_history,
            queries_in_flight: Default::default(),
            session_defaults: Arc::new(session_defaults),
            plan_changes: Default::default(),
            cluster,
        });
        engine.restore().await?;
        Ok(engine)
    }

    /// Registers every catalog entry in the base session, in creation order. An entry that no
    /// longer loads (its files were removed, say) is reported and kept: it may load again later.
    async fn restore(&self) -> Result<()> {
        let mut entries = self.catalog.entries();
        // A RENAME TO that a crash interrupted: its directory moves now.
        for entry in entries.iter_mut() {
            if let Entry::Managed { name, moved_from: moved @ Some(_), .. } = entry {
                self.tables.finish_move(moved.as_deref().unwrap_or_default(), name)?;
                *moved = None;
                self.catalog.replace(entry.clone())?;
            }
        }
        self.tables.remove_unlisted(entries.iter().filter_map(|e| match e {
            Entry::Managed { name, location: None, .. } => Some(name.as_str()),
            _ => None,
        }))?;
        // Grants on objects a crash dropped or renamed in the catalog only.
        let names = entries.iter().map(|e| e.name().to_string()).collect();
        self.users.forget_objects_except(squall_sql::ObjectKind::Table, &names)?;
        // Tables of squall before Delta Lake: converted in place, once. One that cannot be
        // (a column type Delta has no equivalent of) stays as it was, readable only.
        for entry in entries.iter_mut() {
            if let Entry::Managed { name, schema, location: None, .. } = entry {
                match crate::storage::delta::convert::to_delta(&self.tables, name, schema).await {
                    Ok(Some(converted)) => {
                        *schema = converted;
                        self.catalog.replace(entry.clone())?;
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(table = %name, "the table could not become a Delta Lake table and stays readable only: {e}"),
                }
            }
        }
        for entry in entries {
            if let Err(e) = self.register(&entry).await {
                tracing::warn!(name = entry.name(), "could not restore catalog entry: {e}");
            }
        }
        Ok(())
    }

    pub fn set_launcher(&self, launcher: Arc<ProcessLauncher>) {
        let _ = self.launcher.set(launcher);
    }

    pub fn launcher(&self) -> Option<&Arc<ProcessLauncher>> {
        self.launcher.get()
    }

    /// The autoscale settings: the stored ones if an operator ever changed them, else the
    /// defaults for `executors` started at boot. Returns how many executors to start.
    pub fn init_cluster(&self, executors: u64) -> u64 {
        let mut cluster = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
        cluster.get_or_insert_with(|| ClusterSettings::defaults(executors)).min_executors
    }

    pub fn cluster_settings(&self) -> ClusterSettings {
        self.cluster.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_else(|| ClusterSettings::defaults(0))
    }

    /// `ALTER CLUSTER SET (...)`: validated as a whole, stored durably, then in effect.
    pub fn alter_cluster(&self, changes: &[(String, String)]) -> Result<()> {
        let mut cluster = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
        let next = cluster.clone().unwrap_or_else(|| ClusterSettings::defaults(0)).with(changes)?;
        cluster_settings::save(&self.data_dir, &next)?;
        *cluster = Some(next);
        Ok(())
    }

    /// The executors squall started, for `squall.executors`.
    pub fn launched(&self) -> HashMap<String, Launched> {
        self.launcher.get().map(|l| l.launched()).unwrap_or_default()
    }

    /// Makes a catalog entry visible to queries.
    pub async fn register(&self, entry: &Entry) -> Result<()> {
        match entry {
            Entry::Managed { name, location, schema, .. } => {
                let provider: Arc<dyn datafusion::catalog::TableProvider> = match crate::storage::delta::convert::legacy(&self.tables, name, location.as_deref(), schema)? {
                    Some(legacy) => legacy,
                    None => Arc::new(LiveDeltaTable::open(&self.tables, self.tables.url_of(name, location.as_deref())?).await?),
                };
                self.base.register_table(name.as_str(), provider)?;
            }
            Entry::External { ddl, base_dir, .. } => {
                let plan = self.base.state().create_logical_plan(ddl).await?;
                let plan = absolutize_locations(plan, base_dir);
                self.base.execute_logical_plan(plan).await?;
            }
            Entry::View { ddl, .. } => {
                // Read as a session reads it: the Postgres-compatibility rewrites, and model names
                // in PREDICT resolved to the versions current now.
                let mut statements = self.pg_rules.parse(ddl).map_err(|e| SquallError::Syntax(e.to_string()))?;
                let statement = statements.pop().ok_or_else(|| SquallError::Syntax(format!("empty view definition: {ddl}")))?;
                let mut statement = self.pg_rules.prepare(statement);
                let mut statement = if crate::pg::sql_rewrites::rewrite(&mut statement) { self.pg_rules.rewrite(statement) } else { statement };
                crate::pg::rewrite_rules::strip_byte_order_collations(&mut statement)?;
                crate::models::references::resolve(&mut statement, &self.models)?;
                let plan = self.base.state().statement_to_plan(DfStatement::Statement(Box::new(statement))).await?;
                self.base.execute_logical_plan(plan).await?;
            }
        }
        Ok(())
    }
}

/// Relative local paths in `CREATE EXTERNAL TABLE` resolve against `base` (the directory the
/// statement was run from), so the table means the same files after a restart from elsewhere.
pub fn absolutize_locations(plan: LogicalPlan, base: &Path) -> LogicalPlan {
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateExternalTable(mut create)) => {
            create.locations = create.locations.iter().map(|l| absolutize(l, base)).collect();
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create))
        }
        other => other,
    }
}

fn absolutize(location: &str, base: &Path) -> String {
    if location.contains("://") || Path::new(location).is_absolute() {
        return location.to_string();
    }
    let mut joined: PathBuf = base.join(location);
    if location.ends_with('/') {
        joined.push(""); // keep the trailing slash: it marks a directory for DataFusion
    }
    joined.to_string_lossy().into_owned()
}

fn executors_table(scheduler: EmbeddedScheduler, launcher: Arc<OnceLock<Arc<ProcessLauncher>>>) -> SystemTable {
    SystemTable::new(
        executors::schema(),
        Arc::new(move || {
            let scheduler = scheduler.clone();
            let launched = launcher.get().map(|l| l.launched()).unwrap_or_default();
            async move { executors::to_batch(&executors::list(&scheduler, &launched).await?) }.boxed()
        }),
    )
}

fn jobs_table(
    scheduler: EmbeddedScheduler,
    statements: crate::scheduler::jobs::RunningStatements,
    history: crate::scheduler::jobs::JobHistory,
    slots: Arc<crate::scheduler::job_slots::JobSlots>,
) -> SystemTable {
    SystemTable::new(
        crate::scheduler::jobs::schema(),
        Arc::new(move || {
            let (scheduler, statements, history, slots) = (scheduler.clone(), statements.clone(), history.clone(), slots.clone());
            async move { crate::scheduler::jobs::to_batch(&scheduler, &statements, &history, &slots).await }.boxed()
        }),
    )
}

fn query_log_table(log: Arc<crate::session::query_log::QueryLog>) -> SystemTable {
    SystemTable::new(
        crate::session::query_log::schema(),
        Arc::new(move || {
            let log = Arc::clone(&log);
            async move {
                let entries = log.entries().map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
                crate::session::query_log::to_batch(&entries)
            }
            .boxed()
        }),
    )
}

fn cluster_events_table(events: crate::cluster::events::ClusterEvents) -> SystemTable {
    SystemTable::new(
        crate::cluster::events::schema(),
        Arc::new(move || {
            let events = events.all();
            async move { crate::cluster::events::to_batch(&events) }.boxed()
        }),
    )
}

fn ingest_table(ingest: Arc<crate::ingest::accounting::Ingest>) -> SystemTable {
    SystemTable::new(
        crate::ingest::accounting::schema(),
        Arc::new(move || {
            let batch = ingest.to_batch();
            async move { batch }.boxed()
        }),
    )
}

fn refreshes_table(refreshes: Arc<crate::models::refresh::Refreshes>) -> SystemTable {
    SystemTable::new(
        crate::models::refresh::schema(),
        Arc::new(move || {
            let batch = crate::models::refresh::to_batch(&refreshes.all());
            async move { batch }.boxed()
        }),
    )
}

/// `squall.pipes`, or with `files` `squall.pipe_files`.
fn pipes_table(pipes: Arc<crate::ingest::pipes::Pipes>, files: bool) -> SystemTable {
    SystemTable::new(
        if files { crate::ingest::pipes::files_schema() } else { crate::ingest::pipes::pipes_schema() },
        Arc::new(move || {
            let batch = if files { pipes.files_batch() } else { pipes.pipes_batch() };
            async move { batch }.boxed()
        }),
    )
}

fn models_table(models: Arc<ModelRegistry>) -> SystemTable {
    SystemTable::new(
        crate::models::system_table::schema(),
        Arc::new(move || {
            let models = Arc::clone(&models);
            async move { crate::models::system_table::to_batch(&models) }.boxed()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::absolutize;
    use std::path::Path;

    #[test]
    fn relative_locations_become_absolute() {
        let base = Path::new("/home/ana");
        assert_eq!(absolutize("data/t.csv", base), "/home/ana/data/t.csv");
        assert_eq!(absolutize("data/", base), "/home/ana/data/");
        assert_eq!(absolutize("/srv/t/", base), "/srv/t/");
        assert_eq!(absolutize("s3://bucket/t/", base), "s3://bucket/t/");
    }
}
