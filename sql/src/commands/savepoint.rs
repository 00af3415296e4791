//! `SAVEPOINT name`, `RELEASE [SAVEPOINT] name`, `ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name`:
//! drivers send them around statements inside transactions (psycopg and SQLAlchemy for nested
//! blocks, pgjdbc with autosave). squall statements are atomic on their own, so these are accepted
//! as the transaction statements are (see the README on transactions).

use super::Command;
use crate::words::Words;
use crate::ParseError;

/// Which savepoint statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Savepoint {
    Create,
    Release,
    RollbackTo,
}

impl Savepoint {
    /// PostgreSQL's command tag.
    pub fn tag(self) -> &'static str {
        match self {
            Savepoint::Create => "SAVEPOINT",
            Savepoint::Release => "RELEASE",
            Savepoint::RollbackTo => "ROLLBACK",
        }
    }
}

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    let action = if words.accept(&["SAVEPOINT"]) {
        Savepoint::Create
    } else if words.accept(&["RELEASE"]) {
        words.accept(&["SAVEPOINT"]);
        Savepoint::Release
    } else if words.accept(&["ROLLBACK", "TO"]) || words.accept(&["ROLLBACK", "WORK", "TO"]) || words.accept(&["ROLLBACK", "TRANSACTION", "TO"]) {
        words.accept(&["SAVEPOINT"]);
        Savepoint::RollbackTo
    } else {
        return Ok(None);
    };
    let name = words.identifier("a savepoint name")?;
    words.expect_end(action.tag())?;
    Ok(Some(Command::Savepoint { action, name }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, Statement};

    #[test]
    fn the_three_forms() {
        assert_eq!(parse("SAVEPOINT \"_pg3_1\"").unwrap(), vec![Statement::Command(Command::Savepoint { action: Savepoint::Create, name: "_pg3_1".into() })]);
        assert_eq!(parse("release savepoint a").unwrap(), vec![Statement::Command(Command::Savepoint { action: Savepoint::Release, name: "a".into() })]);
        assert_eq!(parse("ROLLBACK TO SAVEPOINT a").unwrap(), vec![Statement::Command(Command::Savepoint { action: Savepoint::RollbackTo, name: "a".into() })]);
        assert_eq!(parse("ROLLBACK").unwrap(), vec![Statement::Sql("ROLLBACK".into())]);
    }
}
