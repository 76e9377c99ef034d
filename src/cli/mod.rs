//! The command line: clap definitions and one module per verb, each a thin layer over
//! `topology` and `lab`. Verbs return an exit code; errors are printed as `reachlab: ...`.

mod capture;
mod check;
mod circuit;
mod down;
mod exec;
mod export;
mod global_reach;
mod graph;
mod locations;
mod routes;
mod stats;
mod status;
mod test;
mod up;
mod vnet;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

use crate::control::{client, proto::Request};
use crate::lab;

#[derive(Parser, Debug)]
#[command(
    name = "reachlab",
    version,
    about = "Emulate Azure ExpressRoute Global Reach on one Linux machine",
    long_about = "reachlab runs branch sites and Azure VNets as network namespaces joined by \
emulated ExpressRoute circuits, so real ping, traceroute and iperf3 show what Global Reach \
connects and what it does not.\n\nStart with: reachlab check topologies/global-reach.toml",
    after_help = "Examples:\n  reachlab check topologies/global-reach.toml\n  reachlab up topologies/global-reach.toml --detach\n  reachlab exec sf -- ping -c 3 10.0.2.1\n  reachlab exec sf -- traceroute -n 10.0.2.1\n  reachlab test\n  reachlab capture er-sv:er-london -w - | tcpdump -n -r -\n  reachlab graph global-reach -o lab.svg\n  reachlab down global-reach"
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Print nothing but results and errors (no progress, no notes on stderr)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
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
        /// Output format (json: one object per file with its errors' line, column and message)
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Bring a lab up and run it until Ctrl-C / SIGTERM, then remove everything it made
    Up {
        /// Topology file (TOML)
        file: PathBuf,
        /// Return once every site is ready, leaving the lab running in the background
        #[arg(short, long)]
        detach: bool,
        /// Poll the TUNs in a busy loop instead of sleeping between packets: idle ping RTT
        /// drops by tens of microseconds (no thread wake-up per packet), at the cost of one
        /// CPU core kept busy while the lab runs
        #[arg(long)]
        busy_poll: bool,
        /// Do not use TUN offload (GSO super-packets): one packet per read and write. Slower;
        /// for comparison, and what reachlab falls back to when the kernel refuses offload
        #[arg(long)]
        no_offload: bool,
        /// Serve Prometheus metrics (per circuit and link: bytes, packets, queue depth, drops by
        /// reason; Global Reach state; modelled RTTs) at http://ADDR/metrics, e.g.
        /// 127.0.0.1:9464
        #[arg(long, value_name = "ADDR")]
        metrics: Option<std::net::SocketAddr>,
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
    /// Link circuits with Global Reach, unlink them, list the connections (live)
    #[command(name = "global-reach", subcommand)]
    GlobalReach(global_reach::Cmd),
    /// Show a circuit, or create an authorization key on it (live)
    #[command(subcommand)]
    Circuit(circuit::Cmd),
    /// Link a VNet to a circuit or unlink it (live)
    #[command(subcommand)]
    Vnet(vnet::Cmd),
    /// A circuit's MSEE route table, as `az network express-route list-route-tables` shows it
    Routes {
        circuit: String,
        /// Which of the circuit's links
        #[arg(long, value_enum, default_value_t = crate::control::proto::Path::Primary)]
        path: crate::control::proto::Path,
        #[command(flatten)]
        to: Target,
    },
    /// A circuit's traffic counters per link and its drops by reason
    Stats {
        circuit: String,
        #[command(flatten)]
        to: Target,
    },
    /// Write the running lab as a topology file (`reachlab export > lab.toml`)
    Export {
        /// Lab name (default: the only running lab)
        lab: Option<String>,
        /// Lab name, as the other live verbs take it
        #[arg(long = "lab", conflicts_with = "lab")]
        lab_flag: Option<String>,
    },
    /// Capture the packets passing a site, VNet, circuit link or Global Reach connection as pcap
    #[command(
        after_help = "Examples:\n  reachlab capture er-sv -w sv.pcap -c 100\n  reachlab capture er-sv:er-london -w - | tcpdump -n -r -\n  reachlab capture london --duration 10 -w london.pcap"
    )]
    Capture(capture::CaptureArgs),
    /// Draw a topology file or a running lab: sites, circuits at their peering locations,
    /// VNets, Global Reach links (dashed when disconnected), bandwidth and RTT labels
    #[command(
        after_help = "Examples:\n  reachlab graph topologies/global-reach.toml -o seed.svg\n  reachlab graph global-reach --format dot | dot -Tpng > lab.png\n  reachlab graph topologies/global-reach.toml --format mermaid"
    )]
    Graph {
        /// A topology file, or the name of a running lab (drawn as it is now)
        what: String,
        #[arg(short, long, value_enum, default_value_t = graph::Format::Svg)]
        format: graph::Format,
        /// Write to FILE instead of stdout
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Ping every pair of sites and VNets and compare with what the rules allow (pingall)
    #[command(
        long_about = "Ping every ordered pair of sites and VNets from inside their namespaces and \
compare with the reachability the rules give for the lab as it runs now (live Global Reach and \
VNet changes and failed links included). Prints a matrix with mismatches marked; exits 1 on any \
mismatch.",
        after_help = "Examples:\n  reachlab test\n  reachlab test global-reach --output json | jq .mismatches"
    )]
    Test {
        /// Lab name (default: the only running lab)
        lab: Option<String>,
        /// Echo requests per pair; any reply counts (raise it for lossy labs)
        #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
        count: u32,
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Examples:\n  reachlab completions bash > /etc/bash_completion.d/reachlab\n  reachlab completions zsh > \"${fpath[1]}/_reachlab\"\n  reachlab completions fish > ~/.config/fish/completions/reachlab.fish"
    )]
    Completions { shell: clap_complete::Shell },
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
    let verbose = cli.verbose;
    let quiet = cli.quiet;
    match cli.command {
        Command::Check { files, output } => check::run(&files, output),
        Command::Up {
            file,
            detach,
            busy_poll,
            no_offload,
            metrics,
            notify_ready,
        } => up::run(
            &file,
            up::Options {
                detach,
                busy_poll,
                no_offload,
                notify_ready,
                verbose,
                quiet,
                metrics,
            },
        ),
        Command::Down { lab, all } => down::run(lab.as_deref(), all),
        Command::Exec { lab, name, command } => exec::run(lab.as_deref(), &name, &command),
        Command::Status { output } => status::run(output),
        Command::Locations { output } => locations::run(output),
        Command::GlobalReach(cmd) => global_reach::run(cmd),
        Command::Circuit(cmd) => circuit::run(cmd),
        Command::Vnet(cmd) => vnet::run(cmd),
        Command::Routes { circuit, path, to } => routes::run(&circuit, path, &to),
        Command::Stats { circuit, to } => stats::run(&circuit, &to),
        Command::Export { lab, lab_flag } => export::run(lab.or(lab_flag).as_deref()),
        Command::Capture(a) => capture::run(a, quiet),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "reachlab",
                &mut std::io::stdout(),
            );
            0
        }
        Command::Graph { what, format, out } => graph::run(&what, format, out.as_deref()),
        Command::Test { lab, count, output } => test::run(test::Options {
            lab,
            count,
            output,
            quiet,
        }),
    }
}

