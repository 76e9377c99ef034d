//! The MSEEs' BGP sessions with the routers of sites that have one, on the lab's runtime: per
//! circuit link, a listener on the MSEE's link address (port 179) inside the MSEEs' namespace,
//! reached by the site's router over the emulated link (so a failed link fails the session);
//! each connection runs `bgp::speaker` with the MSEE's configuration (AS 12076, hold 180 s,
//! the SKU's prefix limit, allowas-in 2). What the session accepts becomes that site's
//! routes in the plane (`LiveLab::set_customer`); what it announces follows the plane's RIB
//! (checked five times a second).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::live::LiveLab;
use super::names;
use crate::bgp::session::{Config, Event, Session};
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

/// A listening socket made inside namespace `ns`.
fn listen_in(ns: &str, addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let path = crate::lab::netns::netns_path(ns);
    std::thread::spawn(move || {
        let f = std::fs::File::open(path)?;
        nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
    .join()
    .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
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
    for l in links {
        let listener = tokio::net::TcpListener::from_std(listen_in(
            &ns,
            SocketAddr::new(IpAddr::V4(l.msee), 179),
        )?)?;
        let (announce_tx, announce_rx) = watch::channel(lock(live).advertised(l.site, l.path));
        let (reports_tx, mut reports) = mpsc::unbounded_channel();
        let carrier = lock(live).carrier(l.circuit, l.path);
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
                if peer.ip() != IpAddr::V4(l.ce) || !*carrier.borrow() {
                    // Only the customer's router on this link peers here, over a live link.
                    continue;
                }
                session = speaker::run(
                    stream,
                    session,
                    epoch,
                    announce_rx.clone(),
                    reports_tx.clone(),
                    carrier.clone(),
                )
                .await;
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
