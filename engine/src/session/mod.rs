//! One client connection's session: its own DataFusion session (settings, session id) over the
//! shared catalog, its PostgreSQL parameters, the plans it kept, and where its notices go. The
//! path of a statement through it is in `run.rs`; what a statement is between planning and its
//! runs, in `prepared.rs`.

pub mod interrupts;
pub mod metrics;
pub mod panics;
mod prepared;
pub mod query_log;
pub mod role_settings;
mod run;

pub(crate) use prepared::is_query_plan;
pub use prepared::{Output, Prepared};

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;

use crate::engine::Engine;
use crate::plans::last_made::LastMade;

/// The DataFusion setting for how many partitions a query's plan is split into.
const TARGET_PARTITIONS: &str = "datafusion.execution.target_partitions";

/// Where NOTICE messages of the running statement go (the connection's client).
pub type NoticeSink = tokio::sync::mpsc::UnboundedSender<String>;

pub struct Session {
    pub(crate) engine: Arc<Engine>,
    pub(crate) ctx: SessionContext,
    /// The user the client connected as.
    pub(crate) user: String,
    /// The client's address, for the query log.
    client: String,
    notices: std::sync::Mutex<Option<NoticeSink>>,
    /// The running statement, for cancel requests and `statement_timeout`.
    pub(crate) interrupts: Arc<crate::session::interrupts::Interrupts>,
    /// `SET statement_timeout`: `None` (0) means no limit.
    statement_timeout: std::sync::Mutex<Option<std::time::Duration>>,
    /// PostgreSQL's session parameters (DateStyle, search_path, ...).
    pub(crate) pg_settings: crate::pg::settings::PgSettings,
    /// The session's DataFusion state, copied from `ctx` when its settings change.
    pub(crate) planning: crate::plans::planning_state::PlanningState,
    /// Queries planned before, by text.
    statements: crate::plans::statement_cache::StatementCache,
    /// How text results are written, made at the settings generation it is keyed by.
    format_options: LastMade<u64, Arc<pgwire::types::format::FormatOptions>>,
    /// The COPY FROM STDIN whose data the client is sending, with its query-log entry.
    copy_in: std::sync::Mutex<Option<(crate::copy::from_stdin::CopyIn, crate::session::query_log::Entry, std::time::Instant)>>,
    /// Whether the user's own defaults were applied (see [`role_settings`]).
    role_settings_applied: std::sync::atomic::AtomicBool,
}

impl Session {
    /// A session for `user` connected from `client`, with the parameters its start-up message set.
    pub fn new(engine: Arc<Engine>, user: String, client: String, startup: &std::collections::HashMap<String, String>) -> Self {
        // Each connection has its own session id, so the scheduler keeps its settings apart.
        let state = SessionStateBuilder::new_from_existing(engine.base.state())
            .with_session_id(uuid::Uuid::new_v4().to_string())
            .with_analyzer_rule(Arc::new(crate::pg::session_user::SessionUser { user: user.clone() }))
            .build();
        let pg_settings = crate::pg::settings::PgSettings::with_startup(Arc::clone(&engine.session_defaults), startup);
        let ctx = SessionContext::new_with_state(state);
        ctx.register_udf(pg_settings.current_setting_udf());
        Self {
            engine,
            ctx,
            pg_settings,
            user,
            client,
            notices: Default::default(),
            interrupts: Default::default(),
            statement_timeout: Default::default(),
            planning: Default::default(),
            statements: Default::default(),
            format_options: Default::default(),
            copy_in: Default::default(),
            role_settings_applied: Default::default(),
        }
    }

    /// How text results are written ([`crate::pg::settings::PgSettings::format_options`]), made
    /// again only after SET or RESET.
    pub(crate) fn format_options(&self) -> Arc<pgwire::types::format::FormatOptions> {
        self.format_options.get_or_make(self.planning.generation(), || Arc::new(self.pg_settings.format_options()))
    }

    /// Notes a `SET` (`chosen`) or `RESET` of a setting: a setting the session chose is kept as
    /// set where squall would otherwise choose (see [`Session::partitions_chosen`] and
    /// crate::plans::planning_state).
    pub(crate) fn note_setting(&self, variable: &str, chosen: bool) {
        self.planning.note_setting(variable, chosen);
    }

    /// The session's settings changed: its planning copy is made again, and the plans it kept,
    /// made under the old settings, are dropped.
    pub(crate) fn settings_changed(&self) {
        self.planning.settings_changed();
        self.discard_plans();
    }

    /// `DISCARD PLANS`: the plans this session kept to run again are dropped.
    pub(crate) fn discard_plans(&self) {
        self.statements.clear();
    }

    pub(crate) fn statement_timeout(&self) -> Option<std::time::Duration> {
        *self.statement_timeout.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_statement_timeout(&self, timeout: Option<std::time::Duration>) {
        *self.statement_timeout.lock().unwrap_or_else(|p| p.into_inner()) = timeout;
    }

    /// Whether the session `SET` the partition count of its queries itself; until it does,
    /// distributed queries take the cluster's slot count.
    pub(crate) fn partitions_chosen(&self) -> bool {
        self.planning.chosen(TARGET_PARTITIONS)
    }

    /// Who this session's commits to Delta tables are recorded as.
    pub(crate) fn committer(&self) -> crate::storage::delta::write::Committer {
        crate::storage::delta::write::Committer { user: self.user.clone() }
    }

    /// Stops the statement this session runs now, as a cancel request does (nothing running:
    /// nothing happens).
    pub fn cancel(&self) {
        self.interrupts.stop(crate::session::interrupts::Reason::UserRequest);
    }

    /// The statement this session runs now or ran last (its rows may still be streaming): what a
    /// cancel request stops.
    pub fn running_statement(&self) -> Option<Arc<crate::session::interrupts::Running>> {
        self.interrupts.current()
    }

    /// Whether the connected user is a superuser (`squall`, the bootstrap user, always is).
    pub fn is_superuser(&self) -> bool {
        self.engine.users.is_superuser(&self.user)
    }

    /// Sends NOTICE messages of the statements that follow to `sink` (`None`: drop them).
    pub fn set_notice_sink(&self, sink: Option<NoticeSink>) {
        *self.notices.lock().unwrap_or_else(|p| p.into_inner()) = sink;
    }

    /// Tells the client something while a statement runs (progress of TRAIN MODEL, ...).
    pub(crate) fn notice(&self, message: String) {
        tracing::info!("{message}");
        if let Some(sink) = self.notices.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = sink.send(message);
        }
    }
}

impl Drop for Session {
    /// The connection is gone: its last statement no longer names any job.
    fn drop(&mut self) {
        self.engine.running_statements.forget(&self.ctx.session_id());
    }
}
