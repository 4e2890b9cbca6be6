//! The inbox under a crowd of duplicates, and the duplicate finder alone.
//!
//! - `inbox/…`: the county centre's inbox (`gridlink::inbox::routes::build`, everything
//!   `GET /api/v1/inbox` does but the HTTP), read from a SQLite database in a temporary
//!   file holding either 5,000 open reports of one category at one spot over 42 hours
//!   (each a duplicate of every other: 12.5 million pairs by the old all-pairs rule) or a
//!   baseline of 50 reports spread over the county (a few of them duplicates). Before
//!   criterion runs, the ratio of the two medians is printed to standard error.
//! - `duplicates/…`: the finder (`gridlink::inbox::merge_pairs`) on the same two scenes,
//!   and on 5,000 cases spread over the county; `duplicates/all-pairs-before/…` is the
//!   rule the inbox used before, every pair compared (at 1,000 cases: at 5,000 its answer
//!   alone would take 300 MB).
//!
//! ```sh
//! cargo bench -p gridlink --bench inbox                # both groups
//! cargo bench -p gridlink --bench inbox -- duplicates  # the finder only
//! ```

// Set-up failures should abort the benchmark loudly, so unwrap/expect are fine here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use geo::{Centroid, Contains, Rect};
use geodata::{GridIndex, IndexOptions};
use gridlink::auth::Role;
use gridlink::calendar::Calendars;
use gridlink::categories::CategoryTree;
use gridlink::inbox::routes::{KINDS, build};
use gridlink::inbox::{Candidate, MERGE_RADIUS_M, MERGE_WINDOW_MS, SUGGESTIONS_PER_CASE, distance_m, merge_pairs};
use gridlink::incidents::act::{ActError, NewCase, WritePath};
use gridlink::incidents::routes::Book;
use gridlink::incidents::scope::{Area, Viewer};
use gridlink::store::Database;

/// 2026-03-02 09:00 +08:00, when the first report comes in.
const T0: i64 = 1_772_413_200_000;
/// The crowd: this many reports, one every 30 s (41.7 h in all: inside the window).
const CROWD: usize = 5_000;
const CROWD_EVERY_MS: i64 = 30_000;
/// The baseline: this many reports, each in another grid, one every 10 minutes.
const BASELINE: usize = 50;
/// The items the inbox returns (the route's default).
const LIMIT: usize = 200;

/// The demo area's grids with a point well inside each: (lon, lat, chain from the city down).
fn grid_points() -> (GridIndex, Vec<(f64, f64, [String; 5])>) {
    let layer = geodata::demo::layer().unwrap();
    let index = GridIndex::build(&layer, IndexOptions { snap_tolerance_m: 50.0 });
    let mut points = Vec::new();
    for grid in layer.grids() {
        let Some(c) = grid.geometry.centroid() else { continue };
        let d = 0.001;
        if !grid.geometry.contains(&Rect::new((c.x() - d, c.y() - d), (c.x() + d, c.y() + d))) {
            continue;
        }
        let chain: Vec<String> = layer.chain(&grid.code).iter().map(|u| u.code.to_string()).collect();
        if let Ok(chain) = <[String; 5]>::try_from(chain) {
            points.push((c.x(), c.y(), chain));
        }
    }
    (index, points)
}

/// A SQLite database in a temporary file, removed when dropped.
struct Scratch {
    db: Database,
    path: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

/// A database holding `reports` (lon, lat, chain, reported at), opened through the one
/// write path as residents' reports of C0101 (a missing manhole cover).
fn database(name: &str, tree: &CategoryTree, reports: &[(f64, f64, [String; 5], i64)]) -> Scratch {
    let path = std::env::temp_dir().join(format!("gridlink-bench-inbox-{}-{name}.db", std::process::id()));
    let db = Database::open(&format!("sqlite://{}", path.display()), 2).unwrap();
    db.migrate().unwrap();
    let keys = gridlink::seal::Keyring::parse(&gridlink::seal::new_key_line().1, "bench").unwrap();
    let db = db.with_keys(std::sync::Arc::new(keys));
    let (tree, calendars) = (std::sync::Arc::new(tree.clone()), std::sync::Arc::new(Calendars::shipped()));
    let writes = WritePath::new(db.clone(), std::sync::Arc::new(gridlink::sync::hub::NoListeners), tree, calendars);
    writes
        .run(|tx| {
            for (n, (lon, lat, chain, at)) in reports.iter().enumerate() {
                let new = NewCase {
                    id: format!("{name}-{n:05}"),
                    category: "C0101".into(),
                    level: 5,
                    chain: chain.clone(),
                    lon: *lon,
                    lat: *lat,
                    description: "井盖缺失".into(),
                    photos: Vec::new(),
                    contact: Some(gridlink::incidents::report::Contact {
                        name: Some("张三".into()),
                        phone: Some("13812345678".into()),
                        id_number: None,
                    }),
                    source: "resident".into(),
                    follow_token_hash: "x".into(),
                    severity: None,
                    claimed_severity: None,
                };
                tx.open(new, None, *at)?;
            }
            Ok::<_, ActError>(())
        })
        .unwrap();
    Scratch { db, path }
}

/// The crowd: every report at the same spot, 30 s apart.
fn crowd(points: &[(f64, f64, [String; 5])]) -> Vec<(f64, f64, [String; 5], i64)> {
    let (lon, lat, chain) = &points[0];
    (0..CROWD).map(|n| (*lon, *lat, chain.clone(), T0 + n as i64 * CROWD_EVERY_MS)).collect()
}

/// The baseline: reports spread over the county's grids, 10 minutes apart.
fn spread(points: &[(f64, f64, [String; 5])], n: usize) -> Vec<(f64, f64, [String; 5], i64)> {
    (0..n)
        .map(|i| {
            let (lon, lat, chain) = &points[(i * 997) % points.len()];
            (*lon, *lat, chain.clone(), T0 + i as i64 * 600_000)
        })
        .collect()
}

fn candidates(reports: &[(f64, f64, [String; 5], i64)]) -> Vec<Candidate<'static>> {
    reports
        .iter()
        .map(|(lon, lat, _, at)| Candidate { category: "C0101", lon: *lon, lat: *lat, reported_at_ms: *at })
        .collect()
}

