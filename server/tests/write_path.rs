//! The one write path on both backends: a command committed with its trace and its
//! change-log rows, whose audience is fixed at commit — a task taken by one of a grid's
//! workers reaches the others as removed, the units of the case's area see every change,
//! and a refused command leaves nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gridlink::auth::Role;
use gridlink::calendar::Calendar;
use gridlink::categories::CategoryTree;
use gridlink::changes::{self, unit_subject};
use gridlink::incidents::act::{self, ActError, Actor, Extra, NewCase, Timing};
use gridlink::incidents::scope::{Area, Viewer};
use gridlink::incidents::store;
use gridlink::incidents::workflow::{Assignment, Command, Refusal, Target};
use uuid::Uuid;

const GRID: &str = "321302001001001";
const NOW: i64 = 1_780_000_000_000;

fn actor(n: u128, role: Role, area: Area) -> Actor {
    Actor {
        viewer: Viewer { id: Uuid::from_u128(n), role, unit_code: String::new(), area },
        device_id: Some(format!("device-{n}")),
    }
}

fn new_case(id: &str) -> NewCase {
    NewCase {
        id: id.to_owned(),
        category: "C0101".into(),
        level: 5,
        chain: ["321300", "321302", "321302001", "321302001001", GRID].map(str::to_owned),
        lon: 118.3,
        lat: 33.9,
        description: "井盖缺失".into(),
        photos: Vec::new(),
        contact: Some((Some("张三".into()), Some("13812345678".into()))),
        source: "resident".into(),
        follow_token_hash: "x".into(),
        severity: None,
    }
}

#[test]
fn a_taken_task_reaches_the_other_assignees_as_removed() {
    let tree = CategoryTree::default_tree().unwrap();
    let calendar = Calendar::national();
    let timing = Timing { limits: tree.category("C0101").map(|c| &c.limits), calendar: &calendar };
    for t in support::both() {
        let centre = actor(1, Role::CountyCentre, Area::Unit(geodata::AreaCode::parse("321302").unwrap()));
        let (a, b) = (actor(2, Role::GridWorker, Area::None), actor(3, Role::GridWorker, Area::None));
        let id = Uuid::new_v4().to_string();
        let task = Uuid::new_v4();
        t.db.transact(|c| act::open_case(c, new_case(&id), None, timing, NOW).map(|_| ())).unwrap();
        t.db.transact(|c| {
            act::execute(c, &id, &centre, &Command::Accept { confirm: None }, &Extra::default(), timing, NOW)
        })
        .unwrap();
        let lead = Assignment {
            task,
            target: Target::Grid(GRID.into()),
            assignees: vec![a.viewer.id, b.viewer.id],
            due_ms: Some(NOW + 3_600_000),
        };
        let dispatch = Command::Dispatch { lead, assist: vec![] };
        t.db.transact(|c| act::execute(c, &id, &centre, &dispatch, &Extra::default(), timing, NOW)).unwrap();
        let before = t.db.read(changes::newest).unwrap();

        t.db.transact(|c| act::execute(c, &id, &a, &Command::AcceptTask { task }, &Extra::default(), timing, NOW + 1))
            .unwrap();

        let read = |subject: String| t.db.read(|c| changes::after(c, &[subject], before, 100)).unwrap();
        let for_a = read(a.viewer.id.to_string());
        let for_b = read(b.viewer.id.to_string());
        let for_area = read(unit_subject("321302"));
        let task_change = |rows: &[changes::Change]| rows.iter().find(|r| r.kind == "task").cloned().unwrap();
        assert!(!task_change(&for_a).removed, "{}: the taker keeps the task", t.name);
        assert!(task_change(&for_b).removed, "{}: the other worker drops it", t.name);
        assert!(!task_change(&for_area).removed, "{}: the county sees it", t.name);
        let data: serde_json::Value = serde_json::from_str(&task_change(&for_a).data).unwrap();
        assert_eq!(data["status"], "accepted");
        assert_eq!(data["incident_id"], id.as_str());
        assert!(data["deadline"].is_string());
        assert!(!task_change(&for_a).data.contains("13812345678"), "no contact details in the log");
        assert!(read(unit_subject("321302002")).is_empty(), "{}: another township hears nothing", t.name);

        // The trace: every event with its actor and device.
        let events = t.db.read(|c| store::events_of(c, &id)).unwrap();
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["reported", "registered", "dispatched", "task_accepted"], "{}", t.name);
        assert_eq!(events[3].actor_id.as_deref(), Some(a.viewer.id.to_string().as_str()));
        assert_eq!(events[3].device_id.as_deref(), Some("device-2"));

        // A refused command (b takes the task a holds) leaves no event and no change.
        let newest = t.db.read(changes::newest).unwrap();
        let refused = t
            .db
            .transact(|c| act::execute(c, &id, &b, &Command::AcceptTask { task }, &Extra::default(), timing, NOW + 2));
        assert!(matches!(refused, Err(ActError::Refused(Refusal::TaskNotActive { .. }))), "{}", t.name);
        assert_eq!(t.db.read(changes::newest).unwrap(), newest, "{}", t.name);
        assert_eq!(t.db.read(|c| store::events_of(c, &id)).unwrap().len(), 4, "{}", t.name);
    }
}

#[test]
fn a_case_outside_the_actors_area_is_not_found() {
    let calendar = Calendar::national();
    let timing = Timing { limits: None, calendar: &calendar };
    for t in support::both() {
        let id = Uuid::new_v4().to_string();
        t.db.transact(|c| act::open_case(c, new_case(&id), None, timing, NOW).map(|_| ())).unwrap();
        let stranger = actor(9, Role::TownshipCentre, Area::Unit(geodata::AreaCode::parse("321302002").unwrap()));
        let result = t.db.transact(|c| {
            act::execute(c, &id, &stranger, &Command::Accept { confirm: None }, &Extra::default(), timing, NOW)
        });
        assert!(matches!(result, Err(ActError::NotFound(_))), "{}", t.name);
        let row = t.db.read(|c| store::incident(c, &id)).unwrap().unwrap();
        assert_eq!(row.status, "reported", "{}", t.name);
        assert!(row.code.ends_with("-0000001"), "{}: {}", t.name, row.code);
    }
}
