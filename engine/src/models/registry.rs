//! The model registry: which models exist, their versions and where each version's file is,
//! persisted in `catalog/models.json` (written atomically, like the table catalog). Files live in
//! the [`ModelStore`]; a version's file is written durably before the registry names it, so a
//! crash never leaves the registry pointing at nothing.

use std::fs;
use std::path::{Path, PathBuf};

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::store::ModelStore;
use crate::storage::catalog::write_atomically;
use crate::error::{Result, SquallError};

const FILE_NAME: &str = "models.json";
const FORMAT_VERSION: u32 = 1;

/// One trained version, with what TRAIN MODEL measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub version: u32,
    /// The model file (`file:///...`): unique per version, never rewritten.
    pub url: String,
    pub algorithm: String,
    pub task: String,
    pub target: Option<String>,
    pub features: Vec<String>,
    pub rows_used: u64,
    pub rows_total: u64,
    pub training_ms: u64,
    /// Seconds since the Unix epoch.
    pub created_at: f64,
    /// Holdout metrics `(name, value)`; empty with `holdout = 0`.
    pub metrics: Vec<(String, f64)>,
    /// Holdout confusion matrix `(actual, predicted, rows)` for classifiers.
    pub confusion: Vec<(String, String, u64)>,
    /// Per feature, its share of the importance when measured after training (by permutation,
    /// [`squall_udf::ml::importance`]); the other algorithms' is in the model file.
    #[serde(default)]
    pub importance: Option<Vec<f64>>,
    /// The Delta table versions it was trained on: (table, version).
    #[serde(default)]
    pub source_tables: Vec<(String, u64)>,
    /// The merged state of its training pass, for the algorithms whose state a refresh merges
    /// with the new rows' ([`super::refresh`]): the model file's sibling in the store.
    #[serde(default)]
    pub state_url: Option<String>,
    /// The version a refresh made this one from, with the rows it added.
    #[serde(default)]
    pub refreshed_from: Option<u32>,
}

/// How a model follows its source table (`refresh` of TRAIN MODEL and ALTER MODEL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Refresh {
    /// Only by TRAIN MODEL or REFRESH MODEL.
    Manual,
    /// After every commit to the source table.
    Continuous,
    /// At most every `ms` milliseconds, when the table changed.
    Every(u64),
}

impl Refresh {
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "manual" => Ok(Refresh::Manual),
            "continuous" => Ok(Refresh::Continuous),
            other => crate::cluster::settings::duration_ms("refresh", other)
                .ok()
                .filter(|ms| *ms >= 100)
                .map(Refresh::Every)
                .ok_or_else(|| SquallError::InvalidParameter(format!("refresh must be 'continuous', 'manual' or an interval of at least 100ms such as '5min', not '{value}'"))),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Refresh::Manual => "manual".into(),
            Refresh::Continuous => "continuous".into(),
            Refresh::Every(ms) if ms % 1000 == 0 => format!("{}s", ms / 1000),
            Refresh::Every(ms) => format!("{ms}ms"),
        }
    }
}

/// `keep_versions = n`: how many versions a refresh keeps, 1 to 1000.
pub fn keep_versions(value: &str) -> Result<u32> {
    value
        .parse::<u32>()
        .ok()
        .filter(|k| (1..=1000).contains(k))
        .ok_or_else(|| SquallError::InvalidParameter(format!("keep_versions must be a whole number from 1 to 1000, not '{value}'")))
}

/// What TRAIN MODEL said, kept so that the model can be trained again on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    pub algorithm: String,
    /// The algorithm's options (without `refresh` and `keep_versions`).
    pub options: Vec<(String, String)>,
    pub target: Option<String>,
    pub features: Option<Vec<String>>,
    pub query: String,
    pub refresh: Refresh,
    /// How many versions a refresh keeps (the oldest go).
    pub keep_versions: u32,
    /// Who trained it: refreshes run as this user.
    pub owner: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub name: String,
    pub current: u32,
    pub versions: Vec<Version>,
    /// How to train it again (models trained before squall kept it have none).
    #[serde(default)]
    pub definition: Option<Definition>,
}

