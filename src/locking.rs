//! One way to take a `std::sync::Mutex` everywhere.
//!
//! The exporter's mutexes guard plain data (schedules, caches, counters) that a panicking holder
//! cannot leave half-updated in a harmful way, so a poisoned lock is taken over rather than
//! turned into a second panic that would stop scrapes or collections.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, taking it over if a previous holder panicked.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
