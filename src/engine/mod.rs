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
//!
//! Where things live: `wire` parses and rewrites packet bytes (the only place that does, both
//! families behind one `IpPacket` view, and the virtio-net header), `walk` is the hop walk
//! (one for IPv4 and IPv6), `stats` the verdicts and counters, `timing` shapers, delays and
//! loss, `capture` the taps, `icmp` the messages routers originate, `table` the forwarding
//! tables (compiled by `crate::plane`). This module is the pipeline that joins them.

pub mod capture;
pub mod ether;
pub mod icmp;
pub mod stats;
pub mod table;
pub mod timing;
mod walk;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use capture::{Captured, TapId, TapPoint, Taps};
use ether::EtherPort;
use icmp::IcmpError;
pub use stats::{CircuitStats, Count, DropReason, Lateness, PortStats, Verdict, Wire};
pub use table::{CircuitId, NextHop, PortId, Tables};
use timing::Plan;
pub use walk::Step;
use walk::{error_reason, walk, wire_reason, Links, Lookup, Walk};
use wire::IpPacket;

/// The forwarding engine of one lab.
#[derive(Debug)]
pub struct Engine {
    tables: Arc<Tables>,
    ports: Vec<PortStats>,
    circuits: Vec<CircuitStats>,
    sched: timing::Scheduler,
    /// Bytes in front of each IP packet in a frame (the TUN's virtio-net header).
    prefix: usize,
    /// Per circuit, whether its primary and secondary links are up: not failed by
    /// `set_link` and, for an Ethernet port, its interface there (`set_attached`).
    links: Vec<[bool; 2]>,
    /// Per circuit, the links `set_link` failed.
    failed: Vec<[bool; 2]>,
    /// Per circuit, the links whose Ethernet port lost its interface.
    detached: Vec<[bool; 2]>,
    lateness: Lateness,
    taps: Taps,
    /// Per port, its link layer when it is an Ethernet port (frames, not IP packets).
    ether: Vec<Option<EtherPort>>,
    /// The lane the packets handled next are queued in, and `poll_transmit` and
    /// `poll_timeout` serve (`use_lane`).
    lane: usize,
    /// Per lane, the packets handed in through it (`handle_at`): how the lab's workers
    /// share the load.
    lane_packets: Vec<u64>,
}

/// What a frame read from an Ethernet port comes to (`Engine::frame_in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameIn {
    /// The frame prefix and the IP packet now start at `start`: hand `frame[start..]` to
    /// `handle_at`.
    Ip { start: usize },
    /// Write the link-layer reply in `out` (an ARP reply, without frame prefix) to the port.
    Reply,
    /// Not taken; counted.
    Drop(DropReason),
}

impl Engine {
    pub fn new(tables: Tables) -> Engine {
        let ports = vec![PortStats::default(); tables.ports.len()];
        let circuits = vec![CircuitStats::default(); tables.circuits.len()];
        let sched = timing::Scheduler::new(circuits.len());
        let links = vec![[true, true]; circuits.len()];
        let failed = vec![[false, false]; circuits.len()];
        let detached = failed.clone();
        Engine {
            tables: Arc::new(tables),
            ports,
            circuits,
            sched,
            prefix: 0,
            links,
            failed,
            detached,
            lateness: Lateness::default(),
            taps: Taps::default(),
            ether: Vec::new(),
            lane: 0,
            lane_packets: vec![0],
        }
    }

    /// Queues in `lanes` lanes (at least one): each a queue of its own for delayed and shaped
    /// packets, so that several callers, each serving one lane, hand out in order what went in
    /// through their lane. The shapers and counters are the lab's, across lanes.
    pub fn set_lanes(&mut self, lanes: usize) {
        self.sched.set_lanes(lanes);
        self.lane_packets.resize(self.sched.lanes(), 0);
        if self.lane >= self.sched.lanes() {
            self.lane = 0;
        }
    }

