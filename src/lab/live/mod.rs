//! A running lab as the control socket sees it (`control::Handler`): the routing state
//! (`plane::Plane`: topology, authorization keys, RIBs), the engine it feeds, the namespaces,
//! the clock. This room owns dispatch (`answer`: one request, one typed reply) and carrying out
//! effects: a change goes through the plane, which checks it with the topology's rules and
//! returns its effects, and `carry_out` is the one place they are carried out (swap the
//! engine's tables whole, add or remove namespace routes, push what an MSEE now announces to
//! its router's session). Reads are `show`'s; the BGP/BFD session book is `sessions`'.

mod sessions;
mod show;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ipnet::IpNet;
use tracing::{info, warn};

use crate::control::proto::*;
use crate::engine::Engine;
use crate::plane::{Announced, Change, CustomerLink, Effect, Plane};
use crate::topology::Topology;

use super::netns;
use super::state::EndpointState;
use sessions::SessionState;
pub use sessions::{RouterLink, SessionMetrics};
use show::path_name;

/// Starts the live view on an address (`ADDR:PORT`), and whether it may change the lab.
pub type WebStarter = Box<dyn Fn(&str, bool) -> Result<WebServing, String> + Send>;

pub struct LiveLab {
    /// The routing state: topology, authorization keys, RIBs (pure; changes go through it and
    /// come out as effects carried out here).
    plane: Plane,
    /// Starts a live view when asked (`reachlab web`), if the lab can.
    web: Option<WebStarter>,
    engine: Arc<Mutex<Engine>>,
    endpoints: Vec<EndpointState>,
    /// The kernel's drops at the TUNs' rings, per port.
    rings: crate::lab::rings::Rings,
    /// The wall-clock time of the engine's zero (captures are stamped with wall time).
    wall_epoch: SystemTime,
    /// The engine's zero.
    epoch: Instant,
    /// BGP sessions with sites' routers, per (site, circuit, link, IPv6): state, since when,
    /// why last down, BFD state, message counters.
    sessions: BTreeMap<sessions::SessionKey, SessionState>,
    /// Per router link, what its MSEE announces, as its BGP speaker watches it.
    announcers: BTreeMap<CustomerLink, tokio::sync::watch::Sender<Announced>>,
    /// When (on the engine's clock) the tables, an advertisement or a session's state last
    /// changed: the lab has settled when its sessions are up and this is a while ago.
    routing_changed: Duration,
}

impl LiveLab {
    pub fn new(topo: Topology, engine: Arc<Mutex<Engine>>, endpoints: Vec<EndpointState>) -> Self {
        LiveLab {
            plane: Plane::new(topo),
            web: None,
            engine,
            endpoints,
            rings: Default::default(),
            wall_epoch: SystemTime::now(),
            epoch: Instant::now(),
            sessions: BTreeMap::new(),
            announcers: BTreeMap::new(),
            routing_changed: Duration::ZERO,
        }
    }

    /// Reports the kernel's drops at these TUNs' rings (`ring-full`).
    pub fn with_rings(mut self, rings: crate::lab::rings::Rings) -> Self {
        self.rings = rings;
        self
    }

