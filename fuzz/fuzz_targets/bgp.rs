//! BGP bytes into an MSEE's session: whatever arrives, nothing panics; a session that ends
//! because of what it read says why with a NOTIFICATION it sent (or one it received); a
//! second session beside it is untouched (IPv4 and IPv6: MP_REACH / MP_UNREACH, with a
//! dictionary in fuzz/dicts/bgp.dict). The fuzzed session is, as in the lab, one family's:
//! IPv4 or IPv6 as the input's first byte says, and it never holds the other family's routes.
//! Also feeds the message decoder directly, and BFD datagrams to an MSEE's BFD session that is
//! Up (a discarded one changes nothing; the datagram is the same over IPv4 and IPv6).

#![no_main]

use std::collections::BTreeMap;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use reachlab::bfd;
use reachlab::bgp::session::{Config, Direction, Event, Session, State};
use reachlab::bgp::wire::{self, Attributes, Framer, Message, Update};

fn customer() -> Config {
    Config {
        local_asn: 65001,
        local_id: "192.168.100.1".parse().unwrap(),
        peer_asn: Some(12076),
        hold_time: 9,
        ipv4: true,
        ipv6: true,
        prefix_limit: [None, None],
        prefix_limit_restart: Duration::from_secs(60),
        allowas_in: 0,
    }
}

fn pump(a: &mut Session, b: &mut Session, now: Duration) {
    for _ in 0..64 {
        let (x, y) = (a.transmit(), b.transmit());
        if x.is_empty() && y.is_empty() {
            return;
        }
        b.receive(now, &x);
        a.receive(now, &y);
    }
}

/// A customer and an MSEE's session for one family (`ipv6`), Established.
fn established(ipv6: bool) -> (Session, Session) {
    let mut msee = Config::msee("192.168.100.2".parse().unwrap(), 65001, false).only(ipv6);
    msee.prefix_limit = [Some(50), Some(10)];
    let (mut a, mut b) = (Session::new(customer()), Session::new(msee));
    a.connected(Duration::ZERO);
    b.connected(Duration::ZERO);
    pump(&mut a, &mut b, Duration::ZERO);
    assert_eq!(b.state(), State::Established);
    (a, b)
}

/// An MSEE's BFD session brought Up by an active peer.
fn bfd_up() -> bfd::Session {
    let mut msee = bfd::Session::new(bfd::Config::msee(1));
    let mut peer = bfd::Session::new(bfd::Config {
        passive: false,
        ..bfd::Config::msee(2)
    });
    for step in 0..300 {
        let now = Duration::from_millis(step * 10);
        peer.handle_timeout(now);
        msee.handle_timeout(now);
        while let Some(p) = peer.poll_transmit() {
            msee.receive(now, &p);
        }
        while let Some(p) = msee.poll_transmit() {
            peer.receive(now, &p);
        }
    }
    assert_eq!(msee.state(), bfd::State::Up);
    msee
}

fuzz_target!(|data: &[u8]| {
    let mut b = bfd_up();
    for (i, chunk) in data.chunks(24 + data.len() % 8).enumerate() {
        let (state, discarded) = (b.state(), b.counters().discarded);
        b.receive(Duration::from_millis(3000 + i as u64), chunk);
        if b.counters().discarded > discarded {
            assert_eq!(b.state(), state, "a discarded datagram changed the state");
        }
    }
    // The decoder alone, on framed pieces of the input.
    let mut f = Framer::default();
    f.push(data);
    while let Some(Ok(m)) = f.next_message() {
        let _ = wire::decode(&m, true);
        let _ = wire::decode(&m, false);
    }

    let v6 = data.first().is_some_and(|b| b & 1 == 1);
    let (_, mut msee) = established(v6);
    let (mut other_cust, mut other) = established(false);
    let mut routes = BTreeMap::new();
    routes.insert(
        "10.0.1.0/24".parse().unwrap(),
        Attributes {
            as_path: vec![65001],
            next_hop: Some("192.168.100.1".parse().unwrap()),
            ..Default::default()
        },
    );
    other_cust.advertise(routes);
    pump(&mut other_cust, &mut other, Duration::ZERO);
    let other_before = other.received().clone();
    while msee.poll_event().is_some() {}

    let mut now = Duration::ZERO;
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        let n = (tail.first().copied().unwrap_or(0) as usize).min(tail.len());
        let (chunk, tail) = tail.split_at(n);
        rest = tail;
        let before = msee.state();
        match op % 4 {
            // Raw bytes, as a peer could send them.
            0 => msee.receive(now, chunk),
            // A well-framed UPDATE built from the bytes: prefixes (of either family, as the
            // byte says: IPv6 in MP_REACH) and a path.
            1 => {
                let prefixes = chunk
                    .chunks(5)
                    .filter(|c| c.len() == 5)
                    .filter_map(|c| {
                        if c[4] & 0x80 == 0 {
                            let len = c[4] % 33;
                            let a = std::net::Ipv4Addr::new(c[0], c[1], c[2], c[3]);
                            ipnet::Ipv4Net::new(a, len)
                                .ok()
                                .map(|n| ipnet::IpNet::V4(n.trunc()))
                        } else {
                            let len = (c[4] & 0x7f) % 129;
                            let a = std::net::Ipv6Addr::new(
                                0xfd00,
                                u16::from_be_bytes([c[0], c[1]]),
                                u16::from_be_bytes([c[2], c[3]]),
                                0,
                                0,
                                0,
                                0,
                                0,
                            );
                            ipnet::Ipv6Net::new(a, len)
                                .ok()
                                .map(|n| ipnet::IpNet::V6(n.trunc()))
                        }
                    })
                    .collect::<Vec<_>>();
                let path: Vec<u32> = chunk
                    .iter()
                    .take(4)
                    .map(|b| 65000 + u32::from(*b))
                    .collect();
                let m = Message::Update(Update {
                    withdrawn: prefixes.iter().take(chunk.len() % 3).copied().collect(),
                    announced: prefixes,
                    attributes: Some(Attributes {
                        as_path: path,
                        next_hop: Some("192.168.100.1".parse().unwrap()),
                        ..Default::default()
                    }),
                });
                msee.receive(now, &wire::encode(&m, true));
            }
            // Time passes: timers fire.
            2 => {
                now += Duration::from_millis(u64::from(chunk.first().copied().unwrap_or(1)) * 50);
                msee.handle_timeout(now);
            }
            // The transport comes and goes.
            _ => {
                if msee.state() == State::Idle {
                    msee.connected(now);
                } else {
                    msee.transport_closed(now);
                }
            }
        }
        msee.transmit();
        while let Some(e) = msee.poll_event() {
            if let Event::Down {
                notification,
                reason,
            } = &e
            {
                // Only a session that was up can go down, and it says why.
                assert_ne!(before, State::Idle, "{reason}");
                if op % 4 < 2 {
                    assert!(
                        matches!(
                            notification,
                            Some((Direction::Sent | Direction::Received, _))
                        ),
                        "bytes that end a session earn a NOTIFICATION: {reason}"
                    );
                }
            }
        }
        if msee.state() == State::Established {
            assert!(msee.received().len() <= 60);
        }
        // One family's session holds that family's routes only.
        assert!(
            msee.received()
                .keys()
                .all(|p| matches!(p, ipnet::IpNet::V6(_)) == v6),
            "a {} session took the other family's routes",
            if v6 { "IPv6" } else { "IPv4" }
        );
    }
    assert_eq!(other.state(), State::Established);
    assert_eq!(other.received(), &other_before);
});
