//! Call counters for `SHOW PLUGINS`, kept per calling thread (see `per_thread.rs`) and
//! added up when read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::per_thread::{self, Padded, SLOTS};

/// One thread slot's counters.
#[derive(Debug, Default)]
struct Stripe {
    calls: AtomicU64,
    errors: AtomicU64,
    nanos: AtomicU64,
}

#[derive(Debug)]
pub struct Stats {
    stripes: Box<[Padded<Stripe>]>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            stripes: (0..SLOTS).map(|_| Padded::default()).collect(),
        }
    }
}

impl Stats {
    pub fn record(&self, took: Duration, failed: bool) {
        let stripe = &self.stripes[per_thread::slot()];
        stripe.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            stripe.errors.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        stripe.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn sum(&self, field: impl Fn(&Stripe) -> &AtomicU64) -> u64 {
        self.stripes
            .iter()
            .map(|stripe| field(stripe).load(Ordering::Relaxed))
            .fold(0, u64::saturating_add)
    }

    pub fn calls(&self) -> u64 {
        self.sum(|s| &s.calls)
    }

    pub fn errors(&self) -> u64 {
        self.sum(|s| &s.errors)
    }

    /// Mean time of one call, in microseconds.
    pub fn mean_us(&self) -> f64 {
        let calls = self.calls();
        if calls == 0 {
            return 0.0;
        }
        self.sum(|s| &s.nanos) as f64 / calls as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_from_every_thread_are_counted() {
        let stats = Stats::default();
        std::thread::scope(|scope| {
            for _ in 0..(SLOTS + 3) {
                scope.spawn(|| {
                    stats.record(Duration::from_micros(2), false);
                    stats.record(Duration::from_micros(4), true);
                });
            }
        });
        let calls = 2 * (SLOTS as u64 + 3);
        assert_eq!(stats.calls(), calls);
        assert_eq!(stats.errors(), calls / 2);
        assert!((stats.mean_us() - 3.0).abs() < 1e-9, "{}", stats.mean_us());
    }

    #[test]
    fn no_calls_mean_zero() {
        assert_eq!(Stats::default().mean_us(), 0.0);
    }
}
