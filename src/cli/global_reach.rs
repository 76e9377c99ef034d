//! `reachlab global-reach add|remove|list`: Global Reach connections of a running lab, in the
//! nouns of `az network express-route peering connection`.

use clap::Subcommand;

use super::{call, decode, print_az, print_table, resolve, LiveArgs, Output};
use crate::control::proto::{GlobalReachAdd, GrRow, Request};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Link two circuits: each learns the other's on-premises routes
    #[command(
        after_help = "Examples:\n  reachlab global-reach add er-sv er-london --address-prefix 192.168.8.0/29\n  reachlab global-reach add er-sv er-london --address-prefix 192.168.8.0/29 \\\n      --ipv6-address-prefix fd00:8::/125\n  KEY=$(reachlab circuit authorize er-ams --name for-sv)\n  reachlab global-reach add er-sv er-ams --address-prefix 192.168.9.0/29 --authorization-key $KEY"
    )]
    Add {
        /// The circuit the connection is configured on
        circuit: String,
        /// The peer circuit
        peer: String,
        /// IPv4 /29 for the link between the two MSEEs, unused elsewhere in the lab
        #[arg(long)]
        address_prefix: String,
        /// IPv6 /125, needed for IPv6 site routes to cross the link
        #[arg(long)]
        ipv6_address_prefix: Option<String>,
        /// Key from `reachlab circuit authorize PEER` when the peer is in another subscription
        #[arg(long)]
        authorization_key: Option<String>,
        #[command(flatten)]
        to: LiveArgs,
    },
    /// Unlink two circuits
    Remove {
        /// The circuit the connection is configured on
        circuit: String,
        /// The peer circuit
        peer: String,
        #[command(flatten)]
        to: LiveArgs,
    },
    /// List connections (of one circuit, when given)
    List {
        /// Only the connections of this circuit
        circuit: Option<String>,
        #[command(flatten)]
        to: LiveArgs,
    },
}

pub fn run(cmd: Cmd) -> i32 {
    let (req, to) = match cmd {
        Cmd::Add {
            circuit,
            peer,
            address_prefix,
            ipv6_address_prefix,
            authorization_key,
            to,
        } => (
            Request::GlobalReachAdd(GlobalReachAdd {
                circuit,
                peer,
                address_prefix,
                ipv6_address_prefix,
                authorization_key,
            }),
            to,
        ),
        Cmd::Remove { circuit, peer, to } => (Request::GlobalReachRemove { circuit, peer }, to),
        Cmd::List { circuit, to } => (Request::GlobalReachList { circuit }, to),
    };
    let list = matches!(req, Request::GlobalReachList { .. });
    let removing = matches!(req, Request::GlobalReachRemove { .. });
    let lab = match resolve(to.lab.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let v = match call(Some(&lab), req) {
        Ok(v) => v,
        Err(code) => return code,
    };
    if to.output == Output::Json {
        // As `az network express-route peering connection list|show`.
        let scope = crate::az::Scope {
            resource_group: &lab,
        };
        return if list {
            print_az(v, |rows: &Vec<GrRow>| {
                rows.iter()
                    .map(|r| crate::az::connection(&scope, r))
                    .collect::<Vec<_>>()
            })
        } else {
            print_az(v, |r: &GrRow| crate::az::connection(&scope, r))
        };
    }
    let rows: Vec<GrRow> = if list {
        match decode(v) {
            Ok(r) => r,
            Err(c) => return c,
        }
    } else {
        match decode::<GrRow>(v) {
            Ok(r) => {
                let what = if removing { "removed" } else { "added" };
                println!("Global Reach {} <-> {} {what}", r.circuit, r.peer);
                if removing {
                    return 0;
                }
                vec![r]
            }
            Err(c) => return c,
        }
    };
    print_gr(&rows);
    0
}

pub(super) fn print_gr(rows: &[GrRow]) {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.circuit.clone(),
                r.peer.clone(),
                r.address_prefix.clone(),
                r.ipv6_address_prefix.clone().unwrap_or_else(|| "-".into()),
                r.state.clone(),
                // IPv6 site routes cross only with an IPv6 /125 on the connection.
                if r.ipv6_address_prefix.is_some() {
                    "IPv4, IPv6".into()
                } else {
                    "IPv4 only".into()
                },
            ]
        })
        .collect();
    print_table(
        &[
            "Circuit",
            "Peer",
            "AddressPrefix",
            "Ipv6AddressPrefix",
            "State",
            "Carries",
        ],
        &table,
    );
}
