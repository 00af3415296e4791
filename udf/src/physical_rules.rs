//! The physical optimizer rules squall plans with: DataFusion's, in its order, with squall's
//! guard of outer joins' padded sides first and the library's two filter pushdowns wrapped where
//! they answer wrongly (each module says when).

use std::sync::Arc;

use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_optimizer::PhysicalOptimizerRule;

use crate::outer_join_constants::PaddedSideNotConstant;
use crate::physical_filter_pushdown::{self, FilterPushdownUnlessNamesRepeat};

type Rule = Arc<dyn PhysicalOptimizerRule + Send + Sync>;

pub fn physical_optimizer_rules() -> Vec<Rule> {
    let first: Rule = Arc::new(PaddedSideNotConstant);
    std::iter::once(first)
        .chain(PhysicalOptimizer::new().rules)
        .map(|rule| -> Rule {
            if physical_filter_pushdown::WRAPS.contains(&rule.name()) {
                Arc::new(FilterPushdownUnlessNamesRepeat(rule))
            } else {
                rule
            }
        })
        .collect()
}
