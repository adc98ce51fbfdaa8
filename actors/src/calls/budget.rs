//! The upstream's request budget: one per upstream, shared by every call to it.
//!
//! It combines what the gateway knows in advance (an optional number of requests per
//! minute, a GCRA limiter) with what the upstream says as it answers (a pause: "no
//! requests left until …", or a 429's `Retry-After`). A request takes its turn with
//! [`RequestBudget::acquire`], which queues the caller while its deadline allows and
//! otherwise says at once how long the wait would be, so the caller can answer "retry
//! after N ms" instead of hanging until its timeout.
//!
//! The pool acquires one turn per attempt of a call ([`CallPool::start`]); an adapter
//! whose calls make several upstream requests (Plane) is handed the same budget and
//! acquires one turn per HTTP request instead ([`CallPool::start_metered`]).
//!
//! [`CallPool::start`]: super::CallPool::start
//! [`CallPool::start_metered`]: super::CallPool::start_metered

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// The longest pause an upstream may impose through its headers; a longer one (a
/// clock skew, a bogus header) is cut to this.
pub const MAX_PAUSE: Duration = Duration::from_secs(300);

/// One upstream's request budget. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct RequestBudget {
    limiter: Option<DefaultDirectRateLimiter>,
    paused_until: Mutex<Option<Instant>>,
}

impl RequestBudget {
    /// A budget of `per_minute` requests (unlimited when `None`; the upstream's own
    /// pauses still apply).
    pub fn new(per_minute: Option<NonZeroU32>) -> Self {
        Self {
            limiter: per_minute.map(|n| RateLimiter::direct(Quota::per_minute(n))),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits for one request's turn, at most `max_wait`. When the turn would come later
    /// than that, returns at once (or as soon as that is known) with how long the wait
    /// would have been.
    pub async fn acquire(&self, max_wait: Duration) -> Result<(), Duration> {
        let deadline = Instant::now() + max_wait;
        if let Some(until) = self.paused_until() {
            if until > deadline {
                return Err(until - Instant::now());
            }
            tokio::time::sleep_until(until).await;
        }
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        match limiter.check() {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                if Instant::now() + wait > deadline {
                    return Err(wait);
                }
                tokio::time::timeout_at(deadline, limiter.until_ready())
                    .await
                    .map_err(|_| Duration::from_secs(1))
            }
        }
    }

    /// The upstream said to send nothing for `wait` (a 429's `Retry-After`, or no
    /// requests remaining until its window resets). Pauses never shorten: the later end
    /// wins. At most [`MAX_PAUSE`].
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_PAUSE);
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    /// What an answer said of the upstream's budget: requests `remaining` in its window
    /// and the time until that window resets. No request remaining pauses until then.
    pub fn observe(&self, remaining: Option<u64>, reset_in: Option<Duration>) {
        if remaining == Some(0) {
            self.pause(reset_in.unwrap_or(Duration::from_secs(60)));
        }
    }

    /// When the current pause ends, if one is in force.
    pub fn paused_until(&self) -> Option<Instant> {
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *paused {
            Some(until) if until > Instant::now() => Some(until),
            Some(_) => {
                *paused = None;
                None
            }
            None => None,
        }
    }
}
