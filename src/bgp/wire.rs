//! BGP messages on the wire (RFC 4271 section 4): framing a byte stream into messages, checking
//! what a NOTIFICATION must answer (header, OPEN's fixed fields, UPDATE's well-known
//! attributes), and our typed view of each message. The encodings of OPEN, UPDATE, KEEPALIVE and
//! ROUTE-REFRESH are netgauze-bgp-pkt's; NOTIFICATION is a code, a subcode and data, framed
//! here. Every parse error is a `Notification` with the code and subcode RFC 4271 gives it.

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use netgauze_bgp_pkt::capabilities::{
    BgpCapability, FourOctetAsCapability, MultiProtocolExtensionsCapability,
};
use netgauze_bgp_pkt::community::Community;
use netgauze_bgp_pkt::iana::RouteRefreshSubcode;
use netgauze_bgp_pkt::nlri::{Ipv4Unicast, Ipv4UnicastAddress, Ipv6Unicast, Ipv6UnicastAddress};
use netgauze_bgp_pkt::open::{BgpOpenMessage, BgpOpenMessageParameter};
use netgauze_bgp_pkt::path_attribute::{
    As4PathSegment, AsPath, AsPathSegmentType, Communities, LocalPreference, MpReach, MpUnreach,
    MultiExitDiscriminator, NextHop, Origin, PathAttribute, PathAttributeValue,
};
use netgauze_bgp_pkt::route_refresh::BgpRouteRefreshMessage;
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_iana::address_family::AddressType;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use netgauze_parse_utils::WritablePdu;

/// Header: 16-byte marker, 2-byte length, 1-byte type.
pub const HEADER_LEN: usize = 19;
/// Largest message (RFC 4271; no extended messages).
pub const MAX_LEN: usize = 4096;
/// AS_TRANS (RFC 6793), in OPEN's 2-octet field when the ASN needs 4 octets.
pub const AS_TRANS: u16 = 23456;

const OPEN: u8 = 1;
const UPDATE: u8 = 2;
const NOTIFICATION: u8 = 3;
const KEEPALIVE: u8 = 4;
const ROUTE_REFRESH: u8 = 5;

/// A NOTIFICATION: error code, subcode and data (RFC 4271 section 4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

/// The NOTIFICATIONs the MSEE sends, as (error code, subcode) with their RFC names.
pub mod notify {
    /// Message Header Error / Connection Not Synchronized (RFC 4271 6.1).
    pub const CONNECTION_NOT_SYNCHRONIZED: (u8, u8) = (1, 1);
    /// OPEN Message Error / Bad Peer AS (RFC 4271 6.2).
    pub const BAD_PEER_AS: (u8, u8) = (2, 2);
    /// OPEN Message Error / Bad BGP Identifier (RFC 4271 6.2).
    pub const BAD_BGP_IDENTIFIER: (u8, u8) = (2, 3);
    /// UPDATE Message Error / Malformed AS_PATH (RFC 4271 6.3).
    pub const MALFORMED_AS_PATH: (u8, u8) = (3, 11);
    /// Hold Timer Expired (RFC 4271 6.5).
    pub const HOLD_TIMER_EXPIRED: (u8, u8) = (4, 0);
    /// Finite State Machine Error / Receive Unexpected Message in OpenSent State (RFC 6608).
    pub const FSM_UNEXPECTED_IN_OPENSENT: (u8, u8) = (5, 1);
    /// Finite State Machine Error / Receive Unexpected Message in OpenConfirm State (RFC 6608).
    pub const FSM_UNEXPECTED_IN_OPENCONFIRM: (u8, u8) = (5, 2);
    /// Finite State Machine Error / Receive Unexpected Message in Established State (RFC 6608).
    pub const FSM_UNEXPECTED_IN_ESTABLISHED: (u8, u8) = (5, 3);
    /// Cease / Maximum Number of Prefixes Reached (RFC 4486).
    pub const MAXIMUM_PREFIXES: (u8, u8) = (6, 1);
    /// Cease / Connection Rejected (RFC 4486).
    pub const CONNECTION_REJECTED: (u8, u8) = (6, 5);
    /// Cease / BFD Down (RFC 9384).
    pub const BFD_DOWN: (u8, u8) = (6, 10);
}

impl Notification {
    /// A NOTIFICATION of one of `notify`'s kinds, with `data`.
    pub fn of((code, subcode): (u8, u8), data: impl Into<Vec<u8>>) -> Self {
        Notification::new(code, subcode, data)
    }

