//! The `reachlab` binary: parse the command line, set up logging, hand over to `cli`.

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = reachlab::cli::Cli::parse();
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
    std::process::exit(reachlab::cli::run(cli));
}