    /// Per lane, the packets handed in through it so far.
    pub fn lane_packets(&self) -> &[u64] {
        &self.lane_packets
    }

    /// The lane the following calls (`handle_at`, `poll_transmit`, `poll_timeout`) queue into
    /// and serve; lane 0 when there is no such lane.
    pub fn use_lane(&mut self, lane: usize) {
        self.lane = if lane < self.sched.lanes() { lane } else { 0 };
    }

    /// Bytes in front of each IP packet (or Ethernet frame) handed in and out.
    pub fn frame_prefix(&self) -> usize {
        self.prefix
    }

    /// Makes `port` an Ethernet port: frames in and out, through `link`.
    pub fn set_ether(&mut self, port: PortId, link: EtherPort) {
        if port >= self.ports.len() {
            return;
        }
        if self.ether.len() < self.ports.len() {
            self.ether.resize(self.ports.len(), None);
        }
        self.ether[port] = Some(link);
    }

    /// `port`'s link layer, when it is an Ethernet port.
    pub fn ether(&self, port: PortId) -> Option<&EtherPort> {
        self.ether.get(port)?.as_ref()
    }

    /// Whether `port` carries Ethernet frames rather than IP packets.
    pub fn is_ether(&self, port: PortId) -> bool {
        self.ether.get(port).is_some_and(Option::is_some)
    }

    /// The link layer of a frame read from Ethernet port `port` (`prefix` bytes, then the
    /// Ethernet frame): where its IP packet starts, once the frame prefix has been moved in
    /// front of it (and its offsets made the IP packet's); or an ARP reply to send; or a
    /// drop, counted on the port and on its circuit.
    pub fn frame_in(
        &mut self,
        now: Duration,
        port: PortId,
        frame: &mut [u8],
        out: &mut Vec<u8>,
    ) -> FrameIn {
        let prefix = self.prefix;
        let Some(Some(link)) = self.ether.get_mut(port) else {
            return FrameIn::Ip { start: 0 };
        };
        if frame.len() < prefix {
            return self.frame_drop(port, DropReason::Link(ether::LinkDrop::Malformed));
        }
        let ingress = link.ingress(&frame[prefix..], out);
        if self.taps.watching(TapPoint::Frames(port)) {
            self.taps
                .record(TapPoint::Frames(port), now, &frame[prefix..], 0);
            if ingress == ether::Ingress::Reply {
                self.taps.record(TapPoint::Frames(port), now, out, 0);
            }
        }
        match ingress {
            ether::Ingress::Ip { offset } => {
                if prefix > 0 && !wire::virtio::shift(&mut frame[..prefix], -(offset as isize)) {
                    return self.frame_drop(port, DropReason::Link(ether::LinkDrop::Malformed));
                }
                frame.copy_within(..prefix, offset);
                FrameIn::Ip { start: offset }
            }
            ether::Ingress::Reply => FrameIn::Reply,
            ether::Ingress::Drop(why) => self.frame_drop(port, DropReason::Link(why)),
        }
    }

    fn frame_drop(&mut self, port: PortId, reason: DropReason) -> FrameIn {
        let circuit = match self.tables.ports.get(port).map(|p| &p.kind) {
            Some(table::PortKind::Link { circuit, .. }) => Some(*circuit),
            _ => None,
        };
        self.count_drop(port, circuit, reason);
        FrameIn::Drop(reason)
    }

    /// For IP packet `ip` leaving by Ethernet port `port`: its link header into `l2` (the
    /// packet follows it), `Some(true)`; `Some(false)`: the CE's MAC is not known yet, an
    /// ARP request for it is in `l2` instead and the packet is dropped (counted); `None`:
    /// not an Ethernet port, send `ip` as it is.
    pub fn frame_out(
        &mut self,
        now: Duration,
        port: PortId,
        ip: &[u8],
        l2: &mut Vec<u8>,
    ) -> Option<bool> {
        let link = self.ether.get(port)?.as_ref()?;
        let framed = link.egress(ip, l2);
        if self.taps.watching(TapPoint::Frames(port)) {
            let mut f = l2.clone();
            if framed {
                f.extend_from_slice(ip);
            }
            self.taps.record(TapPoint::Frames(port), now, &f, 0);
        }
        if !framed {
            self.frame_drop(port, DropReason::Unresolved);
        }
        Some(framed)
    }

