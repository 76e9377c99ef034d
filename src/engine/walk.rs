//! The hop walk: a packet's way through the emulated network's router hops (CE, MSEE, peer
//! MSEE over Global Reach, VNet gateway), one named stage at a time, from the tables in force,
//! for both address families alike. Counts what enters and leaves each circuit's MSEE, plans
//! the shapers, delays and capture taps the packet crosses, and says where the walk ends:
//! delivered, addressed to a router, or an ICMP error from a hop.

use std::net::IpAddr;

use super::capture::{TapPoint, Taps};
use super::icmp::IcmpError;
use super::stats::{CircuitStats, DropReason, Wire};
use super::table::{self, CircuitId, NextHop, PortId, PortKind, Tables};
use super::timing::{Dir, Plan};
use super::wire::WireError;

/// A router hop of the emulated network: the stages of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hop {
    /// A site's edge router, packet leaving the site.
    CeOut(PortId),
    /// A site's edge router, packet entering the site.
    CeIn(PortId),
    /// A circuit's MSEE; `via` is the Global Reach link it arrived over, if any.
    Msee {
        circuit: CircuitId,
        via: Option<usize>,
    },
    /// A VNet's gateway, packet leaving the VNet.
    GwOut(PortId),
    /// A VNet's gateway, packet entering the VNet.
    GwIn(PortId),
}

/// Which of a circuit's two links a flow takes: flows are hashed across the links that are
/// up, so a failure moves only the flows of the failed link.
pub(super) struct Links<'a> {
    pub(super) up: &'a [[bool; 2]],
    pub(super) flow: u64,
    pub(super) taps: &'a Taps,
    /// Where `Engine::trace` collects the steps of a walk (None when forwarding).
    pub(super) trace: Option<&'a std::cell::RefCell<Vec<Step>>>,
}

/// One step of a packet's way, as `Engine::trace` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A site's CE (the built-in router) or a VNet's gateway, on the way out of it.
    Out(PortId),
    /// Onto a circuit's link; `to_msee` from the customer side.
    Link {
        circuit: CircuitId,
        path: usize,
        to_msee: bool,
    },
    /// A circuit's MSEE; `via` the Global Reach connection it came over.
    Msee {
        circuit: CircuitId,
        via: Option<usize>,
    },
    /// Into a site or VNet (or a router's link).
    Deliver(PortId),
    /// Answered by a router hop (it was addressed to one).
    Local,
    /// Dropped, with the ICMP error the hop sends if any.
    Error(String),
}

impl Links<'_> {
    fn record(&self, step: Step) {
        if let Some(t) = self.trace {
            t.borrow_mut().push(step);
        }
    }
}

impl Links<'_> {
    /// Onto `circuit`'s link `path` in direction `dir`: its shaper, the tap of a capture on
    /// that link (as the packet leaves the shaper), then the access link's delay.
    pub(super) fn cross(
        &self,
        plan: &mut Plan,
        t: &Tables,
        circuit: CircuitId,
        path: usize,
        dir: Dir,
        hops: u8,
    ) {
        self.record(Step::Link {
            circuit,
            path,
            to_msee: matches!(dir, Dir::Up),
        });
        plan.shape(t, circuit, path, dir);
        let point = TapPoint::Link {
            circuit,
            path: path as u8,
        };
        self.tap(plan, point, hops);
        plan.access(t, circuit, path, dir);
    }

    /// Adds a tap stage when a capture watches `point`.
    pub(super) fn tap(&self, plan: &mut Plan, point: TapPoint, hops: u8) {
        if self.taps.watching(point) {
            plan.tap(point, hops);
        }
    }

    /// The link a flow takes on `circuit`: hashed over the links that are up and not under
    /// maintenance, else over those up.
    pub(super) fn path(&self, t: &Tables, circuit: CircuitId) -> Option<usize> {
        let up = self.up[circuit];
        let d = t.circuits[circuit].drained;
        let usable = [up[0] && !d[0], up[1] && !d[1]];
        let pick = if usable == [false, false] { up } else { usable };
        match pick {
            [true, true] => Some((self.flow % 2) as usize),
            [true, false] => Some(0),
            [false, true] => Some(1),
            [false, false] => None,
        }
    }
}

/// Longest path through the network (ce-out, msee, msee, ce-in) plus slack: a bound that the
/// hop walk can never reach, asserted so a future table bug cannot loop forever.
const MAX_HOPS: u8 = 8;

/// What the hop walk needs of a packet.
pub(super) struct Lookup {
    pub(super) dst: IpAddr,
    /// TTL or hop limit on arrival.
    pub(super) ttl: u8,
    pub(super) wire: Wire,
}