    /// Per port with a TUN, the packets the kernel dropped at its full ring.
    pub fn ring_drops(&self) -> BTreeMap<crate::engine::PortId, u64> {
        self.rings.dropped()
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

    /// The wall-clock time of an engine time.
    pub fn wall_time(&self, at: Duration) -> SystemTime {
        self.wall_epoch + at
    }

    pub fn engine(&self) -> Arc<Mutex<Engine>> {
        Arc::clone(&self.engine)
    }

    pub fn topology(&self) -> &Topology {
        self.plane.topology()
    }

    /// Carries out one request and answers it, typed (JSON is the control server's and the
    /// web's business).
    pub fn answer(&mut self, req: Request) -> Result<Reply, String> {
        Ok(match req {
            Request::GlobalReachAdd(add) => {
                let (circuit, peer) = (add.circuit.clone(), add.peer.clone());
                self.change(Change::GlobalReachAdd(add))?;
                info!(%circuit, %peer, "global reach connection added");
                Reply::GlobalReach(self.gr_row(self.plane.topology().global_reach.len() - 1))
            }
            Request::GlobalReachRemove { circuit, peer } => {
                let row = self.plane.find_gr(&circuit, &peer).map(|i| self.gr_row(i));
                self.change(Change::GlobalReachRemove {
                    circuit: circuit.clone(),
                    peer: peer.clone(),
                })?;
                info!(%circuit, %peer, "global reach connection removed");
                Reply::GlobalReachRemoved(row)
            }
            Request::GlobalReachList { circuit } => {
                Reply::GlobalReachList(self.gr_list(circuit.as_deref())?)
            }
            Request::CircuitAuthorize { circuit, name } => {
                let key = new_key();
                self.change(Change::Authorize {
                    circuit,
                    name: name.clone(),
                    key: key.clone(),
                })?;
                Reply::Authorization(AuthorizationRow {
                    name,
                    key,
                    state: "Available".into(),
                })
            }
            Request::CircuitShow { circuit } => {
                Reply::Circuit(Box::new(self.circuit_show(&circuit)?))
            }
            Request::VnetLink {
                vnet,
                circuit,
                weight,
            } => Reply::VnetCircuits(self.vnet_link(vnet, circuit, true, weight)?),
            Request::VnetUnlink { vnet, circuit } => {
                Reply::VnetCircuits(self.vnet_link(vnet, circuit, false, None)?)
            }
            Request::Routes {
                circuit,
                path,
                family,
            } => Reply::Routes(self.routes(&circuit, path, family)?),
            Request::RoutesSummary {
                circuit,
                path,
                family,
            } => Reply::Summary(self.routes_summary(&circuit, path, family)?),
            Request::Stats { circuit } => Reply::Stats(Box::new(self.stats(&circuit)?)),
            Request::Export => Reply::Export(self.export()),
            Request::Settle => Reply::Settle(self.settle()),
            Request::Path { from, to, family } => {
                Reply::Path(Box::new(self.path(&from, &to, family)?))
            }
            Request::WebServe { listen, control } => match &self.web {
                Some(start) => Reply::Web(start(&listen, control)?),
                None => return Err("this lab cannot serve a live view".into()),
            },
            Request::Capture { .. } => {
                return Err("capture streams packets: send it on a connection of its own".into())
            }
            Request::CircuitLink { circuit, path, up } => {
                Reply::Link(self.set_link(&circuit, path, up)?)
            }
            Request::CircuitMaintenance { circuit, path, on } => {
                let (_, link) = self.link_of(&circuit, path)?;
                self.change(Change::Maintenance {
                    circuit: circuit.clone(),
                    link,
                    on,
                })?;
                info!(circuit = %circuit, path = path_name(path), on, "maintenance");
                Reply::Maintenance(MaintenanceState {
                    circuit,
                    path: path_name(path).to_string(),
                    maintenance: on,
                })
            }
        })
    }

    /// Carries out one request: its answer as the control protocol carries it.
    pub fn handle(&mut self, req: Request) -> Response {
        match self.answer(req) {
            Ok(r) => Response::ok(r),
            Err(e) => Response::err(e),
        }
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
        if effects
            .iter()
            .any(|e| matches!(e, Effect::Tables(_) | Effect::Advertise { .. }))
        {
            self.routing_changed = self.now();
        }
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
    ) -> Result<Vec<String>, String> {
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
        Ok(circuits)
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

    fn set_link(&mut self, name: &str, path: Path, up: bool) -> Result<LinkState, String> {
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
        Ok(LinkState {
            circuit: name.to_string(),
            primary_up: links[0],
            secondary_up: links[1],
        })
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

    /// What site `l.site`'s router now announces on link `l.path` in `l`'s family (that
    /// session's accepted routes): the RIBs, the engine's tables and what the MSEEs announce
    /// follow.
    pub fn set_customer(&mut self, l: &RouterLink, routes: Announced) {
        let link = CustomerLink {
            site: l.site,
            circuit: l.circuit,
            link: l.path,
        };
        let effects = self.plane.set_customer_family(link, l.v6, routes);
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

    /// How this lab starts a live view when asked (`reachlab web`): given by the lab's
    /// lifecycle, which owns the web server.
    pub fn set_web(&mut self, start: WebStarter) {
        self.web = Some(start);
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

impl crate::control::Handler for LiveLab {
    fn handle(&mut self, req: Request) -> Response {
        LiveLab::handle(self, req)
    }

    fn start_capture(
        &mut self,
        point: &str,
        path: Option<Path>,
    ) -> Result<crate::control::Capture, String> {
        let (tap, point) = self.capture_point(point, path)?;
        let link_type = if matches!(tap, crate::engine::capture::TapPoint::Frames(_)) {
            1
        } else {
            101
        };
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
            link_type,
        })
    }
}
