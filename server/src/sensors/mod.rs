//! Sensors and gateways (物联感知): a smart manhole cover, a water-level gauge, a smoke
//! detector that reports a problem at its own place by itself.
//!
//! An administrator registers a sensor (`gridlink sensors add`, `POST /api/v1/sensors`)
//! with a name, a place, the leaf category its alarms report and a key, shown once; only
//! the key's hash is kept. Its alarms arrive through two doors — `POST
//! /api/v1/sensors/{id}/alarms` ([`routes`]) and the MQTT topic
//! `gridlink/sensors/{id}/alarm` ([`mqtt`]) — and both hand them to one function,
//! [`Sensors::receive`], which commits each alarm in one transaction of the one write path:
//!
//! - a raised alarm while no case of the sensor is open opens one (source `sensor`, the
//!   sensor's category and place, a description from the reading) and records it as
//!   `alarm_raised`, naming the sensor; the routing rules then treat it as the hotline's
//!   filing: dispatched at once for a category marked `auto_dispatch`, else it waits in
//!   the township's queue as a resident's report does;
//! - a raised alarm while that case is open (not closed, rejected or merged) opens no
//!   other case: it is counted on it (`alarm_repeated`, with the count so far);
//! - a cleared alarm is noted on the open case (`alarm_cleared`), or, with none open,
//!   acknowledged and logged;
//! - an alarm sent again with the same `alarm_id` is applied once: the first answer is
//!   kept with its effect (the `idempotency` table, [`REMEMBERED_MS`]) and returned again.
//!
//! A sensor is not a person and holds no account: the door checks its key, and the
//! server records the alarm on its behalf (the table of who may do what counts the
//! command among the server's own steps, as a resident's rating through the follow link).
//! The trace names the sensor in each event's data.

pub mod mqtt;
pub mod routes;
pub mod schema;
pub mod store;

use std::sync::Arc;
use std::time::Instant;

use geodata::AreaCode;
use geodata::crs::Crs;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use self::store::SensorRow;
use crate::auth::{new_token, token_hash};
use crate::categories::CategoryTree;
use crate::clock::Clock;
use crate::error_kind::ErrorKind;
use crate::geo::Geo;
use crate::incidents::act::{ActError, Actor, Extra, NewCase, Tx, WritePath};
use crate::incidents::desk::Desk;
use crate::incidents::store as cases;
use crate::incidents::workflow::{Command, Event, Status};
use crate::problem::ApiError;
use crate::ratelimit::KeyedLimiter;
use crate::settings::LimitSettings;

/// What a case opened by a sensor has as its source.
pub const SOURCE: &str = "sensor";

/// How long an alarm's `alarm_id` is remembered: a gateway that buffered its alarms
/// through a week offline still sends each once.
pub const REMEMBERED_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// The longest name, unit and note taken, in characters.
const MAX_NAME_CHARS: usize = 100;
const MAX_UNIT_CHARS: usize = 16;
const MAX_NOTE_CHARS: usize = 500;
const MAX_ALARM_ID_CHARS: usize = 128;

/// A place as an administrator gives it: WGS-84, or GCJ-02/BD-09 named by `crs`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationIn {
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// `wgs84` (default), `gcj02` or `bd09`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crs: Option<String>,
}

/// A sensor to register.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterIn {
    /// Its name, as people know it (1–100 characters).
    pub name: String,
    /// Where it is.
    pub location: LocationIn,
    /// The leaf category its alarms report.
    pub category: String,
}

/// A sensor as the API shows it (never its key).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SensorView {
    /// Its id: the MQTT topic `gridlink/sensors/{id}/alarm` names it.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Where it is (WGS-84).
    pub location: LocationIn,
    /// The grid it lay in when registered.
    pub grid: String,
    /// The leaf category its alarms report.
    pub category: String,
    /// When registered.
    pub created_at: String,
    /// When revoked, if it was: its alarms are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The case its raised alarms are counted on while that case is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_incident_id: Option<String>,
}

