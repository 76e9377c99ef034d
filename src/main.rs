//! The `reachlab` binary: parse the command line, set up logging, hand over to `cli`.

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    // Like every Unix tool: `reachlab locations | head` ends quietly when the reader goes,
    // instead of Rust's default (SIGPIPE ignored, then a panic on the failed print).
    // SAFETY: restores the default disposition before any thread exists; no handler runs.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
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
