//! What the engine counts and answers: drop reasons, verdicts, packet and byte counters per
//! port and per circuit, what a packet is on the wire (one packet or the segments of a GSO
//! super-packet), and how late delayed packets left.

use std::time::Duration;

use super::ether::LinkDrop;
use super::table::PortId;
use super::wire;

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
    /// An Ethernet port's frame, not taken by its link layer (see `ether::LinkDrop`).
    Link(LinkDrop),
    /// For an Ethernet port's CE while its MAC is not known yet (an ARP request went instead).
    Unresolved,
}

impl DropReason {
    pub const ALL: [DropReason; 17] = [
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
        DropReason::Link(LinkDrop::Malformed),
        DropReason::Link(LinkDrop::Untagged),
        DropReason::Link(LinkDrop::WrongVlan),
        DropReason::Link(LinkDrop::OtherType),
        DropReason::Link(LinkDrop::ArpNotForUs),
        DropReason::Link(LinkDrop::NotForUs),
        DropReason::Unresolved,
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
            DropReason::Link(l) => l.name(),
            DropReason::Unresolved => "ce-mac-unknown",
        }
    }

    /// Its place in `ALL` (and in the counter arrays).
    pub fn index(self) -> usize {
        match self {
            DropReason::NotIp => 0,
            DropReason::Malformed => 1,
            DropReason::NotRoutable => 2,
            DropReason::Spoofed => 3,
            DropReason::NoRoute => 4,
            DropReason::TtlExpired => 5,
            DropReason::ForRouter => 6,
            DropReason::QueueFull => 7,
            DropReason::MtuExceeded => 8,
            DropReason::Lost => 9,
            DropReason::Link(l) => 10 + l as usize,
            DropReason::Unresolved => 16,
        }
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
    pub(super) fn add(&mut self, w: Wire) {
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
        let Some((_, _, hdrs)) = wire::transport_headers(pkt) else {
            return Wire::single(len);
        };
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
    pub(super) fn record(&mut self, late: Duration) {
        let ns = late.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.packets += 1;
        self.total_ns = self.total_ns.saturating_add(ns);
        self.max_ns = self.max_ns.max(ns);
        if ns > 100_000 {
            self.over_100us += 1;
        }
    }
}
