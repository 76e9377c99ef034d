//! Engine unit tests: literal packets through the seed topology.

use super::wire::{checksum, tests::ECHO_V4, Ipv4Packet};
use super::*;
use crate::diag::SourceFile;
use crate::topology::{Bandwidth, LatencyModel, Topology};
use capture::TapPoint;
use std::net::Ipv4Addr;
use std::time::Duration;

const SEED: &str = include_str!("../../topologies/global-reach.toml");
const SEED_NO_GR: &str = include_str!("../../topologies/no-global-reach.toml");

/// The topology's forwarding with time switched off (no latency, unshaped): these tests are
/// about where packets go; `timing_*` tests below are about when.
fn engine(text: &str) -> Engine {
    let mut t = topo(text);
    t.lab.latency = LatencyModel::None;
    for c in &mut t.circuit {
        c.bandwidth = Bandwidth::UNLIMITED;
    }
    Engine::new(crate::plane::tables(&t))
}

fn topo(text: &str) -> Topology {
    Topology::from_source(SourceFile::new("t.toml", text), "t").unwrap()
}

fn port(e: &Engine, name: &str) -> PortId {
    e.tables()
        .ports
        .iter()
        .position(|p| p.name == name)
        .unwrap()
}

/// The literal echo request with its TTL and addresses changed (header checksum recomputed).
fn echo(src: [u8; 4], dst: [u8; 4], ttl: u8) -> Vec<u8> {
    let mut b = ECHO_V4.to_vec();
    b[8] = ttl;
    b[12..16].copy_from_slice(&src);
    b[16..20].copy_from_slice(&dst);
    b[10] = 0;
    b[11] = 0;
    let ck = checksum(&b[..20]);
    b[10..12].copy_from_slice(&ck.to_be_bytes());
    b
}

/// Parses a reply as IPv4 + ICMP and returns (src, icmp type, icmp code), checking checksums.
fn icmp_of(out: &[u8]) -> (Ipv4Addr, u8, u8) {
    let p = Ipv4Packet::new_checked(out).expect("valid reply");
    assert_eq!(p.protocol(), 1);
    assert_eq!(checksum(p.payload()), 0, "ICMP checksum");
    (p.src(), p.payload()[0], p.payload()[1])
}

#[test]
fn sf_reaches_london_over_global_reach_with_four_hops() {
    let mut e = engine(SEED);
    let (sf, london) = (port(&e, "sf"), port(&e, "london"));
    let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, 1], 64);
    let mut out = Vec::new();
    let v = e.handle(sf, &mut pkt, &mut out);
    assert_eq!(
        v,
        Verdict::Forward {
            port: london,
            len: 32
        }
    );
    let p = Ipv4Packet::new_checked(&pkt[..]).unwrap();
    assert_eq!(p.ttl(), 60, "ce, msee, peer msee, peer ce");
    assert_eq!(checksum(&pkt[..20]), 0);
    assert_eq!(&pkt[20..], &ECHO_V4[20..], "payload untouched");
}

#[test]
fn each_lane_counts_the_packets_handed_in_through_it() {
    let mut e = engine(SEED);
    assert_eq!(e.lane_packets(), &[0]);
    e.set_lanes(3);
    let sf = port(&e, "sf");
    let mut out = Vec::new();
    for (lane, n) in [(0, 2), (2, 5)] {
        e.use_lane(lane);
        for _ in 0..n {
            let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, 1], 64);
            e.handle(sf, &mut pkt, &mut out);
        }
    }
    assert_eq!(e.lane_packets(), &[2, 0, 5]);
    // Fewer lanes: the counts of the lanes kept stay.
    e.set_lanes(2);
    assert_eq!(e.lane_packets(), &[2, 0]);
}

#[test]
fn traceroute_hops_answer_from_their_addresses() {
    let mut e = engine(SEED);
    let sf = port(&e, "sf");
    let expect = [
        (1, Ipv4Addr::new(10, 0, 1, 254)),    // sf's CE
        (2, Ipv4Addr::new(192, 168, 100, 2)), // er-sv MSEE (default peering prefix)
        (3, Ipv4Addr::new(192, 168, 8, 2)),   // er-london MSEE on the GR /29
        (4, Ipv4Addr::new(10, 0, 2, 254)),    // london's CE
    ];
    for (ttl, from) in expect {
        let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, 1], ttl);
        let mut out = Vec::new();
        assert_eq!(
            e.handle(sf, &mut pkt, &mut out),
            Verdict::Reply { port: sf }
        );
        let (src, ty, code) = icmp_of(&out);
        assert_eq!((src, ty, code), (from, 11, 0), "ttl {ttl}");
        let quoted = Ipv4Packet::new_checked(&out[28..]).unwrap();
        assert_eq!(quoted.dst(), Ipv4Addr::new(10, 0, 2, 1));
    }
    assert_eq!(e.port_stats()[sf].drops[DropReason::TtlExpired.index()], 4);
}

#[test]
fn without_global_reach_london_is_net_unreachable_from_the_msee() {
    let mut e = engine(SEED_NO_GR);
    let sf = port(&e, "sf");
    let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, 1], 64);
    let mut out = Vec::new();
    assert_eq!(
        e.handle(sf, &mut pkt, &mut out),
        Verdict::Reply { port: sf }
    );
    assert_eq!(icmp_of(&out), (Ipv4Addr::new(192, 168, 100, 2), 3, 0));
    assert_eq!(e.circuit_stats()[0].drops[DropReason::NoRoute.index()], 1);
}

