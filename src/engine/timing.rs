//! Time in the emulated network: per-circuit shapers and delay lines, driven by the caller's
//! clock (`now` is a `Duration` since an epoch the caller chooses; tests use a virtual one).
//!
//! A forwarded packet carries a `Plan`: the stages its path crosses (a circuit's shaper in one
//! direction, a link's one-way delay), in order. The scheduler moves it stage by stage in event
//! order: a shaper is a queue with virtual finish times (a packet leaves at
//! max(arrival, last finish) + bits / rate, charged per segment on the wire; beyond the queue
//! depth it is dropped as QueueFull), a delay adds its time. When the plan is done the packet
//! is due for transmission. Events with equal times leave in the order they were made.
//!
//! Most events leave in the order they were queued on their line: a constant delay, a shaper
//! (its departures only grow), an access link that never reorders. Each such line is a FIFO,
//! and only the lines' heads are ordered (a heap of a few entries); the rest (a reordering
//! link's, or an event that would come before its line's last) go to a heap of their own.
//! The order out is the same as one heap of every event would give (by time, then by when
//! made), at O(1) per event rather than O(log n) over every packet in flight.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use super::capture::{TapPoint, Taps};
use super::table::{CircuitId, PortId, Tables};
use super::Wire;
use crate::topology::Loss;

/// Direction through a circuit's shaper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Customer to Microsoft (site -> MSEE).
    Up = 0,
    /// Microsoft to customer (MSEE -> site).
    Down = 1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Shape {
        circuit: CircuitId,
        path: u8,
        dir: Dir,
    },
    /// A circuit's access link (site <-> MSEE): its delay, plus the circuit's jitter and loss.
    Access {
        circuit: CircuitId,
        path: u8,
        dir: Dir,
        base: Duration,
    },
    Delay(Duration),
    /// A capture point: the packet is copied as it passes, with the TTL it has after `hops`
    /// decrements.
    Tap {
        point: TapPoint,
        hops: u8,
    },
}

/// Longest plan: site to site over Global Reach with captures on all three links: shaper,
/// tap, access; tap, backbone; shaper, tap, access. A VNet path is shorter.
const MAX_STAGES: usize = 8;

/// The stages a packet crosses, and the one-way delay accumulated so far (what an ICMP reply
/// from the hop reached at that point takes back).
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    stages: [Stage; MAX_STAGES],
    len: u8,
    pub oneway: Duration,
    /// Decrements the packet gets in all (set when it is delivered): a tap stage restores its
    /// copy's TTL from this.
    pub hops: u8,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            stages: [Stage::Delay(Duration::ZERO); MAX_STAGES],
            len: 0,
            oneway: Duration::ZERO,
            hops: 0,
        }
    }
}

impl Plan {
    /// Across `circuit`'s access link on `path`: its delay and, when configured, jitter and
    /// loss.
    pub fn access(&mut self, t: &Tables, circuit: CircuitId, path: usize, dir: Dir) {
        let ct = &t.circuits[circuit].timing;
        if ct.jitter.is_zero() && ct.loss.is_none() {
            self.delay(ct.access);
            return;
        }
        self.oneway += ct.access;
        self.push(Stage::Access {
            circuit,
            path: path as u8,
            dir,
            base: ct.access,
        });
    }

    pub fn delay(&mut self, d: Duration) {
        if d > Duration::ZERO {
            self.oneway += d;
            self.push(Stage::Delay(d));
        }
    }

    /// Through `circuit`'s shaper on link `path` (0 primary, 1 secondary): each link carries
    /// the circuit's bandwidth.
    pub fn shape(&mut self, t: &Tables, circuit: CircuitId, path: usize, dir: Dir) {
        if t.circuits[circuit].timing.rate_bps.is_some() {
            self.push(Stage::Shape {
                circuit,
                path: path as u8,
                dir,
            });
        }
    }

    /// A copy for the captures at `point`, taken when the packet gets here.
    pub fn tap(&mut self, point: TapPoint, hops: u8) {
        self.push(Stage::Tap { point, hops });
    }

