//! How long a lease is good for: the clock drift we allow for, and what is left of a ttl once
//! a round has taken its time (safety property 2).

use std::time::{Duration, Instant};

/// The clock drift we allow for: 1% of the ttl plus 2 ms (the Redlock paper's margin).
pub fn drift(ttl: Duration) -> Duration {
    ttl / 100 + Duration::from_millis(2)
}

/// What is left of a lease that was requested at `started` for `ttl`, as of `now`:
/// ttl − elapsed − drift, or `None` when nothing is left (safety property 2).
pub fn validity(ttl: Duration, started: Instant, now: Instant) -> Option<Duration> {
    ttl.checked_sub(now.saturating_duration_since(started))
        .and_then(|left| left.checked_sub(drift(ttl)))
        .filter(|v| !v.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_subtracts_elapsed_time_and_drift() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(10);
        // 10s - 1s - (100ms + 2ms)
        assert_eq!(
            validity(ttl, t0, t0 + Duration::from_secs(1)),
            Some(Duration::from_millis(8898))
        );
        assert_eq!(validity(ttl, t0, t0 + Duration::from_millis(9898)), None);
        assert_eq!(validity(Duration::from_millis(2), t0, t0), None);
    }
}
