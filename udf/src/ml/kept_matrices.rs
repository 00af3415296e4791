//! [`Matrix::encode`] of the batches a training pass reads, kept by each process for the passes
//! that follow (Newton's and Lloyd's iterations read the same rows every time, and encoding them
//! again was an eighth of a pass). A batch is kept with the features' encodings it was encoded
//! for, in a [`SharedMemo`], so only the same rows encoded the same way use it.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::ArrayRef;

use super::batch_memo::SharedMemo;
use super::features::{Encoding, Feature, Matrix};

/// Bytes of kept matrices (and the columns they are of) one process holds.
const MAX_BYTES: usize = 2_000_000_000;
/// Kept matrices unused this long are dropped.
const IDLE: Duration = Duration::from_secs(300);

static KEPT: SharedMemo<(Vec<Encoding>, Arc<Matrix>)> = SharedMemo::new(MAX_BYTES, IDLE);

/// `Matrix::encode(features, columns)`, from what this process kept when it can.
pub fn encoded(features: &[Feature], columns: &[ArrayRef]) -> Arc<Matrix> {
    let encodings: Vec<Encoding> = features.iter().map(|f| f.encoding.clone()).collect();
    let matrix = match KEPT.take(columns) {
        Some((kept_for, matrix)) if kept_for == encodings => matrix,
        _ => Arc::new(Matrix::encode(features, columns)),
    };
    let bytes = matrix.values.len() * 8 + matrix.rows.len() * 16;
    KEPT.put(columns, (encodings, Arc::clone(&matrix)), bytes);
    matrix
}
