//! The running lab's reads, pure: routes and their summary, a circuit, its stats, Global Reach
//! connections, the way between two endpoints, the export, capture points, and the picture's
//! link states, each as a typed row of `control::proto` (JSON is made at the edges).

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};

use super::LiveLab;
use crate::catalogue::catalogue;
use crate::control::proto::*;
use crate::engine::capture::TapPoint;
use crate::engine::DropReason;
use crate::topology::GlobalReach;

use super::super::state::EndpointState;

impl LiveLab {
    /// Whether each Global Reach connection of the lab is connected, in file order.
    pub fn gr_states(&self) -> Vec<(&GlobalReach, bool)> {
        self.plane
            .topology()
            .global_reach
            .iter()
            .map(|g| (g, self.gr_state(g) == "Connected"))
            .collect()
    }

    /// Resolves a capture point named by the user: a site or VNet, a circuit (with `path`),
    /// or a Global Reach connection `CIRCUIT:PEER`. Returns the tap and its description.
    pub fn capture_point(
        &self,
        name: &str,
        path: Option<Path>,
    ) -> Result<(TapPoint, String), String> {
        let engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        let tables = engine.tables();
        let circuit_id = |n: &str| tables.circuits.iter().position(|c| c.name == n);
        if let Some((a, b)) = name.split_once(':') {
            let gr = self.plane.find_gr(a, b).ok_or_else(|| {
                let known: Vec<String> = self
                    .plane
                    .topology()
                    .global_reach
                    .iter()
                    .map(|g| format!("{}:{}", g.circuits[0], g.circuits[1]))
                    .collect();
                format!(
                    "no Global Reach connection between \"{a}\" and \"{b}\"; connections in this lab: {}",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )
            })?;
            let g = &self.plane.topology().global_reach[gr];
            let (Some(x), Some(y)) = (circuit_id(a), circuit_id(b)) else {
                return Err(format!("no circuit named \"{a}\" or \"{b}\""));
            };
            return Ok((
                TapPoint::global_reach(x, y),
                format!(
                    "Global Reach {} <-> {} ({})",
                    g.circuits[0], g.circuits[1], g.address_prefix
                ),
            ));
        }
        if path.is_some() && circuit_id(name).is_none() {
            return Err(format!(
                "--path is for circuits; \"{name}\" is not a circuit"
            ));
        }
        if let Some(port) = tables.ports.iter().position(|p| p.name == name) {
            let kind = if self.plane.topology().site.iter().any(|s| s.name == name) {
                "site"
            } else {
                "vnet"
            };
            return Ok((
                TapPoint::Port(port),
                format!("{kind} {name} (its TUN, both directions)"),
            ));
        }
        if let Some(c) = circuit_id(name) {
            let path = path.unwrap_or_default();
            if let Some(port) = engine.ether_port(c, path as usize) {
                return Ok((
                    TapPoint::Frames(port),
                    format!(
                        "circuit {name}, {} link: its Ethernet port, frames as on the wire (802.1Q tag included)",
                        path_name(path)
                    ),
                ));
            }
            let link = self
                .plane
                .topology()
                .circuit(name)
                .and_then(|c| c.peering_prefix)
                .map(|pp| link_addresses(pp, 4 * path as u32))
                .map(|l| format!(" (CE {} <-> MSEE {})", l.customer, l.microsoft))
                .unwrap_or_default();
            return Ok((
                TapPoint::Link {
                    circuit: c,
                    path: path as u8,
                },
                format!("circuit {name}, {} link{link}", path_name(path)),
            ));
        }
        let mut known: Vec<&str> = self.plane.topology().endpoint_names().collect();
        known.extend(
            self.plane
                .topology()
                .circuit
                .iter()
                .map(|c| c.name.as_str()),
        );
        Err(format!(
            "no site, VNet or circuit named \"{name}\" (a Global Reach connection is CIRCUIT:PEER); this lab has: {}",
            known.join(", ")
        ))
    }

