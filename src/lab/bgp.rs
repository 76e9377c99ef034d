//! The MSEEs' BGP sessions with the routers of sites that have one, on the lab's runtime: per
//! circuit link, a listener on the MSEE's link address (port 179) inside the MSEEs' namespace,
//! reached by the site's router over the emulated link (so a failed link fails the session);
//! each connection runs `bgp::speaker` with the MSEE's configuration (AS 12076, hold 180 s,
//! the SKU's prefix limit, allowas-in 2). What the session accepts becomes that site's
//! routes in the plane (`LiveLab::set_customer`); what it announces follows the plane's RIB
//! (checked five times a second). Beside each, a single-hop BFD session (`bfd`, passive, on
//! UDP 3784 of the MSEE's address): when it leaves Up the BGP session is closed with Cease /
//! BFD Down.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::live::LiveLab;
use super::names;
use crate::bfd;
use crate::bgp::session::{Config, Counters, Event, Session};
use crate::bgp::speaker;

/// One circuit link whose customer end is a real router.
#[derive(Debug, Clone, Copy)]
pub struct RouterLink {
    pub site: usize,
    pub circuit: usize,
    pub path: usize,
    pub ce: Ipv4Addr,
    pub msee: Ipv4Addr,
    pub asn: u32,
    pub premium: bool,
}

/// Runs `make` on a thread inside namespace `ns`: the sockets it makes live there.
fn in_netns<T: Send + 'static>(
    ns: &str,
    make: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let path = crate::lab::netns::netns_path(ns);
    std::thread::spawn(move || {
        let f = std::fs::File::open(path)?;
        nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        make()
    })
    .join()
    .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
}

/// A listening socket made inside namespace `ns`.
fn listen_in(ns: &str, addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let l = in_netns(ns, move || {
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(l)
    })?;
    tokio::net::TcpListener::from_std(l)
}

/// A UDP socket made inside namespace `ns`, bound to `addr`, sending with TTL 255 (RFC 5881).
fn udp_in(ns: &str, addr: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    let s = in_netns(ns, move || {
        let s = std::net::UdpSocket::bind(addr)?;
        s.set_ttl(255)?;
        s.set_nonblocking(true)?;
        Ok(s)
    })?;
    tokio::net::UdpSocket::from_std(s)
}

fn lock(live: &Arc<Mutex<LiveLab>>) -> std::sync::MutexGuard<'_, LiveLab> {
    live.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts every router link's session tasks; abort the handles to stop them.
pub fn spawn(
    live: &Arc<Mutex<LiveLab>>,
    lab: &str,
    epoch: Instant,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let links = lock(live).router_links();
    let ns = names::msee_netns_name(lab);
    let mut handles = Vec::new();
    for (i, l) in links.into_iter().enumerate() {
        let listener = listen_in(&ns, SocketAddr::new(IpAddr::V4(l.msee), 179))?;
        let bfd_rx = udp_in(&ns, SocketAddr::new(IpAddr::V4(l.msee), bfd::PORT))?;
        // RFC 5881: from a source port in 49152-65535, the same for the session's life.
        let bfd_tx = udp_in(&ns, SocketAddr::new(IpAddr::V4(l.msee), 49152 + i as u16))?;
        let (announce_tx, announce_rx) = watch::channel(lock(live).advertised(l.site, l.path));
        let (reports_tx, mut reports) = mpsc::unbounded_channel();
        let (bfd_down_tx, bfd_down) = watch::channel(0u64);
        let counters = Arc::new(watch::channel(Counters::default()).0);
        lock(live).watch_session(l.site, l.path, counters.subscribe());
        let io = speaker::Io {
            epoch,
            announce: announce_rx,
            reports: reports_tx,
            bfd_down,
            counters,
        };
        let mut config = Config::msee(l.msee, l.asn, l.premium);
        if let Some(d) = lock(live).topology().lab.prefix_limit_restart {
            config.prefix_limit_restart = d.0;
        }
        handles.push(tokio::spawn(async move {
            let mut session = Session::new(config);
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                if peer.ip() != IpAddr::V4(l.ce) {
                    // Only the customer's router on this link peers here.
                    continue;
                }
                session = speaker::run(stream, session, io.clone()).await;
            }
        }));
        let live_b = Arc::clone(live);
        handles.push(tokio::spawn(async move {
            let mut session = bfd::Session::new(bfd::Config::msee(i as u32 + 1));
            let now = || epoch.elapsed();
            let mut buf = [0u8; 128];
            let peer = SocketAddr::new(IpAddr::V4(l.ce), bfd::PORT);
            loop {
                while let Some(p) = session.poll_transmit() {
                    let _ = bfd_tx.send_to(&p, peer).await;
                }
                while let Some(e) = session.poll_event() {
                    let mut lv = lock(&live_b);
                    match e {
                        bfd::Event::Up => {
                            info!(msee = %l.msee, "BFD session up");
                            lv.set_bfd(l.site, l.path, session.state());
                        }
                        bfd::Event::Down { diag } => {
                            warn!(msee = %l.msee, diag = bfd::diag::name(diag), "BFD session down");
                            lv.set_bfd(l.site, l.path, session.state());
                            bfd_down_tx.send_modify(|n| *n += 1);
                        }
                    }
                }
                let wait = session
                    .poll_timeout()
                    .map_or(Duration::from_secs(3600), |t| t.saturating_sub(now()));
                tokio::select! {
                    r = bfd_rx.recv_from(&mut buf) => {
                        if let Ok((n, from)) = r {
                            if from.ip() == IpAddr::V4(l.ce) {
                                session.receive(now(), &buf[..n]);
                            }
                        }
                    }
                    _ = tokio::time::sleep(wait) => session.handle_timeout(now()),
                }
            }
        }));
        let live_r = Arc::clone(live);
        handles.push(tokio::spawn(async move {
            while let Some(r) = reports.recv().await {
                let mut lv = lock(&live_r);
                match &r.event {
                    Event::Established => {
                        info!(msee = %l.msee, "BGP session established");
                        lv.set_session(l.site, l.path, "Established", None);
                    }
                    Event::Down { reason, .. } => {
                        warn!(msee = %l.msee, %reason, "BGP session down");
                        lv.set_session(l.site, l.path, "Idle", Some(reason.clone()));
                    }
                    Event::PrefixWarning { count, limit, .. } => {
                        warn!(msee = %l.msee, count, limit, "80% of the prefix limit reached");
                    }
                    Event::Routes => {}
                }
                lv.set_customer(l.site, l.path, r.received);
            }
        }));
        let live_a = Arc::clone(live);
        handles.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let now = lock(&live_a).advertised(l.site, l.path);
                announce_tx.send_if_modified(|cur| {
                    if *cur == now {
                        false
                    } else {
                        *cur = now;
                        true
                    }
                });
            }
        }));
    }
    Ok(handles)
}
