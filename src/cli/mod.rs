//! The command line: clap definitions and one module per verb, each a thin layer over
//! `topology` and `lab`. Verbs return an exit code; errors are printed as `reachlab: ...`.

mod capture;
mod check;
mod circuit;
mod completions;
mod down;
mod exec;
mod export;
mod global_reach;
mod graph;
mod import;
mod iperf;
mod locations;
mod path;
mod routes;
mod schema;
mod stats;
mod status;
mod test;
mod up;
mod vnet;
mod web;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::control::{client, proto::Request};
use crate::lab;

/// Exit codes (README, `--help`).
pub const EXIT_OK: i32 = 0;
/// Bad input, no such lab, a refused change, a failure.
pub const EXIT_ERROR: i32 = 1;
/// A command line clap refuses (clap's own code).
pub const EXIT_USAGE: i32 = 2;
/// `reachlab test` found a pair that does not behave as the rules say.
pub const EXIT_MISMATCH: i32 = 3;

/// The help heading of the flags every verb takes.
const GLOBAL: &str = "Global options";

#[derive(Parser, Debug)]
#[command(
    name = "reachlab",
    version,
    about = "Emulate Azure ExpressRoute Global Reach on one Linux machine",
    long_about = "reachlab runs branch sites and Azure VNets as network namespaces joined by \
emulated ExpressRoute circuits, so real ping, traceroute and iperf3 show what Global Reach \
connects and what it does not.\n\nStart with: reachlab check topologies/global-reach.toml",
    after_help = "Examples:\n  reachlab check topologies/global-reach.toml\n  sudo reachlab up topologies/global-reach.toml --detach\n  sudo reachlab exec sf -- ping -c 3 london\n  sudo reachlab exec sf -- traceroute -n london\n  sudo reachlab iperf sf london -- -t 5\n  sudo reachlab test\n  sudo reachlab capture er-sv:er-london -w - | tcpdump -n -r -\n  sudo reachlab graph global-reach --file lab.svg\n  sudo reachlab down global-reach\n\nExit codes: 0 success; 1 error (bad input, no such lab, refused change); 2 usage (unknown \
verb or flag); 3 `reachlab test` found a pair that does not behave as the rules say."
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Print nothing but results and errors (no progress, no notes on stderr)
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = GLOBAL
    )]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate topology files: prints `ok` or every error with file:line:col
    Check(check::CheckArgs),
    /// Bring a lab up and run it until Ctrl-C / SIGTERM, then remove everything it made
    #[command(
        after_help = "Examples:\n  sudo reachlab up topologies/global-reach.toml            # until Ctrl-C\n  sudo reachlab up topologies/global-reach.toml --detach   # in the background\n  sudo reachlab up lab.toml --detach --metrics 127.0.0.1:9464\n  sudo reachlab up lab.toml --detach --web 127.0.0.1:8080 --web-control"
    )]
    Up(up::UpArgs),
    /// Stop a lab and remove its namespaces and TUN devices (also after its process was killed)
    Down(down::DownArgs),
    /// Run a command in a site's or VNet's namespace (the lab's names resolve there)
    #[command(
        after_help = "Examples:\n  sudo reachlab exec sf -- ping -c 3 london\n  sudo reachlab exec sf -- traceroute -n uksouth\n  sudo reachlab exec --lab global-reach london -- ip route\n  sudo reachlab exec sf -- bash          # a shell inside sf"
    )]
    Exec(exec::ExecArgs),
    /// List running labs with their PID, file, sites and addresses
    Status(status::StatusArgs),
    /// Link circuits with Global Reach, unlink them, list the connections (live)
    #[command(name = "global-reach", subcommand)]
    GlobalReach(global_reach::Cmd),
    /// Show a circuit, or create an authorization key on it (live)
    #[command(subcommand)]
    Circuit(circuit::Cmd),
    /// Link a VNet to a circuit or unlink it (live)
    #[command(subcommand)]
    Vnet(vnet::Cmd),
    /// Serve the live view of a running lab in the browser (as `up --web` does)
    #[command(
        after_help = "Examples:\n  sudo reachlab web --listen 127.0.0.1:8080\n  sudo reachlab web global-reach --listen 127.0.0.1:8080 --control"
    )]
    Web(web::WebArgs),
    /// The way packets take between two sites or VNets, both directions, and whether they
    /// differ
    #[command(
        long_about = "The way packets take between two sites or VNets, both directions, hop by hop from \
the tables in force: the site's CE or the VNet's gateway, the circuit and link, the MSEE, Global \
Reach, the destination. Says when the two directions take different circuits or links (the \
asymmetry a stateful firewall breaks on). A ping's flow; other flows may hash onto other links.",
        after_help = "Examples:\n  reachlab path sf london\n  reachlab path uswest dc\n  reachlab path sf uswest --output json | jq .asymmetry"
    )]
    Path(path::PathArgs),
    /// A circuit's MSEE route table, as `az network express-route list-route-tables` shows it
    #[command(
        after_help = "Examples:\n  reachlab routes er-sv\n  reachlab routes er-london --path secondary\n  reachlab routes er-sv --summary\n  reachlab routes uswest                 # a VNet gateway's routes\n  reachlab routes er-sv --output json | jq -r '.value[].nextHop'"
    )]
    Routes(routes::RoutesArgs),
    /// A circuit's traffic counters per link and its drops by reason
    #[command(
        after_help = "Examples:\n  reachlab stats er-sv\n  reachlab stats er-sv --output json | jq .primarybytesIn"
    )]
    Stats(stats::StatsArgs),
    /// Write the running lab as a topology file (`reachlab export > lab.toml`)
    Export(export::ExportArgs),
    /// Capture the packets passing a site, VNet, circuit link or Global Reach connection as pcap
    #[command(
        after_help = "Examples:\n  reachlab capture er-sv -w sv.pcap -c 100\n  reachlab capture er-sv:er-london -w - | tcpdump -n -r -\n  reachlab capture london --duration 10 -w london.pcap"
    )]
    Capture(capture::CaptureArgs),
    /// Draw a topology file or a running lab: sites, circuits at their peering locations,
    /// VNets, Global Reach links (dashed when disconnected), bandwidth and RTT labels
    #[command(
        after_help = "Examples:\n  reachlab graph topologies/global-reach.toml --file seed.svg\n  reachlab graph global-reach -o dot | dot -Tpng > lab.png\n  reachlab graph topologies/global-reach.toml -o mermaid"
    )]
    Graph(graph::GraphArgs),
    /// Ping every pair of sites and VNets and compare with what the rules allow (pingall)
    #[command(
        long_about = "Ping every ordered pair of sites and VNets from inside their namespaces and \
compare with the reachability the rules give for the lab as it runs now (live Global Reach and \
VNet changes and failed links included). Prints a matrix with mismatches marked. Exits 0 when \
every pair behaves as the rules say, 3 on any mismatch, 1 when it cannot run (no such lab, not \
root).",
        after_help = "Examples:\n  reachlab test\n  reachlab test global-reach --output json | jq .mismatches"
    )]
    Test(test::TestArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Examples:\n  reachlab completions bash > /etc/bash_completion.d/reachlab\n  reachlab completions zsh > \"${fpath[1]}/_reachlab\"\n  reachlab completions fish > ~/.config/fish/completions/reachlab.fish"
    )]
    Completions(completions::CompletionsArgs),
    /// List the known peering locations, or with --regions the Azure regions
    #[command(
        after_help = "Examples:\n  reachlab locations\n  reachlab locations --regions\n  reachlab locations --output json | jq -r '.[] | select(.global_reach) | .name'"
    )]
    Locations(locations::LocationsArgs),
    /// Measure throughput between two sites or VNets with iperf3 (server in DST, client in SRC)
    #[command(
        long_about = "Measure throughput between two sites or VNets with iperf3: starts `iperf3 -s` in \
DST's namespace, waits until it listens, runs the client in SRC's namespace against DST's address \
(IPv6 with -6), prints iperf3's result and stops the server. Arguments after -- go to the client.",
        after_help = "Examples:\n  sudo reachlab iperf sf london\n  sudo reachlab iperf sf london -- -t 3\n  sudo reachlab iperf sf uksouth -- -u -b 100M -t 5\n  sudo reachlab iperf london sf -- -P 4 -t 10 -R"
    )]
    Iperf(iperf::IperfArgs),
    /// A topology from az CLI / ARM JSON of your ExpressRoute estate (circuits, peerings,
    /// Global Reach, VNets, gateway connections), on stdout
    #[command(
        long_about = "A topology from az CLI or ARM JSON of an ExpressRoute estate, on stdout: circuits \
(peering location, bandwidth, SKU, provider, private peering /30s and peerASN), Global Reach \
connections, VNets and their ExpressRoute gateway connections (with routing weights). Sites are \
not Azure resources: give them with --site, or from a circuit's route table with --routes. \
Anything that cannot be mapped is reported with its file and JSON path (exit 1), unless \
--skip-unknown leaves it out with a warning; the result is checked as `check` would.",
        after_help = "Examples:\n  az network express-route list -o json > circuits.json\n  az network vnet list -o json > vnets.json\n  az network vpn-connection list -g RG -o json > connections.json\n  reachlab import circuits.json vnets.json connections.json --site sf=er-sv:10.0.1.0/24 > lab.toml\n  reachlab import circuits.json --routes er-sv=er-sv-routes.json > lab.toml"
    )]
    Import(import::ImportArgs),
    /// Print the JSON Schema of the topology file (for editors: taplo, Even Better TOML)
    #[command(
        after_help = "Examples:\n  reachlab schema > reachlab.schema.json\n  # then start a topology file with:  #:schema ./reachlab.schema.json"
    )]
    Schema,
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
        Command::Check(a) => check::run(a),
        Command::Up(a) => up::run_args(a, verbose, quiet),
        Command::Down(a) => down::run(a),
        Command::Exec(a) => exec::run(a),
        Command::Status(a) => status::run(a),
        Command::Locations(a) => locations::run(a),
        Command::Iperf(a) => iperf::run(a, quiet),
        Command::Path(a) => path::run(a),
        Command::Web(a) => web::run(a),
        Command::Schema => schema::run(),
        Command::Import(a) => import::run(a),
        Command::GlobalReach(cmd) => global_reach::run(cmd),
        Command::Circuit(cmd) => circuit::run(cmd),
        Command::Vnet(cmd) => vnet::run(cmd),
        Command::Routes(a) => routes::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Export(a) => export::run(a),
        Command::Capture(a) => capture::run(a, quiet),
        Command::Completions(a) => completions::run(a),
        Command::Graph(a) => graph::run(a),
        Command::Test(a) => test::run(a, quiet),
    }
}

