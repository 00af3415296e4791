//! `count`, as DataFusion's, except that `count(DISTINCT c)` is answered from statistics only
//! where they describe an exact number of rows.
//!
//! DataFusion's `aggregate_statistics` rule replaces an aggregate without GROUP BY by the literal
//! its input's statistics give, and `count(DISTINCT c)` takes an exact distinct count alone. A
//! filter's statistics report one: where interval analysis narrows a column to one value (`b = 3`,
//! or `id < a` with `id` in [1, 4] and `a` in [-2, 2]), `FilterExec` says exactly one distinct
//! value although its row count is an estimate and no row may pass. `SELECT count(DISTINCT b),
//! count(DISTINCT a) FROM v WHERE b = 3 AND a = 1` answered 1 and 1 where PostgreSQL answers 0 and
//! 0 (differential seed 14, query 247192). The rule runs in three places squall cannot wrap (the
//! session's rules, Ballista's adaptive planner's own list, and Ballista's stage resolution), so
//! the function itself declines: a distinct count is taken from statistics only together with an
//! exact row count (a table's rows, a finished stage's), never from a filter's estimate. Every
//! other method is DataFusion's count's.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::stats::Precision;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams, WindowFunctionParams};
use datafusion::logical_expr::function::{AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, Expr, GroupsAccumulator, Operator, ReversedUDAF, SetMonotonicity, Signature,
    StatisticsArgs,
};

/// squall's `count` (see the module's comment).
pub fn aggregate() -> AggregateUDF {
    AggregateUDF::new_from_shared_impl(Arc::new(Count(datafusion::functions_aggregate::count::count_udaf().inner().clone())))
}

#[derive(Debug)]
struct Count(Arc<dyn AggregateUDFImpl>);

impl PartialEq for Count {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Count {}

impl Hash for Count {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.name().hash(state)
    }
}

impl AggregateUDFImpl for Count {
    fn value_from_stats(&self, statistics_args: &StatisticsArgs) -> Option<ScalarValue> {
        if statistics_args.is_distinct && !matches!(statistics_args.statistics.num_rows, Precision::Exact(_)) {
            return None;
        }
        self.0.value_from_stats(statistics_args)
    }

    // Everything else is DataFusion's count's.

    fn name(&self) -> &str {
        self.0.name()
    }

    fn signature(&self) -> &Signature {
        self.0.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.0.return_type(arg_types)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.0.accumulator(acc_args)
    }

    fn aliases(&self) -> &[String] {
        self.0.aliases()
    }

    fn schema_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.0.schema_name(params)
    }

    fn human_display(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.0.human_display(params)
    }

    fn window_function_schema_name(&self, params: &WindowFunctionParams) -> Result<String> {
        self.0.window_function_schema_name(params)
    }

    fn display_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.0.display_name(params)
    }

    fn window_function_display_name(&self, params: &WindowFunctionParams) -> Result<String> {
        self.0.window_function_display_name(params)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.0.state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.0.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        self.0.create_groups_accumulator(args)
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.0.create_sliding_accumulator(args)
    }

    fn with_beneficial_ordering(self: Arc<Self>, beneficial_ordering: bool) -> Result<Option<Arc<dyn AggregateUDFImpl>>> {
        Ok(Arc::clone(&self.0)
            .with_beneficial_ordering(beneficial_ordering)?
            .map(|inner| Arc::new(Count(inner)) as Arc<dyn AggregateUDFImpl>))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.0.order_sensitivity()
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        self.0.simplify()
    }

    fn simplify_expr_op_literal(&self, agg_function: &AggregateFunction, arg: &Expr, op: Operator, lit: &Expr, arg_is_left: bool) -> Result<Option<Expr>> {
        self.0.simplify_expr_op_literal(agg_function, arg, op, lit, arg_is_left)
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        self.0.reverse_expr()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.0.coerce_types(arg_types)
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        self.0.return_field(arg_fields)
    }

    fn is_nullable(&self) -> bool {
        self.0.is_nullable()
    }

    fn is_descending(&self) -> Option<bool> {
        self.0.is_descending()
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.0.default_value(data_type)
    }

    fn supports_null_handling_clause(&self) -> bool {
        self.0.supports_null_handling_clause()
    }

    fn supports_within_group_clause(&self) -> bool {
        self.0.supports_within_group_clause()
    }

    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.0.set_monotonicity(data_type)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.0.documentation()
    }
}