    /// The engine port of a circuit's link, when that link is an Ethernet port.
    pub fn ether_port(&self, circuit: CircuitId, path: usize) -> Option<PortId> {
        self.tables.ports.iter().position(|p| {
            matches!(p.kind, table::PortKind::Link { circuit: c, path: q, .. } if c == circuit && q == path)
        }).filter(|&p| self.is_ether(p))
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
            .poll(self.lane, now, &self.tables, self.prefix, &mut self.taps);
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
        if let Some(f) = self.failed.get_mut(circuit) {
            f[path & 1] = !up;
            self.link_state(circuit, path);
        }
    }

    /// An Ethernet port's interface went away (`false`: the link is down, as if cut) or is
    /// back.
    pub fn set_attached(&mut self, port: PortId, attached: bool) {
        if let Some(table::PortKind::Link { circuit, path, .. }) =
            self.tables.ports.get(port).map(|p| &p.kind)
        {
            let (circuit, path) = (*circuit, *path);
            if let Some(d) = self.detached.get_mut(circuit) {
                d[path & 1] = !attached;
                self.link_state(circuit, path);
            }
        }
    }

    /// Whether a circuit's links have their Ethernet port's interface (true where there is
    /// no port).
    pub fn attached(&self, circuit: CircuitId) -> [bool; 2] {
        self.detached
            .get(circuit)
            .map_or([true, true], |d| [!d[0], !d[1]])
    }

    fn link_state(&mut self, circuit: CircuitId, path: usize) {
        let p = path & 1;
        self.links[circuit][p] = !self.failed[circuit][p] && !self.detached[circuit][p];
    }

    /// Whether a circuit's primary and secondary links are up (neither failed nor without
    /// their port's interface).
    pub fn links(&self, circuit: CircuitId) -> [bool; 2] {
        self.links.get(circuit).copied().unwrap_or([false, false])
    }

    /// When `poll_transmit` next has something to do.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.sched.next_deadline(self.lane)
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

