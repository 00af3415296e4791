//! `REMOVE EXECUTOR 'id'`

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["REMOVE", "EXECUTOR"]) {
        return Ok(None);
    }
    let id = words.name_or_string("an executor id")?;
    words.expect_end("REMOVE EXECUTOR 'id'")?;
    Ok(Some(Command::RemoveExecutor { id }))
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
    }
}
