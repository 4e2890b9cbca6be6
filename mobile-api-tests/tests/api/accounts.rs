//! Accounts an administrator manages (`/api/v1/users`), on both backends, against real
//! servers and real sockets: a device cut off, a password reset and an account disabled
//! each close the sockets they end within a second and leave their tokens refused; the
//! password policy; other roles refused; a session's device bound to it; and every
//! change in the audit log.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use mobile_api_tests::{TestServer, demo_point, servers};
use serde_json::{Value, json};
use sync_protocol::phone::{Phone, PhoneError};
use sync_protocol::{ClientMessage, ServerMessage, codes};

use crate::support::{WAIT, connect_fresh, ok, refused};

/// A password the policy takes.
const GOOD: &str = "晚上八点巡查东门和西门";
/// Another.
const BETTER: &str = "correct horse battery staple";

/// Logs `login` in with `password` from `device`: the token and refresh token.
async fn log_in(server: &TestServer, login: &str, password: &str, device: &str) -> (String, String) {
    let body = json!({"login": login, "password": password, "device_id": device});
    let (status, _, opened) = server.post("/api/v1/auth/login", &body).await.unwrap();
    assert_eq!(status, 200, "{login} from {device}: {opened}");
    (opened["token"].as_str().unwrap().to_owned(), opened["refresh_token"].as_str().unwrap().to_owned())
}

/// The status of a login with `password`.
async fn login_status(server: &TestServer, login: &str, password: &str) -> u16 {
    server.post("/api/v1/auth/login", &json!({"login": login, "password": password})).await.unwrap().0
}

/// The status of a refresh with `refresh` from `device`.
async fn refresh_status(server: &TestServer, refresh: &str, device: &str) -> u16 {
    let body = json!({"refresh_token": refresh, "device_id": device});
    server.post("/api/v1/auth/refresh", &body).await.unwrap().0
}

/// A phone of `device` connected with `token`, its snapshot taken in.
async fn connected(server: &TestServer, token: &str, device: &str) -> Phone {
    let mut phone = Phone::new(server.ws_url(), token, device);
    connect_fresh(&mut phone).await;
    phone
}

/// Waits for the server to close `phone`'s socket, at most `within`: the close code.
async fn closed_within(phone: &mut Phone, within: Duration, step: &str) -> Option<u16> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match phone.recv(left).await {
            Ok(_) => {}
            Err(PhoneError::Closed(frame)) => return frame.map(|(code, _)| code),
            Err(e) => panic!("{step}: the socket was not closed within {within:?}: {e}"),
        }
    }
}

