//! `CREATE USER`, `ALTER USER` and `DROP USER` (`ROLE` is read the same way, except that
//! `CREATE ROLE` makes a role that may not log in unless it says `LOGIN`, as in PostgreSQL), in
//! PostgreSQL's words: `CREATE USER name [WITH] [PASSWORD 'secret' | PASSWORD NULL] [SUPERUSER | NOSUPERUSER]
//! [LOGIN | NOLOGIN] [CONNECTION LIMIT n]`, with squall's `MAX_JOBS n` (cluster jobs the user may
//! run at once; -1: no limit, as for CONNECTION LIMIT); and `ALTER USER name SET parameter
//! {TO | =} value | DEFAULT`, `ALTER USER name RESET parameter | ALL`: the user's own defaults,
//! applied at login.

use super::Command;
use crate::words::Words;
use crate::ParseError;

/// What `CREATE`/`ALTER USER` says about a user; `None`: not said.
#[derive(Clone, PartialEq, Default)]
pub struct UserOptions {
    /// `PASSWORD 'secret'` (`Some(Some(..))`) or `PASSWORD NULL` (`Some(None)`: no password).
    pub password: Option<Option<String>>,
    pub superuser: Option<bool>,
    /// `LOGIN` / `NOLOGIN`: whether the user may open a session (a role that may not still owns
    /// privileges).
    pub login: Option<bool>,
    /// `CONNECTION LIMIT n`: sessions at once (-1: no limit).
    pub connection_limit: Option<i64>,
    /// `MAX_JOBS n`: cluster jobs at once (-1: no limit).
    pub max_jobs: Option<i64>,
}

/// `ALTER USER name SET ...` / `RESET ...`: a user's default for a session parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum RoleSetting {
    /// `SET parameter TO value`.
    Set { parameter: String, value: String },
    /// `RESET parameter`, or `SET parameter TO DEFAULT`.
    Reset { parameter: String },
    /// `RESET ALL`.
    ResetAll,
}

/// Passwords never appear in logs or error messages.
impl std::fmt::Debug for UserOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let password = self.password.as_ref().map(|p| if p.is_some() { "'********'" } else { "NULL" });
        f.debug_struct("UserOptions")
            .field("password", &password)
            .field("superuser", &self.superuser)
            .field("login", &self.login)
            .field("connection_limit", &self.connection_limit)
            .field("max_jobs", &self.max_jobs)
            .finish()
    }
}

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    let user = words.accept(&["CREATE", "USER"]);
    if user || words.accept(&["CREATE", "ROLE"]) {
        let name = words.identifier("a user name")?;
        let mut options = options(words, "CREATE USER")?;
        // PostgreSQL's defaults: CREATE USER may log in, CREATE ROLE may not.
        options.login.get_or_insert(user);
        return Ok(Some(Command::CreateUser { name, options }));
    }
    if words.accept(&["ALTER", "USER"]) || words.accept(&["ALTER", "ROLE"]) {
        let name = words.identifier("a user name")?;
        if let Some(setting) = role_setting(words)? {
            words.expect_end("ALTER USER ... SET")?;
            return Ok(Some(Command::AlterUserSet { name, setting }));
        }
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
        } else if let Some(superuser) = flag(words, "SUPERUSER", "NOSUPERUSER") {
            if options.superuser.replace(superuser).is_some() {
                return Err(ParseError::new("conflicting or redundant options: SUPERUSER"));
            }
        } else if let Some(login) = flag(words, "LOGIN", "NOLOGIN") {
            if options.login.replace(login).is_some() {
                return Err(ParseError::new("conflicting or redundant options: LOGIN"));
            }
        } else if words.accept(&["CONNECTION", "LIMIT"]) {
            let limit = limit(words, "CONNECTION LIMIT")?;
            if options.connection_limit.replace(limit).is_some() {
                return Err(ParseError::new("conflicting or redundant options: CONNECTION LIMIT"));
            }
        } else if words.accept(&["MAX_JOBS"]) {
            let limit = limit(words, "MAX_JOBS")?;
            if options.max_jobs.replace(limit).is_some() {
                return Err(ParseError::new("conflicting or redundant options: MAX_JOBS"));
            }
        } else {
            words.expect_end(command)?;
            return Ok(options);
        }
    }
}

/// A limit: a whole number, at least -1 (no limit).
fn limit(words: &mut Words, option: &str) -> Result<i64, ParseError> {
    let text = words.constant(&format!("a number after {option}"))?;
    match text.parse::<i64>() {
        Ok(n) if n >= -1 => Ok(n),
        _ => Err(ParseError::new(format!("invalid {option} value: {text} (a whole number, or -1 for no limit)"))),
    }
}

