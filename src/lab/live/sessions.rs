//! The running lab's book of BGP and BFD sessions with the sites' routers: which circuit links
//! have a real router (`RouterLink`: one per link and family, IPv6 on circuits with an IPv6
//! peering), each session's state, since when, why it last went down, its BFD state and
//! message counters, as the route summary and the metrics show them.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::LiveLab;
use crate::control::proto::Path;
use crate::plane::CustomerLink;

use super::show::path_name;

/// One BGP session's ends: a circuit link whose customer end is a real router, in one family
/// (the MSEE's IPv4 and IPv6 sessions are separate, each over its own family's addresses).
#[derive(Debug, Clone, Copy)]
pub struct RouterLink {
    pub site: usize,
    pub circuit: usize,
    pub path: usize,
    /// The session's family: IPv6 (routes and transport) or IPv4.
    pub v6: bool,
    pub ce: IpAddr,
    pub msee: IpAddr,
    /// The MSEE's BGP identifier: its IPv4 link address, in either family's session.
    pub router_id: Ipv4Addr,
    pub asn: u32,
    pub premium: bool,
}

impl RouterLink {
    /// The session book's key.
    pub fn key(&self) -> SessionKey {
        (self.site, self.circuit, self.path, self.v6)
    }

    /// "IPv4" or "IPv6".
    pub fn family(&self) -> &'static str {
        if self.v6 {
            "IPv6"
        } else {
            "IPv4"
        }
    }
}

/// A session in the book: (site, circuit, link, IPv6).
pub type SessionKey = (usize, usize, usize, bool);

/// A BGP session with a site's router, as the metrics show it.
#[derive(Debug, Clone)]
pub struct SessionMetrics {
    pub circuit: String,
    pub link: &'static str,
    pub site: String,
    pub neighbor: String,
    /// "ipv4" or "ipv6".
    pub family: &'static str,
    pub established: bool,
    pub received: usize,
    pub advertised: usize,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bfd_up: bool,
}

/// A BGP session with a site's router, as the summary and the metrics show it.
#[derive(Debug, Clone)]
pub(super) struct SessionState {
    pub(super) state: &'static str,
    pub(super) since: Option<Duration>,
    pub(super) last_error: Option<String>,
    /// The BFD session's state on the same link.
    pub(super) bfd: crate::bfd::State,
    pub(super) counters: Option<tokio::sync::watch::Receiver<crate::bgp::session::Counters>>,
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

impl LiveLab {
    /// The BGP sessions with real routers: per circuit link whose customer end is one, an
    /// IPv4 session, and an IPv6 session when the circuit has an IPv6 peering.
    pub fn router_links(&self) -> Vec<RouterLink> {
        let topo = self.plane.topology();
        self.plane
            .router_links()
            .into_iter()
            .flat_map(|l| {
                [false, true].into_iter().filter_map(move |v6| {
                    let (ce, msee) = crate::plane::link_addresses(topo, l.circuit, l.link, v6)?;
                    Some(RouterLink {
                        site: l.site,
                        circuit: l.circuit,
                        path: l.link,
                        v6,
                        ce,
                        msee,
                        router_id: crate::plane::msee_address(topo, l.circuit, l.link),
                        asn: topo.site[l.site].asn.unwrap_or(0),
                        premium: topo.circuit[l.circuit].sku == crate::topology::Sku::Premium,
                    })
                })
            })
            .collect()
    }

    /// Whether the lab has settled: how many router sessions there are and are Established,
    /// and how long the MSEEs' tables and advertisements have been unchanged.
    pub(super) fn settle(&self) -> crate::control::proto::SettleState {
        // Sessions on a failed link are expected down.
        let up: Vec<bool> = {
            let e = self.engine.lock().unwrap_or_else(|p| p.into_inner());
            self.router_links()
                .into_iter()
                .filter(|l| e.links(l.circuit)[l.path])
                .map(|l| {
                    self.sessions
                        .get(&l.key())
                        .is_some_and(|s| s.state == "Established")
                })
                .collect()
        };
        crate::control::proto::SettleState {
            sessions: up.len(),
            established: up.iter().filter(|&&u| u).count(),
            quiet_ms: self.now().saturating_sub(self.routing_changed).as_millis() as u64,
        }
    }

