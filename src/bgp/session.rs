//! One BGP session (RFC 4271 section 8), as a pure state machine on the caller's clock: the
//! shell reports the transport (`connected`, `transport_closed`), feeds the bytes it reads
//! (`receive`), fires timers (`handle_timeout` at `poll_timeout`), sends what `transmit` returns
//! and closes the connection when `wants_close` says so. Out come `Event`s and the routes the
//! peer announced (`received`). What we announce is set whole with `advertise`; the session
//! sends the difference.
//!
//! As the MSEE runs it: hold time 180 s offered (the lower of the two wins; keepalive a third
//! of it), 4-octet ASNs, IPv4 and IPv6 unicast, route refresh; prefix limits per family with a
//! warning at 80% and, beyond the limit, Cease / Maximum Number of Prefixes Reached and no new
//! session until the restart delay has passed; `allowas-in` (paths holding our own ASN up to N
//! times are accepted, more is a loop: the route is treated as withdrawn); the first AS of an
//! eBGP path must be the peer's (else UPDATE Message Error / Malformed AS_PATH).

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::IpNet;

use super::wire::{self, notify, Attributes, Framer, Message, Notification, Open, Update};

/// The hold time an MSEE offers (Microsoft's side: keepalive 60 s, hold 180 s).
pub const HOLD_TIME: u16 = 180;
/// Hold time while waiting for the peer's OPEN (RFC 4271: "a large value", 4 minutes).
pub const OPEN_HOLD: Duration = Duration::from_secs(240);
/// Prefixes per UPDATE we send (well under 4,096 bytes for either family).
const PER_UPDATE: usize = 300;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub local_asn: u32,
    pub local_id: Ipv4Addr,
    /// The ASN the peer must have (the circuit's peerASN); None accepts any.
    pub peer_asn: Option<u32>,
    pub hold_time: u16,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Most prefixes accepted per family (IPv4, IPv6); None: no limit.
    pub prefix_limit: [Option<usize>; 2],
    /// How long after a prefix-limit teardown before the session may come back.
    pub prefix_limit_restart: Duration,
    /// How many times our own ASN may appear in a received path.
    pub allowas_in: usize,
}

impl Config {
    /// An MSEE's session toward a customer: AS 12076, hold 180 s, both families, the limits
    /// of the circuit's SKU (4,000 IPv4 Standard / 10,000 Premium, 100 IPv6), allowas-in 2.
    pub fn msee(local_id: Ipv4Addr, peer_asn: u32, premium: bool) -> Config {
        Config {
            local_asn: crate::topology::rules::MICROSOFT_ASN,
            local_id,
            peer_asn: Some(peer_asn),
            hold_time: HOLD_TIME,
            ipv4: true,
            ipv6: true,
            prefix_limit: [Some(if premium { 10_000 } else { 4_000 }), Some(100)],
            prefix_limit_restart: Duration::from_secs(60),
            allowas_in: 2,
        }
    }

    /// This configuration for one family only: the MSEE's IPv4 and IPv6 sessions are
    /// separate, each over its own family's transport, and neither carries the other's routes.
    pub fn only(mut self, ipv6: bool) -> Config {
        self.ipv4 = !ipv6;
        self.ipv6 = ipv6;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Idle,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    /// As `show bgp summary` and az's StatePfxRcd print it (Idle, OpenSent, ...).
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }
}

/// Which way a NOTIFICATION went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Established,
    /// The session left Established or failed to get there.
    Down {
        reason: String,
        notification: Option<(Direction, Notification)>,
    },
    /// The routes received changed.
    Routes,
    /// A family's prefixes reached 80% of its limit.
    PrefixWarning {
        ipv6: bool,
        count: usize,
        limit: usize,
    },
}

/// Messages and updates counted per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub messages_in: u64,
    pub messages_out: u64,
    pub updates_in: u64,
    pub updates_out: u64,
}

#[derive(Debug)]
pub struct Session {
    cfg: Config,
    state: State,
    framer: Framer,
    out: Vec<u8>,
    events: VecDeque<Event>,
    close: bool,
    /// What the peer said in its OPEN.
    peer: Option<Open>,
    asn4: bool,
    /// The families both sides said they carry (IPv4, IPv6): only these are sent or accepted.
    families: [bool; 2],
    hold: Duration,
    keepalive: Duration,
    hold_deadline: Option<Duration>,
    keepalive_deadline: Option<Duration>,
    /// No session before this (after a prefix-limit teardown).
    idle_until: Option<Duration>,
    warned: [bool; 2],
    received: BTreeMap<IpNet, Attributes>,
    advertised: BTreeMap<IpNet, Attributes>,
    sent: BTreeMap<IpNet, Attributes>,
    counters: Counters,
    since: Option<Duration>,
    last_error: Option<String>,
}

