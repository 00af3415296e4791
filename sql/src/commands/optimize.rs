//! `OPTIMIZE name`: compact a Delta table's small files into fewer large ones (Delta's command).

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["OPTIMIZE"]) {
        return Ok(None);
    }
    let table = words.identifier("a table name")?;
    words.expect_end("OPTIMIZE")?;
    Ok(Some(Command::Optimize { table }))
}

#[cfg(test)]
mod tests {
    use crate::{parse, Command, Statement};

    #[test]
    fn names_the_table() {
        assert_eq!(parse("optimize Events").unwrap(), vec![Statement::Command(Command::Optimize { table: "events".into() })]);
        assert!(parse("OPTIMIZE").is_err());
    }
}
