//! Route tables compiled from a `Topology`: one LPM table per circuit (its MSEE's), one per
//! VNet gateway, and the addresses each router hop answers from.
//!
//! Invariants: a circuit table holds exactly its own sites' prefixes, its linked VNets'
//! prefixes and, per Global Reach peer, the peer's *site* prefixes (IPv6 ones only when the
//! connection has an IPv6 /125); nothing else, so Global Reach is not transitive and carries no
//! VNet routes. A VNet gateway table holds the site and VNet prefixes of its linked circuits.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::catalogue::catalogue;
use crate::model;
use crate::topology::{LatencyModel, Loss, Topology, DEFAULT_ACCESS_DELAY};

/// Index of a site or VNet: sites first in file order, then VNets.
pub type PortId = usize;
pub type CircuitId = usize;
pub type GrId = usize;

/// reachlab's internal IPv6 range for MSEE addresses (circuits have no IPv6 peering prefix in
/// the topology yet): circuit i's MSEE is fd72:6c61:6200:i::2.
pub const INTERNAL_V6: &str = "fd72:6c61:6200::/48";

/// Where an MSEE sends a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
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
    pub table: Lpm<Target>,
    pub timing: CircuitTiming,
    /// The MSEE's address in the circuit's peering prefix (second host of the primary /30).
    pub msee_v4: Ipv4Addr,
    pub msee_v6: Ipv6Addr,
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
    Site {
        circuit: CircuitId,
    },
    /// A VNet and its gateway's table (prefix -> the circuit whose MSEE leads there).
    Vnet {
        gateway: Box<Lpm<CircuitId>>,
    },
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

fn first_v4(ps: &[IpNet]) -> Option<Ipv4Addr> {
    ps.iter()
        .find(|p| matches!(p, IpNet::V4(_)))
        .map(|p| match gateway_address(p) {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => unreachable!("v4 prefix"),
        })
}

fn first_v6(ps: &[IpNet]) -> Option<Ipv6Addr> {
    ps.iter()
        .find(|p| matches!(p, IpNet::V6(_)))
        .map(|p| match gateway_address(p) {
            IpAddr::V6(a) => a,
            IpAddr::V4(_) => unreachable!("v6 prefix"),
        })
}

