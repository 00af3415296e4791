//! Queries a session already planned, by their text, so that running the same text again (a
//! dashboard's refresh, a driver's unnamed statement, pgbench) skips parsing, squall's rewrites
//! and DataFusion's SQL planning.
//!
//! What is kept is the plan *before* optimisation, as a prepared statement keeps it: each run
//! still optimises it (so `now()` is that run's time), lists the tables' files (so rows inserted
//! since are read) and checks the user's privileges.
//!
//! A plan can go stale in two ways, and both empty the caches:
//! - anything other than a query or a transaction statement ran, in any session: DDL, INSERT,
//!   COPY, TRAIN MODEL, CREATE USER, ... (see [`Changes`]). This is coarse on purpose: no list of
//!   what a plan depends on (tables, views, model versions, roles shown by `pg_roles`) can fall
//!   out of date;
//! - the session changed a setting (SET, RESET): `SHOW`, `pg_settings` and the search path are
//!   read at planning.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::changes::Changes;
use crate::session::Prepared;

/// Plans kept per session; past this the cache starts again empty (texts that never repeat,
/// such as queries with their values written in, must not grow it without end).
const CAPACITY: usize = 256;

/// One session's plans by text.
#[derive(Default)]
pub struct StatementCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The count of [`Changes`] the plans were made under.
    changes: u64,
    plans: HashMap<String, Arc<Prepared>>,
}

impl StatementCache {
    /// The plan of `text`, if it was planned since the last change.
    pub fn get(&self, text: &str, changes: &Changes) -> Option<Arc<Prepared>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.changes != changes.current() {
            return None;
        }
        inner.plans.get(text).cloned()
    }

    /// Keeps `prepared`, the plan of `text`, made when [`Changes`] stood at `changes_before`
    /// (read before planning began, so a change during planning keeps nothing stale).
    pub fn put(&self, text: &str, prepared: Arc<Prepared>, changes_before: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.changes != changes_before || inner.plans.len() >= CAPACITY {
            inner.plans.clear();
            inner.changes = changes_before;
        }
        inner.plans.insert(text.to_string(), prepared);
    }

    /// The session changed a setting.
    pub fn clear(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).plans.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(sql: &str) -> Arc<Prepared> {
        Arc::new(Prepared { sql: sql.into(), ..Prepared::default() })
    }

    #[test]
    fn a_change_anywhere_forgets_every_plan() {
        let (changes, cache) = (Changes::default(), StatementCache::default());
        cache.put("SELECT 1", plan("SELECT 1"), changes.current());
        assert_eq!(cache.get("SELECT 1", &changes).unwrap().sql, "SELECT 1");
        assert!(cache.get("SELECT 2", &changes).is_none());
        changes.note();
        assert!(cache.get("SELECT 1", &changes).is_none());
    }

    #[test]
    fn a_plan_made_across_a_change_is_not_kept() {
        let (changes, cache) = (Changes::default(), StatementCache::default());
        let before = changes.current();
        changes.note(); // say, a DROP TABLE in another session while this one planned
        cache.put("SELECT * FROM t", plan("SELECT * FROM t"), before);
        assert!(cache.get("SELECT * FROM t", &changes).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let (changes, cache) = (Changes::default(), StatementCache::default());
        for i in 0..CAPACITY + 10 {
            let text = format!("SELECT {i}");
            cache.put(&text, plan(&text), changes.current());
        }
        assert!(cache.inner.lock().unwrap().plans.len() <= CAPACITY);
        assert!(cache.get(&format!("SELECT {}", CAPACITY + 9), &changes).is_some());
    }

    #[test]
    fn settings_forget_the_sessions_plans() {
        let (changes, cache) = (Changes::default(), StatementCache::default());
        cache.put("SHOW search_path", plan("SHOW search_path"), changes.current());
        cache.clear();
        assert!(cache.get("SHOW search_path", &changes).is_none());
    }
}
