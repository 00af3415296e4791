//! `ADD EXECUTOR` and `ADD EXECUTORS n`

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if words.accept(&["ADD", "EXECUTOR"]) {
        words.expect_end("ADD EXECUTOR")?;
        return Ok(Some(Command::AddExecutors { count: 1 }));
    }
    if !words.accept(&["ADD", "EXECUTORS"]) {
        return Ok(None);
    }
    let count = words.count("the number of executors to add")?;
    words.expect_end("ADD EXECUTORS n")?;
    Ok(Some(Command::AddExecutors { count }))
}

#[cfg(test)]
mod tests {
    use crate::{parse, Command, Statement};

    #[test]
    fn one_or_many() {
        assert_eq!(parse("add executor").unwrap(), vec![Statement::Command(Command::AddExecutors { count: 1 })]);
        assert_eq!(parse("ADD EXECUTORS 3").unwrap(), vec![Statement::Command(Command::AddExecutors { count: 3 })]);
        assert!(parse("ADD EXECUTORS 0").is_err());
        assert!(parse("ADD EXECUTORS").is_err());
    }
}
