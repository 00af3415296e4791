//! Physical plans kept with a cached query ([`crate::plans::statement_cache`]) and run again, for the
//! queries whose physical plan cannot go stale: after parsing and SQL planning, DataFusion's
//! optimiser and physical planner were most of what a short statement cost the coordinator.
//!
//! A physical plan holds more than its logical plan: the files of each table (listed when it was
//! made), the rows of system tables (read then), `now()` (folded to a constant by the optimiser),
//! the settings. So a plan is kept only when none of that can change without squall noticing:
//! - it runs on the coordinator;
//! - it reads no tables, or only squall's managed tables, whose files change only through squall's
//!   own statements (INSERT, COPY, DDL), which all count as [`crate::plans::changes::Changes`];
//! - every function in it is immutable;
//! - it has only operators that can run again once their state is reset (no joins, whose dynamic
//!   filters DataFusion cannot reset, no top-k sorts);
//!
//! and it is used only while the count of changes and the session's settings are those it was
//! made under. A prepared query with parameters is kept the same way, as a generic plan
//! ([`crate::plans::generic_plans`]).
//!
//! A kept plan that reads nothing at all (`SELECT 1`, which connection pools send to check a
//! connection, `SELECT version()`) answers the same rows each time under those rules: its answer
//! is kept instead, and sent again without running a plan.

use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;

use crate::error::Result;
use crate::plans::generic_plans::Parameters;
use crate::storage::delta::{DeltaSnapshot, DeltaTables};

/// What a kept plan was made under: the count of changes, the session's settings generation.
pub type MadeUnder = (u64, u64);

/// A prepared query's physical plan, once made and found reusable. Shared by the copies of the
/// prepared statement (they are all of one session).
#[derive(Debug, Default, Clone)]
pub struct KeptPlan(Arc<Mutex<Kept>>);

#[derive(Debug, Default)]
struct Kept {
    plan: Option<(MadeUnder, Arc<dyn ExecutionPlan>)>,
    /// For a generic plan: the parameters it reads, and the columns it answers with.
    generic: Option<(Arc<Parameters>, SchemaRef)>,
    /// What a generic plan was last found not reusable under: it is not made again until then
    /// has passed.
    generic_declined: Option<MadeUnder>,
    /// The rows of a kept plan that reads nothing ([`is_constant`]), once it has run.
    answer: Option<(MadeUnder, Answer)>,
    /// The columns the prepared query answers with (one schema for every execution).
    schema: Option<SchemaRef>,
}

/// The rows a constant plan answers with.
#[derive(Debug, Clone)]
pub struct Answer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// The most an answer kept in memory may take; a larger one (a long VALUES list) runs each time.
const ANSWER_BUDGET: usize = 1 << 20;

/// A kept generic plan, ready to run again once its parameters are bound.
pub struct GenericPlan {
    pub physical: Arc<dyn ExecutionPlan>,
    pub parameters: Arc<Parameters>,
    pub schema: SchemaRef,
}

impl KeptPlan {
    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The columns of `plan`, the prepared query this is kept for: made once.
    pub fn schema_of(&self, plan: &LogicalPlan) -> SchemaRef {
        Arc::clone(self.kept().schema.get_or_insert_with(|| Arc::new(plan.schema().as_arrow().clone())))
    }

