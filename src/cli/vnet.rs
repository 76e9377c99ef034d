//! `reachlab vnet link|unlink VNET CIRCUIT`: a VNet's circuit links in a running lab.

use clap::Subcommand;

use super::{call, print_json, LiveArgs, Output};
use crate::control::proto::Request;

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Link a VNet to a circuit: the circuit's sites reach it. On a linked VNet, `--weight`
    /// changes the connection's routing weight
    Link {
        /// The VNet
        vnet: String,
        /// The circuit to connect its gateway to
        circuit: String,
        /// The connection's routing weight, 0-32000: the gateway prefers the highest (before
        /// the AS path); equal weights and paths spread flows over up to 4 circuits
        #[arg(long, value_parser = clap::value_parser!(u16).range(0..=32000))]
        weight: Option<u16>,
        #[command(flatten)]
        to: LiveArgs,
    },
    /// Unlink a VNet from a circuit
    Unlink {
        /// The VNet
        vnet: String,
        /// The circuit to disconnect its gateway from
        circuit: String,
        #[command(flatten)]
        to: LiveArgs,
    },
}

pub fn run(cmd: Cmd) -> i32 {
    let (req, to, what) = match cmd {
        Cmd::Link {
            vnet,
            circuit,
            weight,
            to,
        } => (
            Request::VnetLink {
                vnet,
                circuit,
                weight,
            },
            to,
            "linked to",
        ),
        Cmd::Unlink { vnet, circuit, to } => {
            (Request::VnetUnlink { vnet, circuit }, to, "unlinked from")
        }
    };
    let (vnet, circuit) = match &req {
        Request::VnetLink { vnet, circuit, .. } | Request::VnetUnlink { vnet, circuit } => {
            (vnet.clone(), circuit.clone())
        }
        _ => unreachable!("built above"),
    };
    match call(to.lab.as_deref(), req) {
        Ok(v) if to.output == Output::Json => {
            print_json(&v);
            0
        }
        Ok(v) => {
            let links: Vec<String> = serde_json::from_value(v).unwrap_or_default();
            println!(
                "vnet {vnet} {what} {circuit}; its circuits: {}",
                if links.is_empty() {
                    "none".to_string()
                } else {
                    links.join(", ")
                }
            );
            0
        }
        Err(c) => c,
    }
}
