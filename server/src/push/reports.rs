//! News of a report for the resident who filed it, who has no account: the browser that
//! filed it subscribes with the report's follow token (`PUT /api/v1/reports/{id}/push`,
//! the token in the body so that no log holds it) and unsubscribes the same way
//! (`DELETE`). A case keeps at most [`MAX_SUBSCRIPTIONS`], the newest.
//!
//! Which commits are news is one pure rule ([`news`]), asked by the write path for every
//! command: the case was registered (taken in directly, or after 核实), closed, reopened
//! (by staff, or by the reporter's unsatisfied rating) or merged into another case. The
//! write path names the case — and the duplicates merged into it, whose reporters follow
//! it (docs/domain.md) — among what the commit touched, and once the commit is durable
//! the node's notifier has [`super::Pusher::tell`] send each subscription
//! `{"type":"report","id":"<the report subscribed to>","status":"<news>"}`.

use actix_web::{HttpResponse, delete, put, web};
use serde::Deserialize;

use super::Pusher;
use super::endpoint;
use super::store::{self, ReportSubscription};
use crate::auth::token_hash;
use crate::body;
use crate::clock::Clock;
use crate::incidents::store as incidents;
use crate::incidents::workflow::Event;
use crate::problem::ApiError;
use crate::store::Database;

/// The most subscriptions a case keeps: a resident's phone, a tablet, a browser profile
/// or two. A new one past that replaces the oldest, so that nobody holding a token can
/// make a case fan out to more.
pub const MAX_SUBSCRIPTIONS: usize = 5;

/// The largest body taken by these routes.
const MAX_BODY_BYTES: usize = 8 * 1024;

/// How long resolving an endpoint's host may take when a browser subscribes.
const RESOLVE_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// Where a reported case stands, as news to its reporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Taken in as a case (立案): accepted directly, or confirmed on site (核实).
    Registered,
    /// Closed (结案).
    Closed,
    /// Reopened (重新办理): by staff, or after the reporter's unsatisfied rating.
    Reopened,
    /// Merged into another case (并单): its reporter follows that case from now on.
    Merged,
}

impl Status {
    /// The status as the payload says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Registered => "registered",
            Status::Closed => "closed",
            Status::Reopened => "reopened",
            Status::Merged => "merged",
        }
    }
}

/// News of one commit for the residents following a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportNews {
    /// The case changed first, then the duplicates merged into it (their reporters
    /// follow it): every case whose subscriptions hear of it.
    pub cases: Vec<String>,
    /// Where the case stands now.
    pub status: Status,
}

/// Whether a command's `events` are news to the reporter, and which: the last of them
/// that is (an unsatisfied rating is `rated` then `reopened`: the case is reopened).
pub fn news(events: &[Event]) -> Option<Status> {
    events.iter().rev().find_map(|event| match event {
        Event::Registered | Event::Confirmed { .. } => Some(Status::Registered),
        Event::Closed => Some(Status::Closed),
        Event::Reopened { .. } => Some(Status::Reopened),
        Event::MergedInto { .. } => Some(Status::Merged),
        _ => None,
    })
}

/// A browser's subscription to news of a report, as `PushSubscription.toJSON()` gives
/// it, with the report's follow token.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReportSubscriptionBody {
    /// The token the report returned.
    follow_token: String,
    /// The push service's URL for the browser: `https://`, on a public address.
    endpoint: String,
    /// The browser's keys.
    keys: super::routes::SubscriptionKeysBody,
}

/// Which subscription of a report to remove.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReportUnsubscribeBody {
    /// The token the report returned.
    follow_token: String,
    /// The endpoint subscribed with.
    endpoint: String,
}

/// Whether `token` is the follow token of case `id` (a case that does not exist has none).
fn follows(conn: &mut crate::store::DbConnection, id: &str, token: &str) -> diesel::QueryResult<bool> {
    Ok(incidents::incident(conn, id)?.is_some_and(|row| row.follow_token_hash == token_hash(token)))
}

fn no_report(id: &str) -> ApiError {
    ApiError::NotFound(format!("no report {id} with this follow token"))
}