    /// Nothing but tap stages: the packet can leave now, once copied.
    pub fn only_taps(&self) -> bool {
        self.stages().iter().all(|s| matches!(s, Stage::Tap { .. }))
    }

    fn push(&mut self, s: Stage) {
        debug_assert!(usize::from(self.len) < MAX_STAGES, "plan overflow");
        if usize::from(self.len) < MAX_STAGES {
            self.stages[usize::from(self.len)] = s;
            self.len += 1;
        }
    }

    /// No stage: the packet can leave now.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn stages(&self) -> &[Stage] {
        &self.stages[..usize::from(self.len)]
    }

    /// A plan of one delay (a reply going back the way it came).
    pub fn just_delay(d: Duration) -> Plan {
        let mut p = Plan::default();
        p.delay(d);
        p
    }
}

/// A circuit's shaper in one direction: when its link is next free.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shaper {
    pub next_free: Duration,
}

/// Time to put `bytes` on a link of `rate_bps`.
pub fn serialization(bytes: u64, rate_bps: u64) -> Duration {
    let ns = (u128::from(bytes) * 8 * 1_000_000_000).div_ceil(u128::from(rate_bps.max(1)));
    Duration::from_nanos(ns.min(u128::from(u64::MAX)) as u64)
}

impl Shaper {
    /// A packet of `wire` reaching the shaper at `t`: its departure time, or None when the
    /// queue (as time at the rate) would exceed `depth`.
    pub fn admit(
        &mut self,
        t: Duration,
        wire: Wire,
        rate_bps: u64,
        depth: Duration,
    ) -> Option<Duration> {
        let start = self.next_free.max(t);
        if start - t > depth {
            return None;
        }
        self.next_free = start + serialization(wire.bytes, rate_bps);
        Some(self.next_free)
    }

    /// Like `admit`, segment by segment: how many of a super-packet's segments fit in the
    /// queue (each is tail-dropped on its own, as on a real link) and when the last admitted
    /// one leaves. None: not even the first fits.
    pub fn admit_segments(
        &mut self,
        t: Duration,
        wire: Wire,
        rate_bps: u64,
        depth: Duration,
    ) -> Option<(u64, Duration)> {
        if wire.packets <= 1 || wire.mss == 0 {
            return self
                .admit(t, wire, rate_bps, depth)
                .map(|d| (wire.packets, d));
        }
        let start = self.next_free.max(t);
        let wait = start - t;
        if wait > depth {
            return None;
        }
        let seg = serialization(u64::from(wire.hdrs + wire.mss), rate_bps);
        let room = if seg.is_zero() {
            wire.packets
        } else {
            ((depth - wait).as_nanos() / seg.as_nanos()) as u64 + 1
        };
        if room >= wire.packets {
            self.next_free = start + serialization(wire.bytes, rate_bps);
            return Some((wire.packets, self.next_free));
        }
        self.next_free = start + serialization(room * u64::from(wire.hdrs + wire.mss), rate_bps);
        Some((room, self.next_free))
    }
}

/// A packet on its way: its bytes (as the IO shell writes them), where it goes, its plan and
/// how far along it is.
#[derive(Debug)]
pub struct InFlight {
    pub frame: Vec<u8>,
    pub egress: PortId,
    pub wire: Wire,
    pub plan: Plan,
    pub next: u8,
}

#[derive(Debug)]
struct Event {
    at: Duration,
    seq: u64,
    item: Box<InFlight>,
}

impl PartialEq for Event {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Event {
    // BinaryHeap is a max-heap: the earliest event must compare greatest.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// A line of events that leave in the order they came: what follows a constant delay, a
/// shaper, or an access link that does not reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Line {
    Delay(Duration),
    Shape(CircuitId, u8, Dir),
    Access(CircuitId, u8, Dir),
}

/// The head of a non-empty line: its first event's time and sequence number.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    at: Duration,
    seq: u64,
    line: usize,
}

impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Head {
    // The earliest head compares greatest (BinaryHeap is a max-heap).
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// One lane's events: FIFO lines, the heads of the non-empty ones in a small heap, and a heap
/// for events that fit no line.
#[derive(Debug, Default)]
struct Lane {
    lines: Vec<VecDeque<Event>>,
    /// Looked up for every event: ahash rather than SipHash (the keys are the engine's own).
    index: ahash::AHashMap<Line, usize>,
    heads: BinaryHeap<Head>,
    other: BinaryHeap<Event>,
    len: usize,
}

impl Lane {
    /// Queues `e` on `line` when it comes no earlier than the line's last event (else, or
    /// with no line, in the heap).
    fn push(&mut self, line: Option<Line>, e: Event) {
        self.len += 1;
        let Some(line) = line else {
            self.other.push(e);
            return;
        };
        let i = match self.index.get(&line) {
            Some(i) => *i,
            None => {
                self.lines.push(VecDeque::new());
                self.index.insert(line, self.lines.len() - 1);
                self.lines.len() - 1
            }
        };
        let q = &mut self.lines[i];
        match q.back() {
            Some(last) if (e.at, e.seq) < (last.at, last.seq) => self.other.push(e),
            Some(_) => q.push_back(e),
            None => {
                self.heads.push(Head {
                    at: e.at,
                    seq: e.seq,
                    line: i,
                });
                q.push_back(e);
            }
        }
    }

    /// The earliest event's time and sequence number.
    fn peek(&self) -> Option<(Duration, u64)> {
        let h = self.heads.peek().map(|h| (h.at, h.seq));
        let o = self.other.peek().map(|e| (e.at, e.seq));
        match (h, o) {
            (Some(h), Some(o)) => Some(h.min(o)),
            (h, o) => h.or(o),
        }
    }

    /// Takes the earliest event.
    fn pop(&mut self) -> Option<Event> {
        let (at, seq) = self.peek()?;
        self.len -= 1;
        if self
            .other
            .peek()
            .is_some_and(|e| (e.at, e.seq) == (at, seq))
        {
            return self.other.pop();
        }
        let head = self.heads.pop().expect("a head is the earliest");
        let q = &mut self.lines[head.line];
        let e = q.pop_front().expect("a head's line has it");
        if let Some(next) = q.front() {
            self.heads.push(Head {
                at: next.at,
                seq: next.seq,
                line: head.line,
            });
        }
        Some(e)
    }

    /// Every event, in no particular order.
    fn drain(&mut self) -> Vec<Event> {
        let mut all: Vec<Event> = self.other.drain().collect();
        for q in &mut self.lines {
            all.extend(q.drain(..));
        }
        self.heads.clear();
        self.len = 0;
        all
    }
}

/// The events of one lab, in lanes: each lane is a queue of its own, polled on its own (one per
/// forwarding worker of the shell), so what goes in through one lane comes out of it in
/// order; the shapers, loss and jitter state are the lab's, whatever the lane.
#[derive(Debug, Default)]
pub struct Scheduler {
    /// Per lane, its events.
    lanes: Vec<Lane>,
    seq: u64,
    /// `[circuit][path][direction]`.
    pub shapers: Vec<[[Shaper; 2]; 2]>,
    /// Segments tail-dropped by each circuit's shapers since the caller last took them.
    pub drops: Vec<u64>,
    /// Packets lost on each circuit's access links since the caller last took them.
    pub lost: Vec<u64>,
    /// Per circuit, link and direction: `[tail-dropped, lost]` segments, running totals (the
    /// live view's drops per link and direction). Counted only where a packet is dropped.
    pub link_drops: Vec<[[[u64; 2]; 2]; 2]>,
    /// Per circuit: the loss and jitter generator and state.
    links: Vec<LinkState>,
}

/// xorshift64*: a small, fast, seedable generator. Jitter and loss need runs that repeat
/// with the seed, not cryptographic quality; tests and benches use it for the same reason.
#[derive(Debug, Clone)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from `seed` (zero, the one state xorshift cannot leave, is replaced).
    pub fn new(seed: u64) -> XorShift64 {
        XorShift64(if seed == 0 {
            0x2545_f491_4f6c_dd1d
        } else {
            seed
        })
    }

    /// A uniform u64.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniform number below `n` (n > 0; slight modulo bias is fine here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A circuit's random state: its generator, the Gilbert-Elliott state, and the last departure
/// per link and direction (jitter without reordering never departs before it).
#[derive(Debug, Clone)]
struct LinkState {
    rng: XorShift64,
    bad: bool,
    last: [[Duration; 2]; 2],
}

impl LinkState {
    fn new(seed: u64, circuit: usize) -> LinkState {
        LinkState {
            rng: XorShift64::new(seed ^ (circuit as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            bad: false,
            last: [[Duration::ZERO; 2]; 2],
        }
    }

    fn next(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A uniform number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether the next packet is lost.
    fn lose(&mut self, loss: Option<Loss>) -> bool {
        match loss {
            None => false,
            Some(Loss::Random { rate }) => self.unit() < rate,
            Some(Loss::GilbertElliott { p, r }) => {
                let lost = self.bad;
                let u = self.unit();
                self.bad = if self.bad { u >= r } else { u < p };
                lost
            }
        }
    }
}

impl Scheduler {
    pub fn new(circuits: usize) -> Self {
        Scheduler {
            lanes: vec![Lane::default()],
            seq: 0,
            shapers: vec![[[Shaper::default(); 2]; 2]; circuits],
            drops: vec![0; circuits],
            lost: vec![0; circuits],
            link_drops: vec![[[[0; 2]; 2]; 2]; circuits],
            links: Vec::new(),
        }
    }

    /// Sets how many lanes there are (at least one); events in lanes that go are moved to
    /// lane 0.
    pub fn set_lanes(&mut self, n: usize) {
        let n = n.max(1);
        while self.lanes.len() > n {
            let mut gone = self.lanes.pop().expect("more than n");
            for e in gone.drain() {
                self.lanes[0].push(None, e);
            }
        }
        self.lanes.resize_with(n, Lane::default);
    }

    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// Queues `item` in `lane` (lane 0 if there is no such lane), due at `at`.
    pub fn push(&mut self, lane: usize, at: Duration, item: InFlight) {
        self.seq += 1;
        let lane = if lane < self.lanes.len() { lane } else { 0 };
        // New packets come at the caller's `now`, which only grows.
        self.lanes[lane].push(
            Some(Line::Delay(Duration::ZERO)),
            Event {
                at,
                seq: self.seq,
                item: Box::new(item),
            },
        );
    }

    /// Packets in flight, in all lanes.
    pub fn len(&self) -> usize {
        self.lanes.iter().map(|l| l.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.lanes.iter().all(|l| l.len == 0)
    }

    /// When the next event of `lane` is due.
    pub fn next_deadline(&self, lane: usize) -> Option<Duration> {
        self.lanes.get(lane)?.peek().map(|(at, _)| at)
    }

    /// Runs events due at or before `now` until one yields a packet to transmit (its port and
    /// frame). Frames carry `prefix` bytes (the virtio-net header) before the IP packet.
    /// Also returns when the packet was due (`now` minus that is how late the caller polled).
    pub fn poll(
        &mut self,
        lane: usize,
        now: Duration,
        t: &Tables,
        prefix: usize,
        taps: &mut Taps,
    ) -> Option<(PortId, Vec<u8>, Duration)> {
        if lane >= self.lanes.len() {
            return None;
        }
        while self.lanes[lane].peek().is_some_and(|(at, _)| at <= now) {
            let Event { at, mut item, .. } = self.lanes[lane].pop().expect("peeked");
            let stages = item.plan.stages();
            let Some(stage) = stages.get(usize::from(item.next)).copied() else {
                return Some((item.egress, std::mem::take(&mut item.frame), at));
            };
            item.next += 1;
            let (next_at, line) = match stage {
                Stage::Delay(d) => (at + d, Some(Line::Delay(d))),
                Stage::Tap { point, hops } => {
                    let undo = item.plan.hops.saturating_sub(hops);
                    taps.record(point, at, item.frame.get(prefix..).unwrap_or(&[]), undo);
                    (at, Some(Line::Delay(Duration::ZERO)))
                }
                Stage::Access {
                    circuit,
                    path,
                    dir,
                    base,
                } => {
                    if self.links.len() != t.circuits.len() {
                        self.links = (0..t.circuits.len())
                            .map(|c| LinkState::new(t.seed, c))
                            .collect();
                    }
                    let ct = &t.circuits[circuit].timing;
                    let link = &mut self.links[circuit];
                    if link.lose(ct.loss) {
                        self.lost[circuit] += item.wire.packets;
                        self.link_drops[circuit][usize::from(path & 1)][dir as usize][1] +=
                            item.wire.packets;
                        continue;
                    }
                    let jitter_ns = ct.jitter.as_nanos() as u64;
                    let extra = if jitter_ns == 0 {
                        0
                    } else {
                        link.next() % (jitter_ns + 1)
                    };
                    let mut depart = at + base + Duration::from_nanos(extra);
                    let last = &mut link.last[usize::from(path & 1)][dir as usize];
                    if !ct.reorder {
                        depart = depart.max(*last);
                    }
                    *last = depart;
                    // A link that may reorder has no line: its packets leave by time alone.
                    let line = (!ct.reorder).then_some(Line::Access(circuit, path, dir));
                    (depart, line)
                }
                Stage::Shape { circuit, path, dir } => {
                    let timing = &t.circuits[circuit].timing;
                    let rate = timing.rate_bps.unwrap_or(u64::MAX);
                    let shaper = &mut self.shapers[circuit][usize::from(path & 1)][dir as usize];
                    let line = Some(Line::Shape(circuit, path, dir));
                    match shaper.admit_segments(at, item.wire, rate, timing.queue) {
                        Some((k, depart)) if k == item.wire.packets => (depart, line),
                        Some((k, depart)) => {
                            match trim_gso(&mut item.frame, prefix, item.wire, k) {
                                Some(w) => {
                                    self.drops[circuit] += item.wire.packets - k;
                                    self.link_drops[circuit][usize::from(path & 1)]
                                        [dir as usize][0] += item.wire.packets - k;
                                    item.wire = w;
                                    (depart, line)
                                }
                                None => {
                                    // Not trimmable: the whole super-packet goes. The shaper
                                    // already booked the admitted part; give it back.
                                    shaper.next_free -= serialization(
                                        k * u64::from(item.wire.hdrs + item.wire.mss),
                                        rate,
                                    );
                                    self.drops[circuit] += item.wire.packets;
                                    self.link_drops[circuit][usize::from(path & 1)]
                                        [dir as usize][0] += item.wire.packets;
                                    continue;
                                }
                            }
                        }
                        None => {
                            self.drops[circuit] += item.wire.packets;
                            self.link_drops[circuit][usize::from(path & 1)][dir as usize][0] +=
                                item.wire.packets;
                            continue;
                        }
                    }
                }
            };
            self.seq += 1;
            let seq = self.seq;
            self.lanes[lane].push(
                line,
                Event {
                    at: next_at,
                    seq,
                    item,
                },
            );
        }
        None
    }
}

/// Cuts a GSO super-packet down to its first `k` segments (k >= 1): IP length (and IPv4
/// header checksum), UDP length, and the partial transport checksum, which covers the
/// pseudo-header's length; with one segment left it is no longer GSO. None when the packet is
/// not a TCP/UDP super-packet with a partial checksum.
pub fn trim_gso(frame: &mut Vec<u8>, prefix: usize, wire: Wire, k: u64) -> Option<Wire> {
    if prefix < super::wire::virtio::LEN
        || frame.len() < prefix + 40
        || !super::wire::virtio::needs_csum(&frame[..prefix])
        || k == 0
    {
        return None;
    }
    let new_total = wire.hdrs as usize + k as usize * wire.mss as usize;
    if !super::wire::trim_super_packet(&mut frame[prefix..], new_total) {
        return None;
    }
    frame.truncate(prefix + new_total);
    if k == 1 {
        super::wire::virtio::clear_gso(&mut frame[..prefix]);
    }
    let hdrs = wire.hdrs as usize;
    Some(Wire {
        packets: k,
        bytes: (k as usize * (hdrs + wire.mss as usize)) as u64,
        hdrs: wire.hdrs,
        mss: wire.mss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn random_loss_matches_its_rate_and_repeats_with_the_seed() {
        let run = |seed| {
            let mut l = LinkState::new(seed, 0);
            (0..100_000)
                .filter(|_| l.lose(Some(Loss::Random { rate: 0.01 })))
                .count()
        };
        let n = run(7);
        assert!((900..1100).contains(&n), "1% of 100k: {n}");
        assert_eq!(run(7), n, "same seed, same losses");
        assert_ne!(run(8), n, "another seed, other losses");
    }

    #[test]
    fn gilbert_elliott_loses_in_bursts_of_mean_one_over_r() {
        let mut l = LinkState::new(3, 0);
        let model = Some(Loss::GilbertElliott { p: 0.01, r: 0.25 });
        let lost: Vec<bool> = (0..200_000).map(|_| l.lose(model)).collect();
        let total = lost.iter().filter(|x| **x).count() as f64;
        let bursts = lost.windows(2).filter(|w| !w[0] && w[1]).count() as f64;
        let mean_burst = total / bursts;
        // Stationary loss p / (p + r) = 3.85%; mean burst 1 / r = 4 packets.
        assert!(
            (total / 200_000.0 - 0.0385).abs() < 0.005,
            "loss {}",
            total / 200_000.0
        );
        assert!((mean_burst - 4.0).abs() < 0.4, "mean burst {mean_burst}");
    }

    #[test]
    fn serialization_is_exact() {
        assert_eq!(serialization(1500, 100_000_000), Duration::from_micros(120));
        assert_eq!(serialization(125, 1_000_000_000), Duration::from_micros(1));
        assert_eq!(
            serialization(1, 3),
            Duration::from_nanos(2_666_666_667),
            "rounds up"
        );
    }

    #[test]
    fn shaper_spaces_packets_at_the_rate_and_tail_drops() {
        let mut s = Shaper::default();
        let w = Wire::single(1250); // 10,000 bits: 100 us at 100 Mbit/s
        let rate = 100_000_000;
        let depth = Duration::from_micros(250);
        assert_eq!(
            s.admit(Duration::ZERO, w, rate, depth),
            Some(Duration::from_micros(100))
        );
        assert_eq!(
            s.admit(Duration::ZERO, w, rate, depth),
            Some(Duration::from_micros(200))
        );
        assert_eq!(
            s.admit(Duration::ZERO, w, rate, depth),
            Some(Duration::from_micros(300))
        );
        // The fourth would wait 300 us > 250 us of queue.
        assert_eq!(s.admit(Duration::ZERO, w, rate, depth), None);
        // Later, the queue has drained: no wait.
        assert_eq!(
            s.admit(MS, w, rate, depth),
            Some(MS + Duration::from_micros(100))
        );
    }

    #[test]
    fn gso_segments_are_charged_each_with_their_headers() {
        let mut s = Shaper::default();
        let w = Wire {
            packets: 3,
            bytes: 3 * 1500,
            hdrs: 52,
            mss: 1448,
        };
        assert_eq!(
            s.admit(Duration::ZERO, w, 100_000_000, MS),
            Some(Duration::from_micros(360))
        );
    }

    #[test]
    fn a_super_packet_is_tail_dropped_segment_by_segment() {
        let mut s = Shaper::default();
        let w = Wire {
            packets: 10,
            bytes: 10 * 1250,
            hdrs: 50,
            mss: 1200,
        };
        // 100 us per 1250-byte segment at 100 Mbit/s; 350 us of queue: segments starting at
        // 0, 100, 200, 300 us fit, the other six are dropped.
        let got = s.admit_segments(Duration::ZERO, w, 100_000_000, Duration::from_micros(350));
        assert_eq!(got, Some((4, Duration::from_micros(400))));
    }

    /// A TCP/IPv4 super-packet with a virtio-net header: 3 segments of 100 bytes.
    fn super_packet() -> (Vec<u8>, Wire) {
        let mut f = vec![0u8; 10 + 20 + 20 + 300];
        f[0] = 1; // NEEDS_CSUM
        f[1] = 1; // GSO TCPv4
        f[4..6].copy_from_slice(&100u16.to_le_bytes());
        let p = &mut f[10..];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&340u16.to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 1, 1]);
        p[16..20].copy_from_slice(&[10, 0, 2, 1]);
        let ck = super::super::wire::checksum(&p[..20]);
        p[10..12].copy_from_slice(&ck.to_be_bytes());
        p[32] = 5 << 4;
        // Partial checksum: the folded pseudo-header sum for TCP length 320.
        let pseudo: u32 = 0x0a00 + 0x0101 + 0x0a00 + 0x0201 + 6 + 320;
        p[36..38].copy_from_slice(&(pseudo as u16).to_be_bytes());
        let w = super::super::Wire::segments(p, 340, 100);
        (f, w)
    }

    #[test]
    fn trimming_a_super_packet_keeps_lengths_and_checksums_consistent() {
        let (mut f, w) = super_packet();
        assert_eq!((w.packets, w.hdrs, w.mss), (3, 40, 100));
        let t = trim_gso(&mut f, 10, w, 2).expect("trimmable");
        assert_eq!((t.packets, t.bytes), (2, 280));
        assert_eq!(f.len(), 10 + 240);
        let p = &f[10..];
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 240);
        assert_eq!(
            super::super::wire::checksum(&p[..20]),
            0,
            "IPv4 header checksum"
        );
        let pseudo: u32 = 0x0a00 + 0x0101 + 0x0a00 + 0x0201 + 6 + 220;
        assert_eq!(
            u16::from_be_bytes([p[36], p[37]]),
            pseudo as u16,
            "pseudo-header sum"
        );
        assert_eq!(f[1], 1, "still GSO with two segments");
        let (mut f, w) = super_packet();
        trim_gso(&mut f, 10, w, 1).unwrap();
        assert_eq!((f[1], f[4], f[5]), (0, 0, 0), "one segment: no longer GSO");
    }

    /// Tables of a lab without circuits or ports (delays only).
    fn no_tables() -> Tables {
        Tables {
            circuits: vec![],
            ports: vec![],
            gr: vec![],
            backbone: vec![],
            vnet_delay: vec![],
            seed: 1,
            msee_port: None,
        }
    }

    #[test]
    fn events_leave_in_time_order_and_fifo_on_ties() {
        let t = no_tables();
        let mut s = Scheduler::new(0);
        let item = |port, d: u64| InFlight {
            frame: vec![port as u8],
            egress: port,
            wire: Wire::single(1),
            plan: Plan::just_delay(Duration::from_millis(d)),
            next: 0,
        };
        s.push(0, Duration::ZERO, item(1, 5));
        s.push(0, Duration::ZERO, item(2, 3));
        s.push(0, Duration::ZERO, item(3, 3));
        assert!(
            s.poll(0, Duration::from_millis(2), &t, 0, &mut Taps::default())
                .is_none(),
            "nothing due at 2 ms"
        );
        assert_eq!(s.next_deadline(0), Some(Duration::from_millis(3)));
        let order: Vec<PortId> = std::iter::from_fn(|| {
            s.poll(0, Duration::from_millis(10), &t, 0, &mut Taps::default())
        })
        .map(|(p, _, _)| p)
        .collect();
        assert_eq!(order, [2, 3, 1]);
        assert!(s.is_empty());
    }

    #[test]
    fn each_lane_keeps_its_own_events_in_order_and_only_its_own() {
        let t = no_tables();
        let mut s = Scheduler::new(0);
        s.set_lanes(2);
        let item = |port, d: u64| InFlight {
            frame: vec![port as u8],
            egress: port,
            wire: Wire::single(1),
            plan: Plan::just_delay(Duration::from_millis(d)),
            next: 0,
        };
        // Lane 1's packets are due first, but lane 0 hands out only its own.
        s.push(0, Duration::ZERO, item(1, 5));
        s.push(1, Duration::ZERO, item(2, 1));
        s.push(1, Duration::ZERO, item(3, 2));
        s.push(0, Duration::ZERO, item(4, 5));
        assert_eq!(s.len(), 4);
        // (Queued at 0: their delay stage runs when first polled.)
        assert_eq!(s.next_deadline(0), Some(Duration::ZERO));
        assert_eq!(s.next_deadline(1), Some(Duration::ZERO));
        assert_eq!(s.next_deadline(2), None, "no such lane");
        let drain = |s: &mut Scheduler, lane| -> Vec<PortId> {
            std::iter::from_fn(|| {
                s.poll(lane, Duration::from_millis(10), &t, 0, &mut Taps::default())
            })
            .map(|(p, _, _)| p)
            .collect()
        };
        assert_eq!(drain(&mut s, 0), [1, 4]);
        assert_eq!(drain(&mut s, 1), [2, 3]);
        // A lane that goes hands its events to lane 0; an unknown lane has none.
        s.push(1, Duration::ZERO, item(5, 1));
        s.set_lanes(1);
        assert_eq!(drain(&mut s, 1), Vec::<PortId>::new());
        assert_eq!(drain(&mut s, 0), [5]);
    }

    /// Lines and the heap give exactly the order one heap of every event would: by time, then
    /// by when made; with events on lines in order, out of order, and on none, pushed and
    /// popped interleaved.
    #[test]
    fn lines_and_the_heap_keep_the_order_of_one_heap() {
        let mut rng = XorShift64::new(7);
        let mut lane = Lane::default();
        let mut reference: BinaryHeap<Event> = BinaryHeap::new();
        let lines = [
            Some(Line::Delay(Duration::ZERO)),
            Some(Line::Delay(Duration::from_millis(70))),
            Some(Line::Shape(0, 0, Dir::Up)),
            Some(Line::Access(1, 1, Dir::Down)),
            None,
        ];
        let mut clock = 0u64;
        let mut seq = 0u64;
        let event = |at: u64, seq: u64| Event {
            at: Duration::from_micros(at),
            seq,
            item: Box::new(InFlight {
                frame: Vec::new(),
                egress: 0,
                wire: Wire::single(1),
                plan: Plan::default(),
                next: 0,
            }),
        };
        let mut taken = 0;
        for round in 0..20_000u64 {
            if rng.below(3) < 2 {
                // Mostly later than the clock (a delay), sometimes earlier (out of order
                // for its line), sometimes a tie.
                clock += rng.below(5);
                let at = match rng.below(10) {
                    0 => clock.saturating_sub(rng.below(50)),
                    1 => clock,
                    _ => clock + rng.below(100),
                };
                seq += 1;
                let line = lines[rng.below(lines.len() as u64) as usize];
                lane.push(line, event(at, seq));
                reference.push(event(at, seq));
            } else if let Some(e) = lane.pop() {
                let r = reference.pop().expect("the reference has it too");
                assert_eq!((e.at, e.seq), (r.at, r.seq), "round {round}");
                taken += 1;
            }
            assert_eq!(lane.len, reference.len());
            assert_eq!(lane.peek(), reference.peek().map(|e| (e.at, e.seq)));
        }
        while let Some(e) = lane.pop() {
            let r = reference.pop().expect("the reference has it too");
            assert_eq!((e.at, e.seq), (r.at, r.seq));
        }
        assert!(reference.is_empty() && taken > 1000);
    }
}