#[test]
fn both_branches_reach_both_vnets_without_global_reach() {
    let mut e = engine(SEED_NO_GR);
    for site in ["sf", "london"] {
        let s = port(&e, site);
        let src = if site == "sf" {
            [10, 0, 1, 1]
        } else {
            [10, 0, 2, 1]
        };
        for (vnet, dst) in [("uswest", [10, 0, 3, 1]), ("uksouth", [10, 0, 4, 1])] {
            let mut pkt = echo(src, dst, 64);
            let v = e.handle(s, &mut pkt, &mut Vec::new());
            assert_eq!(
                v,
                Verdict::Forward {
                    port: port(&e, vnet),
                    len: 32
                },
                "{site}->{vnet}"
            );
            // And back: the VNet's gateway knows the site.
            let mut back = echo(dst, src, 64);
            let v = e.handle(port(&e, vnet), &mut back, &mut Vec::new());
            assert_eq!(v, Verdict::Forward { port: s, len: 32 }, "{vnet}->{site}");
        }
    }
    // Two VNets on the same circuit reach each other through the MSEE.
    let mut pkt = echo([10, 0, 3, 1], [10, 0, 4, 1], 64);
    let v = e.handle(port(&e, "uswest"), &mut pkt, &mut Vec::new());
    assert_eq!(
        v,
        Verdict::Forward {
            port: port(&e, "uksouth"),
            len: 32
        }
    );
}

#[test]
fn vnet_does_not_transit_between_circuits() {
    // A VNet linked to both circuits must not carry sf -> london: its gateway has no route
    // for traffic arriving from a circuit, and the MSEE routes london only via GR.
    let mut e = engine(SEED_NO_GR);
    let mut pkt = echo([10, 0, 3, 1], [10, 0, 2, 1], 64);
    let v = e.handle(port(&e, "uswest"), &mut pkt, &mut Vec::new());
    assert_eq!(
        v,
        Verdict::Forward {
            port: port(&e, "london"),
            len: 32
        },
        "vnet reaches london"
    );
    let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, 1], 64);
    assert!(matches!(
        e.handle(port(&e, "sf"), &mut pkt, &mut Vec::new()),
        Verdict::Reply { .. }
    ));
}

const CHAIN: &str = r#"
[[circuit]]
name = "a"
peering_location = "Tokyo"
bandwidth = "1Gbps"
[[circuit]]
name = "b"
peering_location = "Osaka"
bandwidth = "1Gbps"
[[circuit]]
name = "c"
peering_location = "Tokyo"
bandwidth = "1Gbps"
[[site]]
name = "sa"
circuit = "a"
prefixes = ["10.1.0.0/24", "fd00:1::/64"]
[[site]]
name = "sb"
circuit = "b"
prefixes = ["10.2.0.0/24", "fd00:2::/64"]
[[site]]
name = "sc"
circuit = "c"
prefixes = ["10.3.0.0/24", "fd00:3::/64"]
[[global_reach]]
circuits = ["a", "b"]
address_prefix = "192.168.8.0/29"
ipv6_address_prefix = "fd00:ffff::/125"
[[global_reach]]
circuits = ["b", "c"]
address_prefix = "192.168.8.8/29"
"#;

#[test]
fn global_reach_is_not_transitive() {
    let mut e = engine(CHAIN);
    let (sa, sb, sc) = (port(&e, "sa"), port(&e, "sb"), port(&e, "sc"));
    let mut out = Vec::new();
    let mut pkt = echo([10, 1, 0, 1], [10, 2, 0, 1], 64);
    assert_eq!(
        e.handle(sa, &mut pkt, &mut out),
        Verdict::Forward { port: sb, len: 32 }
    );
    let mut pkt = echo([10, 2, 0, 1], [10, 3, 0, 1], 64);
    assert_eq!(
        e.handle(sb, &mut pkt, &mut out),
        Verdict::Forward { port: sc, len: 32 }
    );
    let mut pkt = echo([10, 1, 0, 1], [10, 3, 0, 1], 64);
    assert_eq!(
        e.handle(sa, &mut pkt, &mut out),
        Verdict::Reply { port: sa }
    );
    assert_eq!(icmp_of(&out).1, 3, "destination unreachable");
    let mut pkt = echo([10, 3, 0, 1], [10, 1, 0, 1], 64);
    assert_eq!(
        e.handle(sc, &mut pkt, &mut out),
        Verdict::Reply { port: sc }
    );
}

/// ICMPv6 echo request with a given hop limit between two addresses (checksum left zero: the
/// engine never reads it).
fn echo6(src: &str, dst: &str, hop: u8) -> Vec<u8> {
    let mut b = super::wire::tests::ECHO_V6.to_vec();
    b[7] = hop;
    b[8..24].copy_from_slice(&src.parse::<std::net::Ipv6Addr>().unwrap().octets());
    b[24..40].copy_from_slice(&dst.parse::<std::net::Ipv6Addr>().unwrap().octets());
    b
}

#[test]
fn ipv6_crosses_global_reach_only_with_a_125() {
    let mut e = engine(CHAIN);
    let (sa, sb, sc) = (port(&e, "sa"), port(&e, "sb"), port(&e, "sc"));
    let mut out = Vec::new();
    let mut pkt = echo6("fd00:1::1", "fd00:2::1", 64);
    assert_eq!(
        e.handle(sa, &mut pkt, &mut out),
        Verdict::Forward { port: sb, len: 48 }
    );
    assert_eq!(pkt[7], 60);
    // b-c has no IPv6 /125: no IPv6 routes exchanged, ICMPv6 no-route from b's MSEE.
    let mut pkt = echo6("fd00:2::1", "fd00:3::1", 64);
    assert_eq!(
        e.handle(sb, &mut pkt, &mut out),
        Verdict::Reply { port: sb }
    );
    assert_eq!(out[40], 1, "ICMPv6 destination unreachable");
    assert_eq!(&out[8..24], &e.tables().circuits[1].msee_v6.octets());
    let _ = sc;
    // Hop limit 3 expires at the peer MSEE, which answers from its /125 address.
    let mut pkt = echo6("fd00:1::1", "fd00:2::1", 3);
    assert_eq!(
        e.handle(sa, &mut pkt, &mut out),
        Verdict::Reply { port: sa }
    );
    assert_eq!(out[40], 3, "ICMPv6 time exceeded");
    assert_eq!(
        &out[8..24],
        &"fd00:ffff::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()
    );
}

