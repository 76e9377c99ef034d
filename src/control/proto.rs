//! The control protocol: one JSON request per line, one JSON response per line, over the lab's
//! Unix socket. Requests carry user input as typed by the user (prefixes as strings): the lab
//! parses and validates them with the topology's own rules, so errors read the same as
//! `reachlab check`'s.

use serde::{Deserialize, Serialize};

pub use crate::topology::GlobalReachAdd;

/// Largest request accepted, in bytes (one line).
pub const MAX_REQUEST: usize = 64 * 1024;

/// The control protocol's version, carried as `"v"` in every request and response. A lab
/// refuses a request of another version, and a CLI a reply of another version, each saying so
/// in plain words. 1 was the unversioned protocol of reachlab before 0.2.
pub const PROTOCOL: u32 = 2;

/// This build's version, as replies carry it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which of a circuit's two links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    #[default]
    Primary = 0,
    Secondary = 1,
}

/// An address family, as `--family` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// Whether a prefix or address of this family (`v6`) is wanted by `want` (None: both).
    pub fn admits(want: Option<Family>, v6: bool) -> bool {
        want.is_none_or(|f| (f == Family::Ipv6) == v6)
    }
}

/// What a request answers, typed; made JSON only at the edges (the control server's
/// `Response`, the web's bodies), in the rows' own shapes (untagged).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    GlobalReach(GrRow),
    /// The connection removed, as it was.
    GlobalReachRemoved(Option<GrRow>),
    GlobalReachList(Vec<GrRow>),
    Authorization(AuthorizationRow),
    Circuit(Box<CircuitInfo>),
    /// A VNet's circuits after a link or unlink.
    VnetCircuits(Vec<String>),
    Routes(RouteTable),
    Summary(RouteSummary),
    Stats(Box<CircuitStatsInfo>),
    /// The running lab as a topology file.
    Export(String),
    Path(Box<PathInfo>),
    Web(WebServing),
    Link(LinkState),
    Maintenance(MaintenanceState),
    Settle(SettleState),
}

/// Whether the lab has settled (`reachlab test` waits for it): its routers' BGP sessions on
/// links that are up, and how long since a session's state or the MSEEs' tables or
/// advertisements last changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettleState {
    pub sessions: usize,
    pub established: usize,
    pub quiet_ms: u64,
}

/// A circuit's links after one failed or came back (`circuit fail|restore`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkState {
    pub circuit: String,
    pub primary_up: bool,
    pub secondary_up: bool,
}

/// A circuit link's maintenance after it started or ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceState {
    pub circuit: String,
    pub path: String,
    pub maintenance: bool,
}

/// A live view being served (`reachlab web`): where, whether it may change the lab, and the
/// token changes need on a non-loopback address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebServing {
    pub url: String,
    pub control: bool,
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    GlobalReachAdd(GlobalReachAdd),
    GlobalReachRemove {
        circuit: String,
        peer: String,
    },
    GlobalReachList {
        #[serde(default)]
        circuit: Option<String>,
    },
    CircuitAuthorize {
        circuit: String,
        name: String,
    },
    CircuitShow {
        circuit: String,
    },
    VnetLink {
        vnet: String,
        circuit: String,
        /// The connection's routing weight (0-32000); on a linked VNet, changes it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        weight: Option<u16>,
    },
    VnetUnlink {
        vnet: String,
        circuit: String,
    },
    Routes {
        circuit: String,
        #[serde(default)]
        path: Path,
        /// Only this family's routes (both when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<Family>,
    },
    /// Serve the live view of this lab on `listen` (`reachlab web`).
    WebServe {
        listen: String,
        #[serde(default)]
        control: bool,
    },
    /// The way packets take between two sites or VNets, both directions, from the tables in
    /// force.
    Path {
        from: String,
        to: String,
        /// The family to trace (IPv4 when both ends have it, else IPv6, when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<Family>,
    },
    /// The MSEE's BGP neighbours, as `az network express-route list-route-tables-summary`.
    RoutesSummary {
        circuit: String,
        #[serde(default)]
        path: Path,
        /// Only this family's neighbours (both when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<Family>,
    },
    Stats {
        circuit: String,
    },
    /// Fail (`up: false`) or restore a circuit's primary or secondary link.
    CircuitLink {
        circuit: String,
        path: Path,
        up: bool,
    },
    /// Start (`on: true`) or end maintenance on a circuit's link: its MSEE prepends 12076.
    CircuitMaintenance {
        circuit: String,
        path: Path,
        on: bool,
    },
    Export,
    /// Whether the lab has settled: sessions up, routing quiet.
    Settle,
    /// Stream the packets passing a point (see `CaptureStart` for the stream's format).
    Capture {
        /// A site, a VNet, a circuit, or a Global Reach connection as `CIRCUIT:PEER`.
        point: String,
        /// For a circuit: which link (default primary).
        #[serde(default)]
        path: Option<Path>,
        /// Stop after this many packets.
        #[serde(default)]
        count: Option<u64>,
        /// Stop after this many milliseconds.
        #[serde(default)]
        duration_ms: Option<u64>,
    },
}

