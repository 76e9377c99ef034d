//! The Microsoft side's routing state, computed: one RIB per MSEE (circuit x primary/secondary
//! link) and one per VNet gateway, from what each speaker announces, and the engine's
//! forwarding tables compiled from their best paths (`compile`). Pure: no IO, no clock.
//!
//! What feeds the RIBs (../shared/reference/msee-bgp.md):
//! - the customer's router on each circuit link (eBGP, the site's ASN). Today every site's
//!   router is the built-in static one, which announces the site's prefixes from the file;
//! - the gateways of the VNets linked to the circuit (eBGP, AS 65515, with the connection's
//!   weight; a VNet's custom community and then its region's on its routes);
//! - Global Reach (iBGP in AS 12076 between the two circuits' MSEEs, primary with primary,
//!   secondary with secondary): each MSEE passes what it learned from its own customer and its
//!   own VNet gateways (its best such route per prefix), tagged 12076:12077, and never what it
//!   learned over another Global Reach connection. That origin rule is what makes Global Reach
//!   non-transitive. IPv6 crosses a connection only when it has an IPv6 /125.
//!
//! What each MSEE sends its VNet gateways: its best routes but the gateway's own, with 12076
//! prepended, and `12076 12076` more on routes learned over Global Reach (so a VNet linked only
//! to circuit A reaches B's sites and VNets over A's Global Reach, as a longer path, and a VNet
//! linked to both prefers the direct one). A gateway picks per Azure's order (weight, then
//! the shortest AS path; the first circuit listed on a tie) and never passes routes from one
//! circuit to another. reachlab's choice where the sources are silent: an MSEE exports over
//! Global Reach its best *local* route per prefix, decided among its customer and gateway
//! routes alone (real MSEEs would export only when that is also their overall best; without
//! weights or LOCAL_PREF on those routes the two agree).

pub mod changes;
pub mod compile;
pub mod route;
pub mod speakers;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::engine::table::gateway_address;
use crate::topology::Topology;
pub use changes::{Authorization, Change, Effect, GlobalReachAdd};
pub use compile::tables;
use route::{Origin, Route, GATEWAY_ASN, GLOBAL_REACH_COMMUNITY, MICROSOFT_ASN};
pub use speakers::{adj_rib_out, AdjRibIn, Announced, CustomerLink};
pub use state::Plane;

/// One router's Loc-RIB (RFC 4271 section 3.2): every path to every prefix, the best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocRib {
    paths: BTreeMap<IpNet, Vec<Route>>,
}

impl LocRib {
    fn add(&mut self, r: Route) {
        self.paths.entry(r.prefix).or_default().push(r);
    }

    fn extend(&mut self, routes: impl IntoIterator<Item = Route>) {
        for r in routes {
            self.add(r);
        }
    }

    fn sort(&mut self, order: fn(&Route, &Route) -> std::cmp::Ordering) {
        for v in self.paths.values_mut() {
            // Stable: equal routes keep the order they were learned in.
            v.sort_by(order);
        }
    }

    /// Every prefix with its paths, best first; IPv4 before IPv6, each in prefix order.
    pub fn iter(&self) -> impl Iterator<Item = (&IpNet, &[Route])> {
        let v4 = self.paths.iter().filter(|(p, _)| matches!(p, IpNet::V4(_)));
        let v6 = self.paths.iter().filter(|(p, _)| matches!(p, IpNet::V6(_)));
        v4.chain(v6).map(|(p, v)| (p, &v[..]))
    }

    /// The best path to each prefix.
    pub fn best(&self) -> impl Iterator<Item = &Route> {
        self.iter().filter_map(|(_, v)| v.first())
    }

    pub fn get(&self, prefix: &IpNet) -> &[Route] {
        self.paths.get(prefix).map_or(&[], |v| &v[..])
    }
}

/// A VNet gateway's routes, each with the circuit it was learned through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayRib {
    paths: BTreeMap<IpNet, Vec<(usize, Route)>>,
}

/// The most circuits a gateway spreads a prefix's flows over (Azure's ECMP limit).
pub const MAX_ECMP: usize = 4;

impl GatewayRib {
    /// Every prefix with its paths (circuit, route), best first.
    pub fn iter(&self) -> impl Iterator<Item = (&IpNet, &[(usize, Route)])> {
        self.paths.iter().map(|(p, v)| (p, &v[..]))
    }

