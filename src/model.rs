//! The latency model: how far apart, in round-trip time, two points of Microsoft's network
//! are. Published P50 RTTs between Azure regions where the catalogue has the pair (looked up
//! by each peering location's nearest Azure region), else the reference's great-circle
//! fallback: RTT ~ 1.5 x (2 x km / 200 km per ms) + 5 ms. Pure functions of the catalogue.

use std::time::Duration;

use crate::catalogue::{catalogue, AzureRegion, Location};

const EARTH_RADIUS_KM: f64 = 6371.0;

/// Great-circle distance in km (haversine).
pub fn great_circle_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
}

/// The reference's fallback RTT for a distance, in ms.
pub fn fallback_rtt_ms(km: f64) -> f64 {
    1.5 * (2.0 * km / 200.0) + 5.0
}

/// The published RTT between two Azure regions, in ms, if the catalogue lists the pair.
pub fn published_rtt_ms(a: &str, b: &str) -> Option<f64> {
    catalogue()
        .backbone_rtt
        .iter()
        .find(|r| {
            (r.regions[0] == a && r.regions[1] == b) || (r.regions[0] == b && r.regions[1] == a)
        })
        .map(|r| r.rtt_ms)
}

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v / 1000.0)
}

/// Round trip between two peering locations' MSEEs over Microsoft's backbone.
pub fn backbone_rtt(a: &Location, b: &Location) -> Duration {
    if let (Some(ra), Some(rb)) = (&a.azure_region, &b.azure_region) {
        if let Some(v) = published_rtt_ms(ra, rb) {
            return ms(v);
        }
    }
    ms(fallback_rtt_ms(great_circle_km(a.lat, a.lon, b.lat, b.lon)))
}

/// Round trip between a peering location's MSEE and a VNet in an Azure region.
pub fn vnet_rtt(loc: &Location, region: &AzureRegion) -> Duration {
    if let Some(r) = &loc.azure_region {
        if let Some(v) = published_rtt_ms(r, &region.name) {
            return ms(v);
        }
    }
    ms(fallback_rtt_ms(great_circle_km(
        loc.lat, loc.lon, region.lat, region.lon,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silicon_valley_to_london_is_the_published_west_us_uk_south_rtt() {
        let c = catalogue();
        let sv = c.location("Silicon Valley").unwrap();
        let lon = c.location("London").unwrap();
        assert_eq!(backbone_rtt(sv, lon), Duration::from_millis(137));
        assert_eq!(backbone_rtt(lon, sv), Duration::from_millis(137));
    }

    #[test]
    fn unlisted_pairs_use_the_great_circle_fallback() {
        let c = catalogue();
        let tokyo = c.location("Tokyo").unwrap();
        let osaka = c.location("Osaka").unwrap();
        let km = great_circle_km(tokyo.lat, tokyo.lon, osaka.lat, osaka.lon);
        assert!(
            (390.0..410.0).contains(&km),
            "Tokyo-Osaka ~400 km, got {km}"
        );
        let rtt = backbone_rtt(tokyo, osaka).as_secs_f64() * 1000.0;
        assert!((rtt - (1.5 * 2.0 * km / 200.0 + 5.0)).abs() < 1e-6);
    }

    #[test]
    fn fallback_fits_listed_pairs_within_about_20_percent() {
        // The reference's claim, checked on a pair it lists: West US - East US, 69 ms.
        let c = catalogue();
        let (w, e) = (
            c.azure_region("West US").unwrap(),
            c.azure_region("East US").unwrap(),
        );
        let est = fallback_rtt_ms(great_circle_km(w.lat, w.lon, e.lat, e.lon));
        assert!((est - 69.0).abs() / 69.0 < 0.2, "estimate {est}");
    }

    #[test]
    fn a_vnet_in_the_locations_own_region_is_a_few_ms_away() {
        let c = catalogue();
        let sv = c.location("Silicon Valley").unwrap();
        let rtt = vnet_rtt(sv, c.azure_region("West US").unwrap());
        assert_eq!(rtt, Duration::from_millis(5));
        let uk = vnet_rtt(sv, c.azure_region("UK South").unwrap());
        assert_eq!(uk, Duration::from_millis(137));
    }
}