impl Session {
    pub fn new(cfg: Config) -> Session {
        Session {
            cfg,
            state: State::Idle,
            framer: Framer::default(),
            out: Vec::new(),
            events: VecDeque::new(),
            close: false,
            peer: None,
            asn4: false,
            families: [false; 2],
            hold: Duration::ZERO,
            keepalive: Duration::ZERO,
            hold_deadline: None,
            keepalive_deadline: None,
            idle_until: None,
            warned: [false; 2],
            received: BTreeMap::new(),
            advertised: BTreeMap::new(),
            sent: BTreeMap::new(),
            counters: Counters::default(),
            since: None,
            last_error: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The peer's OPEN, once received.
    pub fn peer(&self) -> Option<&Open> {
        self.peer.as_ref()
    }

    /// The routes the peer announces (empty unless Established).
    pub fn received(&self) -> &BTreeMap<IpNet, Attributes> {
        &self.received
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// When the session last changed between up and down (engine time).
    pub fn since(&self) -> Option<Duration> {
        self.since
    }

    /// Why the session last went down.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The negotiated hold time.
    pub fn hold_time(&self) -> Duration {
        self.hold
    }

    /// Bytes to send, in order.
    pub fn transmit(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether the shell should close the transport (after sending what `transmit` gives).
    pub fn wants_close(&self) -> bool {
        self.close
    }

    /// The next time `handle_timeout` must run.
    pub fn poll_timeout(&self) -> Option<Duration> {
        [self.hold_deadline, self.keepalive_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// Until when a new transport is refused (after a prefix-limit teardown).
    pub fn idle_until(&self) -> Option<Duration> {
        self.idle_until
    }

    fn send(&mut self, m: &Message) {
        self.out.extend(wire::encode(m, self.asn4));
        self.counters.messages_out += 1;
        if matches!(m, Message::Update(_)) {
            self.counters.updates_out += 1;
        }
    }

    /// A transport is up: send our OPEN. Refused (Cease / Connection Rejected) while a
    /// prefix-limit restart delay runs.
    pub fn connected(&mut self, now: Duration) {
        self.close = false;
        self.framer = Framer::default();
        if let Some(t) = self.idle_until {
            if now < t {
                self.send(&Message::Notification(Notification::of(
                    notify::CONNECTION_REJECTED,
                    [],
                )));
                self.close = true;
                return;
            }
            self.idle_until = None;
        }
        self.asn4 = false;
        self.peer = None;
        self.send(&Message::Open(Open {
            asn: self.cfg.local_asn,
            hold_time: self.cfg.hold_time,
            bgp_id: self.cfg.local_id,
            four_octet_as: true,
            ipv4_unicast: self.cfg.ipv4,
            ipv6_unicast: self.cfg.ipv6,
            route_refresh: true,
        }));
        self.state = State::OpenSent;
        self.hold_deadline = Some(now + OPEN_HOLD);
        self.keepalive_deadline = None;
    }

    /// The transport went away (closed by the peer, or failed).
    pub fn transport_closed(&mut self, now: Duration) {
        if self.state != State::Idle {
            self.down(now, "the connection closed".into(), None);
        }
        self.close = false;
    }

    /// Ends the session with a NOTIFICATION of ours (e.g. Cease / Administrative Shutdown,
    /// Cease / BFD Down).
    pub fn stop(&mut self, now: Duration, n: Notification) {
        if self.state == State::Idle {
            return;
        }
        let reason = format!("sent {}", n.describe());
        self.send(&Message::Notification(n.clone()));
        self.down(now, reason, Some((Direction::Sent, n)));
    }

    fn down(&mut self, now: Duration, reason: String, n: Option<(Direction, Notification)>) {
        let was = self.state;
        self.state = State::Idle;
        self.close = true;
        self.hold_deadline = None;
        self.keepalive_deadline = None;
        self.sent.clear();
        self.warned = [false; 2];
        if !self.received.is_empty() {
            self.received.clear();
            self.events.push_back(Event::Routes);
        }
        if was == State::Established {
            self.since = Some(now);
        }
        self.last_error = Some(reason.clone());
        self.events.push_back(Event::Down {
            reason,
            notification: n,
        });
    }

    fn fail(&mut self, now: Duration, n: Notification) {
        let reason = format!("sent {}", n.describe());
        self.send(&Message::Notification(n.clone()));
        self.down(now, reason, Some((Direction::Sent, n)));
    }

    pub fn handle_timeout(&mut self, now: Duration) {
        if self.hold_deadline.is_some_and(|t| now >= t) {
            self.fail(now, Notification::of(notify::HOLD_TIMER_EXPIRED, []));
            return;
        }
        if self.keepalive_deadline.is_some_and(|t| now >= t) {
            self.send(&Message::Keepalive);
            self.keepalive_deadline = Some(now + self.keepalive);
        }
    }

    /// Bytes read from the transport.
    pub fn receive(&mut self, now: Duration, bytes: &[u8]) {
        if self.state == State::Idle {
            return;
        }
        self.framer.push(bytes);
        let routes_before = self.events.iter().filter(|e| **e == Event::Routes).count();
        while self.state != State::Idle {
            let Some(next) = self.framer.next_message() else {
                break;
            };
            let msg = next.and_then(|m| wire::decode(&m, self.asn4));
            match msg {
                Err(n) => self.fail(now, n),
                Ok(m) => {
                    self.counters.messages_in += 1;
                    self.handle(now, m);
                }
            }
        }
        // One `Routes` per read, however many UPDATEs it held.
        let mut seen = 0;
        self.events.retain(|e| {
            if *e != Event::Routes {
                return true;
            }
            seen += 1;
            seen <= routes_before + 1
        });
    }

    fn restart_hold(&mut self, now: Duration) {
        self.hold_deadline = (!self.hold.is_zero()).then(|| now + self.hold);
    }

    fn handle(&mut self, now: Duration, m: Message) {
        if let Message::Notification(n) = m {
            let reason = format!("received {}", n.describe());
            self.down(now, reason, Some((Direction::Received, n)));
            return;
        }
        match (self.state, m) {
            (State::OpenSent, Message::Open(o)) => self.on_open(now, o),
            (State::OpenSent, _) => self.fail(
                now,
                Notification::of(notify::FSM_UNEXPECTED_IN_OPENSENT, []),
            ),
            (State::OpenConfirm, Message::Keepalive) => {
                self.state = State::Established;
                self.since = Some(now);
                self.last_error = None;
                self.restart_hold(now);
                self.events.push_back(Event::Established);
                self.send_updates();
            }
            (State::OpenConfirm, _) => self.fail(
                now,
                Notification::of(notify::FSM_UNEXPECTED_IN_OPENCONFIRM, []),
            ),
            (State::Established, Message::Keepalive) => self.restart_hold(now),
            (State::Established, Message::Update(u)) => {
                self.counters.updates_in += 1;
                self.restart_hold(now);
                self.on_update(now, u);
            }
            (State::Established, Message::RouteRefresh { ipv6 }) => {
                self.restart_hold(now);
                // Send that family again, whole.
                self.sent.retain(|p, _| matches!(p, IpNet::V6(_)) != ipv6);
                self.send_updates();
            }
            (State::Established, _) => self.fail(
                now,
                Notification::of(notify::FSM_UNEXPECTED_IN_ESTABLISHED, []),
            ),
            (State::Idle, _) => {}
        }
    }

    fn on_open(&mut self, now: Duration, o: Open) {
        if self.cfg.peer_asn.is_some_and(|a| a != o.asn) {
            return self.fail(now, Notification::of(notify::BAD_PEER_AS, []));
        }
        if o.bgp_id == self.cfg.local_id {
            return self.fail(now, Notification::of(notify::BAD_BGP_IDENTIFIER, []));
        }
        let hold = self.cfg.hold_time.min(o.hold_time);
        self.hold = Duration::from_secs(u64::from(hold));
        self.keepalive = self.hold / 3;
        self.asn4 = o.four_octet_as;
        self.families = [
            self.cfg.ipv4 && o.ipv4_unicast,
            self.cfg.ipv6 && o.ipv6_unicast,
        ];
        self.peer = Some(o);
        self.send(&Message::Keepalive);
        self.state = State::OpenConfirm;
        self.restart_hold(now);
        self.keepalive_deadline = (!self.keepalive.is_zero()).then(|| now + self.keepalive);
    }

    fn on_update(&mut self, now: Duration, u: Update) {
        let peer_asn = self.peer.as_ref().map(|p| p.asn);
        if let Some(a) = &u.attributes {
            // eBGP: the path starts with the peer's AS (enforce-first-as).
            if peer_asn != Some(self.cfg.local_asn)
                && !u.announced.is_empty()
                && a.as_path.first().copied() != peer_asn
            {
                return self.fail(now, Notification::of(notify::MALFORMED_AS_PATH, []));
            }
        }
        let mut changed = false;
        for p in &u.withdrawn {
            changed |= self.received.remove(p).is_some();
        }
        if let Some(a) = &u.attributes {
            let own = a
                .as_path
                .iter()
                .filter(|x| **x == self.cfg.local_asn)
                .count();
            for p in &u.announced {
                if !self.carries(p) {
                    // A family the session does not carry (an IPv4 session never takes IPv6
                    // routes, and the other way round): ignored, as FRR and the MSEE do.
                    continue;
                }
                if own > self.cfg.allowas_in {
                    // A loop: treated as withdrawn (RFC 4271 9.1.2).
                    changed |= self.received.remove(p).is_some();
                } else if self.received.get(p) != Some(a) {
                    self.received.insert(*p, a.clone());
                    changed = true;
                }
            }
        }
        if changed {
            self.events.push_back(Event::Routes);
        }
        for (fam, ipv6) in [(0usize, false), (1, true)] {
            let Some(limit) = self.cfg.prefix_limit[fam] else {
                continue;
            };
            let count = self
                .received
                .keys()
                .filter(|p| matches!(p, IpNet::V6(_)) == ipv6)
                .count();
            if count > limit {
                // Cease / Maximum Number of Prefixes Reached, data: AFI, SAFI, the limit
                // (RFC 4486).
                let mut data = vec![0, if ipv6 { 2 } else { 1 }, 1];
                data.extend((limit as u32).to_be_bytes());
                let n = Notification::of(notify::MAXIMUM_PREFIXES, data);
                self.send(&Message::Notification(n.clone()));
                // The reason says how many, of which family, against which limit.
                let reason = format!(
                    "{count} IPv{} prefixes received, over the limit of {limit}: sent Cease/Maximum Number of Prefixes Reached (6/1)",
                    if ipv6 { 6 } else { 4 }
                );
                self.down(now, reason, Some((Direction::Sent, n)));
                self.idle_until = Some(now + self.cfg.prefix_limit_restart);
                return;
            }
            let warn = count * 5 >= limit * 4;
            if warn && !self.warned[fam] {
                self.events
                    .push_back(Event::PrefixWarning { ipv6, count, limit });
            }
            self.warned[fam] = warn;
        }
    }

    /// Sets everything we announce to the peer; sends the difference once Established.
    pub fn advertise(&mut self, routes: BTreeMap<IpNet, Attributes>) {
        self.advertised = routes;
        if self.state == State::Established {
            self.send_updates();
        }
    }

    /// Whether the session carries `p`'s family (negotiated in the OPENs).
    fn carries(&self, p: &IpNet) -> bool {
        self.families[usize::from(matches!(p, IpNet::V6(_)))]
    }

    /// The families the session carries (IPv4, IPv6), once the OPENs are exchanged.
    pub fn families(&self) -> [bool; 2] {
        self.families
    }

    fn send_updates(&mut self) {
        let want: BTreeMap<IpNet, Attributes> = self
            .advertised
            .iter()
            .filter(|(p, _)| self.carries(p))
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        let withdrawn: Vec<IpNet> = self
            .sent
            .keys()
            .filter(|p| !want.contains_key(p))
            .copied()
            .collect();
        // Announcements grouped by attributes, one family per UPDATE.
        let mut groups: BTreeMap<(bool, Vec<u8>), (Attributes, Vec<IpNet>)> = BTreeMap::new();
        for (p, a) in &want {
            if self.sent.get(p) == Some(a) {
                continue;
            }
            let key = (
                matches!(p, IpNet::V6(_)),
                wire::encode(
                    &Message::Update(Update {
                        announced: vec![],
                        withdrawn: vec![],
                        attributes: Some(a.clone()),
                    }),
                    true,
                ),
            );
            groups
                .entry(key)
                .or_insert_with(|| (a.clone(), Vec::new()))
                .1
                .push(*p);
        }
        for chunk in withdrawn.chunks(PER_UPDATE) {
            self.send(&Message::Update(Update {
                withdrawn: chunk.to_vec(),
                ..Default::default()
            }));
        }
        for (_, (a, prefixes)) in groups {
            for chunk in prefixes.chunks(PER_UPDATE) {
                self.send(&Message::Update(Update {
                    withdrawn: vec![],
                    announced: chunk.to_vec(),
                    attributes: Some(a.clone()),
                }));
            }
        }
        self.sent = want;
    }
}

/// Connection collision (RFC 4271 section 6.8): of two connections to the same peer, the one
/// initiated by the speaker with the higher BGP Identifier stays. True when the connection we
/// initiated is the one to keep.
pub fn keep_ours(local_id: Ipv4Addr, remote_id: Ipv4Addr) -> bool {
    u32::from(local_id) > u32::from(remote_id)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
