//! A cheap monotonic clock for bookkeeping that runs on every checkout (how long a server
//! sat idle). `CLOCK_MONOTONIC_COARSE` is read from the vDSO without touching the TSC, at
//! the kernel's tick resolution (a few milliseconds): plenty for idle timeouts and health
//! check intervals counted in seconds, and a fraction of the cost of `Instant::now` on a
//! virtual machine.

use std::time::Duration;

#[cfg(target_os = "linux")]
const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC_COARSE;
/// Elsewhere the precise clock: correct, only not as cheap.
#[cfg(not(target_os = "linux"))]
const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;

/// A point on the coarse monotonic clock, in nanoseconds. A plain integer rather than a
/// `Duration`: `Duration::new` normalises and `Duration::saturating_sub` borrows across
/// two fields, which doubled the cost of the reading itself (callgrind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CoarseInstant(u64);

impl CoarseInstant {
    pub fn now() -> CoarseInstant {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel
        // has supported since 2.6.32, and the call cannot fail for it.
        unsafe { libc::clock_gettime(CLOCK, &mut ts) };
        // The monotonic clock counts from boot: u64 nanoseconds last 584 years.
        CoarseInstant((ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64)
    }

    /// Whether at least `age` has passed since this instant (this runs on every checkout,
    /// so no `Duration` is built).
    pub fn aged(&self, age: Duration) -> bool {
        let age = age
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(age.subsec_nanos()));
        self.nanos_since() >= age
    }

    /// Zero if the clock reads earlier than this, which it never should.
    fn nanos_since(&self) -> u64 {
        CoarseInstant::now().0.saturating_sub(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_forward_with_real_time() {
        let start = CoarseInstant::now();
        std::thread::sleep(Duration::from_millis(50));
        // Tick resolution is at most 10 ms (HZ=100).
        assert!(start.aged(Duration::from_millis(35)));
        assert!(CoarseInstant::now() >= start);
        assert!(start.aged(Duration::ZERO));
        assert!(!start.aged(Duration::from_secs(5)));
        assert!(
            !start.aged(Duration::MAX),
            "a huge age saturates, it does not wrap"
        );
    }
}
