//! Grids and administrative units as geometry — the part of gridlink that knows where
//! every point belongs. No I/O, no async: plain data and functions, so the server, the
//! CLI and the tests all use the same code.
//!
//! - [`code`]: the five levels and their statistical division codes.
//! - [`model`]: units and grids with their boundaries, and the [`Layer`] that holds them.
//! - [`geojson`]: GeoJSON in and out; [`validate`]: every check a layer must pass, each
//!   problem reported with the feature's code ([`problem`]).
//! - [`index`]: the R-tree that places a point in its grid and five-level chain.
//! - [`crs`]: WGS-84, GCJ-02 and BD-09; [`plane`]: the local plane in which areas and
//!   distances are measured in metres.
//! - [`fuse`]: fusing several bureaus' grid layers into one (三网融合).
//! - [`synth`]: seeded synthetic layers for tests and benchmarks; [`demo`]: the demo
//!   county built on the real outline of 宿迁市宿城区.
//! - [`tiles`]: map tiles cut from a layer, by zoom and viewport, for the pages' maps.

pub mod code;
pub mod crs;
pub mod demo;
pub mod fuse;
pub mod geojson;
pub mod index;
pub mod model;
pub mod plane;
pub mod problem;
pub mod synth;
pub mod tiles;
pub mod topo;
pub mod validate;

pub use code::{AreaCode, Level};
pub use index::{GridIndex, IndexOptions, LocateError, Placement, SharedIndex};
pub use model::{Layer, Unit};
pub use problem::{Problem, ProblemKind, Report, Severity};
pub use validate::{Checked, Tolerances, check_geojson, check_layer};
