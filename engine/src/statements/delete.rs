//! `DELETE FROM t [WHERE ...]` of a managed (Delta) table: one commit dropping the files whose
//! rows all go and rewriting those that keep some. Tag `DELETE n`, n the rows deleted.

use datafusion::logical_expr::DmlStatement;

use super::row_changes::{change_session, filter_over_scan, Target};
use crate::error::Result;
use crate::session::{Output, Session};
use crate::storage::delta::errors;

pub(super) async fn run(session: &Session, dml: DmlStatement) -> Result<Output> {
    let target = Target::resolve(session, &dml.table_name, "delete from")?;
    let predicate = filter_over_scan(&dml.input, "DELETE")?;
    let table = target.open(session).await?;
    // Rows in files dropped whole are counted from the Delta log; squall's files carry counts.
    let mut delete = table
        .delete()
        .with_session_state(std::sync::Arc::new(change_session(session)))
        .with_session_fallback_policy(deltalake::delta_datafusion::SessionFallbackPolicy::RequireSessionState)
        .with_commit_properties(session.committer().properties());
    if let Some(predicate) = predicate {
        delete = delete.with_predicate(predicate);
    }
    let (_, metrics) = delete.await.map_err(|e| errors::classify(format!("deleting from \"{}\"", target.name), e))?;
    target.changed(session);
    Ok(Output::Done { tag: "DELETE", rows: Some(metrics.num_deleted_rows.unwrap_or_default() as u64) })
}
