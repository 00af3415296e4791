//! `REFRESH MODEL name`: make a new version of a model from its table's new rows now.

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["REFRESH", "MODEL"]) {
        return Ok(None);
    }
    let name = words.identifier("a model name")?;
    words.expect_end("REFRESH MODEL")?;
    Ok(Some(Command::RefreshModel { name }))
}

#[cfg(test)]
mod tests {
    use crate::{parse, Command, Statement};

    #[test]
    fn names_the_model() {
        assert_eq!(parse("refresh model Churn").unwrap(), vec![Statement::Command(Command::RefreshModel { name: "churn".into() })]);
        assert!(parse("REFRESH MODEL").is_err());
    }
}