/// A walk in progress: the tables, the counters and plan it adds to, the packet.
struct Walker<'a, 'l> {
    t: &'a Tables,
    circuits: &'a mut [CircuitStats],
    plan: &'a mut Plan,
    link: &'a Links<'l>,
    dst: IpAddr,
    wire: Wire,
}

/// The hop a step is taken at: its address in the packet's family, and the hops so far (the
/// step's own included).
#[derive(Clone, Copy)]
struct At {
    me: Option<IpAddr>,
    hops: u8,
}

impl At {
    /// No route from this hop.
    fn unreachable(self, at: Option<CircuitId>) -> Walk {
        Walk::Error {
            kind: IcmpError::NetUnreachable,
            at,
            from: self.me,
            hops: self.hops - 1,
        }
    }

    /// Onto circuit `c`'s link: the sending hop checks the packet fits its MTU.
    fn too_big(
        self,
        t: &Tables,
        wire: Wire,
        c: CircuitId,
        at: Option<CircuitId>,
    ) -> Result<(), Walk> {
        let mtu = t.circuits[c].timing.mtu;
        if wire.largest() > usize::from(mtu) {
            return Err(Walk::Error {
                kind: IcmpError::TooBig(mtu),
                at,
                from: self.me,
                hops: self.hops - 1,
            });
        }
        Ok(())
    }
}

/// Walks the router hops from `ingress` towards `dst` with the packet's TTL, counting what
/// enters and leaves each circuit's MSEE. One stage per hop: `enter`, then `ce_out`, `gw_out`
/// or `msee` until a step ends the walk.
pub(super) fn walk(
    t: &Tables,
    circuits: &mut [CircuitStats],
    ingress: PortId,
    pkt: Lookup,
    plan: &mut Plan,
    link: &Links,
) -> Walk {
    let Lookup { dst, ttl, wire } = pkt;
    let mut w = Walker {
        t,
        circuits,
        plan,
        link,
        dst,
        wire,
    };
    let mut hop = match w.enter(ingress) {
        Ok(hop) => hop,
        Err(end) => return end,
    };
    let mut hops: u8 = 0;
    loop {
        debug_assert!(hops < MAX_HOPS, "hop walk exceeded its bound");
        if hops >= MAX_HOPS {
            return Walk::Error {
                kind: IcmpError::NetUnreachable,
                at: None,
                from: None,
                hops,
            };
        }
        if link.trace.is_some() {
            link.record(match hop {
                Hop::CeOut(p) | Hop::GwOut(p) => Step::Out(p),
                Hop::Msee { circuit, via } => Step::Msee { circuit, via },
                Hop::CeIn(p) | Hop::GwIn(p) => Step::Deliver(p),
            });
        }
        let circuit_at = match hop {
            Hop::Msee { circuit, .. } => Some(circuit),
            _ => None,
        };
        let me = hop_address(t, hop, dst.is_ipv4());
        if owns(t, hop, dst) {
            return Walk::Local {
                at: circuit_at,
                addr: dst,
            };
        }
        // Forwarding needs TTL > 1 on arrival: it leaves with at least 1.
        if ttl.saturating_sub(hops) <= 1 {
            return Walk::Error {
                kind: IcmpError::TimeExceeded,
                at: circuit_at,
                from: me,
                hops,
            };
        }
        hops += 1;
        let at = At { me, hops };
        let next = match hop {
            Hop::CeOut(site) => w.ce_out(site, at),
            Hop::GwOut(vnet) => w.gw_out(vnet, at),
            Hop::Msee { circuit, via } => w.msee(circuit, via, at),
            Hop::CeIn(port) | Hop::GwIn(port) => Err(Walk::Deliver { port, hops }),
        };
        hop = match next {
            Ok(hop) => hop,
            Err(end) => return end,
        };
    }
}

