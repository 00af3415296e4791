//! `interval * number`, `number * interval` and `interval / number`, which PostgreSQL computes
//! and DataFusion refuses ("Invalid interval arithmetic operation"): the SQL planner hands each
//! binary operator to the session's [`ExprPlanner`]s first (DataFusion's seam for operators it
//! lacks), and this one writes those three as calls of `interval_mul` / `interval_div`
//! ([`crate::functions::interval_scale`], PostgreSQL's functions of those names). Every other
//! operator, and operands whose types are not known yet (parameters), are left as they are.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{Expr, ExprSchemable, ScalarUDF};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::functions::interval_scale::{IntervalScale, Scaling};

/// Holds the two functions it writes calls of.
#[derive(Debug)]
pub struct IntervalArithmetic {
    multiply: Arc<ScalarUDF>,
    divide: Arc<ScalarUDF>,
}

impl Default for IntervalArithmetic {
    fn default() -> Self {
        Self { multiply: Arc::new(ScalarUDF::from(IntervalScale::new(Scaling::Multiply))), divide: Arc::new(ScalarUDF::from(IntervalScale::new(Scaling::Divide))) }
    }
}

impl ExprPlanner for IntervalArithmetic {
    fn plan_binary_op(&self, expr: RawBinaryExpr, schema: &DFSchema) -> Result<PlannerResult<RawBinaryExpr>> {
        let kind = |e: &Expr| match e.get_type(schema) {
            Ok(DataType::Interval(_)) => Operand::Interval,
            Ok(t) if t.is_numeric() => Operand::Number,
            _ => Operand::Other,
        };
        let (left, right) = (kind(&expr.left), kind(&expr.right));
        let call = match (&expr.op, left, right) {
            (BinaryOperator::Multiply, Operand::Interval, Operand::Number) => Some((Scaling::Multiply, false)),
            (BinaryOperator::Multiply, Operand::Number, Operand::Interval) => Some((Scaling::Multiply, true)),
            (BinaryOperator::Divide, Operand::Interval, Operand::Number) => Some((Scaling::Divide, false)),
            _ => None,
        };
        let Some((scaling, swapped)) = call else { return Ok(PlannerResult::Original(expr)) };
        let RawBinaryExpr { left, right, .. } = expr;
        let args = if swapped { vec![right, left] } else { vec![left, right] };
        let function = match scaling {
            Scaling::Multiply => &self.multiply,
            Scaling::Divide => &self.divide,
        };
        Ok(PlannerResult::Planned(Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(function), args))))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operand {
    Interval,
    Number,
    Other,
}
