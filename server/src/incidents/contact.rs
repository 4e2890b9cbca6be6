//! `POST /api/v1/incidents/{id}/contact`: a reporter's contact details unmasked (查看联系方式),
//! asked for with a reason. Every view shows contacts masked; the table of who may do what
//! ([`Action::ReadContact`]) lets the centres whose area holds the case, and the hotline
//! operator who filed it, read them in full. Each read is an entry of the audit log
//! (`contact_read`: who, when, which case, why — never the contact itself), written in the
//! transaction of the read, so that there is no read without its trace.

use actix_web::{HttpResponse, post, web};
use serde::Serialize;

use super::permissions::{self, Action, Answer, Facts};
use super::routes::open_contact;
use super::scope::Viewer;
use super::store;
use super::workflow::Case;
use crate::auth::routes::Authenticated;
use crate::clock::Clock;
use crate::problem::ApiError;
use crate::store::Database;

/// The longest reason taken, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// The largest body taken.
const MAX_BODY_BYTES: usize = 8 * 1024;

/// Why the contact is read.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct ContactRequest {
    /// Why the caller needs the contact (理由), 1–500 characters; kept in the trace.
    pub reason: Option<String>,
}

/// A reporter's contact details, unmasked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ContactView {
    /// Name, if given.
    pub name: Option<String>,
    /// Phone (a hotline caller's number), if given.
    pub phone: Option<String>,
    /// ID number, if given.
    pub id_number: Option<String>,
}

/// The reason of a request: trimmed, not blank (400), at most [`MAX_REASON_CHARS`] (422).
fn reason_of(request: ContactRequest) -> Result<String, ApiError> {
    let reason = request.reason.as_deref().map(str::trim).unwrap_or_default().to_owned();
    if reason.is_empty() {
        return Err(ApiError::BadRequest("say why you need the contact: `reason` (理由) is required".into()));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::TextTooLong(format!("a reason is at most {MAX_REASON_CHARS} characters")));
    }
    Ok(reason)
}

/// The reporter's contact of one case, unmasked, for a reason; each read traced.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/contact",
    params(("id" = String, Path, description = "The case's id")),
    request_body = ContactRequest,
    responses(
        (status = 200, description = "The contact, unmasked (each field null if not given); the read is in the audit log", body = ContactView),
    ),
    security(("bearer" = [])),
    tag = "cases"
)]
#[post("/api/v1/incidents/{id}/contact")]
#[tracing::instrument(skip_all)]
pub async fn read_contact(
    db: web::Data<Database>,
    clock: web::Data<Clock>,
    caller: Authenticated,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::of(&caller.user)?;
    let request: ContactRequest = crate::body::json(payload, MAX_BODY_BYTES).await?;
    let reason = reason_of(request)?;
    let id = id.into_inner();
    let now = clock.now_ms();
    let role = caller.user.role.clone();
    let view = web::block(move || {
        let keys = db.keys().map_err(ApiError::internal)?;
        db.transact(|c| -> Result<ContactView, ApiError> {
            let not_found = || ApiError::NotFound(format!("no case {id} that you may see"));
            let row = store::visible_incident(c, &viewer, &id)?.ok_or_else(not_found)?;
            let case: Case = serde_json::from_str(&row.state).map_err(ApiError::internal)?;
            let queue = row.queue();
            let facts = Facts {
                grid: &row.grid_code,
                queue: queue.as_deref(),
                level: row.level,
                case: &case,
                reporter: row.reporter_id.as_deref(),
            };
            match permissions::answer(&viewer, Action::ReadContact, &facts, None) {
                Answer::Allowed => {}
                Answer::NotFound => return Err(not_found()),
                Answer::Forbidden(denied) => return Err(ApiError::refused(denied.kind, denied.detail)),
            }
            let contact = open_contact(keys, &row).map_err(ApiError::internal)?.unwrap_or_default();
            let actor = viewer.id.to_string();
            crate::audit::record(
                c,
                &crate::audit::Entry {
                    at_ms: now,
                    kind: "contact_read",
                    actor_id: Some(&actor),
                    actor_role: Some(&role),
                    device_id: None,
                    incident_id: Some(&id),
                    subject: None,
                    data: serde_json::json!({ "reason": reason }),
                },
            )?;
            Ok(ContactView { name: contact.name, phone: contact.phone, id_number: contact.id_number })
        })
    })
    .await??;
    tracing::info!("contact read unmasked, traced");
    Ok(HttpResponse::Ok().json(view))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_kind::ErrorKind;

    #[test]
    fn a_reason_is_required_and_bounded() {
        let ask = |reason: Option<&str>| reason_of(ContactRequest { reason: reason.map(str::to_owned) });
        assert_eq!(ask(Some("  回访核实  ")).unwrap(), "回访核实");
        assert_eq!(ask(None).unwrap_err().kind(), ErrorKind::BadRequest);
        assert_eq!(ask(Some("   ")).unwrap_err().kind(), ErrorKind::BadRequest);
        assert!(ask(Some(&"理".repeat(MAX_REASON_CHARS))).is_ok());
        assert_eq!(ask(Some(&"理".repeat(MAX_REASON_CHARS + 1))).unwrap_err().kind(), ErrorKind::TextTooLong);
    }
}
