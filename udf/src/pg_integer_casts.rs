//! Casts of floats and numerics to integer types round as PostgreSQL's do, where DataFusion's
//! truncate: `CAST(1.7 AS int)` is 2, `avg(x)::int` the nearest whole number, and an INSERT of
//! 1.7 into an int column stores 2.
//!
//! PostgreSQL rounds a float8 or float4 with `rint()` (ties to even: 2.5 → 2) and a numeric ties
//! away from zero (2.5 → 3). squall reads a literal such as `2.5` as a float where PostgreSQL
//! reads a numeric, so a literal (and a column of a VALUES list of literals, as in `INSERT ...
//! VALUES (2.5)`) rounds as a numeric would. An analyzer rule after type coercion, as
//! [`crate::pg_casts`] is, so that the casts coercion adds are caught with the ones written.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::{lit, Expr, ExprSchemable, LogicalPlan, ScalarUDF};
use datafusion::optimizer::AnalyzerRule;

use crate::functions::integer_rounding::PgRoundToInteger;

#[derive(Debug)]
pub struct PostgresIntegerCasts {
    round: Arc<ScalarUDF>,
}

impl PostgresIntegerCasts {
    pub fn new() -> Self {
        Self { round: Arc::new(ScalarUDF::from(PgRoundToInteger::new())) }
    }
}

impl Default for PostgresIntegerCasts {
    fn default() -> Self {
        Self::new()
    }
}

impl AnalyzerRule for PostgresIntegerCasts {
    fn name(&self) -> &str {
        "squall_postgres_integer_casts"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        crate::pg_casts::rewrite_expressions(plan, literal_values_columns, |e, schema, literal_columns| self.rewrite(e, schema, literal_columns))
    }
}

impl PostgresIntegerCasts {
    fn rewrite(&self, expr: Expr, schema: &DFSchema, literal_columns: &HashSet<String>) -> Result<Transformed<Expr>> {
        let (inner, to) = match &expr {
            Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => (expr, field.data_type()),
            _ => return Ok(Transformed::no(expr)),
        };
        if !to.is_integer() {
            return Ok(Transformed::no(expr));
        }
        // A type that cannot be worked out here is left to DataFusion's cast.
        let Ok(from) = inner.get_type(schema) else { return Ok(Transformed::no(expr)) };
        if !PgRoundToInteger::rounds(&from) || is_rounded(inner) {
            return Ok(Transformed::no(expr));
        }
        let written_as_numeric = match inner.as_ref() {
            Expr::Literal(..) => true,
            Expr::Negative(negated) => matches!(negated.as_ref(), Expr::Literal(..)),
            Expr::Column(column) => literal_columns.contains(&column.name),
            _ => false,
        };
        let ties_to_even = matches!(from, DataType::Float32 | DataType::Float64) && !written_as_numeric;
        let rounded = Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(&self.round), vec![inner.as_ref().clone(), lit(ScalarValue::Boolean(Some(ties_to_even)))]));
        Ok(Transformed::yes(match expr {
            Expr::Cast(Cast { field, .. }) => Expr::Cast(Cast { expr: Box::new(rounded), field }),
            Expr::TryCast(TryCast { field, .. }) => Expr::TryCast(TryCast { expr: Box::new(rounded), field }),
            other => other,
        }))
    }
}

/// Whether `expr` is already rounded by this rule (analysis may run over a plan twice).
fn is_rounded(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(f) if f.func.name() == crate::functions::integer_rounding::PG_ROUND_TO_INTEGER)
}

/// For a projection straight over a VALUES list, its columns whose every value is a literal
/// (what PostgreSQL would read as numerics).
fn literal_values_columns(node: &LogicalPlan) -> HashSet<String> {
    let LogicalPlan::Projection(projection) = node else { return HashSet::new() };
    let LogicalPlan::Values(values) = projection.input.as_ref() else { return HashSet::new() };
    let literal = |e: &Expr| {
        let mut e = e;
        loop {
            match e {
                Expr::Literal(..) => return true,
                Expr::Cast(c) => e = &c.expr,
                Expr::TryCast(c) => e = &c.expr,
                Expr::Negative(n) => e = n,
                Expr::Alias(a) => e = &a.expr,
                _ => return false,
            }
        }
    };
    values
        .schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(i, _)| values.values.iter().all(|row| row.get(*i).is_some_and(literal)))
        .map(|(_, f)| f.name().clone())
        .collect()
}
