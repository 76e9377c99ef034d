//! The engine's forwarding tables: one LPM table per circuit (its MSEE's), one per VNet
//! gateway, and the addresses each router hop answers from. Compiled whole by
//! `crate::plane::compile` from the RIBs' best paths and swapped whole on a change; the engine
//! only reads them.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::topology::Loss;

/// Index of a site or VNet: sites first in file order, then VNets.
pub type PortId = usize;
pub type CircuitId = usize;
pub type GrId = usize;

/// reachlab's internal IPv6 range for MSEE addresses (circuits have no IPv6 peering prefix in
/// the topology yet): circuit i's MSEE is fd72:6c61:6200:i::2.
pub const INTERNAL_V6: &str = "fd72:6c61:6200::/48";

/// Where an MSEE sends a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHop {
    /// One of this circuit's sites (through its CE).
    Site(PortId),
    /// A VNet linked to this circuit (through its gateway).
    Vnet(PortId),
    /// A Global Reach peer's MSEE, over the backbone.
    Peer { circuit: CircuitId, gr: GrId },
}

/// A longest-prefix-match table for both families.
#[derive(Debug, Clone, Default)]
pub struct Lpm<T> {
    pub v4: PrefixMap<Ipv4Net, T>,
    pub v6: PrefixMap<Ipv6Net, T>,
}

impl<T: Copy> Lpm<T> {
    pub fn new() -> Self {
        Lpm {
            v4: PrefixMap::new(),
            v6: PrefixMap::new(),
        }
    }
    pub fn insert(&mut self, p: IpNet, t: T) {
        match p {
            IpNet::V4(p) => {
                self.v4.insert(p, t);
            }
            IpNet::V6(p) => {
                self.v6.insert(p, t);
            }
        }
    }
    pub fn remove(&mut self, p: &IpNet) {
        match p {
            IpNet::V4(p) => {
                self.v4.remove(p);
            }
            IpNet::V6(p) => {
                self.v6.remove(p);
            }
        }
    }
    pub fn lookup_v4(&self, a: Ipv4Addr) -> Option<T> {
        self.v4.get_lpm(&Ipv4Net::from(a)).map(|(_, t)| *t)
    }
    pub fn lookup_v6(&self, a: Ipv6Addr) -> Option<T> {
        self.v6.get_lpm(&Ipv6Net::from(a)).map(|(_, t)| *t)
    }
    pub fn lookup(&self, a: IpAddr) -> Option<T> {
        match a {
            IpAddr::V4(a) => self.lookup_v4(a),
            IpAddr::V6(a) => self.lookup_v6(a),
        }
    }
    /// Every entry, IPv4 first, each family in prefix order.
    pub fn entries(&self) -> Vec<(IpNet, T)> {
        let mut v: Vec<(IpNet, T)> = self.v4.iter().map(|(p, t)| (IpNet::V4(p), *t)).collect();
        v.extend(self.v6.iter().map(|(p, t)| (IpNet::V6(p), *t)));
        v
    }
}

/// How a circuit behaves in time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CircuitTiming {
    /// Bandwidth each way; None: unshaped.
    pub rate_bps: Option<u64>,
    /// One-way delay between the circuit's sites and its MSEE.
    pub access: Duration,
    /// Shaper queue depth, as time at the rate.
    pub queue: Duration,
    /// IP MTU of the circuit.
    pub mtu: u16,
    /// Random extra access delay, up to this.
    pub jitter: Duration,
    /// Let jitter reorder packets.
    pub reorder: bool,
    pub loss: Option<Loss>,
}

/// One MSEE: its table and the addresses it answers from.
#[derive(Debug, Clone)]
pub struct CircuitFib {
    pub name: String,
    pub table: Lpm<NextHop>,
    pub timing: CircuitTiming,
    /// The MSEE's address in the circuit's peering prefix (second host of the primary /30).
    pub msee_v4: Ipv4Addr,
    pub msee_v6: Ipv6Addr,
    /// Each link's (customer, MSEE) addresses: the first and second host of its /30.
    pub link_v4: [(Ipv4Addr, Ipv4Addr); 2],
    /// With an IPv6 private peering: each link's (customer, MSEE) addresses in its /126.
    pub link_v6: Option<[(Ipv6Addr, Ipv6Addr); 2]>,
    /// Links under maintenance: used only while the other link is down.
    pub drained: [bool; 2],
    /// With a real router at the customer end: its two link ports (primary, secondary), where
    /// what the MSEE sends to the site goes.
    pub router_links: Option<[PortId; 2]>,
}

/// A site or VNet as the engine sees it.
#[derive(Debug, Clone)]
pub struct PortInfo {
    pub name: String,
    pub kind: PortKind,
    /// The prefixes the endpoint owns (and may source traffic from).
    pub prefixes: Lpm<()>,
    pub prefix_list: Vec<IpNet>,
    /// The CE's / gateway's address in the endpoint's first prefix of each family.
    pub gateway_v4: Option<Ipv4Addr>,
    pub gateway_v6: Option<Ipv6Addr>,
}

#[derive(Debug, Clone)]
pub enum PortKind {
    /// A site's LAN. With the built-in static router the engine is its CE: onto `circuit`,
    /// or, for a site on several circuits, the circuits `ce` (its routing table, from what
    /// each circuit's MSEEs advertise) chooses. With a real router (`router`) the site's
    /// namespace is the CE and this TUN carries nothing the engine forwards.
    Site {
        circuit: CircuitId,
        ce: Option<Box<Lpm<Ecmp>>>,
        router: bool,
    },
    /// A circuit link's customer end in the namespace of a site with a real router (its /30
    /// address on it): what the router sends onto the link, and what reaches it from there.
    Link {
        site: PortId,
        circuit: CircuitId,
        path: usize,
    },
    /// The namespace holding the MSEEs' own sockets (BGP): every MSEE link address.
    Msee,
    /// A VNet and its gateway's table (prefix -> the circuits whose MSEEs lead there, flows
    /// spread over them).
    Vnet { gateway: Box<Lpm<Ecmp>> },
}

