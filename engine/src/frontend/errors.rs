//! Failures in the wire's terms: a PostgreSQL ErrorResponse with the SQLSTATE and message
//! [`SquallError::classified`] gives, and the CONTEXT line when there is one.

use pgwire::error::{ErrorInfo, PgWireError};

use crate::error::SquallError;

pub fn to_pg_error(error: &SquallError) -> PgWireError {
    let (code, message) = error.classified();
    let mut info = ErrorInfo::new("ERROR".into(), code.into(), message);
    if let SquallError::WithContext { context, .. } = error {
        info.where_context = Some(context.clone()).filter(|c| !c.is_empty());
    }
    PgWireError::UserError(Box::new(info))
}