/// The reply that starts a capture. After its line the connection carries binary records
/// until the capture ends: `P`, then the packet's time (ns since the Unix epoch, u64 big
/// endian), its length (u32 BE) and the packet (of `link_type`); finally `E`, then the packets sent (u64 BE)
/// and the packets the lab dropped because the reader was too slow (u64 BE). Closing the
/// connection ends the capture early.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureStart {
    /// The point, described (e.g. "circuit er-sv, primary link (CE 192.168.100.1 <-> MSEE
    /// 192.168.100.2)").
    pub point: String,
    /// pcap link type of the packets: 101, raw IP; 1, Ethernet (a circuit link that is an
    /// Ethernet port: its frames as on the wire).
    pub link_type: u32,
}

/// Record tags of the capture stream.
pub const CAPTURE_PACKET: u8 = b'P';
pub const CAPTURE_END: u8 = b'E';

/// The answer to one request: `ok` with a verb-specific `result`, or an `error` saying why
/// nothing was changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The protocol the lab speaks (absent, read as 1, from labs before versioning).
    #[serde(default = "unversioned")]
    pub v: u32,
    /// The lab's reachlab version.
    #[serde(default)]
    pub version: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub result: serde_json::Value,
}

fn unversioned() -> u32 {
    1
}

impl Response {
    pub fn ok(result: impl Serialize) -> Response {
        Response {
            v: PROTOCOL,
            version: VERSION.into(),
            ok: true,
            error: None,
            result: serde_json::to_value(result).unwrap_or(serde_json::Value::Null),
        }
    }
    pub fn err(msg: impl Into<String>) -> Response {
        Response {
            v: PROTOCOL,
            version: VERSION.into(),
            ok: false,
            error: Some(msg.into()),
            result: serde_json::Value::Null,
        }
    }
}

/// Decodes one request line as the server reads it (at most `MAX_REQUEST + 1` bytes, newline
/// included). `Err` carries the reply for a line that is not a request, and whether the
/// connection must then be closed (an oversized line: the rest of it is not read).
pub fn decode(line: &[u8]) -> Result<Request, (Response, bool)> {
    if line.len() > MAX_REQUEST {
        return Err((
            Response::err(format!("request too large (over {MAX_REQUEST} bytes)")),
            true,
        ));
    }
    let malformed =
        |e: serde_json::Error| (Response::err(format!("malformed request: {e}")), false);
    let mut v: serde_json::Value = serde_json::from_slice(line).map_err(malformed)?;
    let version = match v.as_object_mut() {
        Some(m) => m.remove("v"),
        None => None,
    };
    match version.as_ref().and_then(serde_json::Value::as_u64) {
        Some(n) if n == u64::from(PROTOCOL) => {}
        other => {
            return Err((
                Response::err(format!(
                    "this lab runs reachlab {VERSION} (control protocol {PROTOCOL}); the request came in protocol {} from another reachlab version: use the reachlab binary that started the lab",
                    other.map_or("1 (unversioned)".to_string(), |n| n.to_string())
                )),
                false,
            ))
        }
    }
    serde_json::from_value::<Request>(v).map_err(malformed)
}

