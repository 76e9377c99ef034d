//! Single-hop BFD (RFC 5880, RFC 5881) as an MSEE runs it on a circuit link: the control
//! packet's wire format and one session, a pure state machine on the caller's clock (packets
//! and time in, packets and events out, the next timer from `poll_timeout`), like `bgp::session`.
//!
//! As Microsoft documents it: asynchronous mode, 300 ms transmit and receive intervals, detect
//! multiplier 3 (900 ms). The slower side wins (the usual negotiation: we send no faster than
//! the peer's Required Min RX Interval and expect its packets no faster than ours), so a
//! customer can lengthen the interval but not shorten it. The MSEE takes the *passive* role
//! (inferred: BFD runs only when the customer enables it): it sends nothing until the
//! customer's router speaks, and falls silent again when the peer is lost. No authentication,
//! no echo function, no demand mode. The shell sends from a port in 49152-65535 with TTL 255 to
//! port 3784 (RFC 5881).

use std::collections::VecDeque;
use std::time::Duration;

/// The UDP port single-hop BFD control packets go to (RFC 5881).
pub const PORT: u16 = 3784;
/// The MSEE's transmit and receive interval.
pub const INTERVAL: Duration = Duration::from_millis(300);
/// The MSEE's detect multiplier.
pub const MULTIPLIER: u8 = 3;
/// The slowest rate a session that is not Up sends at (RFC 5880 section 6.8.3).
const SLOW: Duration = Duration::from_secs(1);
/// The length of a control packet without authentication.
pub const LEN: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

/// Diagnostic codes (RFC 5880 section 4.1) this implementation sets.
pub mod diag {
    pub const NONE: u8 = 0;
    pub const DETECTION_EXPIRED: u8 = 1;
    pub const NEIGHBOR_DOWN: u8 = 3;

    /// The words of a diagnostic code.
    pub fn name(d: u8) -> &'static str {
        match d {
            0 => "No Diagnostic",
            1 => "Control Detection Time Expired",
            2 => "Echo Function Failed",
            3 => "Neighbor Signaled Session Down",
            4 => "Forwarding Plane Reset",
            5 => "Path Down",
            6 => "Concatenated Path Down",
            7 => "Administratively Down",
            8 => "Reverse Concatenated Path Down",
            _ => "Unknown Diagnostic",
        }
    }
}

/// A BFD control packet (the mandatory section; RFC 5880 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub diag: u8,
    pub state: State,
    pub poll: bool,
    pub fin: bool,
    pub detect_mult: u8,
    pub my_disc: u32,
    pub your_disc: u32,
    /// Microseconds.
    pub desired_min_tx: u32,
    /// Microseconds.
    pub required_min_rx: u32,
    /// Microseconds.
    pub required_min_echo_rx: u32,
}

/// Why a received packet was discarded (RFC 5880 section 6.8.6), as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    #[error("shorter than a BFD control packet")]
    Short,
    #[error("version {0}, not 1")]
    Version(u8),
    #[error("length field {0} is not 24..=datagram")]
    Length(u8),
    #[error("detect multiplier 0")]
    ZeroMultiplier,
    #[error("multipoint bit set")]
    Multipoint,
    #[error("my discriminator 0")]
    ZeroDiscriminator,
    #[error("authentication, which this session does not use")]
    Authentication,
    #[error("your discriminator is not ours")]
    WrongDiscriminator,
    #[error("your discriminator 0 in state {0}")]
    NoDiscriminator(&'static str),
}

