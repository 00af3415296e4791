//! A user's own session defaults, `ALTER USER name SET parameter = value` (PostgreSQL's
//! `pg_db_role_setting`): checked when they are set, by setting them on a scratch session, and
//! applied before a session's first statement as that user's own `SET`s (not logged as
//! statements). So any parameter a session may SET can be a user's default, with the same
//! checks: PostgreSQL's (`statement_timeout`, `DateStyle`, ...), squall's
//! (`squall.local_scan_limit`) and DataFusion's and Ballista's. One difference from PostgreSQL:
//! `RESET` returns to the server's value, not the user's default.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::engine::Engine;
use crate::error::{Result, SquallError};
use crate::session::Session;

/// The `SET` statement of one default; the parameter's name must be a plain (dotted) name.
fn set_statement(parameter: &str, value: &str) -> Result<String> {
    if parameter.is_empty() || !parameter.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
        return Err(SquallError::UndefinedObject(format!("unrecognized configuration parameter \"{parameter}\"")));
    }
    Ok(format!("SET {parameter} = '{}'", value.replace('\'', "''")))
}

/// Whether `user` may have `parameter = value` as a default: it is set on a scratch session of
/// theirs, which gives the error a SET would (42704 for an unknown name, 22023 for a bad value).
pub async fn check(engine: &Arc<Engine>, user: &str, parameter: &str, value: &str) -> Result<()> {
    let scratch = Session::new(Arc::clone(engine), user.to_string(), "role settings check".into(), &Default::default());
    scratch.role_settings_applied.store(true, Ordering::SeqCst);
    scratch.set_quietly(&set_statement(parameter, value)?).await
}

impl Session {
    /// Applies the user's defaults, once, before the session's first statement. A default that
    /// no longer applies (this squall does not know it) is said in a NOTICE, not an error.
    pub(crate) async fn apply_role_settings(&self) {
        if self.role_settings_applied.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(user) = self.engine.users.get(&self.user) else { return };
        for (parameter, value) in &user.settings {
            let applied = match set_statement(parameter, value) {
                Ok(sql) => self.set_quietly(&sql).await,
                Err(e) => Err(e),
            };
            if let Err(e) = applied {
                self.notice(format!("user \"{}\"'s default {parameter} = '{value}' was not applied: {e}", self.user));
            }
        }
    }

    /// Runs one SET as the session's own, without logging it as a statement.
    async fn set_quietly(&self, sql: &str) -> Result<()> {
        let prepared = self.planner().text(sql).await?;
        let outcome = self.run_checked(&prepared, None).await.map(|_| ());
        self.settings_changed();
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::set_statement;

    #[test]
    fn defaults_become_quoted_set_statements_of_plain_names() {
        assert_eq!(set_statement("statement_timeout", "5s").unwrap(), "SET statement_timeout = '5s'");
        assert_eq!(set_statement("squall.local_scan_limit", "it's").unwrap(), "SET squall.local_scan_limit = 'it''s'");
        assert_eq!(set_statement("x; DROP TABLE t", "1").unwrap_err().sqlstate(), "42704");
    }
}
