//! Hostile inputs against every public route (issue 18): ONE list of hostile inputs
//! ([`hostile_inputs`]) is put in every place a request has — each path parameter, each
//! query parameter the route declares, the body — of every route in
//! `gridlink::openapi::ROUTES` (so a new route is covered the day it is added), sent with
//! no token, a staff member's and a grid worker's, on SQLite and on PostgreSQL; then as
//! frames over the real sync socket, and as bytes no HTTP client would send. Each gets a
//! 4xx (never a 5xx, never a hang: every request has a deadline), the server still
//! answers `/healthz` after, and nothing changed: every table's rows and a digest of
//! their contents are the same before and after.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::Duration;

use diesel::{Connection, QueryableByName, RunQueryDsl};
use gridlink::settings::LimitSettings;
use mobile_api_tests::{TestServer, servers_with};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sync_protocol::ServerMessage;
use sync_protocol::phone::{Phone, PhoneError};

use crate::support::{connect_fresh, login_on, report_and_dispatch};

/// How long any one answer may take before the test calls it a hang.
const DEADLINE: Duration = Duration::from_secs(30);

/// The sizes of the largest inputs.
const TEN_MIB: usize = 10 * 1024 * 1024;
const DEPTH: usize = 10_000;

/// One hostile input, in each form it can take.
struct Hostile {
    /// What it is, for the failure message.
    name: &'static str,
    /// As a path segment or query value, percent-encoded as sent.
    url: Option<String>,
    /// As a JSON value (its raw bytes), put in every field of a body (see [`spray`]).
    json: Option<Vec<u8>>,
    /// A whole body of its own, with its content type.
    body: Option<(&'static str, Vec<u8>)>,
    /// Whether it is a number a numeric parameter could take as it is (`-0`): for the
    /// rest, a route with a numeric query parameter must refuse it.
    numeric_ok: bool,
    /// Whether it is well-formed text (SQL-ish, control characters): a route taking free
    /// text (a reason, a note) may take it as text — what must hold is that nothing reads
    /// it as SQL: no table is lost, no row goes.
    text: bool,
}

impl Hostile {
    fn value(name: &'static str, url: &str, json: &[u8]) -> Hostile {
        Hostile {
            name,
            url: Some(url.to_owned()),
            json: Some(json.to_vec()),
            body: None,
            numeric_ok: false,
            text: false,
        }
    }

    fn body(name: &'static str, content_type: &'static str, bytes: Vec<u8>) -> Hostile {
        Hostile { name, url: None, json: None, body: Some((content_type, bytes)), numeric_ok: false, text: false }
    }
}

/// Percent-encodes every byte but unreserved ASCII.
fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// THE list: every hostile input the test sends, in every place it can go.
fn hostile_inputs() -> Vec<Hostile> {
    let long_digits = "9".repeat(400);
    let sql_or = "' OR 1=1 --";
    let sql_drop = "\"; DROP TABLE incidents; --";
    let deep_array = format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH)).into_bytes();
    let deep_object = format!("{}1{}", "{\"a\":".repeat(DEPTH), "}".repeat(DEPTH)).into_bytes();
    let mut ten_mib = b"{\"description\":\"".to_vec();
    ten_mib.resize(TEN_MIB, b'a');
    ten_mib.extend_from_slice(b"\"}");
    let multipart = b"--x\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\nC0101\r\n--x--\r\n".to_vec();
    let xml = b"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><r><category>&e;</category></r>";
    vec![
        Hostile::value("1e309", "1e309", b"1e309"),
        Hostile::value("2^64", "18446744073709551616", b"18446744073709551616"),
        Hostile { numeric_ok: true, ..Hostile::value("-0", "-0", b"-0") },
        Hostile::value("400 digits", &long_digits, long_digits.as_bytes()),
        Hostile::value("NaN", "NaN", b"NaN"),
        Hostile::value("Infinity", "Infinity", b"Infinity"),
        Hostile::value("-Infinity", "-Infinity", b"-Infinity"),
        Hostile {
            text: true,
            ..Hostile::value(
                "SQL: ' OR 1=1 --",
                &encode(sql_or.as_bytes()),
                serde_json::json!(sql_or).to_string().as_bytes(),
            )
        },
        Hostile {
            text: true,
            ..Hostile::value(
                "SQL: DROP TABLE",
                &encode(sql_drop.as_bytes()),
                serde_json::json!(sql_drop).to_string().as_bytes(),
            )
        },
        Hostile::value("invalid UTF-8", &encode(b"\xff\xfe\xc3\x28"), b"\"\xff\xfe\xc3\x28\""),
        Hostile { text: true, ..Hostile::value("NUL and newline", &encode(b"a\0b\nc"), b"\"a\\u0000b\\nc\"") },
        Hostile { json: None, ..Hostile::value("deep JSON in a value", &encode(&deep_array[..2000]), b"") },
        Hostile::body("JSON 10 000 arrays deep", "application/json", deep_array.clone()),
        Hostile::body("JSON 10 000 objects deep", "application/json", deep_object),
        Hostile::body(
            "truncated JSON",
            "application/json",
            br#"{"category": "C0101", "location": {"lon": 118."#.to_vec(),
        ),
        Hostile::body("invalid UTF-8 body", "application/json", b"{\"description\": \"\xff\xfe\xc3\x28\"}".to_vec()),
        Hostile::body("a 10 MiB body", "application/json", ten_mib),
        Hostile::body("text/plain", "text/plain", sql_or.as_bytes().to_vec()),
        Hostile::body("multipart to a JSON route", "multipart/form-data; boundary=x", multipart),
        Hostile::body("XML to a JSON route", "application/xml", xml.to_vec()),
        Hostile::body("a NaN body", "application/json", b"NaN".to_vec()),
    ]
}

