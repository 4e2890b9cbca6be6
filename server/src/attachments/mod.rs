//! Attachments: photos uploaded before the report or task result that cites them.
//!
//! A file is stored once, by the SHA-256 of its bytes (`sha256:<hex>`), so a phone that
//! retries an upload gets the same id and the database holds one copy. Only the types a
//! phone camera produces are taken, and the bytes must be what the declared type says.
//! Uploading is open to anyone (residents have no account), so it is rate-limited per
//! client address, with a daily allowance of bytes per address ([`UploadLimits`]); a
//! file that no case references a day after its upload is removed ([`sweep`]). Reading a
//! file needs an account that may see a case referencing it.

pub mod routes;
pub mod schema;
pub mod sweep;

use std::net::IpAddr;
use std::time::Instant;

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use sha2::{Digest, Sha256};

use crate::problem::ApiError;
use crate::ratelimit::KeyedLimiter;
use crate::store::{DbConnection, insert_rows};
use schema::{attachment_refs, attachments};

/// The largest file taken: a phone photo at full resolution.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

/// A file signature: bytes found at an offset.
type Signature = &'static [(usize, &'static [u8])];

/// The types taken, with the signature their bytes must show.
const TYPES: &[(&str, Signature)] = &[
    ("image/jpeg", &[(0, b"\xFF\xD8\xFF")]),
    ("image/png", &[(0, b"\x89PNG\r\n\x1a\n")]),
    ("image/webp", &[(0, b"RIFF"), (8, b"WEBP")]),
    ("image/gif", &[(0, b"GIF8")]),
    ("image/heic", &[(4, b"ftyp")]),
];

/// The type a stored file is served as: one of [`TYPES`] (what was checked at upload),
/// or `application/octet-stream` for anything else a row might hold, so that no stored
/// value can make a browser read a file as a page or a script.
pub fn served_type(stored: &str) -> &'static str {
    TYPES.iter().map(|(name, _)| *name).find(|name| *name == stored).unwrap_or("application/octet-stream")
}

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// Nothing was sent.
    #[error("the body is empty; send the file's bytes")]
    Empty,
    /// Too big.
    #[error("the file has {0} bytes; at most {MAX_BYTES} are taken")]
    TooLarge(usize),
    /// A type we do not take.
    #[error("files of type {0:?} are not taken; send image/jpeg, image/png, image/webp, image/gif or image/heic")]
    UnsupportedType(String),
    /// The bytes are not of the declared type.
    #[error("the bytes are not a {0} file")]
    Mismatch(String),
}

/// Checks a file against its declared type; the media type as stored.
pub fn check(media_type: &str, bytes: &[u8]) -> Result<&'static str, UploadError> {
    if bytes.is_empty() {
        return Err(UploadError::Empty);
    }
    if bytes.len() > MAX_BYTES {
        return Err(UploadError::TooLarge(bytes.len()));
    }
    let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let (name, signature) = TYPES
        .iter()
        .find(|(name, _)| *name == essence)
        .ok_or_else(|| UploadError::UnsupportedType(media_type.to_owned()))?;
    let matches = signature.iter().all(|(at, magic)| bytes.get(*at..at + magic.len()) == Some(*magic));
    if !matches {
        return Err(UploadError::Mismatch((*name).to_owned()));
    }
    Ok(name)
}

