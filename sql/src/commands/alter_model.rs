//! `ALTER MODEL name SET (option = value, ...)`; which options exist is the engine's business
//! (`refresh`, `keep_versions`).

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["ALTER", "MODEL"]) {
        return Ok(None);
    }
    let name = words.identifier("a model name")?;
    words.expect(&["SET"])?;
    let options = words.option_list()?;
    words.expect_end("ALTER MODEL ... SET (...)")?;
    Ok(Some(Command::AlterModel { name, options }))
}

#[cfg(test)]
mod tests {
    use crate::{parse, Command, Statement};

    #[test]
    fn options_as_given() {
        assert_eq!(
            parse("ALTER MODEL m SET (refresh = 'continuous', keep_versions = 3)").unwrap(),
            vec![Statement::Command(Command::AlterModel { name: "m".into(), options: vec![("refresh".into(), "continuous".into()), ("keep_versions".into(), "3".into())] })]
        );
        assert!(parse("ALTER MODEL m refresh = 'manual'").is_err());
    }
}
