//! A statement as the connection keeps it between Parse and its executions: the session's
//! [`Prepared`] statement, with the Postgres descriptions of its result columns last sent
//! (drivers describe a statement at each execution).

use std::sync::Arc;

use super::encode::FieldsMemo;
use crate::session::Prepared;

#[derive(Debug, Clone)]
pub struct WireStatement {
    pub prepared: Prepared,
    /// Its result columns as Postgres fields, for Describe.
    pub described: Arc<FieldsMemo>,
}

impl From<Prepared> for WireStatement {
    fn from(prepared: Prepared) -> Self {
        Self { prepared, described: Default::default() }
    }
}

impl std::ops::Deref for WireStatement {
    type Target = Prepared;

    fn deref(&self) -> &Prepared {
        &self.prepared
    }
}
