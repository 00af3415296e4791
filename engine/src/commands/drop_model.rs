//! `DROP MODEL [IF EXISTS] name`: every version goes, with the grants on it. Superusers only.

use crate::access::checks::require_superuser;
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

pub(super) async fn run(session: &Session, name: &str, if_exists: bool) -> Result<Output> {
    require_superuser(session, "DROP MODEL")?;
    let _ddl = session.engine.ddl_lock.lock().await;
    match session.engine.models.remove(name).await? {
        Some(_) => {
            session.engine.users.forget_object(squall_sql::ObjectKind::Model, name)?;
            Ok(Output::Done { tag: "DROP MODEL", rows: None })
        }
        None if if_exists => {
            session.notice(format!("model \"{name}\" does not exist, skipping"));
            Ok(Output::Done { tag: "DROP MODEL", rows: None })
        }
        None => Err(SquallError::UndefinedObject(format!("model \"{name}\" does not exist"))),
    }
}
