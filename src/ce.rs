//! The customer edge as reachlab configures it: what a site's router is told (eBGP to both
//! MSEEs of each of its circuits as AS 12076, over IPv4 and, on circuits with an IPv6 peering,
//! in a separate IPv6 session to each MSEE's IPv6 address; BFD at 300 ms x 3, MD5 when the
//! circuit has a key, the site's own prefixes announced and nothing it learned, multipath over
//! both links)
//! and FRR's configuration for it. Pure text: the lab runs it in a site's namespace
//! (`lab::frr`), `export -o containerlab` writes it for a node (`clab`).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use ipnet::IpNet;

use crate::engine::Tables;
use crate::topology::Topology;

/// What reachlab tells a site's FRR.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRouter {
    pub hostname: String,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// The MSEEs' addresses on the circuits' links (primary, then secondary): IPv4, then the
    /// IPv6 ones of circuits with an IPv6 peering. Each is its own session, carrying its own
    /// family only, from the CE's address on that link (the one before the MSEE's).
    pub neighbors: Vec<IpAddr>,
    /// The site's prefixes, announced.
    pub networks: Vec<IpNet>,
    /// Seconds between connection attempts (FRR's default of 120 is long for a lab).
    pub connect_retry: u16,
    /// The site's LAN address: BGP routes installed in the kernel take it as their source, so
    /// traffic from the site leaves from its prefix, not from a link's /30.
    pub lan_source: Option<Ipv4Addr>,
    /// The same for IPv6: the site's IPv6 LAN address.
    pub lan_source_v6: Option<Ipv6Addr>,
    /// The MD5 shared key of each neighbour whose circuit has one.
    pub passwords: std::collections::BTreeMap<IpAddr, String>,
}

/// The site's FRR configuration (integrated frr.conf).
impl SiteRouter {
    /// Site `i`'s router as reachlab sets it up: eBGP to both MSEEs of each of its circuits
    /// (keyed as the circuit says), its prefixes announced, its first link's address as
    /// router ID, its LAN address as the source of what it routes.
    pub fn of(topo: &Topology, tables: &Tables, i: usize) -> SiteRouter {
        let s = &topo.site[i];
        let mut neighbors = Vec::new();
        let mut passwords = std::collections::BTreeMap::new();
        let index = |name: &str| topo.circuit.iter().position(|c| c.name == name);
        let circuits: Vec<usize> = s.circuits.iter().filter_map(|n| index(n)).collect();
        let v4 = circuits.iter().flat_map(|c| {
            let l = tables.circuits[*c].link_v4;
            l.map(|(_, msee)| (*c, IpAddr::V4(msee)))
        });
        let v6 = circuits.iter().flat_map(|c| {
            let l = tables.circuits[*c].link_v6;
            l.into_iter()
                .flat_map(move |l| l.map(|(_, msee)| (*c, IpAddr::V6(msee))))
        });
        for (c, msee) in v4.chain(v6) {
            neighbors.push(msee);
            if let Some(k) = &topo.circuit[c].shared_key {
                passwords.insert(msee, k.clone());
            }
        }
        let router_id = s
            .circuits
            .first()
            .and_then(|n| index(n))
            .map_or(Ipv4Addr::UNSPECIFIED, |c| tables.circuits[c].link_v4[0].0);
        SiteRouter {
            hostname: s.name.clone(),
            asn: s.asn.unwrap_or(65001 + i as u32),
            router_id,
            neighbors,
            networks: s.prefixes.clone(),
            connect_retry: 2,
            lan_source: s
                .prefixes
                .iter()
                .find_map(|p| match topo.host_address(&s.name, p) {
                    IpAddr::V4(a) => Some(a),
                    IpAddr::V6(_) => None,
                }),
            lan_source_v6: s
                .prefixes
                .iter()
                .find_map(|p| match topo.host_address(&s.name, p) {
                    IpAddr::V6(a) => Some(a),
                    IpAddr::V4(_) => None,
                }),
            passwords,
        }
    }
}

/// The CE's address on the link whose MSEE is `msee` (the address before it).
fn ce_of(msee: IpAddr) -> IpAddr {
    match msee {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) - 1)),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) - 1)),
    }
}

