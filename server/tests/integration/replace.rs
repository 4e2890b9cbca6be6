//! Re-placing open cases whose grid a newly stored layer dropped, on both backends: the
//! case in a merged-away grid moves to the grid that took its location in, at every
//! level, through the one write path (event, change-log rows for the area it left and
//! the one it entered, its task re-sent with the new grid); a case whose location lies
//! in no grid is recorded as stranded, once; closed cases and cases in surviving grids
//! are left alone; a second pass (another node, a restart) finds nothing to do; a node
//! whose layer is not the stored one any more changes nothing.

use std::sync::Arc;

use geodata::{AreaCode, GridIndex, IndexOptions, Layer, Level, Unit};
use gridlink::auth::Role;
use gridlink::changes::{self, unit_subject};
use gridlink::clock::Clock;
use gridlink::geo::store::save_layer;
use gridlink::incidents::act::{ActError, Actor, Extra, NewCase, WritePath};
use gridlink::incidents::replace::{self, ReplaceError, Replacement, Tally};
use gridlink::incidents::scope::{Area, Viewer};
use gridlink::incidents::store;
use gridlink::incidents::workflow::{Assignment, Command, Target};
use uuid::Uuid;

use crate::support::{self, Recorder};

const NOW: i64 = 1_780_000_000_000;

/// A point of `unit` that `index` places in it without snapping (tried on a lattice
/// over its bounding box), if any.
fn point_in(index: &GridIndex, unit: &Unit) -> Option<(f64, f64)> {
    let b = unit.bounds()?;
    let (w, h) = (b.max().x - b.min().x, b.max().y - b.min().y);
    (1..10)
        .flat_map(|i| (1..10).map(move |j| (b.min().x + w * f64::from(i) / 10.0, b.min().y + h * f64::from(j) / 10.0)))
        .find(|&(lon, lat)| index.locate(lon, lat).is_ok_and(|p| !p.snapped && p.grid.code == unit.code))
}

/// The scene: the demo's first community with two neighbouring grids `x` and `n`
/// (sharing an edge), another grid `z` and a grid `y`; the layer after: `x` merged into
/// `n`, `z` gone (a hole); and a point of each of `x`, `y` and `z` — `z`'s farther than
/// the snapping tolerance from every grid left.
struct Scene {
    old: Layer,
    new: Layer,
    x: Unit,
    n: Unit,
    y: Unit,
    z: Unit,
    at_x: (f64, f64),
    at_y: (f64, f64),
    at_z: (f64, f64),
}

const OPTIONS: IndexOptions = IndexOptions { snap_tolerance_m: 50.0 };

fn scene() -> Scene {
    let demo = geodata::demo::layer().unwrap();
    let community = demo.at_level(Level::Community).next().unwrap().code.clone();
    let old = Layer::from_units(demo.chain(&community).into_iter().cloned().chain(demo.children(&community).cloned()))
        .unwrap();
    let old_index = GridIndex::build(&old, OPTIONS);
    let grids: Vec<&Unit> = old.grids().collect();
    for x in &grids {
        for n in &grids {
            let merged = geodata::topo::dissolve(x.geometry.0.iter().chain(&n.geometry.0));
            if x.code == n.code || merged.0.len() != 1 || !merged.0[0].interiors().is_empty() {
                continue;
            }
            let Some(at_x) = point_in(&old_index, x) else { continue };
            for z in grids.iter().filter(|z| ![&x.code, &n.code].contains(&&z.code)) {
                let new = Layer::from_units(
                    old.units()
                        .filter(|u| u.code != x.code && u.code != z.code)
                        .cloned()
                        .map(|u| if u.code == n.code { Unit { geometry: merged.clone(), ..u } } else { u }),
                )
                .unwrap();
                let index = GridIndex::build(&new, OPTIONS);
                let Some(at_z) = point_in(&old_index, z) else { continue };
                let x_lands_in_n = index.locate(at_x.0, at_x.1).is_ok_and(|p| !p.snapped && p.grid.code == n.code);
                if !x_lands_in_n || index.locate(at_z.0, at_z.1).is_ok() {
                    continue;
                }
                let Some((y, at_y)) = grids
                    .iter()
                    .filter(|y| ![&x.code, &n.code, &z.code].contains(&&y.code))
                    .find_map(|y| Some((y, point_in(&old_index, y)?)))
                else {
                    continue;
                };
                let (x, n, y, z) = ((*x).clone(), (*n).clone(), (*y).clone(), (*z).clone());
                return Scene { old: old.clone(), new, x, n, y, z, at_x, at_y, at_z };
            }
        }
    }
    panic!("no two grids of the community share an edge exactly, with a third to drop");
}

