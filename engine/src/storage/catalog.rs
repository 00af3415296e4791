//! The persistent catalog: which tables and views exist, written to `catalog/catalog.json` in the
//! data directory. Every change rewrites the file atomically (write a temporary file, fsync,
//! rename, fsync the directory), so after a crash the catalog is either the old one or the new
//! one, never half of each.
//!
//! Managed tables keep their Arrow schema (their rows are a Delta table under `tables/`); external
//! tables and views keep the statement that created them, replayed at start-up, so an external
//! table sees the files present at its location then, as it does at any later query.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arrow_schema::Schema;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SquallError};

const FILE_NAME: &str = "catalog.json";
const FORMAT_VERSION: u32 = 1;

/// One object in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A Delta table squall writes: under `tables/<name>/` in the data directory, or at
    /// `location` (a URL, `CREATE TABLE ... LOCATION`). `schema` is its columns as of the last
    /// change squall made to them (the Delta log is the truth; this answers catalog queries).
    Managed {
        name: String,
        schema: Schema,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        /// Set while `ALTER TABLE ... RENAME TO` moves the table's directory from
        /// `tables/<moved_from>/`: a start after a crash finishes the move.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        moved_from: Option<String>,
    },
    /// A table over files squall does not own; `ddl` is its `CREATE EXTERNAL TABLE` statement,
    /// whose relative paths resolve against `base_dir`.
    External { name: String, ddl: String, base_dir: PathBuf },
    /// A view; `ddl` is its `CREATE VIEW` statement.
    View { name: String, ddl: String },
}

