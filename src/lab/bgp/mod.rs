//! The MSEEs' BGP sessions with the routers of sites that have one, on the lab's runtime: per
//! circuit link, a listener on the MSEE's link address (port 179) inside the MSEEs' namespace,
//! reached by the site's router over the emulated link (so a failed link fails the session);
//! each connection runs `speaker` with the MSEE's configuration (AS 12076, hold 180 s,
//! the SKU's prefix limit, allowas-in 2). What the session accepts becomes that site's
//! routes in the plane (`LiveLab::set_customer`); what it announces is the plane's Adj-RIB-Out
//! toward it, pushed by the plane's `Advertise` effects as it changes. Beside each, a single-hop BFD session (`bfd`, passive, on
//! UDP 3784 of the MSEE's address), running while BGP is Established: when it leaves Up the
//! BGP session is closed with Cease / BFD Down.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::live::{LiveLab, RouterLink};
use super::names;
use crate::bfd;
use crate::bgp::session::{Config, Counters, Event, Session};
pub mod speaker;

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

/// Makes `listener` require TCP MD5 signatures (RFC 2385) keyed `key` on connections from
/// `peer`, IPv4 or IPv6 (Linux TCP_MD5SIG; no crate wraps it).
fn require_md5(listener: &tokio::net::TcpListener, peer: IpAddr, key: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    /// Linux's `struct tcp_md5sig` (include/uapi/linux/tcp.h).
    #[repr(C)]
    struct TcpMd5Sig {
        addr: libc::sockaddr_storage,
        flags: u8,
        prefixlen: u8,
        keylen: u16,
        ifindex: libc::c_int,
        key: [u8; libc::TCP_MD5SIG_MAXKEYLEN],
    }
    if key.len() > libc::TCP_MD5SIG_MAXKEYLEN {
        return Err(std::io::Error::other("MD5 key longer than 80 bytes"));
    }
    // SAFETY: all-zero bytes are a valid sockaddr_storage and TcpMd5Sig (plain integers).
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    let at = std::ptr::from_mut(&mut sig.addr);
    match peer {
        IpAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from(a).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and aligned for it.
            unsafe { std::ptr::write(at.cast::<libc::sockaddr_in>(), sin) };
        }
        IpAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6 and aligned for it.
            unsafe { std::ptr::write(at.cast::<libc::sockaddr_in6>(), sin6) };
        }
    }
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key.as_bytes());
    // SAFETY: the pointer and length describe `sig`, which outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            std::ptr::from_ref(&sig).cast(),
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The MSEEs' namespace's TCP MD5 counters (TcpExt TCPMD5NotFound, TCPMD5Unexpected,
/// TCPMD5Failure), read twice a second by a thread inside it until nobody watches.
fn md5_counters(ns: &str) -> std::io::Result<watch::Receiver<[u64; 3]>> {
    let (tx, rx) = watch::channel([0u64; 3]);
    let path = crate::lab::netns::netns_path(ns);
    std::thread::Builder::new()
        .name("md5-counters".into())
        .spawn(move || {
            let Ok(f) = std::fs::File::open(path) else {
                return;
            };
            if nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
                return;
            }
            loop {
                let text =
                    std::fs::read_to_string("/proc/thread-self/net/netstat").unwrap_or_default();
                let now = tcp_md5_counters(&text);
                if tx.is_closed() {
                    return;
                }
                tx.send_if_modified(|c| std::mem::replace(c, now) != now);
                std::thread::sleep(Duration::from_millis(500));
            }
        })?;
    Ok(rx)
}

/// TCPMD5NotFound, TCPMD5Unexpected and TCPMD5Failure from /proc/net/netstat's text.
fn tcp_md5_counters(netstat: &str) -> [u64; 3] {
    let mut lines = netstat.lines();
    let mut out = [0u64; 3];
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if !names.starts_with("TcpExt:") {
            continue;
        }
        for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
            let i = match n {
                "TCPMD5NotFound" => 0,
                "TCPMD5Unexpected" => 1,
                "TCPMD5Failure" => 2,
                _ => continue,
            };
            out[i] = v.parse().unwrap_or(0);
        }
    }
    out
}

/// Why a router's session does not come up, from the MD5 counters' growth (`delta`) and
/// whether the circuit has a key. The counters are the namespace's, not one session's: each
/// link of a keyed (or unkeyed) circuit whose session is down is given the reason.
fn md5_reason(delta: [u64; 3], keyed: bool) -> Option<&'static str> {
    match (keyed, delta) {
        (true, [_, _, f]) if f > 0 => Some(
            "TCP MD5 signature mismatch: the router's key differs from the circuit's shared_key",
        ),
        (true, [n, _, _]) if n > 0 => Some(
            "TCP MD5 signature missing: the circuit has a shared_key and the router sends none",
        ),
        (false, [_, u, _]) if u > 0 => Some(
            "TCP MD5 signature unexpected: the router signs its segments but the circuit has no shared_key",
        ),
        _ => None,
    }
}

