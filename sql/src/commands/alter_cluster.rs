//! `ALTER CLUSTER SET (option = value, ...)`; which options exist is the engine's business.

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["ALTER", "CLUSTER"]) {
        return Ok(None);
    }
    words.expect(&["SET"])?;
    let options = words.option_list()?;
    words.expect_end("ALTER CLUSTER SET (...)")?;
    Ok(Some(Command::AlterCluster { options }))
}

#[cfg(test)]
mod tests {
    use crate::{parse, Command, Statement};

    #[test]
    fn settings_as_given() {
        assert_eq!(
            parse("ALTER CLUSTER SET (min_executors = 1, max_executors = 8, scale_up_after = '1s')").unwrap(),
            vec![Statement::Command(Command::AlterCluster {
                options: vec![
                    ("min_executors".into(), "1".into()),
                    ("max_executors".into(), "8".into()),
                    ("scale_up_after".into(), "1s".into()),
                ]
            })]
        );
        assert!(parse("ALTER CLUSTER SET min_executors = 1").is_err());
    }
}
