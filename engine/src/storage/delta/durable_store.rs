//! The local file system as Delta tables see it, with durability: every object written is fsynced
//! (its bytes and its directory entry) before the write reports success.
//!
//! object_store's `LocalFileSystem` writes a file to a staging name and renames (or, for a Delta
//! commit's put-if-absent, hard-links) it into place, without fsync. After `kill -9` the page
//! cache keeps everything, but after a power loss a commit file could survive without the data
//! files it names. Delta writes data files first and the commit last, so syncing each object
//! before its write returns keeps that order on disk: a commit that exists names files that do.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions,
    PutPayload, PutResult, Result, UploadPart,
};

#[derive(Debug)]
pub struct DurableLocalStore {
    inner: Arc<LocalFileSystem>,
}

impl DurableLocalStore {
    pub fn new() -> Self {
        Self { inner: Arc::new(LocalFileSystem::new()) }
    }
}

impl fmt::Display for DurableLocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DurableLocalStore({})", self.inner)
    }
}

/// A file system call (or the blocking task running it) that failed, as object_store reports it.
fn failed(e: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
    object_store::Error::Generic { store: "DurableLocalStore", source: Box::new(e) }
}

/// fsyncs the file at `location` and the directory holding it.
async fn sync(store: &LocalFileSystem, location: &Path) -> Result<()> {
    let path = store.path_to_filesystem(location)?;
    tokio::task::spawn_blocking(move || sync_file_and_dir(&path))
        .await
        .map_err(failed)?
        .map_err(failed)
}

fn sync_file_and_dir(path: &PathBuf) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Writes `payload` to `path` as LocalFileSystem does (a staging file `path#n`, then renamed, or
/// hard-linked when `create`: put-if-absent), fsyncing the bytes before the name appears and the
/// directory after: in one blocking task, where LocalFileSystem's write and a sync after it took
/// two, each a hand-off between threads (a tenth of a small INSERT's time).
fn put_durably(path: &std::path::Path, payload: &PutPayload, create: bool) -> Result<PutResult> {
    use std::io::Write;
    let (mut file, staging) = staged(path)?;
    let written = (|| {
        payload.iter().try_for_each(|chunk| file.write_all(chunk))?;
        file.sync_all()?;
        file.metadata()
    })();
    let metadata = match written {
        Ok(metadata) => metadata,
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            return Err(failed(e));
        }
    };
    drop(file);
    let placed = if create { std::fs::hard_link(&staging, path) } else { std::fs::rename(&staging, path) };
    if create || placed.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    match placed {
        Ok(()) => {}
        Err(source) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(object_store::Error::AlreadyExists { path: path.to_string_lossy().into_owned(), source: Box::new(source) });
        }
        Err(e) => return Err(failed(e)),
    }
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(failed)?;
    }
    Ok(PutResult { e_tag: Some(etag(&metadata)), version: None })
}

/// A new staging file beside `path` (`path#n`, which listings skip), creating the directories
/// it needs.
fn staged(path: &std::path::Path) -> Result<(std::fs::File, PathBuf)> {
    for n in 1.. {
        let mut staging = path.as_os_str().to_owned();
        staging.push(format!("#{n}"));
        let staging = PathBuf::from(staging);
        match std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&staging) {
            Ok(file) => return Ok((file, staging)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let dir = path.parent().ok_or_else(|| failed(e))?;
                std::fs::create_dir_all(dir).map_err(failed)?;
            }
            Err(e) => return Err(failed(e)),
        }
    }
    unreachable!("some staging name is free")
}

/// LocalFileSystem's entity tag of a file (inode, modification time, size), so that a put's tag
/// matches what a later read of the object reports.
fn etag(metadata: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    let mtime = metadata.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default().as_micros();
    format!("{:x}-{:x}-{:x}", metadata.ino(), mtime, metadata.len())
}

/// The entries of `dir` (name, whether a directory), skipping LocalFileSystem's staging files
/// (`name#n`, not objects yet); `None` when a name needs more than plain characters to be a path
/// (the caller lists through LocalFileSystem then), empty when `dir` does not exist.
fn plain_names(dir: &std::path::Path) -> Result<Option<Vec<(String, bool)>>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(Vec::new())),
        Err(e) => return Err(failed(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(failed)?;
        let Ok(name) = entry.file_name().into_string() else { return Ok(None) };
        if name.rsplit_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        if name.is_empty() || name.starts_with('.') || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
            return Ok(None);
        }
        // The entry's type comes with its name (no stat); symbolic links are followed, as
        // LocalFileSystem does.
        let is_dir = match entry.file_type() {
            Ok(kind) if kind.is_symlink() => std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()),
            Ok(kind) => kind.is_dir(),
            Err(_) => false,
        };
        names.push((name, is_dir));
    }
    Ok(Some(names))
}

