//! Property tests of the pure engine (no root): random and mutated packets into every port of
//! the seed topologies, with a seeded generator so failures repeat. Asserts the engine never
//! panics, only forwards where the rules allow, and leaves every forwarded IPv4 header with a
//! valid checksum and a lower TTL. Bounded: a few hundred thousand packets, well under a
//! second in release and a few seconds in debug.

use std::time::Duration;

use reachlab::diag::SourceFile;
use reachlab::engine::timing::XorShift64 as Rng;
use reachlab::engine::wire::{checksum, Ipv4Packet};
use reachlab::engine::{Engine, Verdict};
use reachlab::topology::Topology;

fn engine(file: &str) -> (Engine, Topology) {
    let path = format!("{}/topologies/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let t = Topology::from_source(SourceFile::new(path, text), "t").unwrap();
    (Engine::new(reachlab::plane::tables(&t)), t)
}

/// A valid IPv4 packet from `src` to `dst` (protocol, TTL and length random), checksum set.
fn ipv4(r: &mut Rng, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let len = 20 + r.below(200) as usize;
    let mut p: Vec<u8> = (0..len).map(|_| r.next_u64() as u8).collect();
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[6] &= 0x40; // DF maybe, no fragments
    p[7] = 0;
    p[8] = 1 + r.below(80) as u8;
    p[9] = [1, 6, 17, 47][r.below(4) as usize];
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[10] = 0;
    p[11] = 0;
    let ck = checksum(&p[..20]);
    p[10..12].copy_from_slice(&ck.to_be_bytes());
    p
}

fn run(file: &str, seed: u64, rounds: usize) {
    let (mut e, t) = engine(file);
    let names: Vec<String> = t.endpoint_names().map(str::to_string).collect();
    let first_v4 = |n: &str| -> [u8; 4] {
        let prefixes = t.prefixes_of(n).unwrap();
        match prefixes.iter().find_map(|p| match p {
            ipnet::IpNet::V4(p) => Some(p.network().octets()),
            _ => None,
        }) {
            Some(mut o) => {
                o[3] = 1;
                o
            }
            None => [0, 0, 0, 0],
        }
    };
    let mut r = Rng::new(seed);
    let mut out = Vec::new();
    let mut crossed = 0usize;
    let mut now = Duration::ZERO;
    for i in 0..rounds {
        let from = r.below(names.len() as u64) as usize;
        let to = r.below(names.len() as u64) as usize;
        let mut pkt = match r.below(4) {
            // Pure noise of any length.
            0 => (0..r.below(120)).map(|_| r.next_u64() as u8).collect(),
            // A valid packet with a few bytes flipped.
            1 => {
                let mut p = ipv4(&mut r, first_v4(&names[from]), first_v4(&names[to]));
                for _ in 0..1 + r.below(4) {
                    let at = r.below(p.len() as u64) as usize;
                    p[at] ^= 1 << r.below(8);
                }
                p
            }
            // Valid, possibly truncated.
            2 => {
                let mut p = ipv4(&mut r, first_v4(&names[from]), first_v4(&names[to]));
                let keep = r.below(p.len() as u64 + 1) as usize;
                p.truncate(keep);
                p
            }
            // Valid and whole.
            _ => ipv4(&mut r, first_v4(&names[from]), first_v4(&names[to])),
        };
        let before = pkt.clone();
        now += Duration::from_micros(r.below(50));
        let v = e.handle_at(now, from, &mut pkt, 0, &mut out);
        let check_forward = |port: usize, bytes: &[u8]| {
            assert!(
                port == from || t.may_reach(&names[from], &names[port]),
                "case {i}: {} -> {} forwarded against the rules",
                names[from],
                names[port]
            );
            if let Ok(p) = Ipv4Packet::new_checked(bytes) {
                assert_eq!(
                    checksum(&bytes[..p.header_len()]),
                    0,
                    "case {i}: header checksum"
                );
            }
        };
        match v {
            Verdict::Forward { port, len } => {
                crossed += 1;
                check_forward(port, &pkt[..len]);
                let p = Ipv4Packet::new_checked(&pkt[..len]).expect("forwarded packets are valid");
                assert!(p.ttl() < before[8], "case {i}: TTL lowered");
            }
            Verdict::Reply { port } => assert_eq!(port, from, "case {i}: replies go back"),
            Verdict::Queued | Verdict::Drop(_) => {}
        }
        // Drain what is due.
        while let Some((port, frame)) = e.poll_transmit(now + Duration::from_secs(1)) {
            crossed += 1;
            check_forward(port, &frame);
        }
    }
    // Not vacuous: plenty of packets did cross, and every one of them was checked.
    assert!(
        crossed > rounds / 20,
        "{file}: only {crossed} of {rounds} crossed"
    );
}

#[test]
fn random_and_mutated_packets_never_panic_or_cross_where_they_must_not() {
    for (i, file) in [
        "no-global-reach.toml",
        "global-reach.toml",
        "dual-stack-unshaped.toml",
    ]
    .iter()
    .enumerate()
    {
        run(file, 0x5eed + i as u64, 60_000);
    }
}
