//! Backpressure: the bytes of rows sent over HTTP that are not committed yet are counted against
//! one bound for the server (`ALTER CLUSTER SET (ingest_buffer = '256MB')`). A request reserves
//! its body as it arrives (all of it at once when it says its length), then what its rows take
//! decoded; the reservation is given back when the batch is answered. A request that would pass
//! the bound is refused with 503 and `Retry-After` before more of it is read: a producer faster
//! than the committer is slowed down, and squall's memory stays bounded however fast they send.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The bytes reserved by the requests under way.
#[derive(Debug, Default)]
pub struct IngestBuffer {
    reserved: AtomicU64,
}

/// A request's share of the buffer, given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    buffer: Arc<IngestBuffer>,
    bytes: u64,
}

/// Reserving would pass the bound.
#[derive(Debug)]
pub struct Full {
    pub reserved: u64,
    pub bound: u64,
}

impl IngestBuffer {
    /// An empty reservation, to grow as the request's body arrives.
    pub fn reservation(self: &Arc<Self>) -> Reservation {
        Reservation { buffer: Arc::clone(self), bytes: 0 }
    }

    /// The bytes reserved now.
    pub fn reserved(&self) -> u64 {
        self.reserved.load(Ordering::Relaxed)
    }
}

impl Reservation {
    /// Reserves `more` bytes unless the buffer would then hold more than `bound`.
    pub fn grow(&mut self, more: u64, bound: u64) -> Result<(), Full> {
        let reserved = &self.buffer.reserved;
        let mut current = reserved.load(Ordering::Relaxed);
        loop {
            let next = current.saturating_add(more);
            if next > bound {
                return Err(Full { reserved: current, bound });
            }
            match reserved.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    self.bytes += more;
                    return Ok(());
                }
                Err(seen) => current = seen,
            }
        }
    }

    /// Holds exactly `bytes` now (the decoded rows in place of the body they came from), whatever
    /// the bound: the request was admitted already.
    pub fn resize(&mut self, bytes: u64) {
        if bytes >= self.bytes {
            self.buffer.reserved.fetch_add(bytes - self.bytes, Ordering::AcqRel);
        } else {
            self.buffer.reserved.fetch_sub(self.bytes - bytes, Ordering::AcqRel);
        }
        self.bytes = bytes;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.buffer.reserved.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stop_at_the_bound_and_give_back_what_they_held() {
        let buffer = Arc::new(IngestBuffer::default());
        let mut a = buffer.reservation();
        a.grow(600, 1_000).unwrap();
        let mut b = buffer.reservation();
        let full = b.grow(500, 1_000).unwrap_err();
        assert_eq!((full.reserved, full.bound), (600, 1_000));
        b.grow(400, 1_000).unwrap();
        assert_eq!(buffer.reserved(), 1_000);
        // Decoded, the rows may take more than their body did: admitted, so held regardless.
        a.resize(900);
        assert_eq!(buffer.reserved(), 1_300);
        drop(a);
        assert_eq!(buffer.reserved(), 400);
        drop(b);
        assert_eq!(buffer.reserved(), 0);
    }
}
