//! The engine under arbitrary input: a random valid topology (from the first bytes), then a
//! stream of operations on a virtual clock: frames into any port (raw bytes, or IPv4/IPv6
//! packets between the lab's own addresses with fuzzed fields), link failures and restores,
//! captures started and stopped at any point, time steps, and drains of what is due.
//!
//! Asserted: no panic; a packet leaves only towards a port the rules let one of its possible
//! senders reach; replies go back to the port they came from; forwarded IPv4 headers have valid
//! checksums and a lower TTL, IPv6 a lower hop limit; captured copies are well-formed IP.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use reachlab::engine::capture::TapPoint;
use reachlab::engine::wire::{checksum, Ipv4Packet, Ipv6Packet};
use reachlab::engine::{Engine, Verdict};
use reachlab_fuzz::{topology, Input};

/// The virtio-net header's size when TUN offload is on.
const VNET_HDR: usize = 10;

fn ipv4(inp: &mut Input, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let payload = inp.byte() as usize * 8;
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + payload) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&inp.u16().to_be_bytes());
    let frag = inp.u16();
    p[6..8].copy_from_slice(&(frag & 0x7fff).to_be_bytes());
    p[8] = inp.byte();
    p[9] = inp.pick(&[1, 6, 17, 47, 58, 0]);
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let ck = checksum(&p[..20]);
    p[10..12].copy_from_slice(&ck.to_be_bytes());
    p.extend_from_slice(inp.take(payload));
    p.resize(20 + payload, 0);
    p
}

