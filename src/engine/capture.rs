//! Capture taps: which points of the emulated network are being captured, and the packets
//! seen there until the control plane takes them. Pure like the rest of the engine: packets
//! are copied at the tap points on the engine's clock (a circuit link's copy is taken when
//! the packet leaves its shaper onto the link, a Global Reach copy when it enters the
//! backbone), with the TTL / hop limit the packet has on that link; the shell turns them into
//! pcap.
//!
//! Costs nothing while no capture runs: plans get tap stages only for watched points.

use std::time::Duration;

use super::wire::restore_ttl;
use super::{CircuitId, PortId};

/// Names one capture.
pub type TapId = u64;

/// Where packets are copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapPoint {
    /// What an endpoint's namespace sends and receives (its TUN), both directions.
    Port(PortId),
    /// A circuit's link between the customer edge and the MSEE (0 primary, 1 secondary), both
    /// directions.
    Link { circuit: CircuitId, path: u8 },
    /// The Global Reach connection between two circuits' MSEEs (`a < b`), both directions.
    GlobalReach { a: CircuitId, b: CircuitId },
    /// An Ethernet port's frames as on the wire (MACs, 802.1Q tag, ARP), both directions:
    /// a circuit link that is an Ethernet port is captured here, not at its shaper.
    Frames(PortId),
}

impl TapPoint {
    /// The Global Reach point between two circuits, in either order.
    pub fn global_reach(x: CircuitId, y: CircuitId) -> TapPoint {
        TapPoint::GlobalReach {
            a: x.min(y),
            b: x.max(y),
        }
    }
}

/// One copied packet (IP, or an Ethernet frame at a `Frames` point; without any frame
/// prefix) and when it passed the tap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub at: Duration,
    pub data: Vec<u8>,
}

/// Bytes a capture may hold before it is taken; beyond, packets are counted as dropped (the
/// reader is too slow), as a kernel capture buffer does.
pub const BUFFER_BYTES: usize = 32 << 20;

#[derive(Debug)]
struct Tap {
    id: TapId,
    point: TapPoint,
    packets: Vec<Captured>,
    bytes: usize,
    dropped: u64,
}

/// The running captures.
#[derive(Debug, Default)]
pub struct Taps {
    taps: Vec<Tap>,
    next_id: TapId,
}

impl Taps {
    /// Starts capturing at `point`.
    pub fn start(&mut self, point: TapPoint) -> TapId {
        self.next_id += 1;
        self.taps.push(Tap {
            id: self.next_id,
            point,
            packets: Vec::new(),
            bytes: 0,
            dropped: 0,
        });
        self.next_id
    }

    /// Ends a capture, dropping what it still holds.
    pub fn stop(&mut self, id: TapId) {
        self.taps.retain(|t| t.id != id);
    }

    /// What a capture copied since it was last taken, and how many packets it dropped in
    /// all. None: no such capture.
    pub fn take(&mut self, id: TapId) -> Option<(Vec<Captured>, u64)> {
        let t = self.taps.iter_mut().find(|t| t.id == id)?;
        t.bytes = 0;
        Some((std::mem::take(&mut t.packets), t.dropped))
    }

    /// Whether any capture watches `point`.
    pub fn watching(&self, point: TapPoint) -> bool {
        !self.taps.is_empty() && self.taps.iter().any(|t| t.point == point)
    }

    pub fn is_empty(&self) -> bool {
        self.taps.is_empty()
    }

    /// Copies `pkt` (an IP packet) for every capture at `point`, first raising its TTL or hop
    /// limit by `undo` (the decrements it had been given for hops after the tap).
    pub fn record(&mut self, point: TapPoint, at: Duration, pkt: &[u8], undo: u8) {
        for t in self.taps.iter_mut().filter(|t| t.point == point) {
            if t.bytes + pkt.len() > BUFFER_BYTES {
                t.dropped += 1;
                continue;
            }
            let mut data = pkt.to_vec();
            restore_ttl(&mut data, undo);
            t.bytes += data.len();
            t.packets.push(Captured { at, data });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::wire::checksum;

    #[test]
    fn taps_copy_only_their_point_and_bound_their_buffer() {
        let mut taps = Taps::default();
        assert!(!taps.watching(TapPoint::Port(0)));
        let a = taps.start(TapPoint::Port(0));
        let b = taps.start(TapPoint::global_reach(3, 1));
        assert!(taps.watching(TapPoint::GlobalReach { a: 1, b: 3 }));
        let pkt = [0x60u8; 40];
        taps.record(TapPoint::Port(0), Duration::from_millis(1), &pkt, 0);
        taps.record(TapPoint::Port(1), Duration::from_millis(2), &pkt, 0);
        let (got, dropped) = taps.take(a).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].at, Duration::from_millis(1));
        assert_eq!(dropped, 0);
        assert!(taps.take(b).unwrap().0.is_empty());
        let big = vec![0x45u8; 1 << 20];
        for _ in 0..40 {
            taps.record(TapPoint::Port(0), Duration::ZERO, &big, 0);
        }
        let (got, dropped) = taps.take(a).unwrap();
        assert_eq!((got.len(), dropped), (32, 8));
        taps.stop(a);
        assert!(taps.take(a).is_none());
        assert!(!taps.watching(TapPoint::Port(0)));
    }

    #[test]
    fn a_copy_gets_back_the_ttl_it_had_at_the_tap() {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p[8] = 60;
        p[9] = 1;
        let ck = checksum(&p[..20]);
        p[10..12].copy_from_slice(&ck.to_be_bytes());
        restore_ttl(&mut p, 2);
        assert_eq!(p[8], 62);
        assert_eq!(checksum(&p[..20]), 0);
    }
}
