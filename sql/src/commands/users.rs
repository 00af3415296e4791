//! `CREATE USER`, `ALTER USER` and `DROP USER` (`ROLE` is read the same way), in PostgreSQL's
//! words: `CREATE USER name [WITH] [PASSWORD 'secret' | PASSWORD NULL] [SUPERUSER | NOSUPERUSER]
//! [LOGIN | NOLOGIN]`.

use super::Command;
use crate::words::Words;
use crate::ParseError;

/// What `CREATE`/`ALTER USER` says about a user; `None`: not said.
#[derive(Clone, PartialEq, Default)]
pub struct UserOptions {
    /// `PASSWORD 'secret'` (`Some(Some(..))`) or `PASSWORD NULL` (`Some(None)`: no password).
    pub password: Option<Option<String>>,
    pub superuser: Option<bool>,
}

/// Passwords never appear in logs or error messages.
impl std::fmt::Debug for UserOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let password = self.password.as_ref().map(|p| if p.is_some() { "'********'" } else { "NULL" });
        f.debug_struct("UserOptions").field("password", &password).field("superuser", &self.superuser).finish()
    }
}

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if words.accept(&["CREATE", "USER"]) || words.accept(&["CREATE", "ROLE"]) {
        let name = words.identifier("a user name")?;
        let options = options(words, "CREATE USER")?;
        return Ok(Some(Command::CreateUser { name, options }));
    }
    if words.accept(&["ALTER", "USER"]) || words.accept(&["ALTER", "ROLE"]) {
        let name = words.identifier("a user name")?;
        let options = options(words, "ALTER USER")?;
        return Ok(Some(Command::AlterUser { name, options }));
    }
    if words.accept(&["DROP", "USER"]) || words.accept(&["DROP", "ROLE"]) {
        let if_exists = words.accept(&["IF", "EXISTS"]);
        let names = words.name_list("a user name")?;
        words.expect_end("DROP USER")?;
        return Ok(Some(Command::DropUser { names, if_exists }));
    }
    Ok(None)
}

fn options(words: &mut Words, command: &str) -> Result<UserOptions, ParseError> {
    words.accept(&["WITH"]);
    let mut options = UserOptions::default();
    loop {
        if words.accept(&["ENCRYPTED", "PASSWORD"]) || words.accept(&["PASSWORD"]) {
            let password = if words.accept(&["NULL"]) { None } else { Some(words.string("a password in single quotes")?) };
            if options.password.replace(password).is_some() {
                return Err(ParseError::new("conflicting or redundant options: PASSWORD"));
            }
        } else if let Some(superuser) = superuser_word(words) {
            if options.superuser.replace(superuser).is_some() {
                return Err(ParseError::new("conflicting or redundant options: SUPERUSER"));
            }
        } else if words.accept(&["LOGIN"]) || words.accept(&["NOLOGIN"]) {
            // Every squall user may log in; accepted so that scripts written for PostgreSQL run.
        } else {
            words.expect_end(command)?;
            return Ok(options);
        }
    }
}

fn superuser_word(words: &mut Words) -> Option<bool> {
    if words.accept(&["SUPERUSER"]) {
        Some(true)
    } else if words.accept(&["NOSUPERUSER"]) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::UserOptions;
    use crate::{parse, Command, Statement};

    fn one(sql: &str) -> Command {
        match parse(sql).unwrap().remove(0) {
            Statement::Command(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_user_with_password_and_superuser() {
        assert_eq!(
            one("CREATE USER Alice WITH PASSWORD 's3cr''et' SUPERUSER"),
            Command::CreateUser { name: "alice".into(), options: UserOptions { password: Some(Some("s3cr'et".into())), superuser: Some(true) } }
        );
        assert_eq!(one("create role bob login"), Command::CreateUser { name: "bob".into(), options: UserOptions::default() });
    }

    #[test]
    fn alter_and_drop() {
        assert_eq!(
            one("ALTER USER bob PASSWORD NULL NOSUPERUSER"),
            Command::AlterUser { name: "bob".into(), options: UserOptions { password: Some(None), superuser: Some(false) } }
        );
        assert_eq!(one("DROP USER IF EXISTS a, b"), Command::DropUser { names: vec!["a".into(), "b".into()], if_exists: true });
    }

    #[test]
    fn bad_forms_are_syntax_errors() {
        assert!(parse("CREATE USER").is_err());
        assert!(parse("CREATE USER a PASSWORD secret").is_err());
        assert!(parse("CREATE USER a SUPERUSER NOSUPERUSER").is_err());
        assert!(parse("CREATE USER a CREATEDB").is_err());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let shown = format!("{:?}", one("CREATE USER a PASSWORD 'hunter2'"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
