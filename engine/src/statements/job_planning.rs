//! How a query's Ballista job is planned: the switches squall turns where Ballista's and
//! DataFusion's defaults plan a job that answers wrongly, each with the plans that need it and
//! the failure it prevents.

use ballista_core::extension::SessionConfigExt;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionConfig;

/// How a query's Ballista job is planned, where Ballista's defaults answer it wrongly.
pub(super) struct JobPlanning {
    /// Without the adaptive planner and join reordering ([`misanswered_once_replanned`],
    /// [`repeats_a_column_name`], [`has_window`]).
    without_replanning: bool,
    /// With hash joins where Ballista prefers sort-merge joins ([`has_join_filter`]).
    hash_joins: bool,
    /// Without broadcast (`CollectLeft`) hash joins ([`has_join_keeping_rows`]).
    partitioned_joins: bool,
}

impl JobPlanning {
    pub(super) fn of(plan: &LogicalPlan) -> Self {
        Self {
            without_replanning: misanswered_once_replanned(plan) || repeats_a_column_name(plan) || has_window(plan),
            hash_joins: has_join_filter(plan),
            partitioned_joins: has_join_keeping_rows(plan),
        }
    }

    /// `config` with the switches this job needs.
    pub(super) fn configure(&self, mut config: SessionConfig) -> SessionConfig {
        // Every job is planned without the files' statistics (`datafusion.execution.collect_statistics`).
        // The scheduler plans a job twice over: once whole, where a scan of few rows (by its exact
        // row count) is not worth spreading over partitions and a join's input of one partition is
        // left as it is, and again per stage once it has cut the job at its exchanges, where that
        // scan sits under a shuffle read of no statistics and `EnsureRequirements` spreads the join's
        // inputs after all, by a hash exchange inside the stage. Ballista gives each task of a stage a
        // slice of its partitions and restricts the stage's scans to it, but not the scans under a
        // collapse (a sort of all rows, a cross join's build side), which every task reads whole; with
        // the exchange above them, every task wrote every row: a semi join over a cross join gave
        // each row two or three times (differential seed 14, query 484929). Without statistics the
        // first planning already spreads such inputs by exchanges, which become stage boundaries, as
        // it does for tables too large to leave in one partition.
        config.options_mut().execution.collect_statistics = false;
        if self.without_replanning {
            config = config.with_ballista_adaptive_query_planner(false);
            config.options_mut().optimizer.join_reordering = false;
        }
        if self.hash_joins {
            config.options_mut().optimizer.prefer_hash_join = true;
        }
        if self.partitioned_joins {
            let optimizer = &mut config.options_mut().optimizer;
            optimizer.hash_join_single_partition_threshold = 0;
            optimizer.hash_join_single_partition_threshold_rows = 0;
        }
        config
    }
}

/// Whether `plan` has a join that Ballista's adaptive planner gets wrong when it re-plans the
/// rest of a job with the exact row counts of finished stages:
/// - a join without equality keys (a cross join, a nested-loop join): DataFusion's join
///   selection, run again, swaps its sides behind a projection that puts the columns back in
///   order; a cross join with an input of no columns (`SELECT r2.x FROM t r1, t r2`, what an
///   uncorrelated scalar subquery becomes) gave one row where seven were due, or no row where its
///   aggregate gives one, and a RIGHT join became a LEFT one whose unmatched rows each task adds
///   by itself (see `has_left_tracking_loop_join` in `query`). Projection pushdown, run again over a join
///   whose condition it had already split into columns below it, lost the projection above: the
///   job answered with the join's six columns where the query has three, or with no rows;
/// - a join that keeps one side's rows when the other side has none (LEFT, RIGHT and FULL joins,
///   the anti and mark joins of NOT EXISTS, NOT IN, ANY and ALL): once a stage finished with no
///   rows, the planner replaced the join by the other side and left the empty side's stages to a
///   cancellation it does not implement ("there are stages to be cancelled but its not
///   implemented"): the job never finished.
/// Such a query is planned without the adaptive planner (`ballista.planner.adaptive.enabled`)
/// and without join reordering (`datafusion.optimizer.join_reordering`, which the scheduler's
/// one planning would do with the files' statistics). Inner and semi joins on equality keys, the
/// joins of most analytic queries, keep both.
fn misanswered_once_replanned(plan: &LogicalPlan) -> bool {
    use datafusion::common::JoinType;
    has_join(plan, |join| join.on.is_empty() || !matches!(join.join_type, JoinType::Inner | JoinType::LeftSemi | JoinType::RightSemi))
}

