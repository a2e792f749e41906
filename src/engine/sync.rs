//! A mutex that a panicking thread left poisoned still guards consistent data here (every
//! critical section is a few assignments), so the lock is taken anyway.

use std::sync::{Mutex, MutexGuard};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
