//! DataFusion's physical pushdowns of filters and projections, except through plans where a
//! column name repeats.
//!
//! These rules find an expression's columns in each operator's input by name. Where an
//! operator's output has two columns of one name — a join of `r1` and `r2` has `c` twice — they
//! take the second for the first:
//! - the physical `FilterPushdown` rules (the one that moves `FilterExec` predicates down, and
//!   the one that routes the dynamic filters of hash joins and TopK sorts) moved a condition on
//!   the second onto the first: `SELECT r2.id FROM t2 r1 RIGHT JOIN t1 r2 ON ... WHERE r1.c > 0
//!   OR r2.c < 0` filtered `t1`'s rows by `t1.c > 0 OR t1.c < 0` below the join and answered
//!   eight rows where PostgreSQL answers one (differential test, seed 13, query 7594;
//!   apache/datafusion#21246 and #25296, fixed upstream by mapping columns by position, in a
//!   release Ballista does not build with yet);
//! - `ProjectionPushdown`, run a second time over a filter whose embedded projection it had made
//!   of `r1.a, r1.b, r1.c, r2.a, r2.b, r2.c`, built a projection reading `a` where it meant `c`;
//!   DataFusion's own name check stopped it with XX000 ("Input field name a does not match with
//!   the projection expression c", differential seed 14, query 185083), and where the names had
//!   agreed it would have read the other side's column. Upstream means to reject such plans
//!   (apache/datafusion#24073).
//!
//! [`UnlessNamesRepeat`] wraps each of these rules and leaves such a plan as it is: the logical
//! optimizer has already pushed what it can to the scans and pruned the columns, so what is lost
//! is a few projections merged into their inputs and the dynamic filters of those plans, never
//! an answer.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::Result;
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;

/// The names of the DataFusion rules this one wraps.
pub const WRAPS: &[&str] = &["FilterPushdown", "FilterPushdown(Post)", "ProjectionPushdown"];

#[derive(Debug)]
pub struct UnlessNamesRepeat(pub Arc<dyn PhysicalOptimizerRule + Send + Sync>);

impl PhysicalOptimizerRule for UnlessNamesRepeat {
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
