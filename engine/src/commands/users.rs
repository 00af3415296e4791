//! `CREATE USER`, `ALTER USER` and `DROP USER`, with PostgreSQL's rules: superusers manage users;
//! a user may change their own password and nothing else; nobody drops the user they are.

use squall_sql::UserOptions;

use crate::access::checks::require_superuser;
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

pub(super) async fn create(session: &Session, name: &str, options: &UserOptions) -> Result<Output> {
    require_superuser(session, "CREATE USER")?;
    session.engine.users.create(name, options)?;
    Ok(Output::Done { tag: "CREATE ROLE", rows: None })
}

pub(super) async fn alter(session: &Session, name: &str, options: &UserOptions) -> Result<Output> {
    let own_password = name == session.user && options.superuser.is_none();
    if !own_password {
        require_superuser(session, "ALTER USER")?;
    }
    session.engine.users.alter(name, options)?;
    Ok(Output::Done { tag: "ALTER ROLE", rows: None })
}

pub(super) async fn drop(session: &Session, names: &[String], if_exists: bool) -> Result<Output> {
    require_superuser(session, "DROP USER")?;
    if names.contains(&session.user) {
        return Err(SquallError::ObjectInUse("current user cannot be dropped".into()));
    }
    let dropped = session.engine.users.drop_users(names, if_exists)?;
    for name in names.iter().filter(|n| !dropped.contains(n)) {
        session.notice(format!("role \"{name}\" does not exist, skipping"));
    }
    Ok(Output::Done { tag: "DROP ROLE", rows: None })
}
