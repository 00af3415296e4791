//! Plan reuse: what spares a statement run again the work of planning it — queries kept by their
//! text ([`statement_cache`]) with their physical plans when those cannot go stale
//! ([`reused_plans`]), generic plans of prepared statements ([`generic_plans`]) and of simple
//! queries that differ only in constants ([`literal_templates`]), small tables' rows kept decoded
//! ([`table_cache`]), a session's planning state made once per change of settings
//! ([`planning_state`]), and the memo they share ([`last_made`]).

pub mod changes;
pub mod generic_plans;
pub mod last_made;
pub mod literal_templates;
pub mod planning_state;
pub mod reused_plans;
pub mod statement_cache;
pub mod table_cache;