/// A UDP socket made inside namespace `ns`, bound to `addr`, sending with TTL (IPv4) or hop
/// limit (IPv6) 255 (RFC 5881 section 5).
fn udp_in(ns: &str, addr: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    let s = in_netns(ns, move || {
        let s = std::net::UdpSocket::bind(addr)?;
        if addr.is_ipv6() {
            set_unicast_hops_255(&s)?;
        } else {
            s.set_ttl(255)?;
        }
        s.set_nonblocking(true)?;
        Ok(s)
    })?;
    tokio::net::UdpSocket::from_std(s)
}

/// IPV6_UNICAST_HOPS 255 on an IPv6 socket (std has no setter for it).
fn set_unicast_hops_255(s: &std::net::UdpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let hops: libc::c_int = 255;
    // SAFETY: the pointer and length describe `hops`, which outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_UNICAST_HOPS,
            std::ptr::from_ref(&hops).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
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
        let listener = listen_in(&ns, SocketAddr::new(l.msee, 179))?;
        let key = lock(live).topology().circuit[l.circuit].shared_key.clone();
        if let Some(key) = &key {
            require_md5(&listener, l.ce, key)?;
        }
        let bfd_rx = udp_in(&ns, SocketAddr::new(l.msee, bfd::PORT))?;
        // RFC 5881: from a source port in 49152-65535, the same for the session's life.
        let bfd_tx = udp_in(&ns, SocketAddr::new(l.msee, 49152 + i as u16))?;
        let announce_rx = lock(live).announce(l.site, l.circuit, l.path);
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (bfd_down_tx, bfd_down) = watch::channel(0u64);
        // BFD runs only while BGP is Established on the link (as a router creates the BFD
        // session of a BGP neighbour once it is up): FRR resets its BFD session when BGP comes
        // up, and a session already Up would see that as a failure.
        let (bgp_up_tx, bgp_up) = watch::channel(false);
        let counters = Arc::new(watch::channel(Counters::default()).0);
        lock(live).watch_session(&l, counters.subscribe());
        let io = speaker::Io {
            epoch,
            announce: announce_rx,
            reports: reports_tx,
            bfd_down,
            counters,
        };
        let mut config = Config::msee(l.router_id, l.asn, l.premium).only(l.v6);
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
                if peer.ip() != l.ce {
                    // Only the customer's router on this link peers here.
                    continue;
                }
                session = speaker::run(stream, session, io.clone()).await;
            }
        }));
        handles.push(tokio::spawn(run_bfd(
            i,
            l,
            epoch,
            (bfd_rx, bfd_tx),
            Arc::clone(live),
            bfd_down_tx,
            bgp_up,
        )));
        handles.push(tokio::spawn(follow_reports(
            l,
            Arc::clone(live),
            reports,
            bgp_up_tx,
        )));
    }
    if !handles.is_empty() {
        // Why a session stays down when the keys disagree: the kernel drops those segments
        // before any socket sees them, and only its counters tell.
        let mut md5 = md5_counters(&ns)?;
        let live_m = Arc::clone(live);
        handles.push(tokio::spawn(async move {
            let mut last = *md5.borrow_and_update();
            while md5.changed().await.is_ok() {
                let now = *md5.borrow_and_update();
                let delta = [0, 1, 2].map(|i| now[i].saturating_sub(last[i]));
                last = now;
                let mut lv = lock(&live_m);
                for l in lv.router_links() {
                    let keyed = lv.topology().circuit[l.circuit].shared_key.is_some();
                    if let Some(reason) = md5_reason(delta, keyed) {
                        if lv.session_down_because(&l, reason) {
                            warn!(msee = %l.msee, reason, "BGP session cannot connect");
                        }
                    }
                }
            }
        }));
    }
    if lock(live).has_ether_ports() {
        // Why a CE on an Ethernet port gets no session when it sends on another VLAN: its
        // frames never reach the MSEE, and only the port's drop counters tell.
        let live_v = Arc::clone(live);
        handles.push(tokio::spawn(async move {
            let mut seen = std::collections::HashMap::new();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let mut lv = lock(&live_v);
                for (l, reason) in lv.vlan_reasons(&mut seen) {
                    if lv.session_down_because(&l, &reason) {
                        warn!(msee = %l.msee, reason, "BGP session cannot connect");
                    }
                }
            }
        }));
    }
    Ok(handles)
}