    /// The kept plan, ready to run again, if it was made under `now`.
    pub fn take(&self, now: MadeUnder) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let plan = self.kept().plan.clone();
        match plan {
            Some((made_under, plan)) if made_under == now => Ok(Some(reset_plan_states(plan)?)),
            _ => Ok(None),
        }
    }

    /// The kept answer, if it was made under `now`.
    pub fn answer(&self, now: MadeUnder) -> Option<Answer> {
        match &self.kept().answer {
            Some((made_under, answer)) if *made_under == now => Some(answer.clone()),
            _ => None,
        }
    }

    /// Keeps `answer`, the rows of the kept plan made under `made_under`, which reads nothing
    /// ([`is_constant`]), unless it is large.
    pub fn keep_answer(&self, made_under: MadeUnder, answer: &Answer) {
        if answer.batches.iter().map(RecordBatch::get_array_memory_size).sum::<usize>() <= ANSWER_BUDGET {
            self.kept().answer = Some((made_under, answer.clone()));
        }
    }

    /// The kept generic plan ([`crate::plans::generic_plans`]), if it was made under `now`.
    pub fn take_generic(&self, now: MadeUnder) -> Result<Option<GenericPlan>> {
        let Some((parameters, schema)) = self.kept().generic.clone() else { return Ok(None) };
        Ok(self.take(now)?.map(|physical| GenericPlan { physical, parameters, schema }))
    }

    /// Keeps `physical`, made from `logical` under `made_under` (read before planning began), if
    /// running it again cannot give an answer planning afresh would not. What is kept, and
    /// returned to run now, reads its tables' rows from memory ([`crate::plans::table_cache`]).
    pub fn keep_if_reusable(
        &self,
        made_under: MadeUnder,
        logical: &LogicalPlan,
        physical: &Arc<dyn ExecutionPlan>,
        tables: &DeltaTables,
    ) -> Option<Arc<dyn ExecutionPlan>> {
        if !(reads_only_managed_tables(logical, tables) && only_immutable_functions(logical) && runs_again(physical)) {
            return None;
        }
        let kept = tables.cache.in_memory(Arc::clone(physical));
        self.kept().plan = Some((made_under, Arc::clone(&kept)));
        Some(kept)
    }

    /// [`Self::keep_if_reusable`] for a generic plan reading `parameters`; when it is not
    /// reusable, no generic plan is made again under `made_under`.
    pub fn keep_generic_if_reusable(
        &self,
        made_under: MadeUnder,
        logical: &LogicalPlan,
        physical: &Arc<dyn ExecutionPlan>,
        parameters: &Arc<Parameters>,
        tables: &DeltaTables,
    ) -> Option<Arc<dyn ExecutionPlan>> {
        let kept = self.keep_if_reusable(made_under, logical, physical, tables);
        let mut state = self.kept();
        match kept {
            Some(_) => state.generic = Some((Arc::clone(parameters), Arc::new(logical.schema().as_arrow().clone()))),
            None => state.generic_declined = Some(made_under),
        }
        kept
    }

    /// Whether a generic plan made under `now` is kept.
    pub fn has_generic(&self, now: MadeUnder) -> bool {
        let kept = self.kept();
        kept.generic.is_some() && kept.plan.as_ref().is_some_and(|(made_under, _)| *made_under == now)
    }

    /// Records that no generic plan is to be made under `made_under`.
    pub fn decline_generic(&self, made_under: MadeUnder) {
        self.kept().generic_declined = Some(made_under);
    }

    /// Whether a generic plan was found not reusable under `now`.
    pub fn generic_declined(&self, now: MadeUnder) -> bool {
        self.kept().generic_declined == Some(now)
    }
}

/// Whether `plan` reads nothing: every leaf makes its rows from the plan itself. For a kept plan
/// other than a generic one (its functions are immutable, it has no parameters), that means it
/// answers the same rows at each run.
pub fn is_constant(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let mut constant = true;
    let visited = plan.apply(|node| {
        if node.children().is_empty() {
            constant &= matches!(node.name(), "PlaceholderRowExec" | "EmptyExec");
        }
        Ok(if constant { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
    });
    visited.is_ok() && constant
}

/// Whether every table `plan` scans (through views too) is one of squall's managed tables.
/// (One version of each: a plan reading a table's latest version is not kept.)
fn reads_only_managed_tables(plan: &LogicalPlan, tables: &DeltaTables) -> bool {
    let mut managed = true;
    let visited = crate::routing::visit_scans(plan, &mut |provider| {
        managed &= match (provider.as_ref() as &dyn std::any::Any).downcast_ref::<DeltaSnapshot>() {
            Some(table) => tables.holds(&table.url),
            None => false,
        };
    });
    visited.is_ok() && managed
}

/// Whether every function `plan` calls, in subqueries too, is immutable (`now()`, `random()`,
/// `current_setting()` are not), a generic plan's parameters aside.
fn only_immutable_functions(plan: &LogicalPlan) -> bool {
    let mut immutable = true;
    let visited = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::ScalarFunction(f) = e {
                    immutable &= f.func.signature().volatility == Volatility::Immutable || crate::plans::generic_plans::is_parameter(&f.func);
                }
                Ok(if immutable { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
            })
        })
    });
    visited.is_ok() && immutable
}

