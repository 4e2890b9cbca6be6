//! Administrative units and grids as plain data, and the layer that holds them.

use std::collections::BTreeMap;

use geo::{BoundingRect, MultiPolygon, Rect};

use crate::code::{AreaCode, Level};

/// An administrative unit (levels 1–4) or a grid (level 5), with its boundary in
/// WGS-84 degrees (longitude, latitude).
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// The statistical division code (or, for a grid, the 15-digit grid code).
    pub code: AreaCode,
    /// The unit's name, e.g. `项里街道` or a grid's `第3网格`.
    pub name: String,
    /// The boundary. Exterior rings counter-clockwise, holes clockwise.
    pub geometry: MultiPolygon<f64>,
}

impl Unit {
    /// The unit's level, which follows from its code.
    pub fn level(&self) -> Level {
        self.code.level()
    }

    /// The code of the unit directly above.
    pub fn parent(&self) -> Option<AreaCode> {
        self.code.parent()
    }

    /// The bounding box of the boundary, if it has any points.
    pub fn bounds(&self) -> Option<Rect<f64>> {
        self.geometry.bounding_rect()
    }
}

/// One source grid's part in a fused grid: where the fused grid came from (see
/// [`crate::fuse`]). Both shares are fractions of an area, from 0 to 1.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceShare {
    /// The name of the source layer, e.g. `综治`.
    pub layer: String,
    /// The source grid's id in its layer.
    pub source: String,
    /// How much of the fused grid the source grid covers.
    pub of_grid: f64,
    /// How much of the source grid falls in the fused grid.
    pub of_source: f64,
}

/// Two units with the same code were put into one layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("code {0} appears more than once")]
pub struct DuplicateCode(pub AreaCode);

/// A set of units and grids, keyed and ordered by code.
///
/// A layer says nothing by itself about whether its geometry is sound: that is what
/// [`crate::validate`] checks before a layer is accepted from outside.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    units: BTreeMap<AreaCode, Unit>,
    /// For fused grids, the source grids each came from; empty for a layer drawn directly.
    lineage: BTreeMap<AreaCode, Vec<SourceShare>>,
}

impl Layer {
    /// Builds a layer, refusing duplicate codes.
    pub fn from_units(units: impl IntoIterator<Item = Unit>) -> Result<Layer, DuplicateCode> {
        let mut map = BTreeMap::new();
        for unit in units {
            if let Some(old) = map.insert(unit.code.clone(), unit) {
                return Err(DuplicateCode(old.code));
            }
        }
        Ok(Layer { units: map, lineage: BTreeMap::new() })
    }

    /// The same layer with the lineage of its grids; entries for codes the layer does not
    /// hold are dropped.
    pub fn with_lineage(mut self, lineage: impl IntoIterator<Item = (AreaCode, Vec<SourceShare>)>) -> Layer {
        self.lineage =
            lineage.into_iter().filter(|(code, shares)| self.units.contains_key(code) && !shares.is_empty()).collect();
        self
    }

    /// The source grids the grid `code` was fused from (empty if it was not fused).
    pub fn lineage(&self, code: &AreaCode) -> &[SourceShare] {
        self.lineage.get(code).map_or(&[], Vec::as_slice)
    }

    /// Whether any grid of the layer carries lineage.
    pub fn has_lineage(&self) -> bool {
        !self.lineage.is_empty()
    }

    /// The unit with this code.
    pub fn get(&self, code: &AreaCode) -> Option<&Unit> {
        self.units.get(code)
    }

    /// Every unit and grid, in code order.
    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.units.values()
    }

    /// The units of one level, in code order.
    pub fn at_level(&self, level: Level) -> impl Iterator<Item = &Unit> {
        self.units.values().filter(move |u| u.level() == level)
    }

    /// The grids, in code order.
    pub fn grids(&self) -> impl Iterator<Item = &Unit> {
        self.at_level(Level::Grid)
    }

    /// The units directly below `code`, in code order.
    pub fn children<'a>(&'a self, code: &'a AreaCode) -> impl Iterator<Item = &'a Unit> + 'a {
        let child_level = code.level().child();
        self.units
            .range(code.clone()..)
            .take_while(move |(c, _)| code.contains(c))
            .map(|(_, u)| u)
            .filter(move |u| Some(u.level()) == child_level && u.parent().as_ref() == Some(code))
    }

    /// The chain of units from the top of the layer down to `code` itself (as far as the
    /// layer holds them), e.g. city, county, township, community, grid.
    pub fn chain(&self, code: &AreaCode) -> Vec<&Unit> {
        let mut chain = Vec::with_capacity(5);
        let mut next = Some(code.clone());
        while let Some(c) = next {
            match self.units.get(&c) {
                Some(unit) => chain.push(unit),
                None => break,
            }
            next = c.parent();
        }
        chain.reverse();
        chain
    }

    /// How many units and grids the layer holds.
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// Whether the layer is empty.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// The bounding box of every unit in the layer.
    pub fn bounds(&self) -> Option<Rect<f64>> {
        self.units.values().filter_map(Unit::bounds).reduce(union)
    }
}

/// The smallest box holding both boxes.
pub(crate) fn union(a: Rect<f64>, b: Rect<f64>) -> Rect<f64> {
    Rect::new(
        (a.min().x.min(b.min().x), a.min().y.min(b.min().y)),
        (a.max().x.max(b.max().x), a.max().y.max(b.max().y)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{MultiPolygon, polygon};

    fn unit(code: &str) -> Unit {
        Unit {
            code: AreaCode::parse(code).unwrap(),
            name: format!("unit {code}"),
            geometry: MultiPolygon(vec![polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0)]]),
        }
    }

    #[test]
    fn duplicate_codes_are_refused() {
        let err = Layer::from_units([unit("321302"), unit("321302")]).unwrap_err();
        assert_eq!(err.0.as_str(), "321302");
    }

    #[test]
    fn chains_and_children() {
        let layer = Layer::from_units(
            [
                "321300",
                "321302",
                "321302001",
                "321302001001",
                "321302001001001",
                "321302001001002",
                "321302001002",
                "321302002",
            ]
            .map(unit),
        )
        .unwrap();
        let grid = AreaCode::parse("321302001001002").unwrap();
        let chain: Vec<&str> = layer.chain(&grid).iter().map(|u| u.code.as_str()).collect();
        assert_eq!(chain, ["321300", "321302", "321302001", "321302001001", "321302001001002"]);
        let township = AreaCode::parse("321302001").unwrap();
        let kids: Vec<&str> = layer.children(&township).map(|u| u.code.as_str()).collect();
        assert_eq!(kids, ["321302001001", "321302001002"]);
        assert_eq!(layer.grids().count(), 2);
        assert_eq!(layer.len(), 8);
    }

    #[test]
    fn chain_stops_where_the_layer_does() {
        let layer = Layer::from_units(["321302001001", "321302001001001"].map(unit)).unwrap();
        let chain = layer.chain(&AreaCode::parse("321302001001001").unwrap());
        assert_eq!(chain.len(), 2);
    }
}
