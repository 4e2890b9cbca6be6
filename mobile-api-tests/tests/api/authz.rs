//! The authorization matrix, generated from the one table of who may do what
//! (`gridlink::incidents::permissions`): every row of `ROUTE_RULES` (every route of
//! `openapi::ROUTES`, one row per case action and task operation) and of `SOCKET_RULES`
//! (every socket op), tried on a real server by every role, on a case (grid, area) inside
//! its area and on one outside it, and by no session at all. Each answer is classed — no
//! credentials (401), does not exist for them (404), forbidden (403), or let through (any
//! other answer: 2xx, or a refusal of the state such as 409 or 422) — and held against
//! the class the table gives: `permissions::answer`, `sees` and `files_at` over the case
//! as stored at that moment, and the row's door. Every mismatch is collected and the
//! test fails once, listing them all.
//!
//! The area: the township, community and grid roles and the grid's worker are those of
//! grid A; the cases, tasks and grids of B lie outside them. The demo has one county in
//! one city, so the city and county centres, the hotline (county-wide) and the
//! administrator (everything) have no "outside": B is inside for them too, and the table
//! says so. A department sees only what it was sent: it is sent an assisting task of case
//! A and nothing of case B.

use std::time::Instant;

use gridlink::auth::Role;
use gridlink::incidents::permissions::{self, Answer, Door, Facts, RouteRule, SOCKET_RULES};
use gridlink::incidents::scope::Viewer;
use gridlink::incidents::workflow::Case;
use gridlink::openapi::ROUTES;
use gridlink::store::Database;
use mobile_api_tests::push_service::PushService;
use mobile_api_tests::{Backend, TestServer, demo_point};
use serde_json::{Value, json};
use sync_protocol::{Location, Op, OpKind, ServerMessage};
use uuid::Uuid;

use crate::support::{WAIT, connect_fresh, ok};

/// What a door answered, as the table speaks of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// 401: no credentials, or not the ones the door takes (a session, a key).
    NoCredentials,
    /// 404: it does not exist for them.
    NotFound,
    /// 403: they see it, but their role may not.
    Forbidden,
    /// Anything else: the door let them through (what they asked may still be refused by
    /// the state of things: 409, 422 …).
    Passed,
}

/// The class of an HTTP answer.
fn class_of(status: u16, body: &Value) -> Class {
    match status {
        401 => Class::NoCredentials,
        404 => Class::NotFound,
        403 if matches!(body["type"].as_str(), Some("forbidden" | "not-your-task")) => Class::Forbidden,
        // Open311 answers a missing or unknown API key 403 in the standard's array.
        403 if body["type"] == "invalid-api-key" || body[0]["code"] == 403 => Class::NoCredentials,
        _ => Class::Passed,
    }
}

/// The class of a mutation's result.
fn class_of_result(ok: bool, code: Option<&str>) -> Class {
    match (ok, code) {
        (true, _) => Class::Passed,
        (false, Some("forbidden" | "not-your-task")) => Class::Forbidden,
        (false, Some("not-found")) => Class::NotFound,
        (false, Some("unauthenticated")) => Class::NoCredentials,
        _ => Class::Passed,
    }
}

/// One side of the matrix: a grid and what lies in it.
struct Place {
    /// "inside" or "outside" (of the area roles' area).
    name: &'static str,
    lon: f64,
    lat: f64,
    grid: String,
    community: String,
    /// A case reported, taken in and sent to the grid's worker (who took it), with a
    /// department assisting inside only.
    case: String,
    /// Its lead task.
    task: String,
    /// Its follow token.
    follow: String,
    /// The photo it was reported with.
    photo: String,
    /// Another case of the same category in the grid, to merge into.
    other: String,
}

/// A caller of the matrix: a role's session, or nobody.
struct Caller {
    label: String,
    /// A push subscription of its own (an endpoint is one browser's).
    subscription: Value,
    token: Option<String>,
    viewer: Option<Viewer>,
}

/// What the fixture made that is not a place's.
struct Shared {
    victim: String,
    key_id: String,
    spare_sensor: String,
    sensor: String,
    sensor_key: String,
    open311_id: String,
}

/// The department sent an assisting task inside (not the case's category's own).
const DEPT: &str = "cgj";
/// The category of every case.
const CATEGORY: &str = "C0101";

