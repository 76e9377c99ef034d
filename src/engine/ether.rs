//! The MSEE's end of an Ethernet circuit port, as a pure state machine over frames: its MAC,
//! the private peering's 802.1Q tag, ARP for the MSEE's addresses, and the CE's MAC as
//! learned from what it sends. In: a frame read from the port; out: the IP packet inside it
//! (for the engine), an ARP reply to write back, or a drop with its reason. Out the other way:
//! an IP packet from the engine framed for the CE (tagged when the circuit has a VLAN), or an
//! ARP request for the CE while its MAC is not known yet. Wire formats are etherparse's; no
//! IO here (the shell owns the socket).

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{
    icmpv6::NeighborAdvertisementHeader, ArpEthIpv4Packet, ArpOperation, ArpPacketSlice, EtherType,
    Ethernet2Header, Ethernet2HeaderSlice, Icmpv6Type, Ipv6HeaderSlice, PacketBuilder,
    SingleVlanHeader, SingleVlanHeaderSlice, VlanId, VlanPcp,
};

/// A MAC address.
pub type Mac = [u8; 6];

const BROADCAST: Mac = [0xff; 6];

/// Why a frame from the CE was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LinkDrop {
    /// Shorter than its headers say.
    Malformed,
    /// Untagged, while the circuit's private peering has a VLAN.
    Untagged,
    /// Tagged with another VLAN than the private peering's (or tagged on an untagged port).
    WrongVlan,
    /// Neither IPv4, IPv6 nor ARP.
    OtherType,
    /// ARP that is not a request for one of the MSEE's addresses (learned from all the same).
    ArpNotForUs,
    /// Unicast to another MAC than the MSEE's.
    NotForUs,
}

impl LinkDrop {
    /// Stable name, as the CLI shows drop reasons.
    pub fn name(self) -> &'static str {
        match self {
            LinkDrop::Malformed => "link-malformed",
            LinkDrop::Untagged => "untagged",
            LinkDrop::WrongVlan => "wrong-vlan",
            LinkDrop::OtherType => "not-ip-or-arp",
            LinkDrop::ArpNotForUs => "arp-not-for-us",
            LinkDrop::NotForUs => "not-for-us",
        }
    }
}

/// What a frame from the CE comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingress {
    /// An IP packet: `frame[offset..]` (the engine takes it from there).
    Ip { offset: usize },
    /// An ARP request for an MSEE address: the reply frame was written to `out`.
    Reply,
    /// Not taken, for this reason.
    Drop(LinkDrop),
}

/// One Ethernet port's link layer.
#[derive(Debug, Clone)]
pub struct EtherPort {
    /// The MSEE's MAC on this port.
    pub mac: Mac,
    /// The private peering's 802.1Q VLAN ID; none: untagged.
    pub vlan: Option<u16>,
    /// The MSEE's addresses on this port (answered in ARP).
    pub addresses: Vec<Ipv4Addr>,
    /// The MSEE's IPv6 addresses on this port (answered in neighbour discovery).
    pub addresses_v6: Vec<Ipv6Addr>,
    /// The CE's address on the link (asked for in ARP until its MAC is known).
    pub ce: Ipv4Addr,
    /// The CE's MAC, once a frame from it was seen.
    pub ce_mac: Option<Mac>,
    /// The tag (0: none) of the last ARP or IPv4 frame dropped for its VLAN, to say why a
    /// CE gets no session.
    pub last_wrong_vlan: Option<u16>,
}

impl EtherPort {
    pub fn new(mac: Mac, vlan: Option<u16>, addresses: Vec<Ipv4Addr>, ce: Ipv4Addr) -> Self {
        EtherPort {
            mac,
            vlan,
            addresses,
            ce,
            ce_mac: None,
            last_wrong_vlan: None,
            addresses_v6: Vec::new(),
        }
    }

    /// With the MSEE's IPv6 addresses on this port (an IPv6 private peering).
    pub fn with_v6(mut self, addresses: Vec<Ipv6Addr>) -> Self {
        self.addresses_v6 = addresses;
        self
    }

    /// Whether `mac` is the solicited-node multicast MAC of one of the MSEE's IPv6 addresses
    /// (where a neighbour solicitation for it is sent).
    fn solicited(&self, mac: Mac) -> bool {
        self.addresses_v6.iter().any(|a| {
            let o = a.octets();
            mac == [0x33, 0x33, 0xff, o[13], o[14], o[15]]
        })
    }

