//! PostgreSQL compatibility: what squall does so that psql, drivers and BI tools meet PostgreSQL's
//! behaviour where DataFusion's differs — functions and settings they call, result column names
//! and types, values in PostgreSQL's text form, parameter types, and rewrites of statements
//! DataFusion would plan otherwise (none changes what a query means).

pub mod column_names;
pub mod functions;
pub mod has_role;
pub mod parameters;
pub mod plain_strings;
pub mod rewrite_rules;
pub mod session_user;
pub mod settings;
pub mod sleep;
pub mod sql_rewrites;
pub mod text;
pub mod types;