/// `SET parameter {TO | =} value | DEFAULT`, `RESET parameter | ALL`, if that comes next.
fn role_setting(words: &mut Words) -> Result<Option<RoleSetting>, ParseError> {
    if words.accept(&["RESET"]) {
        if words.accept(&["ALL"]) {
            return Ok(Some(RoleSetting::ResetAll));
        }
        return Ok(Some(RoleSetting::Reset { parameter: parameter(words)? }));
    }
    if !words.accept(&["SET"]) {
        return Ok(None);
    }
    let parameter = parameter(words)?;
    if !words.accept(&["TO"]) {
        words.expect_token(&sqlparser::tokenizer::Token::Eq, "TO or =")?;
    }
    if words.accept(&["DEFAULT"]) {
        return Ok(Some(RoleSetting::Reset { parameter }));
    }
    Ok(Some(RoleSetting::Set { parameter, value: words.constant("a value")? }))
}

/// A parameter name, dotted ones (`squall.local_scan_limit`) included, lower-cased.
fn parameter(words: &mut Words) -> Result<String, ParseError> {
    let mut name = words.identifier("a parameter name")?;
    while words.accept_token(&sqlparser::tokenizer::Token::Period) {
        name = format!("{name}.{}", words.identifier("a parameter name")?);
    }
    Ok(name)
}

/// A yes/no attribute such as `SUPERUSER` / `NOSUPERUSER`, if that comes next.
fn flag(words: &mut Words, yes: &str, no: &str) -> Option<bool> {
    if words.accept(&[yes]) {
        Some(true)
    } else if words.accept(&[no]) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{RoleSetting, UserOptions};
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
            Command::CreateUser {
                name: "alice".into(),
                options: UserOptions { password: Some(Some("s3cr'et".into())), superuser: Some(true), login: Some(true), ..Default::default() }
            }
        );
        let login = |login| UserOptions { login: Some(login), ..Default::default() };
        assert_eq!(one("create role bob login"), Command::CreateUser { name: "bob".into(), options: login(true) });
        // PostgreSQL's defaults: a role may not log in unless it says so, a user may.
        assert_eq!(one("create role readers"), Command::CreateUser { name: "readers".into(), options: login(false) });
        assert_eq!(one("create user carol nologin"), Command::CreateUser { name: "carol".into(), options: login(false) });
        assert_eq!(one("alter role carol login"), Command::AlterUser { name: "carol".into(), options: login(true) });
        assert!(parse("create user dave login nologin").is_err());
    }

    #[test]
    fn alter_and_drop() {
        assert_eq!(
            one("ALTER USER bob PASSWORD NULL NOSUPERUSER"),
            Command::AlterUser { name: "bob".into(), options: UserOptions { password: Some(None), superuser: Some(false), ..Default::default() } }
        );
        assert_eq!(
            one("ALTER ROLE bob WITH CONNECTION LIMIT 3 MAX_JOBS -1"),
            Command::AlterUser { name: "bob".into(), options: UserOptions { connection_limit: Some(3), max_jobs: Some(-1), ..Default::default() } }
        );
        assert_eq!(one("DROP USER IF EXISTS a, b"), Command::DropUser { names: vec!["a".into(), "b".into()], if_exists: true });
    }

    #[test]
    fn role_settings() {
        let set = |sql| match one(sql) {
            Command::AlterUserSet { name, setting } => (name, setting),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            set("ALTER ROLE bob SET statement_timeout = '5s'"),
            ("bob".into(), RoleSetting::Set { parameter: "statement_timeout".into(), value: "5s".into() })
        );
        assert_eq!(
            set("alter user bob set squall.local_scan_limit to 0").1,
            RoleSetting::Set { parameter: "squall.local_scan_limit".into(), value: "0".into() }
        );
        assert_eq!(set("ALTER USER bob SET search_path TO DEFAULT").1, RoleSetting::Reset { parameter: "search_path".into() });
        assert_eq!(set("ALTER USER bob RESET statement_timeout").1, RoleSetting::Reset { parameter: "statement_timeout".into() });
        assert_eq!(set("ALTER USER bob RESET ALL").1, RoleSetting::ResetAll);
        assert!(parse("ALTER USER bob SET statement_timeout").is_err());
        assert!(parse("ALTER USER bob CONNECTION LIMIT -2").is_err());
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
