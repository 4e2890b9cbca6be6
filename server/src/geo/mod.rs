//! Where things are: the grid layer the server works with, and the routes that answer
//! "which grid is this point in?".
//!
//! The layer lives in memory in `geodata`'s index, swapped whole when grids change;
//! locating a point never touches storage.

pub mod routes;
pub mod schema;
pub mod store;

use std::sync::{Arc, PoisonError, RwLock};

use geodata::index::SharedIndex;
use geodata::{AreaCode, GridIndex, IndexOptions, Layer};
use uuid::Uuid;

/// The namespace of grid and unit ids: an id is the UUID v5 of the code in it, so the
/// same grid keeps the same id across restarts and imports.
const UNIT_NAMESPACE: Uuid = Uuid::from_u128(0x6772_6964_6c69_6e6b_2d75_6e69_742d_6964);

/// The stable id of the unit or grid with this code.
pub fn unit_id(code: &AreaCode) -> Uuid {
    Uuid::new_v5(&UNIT_NAMESPACE, code.as_str().as_bytes())
}

/// The geography the server answers from, shared by every worker.
#[derive(Debug, Clone)]
pub struct Geo {
    index: Arc<SharedIndex>,
    /// The layer the index was built from, for serving boundaries.
    layer: Arc<RwLock<Arc<Layer>>>,
}

impl Geo {
    /// Indexes a layer's grids.
    pub fn new(layer: &Layer, options: IndexOptions) -> Geo {
        let index = GridIndex::build(layer, options);
        if !index.unindexed().is_empty() {
            let codes: Vec<&str> = index.unindexed().iter().map(AreaCode::as_str).collect();
            tracing::warn!(?codes, "grids too thin to place any point in (under a millimetre)");
        }
        Geo { index: Arc::new(SharedIndex::new(index)), layer: Arc::new(RwLock::new(Arc::new(layer.clone()))) }
    }

    /// The current index.
    pub fn index(&self) -> Arc<GridIndex> {
        self.index.current()
    }

    /// The current layer.
    pub fn layer(&self) -> Arc<Layer> {
        self.layer.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}