    /// The circuits a prefix's flows are spread over: those whose path ties with the best on
    /// weight and AS path length, up to four, best first.
    pub fn multipath(paths: &[(usize, Route)]) -> Vec<usize> {
        let Some((_, best)) = paths.first() else {
            return Vec::new();
        };
        let mut v: Vec<usize> = Vec::new();
        for (c, r) in paths {
            if route::gateway_order(r, best) == std::cmp::Ordering::Equal
                && !v.contains(c)
                && v.len() < MAX_ECMP
            {
                v.push(*c);
            }
        }
        v
    }
}

/// Every RIB of a lab.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    /// Per circuit (topology order), per link (primary, secondary): the MSEE's RIB.
    pub msee: Vec<[LocRib; 2]>,
    /// Per VNet (topology order): its gateway's RIB.
    pub gateway: Vec<GatewayRib>,
    /// Per circuit, per link: what its MSEE learns from its own customers and gateways, kept
    /// so that a change reads its Global Reach peers' without computing them again.
    local: Vec<[LocRib; 2]>,
}

/// The best path per prefix of a circuit's MSEE pair: the better of the primary's and the
/// secondary's best (the primary's on a tie). What the circuit forwards by and tells its
/// VNets: a prefix one link lost (its session down) is still known through the other.
pub fn pair_best(pair: &[LocRib; 2]) -> Vec<&Route> {
    let mut best: BTreeMap<IpNet, &Route> = BTreeMap::new();
    for r in pair[0].best().chain(pair[1].best()) {
        best.entry(r.prefix)
            .and_modify(|b| {
                if route::msee_order(r, b) == std::cmp::Ordering::Less {
                    *b = r;
                }
            })
            .or_insert(r);
    }
    let (v4, v6): (Vec<&Route>, Vec<&Route>) = best
        .into_values()
        .partition(|r| matches!(r.prefix, IpNet::V4(_)));
    v4.into_iter().chain(v6).collect()
}

/// One prefix of what `pair_best` gives: the better of the two links' best paths to it.
pub fn pair_best_for<'a>(pair: &'a [LocRib; 2], prefix: &IpNet) -> Option<&'a Route> {
    match (pair[0].get(prefix).first(), pair[1].get(prefix).first()) {
        (Some(a), Some(b)) if route::msee_order(b, a) == std::cmp::Ordering::Less => Some(b),
        (a, b) => a.or(b),
    }
}

/// The address `n` hosts into `net` (its network address + n).
fn nth(net: ipnet::Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + n)
}

/// The customer's (CE) address on a circuit link: first usable address of its /30.
pub fn ce_address(t: &Topology, circuit: usize, link: usize) -> Ipv4Addr {
    let pp = t.circuit[circuit]
        .peering_prefix
        .expect("defaults resolved");
    nth(pp, 4 * link as u32 + 1)
}

/// The MSEE's address on a circuit link: second usable address of its /30.
pub fn msee_address(t: &Topology, circuit: usize, link: usize) -> Ipv4Addr {
    let pp = t.circuit[circuit]
        .peering_prefix
        .expect("defaults resolved");
    nth(pp, 4 * link as u32 + 2)
}

/// The (CE, MSEE) addresses of a circuit link in one family: IPv4 always (`peering_prefix`),
/// IPv6 when the circuit has an IPv6 peering (`peering_prefix_v6`).
pub fn link_addresses(
    t: &Topology,
    circuit: usize,
    link: usize,
    v6: bool,
) -> Option<(IpAddr, IpAddr)> {
    if !v6 {
        return Some((
            IpAddr::V4(ce_address(t, circuit, link)),
            IpAddr::V4(msee_address(t, circuit, link)),
        ));
    }
    let (ce, msee) = t.circuit[circuit].peering_prefix_v6?.addresses(link);
    Some((IpAddr::V6(ce), IpAddr::V6(msee)))
}

/// The next hop an MSEE gives a route to `prefix` on a circuit link: the CE's (`msee` false)
/// or its own address in the prefix's family, the IPv4 one when the link has no IPv6.
pub fn link_next_hop(
    t: &Topology,
    circuit: usize,
    link: usize,
    prefix: &IpNet,
    msee: bool,
) -> IpAddr {
    let v6 = matches!(prefix, IpNet::V6(_));
    let (ce, own) = link_addresses(t, circuit, link, v6)
        .or_else(|| link_addresses(t, circuit, link, false))
        .expect("IPv4 always");
    if msee {
        own
    } else {
        ce
    }
}

