//! Training rows kept in the executor's memory for the passes of a training.
//!
//! Training is a sequence of passes over the same rows (a boosted model's 600 level passes, a
//! logistic regression's Newton steps), each an aggregate over a scan of the same files. Reading
//! and decoding the Parquet columns again in every pass was a pass's largest fixed cost (at 10M
//! rows, 0.35 s of a boosting level pass's 0.86 s). Spark MLlib persists its training data for
//! the same reason. Here, on the executor, before a stage runs, every file scan under a
//! training pass's aggregate (`squall_train_pass`) gets a [`KeptRows`] above it ([`Above`]): the first pass
//! that reads a partition keeps its batches in this process; a later pass that reads the same
//! partition of the same scan (the same files, by path, size, modification time and tag, the
//! same byte ranges, columns and filters) replays them instead of reading the files.
//!
//! Only whole partitions are kept (a scan stopped early keeps nothing), at most [`MAX_BYTES`]
//! in a process (the partitions used longest ago are dropped first); a partition not kept (read
//! by another executor before, or dropped) is read from its files as before, so the answer never
//! depends on what was kept. Kept rows unused for [`IDLE`] are dropped.

use std::collections::HashMap;
use std::fmt::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{displayable, ExecutionPlan};
use futures::Stream;
use squall_udf::functions::train_pass;

use crate::pass_through::{Above, PassThrough};

/// Bytes of kept batches one process holds.
const MAX_BYTES: usize = 3_000_000_000;
/// Kept rows unused this long are dropped.
const IDLE: Duration = Duration::from_secs(300);

struct Kept {
    batches: Arc<Vec<RecordBatch>>,
    bytes: usize,
    used: Instant,
}

static KEPT: Mutex<Option<HashMap<String, Kept>>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<HashMap<String, Kept>>> {
    static JANITOR: Once = Once::new();
    JANITOR.call_once(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(IDLE / 5);
            if let Some(kept) = lock_only().as_mut() {
                kept.retain(|_, k| k.used.elapsed() <= IDLE);
            }
        });
    });
    lock_only()
}

fn lock_only() -> MutexGuard<'static, Option<HashMap<String, Kept>>> {
    // A panic while holding it leaves nothing half-done: entries are inserted whole.
    KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `stage` with a [`KeptRows`] above every file scan under a training pass's aggregate.
pub fn keep_training_rows(stage: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    Ok(stage
        .transform_down(|node| {
            let is_pass = node.downcast_ref::<AggregateExec>().is_some_and(|a| a.aggr_expr().iter().any(|e| e.fun().name() == train_pass::NAME));
            if !is_pass {
                return Ok(Transformed::no(node));
            }
            let node = node
                .transform_up(|below| {
                    let is_file_scan = below.downcast_ref::<DataSourceExec>().is_some_and(|scan| scan.data_source().is::<FileScanConfig>());
                    Ok(if is_file_scan { Transformed::yes(Arc::new(Above::new(below, KeptRows)) as Arc<dyn ExecutionPlan>) } else { Transformed::no(below) })
                })?
                .data;
            Ok(Transformed::new(node, true, TreeNodeRecursion::Jump))
        })?
        .data)
}

/// A file scan whose partitions are kept in memory once read whole, and replayed after.
#[derive(Debug, Clone)]
pub struct KeptRows;

impl KeptRows {
    /// What names a partition's rows: the scan (its files, columns, filters, format) and the
    /// partition's files by path, size, modification time, tag and byte range.
    fn key(input: &Arc<dyn ExecutionPlan>, partition: usize) -> Option<String> {
        let scan = input.downcast_ref::<DataSourceExec>()?;
        let config = scan.data_source().downcast_ref::<FileScanConfig>()?;
        let mut key = displayable(input.as_ref()).one_line().to_string();
        for file in config.file_groups.get(partition)?.files() {
            let meta = &file.object_meta;
            let _ = write!(key, "|{}:{}:{}:{:?}:{:?}:{:?}", meta.location, meta.size, meta.last_modified.timestamp_nanos_opt().unwrap_or_default(), meta.e_tag, meta.version, file.range.as_ref().map(|r| (r.start, r.end)));
            let _ = write!(key, ":{:?}", file.partition_values);
        }
        Some(key)
    }
}

impl PassThrough for KeptRows {
    const NAME: &'static str = "KeptRows";

