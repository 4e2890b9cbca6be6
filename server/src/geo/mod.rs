//! Where things are: the grid layer the server works with, and the routes that answer
//! "which grid is this point in?".
//!
//! The layer lives in memory in `geodata`'s index, swapped whole when grids change;
//! locating a point never touches storage. Every import raises the stored layer's
//! generation; [`watch`] notices, loads and indexes the new layer off the request path,
//! and [`Geo::swap`]s it in while requests under way finish with the index they took.

pub mod map;
pub mod routes;
pub mod schema;
pub mod store;
pub mod watch;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use actix_web::web::Bytes;
use geodata::tiles::Tiler;
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
    index: Arc<RwLock<Arc<Indexed>>>,
    /// The layer the index was built from, for serving boundaries.
    layer: Arc<RwLock<Arc<Layer>>>,
    /// The same layer made ready for cutting map tiles.
    tiler: Arc<RwLock<Arc<Tiler>>>,
    /// The stored generation of that layer (see [`store::generation`]).
    generation: Arc<AtomicI64>,
    options: IndexOptions,
}

/// A grid index with the answers `GET /api/v1/locate` has given from it, one per grid at
/// most. They are swapped in and out together, so an answer never outlives the grids it
/// was written from; the index is read through it as a [`GridIndex`].
#[derive(Debug)]
pub struct Indexed {
    index: GridIndex,
    /// By grid slot ([`geodata::Placement::slot`]): the answer for a point inside the grid,
    /// written the first time one is asked for. Every point inside a grid gets the same
    /// bytes, and writing them (a UUID v5 and the chain's JSON) costs more than finding
    /// the grid.
    answers: Vec<OnceLock<Bytes>>,
}

impl Indexed {
    /// `index`, with no answer written yet.
    pub fn new(index: GridIndex) -> Indexed {
        let answers = (0..index.len()).map(|_| OnceLock::new()).collect();
        Indexed { index, answers }
    }

    /// The answer kept for a point inside the grid at `slot`, if one was.
    pub fn inside_answer(&self, slot: usize) -> Option<Bytes> {
        self.answers.get(slot).and_then(OnceLock::get).cloned()
    }

    /// Keeps `answer` for points inside the grid at `slot` (the first one kept stays).
    pub fn keep_inside_answer(&self, slot: usize, answer: Bytes) {
        if let Some(kept) = self.answers.get(slot) {
            let _ = kept.set(answer);
        }
    }
}

impl std::ops::Deref for Indexed {
    type Target = GridIndex;

    fn deref(&self) -> &GridIndex {
        &self.index
    }
}

impl Geo {
    /// Indexes a layer's grids; `generation` is the stored generation it was read at
    /// (0 for a layer that is not stored).
    pub fn new(layer: Layer, options: IndexOptions, generation: i64) -> Geo {
        let index = Geo::build_index(&layer, options);
        Geo {
            index: Arc::new(RwLock::new(Arc::new(Indexed::new(index)))),
            tiler: Arc::new(RwLock::new(Arc::new(Tiler::new(&layer)))),
            layer: Arc::new(RwLock::new(Arc::new(layer))),
            generation: Arc::new(AtomicI64::new(generation)),
            options,
        }
    }

    /// Builds the index of a layer with these options (seconds for a city: run it off
    /// the async workers), warning of grids no point can be placed in.
    pub fn build_index(layer: &Layer, options: IndexOptions) -> GridIndex {
        let index = GridIndex::build(layer, options);
        if !index.unindexed().is_empty() {
            let codes: Vec<&str> = index.unindexed().iter().map(AreaCode::as_str).collect();
            tracing::warn!(?codes, "grids too thin to place any point in (under a millimetre)");
        }
        index
    }

    /// Makes `layer`, indexed as `index`, the current one, read at stored `generation`.
    /// Requests under way keep the index and layer they took; the next ones get these.
    /// The tiler is built here too: call it off the async workers, as [`watch`] does.
    pub fn swap(&self, layer: Layer, index: GridIndex, generation: i64) {
        let tiler = Arc::new(Tiler::new(&layer));
        *self.tiler.write().unwrap_or_else(PoisonError::into_inner) = tiler;
        *self.layer.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(layer);
        *self.index.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(Indexed::new(index));
        self.generation.store(generation, Ordering::SeqCst);
    }

    /// The current index. The lock is held only for the clone of an `Arc`: a reader never
    /// waits for a rebuild, and keeps the index it took until it drops it.
    pub fn index(&self) -> Arc<Indexed> {
        self.index.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The current layer.
    pub fn layer(&self) -> Arc<Layer> {
        self.layer.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The current layer, ready for cutting map tiles.
    pub fn tiler(&self) -> Arc<Tiler> {
        self.tiler.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The stored generation of the current layer.
    pub fn generation(&self) -> i64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The options every index is built with (the snapping tolerance).
    pub fn options(&self) -> IndexOptions {
        self.options
    }
}
