//! `GET /openapi.json`: the API's description, generated from the handlers' own
//! annotations so that it cannot drift from the code.

use actix_web::{HttpResponse, get};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{attachments, auth, categories, geo, health, inbox, incidents, push, routing, sync};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "gridlink", description = "Grid-based social-governance dispatch. Errors are application/problem+json (RFC 9457)."),
    paths(
        health::healthz,
        geo::routes::locate,
        geo::routes::grids,
        categories::routes::categories,
        auth::routes::login,
        auth::routes::refresh,
        auth::routes::logout,
        auth::routes::me,
        attachments::routes::upload,
        attachments::routes::fetch,
        incidents::report::file_report,
        incidents::report::follow,
        incidents::report::rate,
        incidents::routes::list,
        incidents::routes::get_incident,
        incidents::routes::incident_action,
        incidents::routes::task_action,
        inbox::routes::inbox,
        routing::routes::suggestion,
        routing::routes::get_roster,
        routing::routes::put_roster,
        sync::socket::connect,
        push::routes::key,
        push::routes::subscribe,
        push::routes::show,
        push::routes::unsubscribe,
        push::routes::test,
    ),
    modifiers(&Bearer),
    tags(
        (name = "geography", description = "Where points and grids are"),
        (name = "reporting", description = "What residents report, and following it"),
        (name = "cases", description = "Cases and tasks, for staff: the closed loop"),
        (name = "routing", description = "Where cases should go: the rules' suggestions and the duty rosters"),
        (name = "sync", description = "Phones: the WebSocket of the sync protocol (see the sync-protocol crate)"),
        (name = "accounts", description = "Logging in and sessions"),
        (name = "push", description = "Web Push: waking phones whose socket is closed"),
        (name = "operations", description = "Health"),
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The description as JSON.
#[get("/openapi.json")]
pub async fn describe() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