    pub fn new(code: u8, subcode: u8, data: impl Into<Vec<u8>>) -> Self {
        Notification {
            code,
            subcode,
            data: data.into(),
        }
    }

    /// What routers print: "Cease/Maximum Number of Prefixes Reached (6/1)".
    pub fn describe(&self) -> String {
        let (code, sub) = names(self.code, self.subcode);
        format!("{code}/{sub} ({}/{})", self.code, self.subcode)
    }
}

/// Names of NOTIFICATION codes and subcodes (RFC 4271, 4486, 6608, 7313, 8203).
fn names(code: u8, sub: u8) -> (&'static str, &'static str) {
    let c = match code {
        1 => "Message Header Error",
        2 => "OPEN Message Error",
        3 => "UPDATE Message Error",
        4 => "Hold Timer Expired",
        5 => "Finite State Machine Error",
        6 => "Cease",
        7 => "ROUTE-REFRESH Message Error",
        _ => "Unknown Error",
    };
    let s = match (code, sub) {
        (_, 0) => "Unspecific",
        (1, 1) => "Connection Not Synchronized",
        (1, 2) => "Bad Message Length",
        (1, 3) => "Bad Message Type",
        (2, 1) => "Unsupported Version Number",
        (2, 2) => "Bad Peer AS",
        (2, 3) => "Bad BGP Identifier",
        (2, 4) => "Unsupported Optional Parameter",
        (2, 6) => "Unacceptable Hold Time",
        (2, 7) => "Unsupported Capability",
        (3, 1) => "Malformed Attribute List",
        (3, 2) => "Unrecognized Well-known Attribute",
        (3, 3) => "Missing Well-known Attribute",
        (3, 4) => "Attribute Flags Error",
        (3, 5) => "Attribute Length Error",
        (3, 6) => "Invalid ORIGIN Attribute",
        (3, 8) => "Invalid NEXT_HOP Attribute",
        (3, 9) => "Optional Attribute Error",
        (3, 10) => "Invalid Network Field",
        (3, 11) => "Malformed AS_PATH",
        (5, 1) => "Receive Unexpected Message in OpenSent State",
        (5, 2) => "Receive Unexpected Message in OpenConfirm State",
        (5, 3) => "Receive Unexpected Message in Established State",
        (6, 1) => "Maximum Number of Prefixes Reached",
        (6, 2) => "Administrative Shutdown",
        (6, 3) => "Peer De-configured",
        (6, 4) => "Administrative Reset",
        (6, 5) => "Connection Rejected",
        (6, 6) => "Other Configuration Change",
        (6, 7) => "Connection Collision Resolution",
        (6, 8) => "Out of Resources",
        (6, 10) => "BFD Down",
        (7, 1) => "Invalid Message Length",
        _ => "Unknown Subcode",
    };
    (c, s)
}

/// An OPEN, as far as a session needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The speaker's ASN (from the 4-octet AS capability when present).
    pub asn: u32,
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    pub four_octet_as: bool,
    pub ipv4_unicast: bool,
    pub ipv6_unicast: bool,
    pub route_refresh: bool,
}

/// Path attributes of the routes an UPDATE announces: the plane's own route attributes,
/// encoded and decoded here.
pub use crate::plane::route::Attributes;

/// An UPDATE: what is withdrawn and what is announced (IPv4 in the body, IPv6 in
/// MP_REACH / MP_UNREACH).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    pub withdrawn: Vec<IpNet>,
    pub announced: Vec<IpNet>,
    /// Present when `announced` is not empty.
    pub attributes: Option<Attributes>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    /// A route refresh request for an address family (IPv6 when true).
    RouteRefresh {
        ipv6: bool,
    },
}

/// Splits a TCP byte stream into messages. A bad header ends the stream: the error is the
/// NOTIFICATION to send.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message's bytes, if one has arrived.
    pub fn next_message(&mut self) -> Option<Result<Vec<u8>, Notification>> {
        if self.buf.len() < HEADER_LEN {
            return None;
        }
        if self.buf[..16].iter().any(|&b| b != 0xff) {
            return Some(Err(Notification::new(1, 1, [])));
        }
        let len = u16::from_be_bytes([self.buf[16], self.buf[17]]) as usize;
        let kind = self.buf[18];
        let min = match kind {
            OPEN => 29,
            UPDATE => 23,
            NOTIFICATION => 21,
            KEEPALIVE => 19,
            ROUTE_REFRESH => 23,
            _ => return Some(Err(Notification::new(1, 3, [kind]))),
        };
        if len < min || len > MAX_LEN || (kind == KEEPALIVE && len != HEADER_LEN) {
            return Some(Err(Notification::new(1, 2, (len as u16).to_be_bytes())));
        }
        if self.buf.len() < len {
            return None;
        }
        let msg: Vec<u8> = self.buf.drain(..len).collect();
        Some(Ok(msg))
    }
}

