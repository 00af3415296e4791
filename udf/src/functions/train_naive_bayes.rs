//! `squall_train_naive_bayes(target, feature, ...)`: the Naive Bayes training aggregate. Each
//! executor gathers per-class statistics of its partitions; the final stage merges them (Chan's
//! formula for means and variances). The coordinator turns the result into a model. Arguments
//! come converted: target as text, numeric features as double, categorical ones as text.

use datafusion::arrow::array::ArrayRef;
use datafusion::error::Result;

use super::blob_aggregate::{from_json, to_json, BlobAggregate, Partial};
use crate::ml::features::Kind;
use crate::ml::naive_bayes::Statistics;

pub const NAME: &str = "squall_train_naive_bayes";

pub fn aggregate() -> BlobAggregate {
    BlobAggregate::new(NAME, || Box::<NaiveBayesPartial>::default())
}

#[derive(Debug, Default)]
struct NaiveBayesPartial {
    statistics: Statistics,
}

impl Partial for NaiveBayesPartial {
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let kinds: Vec<Kind> = values[1..]
            .iter()
            .map(|v| if v.data_type().is_numeric() { Kind::Numeric } else { Kind::Categorical })
            .collect();
        self.statistics.update(&values[0], &values[1..], &kinds);
        Ok(())
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        self.statistics.merge(&from_json(bytes)?)
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        to_json(&self.statistics)
    }

    fn size(&self) -> usize {
        self.statistics.classes.len() * 256
    }
}
