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
