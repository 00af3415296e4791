//! The shape every ML aggregate shares: its partial state is one opaque value (statistics, a
//! sample, a tally) computed on the executors, shipped through the shuffle as one Binary value,
//! merged in the final stage, and returned as Binary for the coordinator to read.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::expr::AggregateFunctionParams;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{udaf_default_display_name, udaf_default_human_display, udaf_default_schema_name};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Expr, Signature, Volatility};
use datafusion::physical_expr::expressions::Literal;

/// A mergeable partial result.
pub trait Partial: Send + Sync + Debug {
    /// Adds a batch of the aggregate's arguments.
    fn update(&mut self, values: &[ArrayRef]) -> Result<()>;
    /// Adds another node's partial result.
    fn merge(&mut self, bytes: &[u8]) -> Result<()>;
    fn to_bytes(&mut self) -> Result<Vec<u8>>;
    fn size(&self) -> usize;
}

/// How an aggregate's partial state starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    Empty(fn() -> Box<dyn Partial>),
    /// From the literals that are its first `usize` arguments; the partial is fed the others.
    FromConstants(usize, fn(&[ScalarValue]) -> Result<Box<dyn Partial>>),
}

/// Aggregates are told apart by name (function pointers have no stable identity).
#[derive(Debug)]
pub struct BlobAggregate {
    name: &'static str,
    signature: Signature,
    start: Start,
}

impl BlobAggregate {
    pub fn new(name: &'static str, start: fn() -> Box<dyn Partial>) -> Self {
        Self { name, signature: Signature::variadic_any(Volatility::Immutable), start: Start::Empty(start) }
    }

    /// An aggregate whose first `constants` arguments are literals that choose its partial state.
    pub fn with_constants(name: &'static str, constants: usize, start: fn(&[ScalarValue]) -> Result<Box<dyn Partial>>) -> Self {
        Self { name, signature: Signature::variadic_any(Volatility::Immutable), start: Start::FromConstants(constants, start) }
    }
}

impl PartialEq for BlobAggregate {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for BlobAggregate {}

impl std::hash::Hash for BlobAggregate {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl AggregateUDFImpl for BlobAggregate {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(match self.start {
            Start::Empty(start) => BlobAccumulator { partial: start(), constants: 0 },
            Start::FromConstants(constants, start) => {
                let values = args
                    .exprs
                    .iter()
                    .take(constants)
                    .map(|e| match e.downcast_ref::<Literal>() {
                        // Given as a dictionary of one value ([`constant`]), or as it is.
                        Some(literal) => Ok(match literal.value() {
                            ScalarValue::Dictionary(_, value) => (**value).clone(),
                            value => value.clone(),
                        }),
                        None => Err(crate::ml::error::coded("XX000", format!("{}'s first {constants} arguments must be constants", self.name))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                BlobAccumulator { partial: start(&values)?, constants }
            }
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(format!("{}[partial]", args.name), DataType::Binary, true))])
    }

    fn schema_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        udaf_default_schema_name(self, &short_constants(params))
    }

    fn display_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        udaf_default_display_name(self, &short_constants(params))
    }

    fn human_display(&self, params: &AggregateFunctionParams) -> Result<String> {
        udaf_default_human_display(self, &short_constants(params))
    }
}

/// The call's arguments with each Binary or long text constant (a training pass's spec, up to
/// megabytes of a boosted model's rounds) written as its size and a digest instead: the call's
/// name spells out its arguments, and planning writes the name many times (hundreds of
/// milliseconds a pass, most of a boosting pass's time). Calls with different constants keep
/// different names.
fn short_constants(params: &AggregateFunctionParams) -> AggregateFunctionParams {
    let short = |arg: &Expr| {
        let bytes = match arg {
            Expr::Literal(value, _) => match value {
                ScalarValue::Dictionary(_, value) => value.as_ref(),
                value => value,
            },
            _ => return arg.clone(),
        };
        let bytes: &[u8] = match bytes {
            ScalarValue::Binary(Some(bytes)) => bytes,
            ScalarValue::Utf8(Some(text)) if text.len() > 200 => text.as_bytes(),
            _ => return arg.clone(),
        };
        let digest = std::hash::BuildHasher::hash_one(&std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default(), bytes);
        Expr::Literal(ScalarValue::from(format!("{} bytes, digest {digest:016x}", bytes.len())), None)
    };
    AggregateFunctionParams {
        args: params.args.iter().map(short).collect(),
        distinct: params.distinct,
        filter: params.filter.clone(),
        order_by: params.order_by.clone(),
        null_treatment: params.null_treatment,
    }
}

#[derive(Debug)]
struct BlobAccumulator {
    partial: Box<dyn Partial>,
    /// Leading constant arguments, which chose the partial and are not fed to it.
    constants: usize,
}

impl Accumulator for BlobAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if values.first().is_some_and(|v| !v.is_empty()) {
            self.partial.update(&values[self.constants..])?;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let blobs = states[0].as_binary::<i32>();
        for blob in blobs.iter().flatten() {
            self.partial.merge(blob)?;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.partial.to_bytes()?))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Binary(Some(self.partial.to_bytes()?)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.partial.size()
    }
}

/// A constant argument of an aggregate [`BlobAggregate::with_constants`] makes, as a dictionary of
/// one value. DataFusion hands an aggregate its arguments as arrays of the batch's length, and a
/// plain constant became one copy of its bytes per row: a training pass's spec (the bins, the
/// trees so far) of some kilobytes, repeated over every batch of 8,192 rows, spent a level pass
/// of a decision tree over 1M rows (2.2 s, twenty scans) copying it. A dictionary repeats a key.
pub fn constant(value: ScalarValue) -> datafusion::logical_expr::Expr {
    datafusion::logical_expr::lit(ScalarValue::Dictionary(Box::new(DataType::Int32), Box::new(value)))
}

/// JSON encoding of partial states (small: statistics and tallies, not rows).
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| crate::ml::error::coded("XX000", format!("encoding a partial result: {e}")))
}

pub fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| crate::ml::error::coded("XX000", format!("decoding a partial result: {e}")))
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{col, AggregateUDF};

    use super::*;

    /// A call's name gives a Binary or long text constant's size and digest, not its bytes.
    #[test]
    fn binary_constants_are_named_by_size_and_digest() {
        let udaf = AggregateUDF::from(BlobAggregate::with_constants("pass", 2, |_| unreachable!()));
        for spec in [ScalarValue::Binary(Some(vec![7; 100_000])), ScalarValue::from("7".repeat(100_000))] {
            let call = udaf.call(vec![constant(ScalarValue::from("boosted_trees")), constant(spec), col("x")]);
            let name = call.schema_name().to_string();
            assert!(name.starts_with("pass(") && name.contains("boosted_trees") && name.contains("100000 bytes, digest") && name.len() < 120, "{name}");
        }
    }
}
