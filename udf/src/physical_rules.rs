//! The physical optimizer rules squall plans with: DataFusion's, in its order, with squall's
//! guard of outer joins' padded sides first and the library's filter and projection pushdowns
//! left out where column names repeat (`crate::repeated_names` says why).

use std::sync::Arc;

use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_optimizer::PhysicalOptimizerRule;

use crate::outer_join_constants::PaddedSideNotConstant;
use crate::repeated_names::{self, UnlessNamesRepeat};

type Rule = Arc<dyn PhysicalOptimizerRule + Send + Sync>;

pub fn physical_optimizer_rules() -> Vec<Rule> {
    let first: Rule = Arc::new(PaddedSideNotConstant);
    std::iter::once(first)
        .chain(PhysicalOptimizer::new().rules)
        .map(|rule| -> Rule {
            if repeated_names::WRAPS.contains(&rule.name()) {
                Arc::new(UnlessNamesRepeat(rule))
            } else {
                rule
            }
        })
        .collect()
}
