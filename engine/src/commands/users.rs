//! `CREATE/ALTER/DROP USER`, `GRANT` and `REVOKE`.

use squall_sql::{Command, Grant, ObjectKind};

use super::checks::require_superuser;
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

pub fn handles(command: &Command) -> bool {
    matches!(command, Command::CreateUser { .. } | Command::AlterUser { .. } | Command::DropUser { .. } | Command::Grant(_) | Command::Revoke(_))
}

pub async fn run(session: &Session, command: &Command) -> Result<Output> {
    let users = &session.engine.users;
    let tag = match command {
        Command::CreateUser { name, options } => {
            require_superuser(session, "CREATE USER")?;
            users.create(name, options)?;
            "CREATE ROLE"
        }
        Command::AlterUser { name, options } => {
            // As in PostgreSQL, users may change their own password, and nothing else.
            let own_password = *name == session.user && options.superuser.is_none();
            if !own_password {
                require_superuser(session, "ALTER USER")?;
            }
            users.alter(name, options)?;
            "ALTER ROLE"
        }
        Command::DropUser { names, if_exists } => {
            require_superuser(session, "DROP USER")?;
            if names.contains(&session.user) {
                return Err(SquallError::ObjectInUse("current user cannot be dropped".into()));
            }
            let dropped = users.drop_users(names, *if_exists)?;
            for name in names.iter().filter(|n| !dropped.contains(n)) {
                session.notice(format!("role \"{name}\" does not exist, skipping"));
            }
            "DROP ROLE"
        }
        Command::Grant(grant) | Command::Revoke(grant) => {
            let granting = matches!(command, Command::Grant(_));
            require_superuser(session, if granting { "GRANT" } else { "REVOKE" })?;
            check_objects_exist(session, grant)?;
            users.set_grants(&grant.users, grant.kind, &grant.objects, &grant.privileges, granting)?;
            if granting {
                "GRANT"
            } else {
                "REVOKE"
            }
        }
        other => return Err(SquallError::Internal(format!("{other:?} is not a user command"))),
    };
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
