//! The push store on both backends: the server's shared keys (made once, even when two
//! nodes race to make them) and devices' subscriptions with their back-off state.

use std::sync::{Arc, Barrier};

use gridlink::auth::{self, User};
use gridlink::push::Vapid;
use gridlink::push::store::{self, ReportSubscription, Subscription};
use gridlink::store::Database;

use crate::support;

fn add_user(db: &Database, login: &str) -> String {
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        login: login.into(),
        password_hash: "x".into(),
        display_name: login.into(),
        role: "grid_worker".into(),
        unit_code: "321302003002009".into(),
        created_at_ms: 0,
    };
    db.write(|c| auth::insert_user(c, &user)).unwrap();
    user.id
}

fn sub(user: &str, device: &str, endpoint: &str) -> Subscription {
    Subscription {
        user_id: user.into(),
        device_id: device.into(),
        endpoint: endpoint.into(),
        p256dh: "BGa4N1PI79lboMR_YrwCiCsgp35DRvedt7opHcf0yM3iOBTSoQYqQLwWxAfRKE6tsDnReWmhsImkhDF_DBdkNSU".into(),
        auth: "EvcWjEgzr4rbvhfi3yds0A".into(),
        created_at_ms: 1_000,
        failures: 0,
        next_attempt_at_ms: 0,
    }
}

#[test]
fn a_server_key_is_made_once_and_then_read() {
    for t in support::both() {
        assert_eq!(t.db.read(|c| store::server_key(c, "k")).unwrap(), None, "{}", t.name);
        let first = t.db.write(|c| store::ensure_server_key(c, "k", || "one".into())).unwrap();
        let again = t.db.write(|c| store::ensure_server_key(c, "k", || panic!("made twice"))).unwrap();
        assert_eq!((first.as_str(), again.as_str()), ("one", "one"), "{}", t.name);
        assert_eq!(t.db.read(|c| store::server_key(c, "k")).unwrap().as_deref(), Some("one"));
    }
}

#[test]
fn nodes_racing_to_make_the_key_all_end_up_with_the_one_stored() {
    for t in support::both() {
        // Eight "nodes" at once: each makes its own key, and all must return the same one.
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|n| {
                let (db, barrier) = (t.db.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    db.write(|c| store::ensure_server_key(c, "raced", || format!("node-{n}"))).unwrap()
                })
            })
            .collect();
        let keys: Vec<String> = threads.into_iter().map(|h| h.join().unwrap()).collect();
        let stored = t.db.read(|c| store::server_key(c, "raced")).unwrap().unwrap();
        assert!(keys.iter().all(|k| *k == stored), "{}: {keys:?} vs {stored}", t.name);
    }
}

#[test]
fn every_node_signs_with_the_same_vapid_key() {
    for t in support::both() {
        let node_a = Vapid::load_or_create(&t.db).unwrap();
        let node_b = Vapid::load_or_create(&t.db.clone()).unwrap();
        assert_eq!(node_a.public_key(), node_b.public_key(), "{}", t.name);
        assert_eq!(node_a.public_key().len(), 87, "65 bytes in base64url");
    }
}

