//! `POST /api/v1/attachments` (anyone, rate-limited) and `GET /api/v1/attachments/{id}`
//! (those who may see a case that references the file).

use std::time::Instant;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Serialize;

use super::{MAX_BYTES, UploadError, UploadLimits, check, id_of, is_id};
use crate::auth::routes::Authenticated;
use crate::clock::Clock;
use crate::error_kind::ErrorKind;
use crate::incidents::scope::Viewer;
use crate::problem::ApiError;
use crate::store::Database;

/// A stored file's id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    /// `sha256:<hex>` of the bytes.
    id: String,
    /// Its MIME type.
    media_type: String,
    /// Its size in bytes.
    size: usize,
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> ApiError {
        let detail = e.to_string();
        match e {
            UploadError::TooLarge(_) => ApiError::PayloadTooLarge(detail),
            UploadError::UnsupportedType(_) => ApiError::UnsupportedMediaType(detail),
            UploadError::Empty | UploadError::Mismatch(_) => ApiError::Refused { kind: ErrorKind::InvalidFile, detail },
        }
    }
}

/// Stores a photo (the body, its type as `Content-Type`); the same bytes get the same id.
#[utoipa::path(
    post,
    path = "/api/v1/attachments",
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "The file's bytes"),
    responses(
        (status = 201, description = "Stored (or already stored)", body = Uploaded),
    ),
    tag = "reporting"
)]
#[post("/api/v1/attachments")]
#[tracing::instrument(skip_all)]
pub async fn upload(
    req: HttpRequest,
    db: web::Data<Database>,
    limits: web::Data<UploadLimits>,
    clock: web::Data<Clock>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let client = crate::ratelimit::client_addr(&req).map(crate::ratelimit::client_key);
    if let Some(client) = client {
        limits.file(client, Instant::now())?;
    }
    let media_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let bytes = match crate::body::read_limited(payload, MAX_BYTES).await {
        Err(ApiError::PayloadTooLarge(_)) => return Err(UploadError::TooLarge(MAX_BYTES + 1).into()),
        other => other?,
    };
    let media_type = check(&media_type, &bytes)?;
    let size = bytes.len();
    if let Some(client) = client {
        limits.bytes(client, size, Instant::now())?;
    }
    let id = id_of(&bytes);
    let stored_id = id.clone();
    // Stamped by the server's clock, which the sweep of unreferenced files reads.
    let now = clock.now_ms();
    let created = web::block(move || db.write(|c| super::put(c, &stored_id, media_type, &bytes, now))).await??;
    tracing::info!(%id, size, created, "attachment stored");
    Ok(HttpResponse::Created().json(Uploaded { id, media_type: media_type.to_owned(), size }))
}

/// A stored file, to those who may see a case that references it (404 to anyone else).
#[utoipa::path(
    get,
    path = "/api/v1/attachments/{id}",
    params(("id" = String, Path, description = "sha256:<hex>")),
    responses(
        (status = 200, description = "The file's bytes"),
    ),
    security(("bearer" = [])),
    tag = "reporting"
)]
#[get("/api/v1/attachments/{id}")]
#[tracing::instrument(skip(db, caller))]
pub async fn fetch(
    db: web::Data<Database>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let not_found = || ApiError::NotFound(format!("no attachment {id} that you may see"));
    if !is_id(&id) {
        return Err(not_found());
    }
    let viewer = Viewer::of(&caller.user)?;
    let lookup = id.clone();
    let file = web::block(move || {
        db.read(|c| {
            let cases = super::referencing(c, &lookup)?;
            if !crate::incidents::store::any_visible(c, &viewer, &cases)? {
                return Ok(None);
            }
            super::get(c, &lookup)
        })
    })
    .await??;
    let file = file.ok_or_else(not_found)?;
    let media_type = super::served_type(&file.media_type);
    // Named by its hash, shown inline (in an <img>, or a tab of its own), never sniffed.
    let name = format!("{}.{}", id.replace(':', "-"), media_type.rsplit('/').next().unwrap_or("bin"));
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, media_type))
        .insert_header((CONTENT_DISPOSITION, format!("inline; filename=\"{name}\"")))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // The id is the content's hash: it never changes, but it is private.
        .insert_header((CACHE_CONTROL, "private, max-age=31536000, immutable"))
        .body(file.content))
}
