//! The compiler: a topology's RIBs (`super::routing`) into the engine's `Tables`, whole, with
//! each circuit's timing (rate, delays, queue, MTU, jitter, loss) and the modelled delays
//! between MSEEs and VNets. The engine only forwards; what it forwards by is decided here.

use ipnet::{IpNet, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::route::Origin;
use crate::catalogue::catalogue;
use crate::engine::table::{
    gateway_address, CircuitFib, CircuitId, CircuitTiming, Ecmp, GrLink, Lpm, NextHop, PortInfo,
    PortKind, Tables, DEFAULT_SEED, INTERNAL_V6, MIN_DEFAULT_QUEUE,
};
use crate::model;
use crate::topology::{LatencyModel, Topology, DEFAULT_ACCESS_DELAY};

/// Compiles a validated topology (defaults resolved) whose sites all have the built-in static
/// router.
pub fn tables(t: &Topology) -> Tables {
    let adj_rib_in = super::AdjRibIn::static_routers(t);
    let routing = super::routing(t, &adj_rib_in);
    compile(t, &routing, &adj_rib_in, &Default::default())
}

/// Compiles a validated topology (defaults resolved), its RIBs (`routing`, computed from
/// `adj_rib_in`) and what each site's router announces: the RIBs' best paths into the engine's
/// tables, with the circuits' timing. A site may send
/// from what the MSEE accepted from it. Links under `maintenance` (circuit, link) carry
/// traffic only when the other link is down.
pub fn compile(
    t: &Topology,
    routing: &super::Routing,
    customers: &super::AdjRibIn,
    maintenance: &std::collections::BTreeSet<(usize, usize)>,
) -> Tables {
    let cidx = |name: &str| -> CircuitId {
        t.circuit
            .iter()
            .position(|c| c.name == name)
            .expect("validated topology: circuit exists")
    };
    let internal: Ipv6Net = INTERNAL_V6.parse().expect("constant");
    let mut circuits: Vec<CircuitFib> = t
        .circuit
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let pp = c.peering_prefix.expect("defaults resolved");
            let base = u128::from(internal.network()) | ((i as u128) << 64);
            let access = if t.lab.latency == LatencyModel::None {
                Duration::ZERO
            } else {
                c.access_delay
                    .or(t.lab.access_delay)
                    .unwrap_or(DEFAULT_ACCESS_DELAY)
                    .0
            };
            CircuitFib {
                name: c.name.clone(),
                table: Lpm::new(),
                timing: CircuitTiming {
                    rate_bps: (!c.bandwidth.is_unlimited()).then_some(c.bandwidth.0),
                    access,
                    queue: c.queue.map(|q| q.0).unwrap_or(MIN_DEFAULT_QUEUE),
                    mtu: c.mtu(),
                    jitter: if t.lab.latency == LatencyModel::None {
                        Duration::ZERO
                    } else {
                        c.jitter.or(t.lab.jitter).map(|j| j.0).unwrap_or_default()
                    },
                    reorder: c.reorder,
                    loss: c.loss.or(t.lab.loss),
                },
                msee_v4: Ipv4Addr::from(u32::from(pp.network()) + 2),
                msee_v6: Ipv6Addr::from(base + 2),
                link_v4: [0u32, 4].map(|o| {
                    let n = u32::from(pp.network()) + o;
                    (Ipv4Addr::from(n + 1), Ipv4Addr::from(n + 2))
                }),
                // Under maintenance, or the link a static site prepends more on: used only
                // while the other is down (the static router keeps to its preferred link).
                drained: [0, 1].map(|l| {
                    maintenance.contains(&(i, l))
                        || t.site.iter().any(|s| {
                            s.router == crate::topology::Router::Static
                                && s.on(&c.name)
                                && s.prepend_on(&c.name, l) > s.prepend_on(&c.name, 1 - l)
                        })
                }),
                router_links: None,
            }
        })
        .collect();
    let nsites = t.site.len();
    for (c, fib) in circuits.iter_mut().enumerate() {
        // One table per MSEE pair: each prefix by the better of the two links' best paths
        // (the engine hashes flows over whichever links are up).
        for r in super::pair_best(&routing.msee[c]) {
            let target = match r.origin {
                Origin::Customer { site } => NextHop::Site(site),
                Origin::Gateway { vnet } => NextHop::Vnet(nsites + vnet),
                Origin::GlobalReach { peer, gr } => NextHop::Peer { circuit: peer, gr },
            };
            fib.table.insert(r.prefix, target);
        }
    }
    let mut gr = Vec::new();
    for link in &t.global_reach {
        let a = cidx(&link.circuits[0]);
        let b = cidx(&link.circuits[1]);
        let n4 = u32::from(link.address_prefix.network());
        gr.push(GrLink {
            circuits: [a, b],
            v4: [Ipv4Addr::from(n4 + 1), Ipv4Addr::from(n4 + 2)],
            v6: link.ipv6_address_prefix.map(|p| {
                let n = u128::from(p.network());
                [Ipv6Addr::from(n + 1), Ipv6Addr::from(n + 2)]
            }),
        });
    }

    let mut ports = Vec::new();
    // Sites with a real router get two link ports per circuit and share the MSEEs' port,
    // after the sites and VNets.
    let router_circuits: Vec<(usize, usize)> = (0..nsites)
        .filter(|&i| t.site[i].router.is_real())
        .flat_map(|i| t.site[i].circuits.iter().map(move |c| (i, cidx(c))))
        .collect();
    let first_link = nsites + t.vnet.len();
    for (k, &(_, c)) in router_circuits.iter().enumerate() {
        circuits[c].router_links = Some([first_link + 2 * k, first_link + 2 * k + 1]);
    }
    for (i, s) in t.site.iter().enumerate() {
        let main = cidx(&s.circuits[0]);
        // On several circuits, the built-in router routes by what each circuit's MSEEs
        // advertise to it: the shortest AS path, flows spread over equal ones.
        let ce = (s.circuits.len() > 1 && !s.router.is_real()).then(|| {
            let mut best: std::collections::BTreeMap<IpNet, (usize, Vec<CircuitId>)> =
                Default::default();
            for c in s.circuits.iter().map(|n| cidx(n)) {
                let adv = super::adj_rib_out(t, routing, c, 0, i, maintenance.contains(&(c, 0)));
                for (p, a) in adv {
                    let e = best.entry(p).or_insert((usize::MAX, Vec::new()));
                    match a.as_path.len().cmp(&e.0) {
                        std::cmp::Ordering::Less => *e = (a.as_path.len(), vec![c]),
                        std::cmp::Ordering::Equal => e.1.push(c),
                        std::cmp::Ordering::Greater => {}
                    }
                }
            }
            let mut fib = Lpm::new();
            for (p, (_, cs)) in best {
                fib.insert(p, Ecmp::new(&cs));
            }
            Box::new(fib)
        });
        // A site may send from what its MSEEs accepted from its router, not from the file.
        let mut p = port(
            &s.name,
            &s.prefixes,
            PortKind::Site {
                circuit: main,
                ce,
                router: s.router.is_real(),
            },
        );
        p.prefixes = Lpm::new();
        for a in customers.accepted(i) {
            p.prefixes.insert(a, ());
        }
        ports.push(p);
    }
    for (j, v) in t.vnet.iter().enumerate() {
        let mut gateway = Lpm::new();
        for (prefix, paths) in routing.gateway[j].iter() {
            let group = super::GatewayRib::multipath(paths);
            if !group.is_empty() {
                gateway.insert(*prefix, Ecmp::new(&group));
            }
        }
        ports.push(port(
            &v.name,
            &v.prefixes,
            PortKind::Vnet {
                gateway: Box::new(gateway),
            },
        ));
    }
    for &(i, c) in &router_circuits {
        let s = &t.site[i];
        for path in 0..2 {
            let (ce, _) = circuits[c].link_v4[path];
            let mut p = port(
                &format!("{}/{}", s.name, s.link_interface(&t.circuit[c].name, path)),
                &[],
                PortKind::Link {
                    site: i,
                    circuit: c,
                    path,
                },
            );
            for a in customers.accepted(i) {
                p.prefixes.insert(a, ());
            }
            p.prefixes.insert(
                IpNet::V4(ipnet::Ipv4Net::new(ce, 30).expect("valid").trunc()),
                (),
            );
            ports.push(p);
        }
    }
    let msee_port = (!router_circuits.is_empty()).then(|| {
        let mut p = port("(msee)", &[], PortKind::Msee);
        for &(_, c) in &router_circuits {
            for (_, msee) in circuits[c].link_v4 {
                p.prefixes.insert(IpNet::V4(msee.into()), ());
            }
        }
        ports.push(p);
        ports.len() - 1
    });
    let n = circuits.len();
    let geo = t.lab.latency == LatencyModel::Geographic;
    let cat = catalogue();
    let loc = |i: usize| cat.location(&t.circuit[i].peering_location);
    let mut backbone = vec![vec![Duration::ZERO; n]; n];
    for (a, row) in backbone.iter_mut().enumerate() {
        for (b, cell) in row.iter_mut().enumerate() {
            if let (true, Some(la), Some(lb)) = (geo && a != b, loc(a), loc(b)) {
                *cell = model::backbone_rtt(la, lb) / 2;
            }
        }
    }
    let mut vnet_delay = vec![vec![Duration::ZERO; ports.len()]; n];
    for (c, row) in vnet_delay.iter_mut().enumerate() {
        for (j, v) in t.vnet.iter().enumerate() {
            if let (true, Some(l), Some(r)) = (geo, loc(c), cat.azure_region(&v.region)) {
                row[nsites + j] = model::vnet_rtt(l, r) / 2;
            }
        }
    }
    let mut tables = Tables {
        circuits,
        ports,
        gr,
        backbone,
        vnet_delay,
        seed: t.lab.seed.unwrap_or(DEFAULT_SEED),
        msee_port,
    };
    // Default queue: two round trips' worth at the rate (two bandwidth-delay products of
    // the longest path the circuit serves). One BDP keeps a flow's pipe full after a loss,
    // but CUBIC's slow start overshoots it: measured at 100 Mbit/s x 141 ms, one BDP cost
    // ~2,300 retransmits per iperf3 run, two cost none (scripts/bench-circuits.sh).
    for (i, c) in t.circuit.iter().enumerate() {
        if c.queue.is_none() {
            tables.circuits[i].timing.queue = (tables.longest_rtt(i) * 2).max(MIN_DEFAULT_QUEUE);
        }
    }
    tables
}

fn first_v4(ps: &[IpNet]) -> Option<Ipv4Addr> {
    ps.iter()
        .find(|p| matches!(p, IpNet::V4(_)))
        .map(|p| match gateway_address(p) {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => unreachable!("v4 prefix"),
        })
}

fn first_v6(ps: &[IpNet]) -> Option<Ipv6Addr> {
    ps.iter()
        .find(|p| matches!(p, IpNet::V6(_)))
        .map(|p| match gateway_address(p) {
            IpAddr::V6(a) => a,
            IpAddr::V4(_) => unreachable!("v6 prefix"),
        })
}

fn port(name: &str, prefixes: &[IpNet], kind: PortKind) -> PortInfo {
    let mut lpm = Lpm::new();
    for p in prefixes {
        lpm.insert(*p, ());
    }
    PortInfo {
        name: name.to_string(),
        kind,
        prefixes: lpm,
        prefix_list: prefixes.to_vec(),
        gateway_v4: first_v4(prefixes),
        gateway_v6: first_v6(prefixes),
    }
}