/// Decodes one framed message (`Framer` checked its header). `asn4`: whether the peer and we
/// both negotiated 4-octet ASNs (decides how AS_PATH is read).
pub fn decode(msg: &[u8], asn4: bool) -> Result<Message, Notification> {
    let kind = msg[18];
    match kind {
        KEEPALIVE => Ok(Message::Keepalive),
        NOTIFICATION => Ok(Message::Notification(Notification::new(
            msg[19],
            msg[20],
            &msg[21..],
        ))),
        OPEN => decode_open(msg),
        UPDATE => decode_update(msg, asn4),
        ROUTE_REFRESH => {
            let afi = u16::from_be_bytes([msg[19], msg[20]]);
            if msg.len() != 23 {
                return Err(Notification::new(7, 1, msg[19..].to_vec()));
            }
            Ok(Message::RouteRefresh { ipv6: afi == 2 })
        }
        _ => Err(Notification::new(1, 3, [kind])),
    }
}

fn parse(msg: &[u8], asn4: bool) -> Option<BgpMessage> {
    let mut ctx = BgpParsingContext::default();
    ctx.set_asn4(asn4);
    BgpMessage::parse(&mut SliceReader::new(msg), &mut ctx).ok()
}

fn decode_open(msg: &[u8]) -> Result<Message, Notification> {
    // The fixed fields first: each has its own NOTIFICATION.
    if msg[19] != 4 {
        return Err(Notification::new(2, 1, 4u16.to_be_bytes()));
    }
    let hold_time = u16::from_be_bytes([msg[22], msg[23]]);
    if hold_time == 1 || hold_time == 2 {
        return Err(Notification::new(2, 6, []));
    }
    let bgp_id = Ipv4Addr::new(msg[24], msg[25], msg[26], msg[27]);
    if bgp_id.is_unspecified() || bgp_id.is_broadcast() || bgp_id.is_multicast() {
        return Err(Notification::new(2, 3, []));
    }
    let Some(BgpMessage::Open(open)) = parse(msg, true) else {
        return Err(Notification::new(2, 0, []));
    };
    let caps = open.capabilities();
    let mp = |t: AddressType| {
        caps.iter().any(
            |c| matches!(c, BgpCapability::MultiProtocolExtensions(m) if m.address_type() == t),
        )
    };
    let any_mp = caps
        .iter()
        .any(|c| matches!(c, BgpCapability::MultiProtocolExtensions(_)));
    let four = caps.iter().find_map(|c| match c {
        BgpCapability::FourOctetAs(f) => Some(f.asn4()),
        _ => None,
    });
    Ok(Message::Open(Open {
        asn: four.unwrap_or(u32::from(open.my_as())),
        hold_time,
        bgp_id,
        four_octet_as: four.is_some(),
        // Without multiprotocol capabilities a speaker does IPv4 unicast only (RFC 4760).
        ipv4_unicast: !any_mp || mp(AddressType::Ipv4Unicast),
        ipv6_unicast: mp(AddressType::Ipv6Unicast),
        route_refresh: caps.iter().any(|c| {
            matches!(
                c,
                BgpCapability::RouteRefresh | BgpCapability::CiscoRouteRefresh
            )
        }),
    }))
}

