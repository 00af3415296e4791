//! `REMOVE EXECUTOR 'id'` (stop it now) and `DRAIN EXECUTOR 'id'` (stop it once nothing needs it):
//! the two ways to take one executor out, parsed alike.

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    let drain = if words.accept(&["REMOVE", "EXECUTOR"]) {
        false
    } else if words.accept(&["DRAIN", "EXECUTOR"]) {
        true
    } else {
        return Ok(None);
    };
    let id = words.name_or_string("an executor id")?;
    if drain {
        words.expect_end("DRAIN EXECUTOR 'id'")?;
        Ok(Some(Command::DrainExecutor { id }))
    } else {
        words.expect_end("REMOVE EXECUTOR 'id'")?;
        Ok(Some(Command::RemoveExecutor { id }))
    }
}

#[cfg(test)]
mod tests {
    use crate::{parse, Command, Statement};

    #[test]
    fn takes_the_id_as_a_string() {
        assert_eq!(
            parse("REMOVE EXECUTOR 'exec-1a2b'").unwrap(),
            vec![Statement::Command(Command::RemoveExecutor { id: "exec-1a2b".into() })]
        );
        assert_eq!(
            parse("drain executor 'exec-1a2b';").unwrap(),
            vec![Statement::Command(Command::DrainExecutor { id: "exec-1a2b".into() })]
        );
    }

    #[test]
    fn rejects_trailing_words() {
        assert!(parse("DRAIN EXECUTOR 'a' NOW").is_err());
    }
}
