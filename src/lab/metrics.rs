//! Prometheus metrics of a running lab (`reachlab up --metrics ADDR`): the exposition text,
//! rendered from the live lab on each scrape, and a minimal HTTP/1.1 endpoint serving it at
//! `/metrics`. Counters are the engine's own (the numbers `stats` shows); nothing is sampled.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tracing::debug;

use super::live::{LiveLab, SessionMetrics};
use crate::engine::table::PortKind;
use crate::engine::DropReason;
use crate::engine::{Engine, PortId};
use crate::topology::GlobalReach;

/// Writes one metric family's header.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value, escaped as the text format requires.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The lab's metrics in the Prometheus text format (version 0.0.4).
pub fn render(live: &LiveLab) -> String {
    let topo = live.topology();
    let lab = esc(&topo.lab.name);
    let now = live.now();
    let gr = live.gr_states();
    // Before the engine is locked below: this reads the engine too.
    let sessions = live.bgp_sessions();
    let ring = live.ring_drops();
    let engine = live.engine();
    let e = engine.lock().unwrap_or_else(|p| p.into_inner());
    let mut o = String::with_capacity(8192);
    circuits(&mut o, &lab, &e, now, &ring);
    endpoints(&mut o, &lab, &e, &ring);
    global_reach(&mut o, &lab, &gr);
    if !sessions.is_empty() {
        bgp_sessions(&mut o, &lab, &sessions);
    }
    model(&mut o, &lab, &e);
    o
}

const PATHS: [&str; 2] = ["primary", "secondary"];

/// Per circuit link: bytes, packets, up, shaper queue, drops by reason (with `ring`, the
/// kernel's drops in front of reachlab per port, at a TUN's ring or a port's sockets: its
/// router links' count for a circuit).
fn circuits(o: &mut String, lab: &str, e: &Engine, now: Duration, ring: &BTreeMap<PortId, u64>) {
    let t = e.tables();
    let paths = PATHS;
    family(
        o,
        "reachlab_circuit_bytes_total",
        "counter",
        "Bytes through a circuit's MSEE per link; direction in = from the customer side, out = towards it (as az get-stats).",
    );
    for (i, c) in e.circuit_stats().iter().enumerate() {
        let name = esc(&t.circuits[i].name);
        for (p, path) in paths.iter().enumerate() {
            let _ = writeln!(o, "reachlab_circuit_bytes_total{{lab=\"{lab}\",circuit=\"{name}\",path=\"{path}\",direction=\"in\"}} {}", c.input[p].bytes);
            let _ = writeln!(o, "reachlab_circuit_bytes_total{{lab=\"{lab}\",circuit=\"{name}\",path=\"{path}\",direction=\"out\"}} {}", c.output[p].bytes);
        }
    }
    family(
        o,
        "reachlab_circuit_packets_total",
        "counter",
        "Packets (GSO segments counted one by one) through a circuit's MSEE per link and direction.",
    );
    for (i, c) in e.circuit_stats().iter().enumerate() {
        let name = esc(&t.circuits[i].name);
        for (p, path) in paths.iter().enumerate() {
            let _ = writeln!(o, "reachlab_circuit_packets_total{{lab=\"{lab}\",circuit=\"{name}\",path=\"{path}\",direction=\"in\"}} {}", c.input[p].packets);
            let _ = writeln!(o, "reachlab_circuit_packets_total{{lab=\"{lab}\",circuit=\"{name}\",path=\"{path}\",direction=\"out\"}} {}", c.output[p].packets);
        }
    }
    family(
        o,
        "reachlab_circuit_link_up",
        "gauge",
        "Whether a circuit's link is up (1) or failed with `circuit fail` (0).",
    );
    for i in 0..t.circuits.len() {
        let name = esc(&t.circuits[i].name);
        let links = e.links(i);
        for (p, path) in paths.iter().enumerate() {
            let _ = writeln!(
                o,
                "reachlab_circuit_link_up{{lab=\"{lab}\",circuit=\"{name}\",path=\"{path}\"}} {}",
                u8::from(links[p])
            );
        }
    }
    family(
        o,
        "reachlab_circuit_queue_seconds",
        "gauge",
        "Queue depth of a circuit's shaper, as the wait a packet arriving now would have; direction up = towards Microsoft.",
    );
    family(
        o,
        "reachlab_circuit_queue_bytes",
        "gauge",
        "Queue depth of a circuit's shaper in bytes at the circuit's rate (0 when unshaped).",
    );
    for i in 0..t.circuits.len() {
        let name = esc(&t.circuits[i].name);
        let rate = t.circuits[i].timing.rate_bps;
        for (p, path) in paths.iter().enumerate() {
            for (d, dir) in ["up", "down"].iter().enumerate() {
                let q = e.queue_delay(i, p, d, now);
                let labels =
                    format!("lab=\"{lab}\",circuit=\"{name}\",path=\"{path}\",direction=\"{dir}\"");
                let _ = writeln!(
                    o,
                    "reachlab_circuit_queue_seconds{{{labels}}} {}",
                    q.as_secs_f64()
                );
                let bytes = rate.map_or(0.0, |r| q.as_secs_f64() * r as f64 / 8.0);
                let _ = writeln!(
                    o,
                    "reachlab_circuit_queue_bytes{{{labels}}} {}",
                    bytes.round()
                );
            }
        }
    }
    family(
        o,
        "reachlab_circuit_drops_total",
        "counter",
        "Packets dropped at a circuit's MSEE or on its links, by reason (ring-full: by the kernel, at a router link's TUN or Ethernet port's socket, before reachlab read them).",
    );
    for (i, c) in e.circuit_stats().iter().enumerate() {
        let name = esc(&t.circuits[i].name);
        for r in DropReason::ALL {
            let _ = writeln!(
                o,
                "reachlab_circuit_drops_total{{lab=\"{lab}\",circuit=\"{name}\",reason=\"{}\"}} {}",
                r.name(),
                c.drops[r.index()]
            );
        }
        let full = super::rings::circuit_total(ring, t, i);
        let _ = writeln!(
            o,
            "reachlab_circuit_drops_total{{lab=\"{lab}\",circuit=\"{name}\",reason=\"{}\"}} {full}",
            super::rings::RING_FULL
        );
    }
}

