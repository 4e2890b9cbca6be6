//! Personal data sealed at rest: reporters' names, phone numbers and ID numbers, callers'
//! numbers, Open311 requesters' e-mails, workers' positions and the follow token kept in
//! an idempotency record are stored encrypted (AES-256-GCM) under a key from the
//! configuration, never in plain form.
//!
//! A sealed value is text: `sealed:v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`, with a
//! random 96-bit nonce per value and, as associated data, the column it belongs to (its
//! *label*, e.g. `incidents.contact_phone`) and the key id: a value copied into another
//! column, or relabelled with another key's id, does not open.
//!
//! Keys live in a key file ([`Keyring::read`]), one per line, `<key id> <base64 of 32
//! bytes>`; the last line is the current key, which seals every new value, and earlier
//! lines still open what they sealed (rotation: `gridlink seal new-key` appends a key,
//! `gridlink seal reseal` rewrites old values under it). The database remembers each key
//! id it has seen with a value sealed under it ([`store`]), so that a start-up with a
//! missing or wrong key stops with a clear error instead of running blind.

pub mod schema;
pub mod store;

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand_core::{OsRng, RngCore};

/// What every sealed value starts with (this version's form).
pub const PREFIX: &str = "sealed:v1:";

/// Bytes of a key.
const KEY_BYTES: usize = 32;
/// Bytes of a nonce.
const NONCE_BYTES: usize = 12;
/// The longest key id taken.
const MAX_ID_CHARS: usize = 32;

/// Why a key file or a sealed value was refused.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key file could not be read or written.
    #[error("the key file {0}: {1}")]
    Io(String, std::io::Error),
    /// A line of the key file is not `<key id> <base64 of 32 bytes>`.
    #[error("the key file {file}, line {line}: {why}")]
    BadKeyLine {
        /// The file.
        file: String,
        /// The line's number (from 1).
        line: usize,
        /// What is wrong with it.
        why: String,
    },
    /// The key file holds no key.
    #[error("the key file {0} holds no key")]
    Empty(String),
    /// A value is not in the sealed form.
    #[error("a value of {0} is not sealed")]
    NotSealed(String),
    /// A value was sealed under a key the key file does not hold.
    #[error("a value of {label} was sealed under key {id}, which the key file does not hold")]
    UnknownKey {
        /// The column.
        label: String,
        /// The key id.
        id: String,
    },
    /// A value does not open: a wrong key under the right id, another column's value, or
    /// a changed ciphertext.
    #[error("a value of {label} does not open under key {id} (wrong key, tampered, or moved from another column)")]
    DoesNotOpen {
        /// The column.
        label: String,
        /// The key id.
        id: String,
    },
    /// No key is configured where one is needed.
    #[error("no sealing key is configured")]
    NoKeys,
}

/// One key of a key file.
struct Key {
    id: String,
    cipher: Aes256Gcm,
}

/// The keys of a key file: the last one seals, every one opens what it sealed.
pub struct Keyring {
    keys: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys themselves.
        f.debug_struct("Keyring").field("ids", &self.ids().collect::<Vec<_>>()).finish()
    }
}

/// Whether `id` may name a key: 1–32 letters, digits, `-` or `_` (no `:`, which the
/// sealed form separates with).
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// The associated data a value is sealed with: its column and its key.
fn aad(label: &str, id: &str) -> Vec<u8> {
    format!("gridlink-seal-v1\u{0}{label}\u{0}{id}").into_bytes()
}

