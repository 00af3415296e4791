//! Delta tables in object stores (`s3://`, `gs://`, `az://`, ...) without delta-rs's per-cloud
//! crates (`deltalake-aws` and its AWS SDK): squall hands delta-rs its own object store for the
//! table (`EnvObjectStores`, configured from the environment as for every other table), and
//! registers delta-rs's default log store for those schemes through delta-rs's public
//! `LogStoreFactory` registry. The default log store commits with put-if-absent
//! (`PutMode::Create`), which S3 (If-None-Match), GCS and Azure do natively.

use std::sync::{Arc, Once};

use deltalake::logstore::{default_logstore, logstore_factories, LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig};
use deltalake::DeltaResult;
use url::Url;

/// The object-store schemes squall's tables may be at.
const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "abfs", "abfss", "azure"];

struct DefaultForObjectStores;

impl LogStoreFactory for DefaultForObjectStores {
    fn with_options(&self, prefixed_store: ObjectStoreRef, root_store: ObjectStoreRef, location: &Url, options: &StorageConfig) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed_store, root_store, location, options))
    }
}

/// Registers the log store for [`SCHEMES`] once per process (a scheme delta-rs already knows
/// keeps its own).
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let factories = logstore_factories();
        for scheme in SCHEMES {
            let Ok(url) = Url::parse(&format!("{scheme}://")) else { continue };
            if !factories.contains_key(&url) {
                factories.insert(url, Arc::new(DefaultForObjectStores));
            }
        }
    });
}
