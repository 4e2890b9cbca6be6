//! A grid worker's finding dealt with on the spot, alone (自行处置), sent in one step:
//! the `report_incident` mutation with `handled` (docs/domain.md, "Self-handled in one
//! step").
//!
//! The worker already did the work; what the server adds is the trace a case needs and
//! a check on a share of such cases. In the mutation's one transaction, each step is a
//! plain command through the one write path ([`Tx::act`]), so the trace shows every step
//! with its actor: the case is opened, taken in by the system (rule `own-finding`), its
//! lead handle task sent to the finder themself (rule `self-handled`), taken and completed
//! by the finder (the result, the photos after, where the phone was). Then the server
//! draws, at random, whether to check it ([`sampled`], share `[workflow]
//! self_handled_sample`):
//! - not sampled: the system passes the verification (核查) and closes the case (rule
//!   `self-handled`, `sampled: false` in the trace);
//! - sampled: a verify task goes to the staff of the case's community (else of its
//!   township's centre), `sampled: true` in the trace. When a verification passes, the
//!   system closes the case at once ([`close_if_checked`]); when it fails, the work goes
//!   back to the finder (返工) as any failed check sends it.
//!
//! The draw is the server's own (never derived from anything the phone sent, such as the
//! case id it made), made once inside the mutation: a retry of the same mutation is
//! answered from the kept result and draws nothing again.

use password_hash::rand_core::{OsRng, RngCore};
use serde_json::json;
use sync_protocol::Handled;
use uuid::Uuid;

use super::act::{ActError, Actor, Extra, NewCase, Outcome, Tx};
use super::store::{self, EventRow, IncidentRow};
use super::workflow::{Assignment, Case, Command, Event, Status, Target, TaskKind, TaskRole, TaskStatus};
use crate::auth::{self, Role};
use crate::categories::{Category, Severity};

/// The rule the system's steps of a self-handled finding are traced under.
pub const RULE: &str = "self-handled";

/// The rule under which the system takes in a worker's own finding.
pub const OWN_FINDING: &str = "own-finding";

/// Why a finding sent as handled alone does not qualify, for the worker; `Ok` when it does.
/// `before` are the finding's own photos, `handled` what the worker says they did.
pub fn check(
    category: &Category,
    severity: Option<Severity>,
    before: &[String],
    handled: &Handled,
) -> Result<(), String> {
    if !category.self_handle {
        return Err(format!(
            "{} ({}) is not a category a grid worker may handle alone (自行处置); send it as a plain finding",
            category.code, category.name
        ));
    }
    // A grave emergency goes to the county centre, whoever found it (docs/domain.md, Routing).
    if severity.is_some_and(|s| s <= Severity::III) {
        return Err("an emergency of grade I–III goes to the county centre; it is not handled alone".into());
    }
    if before.is_empty() {
        return Err("a self-handled finding needs photos before the work (the finding's `photos`)".into());
    }
    if handled.photos.is_empty() {
        return Err("a self-handled finding needs photos after the work (`handled.photos`)".into());
    }
    if handled.result.trim().is_empty() {
        return Err("a self-handled finding needs the result of the work (`handled.result`)".into());
    }
    Ok(())
}

/// Whether a finding is checked, given the share to check (0–1) and a uniformly random
/// `draw`: a share of 0 checks none, 1 every one.
pub fn sampled(share: f64, draw: u64) -> bool {
    // The top 53 bits, as a fraction in [0, 1): exactly representable, never 1.
    let fraction = (draw >> 11) as f64 / (1u64 << 53) as f64;
    fraction < share
}

/// A fresh random draw for [`sampled`], from the operating system.
pub fn draw() -> u64 {
    OsRng.next_u64()
}

/// What the worker did, as read from the mutation: the result, the photos after, and
/// where the phone was (WGS-84), if it said.
#[derive(Debug, Clone)]
pub struct Work {
    /// What was done.
    pub result: String,
    /// Attachment ids of the photos after.
    pub photos: Vec<String>,
    /// Where the phone was when the work was finished.
    pub position: Option<(f64, f64)>,
}

