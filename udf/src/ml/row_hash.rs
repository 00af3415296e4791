//! A hash of a row's values that is the same on every node and every run (unlike DataFusion's
//! hashes, which may depend on the CPU): the holdout split and the training sample are decided
//! by it, so they do not depend on how the rows are partitioned or where they are read.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;

use super::features::{convert, Kind};

pub fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// One hash per row over `columns`, seeded.
pub fn hashes(seed: u64, columns: &[ArrayRef], rows: usize) -> Result<Vec<u64>> {
    let mut out = vec![mix(seed ^ 0x5175_6c6c); rows];
    for column in columns {
        let kind = if column.data_type().is_numeric() { Kind::Numeric } else { Kind::Categorical };
        let column = match column.data_type() {
            DataType::Null => continue,
            _ => convert(column, kind)?,
        };
        for (row, h) in out.iter_mut().enumerate() {
            let v = if column.is_null(row) {
                0x6e75_6c6c
            } else if kind == Kind::Numeric {
                let x = column.as_primitive::<datafusion::arrow::datatypes::Float64Type>().value(row);
                // -0.0 and 0.0 are one value
                (if x == 0.0 { 0.0f64 } else { x }).to_bits()
            } else {
                column.as_string::<i32>().value(row).bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
            };
            *h = mix(h.rotate_left(5) ^ v);
        }
    }
    Ok(out)
}

/// A hash as a number in [0, 1).
pub fn fraction(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}
