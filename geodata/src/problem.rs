//! What an import found wrong with its input: every problem, each tied to a feature.

use std::fmt;

use serde::Serialize;

/// Whether a problem stops an import or is only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported, but the layer is accepted.
    Warning,
    /// The layer is refused.
    Error,
}

/// The kind of a problem, as a stable slug that scripts and the API may switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The text is not JSON, or not a GeoJSON FeatureCollection.
    NotGeojson,
    /// An entry of `features` is not a Feature object.
    NotAFeature,
    /// A required property (`code`, `name`) is missing or of the wrong type.
    MissingProperty,
    /// The `code` property is not a valid code.
    BadCode,
    /// The `level` property disagrees with the level the code implies, or is not 1–5.
    LevelMismatch,
    /// The `parent` property disagrees with the parent the code implies.
    ParentMismatch,
    /// The geometry is missing or is not a Polygon or MultiPolygon.
    BadGeometryType,
    /// A ring's first and last positions differ.
    UnclosedRing,
    /// A ring has fewer than four positions.
    TooShortRing,
    /// A position is not a pair of numbers.
    BadPosition,
    /// A coordinate is outside −180..180 (longitude) or −90..90 (latitude).
    CoordinateOutOfRange,
    /// A coordinate is NaN or infinite.
    NonFiniteCoordinate,
    /// The `lineage` property of a fused grid is malformed.
    BadLineage,
    /// A ring crosses or touches itself.
    SelfIntersection,
    /// Rings of one polygon, or polygons of one multipolygon, cross or overlap.
    InvalidGeometry,
    /// Two features carry the same code.
    DuplicateCode,
    /// The unit's parent is not in the layer.
    UnknownParent,
    /// Part of the unit lies outside its parent (e.g. a grid outside its community).
    OutsideParent,
    /// Two units of the same level overlap.
    Overlap,
    /// Part of a unit is covered by none of its children (e.g. a community by none of its grids).
    Gap,
}

impl ProblemKind {
    /// The stable slug, e.g. `self-intersection`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::NotGeojson => "not-geojson",
            ProblemKind::NotAFeature => "not-a-feature",
            ProblemKind::MissingProperty => "missing-property",
            ProblemKind::BadCode => "bad-code",
            ProblemKind::LevelMismatch => "level-mismatch",
            ProblemKind::ParentMismatch => "parent-mismatch",
            ProblemKind::BadGeometryType => "bad-geometry-type",
            ProblemKind::UnclosedRing => "unclosed-ring",
            ProblemKind::TooShortRing => "too-short-ring",
            ProblemKind::BadPosition => "bad-position",
            ProblemKind::CoordinateOutOfRange => "coordinate-out-of-range",
            ProblemKind::NonFiniteCoordinate => "non-finite-coordinate",
            ProblemKind::BadLineage => "bad-lineage",
            ProblemKind::SelfIntersection => "self-intersection",
            ProblemKind::InvalidGeometry => "invalid-geometry",
            ProblemKind::DuplicateCode => "duplicate-code",
            ProblemKind::UnknownParent => "unknown-parent",
            ProblemKind::OutsideParent => "outside-parent",
            ProblemKind::Overlap => "overlap",
            ProblemKind::Gap => "gap",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong with the input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The position of the feature in `features` (0-based), where one feature is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<usize>,
    /// The feature's code as written (possibly invalid), where it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A sentence saying what is wrong and where.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{severity} [{}]", self.kind)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(i) = self.feature {
            write!(f, " (feature {i})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// Every problem found in one input, errors and warnings together.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// The problems, in the order they were found.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Warning)
    }

    /// Whether some problem is of this kind (handy in tests and scripts).
    pub fn has(&self, kind: ProblemKind) -> bool {
        self.problems.iter().any(|p| p.kind == kind)
    }

    pub(crate) fn push(
        &mut self,
        severity: Severity,
        kind: ProblemKind,
        feature: Option<usize>,
        code: Option<&str>,
        detail: impl Into<String>,
    ) {
        self.problems.push(Problem { severity, kind, feature, code: code.map(str::to_owned), detail: detail.into() });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "{p}")?;
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        write!(f, "{errors} error(s), {warnings} warning(s)")
    }
}
