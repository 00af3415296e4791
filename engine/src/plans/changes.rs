//! The count of statements, in any session, that may have changed what queries plan to: every
//! plan kept to run again ([`super::statement_cache`], [`super::reused_plans`]) is kept with the
//! count it was made under, and is not used once the count has moved on.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts the statements, in any session, that may have changed what a query plans to.
#[derive(Default)]
pub struct Changes(AtomicU64);

impl Changes {
    pub fn note(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    /// The count now; read before planning and given to [`StatementCache::put`] after.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}