impl SensorView {
    /// The view of a stored sensor.
    pub fn of(row: &SensorRow) -> SensorView {
        SensorView {
            id: row.id.clone(),
            name: row.name.clone(),
            location: LocationIn { lon: row.lon, lat: row.lat, crs: None },
            grid: row.grid_code.clone(),
            category: row.category_code.clone(),
            created_at: crate::clock::rfc3339(row.created_at_ms),
            revoked_at: row.revoked_at_ms.map(crate::clock::rfc3339),
            open_incident_id: row.open_incident_id.clone(),
        }
    }
}

/// A registered sensor and its key, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Registered {
    /// The sensor.
    #[serde(flatten)]
    pub sensor: SensorView,
    /// Its key: `Authorization: Bearer <key>` (or `X-Sensor-Key`) over HTTP, `"key"` in
    /// an MQTT payload. Only its hash is kept: it cannot be shown again.
    pub key: String,
}

/// A new sensor placed and checked, with its key: `known` says whether a category code is
/// a leaf of the tree in force. Not stored yet.
pub fn new_sensor(
    geo: &Geo,
    known: impl Fn(&str) -> bool,
    input: &RegisterIn,
    now_ms: i64,
) -> Result<(SensorRow, String), ApiError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::BadRequest(format!("a sensor's name is 1–{MAX_NAME_CHARS} characters")));
    }
    let category = input.category.trim();
    if !known(category) {
        return Err(ApiError::refused(
            ErrorKind::UnknownCategory,
            format!("no leaf category {category:?}; see GET /api/v1/categories"),
        ));
    }
    let crs = parse_crs(input.location.crs.as_deref())?;
    let (chain, (lon, lat)) = crate::incidents::report::place(geo, crs, input.location.lon, input.location.lat)?;
    let key = new_token();
    let row = SensorRow {
        id: Uuid::new_v4().to_string(),
        name: name.to_owned(),
        lon,
        lat,
        grid_code: chain[4].clone(),
        category_code: category.to_owned(),
        key_hash: token_hash(&key),
        created_at_ms: now_ms,
        revoked_at_ms: None,
        open_incident_id: None,
    };
    Ok((row, key))
}

/// A coordinate system by name (`wgs84` when none is named).
pub fn parse_crs(name: Option<&str>) -> Result<Crs, ApiError> {
    match name {
        None => Ok(Crs::Wgs84),
        Some(name) => name
            .parse::<Crs>()
            .map_err(|_| ApiError::InvalidCrs(format!("crs must be wgs84, gcj02 or bd09, not {name:?}"))),
    }
}

/// Whether an alarm is raised or cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    /// The sensor sees the problem.
    Raised,
    /// It no longer does.
    Cleared,
}

/// An alarm, as a sensor sends it over HTTP (over MQTT the same, with `"key"` beside).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlarmIn {
    /// The sensor's own id of this alarm (1–128 visible ASCII characters): sent again, it
    /// is applied once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_id: Option<String>,
    /// `raised` or `cleared`.
    pub state: AlarmState,
    /// The reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The reading's unit (at most 16 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// What the sensor says (at most 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When the sensor saw it (RFC 3339); kept in the trace beside the time the server
    /// heard of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
}