    /// `reachlab path`: both directions between two endpoints, from the tables in force.
    pub fn path(&self, from: &str, to: &str, family: Option<Family>) -> Result<PathInfo, String> {
        let there = self.way(from, to, family)?;
        let back = self.way(to, from, family)?;
        let circuits = |w: &PathWay| -> Vec<String> {
            let mut v: Vec<String> = w
                .links
                .iter()
                .map(|l| l.split('/').next().unwrap_or_default().to_string())
                .collect();
            v.dedup();
            v
        };
        let asymmetry = if circuits(&there) != circuits(&back) {
            Some(format!(
                "the two directions take different circuits: there over {}, back over {} (a stateful firewall in the path sees only one side of each flow)",
                circuits(&there).join(", "),
                circuits(&back).join(", ")
            ))
        } else if there.links != back.links {
            Some(format!(
                "the two directions take different links: there over {}, back over {}",
                there.links.join(", "),
                back.links.join(", ")
            ))
        } else {
            None
        };
        Ok(PathInfo {
            there,
            back,
            asymmetry,
        })
    }

    /// One direction: from endpoint `from` to endpoint `to`'s first address in `family` (when
    /// None: IPv4 when both have one, else IPv6). A site with a real router chooses its own
    /// link: traced from its first.
    pub fn way(&self, from: &str, to: &str, family: Option<Family>) -> Result<PathWay, String> {
        let ep = |n: &str| {
            self.endpoints.iter().find(|e| e.name == n).ok_or_else(|| {
                let known: Vec<&str> = self.endpoints.iter().map(|e| e.name.as_str()).collect();
                format!(
                    "no site or VNet named \"{n}\"; this lab has: {}",
                    known.join(", ")
                )
            })
        };
        let (a, b) = (ep(from)?, ep(to)?);
        let addr = |e: &EndpointState, v6: bool| {
            e.addresses
                .iter()
                .filter_map(|a| a.split('/').next()?.parse::<std::net::IpAddr>().ok())
                .find(|a| a.is_ipv6() == v6)
        };
        let pair = |v6: bool| addr(a, v6).zip(addr(b, v6));
        let (src, dst) = match family {
            None => pair(false)
                .or_else(|| pair(true))
                .ok_or_else(|| format!("{from} and {to} share no address family"))?,
            Some(f) => {
                let v6 = f == Family::Ipv6;
                let name = if v6 { "IPv6" } else { "IPv4" };
                for (e, n) in [(a, from), (b, to)] {
                    if addr(e, v6).is_none() {
                        return Err(format!(
                            "{n} has no {name} address (its prefixes are in the other family)"
                        ));
                    }
                }
                pair(v6).expect("both checked")
            }
        };
        let engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        let t = engine.tables();
        let mut port = t
            .ports
            .iter()
            .position(|p| p.name == from)
            .ok_or_else(|| format!("{from} has no port"))?;
        let mut hops = Vec::new();
        if let crate::engine::table::PortKind::Site { router: true, .. } = t.ports[port].kind {
            hops.push(format!("{from} (its router picks a link; the first shown)"));
            if let Some(p) = t.ports.iter().position(|p| {
                matches!(p.kind, crate::engine::table::PortKind::Link { .. })
                    && p.name.starts_with(&format!("{from}/"))
            }) {
                port = p;
            }
        }
        let mut links = Vec::new();
        let mut delivered = false;
        let name = |p: usize| t.ports[p].name.clone();
        for step in engine.trace(port, src, dst) {
            use crate::engine::Step;
            match step {
                Step::Out(p) => hops.push(match t.ports[p].kind {
                    crate::engine::table::PortKind::Vnet { .. } => {
                        format!("{} (gateway)", name(p))
                    }
                    _ => format!("{} (CE)", name(p)),
                }),
                Step::Link {
                    circuit,
                    path,
                    to_msee,
                } => {
                    let l = format!(
                        "{}/{}",
                        t.circuits[circuit].name,
                        if path == 0 { "primary" } else { "secondary" }
                    );
                    hops.push(format!("{l} link {}", if to_msee { "up" } else { "down" }));
                    links.push(l);
                }
                Step::Msee { circuit, via } => hops.push(match via {
                    Some(g) => format!(
                        "MSEE {} (over Global Reach {})",
                        t.circuits[circuit].name,
                        self.plane
                            .topology()
                            .global_reach
                            .get(g)
                            .map(|g| g.circuits.join(" <-> "))
                            .unwrap_or_default()
                    ),
                    None => format!("MSEE {}", t.circuits[circuit].name),
                }),
                Step::Deliver(p) => {
                    delivered = true;
                    hops.push(name(p));
                }
                Step::Local => hops.push("(a router hop answers)".into()),
                Step::Error(e) => hops.push(format!("dropped: {e}")),
            }
        }
        Ok(PathWay {
            from: from.to_string(),
            to: to.to_string(),
            address: dst.to_string(),
            hops,
            links,
            delivered,
        })
    }

