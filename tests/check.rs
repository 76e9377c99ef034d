//! `reachlab check` on the topology corpus: every file under tests/topologies/bad names its
//! expected error in its first line (`# expect: LINE:COL message-prefix`); every file under
//! tests/topologies/good and topologies/ passes. Runs the real binary; needs no root.

use std::path::{Path, PathBuf};
use std::process::Command;

fn reachlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_reachlab"))
}

fn toml_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn broken_topologies_fail_with_the_expected_error_and_position() {
    let files = toml_files("tests/topologies/bad");
    assert!(files.len() >= 30, "corpus has {} files", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: L:C msg`", f.display()));
        let (pos, msg) = expect.split_once(' ').unwrap();
        let out = reachlab().arg("check").arg(&f).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", f.display());
        assert!(out.stdout.is_empty(), "{}: nothing on stdout", f.display());
        let want = format!("{}:{pos}: error: {msg}", f.display());
        assert!(
            stderr.lines().any(|l| l.starts_with(&want)),
            "{}:\nwanted a line starting with\n  {want}\ngot\n{stderr}",
            f.display()
        );
    }
}

#[test]
fn good_topologies_and_the_shipped_ones_pass() {
    let mut files = toml_files("tests/topologies/good");
    files.extend(toml_files("topologies"));
    files.extend(toml_files("tests/topologies/designs"));
    assert!(files.len() >= 4);
    for f in files {
        let out = reachlab().arg("check").arg(&f).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    }
}

#[test]
fn every_error_in_a_file_is_reported() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/topologies/bad/gr-standard-cross-region.toml");
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replace("London", "Sao Paulo")
        .replace("192.168.8.0/29", "192.168.8.0/28");
    let tmp = std::env::temp_dir().join(format!("reachlab-multi-{}.toml", std::process::id()));
    std::fs::write(&tmp, text).unwrap();
    let out = reachlab().arg("check").arg(&tmp).output().unwrap();
    let _ = std::fs::remove_file(&tmp);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("is a /28"), "{stderr}");
    assert!(
        stderr.contains("where Global Reach is not offered"),
        "{stderr}"
    );
    assert!(stderr.contains("Premium"), "{stderr}");
    assert!(stderr.contains("3 errors"), "{stderr}");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = reachlab()
        .args(["check", "/nonexistent/lab.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/lab.toml") && stderr.contains("cannot read"),
        "{stderr}"
    );
}

#[test]
fn check_json_gives_every_file_its_errors_with_positions() {
    let bad = toml_files("tests/topologies/bad");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach.toml");
    let out = reachlab()
        .arg("check")
        .args(&bad)
        .arg(&good)
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reports = v.as_array().unwrap();
    assert_eq!(reports.len(), bad.len() + 1);
    for (r, f) in reports.iter().zip(&bad) {
        let text = std::fs::read_to_string(f).unwrap();
        // The file's first line: `# expect: L:C message`.
        let expect = text
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("# expect: ");
        let (pos, msg) = expect.split_once(' ').unwrap();
        let e = &r["errors"][0];
        assert_eq!(r["ok"], false);
        assert_eq!(
            format!("{}:{}", e["line"], e["column"]),
            pos,
            "{}",
            f.display()
        );
        assert!(
            e["message"].as_str().unwrap().contains(msg),
            "{}",
            f.display()
        );
    }
    assert_eq!(reports[bad.len()]["ok"], true);
    assert_eq!(reports[bad.len()]["lab"], "global-reach");
}

#[test]
fn completions_are_generated_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = reachlab().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        for verb in ["capture", "global-reach", "graph", "test", "up"] {
            assert!(text.contains(verb), "{shell} completions lack {verb}");
        }
    }
    // The bash script is valid bash.
    let out = reachlab().args(["completions", "bash"]).output().unwrap();
    let path =
        std::env::temp_dir().join(format!("reachlab-completion-{}.bash", std::process::id()));
    std::fs::write(&path, &out.stdout).unwrap();
    let st = Command::new("bash").arg("-n").arg(&path).status().unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(st.success());
}

