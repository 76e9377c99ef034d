//! The command line: clap definitions and one module per verb, each a thin layer over
//! `topology` and `lab`. Verbs return an exit code; errors are printed as `reachlab: ...`.

mod check;
mod down;
mod exec;
mod locations;
mod status;
mod up;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "reachlab",
    version,
    about = "Emulate Azure ExpressRoute Global Reach on one Linux machine",
    long_about = "reachlab runs branch sites and Azure VNets as network namespaces joined by \
emulated ExpressRoute circuits, so real ping, traceroute and iperf3 show what Global Reach \
connects and what it does not.\n\nStart with: reachlab check topologies/global-reach.toml",
    after_help = "Examples:\n  reachlab check topologies/global-reach.toml\n  reachlab up topologies/global-reach.toml --detach\n  reachlab exec sf -- ping -c 3 10.0.2.1\n  reachlab exec sf -- traceroute -n 10.0.2.1\n  reachlab down global-reach"
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate topology files: prints `ok` or every error with file:line:col
    Check {
        /// Topology files (TOML)
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Bring a lab up and run it until Ctrl-C / SIGTERM, then remove everything it made
    Up {
        /// Topology file (TOML)
        file: PathBuf,
        /// Return once every site is ready, leaving the lab running in the background
        #[arg(short, long)]
        detach: bool,
        /// Internal: print `ready` on stdout when up (used by --detach)
        #[arg(long, hide = true)]
        notify_ready: bool,
    },
    /// Stop a lab and remove its namespaces and TUN devices (also after its process was killed)
    Down {
        /// Lab name (default: the only lab there is)
        lab: Option<String>,
        /// Stop and clean every lab
        #[arg(long, conflicts_with = "lab")]
        all: bool,
    },
    /// Run a command in a site's or VNet's namespace
    Exec {
        /// Lab name (default: the only running lab)
        #[arg(long)]
        lab: Option<String>,
        /// Site or VNet name
        name: String,
        /// The command and its arguments (after --)
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// List running labs with their PID, file, sites and addresses
    Status {
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// List the known peering locations and Azure regions
    Locations {
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Check { files } => check::run(&files),
        Command::Up {
            file,
            detach,
            notify_ready,
        } => up::run(&file, detach, notify_ready),
        Command::Down { lab, all } => down::run(lab.as_deref(), all),
        Command::Exec { lab, name, command } => exec::run(lab.as_deref(), &name, &command),
        Command::Status { output } => status::run(output),
        Command::Locations { output } => locations::run(output),
    }
}

/// Prints an error the way every verb does.
pub(crate) fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("reachlab: {msg}");
    1
}