#[test]
fn routers_answer_pings_to_their_own_addresses() {
    let mut e = engine(SEED);
    let sf = port(&e, "sf");
    for dst in [[10, 0, 1, 254], [192, 168, 100, 2], [192, 168, 8, 1]] {
        let mut pkt = echo([10, 0, 1, 1], dst, 64);
        let mut out = Vec::new();
        assert_eq!(
            e.handle(sf, &mut pkt, &mut out),
            Verdict::Reply { port: sf },
            "{dst:?}"
        );
        let (src, ty, _) = icmp_of(&out);
        assert_eq!((src, ty), (Ipv4Addr::from(dst), 0), "echo reply");
        assert_eq!(&out[24..28], &ECHO_V4[24..28], "id and seq echoed");
    }
}

#[test]
fn bad_input_is_dropped_and_counted_by_reason() {
    let mut e = engine(SEED);
    let sf = port(&e, "sf");
    let mut out = Vec::new();
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        (vec![], DropReason::NotIp),
        (vec![0x20; 40], DropReason::NotIp),
        (ECHO_V4[..10].to_vec(), DropReason::Malformed),
        (echo([10, 0, 9, 1], [10, 0, 2, 1], 64), DropReason::Spoofed),
        (
            echo([10, 0, 1, 1], [224, 0, 0, 22], 1),
            DropReason::NotRoutable,
        ),
        (echo([10, 0, 1, 1], [10, 0, 1, 7], 64), DropReason::NoRoute),
    ];
    for (mut pkt, reason) in cases {
        let v = e.handle(sf, &mut pkt, &mut out);
        assert!(
            v == Verdict::Drop(reason)
                || (reason == DropReason::NoRoute && matches!(v, Verdict::Reply { .. })),
            "{reason:?}: {v:?}"
        );
        assert!(
            e.port_stats()[sf].drops[reason.index()] >= 1,
            "{reason:?} counted"
        );
    }
    // An ICMP error never triggers another one.
    let mut pkt = echo([10, 0, 1, 1], [10, 0, 9, 9], 64);
    pkt[20] = 11; // ICMP type: time exceeded
    assert_eq!(
        e.handle(sf, &mut pkt, &mut out),
        Verdict::Drop(DropReason::NoRoute)
    );
}

#[test]
fn gso_super_packets_are_forwarded_once_and_counted_per_segment() {
    let mut e = engine(SEED);
    let (sf, london) = (port(&e, "sf"), port(&e, "london"));
    // A TCP super-packet: 20 B IPv4 + 32 B TCP + 4044 B payload = 3 segments of 1348 (1400
    // bytes each on the wire: the circuit MTU).
    let total = 20 + 32 + 4044;
    let mut pkt = vec![0u8; total];
    pkt[..20].copy_from_slice(&echo([10, 0, 1, 1], [10, 0, 2, 1], 64)[..20]);
    pkt[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    pkt[9] = 6; // TCP
    pkt[10] = 0;
    pkt[11] = 0;
    let ck = checksum(&pkt[..20]);
    pkt[10..12].copy_from_slice(&ck.to_be_bytes());
    pkt[20 + 12] = 8 << 4; // data offset: 32 bytes
    let v = e.handle_segmented(sf, &mut pkt, 1348, &mut Vec::new());
    assert_eq!(
        v,
        Verdict::Forward {
            port: london,
            len: total
        }
    );
    assert_eq!(pkt[8], 60, "TTL rewritten once on the super-packet header");
    assert_eq!(checksum(&pkt[..20]), 0);
    let c = &e.circuit_stats()[0];
    assert_eq!(c.input[0].packets + c.input[1].packets, 3);
    assert_eq!(
        c.input[0].bytes + c.input[1].bytes,
        (total + 2 * 52) as u64,
        "each segment carries its own headers"
    );
    assert_eq!(e.port_stats()[london].tx.packets, 3);
}

#[test]
fn wire_size_of_odd_input_is_one_packet() {
    assert_eq!(Wire::segments(&[], 0, 1448), Wire::single(0));
    assert_eq!(
        Wire::segments(&ECHO_V4, 32, 1448),
        Wire::single(32),
        "ICMP is never segmented"
    );
    assert_eq!(Wire::segments(&ECHO_V4, 32, 0), Wire::single(32));
}

/// Drains everything due by `now` from the engine.
fn due(e: &mut Engine, now: Duration) -> Vec<(PortId, Vec<u8>)> {
    std::iter::from_fn(|| e.poll_transmit(now)).collect()
}

#[test]
fn timing_sf_to_london_takes_the_modelled_one_way_delay() {
    // Seed: access 1 ms each side, backbone West US - UK South 137 ms RTT, 1 Gbit/s circuits.
    let mut e = Engine::new(crate::plane::tables(&topo(SEED)));
    let (sf, london) = (port(&e, "sf"), port(&e, "london"));
    let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, 1], 64);
    assert_eq!(
        e.handle_at(Duration::ZERO, sf, &mut pkt, 0, &mut Vec::new()),
        Verdict::Queued
    );
    // 32 bytes at 1 Gbit/s: 256 ns on each circuit's shaper.
    let oneway = Duration::from_micros(1000 + 68_500 + 1000) + Duration::from_nanos(2 * 256);
    assert_eq!(
        e.poll_timeout(),
        Some(Duration::ZERO),
        "the first stage is due now"
    );
    assert!(
        due(&mut e, oneway - Duration::from_nanos(1)).is_empty(),
        "not a nanosecond early"
    );
    assert_eq!(e.poll_timeout(), Some(oneway));
    let out = due(&mut e, oneway);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, london);
    assert_eq!(out[0].1[8], 60, "rewritten before it left");
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn timing_traceroute_replies_take_the_round_trip_to_each_hop() {
    let mut e = Engine::new(crate::plane::tables(&topo(SEED)));
    let sf = port(&e, "sf");
    let ms = Duration::from_millis;
    let us = Duration::from_micros;
    // ttl 1: the CE answers at once; 2: the MSEE, 1 ms access away; 3: the far MSEE.
    for (ttl, rtt) in [(1, Duration::ZERO), (2, ms(2)), (3, ms(2) + us(137_000))] {
        let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, 1], ttl);
        let mut out = Vec::new();
        let v = e.handle_at(ms(1000), sf, &mut pkt, 0, &mut out);
        if rtt.is_zero() {
            assert_eq!(v, Verdict::Reply { port: sf });
            continue;
        }
        assert_eq!(v, Verdict::Queued, "ttl {ttl}");
        assert!(due(&mut e, ms(1000)).is_empty());
        assert_eq!(e.poll_timeout(), Some(ms(1000) + rtt), "ttl {ttl}");
        let got = due(&mut e, ms(1000) + rtt);
        assert_eq!(got.len(), 1);
        assert_eq!(icmp_of(&got[0].1).1, 11, "time exceeded");
    }
}

