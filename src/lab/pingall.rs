//! Reachability of a running lab, every ordered pair of sites and VNets: what the rules say
//! (`Topology::may_reach`, with circuits whose links are both failed carrying nothing) against
//! what a real `ping` from the source's namespace gets, per address family.

use std::process::{Command, Stdio};

use serde::Serialize;

use super::state::{EndpointState, LabState};
use crate::topology::Topology;

/// One source, destination and address family.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Probe {
    pub from: String,
    pub to: String,
    /// "ipv4" or "ipv6".
    pub family: &'static str,
    pub address: String,
    /// What the rules allow.
    pub expected: bool,
    /// Whether ping got a reply.
    pub reached: bool,
    /// Another endpoint announcing the same prefix: where the address goes is decided by best
    /// path, not by the rules, so the probe is not compared (`reachlab path` shows where).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadowed_by: Option<String>,
}

impl Probe {
    /// As the rules say, or not for the rules to say.
    pub fn matches(&self) -> bool {
        self.shadowed_by.is_some() || self.expected == self.reached
    }
}

/// Whether `from` should reach `to` now: the rules, and every circuit a packet between them
/// crosses on a customer link has a link up (`circuit_up`). VNet to VNet through a shared
/// circuit never uses its customer links.
pub fn expected(t: &Topology, circuit_up: &dyn Fn(&str) -> bool, from: &str, to: &str) -> bool {
    t.may_reach_via(from, to, circuit_up)
}

/// Whether a circuit has a site with a real router: its links then carry only while that
/// router's BGP session on them is Established.
pub fn routed(t: &Topology, circuit: &str) -> bool {
    t.site.iter().any(|s| s.on(circuit) && s.router.is_real())
}

/// Whether a circuit link carries traffic of one family (`v6`), for the matrix and the
/// picture: it is up and, on a routed circuit, its customer session of that family (the IPv4
/// one where the circuit has no IPv6 peering) has a prefix count, that is, is Established.
/// `summary` (both families' neighbours, or one's) is None on a circuit that is not routed.
pub fn carries(up: bool, summary: Option<&crate::control::proto::RouteSummary>, v6: bool) -> bool {
    up && summary.is_none_or(|s| {
        let customer = |v6: bool| {
            s.neighbors
                .iter()
                .find(|n| n.role.starts_with("customer ") && n.neighbor.contains(':') == v6)
        };
        customer(v6)
            .or_else(|| customer(false))
            .or(s.neighbors.first())
            .is_some_and(|n| n.state_pfx_rcd.parse::<u64>().is_ok())
    })
}

/// The first address of each family on an endpoint's TUN.
fn address(ep: &EndpointState, v6: bool) -> Option<String> {
    ep.addresses
        .iter()
        .map(|a| a.split('/').next().unwrap_or(a))
        .find(|a| a.contains(':') == v6)
        .map(str::to_string)
}

/// Pings every ordered pair (both families where both ends have one), `parallel` at a time.
/// A reply to any of `count` echo requests counts as reached (so a lossy lab does not look
/// partitioned). `circuit_up(circuit, v6)`: whether the circuit carries that family.
pub fn run(
    st: &LabState,
    t: &Topology,
    circuit_up: &dyn Fn(&str, bool) -> bool,
    count: u32,
    parallel: usize,
) -> Vec<Probe> {
    let mut todo = Vec::new();
    for a in &st.endpoints {
        for b in &st.endpoints {
            if a.name == b.name {
                continue;
            }
            for (v6, family) in [(false, "ipv4"), (true, "ipv6")] {
                if let (Some(_), Some(addr)) = (address(a, v6), address(b, v6)) {
                    let shadowed_by = addr
                        .parse::<std::net::IpAddr>()
                        .ok()
                        .and_then(|ip| t.shadowed_by(&b.name, ip))
                        .map(str::to_string);
                    todo.push(Probe {
                        from: a.name.clone(),
                        to: b.name.clone(),
                        family,
                        address: addr,
                        expected: expected(t, &|c| circuit_up(c, v6), &a.name, &b.name),
                        reached: false,
                        shadowed_by,
                    });
                }
            }
        }
    }
    let ns = |name: &str| {
        st.endpoints
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.namespace.clone())
            .unwrap_or_default()
    };
    for chunk in todo.chunks_mut(parallel.max(1)) {
        let children: Vec<_> = chunk
            .iter()
            .map(|p| {
                Command::new("ip")
                    .args(["netns", "exec", &ns(&p.from), "ping", "-n", "-q"])
                    .args(["-c", &count.to_string(), "-i", "0.2", "-W", "1"])
                    .arg(&p.address)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
            })
            .collect();
        for (p, child) in chunk.iter_mut().zip(children) {
            // ping exits 0 when it had at least one reply.
            p.reached = child
                .and_then(|mut c| c.wait())
                .map(|s| s.success())
                .unwrap_or(false);
        }
    }
    todo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::proto::{NeighborRow, Path, RouteSummary};

    fn row(neighbor: &str, role: &str, state: &str) -> NeighborRow {
        NeighborRow {
            neighbor: neighbor.into(),
            v: 4,
            asn: 65001,
            up_down: "00:00:01".into(),
            state_pfx_rcd: state.into(),
            role: role.into(),
            last_error: None,
        }
    }

    #[test]
    fn a_link_carries_a_family_while_that_familys_session_is_established() {
        let summary = |v4: &str, v6: Option<&str>| RouteSummary {
            circuit: "er-sv".into(),
            path: Path::Primary,
            neighbors: [
                Some(row("192.168.100.1", "customer sf", v4)),
                Some(row("10.0.3.254", "vnet uswest", "1")),
                v6.map(|s| row("fd00:100::1", "customer sf", s)),
            ]
            .into_iter()
            .flatten()
            .collect(),
        };
        // The IPv6 session down (a prefix limit, a shutdown): IPv6 no longer crosses the link,
        // IPv4 does.
        let s = summary("1", Some("Idle"));
        assert!(carries(true, Some(&s), false));
        assert!(!carries(true, Some(&s), true));
        let s = summary("Idle", Some("1"));
        assert!(!carries(true, Some(&s), false));
        assert!(carries(true, Some(&s), true));
        // Without an IPv6 peering there is no IPv6 session: the IPv4 one decides.
        let s = summary("1", None);
        assert!(carries(true, Some(&s), true));
        assert!(!carries(true, Some(&summary("Idle", None)), true));
        // A failed link carries nothing; an unrouted circuit carries while up.
        assert!(!carries(false, Some(&summary("1", Some("1"))), true));
        assert!(carries(true, None, true));
    }
}