fn ipv6(inp: &mut Input, src: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
    let payload = inp.byte() as usize * 8;
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(payload as u16).to_be_bytes());
    p[6] = inp.pick(&[58, 6, 17, 44, 0, 43]);
    p[7] = inp.byte();
    p[8..24].copy_from_slice(&src);
    p[24..40].copy_from_slice(&dst);
    p.extend_from_slice(inp.take(payload));
    p.resize(40 + payload, 0);
    p
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let Some(t) = topology(&mut inp) else { return };
    let names: Vec<String> = t.endpoint_names().map(str::to_string).collect();
    let v4: Vec<[u8; 4]> = names.iter().map(|n| first_v4(&t, n)).collect();
    let v6: Vec<[u8; 16]> = names.iter().map(|n| first_v6(&t, n)).collect();
    let offload = inp.byte() & 1 != 0;
    let prefix = if offload { VNET_HDR } else { 0 };
    let mut e = Engine::new(reachlab::plane::tables(&t)).with_frame_prefix(prefix);
    let nports = names.len();
    let ncircuits = t.circuit.len();
    let mut now = Duration::ZERO;
    let mut out = Vec::new();
    // Ports packets entered by since the last drain: what leaves must be reachable from one.
    let mut senders: Vec<usize> = Vec::new();
    let may_leave = |senders: &[usize], port: usize| {
        senders
            .iter()
            .any(|&f| f == port || t.may_reach(&names[f], &names[port]))
    };
    let mut taps = Vec::new();
    let mut ops = 0;
    while !inp.is_empty() && ops < 256 {
        ops += 1;
        let op = inp.byte();
        match op % 8 {
            // Time passes and whatever is due leaves.
            0 => {
                now += Duration::from_micros(inp.u16() as u64 * 16);
                while let Some((port, frame)) = e.poll_transmit(now) {
                    check_out(&frame[prefix.min(frame.len())..]);
                    assert!(
                        may_leave(&senders, port),
                        "{names:?}: a packet left to {} that none of {senders:?} may reach",
                        names[port]
                    );
                }
                if e.in_flight() == 0 {
                    senders.clear();
                }
                // Copies on circuit and Global Reach links are of forwarded packets: well-formed
                // IP (a port's copies are whatever its namespace sent). None from the future.
                for &(id, point) in &taps {
                    let (got, _) = e.capture_take(id).expect("a running capture");
                    for c in got {
                        assert!(c.at <= now, "a copy from the future");
                        if !matches!(point, TapPoint::Port(_)) {
                            check_out(&c.data);
                        }
                    }
                }
            }
            1 => {
                let c = inp.byte() as usize % ncircuits;
                let b = inp.byte();
                if b & 4 == 0 {
                    e.set_link(c, (b & 1) as usize, b & 2 != 0);
                } else if b & 8 == 0 || taps.is_empty() {
                    // A capture at a port, a circuit link or between two circuits.
                    let point = match b >> 4 & 3 {
                        0 => TapPoint::Port(inp.byte() as usize % nports),
                        1 => TapPoint::Link {
                            circuit: c,
                            path: b >> 6 & 1,
                        },
                        _ => TapPoint::global_reach(c, inp.byte() as usize % ncircuits),
                    };
                    taps.push((e.capture_start(point), point));
                } else {
                    let (id, _) = taps.swap_remove(inp.byte() as usize % taps.len());
                    e.capture_stop(id);
                    assert!(e.capture_take(id).is_none(), "a stopped capture is gone");
                }
            }
            kind => {
                let from = inp.byte() as usize % nports;
                let to = inp.byte() as usize % nports;
                let host = inp.pick(&[1, 2, 254, 255, 0, 7]);
                let mut pkt = match kind {
                    2 => {
                        let n = inp.byte() as usize;
                        inp.take(n).to_vec()
                    }
                    3 | 4 => {
                        let (mut s, mut d) = (v4[from], v4[to]);
                        d[3] = host;
                        if kind == 4 {
                            // Any source, any destination: spoofing, router addresses.
                            s = [inp.byte(), inp.byte(), inp.byte(), inp.byte()];
                            d = [
                                inp.pick(&[10, 192, 0, 224]),
                                inp.byte(),
                                inp.byte(),
                                inp.byte(),
                            ];
                        }
                        ipv4(&mut inp, s, d)
                    }
                    5 | 6 => {
                        let (s, mut d) = (v6[from], v6[to]);
                        d[15] = host;
                        if kind == 6 {
                            d[14] = inp.byte();
                        }
                        ipv6(&mut inp, s, d)
                    }
                    _ => {
                        // A valid packet with bits flipped.
                        let mut p = ipv4(&mut inp, v4[from], v4[to]);
                        for _ in 0..1 + inp.byte() % 4 {
                            let at = inp.u16() as usize % p.len();
                            p[at] ^= 1 << (inp.byte() % 8);
                        }
                        p
                    }
                };
                let gso = if offload && inp.byte() & 1 != 0 {
                    inp.u16() % 2000
                } else {
                    0
                };
                let mut frame = vec![0u8; prefix];
                frame.append(&mut pkt);
                let before = frame.clone();
                senders.push(from);
                out.clear();
                match e.handle_at(now, from, &mut frame, gso, &mut out) {
                    Verdict::Forward { port, len } => {
                        assert!(
                            port == from || t.may_reach(&names[from], &names[port]),
                            "{} -> {} forwarded against the rules",
                            names[from],
                            names[port]
                        );
                        let p = &frame[prefix..prefix + len];
                        check_out(p);
                        if let Ok(ip) = Ipv4Packet::new_checked(p) {
                            assert!(ip.ttl() < before[prefix + 8], "TTL lowered");
                        } else if let Ok(ip) = Ipv6Packet::new_checked(p) {
                            assert!(ip.hop_limit() < before[prefix + 7], "hop limit lowered");
                        } else {
                            panic!("forwarded a packet that is not IP");
                        }
                    }
                    Verdict::Reply { port } => {
                        assert_eq!(port, from, "replies go back where the packet came from");
                        check_out(&out);
                    }
                    Verdict::Queued | Verdict::Drop(_) => {}
                }
            }
        }
    }
});

/// A packet leaving the engine is well-formed IP: a valid IPv4 header checksum, or IPv6.
fn check_out(p: &[u8]) {
    match p.first().map(|b| b >> 4) {
        Some(4) => {
            let ip = Ipv4Packet::new_checked(p).expect("emitted IPv4 parses");
            assert_eq!(checksum(&p[..ip.header_len()]), 0, "IPv4 header checksum");
        }
        Some(6) => {
            Ipv6Packet::new_checked(p).expect("emitted IPv6 parses");
        }
        _ => panic!("emitted a packet that is not IP: {p:02x?}"),
    }
}

fn prefixes<'a>(t: &'a reachlab::topology::Topology, n: &str) -> &'a [ipnet::IpNet] {
    t.prefixes_of(n).unwrap_or(&[])
}

fn first_v4(t: &reachlab::topology::Topology, n: &str) -> [u8; 4] {
    prefixes(t, n)
        .iter()
        .find_map(|p| match p {
            ipnet::IpNet::V4(p) => Some(p.network().octets()),
            _ => None,
        })
        .unwrap_or([10, 9, 9, 0])
}

fn first_v6(t: &reachlab::topology::Topology, n: &str) -> [u8; 16] {
    prefixes(t, n)
        .iter()
        .find_map(|p| match p {
            ipnet::IpNet::V6(p) => Some(p.network().octets()),
            _ => None,
        })
        .unwrap_or([0xfd, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
}
