//! Result columns in types PostgreSQL has. DataFusion gives `row_number()`, `rank()` and friends
//! the type UInt64, which has no PostgreSQL counterpart (arrow-pg would send it as `numeric`,
//! and drivers would hand applications decimals); PostgreSQL's own functions return `bigint`.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{cast, Expr, LogicalPlan, LogicalPlanBuilder};

/// `plan` with every UInt64 output column cast to Int64 (names unchanged); other plans as they are.
pub fn with_postgres_types(plan: LogicalPlan) -> Result<LogicalPlan> {
    if !plan.schema().fields().iter().any(|f| f.data_type() == &DataType::UInt64) {
        return Ok(plan);
    }
    let exprs: Vec<Expr> = plan
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(Column::from((qualifier, field)));
            if field.data_type() == &DataType::UInt64 {
                cast(column, DataType::Int64).alias_qualified(qualifier.cloned(), field.name())
            } else {
                column
            }
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn rank_is_bigint_with_its_name() {
        let ctx = SessionContext::new();
        let plan = ctx
            .state()
            .create_logical_plan("SELECT x, rank() OVER (ORDER BY x) AS place FROM (VALUES (1), (2)) t(x)")
            .await
            .unwrap();
        assert_eq!(plan.schema().field(1).data_type(), &DataType::UInt64);
        let plan = with_postgres_types(plan).unwrap();
        assert_eq!(plan.schema().field(1).data_type(), &DataType::Int64);
        assert_eq!(plan.schema().field(1).name(), "place");
        let batches = ctx.execute_logical_plan(plan).await.unwrap().collect().await.unwrap();
        assert_eq!(batches[0].num_rows(), 2);
    }
}
