//! `squall_train_pass(algorithm, pass, [key,] [target,] feature, ...)`: one pass of a model's
//! training, as an aggregate. `algorithm` (text) and `pass` (binary, what the algorithm's trainer
//! asked for: `ml::algorithms::Pass`; text when it is UTF-8, see [`pass_constant`]) are constants that choose the partial state; each executor
//! feeds it the rows of its partitions, the final stage merges the partial states, and the
//! coordinator's trainer reads the merged state. Arguments come converted: the key and numeric
//! columns as double, categorical ones as text.
//!
//! The result also says which processes read rows into it, so that training can tell (and tests
//! check) that the work ran on the executors: [`decode`].

use std::collections::BTreeSet;

use datafusion::arrow::array::ArrayRef;
use datafusion::common::ScalarValue;
use datafusion::error::Result;

use super::blob_aggregate::{BlobAggregate, Partial};
use crate::ml::algorithms;
use crate::ml::error::coded;

pub const NAME: &str = "squall_train_pass";

pub fn aggregate() -> BlobAggregate {
    BlobAggregate::with_constants(NAME, 2, start)
}

fn start(constants: &[ScalarValue]) -> Result<Box<dyn Partial>> {
    match constants {
        [ScalarValue::Utf8(Some(algorithm)), ScalarValue::Binary(Some(pass))] => {
            Ok(Box::new(Traced { inner: algorithms::find(algorithm)?.partial(pass)?, processes: BTreeSet::new() }))
        }
        [ScalarValue::Utf8(Some(algorithm)), ScalarValue::Utf8(Some(pass))] => {
            Ok(Box::new(Traced { inner: algorithms::find(algorithm)?.partial(pass.as_bytes())?, processes: BTreeSet::new() }))
        }
        _ => Err(coded("XX000", format!("{NAME} takes an algorithm's name and a pass first, not {constants:?}"))),
    }
}

/// A pass's spec as the constant argument that carries it: as text when it is UTF-8 (the specs
/// are JSON). DataFusion names every argument of a call by its display while planning, many
/// times a pass, and writes a binary value out byte by byte in decimal: for a boosted model's
/// spec of megabytes, most of the coordinator's time in a pass. Text is written as it is.
pub fn pass_constant(spec: Vec<u8>) -> ScalarValue {
    match String::from_utf8(spec) {
        Ok(text) => ScalarValue::Utf8(Some(text)),
        Err(binary) => ScalarValue::Binary(Some(binary.into_bytes())),
    }
}

/// The merged state of a pass, and the processes that read its rows.
pub fn decode(bytes: &[u8]) -> Result<(BTreeSet<u32>, &[u8])> {
    if bytes.is_empty() {
        return Ok((BTreeSet::new(), bytes));
    }
    let malformed = || coded("XX000", "a training pass's result is malformed");
    let count = u32::from_le_bytes(bytes.get(..4).ok_or_else(malformed)?.try_into().map_err(|_| malformed())?) as usize;
    let header = 4 + 4 * count;
    let pids = bytes.get(4..header).ok_or_else(malformed)?;
    let processes = pids.chunks_exact(4).map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]])).collect();
    Ok((processes, &bytes[header..]))
}

/// An algorithm's partial state, with the processes that fed it rows.
#[derive(Debug)]
struct Traced {
    inner: Box<dyn Partial>,
    processes: BTreeSet<u32>,
}

impl Partial for Traced {
    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.processes.insert(std::process::id());
        self.inner.update(values)
    }

    fn merge(&mut self, bytes: &[u8]) -> Result<()> {
        let (processes, state) = decode(bytes)?;
        self.processes.extend(processes);
        if state.is_empty() {
            return Ok(());
        }
        self.inner.merge(state)
    }

    fn to_bytes(&mut self) -> Result<Vec<u8>> {
        let mut bytes = (self.processes.len() as u32).to_le_bytes().to_vec();
        self.processes.iter().for_each(|p| bytes.extend(p.to_le_bytes()));
        bytes.extend(self.inner.to_bytes()?);
        Ok(bytes)
    }

    fn size(&self) -> usize {
        self.inner.size() + self.processes.len() * 4
    }
}
