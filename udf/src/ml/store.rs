//! Reading model files by URL, on the coordinator and on every executor, with a process-wide
//! cache. A model file's URL names one version and is never rewritten (a new version is a new
//! file), so a cached model is never stale and a newly trained version is picked up at once.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreRegistry;
use object_store::ObjectStoreExt;
use url::Url;

use super::error::coded;
use super::model::Model;
use crate::object_stores::EnvObjectStores;

static CACHE: LazyLock<Mutex<HashMap<String, Arc<Model>>>> = LazyLock::new(Default::default);
static STORES: LazyLock<EnvObjectStores> = LazyLock::new(EnvObjectStores::default);

/// The model stored at `url` (`file:///...`, `s3://...`, ...).
pub fn load(url: &str) -> Result<Arc<Model>> {
    if let Some(model) = CACHE.lock().unwrap_or_else(|p| p.into_inner()).get(url) {
        return Ok(Arc::clone(model));
    }
    let bytes = read(url)?;
    let model = Arc::new(Model::from_json(&bytes, url)?);
    CACHE.lock().unwrap_or_else(|p| p.into_inner()).insert(url.to_string(), Arc::clone(&model));
    Ok(model)
}

fn read(url: &str) -> Result<Vec<u8>> {
    let parsed = Url::parse(url).map_err(|e| coded("22023", format!("\"{url}\" is not a model file URL: {e}")))?;
    if parsed.scheme() == "file" {
        let path = parsed.to_file_path().map_err(|_| coded("22023", format!("\"{url}\" is not a local path")))?;
        return std::fs::read(&path).map_err(|e| coded("58030", format!("reading model file {}: {e}", path.display())));
    }
    let store = STORES.get_store(&parsed)?;
    let path = object_store::path::Path::from_url_path(parsed.path())
        .map_err(|e| coded("22023", format!("\"{url}\": {e}")))?;
    // PREDICT is a synchronous function; the executors run it on tokio's multi-threaded runtime,
    // where a worker may block on I/O once it says so.
    let fetch = async move { store.get(&path).await?.bytes().await };
    let bytes = match tokio::runtime::Handle::try_current() {
        Ok(handle) => tokio::task::block_in_place(|| handle.block_on(fetch)),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| coded("XX000", e))?
            .block_on(fetch),
    };
    bytes.map(|b| b.to_vec()).map_err(|e| coded("58030", format!("reading model file {url}: {e}")))
}
