//! The DataFusion and Ballista settings squall chooses, in one place, for every node.
//!
//! - catalog `squall`, schema `public`: what psql shows as the database and its default schema;
//! - `information_schema` on: psql, JDBC and BI tools introspect through it;
//! - Arrow Flight messages up to 1 GiB (Ballista's default is 16 MiB): a training sample (up to
//!   `max_training_rows` rows) travels as one Binary value of the sampling aggregate, through the
//!   shuffle and back to the coordinator, and one value cannot be split across messages;
//! - Ballista's adaptive query planner (AQE) stays on (its default): TPC-H SF1 takes 13.2 s with
//!   it against 23.9 s without (2 executors). On its own it could leave a job waiting forever after
//!   an executor loss; squall cancels and re-runs jobs that had output on a lost executor before
//!   Ballista's recovery runs (engine/src/scheduler/lost_jobs.rs), which avoids that path: 40 of 40
//!   kill -9s answered correctly with AQE on (`squall-bench autoscale --only kills`, twice);
//! - strings and binaries in Arrow's plain layout, not the view layout DataFusion defaults to:
//!   Arrow IPC (shuffles, results over Flight) writes every buffer a view array references, so a
//!   shuffle wrote a batch's string data once per output partition. Parquet is read as `Utf8`,
//!   SQL `TEXT`/`VARCHAR` mean `Utf8`, and files whose embedded Arrow schema asks for views are
//!   registered plain (squall_engine::plain_strings). TPC-H Q10 (2 executors): 553 ms → 375 ms;
//!   its 37,967 unlimited rows 2.6 s → 0.3 s;
//! - a distributed query is split into as many partitions as the cluster has task slots when
//!   executed (`datafusion.execution.target_partitions`, Ballista's default 16, is set per query
//!   from the registered executors unless the session SETs it): TPC-H SF1 with 2 executors of 2
//!   slots 11.2 s at 16 partitions, 7.2 s at 4 (squall_engine::statements::query). Two
//!   partitions (this host's cores) measured faster in four same-run pairs (1.32–1.36x
//!   DataFusion against 1.40–1.42x), but only because Ballista's default task placement then
//!   packs both partitions of a stage into one task on one executor: the other executor idles
//!   (the e2e test that every executor gets work caught it). Not adopted;
//! - DataFusion's cache of directory listings is off (squall_udf::object_stores::runtime_env): it
//!   keeps a table's file list forever, but INSERT and COPY add files to tables;
//! - queries that read at most `squall.local_scan_limit` (16 MB) of their tables (the Parquet
//!   columns they need, whole files of other formats) run in the coordinator rather than as a
//!   Ballista job (squall_engine::routing): a 1,000-row lookup went from 236 to ~1,100 per second
//!   at 8 clients; `SELECT count(*)` over TPC-H SF1's lineitem 7 ms → 1 ms. They are planned with DataFusion's own defaults
//!   for what Ballista changes for distributed plans (hash joins, one partition per core,
//!   round-robin repartitioning, DataFusion's broadcast thresholds) unless the session SETs them
//!   (squall_engine::planning_state): TPC-H SF1 forced onto the coordinator 9.7 s → 4.6 s;
//! - a hash join whose smaller side has at most 2M rows, when its size in bytes is not known
//!   (Ballista's default: 1M), is a broadcast join: that side is sent whole to every task of the
//!   other, which is then not shuffled. On one host a broadcast costs little, and shuffling the
//!   large side is what a distributed join pays most for: TPC-H SF1 with 2 executors 1.61x →
//!   1.54x DataFusion in-process (Q18 889 → 655 ms, Q12 292 → 250 ms; same-run pairs). The byte
//!   threshold stays Ballista's (128 MB), and 8 MB / 100k rows was worse (1.81x);
//! - not a setting but chosen with them: the executors squall starts on its own host share one
//!   work directory (squall_engine::launcher), where Ballista finds the shuffle files of all of
//!   them on disk instead of fetching half through another process: 1.54x → 1.47x;
//! - also chosen with them: each executor runs all its tasks in one DataFusion runtime
//!   (squall_flight::executor), so its Parquet footer cache lasts across queries as the
//!   coordinator's and DataFusion's own do (Ballista keeps one per session id, and each squall
//!   statement is a session of its own);
//! - tried and left at Ballista's defaults, each slower in same-run pairs on TPC-H SF1 (2
//!   executors): shuffle compression `none` instead of lz4 (1.50x against 1.38x), AQE's
//!   partition coalescing (1.49x), a 1M-row broadcast threshold (1.58x against 1.42x); a batch
//!   size of 16384 changed nothing (1.37x);
//!   also (same-run ratios, default in brackets): one partition per task 1.74x (1.48x), Parquet
//!   filter pushdown 1.60x (1.48x), `ballista.optimizer.stage_build_side = false` 1.54x
//!   (1.50x), AQE off 4.18x, no sort-merge fallback for partitioned joins 1.61x (1.60x), a
//!   sort-shuffle batch size of 32768 1.67x (1.60x); `ballista.planner.propagate_empty.enabled`
//!   was within the noise;
//! - everything else is DataFusion's and Ballista's default until a benchmark says otherwise.

