//! The exact sum of `f64` values, as a partial state that merges exactly: the total is the same
//! bits whatever order the values came in and however they were split among partitions, so a
//! model trained from such sums does not depend on how its rows were partitioned.
//!
//! Every finite `f64` is an integer multiple of 2^-1074; the sum is kept as that integer, in
//! 32-bit chunks held in `i64`s (a superaccumulator, after Radford Neal's "Fast exact summation
//! using small and large superaccumulators", 2015). A value adds its 53-bit mantissa, shifted to
//! its exponent, into two or three chunks; the headroom of each `i64` absorbs 2^30 additions
//! before carries must be propagated. The total is rounded to the nearest `f64` (ties to even)
//! once, when it is read.

use serde::{Deserialize, Serialize};

/// Chunks of 32 bits: 2^-1074 up to 2^1024 is 2098 bits (66 chunks with the 85 bits a shifted
/// mantissa spans), plus 64 bits of growth for sums of up to 2^64 values.
const CHUNKS: usize = 68;
const CHUNK_BITS: u32 = 32;
const CHUNK_MASK: i64 = (1 << CHUNK_BITS) - 1;
/// Each addition puts less than 2^32 into a chunk: 2^30 of them fit in an `i64` holding up to
/// 2^32 after a carry.
const ADDS_BETWEEN_CARRIES: u32 = 1 << 30;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Wire", into = "Wire")]
pub struct ExactSum {
    chunks: Box<[i64; CHUNKS]>,
    adds_since_carry: u32,
    positive_infinity: bool,
    negative_infinity: bool,
    nan: bool,
}

impl Default for ExactSum {
    fn default() -> Self {
        Self { chunks: Box::new([0; CHUNKS]), adds_since_carry: 0, positive_infinity: false, negative_infinity: false, nan: false }
    }
}

impl std::fmt::Debug for ExactSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExactSum({})", self.value())
    }
}

impl ExactSum {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            match x {
                f64::INFINITY => self.positive_infinity = true,
                f64::NEG_INFINITY => self.negative_infinity = true,
                _ => self.nan = true,
            }
            return;
        }
        let bits = x.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as u32;
        let mut mantissa = bits & ((1 << 52) - 1);
        if exponent == 0 && mantissa == 0 {
            return;
        }
        // x = mantissa * 2^(position - 1074); subnormals have exponent 1 without the hidden bit.
        let position = if exponent == 0 {
            0
        } else {
            mantissa |= 1 << 52;
            exponent - 1
        };
        let index = (position / CHUNK_BITS) as usize;
        let wide = (mantissa as u128) << (position % CHUNK_BITS);
        let parts = [(wide as i64) & CHUNK_MASK, ((wide >> 32) as i64) & CHUNK_MASK, (wide >> 64) as i64];
        let negative = bits >> 63 == 1;
        for (chunk, part) in self.chunks[index..index + 3].iter_mut().zip(parts) {
            if negative {
                *chunk -= part;
            } else {
                *chunk += part;
            }
        }
        self.adds_since_carry += 1;
        if self.adds_since_carry == ADDS_BETWEEN_CARRIES {
            self.carry();
        }
    }

    /// Adds another partial sum: the result is the exact sum of both sets of values.
    pub fn merge(&mut self, other: &ExactSum) {
        self.carry();
        let mut other = other.clone();
        other.carry();
        for (a, b) in self.chunks.iter_mut().zip(other.chunks.iter()) {
            *a += b;
        }
        self.positive_infinity |= other.positive_infinity;
        self.negative_infinity |= other.negative_infinity;
        self.nan |= other.nan;
        self.carry();
    }

    /// Brings every chunk but the top one into [0, 2^32); the top one carries the sign.
    fn carry(&mut self) {
        normalize(&mut self.chunks);
        self.adds_since_carry = 0;
    }

    /// The sum, rounded once to the nearest `f64` (ties to even).
    pub fn value(&self) -> f64 {
        if self.nan || (self.positive_infinity && self.negative_infinity) {
            return f64::NAN;
        }
        if self.positive_infinity {
            return f64::INFINITY;
        }
        if self.negative_infinity {
            return f64::NEG_INFINITY;
        }
        let mut chunks = self.chunks.clone();
        normalize(&mut chunks);
        let negative = chunks[CHUNKS - 1] < 0;
        if negative {
            chunks.iter_mut().for_each(|c| *c = -*c);
            normalize(&mut chunks);
        }
        let Some(top) = chunks.iter().rposition(|c| *c != 0) else { return 0.0 };
        let low = top.saturating_sub(2);
        let mut bits: u128 = 0;
        for chunk in chunks[low..=top].iter().rev() {
            bits = (bits << CHUNK_BITS) | *chunk as u128;
        }
        // The chunks below hold bits far under the rounding point (`bits` has at least 65
        // significant bits when there are any below): they matter only as a "sticky" bit that
        // breaks a tie.
        if chunks[..low].iter().any(|c| *c != 0) {
            bits |= 1;
        }
        let rounded = bits as f64 * pow2(CHUNK_BITS as i32 * low as i32 - 1074);
        if negative {
            -rounded
        } else {
            rounded
        }
    }
}

