//! The designs engineers build on ExpressRoute, in real namespaces (with FRR where a real
//! router is involved): overlapping prefixes resolved by longest match and best path. Needs
//! root and FRR (skipped loudly without root). Each design's topology is a file under
//! tests/topologies/designs/ (`Lab::design`), one you can also `reachlab up` by hand.

mod common;

use common::{bfd_up, established, root_or_skip, within, Lab};

/// Adds `addr`/32 to the loopback of `endpoint`'s namespace (a host behind the site).
fn add_host(lab: &Lab, endpoint: &str, addr: &str) {
    let out = lab.exec(
        endpoint,
        &["ip", "addr", "add", &format!("{addr}/32"), "dev", "lo"],
    );
    assert!(out.status.success(), "{out:?}");
}

/// DR: the DC (FRR, er-sv) announces 10.1.0.0/24, the DR site (er-la) the summary
/// 10.1.0.0/16. A VNet on both circuits reaches 10.1.0.5 at the DC and 10.1.9.5 at DR; with
/// the DC's sessions down, 10.1.0.x goes to DR.
#[test]
fn dr_site_summary_takes_over_when_the_dc_goes() {
    if !root_or_skip("dr_site_summary_takes_over") {
        return;
    }
    let lab = Lab::design("dr");
    lab.up_detached();
    assert!(within(20, || established(&lab, &["er-sv"]) == 2).is_some());
    add_host(&lab, "dc", "10.1.0.5");
    add_host(&lab, "dr", "10.1.9.5");
    add_host(&lab, "dr", "10.1.0.6");
    assert!(within(10, || lab.ping("v", "10.1.0.5", 1).0 == 1).is_some());
    assert_eq!(lab.ping("v", "10.1.9.5", 2).0, 2, "the summary to DR");
    // The DC's /24 is the longer match: 10.1.0.6, on DR only, is not reached.
    assert_eq!(lab.ping("v", "10.1.0.6", 2).0, 0, "10.1.0.x goes to the DC");
    let routes = lab.ok(&["routes", "v"]);
    assert!(
        routes.contains("10.1.0.0/24") && routes.contains("10.1.0.0/16"),
        "{routes}"
    );
    // DR's own address is outside the DC's /24.
    let out = lab.exec("dr", &["ip", "-4", "-o", "addr", "show", "dev", "rl-dr"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("10.1.1.1/16"), "{text}");

    // The DC's sessions go down (both links fail; BFD notices): 10.1.0.x goes to DR.
    assert!(within(10, || bfd_up(&lab, "dc") == 2).is_some());
    lab.ok(&["circuit", "fail", "er-sv", "primary"]);
    lab.ok(&["circuit", "fail", "er-sv", "secondary"]);
    assert!(within(5, || established(&lab, &["er-sv"]) == 0).is_some());
    let moved = within(5, || lab.ping("v", "10.1.0.6", 1).0 == 1);
    assert!(moved.is_some(), "{}", lab.ok(&["routes", "v"]));
    assert!(!lab.ok(&["routes", "v"]).contains("10.1.0.0/24"));
    // The matrix agrees with the rules (the DC cut off: its circuit carries nothing).
    lab.test_passes();
}

/// The same private ASN at both ends of Global Reach: the MSEE cannot strip it (the path holds
/// the neighbour's own ASN), so London's FRR drops San Francisco's prefix as a loop until its
/// config has `allowas-in`; then it learns it (a route refresh to the MSEE) and pings pass.
#[test]
fn the_same_asn_at_both_sites_needs_allowas_in() {
    if !root_or_skip("the_same_asn_needs_allowas_in") {
        return;
    }
    let lab = Lab::design("sameasn");
    lab.up_detached();
    assert!(within(20, || established(&lab, &["er-sv", "er-london"]) == 4).is_some());
    let bgp = |site: &str| lab.vtysh(site, "show ip bgp");
    // The MSEE sends it with the path 12076 65001 (nothing stripped).
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(!bgp("london").contains("10.0.1.0/24"), "{}", bgp("london"));
    assert_eq!(lab.ping("london", "10.0.1.1", 2).0, 0);
    // Each site's MSEEs: the circuits' default /29s, in file order.
    for (site, msees) in [
        ("sf", ["192.168.100.2", "192.168.100.6"]),
        ("london", ["192.168.100.10", "192.168.100.14"]),
    ] {
        let lines: Vec<String> = msees
            .iter()
            .map(|n| format!("neighbor {n} allowas-in 1"))
            .collect();
        let mut args = vec![
            "vtysh",
            "-c",
            "configure terminal",
            "-c",
            "router bgp 65001",
            "-c",
            "address-family ipv4 unicast",
        ];
        for l in &lines {
            args.extend(["-c", l.as_str()]);
        }
        assert!(lab.exec(site, &args).status.success());
    }
    let learned = within(10, || bgp("london").contains("10.0.1.0/24"));
    assert!(learned.is_some(), "{}", bgp("london"));
    assert!(bgp("london").contains("12076 65001"), "{}", bgp("london"));
    assert!(within(10, || lab.ping("london", "10.0.1.1", 1).0 == 1).is_some());
}

/// Forced tunnelling: a static site with `default_route = true` announces 0.0.0.0/0; a VNet on
/// its circuit sends what it has no other route for (a TEST-NET address held by the site) to
/// the site; a VNet on another circuit has no such route.
#[test]
fn forced_tunnelling_sends_unmatched_vnet_traffic_to_the_site() {
    if !root_or_skip("forced_tunnelling") {
        return;
    }
    let lab = Lab::design("forced");
    lab.up_detached();
    add_host(&lab, "hub", "198.51.100.7");
    assert_eq!(
        lab.ping("v", "198.51.100.7", 2).0,
        2,
        "v -> the hub's default"
    );
    assert_eq!(
        lab.ping("w", "198.51.100.7", 2).0,
        0,
        "w has no default route"
    );
    assert!(lab.ok(&["routes", "er-sv"]).contains("0.0.0.0/0"));
    let gw = lab.ok(&["routes", "v"]);
    assert!(gw.contains("0.0.0.0/0"), "{gw}");
    assert!(!lab.ok(&["routes", "w"]).contains("0.0.0.0/0"));
    // Traceroute from v shows the path into the hub: the MSEE, then the site.
    let out = lab.exec(
        "v",
        &["traceroute", "-n", "-q", "1", "-w", "1", "198.51.100.7"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("198.51.100.7"), "{text}");
    lab.test_passes();
}

/// A VNet with `bgp_community`: the site's FRR sees its routes with that community and the
/// region's (West US 12076:50006); a VNet without one sends neither.
#[test]
fn a_vnet_community_reaches_the_customer_router_with_the_regions() {
    if !root_or_skip("a_vnet_community_reaches_the_router") {
        return;
    }
    let lab = Lab::design("community");
    lab.up_detached();
    assert!(within(20, || established(&lab, &["er-sv"]) == 2).is_some());
    let show = |p: &str| lab.vtysh("sf", &format!("show ip bgp {p}"));
    assert!(within(5, || show("10.9.1.0/24").contains("12076")).is_some());
    let tagged = show("10.9.1.0/24");
    assert!(
        tagged.contains("Community: 12076:20001 12076:50006"),
        "{tagged}"
    );
    let plain = show("10.9.2.0/24");
    assert!(
        plain.contains("12076") && !plain.contains("Community"),
        "{plain}"
    );
}

/// The kernel routes of `site` to `prefix` (`ip route show PREFIX`).
fn kernel_route(lab: &Lab, site: &str, prefix: &str) -> String {
    String::from_utf8_lossy(&lab.exec(site, &["ip", "route", "show", prefix]).stdout).into_owned()
}

/// Maintenance on er-sv's primary: its MSEE prepends 12076; sf's FRR (default policy) then
/// prefers the secondary and its kernel routes the VNet over the secondary only; `--end`
/// brings back both links. A static site's traffic moves off the link too.
#[test]
fn maintenance_moves_traffic_to_the_other_link_until_it_ends() {
    if !root_or_skip("maintenance_moves_traffic") {
        return;
    }
    let lab = Lab::design("maint");
    lab.up_detached();
    assert!(within(20, || established(&lab, &["er-sv"]) == 2).is_some());
    let both = |r: &str| r.contains("dev primary") && r.contains("dev secondary");
    assert!(within(10, || both(&kernel_route(&lab, "sf", "10.9.1.0/24"))).is_some());

    lab.ok(&["circuit", "maintenance", "er-sv", "primary"]);
    let bgp = || lab.vtysh("sf", "show ip bgp 10.9.1.0/24");
    assert!(
        within(5, || bgp().contains("12076 12076")).is_some(),
        "{}",
        bgp()
    );
    let moved = within(5, || {
        let r = kernel_route(&lab, "sf", "10.9.1.0/24");
        r.contains("dev secondary") && !r.contains("dev primary")
    });
    assert!(
        moved.is_some(),
        "{}",
        kernel_route(&lab, "sf", "10.9.1.0/24")
    );
    let show = lab.ok(&["circuit", "show", "er-sv"]);
    assert!(
        show.lines()
            .any(|l| l.starts_with("Maintenance") && l.contains("primary")),
        "{show}"
    );
    let (rx, out) = lab.ping("sf", "10.9.1.1", 3);
    assert_eq!(
        rx,
        3,
        "{out}\n{}\n{}",
        kernel_route(&lab, "sf", "10.9.1.0/24"),
        lab.ok(&["stats", "er-sv"])
    );
    // Twice is refused with the reason; the other circuit's static site moves off its primary.
    let out = lab.run(&["circuit", "maintenance", "er-sv", "primary"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already under maintenance"));
    lab.ok(&["circuit", "maintenance", "er-la", "primary"]);
    let primary_out = |c: &str| -> u64 {
        let v: serde_json::Value =
            serde_json::from_str(&lab.ok(&["stats", c, "--output", "json"])).unwrap();
        v["primarybytesOut"].as_u64().unwrap_or(0) + v["primarybytesIn"].as_u64().unwrap_or(0)
    };
    let before = primary_out("er-la");
    assert_eq!(lab.ping("la", "10.9.1.1", 5).0, 5);
    assert_eq!(
        primary_out("er-la"),
        before,
        "nothing crossed er-la's primary"
    );

    lab.ok(&["circuit", "maintenance", "er-sv", "primary", "--end"]);
    assert!(within(5, || both(&kernel_route(&lab, "sf", "10.9.1.0/24"))).is_some());
    assert!(!bgp().contains("12076 12076"), "{}", bgp());
}

/// Connection weights: the same prefix behind er-sv (dc1) and er-la (dc2); VNet uswest on both
/// prefers the circuit with the higher weight, and a live `vnet link --weight` moves it.
#[test]
fn a_vnet_prefers_the_connection_with_the_higher_weight() {
    if !root_or_skip("a_vnet_prefers_the_higher_weight") {
        return;
    }
    let lab = Lab::design("weights");
    lab.up_detached();
    // dc1 is 10.1.0.1, dc2 10.1.0.2 (the same prefix: the next host).
    assert_eq!(lab.ping("uswest", "10.1.0.1", 2).0, 2, "over er-sv to dc1");
    assert_eq!(lab.ping("uswest", "10.1.0.2", 2).0, 0, "not to dc2");
    let gw: serde_json::Value =
        serde_json::from_str(&lab.ok(&["routes", "uswest", "--output", "json"])).unwrap();
    let first = gw["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["network"] == "10.1.0.0/24")
        .unwrap();
    assert_eq!(first["weight"], 100, "{gw}");
    assert!(lab
        .ok(&["circuit", "show", "er-sv"])
        .contains("uswest (weight 100)"));
    // Live: er-la's connection gets more weight, and the VNet's traffic moves there.
    lab.ok(&["vnet", "link", "uswest", "er-la", "--weight", "200"]);
    assert_eq!(lab.ping("uswest", "10.1.0.2", 2).0, 2, "over er-la to dc2");
    assert_eq!(lab.ping("uswest", "10.1.0.1", 2).0, 0, "not to dc1");
    // Out of range, or the same weight again: refused, nothing changes.
    let out = lab.run(&["vnet", "link", "uswest", "er-la", "--weight", "32001"]);
    assert!(!out.status.success());
    let out = lab.run(&["vnet", "link", "uswest", "er-la", "--weight", "200"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already linked"));
    assert_eq!(lab.ping("uswest", "10.1.0.2", 1).0, 1);
}

/// Bytes the MSEEs of `circuit` sent toward its sites (both links).
fn bytes_to_sites(lab: &Lab, circuit: &str) -> u64 {
    let v: serde_json::Value =
        serde_json::from_str(&lab.ok(&["stats", circuit, "--output", "json"])).unwrap();
    v["primarybytesOut"].as_u64().unwrap_or(0) + v["secondarybytesOut"].as_u64().unwrap_or(0)
}

/// 32 UDP datagrams from `from` to `to`, each to another port: 32 flows.
fn udp_flows(lab: &Lab, from: &str, to: &str) {
    udp_flows_of(lab, from, to, 1);
}

/// The same with `payload`+1 bytes of UDP payload each (`payload` spaces and a newline).
fn udp_flows_of(lab: &Lab, from: &str, to: &str, payload: usize) {
    let script = format!(
        "for p in $(seq 40000 40031); do printf '%{payload}s\\n' '' > /dev/udp/{to}/$p; done"
    );
    let out = lab.exec(from, &["bash", "-c", &script]);
    assert!(out.status.success(), "{out:?}");
}

/// A DC on two circuits (er-sv and er-la) and VNet uswest linked to both with weights 100 and
/// 0: uswest -> DC goes over er-sv; swapped live, over er-la; with equal weights (and equal
/// paths) flows spread over both. The DC itself reaches uswest over either circuit.
#[test]
fn a_dc_on_two_circuits_follows_the_vnet_weights() {
    if !root_or_skip("a_dc_on_two_circuits") {
        return;
    }
    let lab = Lab::design("dual");
    lab.up_detached();
    assert_eq!(lab.ping("dc", "10.9.1.1", 2).0, 2);
    let moved = |expect_sv: bool| {
        let (sv, la) = (bytes_to_sites(&lab, "er-sv"), bytes_to_sites(&lab, "er-la"));
        udp_flows(&lab, "uswest", "10.1.0.1");
        let (dsv, dla) = (
            bytes_to_sites(&lab, "er-sv") - sv,
            bytes_to_sites(&lab, "er-la") - la,
        );
        eprintln!("to the DC: er-sv {dsv} B, er-la {dla} B");
        if expect_sv {
            dsv > 0 && dla == 0
        } else {
            dla > 0 && dsv == 0
        }
    };
    assert!(moved(true), "weight 100 on er-sv");
    lab.ok(&["vnet", "link", "uswest", "er-la", "--weight", "200"]);
    assert!(moved(false), "weight 200 on er-la");
    // Equal weights: both circuits carry some of the 32 flows.
    lab.ok(&["vnet", "link", "uswest", "er-sv", "--weight", "200"]);
    let (sv, la) = (bytes_to_sites(&lab, "er-sv"), bytes_to_sites(&lab, "er-la"));
    udp_flows(&lab, "uswest", "10.1.0.1");
    assert!(bytes_to_sites(&lab, "er-sv") > sv && bytes_to_sites(&lab, "er-la") > la);
    // The DC on both circuits: `circuit show` lists it on each; the matrix agrees.
    assert!(lab.ok(&["circuit", "show", "er-la"]).contains("dc"));
    lab.test_passes();
}

/// Active/passive by AS-path prepending: the DC's own FRR config prepends twice on er-la, so
/// Azure -> DC traffic uses er-sv only, and sets local preference 200 on what er-sv sends, so
/// DC -> Azure traffic does too; with er-sv's two links failed it moves to er-la within BFD
/// time, and back on restore.
#[test]
fn active_passive_by_prepend_fails_over_to_the_passive_circuit() {
    if !root_or_skip("active_passive_by_prepend") {
        return;
    }
    let lab = Lab::design("actpass");
    // er-sv: 192.168.100.0/29 (MSEEs .2, .6); er-la: 192.168.100.8/29 (.10, .14).
    let mut conf = String::from(
        "frr defaults traditional\nhostname dc\n\
         route-map PASSIVE permit 10\n set as-path prepend 65001 65001\nexit\n\
         route-map PREFER permit 10\n set local-preference 200\nexit\n\
         route-map LAN-SRC permit 10\n set src 10.1.0.1\nexit\n\
         ip protocol bgp route-map LAN-SRC\n\
         router bgp 65001\n bgp router-id 192.168.100.1\n no bgp ebgp-requires-policy\n\
         no bgp network import-check\n",
    );
    for (n, src) in [
        ("192.168.100.2", "192.168.100.1"),
        ("192.168.100.6", "192.168.100.5"),
        ("192.168.100.10", "192.168.100.9"),
        ("192.168.100.14", "192.168.100.13"),
    ] {
        conf += &format!(
            " neighbor {n} remote-as 12076\n neighbor {n} timers connect 1\n neighbor {n} bfd\n neighbor {n} update-source {src}\n"
        );
    }
    conf += " address-family ipv4 unicast\n  network 10.1.0.0/16\n  maximum-paths 4\n";
    for n in ["192.168.100.10", "192.168.100.14"] {
        conf += &format!("  neighbor {n} route-map PASSIVE out\n");
    }
    for n in ["192.168.100.2", "192.168.100.6"] {
        conf += &format!("  neighbor {n} route-map PREFER in\n");
    }
    conf += " exit-address-family\n";
    std::fs::write(lab.file.with_file_name("dc.conf"), conf).unwrap();
    lab.up_detached();
    assert!(within(20, || established(&lab, &["er-sv", "er-la"]) == 4).is_some());
    assert!(within(10, || bfd_up(&lab, "dc") == 4).is_some());
    let gw = lab.ok(&["routes", "uswest"]);
    assert!(gw.contains("12076 65001 65001 65001"), "{gw}");
    // The links also carry the MSEEs' BGP segments to the DC (a 52-byte ACK, a keepalive), so
    // the flows are 1,028-byte datagrams and "none over a circuit" is less than one of them.
    const DATAGRAM: u64 = 1000 + 28;
    let only = |sv_expected: bool| {
        let (sv, la) = (bytes_to_sites(&lab, "er-sv"), bytes_to_sites(&lab, "er-la"));
        udp_flows_of(&lab, "uswest", "10.1.0.1", 999);
        let (dsv, dla) = (
            bytes_to_sites(&lab, "er-sv") - sv,
            bytes_to_sites(&lab, "er-la") - la,
        );
        let all = |d: u64| d >= 32 * DATAGRAM;
        let none = |d: u64| d < DATAGRAM;
        if sv_expected {
            all(dsv) && none(dla)
        } else {
            all(dla) && none(dsv)
        }
    };
    assert!(only(true), "active: er-sv only");
    // The other direction follows the DC's local preference (200 on what er-sv sends): its
    // kernel routes uswest over er-sv's links only.
    let r = kernel_route(&lab, "dc", "10.9.1.0/24");
    assert!(
        r.contains("dev primary ") && !r.contains("primary2") && !r.contains("secondary2"),
        "{r}"
    );
    lab.ok(&["circuit", "fail", "er-sv", "primary"]);
    lab.ok(&["circuit", "fail", "er-sv", "secondary"]);
    let moved = within(5, || only(false));
    eprintln!("moved to er-la after {moved:?}");
    assert!(moved.is_some_and(|d| d < std::time::Duration::from_millis(2500)));
    lab.ok(&["circuit", "restore", "er-sv", "primary"]);
    lab.ok(&["circuit", "restore", "er-sv", "secondary"]);
    assert!(within(20, || only(true)).is_some(), "back to er-sv");
}

/// `reachlab path`: hop by hop both ways. A DC on er-sv and er-la; uswest prefers er-sv by
/// weight, while the DC, with er-sv under maintenance, sends back over er-la: flagged as
/// asymmetric. A VNet on er-sv only uses er-sv both ways.
#[test]
fn path_shows_both_directions_and_flags_asymmetry() {
    if !root_or_skip("path_flags_asymmetry") {
        return;
    }
    let lab = Lab::design("path");
    lab.up_detached();
    let path = |a: &str, b: &str| -> serde_json::Value {
        serde_json::from_str(&lab.ok(&["path", a, b, "--output", "json"])).unwrap()
    };
    // One circuit both ways (the links a flow hashes onto may differ by direction).
    let p = path("svonly", "dc");
    assert!(
        !p["asymmetry"]
            .as_str()
            .unwrap_or_default()
            .contains("different circuits"),
        "{p}"
    );
    assert_eq!(p["there"]["delivered"], true);
    let hops: Vec<&str> = p["there"]["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(hops[0], "svonly (gateway)", "{p}");
    assert!(hops.contains(&"MSEE er-sv"), "{p}");
    assert_eq!(*hops.last().unwrap(), "dc", "{p}");

    lab.ok(&["circuit", "maintenance", "er-sv", "primary"]);
    lab.ok(&["circuit", "maintenance", "er-sv", "secondary"]);
    let p = path("uswest", "dc");
    let a = p["asymmetry"].as_str().unwrap_or_default();
    assert!(
        a.contains("different circuits") && a.contains("there over er-sv, back over er-la"),
        "{p}"
    );
    let text = lab.ok(&["path", "uswest", "dc"]);
    assert!(text.contains("Asymmetric"), "{text}");
    // The pings follow the path shown: both ways work.
    assert_eq!(lab.ping("uswest", "10.1.0.1", 2).0, 2);
    // Unknown names are refused with the names there are.
    let out = lab.run(&["path", "uswest", "nowhere"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("this lab has"));
}

/// A static DC on two circuits with `prepend = { er-la = 2 }`: the VNet's gateway sees the
/// longer path over er-la and sends Azure -> DC traffic over er-sv only.
#[test]
fn a_static_prepend_makes_a_circuit_passive() {
    if !root_or_skip("a_static_prepend") {
        return;
    }
    let lab = Lab::design("prepend");
    lab.up_detached();
    let la = lab.ok(&["routes", "er-la"]);
    assert!(la.contains("65001 65001 65001"), "{la}");
    let gw = lab.ok(&["routes", "uswest"]);
    assert!(gw.contains("12076 65001 65001 65001"), "{gw}");
    let (sv, la) = (bytes_to_sites(&lab, "er-sv"), bytes_to_sites(&lab, "er-la"));
    udp_flows(&lab, "uswest", "10.1.0.1");
    assert!(bytes_to_sites(&lab, "er-sv") > sv, "over er-sv");
    assert_eq!(bytes_to_sites(&lab, "er-la"), la, "not over er-la");
}

/// Every design file in topologies/ passes `check`, comes up, and passes `reachlab test`.
#[test]
fn every_design_file_comes_up_and_passes_test() {
    if !root_or_skip("every_design_file") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("design-") && n.ends_with(".toml"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        let rel = format!("topologies/{}", f.file_name().unwrap().to_str().unwrap());
        let lab = Lab::from_file("design", &rel);
        lab.up_detached();
        let out = lab.cmd().args(["test", &lab.name]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{rel}:\n{text}");
        assert!(text.contains("0 mismatches"), "{rel}:\n{text}");
        eprintln!("{rel}: {}", text.lines().last().unwrap_or_default());
    }
}

/// A site with reachlab's FRR on two circuits: links primary, secondary, primary2,
/// secondary2 in its namespace; FRR peers with all four MSEEs and uses every link.
#[test]
fn an_frr_site_on_two_circuits_peers_with_every_msee() {
    if !root_or_skip("an_frr_site_on_two_circuits") {
        return;
    }
    let lab = Lab::design("frr2");
    lab.up_detached();
    assert!(
        within(20, || established(&lab, &["er-sv", "er-la"]) == 4).is_some(),
        "{}",
        lab.ok(&["routes", "er-la", "--summary"])
    );
    let r = kernel_route(&lab, "dc", "10.9.1.0/24");
    assert!(
        within(10, || {
            let r = kernel_route(&lab, "dc", "10.9.1.0/24");
            ["primary ", "secondary ", "primary2", "secondary2"]
                .iter()
                .all(|i| r.contains(&format!("dev {i}")))
        })
        .is_some(),
        "{r}"
    );
    assert_eq!(lab.ping("uswest", "10.1.0.1", 2).0, 2);
    assert_eq!(lab.ping("dc", "10.9.1.1", 2).0, 2);
}

/// A static site's prepend on one link ("er-sv/secondary"): that MSEE's routes show the
/// longer path and traffic to the site keeps to the primary link.
#[test]
fn a_static_prepend_on_a_link_makes_the_link_passive() {
    if !root_or_skip("a_static_prepend_on_a_link") {
        return;
    }
    let lab = Lab::design("linkprepend");
    lab.up_detached();
    let sec = lab.ok(&["routes", "er-sv", "--path", "secondary"]);
    assert!(sec.contains("65001 65001 65001"), "{sec}");
    let pri = lab.ok(&["routes", "er-sv"]);
    assert!(!pri.contains("65001 65001"), "{pri}");
    let out = |k: &str| -> u64 {
        let v: serde_json::Value =
            serde_json::from_str(&lab.ok(&["stats", "er-sv", "--output", "json"])).unwrap();
        v[k].as_u64().unwrap_or(0)
    };
    let (p0, s0) = (out("primarybytesOut"), out("secondarybytesOut"));
    udp_flows(&lab, "uswest", "10.1.0.1");
    assert!(out("primarybytesOut") > p0);
    assert_eq!(
        out("secondarybytesOut"),
        s0,
        "nothing over the prepended link"
    );
    // With the primary failed, the secondary carries it.
    lab.ok(&["circuit", "fail", "er-sv", "primary"]);
    udp_flows(&lab, "uswest", "10.1.0.1");
    assert!(out("secondarybytesOut") > s0);
}
