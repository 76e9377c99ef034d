//! The forwarding engine: pure, no IO, no clock, no tokio. Packets in, verdicts out.
//!
//! Owns the per-packet pipeline and its counters. A packet read from a site or VNet walks the
//! router hops of the emulated network, each one a named stage:
//!
//! ```text
//! site  -> ce-out -> msee(circuit) -+-> ce-in(site)  -> site
//!                                   +-> gw-in(vnet)  -> vnet
//!                                   +-> msee(peer, over Global Reach) -> ce-in(peer site) -> site
//! vnet  -> gw-out -> msee(circuit) -> ce-in / gw-in
//! ```
//!
//! Every hop decrements TTL / hop limit (the IPv4 checksum is updated incrementally, once, at
//! the end) and answers from its own address: Time Exceeded on expiry, Destination (Net)
//! Unreachable when the MSEE or gateway has no route, Echo Reply when pinged. Every dropped
//! packet is counted by a `DropReason`, per ingress port and per circuit where it happened.
//! `handle` never panics on any input (property-tested in `tests/`).

pub mod capture;
pub mod icmp;
pub mod table;
pub mod timing;
pub mod wire;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use capture::{Captured, TapId, TapPoint, Taps};
use icmp::IcmpError;
use table::PortKind;
pub use table::{CircuitId, PortId, Tables, Target};
use timing::{Dir, Plan};
use wire::{Ipv4Packet, Ipv6Packet, WireError};

/// Why a packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not an IPv4 or IPv6 packet.
    NotIp,
    /// Truncated, inconsistent lengths, bad header checksum.
    Malformed,
    /// Multicast, broadcast, link-local or unspecified addresses: never routed.
    NotRoutable,
    /// Source address outside the ingress endpoint's own prefixes.
    Spoofed,
    /// No route at an MSEE or VNet gateway (Destination Unreachable sent when allowed).
    NoRoute,
    /// TTL / hop limit ran out at a router hop (Time Exceeded sent when allowed).
    TtlExpired,
    /// Addressed to a router hop and not a ping it answers.
    ForRouter,
    /// A circuit's shaper queue was full (tail drop).
    QueueFull,
    /// Larger than the next link's MTU (Fragmentation Needed / Packet Too Big sent).
    MtuExceeded,
    /// Lost on an access link by the circuit's loss model.
    Lost,
}

impl DropReason {
    pub const ALL: [DropReason; 10] = [
        DropReason::NotIp,
        DropReason::Malformed,
        DropReason::NotRoutable,
        DropReason::Spoofed,
        DropReason::NoRoute,
        DropReason::TtlExpired,
        DropReason::ForRouter,
        DropReason::QueueFull,
        DropReason::MtuExceeded,
        DropReason::Lost,
    ];

