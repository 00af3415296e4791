//! Generic plans: a prepared query with parameters (`$1`, JDBC's `?`) planned once with its
//! parameters left open, then run again with each execution's values, as PostgreSQL's plan cache
//! runs a generic plan. Without it, every execution substituted its values into the logical plan
//! and optimised and physically planned it afresh: three quarters of what a one-row lookup cost
//! the coordinator.
//!
//! DataFusion cannot plan a placeholder physically (it is an error), so [`open`] turns each
//! placeholder into a call of a function that answers with the value bound for the running
//! execution ([`Parameters::bind`]). The function is volatile, so no optimiser rule folds it
//! into the plan or moves it where it would be evaluated at another time.
//!
//! Whether a generic plan is kept at all is [`crate::plans::reused_plans`]'s decision, as for a plan
//! without parameters; the values are bound to one execution at a time, and a second portal of
//! the statement, opened while the first is still being read, is planned with its own values.

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{exec_err, ParamValues, Result, ScalarValue};
use datafusion::logical_expr::expr::{Placeholder, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{ColumnarValue, Expr, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// The values of a generic plan's parameters, for the execution that has bound them.
#[derive(Debug)]
pub struct Parameters {
    /// The type of each parameter (`$1` first), as the plan was made for.
    types: Vec<DataType>,
    values: Mutex<Vec<ScalarValue>>,
    bound: AtomicBool,
}

/// An execution's hold on its plan's parameters; they are free for the next once it is dropped
/// (when the execution's rows are all read, or the client closed the portal).
#[derive(Debug)]
pub struct Bound(Arc<Parameters>);

impl Drop for Bound {
    fn drop(&mut self) {
        self.0.values.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.0.bound.store(false, Ordering::Release);
    }
}

impl Parameters {
    /// Binds `values` for one execution: `None` when another execution holds them, or when a
    /// value is missing or cannot be cast to its parameter's type (the statement is then planned
    /// with its values, which reports what is wrong as it always did).
    pub fn bind(self: &Arc<Self>, values: &ParamValues) -> Option<Bound> {
        let ParamValues::List(list) = values else { return None };
        if list.len() != self.types.len() {
            return None;
        }
        let cast: Option<Vec<ScalarValue>> = list
            .iter()
            .zip(&self.types)
            .map(|(value, data_type)| match value.value.data_type() == *data_type {
                true => Some(value.value.clone()),
                false => value.value.cast_to(data_type).ok(),
            })
            .collect();
        let cast = cast?;
        self.bound.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).ok()?;
        *self.values.lock().unwrap_or_else(|p| p.into_inner()) = cast;
        Some(Bound(Arc::clone(self)))
    }
}

/// `plan` with each placeholder replaced by its parameter's function, and the parameters they
/// read; `None` when a placeholder is not `$n` or has no type.
pub fn open(plan: &LogicalPlan) -> Result<Option<(LogicalPlan, Arc<Parameters>)>> {
    let mut types: Vec<Option<DataType>> = Vec::new();
    // The types as DataFusion infers them when it substitutes values (`id = $1` takes id's type).
    let typed = plan.clone().transform_up_with_subqueries(|node| {
        let schema = Arc::clone(node.schema());
        node.map_expressions(|e| {
            let (e, _) = e.infer_placeholder_types(&schema)?;
            e.apply(|e| {
                if let Expr::Placeholder(Placeholder { id, field }) = e {
                    if let Some(index) = placeholder_index(id) {
                        types.resize(types.len().max(index + 1), None);
                        types[index] = types[index].take().or_else(|| field.as_ref().map(|f| f.data_type().clone()));
                    }
                }
                Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
            })?;
            Ok(Transformed::yes(e))
        })
    })?;
    let Some(types) = types.into_iter().collect::<Option<Vec<DataType>>>() else { return Ok(None) };
    let parameters = Arc::new(Parameters { types, values: Mutex::new(Vec::new()), bound: AtomicBool::new(false) });
    let mut unsupported = false;
    let opened = typed.data.transform_up_with_subqueries(|node| {
        let names = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let name = names.save(&e);
            let replaced = e.transform_up(|e| match e {
                Expr::Placeholder(Placeholder { id, .. }) => match placeholder_index(&id) {
                    Some(index) => Ok(Transformed::yes(parameter_call(index, &parameters))),
                    None => {
                        unsupported = true;
                        Ok(Transformed::no(Expr::Placeholder(Placeholder { id, field: None })))
                    }
                },
                other => Ok(Transformed::no(other)),
            })?;
            Ok(replaced.update_data(|e| name.restore(e)))
        })
    })?;
    Ok((!unsupported).then(|| (opened.data, parameters)))
}