fn decode_update(msg: &[u8], asn4: bool) -> Result<Message, Notification> {
    let Some(BgpMessage::Update(u)) = parse(msg, asn4) else {
        return Err(Notification::new(3, 1, []));
    };
    let mut out = Update {
        withdrawn: u
            .withdraw_routes()
            .iter()
            .map(|a| IpNet::V4(a.network().address()))
            .collect(),
        announced: u
            .nlri()
            .iter()
            .map(|a| IpNet::V4(a.network().address()))
            .collect(),
        attributes: None,
    };
    let mut a = Attributes::default();
    let (mut has_origin, mut has_path, mut has_next_hop) = (false, false, false);
    for attr in u.path_attributes() {
        match attr.value() {
            PathAttributeValue::Origin(o) => {
                has_origin = true;
                a.origin = *o as u8;
            }
            PathAttributeValue::AsPath(p) => {
                has_path = true;
                a.as_path = match p {
                    AsPath::As2PathSegments(s) => s
                        .iter()
                        .flat_map(|s| s.as_numbers().iter().map(|n| u32::from(*n)))
                        .collect(),
                    AsPath::As4PathSegments(s) => s
                        .iter()
                        .flat_map(|s| s.as_numbers().iter().copied())
                        .collect(),
                };
            }
            PathAttributeValue::NextHop(n) => {
                has_next_hop = true;
                a.next_hop = Some(IpAddr::V4(n.next_hop()));
            }
            PathAttributeValue::MultiExitDiscriminator(m) => a.med = Some(m.metric()),
            PathAttributeValue::LocalPreference(l) => a.local_pref = Some(l.metric()),
            PathAttributeValue::Communities(c) => {
                a.communities = c
                    .communities()
                    .iter()
                    .map(|c| ((c.value() >> 16) as u16, c.value() as u16))
                    .collect();
            }
            PathAttributeValue::MpReach(MpReach::Ipv6Unicast {
                next_hop_global,
                nlri,
                ..
            }) => {
                // With both families in one UPDATE the IPv4 NEXT_HOP is kept; IPv6 routes
                // from such a speaker are rare (FRR sends one family per UPDATE).
                a.next_hop.get_or_insert(IpAddr::V6(*next_hop_global));
                out.announced
                    .extend(nlri.iter().map(|n| IpNet::V6(n.network().address())));
            }
            PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast { nlri }) => {
                out.withdrawn
                    .extend(nlri.iter().map(|n| IpNet::V6(n.network().address())));
            }
            _ => {}
        }
    }
    if !out.announced.is_empty() {
        let has_v4 = out.announced.iter().any(|p| p.addr().is_ipv4());
        let missing = if !has_origin {
            Some(1u8)
        } else if !has_path {
            Some(2)
        } else if has_v4 && !has_next_hop {
            Some(3)
        } else {
            None
        };
        if let Some(t) = missing {
            return Err(Notification::new(3, 3, [t]));
        }
        out.attributes = Some(a);
    }
    Ok(Message::Update(out))
}

fn write(msg: &BgpMessage) -> Vec<u8> {
    let mut buf = Vec::new();
    msg.write(&mut Cursor::new(&mut buf))
        .expect("messages we build are valid");
    buf
}

/// Encodes a message. `asn4`: AS_PATH in 4-octet form (both sides negotiated it).
pub fn encode(m: &Message, asn4: bool) -> Vec<u8> {
    match m {
        Message::Keepalive => write(&BgpMessage::KeepAlive),
        Message::Notification(n) => {
            let len = HEADER_LEN + 2 + n.data.len();
            let mut v = vec![0xff; 16];
            v.extend_from_slice(&(len as u16).to_be_bytes());
            v.extend([NOTIFICATION, n.code, n.subcode]);
            v.extend_from_slice(&n.data);
            v
        }
        Message::RouteRefresh { ipv6 } => {
            write(&BgpMessage::RouteRefresh(BgpRouteRefreshMessage::new(
                if *ipv6 {
                    AddressType::Ipv6Unicast
                } else {
                    AddressType::Ipv4Unicast
                },
                RouteRefreshSubcode::NormalRequest,
            )))
        }
        Message::Open(o) => {
            let mut caps = vec![BgpCapability::FourOctetAs(FourOctetAsCapability::new(
                o.asn,
            ))];
            if o.ipv4_unicast {
                caps.push(BgpCapability::MultiProtocolExtensions(
                    MultiProtocolExtensionsCapability::new(AddressType::Ipv4Unicast),
                ));
            }
            if o.ipv6_unicast {
                caps.push(BgpCapability::MultiProtocolExtensions(
                    MultiProtocolExtensionsCapability::new(AddressType::Ipv6Unicast),
                ));
            }
            if o.route_refresh {
                caps.push(BgpCapability::RouteRefresh);
            }
            let two = u16::try_from(o.asn).unwrap_or(AS_TRANS);
            write(&BgpMessage::Open(BgpOpenMessage::new(
                two,
                o.hold_time,
                o.bgp_id,
                caps.into_iter()
                    .map(|c| BgpOpenMessageParameter::new_capabilities([c]))
                    .collect::<Vec<_>>(),
            )))
        }
        Message::Update(u) => write(&BgpMessage::Update(update_message(u, asn4))),
    }
}