/// The id of a file: `sha256:` and the hex SHA-256 of its bytes.
pub fn id_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut id = String::with_capacity(71);
    id.push_str("sha256:");
    for b in digest {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// Whether a string has the form of an attachment id.
pub fn is_id(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Stored {
    /// Its MIME type.
    pub media_type: String,
    /// Its bytes.
    pub content: Vec<u8>,
}

/// Stores a file unless it is there; true if it was new. Run inside a write transaction.
/// A file uploaded again counts from now for the sweep, so that the id just handed out
/// is not swept from under the report about to cite it.
pub fn put(conn: &mut DbConnection, id: &str, media_type: &str, bytes: &[u8], now_ms: i64) -> QueryResult<bool> {
    let exists = attachments::table.filter(attachments::id.eq(id)).count().get_result::<i64>(conn)? > 0;
    if exists {
        diesel::update(attachments::table.filter(attachments::id.eq(id)))
            .filter(attachments::created_at_ms.lt(now_ms))
            .set(attachments::created_at_ms.eq(now_ms))
            .execute(conn)?;
        return Ok(false);
    }
    // Two first uploads of the same bytes may race on PostgreSQL: the loser's insert fails
    // inside a savepoint, and the file is there all the same.
    let inserted = conn.transaction(|c| {
        diesel::insert_into(attachments::table)
            .values((
                attachments::id.eq(id),
                attachments::media_type.eq(media_type),
                attachments::size.eq(bytes.len() as i64),
                attachments::content.eq(bytes),
                attachments::created_at_ms.eq(now_ms),
            ))
            .execute(c)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The ids among `ids` that are not stored.
pub fn missing(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<String>> {
    let found: Vec<String> =
        attachments::table.filter(attachments::id.eq_any(ids)).select(attachments::id).load(conn)?;
    Ok(ids.iter().filter(|id| !found.contains(id)).cloned().collect())
}

/// Records that a case references these files.
pub fn reference(conn: &mut DbConnection, incident_id: &str, ids: &[String]) -> QueryResult<()> {
    let mut known: Vec<String> = attachment_refs::table
        .filter(attachment_refs::incident_id.eq(incident_id))
        .filter(attachment_refs::attachment_id.eq_any(ids))
        .select(attachment_refs::attachment_id)
        .load(conn)?;
    let mut rows = Vec::new();
    for id in ids {
        if !known.contains(id) {
            known.push(id.clone());
            rows.push((attachment_refs::attachment_id.eq(id), attachment_refs::incident_id.eq(incident_id)));
        }
    }
    insert_rows(conn, attachment_refs::table, &rows).map(|_| ())
}

/// The cases that reference a file.
pub fn referencing(conn: &mut DbConnection, id: &str) -> QueryResult<Vec<String>> {
    attachment_refs::table.filter(attachment_refs::attachment_id.eq(id)).select(attachment_refs::incident_id).load(conn)
}

/// A stored file.
pub fn get(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Stored>> {
    attachments::table
        .filter(attachments::id.eq(id))
        .select((attachments::media_type, attachments::content))
        .first(conn)
        .optional()
}

/// Files that no case references, uploaded before `before_ms`, at most `limit`.
pub fn unreferenced_before(conn: &mut DbConnection, before_ms: i64, limit: i64) -> QueryResult<Vec<String>> {
    let cited = attachment_refs::table.select(attachment_refs::attachment_id);
    attachments::table
        .filter(attachments::created_at_ms.lt(before_ms))
        .filter(diesel::dsl::not(attachments::id.eq_any(cited)))
        .select(attachments::id)
        .limit(limit)
        .load(conn)
}

/// Removes the file `id` if no case references it and it was uploaded before
/// `before_ms`; whether it went. Both conditions are read again in the statement itself,
/// so a report that cited the file meanwhile keeps it.
pub fn remove_unreferenced(conn: &mut DbConnection, id: &str, before_ms: i64) -> QueryResult<bool> {
    let cited =
        attachment_refs::table.filter(attachment_refs::attachment_id.eq(id)).select(attachment_refs::attachment_id);
    diesel::delete(attachments::table.filter(attachments::id.eq(id)))
        .filter(attachments::created_at_ms.lt(before_ms))
        .filter(diesel::dsl::not(attachments::id.eq_any(cited)))
        .execute(conn)
        .map(|n| n > 0)
}

/// What one client address may upload: files at a rate, and bytes in a day.
#[derive(Debug)]
pub struct UploadLimits {
    files: KeyedLimiter<IpAddr>,
    bytes: KeyedLimiter<IpAddr>,
}

impl UploadLimits {
    /// `per_minute` files per address in bursts of `burst`, and `bytes_per_day` bytes a
    /// day (regained evenly over the day).
    pub fn new(per_minute: u32, burst: u32, bytes_per_day: u64) -> UploadLimits {
        UploadLimits {
            files: KeyedLimiter::every(u64::from(per_minute), 60, u64::from(burst)),
            bytes: KeyedLimiter::every(bytes_per_day, 24 * 3600, bytes_per_day),
        }
    }

    /// One more upload from `client` (its [`crate::ratelimit::client_key`]); 429
    /// `rate-limited` past the rate.
    pub fn file(&self, client: IpAddr, now: Instant) -> Result<(), ApiError> {
        self.files.take(&client, 1.0, now).map_err(ApiError::RateLimited)
    }

    /// `size` more bytes from `client`; 429 `quota-exceeded` past the day's allowance.
    pub fn bytes(&self, client: IpAddr, size: usize, now: Instant) -> Result<(), ApiError> {
        self.bytes.take(&client, size as f64, now).map_err(|retry_after| ApiError::QuotaExceeded {
            retry_after,
            detail: format!("this address has uploaded its allowance of bytes for the day; {size} more do not fit"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_checked_against_their_type() {
        assert_eq!(check("image/jpeg", b"\xFF\xD8\xFF\xE0rest"), Ok("image/jpeg"));
        assert_eq!(check("IMAGE/PNG; q=1", b"\x89PNG\r\n\x1a\nrest"), Ok("image/png"));
        assert_eq!(check("image/webp", b"RIFF\0\0\0\0WEBPVP8 "), Ok("image/webp"));
        assert_eq!(check("image/jpeg", b""), Err(UploadError::Empty));
        assert_eq!(check("image/png", b"\xFF\xD8\xFF\xE0"), Err(UploadError::Mismatch("image/png".into())));
        assert!(matches!(check("text/html", b"<html>"), Err(UploadError::UnsupportedType(_))));
        assert!(matches!(check("image/jpeg", &vec![0xFF; MAX_BYTES + 1]), Err(UploadError::TooLarge(_))));
    }

    #[test]
    fn ids_are_the_sha256_of_the_bytes() {
        assert_eq!(id_of(b"abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(is_id(&id_of(b"x")));
        assert!(!is_id("sha256:XYZ"));
        assert!(!is_id("md5:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    }

    #[test]
    fn uploads_are_limited_in_number_and_in_bytes_a_day() {
        let limits = UploadLimits::new(60, 2, 1000);
        let addr: IpAddr = [127, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!(limits.file(addr, t0).is_ok());
        assert!(limits.file(addr, t0).is_ok());
        assert!(matches!(limits.file(addr, t0), Err(ApiError::RateLimited(1))));
        assert!(limits.file([10, 0, 0, 1].into(), t0).is_ok(), "another address has its own bucket");
        assert!(limits.file(addr, t0 + std::time::Duration::from_secs(1)).is_ok());
        assert!(limits.bytes(addr, 600, t0).is_ok());
        let over = limits.bytes(addr, 600, t0).unwrap_err();
        assert_eq!(over.kind(), crate::error_kind::ErrorKind::QuotaExceeded);
        // 200 bytes are missing: a day's 1,000 come back at one per 86.4 s.
        assert!(matches!(over, ApiError::QuotaExceeded { retry_after: 17_280, .. }), "{over:?}");
        assert!(limits.bytes(addr, 400, t0).is_ok(), "what was refused was not counted");
    }
}
