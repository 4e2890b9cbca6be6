//! The gridlink server seen from outside, in one binary: one build, one link and one
//! start instead of one per file. Each module was a test file of its own and is a set of
//! scenarios against real servers (`mobile_api_tests::TestServer`, each on its own port
//! and database); `cargo test -p mobile-api-tests --test api races::` runs one of them.

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod accounts;
mod attachments;
mod auth;
mod authorization;
mod authz;
mod bad_input;
mod branches;
mod categories;
mod centre;
mod closed_loop;
mod county;
mod deadlines;
mod error_kinds;
mod headers;
mod hostile;
mod hotline;
mod limits;
mod live_grids;
mod locate;
mod log_secrets;
mod many_writers;
mod metrics;
mod multi_node;
mod open311;
mod openapi;
mod push;
mod push_wake;
mod races;
mod report_push;
mod routing;
mod sealed;
mod self_handled;
mod sensors;
mod stats;
mod sync;