impl AlarmIn {
    /// The alarm with its texts trimmed (an empty one dropped), or why it is malformed.
    pub fn checked(self) -> Result<AlarmIn, String> {
        let clean = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let alarm = AlarmIn { unit: clean(self.unit), note: clean(self.note), ..self };
        if let Some(id) = &alarm.alarm_id
            && (id.is_empty() || id.len() > MAX_ALARM_ID_CHARS || !id.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(format!("alarm_id must be 1–{MAX_ALARM_ID_CHARS} visible ASCII characters"));
        }
        if alarm.unit.as_ref().is_some_and(|u| u.chars().count() > MAX_UNIT_CHARS) {
            return Err(format!("unit is at most {MAX_UNIT_CHARS} characters"));
        }
        if alarm.note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
            return Err(format!("note is at most {MAX_NOTE_CHARS} characters"));
        }
        if alarm.value.is_some_and(|v| !v.is_finite()) {
            return Err("value must be a finite number".into());
        }
        if let Some(at) = &alarm.occurred_at
            && crate::clock::parse_rfc3339(at).is_none()
        {
            return Err(format!("occurred_at {at:?} is not an RFC 3339 instant"));
        }
        Ok(alarm)
    }

    /// A hash of the alarm as parsed (whichever door it came through, with or without
    /// its `alarm_id`'s formatting): its second sending must be the same alarm.
    fn hash(&self) -> String {
        let canonical = json!({
            "state": self.state, "value": self.value, "unit": self.unit, "note": self.note,
            "occurred_at": self.occurred_at,
        });
        Sha256::digest(canonical.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The case's description when this alarm opens one.
    fn describe(&self, sensor: &SensorRow) -> String {
        let mut text = format!("物联感知告警：{}", sensor.name);
        if let Some(value) = self.value {
            text.push_str(&format!("，读数 {value}{}", self.unit.as_deref().unwrap_or_default()));
        }
        if let Some(note) = &self.note {
            text.push('，');
            text.push_str(note);
        }
        text
    }

    /// What the trace keeps of the alarm beside its event.
    fn trace(&self, sensor: &SensorRow) -> serde_json::Map<String, Value> {
        let mut data = serde_json::Map::new();
        data.insert("sensor_name".into(), json!(sensor.name));
        for (name, value) in [
            ("alarm_id", self.alarm_id.as_ref().map(|s| json!(s))),
            ("value", self.value.map(|v| json!(v))),
            ("unit", self.unit.as_ref().map(|s| json!(s))),
            ("note", self.note.as_ref().map(|s| json!(s))),
            ("occurred_at", self.occurred_at.as_ref().map(|s| json!(s))),
        ] {
            if let Some(value) = value {
                data.insert(name.into(), value);
            }
        }
        data
    }
}

/// What the sensor is answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlarmAnswer {
    /// The sensor's case the alarm went to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    /// Its human number (a raised alarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Its status (a raised alarm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// How many times the alarm repeated on the case, this one included (a raised alarm:
    /// 0 for the one that opened it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeated: Option<u32>,
    /// `true` for a cleared alarm: noted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noted: Option<bool>,
}

/// An alarm's result: the answer, and whether it opened a case (201 over HTTP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Received {
    /// Whether a case was opened.
    pub opened: bool,
    /// The answer.
    pub answer: AlarmAnswer,
}

/// Why an alarm's transaction did not commit: an error, or the same `alarm_id` was
/// applied by another transaction meanwhile (its result is read after the rollback).
enum Fail {
    Api(ApiError),
    Raced,
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Fail {
        Fail::Api(e)
    }
}
impl From<ActError> for Fail {
    fn from(e: ActError) -> Fail {
        Fail::Api(e.into())
    }
}
impl From<diesel::result::Error> for Fail {
    fn from(e: diesel::result::Error) -> Fail {
        Fail::Api(e.into())
    }
}
impl From<crate::store::StoreError> for Fail {
    fn from(e: crate::store::StoreError) -> Fail {
        Fail::Api(e.into())
    }
}

/// The codes of a grid's chain (city, county, township, community, grid), from its code.
fn chain_of(grid: &str) -> Option<[String; 5]> {
    let grid = AreaCode::parse(grid).ok()?;
    let community = grid.parent()?;
    let township = community.parent()?;
    let county = township.parent()?;
    let city = county.parent()?;
    Some([city, county, township, community, grid].map(|c| c.as_str().to_owned()))
}

/// Compares two hashes in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// What both doors of an alarm share: the write path, the grids, the clock and the
/// per-sensor allowance.
#[derive(Clone)]
pub struct Sensors {
    path: WritePath,
    geo: Geo,
    clock: Clock,
    allowance: Arc<KeyedLimiter<String>>,
}

impl std::fmt::Debug for Sensors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sensors").finish_non_exhaustive()
    }
}

