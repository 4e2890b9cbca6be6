//! `GET /healthz`: 200 once the server is ready to serve, with what an operator should know.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use crate::calendar::horizon::{CalendarWarning, CalendarWatch};

/// The health answer: `status` is `ok` whenever the server answers; `warnings` lists what
/// needs an operator soon without stopping anything (empty when nothing does).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`: a server that answers is ready.
    pub status: String,
    /// Things to see to, e.g. a calendar that ends within 60 days (`calendar-ends-soon`).
    pub warnings: Vec<CalendarWarning>,
    /// A node of a cluster (`--nats`): its link to the other nodes. A node cut off from
    /// NATS still serves everything, reading the change log itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats: Option<crate::cluster::NatsHealth>,
}

/// Answers 200 with the status and the warnings; the server binds only once it is ready.
/// A warning never turns it into a failure: load balancers keep sending traffic.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Ready", body = Health)), tag = "operations")]
#[get("/healthz")]
pub async fn healthz(
    calendars: web::Data<CalendarWatch>,
    nats: Option<web::Data<crate::cluster::Status>>,
) -> HttpResponse {
    let nats = nats.map(|status| status.health());
    HttpResponse::Ok().json(Health { status: "ok".to_owned(), warnings: calendars.warnings(), nats })
}
