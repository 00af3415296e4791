//! squall's SQL functions, one file each.

pub mod age;
pub mod blob_aggregate;
pub mod count;
pub mod evaluate;
pub mod moments;
pub mod node_pid;
pub mod permutation_importance;
pub mod integer_rounding;
pub mod interval_scale;
pub mod pg_text;
pub mod predict;
pub mod row_fraction;
pub mod to_char;
pub mod train_pass;
