//! A panic while a statement runs (a bug in squall, DataFusion or a function) fails that
//! statement with XX000 instead of ending the client's connection: the client keeps its session,
//! as a PostgreSQL backend's ERROR leaves it usable. The panic is still logged with its backtrace
//! by the default hook, for whoever fixes the bug.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::{FutureExt, Stream};

use crate::error::{Result, SquallError};

/// `work`, with a panic turned into an internal error.
pub async fn contained<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    AssertUnwindSafe(work).catch_unwind().await.unwrap_or_else(|panic| Err(SquallError::Internal(described(panic.as_ref()))))
}

/// `rows`, ending with an internal error where producing the next batch panicked.
pub fn contained_rows(rows: SendableRecordBatchStream) -> SendableRecordBatchStream {
    Box::pin(ContainedRows { schema: rows.schema(), rows: Some(rows) })
}

struct ContainedRows {
    schema: SchemaRef,
    /// `None` once a panic ended it: a stream that panicked is not polled again.
    rows: Option<SendableRecordBatchStream>,
}

impl Stream for ContainedRows {
    type Item = datafusion::error::Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(rows) = self.rows.as_mut() else { return Poll::Ready(None) };
        match std::panic::catch_unwind(AssertUnwindSafe(|| rows.as_mut().poll_next(cx))) {
            Ok(poll) => poll,
            Err(panic) => {
                self.rows = None;
                Poll::Ready(Some(Err(DataFusionError::Internal(described(panic.as_ref())))))
            }
        }
    }
}

impl RecordBatchStream for ContainedRows {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

fn described(panic: &(dyn Any + Send)) -> String {
    let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
    format!("the statement failed on a bug (a panic: {what}); the connection is still usable")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Schema;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_panicking_statement_is_an_internal_error() {
        let failed = contained(async { if true { panic!("boom") } else { Ok(1) } }).await.unwrap_err();
        assert!(matches!(&failed, SquallError::Internal(m) if m.contains("boom")), "{failed:?}");
    }

    #[tokio::test]
    async fn rows_that_panic_end_with_an_internal_error() {
        let schema = std::sync::Arc::new(Schema::empty());
        let batch = RecordBatch::new_empty(schema.clone());
        let mut sent = 0;
        let panicking = futures::stream::poll_fn(move |_| {
            sent += 1;
            if sent > 1 {
                panic!("second batch")
            }
            Poll::Ready(Some(Ok(batch.clone())))
        });
        let rows = contained_rows(Box::pin(RecordBatchStreamAdapter::new(schema, panicking)));
        let items: Vec<_> = rows.collect().await;
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert!(matches!(&items[1], Err(DataFusionError::Internal(m)) if m.contains("second batch")), "{:?}", items[1]);
    }
}