impl Packet {
    /// Parses a control packet, with the checks that need no session.
    pub fn parse(b: &[u8]) -> Result<Packet, Discard> {
        if b.len() < LEN {
            return Err(Discard::Short);
        }
        let version = b[0] >> 5;
        if version != 1 {
            return Err(Discard::Version(version));
        }
        let len = b[3];
        if usize::from(len) < LEN || usize::from(len) > b.len() {
            return Err(Discard::Length(len));
        }
        let flags = b[1];
        if flags & 0x04 != 0 {
            return Err(Discard::Authentication);
        }
        if flags & 0x01 != 0 {
            return Err(Discard::Multipoint);
        }
        if b[2] == 0 {
            return Err(Discard::ZeroMultiplier);
        }
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let p = Packet {
            diag: b[0] & 0x1f,
            state: State::from_bits(flags >> 6),
            poll: flags & 0x20 != 0,
            fin: flags & 0x10 != 0,
            detect_mult: b[2],
            my_disc: word(4),
            your_disc: word(8),
            desired_min_tx: word(12),
            required_min_rx: word(16),
            required_min_echo_rx: word(20),
        };
        if p.my_disc == 0 {
            return Err(Discard::ZeroDiscriminator);
        }
        Ok(p)
    }

    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0] = (1 << 5) | (self.diag & 0x1f);
        b[1] = ((self.state as u8) << 6)
            | if self.poll { 0x20 } else { 0 }
            | if self.fin { 0x10 } else { 0 };
        b[2] = self.detect_mult;
        b[3] = LEN as u8;
        for (i, w) in [
            self.my_disc,
            self.your_disc,
            self.desired_min_tx,
            self.required_min_rx,
            self.required_min_echo_rx,
        ]
        .into_iter()
        .enumerate()
        {
            b[4 + 4 * i..8 + 4 * i].copy_from_slice(&w.to_be_bytes());
        }
        b
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Our discriminator: non-zero, unique among our sessions.
    pub local_disc: u32,
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    pub detect_mult: u8,
    /// Send nothing until the peer has spoken.
    pub passive: bool,
}

impl Config {
    /// The MSEE's session: 300 ms x 3, passive.
    pub fn msee(local_disc: u32) -> Config {
        Config {
            local_disc: local_disc.max(1),
            desired_min_tx: INTERVAL,
            required_min_rx: INTERVAL,
            detect_mult: MULTIPLIER,
            passive: true,
        }
    }
}

/// What a session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Up,
    /// The session left Up. `admin` when the peer signalled AdminDown, or Down without a
    /// path diagnostic (it is reconfiguring or restarting its session, not losing the path):
    /// RFC 5882 section 3.2, a client protocol is then not taken down. Otherwise the path to
    /// the peer is gone (a BGP session over it goes too).
    Down {
        diag: u8,
        admin: bool,
    },
}

/// Packets counted per direction and discarded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets_in: u64,
    pub packets_out: u64,
    pub discarded: u64,
}