#[test]
fn timing_shaper_paces_a_burst_at_the_circuit_rate_and_drops_beyond_the_queue() {
    let text = SEED.replace(
        "bandwidth = \"1Gbps\"",
        "bandwidth = \"100Mbps\"\nqueue = \"1ms\"",
    );
    let mut t = topo(&text);
    t.lab.latency = LatencyModel::None;
    let mut e = Engine::new(crate::plane::tables(&t));
    let (sf, london) = (port(&e, "sf"), port(&e, "london"));
    // 20 packets of 1250 bytes at once: 100 us each at 100 Mbit/s. The queue holds 1 ms.
    let mut sent = 0;
    for _ in 0..20 {
        let mut pkt = vec![0u8; 1250];
        pkt[..20].copy_from_slice(&echo([10, 0, 1, 1], [10, 0, 2, 1], 64)[..20]);
        pkt[2..4].copy_from_slice(&1250u16.to_be_bytes());
        pkt[10] = 0;
        pkt[11] = 0;
        let ck = checksum(&pkt[..20]);
        pkt[10..12].copy_from_slice(&ck.to_be_bytes());
        if e.handle_at(Duration::ZERO, sf, &mut pkt, 0, &mut Vec::new()) == Verdict::Queued {
            sent += 1;
        }
    }
    assert_eq!(
        sent, 20,
        "all queued at ingress; the shaper decides in event order"
    );
    let mut times = Vec::new();
    let mut now = Duration::ZERO;
    while let Some(at) = e.poll_timeout() {
        now = now.max(at);
        for (p, _) in due(&mut e, now) {
            assert_eq!(p, london);
            times.push(now);
        }
    }
    // Up to 1 ms of queue at 100 us per packet: the first leaves at 100 us, then one every
    // 100 us; those that would wait more than 1 ms are dropped.
    assert_eq!(times.len(), 11, "{times:?}");
    for (i, t) in times.iter().enumerate() {
        // Each crosses er-sv's shaper then er-london's (which adds its own 100 us).
        assert_eq!(
            *t,
            Duration::from_micros(100 * (i as u64 + 1) + 100),
            "packet {i}"
        );
    }
    assert_eq!(e.circuit_stats()[0].drops[DropReason::QueueFull.index()], 9);
    // Per link and direction: all at er-sv's shaper towards Microsoft (up), none down.
    let sum = |dir: usize| -> u64 { (0..2).map(|p| e.link_drops(0, p, dir)[0]).sum() };
    assert_eq!((sum(0), sum(1)), (9, 0));
}

/// A VNet (MTU 1500) sending `len`-byte IPv4 UDP to sf, with or without DF.
fn udp_from_vnet(len: usize, df: bool) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[..20].copy_from_slice(&echo([10, 0, 3, 1], [10, 0, 1, 1], 64)[..20]);
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[6] = if df { 0x40 } else { 0 };
    p[9] = 17;
    p[10] = 0;
    p[11] = 0;
    let ck = checksum(&p[..20]);
    p[10..12].copy_from_slice(&ck.to_be_bytes());
    p
}

#[test]
fn over_the_circuit_mtu_with_df_gets_fragmentation_needed_from_the_gateway() {
    let mut e = engine(SEED);
    let uswest = port(&e, "uswest");
    let mut pkt = udp_from_vnet(1500, true);
    let mut out = Vec::new();
    assert_eq!(
        e.handle(uswest, &mut pkt, &mut out),
        Verdict::Reply { port: uswest }
    );
    let (src, ty, code) = icmp_of(&out);
    assert_eq!((src, ty, code), (Ipv4Addr::new(10, 0, 3, 254), 3, 4));
    assert_eq!(u16::from_be_bytes([out[26], out[27]]), 1400, "next-hop MTU");
    assert_eq!(
        e.port_stats()[uswest].drops[DropReason::MtuExceeded.index()],
        1
    );
}

