//! `CREATE PIPE`, `ALTER PIPE ... PAUSE | RESUME`, `DROP PIPE`, `SHOW PIPES`
//! ([`crate::ingest::pipes`] loads the files). A pipe reads files on the server or in object
//! stores it can reach with the server's credentials, so managing pipes is for superusers (as
//! PostgreSQL keeps `COPY FROM 'file'` to those allowed to read the server's files); its loads
//! commit as its creator.

use squall_sql::CreatePipe;

use crate::access::checks::require_superuser;
use crate::error::{Result, SquallError};
use crate::ingest::formats::Format;
use crate::ingest::pipes::loader::source_url;
use crate::ingest::pipes::Definition;
use crate::session::{Output, Session};

/// Planned and run as any query over the system table.
pub(super) const SHOW_QUERY: &str = "SELECT name, table_name, source, format, state, files_loaded, files_quarantined, files_loading, \
     rows_loaded, last_error, last_load FROM squall.pipes ORDER BY name";

pub(super) async fn create(session: &Session, create: &CreatePipe) -> Result<Output> {
    require_superuser(session, "CREATE PIPE")?;
    super::managed_table_url(session, &create.table, "load a pipe into")?;
    let format = Format::named(&create.format)
        .filter(|f| *f != Format::ArrowStream)
        .ok_or_else(|| SquallError::InvalidParameter(format!("unknown pipe format \"{}\": the formats are csv, parquet and ndjson", create.format)))?;
    source_url(&create.source)?;
    let (mut poll_interval_ms, mut delimiter) = (1_000, ',');
    for (name, value) in &create.options {
        match name.as_str() {
            "poll_interval" => {
                poll_interval_ms = crate::cluster::settings::duration_ms(name, value)?.max(10);
            }
            "delimiter" if format == Format::Csv => {
                let mut chars = value.chars();
                delimiter = match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii() && c != '\n' && c != '"' => c,
                    _ => return Err(SquallError::InvalidParameter(format!("delimiter must be one ASCII character, not '{value}'"))),
                };
            }
            other => {
                return Err(SquallError::InvalidParameter(format!(
                    "unknown pipe option \"{other}\"; the options are poll_interval{}",
                    if format == Format::Csv { " and delimiter" } else { "" }
                )))
            }
        }
    }
    let definition = Definition {
        name: create.name.clone(),
        table: create.table.clone(),
        source: create.source.clone(),
        format: format.name().to_string(),
        poll_interval_ms,
        delimiter,
        owner: session.user.clone(),
        id: uuid::Uuid::new_v4().to_string(),
        paused: false,
        created_at: chrono::Utc::now().timestamp_millis(),
    };
    if !session.engine.pipes.create(&session.engine, definition)? && !create.if_not_exists {
        return Err(SquallError::DuplicateObject(format!("pipe \"{}\" already exists", create.name)));
    }
    Ok(Output::Done { tag: "CREATE PIPE", rows: None })
}

pub(super) async fn alter(session: &Session, name: &str, paused: bool) -> Result<Output> {
    require_superuser(session, "ALTER PIPE")?;
    if !session.engine.pipes.set_paused(name, paused)? {
        return Err(no_such_pipe(name));
    }
    Ok(Output::Done { tag: "ALTER PIPE", rows: None })
}

pub(super) async fn drop(session: &Session, name: &str, if_exists: bool) -> Result<Output> {
    require_superuser(session, "DROP PIPE")?;
    if !session.engine.pipes.drop_pipe(name)? {
        if !if_exists {
            return Err(no_such_pipe(name));
        }
        session.notice(format!("pipe \"{name}\" does not exist, skipping"));
    }
    Ok(Output::Done { tag: "DROP PIPE", rows: None })
}

fn no_such_pipe(name: &str) -> SquallError {
    SquallError::UndefinedObject(format!("pipe \"{name}\" does not exist"))
}