impl Walker<'_, '_> {
    /// The first hop from `ingress`, or the walk's end when there is none to take.
    #[inline]
    fn enter(&mut self, ingress: PortId) -> Result<Hop, Walk> {
        let (t, dst, wire) = (self.t, self.dst, self.wire);
        // Dropped without a word: there is no router hop to answer from.
        let silent = Walk::Error {
            kind: IcmpError::NetUnreachable,
            at: None,
            from: None,
            hops: 0,
        };
        match t.ports[ingress].kind {
            PortKind::Site { router: false, .. } => Ok(Hop::CeOut(ingress)),
            // The site's own router forwards; its LAN holds no other host.
            PortKind::Site { router: true, .. } => Err(silent),
            PortKind::Vnet { .. } => Ok(Hop::GwOut(ingress)),
            // From a site's router onto its circuit link (the router did its hop): to the
            // MSEE's own sockets when addressed to its link address, else to the MSEE's table.
            PortKind::Link { circuit, path, .. } => {
                if !self.link.up[circuit][path] {
                    return Err(silent);
                }
                self.circuits[circuit].input[path].add(wire);
                self.link.cross(self.plan, t, circuit, path, Dir::Up, 0);
                let c = &t.circuits[circuit];
                let msee_v4 = c.link_v4[path].1;
                let msee_v6 = c.link_v6.map(|l| l[path].1);
                match (t.msee_port, dst) {
                    (Some(port), IpAddr::V4(d)) if d == msee_v4 => {
                        Err(Walk::Deliver { port, hops: 0 })
                    }
                    (Some(port), IpAddr::V6(d)) if Some(d) == msee_v6 => {
                        Err(Walk::Deliver { port, hops: 0 })
                    }
                    _ => Ok(Hop::Msee { circuit, via: None }),
                }
            }
            // From an MSEE's socket to the customer's router on that link.
            PortKind::Msee => {
                let target = t
                    .ports
                    .iter()
                    .enumerate()
                    .find_map(|(port, p)| match p.kind {
                        PortKind::Link { circuit, path, .. }
                            if dst == IpAddr::V4(t.circuits[circuit].link_v4[path].0)
                                || t.circuits[circuit]
                                    .link_v6
                                    .is_some_and(|l| dst == IpAddr::V6(l[path].0)) =>
                        {
                            Some((port, circuit, path))
                        }
                        _ => None,
                    });
                let Some((port, circuit, path)) = target else {
                    return Err(silent);
                };
                if !self.link.up[circuit][path] {
                    return Err(silent);
                }
                self.circuits[circuit].output[path].add(wire);
                self.link.cross(self.plan, t, circuit, path, Dir::Down, 0);
                Err(Walk::Deliver { port, hops: 0 })
            }
        }
    }

    /// A site's CE, the packet leaving the site: onto the circuit its table picks.
    #[inline]
    fn ce_out(&mut self, site: PortId, at: At) -> Result<Hop, Walk> {
        let (t, dst, wire, link) = (self.t, self.dst, self.wire, self.link);
        let PortKind::Site {
            circuit: main,
            ref ce,
            ..
        } = t.ports[site].kind
        else {
            unreachable!("CeOut is only made for sites")
        };
        // On several circuits: the one the CE's table picks (flows spread over equal ones);
        // what it knows no route for goes to its main circuit.
        let circuit = match ce {
            Some(fib) => fib.lookup(dst).map_or(main, |g| g.pick(link.flow >> 1)),
            None => main,
        };
        // Where the MSEE would send it back here (the site's own LAN, or its default route):
        // there is no other host there. A more specific prefix of another site inside this
        // one's LAN goes out. (The small table of what the site may send from first: most
        // packets leave the LAN and need no second lookup.)
        if t.ports[site].prefixes.lookup(dst).is_some()
            && t.circuits[circuit].table.lookup(dst) == Some(NextHop::Site(site))
        {
            return Err(at.unreachable(None));
        }
        at.too_big(t, wire, circuit, None)?;
        let Some(path) = link.path(t, circuit) else {
            return Err(at.unreachable(None));
        };
        self.circuits[circuit].input[path].add(wire);
        link.cross(self.plan, t, circuit, path, Dir::Up, at.hops);
        Ok(Hop::Msee { circuit, via: None })
    }

    /// A VNet's gateway, the packet leaving the VNet: to the circuit its routes pick.
    #[inline]
    fn gw_out(&mut self, vnet: PortId, at: At) -> Result<Hop, Walk> {
        let t = self.t;
        let PortKind::Vnet { gateway } = &t.ports[vnet].kind else {
            unreachable!("GwOut is only made for VNets")
        };
        let Some(circuit) = gateway
            .lookup(self.dst)
            .map(|g| g.pick(self.link.flow >> 1))
        else {
            return Err(at.unreachable(None));
        };
        at.too_big(t, self.wire, circuit, None)?;
        self.plan.delay(t.vnet_delay[circuit][vnet]);
        Ok(Hop::Msee { circuit, via: None })
    }