    /// Stable name, as shown by the CLI.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::NotIp => "not-ip",
            DropReason::Malformed => "malformed",
            DropReason::NotRoutable => "not-routable",
            DropReason::Spoofed => "spoofed",
            DropReason::NoRoute => "no-route",
            DropReason::TtlExpired => "ttl-expired",
            DropReason::ForRouter => "for-router",
            DropReason::QueueFull => "queue-full",
            DropReason::MtuExceeded => "mtu-exceeded",
            DropReason::Lost => "lost",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What to do with a packet handed to `Engine::handle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the first `len` bytes of the (rewritten) packet buffer out of `port`.
    Forward { port: PortId, len: usize },
    /// Send the reply the engine wrote into `out` to `port` (an ICMP message from a router
    /// hop). The original packet is dropped (and counted when it was an error).
    Reply { port: PortId },
    /// The packet (or the reply) is on its way through shapers and delays: the engine keeps
    /// a copy and hands it out from `poll_transmit` when due.
    Queued,
    /// Drop the packet; it has been counted.
    Drop(DropReason),
}

/// Packet and byte counters in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Count {
    pub packets: u64,
    pub bytes: u64,
}

impl Count {
    fn add(&mut self, w: Wire) {
        self.packets += w.packets;
        self.bytes += w.bytes;
    }
}

/// What a packet is on the wire: one packet, or the segments of a GSO super-packet (each with
/// its own copy of the headers). Counters and, later, shapers charge per segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wire {
    pub packets: u64,
    pub bytes: u64,
    /// For a super-packet: header bytes each segment carries and its payload size (the last
    /// segment may carry less); zero for a single packet.
    pub hdrs: u32,
    pub mss: u32,
}

impl Wire {
    pub fn single(len: usize) -> Wire {
        Wire {
            packets: 1,
            bytes: len as u64,
            hdrs: 0,
            mss: 0,
        }
    }

    /// The segments `pkt` (an IP packet of total length `len`) becomes when cut into
    /// `gso_size`-byte payloads. TCP and UDP only; anything else counts as one packet.
    pub fn segments(pkt: &[u8], len: usize, gso_size: u16) -> Wire {
        if gso_size == 0 {
            return Wire::single(len);
        }
        let l3 = match pkt.first().map(|b| b >> 4) {
            Some(4) if pkt.len() >= 20 => usize::from(pkt[0] & 0x0f) * 4,
            Some(6) if pkt.len() >= 40 => 40,
            _ => return Wire::single(len),
        };
        let proto = if l3 == 40 { pkt[6] } else { pkt[9] };
        let l4 = match proto {
            6 if pkt.len() > l3 + 12 => usize::from(pkt[l3 + 12] >> 4) * 4,
            17 => 8,
            _ => return Wire::single(len),
        };
        let hdrs = l3 + l4;
        if len <= hdrs {
            return Wire::single(len);
        }
        let n = (len - hdrs).div_ceil(usize::from(gso_size)).max(1);
        Wire {
            packets: n as u64,
            bytes: (len + (n - 1) * hdrs) as u64,
            hdrs: hdrs as u32,
            mss: u32::from(gso_size),
        }
    }

    /// The largest IP packet this becomes on the wire.
    pub fn largest(&self) -> usize {
        if self.packets > 1 {
            (self.hdrs + self.mss) as usize
        } else {
            self.bytes as usize
        }
    }
}

/// Counters of one site or VNet (`rx`: read from its TUN; `tx`: written to it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx: Count,
    pub tx: Count,
    pub drops: [u64; DropReason::ALL.len()],
}

/// Counters of one circuit's MSEE (`bytes_in`: from the customer side into the MSEE;
/// `bytes_out`: from the MSEE towards the customer, as Azure's get-stats counts them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CircuitStats {
    /// Per path: `[primary, secondary]`.
    pub input: [Count; 2],
    pub output: [Count; 2],
    pub drops: [u64; DropReason::ALL.len()],
}

/// A router hop of the emulated network: the stages of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
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

/// The forwarding engine of one lab.
#[derive(Debug)]
pub struct Engine {
    tables: Arc<Tables>,
    ports: Vec<PortStats>,
    circuits: Vec<CircuitStats>,
    sched: timing::Scheduler,
    /// Bytes in front of each IP packet in a frame (the TUN's virtio-net header).
    prefix: usize,
    /// Per circuit, whether its primary and secondary links are up.
    links: Vec<[bool; 2]>,
    lateness: Lateness,
    taps: Taps,
}

/// Timing accuracy: how late delayed packets left against their deadlines (the time between
/// a deadline and the `poll_transmit` that handed the packet out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lateness {
    pub packets: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    /// Packets more than 100 us late.
    pub over_100us: u64,
}

impl Lateness {
    fn record(&mut self, late: Duration) {
        let ns = late.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.packets += 1;
        self.total_ns = self.total_ns.saturating_add(ns);
        self.max_ns = self.max_ns.max(ns);
        if ns > 100_000 {
            self.over_100us += 1;
        }
    }
}

/// Which of a circuit's two links a flow takes: flows are hashed across the links that are
/// up, so a failure moves only the flows of the failed link.
struct Links<'a> {
    up: &'a [[bool; 2]],
    flow: u64,
    taps: &'a Taps,
}

impl Links<'_> {
    /// Onto `circuit`'s link `path` in direction `dir`: its shaper, the tap of a capture on
    /// that link (as the packet leaves the shaper), then the access link's delay.
    fn cross(
        &self,
        plan: &mut Plan,
        t: &Tables,
        circuit: CircuitId,
        path: usize,
        dir: Dir,
        hops: u8,
    ) {
        plan.shape(t, circuit, path, dir);
        let point = TapPoint::Link {
            circuit,
            path: path as u8,
        };
        self.tap(plan, point, hops);
        plan.access(t, circuit, path, dir);
    }

    /// Adds a tap stage when a capture watches `point`.
    fn tap(&self, plan: &mut Plan, point: TapPoint, hops: u8) {
        if self.taps.watching(point) {
            plan.tap(point, hops);
        }
    }

    fn path(&self, circuit: CircuitId) -> Option<usize> {
        match self.up[circuit] {
            [true, true] => Some((self.flow % 2) as usize),
            [true, false] => Some(0),
            [false, true] => Some(1),
            [false, false] => None,
        }
    }
}

/// FNV-1a over the bytes that name a flow: addresses, protocol, and the first 4 bytes of
/// the transport header (ports) when present. Both directions of a flow need not agree.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for p in parts {
        for b in *p {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h ^ (h >> 32)
}

fn flow_hash_v4(p: &[u8]) -> u64 {
    if p.len() < 20 {
        return 0;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let ports = p
        .get(ihl..ihl + 4)
        .filter(|_| matches!(p[9], 6 | 17))
        .unwrap_or(&[]);
    fnv(&[&p[12..20], &p[9..10], ports])
}

fn flow_hash_v6(p: &[u8]) -> u64 {
    if p.len() < 40 {
        return 0;
    }
    let ports = p
        .get(40..44)
        .filter(|_| matches!(p[6], 6 | 17))
        .unwrap_or(&[]);
    fnv(&[&p[8..40], &p[6..7], ports])
}

/// Longest path through the network (ce-out, msee, msee, ce-in) plus slack: a bound that the
/// hop walk can never reach, asserted so a future table bug cannot loop forever.
const MAX_HOPS: u8 = 8;

impl Engine {
    pub fn new(tables: Tables) -> Engine {
        let ports = vec![PortStats::default(); tables.ports.len()];
        let circuits = vec![CircuitStats::default(); tables.circuits.len()];
        let sched = timing::Scheduler::new(circuits.len());
        let links = vec![[true, true]; circuits.len()];
        Engine {
            tables: Arc::new(tables),
            ports,
            circuits,
            sched,
            prefix: 0,
            links,
            lateness: Lateness::default(),
            taps: Taps::default(),
        }
    }

    /// Frames handed to `handle_at` carry `prefix` bytes before the IP packet (the virtio-net
    /// header with TUN offload); queued packets keep them, generated ones get zeroes.
    pub fn with_frame_prefix(mut self, prefix: usize) -> Engine {
        self.prefix = prefix;
        self
    }

    /// The next packet due at `now`, with the port to write it to (frame prefix included).
    pub fn poll_transmit(&mut self, now: Duration) -> Option<(PortId, Vec<u8>)> {
        let next = self
            .sched
            .poll(now, &self.tables, self.prefix, &mut self.taps);
        for (c, n) in self.sched.drops.iter_mut().enumerate() {
            self.circuits[c].drops[DropReason::QueueFull.index()] += std::mem::take(n);
        }
        for (c, n) in self.sched.lost.iter_mut().enumerate() {
            self.circuits[c].drops[DropReason::Lost.index()] += std::mem::take(n);
        }
        next.map(|(port, frame, due)| {
            self.lateness.record(now.saturating_sub(due));
            self.tap_port(port, due, &frame[self.prefix.min(frame.len())..]);
            (port, frame)
        })
    }

    /// Starts copying the packets that pass `point` (see `capture`).
    pub fn capture_start(&mut self, point: TapPoint) -> TapId {
        self.taps.start(point)
    }

    /// What a capture copied since last asked, and its drops so far; None: no such capture.
    pub fn capture_take(&mut self, id: TapId) -> Option<(Vec<Captured>, u64)> {
        self.taps.take(id)
    }

    pub fn capture_stop(&mut self, id: TapId) {
        self.taps.stop(id);
    }

    fn tap_port(&mut self, port: PortId, at: Duration, pkt: &[u8]) {
        if self.taps.watching(TapPoint::Port(port)) {
            self.taps.record(TapPoint::Port(port), at, pkt, 0);
        }
    }

    /// How late, against their deadlines, queued packets were handed out.
    pub fn lateness(&self) -> Lateness {
        self.lateness
    }

    /// Takes a circuit's primary (0) or secondary (1) link down or brings it back. Flows on it
    /// move to the other link at once; with both down the circuit carries nothing.
    pub fn set_link(&mut self, circuit: CircuitId, path: usize, up: bool) {
        if let Some(l) = self.links.get_mut(circuit) {
            l[path & 1] = up;
        }
    }

    /// Whether a circuit's primary and secondary links are up.
    pub fn links(&self, circuit: CircuitId) -> [bool; 2] {
        self.links.get(circuit).copied().unwrap_or([false, false])
    }

    /// When `poll_transmit` next has something to do.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.sched.next_deadline()
    }

    /// How long a packet reaching `circuit`'s shaper on `path` in direction `dir` (0 up, 1
    /// down) at `now` would wait: the queue depth, as time at the circuit's rate.
    pub fn queue_delay(
        &self,
        circuit: CircuitId,
        path: usize,
        dir: usize,
        now: Duration,
    ) -> Duration {
        self.sched.shapers.get(circuit).map_or(Duration::ZERO, |s| {
            s[path & 1][dir & 1].next_free.saturating_sub(now)
        })
    }

    /// Packets in flight in shapers and delay lines.
    pub fn in_flight(&self) -> usize {
        self.sched.len()
    }

    /// Replaces every table at once (a live change). Packets are handled whole under the
    /// caller's lock, so none ever meets half a table; counters carry over.
    ///
    /// # Panics
    /// If the new tables have a different set of ports or circuits: live changes alter links,
    /// never endpoints.
    pub fn set_tables(&mut self, tables: Tables) {
        assert_eq!(
            tables.ports.len(),
            self.ports.len(),
            "live changes keep the ports"
        );
        assert_eq!(
            tables.circuits.len(),
            self.circuits.len(),
            "live changes keep the circuits"
        );
        self.tables = Arc::new(tables);
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    pub fn port_stats(&self) -> &[PortStats] {
        &self.ports
    }

    pub fn circuit_stats(&self) -> &[CircuitStats] {
        &self.circuits
    }

    /// Handles one packet read from `ingress`. Forwarded packets are rewritten in place
    /// (TTL, checksum); replies from router hops are written to `out`.
    pub fn handle(&mut self, ingress: PortId, pkt: &mut [u8], out: &mut Vec<u8>) -> Verdict {
        self.handle_segmented(ingress, pkt, 0, out)
    }

    /// `handle` for a GSO super-packet whose payload the kernel will cut into `gso_size`-byte
    /// segments (0: an ordinary packet). It is looked up and rewritten once: TTL and the IPv4
    /// header checksum are per-segment copies of the super-packet's, and the transport
    /// checksum (partial, completed per segment) does not cover them. Counters charge per
    /// segment.
    pub fn handle_segmented(
        &mut self,
        ingress: PortId,
        pkt: &mut [u8],
        gso_size: u16,
        out: &mut Vec<u8>,
    ) -> Verdict {
        let prefix = std::mem::replace(&mut self.prefix, 0);
        let v = self.handle_at(Duration::ZERO, ingress, pkt, gso_size, out);
        self.prefix = prefix;
        v
    }

    /// Handles one frame (`prefix` bytes, then an IP packet) read from `ingress` at `now`.
    /// Forwarded now: rewritten in place, `Forward`. Crossing shapers or delays: copied,
    /// `Queued`, out of `poll_transmit` when due. Replies a hop originates go to `out`
    /// (without prefix) when immediate, else are queued like packets.
    pub fn handle_at(
        &mut self,
        now: Duration,
        ingress: PortId,
        frame: &mut [u8],
        gso_size: u16,
        out: &mut Vec<u8>,
    ) -> Verdict {
        if ingress >= self.ports.len() || frame.len() < self.prefix {
            return Verdict::Drop(DropReason::NotIp);
        }
        let pkt_len = frame.len() - self.prefix;
        let wire = Wire::segments(&frame[self.prefix..], pkt_len, gso_size);
        self.ports[ingress].rx.add(wire);
        if !self.taps.is_empty() {
            self.tap_port(ingress, now, &frame[self.prefix..]);
        }
        let verdict = match frame.get(self.prefix).map(|b| b >> 4) {
            Some(4) => self.handle_v4(now, ingress, frame, wire, out),
            Some(6) => self.handle_v6(now, ingress, frame, wire, out),
            _ => Err((DropReason::NotIp, None)),
        };
        match verdict {
            Ok(v) => {
                match v {
                    Verdict::Forward { port, len } => {
                        self.ports[port].tx.add(wire);
                        if !self.taps.is_empty() {
                            let p = self.prefix;
                            self.tap_port(port, now, &frame[p..p + len]);
                        }
                    }
                    Verdict::Reply { port } => {
                        self.ports[port].tx.add(Wire::single(out.len()));
                        if !self.taps.is_empty() {
                            self.tap_port(port, now, out);
                        }
                    }
                    Verdict::Queued | Verdict::Drop(_) => {}
                }
                v
            }
            Err((reason, circuit)) => {
                self.count_drop(ingress, circuit, reason);
                Verdict::Drop(reason)
            }
        }
    }

    fn count_drop(&mut self, ingress: PortId, circuit: Option<CircuitId>, reason: DropReason) {
        self.ports[ingress].drops[reason.index()] += 1;
        if let Some(c) = circuit {
            self.circuits[c].drops[reason.index()] += 1;
        }
    }

    /// A packet leaving now or after its plan: in place, or copied into the scheduler.
    fn deliver(
        &mut self,
        now: Duration,
        frame: &[u8],
        port: PortId,
        len: usize,
        wire: Wire,
        plan: Plan,
    ) -> Verdict {
        if plan.is_empty() {
            return Verdict::Forward { port, len };
        }
        if !self.taps.is_empty() && plan.only_taps() {
            let pkt = &frame[self.prefix..self.prefix + len];
            for stage in plan.stages() {
                if let timing::Stage::Tap { point, hops } = *stage {
                    self.taps
                        .record(point, now, pkt, plan.hops.saturating_sub(hops));
                }
            }
            return Verdict::Forward { port, len };
        }
        self.sched.push(
            now,
            timing::InFlight {
                frame: frame[..self.prefix + len].to_vec(),
                egress: port,
                wire,
                plan,
                next: 0,
            },
        );
        self.ports[port].tx.add(wire);
        Verdict::Queued
    }

    /// Queues a packet that is due now (one of several a single input became).
    fn push_now(&mut self, now: Duration, frame: &[u8], port: PortId, len: usize, wire: Wire) {
        self.sched.push(
            now,
            timing::InFlight {
                frame: frame[..self.prefix + len].to_vec(),
                egress: port,
                wire,
                plan: Plan::default(),
                next: 0,
            },
        );
    }

    /// A reply a hop wrote to `out`: now, or after the round trip to that hop.
    fn reply(&mut self, now: Duration, ingress: PortId, oneway: Duration, out: &[u8]) -> Verdict {
        if oneway.is_zero() {
            return Verdict::Reply { port: ingress };
        }
        let mut frame = vec![0u8; self.prefix];
        frame.extend_from_slice(out);
        self.ports[ingress].tx.add(Wire::single(out.len()));
        self.sched.push(
            now,
            timing::InFlight {
                frame,
                egress: ingress,
                wire: Wire::single(out.len()),
                plan: Plan::just_delay(oneway * 2),
                next: 0,
            },
        );
        Verdict::Queued
    }

    fn handle_v4(
        &mut self,
        now: Duration,
        ingress: PortId,
        frame: &mut [u8],
        wire: Wire,
        out: &mut Vec<u8>,
    ) -> Result<Verdict, (DropReason, Option<CircuitId>)> {
        let prefix = self.prefix;
        let p = Ipv4Packet::new_checked(&frame[prefix..]).map_err(|e| (wire_reason(e), None))?;
        let (src, dst) = (p.src(), p.dst());
        if dst.is_multicast()
            || dst.is_broadcast()
            || dst.is_unspecified()
            || dst.is_link_local()
            || dst.is_loopback()
        {
            return Err((DropReason::NotRoutable, None));
        }
        if self.tables.ports[ingress].prefixes.lookup_v4(src).is_none() {
            return Err((DropReason::Spoofed, None));
        }
        let ttl = p.ttl();
        let may_error = p.frag_offset() == 0
            && !(p.protocol() == 1
                && p.payload()
                    .first()
                    .is_some_and(|t| icmp::is_icmpv4_error(*t)));
        let len = p.total_len();
        let mut plan = Plan::default();
        let walk = walk(
            &self.tables,
            &mut self.circuits,
            ingress,
            Lookup {
                dst: IpAddr::V4(dst),
                ttl,
                wire,
            },
            &mut plan,
            &Links {
                up: &self.links,
                flow: flow_hash_v4(&frame[prefix..]),
                taps: &self.taps,
            },
        );
        match walk {
            Walk::Deliver { port, hops } => {
                let mut p = Ipv4Packet::new_checked(&mut frame[prefix..]).expect("checked above");
                p.decrement_ttl(hops);
                plan.hops = hops;
                Ok(self.deliver(now, frame, port, len, wire, plan))
            }
            Walk::Local { at, addr } => {
                let p = Ipv4Packet::new_checked(&frame[prefix..]).expect("checked above");
                if p.protocol() == 1 && icmp::echo_reply(out, addr, IpAddr::V4(src), p.payload()) {
                    return Ok(self.reply(now, ingress, plan.oneway, out));
                }
                Err((DropReason::ForRouter, at))
            }
            Walk::Error {
                kind: IcmpError::TooBig(mtu),
                ..
            } if !p.dont_frag() && wire.packets == 1 => {
                // No DF: the hop fragments. Each fragment then goes its way (they fit now),
                // through the scheduler so all of them leave.
                let frags = wire::fragment_v4(&frame[prefix..prefix + len], usize::from(mtu))
                    .ok_or((DropReason::MtuExceeded, None))?;
                for f in frags {
                    let mut fr = vec![0u8; prefix];
                    fr.extend_from_slice(&f);
                    let w = Wire::single(f.len());
                    if let Ok(Verdict::Forward { port, len }) =
                        self.handle_v4(now, ingress, &mut fr, w, out)
                    {
                        self.push_now(now, &fr, port, len, w);
                    }
                }
                Ok(Verdict::Queued)
            }
            Walk::Error {
                kind,
                at,
                from,
                hops,
            } => {
                let reason = error_reason(kind);
                self.count_drop(ingress, at, reason);
                let Some(IpAddr::V4(from)) = from else {
                    return Ok(Verdict::Drop(reason));
                };
                if !may_error {
                    return Ok(Verdict::Drop(reason));
                }
                // Quote the packet as the reporting hop received it.
                let mut p = Ipv4Packet::new_checked(&mut frame[prefix..]).expect("checked above");
                p.decrement_ttl(hops);
                icmp::error_v4(out, kind, from, src, p.packet());
                Ok(self.reply(now, ingress, plan.oneway, out))
            }
        }
    }

    fn handle_v6(
        &mut self,
        now: Duration,
        ingress: PortId,
        frame: &mut [u8],
        wire: Wire,
        out: &mut Vec<u8>,
    ) -> Result<Verdict, (DropReason, Option<CircuitId>)> {
        let prefix = self.prefix;
        let p = Ipv6Packet::new_checked(&frame[prefix..]).map_err(|e| (wire_reason(e), None))?;
        let (src, dst) = (p.src(), p.dst());
        let link_local = |a: std::net::Ipv6Addr| (a.segments()[0] & 0xffc0) == 0xfe80;
        if dst.is_multicast() || dst.is_unspecified() || dst.is_loopback() || link_local(dst) {
            return Err((DropReason::NotRoutable, None));
        }
        if self.tables.ports[ingress].prefixes.lookup_v6(src).is_none() {
            return Err((DropReason::Spoofed, None));
        }
        let hop_limit = p.hop_limit();
        // Extension headers are not walked: an error is only withheld for a bare ICMPv6 error.
        let may_error = !(p.next_header() == 58
            && p.payload()
                .first()
                .is_some_and(|t| icmp::is_icmpv6_error(*t)));
        let len = p.total_len();
        let mut plan = Plan::default();
        match walk(
            &self.tables,
            &mut self.circuits,
            ingress,
            Lookup {
                dst: IpAddr::V6(dst),
                ttl: hop_limit,
                wire,
            },
            &mut plan,
            &Links {
                up: &self.links,
                flow: flow_hash_v6(&frame[prefix..]),
                taps: &self.taps,
            },
        ) {
            Walk::Deliver { port, hops } => {
                let mut p = Ipv6Packet::new_checked(&mut frame[prefix..]).expect("checked above");
                p.decrement_hop_limit(hops);
                plan.hops = hops;
                Ok(self.deliver(now, frame, port, len, wire, plan))
            }
            Walk::Local { at, addr } => {
                if p.next_header() == 58
                    && icmp::echo_reply(out, addr, IpAddr::V6(src), p.payload())
                {
                    return Ok(self.reply(now, ingress, plan.oneway, out));
                }
                Err((DropReason::ForRouter, at))
            }
            Walk::Error {
                kind,
                at,
                from,
                hops,
            } => {
                let reason = error_reason(kind);
                self.count_drop(ingress, at, reason);
                let Some(IpAddr::V6(from)) = from else {
                    return Ok(Verdict::Drop(reason));
                };
                if !may_error {
                    return Ok(Verdict::Drop(reason));
                }
                let mut p = Ipv6Packet::new_checked(&mut frame[prefix..]).expect("checked above");
                p.decrement_hop_limit(hops);
                icmp::error_v6(out, kind, from, src, p.packet());
                Ok(self.reply(now, ingress, plan.oneway, out))
            }
        }
    }
}

/// Walks the router hops from `ingress` towards `dst` with the packet's TTL, counting what
/// enters and leaves each circuit's MSEE.
/// What the hop walk needs of a packet.
struct Lookup {
    dst: IpAddr,
    /// TTL or hop limit on arrival.
    ttl: u8,
    wire: Wire,
}

fn walk(
    t: &Tables,
    circuits: &mut [CircuitStats],
    ingress: PortId,
    pkt: Lookup,
    plan: &mut Plan,
    link: &Links,
) -> Walk {
    let Lookup { dst, ttl, wire } = pkt;
    let mut hop = match t.ports[ingress].kind {
        PortKind::Site { .. } => Hop::CeOut(ingress),
        PortKind::Vnet { .. } => Hop::GwOut(ingress),
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
                if t.ports[site].prefixes.lookup(dst).is_some() {
                    // Towards its own LAN: there is no other host there.
                    return unreachable(None);
                }
                let PortKind::Site { circuit } = t.ports[site].kind else {
                    unreachable!("CeOut is only made for sites")
                };
                if let Some(w) = too_big(circuit, None) {
                    return w;
                }
                let Some(path) = link.path(circuit) else {
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
                match gateway.lookup(dst) {
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
                Some(Target::Site(site)) => {
                    if let Some(w) = too_big(circuit, Some(circuit)) {
                        return w;
                    }
                    let Some(path) = link.path(circuit) else {
                        return unreachable(Some(circuit));
                    };
                    circuits[circuit].output[path].add(wire);
                    link.cross(plan, t, circuit, path, Dir::Down, hops);
                    Hop::CeIn(site)
                }
                // Over Global Reach too: an MSEE passes its own VNets' routes to its peer.
                Some(Target::Vnet(vnet)) => {
                    if let Some(w) = too_big(circuit, Some(circuit)) {
                        return w;
                    }
                    plan.delay(t.vnet_delay[circuit][vnet]);
                    Hop::GwIn(vnet)
                }
                Some(Target::Peer { circuit: peer, gr }) if via.is_none() => {
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
enum Walk {
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

fn wire_reason(e: WireError) -> DropReason {
    match e {
        WireError::NotIp => DropReason::NotIp,
        WireError::Malformed => DropReason::Malformed,
    }
}

fn error_reason(kind: IcmpError) -> DropReason {
    match kind {
        IcmpError::TimeExceeded => DropReason::TtlExpired,
        IcmpError::NetUnreachable => DropReason::NoRoute,
        IcmpError::TooBig(_) => DropReason::MtuExceeded,
    }
}

/// The address a hop answers from in the family of the packet.
fn hop_address(t: &Tables, hop: Hop, v4: bool) -> Option<IpAddr> {
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
fn owns(t: &Tables, hop: Hop, dst: IpAddr) -> bool {
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

#[cfg(test)]
mod tests;
