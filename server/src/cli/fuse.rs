//! `gridlink grids fuse`: one grid layer from several bureaus' (三网融合), and
//! `gridlink grids demo --sources`: the demo's own sources, to fuse by hand.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use geodata::fuse::{FuseInput, FuseOptions, SourceLayer, Stage, fuse, read_source_layer, write_source_layer};
use geodata::{Level, Tolerances};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{fail, read_and_check, read_input, refuse};

/// What `grids fuse` was asked to do.
#[derive(Debug)]
pub struct FuseArgs {
    /// The base layer: `NAME=FILE` or `FILE` (named by its stem).
    pub base: String,
    /// The other layers, in order of precedence.
    pub layers: Vec<String>,
    /// The communities (and the units above them).
    pub communities: PathBuf,
    /// Where to write the fused layer.
    pub out: PathBuf,
    /// A layer fused before, whose codes are kept.
    pub previous: Option<PathBuf>,
    /// The tolerances.
    pub options: FuseOptions,
    /// Print the report as JSON.
    pub json: bool,
}

/// A layer argument's name and file: `NAME=FILE`, or a file named after its stem.
fn named(arg: &str) -> (String, PathBuf) {
    match arg.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => (name.to_owned(), PathBuf::from(file)),
        _ => {
            let path = PathBuf::from(arg);
            let stem = path.file_stem().map_or_else(|| arg.to_owned(), |s| s.to_string_lossy().into_owned());
            (stem, path)
        }
    }
}

fn read_source(arg: &str) -> Result<SourceLayer, ExitCode> {
    let (name, file) = named(arg);
    let text = read_input(&file).map_err(|e| fail(format!("cannot read {}: {e}", file.display())))?;
    let (layer, report) = read_source_layer(&name, &text);
    if report.has_errors() {
        let _ = writeln!(std::io::stderr(), "{report}");
        return Err(refuse(format!("layer {name} ({}) has errors; nothing was fused", file.display())));
    }
    Ok(layer)
}

fn read_units(file: &PathBuf, what: &str) -> Result<geodata::Layer, ExitCode> {
    let checked = read_and_check(file, Tolerances::default().area_m2)?;
    match checked.layer {
        Some(layer) => Ok(layer),
        None => {
            let _ = writeln!(std::io::stderr(), "{}", checked.report);
            Err(refuse(format!("the {what} ({}) have errors; nothing was fused", file.display())))
        }
    }
}

/// Runs `grids fuse`.
pub fn grids_fuse(args: FuseArgs) -> ExitCode {
    let started = Instant::now();
    let communities = match read_units(&args.communities, "communities") {
        Ok(l) => l,
        Err(code) => return code,
    };
    if communities.at_level(Level::Community).next().is_none() {
        return refuse(format!("{} holds no community (a unit with a 12-digit code)", args.communities.display()));
    }
    let previous = match &args.previous {
        Some(file) => match read_units(file, "previous grids") {
            Ok(l) => Some(l),
            Err(code) => return code,
        },
        None => None,
    };
    let base = match read_source(&args.base) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let mut others = Vec::with_capacity(args.layers.len());
    for arg in &args.layers {
        match read_source(arg) {
            Ok(l) => others.push(l),
            Err(code) => return code,
        }
    }
    let input = FuseInput { communities: &communities, base: &base, others: &others, previous: previous.as_ref() };
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg:10} {bar:40} {pos}/{len}") {
        bar.set_style(style.progress_chars("=> "));
    }
    let mut stage = None;
    let fused = fuse(&input, &args.options, &mut |s: Stage, done, total| {
        if stage != Some(s) {
            stage = Some(s);
            bar.set_message(s.label());
            bar.set_length(total as u64);
        }
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let fused = match fused {
        Ok(f) => f,
        Err(e) => return refuse(format!("nothing was fused: {e}")),
    };
    let text = geodata::geojson::write_layer(&fused.layer).to_string();
    if let Err(e) = std::fs::write(&args.out, text) {
        return fail(format!("cannot write {}: {e}", args.out.display()));
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        let mut report = serde_json::to_value(&fused.report).unwrap_or_default();
        report["seconds"] = serde_json::json!(seconds);
        report["out"] = serde_json::json!(args.out.display().to_string());
        writeln!(out, "{report}")
    } else {
        writeln!(out, "{}wrote {} in {seconds:.1} s", fused.report, args.out.display())
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Writes the demo's communities and its three source layers into `dir`, and says how to
/// fuse them.
pub fn demo_sources(dir: &Path) -> ExitCode {
    let demo = match geodata::demo::fusion() {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        return fail(format!("cannot create {}: {e}", dir.display()));
    }
    let mut files = vec![(dir.join("communities.geojson"), geodata::geojson::write_layer(&demo.communities))];
    files.extend(demo.sources.iter().map(|s| (dir.join(format!("{}.geojson", s.name)), write_source_layer(s))));
    for (path, value) in &files {
        if let Err(e) = std::fs::write(path, value.to_string()) {
            return fail(format!("cannot write {}: {e}", path.display()));
        }
    }
    let path = |i: usize| files[i].0.display().to_string();
    let command = format!(
        "gridlink grids fuse --communities {} --base {} --layer {} --layer {} -o fused.geojson",
        path(0),
        path(1),
        path(2),
        path(3)
    );
    match writeln!(
        std::io::stdout().lock(),
        "wrote the demo's communities and source layers; fuse them with\n  {command}"
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_arguments_name_their_layer() {
        assert_eq!(named("应急=/tmp/a.geojson"), ("应急".to_owned(), PathBuf::from("/tmp/a.geojson")));
        assert_eq!(named("/data/城管.geojson"), ("城管".to_owned(), PathBuf::from("/data/城管.geojson")));
        assert_eq!(named("=x.geojson"), ("=x".to_owned(), PathBuf::from("=x.geojson")));
    }
}