    /// Takes a frame read from the port; an ARP reply, when there is one, goes to `out`.
    pub fn ingress(&mut self, frame: &[u8], out: &mut Vec<u8>) -> Ingress {
        let Ok(eth) = Ethernet2HeaderSlice::from_slice(frame) else {
            return Ingress::Drop(LinkDrop::Malformed);
        };
        let (mut ether_type, mut offset) = (eth.ether_type(), Ethernet2Header::LEN);
        let tag = if ether_type == EtherType::VLAN_TAGGED_FRAME {
            let Ok(v) = SingleVlanHeaderSlice::from_slice(&frame[offset..]) else {
                return Ingress::Drop(LinkDrop::Malformed);
            };
            ether_type = v.ether_type();
            offset += SingleVlanHeader::LEN;
            Some(v.vlan_identifier().value())
        } else {
            None
        };
        // What a CE on the wrong VLAN sends to reach the MSEE (not its IPv6 chatter).
        let to_msee = matches!(ether_type, EtherType::ARP | EtherType::IPV4);
        match (self.vlan, tag) {
            (Some(_), None) => {
                if to_msee {
                    self.last_wrong_vlan = Some(0);
                }
                return Ingress::Drop(LinkDrop::Untagged);
            }
            (want, got) if want != got => {
                if to_msee {
                    self.last_wrong_vlan = got;
                }
                return Ingress::Drop(LinkDrop::WrongVlan);
            }
            _ => {}
        }
        let dst = eth.destination();
        let solicited = ether_type == EtherType::IPV6 && self.solicited(dst);
        if dst != self.mac && dst != BROADCAST && !solicited {
            return Ingress::Drop(LinkDrop::NotForUs);
        }
        match ether_type {
            EtherType::IPV6 if self.neighbour(eth.source(), &frame[offset..], out) => {
                self.ce_mac = Some(eth.source());
                Ingress::Reply
            }
            // A solicitation for another address, or other multicast: not the MSEE's.
            EtherType::IPV6 if solicited => Ingress::Drop(LinkDrop::NotForUs),
            EtherType::IPV4 | EtherType::IPV6 => {
                self.ce_mac = Some(eth.source());
                Ingress::Ip { offset }
            }
            EtherType::ARP => self.arp(&frame[offset..], out),
            _ => Ingress::Drop(LinkDrop::OtherType),
        }
    }

