//! DataFusion's `RewriteSetComparison` (`x > ALL (SELECT ...)`, `x = ANY (...)` into EXISTS
//! subqueries) renames the columns it rewrites, and DataFusion's own check after each rule then
//! fails every such comparison in a select list ("Failed due to a difference in schemas"). This
//! rule runs DataFusion's, node by node, and gives each node's expressions back their names.

use datafusion::common::tree_node::Transformed;
use datafusion::common::Result;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::rewrite_set_comparison::RewriteSetComparison;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// The name of the rule this one stands in for.
pub const REPLACES: &str = "rewrite_set_comparison";

#[derive(Debug, Default)]
pub struct NamedSetComparisons {
    rule: RewriteSetComparison,
}

impl OptimizerRule for NamedSetComparisons {
    fn name(&self) -> &str {
        REPLACES
    }


    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        plan.transform_up_with_subqueries(|node| {
            // Bottom up, the node's inputs are already rewritten: DataFusion's rule changes only
            // the node's own expressions here.
            let names = NamePreserver::new(&node);
            let saved = node.expressions().iter().map(|e| names.save(e)).collect::<Vec<_>>();
            let rewritten = self.rule.rewrite(node, config)?;
            // Only these nodes name their columns after their expressions.
            let named = matches!(rewritten.data, LogicalPlan::Projection(_) | LogicalPlan::Aggregate(_) | LogicalPlan::Window(_));
            if !rewritten.transformed || !named {
                return Ok(rewritten);
            }
            let mut saved = saved.into_iter();
            rewritten.map_data(|node| node.map_expressions(|e| Ok(Transformed::yes(saved.next().expect("as many expressions").restore(e)))).map(|t| t.data))
        })
    }
}