/// FRR's integrated configuration for `r`, logging to `log`.
pub fn config(r: &SiteRouter, log: &Path) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "! Written by reachlab for site {}.", r.hostname);
    let _ = writeln!(c, "frr defaults traditional");
    let _ = writeln!(c, "hostname {}", r.hostname);
    let _ = writeln!(c, "log file {}", log.display());
    let _ = writeln!(c, "!");
    if let Some(src) = r.lan_source {
        let _ = writeln!(c, "route-map reachlab-lan-source permit 10");
        let _ = writeln!(c, " set src {src}");
        let _ = writeln!(c, "exit");
        let _ = writeln!(c, "ip protocol bgp route-map reachlab-lan-source");
        let _ = writeln!(c, "!");
    }
    if let Some(src) = r.lan_source_v6 {
        let _ = writeln!(c, "route-map reachlab-lan-source-v6 permit 10");
        let _ = writeln!(c, " set src {src}");
        let _ = writeln!(c, "exit");
        let _ = writeln!(c, "ipv6 protocol bgp route-map reachlab-lan-source-v6");
        let _ = writeln!(c, "!");
    }
    // What the site announces to the MSEEs: its own routes only (an empty AS path), as CE
    // routers on ExpressRoute are set up. Without it the router passes what it learned from
    // one MSEE to the other, which accepts it (allowas-in 2): the site becomes a transit
    // between the Global Reach peers, and a mesh of sites carries every route twice.
    let _ = writeln!(c, "bgp as-path access-list reachlab-own permit ^$");
    let _ = writeln!(c, "!");
    // BFD as Microsoft runs it on the MSEEs: 300 ms x 3.
    let _ = writeln!(c, "bfd");
    let _ = writeln!(c, " profile msee");
    let _ = writeln!(c, "  transmit-interval 300");
    let _ = writeln!(c, "  receive-interval 300");
    let _ = writeln!(c, "  detect-multiplier 3");
    // No `exit` here: bgpd and zebra, which know no `bfd` node, would take it as leaving
    // configuration mode and skip the rest.
    let _ = writeln!(c, "!");
    let _ = writeln!(c, "router bgp {}", r.asn);
    let _ = writeln!(c, " bgp router-id {}", r.router_id);
    // The MSEE applies no policy either; announce without waiting for a policy.
    let _ = writeln!(c, " no bgp ebgp-requires-policy");
    let _ = writeln!(c, " no bgp network import-check");
    for n in &r.neighbors {
        let _ = writeln!(c, " neighbor {n} remote-as 12076");
        let _ = writeln!(c, " neighbor {n} timers connect {}", r.connect_retry);
        let _ = writeln!(c, " neighbor {n} bfd profile msee");
        // From the customer's address on that /30 or /126 (the MSEE's is the next one), so
        // BFD knows its source from the start.
        let _ = writeln!(c, " neighbor {n} update-source {}", ce_of(*n));
        if let Some(key) = r.passwords.get(n) {
            let _ = writeln!(c, " neighbor {n} password {key}");
        }
    }
    for (family, v6) in [("ipv4", false), ("ipv6", true)] {
        let nets: Vec<&IpNet> = r
            .networks
            .iter()
            .filter(|p| matches!(p, IpNet::V6(_)) == v6)
            .collect();
        // No IPv6 block without IPv6 to carry; with IPv6 neighbours it is needed even when the
        // site announces no IPv6 prefix of its own (they are activated there, and learn the
        // VNets' and the peers' IPv6 routes).
        if v6 && nets.is_empty() && !r.neighbors.iter().any(IpAddr::is_ipv6) {
            continue;
        }
        let _ = writeln!(c, " address-family {family} unicast");
        for p in nets {
            let _ = writeln!(c, "  network {p}");
        }
        // Each session carries its own family (as the MSEE's do): IPv4 neighbours in IPv4
        // unicast only, IPv6 neighbours in IPv6 unicast only. `traditional` activates every
        // neighbour in IPv4 unicast, so IPv6 ones are deactivated there.
        let mut paths = 0;
        for n in &r.neighbors {
            if n.is_ipv6() != v6 {
                if n.is_ipv6() {
                    let _ = writeln!(c, "  no neighbor {n} activate");
                }
                continue;
            }
            paths += 1;
            if v6 {
                let _ = writeln!(c, "  neighbor {n} activate");
            }
            let _ = writeln!(c, "  neighbor {n} filter-list reachlab-own out");
        }
        // Every link used at once, as Microsoft runs them (active-active).
        let _ = writeln!(c, "  maximum-paths {}", paths.max(1));
        let _ = writeln!(c, " exit-address-family");
    }
    c
}
