//! The ExpressRoute catalogue: peering locations and Azure regions with their geopolitical
//! region, Global Reach availability and coordinates, plus the published backbone RTTs.
//!
//! Owns `catalogue.toml` (compiled in) and the close-match suggestions used in error messages.
//! The data is parsed once; a malformed catalogue is a build-time bug caught by the tests below.

use serde::Deserialize;
use std::sync::OnceLock;

/// An ExpressRoute peering location (where a circuit meets Microsoft's edge).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub name: String,
    /// Geopolitical region ("North America", "Europe", ...).
    pub region: String,
    /// Whether Global Reach is offered at this location.
    pub global_reach: bool,
    pub lat: f64,
    pub lon: f64,
    /// The Azure region nearest to the location, when the reference names one.
    pub azure_region: Option<String>,
}

/// An Azure region a VNet can live in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureRegion {
    pub name: String,
    pub region: String,
    pub lat: f64,
    pub lon: f64,
    /// The region's BGP community value on private peering (12076:VALUE), where reachlab's
    /// reference gives it.
    #[serde(default)]
    pub community: Option<u16>,
}

impl AzureRegion {
    /// The name az and ARM use ("West US 2" -> "westus2").
    pub fn az_name(&self) -> String {
        fold(&self.name)
    }
}

/// Lower case, letters and digits only: how az writes region names, and how typed names are
/// compared.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A published P50 round-trip time between two Azure regions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackboneRtt {
    pub regions: [String; 2],
    pub rtt_ms: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub location: Vec<Location>,
    pub azure_region: Vec<AzureRegion>,
    pub backbone_rtt: Vec<BackboneRtt>,
}

const SOURCE: &str = include_str!("catalogue.toml");

/// The compiled-in catalogue.
pub fn catalogue() -> &'static Catalogue {
    static CAT: OnceLock<Catalogue> = OnceLock::new();
    CAT.get_or_init(|| toml::from_str(SOURCE).expect("src/catalogue.toml is valid (tested)"))
}

impl Catalogue {
    /// A peering location by its exact name.
    pub fn location(&self, name: &str) -> Option<&Location> {
        self.location.iter().find(|l| l.name == name)
    }

    /// An Azure region by its exact name.
    pub fn azure_region(&self, name: &str) -> Option<&AzureRegion> {
        self.azure_region.iter().find(|r| r.name == name)
    }

    /// A peering location as people type it: any case, spaces optional ("silicon valley",
    /// "SiliconValley").
    pub fn find_location(&self, typed: &str) -> Option<&Location> {
        let k = fold(typed);
        self.location.iter().find(|l| fold(&l.name) == k)
    }

    /// An Azure region as az prints it ("westus", "uksouth") or as it is displayed ("West
    /// US"), in any case.
    pub fn find_azure_region(&self, typed: &str) -> Option<&AzureRegion> {
        let k = fold(typed);
        self.azure_region.iter().find(|r| r.az_name() == k)
    }

    /// The catalogue's spelling of a peering location typed in any case, else `typed` as it
    /// is (for the rules to refuse with suggestions).
    pub fn canonical_location(&self, typed: &str) -> String {
        self.find_location(typed)
            .map_or_else(|| typed.to_string(), |l| l.name.clone())
    }

    /// The display name of an Azure region typed either way, else `typed` as it is.
    pub fn canonical_azure_region(&self, typed: &str) -> String {
        self.find_azure_region(typed)
            .map_or_else(|| typed.to_string(), |r| r.name.clone())
    }

    pub fn location_names(&self) -> impl Iterator<Item = &str> {
        self.location.iter().map(|l| l.name.as_str())
    }

    pub fn azure_region_names(&self) -> impl Iterator<Item = &str> {
        self.azure_region.iter().map(|r| r.name.as_str())
    }
}

/// Up to three names from `candidates` that look like `wanted` (case and spacing ignored first,
/// then by edit similarity), best first.
pub fn close_matches<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let norm = fold;
    let w = norm(wanted);
    let mut scored: Vec<(f64, &str)> = candidates
        .map(|c| {
            let n = norm(c);
            let score = if n == w {
                2.0
            } else if !w.is_empty() && (n.starts_with(&w) || w.starts_with(&n)) {
                1.5
            } else {
                strsim::normalized_damerau_levenshtein(&w, &n)
            };
            (score, c)
        })
        .filter(|(s, _)| *s >= 0.6)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_parses_and_is_consistent() {
        let c = catalogue();
        assert!(c.location.len() >= 30);
        for l in &c.location {
            if let Some(r) = &l.azure_region {
                let region = c
                    .azure_region(r)
                    .unwrap_or_else(|| panic!("{}: unknown azure region {r}", l.name));
                assert_eq!(region.region, l.region, "{} vs {}", l.name, r);
            }
        }
        for rtt in &c.backbone_rtt {
            for r in &rtt.regions {
                assert!(c.azure_region(r).is_some(), "rtt names unknown region {r}");
            }
        }
    }

    #[test]
    fn facts_from_the_reference() {
        let c = catalogue();
        assert_eq!(
            c.location("Silicon Valley").unwrap().region,
            "North America"
        );
        assert_eq!(c.location("London").unwrap().region, "Europe");
        assert!(!c.location("Sao Paulo").unwrap().global_reach);
        assert!(!c.location("Dubai").unwrap().global_reach);
        assert!(!c.location("Madrid").unwrap().global_reach);
        assert_eq!(c.location("Tokyo").unwrap().region, "Japan");
        assert_eq!(c.location("Hong Kong").unwrap().region, "Asia");
    }

    #[test]
    fn names_as_people_type_them() {
        let c = catalogue();
        assert_eq!(c.find_azure_region("westus").unwrap().name, "West US");
        assert_eq!(c.find_azure_region("uksouth").unwrap().name, "UK South");
        assert_eq!(c.find_azure_region("westus2").unwrap().name, "West US 2");
        assert_eq!(c.find_azure_region("west us").unwrap().name, "West US");
        assert_eq!(c.find_azure_region("West US").unwrap().name, "West US");
        assert!(c.find_azure_region("westus9").is_none());
        assert_eq!(
            c.find_location("silicon valley").unwrap().name,
            "Silicon Valley"
        );
        assert_eq!(c.find_location("LONDON2").unwrap().name, "London2");
        assert!(c.find_location("Atlantis").is_none());
        assert_eq!(c.canonical_location("Atlantis"), "Atlantis");
        // Folding never makes two names one.
        for names in [
            c.location_names().collect::<Vec<_>>(),
            c.azure_region_names().collect::<Vec<_>>(),
        ] {
            let mut folded: Vec<String> = names.iter().map(|n| fold(n)).collect();
            folded.sort();
            folded.dedup();
            assert_eq!(folded.len(), names.len());
        }
    }

    #[test]
    fn close_matches_suggest_the_intended_location() {
        let c = catalogue();
        assert_eq!(
            close_matches("silicon valley", c.location_names())[0],
            "Silicon Valley"
        );
        assert_eq!(close_matches("Londn", c.location_names())[0], "London");
        assert!(close_matches("Atlantis-9000", c.location_names()).is_empty());
    }
}
