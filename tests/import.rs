//! `reachlab import` end to end: the composed az estate (two circuits, Global Reach, a VNet
//! on both) with two sites from the command line becomes a lab that comes up, where San
//! Francisco reaches London over the imported Global Reach /29 and `reachlab test` passes.
//! Needs root (skipped loudly without).

mod common;

use common::{reachlab, root_or_skip, Lab};

const SEED: &str = "tests/fixtures/az/composed-seed.json";

fn import(args: &[&str]) -> std::process::Output {
    reachlab()
        .arg("import")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SEED))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_imported_seed_comes_up_and_global_reach_carries() {
    if !root_or_skip("the_imported_seed_comes_up") {
        return;
    }
    let out = import(&[
        "--site",
        "sf=er-siliconvalley:10.0.1.0/24",
        "--site",
        "london=er-london:10.0.2.0/24",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("address_prefix = \"192.168.8.0/29\""),
        "{text}"
    );
    let lab = Lab::new("import", &text);
    lab.up_detached();
    let (rx, ping) = lab.ping("sf", "10.0.2.1", 2);
    assert_eq!(rx, 2, "{ping}");
    // Over the imported Global Reach: the second hop after the MSEE is london's MSEE on the
    // /29.
    let tr = lab.exec(
        "sf",
        &["traceroute", "-n", "-q", "1", "-w", "1", "10.0.2.1"],
    );
    let tr = String::from_utf8_lossy(&tr.stdout).into_owned();
    assert!(tr.contains("192.168.8.2"), "{tr}");
    let m = lab.test_passes();
    assert!(m.contains("0 mismatches"), "{m}");
}

#[test]
fn an_unmappable_input_names_the_file_and_path_and_exits_1() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/az");
    let out = reachlab()
        .arg("import")
        .arg(fixtures.join("er-circuit-peering-get-microsoft.arm.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("er-circuit-peering-get-microsoft.arm.json: $.peeringType: MicrosoftPeering"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // Not JSON at all: the file, line and column.
    let out = reachlab()
        .arg("import")
        .arg(fixtures.join("docs-az-express-route-show.az.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not JSON"));
    // --skip-unknown: a warning, and the rest (here nothing) on stdout.
    let out = reachlab()
        .arg("import")
        .arg(fixtures.join("vnet-gateway-connection-get-ipsec.arm.json"))
        .arg("--skip-unknown")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: left out"));
}

/// `export -o az` of a running lab, changes included, imports back to the lab as it is now.
#[test]
fn a_running_lab_exported_as_az_imports_back_with_its_changes() {
    if !root_or_skip("export_az_round_trip") {
        return;
    }
    let lab = Lab::from_file("exportaz", "topologies/global-reach.toml");
    lab.up_detached();
    lab.ok(&["global-reach", "remove", "er-sv", "er-london"]);
    lab.ok(&["vnet", "link", "uswest", "er-london", "--weight", "50"]);
    let json = lab.ok(&["export", "-o", "az"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["circuits"].as_array().unwrap().len(), 2);
    let dir = lab.file.with_file_name("az.json");
    std::fs::write(&dir, &json).unwrap();
    let out = reachlab().arg("import").arg(&dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("[[global_reach]]"), "{text}");
    assert!(text.contains("weights = { er-london = 50 }"), "{text}");
    // And a topology file, without a lab.
    let out = reachlab()
        .args(["export", "-o", "az"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach.toml"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["circuits"][0]["peerings"][0]["connections"][0]["addressPrefix"],
        "192.168.8.0/29"
    );
}

/// A rule the lab enforces and the estate breaks is reported as `check` words it: both
/// circuits Standard, so Global Reach between Silicon Valley and London (different
/// geopolitical regions) needs Premium.
#[test]
fn a_rule_the_estate_breaks_is_reported_as_check_would() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SEED);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for c in v["circuits"].as_array_mut().unwrap() {
        c["sku"]["tier"] = "Standard".into();
        c["sku"]["name"] = "Standard_MeteredData".into();
    }
    let dir = std::env::temp_dir().join(format!("reachlab-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("standard.json");
    std::fs::write(&f, v.to_string()).unwrap();
    let out = reachlab().arg("import").arg(&f).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Premium"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_site_the_exported_file_already_has_is_refused_saying_so() {
    let dir = std::env::temp_dir().join(format!("rl-import-site-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exported = dir.join("lab-export.json");
    let out = reachlab()
        .args(["export", "-o", "az"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach.toml"))
        .output()
        .unwrap();
    std::fs::write(&exported, &out.stdout).unwrap();
    let written = out.status.success();
    let out2 = reachlab()
        .arg("import")
        .arg(&exported)
        .args(["--site", "sf=er-sv:10.0.9.0/24"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(written, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out2.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out2.stderr);
    assert!(
        err.contains("site sf is already defined by the input's reachlab block")
            && err.contains("leave out --site sf"),
        "{err}"
    );
}
