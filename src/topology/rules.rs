//! The rules a lab must satisfy, as ExpressRoute enforces them (see README and
//! ../shared/reference/expressroute.md). The one copy of the rules: files, and later live
//! changes, are checked here. Each rule reports every violation it finds, with the span of the
//! field at fault when the topology came from a file.

use ipnet::IpNet;
use std::collections::{HashMap, HashSet};

use super::{Entity, Sku, Spans, Topology};
use crate::catalogue::{catalogue, close_matches};
use crate::diag::Diagnostic;

/// Microsoft's ASN on ExpressRoute.
pub const MICROSOFT_ASN: u32 = 12076;
/// Private ASNs Azure reserves (65515 is the VNet gateways').
pub const RESERVED_ASNS: std::ops::RangeInclusive<u32> = 65515..=65520;

/// Longest name accepted for labs, circuits, sites and VNets (namespace names derive from them).
pub const MAX_NAME: usize = 32;

/// Checks every rule; an empty result means the topology is valid.
pub fn check(t: &Topology, spans: &Spans) -> Vec<Diagnostic> {
    let mut r = Rules {
        t,
        spans,
        out: Vec::new(),
    };
    r.names();
    r.circuits();
    r.endpoints();
    r.prefixes();
    r.communities();
    r.global_reach();
    r.out
}

/// Who holds a prefix, for what may overlap what.
#[derive(Clone, Copy, PartialEq)]
enum Owner {
    Site(usize),
    Vnet(usize),
    Link,
}

/// A prefix in the lab: the prefix, who holds it (as said in errors), where it is written
/// (entity, field, index) and its owner.
type Claim = (IpNet, String, Entity, &'static str, usize, Owner);

struct Rules<'a> {
    t: &'a Topology,
    spans: &'a Spans,
    out: Vec<Diagnostic>,
}