/// A request as one line on the socket, with the protocol version.
pub fn encode(req: &Request) -> Vec<u8> {
    let mut v = serde_json::to_value(req).expect("requests serialize");
    if let Some(m) = v.as_object_mut() {
        m.insert("v".into(), PROTOCOL.into());
    }
    let mut line = serde_json::to_vec(&v).expect("values serialize");
    line.push(b'\n');
    line
}

/// Checks a reply's protocol version: `Err` says in plain words that the lab is another
/// reachlab version.
pub fn check_version(lab: &str, resp: &Response) -> Result<(), String> {
    if resp.v == PROTOCOL {
        return Ok(());
    }
    let theirs = if resp.version.is_empty() {
        "an older reachlab".to_string()
    } else {
        format!("reachlab {}", resp.version)
    };
    Err(format!(
        "lab {lab} runs {theirs} (control protocol {}), this is reachlab {VERSION} (protocol {PROTOCOL}): use the same version, or restart the lab with this one (`reachlab down {lab}`, then `reachlab up`)",
        resp.v
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_the_version_and_others_are_refused_in_plain_words() {
        let req = Request::Export;
        let line = encode(&req);
        assert_eq!(decode(&line).unwrap(), req);
        let (resp, close) = decode(br#"{"verb":"export"}"#).unwrap_err();
        assert!(!close);
        let e = resp.error.unwrap();
        assert!(e.contains("protocol 1 (unversioned)"), "{e}");
        assert!(
            e.contains("use the reachlab binary that started the lab"),
            "{e}"
        );
        let (resp, _) = decode(br#"{"v":3,"verb":"export"}"#).unwrap_err();
        assert!(resp.error.unwrap().contains("protocol 3"));
    }

    #[test]
    fn a_global_reach_add_is_its_fields_beside_the_verb_and_nothing_else() {
        let req = Request::GlobalReachAdd(GlobalReachAdd {
            circuit: "er-sv".into(),
            peer: "er-london".into(),
            address_prefix: "192.168.8.0/29".into(),
            ipv6_address_prefix: None,
            authorization_key: Some("k".into()),
        });
        let line = encode(&req);
        let text = String::from_utf8_lossy(&line);
        assert!(text.contains(r#""verb":"global-reach-add""#), "{text}");
        assert!(text.contains(r#""circuit":"er-sv""#), "{text}");
        assert_eq!(decode(&line).unwrap(), req);
        let v = format!(r#"{{"v":{PROTOCOL},"verb":"global-reach-add""#);
        let minimal = format!(r#"{v},"circuit":"a","peer":"b","address_prefix":"p"}}"#);
        assert!(matches!(
            decode(minimal.as_bytes()),
            Ok(Request::GlobalReachAdd(GlobalReachAdd {
                ipv6_address_prefix: None,
                authorization_key: None,
                ..
            }))
        ));
        let unknown = format!(r#"{v},"circuit":"a","peer":"b","address_prefix":"p","x":1}}"#);
        let (resp, _) = decode(unknown.as_bytes()).unwrap_err();
        assert!(resp.error.unwrap().contains("unknown field `x`"));
    }

    #[test]
    fn replies_of_another_version_are_named() {
        let old: Response = serde_json::from_str(r#"{"ok":true,"result":null}"#).unwrap();
        let e = check_version("lab1", &old).unwrap_err();
        assert!(
            e.contains("lab lab1 runs an older reachlab (control protocol 1)"),
            "{e}"
        );
        assert!(check_version("lab1", &Response::ok(1)).is_ok());
    }
}

/// One Global Reach connection, seen from the circuit it was configured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrRow {
    pub circuit: String,
    pub peer: String,
    pub address_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address_prefix: Option<String>,
    /// Connected / Disconnected.
    pub state: String,
    /// The subscriptions of `circuit` and `peer`.
    pub circuit_subscription: String,
    pub peer_subscription: String,
}

/// One row of an MSEE route table, in the columns of `az network express-route
/// list-route-tables`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteRow {
    pub network: String,
    pub next_hop: String,
    pub loc_prf: Option<u32>,
    pub weight: u32,
    pub path: String,
}

/// One BGP neighbour of an MSEE, in the columns of `az network express-route
/// list-route-tables-summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeighborRow {
    pub neighbor: String,
    /// The BGP version (4), as az prints it.
    pub v: u8,
    pub asn: u32,
    /// How long the session has been in its state: "00:12:34", "3d04h", or "never".
    pub up_down: String,
    /// The number of prefixes received when Established, else the session's state.
    pub state_pfx_rcd: String,
    /// What the neighbour is: "customer SITE", "vnet VNET", "global-reach PEER".
    pub role: String,
    /// Why a session that is not Established went down (or cannot come up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteSummary {
    pub circuit: String,
    pub path: Path,
    pub neighbors: Vec<NeighborRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteTable {
    pub circuit: String,
    pub path: Path,
    pub routes: Vec<RouteRow>,
}

/// A /30 link: the customer's (CE) and Microsoft's (MSEE) addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkAddresses {
    pub prefix: String,
    pub customer: String,
    pub microsoft: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CircuitInfo {
    pub name: String,
    pub peering_location: String,
    pub geopolitical_region: String,
    pub sku: String,
    pub family: String,
    pub bandwidth: String,
    pub provider: Option<String>,
    pub subscription: String,
    /// The customer's ASN on the private peering (the first site's on this circuit).
    pub peer_asn: Option<u32>,
    pub primary: LinkAddresses,
    pub secondary: Option<LinkAddresses>,
    /// The IPv6 peering's /126s (primary, secondary), when the circuit has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<[LinkAddresses; 2]>,
    pub sites: Vec<String>,
    pub vnet_links: Vec<String>,
    pub global_reach: Vec<GrRow>,
    pub authorizations: Vec<AuthorizationRow>,
    /// Modelled round trips from the circuit's sites, and the circuit's timing.
    pub timing: CircuitTimingInfo,
    /// The links under maintenance ("primary", "secondary").
    #[serde(default)]
    pub maintenance: Vec<String>,
    /// The routing weight of each VNet connection that has one (VNet -> weight).
    #[serde(default)]
    pub vnet_weights: std::collections::BTreeMap<String, u16>,
    /// The private peering's 802.1Q VLAN ID as az shows it.
    #[serde(default)]
    pub vlan_id: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CircuitTimingInfo {
    pub latency_model: String,
    pub access_delay_ms: f64,
    pub queue_ms: f64,
    pub mtu: u16,
    pub rtts: Vec<RttRow>,
}

/// The modelled round trip from a site on the circuit to a destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RttRow {
    pub to: String,
    pub via: String,
    pub rtt_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationRow {
    pub name: String,
    pub key: String,
    /// Available / InUse.
    pub state: String,
}

/// Traffic counters of one circuit, in the shape of `az network express-route get-stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CircuitStatsInfo {
    pub circuit: String,
    pub primary_bytes_in: u64,
    pub primary_bytes_out: u64,
    pub primary_packets_in: u64,
    pub primary_packets_out: u64,
    pub secondary_bytes_in: u64,
    pub secondary_bytes_out: u64,
    pub secondary_packets_in: u64,
    pub secondary_packets_out: u64,
    pub primary_up: bool,
    pub secondary_up: bool,
    /// Lab-wide: how late delayed packets left against their deadlines.
    pub lateness: crate::engine::Lateness,
    /// Drops at this circuit's MSEE, by reason.
    pub drops: std::collections::BTreeMap<String, u64>,
}

/// One direction of `reachlab path`: the hops from a site or VNet to another's address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathWay {
    pub from: String,
    pub to: String,
    pub address: String,
    pub hops: Vec<String>,
    /// The circuits and links crossed, as "CIRCUIT/primary".
    pub links: Vec<String>,
    /// Whether the packet arrives.
    pub delivered: bool,
}

/// Both directions between two endpoints, and whether they differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathInfo {
    pub there: PathWay,
    pub back: PathWay,
    /// Empty when both directions cross the same circuits and links; else what differs.
    pub asymmetry: Option<String>,
}
