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

use super::session::{Event, Session};
use super::wire::Attributes;

/// An event of a session, with the peer's routes after it (for `Event::Routes`, and empty
/// after `Down`).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub event: Event,
    pub received: BTreeMap<IpNet, Attributes>,
}

/// Runs `session` over `stream` until it ends. `epoch` is the clock's zero; `announce` holds
/// what to announce (changes are sent as they come); reports go to `reports`; when `carrier`
/// turns false (the link under the connection was cut) the connection is dropped at once.
pub async fn run(
    mut stream: TcpStream,
    mut session: Session,
    epoch: Instant,
    mut announce: watch::Receiver<BTreeMap<IpNet, Attributes>>,
    reports: mpsc::UnboundedSender<Report>,
    mut carrier: watch::Receiver<bool>,
) -> Session {
    let _ = stream.set_nodelay(true);
    let now = || epoch.elapsed();
    session.advertise(announce.borrow_and_update().clone());
    session.connected(now());
    let mut buf = vec![0u8; 65536];
    let mut announcing = true;
    let mut closed = false;
    loop {
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
            _ = carrier.wait_for(|up| !up) => {
                session.transport_closed(now());
                closed = true;
            }
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
        let (_carrier_tx, carrier) = watch::channel(true);
        let carrier2 = carrier.clone();
        let msee = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let s = Session::new(msee_cfg);
            run(stream, s, epoch, msee_rx, msee_reports, carrier).await
        });
        let customer = tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            run(
                stream,
                Session::new(customer_cfg),
                epoch,
                cust_rx,
                cust_reports,
                carrier2,
            )
            .await
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
}
