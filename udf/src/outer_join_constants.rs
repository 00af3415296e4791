//! Outer joins do not make their padded side's columns constants.
//!
//! DataFusion carries each join input's equivalence properties into the join's output
//! (`EquivalenceGroup::join`), the constants of the side an outer join pads with NULLs included:
//! in `t3 r1 RIGHT JOIN t3 r2 ON r1.id > r2.b AND r1.id = 4`, `r1.id = 4` is pushed below the
//! join onto `r1`, and the join's output then claimed `r1.id` is always 4, where it is 4 or NULL.
//! `ORDER BY r1.id DESC, r2.id DESC LIMIT 2` lost its first key and answered two other rows than
//! PostgreSQL (differential seed 14, query 194387).
//!
//! [`PaddedSideNotConstant`], first among the physical optimizer rules, puts a projection above
//! such a side that passes each column through `CASE WHEN random() >= 0 THEN column END`: the same
//! value, which DataFusion's equivalence analysis cannot take for a constant (an expression is a
//! constant there only when all its inputs are, and `random()` is not). Only a side with a
//! constant gets it.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{JoinType, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::physical_expr::expressions::{BinaryExpr, CaseExpr, Column, Literal};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::{HashJoinExec, NestedLoopJoinExec, SortMergeJoinExec, SymmetricHashJoinExec};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use datafusion::logical_expr::Operator;

#[derive(Debug)]
pub struct PaddedSideNotConstant;

impl PhysicalOptimizerRule for PaddedSideNotConstant {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(join_type) = join_type(&node) else { return Ok(Transformed::no(node)) };
            let padded: &[usize] = match join_type {
                JoinType::Left => &[1],
                JoinType::Right => &[0],
                JoinType::Full => &[0, 1],
                _ => &[],
            };
            let mut children: Vec<Arc<dyn ExecutionPlan>> = node.children().into_iter().cloned().collect();
            let mut changed = false;
            for &side in padded {
                if children[side].equivalence_properties().constants().is_empty() {
                    continue;
                }
                children[side] = not_constant(Arc::clone(&children[side]), config)?;
                changed = true;
            }
            if !changed {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(datafusion::physical_plan::execution_plan::replace_children_if_necessary(node, children)?))
        })
        .data()
    }

    fn name(&self) -> &str {
        "squall_padded_side_not_constant"
    }

    fn schema_check(&self) -> bool {
        false
    }
}

fn join_type(node: &Arc<dyn ExecutionPlan>) -> Option<JoinType> {
    if let Some(join) = node.downcast_ref::<HashJoinExec>() {
        return Some(*join.join_type());
    }
    if let Some(join) = node.downcast_ref::<NestedLoopJoinExec>() {
        return Some(*join.join_type());
    }
    if let Some(join) = node.downcast_ref::<SortMergeJoinExec>() {
        return Some(join.join_type());
    }
    node.downcast_ref::<SymmetricHashJoinExec>().map(|join| *join.join_type())
}

/// `input` under a projection of each of its columns through `CASE WHEN random() >= 0 THEN c
/// END`.
fn not_constant(input: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
    let random = datafusion::functions::math::random();
    let schema = input.schema();
    let random: Arc<dyn PhysicalExpr> = Arc::new(ScalarFunctionExpr::try_new(random, vec![], &schema, Arc::new(config.clone()))?);
    let always: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(random, Operator::GtEq, Arc::new(Literal::new(ScalarValue::Float64(Some(0.0))))));
    let expressions = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(field.name(), i));
            let case = CaseExpr::try_new(None, vec![(Arc::clone(&always), column)], None)?;
            Ok(ProjectionExpr::new(Arc::new(case) as Arc<dyn PhysicalExpr>, field.name().clone()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(ProjectionExec::try_new(expressions, input)?))
}