    /// Every BGP session with a site's router, for the metrics.
    pub fn bgp_sessions(&self) -> Vec<SessionMetrics> {
        let topo = self.plane.topology();
        self.router_links()
            .into_iter()
            .map(|l| {
                let session = self.sessions.get(&l.key());
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
                family: if l.v6 { "ipv6" } else { "ipv4" },
                established: session.is_some_and(|s| s.state == "Established"),
                messages_in: counters.messages_in,
                messages_out: counters.messages_out,
                bfd_up: session.is_some_and(|s| s.bfd == crate::bfd::State::Up),
                received: self
                    .plane
                    .adj_rib_in()
                    .get(l.site, l.circuit, l.path)
                    .map_or(0, |a| in_family(a, l.v6)),
                advertised: in_family(
                    &self.plane.advertised(CustomerLink {
                        site: l.site,
                        circuit: l.circuit,
                        link: l.path,
                    }),
                    l.v6,
                ),
            })
            .collect()
    }

    /// Where session `l` publishes its message counters.
    pub fn watch_session(
        &mut self,
        l: &RouterLink,
        counters: tokio::sync::watch::Receiver<crate::bgp::session::Counters>,
    ) {
        self.sessions.entry(l.key()).or_default().counters = Some(counters);
    }

    /// Records the state of the BFD session beside session `l`.
    pub fn set_bfd(&mut self, l: &RouterLink, state: crate::bfd::State) {
        self.sessions.entry(l.key()).or_default().bfd = state;
    }

    /// Gives a session that is not Established the reason it stays down; whether it did.
    /// Whether any router link is an Ethernet port.
    pub fn has_ether_ports(&self) -> bool {
        let engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        self.router_links()
            .iter()
            .any(|l| engine.ether_port(l.circuit, l.path).is_some())
    }

    /// Why each router link on an Ethernet port gets no session when its CE's frames come
    /// on another VLAN than the peering's (counted since the last call, in `seen`): the
    /// reason for `routes --summary`.
    pub fn vlan_reasons(
        &self,
        seen: &mut std::collections::HashMap<crate::engine::PortId, u64>,
    ) -> Vec<(RouterLink, String)> {
        use crate::engine::{ether::LinkDrop, DropReason};
        let engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for l in self.router_links() {
            let Some(port) = engine.ether_port(l.circuit, l.path) else {
                continue;
            };
            let drops = &engine.port_stats()[port].drops;
            let n = drops[DropReason::Link(LinkDrop::WrongVlan).index()]
                + drops[DropReason::Link(LinkDrop::Untagged).index()];
            let before = seen.insert(port, n).unwrap_or(0);
            let Some(link) = engine.ether(port) else {
                continue;
            };
            let (Some(got), true) = (link.last_wrong_vlan, n > before) else {
                continue;
            };
            let want = link
                .vlan
                .map_or("untagged".to_string(), |v| format!("VLAN {v}"));
            let seen_on = if got == 0 {
                "untagged".to_string()
            } else {
                format!("on VLAN {got}")
            };
            out.push((
                l,
                format!(
                    "the router's frames arrive {seen_on}; the circuit's private peering is {want} (vlan_id): they are dropped (stats: wrong-vlan, untagged)"
                ),
            ));
        }
        out
    }

    pub fn session_down_because(&mut self, l: &RouterLink, reason: &str) -> bool {
        let s = self.sessions.entry(l.key()).or_default();
        if s.state == "Established" || s.last_error.as_deref() == Some(reason) {
            return false;
        }
        s.last_error = Some(reason.to_string());
        true
    }

    /// Records session `l`'s state for the route-table summary.
    pub fn set_session(&mut self, l: &RouterLink, state: &'static str, last_error: Option<String>) {
        let now = self.now();
        let s = self.sessions.entry(l.key()).or_default();
        if s.state != state {
            s.since = Some(now);
            // A session coming up or going down is routing about to change.
            self.routing_changed = now;
        }
        s.state = state;
        if last_error.is_some() {
            s.last_error = last_error;
        }
    }
}

/// How many of `routes` are IPv6 (`v6`) or IPv4.
fn in_family(routes: &crate::plane::Announced, v6: bool) -> usize {
    routes
        .keys()
        .filter(|p| matches!(p, ipnet::IpNet::V6(_)) == v6)
        .count()
}