/// The rule as the inbox applied it before: every pair of the same category within the
/// window compared (the cases sorted by category and time, each against those after it).
fn all_pairs_before(cases: &[Candidate<'_>]) -> Vec<(usize, usize, f64)> {
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by(|&a, &b| {
        (cases[a].category, cases[a].reported_at_ms, a).cmp(&(cases[b].category, cases[b].reported_at_ms, b))
    });
    let mut pairs = Vec::new();
    for (n, &i) in order.iter().enumerate() {
        for &j in &order[n + 1..] {
            let (a, b) = (&cases[i], &cases[j]);
            if a.category != b.category || b.reported_at_ms - a.reported_at_ms > MERGE_WINDOW_MS {
                break;
            }
            let d = distance_m((a.lon, a.lat), (b.lon, b.lat));
            if d <= MERGE_RADIUS_M {
                pairs.push((i, j, d));
            }
        }
    }
    pairs
}

/// The CPU time this process has used (user and system), in milliseconds; Linux only, in
/// clock ticks (10 ms): read over many runs. The machine this runs on may be shared, where
/// wall time says as much about the neighbours as about the inbox.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses): utime is the 14th field.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |n: usize| fields.get(n).and_then(|f| f.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) * 10.0
}

/// The median wall time of `times` runs and the mean CPU time per run, in milliseconds.
fn measure(mut run: impl FnMut(), times: usize) -> (f64, f64) {
    let cpu = cpu_ms();
    let mut taken: Vec<f64> = (0..times)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let cpu = (cpu_ms() - cpu) / times as f64;
    taken.sort_by(f64::total_cmp);
    (taken[times / 2], cpu)
}

fn benches(c: &mut Criterion) {
    let tree = CategoryTree::default_tree().unwrap();
    let (index, points) = grid_points();
    let book = Book { tree: &tree, index: &index };
    let crowd = crowd(&points);
    let baseline = spread(&points, BASELINE);

    let mut group = c.benchmark_group("duplicates");
    group.measurement_time(Duration::from_secs(5));
    for (name, reports) in
        [("5000-at-one-spot", &crowd), ("50-spread", &baseline), ("5000-spread", &spread(&points, CROWD))]
    {
        let cases = candidates(reports);
        let pairs = merge_pairs(&cases, SUGGESTIONS_PER_CASE);
        eprintln!("duplicates/{name}: {} suggestions for {} cases", pairs.len(), cases.len());
        group.bench_function(format!("k-nearest/{name}"), |b| {
            b.iter(|| merge_pairs(black_box(&cases), SUGGESTIONS_PER_CASE));
        });
    }
    group.sample_size(10);
    for n in [50, 1_000] {
        let cases = candidates(&crowd[..n]);
        group.bench_function(format!("all-pairs-before/{n}-at-one-spot"), |b| {
            b.iter(|| all_pairs_before(black_box(&cases)));
        });
    }
    group.finish();

    let filled = Instant::now();
    let crowded = database("crowd", &tree, &crowd);
    let sparse = database("spread", &tree, &baseline);
    eprintln!("inbox: databases filled in {:.1} s", filled.elapsed().as_secs_f64());
    let centre = Viewer {
        id: uuid::Uuid::from_u128(1),
        role: Role::CountyCentre,
        unit_code: "321302".into(),
        area: Area::Unit(geodata::AreaCode::parse("321302").unwrap()),
    };
    let kinds: Vec<String> = KINDS.iter().map(|k| (*k).to_owned()).collect();
    let now = T0 + CROWD as i64 * CROWD_EVERY_MS;
    let inbox = |db: &Database| build(db, &centre, &book, &kinds, LIMIT, now).unwrap();
    for (name, scratch) in [("5000-duplicates-at-one-spot", &crowded), ("50-spread", &sparse)] {
        let answer = inbox(&scratch.db);
        eprintln!("inbox/{name}: {} items returned, counts {:?}", answer.items.len(), answer.counts);
    }
    let (slow, slow_cpu) = measure(|| drop(inbox(&crowded.db)), 51);
    let (fast, fast_cpu) = measure(|| drop(inbox(&sparse.db)), 201);
    eprintln!(
        "inbox: median {slow:.2} ms ({slow_cpu:.1} ms CPU) with 5,000 duplicates, {fast:.2} ms ({fast_cpu:.2} ms CPU) \
         with 50 spread: ratio {:.1}",
        slow / fast
    );

    let mut group = c.benchmark_group("inbox");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("5000-duplicates-at-one-spot", |b| b.iter(|| inbox(black_box(&crowded.db))));
    group.bench_function("50-spread", |b| b.iter(|| inbox(black_box(&sparse.db))));
    group.finish();
}

criterion_group!(inbox, benches);
criterion_main!(inbox);
