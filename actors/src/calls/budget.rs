//! The upstream's request budget: one per upstream, shared by every call to it.
//!
//! It combines what the gateway knows in advance (an optional number of requests per
//! minute, counted over a sliding 60-second window: the shape of Plane's throttle,
//! DRF's `SimpleRateThrottle`, so a budget equal to the upstream's never trips it —
//! a token bucket with a burst of N would send up to 2N in the first minute) with what
//! the upstream says as it answers (a pause: "no requests left until …", or a 429's
//! `Retry-After`). A request takes its turn with
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

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The longest pause an upstream may impose through its headers; a longer one (a
/// clock skew, a bogus header) is cut to this.
pub const MAX_PAUSE: Duration = Duration::from_secs(300);

/// The window the per-minute budget is counted over.
const WINDOW: Duration = Duration::from_secs(60);

/// One upstream's request budget. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct RequestBudget {
    /// Requests per [`WINDOW`], and the send times of the last ones.
    limit: Option<(usize, Mutex<VecDeque<Instant>>)>,
    paused_until: Mutex<Option<Instant>>,
}

impl RequestBudget {
    /// A budget of `per_minute` requests (unlimited when `None`; the upstream's own
    /// pauses still apply).
    pub fn new(per_minute: Option<NonZeroU32>) -> Self {
        Self {
            limit: per_minute.map(|n| (n.get() as usize, Mutex::new(VecDeque::new()))),
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
        let Some((limit, sent)) = &self.limit else {
            return Ok(());
        };
        loop {
            let now = Instant::now();
            let wait = {
                let mut sent = sent
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                while sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    sent.pop_front();
                }
                if sent.len() < *limit {
                    sent.push_back(now);
                    return Ok(());
                }
                // The oldest send leaves the window first.
                sent.front()
                    .map_or(Duration::ZERO, |t| WINDOW - now.duration_since(*t))
            };
            if now + wait > deadline {
                return Err(wait);
            }
            tokio::time::sleep(wait).await;
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
