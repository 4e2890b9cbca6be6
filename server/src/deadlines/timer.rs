//! The deadline timer, on every node: it looks for rows with something due (an index on
//! `next_at_ms`), claims each with a conditional update inside the transaction that fires
//! it, so that it fires once however many nodes look, and fires it as the system through
//! the one write path (`warn`, `overdue`). After a stop it finds every row that fell due
//! meanwhile and fires each once, into the supervision queue due now — not once per
//! missed tick. It looks every second, and at once when a test clock moves.

use std::time::Duration;

use super::store;
use crate::clock::Clock;
use crate::incidents::act::{ActError, Actor, Extra, WritePath};
use crate::incidents::store as cases;
use crate::incidents::workflow::Case;

/// How often the timer looks for due rows.
pub const TICK: Duration = Duration::from_secs(1);
/// Rows taken per look.
const PAGE: i64 = 100;

/// What the timer needs.
#[derive(Clone)]
pub struct Timer {
    /// The one write path (storage, limits, calendars, and whom to tell of what fired).
    pub path: WritePath,
    /// The server's clock.
    pub clock: Clock,
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer").field("clock", &self.clock).finish()
    }
}

impl Timer {
    /// Looks for due rows every [`TICK`] (and whenever a test clock moves), until dropped;
    /// first it writes the rows of open cases that have none (opened before this version).
    pub async fn run(self) {
        let mut moves = self.clock.moves();
        let timer = self.clone();
        match tokio::task::spawn_blocking(move || timer.backfill()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(cases)) => tracing::info!(cases, "deadline rows written for cases that had none"),
            Ok(Err(e)) => tracing::warn!(cause = %e, "deadline rows not backfilled"),
            Err(e) => tracing::warn!(cause = %e, "deadline rows not backfilled"),
        }
        loop {
            let timer = self.clone();
            match tokio::task::spawn_blocking(move || timer.tick()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(fired)) => tracing::debug!(fired, "deadlines fired"),
                Ok(Err(e)) => tracing::warn!(cause = %e, "deadline timer"),
                Err(e) => tracing::warn!(cause = %e, "deadline timer stopped short"),
            }
            self.clock.passed("deadlines");
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                _ = moves.changed() => {}
            }
        }
    }

    /// Fires every row due now; how many limits fired something.
    pub fn tick(&self) -> Result<usize, ActError> {
        let now = self.clock.now_ms();
        let mut fired = 0;
        loop {
            let due = self.path.db().read(|c| store::due(c, now, PAGE))?;
            for (incident, key, seen) in &due {
                let span = tracing::info_span!("deadline", %incident, %key);
                let _entered = span.enter();
                match self.fire(incident, key, *seen, now) {
                    Ok(true) => fired += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(cause = %e, "deadline not fired; set aside");
                        self.path.db().write(|c| store::set_aside(c, incident, key))?;
                    }
                }
            }
            if (due.len() as i64) < PAGE {
                return Ok(fired);
            }
        }
    }

    /// Writes the limit rows of open cases that have none; how many cases it looked at.
    /// Harmless on several nodes at once: each writes the same rows.
    pub fn backfill(&self) -> Result<usize, ActError> {
        let (mut after, mut done) = (String::new(), 0);
        loop {
            let ids = self.path.db().read(|c| store::without_rows(c, &after, PAGE))?;
            for id in &ids {
                self.path.db().transact(|c| -> Result<(), ActError> {
                    if !cases::lock(c, id)? {
                        return Ok(());
                    }
                    let Some(row) = cases::incident(c, id)? else { return Ok(()) };
                    let case: Case =
                        serde_json::from_str(&row.state).map_err(|e| ActError::Corrupt(id.clone(), e.to_string()))?;
                    store::refresh(c, &row, &case, self.path.timing(&row))?;
                    Ok(())
                })?;
            }
            done += ids.len();
            match ids.last() {
                Some(last) if ids.len() as i64 == PAGE => after = last.clone(),
                _ => return Ok(done),
            }
        }
    }

    /// Claims and fires one limit in one transaction of the write path; `false` if
    /// another transaction (here or on another node) claimed it first.
    fn fire(&self, incident: &str, key: &str, seen: i64, now: i64) -> Result<bool, ActError> {
        self.path.run(|tx| -> Result<bool, ActError> {
            let system = Actor::system();
            // The case first, as every command locks it: the same order everywhere.
            let fresh = tx.lock(incident, &system.viewer)?;
            if !store::claim(tx.conn(), incident, key, seen)? {
                return Ok(false);
            }
            let (row, case, timing) = (&fresh.row, &fresh.case, fresh.timing);
            let commands = store::compute(tx.conn(), row, case, timing)?
                .into_iter()
                .find(|d| d.key == key)
                .map(|d| d.due_commands(timing.calendar, &row.place(), now))
                .unwrap_or_default();
            let mut done = false;
            for command in commands {
                let name = command.name();
                match tx.act(incident, &system, now, |_, _| Ok::<_, ActError>((command, Extra::default()))) {
                    Ok(outcome) => {
                        tracing::info!(action = name, case = %outcome.row.code, "deadline fired");
                        done = true;
                    }
                    Err(ActError::Refused(refusal)) => tracing::warn!(%refusal, "deadline alarm refused"),
                    Err(e) => return Err(e),
                }
            }
            if !done {
                // Nothing fired (a stale row): write the case's rows as they stand.
                store::refresh(tx.conn(), row, case, timing)?;
            }
            if store::next_at(tx.conn(), incident, key)?.is_some_and(|next| next <= now) {
                tracing::warn!("deadline still due after firing; set aside");
                store::set_aside(tx.conn(), incident, key)?;
            }
            Ok(true)
        })
    }
}