/// `circuit`'s MSEE address on Global Reach connection `gr`, for link `link` (IPv4: the
/// first circuit's MSEE .1 / .2 on the primary, .5 / .6 on the secondary; IPv6: ::1 / ::2).
pub fn gr_address(t: &Topology, gr: usize, circuit: usize, link: usize, v6: bool) -> IpAddr {
    let g = &t.global_reach[gr];
    let side = u32::from(t.circuit[circuit].name == g.circuits[1]);
    match (v6, g.ipv6_address_prefix) {
        (true, Some(p)) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(p.network()) + 1 + side as u128,
        )),
        _ => IpAddr::V4(nth(g.address_prefix, 4 * link as u32 + 1 + side)),
    }
}

/// What the MSEE of circuit `c` learns on link `link` (0 primary, 1 secondary) from its own
/// customers (whatever their routers announced there) and its VNet gateways, best first.
fn local_rib(t: &Topology, adj_rib_in: &AdjRibIn, c: usize, link: usize) -> LocRib {
    let name = &t.circuit[c].name;
    let mut local = LocRib::default();
    for (i, s) in t.site.iter().enumerate() {
        // A site on the circuit more than once still feeds it once per listing, as before.
        for _ in s.circuits.iter().filter(|n| *n == name) {
            for (p, a) in adj_rib_in.get(i, c, link).into_iter().flatten() {
                local.add(Route {
                    prefix: *p,
                    next_hop: link_next_hop(t, c, link, p, false),
                    as_path: a.as_path.clone(),
                    local_pref: None,
                    weight: 0,
                    origin: Origin::Customer { site: i },
                    communities: a.communities.clone(),
                });
            }
        }
    }
    for (j, v) in t.vnet.iter().enumerate() {
        // A custom community brings the region's with it; without one, neither.
        let communities: Vec<(u16, u16)> = v
            .community()
            .map(|c| {
                let region = crate::catalogue::catalogue()
                    .azure_region(&v.region)
                    .and_then(|r| r.community)
                    .map(|r| (MICROSOFT_ASN as u16, r));
                std::iter::once(c).chain(region).collect()
            })
            .unwrap_or_default();
        for _ in v.circuits.iter().filter(|n| *n == name) {
            for p in &v.prefixes {
                local.add(Route {
                    prefix: *p,
                    next_hop: gateway_address(p),
                    as_path: vec![GATEWAY_ASN],
                    local_pref: None,
                    weight: 0,
                    origin: Origin::Gateway { vnet: j },
                    communities: communities.clone(),
                });
            }
        }
    }
    local.sort(route::msee_order);
    local
}

/// Each circuit's Global Reach connections as (connection, peer circuit), in the topology's
/// order: names matched once per computation, not once per lookup (a 64-circuit mesh has
/// 1,975 connections, and every MSEE RIB reads its own).
struct GrIndex {
    peers: Vec<Vec<(usize, usize)>>,
}

impl GrIndex {
    fn new(t: &Topology) -> GrIndex {
        let index: std::collections::HashMap<&str, usize> = t
            .circuit
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        let at = |n: &String| {
            *index
                .get(n.as_str())
                .expect("validated topology: circuit exists")
        };
        let mut peers = vec![Vec::new(); t.circuit.len()];
        for (g, conn) in t.global_reach.iter().enumerate() {
            let (a, b) = (at(&conn.circuits[0]), at(&conn.circuits[1]));
            if a != b {
                peers[a].push((g, b));
                peers[b].push((g, a));
            }
        }
        GrIndex { peers }
    }

    /// The circuits joined to `c` by Global Reach.
    fn peers_of(&self, c: usize) -> impl Iterator<Item = usize> + '_ {
        self.peers[c].iter().map(|&(_, p)| p)
    }
}

fn circuit_index(t: &Topology, name: &str) -> usize {
    t.circuit
        .iter()
        .position(|c| c.name == name)
        .expect("validated topology: circuit exists")
}

