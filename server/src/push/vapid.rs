//! The server's VAPID key (RFC 8292): a P-256 key pair made on first start and kept in
//! the database, so that every node of a deployment signs with the same key and phones'
//! subscriptions (which name the public key) survive restarts and load balancing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use password_hash::rand_core::{OsRng, RngCore};
use web_push::{PartialVapidSignatureBuilder, VapidSignatureBuilder, WebPushError};

use super::store;
use crate::store::{Database, StoreError};

/// The name the private key is stored under in `server_keys`.
pub const KEY_NAME: &str = "vapid_private";

/// The server's signing key, ready to sign.
#[derive(Clone)]
pub struct Vapid {
    signer: PartialVapidSignatureBuilder,
    public_key: String,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("Vapid").field("public_key", &self.public_key).finish()
    }
}

/// Why the VAPID key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum VapidError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored key is not a P-256 private key.
    #[error("the stored VAPID key is not a P-256 private key: {0}")]
    Corrupt(String),
}

impl Vapid {
    /// The key from its private scalar, 32 bytes in base64url.
    pub fn from_private(encoded: &str) -> Result<Vapid, WebPushError> {
        let signer = VapidSignatureBuilder::from_base64_no_sub(encoded)?;
        let public_key = URL_SAFE_NO_PAD.encode(signer.get_public_key());
        Ok(Vapid { signer, public_key })
    }

    /// A new private key, 32 bytes in base64url: random bytes, drawn again in the
    /// (2^-32) case that they are not a valid P-256 scalar.
    pub fn generate() -> String {
        loop {
            let mut scalar = [0u8; 32];
            OsRng.fill_bytes(&mut scalar);
            let encoded = URL_SAFE_NO_PAD.encode(scalar);
            if VapidSignatureBuilder::from_base64_no_sub(&encoded).is_ok() {
                return encoded;
            }
        }
    }

    /// The deployment's key: the stored one, or a new one stored now (when two nodes
    /// start at once, both end up with the one stored first).
    pub fn load_or_create(db: &Database) -> Result<Vapid, VapidError> {
        let encoded = db.write(|c| store::ensure_server_key(c, KEY_NAME, Vapid::generate))?;
        Vapid::from_private(&encoded).map_err(|e| VapidError::Corrupt(e.to_string()))
    }

    /// The public key as phones pass it to `PushManager.subscribe` (its
    /// `applicationServerKey`): the uncompressed point (65 bytes) in base64url.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// A signer for one subscription.
    pub fn signer(&self) -> PartialVapidSignatureBuilder {
        self.signer.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_and_shows_an_uncompressed_point() {
        let private = Vapid::generate();
        assert_eq!(URL_SAFE_NO_PAD.decode(&private).unwrap().len(), 32);
        let vapid = Vapid::from_private(&private).unwrap();
        let public = URL_SAFE_NO_PAD.decode(vapid.public_key()).unwrap();
        assert_eq!(public.len(), 65);
        assert_eq!(public[0], 4);
        assert_ne!(Vapid::generate(), private);
        assert!(!format!("{vapid:?}").contains(&private));
        assert!(Vapid::from_private("not a key").is_err());
        assert!(Vapid::from_private(&URL_SAFE_NO_PAD.encode([0u8; 32])).is_err(), "zero is no scalar");
    }
}
