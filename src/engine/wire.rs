//! Typed views over IPv4 and IPv6 packets in caller-owned buffers (smoltcp style).
//!
//! `Ipv4Packet::new_checked` / `Ipv6Packet::new_checked` validate everything the accessors rely
//! on (length, version, header length, total/payload length, IPv4 header checksum); after a
//! successful check no accessor panics. Only the fields forwarding needs are exposed. Building
//! new packets (ICMP errors) is done with etherparse in `icmp`.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a buffer is not a forwardable IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Empty buffer or an IP version other than 4 and 6.
    NotIp,
    /// Truncated, inconsistent lengths or a bad IPv4 header checksum.
    Malformed,
}

/// The Internet checksum (RFC 1071) of `data`, folded and complemented.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub mod field4 {
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTO: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    pub const MIN_HEADER: usize = 20;
}

pub mod field6 {
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
    pub const HEADER: usize = 40;
}

/// An IPv4 packet: header and payload within `total_len` of the buffer.
#[derive(Debug)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Validates version, header length, total length and the header checksum.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        if b.len() < field4::MIN_HEADER {
            return Err(WireError::Malformed);
        }
        if b[field4::VER_IHL] >> 4 != 4 {
            return Err(WireError::NotIp);
        }
        let ihl = usize::from(b[field4::VER_IHL] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([b[2], b[3]]));
        if ihl < field4::MIN_HEADER || total < ihl || total > b.len() {
            return Err(WireError::Malformed);
        }
        if checksum(&b[..ihl]) != 0 {
            return Err(WireError::Malformed);
        }
        Ok(Ipv4Packet { buf })
    }

    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[field4::VER_IHL] & 0x0f) * 4
    }
    pub fn total_len(&self) -> usize {
        let b = self.buf.as_ref();
        usize::from(u16::from_be_bytes([
            b[field4::TOTAL_LEN],
            b[field4::TOTAL_LEN + 1],
        ]))
    }
    pub fn ttl(&self) -> u8 {
        self.buf.as_ref()[field4::TTL]
    }
    /// The Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.buf.as_ref()[field4::FRAG] & 0x40 != 0
    }
    pub fn protocol(&self) -> u8 {
        self.buf.as_ref()[field4::PROTO]
    }
    /// Fragment offset in 8-byte units (0 for unfragmented and first fragments).
    pub fn frag_offset(&self) -> u16 {
        let b = self.buf.as_ref();
        u16::from_be_bytes([b[field4::FRAG], b[field4::FRAG + 1]]) & 0x1fff
    }
    pub fn src(&self) -> Ipv4Addr {
        let b = self.buf.as_ref();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }
    pub fn dst(&self) -> Ipv4Addr {
        let b = self.buf.as_ref();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }
    /// The transport payload (after the header, within total length).
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..self.total_len()]
    }
    /// The whole packet within total length.
    pub fn packet(&self) -> &[u8] {
        &self.buf.as_ref()[..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Lowers the TTL by `n` and updates the header checksum incrementally (RFC 1624).
    /// The caller guarantees `ttl() > n`.
    pub fn decrement_ttl(&mut self, n: u8) {
        let b = self.buf.as_mut();
        let old = u16::from_be_bytes([b[field4::TTL], b[field4::PROTO]]);
        b[field4::TTL] -= n;
        let new = u16::from_be_bytes([b[field4::TTL], b[field4::PROTO]]);
        let ck = u16::from_be_bytes([b[field4::CHECKSUM], b[field4::CHECKSUM + 1]]);
        // HC' = ~(~HC + ~m + m')
        let mut sum = u32::from(!ck) + u32::from(!old) + u32::from(new);
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let ck = !(sum as u16);
        b[field4::CHECKSUM..field4::CHECKSUM + 2].copy_from_slice(&ck.to_be_bytes());
    }
}

/// Cuts an IPv4 packet (DF clear) into fragments of at most `mtu` bytes (RFC 791): every
/// fragment carries the header (options copied only into the first: none are copied here,
/// the header is kept whole, which is what Linux does for options without the copy flag
/// being rare), payload in multiples of 8 bytes, offsets and More Fragments set, header
/// checksums recomputed. Returns None when `mtu` cannot carry 8 bytes of payload.
pub fn fragment_v4(pkt: &[u8], mtu: usize) -> Option<Vec<Vec<u8>>> {
    let p = Ipv4Packet::new_checked(pkt).ok()?;
    let ihl = p.header_len();
    let payload = p.payload();
    let step = (mtu.checked_sub(ihl)? / 8) * 8;
    if step == 0 {
        return None;
    }
    let b = pkt;
    let flags_off = u16::from_be_bytes([b[field4::FRAG], b[field4::FRAG + 1]]);
    let base_off = flags_off & 0x1fff;
    let orig_mf = flags_off & 0x2000 != 0;
    let mut out = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let end = (at + step).min(payload.len());
        let last = end == payload.len();
        let mut f = Vec::with_capacity(ihl + end - at);
        f.extend_from_slice(&b[..ihl]);
        f.extend_from_slice(&payload[at..end]);
        let total = (ihl + end - at) as u16;
        f[field4::TOTAL_LEN..field4::TOTAL_LEN + 2].copy_from_slice(&total.to_be_bytes());
        let mf = if last { orig_mf } else { true };
        let off = base_off + (at / 8) as u16;
        let v = (flags_off & 0x4000) | if mf { 0x2000 } else { 0 } | off;
        f[field4::FRAG..field4::FRAG + 2].copy_from_slice(&v.to_be_bytes());
        f[field4::CHECKSUM] = 0;
        f[field4::CHECKSUM + 1] = 0;
        let ck = checksum(&f[..ihl]);
        f[field4::CHECKSUM..field4::CHECKSUM + 2].copy_from_slice(&ck.to_be_bytes());
        out.push(f);
        at = end;
    }
    Some(out)
}

