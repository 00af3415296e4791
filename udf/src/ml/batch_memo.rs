//! What a process worked out from a batch of rows, kept for the next time it reads the same
//! rows. Training reads the same rows pass after pass (an executor replays the batches it kept,
//! `squall_flight::kept_training_rows`), so work that depends only on a batch's values (its row
//! keys, boosting's bins and scores) need not be done again.
//!
//! A batch is found by a hash of a sample of its values and then compared with the kept columns
//! in full, so only rows with the same values use what was kept; the comparison is immediate
//! when they are the same buffers (the memo holds the kept columns, so their memory cannot be
//! reused for other values while it does). When the memo holds more than its bound, the batches
//! used longest ago go first: a memo is an optimisation only, and a batch it does not hold is
//! worked out again.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::Float64Type;

use super::row_hash::mix;

pub struct BatchMemo<V> {
    entries: HashMap<u64, Vec<Entry<V>>>,
    bytes: usize,
    max_bytes: usize,
    /// When it was last used.
    pub used: Instant,
}

struct Entry<V> {
    columns: Vec<ArrayRef>,
    value: V,
    bytes: usize,
    used: Instant,
}

impl<V> BatchMemo<V> {
    /// A memo of at most `max_bytes` (the kept columns counted).
    pub fn new(max_bytes: usize) -> BatchMemo<V> {
        BatchMemo { entries: HashMap::new(), bytes: 0, max_bytes, used: Instant::now() }
    }

    /// The value kept for a batch of these values, taken out of the memo ([`BatchMemo::put`] it
    /// back once used).
    pub fn take(&mut self, columns: &[ArrayRef]) -> Option<V> {
        self.used = Instant::now();
        let list = self.entries.get_mut(&batch_hash(columns))?;
        let at = list.iter().position(|e| e.columns.len() == columns.len() && e.columns.iter().zip(columns).all(|(a, b)| same_column(a, b)))?;
        let entry = list.swap_remove(at);
        self.bytes -= entry.bytes;
        Some(entry.value)
    }

    /// Keeps `value` (of `value_bytes`) for the batch `columns`, if there is room.
    pub fn put(&mut self, columns: &[ArrayRef], value: V, value_bytes: usize) {
        self.used = Instant::now();
        let bytes = value_bytes + columns.iter().map(|c| c.get_array_memory_size()).sum::<usize>() + 128;
        if bytes > self.max_bytes {
            return;
        }
        // Full: the batches used longest ago go first (Ballista need not give an executor the
        // same partitions in every pass; the ones it reads now are the ones worth keeping).
        while self.bytes + bytes > self.max_bytes {
            let oldest = self.entries.iter().flat_map(|(hash, list)| list.iter().enumerate().map(move |(at, e)| ((*hash, at), e.used))).min_by_key(|(_, used)| *used);
            let Some(((hash, at), _)) = oldest else { break };
            let list = self.entries.get_mut(&hash).expect("just found");
            self.bytes -= list.swap_remove(at).bytes;
            if list.is_empty() {
                self.entries.remove(&hash);
            }
        }
        self.bytes += bytes;
        self.entries.entry(batch_hash(columns)).or_default().push(Entry { columns: columns.to_vec(), value, bytes, used: Instant::now() });
    }
}

/// A [`BatchMemo`] a whole process shares (in a `static`), dropped when unused for `idle`.
pub struct SharedMemo<V> {
    /// The memo, and whom it is kept for (0 when it has no owner).
    memo: Mutex<Option<(u64, BatchMemo<V>)>>,
    janitor: Once,
    max_bytes: usize,
    idle: Duration,
}

