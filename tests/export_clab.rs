//! `reachlab export -o containerlab`: what it writes validates against containerlab's own JSON
//! Schema (tests/fixtures/containerlab), its links are the reachlab topology's ports, that
//! topology passes `check`, and each router gets its FRR files. No root needed.

mod common;

use std::path::{Path, PathBuf};

use common::reachlab;

fn clab_validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/containerlab/clab.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    jsonschema::validator_for(&schema).expect("containerlab's schema compiles")
}

fn yaml(path: &Path) -> serde_json::Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A node's `exec` lines.
fn exec_lines<'a>(doc: &'a serde_json::Value, node: &str) -> Vec<&'a str> {
    doc["topology"]["nodes"][node]["exec"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect()
}

fn errors(v: &jsonschema::Validator, doc: &serde_json::Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

/// A fresh directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("reachlab-clab-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn export(dir: &Dir, extra: &[&str]) -> std::process::Output {
    reachlab()
        .args([
            "export",
            "topologies/global-reach-frr.toml",
            "-o",
            "containerlab",
            "--dir",
        ])
        .arg(&dir.0)
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn the_validator_takes_containerlabs_example_and_refuses_a_broken_link() {
    let v = clab_validator();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containerlab");
    let mut doc = yaml(&dir.join("frr01.clab.yml"));
    assert!(errors(&v, &doc).is_empty(), "{:?}", errors(&v, &doc));
    doc["topology"]["links"][0] =
        serde_json::json!({"type": "host", "endpoint": {"node": "router1", "interface": "eth1"}});
    assert!(
        !errors(&v, &doc).is_empty(),
        "a host link without host-interface"
    );
}

#[test]
fn the_frr_seed_exports_as_a_containerlab_lab_whose_links_are_the_ports() {
    let dir = Dir::new("host");
    let out = export(&dir, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let clab_file = dir.0.join("global-reach-frr.clab.yml");
    let doc = yaml(&clab_file);
    let v = clab_validator();
    assert!(errors(&v, &doc).is_empty(), "{:?}\n{doc}", errors(&v, &doc));
    // One linux node per router site, with FRR's files bound.
    let nodes = doc["topology"]["nodes"].as_object().unwrap();
    assert_eq!(nodes.keys().collect::<Vec<_>>(), ["london", "sf"]);
    for (site, node) in nodes {
        assert_eq!(node["kind"], "linux");
        assert_eq!(node["image"], "quay.io/frrouting/frr:10.5.1");
        for f in ["frr.conf", "daemons"] {
            assert!(dir.0.join(site).join(f).is_file(), "{site}/{f}");
        }
        let conf = std::fs::read_to_string(dir.0.join(site).join("frr.conf")).unwrap();
        assert!(
            conf.contains("remote-as 12076") && conf.contains("bfd profile msee"),
            "{conf}"
        );
    }
    assert!(nodes["sf"]["exec"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("ip addr add 192.168.100.1/30 dev eth1")));
    // The reachlab topology: both sites external, their ports the links' host interfaces.
    let toml_file = dir.0.join("global-reach-frr.toml");
    let check = reachlab().arg("check").arg(&toml_file).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let topo: toml::Value = toml::from_str(&std::fs::read_to_string(&toml_file).unwrap()).unwrap();
    let mut ports: Vec<(String, String)> = Vec::new();
    for s in topo["site"].as_array().unwrap() {
        assert_eq!(s["router"].as_str(), Some("external"));
        for (key, p) in s["ports"].as_table().unwrap() {
            ports.push((
                format!("{}:{key}", s["name"].as_str().unwrap()),
                p.as_str().unwrap().to_string(),
            ));
        }
    }
    let mut links: Vec<(String, String)> = doc["topology"]["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["type"], "host");
            let node = l["endpoint"]["node"].as_str().unwrap();
            let link = match l["endpoint"]["interface"].as_str().unwrap() {
                "eth1" => "primary",
                "eth2" => "secondary",
                other => panic!("{other}"),
            };
            let circuit = if node == "sf" { "er-sv" } else { "er-london" };
            (
                format!("{node}:{circuit}/{link}"),
                l["host-interface"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    ports.sort();
    links.sort();
    assert_eq!(ports, links);
    assert_eq!(links.len(), 4);
    // A second export into the same place is refused, and changes nothing.
    let before = std::fs::read_to_string(&clab_file).unwrap();
    let again = export(&dir, &["--ce-image", "other:1"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    assert_eq!(std::fs::read_to_string(&clab_file).unwrap(), before);
}

#[test]
fn with_remote_the_links_are_vxlan_and_match_the_ports() {
    let dir = Dir::new("vxlan");
    let out = export(
        &dir,
        &[
            "--remote",
            "198.51.100.1",
            "--node-host",
            "198.51.100.2",
            "--vni",
            "5000",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = yaml(&dir.0.join("global-reach-frr.clab.yml"));
    let v = clab_validator();
    assert!(errors(&v, &doc).is_empty(), "{:?}", errors(&v, &doc));
    let links = doc["topology"]["links"].as_array().unwrap();
    let vnis: Vec<u64> = links.iter().map(|l| l["vni"].as_u64().unwrap()).collect();
    assert_eq!(vnis, [5000, 5001, 5002, 5003]);
    for l in links {
        assert_eq!(l["type"], "vxlan");
        assert_eq!(l["remote"], "198.51.100.1");
        assert_eq!(l["dst-port"], 14789);
    }
    let text = std::fs::read_to_string(dir.0.join("global-reach-frr.toml")).unwrap();
    let topo: toml::Value = toml::from_str(&text).unwrap();
    let mut seen = Vec::new();
    for s in topo["site"].as_array().unwrap() {
        for (_, p) in s["ports"].as_table().unwrap() {
            let x = &p["vxlan"];
            assert_eq!(x["remote"].as_str(), Some("198.51.100.2"));
            assert_eq!(x["dst_port"].as_integer(), Some(14789));
            seen.push(x["vni"].as_integer().unwrap());
        }
    }
    seen.sort();
    assert_eq!(seen, [5000, 5001, 5002, 5003]);
    // Without --node-host, --remote is refused by the argument parser.
    let d2 = Dir::new("vxlan2");
    let bad = export(&d2, &["--remote", "198.51.100.1"]);
    assert!(!bad.status.success());
    assert!(!d2.0.exists(), "nothing written");
}

#[test]
fn a_tagged_circuit_gets_the_vlan_sub_interface_on_the_node() {
    let dir = Dir::new("vlan");
    let src = Dir::new("vlan-src");
    std::fs::create_dir_all(&src.0).unwrap();
    let seed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach-frr.toml"),
    )
    .unwrap()
    .replacen(
        "provider = \"Equinix\"\n",
        "provider = \"Equinix\"\nvlan_id = 100\n",
        1,
    );
    let file = src.0.join("tagged.toml");
    std::fs::write(&file, seed).unwrap();
    let out = reachlab()
        .arg("export")
        .arg(&file)
        .args(["-o", "containerlab", "--dir"])
        .arg(&dir.0)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = yaml(&dir.0.join("global-reach-frr.clab.yml"));
    let exec: Vec<&str> = exec_lines(&doc, "sf");
    for line in [
        "ip link add link eth1 name eth1.100 type vlan id 100",
        "ip addr add 192.168.100.1/30 dev eth1.100",
        "ip link add link eth2 name eth2.100 type vlan id 100",
        "ip addr add 192.168.100.5/30 dev eth2.100",
    ] {
        assert!(exec.contains(&line), "{line} in {exec:?}");
    }
    // London's circuit has no VLAN: its addresses on the interfaces themselves.
    let london: Vec<&str> = exec_lines(&doc, "london");
    assert!(
        london.iter().any(|l| l.ends_with("/30 dev eth1")),
        "{london:?}"
    );
}

#[test]
fn a_dual_stack_lab_exports_its_ipv6_peering_and_sessions() {
    let dir = Dir::new("dual");
    let out = reachlab()
        .args([
            "export",
            "topologies/global-reach-frr-dual-stack.toml",
            "-o",
            "containerlab",
            "--dir",
        ])
        .arg(&dir.0)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = yaml(&dir.0.join("global-reach-frr-dual-stack.clab.yml"));
    let v = clab_validator();
    assert!(errors(&v, &doc).is_empty(), "{:?}", errors(&v, &doc));
    let exec: Vec<&str> = exec_lines(&doc, "sf");
    for line in [
        "ip addr add fd00:1::1/64 dev lo",
        "ip addr add 192.168.100.1/30 dev eth1",
        "ip addr add fd00:100::1/126 dev eth1 nodad",
        "ip addr add fd00:100::5/126 dev eth2 nodad",
    ] {
        assert!(exec.contains(&line), "{line} in {exec:?}");
    }
    // The node's FRR peers with each MSEE in both families, each session its own family.
    let conf = std::fs::read_to_string(dir.0.join("sf").join("frr.conf")).unwrap();
    for line in [
        " neighbor fd00:100::2 remote-as 12076",
        " neighbor fd00:100::6 update-source fd00:100::5",
        "  neighbor fd00:100::2 activate",
        "  no neighbor fd00:100::2 activate",
        "  network fd00:1::/64",
    ] {
        assert!(conf.lines().any(|l| l == line), "{line:?} in\n{conf}");
    }
}
