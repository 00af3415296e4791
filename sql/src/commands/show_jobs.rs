//! `SHOW JOBS`

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["SHOW", "JOBS"]) {
        return Ok(None);
    }
    words.expect_end("SHOW JOBS")?;
    Ok(Some(Command::ShowJobs))
}
