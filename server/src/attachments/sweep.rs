//! Removes uploads nobody referenced within a day.
//!
//! Anyone may upload, so files that no report or task result ever cites would otherwise
//! stay forever. Every few minutes (and at once when a test clock moves, as the deadline
//! timer does) the sweep removes each file older than [`KEEP_UNREFERENCED_MS`] by the
//! server's clock that no case references. A file is removed by one statement that reads
//! both conditions again, so a case that cites it meanwhile keeps it.

use std::time::Duration;

use crate::clock::Clock;
use crate::store::{Database, StoreError};

/// How long an upload waits for a case to cite it: a day.
pub const KEEP_UNREFERENCED_MS: i64 = 24 * 60 * 60 * 1000;

/// How often the sweep runs by the real clock.
pub const EVERY: Duration = Duration::from_secs(600);

/// Files removed per read of candidates.
const PAGE: i64 = 200;

/// The sweep of a running server.
#[derive(Debug, Clone)]
pub struct Sweeper {
    /// Storage.
    pub db: Database,
    /// The server's clock (a test clock moves it ahead).
    pub clock: Clock,
}

impl Sweeper {
    /// Sweeps now, then every [`EVERY`] and whenever a test clock moves, until dropped.
    pub async fn run(self) {
        let mut moves = self.clock.moves();
        loop {
            let sweeper = self.clone();
            match tokio::task::spawn_blocking(move || sweeper.sweep()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(removed)) => tracing::info!(removed, "uploads nobody referenced within a day removed"),
                Ok(Err(e)) => tracing::warn!(cause = %e, "unreferenced uploads not swept"),
                Err(e) => tracing::warn!(cause = %e, "the upload sweep stopped short"),
            }
            self.clock.passed("uploads");
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                _ = moves.changed() => {}
            }
        }
    }

    /// Removes every file uploaded more than a day ago that no case references; how many.
    pub fn sweep(&self) -> Result<usize, StoreError> {
        let before = self.clock.now_ms() - KEEP_UNREFERENCED_MS;
        let mut removed = 0;
        loop {
            let candidates = self.db.read(|c| super::unreferenced_before(c, before, PAGE))?;
            let mut gone = 0;
            for id in &candidates {
                // One small write each: a report citing a file at this instant waits for
                // at most one delete, and one that committed first keeps its file.
                match self.db.write(|c| super::remove_unreferenced(c, id, before)) {
                    Ok(true) => gone += 1,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(%id, cause = %e, "an unreferenced upload was not removed"),
                }
            }
            removed += gone;
            // Stop when the page was the last, or when nothing of it could go (so that a
            // file that keeps failing is not read again in a loop).
            if (candidates.len() as i64) < PAGE || gone == 0 {
                return Ok(removed);
            }
        }
    }
}
