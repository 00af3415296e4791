//! Exact sums of a batch's values and of their products, at the speed of integer arithmetic.
//!
//! [`ExactSum`] adds any `f64` exactly but costs a few nanoseconds per value; a pass that adds
//! every product of a row's columns (linear regression's XᵀX: 66 of them for ten features) or
//! every value of a row (k-means' cluster sums) spends most of its time there. Within one batch,
//! though, a column's values mostly share a handful of binary exponents, so they are integers
//! on a common grid: with `2^b` above the batch's largest magnitude, each value `v` is
//! `m · 2^(b-62)` for an integer `|m| < 2^62` whenever its lowest bit is not below that step
//! (any value within 2^-9 of the largest, and any with trailing zero bits). Integers sum (and
//! multiply) exactly in `i128`: the batch's sums are gathered so, and added to the [`ExactSum`]s
//! once per batch, exactly. A value off its grid (far smaller than the batch's largest, or not
//! finite) leaves its row to the caller's plain [`ExactSum::add`]s.
//!
//! Every step is exact, so the totals are the same bits as adding every value (or product) with
//! [`ExactSum::add`]: they still do not depend on how the rows were batched or partitioned.

use super::exact_sum::{pow2, ExactSum};

/// Bits of a value's integer on its grid: products of two fit in an `i128`.
const BITS: i32 = 62;

/// Grids outside these bounds (magnitudes past 2^±400) leave the batch to [`ExactSum::add`]:
/// the products' grids and their sums then stay far inside an `f64`'s normal range, where
/// scaling by a power of two is exact.
const LOWEST_BOUND: i32 = -400;
const HIGHEST_BOUND: i32 = 400;

/// One column's grid within a batch.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    /// `2^(BITS - b)`: a value times it is its integer, when it has one.
    scale: f64,
    /// The grid's step is `2^exponent`.
    pub exponent: i32,
}

impl Grid {
    /// The grid of `values` (all of a batch's values of one column), or `None` when it has a
    /// non-finite value or magnitudes outside the bounds.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Grid> {
        let mut top = 0u64;
        for v in values {
            top = top.max((v.to_bits() >> 52) & 0x7ff);
        }
        if top == 0x7ff {
            return None;
        }
        // Every value is below 2^bound. A column of zeros (and subnormals, which then are off
        // the grid) takes 2^0.
        let bound = if top == 0 { 0 } else { top as i32 - 1022 };
        if !(LOWEST_BOUND..=HIGHEST_BOUND).contains(&bound) {
            return None;
        }
        Some(Grid { scale: pow2(BITS - bound), exponent: bound - BITS })
    }

    /// `v`'s integer on the grid, if it has one.
    #[inline]
    pub fn integer(&self, v: f64) -> Option<i64> {
        let scaled = v * self.scale;
        let m = scaled as i64;
        // A nonzero value whose scaling underflowed to 0 is off the grid too.
        (m as f64 == scaled && (scaled != 0.0 || v == 0.0)).then_some(m)
    }
}

/// An integer sum wider than `i128`: `high · 2^128 + low`, the products of a whole batch of
/// 62-bit integers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wide {
    low: i128,
    high: i64,
}

impl Wide {
    #[inline]
    pub fn add(&mut self, value: i128) {
        let (low, wrapped) = self.low.overflowing_add(value);
        self.low = low;
        if wrapped {
            self.high += if value < 0 { -1 } else { 1 };
        }
    }

