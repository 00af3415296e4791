//! `EVALUATE MODEL name [ON query]`: the holdout metrics recorded at training, or metrics of the
//! model over any query's rows (features and target matched by name; other columns ignored),
//! computed on the executors. Rows: `(metric, value)`, then the confusion matrix as
//! `('confusion', rows, actual, predicted)`. Needs USAGE on the model.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::Column;
use datafusion::logical_expr::{cast, Expr, LogicalPlanBuilder};
use squall_udf::ml::features::Kind;
use squall_udf::ml::model::Task;
use squall_udf::ml::store;

use crate::error::{Result, SquallError};
use crate::models::train::evaluate_on;
use crate::session::{Output, Session};

const ALIAS: &str = "evaluation";

pub(super) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("metric", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("actual", DataType::Utf8, true),
        Field::new("predicted", DataType::Utf8, true),
    ]))
}

pub(super) async fn run(session: &Session, reference: &str, on: Option<&str>) -> Result<Output> {
    let (entry, version) = session.engine.models.resolve(reference)?;
    crate::access::checks::check_model(session, &entry.name)?;
    let (metrics, confusion) = match on {
        None => {
            if version.metrics.is_empty() {
                session.notice(format!("{reference} was trained with holdout = 0: there are no holdout metrics"));
            }
            (version.metrics.clone(), version.confusion.clone())
        }
        Some(query) => {
            let model = store::load(&version.url)?;
            let plan = session.planner().sql(query).await?;
            let plan = LogicalPlanBuilder::from(plan).alias(ALIAS)?.build()?;
            let names: Vec<String> = plan.schema().fields().iter().map(|f| f.name().clone()).collect();
            let column = |name: &str, kind: Kind| -> Result<Expr> {
                if !names.iter().any(|n| n == name) {
                    return Err(SquallError::UndefinedColumn(format!(
                        "the query has no column \"{name}\"; {} needs its features and target by name",
                        model.signature()
                    )));
                }
                Ok(cast(Expr::Column(Column::new(Some(ALIAS), name)), kind.arrow_type()))
            };
            let target = match &model.target {
                Some(t) => Some(column(&t.name, if model.task == Task::Regression { Kind::Numeric } else { Kind::Categorical })?),
                None => None,
            };
            let features = model.features.iter().map(|f| column(&f.name, f.kind)).collect::<Result<Vec<_>>>()?;
            match evaluate_on(session, plan, &version.url, target.as_ref(), &features).await? {
                Some(tally) => (tally.metrics(), tally.confusion()),
                None => (vec![("rows".to_string(), 0.0)], vec![]),
            }
        }
    };
    let mut metric = Vec::new();
    let mut value = Vec::new();
    let mut actual = Vec::new();
    let mut predicted = Vec::new();
    for (m, v) in metrics {
        metric.push(m);
        value.push(v);
        actual.push(None);
        predicted.push(None);
    }
    for (a, p, n) in confusion {
        metric.push("confusion".to_string());
        value.push(n as f64);
        actual.push(Some(a));
        predicted.push(Some(p));
    }
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(metric)),
            Arc::new(Float64Array::from(value)),
            Arc::new(StringArray::from(actual)),
            Arc::new(StringArray::from(predicted)),
        ],
    )?;
    Output::from_batches(schema(), vec![batch])
}
