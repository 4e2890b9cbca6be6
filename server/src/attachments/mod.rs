//! Attachments: photos uploaded before the report or task result that cites them.
//!
//! A file is stored once, by the SHA-256 of its bytes (`sha256:<hex>`), so a phone that
//! retries an upload gets the same id and the database holds one copy. Only the types a
//! phone camera produces are taken, and the bytes must be what the declared type says.
//! Uploading is open to anyone (residents have no account), so it is rate-limited per
//! address; reading a file needs an account that may see a case referencing it.

pub mod routes;
pub mod schema;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use sha2::{Digest, Sha256};

use crate::ratelimit::TokenBucket;
use crate::store::DbConnection;
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
pub fn put(conn: &mut DbConnection, id: &str, media_type: &str, bytes: &[u8], now_ms: i64) -> QueryResult<bool> {
    let exists = attachments::table.filter(attachments::id.eq(id)).count().get_result::<i64>(conn)? > 0;
    if exists {
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
    for id in ids {
        let known = attachment_refs::table
            .filter(attachment_refs::attachment_id.eq(id))
            .filter(attachment_refs::incident_id.eq(incident_id))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        if !known {
            diesel::insert_into(attachment_refs::table)
                .values((attachment_refs::attachment_id.eq(id), attachment_refs::incident_id.eq(incident_id)))
                .execute(conn)?;
        }
    }
    Ok(())
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

/// A per-address limit on uploads: a bucket of `burst` tokens refilled at `per_minute`.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<IpAddr, TokenBucket>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` uploads per address, in bursts of up to `burst`.
    pub fn new(per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            burst: f64::from(burst.max(1)),
            per_second: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `addr`; `Err(seconds)` to wait when there is none.
    pub fn take(&self, addr: IpAddr, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > 100_000 {
            // Forget full buckets rather than grow without bound under a scan of addresses.
            buckets.retain(|_, bucket| !bucket.is_full(now));
        }
        buckets.entry(addr).or_insert_with(|| TokenBucket::new(self.per_second, self.burst, now)).take(now)
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
    fn the_rate_limit_refills_over_time() {
        let limiter = RateLimiter::new(60, 2);
        let addr: IpAddr = [127, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!(limiter.take(addr, t0).is_ok());
        assert!(limiter.take(addr, t0).is_ok());
        assert_eq!(limiter.take(addr, t0), Err(1));
        assert!(limiter.take([10, 0, 0, 1].into(), t0).is_ok(), "another address has its own bucket");
        assert!(limiter.take(addr, t0 + std::time::Duration::from_secs(1)).is_ok());
    }
}
