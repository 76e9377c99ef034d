//! Sessions in pairs, in memory: bytes handed across by the test, time on a virtual clock.

use super::*;

const S: Duration = Duration::from_secs(1);

fn customer(asn: u32, hold: u16) -> Config {
    Config {
        local_asn: asn,
        local_id: "192.168.100.1".parse().unwrap(),
        peer_asn: Some(12076),
        hold_time: hold,
        ipv4: true,
        ipv6: true,
        prefix_limit: [None, None],
        prefix_limit_restart: Duration::from_secs(60),
        allowas_in: 0,
    }
}

fn msee() -> Config {
    Config::msee("192.168.100.2".parse().unwrap(), 65001, false)
}

/// Hands bytes across until neither side has anything to say.
fn pump(a: &mut Session, b: &mut Session, now: Duration) {
    loop {
        let x = a.transmit();
        let y = b.transmit();
        if x.is_empty() && y.is_empty() {
            break;
        }
        b.receive(now, &x);
        a.receive(now, &y);
    }
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn up(a_cfg: Config, b_cfg: Config) -> (Session, Session) {
    let (mut a, mut b) = (Session::new(a_cfg), Session::new(b_cfg));
    a.connected(Duration::ZERO);
    b.connected(Duration::ZERO);
    pump(&mut a, &mut b, Duration::ZERO);
    assert_eq!(a.state(), State::Established);
    assert_eq!(b.state(), State::Established);
    (a, b)
}

fn attrs(path: &[u32]) -> Attributes {
    Attributes {
        as_path: path.to_vec(),
        next_hop: Some("192.168.100.1".parse().unwrap()),
        ..Default::default()
    }
}

fn routes(list: &[(&str, &[u32])]) -> BTreeMap<IpNet, Attributes> {
    list.iter()
        .map(|(p, path)| (p.parse().unwrap(), attrs(path)))
        .collect()
}

fn notification_sent(ev: &[Event]) -> Option<Notification> {
    ev.iter().find_map(|e| match e {
        Event::Down {
            notification: Some((Direction::Sent, n)),
            ..
        } => Some(n.clone()),
        _ => None,
    })
}

fn notification_received(ev: &[Event]) -> Option<Notification> {
    ev.iter().find_map(|e| match e {
        Event::Down {
            notification: Some((Direction::Received, n)),
            ..
        } => Some(n.clone()),
        _ => None,
    })
}

#[test]
fn open_negotiates_the_lower_hold_time_and_both_families() {
    let (mut a, mut b) = up(customer(65001, 9), msee());
    assert_eq!(a.hold_time(), 9 * S);
    assert_eq!(b.hold_time(), 9 * S);
    assert_eq!(b.peer().unwrap().asn, 65001);
    assert!(b.peer().unwrap().four_octet_as && b.peer().unwrap().ipv6_unicast);
    assert_eq!(events(&mut b), [Event::Established]);
    // Keepalives every hold/3 keep it up for as long as the test runs.
    let mut now = Duration::ZERO;
    for _ in 0..100 {
        now += S;
        a.handle_timeout(now);
        b.handle_timeout(now);
        pump(&mut a, &mut b, now);
    }
    assert_eq!(b.state(), State::Established);
    assert!(b.counters().messages_in > 30, "{:?}", b.counters());
}

#[test]
fn updates_and_withdrawals_reach_the_peer() {
    let (mut a, mut b) = up(customer(65001, 180), msee());
    events(&mut b);
    a.advertise(routes(&[
        ("10.0.1.0/24", &[65001]),
        ("10.0.9.9/32", &[65001]),
        ("fd00:1::/64", &[65001]),
    ]));
    pump(&mut a, &mut b, S);
    assert_eq!(events(&mut b), [Event::Routes]);
    let got: Vec<String> = b.received().keys().map(|p| p.to_string()).collect();
    assert_eq!(got, ["10.0.1.0/24", "10.0.9.9/32", "fd00:1::/64"]);
    assert_eq!(b.received().values().next().unwrap().as_path, [65001]);
    // Withdraw one, change another's path.
    a.advertise(routes(&[
        ("10.0.1.0/24", &[65001, 65001, 65001]),
        ("fd00:1::/64", &[65001]),
    ]));
    pump(&mut a, &mut b, 2 * S);
    assert_eq!(b.received().len(), 2);
    assert_eq!(
        b.received()[&"10.0.1.0/24".parse().unwrap()].as_path,
        [65001, 65001, 65001]
    );
    // Route refresh: the peer resends everything.
    let before = a.counters().updates_out;
    b.receive(3 * S, &[]);
    let rr = wire::encode(&Message::RouteRefresh { ipv6: false }, true);
    a.receive(3 * S, &rr);
    assert!(a.counters().updates_out > before);
    pump(&mut a, &mut b, 3 * S);
    assert_eq!(b.received().len(), 2);
}

#[test]
fn silence_past_the_hold_time_ends_the_session() {
    let (mut a, mut b) = up(customer(65001, 9), msee());
    events(&mut b);
    a.advertise(routes(&[("10.0.1.0/24", &[65001])]));
    pump(&mut a, &mut b, Duration::ZERO);
    assert_eq!(b.received().len(), 1);
    // The customer goes silent; the MSEE's keepalives go nowhere.
    let mut now = Duration::ZERO;
    while b.state() == State::Established {
        now = b.poll_timeout().unwrap();
        b.handle_timeout(now);
        b.transmit();
    }
    assert_eq!(now, 9 * S, "hold timer of 9 s");
    let ev = events(&mut b);
    assert_eq!(notification_sent(&ev), Some(Notification::new(4, 0, [])));
    assert!(
        ev.contains(&Event::Routes),
        "routes dropped with the session"
    );
    assert!(b.received().is_empty() && b.wants_close());
}

#[test]
fn the_prefix_limit_closes_the_session_and_holds_it_down_for_the_restart_delay() {
    let mut cfg = msee();
    cfg.prefix_limit = [Some(5), Some(100)];
    cfg.prefix_limit_restart = 10 * S;
    let (mut a, mut b) = up(customer(65001, 180), cfg);
    events(&mut b);
    let four: Vec<(String, &[u32])> = (0..4)
        .map(|i| (format!("10.0.{i}.0/24"), &[65001u32][..]))
        .collect();
    fn list<'a>(v: &'a [(String, &'a [u32])]) -> Vec<(&'a str, &'a [u32])> {
        v.iter().map(|(p, a)| (p.as_str(), *a)).collect()
    }
    a.advertise(routes(&list(&four)));
    pump(&mut a, &mut b, S);
    assert_eq!(
        events(&mut b),
        [
            Event::Routes,
            Event::PrefixWarning {
                ipv6: false,
                count: 4,
                limit: 5
            }
        ]
    );
    let six: Vec<(String, &[u32])> = (0..6)
        .map(|i| (format!("10.0.{i}.0/24"), &[65001u32][..]))
        .collect();
    a.advertise(routes(&list(&six)));
    pump(&mut a, &mut b, 2 * S);
    let n = Notification::new(6, 1, [0, 1, 1, 0, 0, 0, 5]);
    assert_eq!(notification_sent(&events(&mut b)), Some(n.clone()));
    assert_eq!(notification_received(&events(&mut a)), Some(n));
    assert_eq!((a.state(), b.state()), (State::Idle, State::Idle));
    assert!(b
        .last_error()
        .unwrap()
        .contains("6 IPv4 prefixes received, over the limit of 5"));
    // A new connection within the restart delay is refused.
    b.connected(5 * S);
    a.connected(5 * S);
    pump(&mut a, &mut b, 5 * S);
    assert_eq!(b.state(), State::Idle);
    assert_eq!(
        notification_received(&events(&mut a)),
        Some(Notification::new(6, 5, []))
    );
    // After it (10 s from the teardown at 2 s), the session comes back; fewer prefixes keep
    // it up.
    let mut a = Session::new(customer(65001, 180));
    a.advertise(routes(&list(&four)));
    b.connected(12 * S);
    a.connected(12 * S);
    pump(&mut a, &mut b, 12 * S);
    assert_eq!(
        b.state(),
        State::Established,
        "{:?} {:?}",
        events(&mut b),
        events(&mut a)
    );
    assert_eq!(b.received().len(), 4);
}

#[test]
fn a_wrong_peer_as_or_our_own_identifier_is_refused_in_the_open() {
    let (mut a, mut b) = (Session::new(customer(65009, 180)), Session::new(msee()));
    a.connected(Duration::ZERO);
    b.connected(Duration::ZERO);
    pump(&mut a, &mut b, Duration::ZERO);
    assert_eq!(
        notification_sent(&events(&mut b)),
        Some(Notification::new(2, 2, []))
    );
    assert_eq!(
        notification_received(&events(&mut a)),
        Some(Notification::new(2, 2, []))
    );
    let mut same = customer(65001, 180);
    same.local_id = "192.168.100.2".parse().unwrap();
    let (mut a, mut b) = (Session::new(same), Session::new(msee()));
    a.connected(Duration::ZERO);
    b.connected(Duration::ZERO);
    pump(&mut a, &mut b, Duration::ZERO);
    assert_eq!(
        notification_sent(&events(&mut b)),
        Some(Notification::new(2, 3, []))
    );
}

#[test]
fn garbage_gets_a_notification_and_touches_no_other_session() {
    let (_, mut b) = up(customer(65001, 180), msee());
    let (mut a2, mut b2) = up(customer(65001, 180), msee());
    events(&mut b);
    b.receive(S, b"this is not BGP at all, not even close!!");
    assert_eq!(
        notification_sent(&events(&mut b)),
        Some(Notification::new(1, 1, []))
    );
    assert_eq!(b.state(), State::Idle);
    // The other session carries on.
    a2.advertise(routes(&[("10.0.1.0/24", &[65001])]));
    pump(&mut a2, &mut b2, S);
    assert_eq!(b2.state(), State::Established);
    assert_eq!(b2.received().len(), 1);
}

#[test]
fn messages_out_of_turn_are_fsm_errors() {
    let mut b = Session::new(msee());
    b.connected(Duration::ZERO);
    b.transmit();
    b.receive(S, &wire::encode(&Message::Keepalive, true));
    assert_eq!(
        notification_sent(&events(&mut b)),
        Some(Notification::new(5, 1, []))
    );
    let (mut a, mut b) = up(customer(65001, 180), msee());
    a.transmit();
    let open = wire::encode(
        &Message::Open(Open {
            asn: 65001,
            hold_time: 180,
            bgp_id: "192.168.100.1".parse().unwrap(),
            four_octet_as: true,
            ipv4_unicast: true,
            ipv6_unicast: false,
            route_refresh: false,
        }),
        true,
    );
    b.receive(S, &open);
    assert_eq!(
        notification_sent(&events(&mut b)),
        Some(Notification::new(5, 3, []))
    );
}

#[test]
fn paths_are_checked_first_as_and_allowas_in() {
    let (mut a, mut b) = up(customer(65001, 180), msee());
    events(&mut b);
    // 12076 twice is accepted (allowas-in 2), three times is a loop: treated as withdrawn.
    a.advertise(routes(&[
        ("10.0.1.0/24", &[65001, 12076, 12076, 65002]),
        ("10.0.2.0/24", &[65001, 12076, 12076, 12076, 65002]),
    ]));
    pump(&mut a, &mut b, S);
    let got: Vec<String> = b.received().keys().map(|p| p.to_string()).collect();
    assert_eq!(got, ["10.0.1.0/24"]);
    // A path that does not start with the peer's AS: Malformed AS_PATH.
    a.advertise(routes(&[("10.0.3.0/24", &[65009])]));
    pump(&mut a, &mut b, 2 * S);
    assert_eq!(
        notification_sent(&events(&mut b)),
        Some(Notification::new(3, 11, []))
    );
}

#[test]
fn ipv6_routes_only_when_both_sides_negotiated_ipv6() {
    let mut c = customer(65001, 180);
    c.ipv6 = false;
    let (mut a, mut b) = up(c, msee());
    b.advertise(routes(&[
        ("10.0.3.0/24", &[12076]),
        ("fd00:3::/64", &[12076]),
    ]));
    pump(&mut a, &mut b, S);
    let got: Vec<String> = a.received().keys().map(|p| p.to_string()).collect();
    assert_eq!(got, ["10.0.3.0/24"]);
}

#[test]
fn a_collision_keeps_the_connection_of_the_higher_identifier_on_both_sides() {
    let low: Ipv4Addr = "192.168.100.1".parse().unwrap();
    let high: Ipv4Addr = "192.168.100.2".parse().unwrap();
    // Each side asks on its own whether to keep the connection it initiated.
    assert!(keep_ours(high, low));
    assert!(!keep_ours(low, high));
    // Two connections at once: c1 initiated by the customer (low id), c2 by the MSEE (high).
    let (mut cust1, mut msee1) = (Session::new(customer(65001, 180)), Session::new(msee()));
    let (mut cust2, mut msee2) = (Session::new(customer(65001, 180)), Session::new(msee()));
    for s in [&mut cust1, &mut msee1, &mut cust2, &mut msee2] {
        s.connected(Duration::ZERO);
    }
    // OPENs cross on both connections: every session is in OpenConfirm.
    for (x, y) in [(&mut cust1, &mut msee1), (&mut cust2, &mut msee2)] {
        let (bx, by) = (x.transmit(), y.transmit());
        y.receive(Duration::ZERO, &bx);
        x.receive(Duration::ZERO, &by);
        assert_eq!(
            (x.state(), y.state()),
            (State::OpenConfirm, State::OpenConfirm)
        );
    }
    // The customer keeps c2 (initiated by the higher id) and closes c1; the MSEE the same.
    let cease = Notification::new(6, 7, []);
    assert!(!keep_ours(low, high));
    cust1.stop(Duration::ZERO, cease.clone());
    assert!(keep_ours(high, low));
    msee1.receive(Duration::ZERO, &cust1.transmit());
    assert_eq!(
        notification_received(&events(&mut msee1)),
        Some(cease.clone())
    );
    pump(&mut cust2, &mut msee2, Duration::ZERO);
    assert_eq!(cust2.state(), State::Established);
    assert_eq!(msee2.state(), State::Established);
    assert_eq!(msee1.state(), State::Idle);
}

#[test]
fn a_one_family_session_neither_takes_nor_sends_the_other_family() {
    // The customer offers both families (as FRR does when ipv4 unicast stays activated on an
    // IPv6 neighbour); the MSEE's IPv6 session negotiates IPv6 only, its IPv4 one IPv4 only.
    for v6 in [true, false] {
        let (mut a, mut b) = up(customer(65001, 180), msee().only(v6));
        assert_eq!(a.families(), [!v6, v6]);
        assert_eq!(b.families(), [!v6, v6]);
        a.advertise(routes(&[
            ("10.0.1.0/24", &[65001]),
            ("2001:db8:1::/48", &[65001]),
        ]));
        b.advertise(routes(&[
            ("10.0.3.0/24", &[12076]),
            ("2001:db8:3::/48", &[12076]),
        ]));
        pump(&mut a, &mut b, S);
        let got: Vec<String> = b.received().keys().map(|p| p.to_string()).collect();
        assert_eq!(got, [if v6 { "2001:db8:1::/48" } else { "10.0.1.0/24" }]);
        let got: Vec<String> = a.received().keys().map(|p| p.to_string()).collect();
        assert_eq!(got, [if v6 { "2001:db8:3::/48" } else { "10.0.3.0/24" }]);
    }
}
