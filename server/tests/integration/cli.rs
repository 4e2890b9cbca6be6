//! The `gridlink` binary as a user runs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{self, Running, gridlink, remove_database};

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("gridlink-cli-{}-{name}", std::process::id()))
}

/// Starts `gridlink serve` with these arguments on a scratch database, and waits for the
/// line that says where it listens; returns the server and its port.
fn spawn_serve(args: &[&str], database: &std::path::Path) -> (Running, u16) {
    let child = gridlink()
        .args(["serve", "--bind", "127.0.0.1:0", "--database"])
        .arg(format!("sqlite://{}", database.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(child)
}

/// Waits for a `gridlink serve` child to say where it listens.
fn wait_listening(child: std::process::Child) -> (Running, u16) {
    let (running, port, _) = wait_listening_logged(child);
    (running, port)
}

/// Waits for a `gridlink serve` child to say where it listens (on any address); returns
/// the server, its port and what it logged to standard output before.
fn wait_listening_logged(child: std::process::Child) -> (Running, u16, String) {
    let mut running = Running(child);
    let stdout = running.0.stdout.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut log = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("gridlink is listening on http://").nth(1) {
            let port = rest.rsplit(':').next().and_then(|p| p.trim().parse::<u16>().ok());
            return (running, port.expect("a port in the listening line"), log);
        }
        log.push_str(&line);
        log.push('\n');
        assert!(Instant::now() < deadline, "no listening line in time");
    }
    panic!("the server exited without saying where it listens:\n{log}");
}

fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn post_json(port: u16, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// The JSON body of a response read whole.
fn json_body(response: &str) -> serde_json::Value {
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

#[test]
fn serve_without_the_demo_serves_an_empty_area_from_its_database() {
    let database = temp_path("empty.db");
    let (server, port) = spawn_serve(&[], &database);
    let health = get(port, "/healthz");
    let outside = get(port, "/api/v1/locate?lon=118.3&lat=33.95");
    drop(server);
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(outside.starts_with("HTTP/1.1 404") && outside.contains("outside-service-area"), "{outside}");
    assert!(database.exists(), "serve creates its SQLite file");
    remove_database(&database);
}

#[test]
fn the_demo_refuses_a_public_address() {
    let out = gridlink().args(["serve", "--demo", "--bind", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn serve_demo_prints_where_it_listens_and_answers_healthz() {
    let database = temp_path("demo.db");
    let (server, port) = spawn_serve(&["--demo"], &database);
    let response = get(port, "/healthz");
    drop(server);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    remove_database(&database);
}

#[test]
fn the_demo_layer_written_out_checks_cleanly() {
    let path = temp_path("demo.geojson");
    let out = gridlink().args(["grids", "demo", "--out"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = gridlink().args(["grids", "check"]).arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("0 error(s), 0 warning(s)"), "{stdout}");
    assert!(stdout.contains("accepted: 4328 units, 4100 grids"), "{stdout}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_bad_file_gets_every_problem_and_a_failing_exit_code() {
    let bad = r#"{"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "321302", "name": "县"},
         "geometry": {"type": "Polygon", "coordinates": [[[118, 33], [119, 33], [118, 34], [119, 34], [118, 33]]]}},
        {"type": "Feature", "properties": {"code": "32130200", "name": "x"},
         "geometry": {"type": "Polygon", "coordinates": [[[118, 33], [119, 33], [119, 34]]]}}
    ]}"#;
    let path = temp_path("bad.geojson");
    std::fs::write(&path, bad).unwrap();
    let out = gridlink().args(["grids", "check"]).arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for kind in ["self-intersection", "unknown-parent", "bad-code", "too-short-ring"] {
        assert!(stdout.contains(kind), "{kind} missing from:\n{stdout}");
    }
    assert!(stdout.contains("refused"));
    let out = gridlink().args(["grids", "check", "--json"]).arg(&path).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert!(json["problems"].as_array().unwrap().len() >= 4);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = gridlink().args(["grids", "check", "/nonexistent/grids.geojson"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/grids.geojson"));
}

#[test]
fn check_reads_standard_input() {
    let mut child =
        gridlink().args(["grids", "check", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"not json").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not-geojson"));
}

#[test]
fn a_bad_category_file_stops_the_server_with_every_problem() {
    let path = temp_path("categories.json");
    std::fs::write(
        &path,
        r#"{"version": 1, "departments": [], "domains": [{"domain": "transport", "name": "大交通", "classes": [
            {"code": "T01", "name": "x", "children": [{"code": "T0101", "name": "违章停车", "level": 9}]}]}]}"#,
    )
    .unwrap();
    let out =
        gridlink().args(["serve", "--demo", "--bind", "127.0.0.1:0", "--categories"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("level 9"), "{stderr}");
    assert!(stderr.contains("no accept limit"), "{stderr}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_bad_calendars_file_stops_the_server_with_every_problem() {
    let path = temp_path("calendars.toml");
    std::fs::write(
        &path,
        "[[calendar]]\nname = \"local\"\nbase = \"national\"\ncounties = [\"3213\"]\ndays_off = [\"2026-02-30\"]\n",
    )
    .unwrap();
    let out = gridlink().args(["serve", "--demo", "--bind", "127.0.0.1:0", "--calendars"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("\"3213\" is not a 6-digit county code"), "{stderr}");
    assert!(stderr.contains("\"2026-02-30\" is not a date"), "{stderr}");
    std::fs::remove_file(&path).unwrap();
    let out = gridlink().args(["serve", "--demo", "--bind", "127.0.0.1:0", "--calendars"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot read the calendars file"), "{stderr}");
}

#[test]
fn migrate_creates_a_sqlite_database_and_is_idempotent() {
    let path = temp_path("migrate.db");
    let url = format!("sqlite://{}", path.display());
    for _ in 0..2 {
        let out = gridlink().args(["migrate", "--database", &url]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(path.exists());
    let out = gridlink().args(["migrate", "--database", "mysql://nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite:// or postgres://"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn users_add(database: &std::path::Path, args: &[&str], password: &str) -> std::process::Output {
    let mut child = gridlink()
        .args(["users", "add", "--database"])
        .arg(format!("sqlite://{}", database.display()))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused command may exit before it reads the password: a broken pipe is expected then.
    let _ = child.stdin.take().unwrap().write_all(password.as_bytes());
    child.wait_with_output().unwrap()
}

#[test]
fn users_add_creates_an_account_that_logs_in() {
    let database = temp_path("users.db");
    let ok =
        users_add(&database, &["--login", "zhang.san", "--role", "county_centre", "--unit", "321302"], "s3cret-pass\n");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("added zhang.san (county_centre of 321302)"));
    // Refused: a taken login, an unknown role, a bad unit, a short password.
    for (args, password, says) in [
        (["--login", "zhang.san", "--role", "county_centre", "--unit", "321302"], "another-pass\n", "is taken"),
        (["--login", "li.si", "--role", "mayor", "--unit", "321302"], "long-enough\n", "no role is called"),
        (["--login", "li.si", "--role", "grid_worker", "--unit", "12345"], "long-enough\n", "is not a unit code"),
        (["--login", "li.si", "--role", "grid_worker", "--unit", "321302001001001"], "short\n", "at least 10"),
        (["--login", "li.si", "--role", "grid_worker", "--unit", "321302001001001"], "1234567890\n", "not-digits-only"),
    ] {
        let out = users_add(&database, &args, password);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The account logs in to a server on that database.
    let (server, port) = spawn_serve(&[], &database);
    let body = r#"{"login": "zhang.san", "password": "s3cret-pass"}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    drop(server);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"role\":\"county_centre\""), "{response}");
    remove_database(&database);
}

/// Runs `gridlink users ARGS --database …` with `input` on standard input.
fn users(database: &std::path::Path, args: &[&str], input: &str) -> std::process::Output {
    let mut child = gridlink()
        .arg("users")
        .args(args)
        .arg("--database")
        .arg(format!("sqlite://{}", database.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

#[test]
fn an_operator_disables_enables_resets_and_lists_accounts_from_the_command_line() {
    let database = temp_path("manage.db");
    let url = format!("sqlite://{}", database.display());
    let added =
        users_add(&database, &["--login", "zhao.liu", "--role", "county_centre", "--unit", "321302"], "first-pass-1\n");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let db = gridlink::store::Database::open(&url, 1).unwrap();
    let user = db.read(|c| gridlink::auth::user_by_login(c, "zhao.liu")).unwrap().unwrap();
    let said = |out: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };

    // A weak password is refused by rule, read from standard input; a good one replaces it.
    let weak = users(&database, &["password", "zhao.liu", "--password-stdin"], "zhao.liu\n");
    assert_eq!(weak.status.code(), Some(2), "{}", said(&weak));
    assert!(said(&weak).contains("min-length"), "{}", said(&weak));
    let reset = users(&database, &["password", "zhao.liu", "--password-stdin"], "second-pass-2\n");
    assert!(reset.status.success(), "{}", said(&reset));
    let hash = db.read(|c| gridlink::auth::user_by_login(c, "zhao.liu")).unwrap().unwrap().password_hash;
    assert!(
        gridlink::auth::verify_password("second-pass-2", &hash)
            && !gridlink::auth::verify_password("first-pass-1", &hash)
    );

    // Disabled (twice: the second changes nothing), listed so, enabled again.
    let disabled = users(&database, &["disable", "zhao.liu"], "");
    assert!(disabled.status.success() && said(&disabled).contains("disabled zhao.liu"), "{}", said(&disabled));
    assert!(said(&users(&database, &["disable", "zhao.liu"], "")).contains("disabled already"));
    let listed = users(&database, &["list", "zhao"], "");
    let line = String::from_utf8_lossy(&listed.stdout).lines().find(|l| l.starts_with("zhao.liu\t")).map(str::to_owned);
    let line = line.unwrap_or_else(|| panic!("not listed: {}", said(&listed)));
    assert!(line.split('\t').nth(3).is_some_and(|d| d.starts_with("20")), "disabled at: {line}");
    let enabled = users(&database, &["enable", "zhao.liu"], "");
    assert!(enabled.status.success() && said(&enabled).contains("enabled zhao.liu"), "{}", said(&enabled));
    let listed = users(&database, &["list"], "");
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("zhao.liu\tcounty_centre\t321302\t-\t"),
        "{}",
        said(&listed)
    );
    assert_eq!(users(&database, &["disable", "nobody"], "").status.code(), Some(2));

    // Each change is in the trace, with no actor, said to come from the command line.
    let entries: Vec<(String, Option<String>, String)> = db
        .read(|c| {
            use diesel::prelude::*;
            use gridlink::audit::schema::audit_log;
            audit_log::table
                .filter(audit_log::subject.eq(&user.id))
                .order(audit_log::seq.asc())
                .select((audit_log::kind, audit_log::actor_id, audit_log::data))
                .load(c)
        })
        .unwrap();
    let kinds: Vec<&str> = entries.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["user_added", "password_reset", "user_disabled", "user_enabled"]);
    for (kind, actor, data) in &entries {
        assert_eq!(actor, &None, "{kind}");
        assert!(data.contains(r#""via":"cli""#) && !data.contains("pass-"), "{kind}: {data}");
    }
    remove_database(&database);
}

#[test]
fn users_move_gives_an_account_another_scope() {
    let database = temp_path("move.db");
    let ok = users_add(
        &database,
        &["--login", "wang.wu", "--role", "grid_worker", "--unit", "321302001001001"],
        "s3cret-pass\n",
    );
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let moved = |args: &[&str]| {
        gridlink()
            .args(["users", "move", "--database"])
            .arg(format!("sqlite://{}", database.display()))
            .args(args)
            .output()
            .unwrap()
    };
    let out = moved(&["--login", "wang.wu", "--unit", "321302001001002"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("now grid_worker of 321302001001002"));
    let db = gridlink::store::Database::open(&format!("sqlite://{}", database.display()), 1).unwrap();
    let user = db.read(|c| gridlink::auth::user_by_login(c, "wang.wu")).unwrap().unwrap();
    assert_eq!(user.unit_code, "321302001001002");
    assert!(db.read(|c| gridlink::sync::store::scope_seq(c, &user.id)).unwrap() > 0, "the move marks the log");
    for (args, says) in [
        (&["--login", "nobody", "--unit", "321302"][..], "no account"),
        (&["--login", "wang.wu", "--role", "department_staff", "--unit", "3213 02"][..], "is not a unit code"),
        (&["--login", "wang.wu", "--role", "mayor"][..], "no role is called"),
    ] {
        let out = moved(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    remove_database(&database);
}

#[test]
fn a_settings_file_fills_in_what_flags_do_not_say() {
    let (from_file, from_flag) = (temp_path("file.db"), temp_path("flag.db"));
    let config = temp_path("gridlink.toml");
    std::fs::write(&config, format!("bind = \"127.0.0.1:0\"\ndatabase = \"sqlite://{}\"\n", from_file.display()))
        .unwrap();
    let start = |extra: &[String]| {
        let child = gridlink()
            .args(["serve", "--config"])
            .arg(&config)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_listening(child)
    };
    // The file's database and address.
    let (server, port) = start(&[]);
    assert!(get(port, "/healthz").starts_with("HTTP/1.1 200"));
    drop(server);
    assert!(from_file.exists());
    // A flag wins over the file.
    let (server, _) = start(&["--database".into(), format!("sqlite://{}", from_flag.display())]);
    drop(server);
    assert!(from_flag.exists());
    // A typo in the file is refused, naming the file.
    std::fs::write(&config, "bnid = \"127.0.0.1:0\"\n").unwrap();
    let out = gridlink().args(["serve", "--config"]).arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gridlink.toml"), "{}", String::from_utf8_lossy(&out.stderr));
    remove_database(&from_file);
    remove_database(&from_flag);
    std::fs::remove_file(&config).unwrap();
}

fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

fn grids_export(database: &std::path::Path) -> std::process::Output {
    gridlink().args(["grids", "export", "--database", &sqlite_url(database)]).output().unwrap()
}

#[test]
fn an_imported_layer_exports_as_it_was_written() {
    let (file, database, copy) = (temp_path("import.geojson"), temp_path("import.db"), temp_path("export.geojson"));
    let out = gridlink().args(["grids", "demo", "-o"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(&file).unwrap();

    let out =
        gridlink().args(["grids", "import"]).arg(&file).args(["--database", &sqlite_url(&database)]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("imported 228 units and 4100 grids"), "{stdout}");
    // Not a terminal: no progress bar, no control characters.
    assert!(!stderr.contains('\u{1b}') && !stderr.contains('\r'), "{stderr:?}");

    // To standard output, and to a file: the text that went in.
    let out = grids_export(&database);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim_end(), written);
    let out =
        gridlink().args(["grids", "export", "--database", &sqlite_url(&database), "-o"]).arg(&copy).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), written);

    // Importing again replaces the layer, from standard input too.
    let mut child = gridlink()
        .args(["grids", "import", "-", "--database", &sqlite_url(&database)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(written.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(grids_export(&database).stdout).unwrap().trim_end(), written);

    remove_database(&database);
    std::fs::remove_file(&file).unwrap();
    std::fs::remove_file(&copy).unwrap();
}

#[test]
fn a_refused_import_leaves_the_stored_layer_in_place() {
    let (file, database) = (temp_path("keep.geojson"), temp_path("keep.db"));
    let url = sqlite_url(&database);
    assert!(gridlink().args(["grids", "demo", "-o"]).arg(&file).output().unwrap().status.success());
    assert!(
        gridlink().args(["grids", "import"]).arg(&file).args(["--database", &url]).output().unwrap().status.success()
    );
    let before = grids_export(&database).stdout;

    // A self-intersecting grid in an otherwise sound layer.
    let mut layer: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let grid = layer["features"].as_array_mut().unwrap().iter_mut().find(|f| f["properties"]["level"] == 5).unwrap();
    let code = grid["properties"]["code"].as_str().unwrap().to_owned();
    grid["geometry"] = serde_json::json!({"type": "Polygon", "coordinates": [[[118.2, 33.9], [118.3, 33.9], [118.2, 34.0], [118.3, 34.0], [118.2, 33.9]]]});
    let bad = temp_path("bad-import.geojson");
    std::fs::write(&bad, layer.to_string()).unwrap();
    let out = gridlink().args(["grids", "import"]).arg(&bad).args(["--database", &url]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("self-intersection") && stdout.contains(&code), "{stdout}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert_eq!(grids_export(&database).stdout, before, "the stored layer is untouched");

    // Not JSON; a missing file; a database URL of no known backend.
    std::fs::write(&bad, "not json").unwrap();
    let out = gridlink().args(["grids", "import"]).arg(&bad).args(["--database", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not-geojson"));
    let out = gridlink().args(["grids", "import", "/nonexistent/grids.geojson", "--database", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/grids.geojson"));
    let out = gridlink().args(["grids", "import"]).arg(&file).args(["--database", "mysql://nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite:// or postgres://"));
    assert_eq!(grids_export(&database).stdout, before, "the stored layer is untouched");

    remove_database(&database);
    std::fs::remove_file(&file).unwrap();
    std::fs::remove_file(&bad).unwrap();
}

#[test]
fn exporting_without_a_stored_layer_says_so() {
    let database = temp_path("nolayer.db");
    // No database at all: refused, and none is created.
    let out = grids_export(&database);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no database at"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!database.exists());
    // A database without a layer.
    assert!(gridlink().args(["migrate", "--database", &sqlite_url(&database)]).output().unwrap().status.success());
    let out = grids_export(&database);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no grid layer is stored"), "{stderr}");
    assert!(out.stdout.is_empty());
    remove_database(&database);
}

/// `grids demo --sources` into a scratch directory, and the file names it wrote.
fn demo_sources(name: &str) -> (std::path::PathBuf, [String; 4]) {
    let dir = temp_path(name);
    let out = gridlink().args(["grids", "demo", "--sources"]).arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("gridlink grids fuse --communities"), "{stdout}");
    let file = |n: &str| dir.join(n).display().to_string();
    let files = [file("communities.geojson"), file("综治.geojson"), file("应急.geojson"), file("城管.geojson")];
    (dir, files)
}

#[test]
fn the_demo_sources_fuse_into_a_layer_that_checks_and_imports() {
    let (dir, [communities, base, emergency, city]) = demo_sources("fuse");
    let fused = dir.join("fused.geojson");
    let out = gridlink()
        .args(["grids", "fuse", "--communities", &communities, "--base", &base, "--layer", &emergency])
        .args(["--layer", &format!("城管={city}"), "-o"])
        .arg(&fused)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for expected in ["fused 208 communities into", "layer 综治 (base)", "slivers merged", "gaps filled", "wrote "] {
        assert!(stdout.contains(expected), "{expected:?} missing from {stdout}");
    }
    let check = gridlink().args(["grids", "check", "--json"]).arg(&fused).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    // Each grid carries its lineage, under the layer names given.
    let layer: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&fused).unwrap()).unwrap();
    let grid = layer["features"].as_array().unwrap().iter().find(|f| f["properties"]["level"] == 5).unwrap();
    let lineage = grid["properties"]["lineage"].as_array().unwrap();
    assert!(lineage.iter().any(|s| s["layer"] == "综治"), "{lineage:?}");
    assert!(
        layer["features"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["properties"]["lineage"].as_array().is_some_and(|l| l.iter().any(|s| s["layer"] == "城管")))
    );

    // Fusing again with the first result as the previous layer keeps every code.
    let again = dir.join("again.geojson");
    let out = gridlink()
        .args(["grids", "fuse", "--json", "--communities", &communities, "--base", &base, "--layer", &emergency])
        .args(["--layer", &format!("城管={city}"), "--previous"])
        .arg(&fused)
        .arg("-o")
        .arg(&again)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["codes_kept"], report["grids_out"], "{report}");
    assert_eq!(report["codes_new"], 0);
    assert!(report["seconds"].as_f64().unwrap() > 0.0);

    // And the result imports.
    let database = temp_path("fused.db");
    let out =
        gridlink().args(["grids", "import"]).arg(&fused).arg("--database").arg(sqlite_url(&database)).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    remove_database(&database);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fusing_bad_input_says_what_is_wrong_and_writes_nothing() {
    let (dir, [communities, base, _, _]) = demo_sources("fuse-bad");
    let out_file = dir.join("never.geojson");
    let fuse = |args: &[&str]| {
        let out = gridlink().args(["grids", "fuse", "-o"]).arg(&out_file).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let missing = dir.join("missing.geojson").display().to_string();
    let (code, err) = fuse(&["--communities", &communities, "--base", &missing]);
    assert_eq!(code, Some(2), "an unreadable file, like `grids check`");
    assert!(err.contains("cannot read") && err.contains("missing.geojson"), "{err}");

    let broken = dir.join("broken.geojson");
    std::fs::write(&broken, "{\"type\": \"FeatureCollection\", \"features\": [").unwrap();
    let (code, err) = fuse(&["--communities", &communities, "--base", &base, "--layer", broken.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not valid JSON") && err.contains("nothing was fused"), "{err}");

    // Grids given as communities: no community in them.
    let (code, err) = fuse(&["--communities", &base, "--base", &base]);
    assert_eq!(code, Some(1), "{err}");

    let (code, err) = fuse(&["--communities", &communities, "--base", &base, "--snap-m=-3"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("invalid option"), "{err}");
    assert!(!out_file.exists());

    // A self-intersecting grid is not an error: it is repaired and reported.
    let bow = dir.join("bow.geojson");
    let (lon, lat) = (118.30, 33.95);
    let d = 0.003;
    let ring = serde_json::json!([[lon, lat], [lon + d, lat + d], [lon + d, lat], [lon, lat + d], [lon, lat]]);
    let feature = serde_json::json!({"type": "Feature", "properties": {"code": "BOW"}, "geometry": {"type": "Polygon", "coordinates": [ring]}});
    std::fs::write(&bow, serde_json::json!({"type": "FeatureCollection", "features": [feature]}).to_string()).unwrap();
    let out = gridlink()
        .args(["grids", "fuse", "--communities", &communities, "--base", &base, "--layer"])
        .arg(format!("应急={}", bow.display()))
        .arg("-o")
        .arg(&out_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("problem: layer 应急 grid BOW: invalid geometry"), "{stdout}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Starts `gridlink serve` on `bind` over the database `url` with these arguments; the
/// server, its port and what it logged before it listened.
fn serve_on(bind: &str, url: &str, args: &[&str]) -> (Running, u16, String) {
    let child = gridlink()
        .args(["serve", "--bind", bind, "--database", url])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening_logged(child)
}

/// The bearer token of `/metrics` on the servers these tests start.
const METRICS_TOKEN: &str = "cli-test-metrics-token";

/// The calendar warning of a server whose clock reads `now`, in its log, `/healthz` and
/// `/metrics`: the warnings of the health answer, the gauge's value for `national`, the log.
fn calendar_state(url: &str, now: &str, extra: &[&str]) -> (Vec<serde_json::Value>, String, String) {
    let mut args = vec!["--test-clock", now, "--metrics-token", METRICS_TOKEN];
    args.extend_from_slice(extra);
    let (server, port, log) = serve_on("127.0.0.1:0", url, &args);
    let health = get(port, "/healthz");
    let metrics = get_with_token(port, "/metrics", METRICS_TOKEN);
    drop(server);
    assert!(health.starts_with("HTTP/1.1 200"), "a warning is not a failure: {health}");
    let health = json_body(&health);
    assert_eq!(health["status"], "ok", "{health}");
    let gauge = metrics
        .lines()
        .find(|l| l.starts_with("gridlink_calendar_days_left{calendar=\"national\"}"))
        .unwrap_or_else(|| panic!("no gauge in {metrics}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    (health["warnings"].as_array().unwrap().clone(), gauge, log)
}

#[test]
fn operators_are_warned_in_time_that_the_calendar_ends() {
    let database = temp_path("horizon.db");
    let url = sqlite_url(&database);
    // 46 days before the shipped calendar's last day, on the demo's layer: warned everywhere.
    let (warnings, gauge, log) = calendar_state(&url, "2026-11-15T09:00:00+08:00", &["--demo"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert_eq!(
        (&w["kind"], &w["calendar"], &w["last_day"], &w["days_left"], &w["default"]),
        (&"calendar-ends-soon".into(), &"national".into(), &"2026-12-31".into(), &46.into(), &true.into()),
        "{w}"
    );
    assert_eq!(w["counties"], serde_json::json!(["321302"]), "the demo's county counts by it");
    let add = w["add"].as_str().unwrap();
    assert!(add.contains("years = [2027]") && add.contains("days_off") && add.contains("--calendars"), "{add}");
    assert_eq!(gauge, "46");
    let warned = log.lines().find(|l| l.contains("WARN") && l.contains("calendar in force ends within 60 days"));
    let warned = warned.unwrap_or_else(|| panic!("no warning at start in:\n{log}"));
    assert!(warned.contains("national") && warned.contains("321302") && warned.contains("years = [2027]"), "{warned}");

    // Past the end, Monday–Friday count: still warned, with the days past.
    let (warnings, gauge, _) = calendar_state(&url, "2027-01-10T09:00:00+08:00", &[]);
    assert_eq!((warnings.len(), warnings[0]["days_left"].as_i64(), gauge.as_str()), (1, Some(-10), "-10"));

    // In June, nothing to say yet; the gauge counts on.
    let (warnings, gauge, log) = calendar_state(&url, "2026-06-01T09:00:00+08:00", &[]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(gauge, "213");
    assert!(!log.contains("calendar in force ends"), "{log}");

    // A calendars file that adds 2027: no warning in November.
    let calendars = temp_path("horizon-calendars.toml");
    std::fs::write(
        &calendars,
        "[[calendar]]\nname = \"national\"\nbase = \"national\"\nyears = [2027]\ndays_off = [\"2027-01-01\"]\n",
    )
    .unwrap();
    let file = calendars.display().to_string();
    let (warnings, gauge, log) = calendar_state(&url, "2026-11-15T09:00:00+08:00", &["--calendars", &file]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(gauge, "411");
    assert!(!log.contains("calendar in force ends"), "{log}");
    std::fs::remove_file(&calendars).unwrap();
    remove_database(&database);
}

fn get_with_token(port: u16, path: &str, token: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn login(port: u16, login: &str, password: &str) -> String {
    post_json(port, "/api/v1/auth/login", &format!(r#"{{"login": "{login}", "password": "{password}"}}"#))
}

/// The demo's database on a public address, on the backend behind `url`: refused until
/// `users purge-demo`, then served, with the demo's logins refused and `--demo` too.
fn a_demo_database_goes_public_only_once_purged(url: &str) {
    // Filled by the demo, on loopback: the demo's logins work.
    let (server, port, _) = serve_on("127.0.0.1:0", url, &["--demo"]);
    let before = login(port, "centre", "demo");
    drop(server);
    assert!(before.starts_with("HTTP/1.1 200"), "{before}");
    let token = json_body(&before)["token"].as_str().unwrap().to_owned();

    // On a public address without --demo: refused at start, exit 2, saying why and what to do.
    let out = gridlink().args(["serve", "--bind", "0.0.0.0:0", "--database", url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("filled by `gridlink serve --demo`") && stderr.contains("users purge-demo"), "{stderr}");
    assert!(out.stdout.is_empty() || !String::from_utf8_lossy(&out.stdout).contains("gridlink is listening"));

    // Purged: every demo account disabled, and it says what it did.
    let out = gridlink().args(["users", "purge-demo", "--database", url]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let disabled: usize = stdout
        .split("disabled ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(disabled > 4000, "admin, the centres, the departments and every grid's worker: {stdout}");
    assert!(stdout.contains("no longer marked"), "{stdout}");

    // Now it serves on a public address, and the demo's logins fail.
    let (server, port, _) = serve_on("0.0.0.0:0", url, &[]);
    let health = get(port, "/healthz");
    let centre = login(port, "centre", "demo");
    let worker = login(port, "worker-321302003002009", "demo");
    let session = get_with_token(port, "/api/v1/me", &token);
    drop(server);
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(session.starts_with("HTTP/1.1 401"), "the session opened before the purge is revoked: {session}");
    assert!(centre.starts_with("HTTP/1.1 401"), "{centre}");
    assert!(worker.starts_with("HTTP/1.1 401"), "{worker}");

    // --demo never brings them back, not even on loopback.
    let out = gridlink().args(["serve", "--demo", "--bind", "127.0.0.1:0", "--database", url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("purge-demo") && stderr.contains("public password"), "{stderr}");

    // Purging again finds nothing left to do.
    let out = gridlink().args(["users", "purge-demo", "--database", url]).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing changed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_demo_database_is_never_served_publicly_until_purged_on_sqlite() {
    let database = temp_path("public-demo.db");
    a_demo_database_goes_public_only_once_purged(&sqlite_url(&database));
    remove_database(&database);
}

#[test]
fn a_demo_database_is_never_served_publicly_until_purged_on_postgres() {
    if let Some(pg) = support::scratch_postgres() {
        a_demo_database_goes_public_only_once_purged(&pg.url);
    }
}

#[test]
fn a_database_the_demo_never_filled_serves_on_a_public_address() {
    let database = temp_path("public-plain.db");
    let (server, port, _) = serve_on("0.0.0.0:0", &sqlite_url(&database), &[]);
    let health = get(port, "/healthz");
    drop(server);
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // Purging a database that never was the demo's changes nothing.
    let out = gridlink().args(["users", "purge-demo", "--database", &sqlite_url(&database)]).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing changed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    remove_database(&database);
}

#[test]
fn a_database_the_demo_filled_before_the_mark_existed_is_marked_by_the_migration() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let database = temp_path("legacy-demo.db");
    let url = sqlite_url(&database);
    let (server, _, _) = serve_on("127.0.0.1:0", &url, &["--demo"]);
    drop(server);
    // Back to the schema before the mark, by its own down.sql, as a database of an older
    // version (read from the tree at run time: the binary under test holds the up.sql).
    // The checkout's folder as cargo names it when it runs the test (see `pages::web`).
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let migration = format!("{manifest}/../migrations/sqlite/2026-11-22-000013_demo_mark");
    let down = std::fs::read_to_string(format!("{migration}/down.sql")).unwrap();
    let mut conn = diesel::SqliteConnection::establish(&database.display().to_string()).unwrap();
    conn.batch_execute(&down).unwrap();
    conn.batch_execute("DELETE FROM __diesel_schema_migrations WHERE version = '20261122000013'").unwrap();
    drop(conn);
    // The next start migrates again, finds the demo's admin and refuses a public address.
    let out = gridlink().args(["serve", "--bind", "0.0.0.0:0", "--database", &url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("users purge-demo"), "{stderr}");
    remove_database(&database);
}

#[test]
fn sensors_are_added_listed_and_revoked_from_the_command_line() {
    use geo::InteriorPoint;
    let (file, database) = (temp_path("sensors.geojson"), temp_path("sensors.db"));
    let url = sqlite_url(&database);
    let out = gridlink().args(["sensors", "list", "--database", &url]).output().unwrap();
    assert!(!out.status.success() && !database.exists(), "no database is made by listing");
    assert!(gridlink().args(["grids", "demo", "-o"]).arg(&file).output().unwrap().status.success());
    assert!(
        gridlink().args(["grids", "import"]).arg(&file).args(["--database", &url]).output().unwrap().status.success()
    );
    // The layer `grids demo` wrote.
    let layer = geodata::demo::layer().unwrap();
    let grid = layer.grids().next().unwrap();
    let point = grid.geometry.interior_point().unwrap();
    let (lon, lat) = (point.x().to_string(), point.y().to_string());
    let add = |lon: &str, category: &str| {
        let args = ["sensors", "add", "--name", "3号井盖", "--lon", lon, "--lat", &lat, "--category", category];
        gridlink().args(args).args(["--database", &url]).output().unwrap()
    };

    let out = add(&lon, "C0101");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("in grid {}", grid.code)), "{stdout}");
    let id = stdout.split("registered sensor ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    let key = stdout.lines().find_map(|l| l.strip_prefix("key: ")).unwrap().to_owned();
    assert!(key.len() >= 32, "{stdout}");

    let out = gridlink().args(["sensors", "list", "--json", "--database", &url]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed[0]["category"], "C0101");
    assert!(!listed.to_string().contains(&key), "the key is shown once");

    // Refused: a place outside every grid, a category the tree does not have.
    let out = add("100.0", "C0101");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let out = add(&lon, "C99");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("C99"));

    let out = gridlink().args(["sensors", "revoke", &id, "--database", &url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = gridlink().args(["sensors", "list", "--database", &url]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked"));
    let out = gridlink().args(["sensors", "revoke", "no-such-sensor", "--database", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));

    remove_database(&database);
    std::fs::remove_file(&file).unwrap();
}
