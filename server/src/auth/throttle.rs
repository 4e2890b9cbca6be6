//! What stands between the internet and the password checks: failed logins throttled
//! per client address and per login name, and the bounded queue of checks.
//!
//! Each failure takes a token from the address's bucket and from the login's; with
//! either empty, a login is refused with 429 `rate-limited` and `Retry-After` before its
//! password is checked, so that guessing goes no faster than the buckets refill. A login
//! name is throttled whether or not it exists (it is keyed by its hash, bounded in size):
//! otherwise the throttle itself would tell which logins exist. A success forgets the
//! login's failures, not the address's.

use std::net::IpAddr;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::checkers::Checkers;
use crate::problem::ApiError;
use crate::ratelimit::KeyedLimiter;
use crate::settings::LimitSettings;

/// The throttles of failed logins and the password-checking threads.
#[derive(Debug)]
pub struct LoginGuard {
    checkers: Checkers,
    by_login: KeyedLimiter<[u8; 32]>,
    by_address: KeyedLimiter<IpAddr>,
}

fn login_key(login: &str) -> [u8; 32] {
    Sha256::digest(login.as_bytes()).into()
}

impl LoginGuard {
    /// Throttles and checking threads (one per core) as `limits` set them.
    pub fn new(limits: &LimitSettings) -> LoginGuard {
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let window = u64::from(limits.login_failure_window_s);
        let (per_login, per_address) = (u64::from(limits.login_failures), u64::from(limits.login_failures_per_address));
        LoginGuard {
            checkers: Checkers::start(threads, limits.password_checks_waiting as usize),
            by_login: KeyedLimiter::every(per_login, window, per_login),
            by_address: KeyedLimiter::every(per_address, window, per_address),
        }
    }

    /// 429 `rate-limited` when `login` or the client at `client` has failed too often
    /// lately; takes nothing.
    pub fn admit(&self, client: Option<IpAddr>, login: &str, now: Instant) -> Result<(), ApiError> {
        if let Some(client) = client {
            self.by_address.check(&client, 1.0, now).map_err(ApiError::RateLimited)?;
        }
        self.by_login.check(&login_key(login), 1.0, now).map_err(ApiError::RateLimited)
    }

    /// Counts a failed login against the address and the login name.
    pub fn failed(&self, client: Option<IpAddr>, login: &str, now: Instant) {
        if let Some(client) = client {
            let _ = self.by_address.take(&client, 1.0, now);
        }
        let _ = self.by_login.take(&login_key(login), 1.0, now);
    }

    /// Forgets the failures of a login name that just logged in.
    pub fn succeeded(&self, login: &str) {
        self.by_login.forget(&login_key(login));
    }

    /// Whether `password` matches `hash` (`None`: an unknown login, checked against the
    /// dummy hash at the same cost); 503 `busy` when the queue of checks is full.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        self.checkers.verify(password, hash).await.map_err(|_| ApiError::Busy(1))
    }

    /// How many checks were made against the dummy hash (unknown logins).
    pub fn dummy_checks(&self) -> u64 {
        self.checkers.dummy_checks()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_throttle_per_login_and_per_address_and_a_success_forgets_the_login_s() {
        let limits = LimitSettings { login_failures: 3, login_failures_per_address: 5, ..LimitSettings::default() };
        let guard = LoginGuard::new(&limits);
        let (a, b): (IpAddr, IpAddr) = ([192, 0, 2, 1].into(), [192, 0, 2, 2].into());
        let now = Instant::now();
        for _ in 0..3 {
            assert!(guard.admit(Some(a), "zhang", now).is_ok());
            guard.failed(Some(a), "zhang", now);
        }
        let refused = guard.admit(Some(b), "zhang", now).unwrap_err();
        assert!(matches!(refused, ApiError::RateLimited(s) if s > 0), "the login, from any address: {refused:?}");
        assert!(guard.admit(Some(a), "li", now).is_ok(), "another login from the same address");
        guard.failed(Some(a), "li", now);
        guard.failed(Some(a), "wang", now);
        assert!(guard.admit(Some(a), "zhao", now).is_err(), "five failures from one address");
        assert!(guard.admit(Some(b), "zhao", now).is_ok(), "another address");
        guard.succeeded("zhang");
        assert!(guard.admit(Some(b), "zhang", now).is_ok(), "a success forgets the login's failures");
        assert!(guard.admit(None, "nobody-known", now).is_ok(), "unknown logins are keyed alike, and start free");
    }
}
