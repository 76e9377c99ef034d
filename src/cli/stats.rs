//! `reachlab stats CIRCUIT`: bytes and packets per link, drops by reason.

use super::{call, decode, print_az, print_table, LiveArgs, Output};
use crate::control::proto::{CircuitStatsInfo, Request};

/// `reachlab stats`'s arguments.
#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// The circuit whose counters to show
    pub circuit: String,
    #[command(flatten)]
    pub to: LiveArgs,
}

pub fn run(a: StatsArgs) -> i32 {
    let (circuit, to) = (&a.circuit[..], &a.to);
    let v = match call(
        to.lab.as_deref(),
        Request::Stats {
            circuit: circuit.to_string(),
        },
    ) {
        Ok(v) => v,
        Err(c) => return c,
    };
    if to.output == Output::Json {
        return print_az(v, crate::az::stats);
    }
    let s: CircuitStatsInfo = match decode(v) {
        Ok(s) => s,
        Err(c) => return c,
    };
    print_table(
        &[
            "Path",
            "State",
            "BytesIn",
            "BytesOut",
            "PacketsIn",
            "PacketsOut",
        ],
        &[
            vec![
                "primary".into(),
                if s.primary_up { "up" } else { "down" }.into(),
                s.primary_bytes_in.to_string(),
                s.primary_bytes_out.to_string(),
                s.primary_packets_in.to_string(),
                s.primary_packets_out.to_string(),
            ],
            vec![
                "secondary".into(),
                if s.secondary_up { "up" } else { "down" }.into(),
                s.secondary_bytes_in.to_string(),
                s.secondary_bytes_out.to_string(),
                s.secondary_packets_in.to_string(),
                s.secondary_packets_out.to_string(),
            ],
        ],
    );
    println!();
    let drops: Vec<Vec<String>> = s
        .drops
        .iter()
        .map(|(k, v)| vec![k.clone(), v.to_string()])
        .collect();
    print_table(&["Drop reason", "Packets"], &drops);
    let l = s.lateness;
    if l.packets > 0 {
        println!(
            "\nDelayed packets (whole lab): {} sent, {:.1} us late on average, {:.1} us at most, {} more than 100 us late",
            l.packets,
            l.total_ns as f64 / l.packets as f64 / 1e3,
            l.max_ns as f64 / 1e3,
            l.over_100us
        );
    }
    0
}
