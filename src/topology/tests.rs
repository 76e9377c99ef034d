//! Topology round trips: what `export` writes, `check` reads back the same.

use super::*;
use crate::diag::SourceFile;

#[test]
fn every_knob_survives_a_round_trip_through_the_file_format() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/topologies/good/circuit-knobs.toml"
    ))
    .unwrap();
    let t = Topology::from_source(SourceFile::new("a.toml", text), "knobs").unwrap();
    let written = toml::to_string(&t).unwrap();
    let back = Topology::from_source(SourceFile::new("b.toml", written.clone()), "x")
        .unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(back, t, "{written}");
    assert_eq!(
        t.circuit[0].loss,
        Some(Loss::GilbertElliott { p: 0.001, r: 0.3 })
    );
    assert_eq!(t.circuit[1].loss, Some(Loss::Random { rate: 0.005 }));
    assert_eq!(t.lab.seed, Some(42));
}

#[test]
fn reachability_follows_the_rules_and_is_not_transitive() {
    let text = r#"
[[circuit]]
name = "a"
peering_location = "Silicon Valley"
bandwidth = "1Gbps"
sku = "Premium"
[[circuit]]
name = "b"
peering_location = "London"
bandwidth = "1Gbps"
sku = "Premium"
[[circuit]]
name = "c"
peering_location = "Tokyo"
bandwidth = "1Gbps"
sku = "Premium"
[[site]]
name = "sa"
circuit = "a"
prefixes = ["10.0.1.0/24"]
[[site]]
name = "sb"
circuit = "b"
prefixes = ["10.0.2.0/24"]
[[site]]
name = "sc"
circuit = "c"
prefixes = ["10.0.3.0/24"]
[[vnet]]
name = "va"
region = "West US"
prefixes = ["10.1.0.0/24"]
circuits = ["a"]
[[vnet]]
name = "vab"
region = "UK South"
prefixes = ["10.2.0.0/24"]
circuits = ["a", "b"]
[[vnet]]
name = "vc"
region = "Japan East"
prefixes = ["10.3.0.0/24"]
circuits = ["c"]
[[global_reach]]
circuits = ["a", "b"]
address_prefix = "192.168.8.0/29"
[[global_reach]]
circuits = ["b", "c"]
address_prefix = "192.168.9.0/29"
"#;
    let t = Topology::from_source(SourceFile::new("r.toml", text.to_string()), "r").unwrap();
    let yes = [
        ("sa", "sb"),
        ("sb", "sc"),
        ("sa", "va"),
        ("sb", "vab"),
        ("va", "vab"),
        ("vc", "sc"),
        ("va", "sb"), // a VNet on a reaches b's site over a's Global Reach
        ("sb", "vc"), // and a site b's VNets over b-c
    ];
    let no = [
        ("sa", "sc"), // a-b and b-c do not make a-c
        ("sa", "vc"), // nor do they carry c's VNets to a
        ("vc", "va"),
        ("va", "sc"),
        ("sa", "nowhere"),
    ];
    for (a, b) in yes {
        assert!(t.may_reach(a, b), "{a} -> {b}");
        assert!(t.may_reach(b, a), "{b} -> {a}");
    }
    for (a, b) in no {
        assert!(!t.may_reach(a, b), "{a} -> {b}");
    }
}

fn lab(extra: &str) -> Result<Topology, String> {
    let text = format!(
        r#"
[[circuit]]
name = "er-sv"
peering_location = "Silicon Valley"
bandwidth = "1Gbps"
[[circuit]]
name = "er-la"
peering_location = "Los Angeles"
bandwidth = "1Gbps"
{extra}"#
    );
    Topology::from_source(SourceFile::new("o.toml", text), "o").map_err(|e| e.to_string())
}

#[test]
fn overlaps_are_allowed_where_azure_allows_them() {
    // A DR site's summary over the DC's specific, and the same prefix from two sites.
    let t = lab(r#"
[[site]]
name = "dc"
circuit = "er-sv"
prefixes = ["10.1.0.0/24"]
[[site]]
name = "dr"
circuit = "er-la"
prefixes = ["10.1.0.0/16"]
[[site]]
name = "twin"
circuit = "er-la"
prefixes = ["10.1.0.0/24"]
[[vnet]]
name = "a"
region = "westus"
prefixes = ["10.9.0.0/24"]
circuits = ["er-sv"]
[[vnet]]
name = "b"
region = "westus"
prefixes = ["10.9.0.0/24"]
circuits = ["er-la"]
"#)
    .unwrap();
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let p = |s: &str| s.parse::<IpNet>().unwrap();
    // Each endpoint's address is its own: outside more specific prefixes, the next host for
    // the same prefix.
    assert_eq!(t.host_address("dc", &p("10.1.0.0/24")), ip("10.1.0.1"));
    assert_eq!(t.host_address("dr", &p("10.1.0.0/16")), ip("10.1.1.1"));
    assert_eq!(t.host_address("twin", &p("10.1.0.0/24")), ip("10.1.0.2"));
    assert_eq!(t.host_address("b", &p("10.9.0.0/24")), ip("10.9.0.2"));
    // Best path, not the rules, decides between equal prefixes; a summary is never shadowed
    // at its own address.
    assert_eq!(t.shadowed_by("twin", ip("10.1.0.2")), Some("dc"));
    assert_eq!(t.shadowed_by("dc", ip("10.1.0.1")), Some("twin"));
    assert_eq!(t.shadowed_by("dr", ip("10.1.1.1")), None);
}

#[test]
fn overlaps_azure_refuses_are_refused_with_the_reason() {
    let e = lab(r#"
[[vnet]]
name = "a"
region = "westus"
prefixes = ["10.9.0.0/16"]
circuits = ["er-sv"]
[[vnet]]
name = "b"
region = "westus"
prefixes = ["10.9.1.0/24"]
circuits = ["er-la", "er-sv"]
"#)
    .unwrap_err();
    assert!(
        e.contains("two VNets linked to the same circuit (er-sv) must not overlap"),
        "{e}"
    );
    let e = lab(r#"
[[site]]
name = "a"
circuit = "er-sv"
prefixes = ["10.1.0.0/24", "10.1.0.0/25"]
"#)
    .unwrap_err();
    assert!(e.contains("prefixes must not overlap each other"), "{e}");
    let e = lab(r#"
[[site]]
name = "a"
circuit = "er-sv"
prefixes = ["10.1.0.0/24"]
[[global_reach]]
circuits = ["er-sv", "er-la"]
address_prefix = "10.1.0.8/29"
"#)
    .unwrap_err();
    assert!(
        e.contains("Global Reach and peering subnets must not overlap anything"),
        "{e}"
    );
}
