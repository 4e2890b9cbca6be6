//! The closed loop of a case, as a pure state machine.
//!
//! [`decide`] takes a case's current state, who is acting and what they ask for, and
//! answers with the events that follow or a [`Refusal`] saying why not; [`Case::apply`]
//! folds an event into the state. Nothing here touches storage, the clock or the network:
//! ids of new tasks come in with the command, so the same input always decides the same.
//! Who may act on a case at all (roles, areas) is the caller's business; what this module
//! enforces is the loop's own rules: the order of steps, that only a task's assignees
//! may take it, that only its holder may work on it, and that nobody verifies work they
//! did.
//!
//! The shortest loop: a resident's report is `reported`; `accept` registers it
//! (受理 + 立案); `dispatch` to a grid makes a handle task for the grid's workers; the
//! first to `accept_task` holds it, and `complete_task` reports the result; `verify` by
//! someone else, passed, and `close`. With `accept` + confirmation, a confirm task goes
//! to the grid's worker first, whose answer registers or voids the case. A failed
//! verification sends the lead task back to the same handler (返工).
//!
//! The branches: a task's holder (or, before anyone took it, one of its assignees) may
//! give it back (`return_task`, 回退); a returned lead leaves the case `returned` until
//! the centre sends the work elsewhere (`redispatch`, 改派), which may also take an
//! active task away from its holder. A holder may ask for more time
//! (`request_extension`, 延期), which the centre grants or refuses. A centre may send a
//! handled case to a worker to check on site (`request_verification`): that worker's
//! `verify` on the task decides as a desk's would.
//!
//! A holder may ask to park long-term work (`request_park`, 挂账); once the centre
//! approves, the task's clock stops (a [`Pause`] opens on it) until the centre or the
//! holder resumes it, and its deadline moves later by the time it was parked. A centre
//! merges a duplicate into a surviving case of the same category ([`decide_merge`]: the
//! duplicate's `merge` and the survivor's `absorb`, two cases in one commit); the
//! duplicate's reporters follow the survivor. A closed case may be reopened: its last lead
//! task goes back to its handler (返工). A centre escalates a case by hand one level up
//! (`escalate`, 上报): the case's `owner` becomes that level's unit.
//!
//! One command is the system's, not a person's: when a newly imported grid layer no
//! longer has an open case's grid, [`Command::Replace`] moves the case to the grid its
//! location lies in now (`replaced`), or, if it lies in none, records once that it could
//! not be re-placed (`stranded`). Its status and tasks stay as they were.
//!
//! Time comes in as an argument (Unix milliseconds, UTC): `decide` refuses a task whose
//! deadline has already passed, and `apply` records when the case entered its status.
//!
//! The module in files: `command.rs` holds what an actor asks, `event.rs` what happened,
//! `decide.rs` the pure decision of a command against a case, `refusal.rs` why one is
//! refused, `apply.rs` how events fold into the [`Case`], whose state is in `case.rs` and
//! its tasks' in `task.rs`.

mod apply;
mod case;
mod command;
mod decide;
mod event;
mod refusal;
mod sensor;
mod task;

use uuid::Uuid;

pub use self::case::{Alarm, Case, Rating, Status};
pub use self::command::{Assignment, Command};
pub use self::decide::{MergeSide, decide, decide_merge};
pub use self::event::Event;
pub use self::refusal::Refusal;
pub use self::task::{ExtensionRequest, ParkRequest, Pause, Target, Task, TaskKind, TaskRole, TaskStatus};
pub use crate::categories::Severity;

/// A user's id.
pub type UserId = Uuid;
/// A task's id.
pub type TaskId = Uuid;

/// The actor of the commands the server issues itself ([`Command::Replace`]): no user.
pub const SYSTEM: UserId = Uuid::nil();
