//! The tokio shell around one `Session`: a TCP connection's bytes in and out, the session's
//! timers on the engine's clock, the routes to announce from a watch channel, and events out
//! on a channel (with the peer's routes whenever they change). Ends when the session does (or
//! the connection closes) and hands the session back, so what outlives a connection (the
//! prefix-limit restart delay, counters) carries over to the next one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::bgp::session::{Counters, Event, Session};
use crate::bgp::wire::{notify, Attributes, Notification};

/// An event of a session, with the peer's routes after it (for `Event::Routes`, and empty
/// after `Down`).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub event: Event,
    pub received: BTreeMap<IpNet, Attributes>,
}

/// What a speaker exchanges with the rest of the lab.
#[derive(Debug, Clone)]
pub struct Io {
    /// The clock's zero.
    pub epoch: Instant,
    /// What to announce (changes are sent as they come).
    pub announce: watch::Receiver<BTreeMap<IpNet, Attributes>>,
    /// Events, with the peer's routes.
    pub reports: mpsc::UnboundedSender<Report>,
    /// Counts up each time the BFD session on the link leaves Up.
    pub bfd_down: watch::Receiver<u64>,
    /// The session's message counters, kept current.
    pub counters: std::sync::Arc<watch::Sender<Counters>>,
}

/// Runs `session` over `stream` until it ends. Each time `io.bfd_down` counts up the session
/// is closed with Cease / BFD Down, as the MSEE does.
pub async fn run(mut stream: TcpStream, mut session: Session, io: Io) -> Session {
    let Io {
        epoch,
        mut announce,
        reports,
        mut bfd_down,
        counters,
    } = io;
    // Only a BFD failure from now on ends this connection.
    bfd_down.mark_unchanged();
    let mut watching_bfd = true;
    let _ = stream.set_nodelay(true);
    let now = || epoch.elapsed();
    session.advertise(announce.borrow_and_update().clone());
    session.connected(now());
    let mut buf = vec![0u8; 65536];
    let mut announcing = true;
    let mut closed = false;
    loop {
        counters.send_if_modified(|c| {
            let now = session.counters();
            std::mem::replace(c, now) != now
        });
        let out = session.transmit();
        if !closed && !out.is_empty() && stream.write_all(&out).await.is_err() {
            session.transport_closed(now());
            closed = true;
        }
        while let Some(event) = session.poll_event() {
            let received = session.received().clone();
            let _ = reports.send(Report { event, received });
        }
        if closed {
            break;
        }
        if session.wants_close() {
            let _ = stream.shutdown().await;
            break;
        }
        let wait = session
            .poll_timeout()
            .map_or(Duration::from_secs(3600), |t| t.saturating_sub(now()));
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    session.transport_closed(now());
                    closed = true;
                }
                Ok(n) => session.receive(now(), &buf[..n]),
            },
            _ = tokio::time::sleep(wait) => session.handle_timeout(now()),
            changed = bfd_down.changed(), if watching_bfd => match changed {
                Ok(()) => session.stop(now(), Notification::of(notify::BFD_DOWN, [])),
                Err(_) => watching_bfd = false,
            },
            changed = announce.changed(), if announcing => match changed {
                Ok(()) => session.advertise(announce.borrow_and_update().clone()),
                // Nobody sets routes any more: keep what was announced.
                Err(_) => announcing = false,
            },
        }
    }
    while let Some(event) = session.poll_event() {
        let _ = reports.send(Report {
            event,
            received: BTreeMap::new(),
        });
    }
    session
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::session::{Config, State};
    use tokio::net::TcpListener;

    fn announce(prefix: &str, path: &[u32]) -> BTreeMap<IpNet, Attributes> {
        [(
            prefix.parse().unwrap(),
            Attributes {
                as_path: path.to_vec(),
                next_hop: Some("127.0.0.1".parse().unwrap()),
                ..Default::default()
            },
        )]
        .into_iter()
        .collect()
    }

    /// Reads reports until the peer's routes hold `want`.
    async fn wait_routes(rx: &mut mpsc::UnboundedReceiver<Report>, want: &str) -> Report {
        let want: IpNet = want.parse().unwrap();
        loop {
            let r = rx.recv().await.expect("a report");
            if r.received.contains_key(&want) {
                return r;
            }
        }
    }

    /// Two speakers over a real TCP connection on loopback: established, routes both ways,
    /// then one side closes and the other sees the session go down with its routes.
    #[tokio::test]
    async fn two_speakers_over_loopback_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let epoch = Instant::now();
        let mut customer_cfg = Config::msee("127.0.0.2".parse().unwrap(), 12076, false);
        customer_cfg.local_asn = 65001;
        let msee_cfg = Config::msee("127.0.0.1".parse().unwrap(), 65001, false);
        let (msee_tx, msee_rx) = watch::channel(announce("10.0.3.0/24", &[12076]));
        let (cust_tx, cust_rx) = watch::channel(announce("10.0.1.0/24", &[65001]));
        let (msee_reports, mut msee_events) = mpsc::unbounded_channel();
        let (cust_reports, mut cust_events) = mpsc::unbounded_channel();
        let (_bfd_tx, bfd) = watch::channel(0u64);
        let io = |announce, reports| Io {
            epoch,
            announce,
            reports,
            bfd_down: bfd.clone(),
            counters: std::sync::Arc::new(watch::channel(Counters::default()).0),
        };
        let msee_io = io(msee_rx, msee_reports);
        let cust_io = io(cust_rx, cust_reports);
        let msee = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let s = Session::new(msee_cfg);
            run(stream, s, msee_io).await
        });
        let customer = tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            run(stream, Session::new(customer_cfg), cust_io).await
        });
        // Each side learns the other's route.
        let got = tokio::time::timeout(
            Duration::from_secs(5),
            wait_routes(&mut msee_events, "10.0.1.0/24"),
        )
        .await
        .expect("routes within 5 s");
        assert_eq!(got.received.len(), 1);
        tokio::time::timeout(
            Duration::from_secs(5),
            wait_routes(&mut cust_events, "10.0.3.0/24"),
        )
        .await
        .expect("routes within 5 s");
        // A change of what the MSEE announces reaches the customer.
        msee_tx.send(announce("10.0.4.0/24", &[12076])).unwrap();
        tokio::time::timeout(
            Duration::from_secs(5),
            wait_routes(&mut cust_events, "10.0.4.0/24"),
        )
        .await
        .expect("the new route within 5 s");
        // The customer stops: the MSEE's session goes down and its routes go with it.
        customer.abort();
        drop(cust_tx);
        let msee_session = tokio::time::timeout(Duration::from_secs(5), msee)
            .await
            .expect("the MSEE's session ends")
            .unwrap();
        assert_eq!(msee_session.state(), State::Idle);
        assert!(msee_session.received().is_empty());
        drop(msee_tx);
    }

    /// BFD leaving Up on the link: the MSEE closes the session with Cease / BFD Down, which
    /// the customer's side sees as such; the counters were published while it ran.
    #[tokio::test]
    async fn bfd_down_closes_the_session_with_cease_bfd_down() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let epoch = Instant::now();
        let mut customer_cfg = Config::msee("127.0.0.2".parse().unwrap(), 12076, false);
        customer_cfg.local_asn = 65001;
        let msee_cfg = Config::msee("127.0.0.1".parse().unwrap(), 65001, false);
        let (_m, msee_rx) = watch::channel(announce("10.0.3.0/24", &[12076]));
        let (_c, cust_rx) = watch::channel(announce("10.0.1.0/24", &[65001]));
        let (msee_reports, mut msee_events) = mpsc::unbounded_channel();
        let (cust_reports, mut cust_events) = mpsc::unbounded_channel();
        let (bfd_tx, bfd) = watch::channel(7u64);
        let counters = std::sync::Arc::new(watch::channel(Counters::default()).0);
        let mut seen = counters.subscribe();
        let msee_io = Io {
            epoch,
            announce: msee_rx,
            reports: msee_reports,
            bfd_down: bfd.clone(),
            counters,
        };
        let cust_io = Io {
            epoch,
            announce: cust_rx,
            reports: cust_reports,
            bfd_down: watch::channel(0).1,
            counters: std::sync::Arc::new(watch::channel(Counters::default()).0),
        };
        let msee = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            run(stream, Session::new(msee_cfg), msee_io).await
        });
        tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            run(stream, Session::new(customer_cfg), cust_io).await
        });
        // A count from before the connection does not end it.
        tokio::time::timeout(
            Duration::from_secs(5),
            wait_routes(&mut msee_events, "10.0.1.0/24"),
        )
        .await
        .expect("established");
        assert!(seen.borrow_and_update().messages_in >= 3);
        bfd_tx.send(8).unwrap();
        let down = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let r = cust_events.recv().await.expect("a report");
                if let Event::Down { notification, .. } = r.event {
                    return notification;
                }
            }
        })
        .await
        .expect("the customer sees the session end");
        let (dir, n) = down.expect("a NOTIFICATION");
        assert_eq!(dir, crate::bgp::session::Direction::Received);
        assert_eq!((n.code, n.subcode), (6, 10), "{}", n.describe());
        let s = tokio::time::timeout(Duration::from_secs(5), msee)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.state(), State::Idle);
        assert!(s.last_error().unwrap().contains("BFD Down"));
    }
}