    /// A neighbour solicitation (RFC 4861) for one of the MSEE's IPv6 addresses, from `src`:
    /// the advertisement that answers it goes to `out` (true).
    fn neighbour(&self, src: Mac, ip: &[u8], out: &mut Vec<u8>) -> bool {
        let Ok(h) = Ipv6HeaderSlice::from_slice(ip) else {
            return false;
        };
        let body = &ip[h.slice().len()..];
        // ICMPv6, neighbour solicitation (135), code 0, hop limit 255, the target after the
        // 4 reserved bytes.
        if h.next_header() != etherparse::IpNumber::IPV6_ICMP
            || h.hop_limit() != 255
            || body.len() < 24
            || body[0] != 135
            || body[1] != 0
        {
            return false;
        }
        let target = Ipv6Addr::from(<[u8; 16]>::try_from(&body[8..24]).expect("16 bytes"));
        if !self.addresses_v6.contains(&target) {
            return false;
        }
        let from = h.source_addr();
        // From the unspecified address (duplicate address detection): to all nodes.
        let (to, solicited) = if from.is_unspecified() {
            (Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), false)
        } else {
            (from, true)
        };
        let mut payload = target.octets().to_vec();
        // Target link-layer address option: type 2, 1 unit of 8 bytes, the MSEE's MAC.
        payload.extend_from_slice(&[2, 1]);
        payload.extend_from_slice(&self.mac);
        out.clear();
        self.header(
            if solicited {
                src
            } else {
                [0x33, 0x33, 0, 0, 0, 1]
            },
            EtherType::IPV6,
            out,
        );
        PacketBuilder::ipv6(target.octets(), to.octets(), 255)
            .icmpv6(Icmpv6Type::NeighborAdvertisement(
                NeighborAdvertisementHeader {
                    router: true,
                    solicited,
                    r#override: true,
                },
            ))
            .write(out, &payload)
            .is_ok()
    }

    fn arp(&mut self, body: &[u8], out: &mut Vec<u8>) -> Ingress {
        let Some(arp) = ArpPacketSlice::from_slice(body)
            .ok()
            .and_then(|a| a.to_packet().try_eth_ipv4().ok())
        else {
            return Ingress::Drop(LinkDrop::Malformed);
        };
        let sender = Ipv4Addr::from(arp.sender_ipv4);
        if sender == self.ce {
            self.ce_mac = Some(arp.sender_mac);
        }
        let target = Ipv4Addr::from(arp.target_ipv4);
        if arp.operation != ArpOperation::REQUEST || !self.addresses.contains(&target) {
            return Ingress::Drop(LinkDrop::ArpNotForUs);
        }
        let reply = ArpEthIpv4Packet {
            operation: ArpOperation::REPLY,
            sender_mac: self.mac,
            sender_ipv4: arp.target_ipv4,
            target_mac: arp.sender_mac,
            target_ipv4: arp.sender_ipv4,
        };
        out.clear();
        self.header(arp.sender_mac, EtherType::ARP, out);
        out.extend_from_slice(&reply.to_bytes());
        Ingress::Reply
    }

    /// The link header that frames IP packet `ip` for the CE, into `out` (the packet follows
    /// it on the wire, unchanged): true. While the CE's MAC is unknown, an ARP request for it
    /// goes to `out` instead (the packet is not sent): false.
    pub fn egress(&self, ip: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        let Some(ce_mac) = self.ce_mac else {
            let request = ArpEthIpv4Packet {
                operation: ArpOperation::REQUEST,
                sender_mac: self.mac,
                sender_ipv4: self.addresses.first().map_or([0; 4], |a| a.octets()),
                target_mac: [0; 6],
                target_ipv4: self.ce.octets(),
            };
            self.header(BROADCAST, EtherType::ARP, out);
            out.extend_from_slice(&request.to_bytes());
            return false;
        };
        let ether_type = match ip.first().map(|b| b >> 4) {
            Some(6) => EtherType::IPV6,
            _ => EtherType::IPV4,
        };
        self.header(ce_mac, ether_type, out);
        true
    }

    /// The Ethernet header (and 802.1Q tag) of a frame from the MSEE to `dst`.
    fn header(&self, dst: Mac, ether_type: EtherType, out: &mut Vec<u8>) {
        let tag = self.vlan.and_then(|id| VlanId::try_new(id).ok());
        let eth = Ethernet2Header {
            source: self.mac,
            destination: dst,
            ether_type: if tag.is_some() {
                EtherType::VLAN_TAGGED_FRAME
            } else {
                ether_type
            },
        };
        out.extend_from_slice(&eth.to_bytes());
        if let Some(vlan_id) = tag {
            let v = SingleVlanHeader {
                pcp: VlanPcp::ZERO,
                drop_eligible_indicator: false,
                vlan_id,
                ether_type,
            };
            out.extend_from_slice(&v.to_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSEE: Mac = [0x02, 0x12, 0x07, 0x06, 0x00, 0x02];
    const CE: Mac = [0x02, 0xce, 0, 0, 0, 1];

    fn port(vlan: Option<u16>) -> EtherPort {
        EtherPort::new(
            MSEE,
            vlan,
            vec!["192.168.100.2".parse().unwrap()],
            "192.168.100.1".parse().unwrap(),
        )
    }

    /// A frame from the CE: Ethernet, the tag when given, then `body` of `ether_type`.
    fn frame(dst: Mac, tag: Option<u16>, ether_type: EtherType, body: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        let eth = Ethernet2Header {
            source: CE,
            destination: dst,
            ether_type: if tag.is_some() {
                EtherType::VLAN_TAGGED_FRAME
            } else {
                ether_type
            },
        };
        f.extend_from_slice(&eth.to_bytes());
        if let Some(id) = tag {
            let v = SingleVlanHeader {
                pcp: VlanPcp::ZERO,
                drop_eligible_indicator: false,
                vlan_id: VlanId::try_new(id).unwrap(),
                ether_type,
            };
            f.extend_from_slice(&v.to_bytes());
        }
        f.extend_from_slice(body);
        f
    }

    fn who_has(target: &str) -> Vec<u8> {
        ArpEthIpv4Packet {
            operation: ArpOperation::REQUEST,
            sender_mac: CE,
            sender_ipv4: [192, 168, 100, 1],
            target_mac: [0; 6],
            target_ipv4: target.parse::<Ipv4Addr>().unwrap().octets(),
        }
        .to_bytes()
        .to_vec()
    }

    #[test]
    fn an_arp_request_for_the_msee_is_answered_on_the_peerings_vlan_and_teaches_the_ce_mac() {
        let mut p = port(Some(100));
        let mut out = Vec::new();
        let req = frame(
            BROADCAST,
            Some(100),
            EtherType::ARP,
            &who_has("192.168.100.2"),
        );
        assert_eq!(p.ingress(&req, &mut out), Ingress::Reply);
        assert_eq!(p.ce_mac, Some(CE));
        // Tagged 100, to the CE, from the MSEE's MAC, with the MSEE's MAC for .2.
        let eth = Ethernet2HeaderSlice::from_slice(&out).unwrap();
        assert_eq!((eth.destination(), eth.source()), (CE, MSEE));
        assert_eq!(eth.ether_type(), EtherType::VLAN_TAGGED_FRAME);
        let v = SingleVlanHeaderSlice::from_slice(&out[14..]).unwrap();
        assert_eq!(v.vlan_identifier().value(), 100);
        assert_eq!(v.ether_type(), EtherType::ARP);
        let arp = ArpPacketSlice::from_slice(&out[18..])
            .unwrap()
            .to_packet()
            .try_eth_ipv4()
            .unwrap();
        assert_eq!(arp.operation, ArpOperation::REPLY);
        assert_eq!(arp.sender_mac, MSEE);
        assert_eq!(arp.sender_ipv4, [192, 168, 100, 2]);
        assert_eq!(arp.target_mac, CE);
        // For another address: not answered.
        let other = frame(
            BROADCAST,
            Some(100),
            EtherType::ARP,
            &who_has("192.168.100.3"),
        );
        assert_eq!(
            p.ingress(&other, &mut out),
            Ingress::Drop(LinkDrop::ArpNotForUs)
        );
    }

    #[test]
    fn frames_off_the_peerings_vlan_are_dropped_by_reason() {
        let ip = [0x45u8; 20];
        let mut out = Vec::new();
        let mut tagged = port(Some(100));
        for (tag, why) in [(None, LinkDrop::Untagged), (Some(200), LinkDrop::WrongVlan)] {
            let f = frame(MSEE, tag, EtherType::IPV4, &ip);
            assert_eq!(tagged.ingress(&f, &mut out), Ingress::Drop(why));
        }
        assert_eq!(tagged.ce_mac, None, "nothing learned from a dropped frame");
        let mut untagged = port(None);
        let f = frame(MSEE, Some(100), EtherType::IPV4, &ip);
        assert_eq!(
            untagged.ingress(&f, &mut out),
            Ingress::Drop(LinkDrop::WrongVlan)
        );
        // Another MAC, another type, a truncated tag.
        let f = frame([2, 0, 0, 0, 0, 9], Some(100), EtherType::IPV4, &ip);
        assert_eq!(
            tagged.ingress(&f, &mut out),
            Ingress::Drop(LinkDrop::NotForUs)
        );
        let f = frame(MSEE, Some(100), EtherType(0x88cc), &ip);
        assert_eq!(
            tagged.ingress(&f, &mut out),
            Ingress::Drop(LinkDrop::OtherType)
        );
        let f = frame(MSEE, Some(100), EtherType::IPV4, &ip);
        assert_eq!(
            tagged.ingress(&f[..16], &mut out),
            Ingress::Drop(LinkDrop::Malformed)
        );
        assert_eq!(
            tagged.ingress(&f[..10], &mut out),
            Ingress::Drop(LinkDrop::Malformed)
        );
    }

    /// A neighbour solicitation from the CE's fd00:100::1 for `target`, as a frame to its
    /// solicited-node multicast MAC on VLAN 100.
    fn solicit(target: &str) -> Vec<u8> {
        let t: Ipv6Addr = target.parse().unwrap();
        let o = t.octets();
        let mut body = vec![0u8; 4];
        body.extend_from_slice(&o);
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(&CE);
        let mut ip = Vec::new();
        PacketBuilder::ipv6(
            "fd00:100::1".parse::<Ipv6Addr>().unwrap().octets(),
            [
                0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
            ],
            255,
        )
        .icmpv6(Icmpv6Type::Unknown {
            type_u8: 135,
            code_u8: 0,
            bytes5to8: [0; 4],
        })
        .write(&mut ip, &body[4..])
        .unwrap();
        frame(
            [0x33, 0x33, 0xff, o[13], o[14], o[15]],
            Some(100),
            EtherType::IPV6,
            &ip,
        )
    }

    #[test]
    fn a_neighbour_solicitation_for_the_msee_is_advertised_with_its_mac() {
        let mut p = port(Some(100)).with_v6(vec!["fd00:100::2".parse().unwrap()]);
        let mut out = Vec::new();
        assert_eq!(p.ingress(&solicit("fd00:100::2"), &mut out), Ingress::Reply);
        assert_eq!(p.ce_mac, Some(CE));
        // To the CE, tagged, IPv6 from the MSEE's address to the CE's.
        assert_eq!(&out[..6], &CE);
        assert_eq!(&out[6..12], &MSEE);
        assert_eq!(&out[12..18], &[0x81, 0x00, 0x00, 100, 0x86, 0xdd]);
        let ip = &out[18..];
        let h = Ipv6HeaderSlice::from_slice(ip).unwrap();
        assert_eq!(h.hop_limit(), 255);
        assert_eq!(h.source_addr(), "fd00:100::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            h.destination_addr(),
            "fd00:100::1".parse::<Ipv6Addr>().unwrap()
        );
        let icmp = &ip[40..];
        assert_eq!(icmp[0], 136, "neighbour advertisement");
        assert_eq!(icmp[4], 0xe0, "router, solicited, override");
        assert_eq!(&icmp[8..24], &h.source_addr().octets());
        assert_eq!(&icmp[24..26], &[2, 1], "target link-layer address");
        assert_eq!(&icmp[26..32], &MSEE);
        // The checksum covers the pseudo-header: the sum over it and the message is zero.
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&ip[8..40]);
        pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 58]);
        pseudo.extend_from_slice(icmp);
        assert_eq!(crate::engine::wire::checksum(&pseudo), 0);
        // For another address: not the MSEE's to answer.
        assert_eq!(
            p.ingress(&solicit("fd00:100::3"), &mut out),
            Ingress::Drop(LinkDrop::NotForUs)
        );
    }

    #[test]
    fn ip_goes_to_the_engine_and_back_to_the_learned_ce_tagged() {
        let mut p = port(Some(100));
        let mut out = Vec::new();
        let ip = {
            let mut b = [0u8; 20];
            b[0] = 0x45;
            b
        };
        // Before the CE is known: an ARP request for it, not the packet.
        assert!(!p.egress(&ip, &mut out));
        let eth = Ethernet2HeaderSlice::from_slice(&out).unwrap();
        assert_eq!(eth.destination(), BROADCAST);
        let arp = ArpPacketSlice::from_slice(&out[18..])
            .unwrap()
            .to_packet()
            .try_eth_ipv4()
            .unwrap();
        assert_eq!(arp.operation, ArpOperation::REQUEST);
        assert_eq!(arp.target_ipv4, [192, 168, 100, 1]);
        // A packet from the CE: its IP starts after the tag, and the CE's MAC is learned.
        let f = frame(MSEE, Some(100), EtherType::IPV4, &ip);
        assert_eq!(p.ingress(&f, &mut out), Ingress::Ip { offset: 18 });
        assert!(p.egress(&ip, &mut out));
        assert_eq!(&out[..6], &CE);
        assert_eq!(&out[12..14], &[0x81, 0x00]);
        assert_eq!(&out[16..18], &[0x08, 0x00]);
        assert_eq!(out.len(), 18, "the header only: the packet follows it");
        // Untagged port: IPv6 straight after the Ethernet header.
        let mut u = port(None);
        u.ce_mac = Some(CE);
        let v6 = [0x60u8; 40];
        assert!(u.egress(&v6, &mut out));
        assert_eq!(&out[12..14], &[0x86, 0xdd]);
        assert_eq!(out.len(), 14);
    }
}