/// Propagates carries upwards so that every chunk but the top one is in [0, 2^32).
fn normalize(chunks: &mut [i64; CHUNKS]) {
    let mut carry = 0i64;
    for chunk in chunks[..CHUNKS - 1].iter_mut() {
        let v = *chunk + carry;
        *chunk = v & CHUNK_MASK;
        carry = v >> CHUNK_BITS;
    }
    chunks[CHUNKS - 1] += carry;
}

/// 2^k exactly, for k from -1074 up; beyond 2^1023 by two factors (the product is then exact or
/// overflows, as the rounded sum would).
pub(crate) fn pow2(k: i32) -> f64 {
    match k {
        k if k > 1023 => f64::from_bits(((1023 + 1023) as u64) << 52) * pow2(k - 1023),
        k if k >= -1022 => f64::from_bits(((k + 1023) as u64) << 52),
        k => f64::from_bits(1u64 << (k + 1074)),
    }
}

/// The serialized form: the non-zero chunks of the normalized sum.
#[derive(Serialize, Deserialize)]
struct Wire {
    chunks: Vec<(u8, i64)>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    positive_infinity: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    negative_infinity: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    nan: bool,
}

impl From<ExactSum> for Wire {
    fn from(mut sum: ExactSum) -> Wire {
        sum.carry();
        Wire {
            chunks: sum.chunks.iter().enumerate().filter(|(_, c)| **c != 0).map(|(i, c)| (i as u8, *c)).collect(),
            positive_infinity: sum.positive_infinity,
            negative_infinity: sum.negative_infinity,
            nan: sum.nan,
        }
    }
}

impl From<Wire> for ExactSum {
    fn from(wire: Wire) -> ExactSum {
        let mut sum = ExactSum { positive_infinity: wire.positive_infinity, negative_infinity: wire.negative_infinity, nan: wire.nan, ..Default::default() };
        for (i, c) in wire.chunks {
            if let Some(chunk) = sum.chunks.get_mut(i as usize) {
                *chunk = c;
            }
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(values: &[f64]) -> f64 {
        let mut s = ExactSum::new();
        values.iter().for_each(|v| s.add(*v));
        s.value()
    }

    #[test]
    fn cancellation_and_rounding_are_exact() {
        assert_eq!(sum(&[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(sum(&[0.1; 10]), 1.0);
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum(&[2.5, -2.5]), 0.0);
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: the tiny value decides it upwards.
        let two53 = 9007199254740992.0;
        assert_eq!(sum(&[two53, 1.0, 2f64.powi(-60)]), two53 + 2.0);
        assert_eq!(sum(&[two53, 1.0]), two53);
        assert_eq!(sum(&[two53, 1.0, -(2f64.powi(-60))]), two53);
        assert_eq!(sum(&[-two53, -1.0, -(2f64.powi(-60))]), -two53 - 2.0);
        // subnormals and the extremes
        assert_eq!(sum(&[5e-324, 5e-324]), 1e-323);
        assert_eq!(sum(&[f64::MAX, f64::MAX, -f64::MAX]), f64::MAX);
        assert_eq!(sum(&[f64::MAX, f64::MAX]), f64::INFINITY);
        assert_eq!(sum(&[-f64::MAX, -f64::MAX]), f64::NEG_INFINITY);
        assert!(sum(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert_eq!(sum(&[f64::INFINITY, 1.0]), f64::INFINITY);
    }

    #[test]
    fn integers_sum_as_in_exact_integer_arithmetic() {
        let mut state = 0x2545F4914F6CDD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let values: Vec<i64> = (0..10_000).map(|_| (next() >> 10) as i64 - (1 << 53)).collect();
        let exact: i128 = values.iter().map(|v| *v as i128).sum();
        assert_eq!(sum(&values.iter().map(|v| *v as f64).collect::<Vec<_>>()), exact as f64);
    }

    #[test]
    fn order_and_partitioning_do_not_change_the_bits() {
        let mut state = 0x9E3779B97F4A7C15u64;
        let mut values = Vec::new();
        for _ in 0..5000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let exponent = ((state >> 3) % 80) as i32 - 40;
            values.push(mantissa * 2f64.powi(exponent));
        }
        let forward = sum(&values);
        let mut reversed = values.clone();
        reversed.reverse();
        assert_eq!(sum(&reversed).to_bits(), forward.to_bits());
        // eight partitions of interleaved rows, merged in two orders, and through the wire form
        let mut parts: Vec<ExactSum> = (0..8).map(|_| ExactSum::new()).collect();
        for (i, v) in values.iter().enumerate() {
            parts[i % 8].add(*v);
        }
        let mut merged = ExactSum::new();
        for part in &parts {
            let wire: ExactSum = serde_json::from_slice(&serde_json::to_vec(part).unwrap()).unwrap();
            merged.merge(&wire);
        }
        assert_eq!(merged.value().to_bits(), forward.to_bits());
        let mut backwards = ExactSum::new();
        parts.iter().rev().for_each(|p| backwards.merge(p));
        assert_eq!(backwards, merged);
    }
}
