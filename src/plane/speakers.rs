//! The customer side of every circuit link, as RFC 4271 names its RIBs: the Adj-RIB-In (what
//! each site's router announces to the MSEE there, as the MSEE accepted it) and the Adj-RIB-Out
//! (what the MSEE announces back). A site's router is a speaker: the built-in static router
//! (announces the site's prefixes from the file, on both links, with the site's ASN) or a BGP
//! session with a real router; both feed the Loc-RIBs through this one place.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::route::{remove_private_as, Attributes, Origin, Route, MICROSOFT_ASN};
use super::Routing;
use crate::topology::Topology;

/// Routes one speaker announces on one link: prefix -> path attributes.
pub type Announced = BTreeMap<IpNet, Attributes>;

/// One circuit link's customer end: site `site`'s router on link `link` (0 primary, 1
/// secondary) of circuit `circuit` (indices in topology order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomerLink {
    pub site: usize,
    pub circuit: usize,
    pub link: usize,
}

/// The MSEEs' Adj-RIB-In from their customers: what every site announces on each link of each
/// of its circuits, keyed (site, circuit, link).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdjRibIn {
    per_link: BTreeMap<(usize, usize, usize), Announced>,
}

impl AdjRibIn {
    /// Every site behind the built-in static router: its file prefixes (and the default route
    /// of each family it has, with `default_route`), AS path [its ASN] (repeated as `prepend`
    /// says for the circuit), on the primary and the secondary link of each of its circuits.
    pub fn static_routers(t: &Topology) -> AdjRibIn {
        let mut c = AdjRibIn::default();
        let statics = t
            .site
            .iter()
            .enumerate()
            .filter(|(_, s)| s.router == crate::topology::Router::Static);
        for (i, s) in statics {
            let mut prefixes = s.prefixes.clone();
            if s.default_route {
                if s.prefixes.iter().any(|p| matches!(p, IpNet::V4(_))) {
                    prefixes.push("0.0.0.0/0".parse().expect("constant"));
                }
                if s.prefixes.iter().any(|p| matches!(p, IpNet::V6(_))) {
                    prefixes.push("::/0".parse().expect("constant"));
                }
            }
            let routes: Announced = prefixes
                .iter()
                .map(|p| {
                    (
                        *p,
                        Attributes {
                            as_path: vec![s.asn.unwrap_or(0)],
                            ..Default::default()
                        },
                    )
                })
                .collect();
            for name in &s.circuits {
                let Some(circuit) = t.circuit.iter().position(|c| &c.name == name) else {
                    continue;
                };
                for link in 0..2 {
                    // Its ASN once more per prepend on this circuit and link.
                    let extra = usize::from(s.prepend_on(name, link));
                    let mut routes = routes.clone();
                    for a in routes.values_mut() {
                        let asn = a.as_path[0];
                        a.as_path.extend(std::iter::repeat_n(asn, extra));
                    }
                    c.per_link.insert((i, circuit, link), routes);
                }
            }
        }
        c
    }

    /// Sets what site `site` announces on link `link` of `circuit` (a session's accepted
    /// routes).
    pub fn set(&mut self, site: usize, circuit: usize, link: usize, routes: Announced) {
        self.per_link.insert((site, circuit, link), routes);
    }

    /// What site `site` announces on link `link` of `circuit`.
    pub fn get(&self, site: usize, circuit: usize, link: usize) -> Option<&Announced> {
        self.per_link.get(&(site, circuit, link))
    }

    /// Every prefix accepted from a site on any link: the sources it may send from.
    pub fn accepted(&self, site: usize) -> Vec<IpNet> {
        let mut v: Vec<IpNet> = self
            .per_link
            .iter()
            .filter(|((s, _, _), _)| *s == site)
            .flat_map(|(_, a)| a.keys().copied())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The Adj-RIB-Out toward a customer: what the MSEE of `circuit`'s link `link` announces to the
/// router of site `site` on it: its
/// best routes but those learned from that site, with 12076 prepended after Cisco's
/// remove-private-as toward the site's ASN (a path of private ASNs only is dropped, unless it
/// holds the site's own ASN), the MSEE's address as next hop. With `maintenance`, 12076 once
/// more (the prepend Microsoft applies to a link ahead of maintenance).
pub fn adj_rib_out(
    t: &Topology,
    routing: &Routing,
    circuit: usize,
    link: usize,
    site: usize,
    maintenance: bool,
) -> Announced {
    let neighbour = t.site[site].asn.unwrap_or(0);
    routing.msee[circuit][link]
        .best()
        .filter(|r| r.origin != (Origin::Customer { site }))
        .map(|r| {
            let a = toward_customer(t, r, circuit, link, neighbour, maintenance);
            (r.prefix, a)
        })
        .collect()
}

/// Brings `out`, the Adj-RIB-Out `adj_rib_out` gave, up to date for `prefixes` after only
/// their routes changed: the same result, without reading the other prefixes.
pub fn update_adj_rib_out<'p>(
    out: &mut Announced,
    t: &Topology,
    routing: &Routing,
    link: CustomerLink,
    maintenance: bool,
    prefixes: impl IntoIterator<Item = &'p IpNet>,
) {
    let neighbour = t.site[link.site].asn.unwrap_or(0);
    for p in prefixes {
        let best = routing.msee[link.circuit][link.link]
            .get(p)
            .first()
            .filter(|r| r.origin != (Origin::Customer { site: link.site }));
        match best {
            Some(r) => {
                let a = toward_customer(t, r, link.circuit, link.link, neighbour, maintenance);
                out.insert(*p, a);
            }
            None => {
                out.remove(p);
            }
        }
    }
}

/// The attributes an MSEE sends its customer's router (AS `neighbour`) for its best route `r`.
fn toward_customer(
    t: &Topology,
    r: &Route,
    circuit: usize,
    link: usize,
    neighbour: u32,
    maintenance: bool,
) -> Attributes {
    let mut as_path = vec![MICROSOFT_ASN];
    if maintenance {
        as_path.push(MICROSOFT_ASN);
    }
    as_path.extend(remove_private_as(&r.as_path, neighbour));
    Attributes {
        origin: 0,
        as_path,
        next_hop: Some(super::link_next_hop(t, circuit, link, &r.prefix, true)),
        med: None,
        local_pref: None,
        communities: r.communities.clone(),
    }
}
