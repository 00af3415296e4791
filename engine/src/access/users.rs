//! Users and their grants, kept in `catalog/access.json` (written atomically, like the catalog).
//! Passwords are kept only as SCRAM-SHA-256 verifiers. The bootstrap superuser `squall` always
//! exists; until it or another user is given a password, squall is a local-only server with
//! `trust` authentication, as a fresh PostgreSQL is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use squall_sql::{ObjectKind, Privilege, RoleSetting, UserOptions};

use super::scram::Verifier;
use crate::storage::catalog::write_atomically;
use crate::error::{Result, SquallError};

const FILE_NAME: &str = "access.json";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub superuser: bool,
    /// `SCRAM-SHA-256$...`; `None`: the user has no password and may connect only from this machine.
    pub verifier: Option<String>,
    /// `LOGIN` / `NOLOGIN`: whether the user may open a session on any door (Postgres, HTTP,
    /// Flight SQL); one that may not still holds its privileges.
    #[serde(default = "may_log_in", skip_serializing_if = "may_log_in_too")]
    pub login: bool,
    /// `CONNECTION LIMIT`: sessions at once; `None` (or -1 given): no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<u32>,
    /// `MAX_JOBS`: cluster jobs running at once; further ones wait their turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_jobs: Option<u32>,
    /// `ALTER USER name SET parameter = value`: the user's session defaults, applied at login.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
}

/// Users kept before LOGIN / NOLOGIN may log in; only NOLOGIN is written down.
fn may_log_in() -> bool {
    true
}

fn may_log_in_too(login: &bool) -> bool {
    *login
}

impl User {
    fn new(name: &str, superuser: bool, verifier: Option<String>) -> Self {
        Self { name: name.into(), superuser, verifier, login: true, connection_limit: None, max_jobs: None, settings: BTreeMap::new() }
    }

    /// Why the user may not open a session, if they may not: PostgreSQL's check and words.
    pub fn refuse_login(&self) -> Option<String> {
        (!self.login).then(|| format!("role \"{}\" is not permitted to log in", self.name))
    }

    /// `LOGIN`, `CONNECTION LIMIT` and `MAX_JOBS` as `options` say.
    fn apply_attributes(&mut self, options: &UserOptions) {
        if let Some(login) = options.login {
            self.login = login;
        }
        let limit = |n: i64| (n >= 0).then_some(n as u32);
        if let Some(n) = options.connection_limit {
            self.connection_limit = limit(n);
        }
        if let Some(n) = options.max_jobs {
            self.max_jobs = limit(n);
        }
    }
}

/// One privilege of one user on one object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct GrantRow {
    user: String,
    kind: Kind,
    object: String,
    privilege: Priv,
}

/// Serialisable mirrors of the SQL crate's enums (which know nothing of storage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Table,
    Model,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Priv {
    Select,
    Insert,
    Usage,
    Update,
    Delete,
}

impl From<ObjectKind> for Kind {
    fn from(kind: ObjectKind) -> Self {
        match kind {
            ObjectKind::Table => Kind::Table,
            ObjectKind::Model => Kind::Model,
        }
    }
}

