//! Which worker thread the current code runs on.
//!
//! A server connection's socket is registered with the runtime of the worker that opened
//! it; a pool hands a worker its own servers first, so their I/O wake-ups stay on one
//! thread.

use std::cell::Cell;

thread_local! {
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Marks the current thread as worker `id`.
pub fn set_current(id: usize) {
    WORKER.with(|w| w.set(id));
}

/// The worker this thread is (0 outside worker threads).
pub fn current() -> usize {
    WORKER.with(|w| w.get())
}
