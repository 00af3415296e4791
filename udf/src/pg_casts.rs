//! Casts of floats and timestamps to text write PostgreSQL's forms (`10`, `1e+20`,
//! `2024-03-05 14:07:00`) rather than DataFusion's (`10.0`, `1e20`, `2024-03-05T14:07:00`):
//! `WHERE ts::text LIKE '2024-03-05 %'`, `'total: ' || x` and `to_json`-less string building
//! answer as in PostgreSQL.
//!
//! An analyzer rule, run after DataFusion's type coercion, so that the casts coercion adds
//! (`'x' || 2.5`) are caught with the ones written; the rewritten call travels to the executors
//! in the plan like any function.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, ScalarUDF};
use datafusion::optimizer::AnalyzerRule;
use datafusion::arrow::datatypes::DataType;

use crate::functions::pg_text::PgText;

#[derive(Debug)]
pub struct PostgresTextCasts {
    pg_text: Arc<ScalarUDF>,
}

impl PostgresTextCasts {
    pub fn new() -> Self {
        Self { pg_text: Arc::new(ScalarUDF::from(PgText::new())) }
    }
}

impl Default for PostgresTextCasts {
    fn default() -> Self {
        Self::new()
    }
}

impl AnalyzerRule for PostgresTextCasts {
    fn name(&self) -> &str {
        "squall_postgres_text_casts"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        rewrite_expressions(plan, |_| (), |e, schema, _| self.rewrite(e, schema))
    }
}

/// Rewrites every expression of every node of `plan` (subqueries included), bottom up, with
/// `rewrite`, which sees the columns the node's inputs give (what its expressions read) and what
/// `per_node` made of the node; the node's output keeps its column names (`ts::text` stays `ts`).
/// The walk of squall's cast rules (this one and [`crate::pg_integer_casts`]).
pub(crate) fn rewrite_expressions<C>(
    plan: LogicalPlan,
    per_node: impl Fn(&LogicalPlan) -> C,
    rewrite: impl Fn(Expr, &DFSchema, &C) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let mut schema = DFSchema::empty();
        for input in node.inputs() {
            schema.merge(input.schema());
        }
        let context = per_node(&node);
        let names = NamePreserver::new(&node);
        node.map_expressions(|expr| {
            let name = names.save(&expr);
            Ok(expr.transform_up(|e| rewrite(e, &schema, &context))?.update_data(|e| name.restore(e)))
        })
    })
    .map(|transformed| transformed.data)
}

impl PostgresTextCasts {
    fn rewrite(&self, expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        let (inner, to) = match &expr {
            Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => (expr, field.data_type()),
            _ => return Ok(Transformed::no(expr)),
        };
        if !matches!(to, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
            return Ok(Transformed::no(expr));
        }
        // A type that cannot be worked out here is left to DataFusion's cast.
        let Ok(from) = inner.get_type(schema) else { return Ok(Transformed::no(expr)) };
        if !PgText::writes(&from) {
            return Ok(Transformed::no(expr));
        }
        let call = Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(&self.pg_text), vec![inner.as_ref().clone()]));
        // The function answers Utf8; another string type is a cast away.
        let call = if matches!(to, DataType::Utf8) { call } else { Expr::Cast(Cast::new(Box::new(call), to.clone())) };
        Ok(Transformed::yes(call))
    }
}
