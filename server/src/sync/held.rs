//! `GET /api/v1/tasks`: the caller's tasks as their phone holds them, for a client that
//! has no socket open — the worker app's service worker, woken by a push that says only
//! "wake", reads here which task to show in its notification.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::snapshot::held_tasks;
use crate::auth::routes::Authenticated;
use crate::problem::ApiError;
use crate::store::Database;

/// The caller's tasks.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeldTasks {
    /// Open tasks sent to the caller and accepted ones they hold, oldest first, each as a
    /// socket's task item's `data` (the task with the essentials of its case).
    #[schema(value_type = Vec<Object>)]
    items: Vec<serde_json::Value>,
}

/// The tasks waiting for the caller or held by them.
#[utoipa::path(
    get,
    path = "/api/v1/tasks",
    responses((status = 200, description = "The caller's tasks, oldest first", body = HeldTasks)),
    security(("bearer" = [])),
    tag = "sync"
)]
#[get("/api/v1/tasks")]
#[tracing::instrument(skip_all, fields(user = %caller.user.id))]
pub async fn held(db: web::Data<Database>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let user = caller.user.id.to_string();
    let held = web::block(move || db.read(|c| held_tasks(c, &user))).await??;
    Ok(HttpResponse::Ok().json(HeldTasks { items: held.into_iter().map(|h| h.data).collect() }))
}
