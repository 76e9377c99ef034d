//! Time in the emulated network: per-circuit shapers and delay lines, driven by the caller's
//! clock (`now` is a `Duration` since an epoch the caller chooses; tests use a virtual one).
//!
//! A forwarded packet carries a `Plan`: the stages its path crosses (a circuit's shaper in one
//! direction, a link's one-way delay), in order. The scheduler moves it stage by stage in event
//! order: a shaper is a queue with virtual finish times (a packet leaves at
//! max(arrival, last finish) + bits / rate, charged per segment on the wire; beyond the queue
//! depth it is dropped as QueueFull), a delay adds its time. When the plan is done the packet
//! is due for transmission. Events with equal times leave in the order they were made.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

use super::table::{CircuitId, PortId, Tables};
use super::Wire;

/// Direction through a circuit's shaper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Customer to Microsoft (site -> MSEE).
    Up = 0,
    /// Microsoft to customer (MSEE -> site).
    Down = 1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Shape { circuit: CircuitId, dir: Dir },
    Delay(Duration),
}

/// Longest plan: shaper + access, backbone, shaper + access, plus slack.
const MAX_STAGES: usize = 8;

/// The stages a packet crosses, and the one-way delay accumulated so far (what an ICMP reply
/// from the hop reached at that point takes back).
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    stages: [Stage; MAX_STAGES],
    len: u8,
    pub oneway: Duration,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            stages: [Stage::Delay(Duration::ZERO); MAX_STAGES],
            len: 0,
            oneway: Duration::ZERO,
        }
    }
}

impl Plan {
    pub fn delay(&mut self, d: Duration) {
        if d > Duration::ZERO {
            self.oneway += d;
            self.push(Stage::Delay(d));
        }
    }

    pub fn shape(&mut self, t: &Tables, circuit: CircuitId, dir: Dir) {
        if t.circuits[circuit].timing.rate_bps.is_some() {
            self.push(Stage::Shape { circuit, dir });
        }
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

/// What a stage did with a packet.
pub enum Step {
    /// Due now: transmit.
    Transmit(PortId, Vec<u8>),
    /// Dropped by a full shaper queue on this circuit.
    QueueFull(CircuitId, Wire),
}

/// The events of one lab.
#[derive(Debug, Default)]
pub struct Scheduler {
    heap: BinaryHeap<Event>,
    seq: u64,
    pub shapers: Vec<[Shaper; 2]>,
}

impl Scheduler {
    pub fn new(circuits: usize) -> Self {
        Scheduler {
            heap: BinaryHeap::new(),
            seq: 0,
            shapers: vec![[Shaper::default(); 2]; circuits],
        }
    }

    pub fn push(&mut self, at: Duration, item: InFlight) {
        self.seq += 1;
        self.heap.push(Event {
            at,
            seq: self.seq,
            item: Box::new(item),
        });
    }

    /// Packets in flight.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// When the next event is due.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.heap.peek().map(|e| e.at)
    }

    /// Runs events due at or before `now` until one yields a packet to transmit or a drop.
    pub fn poll(&mut self, now: Duration, t: &Tables) -> Option<Step> {
        while self.heap.peek().is_some_and(|e| e.at <= now) {
            let Event { at, mut item, .. } = self.heap.pop().expect("peeked");
            let stages = item.plan.stages();
            let Some(stage) = stages.get(usize::from(item.next)).copied() else {
                return Some(Step::Transmit(item.egress, std::mem::take(&mut item.frame)));
            };
            item.next += 1;
            let next_at = match stage {
                Stage::Delay(d) => at + d,
                Stage::Shape { circuit, dir } => {
                    let timing = &t.circuits[circuit].timing;
                    let rate = timing.rate_bps.unwrap_or(u64::MAX);
                    match self.shapers[circuit][dir as usize].admit(
                        at,
                        item.wire,
                        rate,
                        timing.queue,
                    ) {
                        Some(depart) => depart,
                        None => return Some(Step::QueueFull(circuit, item.wire)),
                    }
                }
            };
            self.seq += 1;
            let seq = self.seq;
            self.heap.push(Event {
                at: next_at,
                seq,
                item,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

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
        };
        assert_eq!(
            s.admit(Duration::ZERO, w, 100_000_000, MS),
            Some(Duration::from_micros(360))
        );
    }

    #[test]
    fn events_leave_in_time_order_and_fifo_on_ties() {
        let t = Tables {
            circuits: vec![],
            ports: vec![],
            gr: vec![],
            backbone: vec![],
            vnet_delay: vec![],
        };
        let mut s = Scheduler::new(0);
        let item = |port, d: u64| InFlight {
            frame: vec![port as u8],
            egress: port,
            wire: Wire::single(1),
            plan: Plan::just_delay(Duration::from_millis(d)),
            next: 0,
        };
        s.push(Duration::ZERO, item(1, 5));
        s.push(Duration::ZERO, item(2, 3));
        s.push(Duration::ZERO, item(3, 3));
        assert!(
            s.poll(Duration::from_millis(2), &t).is_none(),
            "nothing due at 2 ms"
        );
        assert_eq!(s.next_deadline(), Some(Duration::from_millis(3)));
        let order: Vec<PortId> =
            std::iter::from_fn(|| match s.poll(Duration::from_millis(10), &t) {
                Some(Step::Transmit(p, _)) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(order, [2, 3, 1]);
        assert!(s.is_empty());
    }
}
