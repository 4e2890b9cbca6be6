//! Builds the demo's fusion and prints its report and how long it took.

#![allow(clippy::print_stdout)]

fn main() -> Result<(), geodata::demo::DemoError> {
    let started = std::time::Instant::now();
    let fusion = geodata::demo::fusion()?;
    let elapsed = started.elapsed();
    for source in &fusion.sources {
        println!("source layer {}: {} grids", source.name, source.grids.len());
    }
    print!("{}", fusion.fused.report);
    println!("built and fused in {:.2} s", elapsed.as_secs_f64());
    Ok(())
}
