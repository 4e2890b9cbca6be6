//! `stats_bench`: how long each family of figures takes over a year of a city's cases.
//!
//! ```sh
//! stats_bench --database sqlite:///tmp/year.db                  # fills it, then measures
//! createdb -h 127.0.0.1 -U postgres year
//! stats_bench --database postgres://postgres@127.0.0.1/year
//! stats_bench --database sqlite:///tmp/year.db --no-fill        # measures what is there
//! ```
//!
//! Fills an empty database with `--cases` (300,000) generated cases spread over a year in
//! the city-sized layer (`geodata::demo::city`: 宿迁市, 20,095 grids), each with the facts
//! the statistics count (`case_figures`) drawn from plausible shares — most closed, some
//! rejected, merged, reworked, late, extended, parked, rated, self-handled — then times
//! each figure family as the server runs it for the `city` desk, a county and a
//! township: the median of `--runs` runs. The baseline in the same run is a bare
//! `COUNT(*)` over the same rows: each family is also given as a ratio to it.
//!
//! The cases are written straight into the tables (the write path would take hours to
//! file 300,000 cases here); what is measured is the reading, the same functions the
//! routes call.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use geodata::{AreaCode, Level};
use gridlink::categories::CategoryTree;
use gridlink::incidents::schema::incidents;
use gridlink::incidents::store::IncidentRow;
use gridlink::stats::facts::Facts;
use gridlink::stats::query::{self, By, Scope};
use gridlink::stats::store::{FiguresRow, case_figures};
use gridlink::store::{Database, DbConnection, insert_rows};

/// Times the statistics over a year of generated cases.
#[derive(Debug, Parser)]
#[command(name = "stats_bench", about)]
struct Cli {
    /// The database (`sqlite://PATH` or `postgres://…`); filled when it holds no case.
    #[arg(long)]
    database: String,
    /// How many cases to generate.
    #[arg(long, default_value_t = 300_000)]
    cases: usize,
    /// Runs per measurement (the median is given).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Measure only: do not fill an empty database.
    #[arg(long)]
    no_fill: bool,
}

/// splitmix64: a small generator, so that every run fills the same cases.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() as f64 / u64::MAX as f64) < p
    }

    /// Minutes, roughly exponential around `mean`.
    fn minutes(&mut self, mean: f64) -> i64 {
        let u = (self.next() as f64 / u64::MAX as f64).max(1e-9);
        (-u.ln() * mean * 60_000.0) as i64
    }
}

/// The year the cases fall in: 2025-12-01 to 2026-12-01, Asia/Shanghai.
const YEAR_START_MS: i64 = 1_764_518_400_000;
const YEAR_MS: i64 = 365 * 86_400_000;

/// A grid's chain of codes, city first (a county's code does not start with its city's).
fn chain(grid: &AreaCode) -> [String; 5] {
    let mut codes = vec![grid.as_str().to_owned()];
    let mut at = grid.clone();
    while let Some(parent) = at.parent() {
        codes.push(parent.as_str().to_owned());
        at = parent;
    }
    codes.reverse();
    let code = |i: usize| codes.get(i).cloned().unwrap_or_default();
    [code(0), code(1), code(2), code(3), code(4)]
}

