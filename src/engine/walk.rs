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

/// Walks the router hops from `ingress` towards `dst` with the packet's TTL, counting what
/// enters and leaves each circuit's MSEE.
/// What the hop walk needs of a packet.
pub(super) struct Lookup {
    pub(super) dst: IpAddr,
    /// TTL or hop limit on arrival.
    pub(super) ttl: u8,
    pub(super) wire: Wire,
}

pub(super) fn walk(
    t: &Tables,
    circuits: &mut [CircuitStats],
    ingress: PortId,
    pkt: Lookup,
    plan: &mut Plan,
    link: &Links,
) -> Walk {
    let Lookup { dst, ttl, wire } = pkt;
    // Dropped without a word: there is no router hop to answer from.
    let silent = Walk::Error {
        kind: IcmpError::NetUnreachable,
        at: None,
        from: None,
        hops: 0,
    };
    let mut hop = match t.ports[ingress].kind {
        PortKind::Site { router: false, .. } => Hop::CeOut(ingress),
        // The site's own router forwards; its LAN holds no other host.
        PortKind::Site { router: true, .. } => return silent,
        PortKind::Vnet { .. } => Hop::GwOut(ingress),
        // From a site's router onto its circuit link (the router did its hop): to the MSEE's
        // own sockets when addressed to its link address, else to the MSEE's table.
        PortKind::Link { circuit, path, .. } => {
            if !link.up[circuit][path] {
                return silent;
            }
            circuits[circuit].input[path].add(wire);
            link.cross(plan, t, circuit, path, Dir::Up, 0);
            let msee = t.circuits[circuit].link_v4[path].1;
            match (t.msee_port, dst) {
                (Some(port), IpAddr::V4(d)) if d == msee => return Walk::Deliver { port, hops: 0 },
                _ => Hop::Msee { circuit, via: None },
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
                        if dst == IpAddr::V4(t.circuits[circuit].link_v4[path].0) =>
                    {
                        Some((port, circuit, path))
                    }
                    _ => None,
                });
            let Some((port, circuit, path)) = target else {
                return silent;
            };
            if !link.up[circuit][path] {
                return silent;
            }
            circuits[circuit].output[path].add(wire);
            link.cross(plan, t, circuit, path, Dir::Down, 0);
            return Walk::Deliver { port, hops: 0 };
        }
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
        let unreachable = |at| Walk::Error {
            kind: IcmpError::NetUnreachable,
            at,
            from: me,
            hops: hops - 1,
        };
        // Onto a circuit's link: the sending hop checks the packet fits its MTU.
        let too_big = |c: CircuitId, at| {
            let mtu = t.circuits[c].timing.mtu;
            (wire.largest() > usize::from(mtu)).then_some(Walk::Error {
                kind: IcmpError::TooBig(mtu),
                at,
                from: me,
                hops: hops - 1,
            })
        };
        hop = match hop {
            Hop::CeOut(site) => {
                let PortKind::Site {
                    circuit: main,
                    ref ce,
                    ..
                } = t.ports[site].kind
                else {
                    unreachable!("CeOut is only made for sites")
                };
                // On several circuits: the one the CE's table picks (flows spread over
                // equal ones); what it knows no route for goes to its main circuit.
                let circuit = match ce {
                    Some(fib) => fib.lookup(dst).map_or(main, |g| g.pick(link.flow >> 1)),
                    None => main,
                };
                // Where the MSEE would send it back here (the site's own LAN, or its default
                // route): there is no other host there. A more specific prefix of another
                // site inside this one's LAN goes out. (The small table of what the site may
                // send from first: most packets leave the LAN and need no second lookup.)
                if t.ports[site].prefixes.lookup(dst).is_some()
                    && t.circuits[circuit].table.lookup(dst) == Some(NextHop::Site(site))
                {
                    return unreachable(None);
                }
                if let Some(w) = too_big(circuit, None) {
                    return w;
                }
                let Some(path) = link.path(t, circuit) else {
                    return unreachable(None);
                };
                circuits[circuit].input[path].add(wire);
                link.cross(plan, t, circuit, path, Dir::Up, hops);
                Hop::Msee { circuit, via: None }
            }
            Hop::GwOut(vnet) => {
                let PortKind::Vnet { gateway } = &t.ports[vnet].kind else {
                    unreachable!("GwOut is only made for VNets")
                };
                match gateway.lookup(dst).map(|g| g.pick(link.flow >> 1)) {
                    Some(circuit) => {
                        if let Some(w) = too_big(circuit, None) {
                            return w;
                        }
                        plan.delay(t.vnet_delay[circuit][vnet]);
                        Hop::Msee { circuit, via: None }
                    }
                    None => return unreachable(None),
                }
            }
            Hop::Msee { circuit, via } => match t.circuits[circuit].table.lookup(dst) {
                Some(NextHop::Site(site)) => {
                    if let Some(w) = too_big(circuit, Some(circuit)) {
                        return w;
                    }
                    let Some(path) = link.path(t, circuit) else {
                        return unreachable(Some(circuit));
                    };
                    circuits[circuit].output[path].add(wire);
                    link.cross(plan, t, circuit, path, Dir::Down, hops);
                    match t.circuits[circuit].router_links {
                        // The site's router takes it from the link (and does its own hop).
                        Some(links) => {
                            return Walk::Deliver {
                                port: links[path],
                                hops,
                            }
                        }
                        None => Hop::CeIn(site),
                    }
                }
                // Over Global Reach too: an MSEE passes its own VNets' routes to its peer.
                Some(NextHop::Vnet(vnet)) => {
                    if let Some(w) = too_big(circuit, Some(circuit)) {
                        return w;
                    }
                    plan.delay(t.vnet_delay[circuit][vnet]);
                    Hop::GwIn(vnet)
                }
                Some(NextHop::Peer { circuit: peer, gr }) if via.is_none() => {
                    link.tap(plan, TapPoint::global_reach(circuit, peer), hops);
                    plan.delay(t.backbone[circuit][peer]);
                    Hop::Msee {
                        circuit: peer,
                        via: Some(gr),
                    }
                }
                _ => return unreachable(Some(circuit)),
            },
            Hop::CeIn(port) | Hop::GwIn(port) => return Walk::Deliver { port, hops },
        };
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
