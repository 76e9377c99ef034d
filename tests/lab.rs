//! Namespace tests: real labs, real ping, traceroute and iperf3 through real TUN devices.
//! Each test brings up its own uniquely named lab and always tears it down (see common::Lab).
//! They need root; without it they are skipped loudly (and fail in CI).

mod common;

const SEED: &str = include_str!("../topologies/global-reach.toml");

use common::{root_or_skip, Lab};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn seed_with_global_reach_sf_and_london_reach_each_other() {
    if !root_or_skip("seed_with_global_reach") {
        return;
    }
    let lab = Lab::from_file("gr", "topologies/global-reach.toml");
    lab.up_detached();
    assert_eq!(lab.namespaces().len(), 4);

    let (rx, out) = lab.ping("sf", "10.0.2.1", 3);
    assert_eq!(rx, 3, "sf -> london:\n{out}");
    assert!(
        out.contains("ttl=60"),
        "four router hops on the way:\n{out}"
    );
    let (rx, out) = lab.ping("london", "10.0.1.1", 3);
    assert_eq!(rx, 3, "london -> sf:\n{out}");
    for vnet in ["10.0.3.1", "10.0.4.1"] {
        assert_eq!(lab.ping("sf", vnet, 1).0, 1, "sf -> {vnet}");
    }

    let tr = lab.exec(
        "sf",
        &[
            "traceroute",
            "-n",
            "-q",
            "1",
            "-w",
            "1",
            "-m",
            "8",
            "10.0.2.1",
        ],
    );
    let text = String::from_utf8_lossy(&tr.stdout);
    let hops: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(
        hops,
        [
            "10.0.1.254",
            "192.168.100.2",
            "192.168.8.2",
            "10.0.2.254",
            "10.0.2.1"
        ],
        "CE, MSEE, peer MSEE on the /29, peer CE, host:\n{text}"
    );

    // iperf3 SF -> London completes.
    let v = lab.iperf3("sf", "london", "10.0.2.1", 5201, 2);
    let bps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap();
    eprintln!("iperf3 sf -> london: {:.0} Mbit/s", bps / 1e6);
    assert!(bps > 1e6, "iperf3 moved data: {bps} bit/s");

    let out = lab.down();
    assert!(out.status.success());
    assert!(lab.namespaces().is_empty(), "down removes every namespace");
}

#[test]
fn seed_without_global_reach_isolates_the_branches() {
    if !root_or_skip("seed_without_global_reach") {
        return;
    }
    let lab = Lab::from_file("nogr", "topologies/no-global-reach.toml");
    lab.up_detached();
    for site in ["sf", "london"] {
        for vnet in ["10.0.3.1", "10.0.4.1"] {
            let (rx, out) = lab.ping(site, vnet, 2);
            assert_eq!(rx, 2, "{site} -> {vnet}:\n{out}");
        }
    }
    let (rx, out) = lab.ping("sf", "10.0.2.1", 2);
    assert_eq!(
        rx, 0,
        "sf must not reach london without Global Reach:\n{out}"
    );
    assert!(
        out.contains("From 192.168.100.2") && out.contains("Destination Net Unreachable"),
        "the MSEE says why:\n{out}"
    );
    let (rx, _) = lab.ping("london", "10.0.1.1", 2);
    assert_eq!(rx, 0, "london must not reach sf");
    // Two VNets on the same circuit reach each other through the MSEE.
    assert_eq!(lab.ping("uswest", "10.0.4.1", 1).0, 1);
}

