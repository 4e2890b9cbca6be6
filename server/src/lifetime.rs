//! How the server's own threads (the acknowledgement writer, the session sweep, the log
//! pruner) learn that the server has ended.
//!
//! They hold the database, and with it its pools. A server that ends while its process
//! goes on — every test's server, and any embedder's — would otherwise leave them
//! running, each reading a database that may be gone, for as long as the process lives.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// Held by the running application: dropping it ends every [`Until`] made from it.
#[derive(Debug, Default)]
pub struct Lifetime(Arc<State>);

/// A thread's view of the [`Lifetime`] it belongs to.
#[derive(Debug, Clone)]
pub struct Until(Arc<State>);

#[derive(Debug, Default)]
struct State {
    ended: Mutex<bool>,
    wake: Condvar,
}

impl Lifetime {
    /// A lifetime that has not ended.
    pub fn new() -> Lifetime {
        Lifetime::default()
    }

    /// A view of this lifetime for a thread to wait on.
    pub fn until(&self) -> Until {
        Until(self.0.clone())
    }
}

impl Drop for Lifetime {
    fn drop(&mut self) {
        *self.0.ended.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.0.wake.notify_all();
    }
}

impl Until {
    /// Sleeps for `period`, or less if the lifetime ends meanwhile: `true` while it
    /// lasts, `false` once it has ended (at once, without sleeping, if it already had).
    pub fn sleep(&self, period: Duration) -> bool {
        let ended = self.0.ended.lock().unwrap_or_else(PoisonError::into_inner);
        let (ended, _) =
            self.0.wake.wait_timeout_while(ended, period, |ended| !*ended).unwrap_or_else(PoisonError::into_inner);
        !*ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleeper_wakes_when_its_lifetime_ends() {
        let lifetime = Lifetime::new();
        let until = lifetime.until();
        assert!(until.sleep(Duration::from_millis(1)), "a lifetime that lasts sleeps its period");
        let sleeper = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let lasted = until.sleep(Duration::from_secs(600));
            (lasted, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(20));
        drop(lifetime);
        let (lasted, slept) = sleeper.join().unwrap();
        assert!(!lasted);
        assert!(slept < Duration::from_secs(60), "woken by the end, not by the period: {slept:?}");
    }

    #[test]
    fn an_ended_lifetime_does_not_sleep() {
        let until = Lifetime::new().until();
        assert!(!until.sleep(Duration::from_secs(600)));
    }
}