fn viewer_of(db: &Database, login: &str) -> Viewer {
    let user = db.read(|c| gridlink::auth::user_by_login(c, login)).unwrap().unwrap();
    Viewer::of(&user).unwrap()
}

/// What the table says of `door` for `caller` on `place`: the case as stored now.
fn expected(db: &Database, door: Door, caller: &Caller, place: &Place) -> Class {
    let Some(viewer) = &caller.viewer else {
        return match door {
            Door::Public => Class::Passed,
            Door::FollowToken => Class::NotFound,
            _ => Class::NoCredentials,
        };
    };
    let row = db.read(|c| gridlink::incidents::store::incident(c, &place.case)).unwrap().unwrap();
    let case: Case = serde_json::from_str(&row.state).unwrap();
    let queue = row.queue();
    let facts = Facts {
        grid: &row.grid_code,
        queue: queue.as_deref(),
        level: row.level,
        case: &case,
        reporter: row.reporter_id.as_deref(),
    };
    let area = |code: &str| geodata::AreaCode::parse(code).unwrap();
    match door {
        Door::Public => Class::Passed,
        // A session is not a key, nor a follow token.
        Door::Open311Key | Door::SensorKey => Class::NoCredentials,
        Door::FollowToken => Class::NotFound,
        Door::Session => Class::Passed,
        Door::Roles(roles) if roles.contains(&viewer.role) => Class::Passed,
        Door::Roles(_) => Class::Forbidden,
        Door::DeskArea(roles) if roles.contains(&viewer.role) && viewer.covers(&area(&place.community)) => {
            Class::Passed
        }
        Door::DeskArea(_) => Class::Forbidden,
        Door::SeesCase if permissions::sees(viewer, &facts) => Class::Passed,
        Door::SeesCase => Class::NotFound,
        Door::SeesGrid(_) if !viewer.covers(&area(&place.grid)) => Class::NotFound,
        Door::SeesGrid(roles) if roles.contains(&viewer.role) => Class::Passed,
        Door::SeesGrid(_) => Class::Forbidden,
        Door::Case(action) => match permissions::answer(viewer, action, &facts, Uuid::parse_str(&place.task).ok()) {
            Answer::NotFound => Class::NotFound,
            Answer::Forbidden(_) => Class::Forbidden,
            Answer::Allowed => Class::Passed,
        },
        Door::Finding if viewer.role == Role::GridWorker && permissions::files_at(viewer, &place.grid) => Class::Passed,
        Door::Finding => Class::Forbidden,
    }
}

/// A request of the matrix.
struct Request {
    method: reqwest::Method,
    path: String,
    json: Option<Value>,
    form: Option<Vec<(String, String)>>,
    sensor_key: Option<String>,
}

impl Request {
    fn new(method: &str, path: String) -> Request {
        let method = method.to_uppercase().parse().unwrap();
        Request { method, path, json: None, form: None, sensor_key: None }
    }
    fn json(mut self, body: Value) -> Request {
        self.json = Some(body);
        self
    }
}

/// A later RFC 3339 time than any the tests' servers run at.
const LATER: &str = "2099-01-01T00:00:00Z";

