//! A small, fixed index per thread, for state that each calling thread keeps apart.
//!
//! Plugin calls run on pgDog's worker threads, each on its own core most of the time.
//! Anything every call writes (a counter, the instance it runs in) stays in that core's
//! cache when each thread has its own copy; shared, the cache line moves between cores
//! on every call.

use std::sync::atomic::{AtomicUsize, Ordering};

/// A value alone on its cache lines (128 bytes: the pair of lines x86 prefetches
/// together). Per-thread state must be laid out in these: two threads' values side by
/// side in one line would move that line between their cores at every write, the very
/// sharing that keeping them apart is for.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Padded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Neighbouring slots' values, small as they are, never share a 64- or 128-byte line.
    #[test]
    fn padded_values_sit_on_lines_of_their_own() {
        let values: Vec<Padded<Mutex<Vec<u8>>>> = (0..3).map(|_| Padded::default()).collect();
        for pair in values.windows(2) {
            let first = &*pair[0] as *const Mutex<Vec<u8>> as usize;
            let second = &*pair[1] as *const Mutex<Vec<u8>> as usize;
            assert_eq!(first % 128, 0);
            assert!(second - first >= 128, "{first:#x} and {second:#x}");
        }
    }
}
