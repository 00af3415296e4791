//! `DROP MODEL [IF EXISTS] name`: every version goes.

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["DROP", "MODEL"]) {
        return Ok(None);
    }
    let if_exists = words.accept(&["IF", "EXISTS"]);
    let name = words.identifier("a model name")?;
    words.expect_end("DROP MODEL")?;
    Ok(Some(Command::DropModel { name, if_exists }))
}

#[cfg(test)]
mod tests {
    use crate::{parse, Command, Statement};

    #[test]
    fn if_exists() {
        assert_eq!(
            parse("drop model if exists Iris").unwrap(),
            vec![Statement::Command(Command::DropModel { name: "iris".into(), if_exists: true })]
        );
    }
}
