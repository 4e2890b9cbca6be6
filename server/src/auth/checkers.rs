//! Password checks on a few threads of their own.
//!
//! An Argon2 check takes 19 MiB. Run on the shared blocking pool, every thread that ever
//! ran one keeps its 19 MiB in its allocator arena afterwards: a storm of logins left the
//! server at 0.8–1.7 GB resident. On one thread per core, reused for every check, the
//! cost is that many blocks, and the logins beyond them wait in the queue, asleep.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::verify_password;

type Job = (String, String, oneshot::Sender<bool>);

/// The password-checking threads.
#[derive(Debug)]
pub struct Checkers {
    jobs: mpsc::Sender<Job>,
}

impl Checkers {
    /// Starts `threads` checking threads (at least one).
    pub fn start(threads: usize) -> Checkers {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("password-check-{n}")).spawn(move || {
                loop {
                    let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok((password, hash, reply)) = job else { break };
                    // Nobody waits any more (the client gave up): spare the 19 MiB check.
                    if !reply.is_closed() {
                        let _ = reply.send(verify_password(&password, &hash));
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(cause = %e, "a password-checking thread did not start");
            }
        }
        Checkers { jobs }
    }

    /// Whether `password` matches the PHC `hash`, checked on one of the threads.
    pub async fn verify(&self, password: String, hash: String) -> bool {
        let (reply, answer) = oneshot::channel();
        if self.jobs.send((password, hash, reply)).is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_run_on_the_threads_and_answer_each_caller() {
        let checkers = Checkers::start(2);
        let hash = super::super::hash_password("demo").unwrap();
        let answers = futures_util::future::join_all(
            ["demo", "Demo", "demo", ""].map(|p| checkers.verify(p.to_owned(), hash.clone())),
        )
        .await;
        assert_eq!(answers, [true, false, true, false]);
    }
}