#[test]
fn over_the_circuit_mtu_without_df_is_fragmented() {
    let mut e = engine(SEED);
    let (uswest, sf) = (port(&e, "uswest"), port(&e, "sf"));
    let mut pkt = udp_from_vnet(1500, false);
    let payload = pkt[20..].to_vec();
    assert_eq!(e.handle(uswest, &mut pkt, &mut Vec::new()), Verdict::Queued);
    let frags = due(&mut e, Duration::ZERO);
    assert_eq!(frags.len(), 2);
    let mut got = Vec::new();
    for (p, f) in &frags {
        assert_eq!(*p, sf);
        assert!(f.len() <= 1400);
        let ip = Ipv4Packet::new_checked(&f[..]).unwrap();
        assert_eq!(ip.ttl(), 61, "each fragment crossed gw, msee, ce");
        got.extend_from_slice(ip.payload());
    }
    assert_eq!(got, payload);
}

#[test]
fn over_the_circuit_mtu_ipv6_gets_packet_too_big() {
    let mut e = engine(CHAIN);
    let sa = port(&e, "sa");
    let mut pkt = echo6("fd00:1::1", "fd00:2::1", 64);
    pkt.resize(1500, 0);
    pkt[4..6].copy_from_slice(&(1460u16).to_be_bytes());
    let mut out = Vec::new();
    assert_eq!(
        e.handle(sa, &mut pkt, &mut out),
        Verdict::Reply { port: sa }
    );
    assert_eq!(out[40], 2, "ICMPv6 Packet Too Big");
    assert_eq!(
        u32::from_be_bytes([out[44], out[45], out[46], out[47]]),
        1400
    );
}

#[test]
fn flows_spread_over_both_links_and_move_when_one_fails() {
    let mut e = engine(SEED);
    let (sf, london) = (port(&e, "sf"), port(&e, "london"));
    // Many flows (different destination hosts in London's /24) use both links.
    let send = |e: &mut Engine, host: u8| {
        let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, host], 64);
        e.handle(sf, &mut pkt, &mut Vec::new())
    };
    for h in 1..=64 {
        assert_eq!(
            send(&mut e, h),
            Verdict::Forward {
                port: london,
                len: 32
            }
        );
    }
    let c = e.circuit_stats()[0].clone();
    assert!(
        c.input[0].packets > 10 && c.input[1].packets > 10,
        "{:?}",
        c.input
    );
    // Primary fails: everything takes the secondary.
    e.set_link(0, 0, false);
    for h in 1..=64 {
        assert_eq!(
            send(&mut e, h),
            Verdict::Forward {
                port: london,
                len: 32
            }
        );
    }
    assert_eq!(
        e.circuit_stats()[0].input[0].packets,
        c.input[0].packets,
        "nothing on the failed link"
    );
    // Both down: the CE has nowhere to send it.
    e.set_link(0, 1, false);
    let mut out = Vec::new();
    let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, 1], 64);
    assert_eq!(
        e.handle(sf, &mut pkt, &mut out),
        Verdict::Reply { port: sf }
    );
    assert_eq!(icmp_of(&out), (Ipv4Addr::new(10, 0, 1, 254), 3, 0));
}

#[test]
fn timing_jitter_spreads_delays_without_reordering_unless_asked() {
    for reorder in [false, true] {
        let text = SEED.replace(
            "bandwidth = \"1Gbps\"",
            &format!("bandwidth = \"unlimited\"\njitter = \"5ms\"\nreorder = {reorder}"),
        );
        let mut e = Engine::new(crate::plane::tables(&topo(&text)));
        let sf = port(&e, "sf");
        for i in 0..200u16 {
            let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, 1], 64);
            pkt[4..6].copy_from_slice(&i.to_be_bytes()); // IP id: the order sent
            let ck = {
                pkt[10] = 0;
                pkt[11] = 0;
                checksum(&pkt[..20])
            };
            pkt[10..12].copy_from_slice(&ck.to_be_bytes());
            let now = Duration::from_micros(100 * u64::from(i));
            assert_eq!(
                e.handle_at(now, sf, &mut pkt, 0, &mut Vec::new()),
                Verdict::Queued
            );
        }
        let mut order = Vec::new();
        let mut times = Vec::new();
        while let Some(at) = e.poll_timeout() {
            for (_, f) in due(&mut e, at) {
                order.push(u16::from_be_bytes([f[4], f[5]]));
                times.push(at);
            }
        }
        assert_eq!(order.len(), 200);
        let base = Duration::from_micros(1000 + 68_500 + 1000);
        let spread: Vec<Duration> = times
            .iter()
            .zip(order.iter())
            .map(|(t, i)| *t - Duration::from_micros(100 * u64::from(*i)) - base)
            .collect();
        assert!(
            spread.iter().all(|d| *d <= Duration::from_millis(10)),
            "at most 2 x 5 ms"
        );
        assert!(
            spread.iter().any(|d| *d > Duration::from_millis(2)),
            "jitter is there"
        );
        let in_order = order.windows(2).all(|w| w[0] < w[1]);
        assert_eq!(in_order, !reorder, "reorder = {reorder}");
    }
}

#[test]
fn timing_loss_drops_about_its_rate_and_counts_it() {
    let text = SEED.replace(
        "bandwidth = \"1Gbps\"",
        "bandwidth = \"unlimited\"\nloss = \"10%\"",
    );
    let mut t = topo(&text);
    t.lab.latency = LatencyModel::None;
    let mut e = Engine::new(crate::plane::tables(&t));
    let sf = port(&e, "sf");
    for _ in 0..2000 {
        let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, 1], 64);
        e.handle_at(Duration::ZERO, sf, &mut pkt, 0, &mut Vec::new());
    }
    let delivered = due(&mut e, Duration::ZERO).len();
    // Two circuits, 10% each: 81% arrive.
    assert!((1540..1700).contains(&delivered), "{delivered} of 2000");
    let lost: u64 = e
        .circuit_stats()
        .iter()
        .map(|c| c.drops[DropReason::Lost.index()])
        .sum();
    assert_eq!(lost as usize, 2000 - delivered);
    // The same losses, per circuit, link and direction: up on er-sv, down on er-london.
    let on = |c: usize, dir: usize| -> u64 { (0..2).map(|p| e.link_drops(c, p, dir)[1]).sum() };
    assert_eq!(on(0, 0) + on(1, 1), lost);
    assert!(on(0, 0) > 0 && on(1, 1) > 0 && on(0, 1) + on(1, 0) == 0);
}

