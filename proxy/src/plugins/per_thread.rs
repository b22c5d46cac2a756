//! A small, fixed index per thread, for state that each calling thread keeps apart.
//!
//! Plugin calls run on pgDog's worker threads, each on its own core most of the time.
//! Anything every call writes (a counter, the instance it runs in) stays in that core's
//! cache when each thread has its own copy; shared, the cache line moves between cores
//! on every call.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Distinct slots. Threads beyond this many share slots, which is still correct, only
/// less local.
pub const SLOTS: usize = 16;

/// The current thread's slot, the same for its whole life.
pub fn slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS;
    }
    SLOT.with(|slot| *slot)
}
