//! A circuit breaker per upstream.
//!
//! After `threshold` consecutive failed requests the circuit opens and requests are answered 503
//! at once, without contacting the upstream, instead of piling up on a dead one. After
//! `cooldown` one request is let through as a probe (half-open): its success closes the circuit,
//! its failure opens it for another cooldown.
//!
//! What counts is decided by the proxy, once per client request, after its retries: a request
//! fails when the upstream could not be reached or did not answer in time (every attempt), or
//! answered 502, 503 or 504 (it says itself that it cannot serve now). Any other answer, even a
//! 500, is a success: the upstream is up and speaks for itself, and one request that trips a bug
//! must not take the upstream away from everyone. Counting requests rather than attempts keeps
//! `BREAKER_FAILURES` meaning what it says whatever `UPSTREAM_RETRIES` is.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A probe is out; if it never reports (its request was dropped), another is allowed
    /// after a further cooldown.
    HalfOpen {
        since: Instant,
    },
}

/// The names of the states, as metrics report them.
pub const STATES: [&str; 3] = ["closed", "open", "half_open"];

/// The breaker of one upstream.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

/// Whether a request may go to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// The circuit is closed.
    Allowed,
    /// The circuit was open long enough: this request is the probe.
    Probe,
    /// The circuit is open.
    Rejected,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current state's name, one of [`STATES`].
    pub fn state_name(&self) -> &'static str {
        match *self.state() {
            State::Closed { .. } => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half_open",
        }
    }

    /// Asks to send a request now.
    pub fn permit(&self) -> Permit {
        self.permit_at(Instant::now())
    }

    fn permit_at(&self, now: Instant) -> Permit {
        let mut state = self.state();
        match *state {
            State::Closed { .. } => Permit::Allowed,
            State::Open { until } if now >= until => {
                *state = State::HalfOpen { since: now };
                Permit::Probe
            }
            State::HalfOpen { since } if now >= since + self.cooldown => {
                *state = State::HalfOpen { since: now };
                Permit::Probe
            }
            State::Open { .. } | State::HalfOpen { .. } => Permit::Rejected,
        }
    }

    /// A request got its answer.
    pub fn success(&self) {
        *self.state() = State::Closed { failures: 0 };
    }

    /// A request failed (see the module documentation for what counts).
    pub fn failure(&self) {
        self.failure_at(Instant::now());
    }

    fn failure_at(&self, now: Instant) {
        let mut state = self.state();
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: now + self.cooldown,
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(5);

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let breaker = Breaker::new(3, COOLDOWN);
        let now = Instant::now();
        breaker.failure_at(now);
        breaker.failure_at(now);
        assert_eq!(breaker.permit_at(now), Permit::Allowed);
        breaker.failure_at(now);
        assert_eq!(breaker.permit_at(now), Permit::Rejected);
    }

    #[test]
    fn the_state_is_named_for_the_metrics() {
        let breaker = Breaker::new(1, COOLDOWN);
        let now = Instant::now();
        assert_eq!(breaker.state_name(), "closed");
        breaker.failure_at(now);
        assert_eq!(breaker.state_name(), "open");
        assert_eq!(breaker.permit_at(now + COOLDOWN), Permit::Probe);
        assert_eq!(breaker.state_name(), "half_open");
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = Breaker::new(2, COOLDOWN);
        let now = Instant::now();
        breaker.failure_at(now);
        breaker.success();
        breaker.failure_at(now);
        assert_eq!(breaker.permit_at(now), Permit::Allowed);
    }

    #[test]
    fn after_the_cooldown_one_probe_goes_through() {
        let breaker = Breaker::new(1, COOLDOWN);
        let now = Instant::now();
        breaker.failure_at(now);
        assert_eq!(breaker.permit_at(now + COOLDOWN), Permit::Probe);
        assert_eq!(
            breaker.permit_at(now + COOLDOWN),
            Permit::Rejected,
            "only one probe at a time"
        );
        breaker.success();
        assert_eq!(breaker.permit_at(now + COOLDOWN), Permit::Allowed);
    }

    #[test]
    fn a_failed_probe_opens_again() {
        let breaker = Breaker::new(1, COOLDOWN);
        let now = Instant::now();
        breaker.failure_at(now);
        assert_eq!(breaker.permit_at(now + COOLDOWN), Permit::Probe);
        breaker.failure_at(now + COOLDOWN);
        assert_eq!(breaker.permit_at(now + COOLDOWN), Permit::Rejected);
        assert_eq!(breaker.permit_at(now + COOLDOWN * 2), Permit::Probe);
    }

    #[test]
    fn a_lost_probe_does_not_keep_the_circuit_open_forever() {
        let breaker = Breaker::new(1, COOLDOWN);
        let now = Instant::now();
        breaker.failure_at(now);
        assert_eq!(breaker.permit_at(now + COOLDOWN), Permit::Probe);
        assert_eq!(breaker.permit_at(now + COOLDOWN * 2), Permit::Probe);
    }
}
