//! The database schema of gridlink: one folder of migrations per backend (`postgres/`,
//! `sqlite/`), embedded into the binary and applied at start. The two folders say the
//! same thing in each backend's dialect; keep them in step.

use diesel_migrations::{EmbeddedMigrations, embed_migrations};

/// The PostgreSQL migrations.
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("postgres");

/// The SQLite migrations.
pub const SQLITE: EmbeddedMigrations = embed_migrations!("sqlite");