#[test]
fn captures_copy_each_point_at_its_time_with_its_ttl() {
    // Timed seed: the copies are taken as the packet passes each point.
    let mut e = Engine::new(crate::plane::tables(&topo(SEED)));
    let (sf, london) = (port(&e, "sf"), port(&e, "london"));
    let circuit = |e: &Engine, n: &str| e.tables().circuits.iter().position(|c| c.name == n);
    let (sv, ldn) = (
        circuit(&e, "er-sv").unwrap(),
        circuit(&e, "er-london").unwrap(),
    );
    let taps = [
        e.capture_start(TapPoint::Port(sf)),
        e.capture_start(TapPoint::Link {
            circuit: sv,
            path: 0,
        }),
        e.capture_start(TapPoint::Link {
            circuit: sv,
            path: 1,
        }),
        e.capture_start(TapPoint::global_reach(ldn, sv)),
        e.capture_start(TapPoint::Link {
            circuit: ldn,
            path: 0,
        }),
        e.capture_start(TapPoint::Link {
            circuit: ldn,
            path: 1,
        }),
        e.capture_start(TapPoint::Port(london)),
    ];
    let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, 1], 64);
    let sent = pkt.clone();
    e.handle_at(Duration::ZERO, sf, &mut pkt, 0, &mut Vec::new());
    let out = due(&mut e, Duration::from_secs(1));
    assert_eq!(out.len(), 1);
    let mut seen = Vec::new();
    for id in taps {
        let (got, dropped) = e.capture_take(id).unwrap();
        assert_eq!(dropped, 0);
        seen.extend(got.into_iter().map(|c| (c.at, c.data)));
    }
    // One copy per point on the way (one link of each circuit, by flow hash).
    assert_eq!(seen.len(), 5, "{seen:?}");
    let ttls: Vec<u8> = seen.iter().map(|(_, d)| d[8]).collect();
    assert_eq!(ttls, [64, 63, 62, 61, 60], "the TTL on each segment");
    assert_eq!(seen[0].1, sent, "what sf sent, as sent");
    for (_, d) in &seen {
        assert_eq!(checksum(&d[..20]), 0, "valid header checksum in the copy");
    }
    let at: Vec<Duration> = seen.iter().map(|(t, _)| *t).collect();
    let shaped = Duration::from_nanos(256);
    assert_eq!(at[0], Duration::ZERO);
    assert_eq!(at[1], shaped, "onto er-sv's link as it leaves the shaper");
    assert_eq!(
        at[2],
        Duration::from_millis(1) + shaped,
        "into the backbone at the MSEE"
    );
    assert_eq!(
        at[3],
        Duration::from_micros(1000 + 68_500) + 2 * shaped,
        "onto er-london's link"
    );
    assert_eq!(at[4], Duration::from_micros(2000 + 68_500) + 2 * shaped);

    // Stopped: nothing more is copied, and plans no longer carry taps.
    for id in 1..=7 {
        e.capture_stop(id);
    }
    let mut pkt = echo([10, 0, 1, 1], [10, 0, 2, 1], 64);
    e.handle_at(Duration::from_secs(2), sf, &mut pkt, 0, &mut Vec::new());
    assert_eq!(due(&mut e, Duration::from_secs(3)).len(), 1);
    assert!(e.capture_take(1).is_none());
}

/// The seed with sf behind a real router: sf's LAN port, two link ports holding the CE ends
/// of er-sv's links, and the MSEEs' port; (engine, [link0, link1], msee port).
fn router_sf() -> (Engine, [PortId; 2], PortId) {
    let mut t = topo(SEED);
    t.lab.latency = LatencyModel::None;
    for c in &mut t.circuit {
        c.bandwidth = Bandwidth::UNLIMITED;
    }
    let mut tables = crate::plane::tables(&t);
    let n = tables.ports.len();
    let (links, msee) = ([n, n + 1], n + 2);
    let mut lan = tables.ports[0].clone();
    lan.kind = table::PortKind::Site {
        circuit: 0,
        ce: None,
        router: true,
    };
    tables.circuits[0].router_links = Some(links);
    for (path, ce) in [(0, "192.168.100.0/30"), (1, "192.168.100.4/30")] {
        let mut p = lan.clone();
        p.name = format!("sf-link{path}");
        p.prefixes.insert(ce.parse().unwrap(), ());
        p.kind = table::PortKind::Link {
            site: 0,
            circuit: 0,
            path,
        };
        tables.ports.push(p);
    }
    let mut m = lan.clone();
    m.name = "msee".into();
    m.prefixes = table::Lpm::new();
    m.prefixes.insert("192.168.100.0/24".parse().unwrap(), ());
    m.kind = table::PortKind::Msee;
    tables.ports.push(m);
    tables.ports[0] = lan;
    tables.msee_port = Some(msee);
    for row in &mut tables.vnet_delay {
        row.resize(tables.ports.len(), Duration::ZERO);
    }
    (Engine::new(tables), links, msee)
}

