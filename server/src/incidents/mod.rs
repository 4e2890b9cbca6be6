//! Incidents (cases) and their closed loop: report, accept, dispatch, handle, verify,
//! close.
//!
//! [`workflow`] is the loop itself as a pure function — a case's state and a command
//! in, events or a refusal out — so every rule is tested without a server. [`act`] is
//! the one write path that commits a command with its trace and change-log rows;
//! [`scope`] decides who sees which case; [`store`] and [`schema`] keep cases, tasks and
//! the trace; [`view`] is what the API shows of them; [`report`] and [`routes`] are the
//! HTTP doors of residents and staff; [`ops`] reads the task operations that phones and
//! desks send alike; [`replace`] moves open cases whose grid a new layer no longer has;
//! [`merge`] commits a duplicate's merge into a surviving case (two cases, one transaction),
//! [`duplicate`] says which reports are duplicates; [`self_handled`] records a worker's
//! finding dealt with on the spot alone (自行处置) in one step, and closes it once checked;
//! [`contact`] reads a reporter's contact unmasked, for a reason, each read traced.

pub mod act;
pub mod contact;
pub mod desk;
pub mod duplicate;
pub mod merge;
pub mod numbers;
pub mod on_map;
pub mod ops;
pub mod permissions;
pub mod presence;
pub mod replace;
pub mod report;
pub mod routes;
pub mod schema;
pub mod scope;
pub mod self_handled;
pub mod store;
pub mod view;
pub mod workflow;
