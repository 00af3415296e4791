//! Creating Delta tables and appending rows: each statement is one commit.
//!
//! The rows stream through delta-rs's writer (files of its target size, statistics for file
//! skipping) and become visible in one commit at the end; a statement that fails, or a process
//! killed, before the commit leaves at most files no version names (VACUUM removes them).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use deltalake::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::StructType;
use deltalake::protocol::SaveMode;
use futures::StreamExt;
use url::Url;

use super::{errors, DeltaTables};
use crate::error::{Result, SquallError};

/// Who commits, recorded in each commit's `commitInfo` (DESCRIBE HISTORY shows it).
#[derive(Debug, Clone)]
pub struct Committer {
    pub user: String,
}

impl Committer {
    pub fn properties(&self) -> CommitProperties {
        CommitProperties::default().with_metadata(self.metadata())
    }

    /// What each commit's `commitInfo` records of who made it.
    pub fn metadata(&self) -> std::collections::HashMap<String, serde_json::Value> {
        [("userName".to_string(), serde_json::Value::String(self.user.clone()))].into()
    }

    /// An append's: it conflicts with nothing, so it only has to find a free version (under many
    /// concurrent writers delta-rs's default 15 attempts ran out: 40001 for 8 sessions inserting
    /// at once). And it leaves expired log entries to compaction and VACUUM: cleaning them up
    /// lists the whole log, which made each small INSERT slower than the one before.
    pub fn append_properties(&self) -> CommitProperties {
        self.properties().with_max_retries(APPEND_ATTEMPTS).with_cleanup_expired_logs(Some(false))
    }
}

/// `schema` as a Delta table stores it, read back: what a query of the table will see. A type
/// Delta has no equivalent of is refused (0A000).
pub fn delta_schema(schema: &Schema) -> Result<Schema> {
    let delta = kernel_schema(schema)?;
    let arrow: Schema = (&delta).try_into_arrow().map_err(|e| SquallError::Internal(format!("reading back a Delta schema: {e}")))?;
    // Without Delta's field metadata; with the declared nullability.
    Ok(Schema::new(
        arrow.fields().iter().zip(schema.fields()).map(|(f, declared)| Field::new(f.name(), f.data_type().clone(), declared.is_nullable())).collect::<Vec<_>>(),
    ))
}

/// `schema` in Delta's types; 0A000 naming the column Delta has no type for. Timestamps are
/// microseconds in Delta (PostgreSQL's precision too); one with a time zone is an instant,
/// stored as UTC.
pub fn kernel_schema(schema: &Schema) -> Result<StructType> {
    use datafusion::arrow::datatypes::{DataType, TimeUnit};
    let schema = Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Timestamp(_, tz) => {
                    f.as_ref().clone().with_data_type(DataType::Timestamp(TimeUnit::Microsecond, tz.as_ref().map(|_| "UTC".into())))
                }
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    );
    let schema = &schema;
    for field in schema.fields() {
        let one = Schema::new(vec![field.as_ref().clone()]);
        if TryIntoKernel::<StructType>::try_into_kernel(&one).is_err() {
            return Err(SquallError::Unsupported(format!(
                "column \"{}\" has type {}, which a Delta Lake table cannot store",
                field.name(),
                crate::copy::from_stdin::sql_type_name(field.data_type())
            )));
        }
    }
    schema.try_into_kernel().map_err(|e| SquallError::Unsupported(format!("a Delta Lake table cannot store these columns: {}", first_line(&e.to_string()))))
}

/// The message of a delta-kernel error, without the backtrace its text carries.
pub fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}

/// How many versions an append tries before giving up (each taken by another commit meanwhile).
pub(super) const APPEND_ATTEMPTS: usize = 10_000;

pub(super) fn writer_properties() -> WriterProperties {
    // Snappy, as Spark and DuckDB write by default: every reader of a ZSTD column chunk makes
    // zstd contexts of its own, which was a twentieth of a small lookup's CPU (pgbench).
    WriterProperties::builder().set_compression(Compression::SNAPPY).build()
}