/// The fields the API's bodies have, each given the hostile value: whatever route gets
/// it, every field it reads is hostile (so no such body is valid anywhere).
const FIELDS: &[&str] = &[
    "action",
    "kind",
    "login",
    "password",
    "refresh_token",
    "device_id",
    "category",
    "description",
    "photos",
    "note",
    "reason",
    "result",
    "follow_token",
    "rating",
    "satisfied",
    "endpoint",
    "name",
    "shifts",
    "workers",
    "level",
    "passed",
    "exists",
    "until",
    "incident_id",
    "id",
    "op",
    "into",
    "confirm",
    "grid",
    "phone",
    "value",
    "raised",
    "at",
    "label",
    "new_password",
    "role",
    "area",
];

/// A JSON object with every field of [`FIELDS`] (and a location and nested objects) set to `value`.
fn spray(value: &[u8]) -> Vec<u8> {
    let v = String::from_utf8_lossy(value);
    // Spliced as bytes so that invalid UTF-8 and non-JSON numbers stay as they are.
    let mut out = b"{".to_vec();
    for field in FIELDS {
        out.extend_from_slice(format!("\"{field}\": ").as_bytes());
        out.extend_from_slice(value);
        out.extend_from_slice(b", ");
    }
    let _ = v;
    out.extend_from_slice(b"\"location\": {\"lon\": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b", \"lat\": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b", \"crs\": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"}, \"to\": {\"grid\": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"}, \"contact\": {\"name\": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b", \"phone\": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"}, \"keys\": {\"p256dh\": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b", \"auth\": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"}}");
    out
}