#[test]
fn a_site_router_sends_onto_its_links_and_talks_to_the_msee_directly() {
    let (mut e, links, msee) = router_sf();
    let uswest = port(&e, "uswest");
    let mut out = Vec::new();
    // From the router onto the primary link, to a VNet: the MSEE and the gateway hop.
    let mut pkt = echo([10, 0, 1, 1], [10, 0, 3, 1], 63);
    assert_eq!(
        e.handle(links[0], &mut pkt, &mut out),
        Verdict::Forward {
            port: uswest,
            len: 32
        }
    );
    assert_eq!(pkt[8], 61);
    assert_eq!(e.circuit_stats()[0].input[0].packets, 1);
    // To the MSEE's own address on that link (BGP): to the MSEEs' namespace, untouched.
    let mut pkt = echo([192, 168, 100, 1], [192, 168, 100, 2], 1);
    assert_eq!(
        e.handle(links[0], &mut pkt, &mut out),
        Verdict::Forward {
            port: msee,
            len: 32
        }
    );
    assert_eq!(pkt[8], 1);
    // And back, each link's MSEE to its CE.
    for (path, ce) in [(0, [192, 168, 100, 1]), (1, [192, 168, 100, 5])] {
        let msee_addr = [192, 168, 100, 2 + 4 * path as u8];
        let mut pkt = echo(msee_addr, ce, 1);
        assert_eq!(
            e.handle(msee, &mut pkt, &mut out),
            Verdict::Forward {
                port: links[path],
                len: 32
            }
        );
    }
    assert_eq!(e.circuit_stats()[0].output[1].packets, 1);
    // Towards the site: onto one of its links (the router's hop is its own).
    let mut pkt = echo([10, 0, 3, 1], [10, 0, 1, 1], 64);
    let v = e.handle(uswest, &mut pkt, &mut out);
    assert!(
        matches!(v, Verdict::Forward { port, .. } if links.contains(&port)),
        "{v:?}"
    );
    assert_eq!(pkt[8], 62, "gateway and MSEE hops");
    // A failed link carries nothing either way; the LAN port forwards nothing.
    e.set_link(0, 0, false);
    let mut pkt = echo([192, 168, 100, 1], [192, 168, 100, 2], 64);
    assert!(matches!(
        e.handle(links[0], &mut pkt, &mut out),
        Verdict::Drop(_)
    ));
    let mut pkt = echo([192, 168, 100, 2], [192, 168, 100, 1], 64);
    assert!(matches!(
        e.handle(msee, &mut pkt, &mut out),
        Verdict::Drop(_)
    ));
    let mut pkt = echo([10, 0, 1, 1], [10, 0, 3, 1], 64);
    assert!(matches!(e.handle(0, &mut pkt, &mut out), Verdict::Drop(_)));
    // A source the router's site was not given is refused at the link.
    let mut pkt = echo([10, 0, 2, 1], [10, 0, 3, 1], 64);
    assert_eq!(
        e.handle(links[1], &mut pkt, &mut out),
        Verdict::Drop(DropReason::Spoofed)
    );
}

/// The FRR seed with San Francisco's router behind Ethernet ports on VLAN 100, its primary
/// link an Ethernet port: (engine, that port, the MSEEs' port).
fn ether_engine(prefix: usize) -> (Engine, PortId, PortId) {
    let text = include_str!("../../topologies/global-reach-frr.toml")
        .replacen(
            "provider = \"Equinix\"\n",
            "provider = \"Equinix\"\nvlan_id = 100\n",
            1,
        )
        .replacen(
            "router = \"frr\"",
            "router = \"external\"\nports = { primary = \"er-sv-p\" }",
            1,
        );
    let mut t = topo(&text);
    t.lab.latency = LatencyModel::None;
    for c in &mut t.circuit {
        c.bandwidth = Bandwidth::UNLIMITED;
    }
    let tables = crate::plane::tables(&t);
    let link = tables
        .ports
        .iter()
        .position(|p| {
            matches!(
                p.kind,
                table::PortKind::Link {
                    site: 0,
                    circuit: 0,
                    path: 0
                }
            )
        })
        .unwrap();
    let msee = tables.msee_port.unwrap();
    let mut e = Engine::new(tables).with_frame_prefix(prefix);
    e.set_ether(
        link,
        EtherPort::new(
            MSEE_MAC,
            Some(100),
            vec![Ipv4Addr::new(192, 168, 100, 2)],
            Ipv4Addr::new(192, 168, 100, 1),
        ),
    );
    (e, link, msee)
}

const MSEE_MAC: ether::Mac = [0x02, 0x12, 0, 0, 0, 1];
const CE_MAC: ether::Mac = [0x02, 0xce, 0, 0, 0, 1];

/// A frame from the CE to the MSEE's MAC on VLAN `vlan`, carrying `ether_type` and `body`.
fn ce_frame(vlan: u16, ether_type: [u8; 2], body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MSEE_MAC);
    f.extend_from_slice(&CE_MAC);
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&vlan.to_be_bytes());
    f.extend_from_slice(&ether_type);
    f.extend_from_slice(body);
    f
}