#[async_trait]
impl ObjectStore for DurableLocalStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        if matches!(opts.mode, PutMode::Update(_)) || !opts.attributes.is_empty() {
            // LocalFileSystem refuses both (NotImplemented), as it should.
            return self.inner.put_opts(location, payload, opts).await;
        }
        let path = self.inner.path_to_filesystem(location)?;
        let create = matches!(opts.mode, PutMode::Create);
        tokio::task::spawn_blocking(move || put_durably(&path, &payload, create)).await.map_err(failed)?
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(DurableUpload { upload, store: Arc::clone(&self.inner), location: location.clone() }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    /// LocalFileSystem converts every entry's file name to a path before comparing it with the
    /// offset: reading a Delta log after its commit N converted N names, which made each small
    /// INSERT slower than the one before. Here a directory of plain names is listed by comparing
    /// names, and only the objects after the offset are looked up.
    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        let Some(prefix) = prefix.cloned() else { return self.inner.list_with_offset(None, offset) };
        let (inner, offset) = (Arc::clone(&self.inner), offset.clone());
        let listed = async move {
            let dir = inner.path_to_filesystem(&prefix)?;
            let names = tokio::task::spawn_blocking(move || plain_names(&dir))
                .await
                .map_err(failed)??;
            let Some(names) = names else { return Ok::<_, object_store::Error>(inner.list_with_offset(Some(&prefix), &offset)) };
            let mut after = Vec::new();
            for (name, is_dir) in names {
                let location = prefix.clone().join(name.as_str());
                if is_dir {
                    after.push(inner.list_with_offset(Some(&location), &offset));
                } else if location > offset {
                    let meta = inner.head(&location).await;
                    // Deleted since it was listed (log cleanup, VACUUM): not there any more.
                    if !matches!(meta, Err(object_store::Error::NotFound { .. })) {
                        after.push(futures::stream::once(async move { meta }).boxed());
                    }
                }
            }
            Ok(futures::stream::iter(after).flatten().boxed())
        };
        futures::stream::once(listed).try_flatten().boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await?;
        sync(&self.inner, to).await
    }
}

/// A streamed write (a large data file): synced when it completes.
#[derive(Debug)]
struct DurableUpload {
    upload: Box<dyn MultipartUpload>,
    store: Arc<LocalFileSystem>,
    location: Path,
}

#[async_trait]
impl MultipartUpload for DurableUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let result = self.upload.complete().await?;
        sync(&self.store, &self.location).await?;
        Ok(result)
    }

    async fn abort(&mut self) -> Result<()> {
        self.upload.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn names(listing: BoxStream<'static, Result<ObjectMeta>>) -> Vec<String> {
        let mut names: Vec<String> = listing
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .into_iter()
            .map(|meta| meta.location.as_ref().rsplit_once("_delta_log/").unwrap().1.to_string())
            .collect();
        names.sort();
        names
    }

    /// The objects after the offset, as LocalFileSystem lists them: staging files skipped,
    /// subdirectories listed through, nothing for a missing directory.
    #[tokio::test]
    async fn a_listing_from_an_offset_has_exactly_the_objects_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("_delta_log");
        std::fs::create_dir_all(log.join("_staged_commits")).unwrap();
        for name in ["00000000000000000000.json", "00000000000000000001.json", "00000000000000000002.json", "_last_checkpoint", "00000000000000000003.json#1"] {
            std::fs::write(log.join(name), b"{}").unwrap();
        }
        std::fs::write(log.join("_staged_commits/00000000000000000003.uuid.json"), b"{}").unwrap();
        let store = DurableLocalStore::new();
        let prefix = Path::from_filesystem_path(&log).unwrap();
        let offset = prefix.clone().join("00000000000000000000.json");
        let ours = names(store.list_with_offset(Some(&prefix), &offset)).await;
        assert_eq!(ours, ["00000000000000000001.json", "00000000000000000002.json", "_last_checkpoint", "_staged_commits/00000000000000000003.uuid.json"]);
        assert_eq!(ours, names(store.inner.list_with_offset(Some(&prefix), &offset)).await, "as LocalFileSystem lists them");
        let missing = Path::from_filesystem_path(dir.path()).unwrap().join("_delta_log_missing");
        assert!(names(store.list_with_offset(Some(&missing), &offset)).await.is_empty());
    }

    /// Puts behave as LocalFileSystem's: directories made, overwrite replaces, put-if-absent
    /// refuses an existing object (AlreadyExists: how a Delta commit loses its version) and
    /// leaves it as it was, no staging file left behind, the tag what a read reports.
    #[tokio::test]
    async fn puts_overwrite_or_refuse_as_local_file_system_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = DurableLocalStore::new();
        let object = Path::from_filesystem_path(dir.path()).unwrap().join("t").join("_delta_log").join("00000000000000000001.json");
        let put = store.put_opts(&object, PutPayload::from_static(b"first"), PutOptions::from(PutMode::Create)).await.unwrap();
        assert_eq!(store.head(&object).await.unwrap().e_tag, put.e_tag);
        let again = store.put_opts(&object, PutPayload::from_static(b"second"), PutOptions::from(PutMode::Create)).await.unwrap_err();
        assert!(matches!(again, object_store::Error::AlreadyExists { .. }), "{again}");
        assert_eq!(store.get(&object).await.unwrap().bytes().await.unwrap().as_ref(), b"first");
        store.put(&object, PutPayload::from_static(b"third")).await.unwrap();
        assert_eq!(store.get(&object).await.unwrap().bytes().await.unwrap().as_ref(), b"third");
        let left: Vec<String> = std::fs::read_dir(dir.path().join("t/_delta_log")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(left, ["00000000000000000001.json"]);
    }
}
