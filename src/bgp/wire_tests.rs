//! Messages through the wire format: round trips, literal bytes, and the NOTIFICATION each
//! kind of bad input earns.

use super::*;

fn framed(bytes: &[u8]) -> Result<Vec<u8>, Notification> {
    let mut f = Framer::default();
    f.push(bytes);
    f.next_message().expect("a whole message")
}

fn roundtrip(m: &Message) -> Message {
    let bytes = encode(m, true);
    decode(&framed(&bytes).unwrap(), true).unwrap()
}

fn open() -> Open {
    Open {
        asn: 12076,
        hold_time: 180,
        bgp_id: "192.168.100.2".parse().unwrap(),
        four_octet_as: true,
        ipv4_unicast: true,
        ipv6_unicast: true,
        route_refresh: true,
    }
}

#[test]
fn open_keepalive_notification_refresh_round_trip() {
    let o = Message::Open(open());
    assert_eq!(roundtrip(&o), o);
    let big = Message::Open(Open {
        asn: 4_200_000_001,
        ..open()
    });
    assert_eq!(roundtrip(&big), big);
    assert_eq!(roundtrip(&Message::Keepalive), Message::Keepalive);
    let n = Message::Notification(Notification::new(6, 1, [0, 1, 1, 0, 0, 15, 160]));
    assert_eq!(roundtrip(&n), n);
    let r = Message::RouteRefresh { ipv6: true };
    assert_eq!(roundtrip(&r), r);
    assert_eq!(encode(&Message::Keepalive, true).len(), 19);
}

#[test]
fn updates_round_trip_in_both_families() {
    let u = Message::Update(Update {
        withdrawn: vec![
            "10.9.0.0/16".parse().unwrap(),
            "fd00:9::/64".parse().unwrap(),
        ],
        announced: vec![
            "10.0.1.0/24".parse().unwrap(),
            "10.0.5.7/32".parse().unwrap(),
            "fd00:1::/64".parse().unwrap(),
        ],
        attributes: Some(Attributes {
            origin: 0,
            as_path: vec![12076, 65002],
            next_hop: Some("192.168.100.2".parse().unwrap()),
            med: Some(5),
            local_pref: None,
            communities: vec![(12076, 12077)],
        }),
    });
    let back = roundtrip(&u);
    let (Message::Update(a), Message::Update(b)) = (&u, &back) else {
        panic!()
    };
    let sorted = |v: &[IpNet]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    assert_eq!(sorted(&a.withdrawn), sorted(&b.withdrawn));
    assert_eq!(sorted(&a.announced), sorted(&b.announced));
    let ba = b.attributes.as_ref().unwrap();
    assert_eq!(ba.as_path, [12076, 65002]);
    assert_eq!(ba.communities, [(12076, 12077)]);
    assert_eq!(ba.med, Some(5));
    // A withdrawal alone carries no attributes.
    let w = Message::Update(Update {
        withdrawn: vec!["10.0.1.0/24".parse().unwrap()],
        ..Default::default()
    });
    assert_eq!(roundtrip(&w), w);
    // Two-octet AS_PATH when 4-octet ASNs were not negotiated.
    let bytes = encode(&u, false);
    let Message::Update(two) = decode(&framed(&bytes).unwrap(), false).unwrap() else {
        panic!()
    };
    assert_eq!(two.attributes.unwrap().as_path, [12076, 65002]);
}

#[test]
fn a_literal_open_from_another_implementation() {
    // netgauze's documented OPEN: AS 100, hold 180, id 5.5.5.5, 4-octet AS 100.
    let bytes = [
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 83, 1,
        4, 0, 100, 0, 180, 5, 5, 5, 5, 54, 2, 6, 1, 4, 0, 1, 0, 1, 2, 6, 1, 4, 0, 1, 0, 128, 2, 2,
        128, 0, 2, 2, 2, 0, 2, 6, 65, 4, 0, 0, 0, 100, 2, 20, 5, 18, 0, 1, 0, 1, 0, 2, 0, 1, 0, 2,
        0, 2, 0, 1, 0, 128, 0, 2,
    ];
    let Message::Open(o) = decode(&framed(&bytes).unwrap(), true).unwrap() else {
        panic!()
    };
    assert_eq!((o.asn, o.hold_time), (100, 180));
    assert_eq!(o.bgp_id, Ipv4Addr::new(5, 5, 5, 5));
    assert!(o.four_octet_as && o.ipv4_unicast && o.route_refresh && !o.ipv6_unicast);
}

#[test]
fn bad_input_earns_the_right_notification() {
    let ka = encode(&Message::Keepalive, true);
    // Header: marker, length, type.
    let mut m = ka.clone();
    m[3] = 0;
    assert_eq!(framed(&m), Err(Notification::new(1, 1, [])));
    let mut m = ka.clone();
    m[17] = 18;
    assert_eq!(framed(&m), Err(Notification::new(1, 2, [0, 18])));
    let mut m = ka.clone();
    m[17] = 20;
    m.push(0);
    assert_eq!(framed(&m), Err(Notification::new(1, 2, [0, 20])));
    let mut m = ka.clone();
    m[18] = 9;
    assert_eq!(framed(&m), Err(Notification::new(1, 3, [9])));
    // OPEN's fixed fields.
    let o = encode(&Message::Open(open()), true);
    let mut m = o.clone();
    m[19] = 3;
    assert_eq!(decode(&m, true), Err(Notification::new(2, 1, [0, 4])));
    let mut m = o.clone();
    m[23] = 2;
    m[22] = 0;
    assert_eq!(decode(&m, true), Err(Notification::new(2, 6, [])));
    let mut m = o.clone();
    m[24..28].copy_from_slice(&[0, 0, 0, 0]);
    assert_eq!(decode(&m, true), Err(Notification::new(2, 3, [])));
    let mut m = o.clone();
    m[28] = 200; // optional parameters longer than the message
    assert_eq!(decode(&m, true).unwrap_err().code, 2);
    // UPDATE: an announcement without NEXT_HOP, and a garbled body.
    let u = Update {
        announced: vec!["10.0.1.0/24".parse().unwrap()],
        attributes: Some(Attributes {
            as_path: vec![65001],
            next_hop: None,
            ..Default::default()
        }),
        ..Default::default()
    };
    let bytes = encode(&Message::Update(u), true);
    assert_eq!(
        decode(&framed(&bytes).unwrap(), true),
        Err(Notification::new(3, 3, [3]))
    );
    let mut m = bytes.clone();
    m[19] = 0xff; // withdrawn length beyond the message
    assert_eq!(decode(&m, true), Err(Notification::new(3, 1, [])));
    assert_eq!(
        Notification::new(6, 1, []).describe(),
        "Cease/Maximum Number of Prefixes Reached (6/1)"
    );
}

#[test]
fn the_framer_waits_for_whole_messages_and_splits_a_stream() {
    let mut f = Framer::default();
    let a = encode(&Message::Keepalive, true);
    let b = encode(&Message::Open(open()), true);
    let mut stream = a.clone();
    stream.extend(&b);
    f.push(&stream[..10]);
    assert!(f.next_message().is_none());
    f.push(&stream[10..25]);
    assert_eq!(f.next_message(), Some(Ok(a)));
    assert!(f.next_message().is_none());
    f.push(&stream[25..]);
    assert_eq!(f.next_message(), Some(Ok(b)));
    assert!(f.next_message().is_none());
}