    /// Adds the sum, times `2^exponent`, to `total` exactly, and starts again from zero.
    pub fn drain_into(&mut self, total: &mut ExactSum, exponent: i32) {
        let Wide { low, high } = std::mem::take(self);
        // As an unsigned low part under a signed high one, cut in pieces an f64 holds exactly.
        let (low, high) = if low < 0 { (low as u128, high - 1) } else { (low as u128, high) };
        let mask = (1u128 << 48) - 1;
        let pieces = [(low & mask) as f64, ((low >> 48) & mask) as f64, (low >> 96) as f64, high as f64];
        for (piece, at) in pieces.into_iter().zip([0, 48, 96, 128]) {
            if piece != 0.0 {
                total.add(piece * pow2(exponent + at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(seed: u64, count: usize, spread: i32) -> Vec<f64> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                mantissa * 2f64.powi(((state >> 5) % spread as u64) as i32 - spread / 2)
            })
            .collect()
    }

    /// The grid's sums of values and products equal `ExactSum::add`'s of every one, bit for bit.
    #[test]
    fn the_grid_sums_what_exact_sums_sum() {
        for (seed, spread) in [(1, 4), (2, 20), (3, 80), (4, 1)] {
            let xs = values(seed, 5000, spread);
            let ys = values(seed + 100, 5000, spread);
            let (gx, gy) = (Grid::of(xs.iter().copied()).unwrap(), Grid::of(ys.iter().copied()).unwrap());
            let (mut plain_x, mut plain_xy) = (ExactSum::new(), ExactSum::new());
            let (mut grid_x, mut grid_xy) = (ExactSum::new(), ExactSum::new());
            let (mut wide_x, mut wide_xy) = (Wide::default(), Wide::default());
            let mut on_grid = 0;
            for (x, y) in xs.iter().zip(&ys) {
                let product = x * y;
                plain_x.add(*x);
                plain_xy.add(product);
                plain_xy.add(x.mul_add(*y, -product));
                match (gx.integer(*x), gy.integer(*y)) {
                    (Some(mx), Some(my)) => {
                        on_grid += 1;
                        wide_x.add(mx as i128);
                        wide_xy.add(mx as i128 * my as i128);
                    }
                    _ => {
                        grid_x.add(*x);
                        grid_xy.add(product);
                        grid_xy.add(x.mul_add(*y, -product));
                    }
                }
            }
            wide_x.drain_into(&mut grid_x, gx.exponent);
            wide_xy.drain_into(&mut grid_xy, gx.exponent + gy.exponent);
            assert_eq!(grid_x.value().to_bits(), plain_x.value().to_bits(), "sum, spread {spread}");
            assert_eq!(grid_xy.value().to_bits(), plain_xy.value().to_bits(), "products, spread {spread}");
            // The same exact sum (its wire form is the carried chunks).
            assert_eq!(serde_json::to_string(&grid_xy).unwrap(), serde_json::to_string(&plain_xy).unwrap(), "spread {spread}");
            // Values within 2^9 of the largest are all on the grid; wider spreads leave rows to
            // the slow path.
            assert!(on_grid > 0 && (spread > 4 || on_grid == 5000), "{on_grid} rows on the grid, spread {spread}");
        }
    }

    #[test]
    fn wide_sums_carry_past_i128() {
        let mut wide = Wide::default();
        let big = (1i128 << 124) - 1;
        (0..40).for_each(|_| wide.add(big));
        (0..15).for_each(|_| wide.add(-big));
        let mut total = ExactSum::new();
        wide.drain_into(&mut total, -10);
        assert_eq!(total.value(), 25.0 * big as f64 * 2f64.powi(-10));
        let mut negative = Wide::default();
        (0..40).for_each(|_| negative.add(-big));
        let mut total = ExactSum::new();
        negative.drain_into(&mut total, 0);
        assert_eq!(total.value(), -40.0 * big as f64);
    }

    #[test]
    fn off_grid_values() {
        let grid = Grid::of([1.0, 0.5, 1e-30]).unwrap();
        assert_eq!(grid.integer(1.0), Some(1 << 61));
        assert_eq!(grid.integer(0.0), Some(0));
        assert_eq!(grid.integer(1e-30), None);
        assert!(Grid::of([1.0, f64::NAN]).is_none());
        assert!(Grid::of([1e200]).is_none());
        let zeros = Grid::of([0.0, -0.0]).unwrap();
        assert_eq!(zeros.integer(0.0), Some(0));
        assert_eq!(zeros.integer(5e-324), None);
    }
}