/// The codes of a grid's chain, city down to the grid.
fn place(layer: &Layer, grid: &AreaCode) -> [String; 5] {
    let chain: Vec<String> = layer.chain(grid).iter().map(|u| u.code.to_string()).collect();
    chain.try_into().unwrap()
}

fn open(path: &WritePath, layer: &Layer, (grid, (lon, lat)): (&Unit, (f64, f64))) -> String {
    let id = Uuid::new_v4().to_string();
    let new = NewCase { chain: place(layer, &grid.code), lon, lat, ..support::new_case(&id, &grid.code.to_string()) };
    path.run(|tx| tx.open(new, None, NOW).map(|_| ())).unwrap();
    id
}

/// Someone of the county: its centre directs its cases; a worker takes a task sent to them.
fn person(n: u128, role: Role) -> Actor {
    let area = Area::Unit(AreaCode::parse("321302").unwrap());
    Actor { viewer: Viewer { id: Uuid::from_u128(n), role, unit_code: "321302".into(), area }, device_id: None }
}

#[test]
fn open_cases_in_vanished_grids_are_re_placed_once_and_traced() {
    let s = scene();
    for t in support::both() {
        let told = Arc::new(Recorder::default());
        let path = support::write_path(&t.db, told.clone());
        t.db.write(|c| save_layer(c, &s.old, &mut |_, _| {})).unwrap();
        let in_x = open(&path, &s.old, (&s.x, s.at_x));
        let in_y = open(&path, &s.old, (&s.y, s.at_y));
        let in_z = open(&path, &s.old, (&s.z, s.at_z));
        let closed_in_x = open(&path, &s.old, (&s.x, s.at_x));
        let (centre, worker) = (person(1, Role::CountyCentre), person(7, Role::GridWorker));
        // The case in x is dispatched to x's worker, who holds it.
        let task = Uuid::new_v4();
        let lead = Assignment {
            task,
            target: Target::Grid(s.x.code.to_string()),
            assignees: vec![worker.viewer.id],
            due_ms: None,
            level: None,
        };
        for (actor, command) in [
            (&centre, Command::Accept { confirm: None }),
            (&centre, Command::Dispatch { lead, assist: vec![] }),
            (&worker, Command::AcceptTask { task }),
        ] {
            path.run(|tx| tx.act(&in_x, actor, NOW, |_, _| Ok::<_, ActError>((command, Extra::default())))).unwrap();
        }
        let reject = Command::Reject { reason: "duplicate".into() };
        path.run(|tx| tx.act(&closed_in_x, &centre, NOW, |_, _| Ok::<_, ActError>((reject, Extra::default()))))
            .unwrap();
        assert_eq!(t.db.read(store::count_in_vanished_grids).unwrap(), 0, "{}", t.name);

        // The new layer is stored; nothing has moved yet.
        let generation = t.db.write(|c| save_layer(c, &s.new, &mut |_, _| {})).unwrap();
        assert_eq!(t.db.read(store::count_in_vanished_grids).unwrap(), 2, "{}: the open cases in x and z", t.name);
        let index = GridIndex::build(&s.new, OPTIONS);
        let log_before = t.db.read(changes::newest).unwrap();

        // A node whose layer is older than the stored one changes nothing.
        let clock = Clock::starting_at(NOW);
        let stale = replace::run(&path, &index, generation - 1, &clock);
        assert!(matches!(stale, Err(ReplaceError::Superseded { .. })), "{}: {stale:?}", t.name);
        assert_eq!(t.db.read(changes::newest).unwrap(), log_before, "{}", t.name);
        assert_eq!(
            support::actions(&t.db, &in_x),
            ["reported", "registered", "dispatched", "task_accepted"],
            "{}",
            t.name
        );

        let told_before = told.0.lock().unwrap().len();
        let tally = replace::run(&path, &index, generation, &clock).unwrap();
        assert_eq!(tally, Tally { replaced: 1, stranded: 1, untouched: 0 }, "{}", t.name);
        assert_eq!(told.0.lock().unwrap().len() - told_before, 2, "{}: each commit told", t.name);

        // The case in x now lies in n at every level, and its trace says why, by whom.
        let row = t.db.read(|c| store::incident(c, &in_x)).unwrap().unwrap();
        let [city, county, township, community, grid] = place(&s.new, &s.n.code);
        assert_eq!(
            [&row.city_code, &row.county_code, &row.township_code, &row.community_code, &row.grid_code],
            [&city, &county, &township, &community, &grid],
            "{}",
            t.name
        );
        assert_eq!(row.status, "dispatched", "{}", t.name);
        let events = t.db.read(|c| store::events_of(c, &in_x)).unwrap();
        let last = events.last().unwrap();
        assert_eq!(last.action, "replaced", "{}", t.name);
        assert_eq!(last.actor_role.as_deref(), Some("system"), "{}", t.name);
        let data: serde_json::Value = serde_json::from_str(&last.data).unwrap();
        assert_eq!((data["from"].as_str(), data["to"].as_str()), (Some(s.x.code.as_str()), Some(s.n.code.as_str())));
        assert!(data["reason"].as_str().unwrap().contains(&format!("generation {generation}")), "{data}");

        // The grid it left hears it go, the grid it entered and its holder hear it come,
        // and the holder's task now names the new grid.
        let read = |subject: String| t.db.read(|c| changes::after(c, &[subject], log_before, 100)).unwrap();
        let incident = |rows: &[changes::Change]| rows.iter().rfind(|r| r.kind == "incident" && r.id == in_x).cloned();
        assert!(incident(&read(unit_subject(s.x.code.as_str()))).unwrap().removed, "{}", t.name);
        assert!(!incident(&read(unit_subject(s.n.code.as_str()))).unwrap().removed, "{}", t.name);
        let holder = read(worker.viewer.id.to_string());
        assert!(!incident(&holder).unwrap().removed, "{}", t.name);
        let sent = holder.iter().rfind(|r| r.kind == "task" && r.id == task.to_string()).unwrap();
        let sent: serde_json::Value = serde_json::from_str(&sent.data).unwrap();
        assert_eq!(
            (sent["incident"]["grid"].as_str(), sent["status"].as_str()),
            (Some(s.n.code.as_str()), Some("accepted"))
        );

        // z's case lies in no grid now: it keeps z, and says so.
        assert_eq!(t.db.read(|c| store::incident(c, &in_z)).unwrap().unwrap().grid_code, s.z.code.as_str());
        assert_eq!(support::actions(&t.db, &in_z), ["reported", "stranded"], "{}", t.name);
        // Left alone: the case in a surviving grid, and the case that left the loop.
        assert_eq!(support::actions(&t.db, &in_y), ["reported"], "{}", t.name);
        assert_eq!(support::actions(&t.db, &closed_in_x), ["reported", "rejected"], "{}", t.name);
        assert_eq!(t.db.read(|c| store::incident(c, &closed_in_x)).unwrap().unwrap().grid_code, s.x.code.as_str());

        // A node that read its candidates before this one moved the case leaves it be.
        let late =
            Replacement { from: s.x.code.to_string(), to: Some(place(&s.new, &s.n.code)), reason: "late".into() };
        let done = path.run(|tx| replace::replace(tx, &in_x, &late, NOW)).unwrap();
        assert!(!done, "{}", t.name);

        // Another node, or this one restarting, finds nothing left to do.
        let newest = t.db.read(changes::newest).unwrap();
        let again = replace::run(&path, &index, generation, &clock).unwrap();
        assert_eq!(again, Tally { replaced: 0, stranded: 0, untouched: 1 }, "{}: only z's case is looked at", t.name);
        assert_eq!(t.db.read(changes::newest).unwrap(), newest, "{}", t.name);
        assert_eq!(support::actions(&t.db, &in_z), ["reported", "stranded"], "{}", t.name);
        assert_eq!(t.db.read(|c| store::events_of(c, &in_x)).unwrap().len(), events.len(), "{}", t.name);

        // A later layer that has z again places nothing: its case is in a grid that exists.
        let generation = t.db.write(|c| save_layer(c, &s.old, &mut |_, _| {})).unwrap();
        assert_eq!(t.db.read(store::count_in_vanished_grids).unwrap(), 0, "{}", t.name);
        let index = GridIndex::build(&s.old, OPTIONS);
        let back = replace::run(&path, &index, generation, &clock).unwrap();
        assert_eq!(back, Tally::default(), "{}", t.name);
    }
}
