//! Plan nodes that sit above one input and pass its rows on, changing only how they are produced
//! (stopping them once a task is cancelled, replaying rows kept from an earlier pass): the
//! plumbing DataFusion asks of a node is written once here, each node says only what it does.

use std::fmt::{self, Debug};
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

/// What a node above one input does with its rows.
pub trait PassThrough: Debug + Clone + Send + Sync + 'static {
    /// The node's name in plans.
    const NAME: &'static str;
    /// The rows of `partition`, from `input`'s.
    fn execute(&self, input: &Arc<dyn ExecutionPlan>, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream>;
}

/// A node above `input` that produces its rows as `P` says, with the input's properties.
#[derive(Debug)]
pub struct Above<P: PassThrough> {
    input: Arc<dyn ExecutionPlan>,
    how: P,
}

impl<P: PassThrough> Above<P> {
    pub fn new(input: Arc<dyn ExecutionPlan>, how: P) -> Self {
        Self { input, how }
    }
}

impl<P: PassThrough> DisplayAs for Above<P> {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(P::NAME)
    }
}

impl<P: PassThrough> ExecutionPlan for Above<P> {
    fn name(&self) -> &str {
        P::NAME
    }

    /// No expressions of its own.
    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self::new(children.swap_remove(0), self.how.clone())))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        self.how.execute(&self.input, partition, context)
    }
}
