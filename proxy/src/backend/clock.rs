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

/// A point on the coarse monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CoarseInstant(Duration);

impl CoarseInstant {
    pub fn now() -> CoarseInstant {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel
        // has supported since 2.6.32, and the call cannot fail for it.
        unsafe { libc::clock_gettime(CLOCK, &mut ts) };
        CoarseInstant(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }

    /// Time since this instant (zero if the clock reads earlier, which it never should).
    pub fn elapsed(&self) -> Duration {
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
        let waited = start.elapsed();
        // Tick resolution is at most 10 ms (HZ=100).
        assert!(waited >= Duration::from_millis(35), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        assert!(CoarseInstant::now() >= start);
    }
}
