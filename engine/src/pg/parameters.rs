//! Parameter types named by a cast, as PostgreSQL reads them: in `WHERE id = $1::bigint` or
//! `SELECT $1::text`, `$1` is a bigint or a text parameter. DataFusion leaves such a parameter
//! untyped, so the statement was described to drivers with an unknown parameter type, and
//! drivers that bind by the described type (tokio-postgres, asyncpg) could not send a value.
//! The same holds of `LIMIT $1` and `OFFSET $1`, which PostgreSQL takes as bigint.

use std::sync::Arc;

use datafusion::arrow::datatypes::Field;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Result;
use datafusion::logical_expr::expr::{Cast, Placeholder, TryCast};
use datafusion::logical_expr::{Expr, LogicalPlan};

/// `plan` with every untyped parameter directly under a cast given the cast's type, and those
/// of LIMIT and OFFSET typed bigint.
pub fn typed_by_casts(plan: LogicalPlan) -> Result<LogicalPlan> {
    Ok(plan
        .transform_up_with_subqueries(|node| {
            let limit = matches!(node, LogicalPlan::Limit(_));
            node.map_expressions(|expr| {
                if let (true, Expr::Placeholder(Placeholder { id, field: None })) = (limit, &expr) {
                    let field = Field::new("", datafusion::arrow::datatypes::DataType::Int64, true);
                    return Ok(Transformed::yes(Expr::Placeholder(Placeholder::new_with_field(id.clone(), Some(Arc::new(field))))));
                }
                expr.transform_up(|e| {
                    let (inner, data_type) = match &e {
                        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => (expr.as_ref(), field.data_type()),
                        _ => return Ok(Transformed::no(e)),
                    };
                    let Expr::Placeholder(Placeholder { id, field: None }) = inner else { return Ok(Transformed::no(e)) };
                    let typed = Expr::Placeholder(Placeholder::new_with_field(id.clone(), Some(Arc::new(Field::new("", data_type.clone(), true)))));
                    let rebuilt = match e {
                        Expr::Cast(Cast { field, .. }) => Expr::Cast(Cast { expr: Box::new(typed), field }),
                        Expr::TryCast(TryCast { field, .. }) => Expr::TryCast(TryCast { expr: Box::new(typed), field }),
                        other => other,
                    };
                    Ok(Transformed::yes(rebuilt))
                })
            })
        })?
        .data)
}
