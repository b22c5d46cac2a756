//! Telling idle sessions that pgDog is shutting down.
//!
//! Every session waits on this next to its sockets, so polling it must cost next to
//! nothing: a session's wait checks one flag and compares its waker, and takes the lock
//! only the first time (or if its task's waker ever changes). A `watch` channel re-checks
//! its version under a lock and re-arms a `Notify` on every poll, which came to a few
//! percent of pgDog's CPU per transaction.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct StopSignal {
    stopped: AtomicBool,
    next_id: AtomicU64,
    waiters: Mutex<HashMap<u64, Waker>>,
}

impl StopSignal {
    /// Sets the flag and wakes every session waiting on it. Idempotent.
    pub fn trigger(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let waiters = std::mem::take(&mut *self.lock());
        for waker in waiters.into_values() {
            waker.wake();
        }
    }

    pub fn is_set(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// A wait that resolves once the signal is triggered (at once if it already was).
    pub fn wait(&self) -> StopWait<'_> {
        StopWait {
            signal: self,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            registered: None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waker>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct StopWait<'a> {
    signal: &'a StopSignal,
    id: u64,
    /// The waker the signal holds for this wait.
    registered: Option<Waker>,
}

impl Future for StopWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.is_set() {
            return Poll::Ready(());
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let waker = cx.waker().clone();
        self.signal.lock().insert(self.id, waker.clone());
        self.registered = Some(waker);
        // Triggered between the check above and the insert: its drain may have missed us.
        if self.signal.is_set() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for StopWait<'_> {
    fn drop(&mut self) {
        if self.registered.is_some() {
            self.signal.lock().remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn wakes_waiters_registered_before_and_resolves_after() {
        let signal = Arc::new(StopSignal::default());
        let waiting = {
            let signal = signal.clone();
            tokio::spawn(async move { signal.wait().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        signal.trigger();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
        // Late waits resolve at once, and nothing stays registered.
        signal.wait().await;
        assert!(signal.lock().is_empty());
    }

    #[tokio::test]
    async fn a_dropped_wait_unregisters() {
        let signal = StopSignal::default();
        {
            let mut wait = std::pin::pin!(signal.wait());
            let waker = futures_noop_waker();
            let mut cx = Context::from_waker(&waker);
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            assert_eq!(signal.lock().len(), 1);
        }
        assert!(signal.lock().is_empty());
    }

    fn futures_noop_waker() -> Waker {
        Waker::noop().clone()
    }
}
