//! What a table gained since a version: the files its later commits added, when those commits only
//! appended (a model refresh learns from those rows alone; [`crate::models::refresh`]). Read from
//! the log entries themselves: adds that change data are the new rows, compactions (adds and
//! removes with `dataChange: false`) are not, and anything else (a DELETE, UPDATE or MERGE
//! removing rows, a change of columns or protocol) means the rows since cannot be told apart from
//! the rows before.

use std::collections::HashSet;
use std::sync::Arc;

use deltalake::kernel::Action;
use url::Url;

use super::{errors, DeltaSnapshot, DeltaTables};
use crate::error::Result;

/// What became of a table since a version.
#[derive(Debug)]
pub enum Since {
    /// No commit since.
    Unchanged,
    /// Only appends: `rows` reads the files they added (those still live at `version`), `whole`
    /// all of that version's.
    Appended { version: u64, whole: Arc<DeltaSnapshot>, rows: Arc<DeltaSnapshot>, committed_at_ms: Option<i64> },
    /// Something other than appends happened (named), or a file added meanwhile was already
    /// compacted away: the new rows cannot be read alone.
    Rewritten { version: u64, why: String, committed_at_ms: Option<i64> },
}

impl DeltaTables {
    /// The rows the table at `url` gained after version `since`, up to its latest version.
    pub async fn appended_since(&self, url: &Url, since: u64) -> Result<Since> {
        let (table, snapshot) = self.latest_snapshot(url).await?;
        let latest = snapshot.version;
        if latest <= since {
            return Ok(Since::Unchanged);
        }
        let log = table.log_store();
        let mut added = HashSet::new();
        let mut committed_at_ms = None;
        let mut rewritten = None;
        for version in since + 1..=latest {
            let entry = log.read_commit_entry(version).await.map_err(|e| errors::classify(format!("reading the Delta log of {url}"), e))?;
            let Some(entry) = entry else {
                rewritten.get_or_insert(format!("version {version} is no longer in the log"));
                continue;
            };
            for line in String::from_utf8_lossy(&entry).lines().filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str::<Action>(line) {
                    Ok(Action::Add(add)) if add.data_change => {
                        added.insert(add.path);
                    }
                    Ok(Action::Remove(remove)) if remove.data_change => {
                        rewritten.get_or_insert(format!("version {version} removed or changed rows"));
                    }
                    Ok(Action::Metadata(_) | Action::Protocol(_)) => {
                        rewritten.get_or_insert(format!("version {version} changed the table's columns or protocol"));
                    }
                    Ok(Action::CommitInfo(info)) => committed_at_ms = info.timestamp.or(committed_at_ms),
                    Ok(_) => {}
                    Err(_) => {
                        rewritten.get_or_insert(format!("version {version} holds an action squall does not know"));
                    }
                }
            }
        }
        if let Some(why) = rewritten {
            return Ok(Since::Rewritten { version: latest, why, committed_at_ms });
        }
        let rows = snapshot.with_only(&added)?;
        if rows.num_files() != added.len() {
            return Ok(Since::Rewritten { version: latest, why: "files added since were compacted before they were read".into(), committed_at_ms });
        }
        Ok(Since::Appended { version: latest, whole: snapshot, rows: Arc::new(rows), committed_at_ms })
    }
}