impl From<Privilege> for Priv {
    fn from(p: Privilege) -> Self {
        match p {
            Privilege::Select => Priv::Select,
            Privilege::Insert => Priv::Insert,
            Privilege::Usage => Priv::Usage,
            Privilege::Update => Priv::Update,
            Privilege::Delete => Priv::Delete,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct AccessFile {
    version: u32,
    users: Vec<User>,
    grants: BTreeSet<GrantRow>,
}

/// Every user and grant of one data directory.
#[derive(Debug)]
pub struct Users {
    path: PathBuf,
    file: Mutex<AccessFile>,
    /// The secret mock challenges derive their salts from (see [`super::scram::Verifier::mock`]),
    /// kept so that they stay the same across restarts.
    mock_nonce: Vec<u8>,
}

impl Users {
    pub fn open(catalog_dir: &Path) -> Result<Self> {
        let path = catalog_dir.join(FILE_NAME);
        let mut file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<AccessFile>(&bytes).map_err(|e| SquallError::storage(format!("reading {}", path.display()), e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => AccessFile { version: FORMAT_VERSION, users: vec![], grants: BTreeSet::new() },
            Err(e) => return Err(SquallError::storage(format!("reading {}", path.display()), e)),
        };
        if file.version != FORMAT_VERSION {
            return Err(SquallError::Storage(format!("{} has format version {}, this squall reads {FORMAT_VERSION}", path.display(), file.version)));
        }
        if !file.users.iter().any(|u| u.name == crate::BOOTSTRAP_SUPERUSER) {
            file.users.insert(0, User::new(crate::BOOTSTRAP_SUPERUSER, true, None));
        }
        let mock_nonce = mock_nonce(catalog_dir)?;
        Ok(Self { path, file: Mutex::new(file), mock_nonce })
    }

    /// The challenge for `name` when it does not exist or may not log in with a password.
    pub fn mock_verifier(&self, name: &str) -> super::scram::Verifier {
        super::scram::Verifier::mock(name, &self.mock_nonce)
    }

    /// Every user as `pg_catalog.pg_roles` shows them.
    pub fn roles(&self) -> Vec<crate::pg::sql_rewrites::Role> {
        self.lock()
            .users
            .iter()
            .map(|u| crate::pg::sql_rewrites::Role {
                name: u.name.clone(),
                superuser: u.superuser,
                login: u.login,
                connection_limit: u.connection_limit.map_or(-1, i64::from),
            })
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<User> {
        self.lock().users.iter().find(|u| u.name == name).cloned()
    }

    /// Whether any user has a password, i.e. whether squall may serve beyond this machine.
    pub fn any_password(&self) -> bool {
        self.lock().users.iter().any(|u| u.verifier.is_some())
    }

    pub fn is_superuser(&self, name: &str) -> bool {
        self.get(name).is_some_and(|u| u.superuser)
    }

    pub fn create(&self, name: &str, options: &UserOptions) -> Result<()> {
        self.change(|file| {
            if file.users.iter().any(|u| u.name == name) {
                return Err(SquallError::DuplicateObject(format!("role \"{name}\" already exists")));
            }
            let verifier = options.password.clone().flatten().map(|p| Verifier::new(&p).encode());
            let mut user = User::new(name, options.superuser.unwrap_or(false), verifier);
            user.apply_attributes(options);
            file.users.push(user);
            Ok(())
        })
    }

    pub fn alter(&self, name: &str, options: &UserOptions) -> Result<()> {
        self.change(|file| {
            let user = file.users.iter_mut().find(|u| u.name == name).ok_or_else(|| undefined(name))?;
            if let Some(password) = &options.password {
                user.verifier = password.as_deref().map(|p| Verifier::new(p).encode());
            }
            if let Some(superuser) = options.superuser {
                if name == crate::BOOTSTRAP_SUPERUSER && !superuser {
                    return Err(SquallError::Unsupported(format!("the bootstrap user \"{name}\" stays a superuser")));
                }
                user.superuser = superuser;
            }
            if name == crate::BOOTSTRAP_SUPERUSER && options.login == Some(false) {
                return Err(SquallError::Unsupported(format!("the bootstrap user \"{name}\" stays able to log in")));
            }
            user.apply_attributes(options);
            Ok(())
        })
    }

    /// `ALTER USER name SET/RESET ...` (the value already checked by the caller).
    pub fn set(&self, name: &str, setting: &RoleSetting) -> Result<()> {
        self.change(|file| {
            let user = file.users.iter_mut().find(|u| u.name == name).ok_or_else(|| undefined(name))?;
            match setting {
                RoleSetting::Set { parameter, value } => {
                    user.settings.insert(parameter.clone(), value.clone());
                }
                RoleSetting::Reset { parameter } => {
                    user.settings.remove(parameter);
                }
                RoleSetting::ResetAll => user.settings.clear(),
            }
            Ok(())
        })
    }

    /// Drops users and every grant they hold.
    pub fn drop_users(&self, names: &[String], if_exists: bool) -> Result<Vec<String>> {
        let mut dropped = Vec::new();
        self.change(|file| {
            for name in names {
                if name == crate::BOOTSTRAP_SUPERUSER {
                    return Err(SquallError::InsufficientPrivilege(format!("cannot drop role {name} because it is required by squall")));
                }
                match file.users.iter().position(|u| &u.name == name) {
                    Some(at) => {
                        file.users.remove(at);
                        file.grants.retain(|g| &g.user != name);
                        dropped.push(name.clone());
                    }
                    None if if_exists => {}
                    None => return Err(undefined(name)),
                }
            }
            Ok(())
        })?;
        Ok(dropped)
    }

    /// Grants (or with `granted = false` revokes) privileges; the users must exist.
    pub fn set_grants(&self, users: &[String], kind: ObjectKind, objects: &[String], privileges: &[Privilege], granted: bool) -> Result<()> {
        self.change(|file| {
            for user in users {
                if !file.users.iter().any(|u| &u.name == user) {
                    return Err(undefined(user));
                }
                for object in objects {
                    for privilege in privileges {
                        let row = GrantRow { user: user.clone(), kind: kind.into(), object: object.clone(), privilege: (*privilege).into() };
                        if granted {
                            file.grants.insert(row);
                        } else {
                            file.grants.remove(&row);
                        }
                    }
                }
            }
            Ok(())
        })
    }

    /// Forgets the grants on an object that is gone, so that a new object of that name starts
    /// with none (as PostgreSQL's grants belong to the object, not to its name).
    pub fn forget_object(&self, kind: ObjectKind, object: &str) -> Result<()> {
        self.change(|file| {
            file.grants.retain(|g| !(g.kind == Kind::from(kind) && g.object == object));
            Ok(())
        })
    }

    /// Moves the grants on `from` to `to` (a renamed table keeps its grants, as in PostgreSQL).
    pub fn rename_object(&self, kind: ObjectKind, from: &str, to: &str) -> Result<()> {
        self.change(|file| {
            let grants = std::mem::take(&mut file.grants);
            file.grants = grants
                .into_iter()
                .map(|mut g| {
                    if g.kind == Kind::from(kind) && g.object == from {
                        g.object = to.to_string();
                    }
                    g
                })
                .collect();
            Ok(())
        })
    }

    /// Forgets the grants on objects of `kind` not in `existing` (left by a crash between a
    /// DROP or RENAME's catalog change and its grants' change): a later object of that name
    /// must not inherit them.
    pub fn forget_objects_except(&self, kind: ObjectKind, existing: &std::collections::HashSet<String>) -> Result<()> {
        let stale = self.lock().grants.iter().any(|g| g.kind == Kind::from(kind) && !existing.contains(&g.object));
        if !stale {
            return Ok(());
        }
        self.change(|file| {
            file.grants.retain(|g| g.kind != Kind::from(kind) || existing.contains(&g.object));
            Ok(())
        })
    }

    /// Whether `user` may use `privilege` on `object`: superusers may do anything.
    pub fn allows(&self, user: &str, kind: ObjectKind, object: &str, privilege: Privilege) -> bool {
        let file = self.lock();
        let Some(u) = file.users.iter().find(|u| u.name == user) else { return false };
        u.superuser
            || file.grants.contains(&GrantRow { user: user.into(), kind: kind.into(), object: object.into(), privilege: privilege.into() })
    }

    /// Applies `edit` and makes it durable, or leaves everything as it was.
    fn change<T>(&self, edit: impl FnOnce(&mut AccessFile) -> Result<T>) -> Result<T> {
        let mut file = self.lock();
        let before = (file.users.clone(), file.grants.clone());
        let result = edit(&mut file).and_then(|value| {
            let bytes = serde_json::to_vec_pretty(&*file).map_err(|e| SquallError::Internal(format!("encoding users: {e}")))?;
            write_atomically(&self.path, &bytes)?;
            Ok(value)
        });
        if result.is_err() {
            (file.users, file.grants) = before;
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AccessFile> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn undefined(name: &str) -> SquallError {
    SquallError::UndefinedObject(format!("role \"{name}\" does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(password: Option<&str>, superuser: Option<bool>) -> UserOptions {
        UserOptions { password: password.map(|p| Some(p.to_string())), superuser, ..Default::default() }
    }

    #[test]
    fn users_and_grants_survive_reopening_and_passwords_are_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(dir.path()).unwrap();
        assert!(!users.any_password());
        users.create("alice", &options(Some("wonderland"), None)).unwrap();
        users.set_grants(&["alice".into()], ObjectKind::Table, &["orders".into()], &[Privilege::Select], true).unwrap();
        let reopened = Users::open(dir.path()).unwrap();
        assert!(reopened.any_password());
        assert!(reopened.allows("alice", ObjectKind::Table, "orders", Privilege::Select));
        assert!(!reopened.allows("alice", ObjectKind::Table, "orders", Privilege::Insert));
        assert!(!reopened.allows("alice", ObjectKind::Table, "items", Privilege::Select));
        assert!(reopened.allows(crate::BOOTSTRAP_SUPERUSER, ObjectKind::Model, "m", Privilege::Usage));
        let stored = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(!stored.contains("wonderland") && stored.contains("SCRAM-SHA-256$4096:"), "{stored}");
    }

    #[test]
    fn errors_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(dir.path()).unwrap();
        users.create("bob", &options(None, None)).unwrap();
        assert!(matches!(users.create("bob", &options(None, None)), Err(SquallError::DuplicateObject(_))));
        assert!(matches!(users.set_grants(&["bob".into(), "nobody".into()], ObjectKind::Table, &["t".into()], &[Privilege::Select], true), Err(SquallError::UndefinedObject(_))));
        assert!(!users.allows("bob", ObjectKind::Table, "t", Privilege::Select), "half of a failed GRANT must not stay");
        assert!(users.drop_users(&["squall".into()], false).is_err());
        assert!(users.drop_users(&["nobody".into()], false).is_err());
        assert_eq!(users.drop_users(&["nobody".into(), "bob".into()], true).unwrap(), vec!["bob".to_string()]);
        assert!(users.get("bob").is_none());
    }

    #[test]
    fn revoke_and_dropping_an_object_remove_grants() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(dir.path()).unwrap();
        users.create("carol", &options(None, None)).unwrap();
        let carol = ["carol".to_string()];
        users.set_grants(&carol, ObjectKind::Table, &["t".into(), "u".into()], &[Privilege::Select, Privilege::Insert], true).unwrap();
        users.set_grants(&carol, ObjectKind::Table, &["t".into()], &[Privilege::Insert], false).unwrap();
        assert!(users.allows("carol", ObjectKind::Table, "t", Privilege::Select));
        assert!(!users.allows("carol", ObjectKind::Table, "t", Privilege::Insert));
        users.forget_object(ObjectKind::Table, "u").unwrap();
        assert!(!users.allows("carol", ObjectKind::Table, "u", Privilege::Select));
    }
}

/// The mock-authentication nonce in `catalog_dir`, made (readable by its owner only) on first use.
fn mock_nonce(catalog_dir: &Path) -> Result<Vec<u8>> {
    let path = catalog_dir.join("mock_auth.nonce");
    if let Ok(bytes) = std::fs::read(&path) {
        if bytes.len() == 32 {
            return Ok(bytes);
        }
    }
    std::fs::create_dir_all(catalog_dir)?;
    let mut nonce = vec![0u8; 32];
    aws_lc_rs::rand::fill(&mut nonce).expect("the system random source works");
    crate::storage::catalog::write_private(&path, &nonce)?;
    Ok(nonce)
}
