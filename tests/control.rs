//! Live control against real running labs: every verb of the control socket, with real ping
//! and iperf3 watching the data plane. Needs root (skipped loudly without, failing in CI).

mod common;

use common::{root_or_skip, Lab};
use std::io::{BufRead, BufReader, Write};
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The seed without Global Reach plus a Standard circuit in Tokyo and a Premium circuit in
/// Amsterdam owned by another subscription.
fn lab_topology() -> String {
    let seed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/no-global-reach.toml"),
    )
    .unwrap();
    seed + r#"
[[circuit]]
name = "er-tokyo"
peering_location = "Tokyo"
bandwidth = "1Gbps"
sku = "Standard"

[[circuit]]
name = "er-ams"
peering_location = "Amsterdam"
bandwidth = "1Gbps"
sku = "Premium"
subscription = "contoso-eu"

[[site]]
name = "tokyo"
circuit = "er-tokyo"
prefixes = ["10.0.5.0/24"]

[[site]]
name = "ams"
circuit = "er-ams"
prefixes = ["10.0.6.0/24"]
"#
}

fn run(lab: &Lab, args: &[&str]) -> Output {
    lab.run(args)
}

fn ok(lab: &Lab, args: &[&str]) -> String {
    lab.ok(args)
}

fn json(lab: &Lab, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.extend(["--output", "json"]);
    serde_json::from_str(&ok(lab, &a)).unwrap()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Times (epoch seconds) at which `ping -D` output lines report replies.
fn reply_times(out: &str) -> Vec<f64> {
    out.lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect()
}

#[test]
fn global_reach_switched_on_and_off_under_a_running_ping() {
    if !root_or_skip("global_reach_switched_on_and_off") {
        return;
    }
    let lab = Lab::new("live", &lab_topology());
    lab.up_detached();
    let ping = |to: &str| {
        lab.cmd()
            .args([
                "exec", "--lab", &lab.name, "sf", "--", "ping", "-n", "-D", "-i", "0.2", "-W", "1",
                "-c", "45", to,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let london = ping("10.0.2.1");
    let vnet = ping("10.0.3.1");
    std::thread::sleep(Duration::from_secs(2));
    let add_start = now();
    ok(
        &lab,
        &[
            "global-reach",
            "add",
            "er-sv",
            "er-london",
            "--address-prefix",
            "192.168.8.0/29",
        ],
    );
    let add_done = now();
    std::thread::sleep(Duration::from_secs(3));
    let rm_start = now();
    ok(&lab, &["global-reach", "remove", "er-sv", "er-london"]);
    let rm_done = now();
    let london = london.wait_with_output().unwrap();
    let vnet = vnet.wait_with_output().unwrap();
    let replies = reply_times(&String::from_utf8_lossy(&london.stdout));
    assert!(
        replies.iter().all(|t| *t > add_start),
        "no reply before the link: {replies:?}"
    );
    let first = replies.first().copied().expect("replies once linked");
    let last = *replies.last().unwrap();
    eprintln!(
        "replies started {:.3} s after add returned, stopped {:.3} s after remove returned; {} replies",
        first - add_done,
        last - rm_done,
        replies.len()
    );
    assert!(first - add_done < 1.0, "replies start within 1 s of add");
    assert!(last - rm_done < 1.0, "replies stop within 1 s of remove");
    assert!(last > rm_start - 0.5, "replies ran until the removal");
    let vnet_out = String::from_utf8_lossy(&vnet.stdout);
    assert_eq!(
        reply_times(&vnet_out).len(),
        45,
        "sf -> 10.0.3.1 lost nothing:\n{vnet_out}"
    );
}

#[test]
fn refused_changes_say_why_and_change_nothing() {
    if !root_or_skip("refused_changes_change_nothing") {
        return;
    }
    let lab = Lab::new("refuse", &lab_topology());
    lab.up_detached();
    ok(
        &lab,
        &[
            "global-reach",
            "add",
            "er-sv",
            "er-london",
            "--address-prefix",
            "192.168.8.0/29",
        ],
    );
    let before = json(&lab, &["global-reach", "list"]);
    assert_eq!(before.as_array().unwrap().len(), 1);
    // Without an IPv6 /125 the connection carries IPv4 only, and the list says so.
    let table = ok(&lab, &["global-reach", "list"]);
    let row = table.lines().find(|l| l.starts_with("er-sv")).unwrap();
    assert!(row.trim_end().ends_with("IPv4 only"), "{table}");
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "global-reach",
                "add",
                "er-sv",
                "er-tokyo",
                "--address-prefix",
                "192.168.9.0/29",
            ],
            "crosses geopolitical regions: both circuits need sku = \"Premium\"",
        ),
        (
            &[
                "global-reach",
                "add",
                "er-london",
                "er-ams",
                "--address-prefix",
                "192.168.9.0/28",
            ],
            "a connection needs an IPv4 /29",
        ),
        (
            &[
                "global-reach",
                "add",
                "er-tokyo",
                "er-london",
                "--address-prefix",
                "10.0.1.0/29",
            ],
            "overlaps 10.0.1.0/24 (site sf)",
        ),
        (
            &[
                "global-reach",
                "add",
                "er-london",
                "er-sv",
                "--address-prefix",
                "192.168.9.0/29",
            ],
            "already linked",
        ),
        (
            &[
                "global-reach",
                "add",
                "er-sv",
                "er-nowhere",
                "--address-prefix",
                "192.168.9.0/29",
            ],
            "no circuit named \"er-nowhere\"",
        ),
        (
            &[
                "global-reach",
                "add",
                "er-sv",
                "er-ams",
                "--address-prefix",
                "192.168.9.0/29",
            ],
            "needs an authorization key created on er-ams",
        ),
        (
            &[
                "global-reach",
                "add",
                "er-sv",
                "er-ams",
                "--address-prefix",
                "192.168.9.0/29",
                "--authorization-key",
                "00000000-0000-0000-0000-000000000000",
            ],
            "is not valid for circuit er-ams",
        ),
        (
            &[
                "global-reach",
                "add",
                "er-sv",
                "er-london",
                "--address-prefix",
                "not-a-prefix",
            ],
            "is not an IP prefix",
        ),
    ];
    for (args, why) in cases {
        let out = run(&lab, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must be refused");
        assert!(
            stderr.contains(why),
            "{args:?}: wanted {why:?} in\n{stderr}"
        );
        assert_eq!(
            json(&lab, &["global-reach", "list"]),
            before,
            "{args:?} changed nothing"
        );
    }
    assert_eq!(
        lab.ping("sf", "10.0.2.1", 1).0,
        1,
        "the lab keeps forwarding"
    );

    // A key made on the peer serves exactly one connection.
    let key = ok(
        &lab,
        &["circuit", "authorize", "er-ams", "--name", "from-sv"],
    );
    let key = key.trim();
    assert_eq!(key.len(), 36, "a GUID-shaped key: {key}");
    ok(
        &lab,
        &[
            "global-reach",
            "add",
            "er-sv",
            "er-ams",
            "--address-prefix",
            "192.168.9.0/29",
            "--authorization-key",
            key,
        ],
    );
    assert_eq!(
        lab.ping("sf", "10.0.6.1", 1).0,
        1,
        "sf reaches ams once linked"
    );
    let out = run(
        &lab,
        &[
            "global-reach",
            "add",
            "er-london",
            "er-ams",
            "--address-prefix",
            "192.168.9.8/29",
            "--authorization-key",
            key,
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already used"));
    let show = json(&lab, &["circuit", "show", "er-ams"]);
    assert_eq!(show["authorizations"][0]["authorizationUseStatus"], "InUse");
    assert!(show["id"]
        .as_str()
        .unwrap()
        .starts_with("/subscriptions/contoso-eu/"));
    assert_eq!(
        json(&lab, &["global-reach", "list", "er-ams"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Garbage on the control socket gets an error reply; the lab runs on.
    let sock = lab.run_dir.join(&lab.name).join("control.sock");
    let mode = std::fs::metadata(&sock)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
        .unwrap();
    assert_eq!(mode & 0o777, 0o600, "control socket is 0600");
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    s.write_all(b"{\"verb\": \"self-destruct\"}\nnot json at all\n")
        .unwrap();
    let mut r = BufReader::new(s);
    for _ in 0..2 {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ok"], false, "{line}");
    }
    assert_eq!(
        lab.ping("sf", "10.0.2.1", 1).0,
        1,
        "the lab keeps forwarding"
    );
}

#[test]
fn routes_vnet_links_and_circuit_show() {
    if !root_or_skip("routes_vnet_links_and_circuit_show") {
        return;
    }
    let lab = Lab::new("routes", &lab_topology());
    lab.up_detached();
    let routes = |lab: &Lab| -> Vec<(String, String, String)> {
        // `--output json` parses with jq, as a user would pipe it.
        let out = run(lab, &["routes", "er-sv", "--output", "json"]);
        let mut jq = std::process::Command::new("jq")
            .args(["-c", ".value[] | [.network, .nextHop, .path]"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("jq is installed by scripts/install-deps.sh");
        jq.stdin.take().unwrap().write_all(&out.stdout).unwrap();
        let out = jq.wait_with_output().unwrap();
        assert!(out.status.success(), "jq parses the JSON");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: Vec<String> = serde_json::from_str(l).unwrap();
                (v[0].clone(), v[1].clone(), v[2].clone())
            })
            .collect()
    };
    let r = routes(&lab);
    let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        r,
        vec![
            t("10.0.1.0/24", "192.168.100.1", "65001"),
            t("10.0.3.0/24", "10.0.3.254", "65515"),
            t("10.0.4.0/24", "10.0.4.254", "65515"),
        ]
    );
    ok(
        &lab,
        &[
            "global-reach",
            "add",
            "er-sv",
            "er-london",
            "--address-prefix",
            "192.168.8.0/29",
        ],
    );
    let r = routes(&lab);
    assert!(
        // Learned over Global Reach (iBGP in AS 12076: the path as london's MSEE got it).
        r.contains(&t("10.0.2.0/24", "192.168.8.2", "65002")),
        "{r:?}"
    );
    let table = ok(&lab, &["routes", "er-sv"]);
    assert!(table.starts_with("Network") && table.contains("NextHop") && table.contains("LocPrf"));
    // The summary: the customer's router, the VNet gateways (65515), the Global Reach peer's
    // MSEE (12076), each with the prefixes it gave; az's keys in JSON.
    let summary = json(&lab, &["routes", "er-sv", "--summary"]);
    let rows: Vec<(String, u64, String)> = summary["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["neighbor"].as_str().unwrap().to_string(),
                r["as"].as_u64().unwrap(),
                r["statePfxRcd"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let n = |a: &str, asn: u64, p: &str| (a.to_string(), asn, p.to_string());
    assert_eq!(
        rows,
        vec![
            n("192.168.100.1", 65001, "1"),
            n("10.0.3.254", 65515, "1"),
            n("10.0.4.254", 65515, "1"),
            n("192.168.8.2", 12076, "3"),
        ]
    );
    // A VNet's gateway: London's site directly through er-london, and over er-sv's Global
    // Reach as the longer path 12076 12076 12076 65002.
    let gw = json(&lab, &["routes", "uswest"]);
    let paths: Vec<(String, String)> = gw["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["network"] == "10.0.2.0/24")
        .map(|r| {
            (
                r["nextHop"].as_str().unwrap().to_string(),
                r["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        paths,
        vec![
            ("192.168.100.10".to_string(), "12076 65002".to_string()),
            (
                "192.168.100.2".to_string(),
                "12076 12076 12076 65002".to_string()
            ),
        ]
    );
    let text = ok(
        &lab,
        &["routes", "er-sv", "--summary", "--path", "secondary"],
    );
    assert!(
        text.starts_with("Neighbor") && text.contains("192.168.8.6"),
        "{text}"
    );
    let sec = json(&lab, &["routes", "er-sv", "--path", "secondary"]);
    assert_eq!(sec["value"][0]["nextHop"], "192.168.100.5");

    // Unlink a VNet from SF's circuit: er-sv's MSEE now knows it only over Global Reach,
    // from er-london (which learned it from the VNet's gateway), so SF still reaches it, the
    // long way; without Global Reach SF loses it, London keeps it. Then link it back.
    assert_eq!(lab.ping("sf", "10.0.4.1", 1).0, 1);
    ok(&lab, &["vnet", "unlink", "uksouth", "er-sv"]);
    let uk: Vec<_> = routes(&lab)
        .into_iter()
        .filter(|r| r.0 == "10.0.4.0/24")
        .collect();
    assert_eq!(uk, vec![t("10.0.4.0/24", "192.168.8.2", "65515")]);
    let (rx, out) = lab.ping("sf", "10.0.4.1", 1);
    assert_eq!(rx, 1, "over Global Reach: {out}");
    ok(&lab, &["global-reach", "remove", "er-sv", "er-london"]);
    let (rx, out) = lab.ping("sf", "10.0.4.1", 1);
    assert_eq!(rx, 0, "{out}");
    assert!(out.contains("Unreachable"), "{out}");
    assert_eq!(lab.ping("london", "10.0.4.1", 1).0, 1);
    assert!(!routes(&lab).iter().any(|r| r.0 == "10.0.4.0/24"));
    ok(
        &lab,
        &[
            "global-reach",
            "add",
            "er-sv",
            "er-london",
            "--address-prefix",
            "192.168.8.0/29",
        ],
    );
    let out = run(&lab, &["vnet", "unlink", "uksouth", "er-sv"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not linked"));
    ok(&lab, &["vnet", "link", "uksouth", "er-sv"]);
    assert_eq!(lab.ping("sf", "10.0.4.1", 1).0, 1);
    // A UK VNet may not link to a Standard circuit in Tokyo.
    let out = run(&lab, &["vnet", "link", "uksouth", "er-tokyo"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs sku = \"Premium\" on er-tokyo"));

    let show = json(&lab, &["circuit", "show", "er-sv"]);
    // As `az network express-route show` prints it.
    assert_eq!(
        show["serviceProviderProperties"]["peeringLocation"],
        "Silicon Valley"
    );
    assert_eq!(show["serviceProviderProperties"]["bandwidthInMbps"], 1000);
    assert_eq!(show["location"], "westus");
    assert_eq!(show["geopoliticalRegion"], "North America");
    assert_eq!(show["sku"]["tier"], "Premium");
    assert_eq!(show["sku"]["name"], "Premium_MeteredData");
    let peering = &show["peerings"][0];
    assert_eq!(peering["peeringType"], "AzurePrivatePeering");
    assert_eq!(peering["azureASN"], 12076);
    assert_eq!(peering["peerASN"], 65001);
    assert_eq!(peering["primaryPeerAddressPrefix"], "192.168.100.0/30");
    assert_eq!(peering["secondaryPeerAddressPrefix"], "192.168.100.4/30");
    let conn = &peering["connections"][0];
    assert_eq!(conn["addressPrefix"], "192.168.8.0/29");
    assert_eq!(conn["circuitConnectionStatus"], "Connected");
    assert!(conn["peerExpressRouteCircuitPeering"]["id"]
        .as_str()
        .unwrap()
        .ends_with("/expressRouteCircuits/er-london/peerings/AzurePrivatePeering"));
    assert_eq!(show["vnetLinks"], serde_json::json!(["uswest", "uksouth"]));
    // The other side sees the connection as peered.
    let london = json(&lab, &["circuit", "show", "er-london"]);
    assert_eq!(london["peerings"][0]["connections"], serde_json::json!([]));
    assert_eq!(
        london["peerings"][0]["peeredConnections"][0]["name"],
        "gr-er-sv-er-london"
    );
    let text = ok(&lab, &["circuit", "show", "er-sv"]);
    assert!(text.contains("Connected") && text.contains("192.168.100.0/30"));
}

#[test]
fn stats_match_iperf3_and_export_reproduces_the_lab() {
    if !root_or_skip("stats_match_iperf3_and_export") {
        return;
    }
    // Counting is what is tested: no delay line holding bytes past the end of the test.
    let lab = Lab::new_with("stats", &lab_topology(), "latency = \"none\"");
    lab.up_detached();
    ok(
        &lab,
        &[
            "global-reach",
            "add",
            "er-sv",
            "er-london",
            "--address-prefix",
            "192.168.8.0/29",
        ],
    );
    let before = json(&lab, &["stats", "er-sv"]);
    let v = lab.iperf3("sf", "london", "10.0.2.1", 5202, 2);
    let after = json(&lab, &["stats", "er-sv"]);
    // What crossed the circuit is what the receiver got: the sender's count also holds the
    // bytes still in its socket buffer when the test stopped.
    let sent = v["end"]["sum_sent"]["bytes"].as_f64().unwrap();
    let received = v["end"]["sum_received"]["bytes"].as_f64().unwrap();
    // Flows are hashed over the circuit's two links: count both.
    let d = |k: &str| {
        ["primary", "secondary"]
            .iter()
            .map(|p| {
                let k = format!("{p}{k}");
                after[&k].as_f64().unwrap() - before[&k].as_f64().unwrap()
            })
            .sum::<f64>()
    };
    // The circuit counts IP bytes; iperf3 counts TCP payload. Every segment SF sends carries
    // 20 bytes of IPv4 and 32 of TCP header (timestamps on): take those off.
    let payload = d("bytesIn") - 52.0 * d("packetsIn");
    let err = (payload - received).abs() / received;
    eprintln!(
        "iperf3 sent {sent} and delivered {received} payload bytes; er-sv counted {} IP bytes in {} packets = {payload} payload ({:.3}% off delivered)",
        d("bytesIn"),
        d("packetsIn"),
        err * 100.0
    );
    assert!(err < 0.01, "stats within 1% of iperf3");
    let text = ok(&lab, &["stats", "er-sv"]);
    assert!(text.contains("primary") && text.contains("secondary") && text.contains("no-route"));

    // Export the changed lab, take it down, bring the export up: same reachability.
    let exported = ok(&lab, &["export"]);
    let out = lab.down();
    assert!(out.status.success());
    let again = Lab::new("export", &exported);
    let check = again.cmd().arg("check").arg(&again.file).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    again.up_detached();
    assert_eq!(
        again.ping("sf", "10.0.2.1", 2).0,
        2,
        "the live Global Reach link survived export"
    );
    assert_eq!(again.ping("sf", "10.0.3.1", 1).0, 1);
    assert_eq!(
        again.ping("tokyo", "10.0.1.1", 1).0,
        0,
        "tokyo still isolated"
    );
}

#[test]
fn failing_a_circuit_link_moves_its_flows_to_the_other() {
    if !root_or_skip("failing_a_circuit_link_moves_its_flows") {
        return;
    }
    let lab = Lab::from_file("fail", "topologies/global-reach.toml");
    lab.up_detached();
    let ping = lab
        .cmd()
        .args([
            "exec", "--lab", &lab.name, "sf", "--", "ping", "-n", "-i", "0.1", "-W", "1", "-c",
            "40", "10.0.2.1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    // Fail the link this flow is hashed to.
    let s = json(&lab, &["stats", "er-sv"]);
    let on = if s["primarypacketsIn"].as_u64().unwrap() > 0 {
        "primary"
    } else {
        "secondary"
    };
    ok(&lab, &["circuit", "fail", "er-sv", on]);
    std::thread::sleep(Duration::from_secs(2));
    let s = json(&lab, &["stats", "er-sv"]);
    assert_eq!(s[format!("{on}State")], "Down");
    let other = if on == "primary" {
        "secondary"
    } else {
        "primary"
    };
    assert!(
        s[format!("{other}packetsIn")].as_u64().unwrap() > 5,
        "traffic moved: {s}"
    );
    ok(&lab, &["circuit", "restore", "er-sv", on]);
    let out = String::from_utf8_lossy(&ping.wait_with_output().unwrap().stdout).into_owned();
    let received = reply_count(&out);
    eprintln!("ping -i 0.1 across the failure: {received}/40 replies");
    assert!(received >= 30, "under 1 s of loss (10 pings):\n{out}");

    // Both links down: the circuit carries nothing and Global Reach shows Disconnected.
    ok(&lab, &["circuit", "fail", "er-sv", "primary"]);
    ok(&lab, &["circuit", "fail", "er-sv", "secondary"]);
    let (rx, out) = lab.ping("sf", "10.0.2.1", 1);
    assert_eq!(rx, 0);
    assert!(out.contains("Unreachable"), "{out}");
    assert_eq!(
        json(&lab, &["global-reach", "list"])[0]["circuitConnectionStatus"],
        "Disconnected"
    );
    let again = run(&lab, &["circuit", "fail", "er-sv", "primary"]);
    assert!(
        !again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already down")
    );
    ok(&lab, &["circuit", "restore", "er-sv", "secondary"]);
    assert_eq!(lab.ping("sf", "10.0.2.1", 1).0, 1);
    assert_eq!(
        json(&lab, &["global-reach", "list"])[0]["circuitConnectionStatus"],
        "Connected"
    );
}

fn reply_count(out: &str) -> usize {
    out.lines().filter(|l| l.contains("bytes from")).count()
}
