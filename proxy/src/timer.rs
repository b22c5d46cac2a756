//! Timers for the worker runtimes, kept off their event loops.
//!
//! tokio's time driver does its work on every park of a runtime that enables it: it locks
//! its wheel, looks for the next expiry, reads the clock twice and processes the wheel,
//! whether or not any timer is due. Under callgrind that came to about 1,200
//! instructions per transaction for one client (two parks each), a fifth of everything
//! pgDog executed for it. pgDog's own timers (login, checkout, connect, clean-up and
//! health-check timeouts, maintenance ticks) are few and seldom fire, so they live on one
//! thread of their own instead, and the workers run tokio without its time driver: a
//! worker that waits on nothing but sockets parks in `epoll_wait` with nothing to compute.
//!
//! A timer costs a lock and a map insert when it first has to wait, and a lock and a
//! removal when it is dropped unfired. The timer thread is told only when a new timer
//! is due before the one it sleeps towards, so timers of one length (every checkout's
//! timeout, say) do not wake it as they come and go.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The timers waiting, by deadline, and the thread that fires them.
struct Timers {
    state: Mutex<State>,
    /// The timer thread waits on this for the first deadline, or for an earlier one.
    changed: Condvar,
}

struct State {
    /// Keyed by deadline, then by a number that tells timers of one deadline apart.
    due: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
    /// When the timer thread is next due to look at `due` by itself; `None` while it
    /// waits to be told (nothing is due at all).
    wakes_at: Option<Instant>,
}

impl Timers {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing that holds the lock can panic halfway through a change.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn timers() -> &'static Timers {
    static TIMERS: OnceLock<&'static Timers> = OnceLock::new();
    TIMERS.get_or_init(|| {
        let timers: &'static Timers = Box::leak(Box::new(Timers {
            state: Mutex::new(State {
                due: BTreeMap::new(),
                next_id: 0,
                wakes_at: None,
            }),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("pgdog-timers".into())
            .spawn(move || fire(timers))
            .expect("cannot start pgDog's timer thread");
        timers
    })
}

/// The timer thread: wakes each timer at its deadline, for the life of the process.
fn fire(timers: &'static Timers) {
    let mut state = timers.lock();
    loop {
        let now = Instant::now();
        let mut fired = Vec::new();
        while let Some(entry) = state.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            fired.push(entry.remove());
        }
        if !fired.is_empty() {
            // Woken outside the lock: a waker may run its task's scheduling code.
            drop(state);
            fired.into_iter().for_each(Waker::wake);
            state = timers.lock();
            continue;
        }
        let next = state.due.first_key_value().map(|((at, _), _)| *at);
        state.wakes_at = next;
        state = match next {
            Some(at) => {
                timers
                    .changed
                    .wait_timeout(state, at.saturating_duration_since(now))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => timers
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// A future that completes at its deadline; see [`sleep`].
#[derive(Debug)]
pub struct Sleep {
    /// `None`: too far away to represent, which is never.
    at: Option<Instant>,
    /// The timer's key while it is registered with the timer thread.
    id: Option<u64>,
    done: bool,
}

/// Completes once `duration` has passed.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        at: Instant::now().checked_add(duration),
        id: None,
        done: false,
    }
}

/// Completes at `at` (at once if it has passed).
pub fn sleep_until(at: Instant) -> Sleep {
    Sleep {
        at: Some(at),
        id: None,
        done: false,
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        let Some(at) = self.at else {
            return Poll::Pending;
        };
        let timers = timers();
        match self.id {
            None => {
                if Instant::now() >= at {
                    self.done = true;
                    return Poll::Ready(());
                }
                let mut state = timers.lock();
                let id = state.next_id;
                state.next_id += 1;
                state.due.insert((at, id), cx.waker().clone());
                if state.wakes_at.is_none_or(|wakes| at < wakes) {
                    timers.changed.notify_one();
                }
                drop(state);
                self.id = Some(id);
                Poll::Pending
            }
            Some(id) => {
                let mut state = timers.lock();
                match state.due.get_mut(&(at, id)) {
                    Some(waker) => {
                        if !waker.will_wake(cx.waker()) {
                            *waker = cx.waker().clone();
                        }
                        Poll::Pending
                    }
                    // The timer thread took it out: the deadline passed.
                    None => {
                        drop(state);
                        self.id = None;
                        self.done = true;
                        Poll::Ready(())
                    }
                }
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let (Some(id), Some(at)) = (self.id, self.at) {
            timers().lock().due.remove(&(at, id));
        }
    }
}

/// The error of a [`timeout`] whose time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future` for at most `duration`. The future is polled first, so one that is ready
/// at once never registers a timer.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    let mut sleep = sleep(duration);
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        Pin::new(&mut sleep).poll(cx).map(|()| Err(Elapsed))
    })
    .await
}