/// The request of `rule` on `place`, minimal and well formed, naming `place`'s case, task,
/// grid or area; `holder` says whether the caller holds the door's key or token.
fn request_of(rule: &RouteRule, place: &Place, shared: &Shared, caller: &Caller, holder: bool) -> Option<Request> {
    let p = place;
    let (case, task, grid) = (&p.case, &p.task, &p.grid);
    let path = rule.path;
    let r = |path: String| Request::new(rule.method, path);
    let token = if holder { p.follow.clone() } else { "not-the-follow-token".to_owned() };
    let request = match (rule.method, path) {
        ("get", "/healthz" | "/api/v1/categories" | "/api/v1/push/key" | "/api/v1/me" | "/api/v1/tasks") => {
            r(path.into())
        }
        ("get", "/api/v1/locate") => r(format!("{path}?lon={}&lat={}", p.lon, p.lat)),
        ("get", "/api/v1/grids") => {
            r(format!("{path}?bbox={},{},{},{}", p.lon - 0.001, p.lat - 0.001, p.lon + 0.001, p.lat + 0.001))
        }
        ("get", "/api/v1/map") => r(format!("{path}?area={}", p.community)),
        ("get", "/api/v1/map/tiles/{z}/{x}/{y}") => r("/api/v1/map/tiles/0/0/0".into()),
        ("get", "/api/v1/map/cases") => r(format!("{path}?zoom=12&area={}", p.community)),
        ("get", "/api/v1/stats" | "/api/v1/stats/heat") => r(format!("{path}?area={}", p.community)),
        ("post", "/api/v1/auth/login") => r(path.into()).json(json!({"login": "hotline", "password": "demo"})),
        ("post", "/api/v1/auth/refresh") => r(path.into()).json(json!({"refresh_token": "no-such-token"})),
        // Logging out is sent with a session of its own (see `send`).
        ("post", "/api/v1/auth/logout") => r(path.into()),
        ("get", "/api/v1/users") => r(path.into()),
        ("post", "/api/v1/users") => {
            r(path.into()).json(json!({"login": "", "password": "", "role": "", "unit_code": ""}))
        }
        ("get", "/api/v1/users/{id}") => r(format!("/api/v1/users/{}", shared.victim)),
        ("post", "/api/v1/users/{id}/disable") => r(format!("/api/v1/users/{}/disable", shared.victim)),
        ("post", "/api/v1/users/{id}/enable") => r(format!("/api/v1/users/{}/enable", shared.victim)),
        ("post", "/api/v1/users/{id}/password") => {
            r(format!("/api/v1/users/{}/password", shared.victim)).json(json!({"password": "matrix-pass-0123"}))
        }
        ("delete", "/api/v1/users/{id}/devices/{device_id}") => {
            r(format!("/api/v1/users/{}/devices/victim-phone", shared.victim))
        }
        // No file: refused as such (400/415), past a door that is anyone's.
        ("post", "/api/v1/attachments") => r(path.into()),
        ("get", "/api/v1/attachments/{id}") => r(format!("/api/v1/attachments/{}", p.photo)),
        ("post", "/api/v1/reports") => r(path.into()).json(json!({
            "category": CATEGORY, "location": {"lon": p.lon, "lat": p.lat}, "description": "矩阵"
        })),
        ("get", "/api/v1/reports/{id}") => r(format!("/api/v1/reports/{case}?follow_token={token}")),
        ("post", "/api/v1/reports/{id}/rating") => {
            r(format!("/api/v1/reports/{case}/rating")).json(json!({"follow_token": token, "rating": "satisfied"}))
        }
        ("put", "/api/v1/reports/{id}/push") => {
            let mut body = caller.subscription.clone();
            body["follow_token"] = json!(token);
            r(format!("/api/v1/reports/{case}/push")).json(body)
        }
        ("delete", "/api/v1/reports/{id}/push") => r(format!("/api/v1/reports/{case}/push"))
            .json(json!({"follow_token": token, "endpoint": caller.subscription["endpoint"]})),
        ("get", "/api/v1/incidents") => r(format!("{path}?area={}", p.community)),
        ("get", "/api/v1/incidents/{id}") => r(format!("/api/v1/incidents/{case}")),
        ("get", "/api/v1/incidents/{id}/trace") => r(format!("/api/v1/incidents/{case}/trace")),
        ("post", "/api/v1/incidents/{id}/contact") => {
            r(format!("/api/v1/incidents/{case}/contact")).json(json!({"reason": "回访核对"}))
        }
        ("post", "/api/v1/incidents/{id}/actions") => {
            r(format!("/api/v1/incidents/{case}/actions")).json(action_body(rule.op?, p))
        }
        ("post", "/api/v1/tasks/{id}/actions") => r(format!("/api/v1/tasks/{task}/actions")).json(task_body(rule.op?)),
        ("get", "/api/v1/inbox" | "/api/v1/workers/positions") => r(path.into()),
        ("get", "/api/v1/incidents/{id}/suggestion") => r(format!("/api/v1/incidents/{case}/suggestion")),
        ("put" | "delete", "/api/v1/incidents/{id}/presence") => r(format!("/api/v1/incidents/{case}/presence")),
        ("get", "/api/v1/grids/{code}/roster") => r(format!("/api/v1/grids/{grid}/roster")),
        ("put", "/api/v1/grids/{code}/roster") => r(format!("/api/v1/grids/{grid}/roster")).json(json!({"shifts": []})),
        // The upgrade is refused or taken before any frame: a GET without it is enough.
        ("get", "/api/v1/sync") => r(path.into()),
        ("put", "/api/v1/push/subscription") => r(path.into()).json(caller.subscription.clone()),
        ("get" | "delete", "/api/v1/push/subscription") => r(format!("{path}?device_id=matrix-phone")),
        ("post", "/api/v1/push/test") => r(path.into()).json(json!({"wait": false})),
        ("get", "/api/v1/keys") => r(path.into()),
        ("post", "/api/v1/keys") => r(path.into()).json(json!({"name": "matrix"})),
        ("delete", "/api/v1/keys/{id}") => r(format!("/api/v1/keys/{}", shared.key_id)),
        ("get", "/open311/v2/discovery.{format}") => r("/open311/v2/discovery.json".into()),
        ("get", "/open311/v2/services.{format}") => r("/open311/v2/services.json".into()),
        ("get", "/open311/v2/services/{service_code}.{format}") => r(format!("/open311/v2/services/{CATEGORY}.json")),
        ("get", "/open311/v2/requests.{format}") => r("/open311/v2/requests.json".into()),
        ("post", "/open311/v2/requests.{format}") => {
            let mut request = r("/open311/v2/requests.json".into());
            let mut form = vec![
                ("service_code".to_owned(), CATEGORY.to_owned()),
                ("description".to_owned(), "矩阵".to_owned()),
                ("lat".to_owned(), p.lat.to_string()),
                ("long".to_owned(), p.lon.to_string()),
            ];
            if holder {
                form.push(("api_key".to_owned(), "demo-key".to_owned()));
            }
            request.form = Some(form);
            request
        }
        ("get", "/open311/v2/requests/{service_request_id}.{format}") => {
            r(format!("/open311/v2/requests/{}.json", shared.open311_id))
        }
        ("get", "/open311/v2/tokens/{token}.{format}") => r(format!("/open311/v2/tokens/{}.json", shared.open311_id)),
        ("get", "/api/v1/sensors") => r(path.into()),
        ("post", "/api/v1/sensors") => r(path.into()).json(json!({
            "name": "矩阵", "location": {"lon": p.lon, "lat": p.lat}, "category": CATEGORY
        })),
        ("delete", "/api/v1/sensors/{id}") => r(format!("/api/v1/sensors/{}", shared.spare_sensor)),
        ("post", "/api/v1/sensors/{id}/alarms") => {
            let mut request = r(format!("/api/v1/sensors/{}/alarms", shared.sensor))
                .json(json!({"alarm_id": format!("m-{}", Uuid::new_v4().simple()), "state": "raised"}));
            request.sensor_key = holder.then(|| shared.sensor_key.clone());
            request
        }
        _ => return None,
    };
    Some(request)
}

