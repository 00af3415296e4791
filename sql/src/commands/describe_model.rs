//! `DESCRIBE MODEL name` (`name` may be `'name@2'` for an older version)

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["DESCRIBE", "MODEL"]) {
        return Ok(None);
    }
    let name = words.name_or_string("a model name")?;
    words.expect_end("DESCRIBE MODEL")?;
    Ok(Some(Command::DescribeModel { name }))
}
