//! The geometry crate's integration tests, in one binary: one build, one link and one
//! start instead of one per file. Each module was a test file of its own;
//! `cargo test -p geodata --test geometry fuse::` runs one of them.

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod demo_area;
// Proptest keeps the cases that once failed in `tests/proptest-regressions/<module>.txt`
// (beside this folder, as it does for a test binary with a `main.rs`) and runs them first.
mod fuse;
mod locate;
mod synth_layers;
mod validate_geojson;