#[test]
fn a_device_has_one_subscription_replaced_when_it_subscribes_again() {
    for t in support::both() {
        let (alice, bob) = (add_user(&t.db, "alice"), add_user(&t.db, "bob"));
        t.db.write(|c| store::put_subscription(c, &sub(&alice, "phone", "https://push.example/a1"))).unwrap();
        t.db.write(|c| store::put_subscription(c, &sub(&alice, "tablet", "https://push.example/a2"))).unwrap();
        let all = t.db.read(|c| store::subscriptions_of(c, &alice)).unwrap();
        let devices: Vec<&str> = all.iter().map(|s| s.device_id.as_str()).collect();
        assert_eq!(devices, ["phone", "tablet"], "{}", t.name);

        // A failing subscription, replaced: one row, the new endpoint, failures cleared.
        t.db.write(|c| store::record_failure(c, &alice, "phone", "https://push.example/a1", |_| 99_000)).unwrap();
        t.db.write(|c| store::put_subscription(c, &sub(&alice, "phone", "https://push.example/a1b"))).unwrap();
        let phone = t.db.read(|c| store::subscription(c, &alice, "phone")).unwrap().unwrap();
        assert_eq!(phone.endpoint, "https://push.example/a1b", "{}", t.name);
        assert_eq!((phone.failures, phone.next_attempt_at_ms), (0, 0), "{}", t.name);
        assert_eq!(t.db.read(|c| store::subscriptions_of(c, &alice)).unwrap().len(), 2);

        // The same endpoint registered by someone else (the browser changed hands) moves.
        t.db.write(|c| store::put_subscription(c, &sub(&bob, "shared", "https://push.example/a2"))).unwrap();
        let left: Vec<String> =
            t.db.read(|c| store::subscriptions_of(c, &alice)).unwrap().into_iter().map(|s| s.device_id).collect();
        assert_eq!(left, ["phone"], "{}", t.name);
        assert_eq!(t.db.read(|c| store::subscriptions_of(c, &bob)).unwrap().len(), 1);

        assert!(t.db.write(|c| store::delete_subscription(c, &alice, "phone")).unwrap());
        assert!(!t.db.write(|c| store::delete_subscription(c, &alice, "phone")).unwrap(), "already gone");
        assert_eq!(t.db.read(|c| store::subscription(c, &alice, "phone")).unwrap(), None);
    }
}

#[test]
fn concurrent_subscriptions_of_one_device_leave_one_row() {
    for t in support::both() {
        let alice = add_user(&t.db, "alice");
        let barrier = Arc::new(Barrier::new(6));
        let threads: Vec<_> = (0..6)
            .map(|n| {
                let (db, barrier, alice) = (t.db.clone(), Arc::clone(&barrier), alice.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let mine = sub(&alice, "phone", &format!("https://push.example/{n}"));
                    db.write(|c| store::put_subscription(c, &mine)).unwrap();
                })
            })
            .collect();
        threads.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(t.db.read(|c| store::subscriptions_of(c, &alice)).unwrap().len(), 1, "{}", t.name);
    }
}

#[test]
fn failures_count_up_and_hold_back_until_a_send_gets_through() {
    for t in support::both() {
        let alice = add_user(&t.db, "alice");
        let endpoint = "https://push.example/a";
        t.db.write(|c| store::put_subscription(c, &sub(&alice, "phone", endpoint))).unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let recorded = t.db.write(|c| {
                store::record_failure(c, &alice, "phone", endpoint, |n| {
                    seen.push(n);
                    1_000 * i64::from(n)
                })
            });
            assert!(recorded.unwrap().is_some(), "{}", t.name);
        }
        assert_eq!(seen, [1, 2, 3], "{}: the count given to the schedule", t.name);
        let phone = t.db.read(|c| store::subscription(c, &alice, "phone")).unwrap().unwrap();
        assert_eq!((phone.failures, phone.next_attempt_at_ms), (3, 3_000), "{}", t.name);

        // An outcome for an endpoint the device no longer has changes nothing.
        let stale = t.db.write(|c| store::record_failure(c, &alice, "phone", "https://push.example/old", |_| 5));
        assert_eq!(stale.unwrap(), None, "{}", t.name);
        assert!(!t.db.write(|c| store::delete_gone(c, &alice, "phone", "https://push.example/old")).unwrap());

        t.db.write(|c| store::record_success(c, &alice, "phone", endpoint)).unwrap();
        let phone = t.db.read(|c| store::subscription(c, &alice, "phone")).unwrap().unwrap();
        assert_eq!((phone.failures, phone.next_attempt_at_ms), (0, 0), "{}", t.name);

        assert!(t.db.write(|c| store::delete_gone(c, &alice, "phone", endpoint)).unwrap(), "{}", t.name);
        assert_eq!(t.db.read(|c| store::subscription(c, &alice, "phone")).unwrap(), None);
    }
}

