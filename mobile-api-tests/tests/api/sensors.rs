//! Sensors (物联感知) from outside, on SQLite and PostgreSQL: an administrator registers
//! one; its alarm repeated ten times makes one case whose history counts nine repeats, a
//! cleared alarm is noted, and once the case is closed the next alarm opens another; the
//! same over a real MQTT broker (Mosquitto on 127.0.0.1:1883); the refusals.

use std::time::{Duration, Instant};

use mobile_api_tests::{TestServer, demo_point, servers, servers_with};
use serde_json::{Value, json};

use crate::closed_loop::handle_and_close;
use crate::support::{act, count, ok, problem, read};

/// The broker the MQTT scenario publishes through.
const BROKER: (&str, u16) = ("127.0.0.1", 1883);

/// Registers a sensor of `category` in the `nth` demo grid as `admin`: its id, key and grid.
async fn register(server: &TestServer, admin: &str, nth: usize, category: &str) -> (String, String, String) {
    let (lon, lat, grid) = demo_point(nth);
    let body = json!({"name": format!("传感器-{nth}"), "location": {"lon": lon, "lat": lat}, "category": category});
    let (status, sensor) = server.post_as(admin, "/api/v1/sensors", &body).await.unwrap();
    assert_eq!(status, 201, "{sensor}");
    assert_eq!(sensor["grid"], grid.as_str(), "{sensor}");
    let key = sensor["key"].as_str().unwrap().to_owned();
    (sensor["id"].as_str().unwrap().to_owned(), key, grid)
}

/// Sends an alarm of sensor `id` with `key` as a bearer token: the answer.
async fn alarm(server: &TestServer, id: &str, key: &str, body: Value) -> crate::support::Reply {
    let url = format!("{}/api/v1/sensors/{id}/alarms", server.base);
    read(server.client.post(url).bearer_auth(key).json(&body).send().await.unwrap()).await
}

/// A raised alarm's body.
fn raised(alarm_id: &str, value: f64) -> Value {
    json!({"alarm_id": alarm_id, "state": "raised", "value": value, "unit": "cm", "note": "积水"})
}

/// Case `id` as `token` sees it.
async fn case(server: &TestServer, token: &str, id: &str) -> Value {
    crate::support::case(server, token, id).await
}