/// Per site and VNet (and router link): what it sent and received, and its drops by reason
/// (with `ring`, the kernel's drops at its TUN's ring or its Ethernet port's sockets).
fn endpoints(o: &mut String, lab: &str, e: &Engine, ring: &BTreeMap<PortId, u64>) {
    let t = e.tables();
    family(
        o,
        "reachlab_endpoint_bytes_total",
        "counter",
        "Bytes a site or VNet sent (rx: read from its TUN) and received (tx: written to it).",
    );
    family(
        o,
        "reachlab_endpoint_packets_total",
        "counter",
        "Packets a site or VNet sent (rx) and received (tx).",
    );
    family(
        o,
        "reachlab_endpoint_drops_total",
        "counter",
        "Packets a site or VNet sent that were dropped, by reason (ring-full: by the kernel, at its TUN or Ethernet port's socket, before reachlab read them).",
    );
    for (i, s) in e.port_stats().iter().enumerate() {
        let p = &t.ports[i];
        let kind = match p.kind {
            PortKind::Site { .. } => "site",
            PortKind::Vnet { .. } => "vnet",
            PortKind::Link { .. } => "link",
            PortKind::Msee => "msee",
        };
        let labels = format!(
            "lab=\"{lab}\",endpoint=\"{}\",kind=\"{kind}\"",
            esc(&p.name)
        );
        for (dir, c) in [("rx", s.rx), ("tx", s.tx)] {
            let _ = writeln!(
                o,
                "reachlab_endpoint_bytes_total{{{labels},direction=\"{dir}\"}} {}",
                c.bytes
            );
            let _ = writeln!(
                o,
                "reachlab_endpoint_packets_total{{{labels},direction=\"{dir}\"}} {}",
                c.packets
            );
        }
        for r in DropReason::ALL {
            let n = s.drops[r.index()];
            if n > 0 {
                let _ = writeln!(
                    o,
                    "reachlab_endpoint_drops_total{{{labels},reason=\"{}\"}} {n}",
                    r.name()
                );
            }
        }
        if let Some(n) = ring.get(&i).filter(|n| **n > 0) {
            let _ = writeln!(
                o,
                "reachlab_endpoint_drops_total{{{labels},reason=\"{}\"}} {n}",
                super::rings::RING_FULL
            );
        }
    }
}

/// Each Global Reach connection: Connected or not.
fn global_reach(o: &mut String, lab: &str, gr: &[(&GlobalReach, bool)]) {
    family(
        o,
        "reachlab_global_reach_connected",
        "gauge",
        "Whether a Global Reach connection is Connected (1) or Disconnected (0: a circuit has both links down).",
    );
    for (g, up) in gr {
        let _ = writeln!(
            o,
            "reachlab_global_reach_connected{{lab=\"{lab}\",circuit=\"{}\",peer=\"{}\",address_prefix=\"{}\"}} {}",
            esc(&g.circuits[0]),
            esc(&g.circuits[1]),
            g.address_prefix,
            u8::from(*up)
        );
    }
}

