//! `reachlab routes CIRCUIT [--path primary|secondary] [--family ipv4|ipv6] [--summary]`: the
//! MSEE's route table, or its BGP neighbours (az's route table summary).

use super::{call, decode, print_az, print_table, LiveArgs, Output};
use crate::control::proto::{Request, RouteSummary, RouteTable};

/// `reachlab routes`'s arguments.
#[derive(clap::Args, Debug)]
pub struct RoutesArgs {
    /// The circuit whose MSEE table to show, or a VNet whose gateway's table to show
    pub circuit: String,
    /// Which of the circuit's links
    #[arg(long, value_enum, default_value_t = crate::control::proto::Path::Primary)]
    pub path: crate::control::proto::Path,
    /// The MSEE's BGP neighbours instead (az's route table summary: Neighbor, V, AS,
    /// UpDown, StatePfxRcd)
    #[arg(long)]
    pub summary: bool,
    /// Only this family's routes (with --summary: its BGP neighbours and sessions); both
    /// when not given, IPv4 first
    #[arg(long, value_enum)]
    pub family: Option<crate::control::proto::Family>,
    #[command(flatten)]
    pub to: LiveArgs,
}

pub fn run(a: RoutesArgs) -> i32 {
    let (circuit, path, summary, family, to) = (&a.circuit[..], a.path, a.summary, a.family, &a.to);
    let circuit = circuit.to_string();
    let req = if summary {
        Request::RoutesSummary {
            circuit,
            path,
            family,
        }
    } else {
        Request::Routes {
            circuit,
            path,
            family,
        }
    };
    let v = match call(to.lab.as_deref(), req) {
        Ok(v) => v,
        Err(c) => return c,
    };
    if summary {
        if to.output == Output::Json {
            return print_az(v, crate::az::route_summary);
        }
        let s: RouteSummary = match decode(v) {
            Ok(s) => s,
            Err(c) => return c,
        };
        let rows: Vec<Vec<String>> = s
            .neighbors
            .iter()
            .map(|n| {
                vec![
                    n.neighbor.clone(),
                    n.v.to_string(),
                    n.asn.to_string(),
                    n.up_down.clone(),
                    n.state_pfx_rcd.clone(),
                    n.role.clone(),
                ]
            })
            .collect();
        print_table(
            &["Neighbor", "V", "AS", "UpDown", "StatePfxRcd", "Peer"],
            &rows,
        );
        for n in &s.neighbors {
            if let Some(e) = &n.last_error {
                println!("{} ({}) is {}: {e}", n.neighbor, n.role, n.state_pfx_rcd);
            }
        }
        return 0;
    }
    if to.output == Output::Json {
        return print_az(v, crate::az::route_table);
    }
    let t: RouteTable = match decode(v) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let rows: Vec<Vec<String>> = t
        .routes
        .iter()
        .map(|r| {
            vec![
                r.network.clone(),
                r.next_hop.clone(),
                r.loc_prf.map(|l| l.to_string()).unwrap_or_default(),
                r.weight.to_string(),
                r.path.clone(),
            ]
        })
        .collect();
    print_table(&["Network", "NextHop", "LocPrf", "Weight", "Path"], &rows);
    0
}
