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
    let mut circuits: Vec<CircuitFib> = (0..t.circuit.len())
        .map(|i| circuit_fib(t, i, maintenance))
        .collect();
    let nsites = t.site.len();
    for (c, fib) in circuits.iter_mut().enumerate() {
        // One table per MSEE pair: each prefix by the better of the two links' best paths
        // (the engine hashes flows over whichever links are up).
        for r in super::pair_best(&routing.msee[c]) {
            fib.table.insert(r.prefix, next_hop(r, nsites));
        }
    }
    // Sites with a real router get two link ports per circuit and share the MSEEs' port,
    // after the sites and VNets.
    let router_circuits: Vec<(usize, usize)> = (0..nsites)
        .filter(|&i| t.site[i].router.is_real())
        .flat_map(|i| t.site[i].circuits.iter().map(move |c| (i, cidx(t, c))))
        .collect();
    let first_link = nsites + t.vnet.len();
    for (k, &(_, c)) in router_circuits.iter().enumerate() {
        circuits[c].router_links = Some([first_link + 2 * k, first_link + 2 * k + 1]);
    }
    let mut ports: Vec<PortInfo> = (0..nsites)
        .map(|i| site_port(t, routing, customers, maintenance, i))
        .collect();
    ports.extend((0..t.vnet.len()).map(|j| vnet_port(t, routing, j)));
    let msee_port = router_ports(t, customers, &circuits, &router_circuits, &mut ports);
    let (backbone, vnet_delay) = delays(t, ports.len());
    let mut tables = Tables {
        circuits,
        ports,
        gr: t.global_reach.iter().map(|g| gr_link(t, g)).collect(),
        backbone,
        vnet_delay,
        seed: t.lab.seed.unwrap_or(DEFAULT_SEED),
        msee_port,
    };
    for i in 0..t.circuit.len() {
        default_queue(&mut tables, t, i);
    }
    tables
}

/// Brings `tables`, which `compile` made from this topology, up to date after what site
/// `site`'s router announces on a link changed for `prefixes` (and no other prefix), and the
/// MSEE RIBs of the circuits `touched` with it: the tables `compile` would give, rebuilding
/// only what such a change can reach (those prefixes in those circuits' FIBs, the ports that
/// read them, those circuits' default queues).
#[allow(clippy::too_many_arguments)]
pub fn update(
    tables: &mut Tables,
    t: &Topology,
    routing: &super::Routing,
    customers: &super::AdjRibIn,
    maintenance: &std::collections::BTreeSet<(usize, usize)>,
    site: usize,
    touched: &[usize],
    prefixes: &std::collections::BTreeSet<IpNet>,
) {
    let nsites = t.site.len();
    for &c in touched {
        let table = &mut tables.circuits[c].table;
        for p in prefixes {
            match super::pair_best_for(&routing.msee[c], p) {
                Some(r) => table.insert(*p, next_hop(r, nsites)),
                None => table.remove(p),
            }
        }
    }
    let on_touched = |names: &[String]| names.iter().any(|n| touched.contains(&cidx(t, n)));
    for (i, s) in t.site.iter().enumerate() {
        // The site's sources; a built-in router on several circuits reads their MSEEs.
        if i == site || (s.circuits.len() > 1 && !s.router.is_real() && on_touched(&s.circuits)) {
            tables.ports[i] = site_port(t, routing, customers, maintenance, i);
        }
    }
    for (j, v) in t.vnet.iter().enumerate() {
        if on_touched(&v.circuits) {
            tables.ports[nsites + j] = vnet_port(t, routing, j);
        }
    }
    for p in tables.ports.iter_mut() {
        if let PortKind::Link {
            site: i,
            circuit,
            path,
        } = p.kind
        {
            if i == site {
                p.prefixes = link_prefixes(customers, i, &tables.circuits[circuit], path);
            }
        }
    }
    for &c in touched {
        default_queue(tables, t, c);
    }
}