const CHAIN: &str = r#"
[[circuit]]
name = "er-a"
peering_location = "Tokyo"
bandwidth = "1Gbps"
[[circuit]]
name = "er-b"
peering_location = "Osaka"
bandwidth = "1Gbps"
sku = "Premium"
[[circuit]]
name = "er-c"
peering_location = "Seoul"
bandwidth = "1Gbps"
sku = "Premium"
[[site]]
name = "a"
circuit = "er-a"
prefixes = ["10.1.0.0/24", "fd00:1::/64"]
[[site]]
name = "b"
circuit = "er-b"
prefixes = ["10.2.0.0/24", "fd00:2::/64"]
[[site]]
name = "c"
circuit = "er-c"
prefixes = ["10.3.0.0/24"]
[[global_reach]]
circuits = ["er-a", "er-b"]
address_prefix = "192.168.8.0/29"
ipv6_address_prefix = "fd00:ffff::/125"
[[global_reach]]
circuits = ["er-b", "er-c"]
address_prefix = "192.168.8.8/29"
[[vnet]]
name = "v"
region = "japaneast"
prefixes = ["10.9.1.0/24"]
circuits = ["er-a"]
[[vnet]]
name = "w"
region = "japaneast"
prefixes = ["10.9.2.0/24"]
circuits = ["er-a", "er-c"]
"#;

#[test]
fn three_circuit_chain_is_not_transitive() {
    if !root_or_skip("three_circuit_chain") {
        return;
    }
    // er-b (Osaka, Japan) links to er-c (Seoul, South Korea): both Premium.
    let lab = Lab::new("chain", CHAIN);
    lab.up_detached();
    assert_eq!(lab.ping("a", "10.2.0.1", 2).0, 2, "a -> b (linked)");
    assert_eq!(lab.ping("b", "10.3.0.1", 2).0, 2, "b -> c (linked)");
    assert_eq!(lab.ping("c", "10.2.0.1", 2).0, 2, "c -> b (linked)");
    let (rx, out) = lab.ping("a", "10.3.0.1", 2);
    assert_eq!(
        rx, 0,
        "a -> c must fail: Global Reach is not transitive\n{out}"
    );
    assert_eq!(lab.ping("c", "10.1.0.1", 2).0, 0, "c -> a must fail");
    let (rx, out) = lab.ping("a", "fd00:2::1", 2);
    assert_eq!(rx, 2, "IPv6 a -> b over the /125:\n{out}");
    // VNet v, linked only to er-a, reaches b's site over er-a's Global Reach (its gateway
    // learned it with 12076 12076 prepended) and b reaches v; c's site is out of reach.
    assert_eq!(
        lab.ping("v", "10.2.0.1", 2).0,
        2,
        "v -> b over er-a's Global Reach"
    );
    assert_eq!(lab.ping("b", "10.9.1.1", 2).0, 2, "b -> v");
    assert_eq!(lab.ping("v", "10.3.0.1", 2).0, 0, "v -> c: not transitive");
    assert_eq!(lab.ping("c", "10.9.1.1", 2).0, 0, "c -> v");
    let gw: serde_json::Value =
        serde_json::from_str(&lab.ok(&["routes", "v", "--output", "json"])).unwrap();
    let to_b: Vec<&str> = gw["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["network"] == "10.2.0.0/24")
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(to_b, ["12076 12076 12076 65002"], "{gw}");
    // w, linked to er-a and er-c, reaches both sites but joins neither to the other.
    assert_eq!(lab.ping("w", "10.1.0.1", 1).0, 1);
    assert_eq!(lab.ping("w", "10.3.0.1", 1).0, 1);
    assert_eq!(
        lab.ping("a", "10.3.0.1", 1).0,
        0,
        "a -> c through w's gateway"
    );
    assert_eq!(
        lab.ping("c", "10.1.0.1", 1).0,
        0,
        "c -> a through w's gateway"
    );
    let text = lab.test_passes();
    assert!(text.contains("0 mismatches"), "{text}");
}

#[test]
fn down_after_kill_9_removes_everything() {
    if !root_or_skip("down_after_kill_9") {
        return;
    }
    let lab = Lab::from_file("kill", "topologies/global-reach.toml");
    lab.up_detached();
    let pid = lab.pid().expect("state records the pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}/exe")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        lab.namespaces().len(),
        4,
        "kill -9 leaves the namespaces for down to clean"
    );
    // `up` over the stale lab refuses and says how to clean it.
    let out = lab.try_up(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reachlab down"));

    let out = lab.down();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        lab.namespaces().is_empty(),
        "down after kill -9 removes the namespaces"
    );
    let tuns = Command::new("ip")
        .args(["-o", "link", "show", "type", "tun"])
        .output()
        .unwrap();
    let tuns = String::from_utf8_lossy(&tuns.stdout);
    assert!(
        !tuns.contains("rl-"),
        "no reachlab TUN in the root namespace: {tuns}"
    );
    assert!(!lab.run_dir.join(&lab.name).exists(), "state removed");
    let again = lab.down();
    assert!(again.status.success(), "down twice is fine");
}