/// A topology written as people type names: regions as az prints them, locations in any case.
#[test]
fn names_as_people_type_them_pass_check() {
    let dir = std::env::temp_dir().join(format!("reachlab-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("typed.toml");
    let seed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach.toml"),
    )
    .unwrap();
    let typed = seed
        .replace("\"Silicon Valley\"", "\"silicon valley\"")
        .replace(
            "peering_location = \"London\"",
            "peering_location = \"LONDON\"",
        )
        .replace("\"West US\"", "\"westus\"")
        .replace("\"UK South\"", "\"uksouth\"");
    assert_ne!(typed, seed);
    std::fs::write(&f, &typed).unwrap();
    let out = reachlab().arg("check").arg(&f).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Suggestions keep working for what is not a region.
    std::fs::write(&f, typed.replace("\"westus\"", "\"westuss\"")).unwrap();
    let out = reachlab().arg("check").arg(&f).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("unknown Azure region \"westuss\" (did you mean \"West US\""),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// TOML as the JSON a schema validator reads.
fn toml_as_json(path: &Path) -> serde_json::Value {
    let v: toml::Value = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::to_value(v).unwrap()
}

#[test]
fn the_schema_validates_every_shipped_topology_and_refuses_what_check_refuses() {
    let out = reachlab().arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The committed copy the topologies point at is the same schema.
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/reachlab.schema.json");
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&committed).unwrap()).unwrap();
    assert_eq!(
        on_disk, schema,
        "topologies/reachlab.schema.json is stale: `reachlab schema > topologies/reachlab.schema.json`"
    );
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let mut files = toml_files("topologies");
    files.extend(toml_files("tests/topologies/good"));
    for f in &files {
        let errors: Vec<String> = validator
            .iter_errors(&toml_as_json(f))
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", f.display());
    }
    for f in toml_files("topologies") {
        let first = std::fs::read_to_string(&f).unwrap();
        assert_eq!(
            first.lines().next(),
            Some("#:schema ./reachlab.schema.json"),
            "{} names its schema for taplo",
            f.display()
        );
    }
    // What the schema refuses: a SKU that does not exist, an unknown key, a location that is
    // not one, a reserved ASN. Each is also refused by `check`.
    let seed =
        toml_as_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach.toml"));
    let broken = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = seed.clone();
        f(&mut v);
        v
    };
    let cases: Vec<(&str, serde_json::Value)> = vec![
        (
            "sku Gold",
            broken(&|v| v["circuit"][0]["sku"] = "Gold".into()),
        ),
        (
            "unknown key",
            broken(&|v| v["circuit"][0]["colour"] = "blue".into()),
        ),
        (
            "location",
            broken(&|v| v["circuit"][0]["peering_location"] = "Atlantis".into()),
        ),
        ("asn", broken(&|v| v["site"][0]["asn"] = 65515.into())),
        (
            "region",
            broken(&|v| v["vnet"][0]["region"] = "westus9".into()),
        ),
    ];
    for (what, v) in cases {
        assert!(!validator.is_valid(&v), "the schema must refuse {what}");
    }
    // ... and takes names as az prints them, in any case.
    let typed = broken(&|v| {
        v["vnet"][0]["region"] = "westus".into();
        v["circuit"][0]["peering_location"] = "silicon valley".into();
    });
    assert!(validator.is_valid(&typed));
}

#[test]
fn locations_and_regions_are_listed() {
    let out = reachlab().args(["locations"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.lines().any(|l| l.starts_with("Silicon Valley")),
        "{text}"
    );
    let out = reachlab()
        .args(["locations", "--regions", "--output", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let westus = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "westus")
        .expect("westus listed");
    assert_eq!(westus["displayName"], "West US");
    assert!(westus["latitude"].as_f64().unwrap() > 30.0);
    let out = reachlab()
        .args(["locations", "--regions"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("uksouth ") && l.contains(" UK South ")),
        "{text}"
    );
    // A reader that stops early ends the listing quietly (no panic on the broken pipe).
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} locations --regions | true",
            env!("CARGO_BIN_EXE_reachlab")
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}
