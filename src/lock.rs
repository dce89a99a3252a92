//! Taking a lock whose data stays usable after a panic.
//!
//! A `std::sync::Mutex` is *poisoned* when a thread panics while holding
//! it, and every later `lock()` returns an error. This crate's locks guard
//! records that each update leaves whole (a counter, a slot, the latest
//! notification): a panic elsewhere leaves nothing half-written to repair,
//! and refusing the lock would only spread one failure to every
//! subscriber. So every lock in the server is taken through [`lock`],
//! which takes the data as it is.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, even if a thread panicked while holding it (see the
/// module docs for why that is safe here).
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_poisoned_by_a_panic_still_gives_its_data() {
        let mutex = Mutex::new(7);
        let _ = std::panic::catch_unwind(|| {
            let _guard = mutex.lock().unwrap();
            panic!("a panic while holding the lock");
        });
        assert!(mutex.is_poisoned(), "the panic should have poisoned it");
        assert_eq!(*lock(&mutex), 7);
    }
}