impl DeltaTables {
    /// Creates an empty table at `url` (version 0). Refused if one exists there.
    pub async fn create(&self, url: &Url, name: &str, schema: &Schema, committer: &Committer) -> Result<()> {
        let delta = kernel_schema(schema)?;
        let table = self.unloaded(url)?;
        table
            .create()
            .with_table_name(name)
            .with_columns(delta.fields().cloned())
            .with_save_mode(SaveMode::ErrorIfExists)
            .with_commit_properties(committer.properties())
            .await
            .map_err(|e| errors::classify(format!("creating table \"{name}\" at {url}"), e))?;
        self.forget(url);
        Ok(())
    }

    /// Appends `rows` (cast to `schema`, the table's) to the table at `url` in one commit and
    /// returns how many there were. With `create`, the table is created by that same commit
    /// (CREATE TABLE AS): it exists with all its rows or not at all.
    pub async fn append(
        &self,
        url: &Url,
        schema: SchemaRef,
        rows: SendableRecordBatchStream,
        committer: &Committer,
        create: Option<&str>,
    ) -> Result<u64> {
        Ok(self.append_recording(url, schema, rows, committer, create, &[]).await?.0)
    }

    /// [`Self::append`], the commit recording `transactions` (producers' batches, `txn` actions);
    /// returns the rows and the version committed.
    pub(super) async fn append_recording(
        &self,
        url: &Url,
        schema: SchemaRef,
        rows: SendableRecordBatchStream,
        committer: &Committer,
        create: Option<&str>,
        transactions: &[deltalake::kernel::Transaction],
    ) -> Result<(u64, u64)> {
        let rows = match create {
            Some(_) => rows,
            None => match small(rows, &schema).await? {
                Gathered::Small(batches) => {
                    if let Some(committed) = self.small_append(url, &batches, committer, transactions).await? {
                        return Ok(committed);
                    }
                    replay(&schema, batches, None)
                }
                Gathered::Large(batches, rest) => replay(&schema, batches, Some(rest)),
            },
        };
        let input = Arc::new(OneShot::new(Arc::clone(&schema), rows));
        let source = StreamingTable::try_new(Arc::clone(&schema), vec![input.clone() as Arc<dyn PartitionStream>])?;
        let plan = LogicalPlanBuilder::scan("rows", provider_as_source(Arc::new(source)), None)?.build()?;
        let table = match create {
            Some(_) => self.unloaded(url)?,
            None => self.latest(url).await?,
        };
        let mut write = table
            .write(Vec::new())
            .with_input_plan(plan)
            .with_session_state(Arc::new(self.write_session()))
            .with_session_fallback_policy(deltalake::delta_datafusion::SessionFallbackPolicy::RequireSessionState)
            .with_writer_properties(writer_properties())
            .with_commit_properties(committer.append_properties().with_application_transactions(transactions.to_vec()));
        if let Some(name) = create {
            write = write.with_save_mode(SaveMode::ErrorIfExists).with_table_name(name);
        }
        let written = write.await;
        // The input's own error (a bad value, a failed query) is the statement's error; delta-rs
        // reports it as text.
        if let Some(e) = input.failure() {
            return Err(e);
        }
        let table = written.map_err(|e| errors::classify(format!("writing to the table at {url}"), e))?;
        self.remember(url, &table);
        self.files_unknown(url);
        Ok((input.rows.load(Ordering::Relaxed), table.version().unwrap_or_default() as u64))
    }

    /// The session delta-rs plans a write in (its own, with the planner for its write nodes):
    /// one partition, as the rows come as one stream.
    fn write_session(&self) -> datafusion::execution::SessionState {
        self.write_session
            .get_or_init(|| {
                let one_partition = [("datafusion.execution.target_partitions".to_string(), "1".to_string())].into();
                deltalake::delta_datafusion::DeltaSessionContext::new_with_session_overrides(&one_partition)
                    .expect("a valid DataFusion setting")
                    .state()
            })
            .clone()
    }
}

