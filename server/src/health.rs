//! `GET /healthz`: 200 once the server is ready to serve.

use actix_web::{HttpResponse, get};

/// Answers 200 with a small JSON body; the server binds only once it is ready.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Ready")), tag = "operations")]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}
