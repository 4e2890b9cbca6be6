//! Incidents (cases) and their closed loop: report, accept, dispatch, handle, verify,
//! close.
//!
//! [`workflow`] is the loop itself as a pure function — a case's state and a command
//! in, events or a refusal out — so every rule is tested without a server. Storage and
//! the HTTP routes that turn requests into commands arrive with the server's spine.

pub mod workflow;
