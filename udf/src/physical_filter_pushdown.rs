//! DataFusion's physical filter pushdown, except through plans where a column name repeats.
//!
//! The physical `FilterPushdown` rules (the one that moves `FilterExec` predicates down, and the
//! one that routes the dynamic filters of hash joins and TopK sorts) find a filter's columns in
//! each operator's input by name. Where an operator's output has two columns of one name — a
//! join of `r1` and `r2` has `c` twice — a condition on the second is moved onto the first:
//! `SELECT r2.id FROM t2 r1 RIGHT JOIN t1 r2 ON ... WHERE r1.c > 0 OR r2.c < 0` filtered `t1`'s
//! rows by `t1.c > 0 OR t1.c < 0` below the join and answered eight rows where PostgreSQL
//! answers one (differential test, seed 13, query 7594; apache/datafusion#21246 and #25296,
//! fixed upstream by mapping columns by position, in a release Ballista does not build with yet).
//! [`FilterPushdownUnlessNamesRepeat`] wraps each of the two rules and leaves such a plan as it
//! is; the logical optimizer has already pushed what it can to the scans, so what is lost is
//! the dynamic filters of those plans, never an answer.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

/// The names of the DataFusion rules this one wraps.
pub const WRAPS: &[&str] = &["FilterPushdown", "FilterPushdown(Post)"];

#[derive(Debug)]
pub struct FilterPushdownUnlessNamesRepeat(pub Arc<dyn PhysicalOptimizerRule + Send + Sync>);

impl PhysicalOptimizerRule for FilterPushdownUnlessNamesRepeat {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        if repeats_a_column_name(&plan) {
            return Ok(plan);
        }
        self.0.optimize(plan, config)
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    fn schema_check(&self) -> bool {
        self.0.schema_check()
    }
}

/// Whether some operator of `plan` outputs two columns of one name.
pub fn repeats_a_column_name(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let mut found = false;
    let _ = plan.apply(|node| {
        let schema = node.schema();
        let mut names = HashSet::new();
        found = !schema.fields().iter().all(|field| names.insert(field.name()));
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}