    pub fn gr_row(&self, i: usize) -> GrRow {
        let g = &self.plane.topology().global_reach[i];
        GrRow {
            circuit: g.circuits[0].clone(),
            peer: g.circuits[1].clone(),
            address_prefix: g.address_prefix.to_string(),
            ipv6_address_prefix: g.ipv6_address_prefix.map(|p| p.to_string()),
            state: self.gr_state(g).into(),
            circuit_subscription: self.subscription_of(&g.circuits[0]),
            peer_subscription: self.subscription_of(&g.circuits[1]),
        }
    }

    pub fn subscription_of(&self, circuit: &str) -> String {
        self.plane
            .topology()
            .circuit(circuit)
            .map_or(crate::topology::DEFAULT_SUBSCRIPTION, |c| c.subscription())
            .to_string()
    }

    pub fn gr_list(&self, circuit: Option<&str>) -> Result<Vec<GrRow>, String> {
        if let Some(c) = circuit {
            self.circuit_index(c)?;
        }
        let rows: Vec<GrRow> = (0..self.plane.topology().global_reach.len())
            .filter(|&i| {
                circuit.is_none_or(|c| {
                    self.plane.topology().global_reach[i]
                        .circuits
                        .iter()
                        .any(|x| x == c)
                })
            })
            .map(|i| self.gr_row(i))
            .collect();
        Ok(rows)
    }