#[tokio::test]
async fn ten_alarms_make_one_case_and_a_closed_case_lets_the_next_alarm_open_another() {
    for server in servers().await {
        let admin = server.login("admin").await.unwrap();
        let centre = server.login("centre").await.unwrap();
        // A rain grate (C0103) does not dispatch on its own: the case waits for the desk.
        let (sensor, key, grid) = register(&server, &admin, 5, "C0103").await;
        let (status, listed) = server.get_as(&admin, "/api/v1/sensors").await.unwrap();
        assert_eq!(status, 200, "{listed}");
        let mine = listed.as_array().unwrap().iter().find(|s| s["id"] == sensor.as_str()).unwrap().clone();
        assert!(mine.get("key").is_none() && !listed.to_string().contains(&key), "a key is shown once: {listed}");

        let first = alarm(&server, &sensor, &key, raised("a-0", 10.0)).await;
        assert_eq!(first.status, 201, "{}", first.body);
        assert_eq!((first.body["status"].as_str(), first.body["repeated"].as_u64()), (Some("reported"), Some(0)));
        let id = first.body["incident_id"].as_str().unwrap().to_owned();
        for n in 1..10 {
            let again = alarm(&server, &sensor, &key, raised(&format!("a-{n}"), 10.0 + n as f64)).await;
            assert_eq!(again.status, 200, "alarm {n}: {}", again.body);
            assert_eq!(again.body["incident_id"], id.as_str(), "alarm {n}: no new case");
            assert_eq!(again.body["repeated"], n, "alarm {n}");
        }
        // The same alarm sent again is applied once and answered as the first time; the
        // same alarm_id with another alarm is refused.
        let resent = alarm(&server, &sensor, &key, raised("a-3", 13.0)).await;
        assert_eq!((resent.status, resent.body["repeated"].as_u64()), (200, Some(3)), "{}", resent.body);
        let reused = alarm(&server, &sensor, &key, raised("a-3", 99.0)).await;
        problem("an alarm_id reused", &reused, 422, "idempotency-key-reused");

        let seen = case(&server, &centre, &id).await;
        assert_eq!(seen["status"], "reported", "alarms change no status");
        assert_eq!(seen["source"], "sensor");
        assert_eq!((count(&seen, "alarm_raised"), count(&seen, "alarm_repeated")), (1, 9), "{}", seen["history"]);
        assert_eq!(seen["history"].as_array().unwrap().len(), 11, "reported, raised, nine repeats");
        let last = seen["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["data"]["repeated"], 9, "{last}");
        assert_eq!(last["data"]["sensor"], sensor.as_str(), "{last}");
        assert_eq!(last["data"]["sensor_name"], "传感器-5", "{last}");
        assert_eq!(last["data"]["value"], 19.0, "{last}");
        assert!(seen["description"].as_str().unwrap().contains("传感器-5"), "{seen}");

        // Cleared: noted on the case, nothing else changes.
        let cleared = alarm(&server, &sensor, &key, json!({"state": "cleared", "note": "水已退"})).await;
        assert_eq!(cleared.status, 200, "{}", cleared.body);
        assert_eq!(cleared.body, json!({"incident_id": id, "noted": true}));
        let seen = case(&server, &centre, &id).await;
        assert_eq!(seen["history"].as_array().unwrap().last().unwrap()["action"], "alarm_cleared");
        assert_eq!(seen["status"], "reported");

        // Worked through the loop to closed, the case takes no more alarms: the next opens another.
        ok("accept", act(&server, &centre, &id, json!({"action": "accept"})).await);
        let worker = server.login(&format!("worker-{grid}")).await.unwrap();
        let closed = handle_and_close(&server, &centre, &worker, &id, &grid).await;
        assert_eq!(closed["status"], "closed");
        let next = alarm(&server, &sensor, &key, raised("b-0", 30.0)).await;
        assert_eq!(next.status, 201, "{}", next.body);
        let next_id = next.body["incident_id"].as_str().unwrap().to_owned();
        assert_ne!(next_id, id, "a closed case opens no more alarms");
        assert_eq!(next.body["repeated"], 0);
        let old = case(&server, &centre, &id).await;
        assert_eq!(count(&old, "alarm_repeated"), 9, "the closed case was not touched");
        // The key is taken from X-Sensor-Key as well.
        let url = format!("{}/api/v1/sensors/{sensor}/alarms", server.base);
        let repeat = server.client.post(&url).header("X-Sensor-Key", &key).json(&raised("b-1", 31.0)).send().await;
        let repeat = read(repeat.unwrap()).await;
        assert_eq!((repeat.status, repeat.body["incident_id"].as_str()), (200, Some(next_id.as_str())));
        let (_, listed) = server.get_as(&admin, "/api/v1/sensors").await.unwrap();
        let mine = listed.as_array().unwrap().iter().find(|s| s["id"] == sensor.as_str()).unwrap().clone();
        assert_eq!(mine["open_incident_id"], next_id.as_str());
    }
}

#[tokio::test]
async fn an_alarm_of_a_category_marked_to_dispatch_is_dispatched_by_the_rules() {
    for server in servers().await {
        let admin = server.login("admin").await.unwrap();
        let centre = server.login("centre").await.unwrap();
        // Water-logging (E0203) dispatches on its own, to the water department.
        let (sensor, key, _) = register(&server, &admin, 6, "E0203").await;
        let first = alarm(&server, &sensor, &key, raised("w-1", 42.0)).await;
        assert_eq!(first.status, 201, "{}", first.body);
        assert_eq!(first.body["status"], "dispatched", "{}", first.body);
        let seen = case(&server, &centre, first.body["incident_id"].as_str().unwrap()).await;
        let history: Vec<&str> =
            seen["history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(&history[..4], ["reported", "alarm_raised", "registered", "dispatched"], "{history:?}");
        assert!(seen["history"][3]["data"]["rule"].is_string(), "{}", seen["history"][3]);
        // A repeat on the dispatched case is counted on it.
        let again = alarm(&server, &sensor, &key, raised("w-2", 50.0)).await;
        assert_eq!((again.status, again.body["status"].as_str()), (200, Some("dispatched")), "{}", again.body);
    }
}

#[tokio::test]
async fn wrong_keys_unknown_sensors_bad_alarms_and_revoked_sensors_are_refused() {
    let quick = |s: &mut gridlink::settings::Settings| {
        s.limits.sensor_alarms_burst = 4;
        s.limits.sensor_alarms_per_minute = 1;
    };
    for server in servers_with(quick).await {
        let admin = server.login("admin").await.unwrap();
        let centre = server.login("centre").await.unwrap();
        let (sensor, key, _) = register(&server, &admin, 7, "C0103").await;
        let sent = raised("x-1", 1.0);

        problem("a wrong key", &alarm(&server, &sensor, "not-the-key", sent.clone()).await, 401, "unauthenticated");
        let url = format!("{}/api/v1/sensors/{sensor}/alarms", server.base);
        let keyless = read(server.client.post(&url).json(&sent).send().await.unwrap()).await;
        problem("no key", &keyless, 401, "unauthenticated");
        let unknown = uuid::Uuid::new_v4().to_string();
        problem("an unknown sensor", &alarm(&server, &unknown, &key, sent.clone()).await, 404, "not-found");
        for bad in [
            json!({"state": "burning"}),
            json!({"value": 1}),
            json!({"state": "raised", "key": key}),
            json!({"state": "raised", "occurred_at": "yesterday"}),
            json!({"state": "raised", "alarm_id": "has space"}),
        ] {
            problem(&format!("malformed {bad}"), &alarm(&server, &sensor, &key, bad.clone()).await, 400, "bad-request");
        }
        let not_json = server.client.post(&url).bearer_auth(&key).body("raised").send().await.unwrap();
        problem("not JSON", &read(not_json).await, 400, "bad-request");

        // A clear with no case open is acknowledged, and opens nothing.
        let cleared = alarm(&server, &sensor, &key, json!({"state": "cleared"})).await;
        assert_eq!((cleared.status, &cleared.body), (200, &json!({"noted": true})));

        // Registering is an administrator's, at a place in the service area, of a leaf category.
        let (lon, lat, _) = demo_point(7);
        let good = json!({"name": "x", "location": {"lon": lon, "lat": lat}, "category": "C0103"});
        let (status, body) = server.post_as(&centre, "/api/v1/sensors", &good).await.unwrap();
        assert_eq!((status, body["type"].as_str()), (403, Some("forbidden")), "{body}");
        let (status, body) = server.get_as(&centre, "/api/v1/sensors").await.unwrap();
        assert_eq!((status, body["type"].as_str()), (403, Some("forbidden")), "{body}");
        let far = json!({"name": "x", "location": {"lon": 100.0, "lat": 20.0}, "category": "C0103"});
        let (status, body) = server.post_as(&admin, "/api/v1/sensors", &far).await.unwrap();
        assert_eq!((status, body["type"].as_str()), (404, Some("outside-service-area")), "{body}");
        let no_such = json!({"name": "x", "location": {"lon": lon, "lat": lat}, "category": "C01"});
        let (status, body) = server.post_as(&admin, "/api/v1/sensors", &no_such).await.unwrap();
        assert_eq!((status, body["type"].as_str()), (422, Some("unknown-category")), "{body}");

        // Past its allowance a sensor is told to wait.
        let (busy, busy_key, _) = register(&server, &admin, 8, "C0103").await;
        for n in 0..4 {
            let sent = alarm(&server, &busy, &busy_key, raised(&format!("r-{n}"), 1.0)).await;
            assert!(sent.status == 200 || sent.status == 201, "{}", sent.body);
        }
        let over = alarm(&server, &busy, &busy_key, raised("r-4", 1.0)).await;
        problem("past the allowance", &over, 429, "rate-limited");
        assert!(over.retry_after.is_some());

        // Revoked, the right key is refused; the sensor stays listed.
        let revoke = server.client.delete(format!("{}/api/v1/sensors/{sensor}", server.base)).bearer_auth(&admin);
        let revoked = read(revoke.send().await.unwrap()).await;
        assert_eq!(revoked.status, 200, "{}", revoked.body);
        assert!(revoked.body["revoked_at"].is_string(), "{}", revoked.body);
        problem("a revoked sensor", &alarm(&server, &sensor, &key, sent.clone()).await, 403, "forbidden");
        let gone = server.client.delete(format!("{}/api/v1/sensors/{unknown}", server.base)).bearer_auth(&admin);
        problem("revoking an unknown sensor", &read(gone.send().await.unwrap()).await, 404, "not-found");
    }
}

/// Whether the broker listens; under CI it must.
async fn broker_up() -> bool {
    let up = tokio::net::TcpStream::connect(BROKER).await.is_ok();
    if !up {
        assert!(std::env::var("CI").is_err(), "Mosquitto is required under CI on {BROKER:?}");
        eprintln!("skipping MQTT: no broker on {BROKER:?}");
    }
    up
}

/// The value of the metric line starting with `name` on the server's `/metrics`, if any.
async fn metric(server: &TestServer, name: &str) -> Option<f64> {
    let request = server.client.get(format!("{}/metrics", server.base)).bearer_auth(mobile_api_tests::METRICS_TOKEN);
    let text = request.send().await.ok()?.text().await.ok()?;
    text.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Polls until `done` holds for what `look` finds; fails after 20 s.
async fn eventually<T: std::fmt::Debug>(what: &str, mut look: impl AsyncFnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let started = Instant::now();
    loop {
        let found = look().await;
        if done(&found) {
            return found;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{what}: still {found:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn ten_alarms_over_mqtt_make_one_case_with_nine_repeats() {
    if !broker_up().await {
        return;
    }
    let url = format!("mqtt://{}:{}", BROKER.0, BROKER.1);
    for server in servers_with(|s| s.mqtt = Some(url.clone())).await {
        let admin = server.login("admin").await.unwrap();
        let centre = server.login("centre").await.unwrap();
        // A fresh sensor (a new id, so a new topic) per run: parallel runs do not collide.
        let (sensor, key, _) = register(&server, &admin, 9, "C0103").await;
        eventually(
            "the server's subscription",
            async || metric(&server, "gridlink_mqtt_subscribed").await,
            |v| *v == Some(1.0),
        )
        .await;

        let client_id = format!("gridlink-test-{}", uuid::Uuid::new_v4().simple());
        let mut options = rumqttc::MqttOptions::new(client_id, BROKER.0, BROKER.1);
        options.set_keep_alive(Duration::from_secs(10));
        let (client, mut events) = rumqttc::AsyncClient::new(options, 64);
        let polling = tokio::spawn(async move { while events.poll().await.is_ok() {} });
        let topic = format!("gridlink/sensors/{sensor}/alarm");
        let publish = async |payload: Value| {
            let bytes = serde_json::to_vec(&payload).unwrap();
            client.publish(&topic, rumqttc::QoS::AtLeastOnce, false, bytes).await.unwrap();
        };
        // A payload without its key, and one that is not JSON, are dropped and counted.
        publish(json!({"state": "raised"})).await;
        client.publish(&topic, rumqttc::QoS::AtLeastOnce, false, b"not json".to_vec()).await.unwrap();
        for n in 0..10 {
            let mut body = raised(&format!("m-{n}"), n as f64);
            body["key"] = json!(key);
            publish(body).await;
        }
        let sensors = async || -> Value {
            let (_, listed) = server.get_as(&admin, "/api/v1/sensors").await.unwrap();
            listed.as_array().unwrap().iter().find(|s| s["id"] == sensor.as_str()).unwrap().clone()
        };
        let opened = eventually("the sensor's case", sensors, |s| s["open_incident_id"].is_string()).await;
        let id = opened["open_incident_id"].as_str().unwrap().to_owned();
        let seen =
            eventually("nine repeats", async || case(&server, &centre, &id).await, |c| count(c, "alarm_repeated") >= 9)
                .await;
        assert_eq!((count(&seen, "alarm_raised"), count(&seen, "alarm_repeated")), (1, 9), "{}", seen["history"]);
        let repeats: Vec<u64> = seen["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "alarm_repeated")
            .map(|e| e["data"]["repeated"].as_u64().unwrap())
            .collect();
        assert_eq!(repeats, (1..10).collect::<Vec<_>>(), "applied in the order sent");
        let malformed = metric(&server, "gridlink_mqtt_messages_total{outcome=\"malformed\"}").await;
        assert!(malformed.is_some_and(|n| n >= 2.0), "{malformed:?}");

        // Cleared over MQTT too: noted on the case.
        publish(json!({"key": key, "state": "cleared"})).await;
        let seen =
            eventually("the clear", async || case(&server, &centre, &id).await, |c| count(c, "alarm_cleared") == 1)
                .await;
        assert_eq!(seen["status"], "reported");
        let _ = client.disconnect().await;
        polling.abort();
    }
}