use ballista_core::extension::SessionConfigExt;
use datafusion::prelude::SessionConfig;

/// The database name clients see (`current_database()`, psql's `\l`).
pub const DATABASE: &str = "squall";
/// The schema user tables live in.
pub const DEFAULT_SCHEMA: &str = "public";

/// See the module docs: the largest Arrow Flight message a node accepts.
pub const MAX_FLIGHT_MESSAGE: usize = 1 << 30;

/// The session configuration of every squall session, on every node.
pub fn session_config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_ballista_grpc_client_max_message_size(MAX_FLIGHT_MESSAGE)
        .with_information_schema(true)
        .with_default_catalog_and_schema(DATABASE, DEFAULT_SCHEMA)
        .with_create_default_catalog_and_schema(true)
        // See the module docs: plain string layouts.
        .set_bool("datafusion.execution.parquet.schema_force_view_types", false)
        .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false)
        // The session time zone, as PostgreSQL's TimeZone (which squall reports as Etc/UTC):
        // without one DataFusion reads TIMESTAMPTZ as a timestamp without zone and now() has
        // none, so clients were told `timestamp` and lost the zone.
        .set_str("datafusion.execution.time_zone", SESSION_TIME_ZONE)
        // DataFusion's logical plan knows more about which CASE results can be NULL than its
        // physical plan does (`CASE WHEN r.a > 4 THEN r.a ELSE 0 END` over an outer join is never
        // NULL), and its check of an aggregate's input then refuses a correct plan (XX000
        // "Physical input schema should be the same"). The option exists for such planner bugs.
        .set_bool("datafusion.execution.skip_physical_aggregate_schema_check", true)
        // See the module docs: broadcast joins.
        .set_u64(ballista_core::config::BALLISTA_BROADCAST_JOIN_THRESHOLD_ROWS, BROADCAST_JOIN_ROWS)
}

/// See the module docs: the most rows of a join side of unknown byte size that is broadcast.
pub const BROADCAST_JOIN_ROWS: u64 = 2_000_000;

/// UTC, written as Arrow's zone parser reads it on every node.
pub const SESSION_TIME_ZONE: &str = "+00:00";

#[cfg(test)]
mod tests {
    use super::*;
    use ballista_core::config::BallistaConfig;

    #[test]
    fn every_session_starts_with_squalls_ballista_settings() {
        let config = session_config();
        let ballista = config.options().extensions.get::<BallistaConfig>().expect("Ballista's settings are installed");
        assert_eq!(ballista.broadcast_join_threshold_rows(), BROADCAST_JOIN_ROWS as usize);
        assert_eq!(ballista.grpc_client_max_message_size(), MAX_FLIGHT_MESSAGE);
    }
}
