//! `DESCRIBE HISTORY name`: a Delta table's commits, newest first (Delta's command).

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["DESCRIBE", "HISTORY"]) {
        return Ok(None);
    }
    let table = words.identifier("a table name")?;
    words.expect_end("DESCRIBE HISTORY")?;
    Ok(Some(Command::DescribeHistory { table }))
}

#[cfg(test)]
mod tests {
    use crate::{parse, Command, Statement};

    #[test]
    fn names_the_table() {
        assert_eq!(parse("DESCRIBE HISTORY t").unwrap(), vec![Statement::Command(Command::DescribeHistory { table: "t".into() })]);
    }
}
