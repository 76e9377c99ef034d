//! Arbitrary bytes, and mutated az / ARM fixtures (the corpus), into `reachlab import`:
//! nothing panics; a refusal names a JSON path in the input; with --skip-unknown whatever is
//! produced is TOML that the topology parser takes or refuses with diagnostics, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reachlab::az::import::{import, Input, Options};

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let input = Input {
        file: "fuzz.json".into(),
        json,
    };
    let strict = Options {
        name: Some("fuzz".into()),
        sites: vec!["s=er-siliconvalley:10.0.1.0/24".parse().unwrap()],
        ..Default::default()
    };
    match import(std::slice::from_ref(&input), &strict) {
        Ok(i) => {
            let _ = reachlab::topology::Topology::from_source(
                reachlab::diag::SourceFile::new("i.toml", i.toml),
                "fuzz",
            );
        }
        Err(problems) => {
            assert!(!problems.is_empty());
            for p in problems {
                assert!(
                    p.path.starts_with('$') || p.file != "fuzz.json",
                    "a refusal without a JSON path: {p}"
                );
            }
        }
    }
    let lenient = Options {
        skip_unknown: true,
        ..strict
    };
    let i = import(&[input], &lenient).expect("--skip-unknown never fails");
    assert!(toml::from_str::<toml::Value>(&i.toml).is_ok(), "{}", i.toml);
});
