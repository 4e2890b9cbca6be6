//! The five levels and the statistical division codes that name every unit.
//!
//! Codes follow the 统计用区划代码 scheme: a city or county has 6 digits (a city's
//! end in `00`), a township 9 (its county's 6 + 3), a community 12 (its township's
//! 9 + 3). A grid extends its community's 12 digits by a 3-digit sequence: 15 digits.
//! Because every code starts with its parent's, the parent of any unit can be derived
//! from its code alone; imported data whose `parent` disagrees is refused.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the five levels of the hierarchy, from the city (1) down to the grid (5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Level {
    /// 市: a prefecture-level city, with a command centre.
    City = 1,
    /// 县区: a county or district, with a command centre.
    County = 2,
    /// 乡镇街道: a township or street, with a command centre.
    Township = 3,
    /// 村社区: a village or community.
    Community = 4,
    /// 网格: a grid, patrolled by its grid worker(s).
    Grid = 5,
}

impl Level {
    /// All levels, from the city down.
    pub const ALL: [Level; 5] = [Level::City, Level::County, Level::Township, Level::Community, Level::Grid];

    /// The level's number, 1 (city) to 5 (grid), as on the wire.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The level with this number, if it is 1 to 5.
    pub fn from_number(n: u8) -> Option<Level> {
        Level::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// How many digits a code of this level has.
    pub fn code_len(self) -> usize {
        match self {
            Level::City | Level::County => 6,
            Level::Township => 9,
            Level::Community => 12,
            Level::Grid => 15,
        }
    }

    /// The level directly above, if any.
    pub fn parent(self) -> Option<Level> {
        Level::from_number(self.number().checked_sub(1)?)
    }

    /// The level directly below, if any.
    pub fn child(self) -> Option<Level> {
        Level::from_number(self.number() + 1)
    }

    /// A lower-case English name, as used in messages and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::City => "city",
            Level::County => "county",
            Level::Township => "township",
            Level::Community => "community",
            Level::Grid => "grid",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Level> for u8 {
    fn from(level: Level) -> u8 {
        level.number()
    }
}

impl TryFrom<u8> for Level {
    type Error = CodeError;
    fn try_from(n: u8) -> Result<Level, CodeError> {
        Level::from_number(n).ok_or(CodeError::BadLevel(n))
    }
}

/// Why a string is not a valid area code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Something other than ASCII digits.
    #[error("code {0:?} must consist of digits only")]
    NotDigits(String),
    /// A length that no level has.
    #[error("code {0:?} has {1} digits; codes have 6 (city, county), 9 (township), 12 (community) or 15 (grid)")]
    BadLength(String, usize),
    /// A level number outside 1–5.
    #[error("level {0} does not exist; levels run from 1 (city) to 5 (grid)")]
    BadLevel(u8),
    /// A county code ending in `000`, or a city code ending in `0000`: a province, not a unit of ours.
    #[error("code {0:?} names a province, which is above the five levels")]
    Province(String),
}

/// A validated statistical division code (or grid code); its level follows from its length.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AreaCode(String);

impl AreaCode {
    /// Parses and validates a code.
    pub fn parse(s: &str) -> Result<AreaCode, CodeError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeError::NotDigits(s.to_owned()));
        }
        match s.len() {
            6 if s.ends_with("0000") => Err(CodeError::Province(s.to_owned())),
            6 | 9 | 12 | 15 => Ok(AreaCode(s.to_owned())),
            n => Err(CodeError::BadLength(s.to_owned(), n)),
        }
    }

    /// The code's level: 6 digits ending in `00` is a city, other 6-digit codes counties.
    pub fn level(&self) -> Level {
        match self.0.len() {
            6 if self.0.ends_with("00") => Level::City,
            6 => Level::County,
            9 => Level::Township,
            12 => Level::Community,
            _ => Level::Grid,
        }
    }

    /// The code of the unit directly above, derived from this code's digits.
    pub fn parent(&self) -> Option<AreaCode> {
        let parent = match self.level() {
            Level::City => return None,
            Level::County => format!("{}00", &self.0[..4]),
            Level::Township => self.0[..6].to_owned(),
            Level::Community => self.0[..9].to_owned(),
            Level::Grid => self.0[..12].to_owned(),
        };
        Some(AreaCode(parent))
    }

    /// Whether `other` is this unit or lies (by its code) anywhere below it.
    pub fn contains(&self, other: &AreaCode) -> bool {
        match self.level() {
            Level::City => other.0.starts_with(&self.0[..4]),
            _ => other.0.starts_with(&self.0),
        }
    }

    /// The code of the `seq`-th child of this unit (1-based): a grid's 3 digits after
    /// a community, a community's after a township, and so on. `None` past 999 or below a grid.
    pub fn child(&self, seq: u32) -> Option<AreaCode> {
        if !(1..=999).contains(&seq) {
            return None;
        }
        match self.level() {
            Level::Grid | Level::City => None,
            _ => Some(AreaCode(format!("{}{seq:03}", self.0))),
        }
    }

    /// This unit's place among its parent's children (the inverse of [`AreaCode::child`]):
    /// the last three digits, or `None` for a city or county.
    pub fn sequence(&self) -> Option<u32> {
        match self.level() {
            Level::City | Level::County => None,
            _ => self.0[self.0.len() - 3..].parse().ok(),
        }
    }

    /// The code as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AreaCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<AreaCode, CodeError> {
        AreaCode::parse(s)
    }
}