/// Whether `function` stands for a parameter of a generic plan (it is volatile only in that its
/// value is bound per execution).
pub fn is_parameter(function: &ScalarUDF) -> bool {
    (function.inner().as_ref() as &dyn Any).is::<ParameterFunction>()
}

/// `$3` → 2.
fn placeholder_index(id: &str) -> Option<usize> {
    id.strip_prefix('$')?.parse::<usize>().ok()?.checked_sub(1)
}

fn parameter_call(index: usize, parameters: &Arc<Parameters>) -> Expr {
    let function = ParameterFunction { index, parameters: Arc::clone(parameters), signature: Signature::exact(vec![], Volatility::Volatile) };
    Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(ScalarUDF::new_from_impl(function)), vec![]))
}

/// The value of parameter `index` for the running execution.
#[derive(Debug)]
struct ParameterFunction {
    index: usize,
    parameters: Arc<Parameters>,
    signature: Signature,
}

impl PartialEq for ParameterFunction {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index && Arc::ptr_eq(&self.parameters, &other.parameters)
    }
}

impl Eq for ParameterFunction {}

impl Hash for ParameterFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.index.hash(state);
        Arc::as_ptr(&self.parameters).hash(state);
    }
}

impl ScalarUDFImpl for ParameterFunction {
    fn name(&self) -> &str {
        "squall_parameter"
    }
    fn display_name(&self, _: &[Expr]) -> Result<String> {
        Ok(format!("${}", self.index + 1))
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.parameters.types[self.index].clone())
    }
    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match self.parameters.values.lock().unwrap_or_else(|p| p.into_inner()).get(self.index) {
            Some(value) => Ok(ColumnarValue::Scalar(value.clone())),
            None => exec_err!("no value is bound to parameter ${}", self.index + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use datafusion::physical_plan::{collect, execution_plan::reset_plan_states};
    use datafusion::prelude::SessionContext;

    async fn names(ctx: &SessionContext, plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> Vec<String> {
        let batches = collect(reset_plan_states(Arc::clone(plan)).unwrap(), ctx.task_ctx()).await.unwrap();
        batches.iter().flat_map(|b| b.column(0).as_any().downcast_ref::<StringArray>().unwrap().iter().map(|s| s.unwrap().to_string()).collect::<Vec<_>>()).collect()
    }

    #[tokio::test]
    async fn one_plan_answers_for_each_execution_values() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t AS VALUES (CAST(1 AS BIGINT), 'one'), (2, 'two'), (3, 'three')").await.unwrap();
        let logical = ctx.state().create_logical_plan("SELECT column2 FROM t WHERE column1 = $1 OR column1 = $2 + 1").await.unwrap();
        let (generic, parameters) = open(&logical).unwrap().expect("$1 and $2 are typed by the column");
        assert_eq!(generic.schema().field(0).name(), "column2");
        let physical = ctx.state().create_physical_plan(&generic).await.unwrap();
        let bind = |a: i64, b: i32| ParamValues::from(vec![ScalarValue::Int64(Some(a)), ScalarValue::Int32(Some(b))]);

        let bound = parameters.bind(&bind(1, 2)).expect("a value cast to the parameter's type");
        assert!(parameters.bind(&bind(2, 0)).is_none(), "bound to one execution at a time");
        assert_eq!(names(&ctx, &physical).await, ["one", "three"]);
        drop(bound);
        let bound = parameters.bind(&bind(2, 5)).unwrap();
        assert_eq!(names(&ctx, &physical).await, ["two"]);
        drop(bound);

        assert!(parameters.bind(&ParamValues::from(vec![ScalarValue::Int64(Some(1))])).is_none(), "a value missing");
        let bad = ParamValues::from(vec![ScalarValue::Utf8(Some("x".into())), ScalarValue::Int32(Some(1))]);
        assert!(parameters.bind(&bad).is_none(), "a value of another type that does not cast");
        let unbound = collect(reset_plan_states(physical).unwrap(), ctx.task_ctx()).await;
        assert!(unbound.unwrap_err().to_string().contains("no value is bound to parameter $1"));
    }

    #[tokio::test]
    async fn an_untyped_parameter_leaves_the_plan_as_it_was() {
        let ctx = SessionContext::new();
        let logical = ctx.state().create_logical_plan("SELECT $1").await.unwrap();
        assert!(open(&logical).unwrap().is_none());
    }
}
