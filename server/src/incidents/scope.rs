//! Who sees which cases, and who may direct them.
//!
//! Every role is bound to one unit (or department) and sees the cases of that unit's
//! area: the county centre its county, a township centre its township, a grid worker
//! their grid. On top of that, anyone sees a case they hold or were sent a task of (a
//! department sees exactly those). A case outside someone's view is, for them, a case
//! that does not exist: the routes answer 404, never 403.

use geodata::{AreaCode, Level};
use uuid::Uuid;

use crate::auth::{Role, User};
use crate::problem::ApiError;

/// The part of the layer a viewer's role covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    /// Everything (the administrator).
    All,
    /// The area of one unit: cases whose chain passes through it.
    Unit(AreaCode),
    /// No area: only cases the viewer was sent tasks of (departments).
    None,
}

/// A caller, as far as seeing and directing cases goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// Their user id.
    pub id: Uuid,
    /// Their role.
    pub role: Role,
    /// Their unit or department code.
    pub unit_code: String,
    /// The area they see.
    pub area: Area,
}

impl Viewer {
    /// The viewer a stored user is.
    pub fn of(user: &User) -> Result<Viewer, ApiError> {
        let role = user.role().ok_or_else(|| ApiError::internal(format!("user {} has no valid role", user.id)))?;
        let id = Uuid::parse_str(&user.id).map_err(|_| ApiError::internal(format!("user id {:?}", user.id)))?;
        let area = match role {
            Role::Administrator => Area::All,
            Role::DepartmentStaff => Area::None,
            // A unit code that does not parse sees nothing rather than everything.
            _ => AreaCode::parse(&user.unit_code).map_or(Area::None, Area::Unit),
        };
        Ok(Viewer { id, role, unit_code: user.unit_code.clone(), area })
    }

    /// Whether the viewer's area covers the unit or grid `code`.
    pub fn covers(&self, code: &AreaCode) -> bool {
        match &self.area {
            Area::All => true,
            Area::Unit(unit) => unit.contains(code),
            Area::None => false,
        }
    }

    /// Whether the role takes cases in, routes, verifies and closes them (a desk role
    /// with an area: the centres and community staff).
    pub fn directs(&self) -> bool {
        matches!(
            self.role,
            Role::Administrator | Role::CityCentre | Role::CountyCentre | Role::TownshipCentre | Role::CommunityStaff
        )
    }

    /// The area a desk asks about (the map's cases, the figures): `asked`, a unit inside
    /// the viewer's area, or else the viewer's own unit; none for an administrator's
    /// whole layer. Refused for roles that direct no area (but the hotline, which reads
    /// its area's cases back to callers), and for a unit outside it.
    pub fn desk_area(&self, asked: Option<&str>) -> Result<Option<AreaCode>, ApiError> {
        let desk = self.directs() || self.role == Role::HotlineOperator;
        if !desk || matches!(self.area, Area::None) {
            return Err(ApiError::Forbidden("only a desk with an area may ask this".into()));
        }
        match asked {
            Some(raw) => {
                let code = AreaCode::parse(raw).map_err(|e| ApiError::BadRequest(format!("area {raw:?}: {e}")))?;
                if !self.covers(&code) {
                    return Err(ApiError::Forbidden(format!("{code} lies outside the caller's area")));
                }
                Ok(Some(code))
            }
            None => Ok(match &self.area {
                Area::Unit(code) => Some(code.clone()),
                _ => None,
            }),
        }
    }

    /// The level of the viewer's unit, if they have an area below everything.
    pub fn level(&self) -> Option<Level> {
        match &self.area {
            Area::Unit(code) => Some(code.level()),
            _ => None,
        }
    }
}
