//! Pictures of a lab: SVG, Graphviz DOT and Mermaid, drawn like Microsoft's Global Reach
//! figures: branch sites at the edges, their circuits' MSEEs at the border of Microsoft's
//! network in the middle, VNets inside it, Global Reach connections across it (dashed when
//! disconnected). Labels carry bandwidth, peering location and modelled round trips. Pure: a
//! topology and link states in, text out.

//!
//! Rooms: `layout` places everything (pure geometry, tested as numbers), `svg` draws it,
//! `text` writes DOT and Mermaid from the same layout.

mod layout;
mod svg;
mod text;

pub use svg::svg;
pub use text::{dot, mermaid};

use crate::engine::Tables;
use crate::topology::Topology;

/// What to draw: a topology, and the state of its links when drawn from a running lab.
pub struct View<'a> {
    pub topo: &'a Topology,
    /// Per circuit (file order): whether its primary and secondary links are up (carry some
    /// traffic).
    pub links: Vec<[bool; 2]>,
    /// Per circuit: a link that carries one family of the two (a dual-stack router's session
    /// of the other is down), named "IPv4 only" or "IPv6 only" on its label.
    pub only: Vec<[Option<&'static str>; 2]>,
    /// Global Reach connections removed while a live view watched, drawn as removed.
    pub removed: Vec<crate::topology::GlobalReach>,
    /// Drawn for the live view: labels for its rates on the circuit links.
    pub live: bool,
}

impl<'a> View<'a> {
    /// A topology as its file describes it: every link up.
    pub fn of(topo: &'a Topology) -> View<'a> {
        View {
            topo,
            links: vec![[true, true]; topo.circuit.len()],
            only: vec![[None, None]; topo.circuit.len()],
            removed: Vec::new(),
            live: false,
        }
    }

    /// A running lab's topology with what its links carry, per family (IPv4, IPv6; per
    /// circuit, [primary, secondary]): a link is drawn up while it carries either, and named
    /// when it carries one only. (A circuit without IPv6 peering carries the same in both.)
    pub fn carrying(topo: &'a Topology, [v4, v6]: [Vec<[bool; 2]>; 2]) -> View<'a> {
        let pairs = v4.iter().zip(&v6);
        View {
            topo,
            links: pairs
                .clone()
                .map(|(a, b)| [a[0] || b[0], a[1] || b[1]])
                .collect(),
            only: pairs
                .map(|(a, b)| {
                    [0, 1].map(|k| match (a[k], b[k]) {
                        (true, false) => Some("IPv4 only"),
                        (false, true) => Some("IPv6 only"),
                        _ => None,
                    })
                })
                .collect(),
            removed: Vec::new(),
            live: false,
        }
    }

    fn circuit_up(&self, name: &str) -> bool {
        self.topo
            .circuit
            .iter()
            .position(|c| c.name == name)
            .is_some_and(|i| self.links[i] != [false, false])
    }

    /// A Global Reach connection is Disconnected when one of its circuits has no link up.
    fn gr_connected(&self, i: usize) -> bool {
        self.topo.global_reach[i]
            .circuits
            .iter()
            .all(|c| self.circuit_up(c))
    }
}

/// The indices of a Global Reach connection's two circuits.
fn gr_circuits(t: &Topology, g: &crate::topology::GlobalReach) -> Option<(usize, usize)> {
    let pos = |n: &String| t.circuit.iter().position(|c| &c.name == n);
    Some((pos(&g.circuits[0])?, pos(&g.circuits[1])?))
}

/// Round trip in ms from a one-way delay, for labels ("" when the lab models no delay).
fn rtt_label(oneway: std::time::Duration) -> String {
    let ms = oneway.as_secs_f64() * 2e3;
    if ms <= 0.0 {
        String::new()
    } else if ms < 10.0 {
        format!("{ms:.1} ms RTT")
    } else {
        format!("{ms:.0} ms RTT")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// "1 Gbps" rather than the file's "1Gbps".
fn bw(b: crate::topology::Bandwidth) -> String {
    let s = b.to_string();
    match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) if i > 0 && s != "unlimited" => format!("{} {}", &s[..i], &s[i..]),
        _ => s,
    }
}

fn prefixes(p: &[ipnet::IpNet]) -> String {
    p.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// "er-sv 7.0 ms RTT", one per linked circuit: from the circuit's sites to the VNet.
fn vnet_rtts(t: &Topology, tables: &Tables, vnet: usize) -> Vec<String> {
    let port = t.site.len() + vnet;
    t.vnet[vnet]
        .circuits
        .iter()
        .filter_map(|c| {
            let ci = t.circuit.iter().position(|x| &x.name == c)?;
            let d = tables.vnet_delay[ci][port] + tables.circuits[ci].timing.access;
            let r = rtt_label(d);
            (!r.is_empty()).then(|| format!("{c} {r}"))
        })
        .collect()
}

/// The `n`th address of an IPv4 prefix.
fn nth4(p: ipnet::Ipv4Net, n: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from(p.network()) + n)
}

#[cfg(test)]
mod tests;