/// Which running lab a live verb talks to, and how it prints.
#[derive(Args, Debug, Clone)]
pub struct LiveArgs {
    /// Lab name (default: the only running lab)
    #[arg(long)]
    pub lab: Option<String>,
    /// Output format
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// The running lab a verb talks to (the one named, else the only one), or the exit code.
pub(crate) fn resolve(lab: Option<&str>) -> Result<String, i32> {
    lab::resolve_lab(lab).map_err(fail)
}

/// A running lab's recorded state, for the verbs that act inside its namespaces (root only):
/// the lab named (else the only one), refused when its process is gone.
pub(crate) fn running_state(lab: Option<&str>) -> Result<lab::state::LabState, i32> {
    let lab = resolve(lab)?;
    if !lab::is_root() {
        return Err(fail(lab::LabError::NotRoot));
    }
    let st = lab::state::LabState::load(&lab)
        .map_err(|e| fail(format!("reading the state of lab {lab}: {e}")))?;
    if !st.alive() {
        return Err(fail(format!(
            "lab {lab} is not running (its process {} is gone); `reachlab down {lab}` cleans it",
            st.pid
        )));
    }
    Ok(st)
}

/// A site or VNet of a running lab, or an error naming those it has.
pub(crate) fn endpoint<'a>(
    st: &'a lab::state::LabState,
    name: &str,
) -> Result<&'a lab::state::EndpointState, i32> {
    st.endpoints.iter().find(|e| e.name == name).ok_or_else(|| {
        let known: Vec<&str> = st.endpoints.iter().map(|e| e.name.as_str()).collect();
        if let Some(p) = st.ports.iter().find(|p| p.site == name) {
            return fail(format!(
                "site {name} of lab {} has its router outside the lab (behind port {}{}); run commands where that router runs. Sites and VNets here: {}",
                st.lab,
                p.netns.as_deref().map(|n| format!("{n}/")).unwrap_or_default(),
                p.interface,
                known.join(", ")
            ));
        }
        fail(format!(
            "lab {} has no site or VNet named {name}; it has: {}",
            st.lab,
            known.join(", ")
        ))
    })
}

