//! squall's SQL dialect, as pure functions from text to statements: no I/O, no async.
//!
//! A request (one simple-query message may carry several statements) is split on top-level
//! semicolons; each statement is either one of squall's own commands (`SHOW EXECUTORS`, and later
//! `TRAIN MODEL`, `ALTER CLUSTER`, ...) or standard SQL, which is handed on as text to the engine,
//! where DataFusion's Postgres-dialect parser reads it.

mod commands;
mod split;
mod words;

pub use commands::{AlterTable, Command, CreatePipe, Deallocate, Discard, Grant, ObjectKind, Privilege, RoleSetting, Savepoint, TrainModel, UserOptions};
/// Tokens back to SQL text that reads as they did (quotes escaped again).
pub use split::render as render_tokens;

/// One statement of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// A squall command, parsed.
    Command(Command),
    /// Standard SQL, passed on as its text (without the trailing semicolon).
    Sql(String),
}

/// A statement squall could not read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

/// Splits `text` into statements and parses squall's own commands. Empty statements (`;;`,
/// comments only) are dropped, as PostgreSQL does.
pub fn parse(text: &str) -> Result<Vec<Statement>, ParseError> {
    Ok(parse_with_texts(text)?.into_iter().map(|(statement, _)| statement).collect())
}

/// [`parse`], each statement with the text to show for it (the query log, SHOW JOBS): as written,
/// but with passwords masked.
pub fn parse_with_texts(text: &str) -> Result<Vec<(Statement, String)>, ParseError> {
    split::split_statements(text)?
        .into_iter()
        .map(|tokens| match commands::parse_command(&tokens)? {
            Some(command) => Ok((Statement::Command(command), split::render(&split::passwords_masked(tokens)).trim().to_string())),
            None => {
                let sql = split::render(&tokens).trim().to_string();
                Ok((Statement::Sql(sql.clone()), sql))
            }
        })
        .collect()
}

/// A `DISCARD` or `DEALLOCATE` sent alone, which the connection carries out itself (it holds the
/// prepared statements and portals they drop); `None` for any other text. Cheap for other text:
/// only a text whose first word is one of theirs is parsed.
pub fn connection_command(text: &str) -> Option<Command> {
    let first = text.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next()?;
    if !(first.eq_ignore_ascii_case("discard") || first.eq_ignore_ascii_case("deallocate")) {
        return None;
    }
    match parse(text).ok()?.as_slice() {
        [Statement::Command(command @ (Command::Discard(_) | Command::Deallocate(_)))] => Some(command.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_shown_as_written_with_passwords_masked() {
        let texts: Vec<String> = parse_with_texts("create user ana with password 'it''s'; ALTER USER ana PASSWORD 'x' SUPERUSER; GRANT SELECT ON t TO ana")
            .unwrap()
            .into_iter()
            .map(|(_, text)| text)
            .collect();
        assert_eq!(texts, ["create user ana with password '********'", "ALTER USER ana PASSWORD '********' SUPERUSER", "GRANT SELECT ON t TO ana"]);
    }

    #[test]
    fn standard_sql_passes_through_as_text() {
        assert_eq!(parse("SELECT 1").unwrap(), vec![Statement::Sql("SELECT 1".into())]);
    }

    #[test]
    fn quotes_inside_strings_and_names_stay_escaped() {
        for sql in [r#"SELECT 'it''s', N'a''b', E'c\\d\'e', "we""ird" FROM "t""""#, "SELECT $$it's$$"] {
            assert_eq!(parse(sql).unwrap(), vec![Statement::Sql(sql.into())], "{sql}");
        }
    }

    #[test]
    fn several_statements_are_split_on_semicolons_outside_strings() {
        let got = parse("select 'a;b'; SHOW EXECUTORS ;; select 2;").unwrap();
        assert_eq!(
            got,
            vec![
                Statement::Sql("select 'a;b'".into()),
                Statement::Command(Command::ShowExecutors),
                Statement::Sql("select 2".into()),
            ]
        );
    }

    #[test]
    fn comments_alone_are_no_statement() {
        assert_eq!(parse("-- nothing\n ; /* x */").unwrap(), vec![]);
    }

    #[test]
    fn unterminated_string_is_a_syntax_error() {
        let err = parse("select 'abc").unwrap_err();
        assert!(err.message.contains("Unterminated"), "{}", err.message);
    }

    #[test]
    fn connection_commands_are_those_sent_alone() {
        assert_eq!(connection_command(" discard all;"), Some(Command::Discard(Discard::All)));
        assert_eq!(connection_command("DEALLOCATE ALL"), Some(Command::Deallocate(Deallocate::All)));
        for other in ["DISCARD ALL; SELECT 1", "SELECT 1", "DISCARD everything", "deallocated"] {
            assert_eq!(connection_command(other), None, "{other}");
        }
    }

    #[test]
    fn show_of_other_things_is_standard_sql() {
        assert_eq!(parse("SHOW search_path").unwrap(), vec![Statement::Sql("SHOW search_path".into())]);
    }
}
