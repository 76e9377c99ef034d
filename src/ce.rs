//! The customer edge as reachlab configures it: what a site's router is told (eBGP to both
//! MSEEs of each of its circuits as AS 12076, BFD at 300 ms x 3, MD5 when the circuit has a
//! key, the site's own prefixes announced and nothing it learned, multipath over both links)
//! and FRR's configuration for it. Pure text: the lab runs it in a site's namespace
//! (`lab::frr`), `export -o containerlab` writes it for a node (`clab`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;
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
    /// The MSEEs' addresses on the circuit's links (primary, then secondary).
    pub neighbors: Vec<Ipv4Addr>,
    /// The site's prefixes, announced.
    pub networks: Vec<IpNet>,
    /// Seconds between connection attempts (FRR's default of 120 is long for a lab).
    pub connect_retry: u16,
    /// The site's LAN address: BGP routes installed in the kernel take it as their source, so
    /// traffic from the site leaves from its prefix, not from a link's /30.
    pub lan_source: Option<Ipv4Addr>,
    /// The MD5 shared key of each neighbour whose circuit has one.
    pub passwords: std::collections::BTreeMap<Ipv4Addr, String>,
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
        for c in s.circuits.iter().filter_map(|n| index(n)) {
            for (_, msee) in tables.circuits[c].link_v4 {
                neighbors.push(msee);
                if let Some(k) = &topo.circuit[c].shared_key {
                    passwords.insert(msee, k.clone());
                }
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
                    std::net::IpAddr::V4(a) => Some(a),
                    std::net::IpAddr::V6(_) => None,
                }),
            passwords,
        }
    }
}

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
        // From the customer's address on that /30 (the MSEE's is the next one), so BFD knows
        // its source from the start.
        let _ = writeln!(
            c,
            " neighbor {n} update-source {}",
            Ipv4Addr::from(u32::from(*n) - 1)
        );
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
        if nets.is_empty() && v6 {
            continue;
        }
        let _ = writeln!(c, " address-family {family} unicast");
        for p in nets {
            let _ = writeln!(c, "  network {p}");
        }
        for n in &r.neighbors {
            if v6 {
                let _ = writeln!(c, "  neighbor {n} activate");
            }
            let _ = writeln!(c, "  neighbor {n} filter-list reachlab-own out");
        }
        // Every link used at once, as Microsoft runs them (active-active).
        let _ = writeln!(c, "  maximum-paths {}", r.neighbors.len().max(1));
        let _ = writeln!(c, " exit-address-family");
    }
    c
}
