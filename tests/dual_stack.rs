//! Dual-stack routers: FRR at San Francisco and London (topologies/global-reach-frr-dual-stack
//! .toml) peer with each MSEE twice, IPv4 and IPv6 in separate sessions; IPv6 crosses Global
//! Reach over its /125 with the modelled round trip, goes when the connection does, and each
//! family's sessions fail on their own. A BIRD 2 router the test starts at an external site
//! loses its IPv6 session on its 101st IPv6 prefix while its IPv4 session stays. Needs root,
//! FRR and BIRD (skipped loudly without root).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    bfd_up, established_in, modelled_rtt_ms, ping_avg_ms, root_or_skip, state_pfx_rcd_in, within,
    Lab,
};

/// Whether a line of FRR's `show bgp ipv6 unicast` for `prefix` ends with `path`.
fn has_route(table: &str, prefix: &str, path: &str) -> bool {
    table
        .lines()
        .any(|l| l.contains(prefix) && l.trim_end().ends_with(path))
}

#[test]
fn dual_stack_frr_sites_peer_in_both_families_and_ipv6_crosses_global_reach() {
    if !root_or_skip("dual_stack_frr_sites_peer_in_both_families") {
        return;
    }
    let lab = Lab::from_file("ds", "topologies/global-reach-frr-dual-stack.toml");
    lab.up_detached();
    let circuits = ["er-sv", "er-london"];
    let up = within(20, || {
        established_in(&lab, &circuits, "ipv4") == 4 && established_in(&lab, &circuits, "ipv6") == 4
    })
    .unwrap_or_else(|| {
        panic!(
            "4 + 4 sessions: {}",
            lab.ok(&["routes", "er-sv", "--summary"])
        )
    });
    eprintln!("four IPv4 and four IPv6 sessions Established {up:?} after up returned");

    // FRR's view: two IPv6 neighbours per site, the MSEEs' IPv6 addresses, Established.
    for (site, msees) in [
        ("sf", ["fd00:100::2", "fd00:100::6"]),
        ("london", ["fd00:200::2", "fd00:200::6"]),
    ] {
        let summary = lab.vtysh(site, "show bgp ipv6 unicast summary");
        for msee in msees {
            let row = summary
                .lines()
                .find(|l| l.starts_with(msee))
                .unwrap_or_else(|| panic!("{site}: no {msee} in\n{summary}"));
            let pfx = row.split_whitespace().nth(9).unwrap_or_default();
            assert!(pfx.parse::<u32>().is_ok(), "{site}: {row}");
        }
        assert!(
            !summary.lines().any(|l| l.starts_with("192.168.100.")),
            "{site}: {summary}"
        );
        // And the IPv4 sessions carry no IPv6 route.
        let v4 = lab.vtysh(site, "show bgp ipv4 unicast");
        assert!(!v4.contains("fd00:"), "{site}: {v4}");
    }
    // BFD beside each of the eight sessions.
    assert!(
        within(5, || bfd_up(&lab, "sf") == 4).is_some(),
        "{}",
        lab.vtysh("sf", "show bfd peers brief")
    );

    // London learns SF's IPv6 LAN over Global Reach with the path 12076 (65001 removed).
    let table = lab.vtysh("london", "show bgp ipv6 unicast");
    assert!(has_route(&table, "fd00:1::/64", "12076 i"), "{table}");
    assert!(has_route(&table, "fd00:3::/64", "12076 i"), "{table}");
    // The MSEE's IPv6 table in az's columns: SF's prefix from its CE's IPv6 address.
    // A VNet's gateway table holds both families.
    let gateway = lab.ok(&["routes", "uswest"]);
    assert!(
        gateway.contains("10.0.1.0/24") && gateway.contains("fd00:1::/64"),
        "{gateway}"
    );
    let msee = lab.ok(&["routes", "er-sv", "--family", "ipv6"]);
    assert!(
        msee.lines()
            .any(|l| l.starts_with("fd00:1::/64") && l.contains("fd00:100::1")),
        "{msee}"
    );
    assert!(!msee.contains("10.0.1.0/24"), "{msee}");

    // ping -6 and traceroute -6 SF -> London with the modelled round trip.
    let crossed = within(5, || lab.ping6("sf", "fd00:2::1", 1).0 == 1);
    assert!(crossed.is_some(), "{}", lab.ping6("sf", "fd00:2::1", 1).1);
    let (rx, text) = lab.ping6("sf", "fd00:2::1", 5);
    assert_eq!(rx, 5, "{text}");
    let (avg, expected) = (ping_avg_ms(&text), modelled_rtt_ms(&lab, "er-sv", "london"));
    assert!(
        (avg - expected).abs() < 0.1 * expected + 2.0,
        "ping -6 avg {avg} ms, modelled {expected} ms"
    );
    let out = lab.exec(
        "sf",
        &[
            "traceroute",
            "-6",
            "-n",
            "-w",
            "1",
            "-q",
            "1",
            "-m",
            "6",
            "fd00:2::1",
        ],
    );
    let trace = String::from_utf8_lossy(&out.stdout);
    let last = trace.lines().last().unwrap_or_default();
    assert!(last.contains("fd00:2::1"), "{trace}");
    assert!(trace.contains("fd00:8::"), "over the /125: {trace}");

    // `path --family ipv6` walks the IPv6 tables: over the /125 to London's address.
    let path = lab.ok(&["path", "sf", "london", "--family", "ipv6"]);
    assert!(path.contains("sf -> london (fd00:2::1)"), "{path}");
    assert!(path.contains("over Global Reach"), "{path}");
    assert!(!path.contains("does not arrive"), "{path}");
    // `circuit show` lists the IPv6 peering's /126s.
    let show = lab.ok(&["circuit", "show", "er-sv"]);
    assert!(
        show.contains("fd00:100::/126 (customer fd00:100::1, Microsoft fd00:100::2)"),
        "{show}"
    );

    // `reachlab test`: every pair, both families, as the rules say.
    let matrix = lab.test_passes();
    // Four endpoints, twelve ordered pairs, each in IPv4 and IPv6.
    assert!(matrix.contains("24 probes, 24 as expected"), "{matrix}");

    // The families fail over on their own: SF's IPv6 session on the primary shut down in
    // FRR leaves the primary's IPv4 session Established.
    let neighbor = |cmd: &str| {
        lab.vtysh_conf(
            "sf",
            &[
                "router bgp 65001",
                &format!("{cmd}neighbor fd00:100::2 shutdown"),
            ],
        );
    };
    neighbor("");
    assert!(
        within(5, || state_pfx_rcd_in(&lab, "er-sv", "primary", "ipv6")
            .parse::<u32>()
            .is_err())
        .is_some(),
        "the IPv6 session goes down"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        state_pfx_rcd_in(&lab, "er-sv", "primary", "ipv4")
            .parse::<u32>()
            .is_ok(),
        "the IPv4 session on the same link stays"
    );
    neighbor("no ");
    assert!(
        within(10, || established_in(&lab, &["er-sv"], "ipv6") == 2).is_some(),
        "{}",
        lab.ok(&["routes", "er-sv", "--summary"])
    );
    // A failed link takes both families' sessions down (BFD on both), the other link keeps
    // IPv6 going.
    lab.ok(&["circuit", "fail", "er-sv", "primary"]);
    let down = within(3, || {
        ["ipv4", "ipv6"].iter().all(|f| {
            state_pfx_rcd_in(&lab, "er-sv", "primary", f)
                .parse::<u32>()
                .is_err()
        })
    });
    let summary = lab.ok(&["routes", "er-sv", "--summary"]);
    assert!(down.is_some(), "{summary}");
    assert_eq!(summary.matches("BFD Down").count(), 2, "{summary}");
    assert_eq!(established_in(&lab, &["er-sv"], "ipv6"), 1, "{summary}");
    // Once sf's FRR has dropped the primary's paths too (its own BFD), IPv6 goes over the
    // secondary.
    let rerouted = within(5, || lab.ping6("sf", "fd00:2::1", 1).0 == 1);
    assert!(
        rerouted.is_some(),
        "{}",
        lab.vtysh("sf", "show bgp ipv6 unicast")
    );
    assert_eq!(lab.ping6("sf", "fd00:2::1", 2).0, 2);
    lab.ok(&["circuit", "restore", "er-sv", "primary"]);
    assert!(
        within(15, || established_in(&lab, &["er-sv"], "ipv6") == 2
            && established_in(&lab, &["er-sv"], "ipv4") == 2)
        .is_some(),
        "{}",
        lab.ok(&["routes", "er-sv", "--summary"])
    );

    // Removing Global Reach withdraws SF's prefixes from London's FRR, both families, within
    // 4 s.
    lab.ok(&["global-reach", "remove", "er-sv", "er-london"]);
    let gone = within(4, || {
        !lab.vtysh("london", "show bgp ipv6 unicast")
            .contains("fd00:1::/64")
            && !lab
                .vtysh("london", "show bgp ipv4 unicast")
                .contains("10.0.1.0/24")
    });
    assert!(
        gone.is_some(),
        "{}",
        lab.vtysh("london", "show bgp ipv6 unicast")
    );
    eprintln!("SF's prefixes left London's FRR {gone:?} after global-reach remove");
    assert_eq!(lab.ping6("sf", "fd00:2::1", 1).0, 0);

    // With sf's IPv6 sessions shut down, `reachlab test` expects sf cut off in IPv6 only (a
    // link carries a family while that family's session is up): no mismatch. (It first waits
    // its 30 s for the two sessions that stay down.)
    lab.vtysh_conf(
        "sf",
        &[
            "router bgp 65001",
            "neighbor fd00:100::2 shutdown",
            "neighbor fd00:100::6 shutdown",
        ],
    );
    assert!(
        within(5, || established_in(&lab, &["er-sv"], "ipv6") == 0).is_some(),
        "{}",
        lab.ok(&["routes", "er-sv", "--summary"])
    );
    let matrix = lab.test_passes();
    let sf = matrix
        .lines()
        .find(|l| l.starts_with("sf "))
        .unwrap_or_default();
    assert_eq!(
        sf.split_whitespace().collect::<Vec<_>>(),
        ["sf", "-", "..", "Y.", "Y."],
        "{matrix}"
    );
    // `graph` draws er-sv's links up (they carry IPv4) and names them IPv4 only; London's
    // carry both, unnamed.
    let out = lab.cmd().args(["graph", &lab.name]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = String::from_utf8(out.stdout).unwrap();
    let line = |link: &str| {
        svg.lines()
            .find(|l| l.starts_with("<line") && l.contains(&format!("data-link=\"{link}\"")))
            .unwrap_or_else(|| panic!("{link} in\n{svg}"))
            .to_string()
    };
    for link in ["er-sv/primary", "er-sv/secondary", "er-london/primary"] {
        assert!(line(link).contains("data-up=\"true\""), "{}", line(link));
    }
    assert_eq!(svg.matches("· IPv4 only").count(), 2, "{svg}");
    assert!(!svg.contains("IPv6 only"), "{svg}");
    assert!(lab.down().status.success());
    assert!(lab.namespaces().is_empty());
}

/// A BIRD daemon in a lab namespace, killed (by its PID) when dropped.
struct Bird(Child);

impl Drop for Bird {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_bird_router_over_the_ipv6_prefix_limit_loses_its_ipv6_session_only() {
    if !root_or_skip("a_bird_router_over_the_ipv6_prefix_limit") {
        return;
    }
    if Command::new("bird").arg("--version").output().is_err() {
        panic!("BIRD 2 is needed (Debian package bird2; scripts/install-deps.sh installs it)");
    }
    // An external site (its router is the test's BIRD) on a dual-stack circuit keyed for TCP
    // MD5 (both sessions signed), a VNet on that circuit only, London static and dual-stack
    // across Global Reach.
    let lab = Lab::new_with(
        "bird6",
        r#"
[[circuit]]
name = "er-sv"
peering_location = "Silicon Valley"
bandwidth = "1Gbps"
sku = "Premium"
peering_prefix = "192.168.100.0/29"
peering_prefix_v6 = "fd00:100::/125"
shared_key = "Key123"
[[circuit]]
name = "er-london"
peering_location = "London"
bandwidth = "1Gbps"
sku = "Premium"
[[site]]
name = "edge"
circuit = "er-sv"
prefixes = ["10.0.9.0/24", "fd00:9::/48"]
asn = 65010
router = "external"
[[site]]
name = "london"
circuit = "er-london"
prefixes = ["10.0.2.0/24", "fd00:2::/64"]
[[vnet]]
name = "uswest"
region = "westus"
prefixes = ["10.0.3.0/24", "fd00:3::/64"]
circuits = ["er-sv"]
[[global_reach]]
circuits = ["er-sv", "er-london"]
address_prefix = "192.168.8.0/29"
ipv6_address_prefix = "fd00:8::/125"
"#,
        "latency = \"none\"\nprefix_limit_restart = \"2s\"",
    );
    lab.up_detached();
    let dir = lab.file.with_file_name("bird");
    std::fs::create_dir_all(&dir).unwrap();
    let write_conf = |v6_prefixes: usize, v6_key: &str| {
        let statics: String = (0..v6_prefixes)
            .map(|i| format!("  route fd00:9:{i:x}::/64 unreachable;\n"))
            .collect();
        let conf = format!(
            r#"router id 192.168.100.1;
protocol device {{ }}
protocol kernel {{ ipv4 {{ export filter {{ if source != RTS_BGP then reject; krt_prefsrc = 10.0.9.1; accept; }}; }}; }}
protocol kernel {{ ipv6 {{ export filter {{ if source != RTS_BGP then reject; krt_prefsrc = fd00:9::1; accept; }}; }}; }}
protocol static s4 {{ ipv4; route 10.0.9.0/24 unreachable; }}
protocol static s6 {{
  ipv6;
{statics}}}
protocol bgp msee4 {{
  local 192.168.100.1 as 65010;
  neighbor 192.168.100.2 as 12076;
  connect retry time 1;
  error wait time 1, 2;
  password "Key123";
  ipv4 {{ import all; export where source = RTS_STATIC; }};
}}
protocol bgp msee6 {{
  local fd00:100::1 as 65010;
  neighbor fd00:100::2 as 12076;
  connect retry time 1;
  error wait time 1, 2;
  password "{v6_key}";
  ipv6 {{ import all; export where source = RTS_STATIC; }};
}}
"#
        );
        std::fs::write(dir.join("bird.conf"), conf).unwrap();
    };
    write_conf(100, "Key123");
    let ns = format!("rl-{}-edge", lab.name);
    let ctl = dir.join("bird.ctl");
    let _bird = Bird(
        Command::new("ip")
            .args(["netns", "exec", &ns, "bird", "-f", "-c"])
            .arg(dir.join("bird.conf"))
            .arg("-s")
            .arg(&ctl)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let birdc = |cmd: &str| -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns, "birdc", "-s"])
            .arg(&ctl)
            .arg(cmd)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let pfx = |family| state_pfx_rcd_in(&lab, "er-sv", "primary", family);
    // 100 IPv6 prefixes: at the limit, both sessions up.
    let up = within(15, || pfx("ipv4") == "1" && pfx("ipv6") == "100");
    assert!(
        up.is_some(),
        "{}\n{}",
        lab.ok(&["routes", "er-sv", "--summary"]),
        birdc("show protocols")
    );
    // BIRD learns the VNet and London in IPv6 from its MSEE.
    let learned = birdc("show route table master6");
    assert!(learned.contains("fd00:3::/64"), "{learned}");
    assert!(learned.contains("fd00:2::/64"), "{learned}");
    // `reachlab test` on this lab: every pair, both families; London reaches the VNet on
    // er-sv over one Global Reach hop in IPv6 too.
    lab.test_passes();
    let (rx, text) = lab.ping6("london", "fd00:3::1", 2);
    assert_eq!(rx, 2, "{text}");

    // The 101st: Cease / Maximum Number of Prefixes on the IPv6 session; IPv4 stays.
    write_conf(101, "Key123");
    birdc("configure");
    let why = within(10, || pfx("ipv6").parse::<u32>().is_err());
    let summary = lab.ok(&["routes", "er-sv", "--summary", "--family", "ipv6"]);
    assert!(why.is_some(), "{summary}");
    assert!(summary.contains("101 IPv6 prefixes"), "{summary}");
    assert!(summary.contains("Maximum Number of Prefixes"), "{summary}");
    let protocols = birdc("show protocols all msee6");
    assert!(
        protocols.contains("Maximum number of prefixes"),
        "{protocols}"
    );
    assert_eq!(pfx("ipv4"), "1", "the IPv4 session stays up");
    assert!(birdc("show protocols msee4").contains("Established"));
    // Back to 100: after the restart delay (2 s here) the IPv6 session returns.
    write_conf(100, "Key123");
    birdc("configure");
    assert!(
        within(15, || pfx("ipv6") == "100").is_some(),
        "{}",
        lab.ok(&["routes", "er-sv", "--summary"])
    );
    // The IPv6 session is signed too: BIRD with another key for it gets no IPv6 session,
    // and the summary says why, while IPv4 stays.
    write_conf(100, "Other99");
    birdc("configure");
    let refused = within(10, || {
        lab.ok(&["routes", "er-sv", "--summary", "--family", "ipv6"])
            .contains("TCP MD5 signature mismatch")
    });
    assert!(
        refused.is_some(),
        "{}",
        lab.ok(&["routes", "er-sv", "--summary"])
    );
    assert_eq!(pfx("ipv4"), "1", "the IPv4 session stays up");
}
