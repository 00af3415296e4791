//! `pg_has_role([user,] role, privilege)`: whether `user` (the session's user when left out) has
//! the privileges of `role`, as PostgreSQL answers it. psql's `\l+` asks it.
//!
//! squall's roles are its users, with no memberships between them, plus PostgreSQL's predefined
//! roles (`pg_read_all_stats`, ...) that clients name. A user has a role's privileges when it is
//! that role or a superuser, as in PostgreSQL. A role that does not exist is 42704 and a privilege
//! PostgreSQL does not know is 22023, as there.
//!
//! The two-argument form is turned into the three-argument one by the session's analyzer rule
//! ([`crate::pg::session_user::SessionUser`]), the one place that knows the session's user.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};
use squall_udf::ml::error::coded;

use crate::access::Users;

pub const NAME: &str = "pg_has_role";

/// PostgreSQL 15's predefined roles: they exist, and only superusers have their privileges here.
const PREDEFINED_ROLES: &[&str] = &[
    "pg_database_owner",
    "pg_read_all_data",
    "pg_write_all_data",
    "pg_monitor",
    "pg_read_all_settings",
    "pg_read_all_stats",
    "pg_stat_scan_tables",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_signal_backend",
    "pg_checkpoint",
];

pub fn udf(users: Arc<Users>) -> ScalarUDF {
    ScalarUDF::new_from_impl(PgHasRole {
        users: UsersHandle(users),
        signature: Signature::one_of(vec![TypeSignature::String(2), TypeSignature::String(3)], Volatility::Stable),
    })
}

#[derive(Debug)]
struct UsersHandle(Arc<Users>);

// One function per engine: every instance is the same function.
impl PartialEq for UsersHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for UsersHandle {}
impl std::hash::Hash for UsersHandle {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as usize).hash(state)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgHasRole {
    users: UsersHandle,
    signature: Signature,
}

impl ScalarUDFImpl for PgHasRole {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [user, role, privilege] = args.args.as_slice() else {
            // Only a plan planned outside a session (a view read on an executor) keeps the
            // two-argument form; the user is not known there.
            return Err(datafusion::error::DataFusionError::NotImplemented(
                "pg_has_role without a user is not supported in a view read on the executors".into(),
            ));
        };
        let rows = args.number_rows;
        let (user, role, privilege) = (strings(user, rows)?, strings(role, rows)?, strings(privilege, rows)?);
        let mut answers = Vec::with_capacity(rows);
        for row in 0..rows {
            if user.is_null(row) || role.is_null(row) || privilege.is_null(row) {
                answers.push(None);
                continue;
            }
            check_privilege(privilege.value(row))?;
            let user = self.existing_role(user.value(row))?;
            let role = self.existing_role(role.value(row))?;
            answers.push(Some(user == role || self.users.0.is_superuser(user)));
        }
        let answers: ArrayRef = Arc::new(BooleanArray::from(answers));
        Ok(ColumnarValue::Array(answers))
    }
}

impl PgHasRole {
    fn existing_role<'a>(&self, name: &'a str) -> Result<&'a str> {
        if self.users.0.get(name).is_some() || PREDEFINED_ROLES.contains(&name) {
            Ok(name)
        } else {
            Err(coded("42704", format!("role \"{name}\" does not exist")))
        }
    }
}

/// A comma-separated list of MEMBER, USAGE or SET, each maybe WITH ADMIN/GRANT OPTION, in any case.
fn check_privilege(text: &str) -> Result<()> {
    for item in text.split(',') {
        let words: Vec<String> = item.split_whitespace().map(|w| w.to_ascii_uppercase()).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let known = match words.as_slice() {
            [p] => matches!(*p, "MEMBER" | "USAGE" | "SET"),
            [p, "WITH", "ADMIN" | "GRANT", "OPTION"] => matches!(*p, "MEMBER" | "USAGE" | "SET"),
            _ => false,
        };
        if !known {
            return Err(coded("22023", format!("unrecognized privilege type: \"{}\"", item.trim())));
        }
    }
    Ok(())
}

fn strings(value: &ColumnarValue, rows: usize) -> Result<StringArray> {
    let array = cast(&value.to_array(rows)?, &DataType::Utf8)?;
    Ok(array.as_any().downcast_ref::<StringArray>().expect("cast to Utf8 gives a StringArray").clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_are_read_as_postgresql_reads_them() {
        assert!(check_privilege("USAGE").is_ok());
        assert!(check_privilege("member, usage with admin option").is_ok());
        assert!(check_privilege("SELECT").unwrap_err().to_string().contains("22023"));
        assert!(check_privilege("").is_err());
    }
}
