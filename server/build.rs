//! Embeds the built pages (`web/dist`, committed; see `web/build.mjs`) in the binary, so
//! that `gridlink serve` needs no files beside it and no npm step.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read when the script runs, not when it was compiled: a build directory shared by
    // several clones may run a script compiled in another clone, since deleted.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|e| panic!("CARGO_MANIFEST_DIR: {e}"));
    let dist = Path::new(&manifest).join("web").join("dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files: Vec<_> = match std::fs::read_dir(&dist) {
        Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect(),
        Err(e) => panic!("the built pages are missing from {}: {e}", dist.display()),
    };
    files.sort();
    let mut table =
        String::from("/// The built pages: (file name, contents).\npub static ASSETS: &[(&str, &[u8])] = &[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name =
            path.file_name().and_then(|n| n.to_str()).unwrap_or_else(|| panic!("{} is not UTF-8", path.display()));
        let _ = writeln!(table, "    ({name:?}, include_bytes!({:?})),", path.display().to_string());
    }
    table.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|e| panic!("OUT_DIR: {e}"))).join("web_assets.rs");
    std::fs::write(&out, table).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
