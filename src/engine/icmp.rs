//! ICMP and ICMPv6 messages a router hop originates: Time Exceeded, Destination Unreachable
//! (network / no route) and Echo Reply for pings to a router's own address. Built with
//! etherparse into a caller-owned buffer. Owns the RFC 1812 / RFC 4443 rules on what may be
//! quoted and what must never trigger an error.

use etherparse::{icmpv4, icmpv6, IcmpEchoHeader, Icmpv4Type, Icmpv6Type, PacketBuilder};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// TTL / hop limit of messages a router originates.
pub const ORIGIN_TTL: u8 = 64;
/// An ICMPv4 error carries at most this much of the packet (the whole error fits in 576 bytes).
const QUOTE_V4: usize = 576 - 20 - 8;
/// An ICMPv6 error fits in the minimum MTU (RFC 4443 2.4(c)).
const QUOTE_V6: usize = 1280 - 40 - 8;

/// The error a router reports for a packet it cannot forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    TimeExceeded,
    NetUnreachable,
    /// The next link's MTU is smaller than the packet (IPv4 with DF: Fragmentation Needed;
    /// IPv6: Packet Too Big).
    TooBig(u16),
}

/// Whether an ICMPv4 message (protocol 1, first payload byte `ty`) is itself an error.
pub fn is_icmpv4_error(ty: u8) -> bool {
    matches!(ty, 3 | 4 | 5 | 11 | 12)
}

/// Whether an ICMPv6 message type is an error (types below 128).
pub fn is_icmpv6_error(ty: u8) -> bool {
    ty < 128
}

/// Writes an ICMP or ICMPv6 error from `from` to `to` about `original` into `out`; false (and
/// nothing written) when the addresses are not of one family.
pub fn error(
    out: &mut Vec<u8>,
    kind: IcmpError,
    from: IpAddr,
    to: IpAddr,
    original: &[u8],
) -> bool {
    match (from, to) {
        (IpAddr::V4(f), IpAddr::V4(t)) => error_v4(out, kind, f, t, original),
        (IpAddr::V6(f), IpAddr::V6(t)) => error_v6(out, kind, f, t, original),
        _ => return false,
    }
    true
}

/// Writes an ICMPv4 error from `from` to the source of `original` into `out`.
pub fn error_v4(out: &mut Vec<u8>, kind: IcmpError, from: Ipv4Addr, to: Ipv4Addr, original: &[u8]) {
    let ty =
        match kind {
            IcmpError::TimeExceeded => {
                Icmpv4Type::TimeExceeded(icmpv4::TimeExceededCode::TtlExceededInTransit)
            }
            IcmpError::NetUnreachable => {
                Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Network)
            }
            IcmpError::TooBig(mtu) => Icmpv4Type::DestinationUnreachable(
                icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu },
            ),
        };
    let quote = &original[..original.len().min(QUOTE_V4)];
    out.clear();
    PacketBuilder::ipv4(from.octets(), to.octets(), ORIGIN_TTL)
        .icmpv4(ty)
        .write(out, quote)
        .expect("writing to a Vec cannot fail");
}

/// Writes an ICMPv6 error from `from` to the source of `original` into `out`.
pub fn error_v6(out: &mut Vec<u8>, kind: IcmpError, from: Ipv6Addr, to: Ipv6Addr, original: &[u8]) {
    let ty = match kind {
        IcmpError::TimeExceeded => {
            Icmpv6Type::TimeExceeded(icmpv6::TimeExceededCode::HopLimitExceeded)
        }
        IcmpError::NetUnreachable => {
            Icmpv6Type::DestinationUnreachable(icmpv6::DestUnreachableCode::NoRoute)
        }
        IcmpError::TooBig(mtu) => Icmpv6Type::PacketTooBig {
            mtu: u32::from(mtu),
        },
    };
    let quote = &original[..original.len().min(QUOTE_V6)];
    out.clear();
    PacketBuilder::ipv6(from.octets(), to.octets(), ORIGIN_TTL)
        .icmpv6(ty)
        .write(out, quote)
        .expect("writing to a Vec cannot fail");
}

/// If `icmp` (an ICMP / ICMPv6 message) is an echo request, writes the reply from `me` to
/// `peer` into `out` and returns true.
pub fn echo_reply(out: &mut Vec<u8>, me: IpAddr, peer: IpAddr, icmp: &[u8]) -> bool {
    if icmp.len() < 8 || icmp[1] != 0 {
        return false;
    }
    let echo = IcmpEchoHeader {
        id: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
    };
    let data = &icmp[8..];
    out.clear();
    match (me, peer) {
        (IpAddr::V4(me), IpAddr::V4(peer)) if icmp[0] == 8 => {
            PacketBuilder::ipv4(me.octets(), peer.octets(), ORIGIN_TTL)
                .icmpv4(Icmpv4Type::EchoReply(echo))
                .write(out, data)
                .expect("writing to a Vec cannot fail");
            true
        }
        (IpAddr::V6(me), IpAddr::V6(peer)) if icmp[0] == 128 => {
            PacketBuilder::ipv6(me.octets(), peer.octets(), ORIGIN_TTL)
                .icmpv6(Icmpv6Type::EchoReply(echo))
                .write(out, data)
                .expect("writing to a Vec cannot fail");
            true
        }
        _ => false,
    }
}