/// What the engine does with a best path: to a site, a VNet, or a Global Reach peer.
fn next_hop(r: &super::Route, nsites: usize) -> NextHop {
    match r.origin {
        Origin::Customer { site } => NextHop::Site(site),
        Origin::Gateway { vnet } => NextHop::Vnet(nsites + vnet),
        Origin::GlobalReach { peer, gr } => NextHop::Peer { circuit: peer, gr },
    }
}

/// Circuit `i`'s queue when the topology sets none: two round trips' worth at the rate (two
/// bandwidth-delay products of the longest path the circuit serves). One BDP keeps a flow's
/// pipe full after a loss, but CUBIC's slow start overshoots it: measured at 100 Mbit/s x
/// 141 ms, one BDP cost ~2,300 retransmits per iperf3 run, two cost none
/// (scripts/bench-circuits.sh).
fn default_queue(tables: &mut Tables, t: &Topology, i: usize) {
    if t.circuit[i].queue.is_none() {
        tables.circuits[i].timing.queue = (tables.longest_rtt(i) * 2).max(MIN_DEFAULT_QUEUE);
    }
}

/// A circuit's index by name.
fn cidx(t: &Topology, name: &str) -> CircuitId {
    t.circuit
        .iter()
        .position(|c| c.name == name)
        .expect("validated topology: circuit exists")
}

/// Circuit `i`'s FIB, empty, with its timing, addresses and drained links.
fn circuit_fib(
    t: &Topology,
    i: usize,
    maintenance: &std::collections::BTreeSet<(usize, usize)>,
) -> CircuitFib {
    let c = &t.circuit[i];
    let internal: Ipv6Net = INTERNAL_V6.parse().expect("constant");
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
        // With an IPv6 peering the MSEE answers from its primary link address, as in IPv4;
        // without, from reachlab's internal range.
        msee_v6: c
            .peering_prefix_v6
            .map_or(Ipv6Addr::from(base + 2), |v6| v6.addresses(0).1),
        link_v4: [0u32, 4].map(|o| {
            let n = u32::from(pp.network()) + o;
            (Ipv4Addr::from(n + 1), Ipv4Addr::from(n + 2))
        }),
        link_v6: c
            .peering_prefix_v6
            .map(|v6| [v6.addresses(0), v6.addresses(1)]),
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
}

/// A Global Reach connection's circuits and its /29's (and /125's) MSEE addresses.
fn gr_link(t: &Topology, link: &crate::topology::GlobalReach) -> GrLink {
    let n4 = u32::from(link.address_prefix.network());
    GrLink {
        circuits: [cidx(t, &link.circuits[0]), cidx(t, &link.circuits[1])],
        v4: [Ipv4Addr::from(n4 + 1), Ipv4Addr::from(n4 + 2)],
        v6: link.ipv6_address_prefix.map(|p| {
            let n = u128::from(p.network());
            [Ipv6Addr::from(n + 1), Ipv6Addr::from(n + 2)]
        }),
    }
}

/// Site `i`'s port: what it may send from (what its MSEEs accepted from its router, not the
/// file) and, on several circuits with the built-in router, its own FIB.
fn site_port(
    t: &Topology,
    routing: &super::Routing,
    customers: &super::AdjRibIn,
    maintenance: &std::collections::BTreeSet<(usize, usize)>,
    i: usize,
) -> PortInfo {
    let s = &t.site[i];
    let main = cidx(t, &s.circuits[0]);
    let ce = (s.circuits.len() > 1 && !s.router.is_real())
        .then(|| static_router_fib(t, routing, maintenance, i));
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
    p
}

