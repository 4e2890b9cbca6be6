//! Group commit on PostgreSQL: commands that arrive while another is being written join
//! its transaction, and one commit writes them all.
//!
//! Why: every transaction of the write path ends by taking the row that numbers the
//! trace and the change log (`audit::record_and_log`) and holds it to its commit. Under
//! load on PostgreSQL that row, not any work, was the wait (issue 19: 14.7 ms a commit,
//! waiting). A node now keeps a few transactions ([`LANES`]) open for the commands in
//! hand: a command joins the lane with the fewest, runs in its transaction in turn (in a
//! savepoint, so that one refused leaves the others), and the last one in line, finding
//! nobody waiting behind it, numbers and commits them all at once. One wait for the head
//! row, one log flush, for several commands. While a transaction commits, its lane's
//! next commands begin another. One lane alone ran every command of the node one after
//! another on one connection: fewer dispatches a second than without grouping.
//!
//! Every command still returns only once its writes have committed and the notifier was
//! told, and is told so by error if the commit failed. Commands in one transaction see
//! each other's writes as if they had run one after the other, which they did. A command
//! alone in its transaction pays nothing more than before: no savepoint, no wait.
//! SQLite writes one transaction at a time anyway, and does not group.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::connection::{Connection, TransactionManager};
use diesel::r2d2::PooledConnection;

use super::{Pending, Tx, WritePath};
use crate::store::{DbConnection, Manager, StoreError};

/// The most commands one transaction takes: past it, the commands waiting begin the next.
const MOST: usize = 16;

/// How long a transaction may take commands before it commits whoever waits: under a
/// steady stream, someone always waits, and the first would wait for ever.
const LONGEST: Duration = Duration::from_millis(20);

type TransactionManagerOf = <DbConnection as Connection>::TransactionManager;

/// Transactions open for commands at once on a node: commands in one run one after
/// another on its connection, so one alone would cap a node at what one connection does.
const LANES: usize = 4;

/// The node's transactions open for commands.
#[derive(Default)]
pub(super) struct Group {
    lanes: [Lane; LANES],
}

/// One transaction open for commands, if any, and the commands in line for it.
#[derive(Default)]
struct Lane {
    open: Mutex<Option<Batch>>,
    /// Commands queued for `open`: while any is, the one before it leaves the commit to it.
    waiting: AtomicUsize,
    /// Commands queued or writing: a new one takes the lane with fewest.
    inside: AtomicUsize,
}

impl Group {
    /// The lane with the fewest commands in it (the first of those: alone, a node's
    /// commands all meet in one).
    fn lane(&self) -> &Lane {
        let mut best = &self.lanes[0];
        for lane in &self.lanes[1..] {
            if lane.inside.load(Ordering::SeqCst) < best.inside.load(Ordering::SeqCst) {
                best = lane;
            }
        }
        best
    }
}

/// A transaction taking commands, and what they wrote.
struct Batch {
    conn: PooledConnection<Manager>,
    pending: Pending,
    /// Commands that wrote in it (and not rolled back to their savepoint).
    members: usize,
    began: Instant,
    outcome: Arc<Outcome>,
}

/// How a transaction ended, for the commands that wait for its commit.
#[derive(Default)]
struct Outcome {
    ended: Mutex<Option<Result<(), String>>>,
    told: Condvar,
}

impl Outcome {
    fn tell(&self, ended: Result<(), String>) {
        *self.ended.lock().unwrap_or_else(PoisonError::into_inner) = Some(ended);
        self.told.notify_all();
    }

    fn wait(&self) -> Result<(), String> {
        let ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        let ended = self.told.wait_while(ended, |ended| ended.is_none()).unwrap_or_else(PoisonError::into_inner);
        ended.clone().unwrap_or_else(|| Err("the transaction ended untold".to_owned()))
    }
}