fn report_sub(incident: &str, endpoint: &str, at_ms: i64) -> ReportSubscription {
    ReportSubscription {
        incident_id: incident.into(),
        endpoint: endpoint.into(),
        p256dh: "BGa4N1PI79lboMR_YrwCiCsgp35DRvedt7opHcf0yM3iOBTSoQYqQLwWxAfRKE6tsDnReWmhsImkhDF_DBdkNSU".into(),
        auth: "EvcWjEgzr4rbvhfi3yds0A".into(),
        created_at_ms: at_ms,
        failures: 0,
        next_attempt_at_ms: 0,
    }
}

#[test]
fn a_report_keeps_its_newest_subscriptions_with_their_back_off() {
    for t in support::both() {
        let path = support::write_path(&t.db, Arc::new(support::Recorder::default()));
        let (case, other) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
        for id in [&case, &other] {
            path.run(|tx| tx.open(support::new_case(id, "321302001001001"), None, 1_000).map(|_| ())).unwrap();
        }
        for n in 0..7 {
            let sub = report_sub(&case, &format!("https://push.example/{n}"), 1_000 + n);
            t.db.write(|c| store::put_report_subscription(c, &sub, 5)).unwrap();
        }
        t.db.write(|c| store::put_report_subscription(c, &report_sub(&other, "https://push.example/0", 5), 5)).unwrap();
        let endpoints = |db: &Database, ids: &[String]| -> Vec<String> {
            db.read(|c| store::report_subscriptions_of(c, ids)).unwrap().into_iter().map(|s| s.endpoint).collect()
        };
        let newest: Vec<String> = (2..7).map(|n| format!("https://push.example/{n}")).collect();
        assert_eq!(endpoints(&t.db, std::slice::from_ref(&case)), newest, "{}: the five newest", t.name);
        assert_eq!(endpoints(&t.db, &[case.clone(), other.clone()]).len(), 6, "{}", t.name);

        // Failures back off; a success or subscribing again starts afresh.
        let third = "https://push.example/3";
        let failed = t.db.write(|c| store::record_report_failure(c, &case, third, |n| i64::from(n) * 100)).unwrap();
        let again = t.db.write(|c| store::record_report_failure(c, &case, third, |n| i64::from(n) * 100)).unwrap();
        assert_eq!((failed, again), (Some((1, 100)), Some((2, 200))), "{}", t.name);
        let stored = |db: &Database| {
            let all = db.read(|c| store::report_subscriptions_of(c, std::slice::from_ref(&case))).unwrap();
            all.into_iter().find(|s| s.endpoint == third).unwrap()
        };
        assert_eq!((stored(&t.db).failures, stored(&t.db).next_attempt_at_ms), (2, 200));
        t.db.write(|c| store::record_report_success(c, &case, third)).unwrap();
        assert_eq!((stored(&t.db).failures, stored(&t.db).next_attempt_at_ms), (0, 0), "{}", t.name);
        t.db.write(|c| store::record_report_failure(c, &case, third, |_| 500)).unwrap();
        t.db.write(|c| store::put_report_subscription(c, &report_sub(&case, third, 2_000), 5)).unwrap();
        assert_eq!((stored(&t.db).failures, stored(&t.db).created_at_ms), (0, 2_000), "{}", t.name);
        assert_eq!(endpoints(&t.db, std::slice::from_ref(&case)).len(), 5, "subscribing again adds none");

        // Gone: deleted once.
        assert!(t.db.write(|c| store::delete_report_subscription(c, &case, third)).unwrap());
        assert!(!t.db.write(|c| store::delete_report_subscription(c, &case, third)).unwrap());
        assert_eq!(t.db.write(|c| store::record_report_failure(c, &case, third, |_| 1)).unwrap(), None);
        assert!(endpoints(&t.db, &[]).is_empty());
    }
}