/// Which running lab a live verb talks to, and how it prints.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Lab name (default: the only running lab)
    #[arg(long)]
    pub lab: Option<String>,
    /// Output format
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Sends a request to the lab; on refusal prints why and returns the exit code.
pub(crate) fn call(lab: Option<&str>, req: Request) -> Result<serde_json::Value, i32> {
    let lab = lab::resolve_lab(lab).map_err(fail)?;
    let resp = client::call(&lab, &req).map_err(fail)?;
    if resp.ok {
        Ok(resp.result)
    } else {
        Err(fail(resp.error.unwrap_or_else(|| "refused".into())))
    }
}

/// A running lab as it is now (live changes included), and each circuit's [primary,
/// secondary] link states, in the topology's circuit order.
pub(crate) fn running_lab(lab: &str) -> Result<(crate::topology::Topology, Vec<[bool; 2]>), i32> {
    use crate::control::proto::CircuitStatsInfo;
    let text = match call(Some(lab), Request::Export)? {
        serde_json::Value::String(t) => t,
        _ => return Err(fail("unexpected reply from the lab")),
    };
    let topo = crate::topology::Topology::from_source(
        crate::diag::SourceFile::new("(running lab)", text),
        lab,
    )
    .map_err(|e| fail(format!("the running lab's topology does not load: {e}")))?;
    let mut links = Vec::new();
    for c in &topo.circuit {
        let s: CircuitStatsInfo = decode(call(
            Some(lab),
            Request::Stats {
                circuit: c.name.clone(),
            },
        )?)?;
        links.push([s.primary_up, s.secondary_up]);
    }
    Ok((topo, links))
}

/// Decodes a verb's result; a mismatch means client and lab are different versions.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, i32> {
    serde_json::from_value(v).map_err(|e| {
        fail(format!(
            "unexpected reply from the lab (is it another reachlab version?): {e}"
        ))
    })
}

pub(crate) fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Prints rows under headers, columns padded to their widest cell.
pub(crate) fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// Prints an error the way every verb does.
pub(crate) fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("reachlab: {msg}");
    1
}
