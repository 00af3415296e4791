//! A pipe's loader: every `poll_interval` it lists the source, and loads each file it has not
//! met, one at a time in the order of their names (see the module above for why one at a time).
//! A file is taken once two listings in a row saw it with the same size and modification time
//! (a file still being written is not read half-way); names starting with `.` or `_`, at any
//! depth under the source, are skipped (temporary files, `_SUCCESS`, `.crc`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use tokio::sync::Notify;
use url::Url;

use super::{save, FileRecord, Pipe, Status};
use crate::copy::format::{Kind, Options};
use crate::copy::from_stdin::Target;
use crate::engine::Engine;
use crate::error::{Result, SquallError};
use crate::ingest::accounting::Outcome;
use crate::ingest::formats::{read_rows, Format};
use crate::storage::delta::grouped_append::Batch;
use crate::storage::delta::producer_batches::Appended;

/// The source of a pipe as a directory URL: an object store URL, or an absolute path on the
/// server.
pub fn source_url(source: &str) -> Result<Url> {
    let mut url = if source.contains("://") {
        Url::parse(source).map_err(|e| SquallError::InvalidParameter(format!("the pipe's source \"{source}\" is not a URL: {e}")))?
    } else {
        let path = std::path::Path::new(source);
        if !path.is_absolute() {
            return Err(SquallError::InvalidParameter(format!("the pipe's source \"{source}\" must be an absolute path or a URL (s3://bucket/prefix/)")));
        }
        Url::from_directory_path(path).map_err(|_| SquallError::InvalidParameter(format!("the pipe's source \"{source}\" is not a directory path")))?
    };
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The store the source lives in, and its prefix there.
fn source_store(url: &Url) -> Result<(Arc<dyn ObjectStore>, StorePath)> {
    use datafusion::execution::object_store::ObjectStoreRegistry;
    let store = squall_udf::object_stores::EnvObjectStores::default().get_store(url)?;
    let prefix = StorePath::from_url_path(url.path()).map_err(|e| SquallError::InvalidParameter(format!("the pipe's source {url}: {e}")))?;
    Ok((store, prefix))
}

/// Runs the pipe `name` until it is dropped (its task aborted).
pub async fn run(engine: Arc<Engine>, name: String, pipe: Arc<Mutex<Pipe>>, wake: Arc<Notify>, dir: PathBuf) {
    let mut last_listing: HashMap<StorePath, (u64, i64)> = HashMap::new();
    loop {
        let (paused, interval) = {
            let pipe = pipe.lock().unwrap_or_else(|p| p.into_inner());
            (pipe.definition.paused, Duration::from_millis(pipe.definition.poll_interval_ms))
        };
        if paused {
            wake.notified().await;
            continue;
        }
        let outcome = poll(&engine, &pipe, &dir, &mut last_listing).await;
        {
            let mut pipe = pipe.lock().unwrap_or_else(|p| p.into_inner());
            let error = outcome.err().map(|e| {
                let (sqlstate, message) = e.classified();
                format!("{sqlstate}: {message}")
            });
            if error != pipe.last_error {
                if let Some(error) = &error {
                    tracing::warn!(pipe = %name, "pipe stopped this round: {error}");
                }
                pipe.last_error = error;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = wake.notified() => {}
        }
    }
}

/// One round: the source listed, and its new settled files loaded in order. An error that is not
/// a file's own ends the round.
async fn poll(engine: &Arc<Engine>, pipe: &Mutex<Pipe>, dir: &std::path::Path, last_listing: &mut HashMap<StorePath, (u64, i64)>) -> Result<()> {
    let definition = pipe.lock().unwrap_or_else(|p| p.into_inner()).definition.clone();
    let (store, prefix) = source_store(&source_url(&definition.source)?)?;
    let mut listed: Vec<ObjectMeta> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| SquallError::storage(format!("listing {}", definition.source), e))?;
    listed.retain(|meta| meta.location.prefix_match(&prefix).is_some_and(|mut parts| parts.all(|part| !part.as_ref().starts_with(['.', '_']))));
    listed.sort_by(|a, b| a.location.cmp(&b.location));

    // Files numbered before (in a round that stopped at a failure, or before a restart) come
    // first, in their numbers' order, then new ones in name order: a pipe's files must commit in
    // the order they were numbered, as a later number committed first makes an earlier one look
    // committed already (a duplicate) and its rows would never be loaded.
    let mut numbered: Vec<(i64, String, ObjectMeta)> = Vec::new();
    let mut fresh = Vec::new();
    let mut names = std::collections::HashSet::with_capacity(listed.len());
    let mut seen = HashMap::with_capacity(listed.len());
    for meta in listed {
        let stamp = (meta.size, meta.last_modified.timestamp_millis());
        let file = under(&meta.location, &prefix);
        let known = pipe.lock().unwrap_or_else(|p| p.into_inner()).files.get(&file).map(|f| (f.status, f.sequence));
        match known {
            Some((Status::Loaded | Status::Quarantined, _)) => {}
            Some((Status::Loading, sequence)) => numbered.push((sequence, file.clone(), meta.clone())),
            None if last_listing.get(&meta.location) == Some(&stamp) => fresh.push((file.clone(), meta.clone())),
            None => {}
        }
        names.insert(file);
        seen.insert(meta.location, stamp);
    }
    forget_removed(engine, pipe, dir, &names).await?;
    *last_listing = seen;

    numbered.sort_by_key(|(sequence, _, _)| *sequence);
    for (file, meta) in numbered.into_iter().map(|(_, file, meta)| (file, meta)).chain(fresh) {
        load(engine, pipe, dir, &store, &meta, file).await?;
    }
    Ok(())
}

/// Files numbered but no longer listed (`listed`: the names listed now) cannot be loaded: those
/// whose commit landed (before a restart that lost their state) are loaded, the others
/// quarantined with that reason, so none stays "loading" (a file of that name landing later is
/// then skipped, as a quarantined file). Decided only while the table is there to say which
/// commits landed.
async fn forget_removed(engine: &Arc<Engine>, pipe: &Mutex<Pipe>, dir: &std::path::Path, listed: &std::collections::HashSet<String>) -> Result<()> {
    let (definition, removed) = {
        let pipe = pipe.lock().unwrap_or_else(|p| p.into_inner());
        let removed: Vec<String> = pipe.files.iter().filter(|(file, record)| record.status == Status::Loading && !listed.contains(*file)).map(|(file, _)| file.clone()).collect();
        (pipe.definition.clone(), removed)
    };
    if removed.is_empty() {
        return Ok(());
    }
    let Ok(target) = Target::resolve(engine, &definition.owner, &definition.table, &[], Options::new(Kind::Csv)) else { return Ok(()) };
    let through = engine.tables.last_batch(&target.url, &definition.producer(), true).await?;
    let mut pipe = pipe.lock().unwrap_or_else(|p| p.into_inner());
    let now = chrono::Utc::now().timestamp_millis();
    for file in removed {
        let Some(record) = pipe.files.get_mut(&file) else { continue };
        if through.is_some_and(|through| through >= record.sequence) {
            record.status = Status::Loaded;
        } else {
            record.status = Status::Quarantined;
            record.error = Some("58P01: the file was removed before it was loaded".into());
        }
        record.at = Some(now);
    }
    save(dir, &pipe)
}

/// A file's name under the source (`later/c.csv`), as the pipe knows it.
fn under(location: &StorePath, prefix: &StorePath) -> String {
    location.prefix_match(prefix).map(|parts| parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>().join("/")).unwrap_or_else(|| location.to_string())
}

/// Loads one file: numbered (durably) first, then read, then committed as the pipe's batch of
/// that number. A file that is not the table's rows is quarantined.
async fn load(engine: &Arc<Engine>, pipe: &Mutex<Pipe>, dir: &std::path::Path, store: &Arc<dyn ObjectStore>, meta: &ObjectMeta, file: String) -> Result<()> {
    let (definition, sequence) = {
        let mut pipe = pipe.lock().unwrap_or_else(|p| p.into_inner());
        if pipe.definition.paused {
            return Ok(());
        }
        let sequence = match pipe.files.get(&file) {
            Some(record) => record.sequence,
            None => {
                let sequence = pipe.next_sequence;
                pipe.next_sequence += 1;
                pipe.files.insert(file.clone(), FileRecord { sequence, size: meta.size, status: Status::Loading, rows: 0, error: None, at: None });
                save(dir, &pipe)?;
                sequence
            }
        };
        (pipe.definition.clone(), sequence)
    };
    let endpoint = format!("pipe:{}", definition.name);
    let mut ticket = engine.ingest.received(&endpoint, &definition.table, None);
    let finish = |status: Status, rows: u64, error: Option<String>| -> Result<()> {
        let mut pipe = pipe.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(record) = pipe.files.get_mut(&file) {
            (record.status, record.rows, record.error, record.at) = (status, rows, error, Some(chrono::Utc::now().timestamp_millis()));
        }
        save(dir, &pipe)
    };

    let loaded = async {
        let target = Target::resolve(engine, &definition.owner, &definition.table, &[], Options::new(Kind::Csv))?;
        if !engine.users.is_superuser(&definition.owner)
            && !engine.users.allows(&definition.owner, squall_sql::ObjectKind::Table, &definition.table, squall_sql::Privilege::Insert)
        {
            return Err(Loading::Stop(SquallError::InsufficientPrivilege(format!("permission denied for table {}: the pipe's owner {} may not insert", definition.table, definition.owner))));
        }
        let data = store.get(&meta.location).await.map_err(|e| SquallError::storage(format!("reading {file}"), e))?.bytes().await.map_err(|e| SquallError::storage(format!("reading {file}"), e))?;
        let format = Format::named(&definition.format).ok_or_else(|| SquallError::Internal(format!("pipe format {}", definition.format)))?;
        let rows = read_rows(engine, &definition.owner, &target, format, data, definition.delimiter as u8).await.map_err(|e| match e {
            // Not the file's fault: the table went away meanwhile.
            SquallError::UndefinedTable(_) => Loading::Stop(e),
            e => Loading::Quarantine(e),
        })?;
        let count = rows.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        ticket.read(count);
        let batch = Batch { rows, producer: Some((definition.producer(), sequence)) };
        Ok((crate::ingest::commit(engine, &target, batch).await?, count))
    }
    .await;

    match loaded {
        Ok((Appended::Rows { rows, version }, _)) => {
            finish(Status::Loaded, rows, None)?;
            ticket.answered(Outcome::Committed { rows, version });
            Ok(())
        }
        // Its commit landed before a restart that came before its state was kept.
        Ok((Appended::Duplicate { .. }, rows)) => {
            finish(Status::Loaded, rows, None)?;
            ticket.answered(Outcome::Duplicate);
            Ok(())
        }
        Err(Loading::Quarantine(e)) => {
            let (sqlstate, message) = e.classified();
            let context = match &e {
                SquallError::WithContext { context, .. } if !context.is_empty() => format!(" ({context})"),
                _ => String::new(),
            };
            finish(Status::Quarantined, 0, Some(format!("{sqlstate}: {message}{context}")))?;
            ticket.answered(Outcome::Rejected { sqlstate, message });
            Ok(())
        }
        Err(Loading::Stop(e)) => {
            let (sqlstate, message) = e.classified();
            ticket.answered(Outcome::Rejected { sqlstate, message });
            Err(e)
        }
    }
}

/// Why a file was not loaded: its own fault (quarantined), or not (tried again later).
enum Loading {
    Quarantine(SquallError),
    Stop(SquallError),
}

impl From<SquallError> for Loading {
    fn from(e: SquallError) -> Self {
        Loading::Stop(e)
    }
}
