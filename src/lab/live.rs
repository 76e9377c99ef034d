//! A running lab as the control socket sees it (`control::Target`): the routing
//! configuration (`plane::Plane`: topology, authorization keys), the engine it feeds, the
//! namespaces, the clock. A change goes through the plane, which checks it with the topology's
//! rules and returns its effects; this shell carries them out (swap the engine's tables whole,
//! add or remove namespace routes). Reads (routes, summary, circuit, stats, export) are
//! answered from the plane's RIBs and the engine's counters.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ipnet::{IpNet, Ipv4Net};
use tracing::{info, warn};

use crate::catalogue::catalogue;
use crate::control::proto::*;
use crate::engine::capture::TapPoint;
use crate::engine::{DropReason, Engine};
use crate::plane::{Announced, Change, CustomerLink, Effect, GlobalReachAdd, Plane};
use crate::topology::{GlobalReach, Topology};

use super::netns;
use super::state::EndpointState;

pub struct LiveLab {
    /// The routing configuration: topology and authorization keys (pure; changes go through
    /// it and come out as effects carried out here).
    plane: Plane,
    /// The lab as its servers share it: a live view started later (`reachlab web`) needs it.
    me: std::sync::Weak<Mutex<LiveLab>>,
    engine: Arc<Mutex<Engine>>,
    endpoints: Vec<EndpointState>,
    /// The wall-clock time of the engine's zero (captures are stamped with wall time).
    wall_epoch: SystemTime,
    /// The engine's zero.
    epoch: Instant,
    /// BGP sessions with sites' routers, per (site, circuit, link): state, since when, why last down,
    /// BFD state, message counters.
    sessions: BTreeMap<(usize, usize, usize), SessionState>,
    /// Per router link, what its MSEE announces, as its BGP speaker watches it.
    announcers: BTreeMap<CustomerLink, tokio::sync::watch::Sender<Announced>>,
}

/// A BGP session with a site's router, as the metrics show it.
#[derive(Debug, Clone)]
pub struct SessionMetrics {
    pub circuit: String,
    pub link: &'static str,
    pub site: String,
    pub neighbor: String,
    pub established: bool,
    pub received: usize,
    pub advertised: usize,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bfd_up: bool,
}

/// A BGP session with a site's router, as the summary and the metrics show it.
#[derive(Debug, Clone)]
struct SessionState {
    state: &'static str,
    since: Option<Duration>,
    last_error: Option<String>,
    /// The BFD session's state on the same link.
    bfd: crate::bfd::State,
    counters: Option<tokio::sync::watch::Receiver<crate::bgp::session::Counters>>,
}

impl Default for SessionState {
    fn default() -> Self {
        SessionState {
            state: "Idle",
            since: None,
            last_error: None,
            bfd: crate::bfd::State::Down,
            counters: None,
        }
    }
}

type Outcome = Result<serde_json::Value, String>;