impl Keyring {
    /// Reads key-file text (`<key id> <base64 of 32 bytes>` a line; blank lines and
    /// lines starting with `#` are skipped); `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Keyring, SealError> {
        let mut keys: Vec<Key> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| SealError::BadKeyLine { file: file.to_owned(), line: n + 1, why: why.to_owned() };
            let mut parts = line.split_whitespace();
            let (Some(id), Some(material), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad("expected `<key id> <base64 of 32 bytes>`"));
            };
            if !valid_id(id) {
                return Err(bad("a key id is 1–32 letters, digits, - or _"));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(bad("this key id is already used above"));
            }
            let bytes = STANDARD.decode(material).map_err(|_| bad("the key is not base64"))?;
            if bytes.len() != KEY_BYTES {
                return Err(bad("a key is 32 bytes"));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| bad("a key is 32 bytes"))?;
            keys.push(Key { id: id.to_owned(), cipher });
        }
        if keys.is_empty() {
            return Err(SealError::Empty(file.to_owned()));
        }
        Ok(Keyring { keys })
    }

    /// Reads the key file at `path`.
    pub fn read(path: &Path) -> Result<Keyring, SealError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SealError::Io(name.clone(), e))?;
        Keyring::parse(&text, &name)
    }

    /// The id of the key that seals new values (the file's last).
    pub fn current_id(&self) -> &str {
        self.keys.last().map_or("", |k| k.id.as_str())
    }

    /// Every key id, oldest first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// Whether the file holds key `id`.
    pub fn has(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// Seals `plain` for the column `label` under the current key.
    pub fn seal(&self, label: &str, plain: &str) -> String {
        // A keyring is never empty (`parse` refuses that).
        let key = &self.keys[self.keys.len() - 1];
        seal_with(key, label, plain)
    }

    /// Seals `plain` for `label` under key `id` (the start-up check's own value).
    fn seal_under(&self, id: &str, label: &str, plain: &str) -> Option<String> {
        self.keys.iter().find(|k| k.id == id).map(|key| seal_with(key, label, plain))
    }

    /// Opens a value of the column `label`.
    pub fn open(&self, label: &str, stored: &str) -> Result<String, SealError> {
        let rest = stored.strip_prefix(PREFIX).ok_or_else(|| SealError::NotSealed(label.to_owned()))?;
        let (id, body) = rest.split_once(':').ok_or_else(|| SealError::NotSealed(label.to_owned()))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey { label: label.to_owned(), id: id.to_owned() })?;
        let fail = || SealError::DoesNotOpen { label: label.to_owned(), id: id.to_owned() };
        let bytes = STANDARD.decode(body).map_err(|_| fail())?;
        if bytes.len() < NONCE_BYTES {
            return Err(fail());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plain = key
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad(label, id) })
            .map_err(|_| fail())?;
        String::from_utf8(plain).map_err(|_| fail())
    }

    /// Opens an optional value of `label`.
    pub fn open_opt(&self, label: &str, stored: Option<&str>) -> Result<Option<String>, SealError> {
        stored.map(|s| self.open(label, s)).transpose()
    }

    /// Seals an optional value for `label`.
    pub fn seal_opt(&self, label: &str, plain: Option<&str>) -> Option<String> {
        plain.map(|p| self.seal(label, p))
    }
}

fn seal_with(key: &Key, label: &str, plain: &str) -> String {
    let mut nonce = [0u8; NONCE_BYTES];
    OsRng.fill_bytes(&mut nonce);
    // Encryption fails only past 64 GiB of plaintext; these values are a few bytes.
    let ciphertext = key
        .cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain.as_bytes(), aad: &aad(label, &key.id) })
        .unwrap_or_default();
    let mut bytes = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&ciphertext);
    format!("{PREFIX}{}:{}", key.id, STANDARD.encode(bytes))
}

/// Whether `stored` is in the sealed form (whatever its key).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The key id a sealed value names.
pub fn key_id_of(stored: &str) -> Option<&str> {
    stored.strip_prefix(PREFIX)?.split_once(':').map(|(id, _)| id)
}