/// A minimal body of case action `name` on `place`'s case.
fn action_body(name: &str, p: &Place) -> Value {
    let task = &p.task;
    let to = json!({"grid": p.grid});
    match name {
        "accept" | "close" => json!({"action": name}),
        "reject" | "reopen" | "escalate" => json!({"action": name, "reason": "矩阵"}),
        "merge" => json!({"action": name, "into": p.other, "reason": "重复"}),
        "dispatch" | "request_verification" => json!({"action": name, "to": to}),
        "redispatch" => json!({"action": name, "task": task, "to": to}),
        "inform" => json!({"action": name, "units": [p.grid]}),
        "approve_extension" | "approve_park" | "resume_task" => json!({"action": name, "task": task}),
        "refuse_extension" | "refuse_park" => json!({"action": name, "task": task, "reason": "矩阵"}),
        "verify" => json!({"action": name, "passed": true}),
        "grade" => json!({"action": name, "severity": "IV", "reason": "矩阵"}),
        "flag" => json!({"action": name, "note": "矩阵"}),
        "rate" => json!({"action": name, "rating": "satisfied"}),
        other => json!({"action": other}),
    }
}

/// A minimal body of task operation `name`.
fn task_body(name: &str) -> Value {
    match name {
        "progress" => json!({"kind": name, "text": "矩阵"}),
        "complete_task" => json!({"kind": name, "result": "矩阵"}),
        "confirm_task" => json!({"kind": name, "exists": true}),
        "return_task" | "request_park" => json!({"kind": name, "reason": "矩阵"}),
        "request_extension" => json!({"kind": name, "until": LATER, "reason": "矩阵"}),
        "verify" => json!({"kind": name, "passed": true}),
        other => json!({"kind": other}),
    }
}

