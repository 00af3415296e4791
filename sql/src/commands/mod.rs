//! squall's own commands, one file each. A command is recognised by its leading words; anything
//! else is standard SQL.

mod show_executors;

use sqlparser::tokenizer::Token;

use crate::words::Words;
use crate::ParseError;

/// A squall command, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `SHOW EXECUTORS`: the live executors and their task counts.
    ShowExecutors,
}

/// `Ok(None)` when the statement is not a squall command.
pub(crate) fn parse_command(tokens: &[Token]) -> Result<Option<Command>, ParseError> {
    let mut words = Words::new(tokens);
    if let Some(command) = show_executors::parse(&mut words)? {
        return Ok(Some(command));
    }
    Ok(None)
}
