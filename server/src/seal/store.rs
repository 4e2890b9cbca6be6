//! The keys at start-up, and sealed values in bulk: which key file a database uses, the
//! check that it holds every key the database has used and that each is the right one,
//! and the rewriting of values (plain ones left by an older version, or old keys' after
//! a rotation) under the current key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use diesel::prelude::*;

use super::schema::seal_keys;
use super::{Keyring, SealError, append_new_key, default_key_file, is_sealed, key_id_of, label};
use crate::incidents::schema::{idempotency, incidents};
use crate::open311::schema::open311_requests;
use crate::store::{Database, DbConnection, StoreError};
use crate::sync::schema::worker_positions;

/// What a key's check value holds: it opens to this under the right key only.
const CHECK_PLAIN: &str = "gridlink seal check";

/// Why the server does not start with these keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key file is configured, and none is made for this database.
    #[error(
        "no sealing key is configured for this database ({why}): personal data is stored encrypted, never in \
         plain form. Make a key file with `gridlink seal new-key --keys FILE` and name it with --seal-keys FILE, \
         GRIDLINK_SEAL_KEYS or `seal_keys` in the settings file"
    )]
    NoKey {
        /// Why none was found or made.
        why: String,
    },
    /// The database has sealed data but its key file is gone.
    #[error(
        "the key file {file} is missing, but this database holds data sealed under key(s) {ids}: restore the file \
         (from its backup) or name it with --seal-keys FILE. A new key cannot open what the old ones sealed"
    )]
    Missing {
        /// The file looked for.
        file: String,
        /// The key ids the database has used.
        ids: String,
    },
    /// The key file could not be read.
    #[error("{0}")]
    KeyFile(#[from] SealError),
    /// The database has used a key the file does not hold.
    #[error(
        "this database has used key {id}, which the key file {file} does not hold: add its line back (keys are \
         only ever appended)"
    )]
    Lacks {
        /// The key id.
        id: String,
        /// The key file.
        file: String,
    },
    /// A key of the file is not the one the database used under its id.
    #[error("key {id} in the key file {file} is not the key this database used under that id: it opens nothing")]
    Wrong {
        /// The key id.
        id: String,
        /// The key file.
        file: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for KeyError {
    fn from(e: diesel::result::Error) -> KeyError {
        KeyError::Store(e.into())
    }
}

/// A sealing failure as a storage error, for work inside a transaction: nothing is
/// written unsealed, the transaction rolls back.
pub fn failed(e: SealError) -> diesel::result::Error {
    diesel::result::Error::SerializationError(Box::new(e))
}

/// The key ids this database has seen, with their check values.
pub fn remembered(conn: &mut DbConnection) -> QueryResult<Vec<(String, String)>> {
    seal_keys::table.select((seal_keys::id, seal_keys::check_value)).order(seal_keys::added_at_ms.asc()).load(conn)
}

/// Whether any personal data in the database is sealed (a database that once had keys).
fn holds_sealed(conn: &mut DbConnection) -> QueryResult<bool> {
    let like = format!("{}%", super::PREFIX);
    let found: Option<String> = incidents::table
        .filter(
            incidents::contact_name
                .like(&like)
                .or(incidents::contact_phone.like(&like))
                .or(incidents::contact_id_number.like(&like)),
        )
        .select(incidents::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// Where the keys of the database `url` are: the configured file, else beside a SQLite
/// file; a PostgreSQL database must be told.
pub fn key_file(url: &str, configured: Option<&Path>) -> Result<(PathBuf, bool), KeyError> {
    if let Some(path) = configured {
        return Ok((path.to_owned(), false));
    }
    match crate::store::Target::parse(url)? {
        crate::store::Target::Sqlite(path) => Ok((default_key_file(&path), true)),
        crate::store::Target::Postgres(_) => {
            Err(KeyError::NoKey { why: "a PostgreSQL database needs its key file named".into() })
        }
    }
}

/// The keys of `db` at start-up. The key file is the configured one or, for SQLite,
/// `<database>.keys` beside the database, made (0600, one fresh key) only for a database
/// that has never seen a key nor holds sealed data. Every key id the database has used
/// must be in the file with the right key; keys new to the database are remembered (and
/// traced as `key_added`), and values an older version stored in plain form are sealed.
pub fn load(db: &Database, url: &str, configured: Option<&Path>, now_ms: i64) -> Result<Arc<Keyring>, KeyError> {
    let (path, beside) = key_file(url, configured)?;
    let file = path.display().to_string();
    let known = db.read(remembered)?;
    if !path.exists() {
        if !known.is_empty() {
            let ids = known.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>().join(", ");
            return Err(KeyError::Missing { file, ids });
        }
        if !beside {
            return Err(KeyError::NoKey { why: format!("the key file {file} does not exist") });
        }
        if db.read(holds_sealed)? {
            return Err(KeyError::Missing { file, ids: "(unknown)".into() });
        }
        let id = append_new_key(&path)?;
        tracing::info!(file = %file, key = %id, "a new database: its sealing key made beside it (keep a backup)");
    }
    let keys = Keyring::read(&path)?;
    for (id, check) in &known {
        if !keys.has(id) {
            return Err(KeyError::Lacks { id: id.clone(), file });
        }
        if keys.open(label::KEY_CHECK, check).ok().as_deref() != Some(CHECK_PLAIN) {
            return Err(KeyError::Wrong { id: id.clone(), file });
        }
    }
    let fresh: Vec<String> = keys.ids().filter(|id| !known.iter().any(|(k, _)| k == id)).map(str::to_owned).collect();
    let sealed = db.write(|c| {
        for id in &fresh {
            let check = keys.seal_under(id, label::KEY_CHECK, CHECK_PLAIN).unwrap_or_default();
            diesel::insert_into(seal_keys::table)
                .values((seal_keys::id.eq(id), seal_keys::check_value.eq(check), seal_keys::added_at_ms.eq(now_ms)))
                .execute(c)?;
            crate::audit::record(
                c,
                &crate::audit::Entry {
                    at_ms: now_ms,
                    kind: "key_added",
                    actor_id: None,
                    actor_role: None,
                    device_id: None,
                    incident_id: None,
                    subject: Some(id),
                    data: serde_json::json!({"purpose": "seal"}),
                },
            )?;
        }
        rewrite(c, &keys, Rewrite::Plain)
    })?;
    for id in &fresh {
        tracing::info!(key = %id, "sealing key remembered by the database");
    }
    if sealed > 0 {
        tracing::info!(sealed, "personal data an older version stored in plain form is sealed now");
    }
    tracing::info!(file = %file, current = %keys.current_id(), keys = keys.ids().count(), "sealing keys loaded");
    Ok(Arc::new(keys))
}

/// Which stored values [`rewrite`] seals again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewrite {
    /// Only values in plain form (left by an older version).
    Plain,
    /// Every value not sealed under the current key (after a rotation), and plain ones.
    NotCurrent,
}

impl Rewrite {
    fn wants(self, keys: &Keyring, stored: &str) -> bool {
        match self {
            Rewrite::Plain => !is_sealed(stored),
            Rewrite::NotCurrent => key_id_of(stored) != Some(keys.current_id()),
        }
    }
}

/// `stored` sealed under the current key, if `which` wants it rewritten.
fn again(keys: &Keyring, which: Rewrite, label: &str, stored: Option<&str>) -> QueryResult<Option<String>> {
    let Some(stored) = stored.filter(|s| which.wants(keys, s)) else { return Ok(None) };
    let plain = if is_sealed(stored) { keys.open(label, stored).map_err(failed)? } else { stored.to_owned() };
    Ok(Some(keys.seal(label, &plain)))
}

/// Seals again, under the current key, every value of every sealed column that `which`
/// wants; how many values. Call it in one transaction.
pub fn rewrite(conn: &mut DbConnection, keys: &Keyring, which: Rewrite) -> QueryResult<usize> {
    let mut count = 0;
    let like = format!("{}%", super::PREFIX);
    let mut cases = incidents::table
        .filter(
            incidents::contact_name
                .is_not_null()
                .or(incidents::contact_phone.is_not_null())
                .or(incidents::contact_id_number.is_not_null()),
        )
        .into_boxed();
    if which == Rewrite::Plain {
        cases = cases.filter(
            incidents::contact_name
                .not_like(&like)
                .or(incidents::contact_phone.not_like(&like))
                .or(incidents::contact_id_number.not_like(&like)),
        );
    }
    type Contact = (String, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Contact> = cases
        .select((incidents::id, incidents::contact_name, incidents::contact_phone, incidents::contact_id_number))
        .load(conn)?;
    for (id, name, phone, number) in rows {
        let name2 = again(keys, which, label::CONTACT_NAME, name.as_deref())?;
        let phone2 = again(keys, which, label::CONTACT_PHONE, phone.as_deref())?;
        let number2 = again(keys, which, label::CONTACT_ID_NUMBER, number.as_deref())?;
        let changed = [&name2, &phone2, &number2].iter().filter(|v| v.is_some()).count();
        if changed == 0 {
            continue;
        }
        diesel::update(incidents::table.filter(incidents::id.eq(&id)))
            .set((
                incidents::contact_name.eq(name2.or(name)),
                incidents::contact_phone.eq(phone2.or(phone)),
                incidents::contact_id_number.eq(number2.or(number)),
            ))
            .execute(conn)?;
        count += changed;
    }
    let emails: Vec<(String, Option<String>)> = open311_requests::table
        .filter(open311_requests::email.is_not_null())
        .select((open311_requests::incident_id, open311_requests::email))
        .load(conn)?;
    for (id, email) in emails {
        if let Some(sealed) = again(keys, which, label::OPEN311_EMAIL, email.as_deref())? {
            diesel::update(open311_requests::table.filter(open311_requests::incident_id.eq(&id)))
                .set(open311_requests::email.eq(sealed))
                .execute(conn)?;
            count += 1;
        }
    }
    // Only reports' answers carry a follow token; other scopes' results hold nothing personal.
    let answers: Vec<(String, String, String)> = idempotency::table
        .filter(idempotency::result.like(&like).or(idempotency::result.like("%\"follow_token\"%")))
        .select((idempotency::scope, idempotency::key, idempotency::result))
        .load(conn)?;
    for (scope, key, result) in answers {
        if let Some(sealed) = again(keys, which, label::IDEMPOTENCY_RESULT, Some(&result))? {
            diesel::update(idempotency::table.filter(idempotency::scope.eq(&scope)).filter(idempotency::key.eq(&key)))
                .set(idempotency::result.eq(sealed))
                .execute(conn)?;
            count += 1;
        }
    }
    let places: Vec<(String, String)> =
        worker_positions::table.select((worker_positions::user_id, worker_positions::place)).load(conn)?;
    for (user, place) in places {
        if let Some(sealed) = again(keys, which, label::WORKER_POSITION, Some(&place))? {
            diesel::update(worker_positions::table.filter(worker_positions::user_id.eq(&user)))
                .set(worker_positions::place.eq(sealed))
                .execute(conn)?;
            count += 1;
        }
    }
    Ok(count)
}

/// `gridlink seal reseal`: every value rewritten under the current key of `keys` (the
/// database's keys checked first, as at start-up); how many values.
pub fn reseal(db: &Database, url: &str, keys: &Path, now_ms: i64) -> Result<usize, KeyError> {
    let keys = load(db, url, Some(keys), now_ms)?;
    Ok(db.write(|c| rewrite(c, &keys, Rewrite::NotCurrent))?)
}