impl<V: Send + 'static> SharedMemo<V> {
    pub const fn new(max_bytes: usize, idle: Duration) -> SharedMemo<V> {
        SharedMemo { memo: Mutex::new(None), janitor: Once::new(), max_bytes, idle }
    }

    /// As [`BatchMemo::take`].
    pub fn take(&'static self, columns: &[ArrayRef]) -> Option<V> {
        self.take_owned(0, columns)
    }

    /// As [`BatchMemo::put`].
    pub fn put(&'static self, columns: &[ArrayRef], value: V, value_bytes: usize) {
        self.put_owned(0, columns, value, value_bytes)
    }

    /// As [`SharedMemo::take`], from a memo kept for `owner` only (one training's batches).
    pub fn take_owned(&'static self, owner: u64, columns: &[ArrayRef]) -> Option<V> {
        self.lock().as_mut().filter(|(kept_for, _)| *kept_for == owner).and_then(|(_, m)| m.take(columns))
    }

    /// As [`SharedMemo::put`] for `owner`: a memo kept for another owner is dropped first.
    pub fn put_owned(&'static self, owner: u64, columns: &[ArrayRef], value: V, value_bytes: usize) {
        let mut memo = self.lock();
        if memo.as_ref().is_none_or(|(kept_for, _)| *kept_for != owner) {
            *memo = Some((owner, BatchMemo::new(self.max_bytes)));
        }
        memo.as_mut().expect("just set").1.put(columns, value, value_bytes)
    }

    fn lock(&'static self) -> MutexGuard<'static, Option<(u64, BatchMemo<V>)>> {
        self.janitor.call_once(|| {
            std::thread::spawn(move || loop {
                std::thread::sleep(self.idle / 5);
                let mut memo = self.lock_only();
                if memo.as_ref().is_some_and(|(_, m)| m.used.elapsed() > self.idle) {
                    *memo = None;
                }
            });
        });
        self.lock_only()
    }

    fn lock_only(&'static self) -> MutexGuard<'static, Option<(u64, BatchMemo<V>)>> {
        // A panic while holding it leaves nothing half-done: the entries are whole.
        self.memo.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A hash of a batch's size and of a sample of its rows' values (every match is then compared
/// in full, so a sample serves: it only has to tell most batches apart, cheaply).
fn batch_hash(columns: &[ArrayRef]) -> u64 {
    let rows = columns.first().map_or(0, |c| c.len());
    let step = (rows / 64).max(1);
    let mut h = rows as u64;
    let mut add = |word: u64| h = (h.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    for column in columns {
        if let Some(numbers) = column.as_primitive_opt::<Float64Type>() {
            (0..rows).step_by(step).for_each(|r| add(numbers.value(r).to_bits()));
        } else if let Some(text) = column.as_string_opt::<i32>() {
            (0..rows).step_by(step).for_each(|r| add(text.value(r).bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))));
        }
    }
    mix(h)
}

/// Whether two columns hold the same values: at once when they are the same buffers, else
/// compared in full.
fn same_column(a: &ArrayRef, b: &ArrayRef) -> bool {
    a.to_data().ptr_eq(&b.to_data()) || a.as_ref() == b.as_ref()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, StringArray};

    use super::*;

    fn batch(values: &[f64], label: &str) -> Vec<ArrayRef> {
        vec![Arc::new(Float64Array::from(values.to_vec())), Arc::new(StringArray::from(vec![label; values.len()]))]
    }

    #[test]
    fn finds_only_equal_batches_and_drops_the_oldest_when_full() {
        let mut memo = BatchMemo::new(10_000);
        let a = batch(&[1.0, 2.0, 3.0], "x");
        memo.put(&a, "a", 0);
        // The same values in other buffers are found; other values are not.
        assert_eq!(memo.take(&batch(&[1.0, 2.0, 3.0], "x")), Some("a"));
        assert_eq!(memo.take(&a), None, "taken out");
        memo.put(&a, "a", 0);
        assert_eq!(memo.take(&batch(&[1.0, 2.0, 3.0], "y")), None);
        assert_eq!(memo.take(&batch(&[1.0, 2.0, 4.0], "x")), None);
        // Filling it pushes out the batch used longest ago.
        for i in 0..100 {
            memo.put(&batch(&[i as f64; 50], "z"), "filler", 100);
        }
        assert_eq!(memo.take(&a), None);
        assert!(memo.bytes <= 10_000);
        assert_eq!(memo.take(&batch(&[99.0; 50], "z")), Some("filler"));
        // A value larger than the whole memo is not kept.
        memo.put(&a, "huge", 20_000);
        assert_eq!(memo.take(&a), None);
    }
}
