//! `pg_sleep(seconds)`, as in PostgreSQL: waits, then answers NULL (PostgreSQL's `void`, which
//! psql shows empty). The classic way to try a cancel request (psql's Ctrl-C) or
//! `statement_timeout`, and a delay in scripts. The wait is asynchronous, so a statement stopped
//! while it sleeps ends at once with 57014 and holds no thread meanwhile. It runs on the
//! coordinator (executors do not know it).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{new_null_array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// The longest one call waits, so that huge and infinite arguments still make a `Duration`
/// (PostgreSQL has no such bound; a statement that sleeps a day is stopped by hand anyway).
const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);

pub fn udf() -> ScalarUDF {
    AsyncScalarUDF::new(Arc::new(PgSleep { signature: Signature::uniform(1, vec![DataType::Float64], Volatility::Volatile) }))
    .into_scalar_udf()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgSleep {
    signature: Signature,
}

impl ScalarUDFImpl for PgSleep {
    fn name(&self) -> &str {
        "pg_sleep"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        exec_err!("pg_sleep is called asynchronously")
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for PgSleep {
    /// Sleeps once per row, one row after the other, as PostgreSQL evaluates it per row.
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let seconds: Vec<Option<f64>> = match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Float64(value)) => vec![*value; rows],
            ColumnarValue::Scalar(other) => return exec_err!("pg_sleep takes seconds as double precision, not {}", other.data_type()),
            ColumnarValue::Array(array) => array.as_primitive::<Float64Type>().iter().collect(),
        };
        for seconds in seconds.into_iter().flatten() {
            if seconds > 0.0 {
                tokio::time::sleep(Duration::try_from_secs_f64(seconds).unwrap_or(LONGEST).min(LONGEST)).await;
            }
        }
        Ok(ColumnarValue::Array(new_null_array(&DataType::Utf8, rows)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn sleeps_then_answers_null() {
        let ctx = SessionContext::new();
        ctx.register_udf(udf());
        let started = std::time::Instant::now();
        let batches = ctx.sql("SELECT pg_sleep(0.05), pg_sleep(1 - 1)").await.unwrap().collect().await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50), "{:?}", started.elapsed());
        assert_eq!(batches[0].num_rows(), 1);
        assert!(batches[0].column(0).is_null(0));
        let stopped = tokio::time::timeout(Duration::from_millis(100), ctx.sql("SELECT pg_sleep(30)").await.unwrap().collect()).await;
        assert!(stopped.is_err(), "dropping the statement ends the sleep");
    }
}