/// Opens the finding `new` of `finder` and records it handled in the write path's
/// transaction `tx`, at `now_ms`; `checked` is the server's draw. The case as the steps
/// left it: `closed`, or `handled` (a verify task out, or waiting for a desk when nobody
/// can check it).
pub fn open_handled(
    tx: &mut Tx<'_>,
    finder: &Actor,
    new: NewCase,
    work: Work,
    checked: bool,
    now_ms: i64,
) -> Result<IncidentRow, ActError> {
    let row = tx.open(new, Some(finder), now_ms)?;
    let id = row.id.clone();
    let system = Actor::system();
    let by = |rule: &str| Extra { rule: Some(rule.to_owned()), ..Extra::default() };
    let step = |tx: &mut Tx<'_>, actor: &Actor, command: Command, extra: Extra| {
        tx.act(&id, actor, now_ms, |_, _| Ok::<_, ActError>((command, extra)))
    };
    step(tx, &system, Command::Accept { confirm: None }, by(OWN_FINDING))?;
    let task = Uuid::new_v4();
    let due_ms = tx.timing(&row).due(now_ms, |l| l.handle);
    let worker = finder.viewer.id;
    let lead = Assignment { task, target: Target::User(worker), assignees: vec![worker], due_ms, level: Some(5) };
    step(tx, &system, Command::Dispatch { lead, assist: Vec::new() }, by(RULE))?;
    step(tx, finder, Command::AcceptTask { task }, Extra::default())?;
    let done = Extra { photos: work.photos, position: work.position, ..Extra::default() };
    let outcome = step(tx, finder, Command::CompleteTask { task, result: work.result }, done)?;
    let mut decided = by(RULE);
    decided.data.insert("sampled".into(), json!(checked));
    if !checked {
        let note = "自行处置: handled by its finder alone, not sampled for a check".to_owned();
        step(tx, &system, Command::Verify { task: None, passed: true, note }, decided)?;
        return Ok(step(tx, &system, Command::Close, by(RULE))?.row);
    }
    let Some((target, assignees, level)) = checkers(tx, &outcome.row)? else {
        tracing::warn!(case = %id, "a sampled self-handled finding has nobody to check it; it waits, handled, for a desk");
        return Ok(outcome.row);
    };
    let due_ms = tx.timing(&outcome.row).due(now_ms, |l| l.verify);
    let check = Assignment { task: Uuid::new_v4(), target, assignees, due_ms, level: Some(level) };
    Ok(step(tx, &system, Command::RequestVerification { task: check }, decided)?.row)
}

/// Who checks a sampled finding: the staff of the case's community, or failing them the
/// centre of its township; the target, its people and its level, or `None` when there is
/// no one.
fn checkers(tx: &mut Tx<'_>, row: &IncidentRow) -> Result<Option<(Target, Vec<Uuid>, u8)>, ActError> {
    let units = [(Role::CommunityStaff, &row.community_code, 4), (Role::TownshipCentre, &row.township_code, 3)];
    for (role, unit, level) in units {
        if unit.is_empty() {
            continue;
        }
        let people: Vec<Uuid> =
            auth::users_in(tx.conn(), &[role], unit)?.iter().filter_map(|u| Uuid::parse_str(&u.id).ok()).collect();
        if !people.is_empty() {
            return Ok(Some((Target::Unit(unit.clone()), people, level)));
        }
    }
    Ok(None)
}

/// Whether the work a verification just passed on is a self-handled finding's: the lead
/// handle task last completed was the one the system sent its finder under [`RULE`], as
/// the `trace` of the case says. Such a case has no desk waiting to close it.
pub fn was_self_handled(case: &Case, trace: &[EventRow]) -> bool {
    let lead = case
        .tasks
        .iter()
        .rev()
        .find(|t| t.kind == TaskKind::Handle && t.role == TaskRole::Lead && t.status == TaskStatus::Completed);
    let Some(lead) = lead else { return false };
    let task = lead.id.to_string();
    trace.iter().filter(|e| e.action == "dispatched").any(|e| {
        serde_json::from_str::<serde_json::Value>(&e.data)
            .is_ok_and(|data| data["rule"] == RULE && data["lead"]["task"] == task.as_str())
    })
}

