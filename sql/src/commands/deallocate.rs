//! `DEALLOCATE [PREPARE] name | ALL`: drops a statement the connection prepared through the
//! extended protocol (psycopg and pgjdbc send it by name).

use super::Command;
use crate::words::Words;
use crate::ParseError;

/// Which prepared statements a DEALLOCATE drops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deallocate {
    All,
    /// One statement, by its name (folded to lower case unless it was quoted).
    Named(String),
}

impl Deallocate {
    /// PostgreSQL's command tag.
    pub fn tag(&self) -> &'static str {
        match self {
            Deallocate::All => "DEALLOCATE ALL",
            Deallocate::Named(_) => "DEALLOCATE",
        }
    }
}

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["DEALLOCATE"]) {
        return Ok(None);
    }
    words.accept(&["PREPARE"]);
    let target = if words.accept(&["ALL"]) { Deallocate::All } else { Deallocate::Named(words.identifier("a prepared statement's name")?) };
    words.expect_end("DEALLOCATE")?;
    Ok(Some(Command::Deallocate(target)))
}

#[cfg(test)]
mod tests {
    use super::Deallocate;
    use crate::{parse, Command, Statement};

    #[test]
    fn by_name_or_all() {
        for (text, target) in [
            ("DEALLOCATE _pg3_0", Deallocate::Named("_pg3_0".into())),
            ("deallocate prepare S_1", Deallocate::Named("s_1".into())),
            ("DEALLOCATE \"S_1\";", Deallocate::Named("S_1".into())),
            ("DEALLOCATE ALL", Deallocate::All),
            ("DEALLOCATE PREPARE all", Deallocate::All),
        ] {
            assert_eq!(parse(text).unwrap(), vec![Statement::Command(Command::Deallocate(target))], "{text}");
        }
    }

    #[test]
    fn a_name_is_needed() {
        assert!(parse("DEALLOCATE").unwrap_err().message.starts_with("syntax error"));
    }
}
