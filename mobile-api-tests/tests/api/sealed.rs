//! Personal data sealed at rest, on SQLite and PostgreSQL, against real servers: reporters'
//! names, phones and ID numbers, a hotline caller's number, an Open311 requester's e-mail
//! and a worker's position never lie in the database in plain form (the SQLite file and
//! its WAL read as bytes; every PostgreSQL table dumped as text), nor does a follow token;
//! no answer carries them unmasked (case, list, inbox, follow view, Open311, a worker's
//! snapshot and socket); `POST /api/v1/incidents/{id}/contact` gives them whole to whom the
//! table allows, for a reason, each read in the audit log; and the keys are checked at
//! start and rotate.

use diesel::prelude::*;
use mobile_api_tests::{Backend, TestServer, demo_point, servers};
use serde_json::{Value, json};
use sync_protocol::{Location, Op, OpKind, ServerMessage};

use crate::support::{WAIT, act, case, ok};

const NAME: &str = "欧阳明月";
const PHONE: &str = "13987654321";
const ID_NUMBER: &str = "320102199001011234";
const CALLER: &str = "13711112222";
const OPEN311_PHONE: &str = "13655556666";
const EMAIL: &str = "mingyue@example.cn";

/// Every plain value no stored byte and no masked answer may hold.
const SECRETS: [&str; 6] = [NAME, PHONE, ID_NUMBER, CALLER, OPEN311_PHONE, EMAIL];

/// A report in the `nth` demo grid with a full contact.
fn report_with_contact(nth: usize, phone: &str) -> Value {
    let (lon, lat, _) = demo_point(nth);
    json!({
        "category": "C0101",
        "location": {"lon": lon, "lat": lat},
        "description": "井盖缺失",
        "contact": {"name": NAME, "phone": phone, "id_number": ID_NUMBER},
    })
}

/// Files a report as `token` (or anonymously) with an Idempotency-Key: the answer.
async fn file(server: &TestServer, token: Option<&str>, body: &Value, key: &str) -> Value {
    let mut request =
        server.client.post(format!("{}/api/v1/reports", server.base)).header("Idempotency-Key", key).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let opened: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{opened}");
    opened
}

