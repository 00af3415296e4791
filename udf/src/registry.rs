//! The one list of squall's functions. Adding a function is adding a file under `functions/` and a
//! line in [`squall_scalar_functions`] (or its aggregate twin); the coordinator's session, the
//! scheduler's sessions and every executor's decoder all read this list.

use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

use crate::functions;

/// Scalar functions squall adds to DataFusion's built-ins (or puts in place of one of them).
pub fn squall_scalar_functions() -> Vec<Arc<ScalarUDF>> {
    use functions::predict::{Predict, Returns};
    vec![
        Arc::new(ScalarUDF::from(functions::node_pid::NodePid::new())),
        Arc::new(ScalarUDF::from(functions::row_fraction::RowFraction::default())),
        Arc::new(ScalarUDF::from(Predict::new(Returns::Value))),
        Arc::new(ScalarUDF::from(Predict::new(Returns::Probability))),
        Arc::new(ScalarUDF::from(Predict::new(Returns::Score))),
        // Replaces DataFusion's to_char (chrono formats only) with PostgreSQL's templates.
        Arc::new(ScalarUDF::from(functions::to_char::ToChar::new())),
        // PostgreSQL's age(), which DataFusion lacks.
        Arc::new(ScalarUDF::from(functions::age::Age::new())),
        // What casts of floats and timestamps to text become (crate::pg_casts).
        Arc::new(ScalarUDF::from(functions::pg_text::PgText::new())),
        // The rounding before casts of floats and numerics to integers (crate::pg_integer_casts).
        Arc::new(ScalarUDF::from(functions::integer_rounding::PgRoundToInteger::new())),
        // interval * number and interval / number (crate::interval_arithmetic).
        Arc::new(ScalarUDF::from(functions::interval_scale::IntervalScale::new(functions::interval_scale::Scaling::Multiply))),
        Arc::new(ScalarUDF::from(functions::interval_scale::IntervalScale::new(functions::interval_scale::Scaling::Divide))),
        // The row check of scalar subqueries (crate::subqueries).
        Arc::new(ScalarUDF::from(crate::subqueries::single_row_value::SingleRowValue::new())),
    ]
}

/// Aggregate functions squall adds to DataFusion's built-ins (the model trainers and EVALUATE),
/// or puts in place of one of them.
pub fn squall_aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        // DataFusion's count, which takes a distinct count from statistics only with exact rows.
        Arc::new(functions::count::aggregate()),
        Arc::new(AggregateUDF::from(functions::train_pass::aggregate())),
        Arc::new(AggregateUDF::from(functions::evaluate::aggregate())),
        Arc::new(AggregateUDF::from(functions::permutation_importance::aggregate())),
    ]
}

/// DataFusion's built-ins plus squall's functions, as Ballista's executors resolve them when they
/// decode a task.
pub fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    for f in squall_scalar_functions() {
        registry.scalar_functions.insert(f.name().to_string(), f);
    }
    for f in squall_aggregate_functions() {
        registry.aggregate_functions.insert(f.name().to_string(), f);
    }
    registry
}

/// Installs squall's functions into a session that is being built (coordinator and scheduler),
/// with the planner of interval arithmetic, the analyzer rules that make casts to text write PostgreSQL's forms, IN lists keep
/// PostgreSQL's NULLs, and scalar subqueries give one row or an error, and the physical rules
/// that push filters only where they find the right columns.
pub fn install_functions(builder: SessionStateBuilder) -> SessionStateBuilder {
    let mut builder = builder
        .with_default_features()
        .with_analyzer_rule(Arc::new(crate::pg_casts::PostgresTextCasts::new()))
        .with_analyzer_rule(Arc::new(crate::pg_integer_casts::PostgresIntegerCasts::new()))
        .with_analyzer_rule(Arc::new(crate::in_lists::InListNulls))
        .with_analyzer_rule(Arc::new(crate::subqueries::join_conditions::JoinConditionSubqueries))
        .with_analyzer_rule(Arc::new(crate::subqueries::outer_aggregates::OuterAggregates))
        .with_analyzer_rule(Arc::new(crate::subqueries::single_row::SingleRowSubqueries))
        .with_optimizer_rules(optimizer_rules())
        .with_physical_optimizer_rules(crate::physical_rules::physical_optimizer_rules());
    // Tried before DataFusion's own planners, which leave these operators to fail.
    builder.expr_planners().get_or_insert_with(Vec::new).insert(0, Arc::new(crate::interval_arithmetic::IntervalArithmetic::default()));
    builder
        .scalar_functions()
        .get_or_insert_with(Vec::new)
        .extend(squall_scalar_functions());
    builder
        .aggregate_functions()
        .get_or_insert_with(Vec::new)
        .extend(squall_aggregate_functions());
    builder
}

