//! Open311 clients' API keys: issued by an administrator (`gridlink keys add`, or
//! `POST /api/v1/keys`), shown once, stored as their SHA-256 only (like sessions), revoked
//! rather than deleted (the cases a key filed name it). A key is needed to file a request
//! (`POST /open311/v2/requests`); reads need none.
//!
//! The demo (`serve --demo`) issues the public key `demo-key` once; `users purge-demo`
//! revokes it with the demo's accounts.

use actix_web::{HttpResponse, delete, get, post, web};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::{Deserialize, Serialize};

use super::schema::api_keys;
use crate::auth::routes::Authenticated;
use crate::auth::{Role, new_token, now_ms, token_hash};
use crate::clock::rfc3339;
use crate::problem::ApiError;
use crate::store::{Database, DbConnection};

/// The demo's public key (`serve --demo`).
pub const DEMO_KEY: &str = "demo-key";
/// The client name of the demo's key.
pub const DEMO_NAME: &str = "demo";

/// The longest client name or contact kept, in characters.
const MAX_NAME_CHARS: usize = 100;

/// A key as stored (its hash only).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    /// Its id (a UUID).
    pub id: String,
    /// The client it was issued to.
    pub name: String,
    /// How to reach the client's operator.
    pub contact: Option<String>,
    /// SHA-256 of the key.
    pub key_hash: String,
    /// When issued (Unix ms).
    pub created_at_ms: i64,
    /// When revoked, if it was.
    pub revoked_at_ms: Option<i64>,
}

/// A new key: 256 random bits, hex, with a prefix that says what it is to whoever finds
/// one in a file or a log.
pub fn new_key() -> String {
    format!("gl311_{}", new_token())
}

/// Checks a client name (1–100 characters, trimmed) and an optional contact.
pub fn check_name(name: &str, contact: Option<&str>) -> Result<(String, Option<String>), String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("a key's client name must be 1–{MAX_NAME_CHARS} characters"));
    }
    let contact = contact.map(str::trim).filter(|c| !c.is_empty());
    if contact.is_some_and(|c| c.chars().count() > MAX_NAME_CHARS) {
        return Err(format!("a key's contact must be at most {MAX_NAME_CHARS} characters"));
    }
    Ok((name.to_owned(), contact.map(str::to_owned)))
}

/// Stores a key issued to `name`; the row (the key itself is the caller's to hand out).
pub fn insert(
    conn: &mut DbConnection,
    name: &str,
    contact: Option<&str>,
    key: &str,
    now_ms: i64,
) -> QueryResult<ApiKey> {
    let row = ApiKey {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_owned(),
        contact: contact.map(str::to_owned),
        key_hash: token_hash(key),
        created_at_ms: now_ms,
        revoked_at_ms: None,
    };
    diesel::insert_into(api_keys::table).values(&row).execute(conn)?;
    Ok(row)
}

/// Every key, oldest first.
pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<ApiKey>> {
    api_keys::table.order((api_keys::created_at_ms.asc(), api_keys::id.asc())).select(ApiKey::as_select()).load(conn)
}

/// The key with this id.
pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ApiKey>> {
    api_keys::table.filter(api_keys::id.eq(id)).select(ApiKey::as_select()).first(conn).optional()
}

/// The key a client presents, if it was issued and is not revoked.
pub fn active(conn: &mut DbConnection, key: &str) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .filter(api_keys::key_hash.eq(token_hash(key)))
        .filter(api_keys::revoked_at_ms.is_null())
        .select(ApiKey::as_select())
        .first(conn)
        .optional()
}

/// Revokes key `id` (a key revoked before keeps its first revocation); the key as it
/// stands now, or `None` when there is no such key.
pub fn revoke(conn: &mut DbConnection, id: &str, now_ms: i64) -> QueryResult<Option<ApiKey>> {
    diesel::update(api_keys::table.filter(api_keys::id.eq(id)).filter(api_keys::revoked_at_ms.is_null()))
        .set(api_keys::revoked_at_ms.eq(Some(now_ms)))
        .execute(conn)?;
    by_id(conn, id)
}

/// [`revoke`], with its audit entry (`key_revoked`, by `actor`, with `data`) when it
/// revoked the key now.
pub fn revoke_audited(
    conn: &mut DbConnection,
    id: &str,
    now_ms: i64,
    actor: Option<&crate::auth::User>,
    data: serde_json::Value,
) -> QueryResult<Option<ApiKey>> {
    let key = revoke(conn, id, now_ms)?;
    if let Some(key) = &key
        && key.revoked_at_ms == Some(now_ms)
    {
        let mut data = data;
        data["name"] = serde_json::json!(key.name);
        crate::auth::accounts::audit(conn, "key_revoked", actor, &key.id, data)?;
    }
    Ok(key)
}