/// One generated case and its facts.
fn case(
    draw: &mut Draw,
    n: usize,
    grids: &[AreaCode],
    tree: &CategoryTree,
    categories: &[String],
) -> (IncidentRow, FiguresRow) {
    let grid = &grids[draw.below(grids.len() as u64) as usize];
    let [city, county, township, community, grid_code] = chain(grid);
    let category = categories[draw.below(categories.len() as u64) as usize].clone();
    let reported = YEAR_START_MS + draw.below(YEAR_MS as u64) as i64;
    let roll = draw.below(1000);
    let status = match roll {
        0..30 => "rejected",
        30..50 => "merged",
        50..100 => "dispatched",
        _ => "closed",
    };
    let mut facts = Facts::default();
    let mut due = None;
    if status != "merged" {
        facts.accepted_at_ms = Some(reported + draw.minutes(30.0));
    }
    if matches!(status, "dispatched" | "closed") {
        let registered = facts.accepted_at_ms.unwrap_or(reported);
        facts.registered_at_ms = Some(registered);
        let dispatched = registered + draw.minutes(20.0);
        facts.dispatched_at_ms = Some(dispatched);
        let worker_grid = draw.chance(0.7);
        if worker_grid {
            facts.handler_kind = Some("grid");
            facts.handler_code = Some(grid_code.clone());
        } else {
            let dept = &tree.departments[draw.below(tree.departments.len() as u64) as usize];
            facts.handler_kind = Some("department");
            facts.handler_code = Some(dept.code.clone());
        }
        let person = if worker_grid {
            format!("worker-{grid_code}")
        } else {
            format!("dept-{}", facts.handler_code.as_deref().unwrap_or(""))
        };
        match status {
            "closed" => {
                let handled = dispatched + draw.minutes(600.0);
                facts.handled_at_ms = Some(handled);
                facts.handler_id = Some(person.clone());
                let verified = handled + draw.minutes(90.0);
                facts.verified_at_ms = Some(verified);
                facts.verifier_id = Some(format!("verifier-{}", &township));
                facts.closed_at_ms = Some(verified + draw.minutes(15.0));
                facts.reworked = draw.chance(0.08);
                if draw.chance(0.4) {
                    facts.rating = Some(match draw.below(10) {
                        0..7 => gridlink::incidents::workflow::Rating::Satisfied,
                        7..9 => gridlink::incidents::workflow::Rating::Basic,
                        _ => gridlink::incidents::workflow::Rating::Unsatisfied,
                    });
                }
                facts.self_handled = worker_grid && draw.chance(0.12);
            }
            _ => due = Some(dispatched + draw.minutes(2_880.0)),
        }
        if draw.chance(0.05) {
            facts.confirmer_id = Some(format!("worker-{grid_code}"));
            facts.confirm_late = draw.chance(0.1);
        }
        facts.dispatch_late = draw.chance(0.04);
        facts.handle_late = draw.chance(0.08);
        facts.verify_late = draw.chance(0.03);
        facts.extensions = i32::from(draw.chance(0.05));
        facts.parks = i32::from(draw.chance(0.02));
    }
    facts.accept_late = draw.chance(0.03);
    let updated = facts.closed_at_ms.or(facts.dispatched_at_ms).or(facts.accepted_at_ms).unwrap_or(reported);
    let row = IncidentRow {
        id: format!("bench-{n:07}"),
        code: format!("B-{n:07}"),
        category_code: category,
        status: status.to_owned(),
        level: 5,
        grid_code,
        community_code: community,
        township_code: township,
        county_code: county,
        city_code: city,
        lon: 118.3,
        lat: 33.96,
        description: "生成的案件".into(),
        photos: "[]".into(),
        contact_name: None,
        contact_phone: None,
        contact_id_number: None,
        source: if facts.self_handled { "staff".into() } else { "resident".into() },
        reporter_id: facts.self_handled.then(|| facts.handler_id.clone()).flatten(),
        follow_token_hash: String::new(),
        state: serde_json::to_string(&gridlink::incidents::workflow::Case::reported(reported)).unwrap_or_default(),
        reported_at_ms: reported,
        updated_at_ms: updated,
        due_at_ms: due,
        severity: None,
        light: "green".into(),
    };
    let figures = FiguresRow::of(&row, &facts);
    (row, figures)
}

fn fill(db: &Database, cases: usize) -> Result<(), String> {
    let started = Instant::now();
    let layer = geodata::demo::city(geodata::demo::CITY_CELL_M).map_err(|e| e.to_string())?;
    let grids: Vec<AreaCode> = layer.grids().map(|g| g.code.clone()).collect();
    let tree = CategoryTree::default_tree().map_err(|e| e.to_string())?;
    let categories: Vec<String> = tree.categories().map(|c| c.code.clone()).collect();
    let mut draw = Draw(20_261_206);
    let batch = 20_000;
    for start in (0..cases).step_by(batch) {
        let (rows, figures): (Vec<IncidentRow>, Vec<FiguresRow>) =
            (start..(start + batch).min(cases)).map(|n| case(&mut draw, n, &grids, &tree, &categories)).unzip();
        db.write(|c| {
            insert_rows(c, incidents::table, &rows)?;
            insert_rows(c, case_figures::table, &figures)
        })
        .map_err(|e| e.to_string())?;
    }
    db.write(|c| c.batch_execute("ANALYZE")).map_err(|e| e.to_string())?;
    eprintln!("filled {cases} cases over {} grids in {:.1} s", grids.len(), started.elapsed().as_secs_f64());
    Ok(())
}

