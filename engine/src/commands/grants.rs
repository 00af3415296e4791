//! `GRANT` and `REVOKE` of privileges on tables and models. Superusers only.

use squall_sql::{Grant, ObjectKind};

use crate::access::checks::require_superuser;
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

/// `granting`: GRANT, else REVOKE.
pub(super) async fn run(session: &Session, grant: &Grant, granting: bool) -> Result<Output> {
    let tag = if granting { "GRANT" } else { "REVOKE" };
    require_superuser(session, tag)?;
    check_objects_exist(session, grant)?;
    session.engine.users.set_grants(&grant.users, grant.kind, &grant.objects, &grant.privileges, granting)?;
    Ok(Output::Done { tag, rows: None })
}

/// PostgreSQL refuses grants on objects that do not exist.
fn check_objects_exist(session: &Session, grant: &Grant) -> Result<()> {
    for object in &grant.objects {
        match grant.kind {
            ObjectKind::Table if session.engine.catalog.get(object).is_none() => {
                return Err(SquallError::UndefinedTable(format!("relation \"{object}\" does not exist")));
            }
            ObjectKind::Model if session.engine.models.get(object).is_none() => {
                return Err(SquallError::UndefinedObject(format!("model \"{object}\" does not exist")));
            }
            _ => {}
        }
    }
    Ok(())
}