#[derive(Debug)]
pub struct Session {
    cfg: Config,
    state: State,
    diag: u8,
    remote_state: State,
    remote_disc: u32,
    remote_min_rx: Duration,
    remote_min_tx: Duration,
    remote_mult: u8,
    /// A Poll Sequence of ours is running (P set until the peer answers with F).
    polling: bool,
    /// The peer polled: answer with F at once.
    answer: bool,
    next_tx: Option<Duration>,
    detect_at: Option<Duration>,
    out: VecDeque<[u8; LEN]>,
    events: VecDeque<Event>,
    counters: Counters,
    last_discard: Option<Discard>,
    rng: u64,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl Session {
    pub fn new(cfg: Config) -> Session {
        Session {
            cfg,
            state: State::Down,
            diag: diag::NONE,
            remote_state: State::Down,
            remote_disc: 0,
            // RFC 5880 section 6.8.1: 1 until the peer says otherwise.
            remote_min_rx: Duration::from_micros(1),
            remote_min_tx: Duration::ZERO,
            remote_mult: 0,
            polling: false,
            answer: false,
            // An active session starts sending at once.
            next_tx: (!cfg.passive).then_some(Duration::ZERO),
            detect_at: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            last_discard: None,
            rng: u64::from(cfg.local_disc) | 1 << 40,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The diagnostic of the last time the session left Up (or 0).
    pub fn diag(&self) -> u8 {
        self.diag
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn last_discard(&self) -> Option<Discard> {
        self.last_discard
    }

    /// The interval we send at, once the peer's wishes are known.
    pub fn tx_interval(&self) -> Duration {
        let ours = if self.state == State::Up {
            self.cfg.desired_min_tx
        } else {
            self.cfg.desired_min_tx.max(SLOW)
        };
        ours.max(self.remote_min_rx)
    }

    /// How long without a packet before the session goes down.
    pub fn detection_time(&self) -> Duration {
        self.cfg.required_min_rx.max(self.remote_min_tx) * u32::from(self.remote_mult.max(1))
    }

    /// The next packet to send.
    pub fn poll_transmit(&mut self) -> Option<[u8; LEN]> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` is next due.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match (self.next_tx, self.detect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether we send periodically: a passive session only after the peer has spoken, and
    /// never to a peer that asks for nothing (Required Min RX 0).
    fn sending(&self) -> bool {
        (!self.cfg.passive || self.remote_disc != 0) && !self.remote_min_rx.is_zero()
    }

    fn packet(&self, fin: bool) -> [u8; LEN] {
        let desired = if self.state == State::Up {
            self.cfg.desired_min_tx
        } else {
            self.cfg.desired_min_tx.max(SLOW)
        };
        Packet {
            diag: self.diag,
            state: self.state,
            poll: self.polling && !fin,
            fin,
            detect_mult: self.cfg.detect_mult,
            my_disc: self.cfg.local_disc,
            your_disc: self.remote_disc,
            desired_min_tx: micros(desired),
            required_min_rx: micros(self.cfg.required_min_rx),
            required_min_echo_rx: 0,
        }
        .encode()
    }

    /// 75-100% of the interval (75-90% with a multiplier of 1), RFC 5880 section 6.8.7.
    fn jittered(&mut self, interval: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let span = if self.cfg.detect_mult == 1 { 15 } else { 25 };
        let pct = 75 + (self.rng % (span + 1)) as u32;
        interval * pct / 100
    }

    fn set_state(&mut self, now: Duration, to: State, diag: u8) {
        self.set_state_by(now, to, diag, false);
    }

    fn set_state_by(&mut self, now: Duration, to: State, diag: u8, admin: bool) {
        if to == self.state {
            return;
        }
        let was = self.state;
        self.state = to;
        if to == State::Up {
            self.diag = diag::NONE;
            // Our transmit interval drops from the slow rate: tell the peer with a Poll.
            self.polling = true;
            self.events.push_back(Event::Up);
        } else {
            self.diag = diag;
            self.polling = false;
            if was == State::Up {
                self.events.push_back(Event::Down { diag, admin });
            }
        }
        // A state change is sent at once.
        if self.sending() {
            self.next_tx = Some(now);
        }
    }

    /// A datagram from the peer (already matched to this session by its addresses).
    pub fn receive(&mut self, now: Duration, bytes: &[u8]) {
        let p = match Packet::parse(bytes) {
            Ok(p) if p.your_disc != 0 && p.your_disc != self.cfg.local_disc => {
                Err(Discard::WrongDiscriminator)
            }
            Ok(p) if p.your_disc == 0 && p.state > State::Down => {
                Err(Discard::NoDiscriminator(p.state.name()))
            }
            other => other,
        };
        let p = match p {
            Ok(p) => p,
            Err(d) => {
                self.counters.discarded += 1;
                self.last_discard = Some(d);
                return;
            }
        };
        self.counters.packets_in += 1;
        let was_sending = self.sending();
        self.remote_disc = p.my_disc;
        self.remote_state = p.state;
        self.remote_min_rx = Duration::from_micros(p.required_min_rx.into());
        self.remote_min_tx = Duration::from_micros(p.desired_min_tx.into());
        self.remote_mult = p.detect_mult;
        if p.fin {
            self.polling = false;
        }
        if p.poll {
            self.answer = true;
        }
        if p.state == State::AdminDown {
            if self.state != State::Down {
                self.set_state_by(now, State::Down, diag::NEIGHBOR_DOWN, true);
            }
        } else {
            match (self.state, p.state) {
                (State::Down, State::Down) => self.set_state(now, State::Init, diag::NONE),
                (State::Down, State::Init) => self.set_state(now, State::Up, diag::NONE),
                (State::Init, State::Init | State::Up) => {
                    self.set_state(now, State::Up, diag::NONE)
                }
                (State::Up, State::Down) => {
                    // The peer is talking, so the path works both ways unless the peer says
                    // it stopped hearing us (its own detection expired, or a path is down).
                    // A Down with no such diagnostic is the peer restarting its session
                    // (FRR remakes it when BGP comes up): not a path failure.
                    let path_failure = matches!(p.diag, 1 | 2 | 5 | 6 | 8);
                    self.set_state_by(now, State::Down, diag::NEIGHBOR_DOWN, !path_failure)
                }
                _ => {}
            }
        }
        self.detect_at = (p.state != State::AdminDown).then(|| now + self.detection_time());
        if self.answer {
            self.answer = false;
            self.out.push_back(self.packet(true));
            self.counters.packets_out += 1;
        }
        if !self.sending() {
            self.next_tx = None;
        } else if !was_sending || self.next_tx.is_none() {
            self.next_tx = Some(now);
        } else if let Some(t) = self.next_tx {
            // The peer may have asked for a slower rate: never send faster than it wants.
            let latest = now + self.tx_interval();
            self.next_tx = Some(t.min(latest));
        }
        self.fire_tx(now);
    }

    fn fire_tx(&mut self, now: Duration) {
        if let Some(t) = self.next_tx {
            if t <= now && self.sending() {
                self.out.push_back(self.packet(false));
                self.counters.packets_out += 1;
                let i = self.tx_interval();
                self.next_tx = Some(now + self.jittered(i));
            }
        }
    }

    /// Fires what is due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.detect_at.is_some_and(|t| t <= now) {
            self.detect_at = None;
            if matches!(self.state, State::Init | State::Up) {
                self.set_state(now, State::Down, diag::DETECTION_EXPIRED);
            }
            // The peer is gone: forget it (a passive session falls silent).
            self.remote_disc = 0;
            self.remote_state = State::Down;
            self.remote_min_rx = Duration::from_micros(1);
            if !self.sending() {
                self.next_tx = None;
            }
        }
        self.fire_tx(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// An active peer (as FRR's bfdd runs by default) at `tx` ms.
    fn peer(disc: u32, tx: u64) -> Session {
        Session::new(Config {
            local_disc: disc,
            desired_min_tx: ms(tx),
            required_min_rx: ms(tx),
            detect_mult: 3,
            passive: false,
        })
    }

    /// Events with the millisecond they were seen at.
    type Seen = Vec<(u64, Event)>;

    /// Runs both sessions in 1 ms steps from `from` to `to`, delivering every packet (unless
    /// `cut`), and returns the events each saw.
    fn run(a: &mut Session, b: &mut Session, from: u64, to: u64, cut: bool) -> (Seen, Seen) {
        let (mut ea, mut eb) = (vec![], vec![]);
        for t in from..to {
            let now = ms(t);
            if a.poll_timeout().is_some_and(|d| d <= now) {
                a.handle_timeout(now);
            }
            if b.poll_timeout().is_some_and(|d| d <= now) {
                b.handle_timeout(now);
            }
            while let Some(p) = a.poll_transmit() {
                if !cut {
                    b.receive(now, &p);
                }
            }
            while let Some(p) = b.poll_transmit() {
                if !cut {
                    a.receive(now, &p);
                }
            }
            while let Some(e) = a.poll_event() {
                ea.push((t, e));
            }
            while let Some(e) = b.poll_event() {
                eb.push((t, e));
            }
        }
        (ea, eb)
    }

    #[test]
    fn a_packet_round_trips_and_bad_ones_are_discarded() {
        let p = Packet {
            diag: 3,
            state: State::Up,
            poll: true,
            fin: false,
            detect_mult: 3,
            my_disc: 7,
            your_disc: 9,
            desired_min_tx: 300_000,
            required_min_rx: 300_000,
            required_min_echo_rx: 0,
        };
        let b = p.encode();
        assert_eq!(b[0], 0x23);
        assert_eq!(b[1], 0xe0);
        assert_eq!(Packet::parse(&b), Ok(p));
        assert_eq!(Packet::parse(&b[..23]), Err(Discard::Short));
        let mut v = b;
        v[0] = 0x43;
        assert_eq!(Packet::parse(&v), Err(Discard::Version(2)));
        let mut l = b;
        l[3] = 30;
        assert_eq!(Packet::parse(&l), Err(Discard::Length(30)));
        let mut m = b;
        m[2] = 0;
        assert_eq!(Packet::parse(&m), Err(Discard::ZeroMultiplier));
        let mut d = b;
        d[4..8].fill(0);
        assert_eq!(Packet::parse(&d), Err(Discard::ZeroDiscriminator));
        let mut a = b;
        a[1] |= 0x04;
        assert_eq!(Packet::parse(&a), Err(Discard::Authentication));
        let mut mp = b;
        mp[1] |= 0x01;
        assert_eq!(Packet::parse(&mp), Err(Discard::Multipoint));
    }

    #[test]
    fn the_passive_msee_is_silent_until_the_peer_speaks() {
        let mut msee = Session::new(Config::msee(1));
        msee.handle_timeout(ms(5000));
        assert_eq!(msee.poll_transmit(), None);
        assert_eq!(msee.poll_timeout(), None);
    }

    #[test]
    fn three_way_handshake_then_300_ms_both_ways() {
        let mut msee = Session::new(Config::msee(1));
        let mut frr = peer(2, 300);
        let (em, ef) = run(&mut msee, &mut frr, 0, 3000, false);
        assert_eq!(msee.state(), State::Up);
        assert_eq!(frr.state(), State::Up);
        assert_eq!(em.len(), 1, "{em:?}");
        assert_eq!(ef.len(), 1, "{ef:?}");
        assert!(em[0].0 < 50, "up at once: {em:?}");
        assert_eq!(msee.tx_interval(), ms(300));
        assert_eq!(msee.detection_time(), ms(900));
        // About 10 packets in the next 3 s (75-100% of 300 ms), not the slow 1 s rate.
        let before = msee.counters().packets_out;
        run(&mut msee, &mut frr, 3000, 6000, false);
        let sent = msee.counters().packets_out - before;
        assert!((10..=14).contains(&sent), "{sent}");
    }

    #[test]
    fn silence_brings_the_session_down_after_900_ms_and_the_msee_falls_silent() {
        let mut msee = Session::new(Config::msee(1));
        let mut frr = peer(2, 300);
        run(&mut msee, &mut frr, 0, 2000, false);
        let (em, ef) = run(&mut msee, &mut frr, 2000, 4000, true);
        let down = em
            .iter()
            .find(|e| {
                e.1 == Event::Down {
                    diag: 1,
                    admin: false,
                }
            })
            .expect("down");
        assert!((2600..=2901).contains(&down.0), "{em:?}");
        assert!(ef.iter().any(|e| matches!(e.1, Event::Down { .. })));
        assert_eq!(msee.diag(), diag::DETECTION_EXPIRED);
        while msee.poll_transmit().is_some() {}
        msee.handle_timeout(ms(10_000));
        assert_eq!(
            msee.poll_transmit(),
            None,
            "a passive session stops sending"
        );
        // The link back: up again.
        let (em, _) = run(&mut msee, &mut frr, 4000, 8000, false);
        assert!(em.iter().any(|e| e.1 == Event::Up), "{em:?}");
    }

    #[test]
    fn the_customer_may_lengthen_the_interval_but_not_shorten_it() {
        let mut msee = Session::new(Config::msee(1));
        let mut slow = peer(2, 1000);
        run(&mut msee, &mut slow, 0, 4000, false);
        assert_eq!(msee.state(), State::Up);
        assert_eq!(msee.tx_interval(), ms(1000));
        assert_eq!(msee.detection_time(), ms(3000));
        let mut msee = Session::new(Config::msee(1));
        let mut fast = peer(2, 50);
        run(&mut msee, &mut fast, 0, 4000, false);
        assert_eq!(msee.state(), State::Up);
        assert_eq!(fast.tx_interval(), ms(300), "the peer may not send faster");
        assert_eq!(msee.detection_time(), ms(900));
    }

    #[test]
    fn a_peer_going_admin_down_or_down_takes_the_session_down() {
        let mut msee = Session::new(Config::msee(1));
        let mut frr = peer(2, 300);
        run(&mut msee, &mut frr, 0, 2000, false);
        let mut down = Packet::parse(&frr.packet(false)).unwrap();
        down.state = State::Down;
        down.your_disc = 1;
        down.diag = diag::DETECTION_EXPIRED;
        msee.receive(ms(2001), &down.encode());
        assert_eq!(
            msee.poll_event(),
            Some(Event::Down {
                diag: 3,
                admin: false
            })
        );
        assert_eq!(msee.state(), State::Down);
        // The peer's next Down brings it to Init (the handshake again).
        msee.receive(ms(2002), &down.encode());
        assert_eq!(msee.state(), State::Init);
        // Up again; then the peer signals AdminDown: down, but marked so BGP stays.
        run(&mut msee, &mut frr, 2003, 4000, false);
        assert_eq!(msee.state(), State::Up);
        while msee.poll_event().is_some() {}
        let mut admin = Packet::parse(&frr.packet(false)).unwrap();
        admin.state = State::AdminDown;
        msee.receive(ms(4001), &admin.encode());
        assert_eq!(
            msee.poll_event(),
            Some(Event::Down {
                diag: 3,
                admin: true
            })
        );
    }

    #[test]
    fn packets_for_another_session_or_without_discriminator_change_nothing() {
        let mut msee = Session::new(Config::msee(1));
        let mut frr = peer(2, 300);
        run(&mut msee, &mut frr, 0, 2000, false);
        let mut p = Packet::parse(&frr.packet(false)).unwrap();
        p.your_disc = 99;
        p.state = State::Down;
        msee.receive(ms(2001), &p.encode());
        assert_eq!(msee.last_discard(), Some(Discard::WrongDiscriminator));
        p.your_disc = 0;
        p.state = State::Up;
        msee.receive(ms(2002), &p.encode());
        assert_eq!(msee.last_discard(), Some(Discard::NoDiscriminator("Up")));
        msee.receive(ms(2003), b"garbage");
        assert_eq!(msee.counters().discarded, 3);
        assert_eq!(msee.state(), State::Up);
        assert_eq!(msee.poll_event(), None);
    }

    #[test]
    fn a_poll_is_answered_with_final_at_once() {
        let mut msee = Session::new(Config::msee(1));
        let mut frr = peer(2, 300);
        run(&mut msee, &mut frr, 0, 2000, false);
        while msee.poll_transmit().is_some() {}
        let mut p = Packet::parse(&frr.packet(false)).unwrap();
        p.poll = true;
        msee.receive(ms(2001), &p.encode());
        let answer = Packet::parse(&msee.poll_transmit().expect("an answer")).unwrap();
        assert!(answer.fin && !answer.poll);
    }
}