/// Ticks every `period`, the first time at once. A late tick moves the later ones back
/// (tokio's `MissedTickBehavior::Delay`): maintenance that overran is not run twice in a
/// row to catch up.
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    next: Instant,
}

pub fn interval(period: Duration) -> Interval {
    Interval {
        period,
        next: Instant::now(),
    }
}

impl Interval {
    pub async fn tick(&mut self) {
        sleep_until(self.next).await;
        let now = Instant::now();
        self.next = now.checked_add(self.period).unwrap_or(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime like a worker's: no tokio time driver, so these timers alone must fire.
    fn worker_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap()
    }

    #[test]
    fn sleep_waits_its_duration_and_no_longer() {
        worker_runtime().block_on(async {
            let start = Instant::now();
            sleep(Duration::from_millis(60)).await;
            let waited = start.elapsed();
            assert!(waited >= Duration::from_millis(60), "{waited:?}");
            assert!(waited < Duration::from_secs(2), "{waited:?}");
        });
    }

    #[test]
    fn timeout_passes_a_ready_future_and_stops_a_stuck_one() {
        worker_runtime().block_on(async {
            assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
            let start = Instant::now();
            let stuck = timeout(Duration::from_millis(50), std::future::pending::<()>()).await;
            assert_eq!(stuck, Err(Elapsed));
            assert!(start.elapsed() >= Duration::from_millis(50));
            assert!(start.elapsed() < Duration::from_secs(2));
        });
    }

    /// A later, shorter timer fires first: the thread, asleep towards the longer one, is
    /// told of the earlier deadline.
    #[test]
    fn an_earlier_deadline_wakes_the_sleeping_timer_thread() {
        worker_runtime().block_on(async {
            let long = tokio::spawn(sleep(Duration::from_secs(30)));
            tokio::task::yield_now().await;
            let start = Instant::now();
            sleep(Duration::from_millis(40)).await;
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "{:?}",
                start.elapsed()
            );
            assert!(!long.is_finished());
            long.abort();
        });
    }

    /// Dropped timers leave nothing behind for the thread to fire.
    #[test]
    fn dropped_timers_are_removed() {
        worker_runtime().block_on(async {
            let before = Instant::now();
            for _ in 0..100 {
                let out = timeout(Duration::from_secs(3600), tokio::task::yield_now()).await;
                assert!(out.is_ok());
            }
            // Other tests' timers may be registered meanwhile; none of these is, since
            // each was polled and then dropped before its deadline an hour away.
            let ours = timers()
                .lock()
                .due
                .keys()
                .filter(|(at, _)| *at > before + Duration::from_secs(3000))
                .count();
            assert_eq!(ours, 0);
        });
    }

    #[test]
    fn interval_ticks_at_once_then_every_period() {
        worker_runtime().block_on(async {
            let start = Instant::now();
            let mut tick = interval(Duration::from_millis(30));
            tick.tick().await;
            assert!(start.elapsed() < Duration::from_millis(25));
            tick.tick().await;
            tick.tick().await;
            assert!(start.elapsed() >= Duration::from_millis(60));
        });
    }

    #[test]
    fn a_deadline_beyond_the_clock_never_fires() {
        worker_runtime().block_on(async {
            // No overflow panic, and no firing at once either.
            let never = timeout(Duration::from_millis(30), sleep(Duration::MAX)).await;
            assert_eq!(never, Err(Elapsed));
        });
    }
}
