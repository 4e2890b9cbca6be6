//! Acknowledgements, written for the whole node at once.
//!
//! A device's acknowledged cursor decides whether its worker is woken by push (no device
//! holds a new task) and where a reinstalled phone may resume. Written by each session on
//! its own, it cost one transaction — one commit, one log flush — per session per
//! second: at 100 dispatches a second on PostgreSQL that was hundreds of commits a
//! second competing with the write path for the disk. Sessions now [`Acks::note`] their
//! newest acknowledgement in memory, and the node writes all of them in one transaction
//! every [`EVERY`]. An acknowledgement not yet written when a node dies is no loss: the
//! phone resumes from the cursor it holds, and the stored one only decides pushes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::lifetime::Until;
use crate::store::{Database, StoreError};

/// How often the node writes the acknowledgements it was told of.
pub const EVERY: Duration = Duration::from_millis(250);

/// The acknowledgements waiting to be written: by (user, device), the newest cursor and when.
#[derive(Debug, Default)]
pub struct Acks {
    pending: Mutex<HashMap<(String, String), (i64, i64)>>,
}

impl Acks {
    /// Notes that `device` of `user` acknowledged `cursor` at `now_ms` (the newest wins).
    pub fn note(&self, user: &str, device: &str, cursor: i64, now_ms: i64) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = pending.entry((user.to_owned(), device.to_owned())).or_insert((cursor, now_ms));
        if cursor >= entry.0 {
            *entry = (cursor, now_ms);
        }
    }

    /// Writes every acknowledgement noted so far in one transaction; how many. Those it
    /// could not write are noted again, so that the next flush tries them.
    pub fn flush(&self, db: &Database) -> Result<usize, StoreError> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if taken.is_empty() {
            return Ok(0);
        }
        let written = db.write(|c| {
            for ((user, device), (cursor, at)) in &taken {
                super::store::ack(c, user, device, *cursor, *at)?;
            }
            Ok(taken.len())
        });
        if written.is_err() {
            for ((user, device), (cursor, at)) in &taken {
                self.note(user, device, *cursor, *at);
            }
        }
        written
    }

    /// Flushes every [`EVERY`] on a thread of its own, from now until the server ends,
    /// and once more then.
    pub fn spawn(self: &Arc<Self>, db: Database, until: Until) {
        let acks = self.clone();
        std::thread::spawn(move || {
            loop {
                let lasts = until.sleep(EVERY);
                if let Err(e) = acks.flush(&db) {
                    tracing::warn!(cause = %e, "acknowledgements not recorded; trying again");
                }
                if !lasts {
                    break;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_acknowledgement_of_each_device_waits() {
        let acks = Acks::default();
        acks.note("w", "phone", 5, 100);
        acks.note("w", "phone", 3, 200);
        acks.note("w", "phone", 7, 300);
        acks.note("w", "tablet", 1, 400);
        let pending = acks.pending.lock().unwrap();
        assert_eq!(pending[&("w".to_owned(), "phone".to_owned())], (7, 300));
        assert_eq!(pending.len(), 2);
    }
}