/// Prints a value as JSON: the az shape `to_az` makes of the lab's reply.
pub(crate) fn print_az<T: serde::de::DeserializeOwned, A: serde::Serialize>(
    v: serde_json::Value,
    to_az: impl FnOnce(&T) -> A,
) -> i32 {
    match decode::<T>(v) {
        Ok(t) => {
            print_json(&serde_json::to_value(to_az(&t)).unwrap_or_default());
            0
        }
        Err(c) => c,
    }
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

/// Per family (IPv4, IPv6), per circuit, whether its [primary, secondary] link carries it.
pub(crate) type Carrying = [Vec<[bool; 2]>; 2];

/// A running lab as it is now (live changes included), and whether each circuit's [primary,
/// secondary] link carries each family (IPv4, IPv6), in the topology's circuit order: up,
/// and where a site's own router is at the customer end, its BGP session of that family
/// Established (a circuit without IPv6 peering: the IPv4 one for both).
pub(crate) fn running_lab_families(
    lab: &str,
) -> Result<(crate::topology::Topology, Carrying), i32> {
    use crate::control::proto::{CircuitStatsInfo, Path, RouteSummary};
    use crate::lab::pingall;
    let text = match call(Some(lab), Request::Export)? {
        serde_json::Value::String(t) => t,
        _ => return Err(fail("unexpected reply from the lab")),
    };
    let topo = crate::topology::Topology::from_source(
        crate::diag::SourceFile::new("(running lab)", text),
        lab,
    )
    .map_err(|e| fail(format!("the running lab's topology does not load: {e}")))?;
    let mut links = [Vec::new(), Vec::new()];
    for c in &topo.circuit {
        let s: CircuitStatsInfo = decode(call(
            Some(lab),
            Request::Stats {
                circuit: c.name.clone(),
            },
        )?)?;
        let up = [s.primary_up, s.secondary_up];
        let mut carries = [up, up];
        if pingall::routed(&topo, &c.name) {
            for (i, path) in [Path::Primary, Path::Secondary].into_iter().enumerate() {
                let summary: RouteSummary = decode(call(
                    Some(lab),
                    Request::RoutesSummary {
                        circuit: c.name.clone(),
                        path,
                        family: None,
                    },
                )?)?;
                for (v6, family) in carries.iter_mut().enumerate() {
                    family[i] = pingall::carries(up[i], Some(&summary), v6 == 1);
                }
            }
        }
        for (v6, family) in carries.into_iter().enumerate() {
            links[v6].push(family);
        }
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
    EXIT_ERROR
}

/// A listening address: `ADDR:PORT`, or a bare `PORT` on 127.0.0.1 (the loopback default: a
/// view reachable from elsewhere is asked for by address).
pub(crate) fn listen_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse()
        .map_err(|_| format!("\"{s}\": write PORT or ADDR:PORT, e.g. 8080 or 127.0.0.1:8080"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn up_web_before_the_file_takes_the_file() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from(["reachlab", "up", "--web", "lab.toml"]).unwrap();
        let super::Command::Up(super::up::UpArgs { file, web, .. }) = cli.command else {
            panic!("up")
        };
        assert!(file.is_none());
        assert!(matches!(web, Some(super::up::WebArg::File(f)) if f.to_str() == Some("lab.toml")));
        let cli =
            super::Cli::try_parse_from(["reachlab", "up", "lab.toml", "--web", "9000"]).unwrap();
        let super::Command::Up(super::up::UpArgs { file, web, .. }) = cli.command else {
            panic!("up")
        };
        assert_eq!(file.unwrap().to_str(), Some("lab.toml"));
        assert!(
            matches!(web, Some(super::up::WebArg::Addr(a)) if a.to_string() == "127.0.0.1:9000")
        );
        assert!(super::Cli::try_parse_from(["reachlab", "up", "--web", "nowhere"]).is_err());
        assert!(super::Cli::try_parse_from(["reachlab", "up"]).is_err());
    }

    #[test]
    fn a_bare_port_listens_on_loopback() {
        assert_eq!(
            super::listen_addr("8080").unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            super::listen_addr("[::1]:9000").unwrap().to_string(),
            "[::1]:9000"
        );
        assert!(super::listen_addr("nowhere")
            .unwrap_err()
            .contains("ADDR:PORT"));
    }

    use super::*;
    use clap::CommandFactory;

    /// Every positional argument of every verb says what it is.
    #[test]
    fn every_positional_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_positionals() {
                if a.get_help().is_none() && !a.is_hide_set() {
                    missing.push(format!("{path} <{}>", a.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "reachlab", &mut missing);
        assert!(missing.is_empty(), "undescribed: {missing:?}");
    }

    #[test]
    fn help_lists_exit_codes_and_global_options_apart() {
        let mut cmd = Cli::command();
        let help = cmd.render_long_help().to_string();
        assert!(help.contains("Exit codes: 0 success; 1 error"), "{help}");
        assert!(help.contains("3 `reachlab test` found"), "{help}");
        let mut all = Cli::command();
        all.build();
        let up = all
            .find_subcommand_mut("up")
            .unwrap()
            .render_help()
            .to_string();
        assert!(up.contains("Global options:"), "{up}");
        assert!(up.contains("Examples:"), "{up}");
    }

    #[test]
    fn output_is_the_format_everywhere_and_graph_writes_to_file() {
        let cli = Cli::try_parse_from(["reachlab", "graph", "lab", "-o", "dot", "--file", "x.dot"])
            .unwrap();
        match cli.command {
            Command::Graph(graph::GraphArgs { output, file, .. }) => {
                assert_eq!(output, graph::Format::Dot);
                assert_eq!(file, Some(std::path::PathBuf::from("x.dot")));
            }
            c => panic!("{c:?}"),
        }
        let e = Cli::try_parse_from(["reachlab", "graph", "lab", "-o", "x.svg"]).unwrap_err();
        assert_eq!(e.exit_code(), EXIT_USAGE);
    }
}
