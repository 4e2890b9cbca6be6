//! The server's integration tests, in one binary: one build, one link and one start
//! instead of one per file. Each module was a test file of its own;
//! `cargo test -p gridlink --test integration crash::` runs one of them.
//!
//! `cli` and `crash` run the real `gridlink` binary (cargo's, or `GRIDLINK_TEST_BIN`);
//! the rest call the library on both storage backends ([`support`]).

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod audit;
mod cli;
mod crash;
mod deadline_timer;
mod layer_store;
mod open311_keys;
mod pages;
mod push_store;
mod replace;
mod store;
mod workflow;
mod write_path;
