//! What a fusion did, for the person who runs it: as text and as JSON.

use std::fmt;

use serde::Serialize;

/// One source layer's part in a fusion.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LayerSummary {
    /// The layer's name.
    pub name: String,
    /// Whether this layer was the base.
    pub base: bool,
    /// Grids read from the layer.
    pub grids_in: usize,
    /// Vertices moved onto the reference by snapping.
    pub vertices_snapped: usize,
    /// Places where two of the layer's own grids overlapped (by 1 m² or more); the grid
    /// listed first keeps the overlap.
    pub overlaps_resolved: usize,
    /// Their total area, m².
    pub overlap_area_m2: f64,
    /// Grids whose area falls in two or more communities (each part 1 % of the grid or more).
    pub split_across_communities: Vec<String>,
    /// Grids whose geometry was invalid (a ring crossing itself, say), repaired before use.
    pub repaired: Vec<String>,
    /// Grids that had no area left after repair, or none inside any community.
    pub dropped: Vec<String>,
}

/// A problem found in a source grid; fusion goes on without failing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceProblem {
    /// The source layer.
    pub layer: String,
    /// The source grid's id.
    pub grid: String,
    /// What is wrong and what fusion did about it.
    pub detail: String,
}

/// What a fusion did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FuseReport {
    /// The source layers, the base first.
    pub layers: Vec<LayerSummary>,
    /// Communities partitioned.
    pub communities: usize,
    /// Fused grids made.
    pub grids_out: usize,
    /// Pieces below the minimum area or width merged into a neighbour.
    pub slivers_merged: usize,
    /// Areas the base left uncovered that became grids of their own.
    pub gaps_filled: usize,
    /// Their total area, m².
    pub gap_area_m2: f64,
    /// Those of them taken from another layer's grids (the rest were covered by no layer).
    pub gaps_filled_from_layers: usize,
    /// Overlaps resolved, over all layers.
    pub overlaps_resolved: usize,
    /// Source grids split across communities, over all layers.
    pub split_across_communities: usize,
    /// Fused grids below the minimum that had no neighbour in their community to merge into.
    pub below_minimum_kept: Vec<String>,
    /// With a previous fused layer: grids that kept their code, and grids given a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codes_kept: Option<usize>,
    /// With a previous fused layer: grids given a code not used before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codes_new: Option<usize>,
    /// Problems in the sources.
    pub problems: Vec<SourceProblem>,
}

impl fmt::Display for FuseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "fused {} communities into {} grids", self.communities, self.grids_out)?;
        for l in &self.layers {
            let role = if l.base { " (base)" } else { "" };
            writeln!(
                f,
                "  layer {}{role}: {} grids in, {} vertices snapped, {} overlaps resolved ({:.0} m²), {} split across communities, {} repaired, {} dropped",
                l.name,
                l.grids_in,
                l.vertices_snapped,
                l.overlaps_resolved,
                l.overlap_area_m2,
                l.split_across_communities.len(),
                l.repaired.len(),
                l.dropped.len(),
            )?;
        }
        writeln!(f, "  slivers merged: {}", self.slivers_merged)?;
        writeln!(
            f,
            "  gaps filled: {} ({:.0} m²; {} from other layers, {} covered by no layer)",
            self.gaps_filled,
            self.gap_area_m2,
            self.gaps_filled_from_layers,
            self.gaps_filled - self.gaps_filled_from_layers
        )?;
        writeln!(f, "  overlaps resolved: {}", self.overlaps_resolved)?;
        writeln!(f, "  source grids split across communities: {}", self.split_across_communities)?;
        if let (Some(kept), Some(new)) = (self.codes_kept, self.codes_new) {
            writeln!(f, "  codes kept from the previous layer: {kept}; new codes: {new}")?;
        }
        if !self.below_minimum_kept.is_empty() {
            writeln!(f, "  below the minimum but alone in their community: {}", self.below_minimum_kept.join(", "))?;
        }
        for p in &self.problems {
            writeln!(f, "  problem: layer {} grid {}: {}", p.layer, p.grid, p.detail)?;
        }
        Ok(())
    }
}
