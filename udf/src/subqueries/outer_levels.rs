//! A subquery that refers to a query two or more levels out (`... WHERE EXISTS (SELECT ... WHERE
//! x IN (SELECT ... WHERE r3.b = r1.id))`, `r1` being the outermost query's) is refused with
//! 0A000. DataFusion's decorrelation, and squall's (`decorrelate`), turn one level into a join
//! at a time; DataFusion then refers to the far query's columns where they are not in scope,
//! and fails with 42703 or worse. A clear refusal, until squall decorrelates across levels.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DataFusionError, Result};
use datafusion::logical_expr::expr::{Exists, InSubquery, SetComparison};
use datafusion::logical_expr::{Expr, LogicalPlan, Subquery};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct RefuseFarOuterReferences;

impl AnalyzerRule for RefuseFarOuterReferences {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        check(&plan)?;
        Ok(plan)
    }

    fn name(&self) -> &str {
        "squall_refuse_far_outer_references"
    }
}

/// Fails if a subquery anywhere in `plan` refers to a column its own outer query does not have.
fn check(plan: &LogicalPlan) -> Result<()> {
    plan.apply(|node| {
        for subquery in subqueries_of(node) {
            let inputs = node.inputs();
            for column in own_outer_references(&subquery.subquery) {
                if !inputs.iter().any(|input| input.schema().has_column(&column)) {
                    return Err(DataFusionError::NotImplemented(format!(
                        "a subquery that refers to a query two or more levels out ({column}) is not supported yet"
                    )));
                }
            }
            check(&subquery.subquery)?;
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map(|_| ())
}

/// The subqueries of `node`'s own expressions (not of their subqueries).
fn subqueries_of(node: &LogicalPlan) -> Vec<Subquery> {
    let mut found = vec![];
    let _ = node.apply_expressions(|expr| {
        expr.apply(|e| {
            match e {
                Expr::ScalarSubquery(s)
                | Expr::Exists(Exists { subquery: s, .. })
                | Expr::InSubquery(InSubquery { subquery: s, .. })
                | Expr::SetComparison(SetComparison { subquery: s, .. }) => {
                    // Their own children are of this node (the left side of IN and ANY).
                    found.push(s.clone());
                }
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        })
    });
    found
}

/// The outer columns `plan`'s own nodes refer to (not those its subqueries refer to: an
/// expression's walk does not enter a subquery's plan).
fn own_outer_references(plan: &LogicalPlan) -> Vec<Column> {
    let mut found = vec![];
    let _ = plan.apply(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                match e {
                    Expr::OuterReferenceColumn(_, column) => found.push(column.clone()),
                    _ => {}
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}