/// The same as a form (Open311's bodies).
fn spray_form(url_value: &str) -> Vec<u8> {
    ["api_key", "service_code", "lat", "long", "description", "email", "phone", "media_url", "attribute[x]"]
        .iter()
        .map(|field| format!("{}={url_value}", encode(field.as_bytes())))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// What the OpenAPI document says a route reads: its query parameters (name, whether
/// numeric) and its body's content type.
struct Reads {
    query: Vec<(String, bool)>,
    body: Option<String>,
}

fn reads(doc: &Value, method: &str, path: &str) -> Reads {
    let op = &doc["paths"][path][method];
    let query = op["parameters"]
        .as_array()
        .map(|params| {
            params
                .iter()
                .filter(|p| p["in"] == "query")
                .map(|p| {
                    let schema = &p["schema"];
                    let numeric = ["number", "integer"].iter().any(|t| {
                        schema["type"] == *t || schema["type"].as_array().is_some_and(|ts| ts.iter().any(|x| x == *t))
                    });
                    (p["name"].as_str().unwrap_or_default().to_owned(), numeric)
                })
                .collect()
        })
        .unwrap_or_default();
    let body = op["requestBody"]["content"].as_object().and_then(|c| c.keys().next().cloned());
    Reads { query, body }
}

/// The ids a sane path is filled with, so that a request gets past "no such thing" to
/// the parsing of what it carries.
struct Known {
    case: String,
    task: String,
    grid: String,
}

/// `path` with every `{param}` filled: by `hostile` when given, else by a sane value.
fn fill(path: &str, hostile: Option<&str>, known: &Known) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let name = &rest[open + 1..close];
        let sane = match name {
            "id" if path.starts_with("/api/v1/tasks/") => known.task.clone(),
            "id" if path.starts_with("/api/v1/attachments/") => format!("sha256:{}", "0".repeat(64)),
            "id" | "service_request_id" | "token" => known.case.clone(),
            "code" => known.grid.clone(),
            "format" => "json".to_owned(),
            "service_code" => "C0101".to_owned(),
            "z" => "14".to_owned(),
            "x" => "13600".to_owned(),
            "y" => "6500".to_owned(),
            _ => "x".to_owned(),
        };
        out.push_str(hostile.unwrap_or(&sane));
        rest = &rest[(close + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// One request and what came of it: the status, or why there was none.
async fn send(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path_and_query: &str,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> Result<(u16, String), String> {
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|e| e.to_string())?;
    let mut request = client.request(method, format!("{base}{path_and_query}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some((content_type, bytes)) = body {
        request = request.header(reqwest::header::CONTENT_TYPE, content_type).body(bytes);
    }
    let response = request.send().await.map_err(|e| format!("no answer: {e}"))?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    Ok((status, text.chars().take(300).collect()))
}

/// Every table's row count and a digest of its rows (sorted, so that the order rows
/// come in does not count).
fn snapshot(url: &str) -> BTreeMap<String, (usize, String)> {
    #[derive(QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    let digest = |mut rows: Vec<String>| {
        rows.sort();
        let mut hash = Sha256::new();
        for row in &rows {
            hash.update(row.as_bytes());
            hash.update(b"\n");
        }
        (rows.len(), format!("{:x}", hash.finalize()))
    };
    let mut tables = BTreeMap::new();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut c = diesel::SqliteConnection::establish(path).unwrap();
        let names: Vec<Text> =
            diesel::sql_query("SELECT name AS t FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .load(&mut c)
                .unwrap();
        for Text { t: table } in names {
            let columns: Vec<Text> =
                diesel::sql_query(format!("SELECT name AS t FROM pragma_table_info('{table}')")).load(&mut c).unwrap();
            let row = columns.iter().map(|col| format!("quote(\"{}\")", col.t)).collect::<Vec<_>>().join(" || '|' || ");
            let rows: Vec<Text> =
                diesel::sql_query(format!("SELECT {row} AS t FROM \"{table}\"")).load(&mut c).unwrap();
            tables.insert(table, digest(rows.into_iter().map(|r| r.t).collect()));
        }
    } else {
        let mut c = diesel::PgConnection::establish(url).unwrap();
        let names: Vec<Text> =
            diesel::sql_query("SELECT tablename::text AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
                .load(&mut c)
                .unwrap();
        for Text { t: table } in names {
            let rows: Vec<Text> =
                diesel::sql_query(format!("SELECT r::text AS t FROM \"{table}\" r")).load(&mut c).unwrap();
            tables.insert(table, digest(rows.into_iter().map(|r| r.t).collect()));
        }
    }
    tables
}

/// What differs between two snapshots, table by table.
fn changed(before: &BTreeMap<String, (usize, String)>, after: &BTreeMap<String, (usize, String)>) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|t| before.get(*t) != after.get(*t))
        .map(|t| format!("{t}: {:?} → {:?}", before.get(t).map(|b| b.0), after.get(t).map(|a| a.0)))
        .collect()
}

/// Sends raw bytes as a request (what no HTTP client sends: invalid UTF-8 in the request
/// line itself); the status line of the answer, or why there was none.
fn raw(base: &str, request: &[u8]) -> Result<String, String> {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(DEADLINE)).map_err(|e| e.to_string())?;
    stream.write_all(request).map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) => return Err(format!("no answer: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// Limits far above what the test sends, so that every hostile input reaches the parsing
/// of the route rather than a rate limit.
fn generous(limits: &mut LimitSettings) {
    let many = 1_000_000;
    *limits = LimitSettings {
        reports_burst: many,
        reports_per_hour: many,
        uploads_burst: many,
        uploads_per_minute: many,
        upload_mib_per_day: many,
        login_failures: many,
        login_failures_per_address: many,
        password_checks_waiting: many,
        open311_burst: many,
        open311_per_hour: many,
        sensor_alarms_burst: many,
        sensor_alarms_per_minute: many,
        ..LimitSettings::default()
    };
}

/// The status of `GET /healthz`: the server still stands.
async fn healthy(client: &reqwest::Client, server: &TestServer) -> bool {
    matches!(send(client, &server.base, "get", "/healthz", None, None).await, Ok((200, _)))
}

#[tokio::test]
async fn hostile_inputs_on_every_route_get_a_4xx_and_change_nothing() {
    for server in servers_with(|s| generous(&mut s.limits)).await {
        let client =
            reqwest::Client::builder().timeout(DEADLINE).pool_idle_timeout(Duration::from_secs(2)).build().unwrap();
        let doc: Value =
            client.get(format!("{}/openapi.json", server.base)).send().await.unwrap().json().await.unwrap();
        let staff = server.login("centre").await.unwrap();
        let (case, task, grid) = report_and_dispatch(&server, &staff, 4).await;
        let (worker, _) = login_on(&server, &format!("worker-{grid}"), Some("hostile-phone")).await;
        let known = Known { case, task, grid };
        let tokens = [("no token", None), ("staff", Some(staff.as_str())), ("worker", Some(worker.as_str()))];
        // What the dispatch set going (a worker's wake-up after five seconds) is done first.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let before = snapshot(&server.database_url);

        // First what is malformed: refused, every one, and nothing at all changes.
        let inputs: Vec<Hostile> = hostile_inputs().into_iter().filter(|h| !h.text).collect();
        let (mut sent, mut failures) = (0, Vec::new());
        every_route(&server, &client, &doc, &known, &tokens, &inputs, &mut sent, &mut failures).await;
        // Invalid UTF-8 and control bytes in the request line itself, as no client sends.
        for (what, request) in [
            ("invalid UTF-8 in the path", b"GET /api/v1/incidents/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
            ("invalid UTF-8 in the query", b"GET /api/v1/locate?lon=\xff&lat=\xc3\x28 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
            ("a NUL in the path", b"GET /api/v1/incidents/a\0b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
            ("a truncated request", b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"cat".to_vec()),
        ] {
            sent += 1;
            let server_base = server.base.clone();
            let answer = tokio::task::spawn_blocking(move || raw(&server_base, &request)).await.unwrap();
            match answer {
                Ok(line) if line.split(' ').nth(1).is_some_and(|s| s.starts_with('4')) => {}
                // A request cut off may get no answer at all: the server waits out the body, then drops it.
                Err(_) if what == "a truncated request" => {}
                Ok(line) if line.is_empty() && what == "a truncated request" => {}
                other => failures.push(format!("{what}: {other:?}")),
            }
        }
        assert!(healthy(&client, &server).await, "/healthz no longer answers after raw requests");
        let after = snapshot(&server.database_url);
        assert!(
            failures.is_empty(),
            "{} of {sent} hostile requests on {}:\n{}",
            failures.len(),
            server.database_url,
            failures.join("\n")
        );
        assert_eq!(
            changed(&before, &after),
            Vec::<String>::new(),
            "hostile requests changed the database on {}",
            server.database_url
        );
        eprintln!("{sent} malformed requests on {}: every one refused, nothing changed", server.database_url);

        // Then well-formed text that reads as SQL: a route taking free text may take it,
        // as text; none loses a table or a row.
        let texts: Vec<Hostile> = hostile_inputs().into_iter().filter(|h| h.text).collect();
        let (mut sent, mut failures) = (0, Vec::new());
        every_route(&server, &client, &doc, &known, &tokens, &texts, &mut sent, &mut failures).await;
        let last = snapshot(&server.database_url);
        assert!(failures.is_empty(), "{} of {sent} SQL-ish requests:\n{}", failures.len(), failures.join("\n"));
        assert_eq!(last.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>(), "a table came or went");
        let lost: Vec<&String> = after.iter().filter(|(t, (rows, _))| last[*t].0 < *rows).map(|(t, _)| t).collect();
        assert!(lost.is_empty(), "SQL-ish text lost rows of {lost:?}");
        eprintln!("{sent} SQL-ish requests on {}: no table or row lost", server.database_url);
    }
}

/// One request to try: where the input is, the path and query, the body, and whether a
/// 4xx is due.
type Try<'a> = (&'a str, String, Option<(&'a str, Vec<u8>)>, bool);

/// Sends each of `inputs` in every place of every route in `ROUTES`, as each of `tokens`;
/// counts what it sent and notes what was not refused as due.
#[allow(clippy::too_many_arguments)]
async fn every_route(
    server: &TestServer,
    client: &reqwest::Client,
    doc: &Value,
    known: &Known,
    tokens: &[(&str, Option<&str>)],
    inputs: &[Hostile],
    sent: &mut usize,
    failures: &mut Vec<String>,
) {
    for route in gridlink::openapi::ROUTES {
        let (method, path) = (route.method, route.path);
        let reads = reads(doc, method, path);
        for &(who, token) in tokens {
            // Logging out is what that route is for: with a token it would end the test's session.
            if path == "/api/v1/auth/logout" && token.is_some() {
                continue;
            }
            for h in inputs {
                let mut tries: Vec<Try> = Vec::new();
                if let Some(url) = &h.url {
                    if path.contains('{') {
                        tries.push(("path", fill(path, Some(url), known), None, true));
                    }
                    if !reads.query.is_empty() {
                        let query: Vec<String> = reads.query.iter().map(|(n, _)| format!("{n}={url}")).collect();
                        let numeric = reads.query.iter().any(|(_, n)| *n);
                        let q = format!("{}?{}", fill(path, None, known), query.join("&"));
                        tries.push(("query", q, None, numeric && !h.numeric_ok));
                    }
                }
                let body = match (&h.body, &h.json, reads.body.as_deref()) {
                    (Some((ct, bytes)), _, _) => Some((*ct, bytes.clone())),
                    (None, Some(json), Some(ct)) if ct.contains("json") => Some(("application/json", spray(json))),
                    (None, Some(_), Some(ct)) if ct.contains("form") => {
                        h.url.as_deref().map(|u| ("application/x-www-form-urlencoded", spray_form(u)))
                    }
                    (None, Some(json), _) => Some(("application/json", spray(json))),
                    _ => None,
                };
                if let Some(body) = body {
                    // A route that reads no body must ignore one; one that does must refuse this.
                    let must_refuse = reads.body.is_some() && !h.text;
                    tries.push(("body", fill(path, None, known), Some(body), must_refuse));
                }
                for (place, target, body, must_refuse) in tries {
                    *sent += 1;
                    let what = format!("{} {path} [{who}] {} in the {place}", method.to_uppercase(), h.name);
                    match send(client, &server.base, method, &target, token, body).await {
                        Ok((status, text)) if status >= 500 => failures.push(format!("{what}: {status} {text}")),
                        Ok((status, text)) if must_refuse && !(400..500).contains(&status) => {
                            failures.push(format!("{what}: {status} (a 4xx was due) {text}"));
                        }
                        Ok(_) => {}
                        Err(e) => failures.push(format!("{what}: {e}")),
                    }
                }
            }
        }
        assert!(healthy(client, server).await, "{method} {path}: /healthz no longer answers");
    }
}

/// Whether a refusal on the socket is as due: an `error` of a 4xx kind, or a close for a
/// broken protocol (never 1011, the server's own failure, nor silence).
fn refused_on_socket(answer: &Result<ServerMessage, PhoneError>) -> Result<bool, String> {
    match answer {
        Ok(ServerMessage::Error { code, .. }) => {
            let kind = gridlink::error_kind::ErrorKind::ALL.iter().find(|k| k.slug() == code);
            match kind {
                Some(k) if (400..500).contains(&k.status()) => Ok(false),
                _ => Err(format!("error {code}")),
            }
        }
        Err(PhoneError::Closed(Some((1002 | 1003 | 1007 | 1008 | 1009 | 4000..=4999, _)))) => Ok(true),
        other => Err(format!("{other:?}")),
    }
}

#[tokio::test]
async fn hostile_frames_on_the_sync_socket_are_refused_and_change_nothing() {
    for server in servers_with(|s| generous(&mut s.limits)).await {
        let staff = server.login("centre").await.unwrap();
        let (_, task, grid) = report_and_dispatch(&server, &staff, 5).await;
        let (worker, _) = login_on(&server, &format!("worker-{grid}"), Some("hostile-socket")).await;
        // Connecting says hello (the device is heard of): done once before the snapshot.
        let mut phone = Phone::new(server.ws_url(), worker.clone(), "hostile-socket");
        connect_fresh(&mut phone).await;
        tokio::time::sleep(Duration::from_secs(6)).await;
        let before = snapshot(&server.database_url);

        let mutate = |op: &str| format!(r#"{{"type": "mutate", "id": "m1", "op": {op}}}"#);
        let mut frames: Vec<(String, String)> = Vec::new();
        for h in hostile_inputs() {
            if let Some(json) = &h.json {
                let value = String::from_utf8_lossy(json).into_owned();
                let op = format!(
                    r#"{{"kind": "complete_task", "task_id": "{task}", "result": {value}, "photos": {value}}}"#
                );
                frames.push((format!("{} in a mutation", h.name), mutate(&op)));
                frames.push((format!("{} as the whole op", h.name), mutate(&value)));
                frames.push((format!("{} in an ack", h.name), format!(r#"{{"type": "ack", "cursor": {value}}}"#)));
            }
            if let Some((_, bytes)) = &h.body
                && bytes.len() < TEN_MIB
            {
                frames.push((format!("{} as a frame", h.name), String::from_utf8_lossy(bytes).into_owned()));
            }
        }
        frames.push(("a truncated frame".into(), r#"{"type": "mutate", "id": "m2", "op": {"kind": "accept_ta"#.into()));
        frames.push(("a truncated hello".into(), r#"{"type": "hel"#.into()));
        frames.push(("a 10 MiB frame".into(), "a".repeat(TEN_MIB)));

        let mut failures = Vec::new();
        for (what, frame) in &frames {
            if phone.send_raw(frame.clone()).await.is_err() {
                phone.connect().await.unwrap();
                phone.send_raw(frame.clone()).await.unwrap();
            }
            let answer = loop {
                // What the server sends of its own accord (changes, pongs) is not the answer.
                let got = phone.recv(DEADLINE).await;
                if matches!(got, Ok(ServerMessage::Error { .. }) | Err(_)) {
                    break got;
                }
            };
            match refused_on_socket(&answer) {
                Ok(true) => {
                    phone.connect().await.unwrap();
                }
                Ok(false) => {}
                Err(e) => {
                    failures.push(format!("{what}: {e}"));
                    phone.connect().await.unwrap();
                }
            }
        }
        phone.disconnect().await;
        // A frame cut off on the wire: its header promises more than comes, then the
        // connection is gone.
        let address = server.base.trim_start_matches("http://").to_owned();
        let ws_token = worker.clone();
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            let upgrade = format!(
                "GET /api/v1/sync HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                 Authorization: Bearer {ws_token}\r\n\r\n"
            );
            stream.write_all(upgrade.as_bytes()).unwrap();
            stream.set_read_timeout(Some(DEADLINE)).unwrap();
            let mut buf = [0u8; 1024];
            let n = stream.read(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"), "no upgrade");
            // A masked text frame of 100 bytes, of which 10 come.
            stream.write_all(&[0x81, 0x80 | 100, 1, 2, 3, 4]).unwrap();
            stream.write_all(b"{\"type\": \"").unwrap();
        })
        .await
        .unwrap();

        let client = reqwest::Client::builder().timeout(DEADLINE).build().unwrap();
        assert!(healthy(&client, &server).await, "/healthz no longer answers after hostile frames");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = snapshot(&server.database_url);
        assert!(failures.is_empty(), "{} of {} hostile frames:\n{}", failures.len(), frames.len(), failures.join("\n"));
        // Each reconnection after a refused frame is heard of: the device's last contact
        // moves (that bookkeeping is the socket's, not the frames').
        let changed: Vec<String> =
            changed(&before, &after).into_iter().filter(|t| !t.starts_with("devices:")).collect();
        assert_eq!(changed, Vec::<String>::new(), "hostile frames changed the database on {}", server.database_url);
        eprintln!("{} hostile frames on {}: every one refused, nothing changed", frames.len(), server.database_url);
    }
}