    fn execute(&self, input: &Arc<dyn ExecutionPlan>, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let schema = input.schema();
        let Some(key) = Self::key(input, partition) else { return input.execute(partition, context) };
        if let Some(kept) = lock().get_or_insert_with(HashMap::new).get_mut(&key) {
            kept.used = Instant::now();
            let batches = Arc::clone(&kept.batches);
            let replay = futures::stream::iter((0..batches.len()).map(move |i| Ok(batches[i].clone())));
            return Ok(Box::pin(RecordBatchStreamAdapter::new(schema, replay)));
        }
        Ok(Box::pin(Keeping { input: input.execute(partition, context)?, key: Some(key), batches: vec![], bytes: 0 }))
    }
}

/// A partition's batches as the scan reads them, kept once the scan has read it whole.
struct Keeping {
    input: SendableRecordBatchStream,
    /// `None` once kept, or given up (an error, or past the bound).
    key: Option<String>,
    batches: Vec<RecordBatch>,
    bytes: usize,
}

impl Stream for Keeping {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.input.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) if self.key.is_some() => {
                self.bytes += batch.get_array_memory_size();
                if self.bytes > MAX_BYTES {
                    self.key = None;
                    self.batches = vec![];
                } else {
                    let batch = batch.clone();
                    self.batches.push(batch);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                self.key = None;
                self.batches = vec![];
            }
            Poll::Ready(None) => {
                if let Some(key) = self.key.take() {
                    let batches = Arc::new(std::mem::take(&mut self.batches));
                    let bytes = self.bytes;
                    let mut guard = lock();
                    let kept = guard.get_or_insert_with(HashMap::new);
                    // Full: the partitions used longest ago go first (Ballista need not give
                    // this executor the same partitions in every pass).
                    while kept.values().map(|k| k.bytes).sum::<usize>() + bytes > MAX_BYTES {
                        let Some(oldest) = kept.iter().min_by_key(|(_, k)| k.used).map(|(key, _)| key.clone()) else { break };
                        kept.remove(&oldest);
                    }
                    kept.insert(key, Kept { batches, bytes, used: Instant::now() });
                }
            }
            _ => {}
        }
        polled
    }
}

impl RecordBatchStream for Keeping {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, Float64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::execution::SessionStateBuilder;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::physical_plan::collect;
    use datafusion::prelude::{ParquetReadOptions, SessionContext};

    use super::*;

    fn write_parquet(path: &std::path::Path, values: Vec<f64>) {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Float64, false)]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Float64Array::from(values))]).unwrap();
        let mut writer = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    async fn plan(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
        keep_training_rows(ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap()).unwrap()
    }

    fn kept_nodes(plan: &Arc<dyn ExecutionPlan>) -> Vec<Arc<dyn ExecutionPlan>> {
        let mut found = vec![];
        plan.apply(|node| {
            if node.downcast_ref::<Above<KeptRows>>().is_some() {
                found.push(Arc::clone(node));
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        found
    }

    /// A training pass's scan is kept and replayed (the very buffers); a file rewritten since
    /// is read again; other queries' scans are not kept.
    #[tokio::test]
    async fn a_training_pass_replays_its_scan_until_the_files_change() {
        let dir = std::env::temp_dir().join(format!("squall-kept-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.parquet");
        write_parquet(&file, vec![1.0, 2.0, 3.0]);
        let ctx = SessionContext::new_with_state(squall_udf::registry::install_functions(SessionStateBuilder::new()).build());
        ctx.register_parquet("t", file.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();

        assert!(kept_nodes(&plan(&ctx, "SELECT sum(a) FROM t").await).is_empty(), "not a training pass");
        let pass = format!("SELECT {}('linear_regression', 'spec', a) FROM t", train_pass::NAME);
        let kept = kept_nodes(&plan(&ctx, &pass).await);
        assert_eq!(kept.len(), 1, "the scan under the pass is kept");
        let read = |node: Arc<dyn ExecutionPlan>| async move { collect(node, Arc::new(TaskContext::default())).await.unwrap() };
        let first = read(Arc::clone(&kept[0])).await;
        let again = read(Arc::clone(&kept_nodes(&plan(&ctx, &pass).await)[0])).await;
        assert_eq!(first, again);
        assert!(first[0].column(0).to_data().ptr_eq(&again[0].column(0).to_data()), "replayed, not read again");

        // Rewritten (another size): read again, the new rows.
        write_parquet(&file, vec![1.0, 2.0, 3.0, 4.0]);
        ctx.deregister_table("t").unwrap();
        ctx.register_parquet("t", file.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
        let changed = read(Arc::clone(&kept_nodes(&plan(&ctx, &pass).await)[0])).await;
        assert_eq!(changed.iter().map(|b| b.num_rows()).sum::<usize>(), 4);
        assert_eq!(changed[0].column(0).len(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