/// The socket op `name` on `place` (its task, its grid).
fn socket_op(name: &str, p: &Place) -> OpKind {
    let task_id = p.task.clone();
    let here = || Location { lon: p.lon, lat: p.lat, crs: None };
    match name {
        "accept_task" => OpKind::AcceptTask { task_id },
        "arrive" => OpKind::Arrive { task_id, location: None },
        "progress" => OpKind::Progress { task_id, text: "矩阵".into(), photos: vec![] },
        "complete_task" => OpKind::CompleteTask { task_id, result: "矩阵".into(), photos: vec![], location: None },
        "return_task" => OpKind::ReturnTask { task_id, reason: "矩阵".into() },
        "request_extension" => OpKind::RequestExtension { task_id, until: LATER.into(), reason: "矩阵".into() },
        "request_park" => OpKind::RequestPark { task_id, reason: "矩阵".into(), until: None },
        "resume_task" => OpKind::ResumeTask { task_id },
        "confirm_task" => OpKind::ConfirmTask { task_id, exists: true, photos: vec![] },
        "verify" => OpKind::Verify { task_id, passed: true, note: String::new(), photos: vec![] },
        "report_incident" => OpKind::ReportIncident {
            incident_id: Uuid::new_v4().to_string(),
            category: CATEGORY.into(),
            location: here(),
            description: "矩阵".into(),
            photos: vec![],
            severity: None,
            handled: None,
        },
        "location" => OpKind::Location { at: here(), accuracy_m: Some(5.0) },
        "off_duty" => OpKind::OffDuty,
        other => panic!("socket op {other} has a row in SOCKET_RULES but no op in this test: add one"),
    }
}

/// Sends `request` as `caller` (a session, or nothing); a logout has a session of its own.
async fn send(server: &TestServer, request: Request, token: Option<&str>) -> (u16, Value) {
    let mut builder = server.client.request(request.method, format!("{}{}", server.base, request.path));
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    if let Some(key) = request.sensor_key {
        builder = builder.header("x-sensor-key", key);
    }
    if let Some(body) = request.json {
        builder = builder.json(&body);
    }
    if let Some(form) = request.form {
        let body = serde_urlencoded::to_string(&form).unwrap();
        builder = builder.header("content-type", "application/x-www-form-urlencoded").body(body);
    }
    let response = builder.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Reports a case at `place`'s point with `photo`: its id and follow token.
async fn file(server: &TestServer, lon: f64, lat: f64, photos: &[&str]) -> (String, String) {
    let body = json!({"category": CATEGORY, "location": {"lon": lon, "lat": lat}, "description": "井盖缺失", "photos": photos});
    let (status, _, opened) = server.post("/api/v1/reports", &body).await.unwrap();
    assert_eq!(status, 201, "{opened}");
    (opened["id"].as_str().unwrap().to_owned(), opened["follow_token"].as_str().unwrap().to_owned())
}

/// Makes one side of the matrix in the grid of `demo_point(nth)`.
async fn place(server: &TestServer, name: &'static str, nth: usize, centre: &str, assist: bool) -> Place {
    let (lon, lat, grid) = demo_point(nth);
    // A JPEG as far as its signature goes, its own per place (photos are stored by hash).
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0];
    jpeg.extend_from_slice(format!("gridlink matrix photo {name}").as_bytes());
    let uploaded = server
        .client
        .post(format!("{}/api/v1/attachments", server.base))
        .header("content-type", "image/jpeg")
        .body(jpeg)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status().as_u16(), 201);
    let photo = uploaded.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let (case, follow) = file(server, lon, lat, &[&photo]).await;
    let (other, _) = file(server, lon, lat, &[]).await;
    ok("accept", crate::support::act(server, centre, &case, json!({"action": "accept"})).await);
    let mut dispatch = json!({"action": "dispatch", "to": {"grid": grid}});
    if assist {
        dispatch["assist"] = json!([{"department": DEPT}]);
    }
    let opened = ok("dispatch", crate::support::act(server, centre, &case, dispatch).await);
    let task = opened["tasks"].as_array().unwrap().iter().find(|t| t["role"] == "lead").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let worker = server.login(&format!("worker-{grid}")).await.unwrap();
    ok("take", crate::support::task_op(server, &worker, &task, json!({"kind": "accept_task"})).await);
    Place { name, lon, lat, community: grid[..12].to_owned(), grid, case, task, follow, photo, other }
}

