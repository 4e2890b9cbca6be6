//! Web Push end to end with no internet: a real server sends wake-ups to a push service
//! on loopback (`mobile_api_tests::push_service`), which checks the VAPID signature and
//! decrypts the aes128gcm payload as a real one would, and answers as each test says.
//! Wake-ups are triggered through `POST /api/v1/push/test`, the operators' door.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mobile_api_tests::push_service::{Answer, Channel, PushService};
use mobile_api_tests::{Backend, TestServer, demo_point};
use serde_json::{Value, json};

use crate::support::login_on;

/// The push time-out these servers use: short, so that a slow service is quick to test.
const TIMEOUT_MS: u64 = 1_000;

/// A server that allows the push service's host, or `None` (PostgreSQL unreachable outside CI).
async fn server_for(service: &PushService, backend: Backend) -> Option<TestServer> {
    let allow = service.allow_entry();
    TestServer::spawn_with(backend, |s| {
        s.push.allow_hosts = vec![allow];
        s.push.timeout_ms = TIMEOUT_MS;
    })
    .await
    .unwrap()
}

/// A demo grid worker's login.
fn worker(nth: usize) -> String {
    format!("worker-{}", demo_point(nth).2)
}

async fn subscribe(server: &TestServer, token: &str, body: &Value) -> (u16, Value) {
    let response = server
        .client
        .put(format!("{}/api/v1/push/subscription", server.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{body}");
    }
    (status, body)
}

/// The device's subscription as the server has it: `None` when it has none.
async fn stored(server: &TestServer, token: &str, device: &str) -> Option<Value> {
    let (status, body) = server.get_as(token, &format!("/api/v1/push/subscription?device_id={device}")).await.unwrap();
    match status {
        200 => Some(body),
        404 => None,
        other => panic!("GET subscription: {other} {body}"),
    }
}

/// Wakes a user's devices through the test route, waiting for the push services' answers.
async fn wake(server: &TestServer, token: &str, body: Value) -> Value {
    let (status, body) = server.post_as(token, "/api/v1/push/test", &body).await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["report"].clone()
}

fn report(delivered: u32, gone: u32, failed: u32, skipped: u32) -> Value {
    json!({"delivered": delivered, "gone": gone, "failed": failed, "skipped": skipped, "merged": false})
}

async fn a_wake_arrives_signed_and_encrypted_then_gone_deletes_it(backend: Backend) {
    let service = PushService::start().await.unwrap();
    let Some(server) = server_for(&service, backend).await else { return };
    let (status, _, key) = server.get("/api/v1/push/key").await.unwrap();
    assert_eq!(status, 200);
    let public_key = key["public_key"].as_str().unwrap().to_owned();
    let point = URL_SAFE_NO_PAD.decode(&public_key).unwrap();
    assert_eq!((point.len(), point[0]), (65, 4), "an uncompressed P-256 point");

    let (token, user_id) = login_on(&server, &worker(0), Some("phone-1")).await;
    let channel = service.subscribe();
    let (status, body) = subscribe(&server, &token, &channel.subscription("phone-1")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["endpoint"], channel.endpoint.as_str());

    assert_eq!(wake(&server, &token, json!({})).await, report(1, 0, 0, 0));
    let received = service.received(&channel);
    assert_eq!(received.len(), 1, "exactly one push");
    let push = &received[0];
    assert!(push.problems.is_empty(), "a strict push service would refuse it: {:?}", push.problems);
    assert_eq!(push.payload.as_deref(), Some(&br#"{"type":"wake"}"#[..]), "only a wake-up, no personal data");
    assert_eq!(push.urgency.as_deref(), Some("high"));
    let topic = push.topic.as_deref().unwrap();
    assert!(topic.len() <= 32, "{topic}");
    let uuid = uuid::Uuid::parse_str(&user_id).unwrap();
    assert_eq!(topic, URL_SAFE_NO_PAD.encode(uuid.as_bytes()), "one topic per worker");
    assert!(push.ttl.is_some_and(|ttl| ttl > 0 && ttl <= 24 * 3600), "{:?}", push.ttl);
    assert_eq!(push.vapid_key.as_deref(), Some(public_key.as_str()), "signed with the key phones subscribed with");
    let claims = push.claims.as_ref().unwrap();
    assert_eq!(claims["aud"], service.origin());

    // The push service says the subscription is gone: the server deletes it.
    service.answer(&channel, Answer::status(410));
    assert_eq!(wake(&server, &token, json!({})).await, report(0, 1, 0, 0));
    assert_eq!(stored(&server, &token, "phone-1").await, None, "a 410 deletes the subscription");
    assert_eq!(wake(&server, &token, json!({})).await, report(0, 0, 0, 0));
    assert_eq!(service.received(&channel).len(), 2, "nothing is sent to a deleted subscription");
}

#[tokio::test]
async fn a_wake_arrives_signed_and_encrypted_then_gone_deletes_it_on_sqlite() {
    a_wake_arrives_signed_and_encrypted_then_gone_deletes_it(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_wake_arrives_signed_and_encrypted_then_gone_deletes_it_on_postgres() {
    a_wake_arrives_signed_and_encrypted_then_gone_deletes_it(Backend::Postgres).await;
}

#[tokio::test]
async fn a_busy_push_service_is_left_alone_until_its_retry_after() {
    let service = PushService::start().await.unwrap();
    let server = server_for(&service, Backend::Sqlite).await.unwrap();
    let (token, _) = login_on(&server, &worker(1), Some("phone-1")).await;
    let channel = service.subscribe();
    assert_eq!(subscribe(&server, &token, &channel.subscription("phone-1")).await.0, 200);

    service.answer(&channel, Answer { status: 429, retry_after: Some("120".into()), delay: Duration::ZERO });
    let before = gridlink::clock::now_ms();
    assert_eq!(wake(&server, &token, json!({})).await, report(0, 0, 1, 0));
    let sub = stored(&server, &token, "phone-1").await.unwrap();
    assert_eq!(sub["failures"], 1);
    let next = gridlink::clock::parse_rfc3339(sub["next_attempt_at"].as_str().unwrap()).unwrap();
    assert!((before + 119_000..before + 125_000).contains(&next), "Retry-After: 120 is honoured ({})", next - before);

    // Until then, wakes skip it: the push service hears nothing more.
    service.answer(&channel, Answer::default());
    assert_eq!(wake(&server, &token, json!({})).await, report(0, 0, 0, 1));
    assert_eq!(service.received(&channel).len(), 1);

    // A 5xx without Retry-After backs off too; subscribing again starts afresh.
    assert_eq!(subscribe(&server, &token, &channel.subscription("phone-1")).await.0, 200);
    service.answer(&channel, Answer::status(503));
    assert_eq!(wake(&server, &token, json!({})).await, report(0, 0, 1, 0));
    let sub = stored(&server, &token, "phone-1").await.unwrap();
    assert_eq!(sub["failures"], 1);
    assert_eq!(wake(&server, &token, json!({})).await, report(0, 0, 0, 1));
    assert_eq!(subscribe(&server, &token, &channel.subscription("phone-1")).await.0, 200);
    service.answer(&channel, Answer::default());
    assert_eq!(wake(&server, &token, json!({})).await, report(1, 0, 0, 0));
    assert_eq!(stored(&server, &token, "phone-1").await.unwrap()["failures"], 0);
}

#[tokio::test]
async fn a_slow_push_service_blocks_neither_the_caller_nor_the_other_devices() {
    let service = PushService::start().await.unwrap();
    let server = server_for(&service, Backend::Sqlite).await.unwrap();
    let login_name = worker(2);
    let (slow_token, _) = login_on(&server, &login_name, Some("slow-phone")).await;
    let (fast_token, _) = login_on(&server, &login_name, Some("fast-phone")).await;
    let (slow, fast) = (service.subscribe(), service.subscribe());
    assert_eq!(subscribe(&server, &slow_token, &slow.subscription("slow-phone")).await.0, 200);
    assert_eq!(subscribe(&server, &fast_token, &fast.subscription("fast-phone")).await.0, 200);
    let hang = Answer { status: 201, retry_after: None, delay: Duration::from_millis(3 * TIMEOUT_MS) };
    service.answer(&slow, hang);

    // Waiting for the answers: the slow one is cut off at the time-out and counts as failed.
    let started = Instant::now();
    assert_eq!(wake(&server, &fast_token, json!({})).await, report(1, 0, 1, 0));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(TIMEOUT_MS) && took < Duration::from_millis(2 * TIMEOUT_MS), "{took:?}");
    let fast_at = service.received(&fast)[0].at;
    assert!(fast_at.duration_since(started) < Duration::from_millis(TIMEOUT_MS), "sent side by side, not in turn");
    assert_eq!(stored(&server, &slow_token, "slow-phone").await.unwrap()["failures"], 1);
    assert_eq!(stored(&server, &fast_token, "fast-phone").await.unwrap()["failures"], 0);

    // Not waiting: the caller has its answer at once, while the slow send is still hanging.
    assert_eq!(subscribe(&server, &slow_token, &slow.subscription("slow-phone")).await.0, 200);
    let started = Instant::now();
    let (status, body) = server.post_as(&fast_token, "/api/v1/push/test", &json!({"wait": false})).await.unwrap();
    assert_eq!(status, 202, "{body}");
    assert!(started.elapsed() < Duration::from_millis(TIMEOUT_MS / 2), "{:?}", started.elapsed());
    assert_eq!(service.wait_for(&fast, 2, Duration::from_secs(5)).await.len(), 2);
    assert_eq!(service.wait_for(&slow, 2, Duration::from_secs(5)).await.len(), 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if stored(&server, &slow_token, "slow-phone").await.unwrap()["failures"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the time-out was never counted as a failure");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn endpoints_inside_the_network_and_bad_keys_are_refused() {
    let service = PushService::start().await.unwrap();
    let server = server_for(&service, Backend::Sqlite).await.unwrap();
    let (token, _) = login_on(&server, &worker(3), Some("phone-1")).await;
    let channel = service.subscribe();
    let with_endpoint = |endpoint: &str| {
        let mut body = channel.subscription("phone-1");
        body["endpoint"] = json!(endpoint);
        body
    };
    for endpoint in [
        "https://10.0.0.1/push/x",
        "https://192.168.1.20:8443/push/x",
        "https://127.0.0.1/push/x",
        "https://[::1]/push/x",
        "https://[::ffff:10.0.0.1]/push/x",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/push/x",
        "https://2130706433/push/x",
        "http://127.0.0.1:1/push/x", // loopback, but not the allowed port
        "http://push.example.com/push/x",
        "ftp://push.example.com/push/x",
        "not a url",
    ] {
        let (status, problem) = subscribe(&server, &token, &with_endpoint(endpoint)).await;
        assert_eq!(status, 422, "{endpoint}: {problem}");
        assert_eq!(problem["type"], "invalid-push-endpoint", "{endpoint}");
    }
    let mut bad_point = channel.subscription("phone-1");
    bad_point["keys"]["p256dh"] = json!(URL_SAFE_NO_PAD.encode([4u8; 65]));
    let mut short_auth = channel.subscription("phone-1");
    short_auth["keys"]["auth"] = json!("c2hvcnQ");
    for body in [bad_point, short_auth] {
        let (status, problem) = subscribe(&server, &token, &body).await;
        assert_eq!((status, problem["type"].as_str()), (422, Some("invalid-push-keys")), "{problem}");
    }
    let (status, problem) = subscribe(&server, &token, &channel.subscription("")).await;
    assert_eq!((status, problem["type"].as_str()), (422, Some("invalid-device-id")), "{problem}");
    let (status, problem) = subscribe(&server, &token, &channel.subscription("another-phone")).await;
    assert_eq!((status, problem["type"].as_str()), (422, Some("device-mismatch")), "{problem}");
    let (status, _) = subscribe(&server, "not-a-token", &channel.subscription("phone-1")).await;
    assert_eq!(status, 401);
    assert_eq!(stored(&server, &token, "phone-1").await, None, "nothing was stored");
    assert_eq!(subscribe(&server, &token, &channel.subscription("phone-1")).await.0, 200, "the allowed one is taken");
}

#[tokio::test]
async fn logging_out_removes_the_devices_subscription_and_only_its() {
    let service = PushService::start().await.unwrap();
    let server = server_for(&service, Backend::Sqlite).await.unwrap();
    let login_name = worker(4);
    let (phone, _) = login_on(&server, &login_name, Some("phone")).await;
    let (tablet, _) = login_on(&server, &login_name, Some("tablet")).await;
    let (on_phone, on_tablet): (Channel, Channel) = (service.subscribe(), service.subscribe());
    assert_eq!(subscribe(&server, &phone, &on_phone.subscription("phone")).await.0, 200);
    assert_eq!(subscribe(&server, &tablet, &on_tablet.subscription("tablet")).await.0, 200);

    let (status, _) = server.post_as(&phone, "/api/v1/auth/logout", &json!({})).await.unwrap();
    assert_eq!(status, 204);
    assert_eq!(stored(&server, &tablet, "phone").await, None, "logging out removed the phone's subscription");
    assert!(stored(&server, &tablet, "tablet").await.is_some(), "the tablet's stays");
    assert_eq!(wake(&server, &tablet, json!({})).await, report(1, 0, 0, 0));
    assert!(service.received(&on_phone).is_empty());
    assert_eq!(service.received(&on_tablet).len(), 1);

    // Unsubscribing by hand works too, and says 204 whether or not there was one.
    for _ in 0..2 {
        let response = server
            .client
            .delete(format!("{}/api/v1/push/subscription?device_id=tablet", server.base))
            .bearer_auth(&tablet)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);
    }
    assert_eq!(stored(&server, &tablet, "tablet").await, None);
}

#[tokio::test]
async fn only_an_administrator_wakes_someone_elses_devices() {
    let service = PushService::start().await.unwrap();
    let server = server_for(&service, Backend::Sqlite).await.unwrap();
    let (token, user_id) = login_on(&server, &worker(5), Some("phone")).await;
    let channel = service.subscribe();
    assert_eq!(subscribe(&server, &token, &channel.subscription("phone")).await.0, 200);

    let (other, _) = login_on(&server, &worker(6), None).await;
    let (status, problem) = server.post_as(&other, "/api/v1/push/test", &json!({"user_id": user_id})).await.unwrap();
    assert_eq!((status, problem["type"].as_str()), (403, Some("forbidden")), "{problem}");
    assert!(service.received(&channel).is_empty());

    let (admin, _) = login_on(&server, "admin", None).await;
    let (status, body) = server.post_as(&admin, "/api/v1/push/test", &json!({"user_id": user_id})).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], user_id.as_str());
    assert_eq!(body["report"], report(1, 0, 0, 0));
    assert_eq!(service.received(&channel).len(), 1);

    let (_, _, doc) = server.get("/openapi.json").await.unwrap();
    for (path, method) in [
        ("/api/v1/push/key", "get"),
        ("/api/v1/push/subscription", "put"),
        ("/api/v1/push/subscription", "get"),
        ("/api/v1/push/subscription", "delete"),
        ("/api/v1/push/test", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not described");
    }
}

#[tokio::test]
async fn the_test_push_service_finds_what_a_real_one_would_refuse() {
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};

    let service = PushService::start().await.unwrap();
    let channel = service.subscribe();
    let key = SigningKey::random(&mut rand_core::OsRng);
    let k = URL_SAFE_NO_PAD.encode(key.verifying_key().to_encoded_point(false).as_bytes());
    let jwt = |claims: Value, signer: &SigningKey| {
        let head = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signature: Signature = signer.sign(format!("{head}.{body}").as_bytes());
        format!("{head}.{body}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    };
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let good = json!({"aud": service.origin(), "exp": exp, "sub": "mailto:ops@example.org"});
    let other = SigningKey::random(&mut rand_core::OsRng);
    let cases = [
        (jwt(good.clone(), &other), "not valid under k"),
        (jwt(json!({"aud": "http://elsewhere", "exp": exp, "sub": "mailto:a@b.c"}), &key), "aud"),
        (jwt(json!({"aud": service.origin(), "exp": exp + 2 * 86_400, "sub": "mailto:a@b.c"}), &key), "exp"),
        (jwt(json!({"aud": service.origin(), "exp": exp}), &key), "sub"),
    ];
    let client = reqwest::Client::new();
    for (token, problem) in &cases {
        let response = client
            .post(&channel.endpoint)
            .header("Authorization", format!("vapid t={token}, k={k}"))
            .header("TTL", "60")
            .header("Content-Encoding", "aes128gcm")
            .body(vec![0u8; 100])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let last = service.received(&channel).pop().unwrap();
        assert!(last.problems.iter().any(|p| p.contains(problem)), "{problem}: {:?}", last.problems);
        assert!(last.problems.iter().any(|p| p.contains("cannot decrypt")), "{:?}", last.problems);
        assert!(last.payload.is_none());
    }
    // A valid token passes its own checks (only the junk body fails).
    let response = client
        .post(&channel.endpoint)
        .header("Authorization", format!("vapid t={}, k={k}", jwt(good, &key)))
        .header("TTL", "60")
        .header("Content-Encoding", "aes128gcm")
        .body(vec![0u8; 100])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let last = service.received(&channel).pop().unwrap();
    assert_eq!(last.problems.len(), 1, "{:?}", last.problems);
    assert!(last.claims.is_some());
}
