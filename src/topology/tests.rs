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
