//! Arbitrary frames into an Ethernet circuit port's link layer (`engine::ether`), tagged and
//! untagged ports: nothing panics; an IP packet is handed on only from a frame on the
//! peering's VLAN addressed to the MSEE (or broadcast, or its solicited-node multicast); a
//! reply is an ARP reply or a neighbour advertisement from the MSEE's MAC for one of its
//! addresses, on the peering's VLAN; framing back to the CE never panics either.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reachlab::engine::ether::{EtherPort, Ingress};

const MSEE: [u8; 6] = [0x02, 0x12, 0x07, 0x06, 0x00, 0x02];

fuzz_target!(|data: &[u8]| {
    let Some((&first, frame)) = data.split_first() else {
        return;
    };
    let vlan = (first & 1 == 1).then_some(100u16);
    let mut port = EtherPort::new(
        MSEE,
        vlan,
        vec!["192.168.100.2".parse().unwrap()],
        "192.168.100.1".parse().unwrap(),
    )
    .with_v6(vec!["fd00:100::2".parse().unwrap()]);
    let mut out = Vec::new();
    // The tag the frame carries, as the port reads it.
    let tag = (frame.len() >= 18 && frame[12..14] == [0x81, 0x00])
        .then(|| u16::from_be_bytes([frame[14], frame[15]]) & 0x0fff);
    match port.ingress(frame, &mut out) {
        Ingress::Ip { offset } => {
            assert_eq!(tag, vlan, "IP from another VLAN handed on");
            assert!(frame[..6] == MSEE || frame[..6] == [0xff; 6], "not for us");
            assert!(offset <= frame.len());
        }
        Ingress::Reply => {
            assert_eq!(tag, vlan, "answered on another VLAN");
            assert_eq!(&out[6..12], &MSEE);
            let ty = if vlan.is_some() {
                &out[16..18]
            } else {
                &out[12..14]
            };
            if ty == [0x08, 0x06] {
                let arp = &out[out.len() - 28..];
                assert_eq!(&arp[6..8], &[0, 2], "an ARP reply");
                assert_eq!(&arp[14..18], &[192, 168, 100, 2], "for the MSEE's address");
            } else {
                assert_eq!(ty, [0x86, 0xdd], "ARP or IPv6");
                let ip = &out[out.len() - 72..];
                assert_eq!(ip[40], 136, "a neighbour advertisement");
                assert_eq!(
                    &ip[48..64],
                    &"fd00:100::2"
                        .parse::<std::net::Ipv6Addr>()
                        .unwrap()
                        .octets(),
                    "for the MSEE's address"
                );
            }
        }
        Ingress::Drop(_) => {}
    }
    port.egress(frame, &mut out);
});