/// One figure family's read: how many rows it gave.
type Family<'a> = Box<dyn Fn(&mut DbConnection) -> QueryResult<usize> + 'a>;

/// The median of `runs` timings of `f`, in ms.
fn median(
    db: &Database,
    runs: usize,
    f: &dyn Fn(&mut DbConnection) -> QueryResult<usize>,
) -> Result<(f64, usize), String> {
    let mut times = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        size = db.read(f).map_err(|e| e.to_string())?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], size))
}

fn measure(cli: &Cli, db: &Database) -> Result<String, String> {
    let held: i64 = db.read(|c| case_figures::table.count().get_result(c)).map_err(|e| e.to_string())?;
    let now = YEAR_START_MS + YEAR_MS;
    let year = |area: Option<&str>| Scope {
        area: area.map(|a| AreaCode::parse(a).unwrap_or_else(|e| panic!("{a}: {e}"))),
        from_ms: YEAR_START_MS,
        to_ms: YEAR_START_MS + YEAR_MS,
        category: None,
    };
    // The busiest county and one of its townships, as the data has them.
    let (county, township): (String, String) = db
        .read(|c| {
            let county: String = case_figures::table
                .group_by(case_figures::county_code)
                .select(case_figures::county_code)
                .order(diesel::dsl::count_star().desc())
                .first(c)?;
            let township: String = case_figures::table
                .filter(case_figures::county_code.eq(&county))
                .select(case_figures::township_code)
                .first(c)?;
            Ok((county, township))
        })
        .map_err(|e| e.to_string())?;
    let mut out = format!(
        "{held} cases over a year; {} runs each, median ms (ratio to a bare COUNT(*) of the same rows)\n\n\
         | family | scope | ms | × count(*) | rows out |\n| --- | --- | --- | --- | --- |\n",
        cli.runs
    );
    let scopes = [
        ("city 321300", year(Some("321300"))),
        (&*format!("county {county}"), year(Some(&county))),
        (&*format!("township {township}"), year(Some(&township))),
    ];
    for (name, scope) in &scopes {
        let baseline = median(db, cli.runs, &|c| query::cases(c, scope).map(|n| n as usize))?;
        out.push_str(&format!("| count(*) baseline | {name} | {:.1} | 1.00 | {} |\n", baseline.0, baseline.1));
        let child = scope.area.as_ref().and_then(|a| a.level().child()).unwrap_or(Level::Grid);
        let families: Vec<(&str, Family)> = vec![
            (
                "counts and rates, by area",
                Box::new(|c| query::sums(c, scope, Some(By::Area(child)), now).map(|r| r.len())),
            ),
            (
                "counts and rates, by category",
                Box::new(|c| query::sums(c, scope, Some(By::Category), now).map(|r| r.len())),
            ),
            ("counts and rates, by day", Box::new(|c| query::sums(c, scope, Some(By::Day), now).map(|r| r.len()))),
            (
                "counts and rates, by handler",
                Box::new(|c| query::sums(c, scope, Some(By::Handler), now).map(|r| r.len())),
            ),
            (
                "step times (mean, p90), by area",
                Box::new(|c| query::durations(c, scope, Some(By::Area(child))).map(|r| r.len())),
            ),
            ("worker roles", Box::new(|c| query::roles(c, scope).map(|r| r.len()))),
            ("heat by grid", Box::new(|c| query::heat(c, scope).map(|r| r.len()))),
            (
                "map: live cases by grid",
                Box::new(|c| {
                    gridlink::incidents::store::live_counts(c, scope.area.as_ref(), now - 86_400_000).map(|r| r.len())
                }),
            ),
        ];
        for (family, f) in &families {
            let (ms, rows) = median(db, cli.runs, f.as_ref())?;
            out.push_str(&format!("| {family} | {name} | {ms:.1} | {:.2} | {rows} |\n", ms / baseline.0.max(0.001)));
        }
    }
    Ok(out)
}

fn run(cli: &Cli) -> Result<String, String> {
    let db = Database::open(&cli.database, 2).map_err(|e| e.to_string())?;
    db.migrate().map_err(|e| e.to_string())?;
    let held: i64 = db.read(|c| case_figures::table.count().get_result(c)).map_err(|e| e.to_string())?;
    if held == 0 && !cli.no_fill {
        fill(&db, cli.cases)?;
    }
    measure(cli, &db)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(table) => {
            let _ = std::io::stdout().lock().write_all(table.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "stats_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
