//! The database schema of gridlink: one folder of migrations per backend (`postgres/`,
//! `sqlite/`), embedded into the binary and applied at start.
//!
//! Empty so far: the first tables arrive with the server's storage.

/// The backends the schema is written for, each with its own migrations folder.
pub const BACKENDS: [&str; 2] = ["postgres", "sqlite"];