impl Sensors {
    /// Alarms through `path`, placed by `geo`, timed by `clock`; each sensor sends at most
    /// `limits.sensor_alarms_burst` at once, then `limits.sensor_alarms_per_minute`.
    pub fn new(path: WritePath, geo: Geo, clock: Clock, limits: &LimitSettings) -> Sensors {
        let allowance =
            KeyedLimiter::every(u64::from(limits.sensor_alarms_per_minute), 60, u64::from(limits.sensor_alarms_burst));
        Sensors { path, geo, clock, allowance: Arc::new(allowance) }
    }

    /// The category tree in force.
    pub fn tree(&self) -> &CategoryTree {
        self.path.tree()
    }

    /// The grids.
    pub fn geo(&self) -> &Geo {
        &self.geo
    }

    /// The write path (and its database).
    pub fn path(&self) -> &WritePath {
        &self.path
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Takes sensor `id`'s alarm, proven by `key`, through the one write path in one
    /// transaction (see the module's description). Blocking: run it off the async workers.
    /// 404 for an unknown sensor, 401 without its key, 403 once revoked, 429 past its
    /// allowance, 422 for an `alarm_id` sent before with another alarm.
    pub fn receive(&self, id: &str, key: Option<&str>, alarm: AlarmIn) -> Result<Received, ApiError> {
        let alarm = alarm.checked().map_err(|why| ApiError::BadRequest(format!("the alarm is malformed: {why}")))?;
        let db = self.path.db();
        let lookup = id.to_owned();
        let sensor = db.read(|c| store::by_id(c, &lookup))?.ok_or_else(|| unknown(id))?;
        let Some(key) = key.map(str::trim).filter(|k| !k.is_empty()) else {
            return Err(ApiError::Unauthenticated(
                "a sensor's key is needed: `Authorization: Bearer <key>` or `X-Sensor-Key`".into(),
            ));
        };
        if !same(&token_hash(key), &sensor.key_hash) {
            return Err(ApiError::Unauthenticated(format!("that is not the key of sensor {id}")));
        }
        refuse_revoked(&sensor)?;
        self.allowance.take(&sensor.id, 1.0, Instant::now()).map_err(ApiError::RateLimited)?;
        let hash = alarm.hash();
        let scope = format!("sensor:{}", sensor.id);
        let now = self.clock.now_ms();
        let replay = |alarm_id: &str| -> Result<Option<Received>, ApiError> {
            let found = db.read(|c| cases::remembered(c, &scope, alarm_id, now - REMEMBERED_MS))?;
            found.map(|first| stored(&first, &hash)).transpose()
        };
        if let Some(alarm_id) = &alarm.alarm_id
            && let Some(first) = replay(alarm_id)?
        {
            return Ok(first);
        }
        let done = self.path.run(|tx| -> Result<Received, Fail> {
            // One alarm of a sensor at a time: the next finds the case this one opens.
            if !store::lock(tx.conn(), &sensor.id)? {
                return Err(unknown(id).into());
            }
            let sensor = store::by_id(tx.conn(), &sensor.id)?.ok_or_else(|| unknown(id))?;
            refuse_revoked(&sensor)?;
            if let Some(alarm_id) = &alarm.alarm_id
                && let Some(first) = cases::remembered(tx.conn(), &scope, alarm_id, now - REMEMBERED_MS)?
            {
                return Ok(stored(&first, &hash)?);
            }
            let received = self.apply(tx, &sensor, &alarm, now)?;
            if let Some(alarm_id) = &alarm.alarm_id {
                let result = serde_json::to_string(&received).map_err(ApiError::internal)?;
                if !cases::remember(tx.conn(), &scope, alarm_id, &hash, &result, now, now - REMEMBERED_MS)? {
                    return Err(Fail::Raced);
                }
            }
            Ok(received)
        });
        match done {
            Ok(received) => Ok(received),
            Err(Fail::Api(e)) => Err(e),
            Err(Fail::Raced) => match &alarm.alarm_id {
                Some(alarm_id) => replay(alarm_id)?.ok_or_else(|| ApiError::internal("a remembered alarm vanished")),
                None => Err(ApiError::internal("raced without an alarm_id")),
            },
        }
    }

    /// The alarm's effect, in the transaction `tx` that holds the sensor's lock.
    fn apply(&self, tx: &mut Tx<'_>, sensor: &SensorRow, alarm: &AlarmIn, now: i64) -> Result<Received, Fail> {
        let open = match &sensor.open_incident_id {
            Some(case) => {
                cases::incident(tx.conn(), case)?.filter(|row| !Status::final_names().contains(&&*row.status))
            }
            None => None,
        };
        let raised = alarm.state == AlarmState::Raised;
        let on = |tx: &mut Tx<'_>, case: &str| {
            let command = Command::SensorAlarm { sensor: sensor.id.clone(), raised };
            let extra = Extra { data: alarm.trace(sensor), ..Extra::default() };
            tx.act(case, &Actor::system(), now, |_, _| Ok::<_, ActError>((command, extra)))
        };
        let answer = |row: &cases::IncidentRow, repeated: u32| AlarmAnswer {
            incident_id: Some(row.id.clone()),
            code: Some(row.code.clone()),
            status: Some(row.status.clone()),
            repeated: Some(repeated),
            noted: None,
        };
        match (open, raised) {
            (Some(case), true) => {
                let outcome = on(tx, &case.id)?;
                let repeated = outcome
                    .events
                    .iter()
                    .find_map(|e| if let Event::AlarmRepeated { repeated, .. } = e { Some(*repeated) } else { None })
                    .unwrap_or_default();
                tracing::info!(sensor = %sensor.id, case = %case.id, repeated, "a sensor's alarm repeated");
                Ok(Received { opened: false, answer: answer(&outcome.row, repeated) })
            }
            (None, true) => {
                let row = self.open(tx, sensor, alarm, now)?;
                let row = on(tx, &row.id)?.row;
                store::set_open_incident(tx.conn(), &sensor.id, Some(&row.id))?;
                let desk = Desk { tree: self.path.tree(), geo: &self.geo, calendars: self.path.calendars() };
                // The rules may take it in and dispatch it at once (an `auto_dispatch` category).
                let row = crate::routing::dispatch::on_arrival(tx, &desk, &row, now)?.unwrap_or(row);
                tracing::info!(sensor = %sensor.id, case = %row.id, code = %row.code, "a sensor's alarm opened a case");
                Ok(Received { opened: true, answer: answer(&row, 0) })
            }
            (Some(case), false) => {
                let outcome = on(tx, &case.id)?;
                tracing::info!(sensor = %sensor.id, case = %case.id, "a sensor's alarm cleared");
                let noted =
                    AlarmAnswer { incident_id: Some(outcome.row.id), noted: Some(true), ..AlarmAnswer::empty() };
                Ok(Received { opened: false, answer: noted })
            }
            (None, false) => {
                tracing::info!(sensor = %sensor.id, "a sensor's alarm cleared with no case of it open");
                Ok(Received { opened: false, answer: AlarmAnswer { noted: Some(true), ..AlarmAnswer::empty() } })
            }
        }
    }

