//! Offloaded traffic is correct: GSO super-packets cross the lab with valid checksums, the
//! MSS the circuit MTU (1400) implies, and per-segment accounting; IPv4 and IPv6, TCP and UDP
//! (fragmented datagrams included). Needs root (skipped loudly without, failing in CI).

mod common;

use common::{root_or_skip, Lab};

/// Dual-stack SF <-> London over Global Reach, unshaped, no added delay.
const DUAL: &str = include_str!("../topologies/dual-stack-unshaped.toml");

/// A kernel SNMP counter in an endpoint's namespace (`nstat -az NAME`).
fn counter(lab: &Lab, ep: &str, name: &str) -> u64 {
    let out = lab.exec(ep, &["nstat", "-az", "--json", name]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("nstat: {e}: {}", String::from_utf8_lossy(&out.stdout)));
    v["kernel"][name].as_u64().unwrap_or(0)
}

fn tun_tx_packets(lab: &Lab, ep: &str) -> u64 {
    let out = lab.exec(ep, &["ip", "-j", "-s", "link", "show", &format!("rl-{ep}")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0]["stats64"]["tx"]["packets"].as_u64().unwrap()
}

#[test]
fn offloaded_tcp_and_udp_cross_intact() {
    if !root_or_skip("offloaded_tcp_and_udp_cross_intact") {
        return;
    }
    let lab = Lab::new_with("offload", DUAL, "latency = \"none\"");
    lab.up_detached();

    let stats = |lab: &Lab| {
        let out = lab
            .cmd()
            .args(["stats", "er-sv", "--output", "json", "--lab", &lab.name])
            .output()
            .unwrap();
        {
            // Flows are hashed over both links of the circuit.
            let v = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
            v["primarypacketsIn"].as_u64().unwrap() + v["secondarypacketsIn"].as_u64().unwrap()
        }
    };
    let seg_before = stats(&lab);
    let tx_before = tun_tx_packets(&lab, "sf");

    let v4 = lab.iperf3("sf", "london", "10.0.2.1", 5401, 2);
    assert_eq!(
        v4["start"]["tcp_mss_default"], 1348,
        "MSS of the circuit MTU, 1400, over IPv4"
    );
    let v6 = lab.iperf3("sf", "london", "fd00:2::1", 5402, 2);
    assert_eq!(
        v6["start"]["tcp_mss_default"], 1328,
        "MSS of the circuit MTU, 1400, over IPv6"
    );
    for (name, v) in [("IPv4", &v4), ("IPv6", &v6)] {
        let bps = v["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap();
        eprintln!("TCP {name} sf -> london: {:.2} Gbit/s", bps / 1e9);
        assert!(bps > 1e8, "TCP over {name} moves data");
    }

    // Super-packets, not single segments, crossed the TUN: the kernel handed us far fewer
    // packets than the circuit counted segments.
    let tun_packets = tun_tx_packets(&lab, "sf") - tx_before;
    let segments = stats(&lab) - seg_before;
    eprintln!("sf's TUN passed {tun_packets} packets for {segments} segments");
    assert!(segments > 3 * tun_packets, "offload is in effect");

    // UDP, including 8000-byte datagrams that leave sf as IPv4 / IPv6 fragments.
    for (addr, port, len) in [
        ("10.0.2.1", 5403, "1400"),
        ("10.0.2.1", 5404, "8000"),
        ("fd00:2::1", 5405, "8000"),
    ] {
        let u = lab.iperf3_args(
            "sf",
            "london",
            addr,
            port,
            &["-u", "-b", "200M", "-l", len, "-t", "1"],
        );
        let sum = &u["end"]["sum"];
        eprintln!(
            "UDP {addr} {len} B: {} datagrams, {}% lost",
            sum["packets"], sum["lost_percent"]
        );
        assert!(sum["packets"].as_u64().unwrap() > 100);
        assert!(
            sum["lost_percent"].as_f64().unwrap() < 5.0,
            "UDP {len} B over {addr} arrives"
        );
    }

    for name in [
        "TcpInCsumErrors",
        "UdpInCsumErrors",
        "Udp6InCsumErrors",
        "IpInHdrErrors",
        "Ip6InHdrErrors",
    ] {
        assert_eq!(counter(&lab, "london", name), 0, "{name} in london");
        assert_eq!(counter(&lab, "sf", name), 0, "{name} in sf");
    }
    let (rx, out) = lab.ping("sf", "fd00:2::1", 2);
    assert_eq!(rx, 2, "{out}");
    assert!(
        out.contains("ttl=60"),
        "four hops decrement the hop limit:\n{out}"
    );
}

#[test]
fn plain_io_without_offload_still_forwards() {
    if !root_or_skip("plain_io_without_offload_still_forwards") {
        return;
    }
    let lab = Lab::new_with("plain", DUAL, "latency = \"none\"");
    let out = lab.try_up(&["--no-offload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tx_before = tun_tx_packets(&lab, "sf");
    let v = lab.iperf3("sf", "london", "10.0.2.1", 5406, 1);
    let bps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap();
    eprintln!("TCP without offload: {:.2} Gbit/s", bps / 1e9);
    assert!(bps > 1e7);
    let bytes = v["end"]["sum_received"]["bytes"].as_f64().unwrap();
    let tun_packets = (tun_tx_packets(&lab, "sf") - tx_before) as f64;
    assert!(
        tun_packets * 1348.0 >= bytes,
        "one segment per TUN packet without offload"
    );
    assert_eq!(lab.ping("sf", "fd00:2::1", 1).0, 1);
    assert_eq!(counter(&lab, "london", "TcpInCsumErrors"), 0);
}
