//! `CREATE USER`, `ALTER USER` and `DROP USER`, with PostgreSQL's rules: superusers manage users
//! (and their limits); a user may change their own password and their own session defaults
//! (`ALTER USER me SET ...`: nothing a SET could not do) and nothing else; nobody drops the user
//! they are.

use squall_sql::{RoleSetting, UserOptions};

use crate::access::checks::require_superuser;
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

pub(super) async fn create(session: &Session, name: &str, options: &UserOptions) -> Result<Output> {
    require_superuser(session, "CREATE USER")?;
    session.engine.users.create(name, options)?;
    Ok(Output::Done { tag: "CREATE ROLE", rows: None })
}

pub(super) async fn alter(session: &Session, name: &str, options: &UserOptions) -> Result<Output> {
    let only_password = options.superuser.is_none() && options.login.is_none() && options.connection_limit.is_none() && options.max_jobs.is_none();
    let own_password = name == session.user && only_password;
    if !own_password {
        require_superuser(session, "ALTER USER")?;
    }
    session.engine.users.alter(name, options)?;
    Ok(Output::Done { tag: "ALTER ROLE", rows: None })
}

/// `ALTER USER name SET parameter = value` / `RESET ...`: the user's session defaults.
pub(super) async fn alter_set(session: &Session, name: &str, setting: &RoleSetting) -> Result<Output> {
    if name != session.user {
        require_superuser(session, "ALTER USER ... SET")?;
    }
    if session.engine.users.get(name).is_none() {
        return Err(SquallError::UndefinedObject(format!("role \"{name}\" does not exist")));
    }
    if let RoleSetting::Set { parameter, value } = setting {
        crate::session::role_settings::check(&session.engine, name, parameter, value).await?;
    }
    session.engine.users.set(name, setting)?;
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
