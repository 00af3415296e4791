//! Object stores for table locations: the local file system always, and `s3://`, `gs://`,
//! `az://` / `abfs://` stores created on first use from the environment (AWS_*, GOOGLE_*,
//! AZURE_* variables, as the object_store crate reads them). Every node builds its runtime
//! here, so a location that resolves on the coordinator resolves on the executors too.

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::ObjectStore;
use url::Url;

/// An object store registry that creates cloud stores lazily from the environment.
#[derive(Debug, Default)]
pub struct EnvObjectStores {
    known: DefaultObjectStoreRegistry,
}

impl EnvObjectStores {
    fn build(url: &Url) -> Result<Option<Arc<dyn ObjectStore>>> {
        let base = &url[..url::Position::BeforePath];
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "s3" | "s3a" => Arc::new(AmazonS3Builder::from_env().with_url(base).build().map_err(config_error)?),
            "gs" | "gcs" => Arc::new(
                GoogleCloudStorageBuilder::from_env().with_url(base).build().map_err(config_error)?,
            ),
            "az" | "abfs" | "abfss" | "azure" => Arc::new(
                MicrosoftAzureBuilder::from_env().with_url(base).build().map_err(config_error)?,
            ),
            _ => return Ok(None),
        };
        Ok(Some(store))
    }
}

fn config_error(e: object_store::Error) -> DataFusionError {
    DataFusionError::Configuration(format!("object store configuration from the environment: {e}"))
}

impl ObjectStoreRegistry for EnvObjectStores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.known.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        match Self::build(url)? {
            Some(store) => {
                self.known.register_store(url, Arc::clone(&store));
                Ok(store)
            }
            None => Err(DataFusionError::Configuration(format!(
                "no object store for {url}: squall reads local paths and s3://, gs://, az:// URLs"
            ))),
        }
    }
}

/// The runtime every squall node uses: squall's object stores, spill files under `temp_dir`.
pub fn runtime_env(temp_dir: Option<&str>) -> Result<Arc<RuntimeEnv>> {
    // No cache of directory listings: DataFusion's keeps a table's file list forever by default,
    // but squall adds files to tables (INSERT, COPY) and external tables change under it, so a
    // query in a long-lived session state must list them again. (Parquet footers and statistics
    // stay cached: those caches check each file's size and modification time.)
    let caches = CacheManagerConfig::default().with_list_files_cache_limit(0);
    let mut builder =
        RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(EnvObjectStores::default())).with_cache_manager(caches);
    if let Some(dir) = temp_dir {
        builder = builder.with_temp_file_path(dir);
    }
    Ok(Arc::new(builder.build()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_files_resolve_without_configuration() {
        let stores = EnvObjectStores::default();
        assert!(stores.get_store(&Url::parse("file:///tmp/x.parquet").unwrap()).is_ok());
    }

    #[test]
    fn unknown_scheme_is_a_clear_error() {
        let stores = EnvObjectStores::default();
        let err = stores.get_store(&Url::parse("ftp://host/x").unwrap()).unwrap_err();
        assert!(err.to_string().contains("no object store for ftp://host/x"), "{err}");
    }
}
