//! The `gridlink` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use gridlink::cli::{Cli, run};

fn main() -> ExitCode {
    run(Cli::parse())
}
