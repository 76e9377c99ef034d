//! `reachlab routes CIRCUIT [--path primary|secondary]`: the MSEE's route table.

use super::{call, decode, print_az, print_table, Output, Target};
use crate::control::proto::{Path, Request, RouteTable};

pub fn run(circuit: &str, path: Path, to: &Target) -> i32 {
    let v = match call(
        to.lab.as_deref(),
        Request::Routes {
            circuit: circuit.to_string(),
            path,
        },
    ) {
        Ok(v) => v,
        Err(c) => return c,
    };
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