/// The BFD session on router link `l` (the `i`th): passive, running while BGP is Established
/// (`bgp_up`); each time it leaves Up for another reason than AdminDown, `bfd_down` counts up
/// and the BGP speaker closes the session.
async fn run_bfd(
    i: usize,
    l: RouterLink,
    epoch: Instant,
    (bfd_rx, bfd_tx): (tokio::net::UdpSocket, tokio::net::UdpSocket),
    live_b: Arc<Mutex<LiveLab>>,
    bfd_down_tx: watch::Sender<u64>,
    mut bgp_up: watch::Receiver<bool>,
) {
    let fresh = || bfd::Session::new(bfd::Config::msee(i as u32 + 1));
    let mut session = fresh();
    let now = || epoch.elapsed();
    let mut buf = [0u8; 128];
    let peer = SocketAddr::new(l.ce, bfd::PORT);
    loop {
        while let Some(p) = session.poll_transmit() {
            let _ = bfd_tx.send_to(&p, peer).await;
        }
        while let Some(e) = session.poll_event() {
            let mut lv = lock(&live_b);
            match e {
                bfd::Event::Up => {
                    info!(msee = %l.msee, "BFD session up");
                    lv.set_bfd(&l, session.state());
                }
                bfd::Event::Down { diag, admin } => {
                    lv.set_bfd(&l, session.state());
                    if admin {
                        // The router is reconfiguring BFD, the path is fine: BGP stays.
                        info!(msee = %l.msee, "BFD session down: the peer signalled AdminDown");
                    } else {
                        warn!(msee = %l.msee, diag = bfd::diag::name(diag), "BFD session down");
                        bfd_down_tx.send_modify(|n| *n += 1);
                    }
                }
            }
        }
        let wait = session
            .poll_timeout()
            .map_or(Duration::from_secs(3600), |t| t.saturating_sub(now()));
        tokio::select! {
            r = bfd_rx.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    if from.ip() == l.ce && *bgp_up.borrow() {
                        session.receive(now(), &buf[..n]);
                    }
                }
            }
            _ = tokio::time::sleep(wait) => session.handle_timeout(now()),
            changed = bgp_up.changed() => {
                if changed.is_err() {
                    return;
                }
                if !*bgp_up.borrow_and_update() {
                    // BGP went down: its BFD session goes with it, silently.
                    session = fresh();
                    lock(&live_b).set_bfd(&l, session.state());
                }
            }
        }
    }
}

/// What the BGP speaker on router link `l` reports, into the lab: the session's state for
/// the summary and BFD, and the routes it accepted into the plane.
async fn follow_reports(
    l: RouterLink,
    live_r: Arc<Mutex<LiveLab>>,
    mut reports: mpsc::UnboundedReceiver<speaker::Report>,
    bgp_up_tx: watch::Sender<bool>,
) {
    while let Some(first) = reports.recv().await {
        // Reports that queued up while the lab was busy (an UPDATE burst) are taken
        // together: their events in order, and the routes of the last, which hold everything
        // the session has accepted. The RIBs are then computed once, not once per UPDATE.
        let mut batch = vec![first];
        while let Ok(r) = reports.try_recv() {
            batch.push(r);
        }
        let mut lv = lock(&live_r);
        for r in &batch {
            note_event(&l, &mut lv, r, &bgp_up_tx);
        }
        let received = batch.pop().map(|r| r.received).unwrap_or_default();
        lv.set_customer(&l, received);
    }
}

/// One report's event into the lab's session book (and the BFD task's view of BGP).
fn note_event(
    l: &RouterLink,
    lv: &mut LiveLab,
    r: &speaker::Report,
    bgp_up_tx: &watch::Sender<bool>,
) {
    match &r.event {
        Event::Established => {
            info!(msee = %l.msee, "BGP session established");
            lv.set_session(l, "Established", None);
            bgp_up_tx.send_replace(true);
        }
        Event::Down { reason, .. } => {
            warn!(msee = %l.msee, %reason, "BGP session down");
            lv.set_session(l, "Idle", Some(reason.clone()));
            bgp_up_tx.send_replace(false);
        }
        Event::PrefixWarning { count, limit, .. } => {
            warn!(msee = %l.msee, count, limit, "80% of the prefix limit reached");
        }
        Event::Routes => {
            tracing::debug!(msee = %l.msee, prefixes = r.received.len(), "routes received");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_counters_are_read_from_netstat_and_explain_a_session_down() {
        let text = "TcpExt: SyncookiesSent TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure\n\
                    TcpExt: 0 4 5 6\nIpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(tcp_md5_counters(text), [4, 5, 6]);
        assert!(md5_reason([0, 0, 1], true).unwrap().contains("mismatch"));
        assert!(md5_reason([1, 0, 0], true).unwrap().contains("missing"));
        assert!(md5_reason([0, 1, 0], false).unwrap().contains("unexpected"));
        assert_eq!(md5_reason([0, 1, 0], true), None);
        assert_eq!(md5_reason([0, 0, 0], false), None);
    }
}