    /// Segments dropped on `circuit`'s link `path` in direction `dir` (0 up, 1 down) so far:
    /// `[by its shaper's full queue, lost on the access link]`.
    pub fn link_drops(&self, circuit: CircuitId, path: usize, dir: usize) -> [u64; 2] {
        self.sched
            .link_drops
            .get(circuit)
            .map_or([0, 0], |d| d[path & 1][dir & 1])
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

    /// The way a packet from port `from` (source `src`) to `dst` takes through the tables in
    /// force and the links' states, step by step: what `reachlab path` shows. An ICMP echo's
    /// flow (addresses only), so it is the way `ping` takes. Counts nothing.
    pub fn trace(&self, from: PortId, src: std::net::IpAddr, dst: std::net::IpAddr) -> Vec<Step> {
        let steps = std::cell::RefCell::new(Vec::new());
        let mut scratch = vec![CircuitStats::default(); self.circuits.len()];
        let mut plan = Plan::default();
        let proto = if dst.is_ipv4() { 1 } else { 58 };
        let walk = walk::walk(
            &self.tables,
            &mut scratch,
            from,
            walk::Lookup {
                dst,
                ttl: 64,
                wire: Wire::single(84),
            },
            &mut plan,
            &Links {
                up: &self.links,
                flow: wire::flow_hash_of(src, dst, proto),
                taps: &Taps::default(),
                trace: Some(&steps),
            },
        );
        let mut steps = steps.into_inner();
        match walk {
            walk::Walk::Deliver { port, .. } => {
                if steps.last() != Some(&Step::Deliver(port)) {
                    steps.push(Step::Deliver(port));
                }
            }
            walk::Walk::Local { .. } => steps.push(Step::Local),
            walk::Walk::Error { kind, .. } => steps.push(Step::Error(format!("{kind:?}"))),
        }
        steps
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
        self.lane_packets[self.lane] += 1;
        let pkt_len = frame.len() - self.prefix;
        let wire = Wire::segments(&frame[self.prefix..], pkt_len, gso_size);
        self.ports[ingress].rx.add(wire);
        if !self.taps.is_empty() {
            self.tap_port(ingress, now, &frame[self.prefix..]);
        }
        let verdict = self.handle_ip(now, ingress, frame, wire, out);
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
            self.lane,
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
            self.lane,
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
            self.lane,
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

    /// One IPv4 or IPv6 packet from `ingress`: checks, the hop walk, then delivery, a reply
    /// from a router, an ICMP error, or (IPv4 without DF, too big for the next link)
    /// fragments.
    fn handle_ip(
        &mut self,
        now: Duration,
        ingress: PortId,
        frame: &mut [u8],
        wire: Wire,
        out: &mut Vec<u8>,
    ) -> Result<Verdict, (DropReason, Option<CircuitId>)> {
        let prefix = self.prefix;
        let p = IpPacket::new_checked(&frame[prefix..]).map_err(|e| (wire_reason(e), None))?;
        let (src, dst) = (p.src(), p.dst());
        if !p.routable_dst() {
            return Err((DropReason::NotRoutable, None));
        }
        if self.tables.ports[ingress].prefixes.lookup(src).is_none() {
            return Err((DropReason::Spoofed, None));
        }
        let len = p.total_len();
        let mut plan = Plan::default();
        let walk = walk(
            &self.tables,
            &mut self.circuits,
            ingress,
            Lookup {
                dst,
                ttl: p.ttl(),
                wire,
            },
            &mut plan,
            &Links {
                up: &self.links,
                flow: p.flow_hash(),
                taps: &self.taps,
                trace: None,
            },
        );
        match walk {
            Walk::Deliver { port, hops } => {
                let mut p = IpPacket::new_checked(&mut frame[prefix..]).expect("checked above");
                p.decrement(hops);
                plan.hops = hops;
                Ok(self.deliver(now, frame, port, len, wire, plan))
            }
            Walk::Local { at, addr } => {
                if p.icmp()
                    .is_some_and(|m| icmp::echo_reply(out, addr, src, m))
                {
                    return Ok(self.reply(now, ingress, plan.oneway, out));
                }
                Err((DropReason::ForRouter, at))
            }
            Walk::Error {
                kind: IcmpError::TooBig(mtu),
                ..
            } if p.may_fragment() && wire.packets == 1 => {
                // No DF: the hop fragments. Each fragment then goes its way (they fit now),
                // through the scheduler so all of them leave.
                let frags = wire::fragment_v4(&frame[prefix..prefix + len], usize::from(mtu))
                    .ok_or((DropReason::MtuExceeded, None))?;
                for f in frags {
                    let mut fr = vec![0u8; prefix];
                    fr.extend_from_slice(&f);
                    let w = Wire::single(f.len());
                    if let Ok(Verdict::Forward { port, len }) =
                        self.handle_ip(now, ingress, &mut fr, w, out)
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
                let (Some(from), true) = (from, p.may_error()) else {
                    return Ok(Verdict::Drop(reason));
                };
                // Quote the packet as the reporting hop received it.
                let mut p = IpPacket::new_checked(&mut frame[prefix..]).expect("checked above");
                p.decrement(hops);
                if !icmp::error(out, kind, from, src, p.packet()) {
                    return Ok(Verdict::Drop(reason));
                }
                Ok(self.reply(now, ingress, plan.oneway, out))
            }
        }
    }
}

#[cfg(test)]
mod tests;