/// A fresh key's line: a random id and 32 random bytes.
pub fn new_key_line() -> (String, String) {
    let mut key = [0u8; KEY_BYTES];
    OsRng.fill_bytes(&mut key);
    let mut id = [0u8; 4];
    OsRng.fill_bytes(&mut id);
    let id = format!("k{}", id.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let line = format!("{id} {}\n", STANDARD.encode(key));
    (id, line)
}

/// Appends a fresh key to the key file at `path` (created readable by its owner only,
/// 0600, if missing): it becomes the current key. Its id.
pub fn append_new_key(path: &Path) -> Result<String, SealError> {
    let name = path.display().to_string();
    let io = |e| SealError::Io(name.clone(), e);
    // An existing file must still read as a key file, so that a typo'd path is not
    // "rotated" into a file of something else.
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(e)),
    };
    if let Some(text) = &existing
        && !text.trim().is_empty()
    {
        Keyring::parse(text, &name)?;
    }
    let (id, line) = new_key_line();
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    let needs_newline = existing.as_deref().is_some_and(|t| !t.is_empty() && !t.ends_with('\n'));
    if needs_newline {
        file.write_all(b"\n").map_err(io)?;
    }
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(id)
}

/// The key file of a SQLite database at `path` when none is configured: beside it,
/// `<path>.keys`.
pub fn default_key_file(sqlite_path: &str) -> PathBuf {
    PathBuf::from(format!("{sqlite_path}.keys"))
}

/// The labels (columns) personal data is sealed for.
pub mod label {
    /// A reporter's name.
    pub const CONTACT_NAME: &str = "incidents.contact_name";
    /// A reporter's (or a hotline caller's) phone number.
    pub const CONTACT_PHONE: &str = "incidents.contact_phone";
    /// A reporter's ID number (身份证号).
    pub const CONTACT_ID_NUMBER: &str = "incidents.contact_id_number";
    /// An Open311 requester's e-mail.
    pub const OPEN311_EMAIL: &str = "open311_requests.email";
    /// A report's first answer, follow token and all, kept for its Idempotency-Key.
    pub const IDEMPOTENCY_RESULT: &str = "idempotency.result";
    /// A worker's position (`[lon, lat]`).
    pub const WORKER_POSITION: &str = "worker_positions.place";
    /// The value a database keeps to recognise each key (see [`super::store`]).
    pub const KEY_CHECK: &str = "seal_keys.check_value";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(lines: &[&str]) -> Keyring {
        Keyring::parse(&lines.join("\n"), "test").unwrap()
    }

    fn line() -> String {
        new_key_line().1
    }

    #[test]
    fn a_value_round_trips_and_never_shows_in_its_sealed_form() {
        let keys = ring(&[&line()]);
        let sealed = keys.seal(label::CONTACT_PHONE, "13812345678");
        assert!(is_sealed(&sealed), "{sealed}");
        assert!(!sealed.contains("13812345678"));
        assert_eq!(key_id_of(&sealed), Some(keys.current_id()));
        assert_eq!(keys.open(label::CONTACT_PHONE, &sealed).unwrap(), "13812345678");
        let again = keys.seal(label::CONTACT_PHONE, "13812345678");
        assert_ne!(sealed, again, "a fresh nonce each time: equal values do not look equal");
        assert_eq!(keys.open(label::CONTACT_NAME, &keys.seal(label::CONTACT_NAME, "张三")).unwrap(), "张三");
        assert_eq!(keys.open(label::CONTACT_NAME, &keys.seal(label::CONTACT_NAME, "")).unwrap(), "");
    }

    #[test]
    fn a_wrong_key_under_the_same_id_does_not_open() {
        let a = line();
        let id = a.split_whitespace().next().unwrap().to_owned();
        let other = format!("{id} {}", line().split_whitespace().nth(1).unwrap());
        let sealed = ring(&[&a]).seal(label::CONTACT_PHONE, "13812345678");
        let err = ring(&[&other]).open(label::CONTACT_PHONE, &sealed).unwrap_err();
        assert!(matches!(err, SealError::DoesNotOpen { .. }), "{err}");
        let err = ring(&[&line()]).open(label::CONTACT_PHONE, &sealed).unwrap_err();
        assert!(matches!(err, SealError::UnknownKey { .. }), "{err}");
    }