/// What the database holds, as text to search: the SQLite file and its WAL as bytes, or
/// every row of every PostgreSQL table of the public schema as text.
fn stored(server: &TestServer) -> Vec<u8> {
    if let Some(path) = server.database_url.strip_prefix("sqlite://") {
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        assert!(bytes.len() > 100_000, "the file and its WAL were read");
        return bytes;
    }
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    let mut conn = diesel::PgConnection::establish(&server.database_url).unwrap();
    let tables: Vec<Row> = diesel::sql_query(
        "SELECT table_name::text AS t FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .load(&mut conn)
    .unwrap();
    assert!(tables.iter().any(|t| t.t == "incidents") && tables.iter().any(|t| t.t == "idempotency"));
    let mut text = String::new();
    for table in tables {
        let rows: Vec<Row> =
            diesel::sql_query(format!("SELECT t::text AS t FROM \"{}\" t", table.t)).load(&mut conn).unwrap();
        for row in rows {
            text.push_str(&row.t);
            text.push('\n');
        }
    }
    text.into_bytes()
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Fails if `text` (an answer) carries any plain value.
fn no_secret(step: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{step} carries {secret}: {text}");
    }
}

/// Every sealed column's values, from the database itself.
fn sealed_values(url: &str) -> Vec<String> {
    use gridlink::incidents::schema::{idempotency, incidents};
    use gridlink::open311::schema::open311_requests;
    use gridlink::sync::schema::worker_positions;
    let db = gridlink::store::Database::open(url, 1).unwrap();
    db.read(|c| {
        let mut all = Vec::new();
        let contacts: Vec<(Option<String>, Option<String>, Option<String>)> = incidents::table
            .select((incidents::contact_name, incidents::contact_phone, incidents::contact_id_number))
            .load(c)?;
        for (a, b, d) in contacts {
            all.extend([a, b, d].into_iter().flatten());
        }
        let emails: Vec<Option<String>> = open311_requests::table.select(open311_requests::email).load(c)?;
        all.extend(emails.into_iter().flatten());
        all.extend(
            idempotency::table
                .select(idempotency::result)
                .load::<String>(c)?
                .into_iter()
                .filter(|r| !r.starts_with('{')),
        );
        all.extend(worker_positions::table.select(worker_positions::place).load::<String>(c)?);
        Ok(all)
    })
    .unwrap()
}

#[tokio::test]
async fn personal_data_is_sealed_at_rest_and_masked_in_every_answer() {
    for server in servers().await {
        let centre = server.login("centre").await.unwrap();
        let (lon, lat, grid) = demo_point(12);

        // A resident's report with a full contact; a retry gets the same follow token.
        let body = report_with_contact(12, PHONE);
        let opened = file(&server, None, &body, "sealed-1").await;
        let again = file(&server, None, &body, "sealed-1").await;
        assert_eq!(opened, again, "a replay answers the first answer, token and all");
        let (id, token) = (opened["id"].as_str().unwrap().to_owned(), opened["follow_token"].as_str().unwrap());

        // A hotline call, with the caller's number, and an Open311 request with an e-mail.
        let hotline = server.login("hotline").await.unwrap();
        let call = json!({
            "category": "C0101", "location": {"lon": lon, "lat": lat}, "description": "来电",
            "contact": {"phone": CALLER},
        });
        let filed_call = file(&server, Some(&hotline), &call, "sealed-call").await;
        let form = [
            ("api_key", "demo-key".to_owned()),
            ("service_code", "C0101".to_owned()),
            ("lat", lat.to_string()),
            ("long", lon.to_string()),
            ("description", "路面问题".to_owned()),
            ("email", EMAIL.to_owned()),
            ("phone", OPEN311_PHONE.to_owned()),
            ("first_name", "明月".to_owned()),
        ];
        let response = server
            .client
            .post(format!("{}/open311/v2/requests.json", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let filed311: Value = response.json().await.unwrap();
        let request_id = filed311[0]["service_request_id"].as_str().unwrap().to_owned();

        // The case goes to the grid's worker, whose phone connects and sends its position.
        ok("accept", act(&server, &centre, &id, json!({"action": "accept"})).await);
        ok("dispatch", act(&server, &centre, &id, json!({"action": "dispatch", "to": {"grid": grid}})).await);
        let mut phone = server.phone(&format!("worker-{grid}"), "sealed-phone").await.unwrap();
        phone.connect().await.unwrap();
        let mut frames = String::new();
        loop {
            let message = phone.recv(WAIT).await.unwrap();
            frames.push_str(&serde_json::to_string(&message).unwrap());
            if matches!(message, ServerMessage::SnapshotEnd { .. }) {
                break;
            }
        }
        assert!(frames.contains(&id), "the worker's snapshot holds the case");
        let at = Location { lon: lon + 0.000_123, lat, crs: None };
        phone
            .mutate("where", Op { kind: OpKind::Location { at, accuracy_m: Some(5.0) }, occurred_at: None })
            .await
            .unwrap();
        phone.until(WAIT, |s| s.answers.get("where").is_some_and(|a| a.ok)).await.unwrap();
        // A change the socket carries live: the centre flags nothing, the worker takes the task.
        let task = case(&server, &centre, &id).await["tasks"][0]["id"].as_str().unwrap().to_owned();
        phone.mutate("take", Op { kind: OpKind::AcceptTask { task_id: task }, occurred_at: None }).await.unwrap();
        phone.until(WAIT, |s| s.answers.get("take").is_some_and(|a| a.ok)).await.unwrap();
        no_secret("the worker's socket and snapshot", &frames);
        no_secret("what the phone holds", &serde_json::to_string(&phone.state.held).unwrap());

        // Every answer that shows a contact shows it masked; the others show none.
        let seen = case(&server, &centre, &id).await;
        assert_eq!(
            seen["contact"],
            json!({"name": "欧***", "phone": "139****4321", "id_number": "3201**********1234"})
        );
        no_secret("the case", &seen.to_string());
        let call_seen = case(&server, &centre, filed_call["id"].as_str().unwrap()).await;
        assert_eq!(call_seen["contact"]["phone"], "137****2222", "{call_seen}");
        let open311_seen = case(&server, &centre, &request_id).await;
        assert_eq!(open311_seen["contact"]["phone"], "136****6666", "{open311_seen}");
        for path in ["/api/v1/incidents?limit=100", "/api/v1/inbox", &format!("/api/v1/incidents/{id}/suggestion")] {
            let (status, body) = server.get_as(&centre, path).await.unwrap();
            assert_eq!(status, 200, "{path}: {body}");
            no_secret(path, &body.to_string());
        }
        let (status, _, follow) = server.get(&format!("/api/v1/reports/{id}?follow_token={token}")).await.unwrap();
        assert_eq!(status, 200);
        no_secret("the follow view", &follow.to_string());
        assert!(!follow.to_string().contains("contact") && !follow.to_string().contains("3201"), "{follow}");
        for path in ["requests.json".to_owned(), format!("requests/{request_id}.json"), format!("requests/{id}.xml")] {
            let text = server.client.get(format!("{}/open311/v2/{path}", server.base)).send().await.unwrap();
            let text = text.text().await.unwrap();
            no_secret(&path, &text);
            assert!(!text.contains("3201**") && !text.contains("****"), "Open311 shows nothing personal: {text}");
        }
        let (_, positions) = server.get_as(&centre, "/api/v1/workers/positions").await.unwrap();
        let opened = positions["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["grid"] == grid.as_str() && (w["lon"].as_f64().unwrap() - (lon + 0.000_123)).abs() < 1e-9);
        assert!(opened, "positions open in memory: {positions}");

        // At rest: none of it in plain form, nor the follow token (the idempotency record
        // holds the answer sealed), nor the worker's position.
        let bytes = stored(&server);
        for secret in SECRETS.iter().copied().chain([token]) {
            assert!(!holds(&bytes, secret), "the database holds {secret} in plain form");
        }
        assert!(holds(&bytes, "sealed:v1:"), "the sealed values are there");
        let values = sealed_values(&server.database_url);
        assert!(values.len() >= 8, "{values:?}");
        assert!(values.iter().all(|v| v.starts_with("sealed:v1:")), "{values:?}");
        phone.disconnect().await;
    }
}

/// `POST /api/v1/incidents/{id}/contact` as `token` with `body`.
async fn read_contact(server: &TestServer, token: &str, id: &str, body: Value) -> (u16, Value) {
    server.post_as(token, &format!("/api/v1/incidents/{id}/contact"), &body).await.unwrap()
}

/// The `contact_read` entries of case `id` in the audit log: (actor, data).
fn contact_reads(url: &str, id: &str) -> Vec<(Option<String>, String)> {
    use gridlink::audit::schema::audit_log;
    let db = gridlink::store::Database::open(url, 1).unwrap();
    db.read(|c| {
        audit_log::table
            .filter(audit_log::incident_id.eq(id))
            .filter(audit_log::kind.eq("contact_read"))
            .order(audit_log::seq.asc())
            .select((audit_log::actor_id, audit_log::data))
            .load(c)
    })
    .unwrap()
}

#[tokio::test]
async fn a_contact_is_read_whole_only_with_a_reason_by_whom_the_table_allows_each_read_traced() {
    for server in servers().await {
        let (lon, lat, grid) = demo_point(21);
        let township_code = &grid[..9];
        let hotline = server.login("hotline").await.unwrap();
        let resident = file(&server, None, &report_with_contact(21, PHONE), "contact-1").await;
        let id = resident["id"].as_str().unwrap().to_owned();
        let call = json!({
            "category": "C0101", "location": {"lon": lon, "lat": lat}, "description": "来电",
            "contact": {"phone": CALLER},
        });
        let call_id = file(&server, Some(&hotline), &call, "contact-call").await["id"].as_str().unwrap().to_owned();
        let reason = json!({"reason": "回访核实情况"});
        let whole = json!({"name": NAME, "phone": PHONE, "id_number": ID_NUMBER});

        // The centres whose area holds the case read it whole, and each read is traced.
        for login in ["city", "centre", &format!("township-{township_code}")] {
            let token = server.login(login).await.unwrap();
            let (status, body) = read_contact(&server, &token, &id, reason.clone()).await;
            assert_eq!((status, &body), (200, &whole), "{login}");
        }
        let reads = contact_reads(&server.database_url, &id);
        assert_eq!(reads.len(), 3, "{reads:?}");
        for (actor, data) in &reads {
            assert!(actor.is_some());
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data, json!({"reason": "回访核实情况"}), "the reason, never the contact");
        }

        // The hotline operator reads the call they filed, not a resident's report.
        let (status, body) = read_contact(&server, &hotline, &call_id, reason.clone()).await;
        assert_eq!((status, &body), (200, &json!({"name": null, "phone": CALLER, "id_number": null})));
        let (status, body) = read_contact(&server, &hotline, &id, reason.clone()).await;
        assert_eq!((status, body["type"].as_str()), (403, Some("forbidden")), "{body}");

        // Others inside the area: 403; outside it: 404; no reason: 400; too long: 422.
        let community = server.login(&format!("community-{}", &grid[..12])).await.unwrap();
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        for token in [&community, &worker] {
            let (status, body) = read_contact(&server, token, &id, reason.clone()).await;
            assert_eq!((status, body["type"].as_str()), (403, Some("forbidden")), "{body}");
        }
        let (_, _, other) = (0..40).map(demo_point).find(|(_, _, g)| g[..9] != grid[..9]).unwrap();
        let elsewhere = server.login(&format!("township-{}", &other[..9])).await.unwrap();
        let (status, body) = read_contact(&server, &elsewhere, &id, reason.clone()).await;
        assert_eq!((status, body["type"].as_str()), (404, Some("not-found")), "{body}");
        let centre = server.login("centre").await.unwrap();
        for bad in [json!({}), json!({"reason": "  "}), json!({"reason": null})] {
            let (status, body) = read_contact(&server, &centre, &id, bad.clone()).await;
            assert_eq!((status, body["type"].as_str()), (400, Some("bad-request")), "{bad}: {body}");
        }
        let (status, body) = read_contact(&server, &centre, &id, json!({"reason": "理".repeat(501)})).await;
        assert_eq!((status, body["type"].as_str()), (422, Some("text-too-long")), "{body}");
        let (status, _) = read_contact(&server, "not-a-token", &id, reason.clone()).await;
        assert_eq!(status, 401);
        assert_eq!(contact_reads(&server.database_url, &id).len(), 3, "a refused read leaves no entry");
        assert_eq!(contact_reads(&server.database_url, &call_id).len(), 1);
        // The case view offers the step to those it is open to.
        let seen = case(&server, &centre, &id).await;
        assert!(seen["allowed_actions"].as_array().unwrap().iter().any(|a| a == "read_contact"), "{seen}");
        let seen = case(&server, &community, &id).await;
        assert!(!seen["allowed_actions"].as_array().unwrap().iter().any(|a| a == "read_contact"), "{seen}");
    }
}

/// The id of the first key of a key file.
fn first_key_id(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn the_keys_are_checked_at_start_and_rotate() {
    for server in servers().await {
        let file_a = server.seal_keys_file();
        let centre = server.login("centre").await.unwrap();
        let old =
            file(&server, None, &report_with_contact(5, PHONE), "rotate-1").await["id"].as_str().unwrap().to_owned();
        let dir = std::env::temp_dir().join(format!("gridlink-seal-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let id_a = first_key_id(&file_a);

        // The right id with another key: refused, naming the key.
        let wrong = dir.join("wrong.keys");
        let other = gridlink::seal::new_key_line().1;
        std::fs::write(&wrong, format!("{id_a} {}", other.split_whitespace().nth(1).unwrap())).unwrap();
        let err = server.try_start(|s| s.seal_keys = Some(wrong.clone())).await.unwrap_err().0;
        assert!(err.contains(&id_a) && err.contains("not the key"), "{err}");
        // A file without the database's key: refused, naming it.
        let lacking = dir.join("lacking.keys");
        gridlink::seal::append_new_key(&lacking).unwrap();
        let err = server.try_start(|s| s.seal_keys = Some(lacking.clone())).await.unwrap_err().0;
        assert!(err.contains(&id_a) && err.contains("does not hold"), "{err}");
        // The file named is not there: refused, naming the key it needs.
        let err = server.try_start(|s| s.seal_keys = Some(dir.join("none.keys"))).await.unwrap_err().0;
        assert!(err.contains("is missing") && err.contains(&id_a), "{err}");
        if server.database_url.starts_with("postgres") {
            let err = server.try_start(|s| s.seal_keys = None).await.unwrap_err().0;
            assert!(err.contains("PostgreSQL") && err.contains("gridlink seal new-key"), "{err}");
        } else {
            // The file beside a SQLite database that has used it, gone: refused, not remade.
            let kept = dir.join("kept.keys");
            std::fs::rename(&file_a, &kept).unwrap();
            let err = server.try_start(|_| {}).await.unwrap_err().0;
            assert!(err.contains("is missing") && err.contains(&id_a), "{err}");
            assert!(!file_a.exists(), "no new key is made for a database that has used one");
            std::fs::rename(&kept, &file_a).unwrap();
        }

        // Rotation: key B appended; old rows still open, new ones are sealed under B.
        let id_b = gridlink::seal::append_new_key(&file_a).unwrap();
        let server = server.restart_with(|_| {}).await.unwrap();
        let centre = {
            let _ = centre;
            server.login("centre").await.unwrap()
        };
        let (status, body) = read_contact(&server, &centre, &old, json!({"reason": "轮换后核对"})).await;
        assert_eq!((status, body["phone"].as_str()), (200, Some(PHONE)), "{body}");
        let new =
            file(&server, None, &report_with_contact(6, PHONE), "rotate-2").await["id"].as_str().unwrap().to_owned();
        let values = sealed_values(&server.database_url);
        assert!(values.iter().any(|v| v.starts_with(&format!("sealed:v1:{id_a}:"))), "old rows stay under A");
        let case_new = case(&server, &centre, &new).await;
        assert_eq!(case_new["contact"]["phone"], "139****4321");
        let (phone_new,): (Option<String>,) = {
            use gridlink::incidents::schema::incidents;
            let db = gridlink::store::Database::open(&server.database_url, 1).unwrap();
            db.read(|c| incidents::table.filter(incidents::id.eq(&new)).select((incidents::contact_phone,)).first(c))
                .unwrap()
        };
        assert!(phone_new.unwrap().starts_with(&format!("sealed:v1:{id_b}:")), "new rows under B");

        // `gridlink seal reseal` (its library half): everything under B, still open.
        let db = gridlink::store::Database::open(&server.database_url, 2).unwrap();
        let now = gridlink::clock::now_ms();
        let resealed = gridlink::seal::store::reseal(&db, &server.database_url, &file_a, now).unwrap();
        assert!(resealed >= 3, "{resealed}");
        let values = sealed_values(&server.database_url);
        assert!(values.iter().all(|v| v.starts_with(&format!("sealed:v1:{id_b}:"))), "{values:?}");
        let (status, body) = read_contact(&server, &centre, &old, json!({"reason": "重封后核对"})).await;
        assert_eq!((status, body["id_number"].as_str()), (200, Some(ID_NUMBER)), "{body}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test]
async fn without_a_key_a_new_database_does_not_start() {
    // Named but absent: no key is made up, and no plaintext fallback; it says how to make one.
    let absent = std::env::temp_dir().join(format!("gridlink-absent-{}.keys", uuid::Uuid::new_v4().simple()));
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let started = TestServer::spawn_with(backend, |s| s.seal_keys = Some(absent.clone())).await;
        let err = started.err().map(|e| e.0).unwrap_or_default();
        if backend == Backend::Postgres && err.contains("skipping") {
            continue;
        }
        assert!(err.contains("does not exist") && err.contains("gridlink seal new-key"), "{backend:?}: {err}");
    }
    assert!(!absent.exists());
}

#[tokio::test]
async fn a_position_is_kept_only_while_on_duty() {
    for server in servers().await {
        let (lon, lat, grid) = demo_point(8);
        let mut phone = server.phone(&format!("worker-{grid}"), "duty-phone").await.unwrap();
        crate::support::connect_fresh(&mut phone).await;
        let at = Location { lon, lat, crs: None };
        phone.mutate("on", Op { kind: OpKind::Location { at, accuracy_m: None }, occurred_at: None }).await.unwrap();
        phone.until(WAIT, |s| s.answers.get("on").is_some_and(|a| a.ok)).await.unwrap();
        let centre = server.login("centre").await.unwrap();
        let on_map = |body: &Value| body["workers"].as_array().unwrap().iter().any(|w| w["grid"] == grid.as_str());
        let (_, seen) = server.get_as(&centre, "/api/v1/workers/positions").await.unwrap();
        assert!(on_map(&seen), "{seen}");
        phone.mutate("off", Op { kind: OpKind::OffDuty, occurred_at: None }).await.unwrap();
        phone.until(WAIT, |s| s.answers.get("off").is_some_and(|a| a.ok)).await.unwrap();
        let (_, seen) = server.get_as(&centre, "/api/v1/workers/positions").await.unwrap();
        assert!(!on_map(&seen), "off duty, the position is gone: {seen}");
        let db = gridlink::store::Database::open(&server.database_url, 1).unwrap();
        let count = |db: &gridlink::store::Database| {
            use gridlink::sync::schema::worker_positions;
            db.read(|c| worker_positions::table.count().get_result::<i64>(c)).unwrap()
        };
        assert_eq!(count(&db), 0);
        // Back on duty, then past the time to live: the sweep forgets it.
        let at = Location { lon, lat, crs: None };
        phone.mutate("again", Op { kind: OpKind::Location { at, accuracy_m: None }, occurred_at: None }).await.unwrap();
        phone.until(WAIT, |s| s.answers.get("again").is_some_and(|a| a.ok)).await.unwrap();
        assert_eq!(count(&db), 1);
        let now = gridlink::clock::now_ms();
        assert_eq!(db.write(|c| gridlink::sync::store::expire_positions(c, now - 7 * 86_400_000)).unwrap(), 0);
        assert_eq!(db.write(|c| gridlink::sync::store::expire_positions(c, now + 1)).unwrap(), 1);
        assert_eq!(count(&db), 0);
        phone.disconnect().await;
    }
}
