//! Where model files are written: `models/` under the data directory by default, or any
//! object-store URL (`s3://bucket/prefix`, ...) given with `--model-store`, whose credentials come
//! from the environment as for tables. Executors read the files by URL (`squall_udf::ml::store`),
//! so with a shared store they need nothing but read access to it.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use squall_udf::object_stores::EnvObjectStores;
use url::Url;

use crate::storage::catalog::{sync_dir, write_atomically};
use crate::error::{Result, SquallError};

pub enum ModelStore {
    /// A directory on this machine; files are written atomically and fsynced.
    Local(PathBuf),
    /// An object store; a PUT is atomic and durable once acknowledged.
    Remote { root: Url, store: Arc<dyn ObjectStore> },
}

impl ModelStore {
    /// `url`: `None` for `<data>/models`.
    pub fn open(data_dir: &std::path::Path, url: Option<&str>) -> Result<Self> {
        match url {
            None => {
                let dir = data_dir.join("models");
                std::fs::create_dir_all(&dir)?;
                Ok(ModelStore::Local(dir))
            }
            Some(url) if !url.contains("://") => {
                let dir = PathBuf::from(url);
                std::fs::create_dir_all(&dir)?;
                Ok(ModelStore::Local(dir.canonicalize()?))
            }
            Some(url) => {
                let root = Url::parse(url.trim_end_matches('/'))
                    .map_err(|e| SquallError::InvalidParameter(format!("model store \"{url}\" is not a URL: {e}")))?;
                let store = EnvObjectStores::default().get_store(&root)?;
                Ok(ModelStore::Remote { root, store })
            }
        }
    }

    /// Writes a model file durably and returns the URL executors read it by. Each version gets
    /// a file of its own (executors cache by URL, so a URL must never change meaning).
    pub async fn write(&self, name: &str, version: u32, bytes: Vec<u8>) -> Result<String> {
        let file = format!("v{version}-{}.json", uuid::Uuid::new_v4().simple());
        match self {
            ModelStore::Local(root) => {
                let dir = root.join(name);
                std::fs::create_dir_all(&dir)?;
                sync_dir(root)?;
                let path = dir.join(file);
                write_atomically(&path, &bytes)?;
                Url::from_file_path(&path)
                    .map(|u| u.to_string())
                    .map_err(|_| SquallError::Internal(format!("{} is not an absolute path", path.display())))
            }
            ModelStore::Remote { root, store } => {
                let path = StorePath::from(format!("{}/{name}/{file}", root.path().trim_matches('/')));
                store
                    .put(&path, bytes.into())
                    .await
                    .map_err(|e| SquallError::storage(format!("writing the model file to {root}"), e))?;
                Ok(format!("{}/{}", &root[..url::Position::BeforePath], path))
            }
        }
    }

    /// Reads a file [`Self::write`] wrote.
    pub async fn read(&self, url: &str) -> Result<Vec<u8>> {
        let parsed = Url::parse(url).map_err(|e| SquallError::Internal(format!("a model file URL {url}: {e}")))?;
        match self {
            ModelStore::Local(_) => {
                let path = parsed.to_file_path().map_err(|_| SquallError::Internal(format!("{url} is not a local file")))?;
                Ok(std::fs::read(&path)?)
            }
            ModelStore::Remote { store, .. } => {
                let path = StorePath::from_url_path(parsed.path()).map_err(|e| SquallError::Internal(format!("{url}: {e}")))?;
                let got = store.get(&path).await.map_err(|e| SquallError::storage(format!("reading {url}"), e))?;
                Ok(got.bytes().await.map_err(|e| SquallError::storage(format!("reading {url}"), e))?.to_vec())
            }
        }
    }

    /// Deletes one file [`Self::write`] wrote, as far as it can (the registry no longer names it).
    pub async fn delete(&self, url: &str) {
        let Ok(parsed) = Url::parse(url) else { return };
        match self {
            ModelStore::Local(_) => {
                if let Ok(path) = parsed.to_file_path() {
                    let _ = std::fs::remove_file(path);
                }
            }
            ModelStore::Remote { store, .. } => {
                if let Ok(path) = StorePath::from_url_path(parsed.path()) {
                    let _ = store.delete(&path).await;
                }
            }
        }
    }

    /// Deletes every file of `name`, as far as it can: once the registry no longer names them
    /// they are garbage, so a failure here loses nothing.
    pub async fn remove(&self, name: &str) {
        match self {
            ModelStore::Local(root) => {
                let _ = std::fs::remove_dir_all(root.join(name));
            }
            ModelStore::Remote { root, store } => {
                use futures::StreamExt;
                let prefix = StorePath::from(format!("{}/{name}", root.path().trim_matches('/')));
                let files: Vec<_> = store.list(Some(&prefix)).filter_map(|m| async { m.ok() }).collect().await;
                for file in files {
                    let _ = store.delete(&file.location).await;
                }
            }
        }
    }
}