/// An IPv6 packet: fixed header and payload within `payload_len` of the buffer.
#[derive(Debug)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Validates version and payload length (jumbograms are not supported).
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        if b.is_empty() {
            return Err(WireError::NotIp);
        }
        if b[0] >> 4 != 6 {
            return Err(WireError::NotIp);
        }
        if b.len() < field6::HEADER {
            return Err(WireError::Malformed);
        }
        let plen = usize::from(u16::from_be_bytes([b[4], b[5]]));
        if field6::HEADER + plen > b.len() {
            return Err(WireError::Malformed);
        }
        Ok(Ipv6Packet { buf })
    }

    pub fn total_len(&self) -> usize {
        let b = self.buf.as_ref();
        field6::HEADER + usize::from(u16::from_be_bytes([b[4], b[5]]))
    }
    pub fn hop_limit(&self) -> u8 {
        self.buf.as_ref()[field6::HOP_LIMIT]
    }
    pub fn next_header(&self) -> u8 {
        self.buf.as_ref()[field6::NEXT_HEADER]
    }
    pub fn src(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buf.as_ref()[field6::SRC..field6::SRC + 16]);
        Ipv6Addr::from(a)
    }
    pub fn dst(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buf.as_ref()[field6::DST..field6::DST + 16]);
        Ipv6Addr::from(a)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[field6::HEADER..self.total_len()]
    }
    pub fn packet(&self) -> &[u8] {
        &self.buf.as_ref()[..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Lowers the hop limit by `n` (IPv6 has no header checksum). Caller guarantees `> n`.
    pub fn decrement_hop_limit(&mut self, n: u8) {
        self.buf.as_mut()[field6::HOP_LIMIT] -= n;
    }
}

/// An IPv4 or an IPv6 packet: what forwarding asks of either, so one walk serves both.
#[derive(Debug)]
pub enum IpPacket<T: AsRef<[u8]>> {
    V4(Ipv4Packet<T>),
    V6(Ipv6Packet<T>),
}

impl<T: AsRef<[u8]>> IpPacket<T> {
    /// Checks the buffer as the version nibble says (anything but 4 or 6: not IP).
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        match buf.as_ref().first().map(|b| b >> 4) {
            Some(4) => Ipv4Packet::new_checked(buf).map(IpPacket::V4),
            Some(6) => Ipv6Packet::new_checked(buf).map(IpPacket::V6),
            _ => Err(WireError::NotIp),
        }
    }

    pub fn is_v4(&self) -> bool {
        matches!(self, IpPacket::V4(_))
    }

    pub fn src(&self) -> std::net::IpAddr {
        match self {
            IpPacket::V4(p) => p.src().into(),
            IpPacket::V6(p) => p.src().into(),
        }
    }

    pub fn dst(&self) -> std::net::IpAddr {
        match self {
            IpPacket::V4(p) => p.dst().into(),
            IpPacket::V6(p) => p.dst().into(),
        }
    }

    /// TTL or hop limit.
    pub fn ttl(&self) -> u8 {
        match self {
            IpPacket::V4(p) => p.ttl(),
            IpPacket::V6(p) => p.hop_limit(),
        }
    }

    pub fn total_len(&self) -> usize {
        match self {
            IpPacket::V4(p) => p.total_len(),
            IpPacket::V6(p) => p.total_len(),
        }
    }

    /// The packet's bytes (without trailing padding).
    pub fn packet(&self) -> &[u8] {
        match self {
            IpPacket::V4(p) => p.packet(),
            IpPacket::V6(p) => p.packet(),
        }
    }

    /// Whether the destination may be routed: not multicast, broadcast, unspecified,
    /// link-local or loopback.
    pub fn routable_dst(&self) -> bool {
        match self {
            IpPacket::V4(p) => {
                let d = p.dst();
                !(d.is_multicast()
                    || d.is_broadcast()
                    || d.is_unspecified()
                    || d.is_link_local()
                    || d.is_loopback())
            }
            IpPacket::V6(p) => {
                let d = p.dst();
                let link_local = (d.segments()[0] & 0xffc0) == 0xfe80;
                !(d.is_multicast() || d.is_unspecified() || d.is_loopback() || link_local)
            }
        }
    }

    /// The ICMP (IPv4) or ICMPv6 message the packet carries directly, if it carries one.
    /// IPv6 extension headers are not walked.
    pub fn icmp(&self) -> Option<&[u8]> {
        match self {
            IpPacket::V4(p) => (p.protocol() == 1).then(|| p.payload()),
            IpPacket::V6(p) => (p.next_header() == 58).then(|| p.payload()),
        }
    }

    /// Whether a router may answer it with an ICMP error: not a later IPv4 fragment, and not
    /// an ICMP error itself (RFC 1812 4.3.2.7, RFC 4443 2.4(e)).
    pub fn may_error(&self) -> bool {
        let (first_fragment, is_error): (bool, fn(u8) -> bool) = match self {
            IpPacket::V4(p) => (p.frag_offset() == 0, super::icmp::is_icmpv4_error),
            IpPacket::V6(_) => (true, super::icmp::is_icmpv6_error),
        };
        first_fragment
            && !self
                .icmp()
                .and_then(|m| m.first())
                .is_some_and(|t| is_error(*t))
    }

    /// Whether a hop may fragment it rather than answer "too big": IPv4 without DF.
    pub fn may_fragment(&self) -> bool {
        matches!(self, IpPacket::V4(p) if !p.dont_frag())
    }

    /// A hash of the flow the packet belongs to (FNV-1a over addresses, protocol and, for TCP
    /// and UDP, the ports), to spread flows over a circuit's links. The two directions of a
    /// flow need not agree.
    pub fn flow_hash(&self) -> u64 {
        let b = self.packet();
        let (addrs, proto, l4) = match self {
            IpPacket::V4(p) => (&b[12..20], p.protocol(), p.header_len()),
            IpPacket::V6(p) => (&b[8..40], p.next_header(), field6::HEADER),
        };
        let ports = b
            .get(l4..l4 + 4)
            .filter(|_| matches!(proto, 6 | 17))
            .unwrap_or(&[]);
        fnv(&[addrs, &[proto], ports])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IpPacket<T> {
    /// Lowers TTL / hop limit by `n` (fixing the IPv4 checksum). Caller guarantees `> n`.
    pub fn decrement(&mut self, n: u8) {
        match self {
            IpPacket::V4(p) => p.decrement_ttl(n),
            IpPacket::V6(p) => p.decrement_hop_limit(n),
        }
    }
}

/// `IpPacket::flow_hash` of a packet from `src` to `dst` with protocol `proto` and no ports
/// (ICMP): the flow `ping` makes.
pub fn flow_hash_of(src: std::net::IpAddr, dst: std::net::IpAddr, proto: u8) -> u64 {
    let mut addrs = Vec::with_capacity(32);
    for a in [src, dst] {
        match a {
            std::net::IpAddr::V4(a) => addrs.extend_from_slice(&a.octets()),
            std::net::IpAddr::V6(a) => addrs.extend_from_slice(&a.octets()),
        }
    }
    fnv(&[&addrs, &[proto], &[]])
}

/// FNV-1a over the parts, folded.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for p in parts {
        for b in *p {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h ^ (h >> 32)
}

/// The IP header length, transport protocol and IP + TCP/UDP header length of a packet, for
/// cutting GSO super-packets into segments. None for anything but TCP and UDP (or too short to
/// tell).
pub fn transport_headers(pkt: &[u8]) -> Option<(usize, u8, usize)> {
    let (l3, proto) = match pkt.first().map(|b| b >> 4) {
        Some(4) if pkt.len() >= 20 => (usize::from(pkt[0] & 0x0f) * 4, pkt[9]),
        Some(6) if pkt.len() >= field6::HEADER => (field6::HEADER, pkt[field6::NEXT_HEADER]),
        _ => return None,
    };
    let l4 = match proto {
        6 if pkt.len() > l3 + 12 => usize::from(pkt[l3 + 12] >> 4) * 4,
        17 => 8,
        _ => return None,
    };
    Some((l3, proto, l3 + l4))
}

/// Cuts a TCP/UDP GSO super-packet down to `new_total` bytes: IP length (and IPv4 header
/// checksum), UDP length, and the partial transport checksum, which holds the folded
/// pseudo-header sum and so covers the transport length. False when `p` is not such a packet.
pub fn trim_super_packet(p: &mut [u8], new_total: usize) -> bool {
    let Some((l3, proto, _)) = transport_headers(p) else {
        return false;
    };
    if new_total >= p.len() || new_total <= l3 {
        return false;
    }
    let (old_l4_len, new_l4_len) = (p.len() - l3, new_total - l3);
    let ck_at = if proto == 6 { l3 + 16 } else { l3 + 6 };
    if p.len() < ck_at + 2 {
        return false;
    }
    let old_ck = u16::from_be_bytes([p[ck_at], p[ck_at + 1]]);
    let fold = |mut x: u32| {
        while x >> 16 != 0 {
            x = (x & 0xffff) + (x >> 16);
        }
        x as u16
    };
    let sub = |a: u32, b: u16| fold(a + u32::from(!b));
    // Lengths up to 64 KiB fit a 16-bit word in the pseudo-header (IPv6 uses 32 bits with
    // the high half zero here).
    let mut sum = u32::from(sub(u32::from(old_ck), old_l4_len as u16));
    sum = u32::from(fold(sum + new_l4_len as u32));
    p[ck_at..ck_at + 2].copy_from_slice(&(sum as u16).to_be_bytes());
    if proto == 17 {
        p[l3 + 4..l3 + 6].copy_from_slice(&(new_l4_len as u16).to_be_bytes());
    }
    if p[0] >> 4 == 4 {
        p[2..4].copy_from_slice(&(new_total as u16).to_be_bytes());
        p[10] = 0;
        p[11] = 0;
        let ck = checksum(&p[..l3]);
        p[10..12].copy_from_slice(&ck.to_be_bytes());
    } else {
        p[4..6].copy_from_slice(&((new_total - field6::HEADER) as u16).to_be_bytes());
    }
    true
}

/// Adds `n` back to an IPv4 TTL (recomputing the header checksum) or an IPv6 hop limit: a
/// packet as it was `n` hops earlier. Buffers that are not IP are left alone.
pub fn restore_ttl(p: &mut [u8], n: u8) {
    if n == 0 {
        return;
    }
    match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= 20 => {
            let ihl = (usize::from(p[0] & 0x0f) * 4).clamp(20, p.len());
            p[field4::TTL] = p[field4::TTL].saturating_add(n);
            p[10] = 0;
            p[11] = 0;
            let ck = checksum(&p[..ihl]);
            p[10..12].copy_from_slice(&ck.to_be_bytes());
        }
        Some(6) if p.len() >= field6::HEADER => {
            p[field6::HOP_LIMIT] = p[field6::HOP_LIMIT].saturating_add(n)
        }
        _ => {}
    }
}

/// The virtio-net header in front of every packet on an offloading TUN, read and written with
/// tun-rs's codec.
pub mod virtio {
    use tun_rs::VirtioNetHdr;
    pub use tun_rs::VIRTIO_NET_HDR_LEN as LEN;

    /// VIRTIO_NET_HDR_F_NEEDS_CSUM: the transport checksum is partial.
    const NEEDS_CSUM: u8 = 1;

    /// The segment size of a GSO super-packet (0: not GSO). gso_type 0 is GSO_NONE; bit 0x80
    /// is the ECN flag.
    pub fn gso_size(hdr: &[u8]) -> u16 {
        match VirtioNetHdr::decode(hdr) {
            Ok(h) if h.gso_type & 0x7f != 0 => h.gso_size,
            _ => 0,
        }
    }

    /// Whether the packet's transport checksum is partial (completed per segment).
    pub fn needs_csum(hdr: &[u8]) -> bool {
        VirtioNetHdr::decode(hdr).is_ok_and(|h| h.flags & NEEDS_CSUM != 0)
    }

    /// Moves the header's offsets (checksum start, header length) by `by` bytes: they count
    /// from the IP header on a TUN and from the Ethernet header on a packet socket. False
    /// when they would point before the packet (the frame is not taken).
    pub fn shift(hdr: &mut [u8], by: isize) -> bool {
        let Ok(mut h) = VirtioNetHdr::decode(hdr) else {
            return false;
        };
        let moved = |v: u16| u16::try_from(v as isize + by).ok();
        // Only offsets in use are moved (a zero hdr_len is "not given").
        if h.flags & NEEDS_CSUM != 0 {
            let Some(c) = moved(h.csum_start) else {
                return false;
            };
            h.csum_start = c;
        } else {
            h.csum_start = 0;
        }
        if h.hdr_len != 0 {
            h.hdr_len = moved(h.hdr_len).unwrap_or(0);
        }
        h.encode(hdr).is_ok()
    }

    /// Marks the packet as no longer GSO; the partial checksum stays.
    pub fn clear_gso(hdr: &mut [u8]) {
        if let Ok(mut h) = VirtioNetHdr::decode(hdr) {
            h.gso_type = 0;
            h.gso_size = 0;
            let _ = h.encode(hdr);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// ICMP echo request 10.0.1.1 -> 10.0.2.1, TTL 64, id 0x1234 seq 1, 4 bytes of data.
    pub static ECHO_V4: [u8; 32] = [
        0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x40, 0x00, 0x40, 0x01, 0x23, 0xdb, 10, 0, 1, 1, 10, 0,
        2, 1, // IPv4
        0x08, 0x00, 0x48, 0x2d, 0x12, 0x34, 0x00, 0x01, // ICMP echo
        0xde, 0xad, 0xbe, 0xef,
    ];

    /// ICMPv6 echo request fd00:1::1 -> fd00:2::1, hop limit 64, id 0x1234 seq 1.
    pub static ECHO_V6: [u8; 48] = [
        0x60, 0, 0, 0, 0x00, 0x08, 58, 64, // version, payload 8, ICMPv6, hop limit 64
        0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // src fd00:1::1
        0xfd, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // dst fd00:2::1
        128, 0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x01, // echo request (checksum not checked)
    ];

    #[test]
    fn literal_v4_packet_is_valid() {
        assert_eq!(
            checksum(&ECHO_V4[..20]),
            0,
            "header checksum of the literal"
        );
        assert_eq!(checksum(&ECHO_V4[20..]), 0, "ICMP checksum of the literal");
        let p = Ipv4Packet::new_checked(&ECHO_V4[..]).unwrap();
        assert_eq!(p.src(), Ipv4Addr::new(10, 0, 1, 1));
        assert_eq!(p.dst(), Ipv4Addr::new(10, 0, 2, 1));
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 1);
        assert_eq!(p.payload().len(), 12);
    }

    #[test]
    fn ttl_decrement_keeps_checksum_valid() {
        let mut b = ECHO_V4;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.decrement_ttl(3);
        assert_eq!(p.ttl(), 61);
        assert_eq!(checksum(&b[..20]), 0);
        assert!(Ipv4Packet::new_checked(&b[..]).is_ok());
    }

    #[test]
    fn checked_constructor_rejects_bad_input() {
        assert_eq!(
            Ipv4Packet::new_checked(&ECHO_V4[..19]).unwrap_err(),
            WireError::Malformed
        );
        let mut b = ECHO_V4;
        b[10] ^= 1; // corrupt checksum
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            WireError::Malformed
        );
        let mut b = ECHO_V4;
        b[3] = 0x40; // total length beyond the buffer
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            WireError::Malformed
        );
        let mut b = ECHO_V4;
        b[0] = 0x43; // IHL 3
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            WireError::Malformed
        );
        assert_eq!(
            Ipv6Packet::new_checked(&ECHO_V6[..30]).unwrap_err(),
            WireError::Malformed
        );
        assert_eq!(
            Ipv6Packet::new_checked(&[0x20u8; 40][..]).unwrap_err(),
            WireError::NotIp
        );
        assert_eq!(
            Ipv6Packet::new_checked(&[][..]).unwrap_err(),
            WireError::NotIp
        );
    }

    #[test]
    fn fragments_reassemble_to_the_original_payload() {
        let mut b = vec![0u8; 20 + 3000];
        b[..20].copy_from_slice(&ECHO_V4[..20]);
        b[2..4].copy_from_slice(&3020u16.to_be_bytes());
        b[6] = 0; // DF clear
        for (i, x) in b[20..].iter_mut().enumerate() {
            *x = i as u8;
        }
        b[10] = 0;
        b[11] = 0;
        let ck = checksum(&b[..20]);
        b[10..12].copy_from_slice(&ck.to_be_bytes());
        let frags = fragment_v4(&b, 1400).unwrap();
        assert_eq!(frags.len(), 3);
        let mut payload = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            assert!(f.len() <= 1400);
            let p = Ipv4Packet::new_checked(&f[..]).expect("valid fragment");
            assert_eq!(
                usize::from(p.frag_offset()) * 8,
                payload.len(),
                "offset of {i}"
            );
            assert_eq!(
                f[6] & 0x20 != 0,
                i < 2,
                "more fragments on all but the last"
            );
            payload.extend_from_slice(p.payload());
        }
        assert_eq!(payload, &b[20..]);
        assert!(fragment_v4(&b, 24).is_none() || fragment_v4(&b, 27).is_none());
    }

    #[test]
    fn literal_v6_packet_fields() {
        let mut b = ECHO_V6;
        let mut p = Ipv6Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.src(), "fd00:1::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst(), "fd00:2::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload().len(), 8);
        p.decrement_hop_limit(2);
        assert_eq!(p.hop_limit(), 62);
    }
}
