//! `VACUUM name [RETAIN n HOURS]`: delete the files of a Delta table that no version kept for
//! the retention period needs (Delta's command). PostgreSQL's `VACUUM` of its own tables, with
//! no table or with options, is not squall's: squall has nothing to vacuum there.

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["VACUUM"]) {
        return Ok(None);
    }
    let table = words.identifier("a table name")?;
    let retain_hours = if words.accept(&["RETAIN"]) {
        let hours = words.natural("a number of hours")?;
        words.expect(&["HOURS"])?;
        Some(hours)
    } else {
        None
    };
    words.expect_end("VACUUM")?;
    Ok(Some(Command::Vacuum { table, retain_hours }))
}

#[cfg(test)]
mod tests {
    use crate::{parse, Command, Statement};

    #[test]
    fn with_and_without_retention() {
        assert_eq!(parse("VACUUM t").unwrap(), vec![Statement::Command(Command::Vacuum { table: "t".into(), retain_hours: None })]);
        assert_eq!(
            parse("vacuum t retain 0 hours").unwrap(),
            vec![Statement::Command(Command::Vacuum { table: "t".into(), retain_hours: Some(0) })]
        );
        assert!(parse("VACUUM t RETAIN 5").is_err());
    }
}