/// The Loc-RIB of circuit `c`'s MSEE on `link`: its local routes and, over each Global Reach
/// connection, the peer's best local routes (tagged 12076:12077), best first. `local` gives a
/// circuit's local RIB.
fn msee_rib<'a>(
    t: &Topology,
    grs: &GrIndex,
    c: usize,
    link: usize,
    local: &dyn Fn(usize) -> &'a LocRib,
) -> LocRib {
    let mut rib = local(c).clone();
    // Over Global Reach: each peer's best local routes, to this MSEE.
    for &(g, from) in &grs.peers[c] {
        for r in local(from).best() {
            rib.extend(over_global_reach(t, g, from, link, r));
        }
    }
    rib.sort(route::msee_order);
    rib
}

/// One prefix of what `msee_rib` gives: the same paths in the same order.
fn msee_paths<'a>(
    t: &Topology,
    grs: &GrIndex,
    c: usize,
    link: usize,
    prefix: &IpNet,
    local: &dyn Fn(usize) -> &'a LocRib,
) -> Vec<Route> {
    let mut paths = local(c).get(prefix).to_vec();
    for &(g, from) in &grs.peers[c] {
        if let Some(r) = local(from).get(prefix).first() {
            paths.extend(over_global_reach(t, g, from, link, r));
        }
    }
    // Stable, as `LocRib::sort`: the same order as a full computation.
    paths.sort_by(route::msee_order);
    paths
}

/// Peer `from`'s best local route `r` as the other MSEE of Global Reach connection `g` learns
/// it on `link`; none for IPv6 over a connection without an IPv6 /125.
fn over_global_reach(t: &Topology, g: usize, from: usize, link: usize, r: &Route) -> Option<Route> {
    let v6 = matches!(r.prefix, IpNet::V6(_));
    if v6 && t.global_reach[g].ipv6_address_prefix.is_none() {
        return None;
    }
    let mut communities = r.communities.clone();
    communities.push(GLOBAL_REACH_COMMUNITY);
    Some(Route {
        next_hop: gr_address(t, g, from, link, v6),
        origin: Origin::GlobalReach { peer: from, gr: g },
        communities,
        ..r.clone()
    })
}

/// The gateway RIB of VNet `j`: what it learns from the MSEEs of its circuits (the primary
/// link's view: both links carry the same routes).
fn gateway_rib(t: &Topology, msee: &[[LocRib; 2]], j: usize) -> GatewayRib {
    let v = &t.vnet[j];
    let mut g = GatewayRib::default();
    for cname in &v.circuits {
        let c = circuit_index(t, cname);
        for r in pair_best(&msee[c]) {
            if r.origin == (Origin::Gateway { vnet: j }) {
                continue;
            }
            let mut as_path = vec![MICROSOFT_ASN];
            if matches!(r.origin, Origin::GlobalReach { .. }) {
                as_path.extend([MICROSOFT_ASN, MICROSOFT_ASN]);
            }
            as_path.extend(&r.as_path);
            g.paths.entry(r.prefix).or_default().push((
                c,
                Route {
                    next_hop: link_next_hop(t, c, 0, &r.prefix, true),
                    as_path,
                    // The connection's routing weight.
                    weight: u32::from(v.weight(cname)),
                    ..r.clone()
                },
            ));
        }
    }
    for v in g.paths.values_mut() {
        v.sort_by(|a, b| route::gateway_order(&a.1, &b.1));
    }
    g
}

/// Computes every RIB from a validated topology (defaults resolved) and what each site's
/// router announces.
pub fn routing(t: &Topology, adj_rib_in: &AdjRibIn) -> Routing {
    let n = t.circuit.len();
    let local: Vec<[LocRib; 2]> = (0..n)
        .map(|c| [0, 1].map(|link| local_rib(t, adj_rib_in, c, link)))
        .collect();
    let grs = GrIndex::new(t);
    let msee: Vec<[LocRib; 2]> = (0..n)
        .map(|c| [0, 1].map(|link| msee_rib(t, &grs, c, link, &|x| &local[x][link])))
        .collect();
    let gateway = (0..t.vnet.len())
        .map(|j| gateway_rib(t, &msee, j))
        .collect();
    Routing {
        msee,
        gateway,
        local,
    }
}

