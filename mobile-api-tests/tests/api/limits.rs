//! The limits the internet cannot break, seen from outside on SQLite and PostgreSQL:
//! anonymous reports limited per client address (and only a trusted proxy says which),
//! failed logins throttled, the password-check queue bounded, login bodies small,
//! uploads within a daily allowance and swept when nobody cites them, texts bounded on
//! both doors, and a user's devices bounded.

use std::time::Duration;

use gridlink::settings::Settings;
use gridlink::store::Database;
use mobile_api_tests::{Backend, TestServer, demo_point, servers_with};
use serde_json::json;
use sync_protocol::phone::{Phone, PhoneError};
use sync_protocol::{ClientMessage, Op, OpKind, ServerMessage};

use crate::support::{Reply, WAIT, login_on, read, report_body};

/// Loopback is the reverse proxy, and says who the client is in `X-Forwarded-For`.
fn behind_a_proxy(s: &mut Settings) {
    s.proxy.header = Some("X-Forwarded-For".into());
    s.proxy.proxies = vec!["127.0.0.1".into()];
}

/// Files a report, anonymously unless `token`, claiming `forwarded` as the client.
async fn report(server: &TestServer, forwarded: Option<&str>, token: Option<&str>, nth: usize) -> Reply {
    let mut request = server.client.post(format!("{}/api/v1/reports", server.base)).json(&report_body(nth));
    if let Some(addr) = forwarded {
        request = request.header("x-forwarded-for", addr);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    read(request.send().await.unwrap()).await
}

fn limited(step: &str, reply: &Reply, status: u16, kind: &str) {
    assert_eq!((reply.status, reply.body["type"].as_str()), (status, Some(kind)), "{step}: {}", reply.body);
    let wait = reply.retry_after.unwrap_or_else(|| panic!("{step}: no Retry-After"));
    assert!(wait >= 1, "{step}: Retry-After {wait}");
}

/// Sends up to `count` anonymous reports from `forwarded`; how many were taken before the
/// first refusal, and the refusal.
async fn flood(server: &TestServer, forwarded: Option<&str>, count: usize) -> (usize, Option<Reply>) {
    let mut taken = 0;
    for n in 0..count {
        let reply = report(server, forwarded, None, n).await;
        if reply.status != 201 {
            return (taken, Some(reply));
        }
        taken += 1;
    }
    (taken, None)
}

#[tokio::test]
async fn a_flood_of_anonymous_reports_from_one_address_meets_429_and_others_still_report() {
    for server in servers_with(behind_a_proxy).await {
        let defaults = gridlink::settings::LimitSettings::default();
        let started = std::time::Instant::now();
        let (taken, refused) = flood(&server, Some("203.0.113.7"), 300).await;
        let refused = refused.expect("300 anonymous reports from one address were all taken");
        limited("the flood", &refused, 429, "rate-limited");
        // The burst, and what refilled meanwhile (one a minute by default).
        let refilled = (started.elapsed().as_secs() / 60) as usize + 1;
        let burst = defaults.reports_burst as usize;
        assert!((burst..=burst + refilled).contains(&taken), "{taken} reports before the limit");
        // Everything past the first refusal is refused too, and opens nothing.
        for n in 0..20 {
            assert_eq!(report(&server, Some("203.0.113.7"), None, n).await.status, 429);
        }
        // Another address, another IPv6 /64, and staff from the flooding address still report.
        assert_eq!(report(&server, Some("203.0.113.8"), None, 1).await.status, 201);
        assert_eq!(report(&server, Some("2001:db8:1:2::1"), None, 2).await.status, 201);
        let centre = server.login("centre").await.unwrap();
        assert_eq!(report(&server, Some("203.0.113.7"), Some(&centre), 3).await.status, 201);
        // A made-up bearer token is no way around it.
        assert_eq!(report(&server, Some("203.0.113.7"), Some("not-a-token"), 4).await.status, 429);
    }
}

#[tokio::test]
async fn ipv6_clients_share_their_64_and_forwarded_addresses_are_limited_separately() {
    let small = |s: &mut Settings| {
        behind_a_proxy(s);
        s.limits.reports_burst = 3;
    };
    for server in servers_with(small).await {
        let (taken, refused) = flood(&server, Some("2001:db8:7:7::1"), 10).await;
        assert_eq!(taken, 3);
        limited("one /64", &refused.unwrap(), 429, "rate-limited");
        // Another address in the same /64 is the same subscriber …
        limited("same /64", &report(&server, Some("2001:db8:7:7:ffff::9"), None, 0).await, 429, "rate-limited");
        // … another /64 is not.
        assert_eq!(report(&server, Some("2001:db8:7:8::1"), None, 0).await.status, 201);
        // Each forwarded IPv4 address has its own allowance.
        assert_eq!(flood(&server, Some("198.51.100.1"), 3).await.0, 3);
        assert_eq!(flood(&server, Some("198.51.100.2"), 3).await.0, 3);
        // The proxy's list is read from the right: what the client wrote first is not believed.
        let spoofed = "10.9.9.9, 198.51.100.1";
        limited("spoofed left", &report(&server, Some(spoofed), None, 0).await, 429, "rate-limited");
    }
}

#[tokio::test]
async fn without_the_setting_a_spoofed_forwarded_for_does_not_help() {
    let small = |s: &mut Settings| s.limits.reports_burst = 3;
    for server in servers_with(small).await {
        let mut statuses = Vec::new();
        for n in 0..6 {
            let claimed = format!("203.0.113.{}", n + 1);
            statuses.push(report(&server, Some(&claimed), None, n).await.status);
        }
        assert_eq!(statuses, [201, 201, 201, 429, 429, 429], "each claimed another address");
    }
}

async fn login(server: &TestServer, login: &str, password: &str) -> Reply {
    let body = json!({"login": login, "password": password});
    read(server.client.post(format!("{}/api/v1/auth/login", server.base)).json(&body).send().await.unwrap()).await
}

#[tokio::test]
async fn thirty_wrong_passwords_meet_429_and_unknown_logins_are_throttled_alike() {
    for server in servers_with(|_| {}).await {
        let mut statuses = Vec::new();
        let mut refusal = None;
        for _ in 0..30 {
            let reply = login(&server, "centre", "guess").await;
            statuses.push(reply.status);
            if reply.status == 429 && refusal.is_none() {
                refusal = Some(reply);
            }
        }
        let failures = gridlink::settings::LimitSettings::default().login_failures as usize;
        assert!(statuses[..failures].iter().all(|s| *s == 401), "{statuses:?}");
        assert!(statuses[failures..].iter().all(|s| *s == 429), "{statuses:?}");
        limited("30 wrong passwords", &refusal.unwrap(), 429, "rate-limited");
        // Throttled before the password is checked: the right one waits too.
        assert_eq!(login(&server, "centre", "demo").await.status, 429);
        // A login nobody has is throttled the same way (no telling which exist).
        let unknown: Vec<u16> = {
            let mut s = Vec::new();
            for _ in 0..failures + 1 {
                s.push(login(&server, "nobody-at-all", "guess").await.status);
            }
            s
        };
        assert_eq!(unknown[failures], 429, "{unknown:?}");
        assert!(unknown[..failures].iter().all(|s| *s == 401), "{unknown:?}");
        // Other accounts from the same address are not locked out yet.
        assert_eq!(login(&server, "city", "demo").await.status, 200);
    }
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_throttled_across_logins() {
    let small = |s: &mut Settings| {
        behind_a_proxy(s);
        s.limits.login_failures_per_address = 5;
    };
    for server in servers_with(small).await {
        let attempt = |login: String, from: &'static str| {
            let body = json!({"login": login, "password": "guess"});
            let request = server.client.post(format!("{}/api/v1/auth/login", server.base)).json(&body);
            async move { read(request.header("x-forwarded-for", from).send().await.unwrap()).await.status }
        };
        for n in 0..5 {
            assert_eq!(attempt(format!("someone-{n}"), "203.0.113.50").await, 401);
        }
        assert_eq!(attempt("someone-else".into(), "203.0.113.50").await, 429, "the address failed five times");
        assert_eq!(attempt("someone-else".into(), "203.0.113.51").await, 401, "another address");
    }
}

#[tokio::test]
async fn a_full_queue_of_password_checks_answers_503_busy() {
    let server =
        TestServer::spawn_with(Backend::Sqlite, |s| s.limits.password_checks_waiting = 1).await.unwrap().unwrap();
    // Forty workers log in at once: the checking threads and one waiting place are far
    // fewer, so some are told to come back rather than queued.
    let logins = (0..40).map(|n| {
        let body = json!({"login": format!("worker-{}", demo_point(n).2), "password": "demo"});
        let request = server.client.post(format!("{}/api/v1/auth/login", server.base)).json(&body);
        async move { read(request.send().await.unwrap()).await }
    });
    let replies = futures_util::future::join_all(logins).await;
    assert!(replies.iter().all(|r| r.status == 200 || r.status == 503), "{:?}", statuses(&replies));
    let busy = replies.iter().find(|r| r.status == 503).expect("no login was told the server is busy");
    limited("a full queue", busy, 503, "busy");
    assert!(replies.iter().any(|r| r.status == 200), "{:?}", statuses(&replies));
}

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn login_and_refresh_bodies_past_4_kib_get_413() {
    let server = TestServer::spawn().await.unwrap();
    let big = "x".repeat(5 * 1024);
    for (path, body) in [
        ("/api/v1/auth/login", json!({"login": "centre", "password": big})),
        ("/api/v1/auth/refresh", json!({"refresh_token": big, "device_id": "phone"})),
    ] {
        let reply = read(server.client.post(format!("{}{path}", server.base)).json(&body).send().await.unwrap()).await;
        assert_eq!((reply.status, reply.body["type"].as_str()), (413, Some("payload-too-large")), "{path}");
    }
    assert_eq!(login(&server, "centre", "demo").await.status, 200, "a normal login still fits");
}

fn jpeg(size: usize, nth: u32) -> Vec<u8> {
    let mut bytes = b"\xFF\xD8\xFF\xE0".to_vec();
    bytes.extend_from_slice(&nth.to_be_bytes());
    bytes.resize(size, 0);
    bytes
}

async fn upload(server: &TestServer, bytes: Vec<u8>) -> Reply {
    let request = server.client.post(format!("{}/api/v1/attachments", server.base));
    read(request.header("content-type", "image/jpeg").body(bytes).send().await.unwrap()).await
}

#[tokio::test]
async fn uploads_past_the_daily_bytes_of_an_address_meet_quota_exceeded() {
    for server in servers_with(|s| s.limits.upload_mib_per_day = 10).await {
        let four_mib = 4 * 1024 * 1024;
        assert_eq!(upload(&server, jpeg(four_mib, 1)).await.status, 201);
        assert_eq!(upload(&server, jpeg(four_mib, 2)).await.status, 201);
        let refused = upload(&server, jpeg(four_mib, 3)).await;
        limited("past 10 MiB", &refused, 429, "quota-exceeded");
        assert!(refused.retry_after.unwrap() > 60, "hours, not seconds: {:?}", refused.retry_after);
        assert_eq!(upload(&server, jpeg(1024, 4)).await.status, 201, "what is left of the day still fits");
    }
}

/// Whether the file `id` is stored, read behind the API's back.
fn stored(db: &Database, id: &str) -> bool {
    db.read(|c| gridlink::attachments::get(c, id)).unwrap().is_some()
}

#[tokio::test]
async fn an_upload_nobody_cites_is_swept_after_a_day_and_a_cited_one_stays() {
    let start = gridlink::clock::parse_rfc3339("2026-03-02T09:00:00+08:00");
    for server in servers_with(|s| s.test_clock = start).await {
        let db = Database::open(&server.database_url, 1).unwrap();
        let orphan = upload(&server, jpeg(2048, 1)).await.body["id"].as_str().unwrap().to_owned();
        let cited = upload(&server, jpeg(2048, 2)).await.body["id"].as_str().unwrap().to_owned();
        let mut body = report_body(0);
        body["photos"] = json!([cited]);
        let (status, _, opened) = server.post("/api/v1/reports", &body).await.unwrap();
        assert_eq!(status, 201, "{opened}");
        // Within the day, both stay.
        server.advance_clock(23 * 3600 * 1000).await.unwrap();
        let fresh = upload(&server, jpeg(2048, 3)).await.body["id"].as_str().unwrap().to_owned();
        assert!(stored(&db, &orphan) && stored(&db, &cited));
        // Past the day, the sweep (woken by the clock) removes the one nobody cites.
        server.advance_clock(2 * 3600 * 1000).await.unwrap();
        let deadline = std::time::Instant::now() + WAIT;
        while stored(&db, &orphan) {
            assert!(std::time::Instant::now() < deadline, "the unreferenced upload is still there");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(stored(&db, &cited), "a photo a case cites stays");
        assert!(stored(&db, &fresh), "an upload younger than a day stays");
        // A report citing the swept photo is refused: it must be uploaded again.
        body["photos"] = json!([orphan]);
        let (status, _, problem) = server.post("/api/v1/reports", &body).await.unwrap();
        assert_eq!((status, problem["type"].as_str()), (422, Some("unknown-attachment")), "{problem}");
    }
}

#[tokio::test]
async fn texts_past_2000_characters_get_text_too_long_on_both_doors() {
    for server in servers_with(|_| {}).await {
        let centre = server.login("centre").await.unwrap();
        let (status, _, opened) = server.post("/api/v1/reports", &report_body(5)).await.unwrap();
        assert_eq!(status, 201);
        let path = format!("/api/v1/incidents/{}/actions", opened["id"].as_str().unwrap());
        let long = "理".repeat(2001);
        let (status, problem) =
            server.post_as(&centre, &path, &json!({"action": "reject", "reason": long})).await.unwrap();
        assert_eq!((status, problem["type"].as_str()), (422, Some("text-too-long")), "{problem}");
        let (_, case) = server.get_as(&centre, &path.replace("/actions", "")).await.unwrap();
        assert_eq!(case["status"], "reported", "nothing changed");

        // The socket answers the same kind, from the same check.
        let mut phone = server.phone(&format!("worker-{}", demo_point(5).2), "phone").await.unwrap();
        phone.connect().await.unwrap();
        let op = Op {
            kind: OpKind::Progress { task_id: uuid::Uuid::new_v4().to_string(), text: long.clone(), photos: vec![] },
            occurred_at: None,
        };
        phone.send(&ClientMessage::Mutate { id: "long".into(), op }).await.unwrap();
        let code = loop {
            match phone.recv(WAIT).await.unwrap() {
                ServerMessage::MutationResult { id, ok, code, .. } if id == "long" => {
                    assert!(!ok);
                    break code;
                }
                _ => {}
            }
        };
        assert_eq!(code.as_deref(), Some("text-too-long"));
    }
}

#[tokio::test]
async fn a_new_device_past_the_bound_retires_the_idle_one_or_is_refused_when_all_are_connected() {
    for server in servers_with(|s| s.limits.devices_per_user = 2).await {
        let worker = format!("worker-{}", demo_point(9).2);
        let old_token = login_on(&server, &worker, Some("old-phone")).await.0;
        let mut old = Phone::new(server.ws_url(), old_token.clone(), "old-phone");
        old.connect().await.unwrap();
        old.disconnect().await;
        let tablet_token = login_on(&server, &worker, Some("tablet")).await.0;
        let mut tablet = Phone::new(server.ws_url(), tablet_token, "tablet");
        tablet.connect().await.unwrap();

        // The replacement phone, a third device: the one heard from longest ago and not
        // connected (the old phone) gives way, and its session ends.
        let new_token = login_on(&server, &worker, Some("new-phone")).await.0;
        let mut new = Phone::new(server.ws_url(), new_token, "new-phone");
        new.connect().await.expect("the replacement phone is let in");
        assert_eq!(server.get_as(&old_token, "/api/v1/me").await.unwrap().0, 401, "the old phone is logged out");

        // With both devices connected, a fourth is refused and closed.
        let extra_token = login_on(&server, &worker, Some("extra")).await.0;
        let mut extra = Phone::new(server.ws_url(), extra_token, "extra");
        match extra.connect().await {
            Err(PhoneError::Protocol(text)) => assert!(text.starts_with("too-many-devices"), "{text}"),
            other => panic!("expected too-many-devices, got {other:?}"),
        }
        // The two connected devices were left alone: each still answers.
        for phone in [&mut new, &mut tablet] {
            phone.send(&ClientMessage::Ping { nonce: Some(7) }).await.unwrap();
            loop {
                if let ServerMessage::Pong { nonce: Some(7) } = phone.recv(WAIT).await.unwrap() {
                    break;
                }
            }
        }
    }
}
