//! A value made from a key and kept until it is asked for with another key: what a statement
//! run again needs again (its columns under PostgreSQL's names, their Postgres field
//! descriptions, the session's format options) is made once instead of at each execution.

use std::sync::{Arc, Mutex};

/// The value last made, with the key it was made from.
pub struct LastMade<K, V>(Mutex<Option<(K, V)>>);

impl<K, V> Default for LastMade<K, V> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<K, V> std::fmt::Debug for LastMade<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LastMade { .. }")
    }
}

impl<K: PartialEq, V: Clone> LastMade<K, V> {
    /// The value made from `key`: the kept one when it was made from an equal key, else one
    /// `make` makes now, which is kept in its place.
    pub fn get_or_make(&self, key: K, make: impl FnOnce() -> V) -> V {
        let made: Result<V, std::convert::Infallible> = self.get_or_try_make(key, || Ok(make()));
        made.unwrap_or_else(|never| match never {})
    }

    /// [`Self::get_or_make`] with a `make` that may fail; a failure keeps nothing.
    pub fn get_or_try_make<E>(&self, key: K, make: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((made_from, value)) = last.as_ref() {
            if *made_from == key {
                return Ok(value.clone());
            }
        }
        let value = make()?;
        *last = Some((key, value.clone()));
        Ok(value)
    }
}

/// An `Arc` compared by identity: the same allocation, not an equal value. Holding it keeps the
/// allocation alive, so its address cannot be reused by another value meanwhile.
#[derive(Debug)]
pub struct Same<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> PartialEq for Same<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_made_again_only_for_another_key() {
        let memo: LastMade<Same<str>, usize> = LastMade::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("a"));
        let mut made = 0;
        let mut get = |key: &Arc<str>| {
            memo.get_or_make(Same(Arc::clone(key)), || {
                made += 1;
                made
            })
        };
        assert_eq!((get(&a), get(&a)), (1, 1));
        assert_eq!(get(&b), 2, "an equal value in another allocation is another key");
        assert_eq!(get(&a), 3);
    }
}