/// DataFusion's optimizer rules, with squall's decorrelation right after DataFusion's own: it
/// takes the subqueries they left, and the rules after it optimize the joins it makes. Filters
/// are pushed down as DataFusion does, except below an aggregate without GROUP BY.
fn optimizer_rules() -> Vec<Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>> {
    use crate::subqueries::decorrelate::{DecorrelateSubqueries, LeaveWhatFails, DATAFUSION_RULES};
    use crate::subqueries::set_comparison_names::{NamedSetComparisons, REPLACES};
    let mut rules = datafusion::optimizer::Optimizer::new().rules;
    for rule in rules.iter_mut() {
        if rule.name() == REPLACES {
            *rule = Arc::new(NamedSetComparisons::default());
        } else if rule.name() == crate::global_aggregate_filters::WRAPS {
            let filters_stay = Arc::new(crate::subqueries::filters_stay::FiltersWithSubqueriesStay(rule.clone()));
            *rule = Arc::new(crate::global_aggregate_filters::PushDownFilterKeepingGlobalAggregates(filters_stay));
        } else if DATAFUSION_RULES.contains(&rule.name()) {
            *rule = Arc::new(LeaveWhatFails(rule.clone()));
        }
    }
    // Right after ANY/ALL become EXISTS, before any decorrelation: a reference two levels out
    // (some made by that rewrite) is brought one level in.
    let set_comparisons = rules.iter().position(|r| r.name() == REPLACES).map_or(0, |i| i + 1);
    rules.insert(set_comparisons, Arc::new(crate::subqueries::across_levels::SubqueriesAcrossLevels));
    let at = rules.iter().rposition(|r| DATAFUSION_RULES.contains(&r.name())).map_or(rules.len(), |i| i + 1);
    rules.insert(at, Arc::new(DecorrelateSubqueries::default()));
    let before = rules.iter().position(|r| DATAFUSION_RULES.contains(&r.name())).unwrap_or(0);
    rules.insert(before, Arc::new(DecorrelateSubqueries::before_datafusion()));
    rules
}

/// `state` (upgraded for Ballista, whose `NOT IN` rewrite `upgrade_for_ballista` puts first)
/// with that rewrite moved to right after [`SubqueriesAcrossLevels`]. The rewrite takes a `NOT IN`
/// subquery whose list of outer references is empty for uncorrelated, but DataFusion lists only
/// the subquery's own references, not those of subqueries inside it: `x NOT IN (SELECT b FROM s
/// WHERE 3 IN (SELECT t1.c ...))` was made a count of all of `s`, cross-joined, and its inner
/// subquery left reading `t1` where no query has it (differential seed 14, query 100785: XX000 on
/// the distributed path). Once such references are brought one level in, the list has them.
///
/// [`SubqueriesAcrossLevels`]: crate::subqueries::across_levels::SubqueriesAcrossLevels
pub fn with_ballista_rewrites_after_squall(state: datafusion::execution::SessionState) -> datafusion::execution::SessionState {
    const BALLISTA_NOT_IN: &str = "not_in_subquery_rewrite";
    let mut rules = state.optimizers().to_vec();
    let Some(from) = rules.iter().position(|r| r.name() == BALLISTA_NOT_IN) else { return state };
    let rule = rules.remove(from);
    let Some(across) = rules.iter().position(|r| r.name() == crate::subqueries::across_levels::NAME) else { return state };
    rules.insert(across + 1, rule);
    SessionStateBuilder::new_from_existing(state).with_optimizer_rules(rules).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executors_resolve_every_squall_function() {
        let registry = function_registry();
        for f in squall_scalar_functions() {
            assert!(registry.scalar_functions.contains_key(f.name()), "{}", f.name());
        }
        // DataFusion's own functions stay available next to squall's.
        assert!(registry.scalar_functions.contains_key("abs"));
        assert!(registry.aggregate_functions.contains_key("sum"));
    }
}
