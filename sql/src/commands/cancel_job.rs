//! `CANCEL JOB 'id'`

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["CANCEL", "JOB"]) {
        return Ok(None);
    }
    let id = words.name_or_string("a job id")?;
    words.expect_end("CANCEL JOB 'id'")?;
    Ok(Some(Command::CancelJob { id }))
}
