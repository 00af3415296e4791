//! `squall_node_pid()`: the operating-system process id of the node that evaluates the row.
//!
//! It lets an operator (and the test suite) see where the rows of a query were computed: over a
//! table, `SELECT DISTINCT squall_node_pid() FROM t` names the executor processes that ran the
//! scan. It is volatile so that the planner never folds it into a constant on the coordinator.

use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NodePid {
    signature: Signature,
}

impl NodePid {
    pub fn new() -> Self {
        Self { signature: Signature::nullary(Volatility::Volatile) }
    }
}

impl Default for NodePid {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for NodePid {
    fn name(&self) -> &str {
        "squall_node_pid"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let pid = i64::from(std::process::id());
        Ok(ColumnarValue::Array(Arc::new(Int64Array::from_value(pid, args.number_rows))))
    }
}