/// Per BGP session: Established, prefixes, messages, BFD.
fn bgp_sessions(o: &mut String, lab: &str, sessions: &[SessionMetrics]) {
    family(
        o,
        "reachlab_bgp_session_established",
        "gauge",
        "Whether an MSEE's BGP session with a site's router is Established (1) or not (0).",
    );
    for s in sessions {
        let _ = writeln!(
            o,
            "reachlab_bgp_session_established{{lab=\"{lab}\",circuit=\"{}\",link=\"{}\",site=\"{}\",family=\"{}\",neighbor=\"{}\"}} {}",
            esc(&s.circuit),
            s.link,
            esc(&s.site),
            s.family,
            s.neighbor,
            u8::from(s.established)
        );
    }
    type Value = fn(&SessionMetrics) -> u64;
    let values: [(&str, &str, &str, Value); 5] = [
        (
            "reachlab_bgp_prefixes_received",
            "gauge",
            "Prefixes the MSEE accepted from a site's router on a link.",
            |s| s.received as u64,
        ),
        (
            "reachlab_bgp_prefixes_advertised",
            "gauge",
            "Prefixes the MSEE announces to a site's router on a link.",
            |s| s.advertised as u64,
        ),
        (
            "reachlab_bgp_messages_received_total",
            "counter",
            "BGP messages the MSEE received from a site's router on a link.",
            |s| s.messages_in,
        ),
        (
            "reachlab_bgp_messages_sent_total",
            "counter",
            "BGP messages the MSEE sent to a site's router on a link.",
            |s| s.messages_out,
        ),
        (
            "reachlab_bfd_session_up",
            "gauge",
            "Whether the MSEE's BFD session with a site's router on a link is Up (1) or not (0).",
            |s| u64::from(s.bfd_up),
        ),
    ];
    for (name, kind, help, value) in values {
        family(o, name, kind, help);
        for s in sessions {
            let _ = writeln!(
                o,
                "{name}{{lab=\"{lab}\",circuit=\"{}\",link=\"{}\",site=\"{}\",family=\"{}\"}} {}",
                esc(&s.circuit),
                s.link,
                esc(&s.site),
                s.family,
                value(s)
            );
        }
    }
}

/// The model: round trips per circuit and destination, and how late delayed packets left.
fn model(o: &mut String, lab: &str, e: &Engine) {
    let t = e.tables();
    family(
        o,
        "reachlab_modelled_rtt_seconds",
        "gauge",
        "The modelled round trip from a circuit's sites to each destination its MSEE routes to.",
    );
    for i in 0..t.circuits.len() {
        for (port, rtt) in t.rtts(i) {
            let _ = writeln!(
                o,
                "reachlab_modelled_rtt_seconds{{lab=\"{lab}\",circuit=\"{}\",to=\"{}\"}} {}",
                esc(&t.circuits[i].name),
                esc(&t.ports[port].name),
                rtt.as_secs_f64()
            );
        }
    }
    let l = e.lateness();
    family(
        o,
        "reachlab_delayed_packets_total",
        "counter",
        "Packets that waited in a delay line or shaper (whole lab).",
    );
    let _ = writeln!(
        o,
        "reachlab_delayed_packets_total{{lab=\"{lab}\"}} {}",
        l.packets
    );
    family(
        o,
        "reachlab_delayed_late_seconds_total",
        "counter",
        "Sum of how late delayed packets left against their deadlines.",
    );
    let _ = writeln!(
        o,
        "reachlab_delayed_late_seconds_total{{lab=\"{lab}\"}} {}",
        Duration::from_nanos(l.total_ns).as_secs_f64()
    );
    family(
        o,
        "reachlab_worker_packets_total",
        "counter",
        "Packets each forwarding worker read and handed to the engine (how flows spread).",
    );
    for (w, n) in e.lane_packets().iter().enumerate() {
        let _ = writeln!(
            o,
            "reachlab_worker_packets_total{{lab=\"{lab}\",worker=\"{w}\"}} {n}"
        );
    }
    family(
        o,
        "reachlab_in_flight_packets",
        "gauge",
        "Packets now in delay lines and shaper queues.",
    );
    let _ = writeln!(
        o,
        "reachlab_in_flight_packets{{lab=\"{lab}\"}} {}",
        e.in_flight()
    );
}

/// Serves `/metrics` on `addr` until the returned task is aborted.
pub async fn serve(
    addr: SocketAddr,
    live: Arc<Mutex<LiveLab>>,
) -> std::io::Result<(JoinHandle<()>, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((s, _)) => {
                        tokio::spawn(respond(s, Arc::clone(&live)));
                    }
                    Err(e) => {
                        debug!(error = %e, "metrics accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }),
        bound,
    ))
}

/// Largest request head read (a scrape's is a few hundred bytes).
const MAX_HEAD: usize = 8192;

async fn respond(mut s: TcpStream, live: Arc<Mutex<LiveLab>>) {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    })
    .await;
    if !matches!(read, Ok(true)) {
        return;
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let body = render(&live.lock().unwrap_or_else(|p| p.into_inner()));
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body)
        }
        ("GET" | "HEAD", "/") => (
            "200 OK",
            "text/html; charset=utf-8",
            "<html><body><a href=\"/metrics\">reachlab metrics</a></body></html>\n".to_string(),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: reachlab serves /metrics\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET /metrics\n".to_string(),
        ),
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        resp.extend_from_slice(body.as_bytes());
    }
    let _ = s.write_all(&resp).await;
    let _ = s.shutdown().await;
}