impl ModelEntry {
    pub fn version(&self, v: u32) -> Option<&Version> {
        self.versions.iter().find(|x| x.version == v)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    models: Vec<ModelEntry>,
}

pub struct ModelRegistry {
    catalog_dir: PathBuf,
    pub store: ModelStore,
    file: Mutex<RegistryFile>,
    /// The highest version number handed out per model, so that two TRAIN MODEL statements
    /// running at once never get the same number (a failed training leaves a gap, as a
    /// PostgreSQL sequence does).
    reserved: Mutex<std::collections::HashMap<String, u32>>,
}

/// A parsed `name` or `name@version`.
pub fn split_reference(reference: &str) -> Result<(String, Option<u32>)> {
    match reference.split_once('@') {
        None => Ok((reference.to_string(), None)),
        Some((name, v)) => match v.parse::<u32>() {
            Ok(v) => Ok((name.to_string(), Some(v))),
            Err(_) => Err(SquallError::InvalidParameter(format!(
                "\"{reference}\" is not a model reference: use 'name' or 'name@version'"
            ))),
        },
    }
}

impl ModelRegistry {
    /// `store`: where model files go (`None`: `models/` under the data directory).
    pub fn open(data_dir: &Path, store: Option<&str>) -> Result<Self> {
        let catalog_dir = data_dir.join("catalog");
        fs::create_dir_all(&catalog_dir)?;
        let store = ModelStore::open(data_dir, store)?;
        let path = catalog_dir.join(FILE_NAME);
        let file = match fs::read(&path) {
            Ok(bytes) => {
                let file: RegistryFile =
                    serde_json::from_slice(&bytes).map_err(|e| SquallError::storage(format!("reading {}", path.display()), e))?;
                if file.version != FORMAT_VERSION {
                    return Err(SquallError::Storage(format!("{} has format {}, expected {FORMAT_VERSION}", path.display(), file.version)));
                }
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RegistryFile { version: FORMAT_VERSION, models: vec![] },
            Err(e) => return Err(SquallError::storage(format!("reading {}", path.display()), e)),
        };
        Ok(Self { catalog_dir, store, file: Mutex::new(file), reserved: Default::default() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RegistryFile> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn models(&self) -> Vec<ModelEntry> {
        self.lock().models.clone()
    }

    pub fn get(&self, name: &str) -> Option<ModelEntry> {
        self.lock().models.iter().find(|m| m.name == name).cloned()
    }

    /// The version a reference names (`name`: the current one); 42704 when there is none.
    pub fn resolve(&self, reference: &str) -> Result<(ModelEntry, Version)> {
        let (name, version) = split_reference(reference)?;
        let entry = self.get(&name).ok_or_else(|| SquallError::UndefinedObject(format!("model \"{name}\" does not exist")))?;
        let v = version.unwrap_or(entry.current);
        let found = entry
            .version(v)
            .cloned()
            .ok_or_else(|| SquallError::UndefinedObject(format!("model \"{name}\" has no version {v}")))?;
        Ok((entry, found))
    }

    /// Hands out the number of a new version of `name`.
    pub fn reserve_version(&self, name: &str) -> u32 {
        let stored = self.get(name).and_then(|m| m.versions.iter().map(|v| v.version).max()).unwrap_or(0);
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        let next = stored.max(reserved.get(name).copied().unwrap_or(0)) + 1;
        reserved.insert(name.to_string(), next);
        next
    }

    /// Makes `version` the current version of `name`, durably, with how it was defined. Past
    /// the definition's `keep_versions`, the oldest versions are forgotten; their files' URLs are
    /// returned, to delete.
    /// With `after`, the model must still be at that version (a refresh made from it): 40001 when
    /// it was dropped, trained or refreshed meanwhile.
    pub fn add_version(&self, name: &str, version: Version, definition: Definition, after: Option<u32>) -> Result<Vec<String>> {
        let mut file = self.lock();
        if let Some(from) = after {
            let current = file.models.iter().find(|m| m.name == name).map(|m| m.current);
            if current != Some(from) {
                return Err(SquallError::SerializationFailure(format!(
                    "model \"{name}\" changed while it was being refreshed from version {from} (now {}): the refresh is dropped",
                    current.map_or("dropped".to_string(), |v| format!("version {v}"))
                )));
            }
        }
        let before = file.models.clone();
        let keep = definition.keep_versions.max(1) as usize;
        let mut dropped = Vec::new();
        match file.models.iter_mut().find(|m| m.name == name) {
            Some(entry) => {
                entry.current = version.version;
                entry.versions.push(version);
                entry.definition = Some(definition);
                while entry.versions.len() > keep {
                    let old = entry.versions.remove(0);
                    dropped.extend(std::iter::once(old.url).chain(old.state_url));
                }
            }
            None => file.models.push(ModelEntry { name: name.to_string(), current: version.version, versions: vec![version], definition: Some(definition) }),
        }
        if let Err(e) = self.persist(&file) {
            file.models = before;
            return Err(e);
        }
        Ok(dropped)
    }

    /// `ALTER MODEL name SET (refresh = ...)`: the definition with `change` applied, durably.
    pub fn alter_definition(&self, name: &str, change: impl FnOnce(&mut Definition) -> Result<()>) -> Result<()> {
        let mut file = self.lock();
        let entry = file.models.iter_mut().find(|m| m.name == name).ok_or_else(|| SquallError::UndefinedObject(format!("model \"{name}\" does not exist")))?;
        let definition = entry.definition.as_mut().ok_or_else(|| {
            SquallError::Unsupported(format!("model \"{name}\" was trained before squall kept how models were trained: train it again to refresh it"))
        })?;
        let before = definition.clone();
        change(definition)?;
        if let Err(e) = self.persist(&file) {
            if let Some(entry) = file.models.iter_mut().find(|m| m.name == name) {
                entry.definition = Some(before);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Removes `name` and then its files; `None` if there was no such model.
    pub async fn remove(&self, name: &str) -> Result<Option<ModelEntry>> {
        let removed = {
            let mut file = self.lock();
            let Some(at) = file.models.iter().position(|m| m.name == name) else { return Ok(None) };
            let removed = file.models.remove(at);
            if let Err(e) = self.persist(&file) {
                file.models.insert(at, removed);
                return Err(e);
            }
            removed
        };
        self.reserved.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        self.store.remove(name).await;
        Ok(Some(removed))
    }

    fn persist(&self, file: &RegistryFile) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(file).map_err(|e| SquallError::Internal(format!("encoding models: {e}")))?;
        write_atomically(&self.catalog_dir.join(FILE_NAME), &bytes)
    }
}
