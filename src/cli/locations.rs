//! `reachlab locations [--regions]`: the peering-location catalogue, or the Azure regions.

use super::{print_json, print_table, Output};
use crate::catalogue::catalogue;

/// `reachlab locations`'s arguments.
#[derive(clap::Args, Debug)]
pub struct LocationsArgs {
    /// The Azure regions (names as az prints them and as displayed, with coordinates)
    #[arg(long)]
    pub regions: bool,
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

pub fn run(a: LocationsArgs) -> i32 {
    let (regions, output) = (a.regions, a.output);
    let c = catalogue();
    if regions {
        match output {
            Output::Json => print_json(&serde_json::Value::Array(
                c.azure_region
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "name": r.az_name(), "displayName": r.name,
                            "geopoliticalRegion": r.region, "latitude": r.lat, "longitude": r.lon,
                        })
                    })
                    .collect(),
            )),
            Output::Table => print_table(
                &["NAME", "DISPLAY NAME", "GEOPOLITICAL", "LAT", "LON"],
                &c.azure_region
                    .iter()
                    .map(|r| {
                        vec![
                            r.az_name(),
                            r.name.clone(),
                            r.region.clone(),
                            format!("{:.2}", r.lat),
                            format!("{:.2}", r.lon),
                        ]
                    })
                    .collect::<Vec<_>>(),
            ),
        }
        return 0;
    }
    match output {
        Output::Json => print_json(&serde_json::Value::Array(
            c.location
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "name": l.name, "region": l.region, "global_reach": l.global_reach,
                        "lat": l.lat, "lon": l.lon, "azure_region": l.azure_region,
                    })
                })
                .collect(),
        )),
        Output::Table => print_table(
            &[
                "LOCATION",
                "GEOPOLITICAL",
                "GLOBAL REACH",
                "LAT",
                "LON",
                "AZURE REGION",
            ],
            &c.location
                .iter()
                .map(|l| {
                    vec![
                        l.name.clone(),
                        l.region.clone(),
                        if l.global_reach { "yes" } else { "no" }.into(),
                        format!("{:.2}", l.lat),
                        format!("{:.2}", l.lon),
                        l.azure_region.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    }
    0
}