/// Whether every operator of `plan` is one that runs again correctly after
/// [`reset_plan_states`].
fn runs_again(plan: &Arc<dyn ExecutionPlan>) -> bool {
    const RERUNNABLE: &[&str] = &[
        "ProjectionExec",
        "PlaceholderRowExec",
        "EmptyExec",
        "FilterExec",
        "DataSourceExec",
        "CoalesceBatchesExec",
        "CoalescePartitionsExec",
        "RepartitionExec",
        "AggregateExec",
        "GlobalLimitExec",
        "LocalLimitExec",
        "SortPreservingMergeExec",
        "UnionExec",
    ];
    let mut rerunnable = true;
    let visited = plan.apply(|node| {
        let name = node.name();
        // A sort with a fetch is a top-k, which pushes a dynamic filter into its input.
        let top_k = name == "SortExec" && node.fetch().is_some();
        rerunnable &= (RERUNNABLE.contains(&name) || name == "SortExec") && !top_k && !has_dynamic_filter(node.as_ref());
        Ok(if rerunnable { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
    });
    visited.is_ok() && rerunnable
}

/// Whether `node` makes or reads a filter that a run narrows as it goes (MIN/MAX aggregates,
/// joins and top-k sorts make them for their inputs' scans): a reset keeps some of them, so the
/// next run would start from the last run's bounds and skip rows.
fn has_dynamic_filter(node: &dyn ExecutionPlan) -> bool {
    if !node.dynamic_expressions_produced().is_empty() {
        return true;
    }
    let mut found = false;
    let visited = node.apply_expressions(&mut |expr| {
        expr.apply(|e| {
            found |= e.downcast_ref::<DynamicFilterPhysicalExpr>().is_some();
            Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        })
    });
    visited.is_err() || found
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn plans(ctx: &SessionContext, sql: &str) -> (LogicalPlan, Arc<dyn ExecutionPlan>) {
        let logical = ctx.state().create_logical_plan(sql).await.unwrap();
        let physical = ctx.state().create_physical_plan(&logical).await.unwrap();
        (logical, physical)
    }

    async fn kept(ctx: &SessionContext, sql: &str, tables: &DeltaTables) -> bool {
        let (logical, physical) = plans(ctx, sql).await;
        let kept = KeptPlan::default();
        kept.keep_if_reusable((0, 0), &logical, &physical, tables).is_some() && kept.take((0, 0)).unwrap().is_some()
    }

    #[tokio::test]
    async fn only_plans_that_cannot_go_stale_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
        let ctx = SessionContext::new_with_config(datafusion::prelude::SessionConfig::new().with_information_schema(true));
        // A managed table (one version of it, as a query reads it) with a row: with no file,
        // no scan takes a dynamic filter.
        let tables = DeltaTables::open(dir.path()).unwrap();
        let url = tables.managed_url("t");
        let row = ctx.sql("SELECT CAST(7 AS BIGINT) AS id, 'seven' AS name").await.unwrap();
        let schema = std::sync::Arc::new(row.schema().as_arrow().clone());
        let committer = crate::storage::delta::write::Committer { user: "test".into() };
        tables.append(&url, schema, row.execute_stream().await.unwrap(), &committer, Some("t")).await.unwrap();
        ctx.register_table("t", tables.latest_snapshot(&url).await.unwrap().1).unwrap();
        let outside = dir.path().join("elsewhere").join("part.parquet");
        ctx.sql(&format!("COPY (SELECT CAST(7 AS BIGINT) AS id, 'seven' AS name) TO '{}'", outside.display())).await.unwrap().collect().await.unwrap();
        ctx.sql(&format!("CREATE EXTERNAL TABLE outside (id BIGINT, name TEXT) STORED AS PARQUET LOCATION '{}/'", dir.path().join("elsewhere").display()))
            .await
            .unwrap();
        assert!(kept(&ctx, "SELECT 1", &tables).await);
        assert!(kept(&ctx, "SELECT name FROM t WHERE id = 7", &tables).await);
        assert!(kept(&ctx, "SELECT count(*), upper(name) FROM t GROUP BY 2 ORDER BY 1", &tables).await);
        assert!(!kept(&ctx, "SELECT now()", &tables).await, "now() is folded into the plan");
        assert!(!kept(&ctx, "SELECT min(id) FROM t WHERE name <> 'six'", &tables).await, "MIN narrows a dynamic filter as it runs");
        assert!(!kept(&ctx, "SELECT random()", &tables).await);
        assert!(!kept(&ctx, "SELECT * FROM outside", &tables).await, "files others may change");
        assert!(!kept(&ctx, "SELECT * FROM information_schema.tables", &tables).await, "rows read at planning");
        assert!(!kept(&ctx, "SELECT * FROM t ORDER BY id LIMIT 3", &tables).await, "top-k");
        assert!(!kept(&ctx, "SELECT * FROM t a JOIN t b ON a.id = b.id", &tables).await, "join");
    }

    #[tokio::test]
    async fn only_plans_that_read_nothing_keep_their_answer() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t AS VALUES (1), (2)").await.unwrap();
        for (sql, constant) in [("SELECT 1", true), ("SELECT upper('a'), 2 + 3 WHERE 1 = 1", true), ("SELECT 1 WHERE false", true), ("SELECT * FROM t", false)] {
            let (_, physical) = plans(&ctx, sql).await;
            assert_eq!(is_constant(&physical), constant, "{sql}");
        }
        let (_, physical) = plans(&ctx, "SELECT 1 AS one").await;
        let answer = Answer { schema: physical.schema(), batches: datafusion::physical_plan::collect(physical, ctx.task_ctx()).await.unwrap() };
        let kept = KeptPlan::default();
        kept.keep_answer((3, 1), &answer);
        assert_eq!(kept.answer((3, 1)).unwrap().batches, answer.batches);
        assert!(kept.answer((4, 1)).is_none(), "a change since");
        assert!(kept.answer((3, 2)).is_none(), "a setting since");
    }

    #[tokio::test]
    async fn a_plan_is_used_only_under_what_it_was_made_under() {
        let ctx = SessionContext::new();
        let (logical, physical) = plans(&ctx, "SELECT 1").await;
        let kept = KeptPlan::default();
        let dir = tempfile::tempdir().unwrap();
        kept.keep_if_reusable((3, 1), &logical, &physical, &DeltaTables::open(dir.path()).unwrap());
        assert!(kept.take((3, 1)).unwrap().is_some());
        assert!(kept.take((4, 1)).unwrap().is_none(), "a change since");
        assert!(kept.take((3, 2)).unwrap().is_none(), "a setting since");
    }
}
