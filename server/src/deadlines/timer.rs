//! The deadline timer, on every node: it looks for rows with something due (an index on
//! `next_at_ms`), claims each with a conditional update inside the transaction that fires
//! it, so that it fires once however many nodes look, and fires it as the system through
//! the one write path (`warn`, `overdue`). After a stop it finds every row that fell due
//! meanwhile and fires each once, into the supervision queue due now — not once per
//! missed tick. It looks every second, and at once when a test clock moves.

use std::sync::Arc;
use std::time::Duration;

use super::store;
use crate::calendar::Calendars;
use crate::categories::CategoryTree;
use crate::clock::Clock;
use crate::incidents::act::{self, ActError, Actor, Extra, Timing};
use crate::incidents::store as cases;
use crate::incidents::workflow::Case;
use crate::store::Database;
use crate::sync::hub::{Notifier, Touched};

/// How often the timer looks for due rows.
pub const TICK: Duration = Duration::from_secs(1);
/// Rows taken per look.
const PAGE: i64 = 100;

/// What the timer needs.
#[derive(Clone)]
pub struct Timer {
    /// Storage.
    pub db: Database,
    /// The category tree (limits).
    pub tree: Arc<CategoryTree>,
    /// The counties' calendars.
    pub calendars: Arc<Calendars>,
    /// The server's clock.
    pub clock: Clock,
    /// Whom to tell of what fired.
    pub notifier: Arc<dyn Notifier>,
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
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                () = self.clock.moved() => {}
            }
        }
    }

    /// Fires every row due now; how many limits fired something.
    pub fn tick(&self) -> Result<usize, ActError> {
        let now = self.clock.now_ms();
        let mut fired = 0;
        loop {
            let due = self.db.read(|c| store::due(c, now, PAGE))?;
            for (incident, key, seen) in &due {
                let span = tracing::info_span!("deadline", %incident, %key);
                let _entered = span.enter();
                match self.fire(incident, key, *seen, now) {
                    Ok(Some(touched)) => {
                        fired += 1;
                        self.notifier.committed(&touched);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(cause = %e, "deadline not fired; set aside");
                        self.db.write(|c| store::set_aside(c, incident, key))?;
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
            let ids = self.db.read(|c| store::without_rows(c, &after, PAGE))?;
            for id in &ids {
                self.db.transact(|c| -> Result<(), ActError> {
                    if !cases::lock(c, id)? {
                        return Ok(());
                    }
                    let Some(row) = cases::incident(c, id)? else { return Ok(()) };
                    let case: Case =
                        serde_json::from_str(&row.state).map_err(|e| ActError::Corrupt(id.clone(), e.to_string()))?;
                    store::refresh(c, &row, &case, Timing::of_row(&self.tree, &self.calendars, &row))?;
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

    /// Claims and fires one limit in one transaction; `None` if another transaction (here
    /// or on another node) claimed it first.
    fn fire(&self, incident: &str, key: &str, seen: i64, now: i64) -> Result<Option<Touched>, ActError> {
        self.db.transact(|c| -> Result<Option<Touched>, ActError> {
            // The case first, as every command locks it: the same order everywhere.
            if !cases::lock(c, incident)? || !store::claim(c, incident, key, seen)? {
                return Ok(None);
            }
            let row = cases::incident(c, incident)?.ok_or_else(|| ActError::NotFound(incident.to_owned()))?;
            let case: Case =
                serde_json::from_str(&row.state).map_err(|e| ActError::Corrupt(incident.to_owned(), e.to_string()))?;
            let timing = Timing::of_row(&self.tree, &self.calendars, &row);
            let commands = store::compute(c, &row, &case, timing)?
                .into_iter()
                .find(|d| d.key == key)
                .map(|d| d.due_commands(timing.calendar, &row.place(), now))
                .unwrap_or_default();
            let mut touched = Touched::default();
            let mut done = false;
            for command in &commands {
                match act::execute(c, incident, &Actor::system(), command, &Extra::default(), timing, now) {
                    Ok(outcome) => {
                        tracing::info!(action = command.name(), case = %outcome.row.code, "deadline fired");
                        touched.merge(outcome.touched);
                        done = true;
                    }
                    Err(ActError::Refused(refusal)) => tracing::warn!(%refusal, "deadline alarm refused"),
                    Err(e) => return Err(e),
                }
            }
            if !done {
                // Nothing fired (a stale row): write the case's rows as they stand.
                store::refresh(c, &row, &case, timing)?;
            }
            if store::next_at(c, incident, key)?.is_some_and(|next| next <= now) {
                tracing::warn!("deadline still due after firing; set aside");
                store::set_aside(c, incident, key)?;
            }
            Ok(Some(touched))
        })
    }
}
