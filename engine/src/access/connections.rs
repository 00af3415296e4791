//! Sessions per user, for `CONNECTION LIMIT n`: a user with a limit who already has `n` sessions
//! is refused with 53300 (too_many_connections) after authenticating, as PostgreSQL refuses them.
//! Superusers are not limited (PostgreSQL's rule), though counted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct Connections(Mutex<HashMap<String, u32>>);

/// One admitted session; it is let go when the connection ends.
#[derive(Debug)]
pub struct Admitted {
    connections: Arc<Connections>,
    user: String,
}

impl Connections {
    /// Admits one more session of `user` unless `limit` sessions are open already.
    pub fn admit(self: &Arc<Self>, user: &str, limit: Option<u32>) -> Result<Admitted, String> {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let open = counts.entry(user.to_string()).or_insert(0);
        if limit.is_some_and(|limit| *open >= limit) {
            return Err(format!("too many connections for role \"{user}\""));
        }
        *open += 1;
        Ok(Admitted { connections: Arc::clone(self), user: user.to_string() })
    }

    /// Sessions `user` has open.
    #[cfg(test)]
    fn open(&self, user: &str) -> u32 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(user).copied().unwrap_or(0)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut counts = self.connections.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = counts.get_mut(&self.user) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_counts_open_sessions_and_frees_them_as_they_end() {
        let connections = Arc::new(Connections::default());
        let first = connections.admit("bob", Some(2)).unwrap();
        let _second = connections.admit("bob", Some(2)).unwrap();
        assert_eq!(connections.admit("bob", Some(2)).unwrap_err(), "too many connections for role \"bob\"");
        assert!(connections.admit("carol", Some(2)).is_ok(), "per user");
        drop(first);
        let _third = connections.admit("bob", Some(2)).unwrap();
        assert_eq!(connections.open("bob"), 2);
    }
}