/// Subscribes a browser to news of the report it filed (registered, closed, reopened,
/// merged), with the report's follow token; replaces the subscription of the same
/// endpoint. A case keeps the newest five. A wrong token is answered like a case that
/// does not exist.
#[utoipa::path(
    put,
    path = "/api/v1/reports/{id}/push",
    params(("id" = String, Path, description = "The case's id")),
    request_body = ReportSubscriptionBody,
    responses(
        (status = 204, description = "Subscribed: news of the case will be pushed to this endpoint"),
    ),
    tag = "reporting"
)]
#[put("/api/v1/reports/{id}/push")]
#[tracing::instrument(skip_all)]
pub async fn subscribe(
    _allowed: crate::ratelimit::FollowAllowance,
    db: web::Data<Database>,
    pusher: web::Data<Pusher>,
    clock: web::Data<Clock>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let body: ReportSubscriptionBody = body::json(payload, MAX_BODY_BYTES).await?;
    let checked = endpoint::check(&body.endpoint, pusher.allowlist())?;
    super::check_keys(&body.keys.p256dh, &body.keys.auth)?;
    // The token before the endpoint's host is looked up: nobody without one makes the
    // server resolve names.
    let (lookup, token) = (id.clone(), body.follow_token.clone());
    let reader = db.clone();
    if !web::block(move || reader.read(|c| follows(c, &lookup, &token))).await?? {
        return Err(no_report(&id));
    }
    endpoint::check_resolved(&checked, RESOLVE_WITHIN).await?;
    let sub = ReportSubscription {
        incident_id: id.clone(),
        endpoint: body.endpoint,
        p256dh: body.keys.p256dh.trim_end_matches('=').to_owned(),
        auth: body.keys.auth.trim_end_matches('=').to_owned(),
        created_at_ms: clock.now_ms(),
        failures: 0,
        next_attempt_at_ms: 0,
    };
    let token = body.follow_token;
    let stored = web::block(move || {
        db.write(|c| {
            // Under the case's lock, so that two browsers subscribing at once both count
            // against the five.
            if !incidents::lock(c, &sub.incident_id)? || !follows(c, &sub.incident_id, &token)? {
                return Ok(false);
            }
            store::put_report_subscription(c, &sub, MAX_SUBSCRIPTIONS)?;
            Ok(true)
        })
    })
    .await??;
    if !stored {
        return Err(no_report(&id));
    }
    tracing::info!(case = %id, host = %checked.host, "report push subscription stored");
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a browser's subscription to news of a report (whether or not it had one),
/// with the report's follow token.
#[utoipa::path(
    delete,
    path = "/api/v1/reports/{id}/push",
    params(("id" = String, Path, description = "The case's id")),
    request_body = ReportUnsubscribeBody,
    responses(
        (status = 204, description = "The endpoint hears no more of the case"),
    ),
    tag = "reporting"
)]
#[delete("/api/v1/reports/{id}/push")]
#[tracing::instrument(skip_all)]
pub async fn unsubscribe(
    db: web::Data<Database>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let body: ReportUnsubscribeBody = body::json(payload, MAX_BODY_BYTES).await?;
    let case = id.clone();
    let removed = web::block(move || {
        db.write(|c| {
            if !follows(c, &case, &body.follow_token)? {
                return Ok(None);
            }
            store::delete_report_subscription(c, &case, &body.endpoint).map(Some)
        })
    })
    .await??;
    let removed = removed.ok_or_else(|| no_report(&id))?;
    tracing::info!(case = %id, removed, "report push subscription removed");
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::incidents::workflow::Rating;

    #[test]
    fn registration_closing_reopening_and_merging_are_news_and_nothing_else() {
        let task = Uuid::from_u128(1);
        assert_eq!(news(&[Event::Registered]), Some(Status::Registered));
        assert_eq!(news(&[Event::Confirmed { task }]), Some(Status::Registered), "after 核实");
        assert_eq!(news(&[Event::Closed]), Some(Status::Closed));
        let reopened = Event::Reopened { task, reason: "不满意".into() };
        assert_eq!(news(std::slice::from_ref(&reopened)), Some(Status::Reopened));
        assert_eq!(news(&[Event::Rated { rating: Rating::Unsatisfied }, reopened]), Some(Status::Reopened));
        assert_eq!(news(&[Event::Rated { rating: Rating::Satisfied }]), None);
        assert_eq!(news(&[Event::MergedInto { into: "x".into(), reason: "同一井盖".into() }]), Some(Status::Merged));
        assert_eq!(news(&[Event::TaskAccepted { task, by: task }]), None);
        assert_eq!(news(&[Event::Flagged { note: "快".into() }]), None);
        assert_eq!(news(&[]), None);
    }
}
