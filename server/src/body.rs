//! Reading request bodies with a size limit, so that an oversized body is refused as
//! problem+json like every other error (actix's own limits answer in plain text).

use actix_web::web;
use futures_util::StreamExt;

use crate::error_kind::ErrorKind;
use crate::problem::ApiError;

/// The body's bytes, or 413 `payload-too-large` past `limit` bytes.
pub async fn read_limited(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("the body broke off: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes")));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.freeze())
}

/// A JSON body read with [`read_limited`]: 400 `bad-request` saying where it is
/// malformed, 422 `text-too-long` when a text in it is longer than [`MAX_TEXT_CHARS`].
pub async fn json<T: serde::de::DeserializeOwned>(payload: web::Payload, limit: usize) -> Result<T, ApiError> {
    parse(&read_limited(payload, limit).await?)
}

/// A JSON body already read, checked as [`json`] checks it. Read into a JSON value first,
/// so that all of it must be JSON (valid UTF-8, numbers in range) — fields a type does
/// not know are otherwise skipped unread by serde, whatever their bytes.
pub fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("the body is not the JSON expected: {e}")))?;
    check_texts(&value)?;
    serde_json::from_value(value).map_err(|e| ApiError::BadRequest(format!("the body is not the JSON expected: {e}")))
}

/// What a route reading its body with [`json`] may answer for a bad one.
pub const JSON_ERRORS: &[ErrorKind] = &[ErrorKind::BadRequest, ErrorKind::PayloadTooLarge, ErrorKind::TextTooLong];

/// The longest text kept: a description, note, reason or result, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// 422 `text-too-long` when any string in `value` is longer than [`MAX_TEXT_CHARS`]. The
/// one check of text lengths: every JSON body over HTTP ([`json`]) and every socket
/// mutation pass through it, so no door keeps a longer note than another.
pub fn check_texts(value: &serde_json::Value) -> Result<(), ApiError> {
    fn walk(value: &serde_json::Value, at: &str) -> Result<(), ApiError> {
        match value {
            // PostgreSQL's text cannot hold U+0000, and no person's text needs it.
            serde_json::Value::String(s) if s.contains('\0') => Err(ApiError::BadRequest(format!(
                "{} holds the NUL character (U+0000)",
                if at.is_empty() { "a text" } else { at }
            ))),
            serde_json::Value::String(s) if s.chars().count() > MAX_TEXT_CHARS => Err(ApiError::TextTooLong(format!(
                "{} is longer than {MAX_TEXT_CHARS} characters",
                if at.is_empty() { "a text" } else { at }
            ))),
            serde_json::Value::Array(items) => items.iter().try_for_each(|v| walk(v, at)),
            serde_json::Value::Object(fields) => fields.iter().try_for_each(|(k, v)| walk(v, k)),
            _ => Ok(()),
        }
    }
    walk(value, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_longer_than_the_bound_are_refused_wherever_they_are() {
        let long = "长".repeat(MAX_TEXT_CHARS + 1);
        assert!(check_texts(&serde_json::json!({"note": "长".repeat(MAX_TEXT_CHARS), "n": 1})).is_ok());
        let refused = check_texts(&serde_json::json!({"action": "reject", "reason": long})).unwrap_err();
        assert_eq!(refused.kind(), crate::error_kind::ErrorKind::TextTooLong);
        assert!(refused.to_string().starts_with("reason is longer"), "{refused}");
        assert!(check_texts(&serde_json::json!({"op": {"photos": [long]}})).is_err());
        let nul = check_texts(&serde_json::json!({"note": "a\u{0}b"})).unwrap_err();
        assert!(nul.to_string().contains("NUL"), "{nul}");
    }
}
