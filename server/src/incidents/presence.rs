//! Who has a case open right now (在看), so that two operators do not work the same case
//! unknowingly. A desk that shows a case says so every few seconds
//! (`PUT /api/v1/incidents/{id}/presence`) and is told who else does; one that closes
//! the case says so too (`DELETE`). Presence is kept in the node's memory only: it is a
//! hint that lapses by itself ([`LAPSE_MS`]), not part of the case's trace. With several
//! nodes, each knows the desks connected to it: a hint, not carried between nodes.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::{HttpResponse, delete, put, web};
use serde::Serialize;

use super::scope::Viewer;
use super::store;
use crate::auth::routes::Authenticated;
use crate::problem::ApiError;
use crate::store::Database;

/// A desk that has not said so for this long no longer has the case open.
pub const LAPSE_MS: i64 = 45_000;
/// At most this many cases are tracked at once; past it, the lapsed are forgotten first.
const MAX_CASES: usize = 100_000;

/// Someone with a case open.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Present {
    /// Their user id.
    pub id: String,
    /// Their login.
    pub login: String,
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: String,
    /// Since when they have had it open (RFC 3339).
    pub since: String,
    #[serde(skip)]
    since_ms: i64,
    #[serde(skip)]
    seen_ms: i64,
}

/// The answer to a desk saying it has a case open: who else has.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Others {
    /// Everyone else with the case open, longest first.
    pub others: Vec<Present>,
}

/// Who has which case open, on this node.
#[derive(Debug, Default)]
pub struct Presence {
    cases: Mutex<HashMap<String, Vec<Present>>>,
}

impl Presence {
    /// Records that `who` has case `id` open at `now_ms`; everyone else who has it open.
    pub fn here(&self, id: &str, who: Present, now_ms: i64) -> Vec<Present> {
        let mut cases = self.cases.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cases.len() >= MAX_CASES && !cases.contains_key(id) {
            cases.retain(|_, people| people.iter().any(|p| now_ms - p.seen_ms < LAPSE_MS));
            if cases.len() >= MAX_CASES {
                return Vec::new();
            }
        }
        let people = cases.entry(id.to_owned()).or_default();
        people.retain(|p| now_ms - p.seen_ms < LAPSE_MS);
        match people.iter_mut().find(|p| p.id == who.id) {
            Some(known) => known.seen_ms = now_ms,
            None => people.push(Present { since_ms: now_ms, seen_ms: now_ms, ..who.clone() }),
        }
        let mut others: Vec<Present> = people.iter().filter(|p| p.id != who.id).cloned().collect();
        others.sort_by_key(|p| p.since_ms);
        others
    }

    /// Records that `user` closed case `id`.
    pub fn gone(&self, id: &str, user: &str) {
        let mut cases = self.cases.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(people) = cases.get_mut(id) {
            people.retain(|p| p.id != user);
            if people.is_empty() {
                cases.remove(id);
            }
        }
    }
}

impl Present {
    /// The caller as others see them, having a case open from `now_ms`.
    pub fn of(caller: &Authenticated, now_ms: i64) -> Present {
        let user = &caller.user;
        Present {
            id: user.id.clone(),
            login: user.login.clone(),
            name: user.display_name.clone(),
            role: user.role.clone(),
            since: crate::clock::rfc3339(now_ms),
            since_ms: now_ms,
            seen_ms: now_ms,
        }
    }
}

/// The case must exist and lie in the caller's area, as for reading it.
async fn check_visible(db: &Database, viewer: Viewer, id: &str) -> Result<(), ApiError> {
    let (db, case) = (db.clone(), id.to_owned());
    let row = web::block(move || db.read(|c| store::visible_incident(c, &viewer, &case))).await??;
    row.map(|_| ()).ok_or_else(|| ApiError::NotFound(format!("no case {id} that you may see")))
}

/// Says the caller has case `id` open (repeat every 15–30 s while it stays open); who else has.
#[utoipa::path(
    put,
    path = "/api/v1/incidents/{id}/presence",
    params(("id" = String, Path, description = "The case")),
    responses((status = 200, description = "Who else has the case open", body = Others)),
    security(("bearer" = [])),
    tag = "cases"
)]
#[put("/api/v1/incidents/{id}/presence")]
#[tracing::instrument(skip_all, fields(case = %id))]
pub async fn here(
    db: web::Data<Database>,
    presence: web::Data<Presence>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    check_visible(&db, Viewer::of(&caller.user)?, &id).await?;
    let now = crate::clock::now_ms();
    let others = presence.here(&id, Present::of(&caller, now), now);
    Ok(HttpResponse::Ok().json(Others { others }))
}

/// Says the caller closed case `id`.
#[utoipa::path(
    delete,
    path = "/api/v1/incidents/{id}/presence",
    params(("id" = String, Path, description = "The case")),
    responses((status = 204, description = "Noted")),
    security(("bearer" = [])),
    tag = "cases"
)]
#[delete("/api/v1/incidents/{id}/presence")]
#[tracing::instrument(skip_all, fields(case = %id))]
pub async fn gone(
    db: web::Data<Database>,
    presence: web::Data<Presence>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // As for saying one has it open: a case one may not see (or no case) is 404, not a
    // silent 204 to any id at all.
    check_visible(&db, Viewer::of(&caller.user)?, &id).await?;
    presence.gone(&id, &caller.user.id);
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str) -> Present {
        Present {
            id: id.into(),
            login: id.into(),
            name: id.into(),
            role: "county_centre".into(),
            since: String::new(),
            since_ms: 0,
            seen_ms: 0,
        }
    }

    #[test]
    fn each_desk_sees_the_others_until_they_close_the_case_or_lapse() {
        let presence = Presence::default();
        assert!(presence.here("c1", person("a"), 1_000).is_empty());
        let others = presence.here("c1", person("b"), 2_000);
        assert_eq!(others.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["a"]);
        assert_eq!(others[0].since_ms, 1_000, "since the first time, not the latest");
        // Another case is another matter.
        assert!(presence.here("c2", person("c"), 2_000).is_empty());
        // a closes it: b is alone.
        presence.gone("c1", "a");
        assert!(presence.here("c1", person("b"), 3_000).is_empty());
        // c looks again, b has lapsed.
        presence.here("c1", person("c"), 4_000);
        assert!(presence.here("c1", person("c"), 3_000 + LAPSE_MS + 1).is_empty());
    }
}