#[tokio::test]
async fn every_door_for_every_role_inside_and_outside_its_area() {
    let started = Instant::now();
    let push = PushService::start().await.unwrap();
    let allow = push.allow_entry();
    let server = TestServer::spawn_with(Backend::Sqlite, |s| {
        s.push.allow_hosts = vec![allow];
        s.limits.reports_burst = 10_000;
        s.limits.uploads_burst = 10_000;
        s.limits.open311_burst = 10_000;
        s.limits.sensor_alarms_burst = 10_000;
    })
    .await
    .unwrap()
    .unwrap();
    let db = Database::open(&server.database_url, 1).unwrap();
    let admin = server.login("admin").await.unwrap();
    let centre = server.login("centre").await.unwrap();

    // A: a grid; B: a grid of another township.
    let a = (0..200).find(|&n| !demo_point(n).2.is_empty()).unwrap();
    let b = (0..200).find(|&n| demo_point(n).2[..9] != demo_point(a).2[..9]).unwrap();
    let places = [place(&server, "inside", a, &centre, true).await, place(&server, "outside", b, &centre, false).await];
    let inside = &places[0];

    // What the administrator's and the key doors' rows name.
    let victim = json!({"login": "matrix-victim", "password": "matrix-pass-0123", "display_name": "矩阵",
        "role": "grid_worker", "unit_code": inside.grid});
    let (status, victim) = server.post_as(&admin, "/api/v1/users", &victim).await.unwrap();
    assert_eq!(status, 201, "{victim}");
    let (status, key) = server.post_as(&admin, "/api/v1/keys", &json!({"name": "matrix"})).await.unwrap();
    assert_eq!(status, 201, "{key}");
    let sensor =
        |name: &str| json!({"name": name, "location": {"lon": inside.lon, "lat": inside.lat}, "category": CATEGORY});
    let (status, spare) = server.post_as(&admin, "/api/v1/sensors", &sensor("spare")).await.unwrap();
    assert_eq!(status, 201, "{spare}");
    let (status, alarming) = server.post_as(&admin, "/api/v1/sensors", &sensor("alarming")).await.unwrap();
    assert_eq!(status, 201, "{alarming}");
    let form = [
        ("api_key", "demo-key".to_owned()),
        ("service_code", CATEGORY.to_owned()),
        ("description", "矩阵".to_owned()),
        ("lat", inside.lat.to_string()),
        ("long", inside.lon.to_string()),
    ];
    let filed = server
        .client
        .post(format!("{}/open311/v2/requests.json", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await;
    let filed: Value = filed.unwrap().json().await.unwrap();
    let open311_id = filed[0]["service_request_id"].as_str().unwrap_or_else(|| panic!("{filed}")).to_owned();
    let shared = Shared {
        victim: victim["id"].as_str().unwrap().to_owned(),
        key_id: key["id"].as_str().unwrap().to_owned(),
        spare_sensor: spare["id"].as_str().unwrap().to_owned(),
        sensor: alarming["id"].as_str().unwrap().to_owned(),
        sensor_key: alarming["key"].as_str().unwrap().to_owned(),
        open311_id,
    };
    // The victim of the accounts' rows has a session on a device to cut off.
    let victim_login = json!({"login": "matrix-victim", "password": "matrix-pass-0123", "device_id": "victim-phone"});

    // Every role once, logged in once (the roles of an area are A's).
    let logins = [
        ("admin".to_owned(), Role::Administrator),
        ("city".to_owned(), Role::CityCentre),
        ("centre".to_owned(), Role::CountyCentre),
        (format!("township-{}", &inside.grid[..9]), Role::TownshipCentre),
        (format!("community-{}", inside.community), Role::CommunityStaff),
        (format!("dept-{DEPT}"), Role::DepartmentStaff),
        (format!("worker-{}", inside.grid), Role::GridWorker),
        ("hotline".to_owned(), Role::HotlineOperator),
    ];
    assert_eq!(logins.len(), Role::ALL.len(), "every role has its caller");
    let subscription = || push.subscribe().subscription("matrix-phone");
    let mut callers =
        vec![Caller { label: "no session".into(), subscription: subscription(), token: None, viewer: None }];
    for (login, role) in &logins {
        let viewer = viewer_of(&db, login);
        assert_eq!(viewer.role, *role, "{login}");
        let token = server.login(login).await.unwrap();
        let label = format!("{role} ({login})");
        callers.push(Caller { label, subscription: subscription(), token: Some(token), viewer: Some(viewer) });
    }

    let mut mismatches = Vec::new();
    let mut cells = 0;
    // The HTTP routes, in the order of ROUTES, each row of each.
    for route in ROUTES {
        let rows: Vec<&RouteRule> = permissions::route_rules(route.method, route.path).collect();
        assert!(!rows.is_empty(), "{} {} has no row in ROUTE_RULES", route.method, route.path);
        for rule in rows {
            let door = rule.door;
            let name =
                format!("{} {}{}", rule.method, rule.path, rule.op.map(|o| format!(" [{o}]")).unwrap_or_default());
            for place in &places {
                for caller in &callers {
                    let Some(request) = request_of(rule, place, &shared, caller, false) else {
                        panic!("{name}: no request in this test; add one to request_of")
                    };
                    let logout;
                    let token = if rule.path == "/api/v1/auth/logout" && caller.token.is_some() {
                        // A session of its own, so that the matrix keeps the caller's.
                        let login = logins.iter().find(|(_, r)| Some(*r) == caller.viewer.as_ref().map(|v| v.role));
                        logout = server.login(&login.unwrap().0).await.unwrap();
                        Some(logout.as_str())
                    } else {
                        caller.token.as_deref()
                    };
                    if rule.path.contains("/devices/") {
                        let (status, _, body) = server.post("/api/v1/auth/login", &victim_login).await.unwrap();
                        assert_eq!(status, 200, "{body}");
                    }
                    let want = expected(&db, door, caller, place);
                    let (status, body) = send(&server, request, token).await;
                    let got = class_of(status, &body);
                    cells += 1;
                    if got != want {
                        mismatches.push(format!(
                            "{name} — {} — {}: expected {want:?}, got {got:?} ({status} {})",
                            caller.label, place.name, body
                        ));
                    }
                }
                // The holder of the door's key or token is let through.
                if matches!(door, Door::FollowToken | Door::Open311Key | Door::SensorKey) {
                    let request = request_of(rule, place, &shared, &callers[0], true).unwrap();
                    let (status, body) = send(&server, request, None).await;
                    let got = class_of(status, &body);
                    cells += 1;
                    if got != Class::Passed {
                        mismatches.push(format!(
                            "{name} — its key's holder — {}: expected Passed, got {got:?} ({status} {body})",
                            place.name
                        ));
                    }
                }
            }
        }
    }

    // The socket: every op of SOCKET_RULES, by every role, on each place.
    for caller in callers.iter().filter(|c| c.token.is_some()) {
        let device = format!("matrix-{}", caller.viewer.as_ref().unwrap().role);
        let mut phone = sync_protocol::phone::Phone::new(server.ws_url(), caller.token.clone().unwrap(), device);
        connect_fresh(&mut phone).await;
        for (op, door) in SOCKET_RULES {
            for place in &places {
                let id = Uuid::new_v4().to_string();
                let want = expected(&db, *door, caller, place);
                let kind = socket_op(op, place);
                phone.mutate(id.clone(), Op { kind, occurred_at: None }).await.unwrap();
                let (ok, code) = loop {
                    match phone.recv(WAIT).await.unwrap() {
                        ServerMessage::MutationResult { id: answered, ok, code, .. } if answered == id => {
                            break (ok, code);
                        }
                        _ => continue,
                    }
                };
                let got = class_of_result(ok, code.as_deref());
                cells += 1;
                if got != want {
                    mismatches.push(format!(
                        "socket {op} — {} — {}: expected {want:?}, got {got:?} (ok {ok}, code {code:?})",
                        caller.label, place.name
                    ));
                }
            }
        }
        phone.disconnect().await;
    }

    let took = started.elapsed();
    eprintln!("authorization matrix: {cells} cells in {:.1} s, {} mismatches", took.as_secs_f64(), mismatches.len());
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells answer otherwise than the table says:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