fn json(v: impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

impl LiveLab {
    pub fn new(topo: Topology, engine: Arc<Mutex<Engine>>, endpoints: Vec<EndpointState>) -> Self {
        LiveLab {
            plane: Plane::new(topo),
            me: std::sync::Weak::new(),
            engine,
            endpoints,
            wall_epoch: SystemTime::now(),
            epoch: Instant::now(),
            sessions: BTreeMap::new(),
            announcers: BTreeMap::new(),
        }
    }

    /// Sets the engine's clock: its `now` counts from `epoch`.
    pub fn with_clock(mut self, epoch: Instant) -> Self {
        self.wall_epoch = SystemTime::now()
            .checked_sub(epoch.elapsed())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.epoch = epoch;
        self
    }

    /// The engine's time now.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Whether each Global Reach connection of the lab is connected, in file order.
    pub fn gr_states(&self) -> Vec<(&GlobalReach, bool)> {
        self.plane
            .topology()
            .global_reach
            .iter()
            .map(|g| (g, self.gr_state(g) == "Connected"))
            .collect()
    }

    /// The wall-clock time of an engine time.
    pub fn wall_time(&self, at: Duration) -> SystemTime {
        self.wall_epoch + at
    }

    pub fn engine(&self) -> Arc<Mutex<Engine>> {
        Arc::clone(&self.engine)
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

    pub fn topology(&self) -> &Topology {
        self.plane.topology()
    }

    /// Carries out one request.
    pub fn handle(&mut self, req: Request) -> Response {
        let out = match req {
            Request::GlobalReachAdd {
                circuit,
                peer,
                address_prefix,
                ipv6_address_prefix,
                authorization_key,
            } => self
                .change(Change::GlobalReachAdd(GlobalReachAdd {
                    circuit: circuit.clone(),
                    peer: peer.clone(),
                    address_prefix,
                    ipv6_address_prefix,
                    authorization_key,
                }))
                .map(|()| {
                    info!(%circuit, %peer, "global reach connection added");
                    json(self.gr_row(self.plane.topology().global_reach.len() - 1))
                }),
            Request::GlobalReachRemove { circuit, peer } => {
                let row = self.plane.find_gr(&circuit, &peer).map(|i| self.gr_row(i));
                self.change(Change::GlobalReachRemove {
                    circuit: circuit.clone(),
                    peer: peer.clone(),
                })
                .map(|()| {
                    info!(%circuit, %peer, "global reach connection removed");
                    json(row)
                })
            }
            Request::GlobalReachList { circuit } => self.gr_list(circuit.as_deref()),
            Request::CircuitAuthorize { circuit, name } => {
                let key = new_key();
                self.change(Change::Authorize {
                    circuit,
                    name: name.clone(),
                    key: key.clone(),
                })
                .map(|()| {
                    json(AuthorizationRow {
                        name,
                        key,
                        state: "Available".into(),
                    })
                })
            }
            Request::CircuitShow { circuit } => self.circuit_show(&circuit),
            Request::VnetLink {
                vnet,
                circuit,
                weight,
            } => self.vnet_link(vnet, circuit, true, weight),
            Request::VnetUnlink { vnet, circuit } => self.vnet_link(vnet, circuit, false, None),
            Request::Routes { circuit, path } => self.routes(&circuit, path),
            Request::RoutesSummary { circuit, path } => self.routes_summary(&circuit, path),
            Request::Stats { circuit } => self.stats(&circuit),
            Request::Export => Ok(serde_json::Value::String(self.export())),
            Request::Path { from, to } => self.path(&from, &to),
            Request::WebServe { listen, control } => self.web_serve(&listen, control),
            Request::Capture { .. } => {
                Err("capture streams packets: send it on a connection of its own".into())
            }
            Request::CircuitLink { circuit, path, up } => self.set_link(&circuit, path, up),
            Request::CircuitMaintenance { circuit, path, on } => self
                .link_of(&circuit, path)
                .and_then(|(_, link)| {
                    self.change(Change::Maintenance {
                        circuit: circuit.clone(),
                        link,
                        on,
                    })
                })
                .map(|()| {
                    info!(circuit = %circuit, path = path_name(path), on, "maintenance");
                    serde_json::json!({"circuit": circuit, "path": path_name(path), "maintenance": on})
                }),
        };
        match out {
            Ok(v) => Response::ok(v),
            Err(e) => Response::err(e),
        }
    }

    /// `reachlab path`: both directions between two endpoints, from the tables in force.
    fn path(&self, from: &str, to: &str) -> Outcome {
        let there = self.way(from, to)?;
        let back = self.way(to, from)?;
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
        Ok(json(PathInfo {
            there,
            back,
            asymmetry,
        }))
    }

    /// One direction: from endpoint `from` to endpoint `to`'s first address (IPv4 when both
    /// have one). A site with a real router chooses its own link: traced from its first.
    fn way(&self, from: &str, to: &str) -> Result<PathWay, String> {
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
        let (src, dst) = match (addr(a, false), addr(b, false)) {
            (Some(s), Some(d)) => (s, d),
            _ => match (addr(a, true), addr(b, true)) {
                (Some(s), Some(d)) => (s, d),
                _ => return Err(format!("{from} and {to} share no address family")),
            },
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

    fn circuit_index(&self, name: &str) -> Result<usize, String> {
        self.plane.circuit_index(name)
    }

    /// Carries out a change through the plane.
    fn change(&mut self, c: Change) -> Result<(), String> {
        let effects = self.plane.apply(c)?;
        self.carry_out(effects);
        Ok(())
    }

    /// Carries out the plane's effects, the one place that does: on the engine, the
    /// namespaces and the routers' sessions.
    fn carry_out(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Tables(t) => self
                    .engine
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .set_tables(*t),
                Effect::NamespaceRoutes { prefixes, add } => self.update_routes(&prefixes, add),
                Effect::Advertise { link, routes } => {
                    if let Some(tx) = self.announcers.get(&link) {
                        tx.send_replace(routes);
                    }
                }
            }
        }
    }

    fn vnet_link(
        &mut self,
        vnet: String,
        circuit: String,
        link: bool,
        weight: Option<u16>,
    ) -> Outcome {
        self.change(Change::VnetLink {
            vnet: vnet.clone(),
            circuit: circuit.clone(),
            link,
            weight,
        })?;
        info!(%vnet, %circuit, link, ?weight, "vnet link changed");
        let circuits = self
            .plane
            .topology()
            .vnet
            .iter()
            .find(|v| v.name == vnet)
            .map(|v| v.circuits.clone())
            .unwrap_or_default();
        Ok(json(circuits))
    }

    /// Keeps each namespace's routes to the Global Reach prefixes (router addresses) in step.
    fn update_routes(&self, prefixes: &[IpNet], add: bool) {
        for ep in &self.endpoints {
            for p in prefixes {
                if let Err(e) = netns::route(&ep.namespace, &ep.tun, p, add) {
                    warn!(namespace = %ep.namespace, prefix = %p, error = %e, "route update failed");
                }
            }
        }
    }

    fn gr_row(&self, i: usize) -> GrRow {
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

    fn subscription_of(&self, circuit: &str) -> String {
        self.plane
            .topology()
            .circuit(circuit)
            .map_or(crate::topology::DEFAULT_SUBSCRIPTION, |c| c.subscription())
            .to_string()
    }

    fn gr_list(&self, circuit: Option<&str>) -> Outcome {
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
        Ok(json(rows))
    }

    fn set_link(&mut self, name: &str, path: Path, up: bool) -> Outcome {
        let ci = self.circuit_index(name)?;
        let idx = path as usize;
        let mut engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        let was = engine.links(ci)[idx];
        if was == up {
            return Err(format!(
                "the {} link of circuit {name} is already {}",
                path_name(path),
                if up { "up" } else { "down" }
            ));
        }
        engine.set_link(ci, idx, up);
        let links = engine.links(ci);
        drop(engine);
        // As when the provider's path fails: a router at the customer end keeps its interface
        // up and notices only through BFD (900 ms) or, without BFD, its hold timer; so does the
        // MSEE's end of the session.
        info!(circuit = %name, path = path_name(path), up, "link state changed");
        Ok(serde_json::json!({"circuit": name, "primary_up": links[0], "secondary_up": links[1]}))
    }

    /// Connected unless one of the two circuits has both links down.
    fn gr_state(&self, g: &GlobalReach) -> &'static str {
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

    fn circuit_show(&self, name: &str) -> Outcome {
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
        Ok(json(CircuitInfo {
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
        }))
    }

    fn routes(&self, name: &str, path: Path) -> Outcome {
        let topo = self.plane.topology();
        if let Some(v) = topo.vnet.iter().position(|v| v.name == name) {
            // A VNet's gateway: every path it learned from its circuits' MSEEs, best first.
            let routing = self.plane.routing();
            let rows = routing.gateway[v]
                .iter()
                .flat_map(|(_, paths)| paths.iter())
                .map(|(_, r)| RouteRow {
                    network: r.prefix.to_string(),
                    next_hop: r.next_hop.to_string(),
                    loc_prf: r.local_pref,
                    weight: r.weight,
                    path: crate::plane::route::PathDisplay(&r.as_path).to_string(),
                })
                .collect();
            return Ok(json(RouteTable {
                circuit: name.to_string(),
                path,
                routes: rows,
            }));
        }
        let (ci, link) = self.link_of(name, path)?;
        // Every path the MSEE of that link holds, best first per prefix (from the RIB, not
        // the file).
        let routing = self.plane.routing();
        let rows = routing.msee[ci][link]
            .iter()
            .flat_map(|(_, paths)| paths.iter())
            .map(|r| RouteRow {
                network: r.prefix.to_string(),
                next_hop: r.next_hop.to_string(),
                loc_prf: r.local_pref,
                weight: r.weight,
                path: crate::plane::route::PathDisplay(&r.as_path).to_string(),
            })
            .collect();
        Ok(json(RouteTable {
            circuit: name.to_string(),
            path,
            routes: rows,
        }))
    }

    /// The circuit links whose customer end is a real router.
    pub fn router_links(&self) -> Vec<super::bgp::RouterLink> {
        let topo = self.plane.topology();
        self.plane
            .router_links()
            .into_iter()
            .map(|l| super::bgp::RouterLink {
                site: l.site,
                circuit: l.circuit,
                path: l.link,
                ce: crate::plane::ce_address(topo, l.circuit, l.link),
                msee: crate::plane::msee_address(topo, l.circuit, l.link),
                asn: topo.site[l.site].asn.unwrap_or(0),
                premium: topo.circuit[l.circuit].sku == crate::topology::Sku::Premium,
            })
            .collect()
    }

    /// What site `site`'s router now announces on link `path` (its session's accepted
    /// routes): the RIBs, the engine's tables and what the MSEEs announce follow.
    pub fn set_customer(&mut self, site: usize, circuit: usize, path: usize, routes: Announced) {
        let link = CustomerLink {
            site,
            circuit,
            link: path,
        };
        let effects = self.plane.set_customer(link, routes);
        self.carry_out(effects);
    }

    /// What the MSEE on link `path` of `circuit` announces to site `site`'s router, now and
    /// whenever it changes (the plane's `Advertise` effects).
    pub fn announce(
        &mut self,
        site: usize,
        circuit: usize,
        path: usize,
    ) -> tokio::sync::watch::Receiver<Announced> {
        let link = CustomerLink {
            site,
            circuit,
            link: path,
        };
        let now = self.plane.advertised(link);
        self.announcers
            .entry(link)
            .or_insert_with(|| tokio::sync::watch::channel(now).0)
            .subscribe()
    }

    /// Lets the lab hand itself to servers it starts later (`reachlab web`).
    pub fn set_shared(&mut self, me: &Arc<Mutex<LiveLab>>) {
        self.me = Arc::downgrade(me);
    }

    /// `reachlab web`: serves the live view of this running lab on `listen`.
    fn web_serve(&self, listen: &str, control: bool) -> Outcome {
        let addr: std::net::SocketAddr = listen
            .parse()
            .map_err(|_| format!("--listen {listen}: write ADDR:PORT, e.g. 127.0.0.1:8080"))?;
        let me = self
            .me
            .upgrade()
            .ok_or("this lab cannot serve a live view (it is shutting down)")?;
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| format!("listening on {addr}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let token = (control && !addr.ip().is_loopback()).then(new_key);
        let access = super::web::Access {
            control,
            token: token.clone(),
        };
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| "no runtime to serve the live view on".to_string())?;
        let _guard = handle.enter();
        super::web::serve_std(listener, me, access).map_err(|e| e.to_string())?;
        info!(%bound, control, "serving the live view");
        // `status` shows the newest live view.
        let lab = self.topology().lab.name.clone();
        if let Ok(mut st) = super::state::LabState::load(&lab) {
            st.web = Some(bound.to_string());
            st.web_control = control;
            st.web_token = token.clone();
            let _ = st.save();
        }
        Ok(
            serde_json::json!({"url": format!("http://{bound}/"), "control": control, "token": token}),
        )
    }

    /// Per circuit (file order), whether its primary and secondary links carry traffic, as
    /// `reachlab test` and `reachlab graph LAB` count them (`pingall::carries`).
    pub fn carrying_links(&mut self) -> Vec<[bool; 2]> {
        let names: Vec<String> = self
            .topology()
            .circuit
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let engine = self.engine();
        names
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let up = engine.lock().unwrap_or_else(|p| p.into_inner()).links(i);
                let routed = super::pingall::routed(self.topology(), c);
                let mut carries = up;
                for (k, path) in [Path::Primary, Path::Secondary].into_iter().enumerate() {
                    let summary = routed
                        .then(|| self.routes_summary(c, path).ok())
                        .flatten()
                        .and_then(|v| serde_json::from_value::<RouteSummary>(v).ok());
                    carries[k] = super::pingall::carries(up[k], summary.as_ref());
                }
                carries
            })
            .collect()
    }

    /// The lab's picture as it is now (links that carry nothing drawn as failed), as `graph LAB`
    /// draws it, for the live view: with `removed` Global Reach connections and labels for the
    /// rates.
    pub fn graph_svg(&mut self, removed: Vec<crate::topology::GlobalReach>) -> String {
        let links = self.carrying_links();
        let topo = self.plane.topology();
        let view = crate::graph::View {
            topo,
            links,
            removed,
            live: true,
        };
        crate::graph::svg(&view)
    }

    /// Every BGP session with a site's router, for the metrics.
    pub fn bgp_sessions(&self) -> Vec<SessionMetrics> {
        let topo = self.plane.topology();
        self.router_links()
            .into_iter()
            .map(|l| {
                let session = self.sessions.get(&(l.site, l.circuit, l.path));
                let counters = session
                    .and_then(|s| s.counters.as_ref())
                    .map(|c| *c.borrow())
                    .unwrap_or_default();
                (l, session, counters)
            })
            .map(|(l, session, counters)| SessionMetrics {
                circuit: topo.circuit[l.circuit].name.clone(),
                link: path_name(if l.path == 0 {
                    Path::Primary
                } else {
                    Path::Secondary
                }),
                site: topo.site[l.site].name.clone(),
                neighbor: l.ce.to_string(),
                established: session.is_some_and(|s| s.state == "Established"),
                messages_in: counters.messages_in,
                messages_out: counters.messages_out,
                bfd_up: session.is_some_and(|s| s.bfd == crate::bfd::State::Up),
                received: self
                    .plane
                    .adj_rib_in()
                    .get(l.site, l.circuit, l.path)
                    .map_or(0, |a| a.len()),
                advertised: self
                    .plane
                    .advertised(CustomerLink {
                        site: l.site,
                        circuit: l.circuit,
                        link: l.path,
                    })
                    .len(),
            })
            .collect()
    }

    /// Where the session on (`site`, `path`) publishes its message counters.
    pub fn watch_session(
        &mut self,
        site: usize,
        circuit: usize,
        path: usize,
        counters: tokio::sync::watch::Receiver<crate::bgp::session::Counters>,
    ) {
        self.sessions
            .entry((site, circuit, path))
            .or_default()
            .counters = Some(counters);
    }

    /// Records the state of the BFD session on (`site`, `path`).
    pub fn set_bfd(&mut self, site: usize, circuit: usize, path: usize, state: crate::bfd::State) {
        self.sessions.entry((site, circuit, path)).or_default().bfd = state;
    }

    /// Gives a session that is not Established the reason it stays down; whether it did.
    pub fn session_down_because(
        &mut self,
        site: usize,
        circuit: usize,
        path: usize,
        reason: &str,
    ) -> bool {
        let s = self.sessions.entry((site, circuit, path)).or_default();
        if s.state == "Established" || s.last_error.as_deref() == Some(reason) {
            return false;
        }
        s.last_error = Some(reason.to_string());
        true
    }

    /// Records a BGP session's state for the route-table summary.
    pub fn set_session(
        &mut self,
        site: usize,
        circuit: usize,
        path: usize,
        state: &'static str,
        last_error: Option<String>,
    ) {
        let now = self.now();
        let s = self.sessions.entry((site, circuit, path)).or_default();
        if s.state != state {
            s.since = Some(now);
        }
        s.state = state;
        if last_error.is_some() {
            s.last_error = last_error;
        }
    }

    /// The circuit link whose view `path` asks for, refused for a /30 circuit's secondary.
    fn link_of(&self, name: &str, path: Path) -> Result<(usize, usize), String> {
        let ci = self.circuit_index(name)?;
        let pp = self.plane.topology().circuit[ci]
            .peering_prefix
            .expect("defaults resolved");
        match path {
            Path::Primary => Ok((ci, 0)),
            Path::Secondary if pp.prefix_len() <= 29 => Ok((ci, 1)),
            Path::Secondary => Err(format!(
                "circuit {name} has no secondary link: its peering_prefix {pp} is a /30 (give a /29 for both)"
            )),
        }
    }

    fn routes_summary(&self, name: &str, path: Path) -> Outcome {
        let (ci, link) = self.link_of(name, path)?;
        let routing = self.plane.routing();
        // The built-in sessions are up since the lab came up; a real router's is as BGP says.
        let now = self.now();
        let neighbors = crate::plane::neighbors(self.plane.topology(), routing, ci, link)
            .into_iter()
            .map(|n| {
                let session = match n.peer {
                    crate::plane::Peer::Customer { site }
                        if self.plane.topology().site[site].router.is_real() =>
                    {
                        Some(
                            self.sessions
                                .get(&(site, ci, link))
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
        Ok(json(RouteSummary {
            circuit: name.to_string(),
            path,
            neighbors,
        }))
    }

    fn stats(&self, name: &str) -> Outcome {
        let ci = self.circuit_index(name)?;
        let engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        let s = &engine.circuit_stats()[ci];
        let drops: BTreeMap<String, u64> = DropReason::ALL
            .iter()
            .map(|r| (r.name().to_string(), s.drops[*r as usize]))
            .collect();
        let links = engine.links(ci);
        Ok(json(CircuitStatsInfo {
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
        }))
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

fn path_name(p: Path) -> &'static str {
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

/// A random authorization key in the shape of a GUID.
pub fn new_key() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl crate::control::Target for LiveLab {
    fn handle(&mut self, req: Request) -> Response {
        LiveLab::handle(self, req)
    }

    fn start_capture(
        &mut self,
        point: &str,
        path: Option<Path>,
    ) -> Result<crate::control::Capture, String> {
        let (tap, point) = self.capture_point(point, path)?;
        let id = self
            .engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .capture_start(tap);
        Ok(crate::control::Capture {
            engine: Arc::clone(&self.engine),
            tap: id,
            point,
            wall0: self.wall_time(Duration::ZERO),
        })
    }
}