/// Up to four circuits a VNet gateway spreads a prefix's flows over (equal cost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ecmp {
    len: u8,
    circuits: [CircuitId; 4],
}

impl Ecmp {
    /// The first four of `circuits` (at least one).
    pub fn new(circuits: &[CircuitId]) -> Ecmp {
        assert!(!circuits.is_empty(), "an ECMP group has a circuit");
        let mut c = [circuits[0]; 4];
        let len = circuits.len().min(4);
        c[..len].copy_from_slice(&circuits[..len]);
        Ecmp {
            len: len as u8,
            circuits: c,
        }
    }

    /// The circuit of a flow (by its hash).
    pub fn pick(&self, flow: u64) -> CircuitId {
        self.circuits[(flow % u64::from(self.len)) as usize]
    }

    /// Every circuit of the group, in order.
    pub fn circuits(&self) -> &[CircuitId] {
        &self.circuits[..usize::from(self.len)]
    }
}

/// One Global Reach connection's transit link: each side's address in the /29 (/125).
#[derive(Debug, Clone)]
pub struct GrLink {
    pub circuits: [CircuitId; 2],
    pub v4: [Ipv4Addr; 2],
    pub v6: Option<[Ipv6Addr; 2]>,
}

impl GrLink {
    /// The address `circuit`'s MSEE uses on this link.
    pub fn addr_v4(&self, circuit: CircuitId) -> Ipv4Addr {
        self.v4[usize::from(self.circuits[1] == circuit)]
    }
    pub fn addr_v6(&self, circuit: CircuitId) -> Option<Ipv6Addr> {
        self.v6.map(|a| a[usize::from(self.circuits[1] == circuit)])
    }
}

/// Everything forwarding reads. Built whole from a topology and swapped whole on a change.
#[derive(Debug, Clone)]
pub struct Tables {
    pub circuits: Vec<CircuitFib>,
    pub ports: Vec<PortInfo>,
    pub gr: Vec<GrLink>,
    /// One-way backbone delay between two circuits' MSEEs, `[a][b]`.
    pub backbone: Vec<Vec<Duration>>,
    /// One-way delay between a circuit's MSEE and a VNet, `[circuit][port]` (zero for sites).
    pub vnet_delay: Vec<Vec<Duration>>,
    /// Seed of the jitter and loss generators.
    pub seed: u64,
    /// The MSEEs' namespace's port, when the lab has sites with real routers.
    pub msee_port: Option<PortId>,
}

/// Seed of the jitter and loss generators when the topology gives none.
pub const DEFAULT_SEED: u64 = 1;

/// Shortest default shaper queue, whatever the round trips.
pub const MIN_DEFAULT_QUEUE: Duration = Duration::from_millis(10);

/// The last usable address of a prefix: 10.0.1.254 for 10.0.1.0/24 (the first host is the
/// endpoint's own address, the last is its router's).
pub fn gateway_address(p: &IpNet) -> IpAddr {
    match p {
        IpNet::V4(p) => IpAddr::V4(Ipv4Addr::from(u32::from(p.broadcast()) - 1)),
        IpNet::V6(p) => IpAddr::V6(Ipv6Addr::from(u128::from(p.broadcast()) - 1)),
    }
}

/// The endpoint's own address: the first host of the prefix (10.0.1.1 for 10.0.1.0/24).
pub fn host_address(p: &IpNet) -> IpAddr {
    match p {
        IpNet::V4(p) => IpAddr::V4(Ipv4Addr::from(u32::from(p.network()) + 1)),
        IpNet::V6(p) => IpAddr::V6(Ipv6Addr::from(u128::from(p.network()) + 1)),
    }
}

impl Tables {
    /// The modelled round trip from a site on `circuit` to a VNet or Global Reach peer site,
    /// for every destination the circuit's table holds, with the destination port.
    pub fn rtts(&self, circuit: CircuitId) -> Vec<(PortId, Duration)> {
        let c = &self.circuits[circuit];
        let access = c.timing.access;
        let mut v = Vec::new();
        for (prefix, target) in c.table.entries() {
            let (port, oneway) = match target {
                NextHop::Site(p) => (p, access * 2),
                NextHop::Vnet(p) => (p, access + self.vnet_delay[circuit][p]),
                NextHop::Peer { circuit: peer, .. } => {
                    // What the peer's MSEE does with it: its own site or VNet.
                    let beyond = match self.circuits[peer].table.lookup(prefix.network()) {
                        Some(NextHop::Site(p)) => Some((p, self.circuits[peer].timing.access)),
                        Some(NextHop::Vnet(p)) => Some((p, self.vnet_delay[peer][p])),
                        _ => None,
                    };
                    let Some((p, last)) = beyond else { continue };
                    (p, access + self.backbone[circuit][peer] + last)
                }
            };
            if !v.iter().any(|(q, _)| *q == port) {
                v.push((port, oneway * 2));
            }
        }
        v
    }

    /// The longest modelled round trip from a site on `circuit` to anything it reaches.
    pub fn longest_rtt(&self, circuit: CircuitId) -> Duration {
        self.rtts(circuit)
            .into_iter()
            .map(|(_, d)| d)
            .max()
            .unwrap_or(Duration::ZERO)
    }
}
