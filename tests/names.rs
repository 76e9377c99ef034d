//! Names as engineers type them, in real namespaces: regions as az prints them, peering
//! locations in any case, every endpoint resolvable by name inside the lab, `reachlab iperf`
//! without a race, `down` of a name that does not run. Needs root (skipped loudly without).

mod common;

use common::{root_or_skip, Lab};

/// The seed, written with az's region names and lower-case locations.
fn typed_seed() -> String {
    let seed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach.toml"),
    )
    .unwrap();
    let t = seed
        .replace("\"Silicon Valley\"", "\"silicon valley\"")
        .replace("\"West US\"", "\"westus\"")
        .replace("\"UK South\"", "\"uksouth\"");
    assert!(t.contains("westus") && t.contains("silicon valley"));
    t
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn names_resolve_in_every_namespace_and_iperf_runs_without_a_race() {
    if !root_or_skip("names_resolve_in_every_namespace") {
        return;
    }
    let lab = Lab::new("names", &typed_seed());
    let check = lab.cmd().arg("check").arg(&lab.file).output().unwrap();
    assert!(check.status.success(), "{}", text(&check));
    lab.up_detached();

    // Every namespace has the lab's hosts file; every endpoint resolves by name.
    let dirs = lab.etc_netns();
    assert_eq!(dirs.len(), 4, "{dirs:?}");
    for from in ["sf", "london", "uswest", "uksouth"] {
        for (to, addr) in [
            ("sf", "10.0.1.1"),
            ("london", "10.0.2.1"),
            ("uswest", "10.0.3.1"),
            ("uksouth", "10.0.4.1"),
        ] {
            let out = lab.exec(from, &["getent", "hosts", to]);
            assert!(
                text(&out).starts_with(addr),
                "{from} resolves {to}: {}",
                text(&out)
            );
        }
    }
    let out = lab.exec("sf", &["ping", "-c", "1", "-W", "2", "london"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("10.0.2.1"), "{}", text(&out));

    // `reachlab iperf`: server in london, client in sf, iperf3's result printed; the
    // server is gone afterwards.
    let out = lab
        .cmd()
        .args([
            "iperf", "--lab", &lab.name, "sf", "london", "--", "-t", "2", "-J",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("iperf3 -J output");
    let bps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap();
    assert!(bps > 1e6, "iperf3 measured {bps} bit/s");
    let err = String::from_utf8_lossy(&out.stderr);
    let pid: u32 = err
        .split("server pid ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no server pid in {err}"));
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "iperf3 server {pid} was stopped"
    );
    // Twice in a row: no port left busy, no race.
    let out = lab
        .cmd()
        .args([
            "iperf", "--lab", &lab.name, "london", "uswest", "--", "-t", "1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("receiver"), "{}", text(&out));
    // Unknown names are refused, naming what exists.
    let out = lab
        .cmd()
        .args(["iperf", "--lab", &lab.name, "sf", "paris"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("has no site or VNet named paris; it has: sf, london, uswest, uksouth"),
        "{}",
        text(&out)
    );

    // `down` of a name that does not run: exit 0, naming the running lab.
    let typo = format!("{}x", lab.name);
    let out = lab.cmd().args(["down", &typo]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out).contains(&format!(
            "lab {typo} is not running; nothing to do. Running: {0}; did you mean {0}?",
            lab.name
        )),
        "{}",
        text(&out)
    );
    assert!(lab.ping("sf", "10.0.2.1", 1).0 == 1, "the lab still runs");

    // `down` removes the hosts files with the namespaces.
    let out = lab.down();
    assert!(out.status.success(), "{}", text(&out));
    assert!(lab.etc_netns().is_empty(), "{:?}", lab.etc_netns());
    assert!(lab.namespaces().is_empty());
}

#[test]
fn hosts_files_go_after_kill_9_too() {
    if !root_or_skip("hosts_files_go_after_kill_9_too") {
        return;
    }
    let lab = Lab::new_with("hosts9", &typed_seed(), "latency = \"none\"");
    lab.up_detached();
    assert_eq!(lab.etc_netns().len(), 4);
    let pid = lab.pid().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    while std::path::Path::new(&format!("/proc/{pid}/exe")).exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = lab.down();
    assert!(out.status.success(), "{}", text(&out));
    assert!(lab.etc_netns().is_empty(), "{:?}", lab.etc_netns());
}