fn suggest(list: Vec<&str>) -> String {
    match list.as_slice() {
        [] => String::new(),
        [one] => format!(" (did you mean \"{one}\"?)"),
        many => format!(
            " (did you mean {}?)",
            many.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

impl Rules<'_> {
    fn err(&mut self, e: Entity, field: &'static str, i: usize, msg: String) {
        let span = self.spans.get(e, field, i);
        self.out.push(Diagnostic::new(span, msg));
    }

    fn name_ok(&mut self, e: Entity, kind: &str, name: &str) {
        let ok_chars = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let ok_start = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if name.is_empty() || name.len() > MAX_NAME || !ok_chars || !ok_start {
            self.err(
                e,
                "name",
                0,
                format!(
                    "{kind} name \"{name}\" is not allowed: use 1 to {MAX_NAME} letters, digits, '-' or '_', starting with a letter or digit"
                ),
            );
        }
    }

    fn names(&mut self) {
        let t = self.t;
        self.name_ok(Entity::Lab, "lab", &t.lab.name);
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, c) in t.circuit.iter().enumerate() {
            self.name_ok(Entity::Circuit(i), "circuit", &c.name);
            if let Some(first) = seen.insert(&c.name, i) {
                self.err(
                    Entity::Circuit(i),
                    "name",
                    0,
                    format!(
                        "circuit name \"{}\" is already used by circuit #{}; circuit names must be unique",
                        c.name,
                        first + 1
                    ),
                );
            }
        }
        // Sites and VNets share one name space: `reachlab exec NAME` addresses either.
        let mut seen: HashMap<&str, &str> = HashMap::new();
        let eps = t
            .site
            .iter()
            .enumerate()
            .map(|(i, s)| (Entity::Site(i), "site", s.name.as_str()))
            .chain(
                t.vnet
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (Entity::Vnet(i), "vnet", v.name.as_str())),
            );
        for (e, kind, name) in eps {
            self.name_ok(e, kind, name);
            if let Some(other) = seen.insert(name, kind) {
                self.err(
                    e,
                    "name",
                    0,
                    format!(
                        "{kind} name \"{name}\" is already used by a {other}; site and VNet names must be unique together"
                    ),
                );
            }
        }
    }

    fn circuits(&mut self) {
        let cat = catalogue();
        for (i, c) in self.t.circuit.iter().enumerate() {
            let e = Entity::Circuit(i);
            if cat.location(&c.peering_location).is_none() {
                let hint = suggest(close_matches(&c.peering_location, cat.location_names()));
                self.err(
                    e,
                    "peering_location",
                    0,
                    format!(
                        "unknown peering location \"{}\"{hint}; `reachlab locations` lists the {} known ones",
                        c.peering_location,
                        cat.location.len()
                    ),
                );
            }
            if !c.bandwidth.is_unlimited()
                && (c.bandwidth < super::Bandwidth::MIN || c.bandwidth > super::Bandwidth::MAX)
            {
                self.err(
                    e,
                    "bandwidth",
                    0,
                    format!(
                        "bandwidth {} is out of range; ExpressRoute circuits run from {} to {} (or \"unlimited\" for no shaping)",
                        c.bandwidth,
                        super::Bandwidth::MIN,
                        super::Bandwidth::MAX
                    ),
                );
            }
            if let Some(k) = &c.shared_key {
                if k.is_empty() || k.len() > 25 || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
                    self.err(
                        e,
                        "shared_key",
                        0,
                        "shared_key must be 1 to 25 letters and digits (Azure's rule for the private peering's MD5 key)".to_string(),
                    );
                }
            }
            if c.peering_prefix_v6.is_some() && c.peering_prefix.is_none() {
                self.err(
                    e,
                    "peering_prefix_v6",
                    0,
                    "peering_prefix_v6 needs peering_prefix: an IPv6 private peering is added to the IPv4 one (give peering_prefix = \"A.B.C.D/29\" too)".to_string(),
                );
            }
            if let Some(p) = c.peering_prefix {
                if !(29..=30).contains(&p.prefix_len()) {
                    self.err(
                        e,
                        "peering_prefix",
                        0,
                        format!(
                            "peering_prefix {p} must be a /30 (primary link) or a /29 (primary and secondary /30s)"
                        ),
                    );
                }
            }
        }
    }

    fn circuit_ref(&mut self, e: Entity, field: &'static str, i: usize, name: &str) -> bool {
        if self.t.circuit(name).is_some() {
            return true;
        }
        let hint = suggest(close_matches(
            name,
            self.t.circuit.iter().map(|c| c.name.as_str()),
        ));
        let known: Vec<&str> = self.t.circuit.iter().map(|c| c.name.as_str()).collect();
        self.err(
            e,
            field,
            i,
            format!(
                "no circuit named \"{name}\"{hint}; circuits in this lab: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        );
        false
    }

    fn endpoints(&mut self) {
        for i in 0..self.t.site.len() {
            self.site(i);
        }
        self.ports_unique();
        for i in 0..self.t.vnet.len() {
            self.vnet(i);
        }
    }

    /// Site `i`: its circuits exist, once each; its keys fit its router; its ASN is one a
    /// customer may use.
    fn site(&mut self, i: usize) {
        let s = &self.t.site[i];
        for (j, c) in s.circuits.iter().enumerate() {
            self.circuit_ref(Entity::Site(i), "circuits", j, c);
            if s.circuits[..j].contains(c) {
                self.err(
                    Entity::Site(i),
                    "circuits",
                    j,
                    format!("site {}: circuit {c} is listed twice", s.name),
                );
            }
        }
        if s.router_config.is_some() && s.router != super::Router::Frr {
            self.err(
                Entity::Site(i),
                "router_config",
                0,
                format!(
                    "site {}: router_config is FRR's configuration and needs router = \"frr\"",
                    s.name
                ),
            );
        }
        self.prepend(i);
        if s.default_route && s.router != super::Router::Static {
            self.err(
                    Entity::Site(i),
                    "default_route",
                    0,
                    format!(
                        "site {}: default_route is for the built-in static router; a real router announces 0.0.0.0/0 itself (FRR: `network 0.0.0.0/0` or `default-originate`)",
                        s.name
                    ),
                );
        }
        if s.router.is_real() {
            self.router_site(i);
        }
        if let Some(asn) = s.asn {
            if asn == MICROSOFT_ASN || RESERVED_ASNS.contains(&asn) || asn == 23456 {
                self.err(
                        Entity::Site(i),
                        "asn",
                        0,
                        format!(
                            "site {} cannot use asn {asn}: 12076 is Microsoft's, 65515-65520 are reserved by Azure, 23456 is AS_TRANS",
                            s.name
                        ),
                    );
            }
        }
    }

    /// No interface (or VXLAN) attaches two links: each link is its own wire.
    fn ports_unique(&mut self) {
        let mut seen: Vec<(String, &str, &str)> = Vec::new();
        for (i, s) in self.t.site.iter().enumerate() {
            for (j, (key, p)) in s.ports.iter().enumerate() {
                let id = match p {
                    super::PortSpec::Interface { .. } => p.to_string(),
                    super::PortSpec::Vxlan { netns, vni, .. } => {
                        format!("vxlan {vni} in {}", netns.as_deref().unwrap_or("-"))
                    }
                };
                if let Some((_, site, k)) = seen.iter().find(|(x, ..)| *x == id) {
                    let msg = format!(
                        "site {}: port {key} ({p}) is already site {site}'s {k}; each link needs an interface (or VNI) of its own",
                        s.name
                    );
                    self.err(Entity::Site(i), "ports", j, msg);
                } else {
                    seen.push((id, &s.name, key));
                }
            }
        }
    }

    /// Site `i`'s prepend keys: a circuit it is on (or one of its links), static router only.
    fn prepend(&mut self, i: usize) {
        let s = &self.t.site[i];
        for (j, key) in s.prepend.keys().enumerate() {
            let (c, link) = key.split_once('/').unwrap_or((key, ""));
            if !matches!(link, "" | "primary" | "secondary") {
                self.err(
                    Entity::Site(i),
                    "prepend",
                    j,
                    format!(
                        "site {}: prepend key \"{key}\" names link \"{link}\"; write CIRCUIT or CIRCUIT/primary or CIRCUIT/secondary",
                        s.name
                    ),
                );
            } else if !s.on(c) {
                self.err(
                    Entity::Site(i),
                    "prepend",
                    j,
                    format!(
                        "site {}: prepend for circuit {c}, which the site is not on; its circuits: {}",
                        s.name,
                        s.circuits.join(", ")
                    ),
                );
            } else if s.router != super::Router::Static {
                self.err(
                    Entity::Site(i),
                    "prepend",
                    j,
                    format!(
                        "site {}: prepend is for the built-in static router; a real router prepends in its own config (FRR: a route-map with `set as-path prepend`)",
                        s.name
                    ),
                );
            }
        }
    }

    /// Site `i` with a real router: IPv6 prefixes only when every circuit it is on has an
    /// IPv6 private peering (its routers' IPv6 sessions run over it), a /29 per circuit, each
    /// circuit to itself.
    fn router_site(&mut self, i: usize) {
        let t = self.t;
        let s = &t.site[i];
        let without_v6: Vec<&str> = s
            .circuits
            .iter()
            .filter(|c| t.circuit(c).is_some_and(|c| c.peering_prefix_v6.is_none()))
            .map(String::as_str)
            .collect();
        if let (Some(j), Some(c)) = (
            s.prefixes
                .iter()
                .position(|p| matches!(p, ipnet::IpNet::V6(_))),
            without_v6.first(),
        ) {
            self.err(
                Entity::Site(i),
                "prefixes",
                j,
                format!(
                    "site {}: IPv6 prefix {} needs an IPv6 BGP session, and circuit {c} has no IPv6 private peering: add peering_prefix_v6 to circuit {c} (a /125, or two /126s), or give this site IPv4 prefixes only",
                    s.name, s.prefixes[j]
                ),
            );
        }
        for (j, c) in s.circuits.iter().enumerate() {
            if let Some(pp) = t.circuit(c).and_then(|c| c.peering_prefix) {
                if pp.prefix_len() != 29 {
                    self.err(
                        Entity::Site(i),
                        "circuits",
                        j,
                        format!(
                            "site {}: a router peers over both of the circuit's links: circuit {c} needs a /29 peering_prefix (it has {pp})",
                            s.name
                        ),
                    );
                }
            }
            if t.site.iter().filter(|o| o.on(c)).count() > 1 {
                self.err(
                    Entity::Site(i),
                    "circuits",
                    j,
                    format!(
                        "site {}: a site with a router needs its circuit {c} to itself (its router holds the circuit's links)",
                        s.name
                    ),
                );
            }
        }
    }

    /// VNet `i`: a known region, its circuits exist, once each, and reach it (Premium across
    /// geopolitical regions).
    fn vnet(&mut self, i: usize) {
        let t = self.t;
        let cat = catalogue();
        let v = &t.vnet[i];
        let e = Entity::Vnet(i);
        let region = cat.azure_region(&v.region);
        if region.is_none() {
            let hint = suggest(close_matches(&v.region, cat.azure_region_names()));
            self.err(
                e,
                "region",
                0,
                format!(
                    "unknown Azure region \"{}\"{hint}; known regions: {}",
                    v.region,
                    cat.azure_region_names().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        let mut seen = HashSet::new();
        for (j, cname) in v.circuits.iter().enumerate() {
            if !seen.insert(cname) {
                self.err(
                    e,
                    "circuits",
                    j,
                    format!("vnet {} lists circuit {cname} twice", v.name),
                );
                continue;
            }
            if !self.circuit_ref(e, "circuits", j, cname) {
                continue;
            }
            let c = t.circuit(cname).expect("checked");
            let (Some(region), Some(loc)) = (region, cat.location(&c.peering_location)) else {
                continue;
            };
            if region.region != loc.region && c.sku != Sku::Premium {
                self.err(
                    e,
                    "circuits",
                    j,
                    format!(
                        "vnet {} is in {} ({}) but circuit {cname} is at {} ({}): linking a VNet outside the circuit's geopolitical region needs sku = \"Premium\" on {cname} (it is {})",
                        v.name, v.region, region.region, loc.name, loc.region, c.sku
                    ),
                );
            }
        }
    }

    fn communities(&mut self) {
        for (i, v) in self.t.vnet.iter().enumerate() {
            for (j, c) in v.weights.keys().enumerate() {
                if !v.circuits.contains(c) {
                    self.err(
                        Entity::Vnet(i),
                        "weights",
                        j,
                        format!(
                            "vnet {}: a weight for circuit {c}, which the VNet is not linked to; its circuits: {}",
                            v.name,
                            v.circuits.join(", ")
                        ),
                    );
                }
            }
            if let Some(c) = &v.bgp_community {
                if super::parse_community(c).is_none() {
                    self.err(
                        Entity::Vnet(i),
                        "bgp_community",
                        0,
                        format!(
                            "vnet {}: bgp_community \"{c}\" is not a community of Microsoft's ASN; write \"12076:NNNNN\" with NNNNN 0-65535 (e.g. \"12076:20001\")",
                            v.name
                        ),
                    );
                }
            }
        }
    }

    fn prefixes(&mut self) {
        self.unicast();
        let all = self.claims();
        self.overlaps(&all);
    }

    /// Per-owner sanity: unicast ranges, room for a host and its gateway.
    fn unicast(&mut self) {
        let t = self.t;
        let eps = t
            .site
            .iter()
            .enumerate()
            .map(|(i, s)| (Entity::Site(i), "site", &s.name, &s.prefixes))
            .chain(
                t.vnet
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (Entity::Vnet(i), "vnet", &v.name, &v.prefixes)),
            );
        for (e, kind, name, prefixes) in eps {
            for (j, p) in prefixes.iter().enumerate() {
                let (max_len, family) = match p {
                    IpNet::V4(_) => (30, "IPv4"),
                    IpNet::V6(_) => (126, "IPv6"),
                };
                if let Some(why) = not_unicast(p) {
                    self.err(
                        e,
                        "prefixes",
                        j,
                        format!(
                            "{kind} {name}: {p} is {why}; use a unicast range such as 10.0.1.0/24"
                        ),
                    );
                } else if p.prefix_len() > max_len {
                    self.err(
                        e,
                        "prefixes",
                        j,
                        format!(
                            "{kind} {name}: {p} is too small; a site or VNet needs room for a host and a gateway ({family} at most /{max_len})"
                        ),
                    );
                }
            }
        }
        for (i, c) in t.circuit.iter().enumerate() {
            if let Some(p) = c.peering_prefix {
                if let Some(why) = not_unicast(&IpNet::V4(p)) {
                    self.err(
                        Entity::Circuit(i),
                        "peering_prefix",
                        0,
                        format!("peering_prefix {p} is {why}"),
                    );
                }
            }
            for p in c
                .peering_prefix_v6
                .iter()
                .flat_map(|v| [v.primary, v.secondary])
            {
                if let Some(why) = not_unicast(&IpNet::V6(p)) {
                    self.err(
                        Entity::Circuit(i),
                        "peering_prefix_v6",
                        0,
                        format!("peering_prefix_v6 {p} is {why}"),
                    );
                }
            }
        }
    }

    /// Every prefix in the lab with who holds it.
    fn claims(&self) -> Vec<Claim> {
        let t = self.t;
        let mut all: Vec<Claim> = Vec::new();
        for (i, s) in t.site.iter().enumerate() {
            for (j, p) in s.prefixes.iter().enumerate() {
                all.push((
                    *p,
                    format!("site {}", s.name),
                    Entity::Site(i),
                    "prefixes",
                    j,
                    Owner::Site(i),
                ));
            }
        }
        for (i, v) in t.vnet.iter().enumerate() {
            for (j, p) in v.prefixes.iter().enumerate() {
                all.push((
                    *p,
                    format!("vnet {}", v.name),
                    Entity::Vnet(i),
                    "prefixes",
                    j,
                    Owner::Vnet(i),
                ));
            }
        }
        for (i, c) in t.circuit.iter().enumerate() {
            if let Some(p) = c.peering_prefix {
                all.push((
                    IpNet::V4(p),
                    format!("the peering prefix of circuit {}", c.name),
                    Entity::Circuit(i),
                    "peering_prefix",
                    0,
                    Owner::Link,
                ));
            }
            for p in c
                .peering_prefix_v6
                .iter()
                .flat_map(|v| [v.primary, v.secondary])
            {
                all.push((
                    IpNet::V6(p),
                    format!("the IPv6 peering prefix of circuit {}", c.name),
                    Entity::Circuit(i),
                    "peering_prefix_v6",
                    0,
                    Owner::Link,
                ));
            }
        }
        for (i, g) in t.global_reach.iter().enumerate() {
            let who = format!("Global Reach {} <-> {}", g.circuits[0], g.circuits[1]);
            all.push((
                IpNet::V4(g.address_prefix),
                who.clone(),
                Entity::GlobalReach(i),
                "address_prefix",
                0,
                Owner::Link,
            ));
            if let Some(p) = g.ipv6_address_prefix {
                all.push((
                    IpNet::V6(p),
                    who,
                    Entity::GlobalReach(i),
                    "ipv6_address_prefix",
                    0,
                    Owner::Link,
                ));
            }
        }
        all
    }

    /// In address order, each prefix against the earlier ones it overlaps; reported once, at
    /// the later of the two. What may overlap is what Azure allows: sites' prefixes among
    /// themselves and with VNets (resolved by longest match and best path: a DR site's
    /// summary over a DC's specific, the same prefix from two sites), VNets on different
    /// circuits. Refused: a Global Reach or peering subnet overlapping anything, two VNets
    /// that share a circuit, one endpoint's own prefixes overlapping each other.
    fn overlaps(&mut self, all: &[Claim]) {
        let t = self.t;
        let key = |p: &IpNet| match p {
            IpNet::V4(p) => (4u8, u32::from(p.network()) as u128, p.prefix_len()),
            IpNet::V6(p) => (6u8, u128::from(p.network()), p.prefix_len()),
        };
        let mut order: Vec<usize> = (0..all.len()).collect();
        order.sort_by_key(|&i| key(&all[i].0));
        for (k, &i) in order.iter().enumerate() {
            let (p, who, e, field, j, owner) = &all[i];
            for &o in &order[..k] {
                let (op, owho, .., oowner) = &all[o];
                if !super::overlaps(op, p) {
                    continue;
                }
                let shared = |a: usize, b: usize| {
                    t.vnet[a]
                        .circuits
                        .iter()
                        .find(|c| t.vnet[b].circuits.contains(c))
                        .cloned()
                };
                let why = match (*owner, *oowner) {
                    (Owner::Link, _) | (_, Owner::Link) => {
                        "Global Reach and peering subnets must not overlap anything in the lab"
                            .to_string()
                    }
                    (a, b) if a == b => "one site's or VNet's prefixes must not overlap each other".to_string(),
                    (Owner::Vnet(a), Owner::Vnet(b)) => match shared(a, b) {
                        Some(c) => format!(
                            "two VNets linked to the same circuit ({c}) must not overlap (Azure refuses the connection)"
                        ),
                        None => continue,
                    },
                    _ => continue,
                };
                let msg = if p == op {
                    format!("{p} ({who}) is also used by {owho}; {why}")
                } else {
                    format!("{p} ({who}) overlaps {op} ({owho}); {why}")
                };
                self.err(*e, field, *j, msg);
                break;
            }
        }
    }

    fn global_reach(&mut self) {
        let t = self.t;
        let cat = catalogue();
        let mut pairs: HashMap<(String, String), usize> = HashMap::new();
        for (i, g) in t.global_reach.iter().enumerate() {
            let e = Entity::GlobalReach(i);
            if g.address_prefix.prefix_len() != 29 {
                self.err(
                    e,
                    "address_prefix",
                    0,
                    format!(
                        "Global Reach address_prefix {} is a /{}; a connection needs an IPv4 /29",
                        g.address_prefix,
                        g.address_prefix.prefix_len()
                    ),
                );
            }
            if let Some(p) = g.ipv6_address_prefix {
                if p.prefix_len() != 125 {
                    self.err(
                        e,
                        "ipv6_address_prefix",
                        0,
                        format!(
                            "Global Reach ipv6_address_prefix {p} is a /{}; a connection needs an IPv6 /125",
                            p.prefix_len()
                        ),
                    );
                }
            }
            let [a, b] = &g.circuits;
            let ok_a = self.circuit_ref(e, "circuits", 0, a);
            let ok_b = self.circuit_ref(e, "circuits", 1, b);
            if !(ok_a && ok_b) {
                continue;
            }
            if a == b {
                self.err(
                    e,
                    "circuits",
                    1,
                    format!("Global Reach joins two different circuits; {a} is given twice"),
                );
                continue;
            }
            let key = if a < b {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            if let Some(first) = pairs.insert(key, i) {
                self.err(
                    e,
                    "circuits",
                    0,
                    format!(
                        "circuits {a} and {b} are already linked by Global Reach connection #{}; a pair is linked once",
                        first + 1
                    ),
                );
                continue;
            }
            let (ca, cb) = (
                t.circuit(a).expect("checked"),
                t.circuit(b).expect("checked"),
            );
            for c in [ca, cb] {
                if c.sku == Sku::Local {
                    self.err(
                        e,
                        "circuits",
                        if c.name == *a { 0 } else { 1 },
                        format!(
                            "circuit {} is sku = \"Local\": Local circuits cannot use Global Reach (use Standard or Premium)",
                            c.name
                        ),
                    );
                }
            }
            let (Some(la), Some(lb)) = (
                cat.location(&ca.peering_location),
                cat.location(&cb.peering_location),
            ) else {
                continue;
            };
            if la.name == lb.name {
                self.err(
                    e,
                    "circuits",
                    0,
                    format!(
                        "circuits {a} and {b} are both at {}: Global Reach joins circuits at different peering locations",
                        la.name
                    ),
                );
            }
            for (c, l, j) in [(ca, la, 0), (cb, lb, 1)] {
                if !l.global_reach {
                    self.err(
                        e,
                        "circuits",
                        j,
                        format!(
                            "circuit {} is at {}, where Global Reach is not offered",
                            c.name, l.name
                        ),
                    );
                }
            }
            if la.region != lb.region && (ca.sku != Sku::Premium || cb.sku != Sku::Premium) {
                let local = ca.sku == Sku::Local || cb.sku == Sku::Local;
                if !local {
                    self.err(
                        e,
                        "circuits",
                        0,
                        format!(
                            "Global Reach between {a} ({}, {}) and {b} ({}, {}) crosses geopolitical regions: both circuits need sku = \"Premium\" ({a} is {}, {b} is {})",
                            la.name, la.region, lb.name, lb.region, ca.sku, cb.sku
                        ),
                    );
                }
            }
        }
    }
}

/// Why a prefix cannot number a site, VNet or link, if it cannot.
fn not_unicast(p: &IpNet) -> Option<&'static str> {
    match p {
        IpNet::V4(n) => {
            let a = n.network();
            if n.prefix_len() == 0 {
                Some("the default route")
            } else if a.is_loopback() {
                Some("loopback space")
            } else if a.is_multicast() || u32::from(a) >= 0xF000_0000 {
                Some("multicast or reserved space")
            } else if a.is_link_local() {
                Some("link-local space")
            } else if a.octets()[0] == 0 {
                Some("in 0.0.0.0/8 (this network)")
            } else {
                None
            }
        }
        IpNet::V6(n) => {
            let a = n.network();
            if n.prefix_len() == 0 {
                Some("the default route")
            } else if a.is_loopback() || a.is_unspecified() {
                Some("loopback or unspecified")
            } else if a.is_multicast() {
                Some("multicast space")
            } else if (a.segments()[0] & 0xffc0) == 0xfe80 {
                Some("link-local space")
            } else {
                None
            }
        }
    }
}
