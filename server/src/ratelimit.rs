//! A token bucket: `rate` tokens a second, up to `burst` kept. The one piece of rate
//! limiting that uploads (per address) and sync sockets (per connection) share.

use std::time::Instant;

/// A bucket of tokens refilled over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket refilled at `rate` a second, holding at most `burst` (at least 1).
    pub fn new(rate: f64, burst: f64, now: Instant) -> TokenBucket {
        let burst = burst.max(1.0);
        TokenBucket { rate: rate.max(0.0), burst, tokens: burst, at: now }
    }

    fn refill(&mut self, now: Instant) {
        self.tokens = (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
    }

    /// Takes a token; `Err(seconds)` to wait for the next when there is none.
    pub fn take(&mut self, now: Instant) -> Result<(), u64> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else if self.rate > 0.0 {
            Err(((1.0 - self.tokens) / self.rate).ceil() as u64)
        } else {
            Err(60)
        }
    }

    /// Whether the bucket would be full at `now` (nothing taken lately: safe to forget).
    pub fn is_full(&self, now: Instant) -> bool {
        self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * self.rate >= self.burst
    }
}