impl WritePath {
    /// [`WritePath::run`] on PostgreSQL: `work` in the node's open transaction, returned
    /// once that has committed.
    pub(super) fn run_grouped<T, E>(&self, work: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error> + From<StoreError>,
    {
        let group = self.group.lane();
        group.inside.fetch_add(1, Ordering::SeqCst);
        group.waiting.fetch_add(1, Ordering::SeqCst);
        let mut open = group.open.lock().unwrap_or_else(PoisonError::into_inner);
        group.waiting.fetch_sub(1, Ordering::SeqCst);
        let inside = Inside(&group.inside);
        let mut batch = match open.take() {
            Some(batch) => batch,
            None => {
                let mut conn = self.db.conn()?;
                TransactionManagerOf::begin_transaction(&mut **conn)?;
                Batch { conn, pending: Pending::default(), members: 0, began: Instant::now(), outcome: Arc::default() }
            }
        };
        // Should `work` panic, the transaction is rolled back (its connection, inside a
        // transaction, is dropped by the pool) and those waiting for it are told.
        let mut guard = Unwind(Some(batch.outcome.clone()));
        let written = if batch.members == 0 {
            // The first: nothing to keep if it fails, so no savepoint.
            self.write(&mut batch.conn, work)
        } else {
            (**batch.conn).transaction(|conn| self.write(conn, work))
        };
        guard.0 = None;
        let value = written.map(|(value, pending)| {
            batch.pending.merge(pending);
            batch.members += 1;
            value
        });
        if batch.members == 0 {
            // The first failed: its transaction goes with it.
            drop(open);
            drop(inside);
            let _ = TransactionManagerOf::rollback_transaction(&mut **batch.conn);
            return value;
        }
        let full = batch.members >= MOST || batch.began.elapsed() >= LONGEST;
        if group.waiting.load(Ordering::SeqCst) > 0 && !full {
            // The one behind commits, or the one behind it. A refused command waits
            // too: it may have been refused for what the others wrote (a request's
            // retry finding the first try's key), which must be there when it answers.
            let outcome = batch.outcome.clone();
            *open = Some(batch);
            drop(open);
            drop(inside);
            let ended = outcome.wait();
            let value = value?;
            return match ended {
                Ok(()) => Ok(value),
                Err(e) => Err(StoreError::NotCommitted(e).into()),
            };
        }
        // Nobody behind: commit, letting the next command begin another meanwhile.
        drop(open);
        drop(inside);
        let committed = self.commit(batch);
        let value = value?;
        committed.map_err(E::from)?;
        Ok(value)
    }

    /// Numbers and commits `batch`, tells the notifier whom it concerned and then the
    /// commands waiting for it.
    fn commit(&self, batch: Batch) -> Result<(), diesel::result::Error> {
        let Batch { mut conn, pending, outcome, .. } = batch;
        let mut guard = Unwind(Some(outcome.clone()));
        let finished = pending.finish(&mut conn).and_then(|done| {
            TransactionManagerOf::commit_transaction(&mut **conn)?;
            // A commit that only released a savepoint left a transaction open: nothing
            // is committed (a command that let a failed statement pass, or a RELEASE
            // that failed, would otherwise be answered as written).
            if TransactionManagerOf::is_broken_transaction_manager(&mut **conn) {
                return Err(diesel::result::Error::BrokenTransactionManager);
            }
            Ok(done)
        });
        let told = match finished {
            Ok((touched, spare)) => {
                self.committed(&touched, spare);
                outcome.tell(Ok(()));
                Ok(())
            }
            Err(e) => {
                let _ = TransactionManagerOf::rollback_transaction(&mut **conn);
                outcome.tell(Err(e.to_string()));
                Err(e)
            }
        };
        guard.0 = None;
        told
    }
}

/// Counts a command out of its lane when it leaves (however it leaves).
struct Inside<'a>(&'a AtomicUsize);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Tells the commands waiting for a transaction that it ended, should a command written
/// in it, or its commit, panic (dropped with `Some` only then).
struct Unwind(Option<Arc<Outcome>>);

impl Drop for Unwind {
    fn drop(&mut self) {
        if let Some(outcome) = self.0.take() {
            outcome.tell(Err("a command written in the same transaction failed".to_owned()));
        }
    }
}