#[test]
fn an_ethernet_port_unframes_to_the_msee_frames_back_and_counts_other_vlans() {
    let (mut e, link, msee) = ether_engine(0);
    let tap = e.capture_start(TapPoint::Frames(link));
    let mut out = Vec::new();
    // The CE pings the MSEE on VLAN 100: the IP packet starts after the tag and goes to the
    // MSEEs' namespace, as from a TUN link.
    let ip = echo([192, 168, 100, 1], [192, 168, 100, 2], 64);
    let mut f = ce_frame(100, [0x08, 0x00], &ip);
    let FrameIn::Ip { start } = e.frame_in(Duration::ZERO, link, &mut f, &mut out) else {
        panic!("not taken");
    };
    assert_eq!(start, 18);
    let v = e.handle_at(Duration::ZERO, link, &mut f[start..], 0, &mut out);
    assert_eq!(
        v,
        Verdict::Forward {
            port: msee,
            len: ip.len()
        }
    );
    // Back to the CE: framed to its learned MAC, tagged 100; the packet follows unchanged.
    let mut l2 = Vec::new();
    assert_eq!(e.frame_out(Duration::ZERO, link, &ip, &mut l2), Some(true));
    assert_eq!(&l2[..6], &CE_MAC);
    assert_eq!(&l2[6..12], &MSEE_MAC);
    assert_eq!(&l2[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x00]);
    // A TUN port is not framed.
    assert_eq!(e.frame_out(Duration::ZERO, msee, &ip, &mut l2), None);
    // VLAN 200: dropped, counted on the port and on the circuit by reason.
    let mut f = ce_frame(200, [0x08, 0x00], &ip);
    assert_eq!(
        e.frame_in(Duration::ZERO, link, &mut f, &mut out),
        FrameIn::Drop(DropReason::Link(ether::LinkDrop::WrongVlan))
    );
    let why = DropReason::Link(ether::LinkDrop::WrongVlan).index();
    assert_eq!(e.port_stats()[link].drops[why], 1);
    assert_eq!(e.circuit_stats()[0].drops[why], 1);
    assert_eq!(e.ether(link).unwrap().last_wrong_vlan, Some(200));
    // The port's capture has the frames as on the wire, tags and all: in, out, dropped in.
    let (frames, _) = e.capture_take(tap).unwrap();
    assert_eq!(frames.len(), 3);
    assert_eq!(&frames[0].data[12..16], &[0x81, 0x00, 0x00, 100]);
    assert_eq!(&frames[1].data[..6], &CE_MAC);
    assert_eq!(&frames[1].data[18..], &ip[..]);
    assert_eq!(&frames[2].data[14..16], &[0x00, 200]);
}

#[test]
fn an_ethernet_ports_offload_header_counts_from_the_ip_packet_once_unframed() {
    use wire::virtio;
    let (mut e, link, msee) = ether_engine(virtio::LEN);
    let ip = echo([192, 168, 100, 1], [192, 168, 100, 2], 64);
    // A partial checksum starting at the ICMP header: 18 + 20 bytes into the frame.
    let hdr = tun_rs::VirtioNetHdr {
        flags: 1,
        gso_type: 0,
        hdr_len: 0,
        gso_size: 0,
        csum_start: 38,
        csum_offset: 2,
    };
    let mut h = [0u8; virtio::LEN];
    hdr.encode(&mut h).unwrap();
    let mut f = h.to_vec();
    f.extend_from_slice(&ce_frame(100, [0x08, 0x00], &ip));
    let mut out = Vec::new();
    let FrameIn::Ip { start } = e.frame_in(Duration::ZERO, link, &mut f, &mut out) else {
        panic!("not taken");
    };
    let moved = tun_rs::VirtioNetHdr::decode(&f[start..start + virtio::LEN]).unwrap();
    assert_eq!(moved.csum_start, 20, "from the IP header now");
    assert_eq!(&f[start + virtio::LEN..], &ip[..]);
    let v = e.handle_at(Duration::ZERO, link, &mut f[start..], 0, &mut out);
    assert!(
        matches!(v, Verdict::Forward { port, .. } if port == msee),
        "{v:?}"
    );
    // A checksum start inside the Ethernet header cannot be: the frame is not taken.
    let bad = tun_rs::VirtioNetHdr {
        csum_start: 4,
        ..hdr
    };
    bad.encode(&mut h).unwrap();
    let mut f = h.to_vec();
    f.extend_from_slice(&ce_frame(100, [0x08, 0x00], &ip));
    assert_eq!(
        e.frame_in(Duration::ZERO, link, &mut f, &mut out),
        FrameIn::Drop(DropReason::Link(ether::LinkDrop::Malformed))
    );
}

#[test]
fn a_router_links_ipv6_addresses_reach_the_msees_and_back() {
    let text = include_str!("../../topologies/global-reach-frr.toml").replacen(
        "provider = \"Equinix\"\n",
        "provider = \"Equinix\"\npeering_prefix = \"192.168.100.0/29\"\npeering_prefix_v6 = \"fd00:100::/125\"\n",
        1,
    );
    let mut t = topo(&text);
    t.lab.latency = LatencyModel::None;
    for c in &mut t.circuit {
        c.bandwidth = Bandwidth::UNLIMITED;
    }
    let mut e = Engine::new(crate::plane::tables(&t));
    let links: Vec<PortId> = (0..2)
        .map(|path| {
            e.tables()
                .ports
                .iter()
                .position(|p| {
                    matches!(p.kind, table::PortKind::Link { site: 0, circuit: 0, path: q } if q == path)
                })
                .unwrap()
        })
        .collect();
    let msee = e.tables().msee_port.unwrap();
    let mut out = Vec::new();
    // Each link: the CE's address (first of its /126) to the MSEE's (second), and back.
    for (path, (ce, ms)) in [
        ("fd00:100::1", "fd00:100::2"),
        ("fd00:100::5", "fd00:100::6"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut up = echo6(ce, ms, 64);
        let v = e.handle(links[path], &mut up, &mut out);
        assert!(
            matches!(v, Verdict::Forward { port, .. } if port == msee),
            "link {path} up: {v:?}"
        );
        let mut down = echo6(ms, ce, 64);
        let v = e.handle(msee, &mut down, &mut out);
        assert!(
            matches!(v, Verdict::Forward { port, .. } if port == links[path]),
            "link {path} down: {v:?}"
        );
    }
    // The MSEE answers traceroute from its primary link address.
    assert_eq!(
        e.tables().circuits[0].msee_v6,
        "fd00:100::2".parse::<std::net::Ipv6Addr>().unwrap()
    );
}