/// Whether `phone`'s socket still answers a ping.
async fn still_open(phone: &mut Phone) -> bool {
    if phone.send(&ClientMessage::Ping { nonce: Some(7) }).await.is_err() {
        return false;
    }
    loop {
        match phone.recv(WAIT).await {
            Ok(ServerMessage::Pong { nonce: Some(7) }) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// The audit entries of `kind` about `subject`: (actor id, data).
fn audited(server: &TestServer, kind: &str, subject: &str) -> Vec<(Option<String>, Value)> {
    use gridlink::audit::schema::audit_log;
    let db = gridlink::store::Database::open(&server.database_url, 1).unwrap();
    let rows: Vec<(Option<String>, String)> = db
        .read(|c| {
            audit_log::table
                .filter(audit_log::kind.eq(kind))
                .filter(audit_log::subject.eq(subject))
                .order(audit_log::seq.asc())
                .select((audit_log::actor_id, audit_log::data))
                .load(c)
        })
        .unwrap();
    rows.into_iter().map(|(actor, data)| (actor, serde_json::from_str(&data).unwrap())).collect()
}

#[tokio::test]
async fn an_administrator_cuts_off_a_device_resets_a_password_and_disables_an_account() {
    for server in servers().await {
        let db = &server.database_url;
        let admin = server.login("admin").await.unwrap();
        let me = ok("me", server.get_as(&admin, "/api/v1/me").await.unwrap());
        let admin_id = me["id"].as_str().unwrap().to_owned();
        let grid = demo_point(21).2;

        // A new grid worker: weak passwords are refused by rule, then one is taken.
        let new = |password: &str| json!({"login": "zhang.san", "display_name": "张三", "role": "grid_worker", "unit_code": grid, "password": password});
        for (weak, rule) in [
            ("short1!", "min-length"),
            ("13812345678", "not-digits-only"),
            ("zzzzzzzzzzzz", "not-one-character"),
            ("Password123", "not-common"),
        ] {
            let answer = server.post_as(&admin, "/api/v1/users", &new(weak)).await.unwrap();
            refused(weak, answer.clone(), 422, "weak-password");
            assert!(answer.1["detail"].as_str().unwrap().contains(rule), "{weak}: {}", answer.1);
        }
        let mut same_as_login = new("zhang.san.li");
        same_as_login["login"] = json!("zhang.san.li");
        let answer = server.post_as(&admin, "/api/v1/users", &same_as_login).await.unwrap();
        refused("the login as password", answer.clone(), 422, "weak-password");
        assert!(answer.1["detail"].as_str().unwrap().contains("not-the-login"), "{}", answer.1);
        let mut wrong_unit = new(GOOD);
        wrong_unit["unit_code"] = json!("321302");
        refused(
            "a county for a grid worker",
            server.post_as(&admin, "/api/v1/users", &wrong_unit).await.unwrap(),
            422,
            "invalid-account",
        );
        let (status, added) = server.post_as(&admin, "/api/v1/users", &new(GOOD)).await.unwrap();
        assert_eq!(status, 201, "{db}: {added}");
        let id = added["id"].as_str().unwrap().to_owned();
        assert_eq!((added["role"].as_str(), added["disabled"].as_bool()), (Some("grid_worker"), Some(false)));
        refused(
            "the login again",
            server.post_as(&admin, "/api/v1/users", &new(BETTER)).await.unwrap(),
            409,
            "login-taken",
        );

        // The worker on two phones, each with its socket.
        let (token_a, refresh_a) = log_in(&server, "zhang.san", GOOD, "phone-a").await;
        let (token_b, refresh_b) = log_in(&server, "zhang.san", GOOD, "phone-b").await;
        let mut phone_a = connected(&server, &token_a, "phone-a").await;
        let mut phone_b = connected(&server, &token_b, "phone-b").await;
        let listed = ok("list", server.get_as(&admin, "/api/v1/users?q=ZHANG").await.unwrap());
        assert_eq!(listed["total"], 1, "{listed}");
        assert_eq!(
            (listed["users"][0]["live_sessions"].as_u64(), listed["users"][0]["devices"].as_u64()),
            (Some(2), Some(2))
        );
        let detail = ok("detail", server.get_as(&admin, &format!("/api/v1/users/{id}")).await.unwrap());
        let devices: Vec<&str> =
            detail["sessions"].as_array().unwrap().iter().map(|s| s["device_id"].as_str().unwrap()).collect();
        assert_eq!(devices.len(), 2, "{detail}");
        assert!(devices.contains(&"phone-a") && devices.contains(&"phone-b"), "{detail}");
        assert!(!detail.to_string().contains(&token_a) && !detail.to_string().contains("hash"), "no token: {detail}");

        // Phone A is lost: cut off within a second; phone B works on.
        let path = format!("/api/v1/users/{id}/devices/phone-a");
        let response = server.client.delete(format!("{}{path}", server.base)).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let cut: Value = response.json().await.unwrap();
        assert_eq!(cut["sessions_revoked"], 1, "{cut}");
        assert_eq!(
            closed_within(&mut phone_a, Duration::from_secs(1), "device cut off").await,
            Some(codes::CLOSE_LOGGED_OUT)
        );
        assert!(still_open(&mut phone_b).await, "the other phone's socket stays open");
        assert_eq!(server.get_as(&token_a, "/api/v1/me").await.unwrap().0, 401);
        assert_eq!(refresh_status(&server, &refresh_a, "phone-a").await, 401);
        assert_eq!(server.get_as(&token_b, "/api/v1/me").await.unwrap().0, 200);
        let again = server.client.delete(format!("{}{path}", server.base)).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(again.status().as_u16(), 404, "nothing left of the device");

        // A new password: the old one and every session end; phone B closes within a second.
        let reset = format!("/api/v1/users/{id}/password");
        refused(
            "a weak reset",
            server.post_as(&admin, &reset, &json!({"password": "1234567890"})).await.unwrap(),
            422,
            "weak-password",
        );
        assert!(still_open(&mut phone_b).await, "a refused reset ends nothing");
        let changed = ok("reset", server.post_as(&admin, &reset, &json!({"password": BETTER})).await.unwrap());
        assert_eq!(changed["sessions_revoked"], 1, "{changed}");
        assert_eq!(
            closed_within(&mut phone_b, Duration::from_secs(1), "password reset").await,
            Some(codes::CLOSE_LOGGED_OUT)
        );
        assert_eq!(server.get_as(&token_b, "/api/v1/me").await.unwrap().0, 401);
        assert_eq!(refresh_status(&server, &refresh_b, "phone-b").await, 401);
        assert_eq!(login_status(&server, "zhang.san", GOOD).await, 401, "the old password");
        let (token_c, refresh_c) = log_in(&server, "zhang.san", BETTER, "phone-c").await;

        // Disabled: the socket closes within a second, token and refresh token are refused.
        let mut phone_c = connected(&server, &token_c, "phone-c").await;
        let disabled =
            ok("disable", server.post_as(&admin, &format!("/api/v1/users/{id}/disable"), &json!({})).await.unwrap());
        assert_eq!(
            (disabled["user"]["disabled"].as_bool(), disabled["sessions_revoked"].as_u64()),
            (Some(true), Some(1))
        );
        assert_eq!(
            closed_within(&mut phone_c, Duration::from_secs(1), "disabled").await,
            Some(codes::CLOSE_LOGGED_OUT)
        );
        assert_eq!(server.get_as(&token_c, "/api/v1/me").await.unwrap().0, 401);
        assert_eq!(refresh_status(&server, &refresh_c, "phone-c").await, 401);
        assert_eq!(login_status(&server, "zhang.san", BETTER).await, 401);
        assert!(phone_c.connect().await.is_err(), "no socket for a disabled account");
        // Enabled again, the new password works.
        let enabled =
            ok("enable", server.post_as(&admin, &format!("/api/v1/users/{id}/enable"), &json!({})).await.unwrap());
        assert_eq!(enabled["disabled"], false);
        assert_eq!(login_status(&server, "zhang.san", BETTER).await, 200);

        // Not themselves; not an account that is not there.
        refused(
            "self",
            server.post_as(&admin, &format!("/api/v1/users/{admin_id}/disable"), &json!({})).await.unwrap(),
            409,
            "own-account",
        );
        refused(
            "nobody",
            server.post_as(&admin, "/api/v1/users/nobody/disable", &json!({})).await.unwrap(),
            404,
            "not-found",
        );

        // Each change is in the audit log, by the administrator, without a secret.
        for kind in ["user_added", "device_revoked", "password_reset", "user_disabled", "user_enabled"] {
            let entries = audited(&server, kind, &id);
            assert_eq!(entries.len(), 1, "{db}: {kind}: {entries:?}");
            assert_eq!(entries[0].0.as_deref(), Some(admin_id.as_str()), "{kind}");
            let text = entries[0].1.to_string();
            assert!(!text.contains(GOOD) && !text.contains(BETTER), "{kind}: {text}");
        }
        assert_eq!(audited(&server, "device_revoked", &id)[0].1["device"], "phone-a");
        // Logins by the account, and the failed ones by name only.
        assert_eq!(audited(&server, "login", &id).len(), 4, "phone-a, phone-b, phone-c and the last");
        let db_handle = gridlink::store::Database::open(db, 1).unwrap();
        let failed: Vec<String> = db_handle
            .read(|c| {
                use gridlink::audit::schema::audit_log;
                audit_log::table.filter(audit_log::kind.eq("login_failed")).select(audit_log::data).load(c)
            })
            .unwrap();
        assert!(failed.iter().any(|d| d.contains("zhang.san")), "{failed:?}");
        assert!(failed.iter().all(|d| !d.contains(GOOD) && !d.contains(BETTER)), "{failed:?}");
    }
}

#[tokio::test]
async fn only_an_administrator_manages_accounts() {
    let server = TestServer::spawn().await.unwrap();
    let admin = server.login("admin").await.unwrap();
    let listed = ok("list", server.get_as(&admin, "/api/v1/users?q=worker-").await.unwrap());
    let worker = listed["users"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed["users"][0]["demo"], true);
    for login in ["city", "centre", "hotline", &format!("worker-{}", demo_point(3).2)] {
        let token = server.login(login).await.unwrap();
        let body = json!({"login": "x", "role": "grid_worker", "unit_code": demo_point(3).2, "password": BETTER});
        let tries = [
            ("list", server.get_as(&token, "/api/v1/users").await.unwrap()),
            ("show", server.get_as(&token, &format!("/api/v1/users/{worker}")).await.unwrap()),
            ("add", server.post_as(&token, "/api/v1/users", &body).await.unwrap()),
            ("disable", server.post_as(&token, &format!("/api/v1/users/{worker}/disable"), &json!({})).await.unwrap()),
            ("enable", server.post_as(&token, &format!("/api/v1/users/{worker}/enable"), &json!({})).await.unwrap()),
            (
                "password",
                server
                    .post_as(&token, &format!("/api/v1/users/{worker}/password"), &json!({"password": BETTER}))
                    .await
                    .unwrap(),
            ),
        ];
        for (step, answer) in tries {
            refused(&format!("{login} {step}"), answer, 403, "forbidden");
        }
        let path = format!("{}/api/v1/users/{worker}/devices/phone", server.base);
        let response = server.client.delete(path).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 403, "{login} revoke a device");
    }
    // Nothing changed: the worker still logs in.
    assert!(server.login(&format!("worker-{}", demo_point(0).2)).await.is_ok());
    assert_eq!(server.get("/api/v1/users").await.unwrap().0, 401);
}

#[tokio::test]
async fn a_session_opened_from_a_device_is_used_from_that_device_only() {
    for server in servers().await {
        let worker = format!("worker-{}", demo_point(22).2);
        let (token, refresh) = log_in(&server, &worker, "demo", "phone-1").await;
        // Another device's hello is refused with its error and a policy close.
        let mut thief = Phone::new(server.ws_url(), token.clone(), "phone-2");
        match thief.connect().await {
            Err(PhoneError::Protocol(text)) => assert!(text.starts_with("device-mismatch"), "{text}"),
            other => panic!("expected device-mismatch, got {other:?}"),
        }
        assert_eq!(closed_within(&mut thief, WAIT, "mismatch").await, Some(1008));
        // A longer id that merely starts with it is another device too.
        let mut neighbour = Phone::new(server.ws_url(), token.clone(), "phone-10");
        assert!(matches!(neighbour.connect().await, Err(PhoneError::Protocol(_))));
        // Its own device, and a tab of it (the centre's page names one socket per tab), are taken.
        let mut own = connected(&server, &token, "phone-1").await;
        assert!(still_open(&mut own).await);
        let mut tab = connected(&server, &token, "phone-1.tab2").await;
        assert!(still_open(&mut tab).await);
        // (A push subscription for another device is refused `device-mismatch`: push.rs.)
        // A refresh keeps the device: the renewed session is bound to it as well.
        let body = json!({"refresh_token": refresh, "device_id": "phone-1"});
        let (status, _, renewed) = server.post("/api/v1/auth/refresh", &body).await.unwrap();
        assert_eq!(status, 200, "{renewed}");
        let renewed = renewed["token"].as_str().unwrap().to_owned();
        let mut thief = Phone::new(server.ws_url(), renewed.clone(), "phone-2");
        assert!(matches!(thief.connect().await, Err(PhoneError::Protocol(_))), "the renewed session is bound too");
        // A session opened without a device (a script) names any device.
        let free = server.login(&worker).await.unwrap();
        let mut any = connected(&server, &free, "whatever").await;
        assert!(still_open(&mut any).await);
    }
}
