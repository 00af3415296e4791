//! A hash of a row's values that is the same on every node and every run (unlike DataFusion's
//! hashes, which may depend on the CPU): the holdout split and the training sample are decided
//! by it, so they do not depend on how the rows are partitioned or where they are read.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type};
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
        if column.data_type() == &DataType::Null {
            continue;
        }
        // Each column is read as a slice once (a row's value is not looked up through its
        // array's type, row by row: that was a fifth of a training pass).
        let numeric = column.data_type().is_numeric();
        let column = convert(column, if numeric { Kind::Numeric } else { Kind::Categorical })?;
        let nulls = column.logical_nulls();
        let value_of = |row: usize, v: u64| if nulls.as_ref().is_some_and(|n| n.is_null(row)) { NULL_VALUE } else { v };
        if numeric {
            let values = column.as_primitive::<Float64Type>().values();
            for (row, (h, x)) in out.iter_mut().zip(values.iter()).enumerate() {
                // -0.0 and 0.0 are one value
                let v = value_of(row, (if *x == 0.0 { 0.0f64 } else { *x }).to_bits());
                *h = mix(h.rotate_left(5) ^ v);
            }
        } else {
            let text = column.as_string::<i32>();
            for (row, h) in out.iter_mut().enumerate() {
                let v = value_of(row, text.value(row).bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3)));
                *h = mix(h.rotate_left(5) ^ v);
            }
        }
    }
    Ok(out)
}

/// What a NULL contributes to a row's hash.
const NULL_VALUE: u64 = 0x6e75_6c6c;

/// A hash as a number in [0, 1).
pub fn fraction(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int32Array, StringArray};

    use super::*;

    /// The hash read value by value through each array, as it was first written: keys (and so
    /// holdout splits and samples) stay what they were.
    fn row_by_row(seed: u64, columns: &[ArrayRef], rows: usize) -> Vec<u64> {
        let mut out = vec![mix(seed ^ 0x5175_6c6c); rows];
        for column in columns {
            let kind = if column.data_type().is_numeric() { Kind::Numeric } else { Kind::Categorical };
            let column = convert(column, kind).unwrap();
            for (row, h) in out.iter_mut().enumerate() {
                let v = if column.is_null(row) {
                    0x6e75_6c6c
                } else if kind == Kind::Numeric {
                    let x = column.as_primitive::<Float64Type>().value(row);
                    (if x == 0.0 { 0.0f64 } else { x }).to_bits()
                } else {
                    column.as_string::<i32>().value(row).bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
                };
                *h = mix(h.rotate_left(5) ^ v);
            }
        }
        out
    }

    #[test]
    fn hashes_are_the_row_by_row_ones() {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-0.0), Some(0.0), Some(1e300)])),
            Arc::new(Int32Array::from(vec![Some(7), Some(-3), None, Some(0), Some(i32::MAX)])),
            Arc::new(StringArray::from(vec![Some("a"), Some(""), Some("héllo"), None, Some("a")])),
        ];
        let fast = hashes(42, &columns, 5).unwrap();
        assert_eq!(fast, row_by_row(42, &columns, 5));
        // -0.0 and 0.0 hash alike; rows 2 and 3 differ only there and in their NULLs.
        assert_ne!(fast[2], fast[3]);
        let zeros: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(vec![-0.0, 0.0]))];
        let z = hashes(1, &zeros, 2).unwrap();
        assert_eq!(z[0], z[1]);
    }
}