impl Entry {
    pub fn name(&self) -> &str {
        match self {
            Entry::Managed { name, .. } | Entry::External { name, .. } | Entry::View { name, .. } => name,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CatalogFile {
    version: u32,
    /// In creation order, which is the order views must be replayed in.
    entries: Vec<Entry>,
}

/// The catalog of one data directory.
#[derive(Debug)]
pub struct Catalog {
    dir: PathBuf,
    file: Mutex<CatalogFile>,
}

impl Catalog {
    /// Opens (or creates) the catalog under `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| SquallError::storage(format!("creating {}", dir.display()), e))?;
        let path = dir.join(FILE_NAME);
        let file = match fs::read(&path) {
            Ok(bytes) => {
                let file: CatalogFile = serde_json::from_slice(&bytes)
                    .map_err(|e| SquallError::storage(format!("reading {}", path.display()), e))?;
                if file.version != FORMAT_VERSION {
                    return Err(SquallError::Storage(format!(
                        "{} has format version {}, this squall reads version {FORMAT_VERSION}",
                        path.display(),
                        file.version
                    )));
                }
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CatalogFile { version: FORMAT_VERSION, entries: vec![] },
            Err(e) => return Err(SquallError::storage(format!("reading {}", path.display()), e)),
        };
        Ok(Self { dir: dir.to_path_buf(), file: Mutex::new(file) })
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.lock().entries.clone()
    }

    pub fn get(&self, name: &str) -> Option<Entry> {
        self.lock().entries.iter().find(|e| e.name() == name).cloned()
    }

    /// Adds `entry` and makes it durable before returning.
    pub fn insert(&self, entry: Entry) -> Result<()> {
        let mut file = self.lock();
        if file.entries.iter().any(|e| e.name() == entry.name()) {
            return Err(SquallError::DuplicateTable(format!("relation \"{}\" already exists", entry.name())));
        }
        file.entries.push(entry);
        if let Err(e) = self.persist(&file) {
            file.entries.pop();
            return Err(e);
        }
        Ok(())
    }

    /// Replaces the entry of the same name (a table whose columns changed), durably.
    pub fn replace(&self, entry: Entry) -> Result<()> {
        let mut file = self.lock();
        let Some(at) = file.entries.iter().position(|e| e.name() == entry.name()) else {
            return Err(SquallError::UndefinedTable(format!("relation \"{}\" does not exist", entry.name())));
        };
        let old = std::mem::replace(&mut file.entries[at], entry);
        if let Err(e) = self.persist(&file) {
            file.entries[at] = old;
            return Err(e);
        }
        Ok(())
    }

    /// Replaces the entry called `from` by `entry` (another name), durably, in one write.
    pub fn rename(&self, from: &str, entry: Entry) -> Result<()> {
        let mut file = self.lock();
        if file.entries.iter().any(|e| e.name() == entry.name()) {
            return Err(SquallError::DuplicateTable(format!("relation \"{}\" already exists", entry.name())));
        }
        let Some(at) = file.entries.iter().position(|e| e.name() == from) else {
            return Err(SquallError::UndefinedTable(format!("relation \"{from}\" does not exist")));
        };
        let old = std::mem::replace(&mut file.entries[at], entry);
        if let Err(e) = self.persist(&file) {
            file.entries[at] = old;
            return Err(e);
        }
        Ok(())
    }

    /// Removes the entry called `name`, durably; `None` if there was none.
    pub fn remove(&self, name: &str) -> Result<Option<Entry>> {
        let mut file = self.lock();
        let Some(at) = file.entries.iter().position(|e| e.name() == name) else {
            return Ok(None);
        };
        let removed = file.entries.remove(at);
        if let Err(e) = self.persist(&file) {
            file.entries.insert(at, removed);
            return Err(e);
        }
        Ok(Some(removed))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CatalogFile> {
        // A panic while holding the lock cannot leave the file half-written (persist is atomic),
        // so the in-memory copy is still usable.
        self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn persist(&self, file: &CatalogFile) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(file).map_err(|e| SquallError::Internal(format!("encoding catalog: {e}")))?;
        write_atomically(&self.dir.join(FILE_NAME), &bytes)
    }
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves either the old or the new
/// content, and the new content survives once this returns.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_with_mode(path, bytes, 0o666)
}

/// As [`write_atomically`], readable and writable by the owner only (secrets and keys): the file
/// never exists with wider permissions, not even for a moment.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_with_mode(path, bytes, 0o600)
}

fn write_atomically_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let context = || format!("writing {}", path.display());
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| SquallError::storage(context(), e))?;
    f.write_all(bytes).map_err(|e| SquallError::storage(context(), e))?;
    f.sync_all().map_err(|e| SquallError::storage(context(), e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| SquallError::storage(context(), e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes a rename or a new file in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SquallError::storage(format!("syncing {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{DataType, Field};

    fn managed(name: &str) -> Entry {
        Entry::Managed { name: name.into(), schema: Schema::new(vec![Field::new("a", DataType::Int64, true)]), location: None, moved_from: None }
    }

    #[test]
    fn entries_survive_reopening_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        catalog.insert(managed("t")).unwrap();
        catalog.insert(Entry::View { name: "v".into(), ddl: "CREATE VIEW v AS SELECT 1".into() }).unwrap();
        let reopened = Catalog::open(dir.path()).unwrap();
        assert_eq!(reopened.entries(), vec![managed("t"), Entry::View { name: "v".into(), ddl: "CREATE VIEW v AS SELECT 1".into() }]);
    }

    #[test]
    fn duplicate_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        catalog.insert(managed("t")).unwrap();
        assert!(matches!(catalog.insert(managed("t")), Err(SquallError::DuplicateTable(_))));
    }

    #[test]
    fn removal_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        catalog.insert(managed("t")).unwrap();
        assert_eq!(catalog.remove("t").unwrap(), Some(managed("t")));
        assert_eq!(catalog.remove("t").unwrap(), None);
        assert!(Catalog::open(dir.path()).unwrap().entries().is_empty());
    }

    #[test]
    fn a_leftover_temporary_file_does_not_matter() {
        let dir = tempfile::tempdir().unwrap();
        Catalog::open(dir.path()).unwrap().insert(managed("t")).unwrap();
        // A crash between writing the temporary file and the rename leaves it behind.
        fs::write(dir.path().join("catalog.tmp"), b"{half").unwrap();
        assert_eq!(Catalog::open(dir.path()).unwrap().entries(), vec![managed("t")]);
    }
}