    #[test]
    fn a_tampered_value_does_not_open() {
        let keys = ring(&[&line()]);
        let sealed = keys.seal(label::CONTACT_PHONE, "13812345678");
        let (head, body) = sealed.rsplit_once(':').unwrap();
        let mut bytes = STANDARD.decode(body).unwrap();
        for i in [0, NONCE_BYTES, bytes.len() - 1] {
            bytes[i] ^= 1;
            let tampered = format!("{head}:{}", STANDARD.encode(&bytes));
            assert!(matches!(keys.open(label::CONTACT_PHONE, &tampered), Err(SealError::DoesNotOpen { .. })), "{i}");
            bytes[i] ^= 1;
        }
        let truncated = format!("{head}:{}", STANDARD.encode(&bytes[..5]));
        assert!(keys.open(label::CONTACT_PHONE, &truncated).is_err());
        assert!(matches!(keys.open(label::CONTACT_PHONE, "13812345678"), Err(SealError::NotSealed(_))));
    }

    #[test]
    fn a_value_moved_to_another_column_or_key_id_does_not_open() {
        let (a, b) = (line(), line());
        let keys = ring(&[&a, &b]);
        let sealed = keys.seal(label::CONTACT_PHONE, "13812345678");
        assert!(matches!(keys.open(label::CONTACT_NAME, &sealed), Err(SealError::DoesNotOpen { .. })));
        // Relabelled with the other key's id (whose key is also at hand): still refused.
        let a_id = a.split_whitespace().next().unwrap();
        let relabelled = sealed.replacen(keys.current_id(), a_id, 1);
        assert!(matches!(keys.open(label::CONTACT_PHONE, &relabelled), Err(SealError::DoesNotOpen { .. })));
    }

    #[test]
    fn the_last_key_seals_and_every_key_opens_what_it_sealed() {
        let (a, b) = (line(), line());
        let old = ring(&[&a]).seal(label::CONTACT_PHONE, "old");
        let rotated = ring(&[&a, &b]);
        assert_eq!(rotated.open(label::CONTACT_PHONE, &old).unwrap(), "old");
        let new = rotated.seal(label::CONTACT_PHONE, "new");
        assert_eq!(key_id_of(&new), Some(b.split_whitespace().next().unwrap()));
        assert_eq!(rotated.current_id(), b.split_whitespace().next().unwrap());
    }

    #[test]
    fn key_files_are_checked() {
        for bad in ["", "# only a comment", "k1", "k1 notbase64!", "k1 AAAA", "k:1 AAAA", "k1 a b"] {
            assert!(Keyring::parse(bad, "t").is_err(), "{bad:?}");
        }
        let a = line();
        assert!(Keyring::parse(&format!("{a}{a}"), "t").is_err(), "a repeated id");
        assert!(Keyring::parse(&format!("# keys\n\n{a}"), "t").is_ok());
        let debug = format!("{:?}", ring(&[&a]));
        assert!(!debug.contains(a.split_whitespace().nth(1).unwrap()), "{debug}");
    }

    #[test]
    fn a_new_key_is_appended_to_a_file_only_its_owner_reads() {
        let dir = std::env::temp_dir().join(format!("gridlink-seal-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys");
        let first = append_new_key(&path).unwrap();
        let second = append_new_key(&path).unwrap();
        let keys = Keyring::read(&path).unwrap();
        assert_eq!(keys.ids().collect::<Vec<_>>(), [first.as_str(), second.as_str()]);
        assert_eq!(keys.current_id(), second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(dir.join("other"), "not a key file\n").unwrap();
        assert!(append_new_key(&dir.join("other")).is_err(), "a file of something else is left alone");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