    /// Opens the sensor's case: its category and place, the alarm's reading as the
    /// description, reported by no person (source `sensor`).
    fn open(&self, tx: &mut Tx<'_>, sensor: &SensorRow, alarm: &AlarmIn, now: i64) -> Result<cases::IncidentRow, Fail> {
        let Some(category) = self.path.tree().category(&sensor.category_code) else {
            return Err(ApiError::refused(
                ErrorKind::UnknownCategory,
                format!(
                    "sensor {}'s category {} is not in the category tree any more; register it again",
                    sensor.id, sensor.category_code
                ),
            )
            .into());
        };
        // Placed by the grids in force (a new layer may have moved its grid); failing
        // that, in the grid it lay in when registered.
        let chain = match crate::incidents::report::place(&self.geo, Crs::Wgs84, sensor.lon, sensor.lat) {
            Ok((chain, _)) => chain,
            Err(_) => chain_of(&sensor.grid_code)
                .ok_or_else(|| ApiError::internal(format!("sensor {} has no grid", sensor.id)))?,
        };
        let new = NewCase {
            id: Uuid::new_v4().to_string(),
            category: sensor.category_code.clone(),
            level: i32::from(category.level),
            chain,
            lon: sensor.lon,
            lat: sensor.lat,
            description: alarm.describe(sensor),
            photos: Vec::new(),
            contact: None,
            source: SOURCE.to_owned(),
            // Nobody follows a sensor's case through the resident's page.
            follow_token_hash: token_hash(&new_token()),
            severity: None,
            claimed_severity: None,
        };
        Ok(tx.open(new, None, now)?)
    }
}

