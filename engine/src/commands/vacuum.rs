//! `VACUUM t [RETAIN n HOURS]`: deletes the files of a managed table that no version within the
//! retention needs (the table's `delta.deletedFileRetentionDuration`, 7 days by default, unless
//! RETAIN says otherwise). Time travel to a version older than the retention may then fail, and a
//! query still reading such a version (running longer than RETAIN) loses its files: as in Delta,
//! RETAIN below the default is the operator's call. Superusers only. Tag `VACUUM`, with a notice of
//! the files deleted.

use crate::access::checks::require_superuser;
use crate::error::Result;
use crate::session::{Output, Session};

pub(super) async fn run(session: &Session, table: &str, retain_hours: Option<u64>) -> Result<Output> {
    require_superuser(session, "VACUUM")?;
    let url = super::managed_table_url(session, table, "vacuum")?;
    let deleted = session.engine.tables.vacuum(&url, retain_hours, &session.committer()).await?;
    session.notice(format!("VACUUM deleted {deleted} files of \"{table}\""));
    Ok(Output::Done { tag: "VACUUM", rows: None })
}
