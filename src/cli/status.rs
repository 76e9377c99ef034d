//! `reachlab status`: running labs, their process, file, sites and addresses.

use super::Output;
use crate::lab::state::{self, LabState};

/// `reachlab status`'s arguments.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

pub fn run(a: StatusArgs) -> i32 {
    let output = a.output;
    let labs: Vec<LabState> = state::list_labs()
        .iter()
        .filter_map(|l| LabState::load(l).ok())
        .collect();
    match output {
        Output::Json => {
            let v: Vec<serde_json::Value> = labs
                .iter()
                .map(|st| {
                    let mut v = serde_json::to_value(st).unwrap_or_default();
                    v["running"] = serde_json::Value::Bool(st.alive());
                    v
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        Output::Table => {
            if labs.is_empty() {
                println!("no lab is running");
            }
            for st in &labs {
                let state = if !st.alive() {
                    "stale: its process is gone; `reachlab down` cleans it"
                } else if st.ready {
                    "running"
                } else {
                    "starting"
                };
                println!(
                    "lab {}  pid {}  {}  file {}",
                    st.lab, st.pid, state, st.file
                );
                print_endpoints(st);
                if st.workers > 0 {
                    let s = if st.workers == 1 { "" } else { "s" };
                    println!("  forwarding: {} worker{s}", st.workers);
                }
                if let Some(m) = &st.metrics {
                    println!("  metrics: http://{m}/metrics");
                }
                if let Some(l) = live_view(st) {
                    println!("  live view: {l}");
                }
            }
        }
    }
    0
}

/// Where the lab's live view is and what it allows: "http://ADDR/ (read-only)"; with a token,
/// a link that carries it (the fragment stays in the browser).
pub(super) fn live_view(st: &LabState) -> Option<String> {
    let w = st.web.as_deref()?;
    Some(match &st.web_token {
        Some(t) => format!(
            "http://{w}/#token={t} (changes allowed with this link; scripts send Authorization: Bearer {t})"
        ),
        None if st.web_control => format!("http://{w}/ (changes allowed)"),
        None => format!("http://{w}/ (read-only)"),
    })
}

pub(super) fn print_endpoints(st: &LabState) {
    let w = st
        .endpoints
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let wn = st
        .endpoints
        .iter()
        .map(|e| e.namespace.len())
        .max()
        .unwrap_or(9)
        .max(9);
    println!(
        "  {:w$}  {:4}  {:wn$}  {:15}  ADDRESSES",
        "NAME", "KIND", "NAMESPACE", "TUN"
    );
    for e in &st.endpoints {
        println!(
            "  {:w$}  {:4}  {:wn$}  {:15}  {}",
            e.name,
            e.kind,
            e.namespace,
            e.tun,
            e.addresses.join(", ")
        );
    }
    if !st.ports.is_empty() {
        println!("  Ethernet ports (routers outside the lab):");
        for p in &st.ports {
            println!(
                "  {:w$}  {}  {}{}{}",
                p.site,
                p.link,
                p.netns
                    .as_deref()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default(),
                p.interface,
                if p.made {
                    " (VXLAN made by the lab)"
                } else {
                    ""
                }
            );
        }
    }
}