impl TryFrom<String> for AreaCode {
    type Error = CodeError;
    fn try_from(s: String) -> Result<AreaCode, CodeError> {
        AreaCode::parse(&s)
    }
}

impl From<AreaCode> for String {
    fn from(code: AreaCode) -> String {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> AreaCode {
        AreaCode::parse(s).unwrap()
    }

    #[test]
    fn levels_follow_from_length() {
        assert_eq!(code("321300").level(), Level::City);
        assert_eq!(code("321302").level(), Level::County);
        assert_eq!(code("321302001").level(), Level::Township);
        assert_eq!(code("321302001001").level(), Level::Community);
        assert_eq!(code("321302001001001").level(), Level::Grid);
    }

    #[test]
    fn parents_are_derived_from_digits() {
        assert_eq!(code("321302001001001").parent(), Some(code("321302001001")));
        assert_eq!(code("321302001001").parent(), Some(code("321302001")));
        assert_eq!(code("321302001").parent(), Some(code("321302")));
        assert_eq!(code("321302").parent(), Some(code("321300")));
        assert_eq!(code("321300").parent(), None);
    }

    #[test]
    fn bad_codes_are_refused_with_a_reason() {
        assert!(matches!(AreaCode::parse(""), Err(CodeError::NotDigits(_))));
        assert!(matches!(AreaCode::parse("32130a"), Err(CodeError::NotDigits(_))));
        assert!(matches!(AreaCode::parse("３２１３０２"), Err(CodeError::NotDigits(_))));
        assert!(matches!(AreaCode::parse("3213021"), Err(CodeError::BadLength(_, 7))));
        assert!(matches!(AreaCode::parse("320000"), Err(CodeError::Province(_))));
    }

    #[test]
    fn containment_and_children() {
        let city = code("321300");
        assert!(city.contains(&code("321302001001001")));
        assert!(!city.contains(&code("321202")));
        let community = code("321302001001");
        assert_eq!(community.child(7), Some(code("321302001001007")));
        assert_eq!(community.child(7).unwrap().level(), Level::Grid);
        assert_eq!(community.child(7).unwrap().as_str().len(), Level::Grid.code_len());
        assert_eq!(community.child(0), None);
        assert_eq!(community.child(1000), None);
        assert_eq!(code("321302001001007").child(1), None);
    }

    #[test]
    fn level_numbers_round_trip() {
        for level in Level::ALL {
            assert_eq!(Level::from_number(level.number()), Some(level));
        }
        assert_eq!(Level::from_number(0), None);
        assert_eq!(Level::from_number(6), None);
        assert_eq!(Level::Grid.parent(), Some(Level::Community));
        assert_eq!(Level::City.parent(), None);
    }

    #[test]
    fn serde_forms() {
        let c: AreaCode = serde_json::from_str("\"321302\"").unwrap();
        assert_eq!(c, code("321302"));
        assert!(serde_json::from_str::<AreaCode>("\"12\"").is_err());
        assert_eq!(serde_json::to_string(&Level::Grid).unwrap(), "5");
        assert!(serde_json::from_str::<Level>("7").is_err());
    }
}
