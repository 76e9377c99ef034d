//! The topology parser and rules under arbitrary text (and, from the first byte, under files
//! made by the lab generator so the rules see plausible labs too).
//!
//! Asserted: no panic; a refused file renders its diagnostics (file:line:col, caret) without
//! panicking; an accepted one survives the round trip `export` relies on (written back as TOML,
//! read again, equal) and builds forwarding tables.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reachlab::diag::SourceFile;
use reachlab::engine::Engine;
use reachlab::topology::Topology;
use reachlab_fuzz::{topology_text, Input};

fuzz_target!(|data: &[u8]| {
    let text = match data.split_first() {
        // Generated, then with the rest of the input overwriting bytes of it.
        Some((0, rest)) => {
            let mut inp = Input(rest);
            let mut t = topology_text(&mut inp).into_bytes();
            while !inp.is_empty() {
                let at = inp.u16() as usize % t.len();
                t[at] = inp.byte();
            }
            match String::from_utf8(t) {
                Ok(s) => s,
                Err(_) => return,
            }
        }
        _ => match std::str::from_utf8(data) {
            Ok(s) => s.to_string(),
            Err(_) => return,
        },
    };
    match Topology::from_source(SourceFile::new("fuzz.toml", text.clone()), "fz") {
        Err(e) => {
            let shown = e.to_string();
            assert!(!e.diagnostics.is_empty(), "a refusal says why");
            assert!(
                shown.contains("fuzz.toml"),
                "a refusal names the file: {shown}"
            );
        }
        Ok(t) => {
            let written = toml::to_string(&t).expect("an accepted topology serializes");
            let back = Topology::from_source(SourceFile::new("back.toml", written.clone()), "x")
                .unwrap_or_else(|e| panic!("the written file is refused:\n{e}\n---\n{written}"));
            assert_eq!(
                back, t,
                "round trip changed the lab:\n{text}\n---\n{written}"
            );
            let _ = Engine::new(reachlab::plane::tables(&t));
        }
    }
});