/// Whether `plan` has a join with a condition besides its equality keys. DataFusion's sort-merge
/// join, which Ballista plans joins as, fails on such joins where its hash join answers: a LEFT
/// join whose condition reads a column of the other side declared NOT NULL failed with "Column
/// 'id' is declared as non-nullable but contains null values" (it evaluates the condition over
/// the NULLs of unmatched rows; what squall makes of `(SELECT count(*) FROM t3 r2 WHERE r2.id <
/// r1.id ...)`, and FULL joins with a CASE in ON), and a RIGHT join with a CASE in ON panicked
/// with "index out of bounds" (differential test, seed 12 queries 4458 and 12268, seed 13 query
/// 3772; apache/datafusion#21197). Such a job is planned with hash joins.
fn has_join_filter(plan: &LogicalPlan) -> bool {
    has_join(plan, |join| join.filter.is_some())
}

/// Whether `plan` has a join other than an inner one. DataFusion makes a join whose build side
/// is small a broadcast join (`CollectLeft`), and Ballista's scheduler turns those of these kinds
/// (whose unmatched or matched build rows each task would answer for) back into partitioned ones
/// after the plan above them was made for one partition: the nested-loop join, sort or LIMIT
/// above then read one partition of four, and `SELECT ... FROM t2 r1 LEFT JOIN t3 r2 ON ... WHERE
/// (SELECT count(*) ...) >= r2.a ORDER BY r1.id` gave no row where PostgreSQL gives one
/// (differential seed 14, query 69504). Such a job is planned without broadcast joins.
fn has_join_keeping_rows(plan: &LogicalPlan) -> bool {
    use datafusion::common::JoinType;
    has_join(plan, |join| join.join_type != JoinType::Inner)
}

/// Whether some operator of `plan` (its subqueries too) outputs two columns of one name, as a
/// join of two tables with an `id` column each does. DataFusion's physical filter pushdown finds
/// columns by name and moves a condition on the second onto the first (see
/// `squall_udf::repeated_names`, which guards the coordinator's and the scheduler's
/// planning); Ballista's adaptive planner runs those rules from a list of its own, so such a job
/// is planned without it.
fn repeats_a_column_name(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        let mut names = std::collections::HashSet::new();
        found = !node.schema().fields().iter().all(|field| names.insert(field.name()));
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}

/// Whether `plan` (its subqueries too) has a window function. Once the stage below a window's
/// exchange finished with no rows, Ballista's adaptive planner planned the window's stage again
/// and again, a new stage every few milliseconds, and the job never finished: `SELECT sum(a)
/// OVER (PARTITION BY id) FROM t WHERE id < id`, and a correlated scalar subquery with `ORDER BY
/// ... LIMIT` (whose rows squall numbers with `row_number`) under an outer query of no rows
/// (differential seed 14, query 821919, a statement timeout where PostgreSQL gives no rows).
/// Such a job is planned without the adaptive planner.
fn has_window(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        found = matches!(node, LogicalPlan::Window(_));
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}

/// Whether `plan` (its subqueries too) has a join that `matches`.
pub(super) fn has_join(plan: &LogicalPlan, matches: impl Fn(&datafusion::logical_expr::Join) -> bool) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if matches!(node, LogicalPlan::Join(join) if matches(join)) {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}
