//! `reachlab locations`: the peering-location catalogue.

use super::Output;
use crate::catalogue::catalogue;

pub fn run(output: Output) -> i32 {
    let c = catalogue();
    match output {
        Output::Json => {
            let v: Vec<serde_json::Value> = c
                .location
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "name": l.name, "region": l.region, "global_reach": l.global_reach,
                        "lat": l.lat, "lon": l.lon, "azure_region": l.azure_region,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        Output::Table => {
            println!(
                "{:16} {:14} {:13} {:>7} {:>8}  AZURE REGION",
                "LOCATION", "REGION", "GLOBAL REACH", "LAT", "LON"
            );
            for l in &c.location {
                println!(
                    "{:16} {:14} {:13} {:>7.2} {:>8.2}  {}",
                    l.name,
                    l.region,
                    if l.global_reach { "yes" } else { "no" },
                    l.lat,
                    l.lon,
                    l.azure_region.as_deref().unwrap_or("-")
                );
            }
        }
    }
    0
}
