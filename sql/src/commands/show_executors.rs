//! `SHOW EXECUTORS`

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["SHOW", "EXECUTORS"]) {
        return Ok(None);
    }
    words.expect_end("SHOW EXECUTORS")?;
    Ok(Some(Command::ShowExecutors))
}

#[cfg(test)]
mod tests {
    use crate::{parse, Command, Statement};

    #[test]
    fn any_case() {
        assert_eq!(parse("show Executors").unwrap(), vec![Statement::Command(Command::ShowExecutors)]);
    }

    #[test]
    fn trailing_words_are_a_syntax_error() {
        let err = parse("SHOW EXECUTORS now").unwrap_err();
        assert!(err.message.starts_with("syntax error at or near \"now\""), "{}", err.message);
    }
}
