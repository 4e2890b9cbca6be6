//! Password checks on a few threads of their own, behind a bounded queue.
//!
//! An Argon2 check takes 19 MiB. Run on the shared blocking pool, every thread that ever
//! ran one keeps its 19 MiB in its allocator arena afterwards: a storm of logins left the
//! server at 0.8–1.7 GB resident. On one thread per core, reused for every check, the
//! cost is that many blocks, and the logins beyond them wait in the queue, asleep. The
//! queue is bounded: past `waiting` checks waiting, a login is answered 503 `busy` at
//! once rather than left to wait behind a flood.
//!
//! A login whose name is unknown is checked too, against a dummy hash made once with the
//! same parameters as every stored one, so that it costs what a wrong password costs and
//! its timing does not tell which logins exist.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::{Semaphore, oneshot};

use super::{hash_password, new_token, verify_password};

/// A check: the password, the stored hash (`None`: an unknown login, checked against the
/// dummy), and where the answer goes.
type Job = (String, Option<String>, oneshot::Sender<bool>);

/// The queue is full: try again in about this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every password check is taken; try again shortly")]
pub struct Busy;

/// The password-checking threads.
#[derive(Debug)]
pub struct Checkers {
    jobs: mpsc::Sender<Job>,
    /// Checks running or waiting, at most the threads plus the queue's bound.
    slots: Arc<Semaphore>,
    /// How many checks were made against the dummy hash (unknown logins).
    dummy_checks: Arc<AtomicU64>,
}

impl Checkers {
    /// Starts `threads` checking threads (at least one), with at most `waiting` checks
    /// queued behind them. The dummy hash is made on the first thread before it takes
    /// any check, so that no login pays for making it.
    pub fn start(threads: usize, waiting: usize) -> Checkers {
        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let dummy: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
        let dummy_checks = Arc::new(AtomicU64::new(0));
        for n in 0..threads {
            let (queue, dummy, dummy_checks) = (queue.clone(), dummy.clone(), dummy_checks.clone());
            let spawned = std::thread::Builder::new().name(format!("password-check-{n}")).spawn(move || {
                if n == 0 {
                    dummy.get_or_init(make_dummy);
                }
                loop {
                    let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok((password, hash, reply)) = job else { break };
                    // Nobody waits any more (the client gave up): spare the 19 MiB check.
                    if reply.is_closed() {
                        continue;
                    }
                    let matches = match hash {
                        Some(hash) => verify_password(&password, &hash),
                        None => {
                            dummy_checks.fetch_add(1, Ordering::Relaxed);
                            // The same work as a real check; its answer is always no.
                            let _ = verify_password(&password, dummy.get_or_init(make_dummy));
                            false
                        }
                    };
                    let _ = reply.send(matches);
                }
            });
            if let Err(e) = spawned {
                tracing::error!(cause = %e, "a password-checking thread did not start");
            }
        }
        Checkers { jobs, slots: Arc::new(Semaphore::new(threads + waiting)), dummy_checks }
    }

    /// Whether `password` matches the PHC `hash` (for `None`, an unknown login: checked
    /// against the dummy hash all the same, and never a match), checked on one of the
    /// threads; [`Busy`] when the queue is full.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Busy> {
        let _slot = self.slots.clone().try_acquire_owned().map_err(|_| Busy)?;
        let (reply, answer) = oneshot::channel();
        if self.jobs.send((password, hash, reply)).is_err() {
            return Ok(false);
        }
        Ok(answer.await.unwrap_or(false))
    }

    /// How many checks were made against the dummy hash.
    pub fn dummy_checks(&self) -> u64 {
        self.dummy_checks.load(Ordering::Relaxed)
    }
}

/// The hash of a random password, with the parameters every stored hash has.
fn make_dummy() -> String {
    match hash_password(&new_token()) {
        Ok(hash) => hash,
        Err(e) => {
            // Never seen: the hasher takes any input. Unknown logins then answer sooner.
            tracing::error!(cause = %e, "no dummy password hash: unknown logins are not timed like wrong passwords");
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_run_on_the_threads_and_answer_each_caller() {
        let checkers = Checkers::start(2, 8);
        let hash = super::super::hash_password("demo").unwrap();
        let answers = futures_util::future::join_all(
            ["demo", "Demo", "demo", ""].map(|p| checkers.verify(p.to_owned(), Some(hash.clone()))),
        )
        .await;
        assert_eq!(answers, [Ok(true), Ok(false), Ok(true), Ok(false)]);
        assert_eq!(checkers.dummy_checks(), 0);
    }

    #[tokio::test]
    async fn an_unknown_login_is_checked_against_the_dummy_hash() {
        let checkers = Checkers::start(1, 4);
        assert_eq!(checkers.verify("demo".into(), None).await, Ok(false));
        assert_eq!(checkers.verify(String::new(), None).await, Ok(false));
        assert_eq!(checkers.dummy_checks(), 2, "each unknown login cost one real Argon2 check");
    }

    #[tokio::test]
    async fn past_the_queue_s_bound_checks_are_refused_at_once() {
        let checkers = Checkers::start(1, 2);
        let hash = super::super::hash_password("demo").unwrap();
        // Six at once: one running and two waiting are taken, the other three refused.
        let answers =
            futures_util::future::join_all((0..6).map(|_| checkers.verify("x".into(), Some(hash.clone())))).await;
        assert_eq!(answers.iter().filter(|a| **a == Err(Busy)).count(), 3, "{answers:?}");
        assert_eq!(answers.iter().filter(|a| **a == Ok(false)).count(), 3, "{answers:?}");
        // Once they are done, there is room again.
        assert_eq!(checkers.verify("demo".into(), Some(hash)).await, Ok(true));
    }
}