/// A statement's rows, read up to [`SMALL_APPEND_BYTES`](super::small_append::SMALL_APPEND_BYTES).
enum Gathered {
    /// All of them, in the table's columns (at least one row).
    Small(Vec<RecordBatch>),
    /// Those read so far (in the table's columns), and the rest.
    Large(Vec<RecordBatch>, SendableRecordBatchStream),
}

/// Reads `rows` until they end or pass the size of a small append. The first bad row is the
/// statement's error, as when the writer reads them.
async fn small(mut rows: SendableRecordBatchStream, schema: &SchemaRef) -> Result<Gathered> {
    let (mut batches, mut bytes, mut count) = (Vec::new(), 0, 0);
    while let Some(batch) = rows.next().await {
        let batch = conform(batch?, schema)?;
        bytes += batch.get_array_memory_size();
        count += batch.num_rows();
        batches.push(batch);
        if bytes > super::small_append::SMALL_APPEND_BYTES {
            return Ok(Gathered::Large(batches, rows));
        }
    }
    // No rows: delta-rs's writer commits the empty append as it always did.
    Ok(if count == 0 { Gathered::Large(batches, rows) } else { Gathered::Small(batches) })
}

/// The rows read already, then the rest.
fn replay(schema: &SchemaRef, read: Vec<RecordBatch>, rest: Option<SendableRecordBatchStream>) -> SendableRecordBatchStream {
    let read = futures::stream::iter(read.into_iter().map(Ok));
    let stream = match rest {
        Some(rest) => read.chain(rest).boxed(),
        None => read.boxed(),
    };
    Box::pin(RecordBatchStreamAdapter::new(Arc::clone(schema), stream))
}

/// A statement's rows, read once by delta-rs's writer; each batch is checked and cast to the
/// table's columns on the way, and counted.
struct OneShot {
    schema: SchemaRef,
    rows: Arc<AtomicU64>,
    stream: Mutex<Option<SendableRecordBatchStream>>,
    failure: Arc<Mutex<Option<SquallError>>>,
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneShot").field("schema", &self.schema).finish()
    }
}

impl OneShot {
    fn new(schema: SchemaRef, rows: SendableRecordBatchStream) -> Self {
        Self { schema, rows: Default::default(), stream: Mutex::new(Some(rows)), failure: Default::default() }
    }

    fn failure(&self) -> Option<SquallError> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let schema = Arc::clone(&self.schema);
        let Some(stream) = self.stream.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            let error = DataFusionError::Internal("a statement's rows were read twice".into());
            return Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::once(async move { Err(error) })));
        };
        let failure = Arc::clone(&self.failure);
        let counted = Arc::clone(&self.rows);
        let table_schema = Arc::clone(&schema);
        let checked = stream.map(move |batch| {
            let result = batch.map_err(SquallError::from).and_then(|batch| conform(batch, &table_schema));
            match result {
                Ok(batch) => {
                    counted.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                    Ok(batch)
                }
                Err(e) => {
                    let message = e.to_string();
                    failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                    Err(DataFusionError::Execution(message))
                }
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, checked))
    }
}

/// The batch with the table's column names, types and nullability.
pub fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.num_columns() != schema.fields().len() {
        return Err(SquallError::InvalidParameter(format!(
            "INSERT has {} columns but the table has {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if !field.is_nullable() && column.null_count() > 0 {
                return Err(SquallError::NotNullViolation(format!(
                    "null value in column \"{}\" violates not-null constraint",
                    field.name()
                )));
            }
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                Ok(cast(column, field.data_type()).map_err(DataFusionError::from)?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns).map_err(DataFusionError::from)?)
}