    /// A circuit's MSEE: down to its site, to a VNet, or over Global Reach to the peer MSEE
    /// (once: routes learned over Global Reach are not passed on).
    #[inline]
    fn msee(&mut self, circuit: CircuitId, via: Option<usize>, at: At) -> Result<Hop, Walk> {
        let (t, wire, link) = (self.t, self.wire, self.link);
        match t.circuits[circuit].table.lookup(self.dst) {
            Some(NextHop::Site(site)) => {
                at.too_big(t, wire, circuit, Some(circuit))?;
                let Some(path) = link.path(t, circuit) else {
                    return Err(at.unreachable(Some(circuit)));
                };
                self.circuits[circuit].output[path].add(wire);
                link.cross(self.plan, t, circuit, path, Dir::Down, at.hops);
                match t.circuits[circuit].router_links {
                    // The site's router takes it from the link (and does its own hop).
                    Some(links) => Err(Walk::Deliver {
                        port: links[path],
                        hops: at.hops,
                    }),
                    None => Ok(Hop::CeIn(site)),
                }
            }
            // Over Global Reach too: an MSEE passes its own VNets' routes to its peer.
            Some(NextHop::Vnet(vnet)) => {
                at.too_big(t, wire, circuit, Some(circuit))?;
                self.plan.delay(t.vnet_delay[circuit][vnet]);
                Ok(Hop::GwIn(vnet))
            }
            Some(NextHop::Peer { circuit: peer, gr }) if via.is_none() => {
                link.tap(self.plan, TapPoint::global_reach(circuit, peer), at.hops);
                self.plan.delay(t.backbone[circuit][peer]);
                Ok(Hop::Msee {
                    circuit: peer,
                    via: Some(gr),
                })
            }
            _ => Err(at.unreachable(Some(circuit))),
        }
    }
}

/// The outcome of walking the hops.
pub(super) enum Walk {
    Deliver {
        port: PortId,
        hops: u8,
    },
    /// Addressed to a router hop; `addr` is the address it was sent to.
    Local {
        at: Option<CircuitId>,
        addr: IpAddr,
    },
    /// A hop reports an error from `from` (none: the hop has no address in the packet's
    /// family, so the packet is dropped silently) after `hops` decrements.
    Error {
        kind: IcmpError,
        at: Option<CircuitId>,
        from: Option<IpAddr>,
        hops: u8,
    },
}

pub(super) fn wire_reason(e: WireError) -> DropReason {
    match e {
        WireError::NotIp => DropReason::NotIp,
        WireError::Malformed => DropReason::Malformed,
    }
}

pub(super) fn error_reason(kind: IcmpError) -> DropReason {
    match kind {
        IcmpError::TimeExceeded => DropReason::TtlExpired,
        IcmpError::NetUnreachable => DropReason::NoRoute,
        IcmpError::TooBig(_) => DropReason::MtuExceeded,
    }
}

/// The address a hop answers from in the family of the packet.
pub(super) fn hop_address(t: &Tables, hop: Hop, v4: bool) -> Option<IpAddr> {
    match hop {
        Hop::CeOut(p) | Hop::CeIn(p) | Hop::GwOut(p) | Hop::GwIn(p) => {
            if v4 {
                t.ports[p].gateway_v4.map(IpAddr::V4)
            } else {
                t.ports[p].gateway_v6.map(IpAddr::V6)
            }
        }
        Hop::Msee { circuit, via: None } => Some(if v4 {
            IpAddr::V4(t.circuits[circuit].msee_v4)
        } else {
            IpAddr::V6(t.circuits[circuit].msee_v6)
        }),
        Hop::Msee {
            circuit,
            via: Some(gr),
        } => {
            if v4 {
                Some(IpAddr::V4(t.gr[gr].addr_v4(circuit)))
            } else {
                t.gr[gr].addr_v6(circuit).map(IpAddr::V6)
            }
        }
    }
}

/// Whether `dst` is one of the hop's own addresses.
pub(super) fn owns(t: &Tables, hop: Hop, dst: IpAddr) -> bool {
    match hop {
        Hop::CeOut(p) | Hop::CeIn(p) | Hop::GwOut(p) | Hop::GwIn(p) => t.ports[p]
            .prefix_list
            .iter()
            .any(|pre| table::gateway_address(pre) == dst),
        Hop::Msee { circuit, .. } => {
            let c = &t.circuits[circuit];
            dst == IpAddr::V4(c.msee_v4)
                || dst == IpAddr::V6(c.msee_v6)
                || t.gr
                    .iter()
                    .filter(|g| g.circuits.contains(&circuit))
                    .any(|g| {
                        dst == IpAddr::V4(g.addr_v4(circuit))
                            || g.addr_v6(circuit).map(IpAddr::V6) == Some(dst)
                    })
        }
    }
}