/// Issues the demo's key [`DEMO_KEY`] unless it was issued before (even if revoked since);
/// whether it was issued now. Two servers starting at once both succeed.
pub fn ensure_demo(conn: &mut DbConnection, now_ms: i64) -> QueryResult<bool> {
    let hash = token_hash(DEMO_KEY);
    let issued = api_keys::table.filter(api_keys::key_hash.eq(&hash)).count().get_result::<i64>(conn)? > 0;
    if issued {
        return Ok(false);
    }
    // In a savepoint: on PostgreSQL a failed statement would spoil the caller's transaction.
    match conn.transaction(|c| insert(c, DEMO_NAME, None, DEMO_KEY, now_ms)) {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Revokes the demo's key (its value is public); how many keys that revoked (0 or 1).
pub fn revoke_demo(conn: &mut DbConnection, now_ms: i64) -> QueryResult<usize> {
    diesel::update(
        api_keys::table.filter(api_keys::key_hash.eq(token_hash(DEMO_KEY))).filter(api_keys::revoked_at_ms.is_null()),
    )
    .set(api_keys::revoked_at_ms.eq(Some(now_ms)))
    .execute(conn)
}

/// A key as administrators see it: never the key itself.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// Its id.
    pub id: String,
    /// The client it was issued to.
    pub name: String,
    /// How to reach the client's operator.
    pub contact: Option<String>,
    /// When issued (RFC 3339).
    pub created_at: String,
    /// When revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> KeyView {
        KeyView {
            id: k.id.clone(),
            name: k.name.clone(),
            contact: k.contact.clone(),
            created_at: rfc3339(k.created_at_ms),
            revoked_at: k.revoked_at_ms.map(rfc3339),
        }
    }
}

/// Every key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyList {
    /// Oldest first, revoked ones too.
    pub keys: Vec<KeyView>,
}

/// A key to issue.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// The client it is for (1–100 characters).
    name: String,
    /// How to reach the client's operator.
    contact: Option<String>,
}

/// A key just issued: the only time the key itself is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    /// The key as stored.
    #[serde(flatten)]
    pub view: KeyView,
    /// The key: hand it to the client now; the server keeps only its hash.
    pub key: String,
}

/// The largest body of `POST /api/v1/keys`.
const MAX_KEY_BODY: usize = 4 * 1024;

fn administrator(caller: &Authenticated) -> Result<(), ApiError> {
    match caller.user.role() {
        Some(Role::Administrator) => Ok(()),
        _ => Err(ApiError::Forbidden("only administrators manage Open311 API keys".into())),
    }
}

/// Every Open311 API key (administrators).
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    responses((status = 200, description = "Every key, oldest first; never the keys themselves", body = KeyList)),
    security(("bearer" = [])),
    tag = "open311"
)]
#[get("/api/v1/keys")]
#[tracing::instrument(skip_all)]
pub async fn list_keys(db: web::Data<Database>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let keys = web::block(move || db.read(list)).await??;
    Ok(HttpResponse::Ok().json(KeyList { keys: keys.iter().map(KeyView::from).collect() }))
}

/// Issues an Open311 API key (administrators): the key is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    request_body = NewKey,
    responses((status = 201, description = "The key, shown this once", body = IssuedKey)),
    security(("bearer" = [])),
    tag = "open311"
)]
#[post("/api/v1/keys")]
#[tracing::instrument(skip_all)]
pub async fn add_key(
    db: web::Data<Database>,
    caller: Authenticated,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let input: NewKey = crate::body::json(payload, MAX_KEY_BODY).await?;
    let (name, contact) = check_name(&input.name, input.contact.as_deref()).map_err(ApiError::BadRequest)?;
    let key = new_key();
    let issued = {
        let key = key.clone();
        let actor = caller.user.clone();
        web::block(move || {
            db.write(|c| {
                let issued = insert(c, &name, contact.as_deref(), &key, now_ms())?;
                let data = serde_json::json!({"name": issued.name, "key": "open311"});
                crate::auth::accounts::audit(c, "key_added", Some(&actor), &issued.id, data)?;
                Ok(issued)
            })
        })
        .await??
    };
    tracing::info!(id = %issued.id, client = %issued.name, by = %caller.user.login, "Open311 key issued");
    Ok(HttpResponse::Created().json(IssuedKey { view: KeyView::from(&issued), key }))
}

/// Revokes an Open311 API key (administrators): its client's requests are refused (403)
/// from now on; the key stays listed, as do the cases it filed.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{id}",
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, description = "The key, revoked", body = KeyView)),
    security(("bearer" = [])),
    tag = "open311"
)]
#[delete("/api/v1/keys/{id}")]
#[tracing::instrument(skip_all)]
pub async fn revoke_key(
    db: web::Data<Database>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    administrator(&caller)?;
    let id = id.into_inner();
    let lookup = id.clone();
    let actor = caller.user.clone();
    let revoked = web::block(move || {
        db.write(|c| revoke_audited(c, &lookup, now_ms(), Some(&actor), serde_json::json!({"key": "open311"})))
    })
    .await??;
    let revoked = revoked.ok_or_else(|| ApiError::NotFound(format!("no Open311 key {id}")))?;
    tracing::info!(id = %revoked.id, client = %revoked.name, by = %caller.user.login, "Open311 key revoked");
    Ok(HttpResponse::Ok().json(KeyView::from(&revoked)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_say_what_they_are() {
        let (a, b) = (new_key(), new_key());
        assert!(a.starts_with("gl311_") && a.len() == 6 + 64, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn names_and_contacts_are_trimmed_and_bounded() {
        assert_eq!(check_name("  市民通 App ", Some(" ")), Ok(("市民通 App".to_owned(), None)));
        assert!(check_name(" ", None).is_err());
        assert!(check_name(&"名".repeat(101), None).is_err());
        assert!(check_name("x", Some(&"c".repeat(101))).is_err());
    }
}
