//! gridlink: grid-based social-governance dispatch.
//!
//! Follow the names from `main.rs`: [`cli`] parses commands and runs them; `serve`
//! builds typed [`settings`] and hands them to [`startup`], which wires the HTTP routes
//! of each feature ([`health`], [`geo`], [`categories`], [`auth`], [`attachments`],
//! [`incidents`]) into one actix-web server. The closed loop of a case is a pure state
//! machine in [`incidents::workflow`]; every change to a case goes through the one
//! write path, [`incidents::act`], which commits it with its trace and the rows of the
//! [`changes`] log. Deadlines are counted by the [`calendar`]. Storage is [`store`].
//! Errors leave the server in one form, problem+json ([`problem`]); every request runs
//! in a tracing span ([`telemetry`]).

pub mod attachments;
pub mod audit;
pub mod auth;
pub mod body;
pub mod calendar;
pub mod categories;
pub mod changes;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod deadlines;
pub mod error_kind;
pub mod geo;
pub mod health;
pub mod http_metrics;
pub mod inbox;
pub mod incidents;
pub mod lifetime;
pub mod open311;
pub mod openapi;
pub mod pages;
pub mod problem;
pub mod push;
pub mod ratelimit;
pub mod redact;
pub mod routing;
pub mod seal;
pub mod security;
pub mod sensors;
pub mod settings;
pub mod startup;
pub mod stats;
pub mod store;
pub mod sync;
pub mod telemetry;
