//! The pages in a real browser: runs `server/web/tests` (node's test runner driving
//! Debian's Chromium through playwright-core) against this build's `gridlink` binary,
//! with the reference phone (`mobile-api-tests`'s `phone`) playing the grid worker.
//!
//! It needs Node.js 20, the packages of `server/web/package-lock.json` (`npm ci
//! --prefix server/web`) and Chromium (`apt-get install chromium fonts-noto-cjk`);
//! `.ci/run` installs them. Without them the test fails and says so; set
//! `GRIDLINK_SKIP_BROWSER_TESTS=1` to leave the pages untested on a machine without a
//! browser (it then says that it skipped them).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The pages' folder of the checkout under test (as cargo names it at run time: a test
/// binary may have been compiled in another clone sharing the build directory).
fn web() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("web")
}

/// The reference phone: beside the server binary when the workspace's binaries were
/// built (as `cargo test --workspace` does), else built now.
fn phone(gridlink: &Path) -> PathBuf {
    let beside = gridlink.with_file_name(format!("phone{}", std::env::consts::EXE_SUFFIX));
    if !beside.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "mobile-api-tests", "--bin", "phone"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the reference phone failed");
    }
    beside
}

#[test]
fn the_pages_pass_their_browser_tests() {
    if std::env::var_os("GRIDLINK_SKIP_BROWSER_TESTS").is_some() {
        eprintln!("GRIDLINK_SKIP_BROWSER_TESTS is set: the pages' browser tests were skipped");
        return;
    }
    let web = web();
    let chromium = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let missing: Vec<String> = [
        (web.join("node_modules/playwright-core").exists(), "the pages' npm packages: npm ci --prefix server/web"),
        (chromium.exists(), "Chromium: apt-get install chromium fonts-noto-cjk"),
        (Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success()), "Node.js 20"),
    ]
    .into_iter()
    .filter(|(present, _)| !present)
    .map(|(_, what)| what.to_owned())
    .collect();
    assert!(
        missing.is_empty(),
        "the browser tests need {} (or set GRIDLINK_SKIP_BROWSER_TESTS=1 to skip them)",
        missing.join("; ")
    );
    let gridlink = std::env::var_os("GRIDLINK_TEST_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_gridlink")), PathBuf::from);
    let output = Command::new("node")
        .args(["--test", "--test-reporter=spec", "tests/"])
        .current_dir(&web)
        .env("GRIDLINK_BIN", &gridlink)
        .env("GRIDLINK_PHONE_BIN", phone(&gridlink))
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    // The figures the tests measured, for whoever reads the log.
    for line in report.lines().filter(|l| l.contains("Ms\":") || l.contains("Bytes\":")) {
        eprintln!("{}", line.trim());
    }
    assert!(output.status.success(), "the browser tests failed:\n{report}");
}