    /// Connected unless one of the two circuits has both links down.
    pub fn gr_state(&self, g: &GlobalReach) -> &'static str {
        let engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        let down = g.circuits.iter().any(|c| {
            self.plane
                .topology()
                .circuit
                .iter()
                .position(|x| &x.name == c)
                .is_some_and(|i| engine.links(i) == [false, false])
        });
        if down {
            "Disconnected"
        } else {
            "Connected"
        }
    }

    pub fn circuit_show(&self, name: &str) -> Result<CircuitInfo, String> {
        let i = self.circuit_index(name)?;
        let c = &self.plane.topology().circuit[i];
        let region = catalogue()
            .location(&c.peering_location)
            .map(|l| l.region.clone())
            .unwrap_or_default();
        let pp = c.peering_prefix.expect("defaults resolved");
        let timing = {
            let engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
            let t = engine.tables();
            let ct = t.circuits[i].timing;
            let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
            CircuitTimingInfo {
                latency_model: format!("{:?}", self.plane.topology().lab.latency).to_lowercase(),
                access_delay_ms: ms(ct.access),
                queue_ms: ms(ct.queue),
                mtu: ct.mtu,
                rtts: t
                    .rtts(i)
                    .into_iter()
                    .map(|(port, rtt)| {
                        let p = &t.ports[port];
                        let via = match p.kind {
                            crate::engine::table::PortKind::Vnet { .. } => "vnet link".to_string(),
                            crate::engine::table::PortKind::Site { circuit, .. }
                                if circuit == i
                                    || self
                                        .plane
                                        .topology()
                                        .site
                                        .get(port)
                                        .is_some_and(|s| s.on(&t.circuits[i].name)) =>
                            {
                                "this circuit".to_string()
                            }
                            crate::engine::table::PortKind::Site { circuit, .. } => {
                                format!("Global Reach to {}", t.circuits[circuit].name)
                            }
                            // Not a destination of the MSEE's table.
                            crate::engine::table::PortKind::Link { .. }
                            | crate::engine::table::PortKind::Msee => String::new(),
                        };
                        RttRow {
                            to: p.name.clone(),
                            via,
                            rtt_ms: ms(rtt),
                        }
                    })
                    .collect(),
            }
        };
        let gr: Vec<GrRow> = (0..self.plane.topology().global_reach.len())
            .filter(|&g| {
                self.plane.topology().global_reach[g]
                    .circuits
                    .iter()
                    .any(|x| x == name)
            })
            .map(|g| self.gr_row(g))
            .collect();
        Ok(CircuitInfo {
            vlan_id: c.az_vlan_id(i),
            name: c.name.clone(),
            peering_location: c.peering_location.clone(),
            geopolitical_region: region,
            sku: c.sku.to_string(),
            family: c.family.to_string(),
            bandwidth: c.bandwidth.to_string(),
            provider: c.provider.clone(),
            subscription: c.subscription().to_string(),
            peer_asn: self
                .plane
                .topology()
                .site
                .iter()
                .find(|s| s.on(name))
                .and_then(|s| s.asn),
            primary: link_addresses(pp, 0),
            secondary: (pp.prefix_len() <= 29).then(|| link_addresses(pp, 4)),
            ipv6: c.peering_prefix_v6.map(|v6| {
                [0, 1].map(|path| {
                    let (customer, microsoft) = v6.addresses(path);
                    LinkAddresses {
                        prefix: v6.link(path).to_string(),
                        customer: customer.to_string(),
                        microsoft: microsoft.to_string(),
                    }
                })
            }),
            sites: self
                .plane
                .topology()
                .site
                .iter()
                .filter(|s| s.on(name))
                .map(|s| s.name.clone())
                .collect(),
            vnet_links: self
                .plane
                .topology()
                .vnet
                .iter()
                .filter(|v| v.circuits.iter().any(|x| x == name))
                .map(|v| v.name.clone())
                .collect(),
            global_reach: gr,
            authorizations: self
                .plane
                .authorizations()
                .iter()
                .filter(|a| a.circuit == name)
                .map(|a| AuthorizationRow {
                    name: a.name.clone(),
                    key: a.key.clone(),
                    state: if a.used_by.is_some() {
                        "InUse"
                    } else {
                        "Available"
                    }
                    .into(),
                })
                .collect(),
            timing,
            vnet_weights: self
                .plane
                .topology()
                .vnet
                .iter()
                .filter(|v| v.weight(name) > 0)
                .map(|v| (v.name.clone(), v.weight(name)))
                .collect(),
            maintenance: (0..2)
                .filter(|l| self.plane.maintenance().contains(&(i, *l)))
                .map(|l| if l == 0 { "primary" } else { "secondary" }.to_string())
                .collect(),
        })
    }

    /// The route table of `name`'s MSEE on `path`, or of VNet `name`'s gateway, in `family`
    /// (both when None).
    pub fn routes(
        &self,
        name: &str,
        path: Path,
        family: Option<Family>,
    ) -> Result<RouteTable, String> {
        let wanted = |p: &IpNet| Family::admits(family, matches!(p, IpNet::V6(_)));
        let topo = self.plane.topology();
        if let Some(v) = topo.vnet.iter().position(|v| v.name == name) {
            // A VNet's gateway: every path it learned from its circuits' MSEEs, best first.
            let routing = self.plane.routing();
            let rows = routing.gateway[v]
                .iter()
                .filter(|(p, _)| wanted(p))
                .flat_map(|(_, paths)| paths.iter())
                .map(|(_, r)| RouteRow {
                    network: r.prefix.to_string(),
                    next_hop: r.next_hop.to_string(),
                    loc_prf: r.local_pref,
                    weight: r.weight,
                    path: crate::plane::route::PathDisplay(&r.as_path).to_string(),
                })
                .collect();
            return Ok(RouteTable {
                circuit: name.to_string(),
                path,
                routes: rows,
            });
        }
        let (ci, link) = self.link_of(name, path)?;
        // Every path the MSEE of that link holds, best first per prefix (from the RIB, not
        // the file).
        let routing = self.plane.routing();
        let rows = routing.msee[ci][link]
            .iter()
            .filter(|(p, _)| wanted(p))
            .flat_map(|(_, paths)| paths.iter())
            .map(|r| RouteRow {
                network: r.prefix.to_string(),
                next_hop: r.next_hop.to_string(),
                loc_prf: r.local_pref,
                weight: r.weight,
                path: crate::plane::route::PathDisplay(&r.as_path).to_string(),
            })
            .collect();
        Ok(RouteTable {
            circuit: name.to_string(),
            path,
            routes: rows,
        })
    }

    /// The BGP neighbours of `name`'s MSEE on `path` in `family` (both when None: IPv4's
    /// first), as az's route table summary lists them.
    pub fn routes_summary(
        &self,
        name: &str,
        path: Path,
        family: Option<Family>,
    ) -> Result<RouteSummary, String> {
        let (ci, link) = self.link_of(name, path)?;
        let routing = self.plane.routing();
        // The built-in sessions are up since the lab came up; a real router's is as BGP says.
        let now = self.now();
        let neighbors = [false, true]
            .into_iter()
            .filter(|v6| Family::admits(family, *v6))
            .flat_map(|v6| {
                crate::plane::neighbors(self.plane.topology(), routing, ci, link, v6)
                    .into_iter()
                    .map(move |n| (n, v6))
            })
            .map(|(n, v6)| {
                let session = match n.peer {
                    crate::plane::Peer::Customer { site }
                        if self.plane.topology().site[site].router.is_real() =>
                    {
                        Some(
                            self.sessions
                                .get(&(site, ci, link, v6))
                                .cloned()
                                .unwrap_or_default(),
                        )
                    }
                    _ => None,
                };
                (n, session)
            })
            .map(|(n, session)| NeighborRow {
                neighbor: n.address.to_string(),
                v: 4,
                asn: n.asn,
                up_down: match &session {
                    Some(s) => s
                        .since
                        .map_or("never".to_string(), |t| up_down(now.saturating_sub(t))),
                    None => up_down(now),
                },
                state_pfx_rcd: match &session {
                    Some(s) if s.state != "Established" => s.state.to_string(),
                    _ => n.prefixes_received.to_string(),
                },
                last_error: session
                    .as_ref()
                    .filter(|s| s.state != "Established")
                    .and_then(|s| s.last_error.clone()),
                role: match n.peer {
                    crate::plane::Peer::Customer { site } => {
                        format!("customer {}", self.plane.topology().site[site].name)
                    }
                    crate::plane::Peer::Gateway { vnet } => {
                        format!("vnet {}", self.plane.topology().vnet[vnet].name)
                    }
                    crate::plane::Peer::GlobalReach { peer, .. } => {
                        format!("global-reach {}", self.plane.topology().circuit[peer].name)
                    }
                },
            })
            .collect();
        Ok(RouteSummary {
            circuit: name.to_string(),
            path,
            neighbors,
        })
    }

    pub fn stats(&self, name: &str) -> Result<CircuitStatsInfo, String> {
        let ci = self.circuit_index(name)?;
        // Read from the kernel before the engine is locked (the workers wait on that lock).
        let ring = self.ring_drops();
        let engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        let s = &engine.circuit_stats()[ci];
        let mut drops: BTreeMap<String, u64> = DropReason::ALL
            .iter()
            .map(|r| (r.name().to_string(), s.drops[r.index()]))
            .collect();
        // What the kernel dropped at the circuit's router-link TUNs' rings or its Ethernet
        // ports' sockets, before reachlab read it (a flood beyond what the lab forwards).
        drops.insert(
            crate::lab::rings::RING_FULL.to_string(),
            crate::lab::rings::circuit_total(&ring, engine.tables(), ci),
        );
        let links = engine.links(ci);
        Ok(CircuitStatsInfo {
            circuit: name.to_string(),
            primary_bytes_in: s.input[0].bytes,
            primary_bytes_out: s.output[0].bytes,
            primary_packets_in: s.input[0].packets,
            primary_packets_out: s.output[0].packets,
            secondary_bytes_in: s.input[1].bytes,
            secondary_bytes_out: s.output[1].bytes,
            secondary_packets_in: s.input[1].packets,
            secondary_packets_out: s.output[1].packets,
            primary_up: links[0],
            secondary_up: links[1],
            lateness: engine.lateness(),
            drops,
        })
    }

    /// The running lab as a topology file that `check` accepts and `up` reproduces.
    pub fn export(&self) -> String {
        let mut body = toml::to_string(self.plane.topology()).unwrap_or_default();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        format!(
            "# Exported from the running reachlab lab {}.\n# `reachlab check` accepts it; `reachlab up` reproduces the lab.\n\n{body}",
            self.plane.topology().lab.name
        )
    }

    /// Per family (IPv4, IPv6), per circuit (file order), whether its primary and secondary
    /// links carry that family, as `reachlab test` and `reachlab graph LAB` count them
    /// (`pingall::carries`).
    pub fn carrying_links(&mut self) -> [Vec<[bool; 2]>; 2] {
        let names: Vec<String> = self
            .topology()
            .circuit
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let engine = self.engine();
        let mut out = [Vec::new(), Vec::new()];
        for (i, c) in names.iter().enumerate() {
            let up = engine.lock().unwrap_or_else(|p| p.into_inner()).links(i);
            let routed = crate::lab::pingall::routed(self.topology(), c);
            let mut carries = [up, up];
            for (k, path) in [Path::Primary, Path::Secondary].into_iter().enumerate() {
                let summary = routed
                    .then(|| self.routes_summary(c, path, None).ok())
                    .flatten();
                for (v6, family) in carries.iter_mut().enumerate() {
                    family[k] = crate::lab::pingall::carries(up[k], summary.as_ref(), v6 == 1);
                }
            }
            for (v6, family) in carries.into_iter().enumerate() {
                out[v6].push(family);
            }
        }
        out
    }

    /// The lab's picture as it is now (links that carry nothing drawn as failed, those that
    /// carry one family of two named so), as `graph LAB` draws it, for the live view: with
    /// `removed` Global Reach connections and labels for the rates.
    pub fn graph_svg(&mut self, removed: Vec<crate::topology::GlobalReach>) -> String {
        let carrying = self.carrying_links();
        let mut view = crate::graph::View::carrying(self.plane.topology(), carrying);
        view.removed = removed;
        view.live = true;
        crate::graph::svg(&view)
    }
}

/// How long a session has been up, as routers print it: "00:12:34" under a day, "3d04h" over.
fn up_down(d: Duration) -> String {
    let s = d.as_secs();
    if s < 86_400 {
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}d{:02}h", s / 86_400, s / 3600 % 24)
    }
}

pub(super) fn path_name(p: Path) -> &'static str {
    match p {
        Path::Primary => "primary",
        Path::Secondary => "secondary",
    }
}

/// The address `n` hosts into `p` (p's network + n).
fn host(p: Ipv4Net, n: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from(p.network()) + n)
}

/// The /30 at `offset` in a circuit's peering prefix: customer first host, Microsoft second.
fn link_addresses(pp: Ipv4Net, offset: u32) -> LinkAddresses {
    let net = Ipv4Net::new(host(pp, offset), 30).expect("valid");
    LinkAddresses {
        prefix: net.to_string(),
        customer: host(pp, offset + 1).to_string(),
        microsoft: host(pp, offset + 2).to_string(),
    }
}