/// Brings `routing` up to date after what circuit `c`'s customers announce on `link` changed
/// for `prefixes` (and for no other prefix): only the RIBs that change can touch (the MSEEs
/// of `c` and of its Global Reach peers on that link, each only for those prefixes, and the
/// gateways of the VNets linked to any of them). Returns the circuits whose MSEE RIB on
/// `link` was brought up to date.
pub fn update_routing(
    t: &Topology,
    adj_rib_in: &AdjRibIn,
    routing: &mut Routing,
    c: usize,
    link: usize,
    prefixes: &BTreeSet<IpNet>,
) -> Vec<usize> {
    let grs = GrIndex::new(t);
    routing.local[c][link] = local_rib(t, adj_rib_in, c, link);
    let mut touched = vec![c];
    touched.extend(grs.peers_of(c));
    touched.sort_unstable();
    touched.dedup();
    let Routing { msee, local, .. } = routing;
    for &x in &touched {
        let rib = &mut msee[x][link];
        for p in prefixes {
            let paths = msee_paths(t, &grs, x, link, p, &|y| &local[y][link]);
            if paths.is_empty() {
                rib.paths.remove(p);
            } else {
                rib.paths.insert(*p, paths);
            }
        }
    }
    for (j, v) in t.vnet.iter().enumerate() {
        if v.circuits
            .iter()
            .any(|n| touched.contains(&circuit_index(t, n)))
        {
            routing.gateway[j] = gateway_rib(t, &routing.msee, j);
        }
    }
    touched
}

/// Who an MSEE's BGP neighbour is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The customer's router of a site on this circuit.
    Customer { site: usize },
    /// The gateway of a VNet linked to this circuit.
    Gateway { vnet: usize },
    /// The MSEE of the circuit at the other end of a Global Reach connection.
    GlobalReach { peer: usize, gr: usize },
}

/// One BGP neighbour of an MSEE and how many prefixes it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    pub address: IpAddr,
    pub asn: u32,
    pub peer: Peer,
    pub prefixes_received: usize,
}

/// The neighbours of the MSEE of `circuit`'s link `link` in one family (`v6`), as the
/// route-table summary lists them: its customer's router, its VNets' gateways (AS 65515), its
/// Global Reach peers' MSEEs (AS 12076, iBGP); each with the prefixes it gave in that family.
/// IPv6 neighbours are those with an IPv6 address: the customer on a circuit with an IPv6
/// peering, a VNet with an IPv6 prefix, a connection with an IPv6 /125.
pub fn neighbors(
    t: &Topology,
    routing: &Routing,
    circuit: usize,
    link: usize,
    v6: bool,
) -> Vec<Neighbor> {
    let name = &t.circuit[circuit].name;
    let rib = &routing.msee[circuit][link];
    let count = |o: &dyn Fn(&Origin) -> bool| {
        rib.iter()
            .filter(|(p, _)| matches!(p, IpNet::V6(_)) == v6)
            .flat_map(|(_, v)| v.iter())
            .filter(|r| o(&r.origin))
            .count()
    };
    let mut v = Vec::new();
    if let Some((ce, _)) = link_addresses(t, circuit, link, v6) {
        for (i, s) in t.site.iter().enumerate().filter(|(_, s)| s.on(name)) {
            v.push(Neighbor {
                address: ce,
                asn: s.asn.unwrap_or(0),
                peer: Peer::Customer { site: i },
                prefixes_received: count(&|o| *o == Origin::Customer { site: i }),
            });
        }
    }
    for (j, n) in t
        .vnet
        .iter()
        .enumerate()
        .filter(|(_, n)| n.circuits.contains(name))
    {
        let Some(first) = n.prefixes.iter().find(|p| matches!(p, IpNet::V6(_)) == v6) else {
            continue;
        };
        v.push(Neighbor {
            address: gateway_address(first),
            asn: GATEWAY_ASN,
            peer: Peer::Gateway { vnet: j },
            prefixes_received: count(&|o| *o == Origin::Gateway { vnet: j }),
        });
    }
    for (g, conn) in t.global_reach.iter().enumerate() {
        let Some(other) = conn.circuits.iter().position(|c| c != name) else {
            continue;
        };
        if !conn.circuits.contains(name) || (v6 && conn.ipv6_address_prefix.is_none()) {
            continue;
        }
        let peer = t
            .circuit
            .iter()
            .position(|c| c.name == conn.circuits[other])
            .expect("validated topology: circuit exists");
        v.push(Neighbor {
            address: gr_address(t, g, peer, link, v6),
            asn: MICROSOFT_ASN,
            peer: Peer::GlobalReach { peer, gr: g },
            prefixes_received: count(&|o| *o == Origin::GlobalReach { peer, gr: g }),
        });
    }
    v
}

#[cfg(test)]
mod tests;