/// The built-in router of site `i` on several circuits routes by what each circuit's MSEEs
/// advertise to it: the shortest AS path, flows spread over equal ones.
fn static_router_fib(
    t: &Topology,
    routing: &super::Routing,
    maintenance: &std::collections::BTreeSet<(usize, usize)>,
    i: usize,
) -> Box<Lpm<Ecmp>> {
    let s = &t.site[i];
    let mut best: std::collections::BTreeMap<IpNet, (usize, Vec<CircuitId>)> = Default::default();
    for c in s.circuits.iter().map(|n| cidx(t, n)) {
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
}

/// VNet `j`'s port: its gateway's routes, each over its best circuits.
fn vnet_port(t: &Topology, routing: &super::Routing, j: usize) -> PortInfo {
    let v = &t.vnet[j];
    let mut gateway = Lpm::new();
    for (prefix, paths) in routing.gateway[j].iter() {
        let group = super::GatewayRib::multipath(paths);
        if !group.is_empty() {
            gateway.insert(*prefix, Ecmp::new(&group));
        }
    }
    port(
        &v.name,
        &v.prefixes,
        PortKind::Vnet {
            gateway: Box::new(gateway),
        },
    )
}

/// The router sites' link ports (two per circuit) and the MSEEs' port, appended to `ports`;
/// the MSEEs' port's index, when there is one.
fn router_ports(
    t: &Topology,
    customers: &super::AdjRibIn,
    circuits: &[CircuitFib],
    router_circuits: &[(usize, usize)],
    ports: &mut Vec<PortInfo>,
) -> Option<usize> {
    for &(i, c) in router_circuits {
        let s = &t.site[i];
        for path in 0..2 {
            let mut p = port(
                &format!("{}/{}", s.name, s.link_interface(&t.circuit[c].name, path)),
                &[],
                PortKind::Link {
                    site: i,
                    circuit: c,
                    path,
                },
            );
            p.prefixes = link_prefixes(customers, i, &circuits[c], path);
            ports.push(p);
        }
    }
    (!router_circuits.is_empty()).then(|| {
        let mut p = port("(msee)", &[], PortKind::Msee);
        for &(_, c) in router_circuits {
            for (_, msee) in circuits[c].link_v4 {
                p.prefixes.insert(IpNet::V4(msee.into()), ());
            }
            for (_, msee) in circuits[c].link_v6.into_iter().flatten() {
                p.prefixes.insert(IpNet::V6(msee.into()), ());
            }
        }
        ports.push(p);
        ports.len() - 1
    })
}

/// What a router site's link port may carry from: the sources its MSEEs accepted from site
/// `i`, and link `path` of `circuit`'s own prefixes (its /30, and its /126 with an IPv6
/// peering).
fn link_prefixes(
    customers: &super::AdjRibIn,
    i: usize,
    circuit: &CircuitFib,
    path: usize,
) -> Lpm<()> {
    let mut prefixes = Lpm::new();
    for a in customers.accepted(i) {
        prefixes.insert(a, ());
    }
    let ce = circuit.link_v4[path].0;
    prefixes.insert(
        IpNet::V4(ipnet::Ipv4Net::new(ce, 30).expect("valid").trunc()),
        (),
    );
    if let Some(l) = circuit.link_v6 {
        let ce6 = l[path].0;
        prefixes.insert(
            IpNet::V6(ipnet::Ipv6Net::new(ce6, 126).expect("valid").trunc()),
            (),
        );
    }
    prefixes
}

/// The modelled one-way delays: between every two circuits' MSEEs over the backbone, and
/// from each circuit's MSEEs to each VNet (indexed by port; zero elsewhere).
fn delays(t: &Topology, nports: usize) -> (Vec<Vec<Duration>>, Vec<Vec<Duration>>) {
    let n = t.circuit.len();
    let nsites = t.site.len();
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
    let mut vnet_delay = vec![vec![Duration::ZERO; nports]; n];
    for (c, row) in vnet_delay.iter_mut().enumerate() {
        for (j, v) in t.vnet.iter().enumerate() {
            if let (true, Some(l), Some(r)) = (geo, loc(c), cat.azure_region(&v.region)) {
                row[nsites + j] = model::vnet_rtt(l, r) / 2;
            }
        }
    }
    (backbone, vnet_delay)
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
