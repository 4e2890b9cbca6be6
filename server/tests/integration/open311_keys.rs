//! `gridlink keys add|list|revoke` as an operator runs them, on both backends: a key
//! printed once and alone, listed without it, accepted by the Open311 door until revoked;
//! and the demo's `demo-key` revoked by `users purge-demo`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{self, Running, gridlink, remove_database};

/// `gridlink serve` on `url` (loopback, with `args`), once it says where it listens.
fn serve(url: &str, args: &[&str]) -> (Running, u16) {
    let child = gridlink()
        .args(["serve", "--bind", "127.0.0.1:0", "--database", url])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let stdout = running.0.stdout.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("gridlink is listening on http://").nth(1) {
            let port = rest.rsplit(':').next().and_then(|p| p.trim().parse::<u16>().ok()).unwrap();
            return (running, port);
        }
        assert!(Instant::now() < deadline, "no listening line in time");
    }
    panic!("the server exited without saying where it listens");
}

/// The status of an Open311 request filed with `key` and no position: 403 when the key is
/// refused, 400 (no position) when it is taken.
fn file_with(port: u16, key: &str) -> u16 {
    let body = format!("api_key={key}&service_code=C0103&description=x");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /open311/v2/requests.json HTTP/1.1\r\nHost: localhost\r\nContent-Type: \
         application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{response}"))
}

fn keys(args: &[&str], url: &str) -> std::process::Output {
    gridlink().arg("keys").args(args).args(["--database", url]).output().unwrap()
}

fn keys_are_issued_listed_and_revoked(url: &str) {
    // The demo issues `demo-key`, which files.
    let (server, port) = serve(url, &["--demo"]);
    assert_eq!(file_with(port, "demo-key"), 400, "the demo's key is taken");
    assert_eq!(file_with(port, "guessed"), 403);
    drop(server);

    // Issued: the key alone on standard output, said once.
    let out = keys(&["add", "--name", "市民通", "--contact", "ops@example.cn"], url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.trim().to_owned();
    assert!(key.starts_with("gl311_") && !key.contains(char::is_whitespace), "{stdout:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("市民通") && said.contains("never shown again"), "{said}");
    let refused = keys(&["add", "--name", " "], url);
    assert_eq!(refused.status.code(), Some(2));

    // Listed without the key itself.
    let out = keys(&["list"], url);
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{listed}");
    let rows: Vec<Vec<&str>> = listed.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.iter().map(|r| r[1]).collect::<Vec<_>>(), ["demo", "市民通"], "{listed}");
    assert!(rows.iter().all(|r| r[3] == "-"), "none revoked: {listed}");
    assert!(!listed.contains(&key), "{listed}");
    let id = rows[1][0].to_owned();

    let (server, port) = serve(url, &[]);
    assert_eq!(file_with(port, &key), 400, "the new key is taken");
    drop(server);

    // Revoked: said, listed, refused; an unknown id is refused with exit 1.
    let out = keys(&["revoke", &id], url);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains("revoked") && said.contains("市民通"), "{said}");
    assert_eq!(keys(&["revoke", "no-such-key"], url).status.code(), Some(1));

    // `users purge-demo` revokes the demo's key with its accounts.
    let out = gridlink().args(["users", "purge-demo", "--database", url]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains("`demo-key` revoked"), "{said}");

    let (server, port) = serve(url, &[]);
    assert_eq!(file_with(port, &key), 403, "a revoked key is refused");
    assert_eq!(file_with(port, "demo-key"), 403, "the demo's key is revoked by purge-demo");
    drop(server);
    let listed = String::from_utf8(keys(&["list"], url).stdout).unwrap();
    assert!(listed.lines().skip(1).all(|l| !l.ends_with("\t-")), "both revoked: {listed}");
}

#[test]
fn keys_are_issued_listed_and_revoked_on_sqlite() {
    let database = std::env::temp_dir().join(format!("gridlink-keys-{}.db", std::process::id()));
    keys_are_issued_listed_and_revoked(&format!("sqlite://{}", database.display()));
    remove_database(&database);
    // Listing a database that does not exist creates none.
    let out = keys(&["list"], &format!("sqlite://{}", database.display()));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no database"));
    assert!(!database.exists());
}

#[test]
fn keys_are_issued_listed_and_revoked_on_postgres() {
    if let Some(pg) = support::scratch_postgres() {
        keys_are_issued_listed_and_revoked(&pg.url);
    }
}