impl AlarmAnswer {
    fn empty() -> AlarmAnswer {
        AlarmAnswer { incident_id: None, code: None, status: None, repeated: None, noted: None }
    }
}

fn unknown(id: &str) -> ApiError {
    ApiError::NotFound(format!("no sensor {id}"))
}

fn refuse_revoked(sensor: &SensorRow) -> Result<(), ApiError> {
    match sensor.revoked_at_ms {
        Some(at) => Err(ApiError::Forbidden(format!(
            "sensor {} was revoked at {}: its alarms are refused",
            sensor.id,
            crate::clock::rfc3339(at)
        ))),
        None => Ok(()),
    }
}

/// A remembered result, if it was of the same alarm; 422 if the `alarm_id` came with
/// another alarm.
fn stored(first: &cases::Remembered, hash: &str) -> Result<Received, ApiError> {
    if first.body_hash != hash {
        return Err(ApiError::refused(
            ErrorKind::IdempotencyKeyReused,
            "this alarm_id was sent before with another alarm; give a new alarm a new alarm_id",
        ));
    }
    serde_json::from_str(&first.result).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn alarm(json: Value) -> Result<AlarmIn, String> {
        serde_json::from_value::<AlarmIn>(json).map_err(|e| e.to_string())?.checked()
    }

    #[test]
    fn an_alarm_is_checked_and_its_texts_trimmed() {
        let a =
            alarm(json!({"state": "raised", "value": 87.5, "unit": " ℃ ", "note": " ", "alarm_id": "a-1"})).unwrap();
        assert_eq!((a.unit.as_deref(), a.note.as_deref()), (Some("℃"), None));
        for bad in [
            json!({"state": "on"}),
            json!({"state": "raised", "alarm_id": ""}),
            json!({"state": "raised", "alarm_id": "a b"}),
            json!({"state": "raised", "unit": "x".repeat(17)}),
            json!({"state": "raised", "note": "x".repeat(501)}),
            json!({"state": "raised", "occurred_at": "yesterday"}),
            json!({"state": "raised", "key": "k"}),
            json!({"value": 1}),
        ] {
            assert!(alarm(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_same_alarm_hashes_the_same_whatever_its_id_and_another_does_not() {
        let one = alarm(json!({"state": "raised", "value": 3, "alarm_id": "x"})).unwrap();
        let again = alarm(json!({"alarm_id": "y", "value": 3.0, "state": "raised"})).unwrap();
        let other = alarm(json!({"state": "raised", "value": 4})).unwrap();
        assert_eq!(one.hash(), again.hash());
        assert_ne!(one.hash(), other.hash());
    }

    #[test]
    fn a_case_opened_by_an_alarm_says_what_the_sensor_read() {
        let sensor = SensorRow {
            id: "s".into(),
            name: "3号井盖".into(),
            lon: 0.0,
            lat: 0.0,
            grid_code: "321302001001001".into(),
            category_code: "C0101".into(),
            key_hash: String::new(),
            created_at_ms: 0,
            revoked_at_ms: None,
            open_incident_id: None,
        };
        let a = alarm(json!({"state": "raised", "value": 35, "unit": "°", "note": "倾斜"})).unwrap();
        assert_eq!(a.describe(&sensor), "物联感知告警：3号井盖，读数 35°，倾斜");
        let trace = a.trace(&sensor);
        assert_eq!(trace["sensor_name"], "3号井盖");
        assert_eq!(trace["value"], 35.0);
        assert!(!trace.contains_key("alarm_id"));
        assert_eq!(
            chain_of(&sensor.grid_code).unwrap(),
            ["321300", "321302", "321302001", "321302001001", "321302001001001"]
        );
        assert_eq!(chain_of("nonsense"), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
