//! `reachlab test [LAB]`: this tool's pingall. Every ordered pair of sites and VNets, the
//! reachability the rules give (for the lab as it is now: live Global Reach and VNet changes,
//! failed links) against a real ping from the source's namespace, printed as a matrix with
//! mismatches marked. Exit 3 (`EXIT_MISMATCH`) on any mismatch.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{print_json, Output};
use crate::control::proto::{Request, SettleState};
use crate::lab::{pingall, state::LabState};

/// `reachlab test`'s arguments.
#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Lab name (default: the only running lab)
    pub lab: Option<String>,
    /// Echo requests per pair; any reply counts (raise it for lossy labs)
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub count: u32,
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

pub fn run(o: TestArgs, quiet: bool) -> i32 {
    let st = match super::running_state(o.lab.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let lab = st.lab.clone();
    if let Err(code) = wait_settled(&lab, quiet || o.output == Output::Json) {
        return code;
    }
    // The lab as it runs now, not as its file was.
    // IPv6 crosses a router's link while its IPv6 session is Established.
    let (topo, links) = match super::running_lab_families(&lab) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let carrying = |links: &[[bool; 2]]| -> BTreeMap<String, bool> {
        topo.circuit
            .iter()
            .zip(links)
            .map(|(c, l)| (c.name.clone(), l[0] || l[1]))
            .collect()
    };
    let [up, up6] = [carrying(&links[0]), carrying(&links[1])];
    if !quiet && o.output == Output::Table {
        eprintln!(
            "reachlab: pinging every pair of {} sites and VNets in lab {lab} ...",
            st.endpoints.len()
        );
    }
    let probes = pingall::run(
        &st,
        &topo,
        &|c: &str, v6: bool| if v6 { &up6 } else { &up }.get(c).copied().unwrap_or(false),
        o.count,
        16,
    );
    let mismatches = probes.iter().filter(|p| !p.matches()).count();
    if o.output == Output::Json {
        print_json(&serde_json::json!({
            "lab": lab,
            "probes": probes,
            "mismatches": mismatches,
        }));
    } else {
        print_matrix(&st, &probes);
        let down: Vec<&String> = up.iter().filter(|(_, u)| !**u).map(|(c, _)| c).collect();
        if !down.is_empty() {
            println!(
                "Circuits with both links failed (expected to carry nothing): {}",
                down.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let shadowed = probes.iter().filter(|p| p.shadowed_by.is_some()).count();
        println!(
            "{} probes, {} as expected, {}{mismatches} mismatch{}",
            probes.len(),
            probes.len() - mismatches - shadowed,
            if shadowed > 0 {
                format!("{shadowed} not compared (the same prefix at two endpoints: best path decides), ")
            } else {
                String::new()
            },
            if mismatches == 1 { "" } else { "es" }
        );
    }
    if mismatches > 0 {
        super::EXIT_MISMATCH
    } else {
        super::EXIT_OK
    }
}

/// Rows: from; columns: to. A cell has one mark per address family tested (IPv4 then IPv6):
/// `Y` replied, `.` no reply; `!` after a cell marks a mismatch with the rules.
fn print_matrix(st: &LabState, probes: &[pingall::Probe]) {
    let names: Vec<&str> = st.endpoints.iter().map(|e| e.name.as_str()).collect();
    let cell = |a: &str, b: &str| -> String {
        if a == b {
            return "-".into();
        }
        let ps: Vec<&pingall::Probe> = probes.iter().filter(|p| p.from == a && p.to == b).collect();
        let mut s: String = ps
            .iter()
            .map(|p| if p.reached { 'Y' } else { '.' })
            .collect();
        if ps.iter().any(|p| !p.matches()) {
            s.push('!');
        } else if ps.iter().any(|p| p.shadowed_by.is_some()) {
            s.push('~');
        }
        s
    };
    let mut rows = Vec::new();
    for a in &names {
        let mut r = vec![a.to_string()];
        r.extend(names.iter().map(|b| cell(a, b)));
        rows.push(r);
    }
    let mut headers = vec!["from \\ to"];
    headers.extend(names.iter().copied());
    super::print_table(&headers, &rows);
    println!(
        "Y reply, . no reply (IPv4, then IPv6 where both ends have it); ! differs from the rules; ~ the same prefix at another endpoint too, not compared"
    );
    for p in probes.iter().filter(|p| !p.matches()) {
        println!(
            "MISMATCH {} -> {} ({} {}): rules say {}, ping {}",
            p.from,
            p.to,
            p.family,
            p.address,
            if p.expected { "reachable" } else { "isolated" },
            if p.reached { "got a reply" } else { "got none" }
        );
    }
}

/// How long `test` waits at most for the lab to settle.
const SETTLE_WAIT: Duration = Duration::from_secs(30);
/// How long the MSEEs' routing must have been unchanged: a router installs what it was sent
/// (and a site's own router announces what it learned) well within it.
const QUIET_MS: u64 = 2_000;

/// Waits, at most `SETTLE_WAIT` and saying so unless `silent`, until every router session on
/// a link that is up is Established and the MSEEs' routing has been quiet for `QUIET_MS`:
/// probes sent while routers converge report mismatches that are not there. Goes on (saying
/// so) when the lab does not settle in time.
fn wait_settled(lab: &str, silent: bool) -> Result<(), i32> {
    let start = Instant::now();
    let mut said = false;
    loop {
        let s: SettleState = super::decode(super::call(Some(lab), Request::Settle)?)?;
        // Static routers converge with the tables: nothing to wait for.
        if s.sessions == 0 || (s.established == s.sessions && s.quiet_ms >= QUIET_MS) {
            return Ok(());
        }
        if start.elapsed() >= SETTLE_WAIT {
            if !silent {
                eprintln!(
                    "reachlab: lab {lab} has not settled after {} s ({} of {} BGP sessions Established); testing it as it is",
                    SETTLE_WAIT.as_secs(),
                    s.established,
                    s.sessions
                );
            }
            return Ok(());
        }
        if !silent && !said {
            said = true;
            eprintln!(
                "reachlab: waiting up to {} s for lab {lab} to settle ({} of {} BGP sessions Established, routing changed {:.1} s ago) ...",
                SETTLE_WAIT.as_secs(),
                s.established,
                s.sessions,
                s.quiet_ms as f64 / 1e3
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
