//! The deadline timer on both backends, as several nodes on one database: four timers
//! tick at once after three days with nobody looking, and every case's accept limit
//! fires exactly once — one `warned`, one `overdue` — and looking again fires nothing.

use std::sync::Arc;

use gridlink::clock::Clock;
use gridlink::deadlines::timer::Timer;
use gridlink::sync::hub::NoListeners;
use uuid::Uuid;

use crate::support;

/// Monday 2026-03-02 09:00 in Asia/Shanghai.
const NOW: i64 = 1_772_413_200_000;
const DAY: i64 = 86_400_000;
const CASES: usize = 20;
const NODES: usize = 4;

#[test]
fn several_timers_on_one_database_fire_each_deadline_once() {
    assert_eq!(gridlink::clock::parse_rfc3339("2026-03-02T09:00:00+08:00"), Some(NOW));
    for t in support::both() {
        let path = support::write_path(&t.db, Arc::new(NoListeners));
        let ids: Vec<String> = (0..CASES).map(|_| Uuid::new_v4().to_string()).collect();
        for id in &ids {
            path.run(|tx| tx.open(support::new_case(id, "321302001001001"), None, NOW).map(|_| ())).unwrap();
        }
        let clock = Clock::starting_at(NOW + 3 * DAY);
        let timer = Timer { path, clock };
        let fired: usize = std::thread::scope(|s| {
            let nodes: Vec<_> = (0..NODES).map(|_| s.spawn(|| timer.tick().unwrap())).collect();
            nodes.into_iter().map(|n| n.join().unwrap()).sum()
        });
        assert_eq!(fired, CASES, "{}: each limit fired by one node", t.name);
        for id in &ids {
            assert_eq!(support::actions(&t.db, id), ["reported", "warned", "overdue"], "{}", t.name);
        }
        assert_eq!(timer.tick().unwrap(), 0, "{}: nothing more to fire", t.name);
    }
}
