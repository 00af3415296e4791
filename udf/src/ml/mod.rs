//! Machine learning inside queries: feature encoding, the algorithms, the model file format,
//! evaluation metrics and the model cache. The SQL functions that use them live in
//! `functions/` (training aggregates, PREDICT, EVALUATE).

pub mod algorithms;
pub mod batch_memo;
pub mod class_index;
pub mod error;
pub mod exact_sum;
pub mod features;
pub mod grid_sum;
pub mod importance;
pub mod kept_matrices;
pub mod least_norm;
pub mod metrics;
pub mod model;
pub mod moments;
pub mod naive_bayes;
pub mod options;
pub mod row_hash;
pub mod served;
pub mod store;
