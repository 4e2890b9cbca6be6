//! The deadline timer on both backends, as several nodes on one database: four timers
//! tick at once after three days with nobody looking, and every case's accept limit
//! fires exactly once — one `warned`, one `overdue` — and looking again fires nothing.

use std::sync::Arc;

use gridlink::calendar::Calendars;
use gridlink::categories::CategoryTree;
use gridlink::clock::Clock;
use gridlink::deadlines::timer::Timer;
use gridlink::incidents::act::{NewCase, WritePath};
use gridlink::incidents::store;
use gridlink::sync::hub::{Notifier, Touched};
use uuid::Uuid;

use crate::support;

/// Monday 2026-03-02 09:00 in Asia/Shanghai.
const NOW: i64 = 1_772_413_200_000;
const DAY: i64 = 86_400_000;
const CASES: usize = 20;
const NODES: usize = 4;

struct Nobody;

impl Notifier for Nobody {
    fn committed(&self, _: &Touched) {}
}

fn new_case(id: &str) -> NewCase {
    NewCase {
        id: id.to_owned(),
        category: "C0101".into(),
        level: 5,
        chain: ["321300", "321302", "321302001", "321302001001", "321302001001001"].map(str::to_owned),
        lon: 118.3,
        lat: 33.9,
        description: "井盖缺失".into(),
        photos: Vec::new(),
        contact: None,
        source: "resident".into(),
        follow_token_hash: "x".into(),
        severity: None,
        claimed_severity: None,
    }
}

#[test]
fn several_timers_on_one_database_fire_each_deadline_once() {
    assert_eq!(gridlink::clock::parse_rfc3339("2026-03-02T09:00:00+08:00"), Some(NOW));
    let tree = Arc::new(CategoryTree::default_tree().unwrap());
    let calendars = Arc::new(Calendars::shipped());
    for t in support::both() {
        let path = WritePath::new(t.db.clone(), Arc::new(Nobody), tree.clone(), calendars.clone());
        let ids: Vec<String> = (0..CASES).map(|_| Uuid::new_v4().to_string()).collect();
        for id in &ids {
            path.run(|tx| tx.open(new_case(id), None, NOW).map(|_| ())).unwrap();
        }
        let clock = Clock::starting_at(NOW + 3 * DAY);
        let timer = Timer { path, clock };
        let fired: usize = std::thread::scope(|s| {
            let nodes: Vec<_> = (0..NODES).map(|_| s.spawn(|| timer.tick().unwrap())).collect();
            nodes.into_iter().map(|n| n.join().unwrap()).sum()
        });
        assert_eq!(fired, CASES, "{}: each limit fired by one node", t.name);
        for id in &ids {
            let actions: Vec<String> =
                t.db.read(|c| store::events_of(c, id)).unwrap().into_iter().map(|e| e.action).collect();
            assert_eq!(actions, ["reported", "warned", "overdue"], "{}", t.name);
        }
        assert_eq!(timer.tick().unwrap(), 0, "{}: nothing more to fire", t.name);
    }
}
