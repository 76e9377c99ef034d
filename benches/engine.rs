//! criterion benches of the pure core: engine ns/packet (parse, lookup, rewrite) for IPv4 and
//! IPv6, LPM lookups with 10k- and 1M-prefix tables, and the time to apply a Global Reach
//! change (validate + rebuild + swap) to 10k-prefix tables, and one router UPDATE in a
//! 64-site Global Reach mesh.
//!
//! `cargo bench --bench engine`; scripts/bench-throughput.sh measures the whole data path.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net};
use std::fmt::Write as _;
use std::hint::black_box;
use std::net::Ipv4Addr;

use reachlab::diag::SourceFile;
use reachlab::engine::table::{Lpm, NextHop};
use reachlab::engine::timing::XorShift64 as Rng;
use reachlab::engine::{Engine, Verdict};
use reachlab::plane::route::Attributes;
use reachlab::plane::{Announced, CustomerLink, Plane};
use reachlab::topology::{GlobalReach, Topology};

/// Forwarding only: no delay lines, no shapers (they would queue every packet).
const DUAL: &str = include_str!("../topologies/dual-stack-unshaped.toml");

fn topo(text: &str) -> Topology {
    Topology::from_source(SourceFile::new("bench.toml", text), "bench").expect("valid")
}

/// An IPv4 UDP packet sf -> london with 64 bytes of payload.
fn udp_v4() -> Vec<u8> {
    let mut p = vec![0u8; 20 + 8 + 64];
    p[0] = 0x45;
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 0, 1, 1]);
    p[16..20].copy_from_slice(&[10, 0, 2, 1]);
    let ck = reachlab::engine::wire::checksum(&p[..20]);
    p[10..12].copy_from_slice(&ck.to_be_bytes());
    p
}

fn udp_v6() -> Vec<u8> {
    let mut p = vec![0u8; 40 + 8 + 64];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&72u16.to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&"fd00:1::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    p[24..40].copy_from_slice(&"fd00:2::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    p
}

fn engine_per_packet(c: &mut Criterion) {
    let t = topo(DUAL);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    for (name, pkt) in [("ipv4_forward", udp_v4()), ("ipv6_forward", udp_v6())] {
        let mut e = Engine::new(reachlab::plane::tables(&t));
        let mut buf = pkt.clone();
        let mut out = Vec::new();
        g.bench_function(name, |b| {
            b.iter(|| {
                // Restore the TTL the previous iteration lowered (a 1-byte store and, for
                // IPv4, the checksum: the rewrite is part of what is measured).
                buf.copy_from_slice(&pkt);
                let v = e.handle(0, black_box(&mut buf), &mut out);
                assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
                v
            })
        });
    }
    g.finish();
}

fn lpm(c: &mut Criterion) {
    let mut g = c.benchmark_group("lpm");
    for n in [10_000usize, 1_000_000] {
        let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
        let mut table: Lpm<NextHop> = Lpm::new();
        for i in 0..n {
            let len = 16 + (rng.next_u64() % 13) as u8; // /16 .. /28
            let addr = Ipv4Addr::from(rng.next_u64() as u32);
            let p = Ipv4Net::new(addr, len).unwrap().trunc();
            table.insert(IpNet::V4(p), NextHop::Site(i % 4));
        }
        let addrs: Vec<Ipv4Addr> = (0..4096)
            .map(|_| Ipv4Addr::from(rng.next_u64() as u32))
            .collect();
        g.throughput(Throughput::Elements(addrs.len() as u64));
        g.bench_function(format!("lookup_{n}_prefixes"), |b| {
            b.iter(|| {
                let mut hits = 0usize;
                for a in &addrs {
                    hits += usize::from(table.lookup_v4(black_box(*a)).is_some());
                }
                hits
            })
        });
    }
    g.finish();
}

/// Two circuits whose sites carry 10,000 prefixes between them.
fn big_topology() -> Topology {
    let mut s = String::from(DUAL.split("[[global_reach]]").next().unwrap());
    s = s.replace(
        "prefixes = [\"10.0.1.0/24\", \"fd00:1::/64\"]",
        "prefixes = [\"10.0.1.0/24\", \"fd00:1::/64\", PREFIXES_A]",
    );
    s = s.replace(
        "prefixes = [\"10.0.2.0/24\", \"fd00:2::/64\"]",
        "prefixes = [\"10.0.2.0/24\", \"fd00:2::/64\", PREFIXES_B]",
    );
    let list = |base: u32| {
        let mut out = String::new();
        for i in 0..5_000u32 {
            let a = Ipv4Addr::from(base + (i << 8));
            let _ = write!(out, "{}\"{a}/24\"", if i == 0 { "" } else { ", " });
        }
        out
    };
    s = s
        .replace("PREFIXES_A", &list(0x0b00_0000))
        .replace("PREFIXES_B", &list(0x0c00_0000));
    topo(&s)
}

fn apply_change(c: &mut Criterion) {
    let base = big_topology();
    let mut e = Engine::new(reachlab::plane::tables(&base));
    let mut g = c.benchmark_group("live_change");
    g.sample_size(20);
    g.bench_function("global_reach_add_10k_prefixes", |b| {
        b.iter_batched(
            || {
                let mut t = base.clone();
                t.global_reach.push(GlobalReach {
                    circuits: ["er-sv".into(), "er-london".into()],
                    address_prefix: "192.168.8.0/29".parse().unwrap(),
                    ipv6_address_prefix: None,
                });
                t
            },
            |t| {
                // What a live change does: validate with the file's rules, rebuild, swap.
                t.validate().expect("valid change");
                e.set_tables(reachlab::plane::tables(&t));
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// One router's routes changing in a converged 64-circuit Global Reach mesh with a router at
/// every site (`scripts/mesh.sh 64`, 1,975 connections): what the plane does for each UPDATE
/// a router sends (Adj-RIB-In, the Loc-RIBs it touches, tables, every Adj-RIB-Out).
fn router_update(c: &mut Criterion) {
    let mesh = std::process::Command::new("bash")
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mesh.sh"),
            "64",
        ])
        .output()
        .expect("scripts/mesh.sh runs");
    let t = topo(std::str::from_utf8(&mesh.stdout).expect("text"));
    let announce = |site: usize, extra: bool| -> Announced {
        let mut a = Announced::new();
        let attrs = Attributes {
            as_path: vec![65001 + site as u32],
            ..Default::default()
        };
        a.insert(t.site[site].prefixes[0], attrs.clone());
        if extra {
            a.insert(format!("10.200.{site}.0/24").parse().unwrap(), attrs);
        }
        a
    };
    let mut plane = Plane::new(t.clone());
    for site in 0..t.site.len() {
        for link in 0..2 {
            let l = CustomerLink {
                site,
                circuit: site,
                link,
            };
            plane.set_customer(l, announce(site, false));
        }
    }
    let mut g = c.benchmark_group("live_change");
    g.sample_size(20);
    let mut extra = false;
    g.bench_function("router_update_64_site_mesh", |b| {
        b.iter(|| {
            extra = !extra;
            let l = CustomerLink {
                site: 7,
                circuit: 7,
                link: 0,
            };
            black_box(plane.set_customer(l, announce(7, extra)));
        })
    });
    g.finish();
}

criterion_group!(benches, engine_per_packet, lpm, apply_change, router_update);
criterion_main!(benches);
