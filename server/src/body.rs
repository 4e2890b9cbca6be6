//! Reading request bodies with a size limit, so that an oversized body is refused as
//! problem+json like every other error (actix's own limits answer in plain text).

use actix_web::web;
use futures_util::StreamExt;

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

/// A JSON body read with [`read_limited`]: 400 `bad-request` saying where it is malformed.
pub async fn json<T: serde::de::DeserializeOwned>(payload: web::Payload, limit: usize) -> Result<T, ApiError> {
    let bytes = read_limited(payload, limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest(format!("the body is not the JSON expected: {e}")))
}
