//! `reachlab test [LAB]`: this tool's pingall. Every ordered pair of sites and VNets, the
//! reachability the rules give (for the lab as it is now: live Global Reach and VNet changes,
//! failed links) against a real ping from the source's namespace, printed as a matrix with
//! mismatches marked. Exit 3 (`EXIT_MISMATCH`) on any mismatch.

use std::collections::BTreeMap;

use super::{print_json, Output};
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
    // The lab as it runs now, not as its file was.
    let (topo, links) = match super::running_lab(&lab) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let up: BTreeMap<String, bool> = topo
        .circuit
        .iter()
        .zip(&links)
        .map(|(c, l)| (c.name.clone(), l[0] || l[1]))
        .collect();
    if !quiet && o.output == Output::Table {
        eprintln!(
            "reachlab: pinging every pair of {} sites and VNets in lab {lab} ...",
            st.endpoints.len()
        );
    }
    let probes = pingall::run(
        &st,
        &topo,
        &|c: &str| up.get(c).copied().unwrap_or(false),
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
