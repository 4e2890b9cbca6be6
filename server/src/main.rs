//! The `gridlink` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use gridlink::cli::{Cli, run};

fn main() -> ExitCode {
    // The matches are kept beside the parsed command: they say which values were given
    // and which are defaults, which a config file may then supply.
    let matches = Cli::command().get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => run(cli, &matches),
        Err(e) => e.exit(),
    }
}