/// After a command on a case through `tx`: when it passed a verification of a
/// self-handled finding's work, the system closes the case at once (rule [`RULE`]); the
/// case as closed, or `None` when there was nothing to do. Every door that can pass a
/// verification (the socket's task ops, a desk's `verify`, a desk's task action) calls it.
pub fn close_if_checked(tx: &mut Tx<'_>, outcome: &Outcome, now_ms: i64) -> Result<Option<Outcome>, ActError> {
    let passed = outcome.events.iter().any(|e| matches!(e, Event::VerificationPassed { .. }));
    if !passed || outcome.row.status != Status::Verified.as_str() {
        return Ok(None);
    }
    let case: Case = serde_json::from_str(&outcome.row.state)
        .map_err(|e| ActError::Corrupt(outcome.row.id.clone(), e.to_string()))?;
    let trace = store::events_of(tx.conn(), &outcome.row.id)?;
    if !was_self_handled(&case, &trace) {
        return Ok(None);
    }
    let extra = Extra { rule: Some(RULE.to_owned()), ..Extra::default() };
    let closed =
        tx.act(&outcome.row.id, &Actor::system(), now_ms, |_, _| Ok::<_, ActError>((Command::Close, extra)))?;
    tracing::info!(case = %outcome.row.id, "a checked self-handled finding closed");
    Ok(Some(closed))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::categories::CategoryTree;

    fn handled(result: &str, photos: &[&str]) -> Handled {
        Handled { result: result.into(), photos: photos.iter().map(|p| (*p).to_owned()).collect(), location: None }
    }

    #[test]
    fn only_a_category_handled_alone_with_photos_before_and_after_and_a_result_qualifies() {
        let tree = CategoryTree::default_tree().unwrap();
        let rubbish = tree.category("C0301").unwrap();
        let cover = tree.category("C0101").unwrap();
        assert!(rubbish.self_handle && !cover.self_handle, "the shipped tree changed");
        let before = ["sha256:before".to_owned()];
        let done = handled("已清理", &["sha256:after"]);
        assert_eq!(check(rubbish, None, &before, &done), Ok(()));
        assert!(check(cover, None, &before, &done).unwrap_err().contains("C0101"));
        assert!(check(rubbish, None, &[], &done).unwrap_err().contains("before"));
        assert!(check(rubbish, None, &before, &handled("已清理", &[])).unwrap_err().contains("after"));
        assert!(check(rubbish, None, &before, &handled("  ", &["sha256:after"])).unwrap_err().contains("result"));
        let fire = tree.category("E0201").unwrap();
        assert!(fire.self_handle, "the shipped tree changed");
        assert_eq!(check(fire, Some(Severity::IV), &before, &done), Ok(()));
        assert!(check(fire, Some(Severity::III), &before, &done).unwrap_err().contains("county"));
    }

    #[test]
    fn a_share_of_zero_checks_none_and_of_one_every_one() {
        for draw in [0, 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
            assert!(!sampled(0.0, draw), "{draw}");
            assert!(sampled(1.0, draw), "{draw}");
        }
        assert!(sampled(0.1, 0));
        assert!(!sampled(0.1, u64::MAX / 5), "a fifth of the way is past a tenth");
        assert!(sampled(0.5, u64::MAX / 2 - 4096) && !sampled(0.5, u64::MAX / 2 + 4096));
        // Over many real draws the share comes out near what was asked.
        let checked = (0..20_000).filter(|_| sampled(0.1, draw())).count();
        assert!((1_500..2_500).contains(&checked), "{checked} of 20000 at 0.1");
    }

    fn event(action: &str, data: serde_json::Value) -> EventRow {
        EventRow {
            incident_id: "c".into(),
            n: 1,
            action: action.into(),
            actor_id: None,
            actor_role: Some("system".into()),
            device_id: None,
            data: data.to_string(),
            at_ms: 0,
            received_at_ms: None,
        }
    }

    #[test]
    fn a_case_is_self_handled_when_the_work_checked_was_sent_to_its_finder_under_the_rule() {
        let (task, worker) = (Uuid::from_u128(7), Uuid::from_u128(2));
        let lead =
            Assignment { task, target: Target::User(worker), assignees: vec![worker], due_ms: None, level: None };
        let mut case = Case::reported(0);
        for e in [
            Event::Registered,
            Event::Dispatched { lead: lead.clone(), assist: vec![] },
            Event::TaskAccepted { task, by: worker },
            Event::TaskCompleted { task, result: "已清理".into() },
        ] {
            case.apply(&e, 0);
        }
        let dispatched = |rule: &str, task: Uuid| {
            event("dispatched", json!({"rule": rule, "lead": {"task": task.to_string()}, "assist": []}))
        };
        assert!(was_self_handled(&case, &[dispatched(RULE, task)]));
        assert!(!was_self_handled(&case, &[dispatched("self-handle", task)]), "the routing rule's is not it");
        assert!(!was_self_handled(&case, &[dispatched(RULE, Uuid::from_u128(8))]), "another task's dispatch");
        assert!(!was_self_handled(&Case::reported(0), &[dispatched(RULE, task)]), "no work completed");
    }
}