#[test]
fn foreground_up_cleans_up_on_sigterm() {
    if !root_or_skip("foreground_up_cleans_up_on_sigterm") {
        return;
    }
    let lab = Lab::from_file("fg", "topologies/no-global-reach.toml");
    let child = lab
        .cmd()
        .arg("up")
        .arg(&lab.file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = lab
            .cmd()
            .args(["status", "--output", "json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap_or_default();
        if v.as_array().is_some_and(|a| {
            a.iter()
                .any(|l| l["lab"] == lab.name.as_str() && l["ready"] == true)
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "lab never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(lab.ping("sf", "10.0.3.1", 1).0, 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("is up") && stdout.contains("is down"),
        "{stdout}"
    );
    assert!(
        lab.namespaces().is_empty(),
        "SIGTERM removes every namespace"
    );
}

#[test]
fn a_broken_topology_or_a_second_up_makes_nothing() {
    if !root_or_skip("a_broken_topology_makes_nothing") {
        return;
    }
    let lab = Lab::from_file("bad", "topologies/global-reach.toml");
    let text = std::fs::read_to_string(&lab.file).unwrap();
    std::fs::write(&lab.file, text.replace("192.168.8.0/29", "10.0.1.0/29")).unwrap();
    let out = lab.try_up(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("overlaps"));
    assert!(lab.namespaces().is_empty());

    std::fs::write(&lab.file, text).unwrap();
    lab.up_detached();
    let out = lab.try_up(&[]);
    assert!(
        !out.status.success(),
        "a second up of a running lab is refused"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
    assert_eq!(
        lab.ping("sf", "10.0.2.1", 1).0,
        1,
        "the first lab is untouched"
    );
    // exec names the endpoints when asked for an unknown one.
    let out = lab.exec("paris", &["true"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sf, london, uswest, uksouth"));
}

#[test]
fn loss_and_jitter_show_in_ping() {
    if !root_or_skip("loss_and_jitter_show_in_ping") {
        return;
    }
    let topo = SEED.replacen(
        "bandwidth = \"1Gbps\"",
        "bandwidth = \"1Gbps\"\nloss = \"20%\"\njitter = \"4ms\"",
        1,
    );
    let lab = Lab::new_with("lossy", &topo, "seed = 7");
    lab.up_detached();
    let out = lab.exec(
        "sf",
        &[
            "ping", "-n", "-q", "-c", "60", "-i", "0.05", "-W", "2", "10.0.2.1",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let received: u32 = text
        .lines()
        .find(|l| l.contains("received"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    // 20% each way on er-sv's access link: about 64% of round trips survive.
    assert!(
        (25..=52).contains(&received),
        "{received}/60 replies:\n{text}"
    );
    let mdev: f64 = text
        .lines()
        .find(|l| l.starts_with("rtt"))
        .and_then(|l| l.split('/').nth(6))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no rtt line: {text}"));
    assert!(mdev > 0.5, "jitter shows as RTT deviation: {text}");
    let stats = lab
        .cmd()
        .args(["stats", "er-sv", "--output", "json", "--lab", &lab.name])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert!(
        v["drops"]["lost"].as_u64().unwrap() > 0,
        "losses counted: {v}"
    );
}

#[test]
fn circuit_mtu_is_1400_with_pmtud_and_fragmentation() {
    if !root_or_skip("circuit_mtu_is_1400") {
        return;
    }
    let lab = Lab::new_with("mtu", SEED, "latency = \"none\"");
    lab.up_detached();
    // From a VNet (MTU 1500): the gateway answers with the circuit's MTU.
    let out = lab.exec(
        "uswest",
        &[
            "ping", "-n", "-c", "1", "-W", "1", "-M", "do", "-s", "1472", "10.0.1.1",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("From 10.0.3.254") && text.contains("mtu = 1400"),
        "{text}"
    );
    // Once it knows, the VNet's stack fragments itself; without DF the gateway would too.
    let (rx, text) = lab.ping("uswest", "10.0.1.1", 1);
    assert_eq!(rx, 1, "{text}");
    let out = lab.exec(
        "uswest",
        &[
            "ping", "-n", "-c", "2", "-W", "1", "-M", "dont", "-s", "3000", "10.0.1.1",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 received"),
        "3000-byte pings cross in fragments:\n{text}"
    );
    assert!(text.contains("3008 bytes from 10.0.1.1"), "{text}");
    // A site's own interface has the circuit's MTU.
    let out = lab.exec("sf", &["ip", "-j", "link", "show", "rl-sf"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["mtu"], 1400);
}

#[test]
fn no_broken_topology_creates_anything() {
    if !root_or_skip("no_broken_topology_creates_anything") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/topologies/bad");
    let run_dir = std::env::temp_dir().join(format!("reachlab-bad-{}", std::process::id()));
    let mut n = 0;
    for f in std::fs::read_dir(&dir).unwrap().flatten() {
        let out = common::reachlab()
            .env("REACHLAB_RUN_DIR", &run_dir)
            .arg("up")
            .arg(f.path())
            .arg("--detach")
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{} must be refused",
            f.path().display()
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("nothing was made"),
            "{}: {}",
            f.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        n += 1;
    }
    assert!(n >= 30);
    assert!(
        !run_dir.exists() || std::fs::read_dir(&run_dir).unwrap().next().is_none(),
        "no state"
    );
    let _ = std::fs::remove_dir_all(&run_dir);
}

/// Packets London's TUN has taken in (what reached London's namespace).
fn rx_packets(lab: &Lab, ep: &str) -> u64 {
    let out = lab.exec(ep, &["ip", "-j", "-s", "link", "show", &format!("rl-{ep}")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0]["stats64"]["rx"]["packets"].as_u64().unwrap()
}

#[test]
fn without_global_reach_nothing_crosses_between_branches() {
    if !root_or_skip("without_global_reach_nothing_crosses") {
        return;
    }
    let topo = include_str!("../topologies/dual-stack-unshaped.toml");
    let no_gr = topo.split("[[global_reach]]").next().unwrap().to_string();
    let lab = Lab::new("iso", &no_gr);
    lab.up_detached();
    let mut server = lab
        .cmd()
        .args([
            "exec", "--lab", &lab.name, "london", "--", "iperf3", "-s", "-p", "5601",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let rx_before = rx_packets(&lab, "london");

    // ICMP, IPv4 and IPv6, any TTL.
    for to in ["10.0.2.1", "fd00:2::1"] {
        assert_eq!(lab.ping("sf", to, 2).0, 0, "ping {to}");
    }
    for ttl in ["1", "2", "3", "4", "64"] {
        let out = lab.exec(
            "sf",
            &["ping", "-n", "-c", "1", "-W", "1", "-t", ttl, "10.0.2.1"],
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("bytes from 10.0.2.1"));
    }
    // Fragments.
    let out = lab.exec(
        "sf",
        &[
            "ping", "-n", "-c", "1", "-W", "1", "-M", "dont", "-s", "3000", "10.0.2.1",
        ],
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("bytes from"));
    // TCP to a listening port, IPv4 and IPv6.
    for to in ["10.0.2.1", "fd00:2::1"] {
        let script = format!("exec 3<>/dev/tcp/{to}/5601");
        let out = lab.exec("sf", &["timeout", "3", "bash", "-c", &script]);
        assert!(!out.status.success(), "TCP to {to} must not connect");
    }
    // UDP, and London's MSEE and peering addresses.
    lab.exec(
        "sf",
        &[
            "bash",
            "-c",
            "for i in 1 2 3; do echo x > /dev/udp/10.0.2.1/5601; done",
        ],
    );
    assert_eq!(
        lab.ping("sf", "192.168.100.10", 1).0,
        0,
        "the other circuit's MSEE"
    );
    assert_eq!(lab.ping("sf", "10.0.2.254", 1).0, 0, "the other site's CE");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        rx_packets(&lab, "london"),
        rx_before,
        "nothing reached London's namespace"
    );

    // The same probes do cross once the circuits are linked: the test can fail.
    let out = lab
        .cmd()
        .args([
            "global-reach",
            "add",
            "er-sv",
            "er-london",
            "--address-prefix",
            "192.168.8.0/29",
            "--ipv6-address-prefix",
            "fd00:ffff::/125",
            "--lab",
            &lab.name,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lab.ping("sf", "fd00:2::1", 1).0, 1);
    let out = lab.exec(
        "sf",
        &[
            "timeout",
            "3",
            "bash",
            "-c",
            "exec 3<>/dev/tcp/10.0.2.1/5601",
        ],
    );
    assert!(out.status.success(), "TCP connects over Global Reach");
    assert!(rx_packets(&lab, "london") > rx_before);
    let _ = server.kill();
    let _ = server.wait();
}

/// Three circuits, Global Reach between two; VNets on one circuit, on two, and on the third.
const MATRIX: &str = r#"
[[circuit]]
name = "er-sv"
peering_location = "Silicon Valley"
bandwidth = "1Gbps"
sku = "Premium"

[[circuit]]
name = "er-london"
peering_location = "London"
bandwidth = "1Gbps"
sku = "Premium"

[[circuit]]
name = "er-tokyo"
peering_location = "Tokyo"
bandwidth = "1Gbps"
sku = "Premium"

[[site]]
name = "sf"
circuit = "er-sv"
prefixes = ["10.0.1.0/24", "fd00:1::/64"]

[[site]]
name = "london"
circuit = "er-london"
prefixes = ["10.0.2.0/24", "fd00:2::/64"]

[[site]]
name = "tokyo"
circuit = "er-tokyo"
prefixes = ["10.0.5.0/24", "fd00:5::/64"]

[[vnet]]
name = "uswest"
region = "West US"
prefixes = ["10.0.3.0/24", "fd00:3::/64"]
circuits = ["er-sv"]

[[vnet]]
name = "uksouth"
region = "UK South"
prefixes = ["10.0.4.0/24", "fd00:4::/64"]
circuits = ["er-london"]

[[vnet]]
name = "shared"
region = "East US"
prefixes = ["10.0.6.0/24", "fd00:6::/64"]
circuits = ["er-sv", "er-london"]

[[vnet]]
name = "japan"
region = "Japan East"
prefixes = ["10.0.7.0/24", "fd00:7::/64"]
circuits = ["er-tokyo"]

[[global_reach]]
circuits = ["er-sv", "er-london"]
address_prefix = "192.168.8.0/29"
ipv6_address_prefix = "fd00:ffff::/125"
"#;

#[test]
fn every_pair_of_sites_and_vnets_reaches_exactly_what_the_rules_allow() {
    if !root_or_skip("isolation_matrix") {
        return;
    }
    let lab = Lab::new_with("matrix", MATRIX, "latency = \"none\"");
    lab.up_detached();
    let t = reachlab::topology::Topology::load(&lab.file).unwrap();
    let names: Vec<String> = t.endpoint_names().map(str::to_string).collect();
    // The first host of an endpoint's IPv4 or IPv6 prefix.
    let addr = |n: &str, v6: bool| -> String {
        let prefixes = t.prefixes_of(n).unwrap();
        match prefixes
            .iter()
            .find(|p| matches!(p, ipnet::IpNet::V6(_)) == v6)
        {
            Some(ipnet::IpNet::V4(p)) => {
                std::net::Ipv4Addr::from(u32::from(p.network()) + 1).to_string()
            }
            Some(ipnet::IpNet::V6(p)) => {
                std::net::Ipv6Addr::from(u128::from(p.network()) + 1).to_string()
            }
            None => unreachable!("every endpoint here is dual-stack"),
        }
    };
    // A hand-written sample of the rules, so the matrix is not only checked against itself.
    for (a, b, want) in [
        ("sf", "london", true),
        ("sf", "tokyo", false),
        // Global Reach carries what each MSEE learned from its own sites and VNets: uswest
        // (er-sv only) reaches london and uksouth (er-london only) over er-sv's connection.
        ("uswest", "london", true),
        ("uswest", "uksouth", true),
        ("uswest", "tokyo", false),
        ("uswest", "shared", true), // VNets on the same circuit
        ("uksouth", "shared", true),
        ("japan", "shared", false),
        ("japan", "tokyo", true),
    ] {
        assert_eq!(t.may_reach(a, b), want, "rule {a} -> {b}");
    }
    let mut table = format!("{:>8}", "from\\to");
    for n in &names {
        table += &format!(" {n:>8}");
    }
    let mut mismatches = Vec::new();
    let mut crossed = 0;
    for a in &names {
        table += &format!("\n{a:>8}");
        for b in &names {
            if a == b {
                table += &format!(" {:>8}", "-");
                continue;
            }
            let want = t.may_reach(a, b);
            let mut cell = String::new();
            for v6 in [false, true] {
                let to = addr(b, v6);
                let out = lab.exec(a, &["ping", "-n", "-c", "1", "-W", "1", &to]);
                let got = String::from_utf8_lossy(&out.stdout).contains(&format!("from {to}"));
                crossed += got as usize;
                cell.push(if got { 'Y' } else { '.' });
                if got != want {
                    mismatches.push(format!(
                        "{a} -> {b} ({to}): expected {}, got {}",
                        if want { "reply" } else { "none" },
                        if got { "reply" } else { "none" }
                    ));
                }
            }
            table += &format!(" {cell:>8}");
        }
    }
    println!("ping IPv4/IPv6 (Y reply, . none):\n{table}");
    assert!(mismatches.is_empty(), "{table}\n{}", mismatches.join("\n"));
    assert!(crossed > 0);
}

#[test]
fn an_up_that_fails_halfway_removes_what_it_made() {
    if !root_or_skip("an_up_that_fails_halfway") {
        return;
    }
    let lab = Lab::from_file("half", "topologies/global-reach.toml");
    // Two of the four endpoints made (namespaces, TUNs, addresses), then a failure.
    let out = lab
        .cmd()
        .env("REACHLAB_FAIL_AFTER", "2")
        .arg("up")
        .arg(&lab.file)
        .arg("--detach")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("after 2 endpoints"), "{err}");
    assert!(err.contains("everything made so far was removed"), "{err}");
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
    assert!(!lab.run_dir.join(&lab.name).exists(), "state removed");
    // Nothing in the way of the next attempt.
    lab.up_detached();
    assert_eq!(lab.ping("sf", "10.0.2.1", 1).0, 1);
}

/// Removes a namespace the test made itself, even when the test fails.
struct ForeignNamespace(String);
impl Drop for ForeignNamespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn a_namespace_reachlab_did_not_make_is_never_removed() {
    if !root_or_skip("a_namespace_reachlab_did_not_make") {
        return;
    }
    let lab = Lab::from_file("foreign", "topologies/global-reach.toml");
    // Someone else's namespace under the name the lab would give London's.
    let ns = format!("rl-{}-london", lab.name);
    assert!(Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .unwrap()
        .success());
    let foreign = ForeignNamespace(ns.clone());
    let out = lab.try_up(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "up must refuse");
    assert!(err.contains(&ns), "the error names the namespace: {err}");
    assert_eq!(lab.namespaces(), vec![ns.clone()], "only the foreign one");
    // Neither `down` nor `down --all` touches it.
    let _ = lab.down();
    let _ = lab.cmd().args(["down", "--all"]).output().unwrap();
    assert_eq!(lab.namespaces(), vec![ns.clone()], "still there");
    drop(foreign);
    assert!(lab.namespaces().is_empty());
}
