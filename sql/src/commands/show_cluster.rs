//! `SHOW CLUSTER`

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["SHOW", "CLUSTER"]) {
        return Ok(None);
    }
    words.expect_end("SHOW CLUSTER")?;
    Ok(Some(Command::ShowCluster))
}