fn attr(optional: bool, transitive: bool, v: PathAttributeValue) -> PathAttribute {
    PathAttribute::from(optional, transitive, false, false, v).expect("flags match the attribute")
}

fn update_message(u: &Update, asn4: bool) -> BgpUpdateMessage {
    let v4 = |p: &IpNet| match p {
        IpNet::V4(n) => Ipv4Unicast::from_net(*n)
            .ok()
            .map(Ipv4UnicastAddress::new_no_path_id),
        IpNet::V6(_) => None,
    };
    let v6 = |p: &IpNet| match p {
        IpNet::V6(n) => Ipv6Unicast::from_net(*n)
            .ok()
            .map(|n| Ipv6UnicastAddress::new(None, n)),
        IpNet::V4(_) => None,
    };
    let mut attrs = Vec::new();
    let withdrawn6: Vec<Ipv6UnicastAddress> = u.withdrawn.iter().filter_map(v6).collect();
    if !withdrawn6.is_empty() {
        attrs.push(attr(
            true,
            false,
            PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast {
                nlri: withdrawn6.into(),
            }),
        ));
    }
    let announced6: Vec<Ipv6UnicastAddress> = u.announced.iter().filter_map(v6).collect();
    let announced4: Vec<Ipv4UnicastAddress> = u.announced.iter().filter_map(v4).collect();
    if let Some(a) = &u.attributes {
        attrs.push(attr(
            false,
            true,
            PathAttributeValue::Origin(match a.origin {
                0 => Origin::IGP,
                1 => Origin::EGP,
                _ => Origin::Incomplete,
            }),
        ));
        let path = if asn4 {
            AsPath::As4PathSegments(
                if a.as_path.is_empty() {
                    vec![]
                } else {
                    vec![As4PathSegment::new(
                        AsPathSegmentType::AsSequence,
                        a.as_path.clone(),
                    )]
                }
                .into(),
            )
        } else {
            AsPath::As2PathSegments(
                if a.as_path.is_empty() {
                    vec![]
                } else {
                    vec![netgauze_bgp_pkt::path_attribute::As2PathSegment::new(
                        AsPathSegmentType::AsSequence,
                        a.as_path
                            .iter()
                            .map(|n| u16::try_from(*n).unwrap_or(AS_TRANS))
                            .collect::<Vec<_>>(),
                    )]
                }
                .into(),
            )
        };
        attrs.push(attr(false, true, PathAttributeValue::AsPath(path)));
        if let (false, Some(IpAddr::V4(h))) = (announced4.is_empty(), a.next_hop) {
            attrs.push(attr(
                false,
                true,
                PathAttributeValue::NextHop(NextHop::new(h)),
            ));
        }
        if let Some(m) = a.med {
            attrs.push(attr(
                true,
                false,
                PathAttributeValue::MultiExitDiscriminator(MultiExitDiscriminator::new(m)),
            ));
        }
        if let Some(l) = a.local_pref {
            attrs.push(attr(
                false,
                true,
                PathAttributeValue::LocalPreference(LocalPreference::new(l)),
            ));
        }
        if !a.communities.is_empty() {
            attrs.push(attr(
                true,
                true,
                PathAttributeValue::Communities(Communities::new(
                    a.communities
                        .iter()
                        .map(|(h, l)| Community::new((u32::from(*h) << 16) | u32::from(*l)))
                        .collect::<Vec<_>>(),
                )),
            ));
        }
        if !announced6.is_empty() {
            let global = match a.next_hop {
                Some(IpAddr::V6(h)) => h,
                // An IPv4 next hop for IPv6 routes: its IPv4-mapped form.
                Some(IpAddr::V4(h)) => h.to_ipv6_mapped(),
                None => std::net::Ipv6Addr::UNSPECIFIED,
            };
            attrs.push(attr(
                true,
                false,
                PathAttributeValue::MpReach(MpReach::Ipv6Unicast {
                    next_hop_global: global,
                    next_hop_local: None,
                    nlri: announced6.into(),
                }),
            ));
        }
    }
    BgpUpdateMessage::new(
        u.withdrawn.iter().filter_map(v4).collect::<Vec<_>>(),
        attrs,
        if u.attributes.is_some() {
            announced4
        } else {
            Vec::new()
        },
    )
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
