//! How a Delta table version travels in a plan to the scheduler.
//!
//! squall sends its embedded scheduler *logical* plans, which the scheduler plans physically
//! (calling the table's `scan`, which emits only DataFusion's own Parquet nodes; see
//! [`super::snapshot_scan`]). The scheduler runs in the coordinator's process, so a table version
//! is sent by name, `(table URL, version)`, and the scheduler takes the very snapshot the query
//! pinned from [`IN_PLANS`] (held only while the plan that pinned it is alive): no credentials
//! or file lists in the plan, and the same files the coordinator sized the query by.
//!
//! delta-rs's own `DeltaLogicalCodec` is not used: it serialises the whole provider with its
//! file list, and its `try_decode`/`try_encode` of extension nodes are `todo!()`, which would
//! panic if ever asked.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use url::Url;

use super::DeltaSnapshot;

/// Marks an encoded Delta table version (anything else is Ballista's to decode).
const TAG: &[u8] = b"squall-delta:";

/// Table versions in plans on their way to the scheduler, by (table, version, part).
static IN_PLANS: LazyLock<Mutex<HashMap<(Url, u64, Option<u64>), Weak<dyn TableProvider>>>> = LazyLock::new(Default::default);

#[derive(serde::Serialize, serde::Deserialize)]
struct Named {
    url: Url,
    version: u64,
    /// Some of the version's files only (a model refresh reads the files added since).
    #[serde(default)]
    part: Option<u64>,
}

/// Ballista's logical codec, plus Delta table versions.
#[derive(Debug, Default)]
pub struct SquallLogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
}

impl SquallLogicalCodec {
    pub fn shared() -> Arc<dyn LogicalExtensionCodec> {
        Arc::new(Self::default())
    }
}

impl LogicalExtensionCodec for SquallLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(&self, buf: &[u8], table_ref: &TableReference, schema: SchemaRef, ctx: &TaskContext) -> Result<Arc<dyn TableProvider>> {
        let Some(named) = buf.strip_prefix(TAG) else {
            return self.ballista.try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        let Named { url, version, part } = serde_json::from_slice(named).map_err(|e| DataFusionError::Internal(format!("a Delta table in a plan: {e}")))?;
        IN_PLANS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(url.clone(), version, part))
            .and_then(Weak::upgrade)
            .ok_or_else(|| DataFusionError::Plan(format!("version {version} of the Delta table at {url} is no longer held by the query that read it")))
    }

    fn try_encode_table_provider(&self, table_ref: &TableReference, node: Arc<dyn TableProvider>, buf: &mut Vec<u8>) -> Result<()> {
        let Some(snapshot) = (node.as_ref() as &dyn std::any::Any).downcast_ref::<DeltaSnapshot>() else {
            return self.ballista.try_encode_table_provider(table_ref, node, buf);
        };
        let key = (snapshot.url.clone(), snapshot.version, snapshot.part);
        buf.extend_from_slice(TAG);
        serde_json::to_writer(&mut *buf, &Named { url: key.0.clone(), version: key.1, part: key.2 }).map_err(|e| DataFusionError::Internal(e.to_string()))?;
        let mut in_plans = IN_PLANS.lock().unwrap_or_else(|p| p.into_inner());
        in_plans.retain(|_, held| held.strong_count() > 0);
        in_plans.insert(key, Arc::downgrade(&node));
        Ok(())
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }
}