impl Tables {
    /// Compiles a validated topology (defaults resolved).
    pub fn build(t: &Topology) -> Tables {
        let cidx = |name: &str| -> CircuitId {
            t.circuit
                .iter()
                .position(|c| c.name == name)
                .expect("validated topology: circuit exists")
        };
        let internal: Ipv6Net = INTERNAL_V6.parse().expect("constant");
        let mut circuits: Vec<CircuitFib> = t
            .circuit
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pp = c.peering_prefix.expect("defaults resolved");
                let base = u128::from(internal.network()) | ((i as u128) << 64);
                let access = if t.lab.latency == LatencyModel::None {
                    Duration::ZERO
                } else {
                    c.access_delay
                        .or(t.lab.access_delay)
                        .unwrap_or(DEFAULT_ACCESS_DELAY)
                        .0
                };
                CircuitFib {
                    name: c.name.clone(),
                    table: Lpm::new(),
                    timing: CircuitTiming {
                        rate_bps: (!c.bandwidth.is_unlimited()).then_some(c.bandwidth.0),
                        access,
                        queue: c.queue.map(|q| q.0).unwrap_or(MIN_DEFAULT_QUEUE),
                        mtu: c.mtu(),
                        jitter: if t.lab.latency == LatencyModel::None {
                            Duration::ZERO
                        } else {
                            c.jitter.or(t.lab.jitter).map(|j| j.0).unwrap_or_default()
                        },
                        reorder: c.reorder,
                        loss: c.loss.or(t.lab.loss),
                    },
                    msee_v4: Ipv4Addr::from(u32::from(pp.network()) + 2),
                    msee_v6: Ipv6Addr::from(base + 2),
                }
            })
            .collect();
        let nsites = t.site.len();
        for (i, s) in t.site.iter().enumerate() {
            let c = cidx(&s.circuit);
            for p in &s.prefixes {
                circuits[c].table.insert(*p, Target::Site(i));
            }
        }
        for (j, v) in t.vnet.iter().enumerate() {
            for cname in &v.circuits {
                for p in &v.prefixes {
                    circuits[cidx(cname)]
                        .table
                        .insert(*p, Target::Vnet(nsites + j));
                }
            }
        }
        let mut gr = Vec::new();
        for (g, link) in t.global_reach.iter().enumerate() {
            let a = cidx(&link.circuits[0]);
            let b = cidx(&link.circuits[1]);
            for (from, to) in [(a, b), (b, a)] {
                for s in t.site.iter().filter(|s| cidx(&s.circuit) == to) {
                    for p in &s.prefixes {
                        if matches!(p, IpNet::V6(_)) && link.ipv6_address_prefix.is_none() {
                            continue;
                        }
                        circuits[from]
                            .table
                            .insert(*p, Target::Peer { circuit: to, gr: g });
                    }
                }
            }
            let n4 = u32::from(link.address_prefix.network());
            gr.push(GrLink {
                circuits: [a, b],
                v4: [Ipv4Addr::from(n4 + 1), Ipv4Addr::from(n4 + 2)],
                v6: link.ipv6_address_prefix.map(|p| {
                    let n = u128::from(p.network());
                    [Ipv6Addr::from(n + 1), Ipv6Addr::from(n + 2)]
                }),
            });
        }

        let mut ports = Vec::new();
        for s in &t.site {
            ports.push(port(
                &s.name,
                &s.prefixes,
                PortKind::Site {
                    circuit: cidx(&s.circuit),
                },
            ));
        }
        for v in &t.vnet {
            let mut gateway = Lpm::new();
            // Reverse order so that, when two circuits lead to the same prefix, the first
            // circuit listed wins.
            for cname in v.circuits.iter().rev() {
                let c = cidx(cname);
                for s in t.site.iter().filter(|s| s.circuit == *cname) {
                    for p in &s.prefixes {
                        gateway.insert(*p, c);
                    }
                }
                for other in t
                    .vnet
                    .iter()
                    .filter(|o| o.name != v.name && o.circuits.contains(cname))
                {
                    for p in &other.prefixes {
                        gateway.insert(*p, c);
                    }
                }
            }
            ports.push(port(
                &v.name,
                &v.prefixes,
                PortKind::Vnet {
                    gateway: Box::new(gateway),
                },
            ));
        }
        let n = circuits.len();
        let geo = t.lab.latency == LatencyModel::Geographic;
        let cat = catalogue();
        let loc = |i: usize| cat.location(&t.circuit[i].peering_location);
        let mut backbone = vec![vec![Duration::ZERO; n]; n];
        for (a, row) in backbone.iter_mut().enumerate() {
            for (b, cell) in row.iter_mut().enumerate() {
                if let (true, Some(la), Some(lb)) = (geo && a != b, loc(a), loc(b)) {
                    *cell = model::backbone_rtt(la, lb) / 2;
                }
            }
        }
        let mut vnet_delay = vec![vec![Duration::ZERO; ports.len()]; n];
        for (c, row) in vnet_delay.iter_mut().enumerate() {
            for (j, v) in t.vnet.iter().enumerate() {
                if let (true, Some(l), Some(r)) = (geo, loc(c), cat.azure_region(&v.region)) {
                    row[nsites + j] = model::vnet_rtt(l, r) / 2;
                }
            }
        }
        let mut tables = Tables {
            circuits,
            ports,
            gr,
            backbone,
            vnet_delay,
            seed: t.lab.seed.unwrap_or(DEFAULT_SEED),
        };
        // Default queue: two round trips' worth at the rate (two bandwidth-delay products of
        // the longest path the circuit serves). One BDP keeps a flow's pipe full after a loss,
        // but CUBIC's slow start overshoots it: measured at 100 Mbit/s x 141 ms, one BDP cost
        // ~2,300 retransmits per iperf3 run, two cost none (scripts/bench-circuits.sh).
        for (i, c) in t.circuit.iter().enumerate() {
            if c.queue.is_none() {
                tables.circuits[i].timing.queue =
                    (tables.longest_rtt(i) * 2).max(MIN_DEFAULT_QUEUE);
            }
        }
        tables
    }

    /// The modelled round trip from a site on `circuit` to a VNet or Global Reach peer site,
    /// for every destination the circuit's table holds, with the destination port.
    pub fn rtts(&self, circuit: CircuitId) -> Vec<(PortId, Duration)> {
        let c = &self.circuits[circuit];
        let access = c.timing.access;
        let mut v = Vec::new();
        for (_, target) in c.table.entries() {
            let (port, oneway) = match target {
                Target::Site(p) => (p, access * 2),
                Target::Vnet(p) => (p, access + self.vnet_delay[circuit][p]),
                Target::Peer { circuit: peer, .. } => {
                    let p = self.sites_of(peer).next().unwrap_or(0);
                    (
                        p,
                        access + self.backbone[circuit][peer] + self.circuits[peer].timing.access,
                    )
                }
            };
            if !v.iter().any(|(q, _)| *q == port) {
                v.push((port, oneway * 2));
            }
        }
        v
    }

    fn longest_rtt(&self, circuit: CircuitId) -> Duration {
        self.rtts(circuit)
            .into_iter()
            .map(|(_, d)| d)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    fn sites_of(&self, circuit: CircuitId) -> impl Iterator<Item = PortId> + '_ {
        self.ports
            .iter()
            .enumerate()
            .filter_map(move |(i, p)| match p.kind {
                PortKind::Site { circuit: c } if c == circuit => Some(i),
                _ => None,
            })
    }
}

fn port(name: &str, prefixes: &[IpNet], kind: PortKind) -> PortInfo {
    let mut lpm = Lpm::new();
    for p in prefixes {
        lpm.insert(*p, ());
    }
    PortInfo {
        name: name.to_string(),
        kind,
        prefixes: lpm,
        prefix_list: prefixes.to_vec(),
        gateway_v4: first_v4(prefixes),
        gateway_v6: first_v6(prefixes),
    }
}
