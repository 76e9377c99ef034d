//! `reachlab import`: an ExpressRoute estate as az CLI or ARM prints it, into a topology file.
//! Pure: JSON values in, TOML text (each value commented with the resource it came from) or
//! the problems found out, each with its file and JSON path.
//!
//! Both forms are read: raw ARM nests fields under `properties` at every level, az CLI lifts
//! them to the top and adds `resourceGroup`; `flatten` turns the first into the second, and
//! everything after reads one shape. Resources are found wherever they sit (a single object,
//! a list, a `{"value": [...]}` wrapper, an object of named lists) and told apart by `type`:
//! circuits (with their private peering and its Global Reach `connections[]`, or
//! `peeredConnections[]` on the other side, counted once per pair), virtual networks (their
//! GatewaySubnet's `ipConfigurations[].id` names the gateway, the back-reference a connection
//! needs), and ExpressRoute gateway connections (gateway -> circuit, routing weight).
//! On-premises sites are not Azure resources: they come from `--site` or from a circuit's
//! route table (`list-route-tables`: the prefixes whose AS path ends in the peering's peerASN).
//! Nothing is guessed: what cannot be mapped is a problem, or, with `skip_unknown`, a warning
//! and left out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde_json::{Map, Value};

use crate::catalogue::catalogue;

/// One input file, parsed.
#[derive(Debug, Clone)]
pub struct Input {
    pub file: String,
    pub json: Value,
}

/// A site given on the command line: `NAME=CIRCUIT:PREFIX[,PREFIX...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteArg {
    pub name: String,
    pub circuit: String,
    pub prefixes: Vec<IpNet>,
}

impl std::str::FromStr for SiteArg {
    type Err = String;
    fn from_str(s: &str) -> Result<SiteArg, String> {
        let usage = || {
            format!("--site {s}: write NAME=CIRCUIT:PREFIX[,PREFIX...], e.g. sf=er-sv:10.0.1.0/24")
        };
        let (name, rest) = s.split_once('=').ok_or_else(usage)?;
        let (circuit, prefixes) = rest.split_once(':').ok_or_else(usage)?;
        let prefixes = prefixes
            .split(',')
            .map(|p| {
                p.trim()
                    .parse::<IpNet>()
                    .map_err(|_| format!("--site {s}: {p} is not a prefix (e.g. 10.0.1.0/24)"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if name.is_empty() || circuit.is_empty() {
            return Err(usage());
        }
        Ok(SiteArg {
            name: name.to_string(),
            circuit: circuit.to_string(),
            prefixes,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The lab's name in the output (default: the `reachlab` block's, else "imported").
    pub name: Option<String>,
    pub sites: Vec<SiteArg>,
    /// A circuit's route table (`list-route-tables -o json`): its on-premises prefixes.
    pub routes: Vec<(String, Input)>,
    /// Leave out what cannot be mapped, with a warning, instead of failing.
    pub skip_unknown: bool,
}

/// Something in the input that cannot be mapped: where, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: String,
    pub path: String,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.path, self.what)
    }
}

/// The topology text, and what was left out (with `skip_unknown`).
#[derive(Debug, Clone)]
pub struct Imported {
    pub toml: String,
    pub warnings: Vec<Problem>,
}

/// ARM's shape to az's: every `properties` object's fields lifted into its parent, all the
/// way down.
pub fn flatten(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                if k == "properties" {
                    continue;
                }
                out.insert(k.clone(), flatten(x));
            }
            if let Some(Value::Object(p)) = m.get("properties") {
                for (k, x) in p {
                    out.entry(k.clone()).or_insert_with(|| flatten(x));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(flatten).collect()),
        x => x.clone(),
    }
}

/// A resource found in the input: its flattened JSON, file and path.
#[derive(Debug, Clone)]
struct Found {
    file: String,
    path: String,
    v: Value,
}

/// The last segment after `kind/` in an ARM id (`.../expressRouteCircuits/er1/...` -> er1).
fn id_segment(id: &str, kind: &str) -> Option<String> {
    let parts: Vec<&str> = id.split('/').collect();
    parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case(kind))
        .and_then(|i| parts.get(i + 1))
        .map(|s| s.to_string())
}

/// A resource's type from its ARM id, for bodies that leave `type` out.
fn type_of_id(id: &str) -> Option<String> {
    let lower = id.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('/').filter(|p| !p.is_empty()).collect();
    let i = parts.iter().position(|p| *p == "microsoft.network")?;
    let rest = &parts[i + 1..];
    // kind/name pairs after the provider.
    let kinds: Vec<&str> = rest.iter().step_by(2).copied().collect();
    if rest.len() % 2 != 0 {
        return None;
    }
    let ty = match kinds.as_slice() {
        ["expressroutecircuits"] => "microsoft.network/expressroutecircuits",
        ["expressroutecircuits", "peerings"] => "microsoft.network/expressroutecircuits/peerings",
        ["expressroutecircuits", "peerings", "connections"] => {
            "microsoft.network/expressroutecircuits/peerings/connections"
        }
        ["expressroutecircuits", "peerings", "peerconnections"] => {
            "microsoft.network/expressroutecircuits/peerings/peerconnections"
        }
        ["expressroutecircuits", "authorizations"] => {
            "microsoft.network/expressroutecircuits/authorizations"
        }
        ["virtualnetworks"] => "microsoft.network/virtualnetworks",
        ["connections"] => "microsoft.network/connections",
        other => return Some(format!("microsoft.network/{}", other.join("/"))),
    };
    Some(ty.to_string())
}

/// The subscription in an ARM id.
fn id_subscription(id: &str) -> Option<String> {
    id_segment(id, "subscriptions")
}

#[derive(Default)]
struct Sorted {
    /// The `reachlab` block `export -o az` writes beside the resources.
    settings: Option<Value>,
    circuits: Vec<Found>,
    peerings: Vec<Found>,
    gr: Vec<Found>,
    vnets: Vec<Found>,
    connections: Vec<Found>,
}

struct Cx<'a> {
    problems: Vec<Problem>,
    opts: &'a Options,
}

impl Cx<'_> {
    fn problem(&mut self, f: &Found, sub: &str, what: impl Into<String>) {
        self.problems.push(Problem {
            file: f.file.clone(),
            path: format!("{}{sub}", f.path),
            what: what.into(),
        });
    }
}

/// Finds the resources in `v` (flattened), wherever they sit.
fn collect(cx: &mut Cx, file: &str, path: &str, v: &Value, out: &mut Sorted) {
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect(cx, file, &format!("{path}[{i}]"), x, out);
            }
        }
        Value::Object(m) => {
            let ty = m
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| m.get("id").and_then(Value::as_str).and_then(type_of_id));
            let Some(ty) = ty else {
                // A wrapper: {"value": [...]} or an object of named lists.
                if let Some(Value::Array(_)) = m.get("value") {
                    collect(cx, file, &format!("{path}.value"), &m["value"], out);
                    return;
                }
                if !m.is_empty()
                    && m.iter()
                        .all(|(k, x)| matches!(x, Value::Array(_)) || k == "reachlab")
                {
                    for (k, x) in m {
                        if k == "reachlab" {
                            out.settings = Some(x.clone());
                        } else {
                            collect(cx, file, &format!("{path}.{k}"), x, out);
                        }
                    }
                    return;
                }
                let f = Found {
                    file: file.into(),
                    path: path.into(),
                    v: v.clone(),
                };
                let what = if m.contains_key("network") && m.contains_key("path") {
                    "a route table entry: give a circuit's route table with --routes CIRCUIT=FILE"
                } else if m.contains_key("primarybytesIn") {
                    "traffic counters (get-stats): nothing in them describes the estate"
                } else if m.contains_key("error") || m.contains_key("status") {
                    "an operation's status, not a resource"
                } else {
                    "not an Azure resource (no \"type\" or \"id\")"
                };
                cx.problem(&f, "", what);
                return;
            };
            let f = Found {
                file: file.into(),
                path: path.into(),
                v: v.clone(),
            };
            match ty.to_ascii_lowercase().as_str() {
                "microsoft.network/expressroutecircuits" => out.circuits.push(f),
                "microsoft.network/expressroutecircuits/peerings" => out.peerings.push(f),
                "microsoft.network/expressroutecircuits/peerings/connections"
                | "microsoft.network/expressroutecircuits/peerings/peerconnections" => {
                    out.gr.push(f)
                }
                "microsoft.network/virtualnetworks" => out.vnets.push(f),
                "microsoft.network/connections" => out.connections.push(f),
                // Read for nothing reachlab models, but not wrong to give.
                "microsoft.network/expressroutecircuits/authorizations" => {}
                other => cx.problem(
                    &f,
                    ".type",
                    format!(
                        "a {other}, which reachlab does not map (it reads ExpressRoute circuits, their peerings and Global Reach connections, virtual networks and ExpressRoute gateway connections)"
                    ),
                ),
            }
        }
        _ => {
            let f = Found {
                file: file.into(),
                path: path.into(),
                v: v.clone(),
            };
            cx.problem(&f, "", "not an Azure resource");
        }
    }
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// Bandwidths Azure offers for a circuit, in Mbps (provider circuits, and ExpressRoute
/// Direct's 10 and 100 Gbps).
pub const OFFERED_MBPS: [u64; 10] = [50, 100, 200, 500, 1000, 2000, 5000, 10000, 40000, 100000];

/// Text safe in a TOML comment: control characters (a line break would end the comment and
/// let input text into the file) shown as U+FFFD.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// Why a peering other than private peering is not mapped.
fn not_private(ty: &str) -> String {
    format!(
        "{ty}: reachlab models private peering only (Microsoft peering carries Microsoft 365 and public services, not VNets)"
    )
}

/// One line `key = value` with its origin as a comment.
fn line(o: &mut String, key: &str, value: String, from: &str) {
    let kv = format!("{key} = {value}");
    let _ = writeln!(o, "{kv:<39} # {}", comment(from));
}

/// `key = value` lines for an object of the topology file's own keys (the `reachlab`
/// block), but `skip`; nulls left out.
fn table_lines(o: &mut String, v: Option<&Value>, skip: &[&str], from: &str) {
    let Some(Value::Object(m)) = v else {
        return;
    };
    for (k, x) in m {
        if skip.contains(&k.as_str()) || x.is_null() {
            continue;
        }
        if let Ok(t) = toml::Value::try_from(x) {
            line(o, k, t.to_string(), from);
        }
    }
}

/// A TOML key: bare when it can be (as people write `{ er-sv = 100 }`), else quoted.
fn key(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        s.to_string()
    } else {
        quote(s)
    }
}

/// A TOML string (TOML's own escaping: it refuses characters JSON allows raw, such as DEL).
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Imports `inputs`; the topology text, or every problem found.
///
/// Four passes: read (each file flattened to az's shape), collect (resources sorted by
/// type), map (each type to its topology section, problems noted), and assemble (sections in
/// the topology's order, then checked as a whole: sites and Global Reach name circuits the
/// input has).
pub fn import(inputs: &[Input], opts: &Options) -> Result<Imported, Vec<Problem>> {
    let mut cx = Cx {
        problems: Vec::new(),
        opts,
    };
    // Read and collect.
    let mut sorted = Sorted::default();
    for i in inputs {
        collect(&mut cx, &i.file, "$", &flatten(&i.json), &mut sorted);
    }
    let settings = sorted.settings.clone().unwrap_or(Value::Null);
    // Map, each type on its own.
    let mut estate = Estate::default();
    let mut circuits = String::new();
    for f in &sorted.circuits {
        map_circuit(
            &mut cx,
            f,
            &sorted.peerings,
            &settings,
            &mut estate,
            &mut circuits,
        );
    }
    map_loose_peerings(&mut cx, &sorted, &mut estate);
    let (vnets, vnet_of_gw) = map_vnets(&mut cx, &sorted.vnets);
    let links = map_connections(&mut cx, &sorted.connections, &vnets, &vnet_of_gw, &estate);
    let mut sites = cli_sites(opts);
    sites.extend(route_table_sites(&mut cx, opts, &estate));
    // Assemble, in the topology's order.
    let mut o = header(inputs, opts, &settings);
    o.push_str(&circuits);
    write_sites(&mut cx, &mut o, &settings, &sites, &estate);
    for (v, conns) in vnets.iter().zip(&links) {
        write_vnet(&mut o, v, conns);
    }
    write_global_reach(&mut cx, &mut o, &estate);
    let problems = std::mem::take(&mut cx.problems);
    if !problems.is_empty() && !cx.opts.skip_unknown {
        return Err(problems);
    }
    Ok(Imported {
        toml: o,
        warnings: problems,
    })
}

/// What the circuits' mapping found that later passes need.
#[derive(Default)]
struct Estate {
    /// The circuits mapped, in input order.
    names: Vec<String>,
    /// Each circuit's private peering's peerASN: its on-premises AS.
    peer_asn: BTreeMap<String, u32>,
    /// Global Reach connections as found, both sides' shapes (a pair may appear twice).
    grs: Vec<Gr>,
}

/// The file's head and its `[lab]` table.
fn header(inputs: &[Input], opts: &Options, settings: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "#:schema ./reachlab.schema.json");
    let _ = writeln!(
        o,
        "# Imported by `reachlab import` from {}.",
        comment(
            &inputs
                .iter()
                .map(|i| i.file.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    );
    let _ = writeln!(o, "\n[lab]");
    match &opts.name {
        Some(n) => line(&mut o, "name", quote(n), "--name"),
        None => line(
            &mut o,
            "name",
            quote(
                settings
                    .pointer("/lab/name")
                    .and_then(Value::as_str)
                    .unwrap_or("imported"),
            ),
            "the reachlab block (export -o az), else the default",
        ),
    }
    table_lines(
        &mut o,
        settings.get("lab"),
        &["name"],
        "reachlab block: lab",
    );
    o
}

/// A circuit and its private peering, as a `[[circuit]]` table into `o`; nothing when its
/// name, location or bandwidth cannot be mapped.
fn map_circuit(
    cx: &mut Cx,
    f: &Found,
    loose_peerings: &[Found],
    settings: &Value,
    estate: &mut Estate,
    o: &mut String,
) {
    let c = &f.v;
    let Some(name) = s(c, "name") else {
        cx.problem(f, ".name", "a circuit without a name");
        return;
    };
    let id = s(c, "id").unwrap_or_default().to_string();
    let sp = c
        .get("serviceProviderProperties")
        .cloned()
        .unwrap_or_default();
    let loc_typed = s(&sp, "peeringLocation").unwrap_or_default();
    let Some(loc) = catalogue().find_location(loc_typed) else {
        cx.problem(
            f,
            ".serviceProviderProperties.peeringLocation",
            format!(
                "peering location \"{loc_typed}\" is not in reachlab's catalogue (`reachlab locations`)"
            ),
        );
        return;
    };
    let extra = settings.pointer(&format!("/circuits/{name}")).cloned();
    let bandwidth_override = extra
        .as_ref()
        .and_then(|x| x.get("bandwidth"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mbps = sp.get("bandwidthInMbps").and_then(Value::as_u64);
    let Some(mbps) = mbps.filter(|m| OFFERED_MBPS.contains(m) || bandwidth_override.is_some())
    else {
        cx.problem(
            f,
            ".serviceProviderProperties.bandwidthInMbps",
            format!(
                "bandwidth {} Mbps is not one Azure offers ({})",
                mbps.map_or("(none)".to_string(), |m| m.to_string()),
                OFFERED_MBPS.map(|m| m.to_string()).join(", ")
            ),
        );
        return;
    };
    let sku = c.get("sku").cloned().unwrap_or_default();
    let from = format!("circuit {name}");
    let _ = writeln!(
        o,
        "\n[[circuit]]                              # {}",
        comment(&id)
    );
    line(o, "name", quote(name), &format!("{from}: name"));
    line(
        o,
        "peering_location",
        quote(&loc.name),
        &format!("{from}: serviceProviderProperties.peeringLocation"),
    );
    match &bandwidth_override {
        Some(b) => line(
            o,
            "bandwidth",
            quote(b),
            "reachlab block: a bandwidth Azure does not sell",
        ),
        None => line(
            o,
            "bandwidth",
            quote(&crate::topology::Bandwidth(mbps * 1_000_000).to_string()),
            &format!("{from}: serviceProviderProperties.bandwidthInMbps"),
        ),
    }
    if let Some(t) = s(&sku, "tier") {
        line(o, "sku", quote(t), &format!("{from}: sku.tier"));
    }
    if let Some(fam) = s(&sku, "family") {
        line(o, "family", quote(fam), &format!("{from}: sku.family"));
    }
    if let Some(p) = s(&sp, "serviceProviderName").filter(|p| !p.is_empty()) {
        line(
            o,
            "provider",
            quote(p),
            &format!("{from}: serviceProviderProperties.serviceProviderName"),
        );
    }
    if let Some(sub) = id_subscription(&id).filter(|s| s != "default") {
        line(o, "subscription", quote(&sub), &format!("{from}: id"));
    }
    // Its peerings: nested, or given on their own (matched by id).
    let mut peerings: Vec<(String, Value)> = c
        .get("peerings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .enumerate()
                .map(|(i, p)| (format!(".peerings[{i}]"), p.clone()))
                .collect()
        })
        .unwrap_or_default();
    for p in loose_peerings {
        let pid = s(&p.v, "id").unwrap_or_default();
        if id_segment(pid, "expressRouteCircuits").as_deref() == Some(name)
            && !peerings.iter().any(|(_, x)| s(x, "id") == Some(pid))
        {
            peerings.push((String::new(), p.v.clone()));
        }
    }
    let mut private_seen = false;
    for (ppath, p) in &peerings {
        let ty = s(p, "peeringType").unwrap_or_default();
        if ty == "AzurePrivatePeering" && private_seen {
            cx.problem(
                f,
                &format!("{ppath}.peeringType"),
                "a second private peering on one circuit (a circuit has one)",
            );
            continue;
        }
        if ty != "AzurePrivatePeering" {
            cx.problem(f, &format!("{ppath}.peeringType"), not_private(ty));
            continue;
        }
        private_seen = true;
        map_private_peering(cx, f, name, ppath, p, estate, o);
    }
    table_lines(
        o,
        extra.as_ref(),
        &[&["bandwidth"][..], &super::AZURE_CIRCUIT_KEYS[..]].concat(),
        &format!("reachlab block: circuit {name}"),
    );
    estate.names.push(name.to_string());
}

/// Circuit `name`'s private peering `p` (at `ppath` in `f`): its peerASN, /29, shared key and
/// Global Reach connections.
fn map_private_peering(
    cx: &mut Cx,
    f: &Found,
    name: &str,
    ppath: &str,
    p: &Value,
    estate: &mut Estate,
    o: &mut String,
) {
    let from = format!("circuit {name}");
    if let Some(asn) = p
        .get("peerASN")
        .or_else(|| p.get("peerAsn"))
        .and_then(Value::as_u64)
    {
        estate.peer_asn.insert(name.to_string(), asn as u32);
    }
    match p.get("vlanId") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64().filter(|id| (1..=4094).contains(id)) {
            Some(id) => line(
                o,
                "vlan_id",
                id.to_string(),
                &format!("{from}: AzurePrivatePeering vlanId"),
            ),
            None => cx.problem(
                f,
                &format!("{ppath}.vlanId"),
                format!("vlanId {v}: an 802.1Q VLAN ID is 1 to 4094"),
            ),
        },
    }
    let prim = s(p, "primaryPeerAddressPrefix").and_then(|x| x.parse::<Ipv4Net>().ok());
    let sec = s(p, "secondaryPeerAddressPrefix").and_then(|x| x.parse::<Ipv4Net>().ok());
    match (prim, sec) {
        (Some(a), Some(b))
            if a.prefix_len() == 30
                && b.prefix_len() == 30
                && u32::from(b.network()) == u32::from(a.network()) + 4
                && u32::from(a.network()) % 8 == 0 =>
        {
            line(
                o,
                "peering_prefix",
                quote(&Ipv4Net::new(a.network(), 29).expect("valid").to_string()),
                &format!("{from}: AzurePrivatePeering primary {a} + secondary {b}"),
            );
        }
        (Some(a), None) if a.prefix_len() == 30 => line(
            o,
            "peering_prefix",
            quote(&a.to_string()),
            &format!("{from}: AzurePrivatePeering primaryPeerAddressPrefix"),
        ),
        (a, b) => cx.problem(
            f,
            &format!("{ppath}.primaryPeerAddressPrefix"),
            format!(
                "primary {} and secondary {}: reachlab takes two adjacent /30s of one /29 (primary first)",
                a.map_or("(none)".into(), |x| x.to_string()),
                b.map_or("(none)".into(), |x| x.to_string())
            ),
        ),
    }
    if let Some(v6) = p.get("ipv6PeeringConfig").filter(|v| !v.is_null()) {
        let prim = s(v6, "primaryPeerAddressPrefix").and_then(|x| x.parse::<Ipv6Net>().ok());
        let sec = s(v6, "secondaryPeerAddressPrefix").and_then(|x| x.parse::<Ipv6Net>().ok());
        match (prim, sec) {
            (Some(a), Some(b))
                if a.prefix_len() == 126
                    && b.prefix_len() == 126
                    && a.trunc() == a
                    && b.trunc() == b =>
            {
                let both = crate::topology::PeeringV6 {
                    primary: a,
                    secondary: b,
                };
                let value = match both.as_125() {
                    Some(p) => quote(&p.to_string()),
                    None => format!("[{}, {}]", quote(&a.to_string()), quote(&b.to_string())),
                };
                line(
                    o,
                    "peering_prefix_v6",
                    value,
                    &format!(
                        "{from}: AzurePrivatePeering ipv6PeeringConfig primary {a} + secondary {b}"
                    ),
                );
            }
            (a, b) => cx.problem(
                f,
                &format!("{ppath}.ipv6PeeringConfig.primaryPeerAddressPrefix"),
                format!(
                    "IPv6 primary {} and secondary {}: reachlab takes two /126s",
                    a.map_or("(none)".into(), |x| x.to_string()),
                    b.map_or("(none)".into(), |x| x.to_string())
                ),
            ),
        }
    }
    if let Some(k) = s(p, "sharedKey").filter(|k| !k.is_empty()) {
        line(
            o,
            "shared_key",
            quote(k),
            &format!("{from}: AzurePrivatePeering sharedKey"),
        );
    }
    // Global Reach: `connections` on the initiating side, `peeredConnections` on the other;
    // one link per pair.
    for key in ["connections", "peeredConnections"] {
        for (i, g) in p
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = (f.file.clone(), format!("{}{ppath}.{key}[{i}]", f.path));
            gr_of(name, g, at, &mut estate.grs);
        }
    }
}

/// Peerings and Global Reach connections given on their own: a peering whose circuit is not
/// in the input is a problem; connections join the estate's.
fn map_loose_peerings(cx: &mut Cx, sorted: &Sorted, estate: &mut Estate) {
    for p in &sorted.peerings {
        let owner = id_segment(s(&p.v, "id").unwrap_or_default(), "expressRouteCircuits")
            .unwrap_or_default();
        if estate.names.contains(&owner) {
            continue;
        }
        let ty = s(&p.v, "peeringType").unwrap_or_default();
        if ty == "AzurePrivatePeering" {
            cx.problem(
                p,
                ".id",
                format!("a private peering of circuit {owner}, which the input does not contain"),
            );
        } else {
            cx.problem(p, ".peeringType", not_private(ty));
        }
    }
    for g in &sorted.gr {
        let owner = id_segment(s(&g.v, "id").unwrap_or_default(), "expressRouteCircuits")
            .unwrap_or_default();
        gr_of(
            &owner,
            &g.v,
            (g.file.clone(), g.path.clone()),
            &mut estate.grs,
        );
    }
}

/// The virtual networks that can be mapped, and which of them each gateway (named by its
/// GatewaySubnet's ipConfigurations) belongs to.
fn map_vnets(cx: &mut Cx, found: &[Found]) -> (Vec<VnetIn>, BTreeMap<String, usize>) {
    let mut vnet_of_gw: BTreeMap<String, usize> = BTreeMap::new();
    let mut vnets: Vec<VnetIn> = Vec::new();
    for f in found {
        let v = &f.v;
        let Some(name) = s(v, "name") else {
            cx.problem(f, ".name", "a virtual network without a name");
            continue;
        };
        let region_typed = s(v, "location").unwrap_or_default();
        let Some(region) = catalogue().find_azure_region(region_typed) else {
            cx.problem(
                f,
                ".location",
                format!("Azure region \"{region_typed}\" is not in reachlab's catalogue (`reachlab locations --regions`)"),
            );
            continue;
        };
        let prefixes: Vec<String> = v
            .pointer("/addressSpace/addressPrefixes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        let gateway_configs = v
            .get("subnets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|sn| s(sn, "name") == Some("GatewaySubnet"))
            .flat_map(|sn| {
                sn.get("ipConfigurations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            });
        for ipc in gateway_configs {
            if let Some(gw) = id_segment(s(ipc, "id").unwrap_or_default(), "virtualNetworkGateways")
            {
                vnet_of_gw.insert(gw, vnets.len());
            }
        }
        vnets.push(VnetIn {
            name: name.to_string(),
            region: region.name.clone(),
            prefixes,
            id: s(v, "id").unwrap_or_default().to_string(),
            community: v
                .pointer("/bgpCommunities/virtualNetworkCommunity")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
    }
    (vnets, vnet_of_gw)
}

/// A VNet's link to a circuit, from an ExpressRoute gateway connection.
struct LinkIn {
    circuit: String,
    weight: u64,
    /// The connection's name, for the comment.
    name: String,
}

/// Gateway connections: which circuits each VNet (by index) is linked to, with what weight.
fn map_connections(
    cx: &mut Cx,
    found: &[Found],
    vnets: &[VnetIn],
    vnet_of_gw: &BTreeMap<String, usize>,
    estate: &Estate,
) -> Vec<Vec<LinkIn>> {
    let mut links: Vec<Vec<LinkIn>> = (0..vnets.len()).map(|_| Vec::new()).collect();
    for f in found {
        let c = &f.v;
        let kind = s(c, "connectionType").unwrap_or_default();
        if kind != "ExpressRoute" {
            cx.problem(
                f,
                ".connectionType",
                format!(
                    "the {kind} connection: reachlab maps ExpressRoute gateway connections only"
                ),
            );
            continue;
        }
        let gw = c
            .pointer("/virtualNetworkGateway1/id")
            .and_then(Value::as_str)
            .and_then(|id| id_segment(id, "virtualNetworkGateways"));
        let Some(&v) = gw.as_ref().and_then(|g| vnet_of_gw.get(g)) else {
            cx.problem(
                f,
                ".virtualNetworkGateway1.id",
                format!(
                    "gateway {} belongs to no virtual network in the input (give the VNet whose GatewaySubnet names it)",
                    gw.unwrap_or_default()
                ),
            );
            continue;
        };
        let Some(circuit) = c
            .pointer("/peer/id")
            .and_then(Value::as_str)
            .and_then(|id| id_segment(id, "expressRouteCircuits"))
        else {
            cx.problem(
                f,
                ".peer.id",
                "an ExpressRoute connection without a circuit",
            );
            continue;
        };
        if !estate.names.contains(&circuit) {
            cx.problem(
                f,
                ".peer.id",
                format!("circuit {circuit}, which the input does not contain"),
            );
            continue;
        }
        if links[v].iter().any(|l| l.circuit == circuit) {
            cx.problem(
                f,
                ".peer.id",
                format!(
                    "a second connection of vnet {} to circuit {circuit} (a gateway connects to a circuit once)",
                    vnets[v].name
                ),
            );
            continue;
        }
        links[v].push(LinkIn {
            circuit,
            weight: c.get("routingWeight").and_then(Value::as_u64).unwrap_or(0),
            name: s(c, "name").unwrap_or_default().to_string(),
        });
    }
    links
}

/// The sites given with `--site`, each with where it came from.
fn cli_sites(opts: &Options) -> Vec<(SiteArg, String)> {
    opts.sites
        .iter()
        .map(|a| (a.clone(), "--site".to_string()))
        .collect()
}

/// A site per `--routes CIRCUIT=FILE`: the prefixes whose AS path ends in the circuit's
/// peerASN.
fn route_table_sites(cx: &mut Cx, opts: &Options, estate: &Estate) -> Vec<(SiteArg, String)> {
    let mut sites = Vec::new();
    for (circuit, input) in &opts.routes {
        let Some(asn) = estate.peer_asn.get(circuit) else {
            cx.problems.push(Problem {
                file: input.file.clone(),
                path: "$".into(),
                what: format!(
                    "--routes {circuit}: no private peering of circuit {circuit} in the input, so no peerASN to find its on-premises prefixes by"
                ),
            });
            continue;
        };
        let flat = flatten(&input.json);
        let rows = flat
            .get("value")
            .and_then(Value::as_array)
            .or_else(|| flat.as_array())
            .cloned()
            .unwrap_or_default();
        let prefixes: Vec<IpNet> = rows
            .iter()
            .filter(|r| {
                let path = s(r, "path").unwrap_or_default();
                path.split_whitespace().rfind(|t| t.parse::<u32>().is_ok())
                    == Some(&asn.to_string())
            })
            .filter_map(|r| s(r, "network").and_then(|n| n.parse().ok()))
            .collect();
        if prefixes.is_empty() {
            cx.problems.push(Problem {
                file: input.file.clone(),
                path: "$.value".into(),
                what: format!("no route whose AS path ends in {circuit}'s peerASN {asn}"),
            });
            continue;
        }
        sites.push((
            SiteArg {
                name: format!("{circuit}-onprem"),
                circuit: circuit.clone(),
                prefixes,
            },
            format!("--routes {}", input.file),
        ));
    }
    sites
}

/// The `[[site]]` tables: the reachlab block's, then those given (checked against both the
/// block and the circuits).
fn write_sites(
    cx: &mut Cx,
    o: &mut String,
    settings: &Value,
    sites: &[(SiteArg, String)],
    estate: &Estate,
) {
    let block: Vec<&Value> = settings
        .get("sites")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    for (i, site) in block.iter().enumerate() {
        let _ = writeln!(o, "\n[[site]]");
        table_lines(
            o,
            Some(site),
            &[],
            &format!("reachlab block: sites[{i}] (on-premises)"),
        );
    }
    let block_sites: Vec<&str> = block.iter().filter_map(|site| s(site, "name")).collect();
    for (a, from) in sites {
        if block_sites.contains(&a.name.as_str()) {
            cx.problems.push(Problem {
                file: from.clone(),
                path: a.name.clone(),
                what: format!(
                    "site {} is already defined by the input's reachlab block (an `export -o az` file carries its sites); leave out {from} {} to keep the file's, or name the new site differently",
                    a.name, a.name
                ),
            });
            continue;
        }
        if !estate.names.contains(&a.circuit) {
            cx.problems.push(Problem {
                file: from.clone(),
                path: a.name.clone(),
                what: format!(
                    "site {} on circuit {}, which the input does not contain",
                    a.name, a.circuit
                ),
            });
            continue;
        }
        let _ = writeln!(o, "\n[[site]]");
        line(o, "name", quote(&a.name), from);
        line(o, "circuit", quote(&a.circuit), from);
        line(
            o,
            "prefixes",
            list(a.prefixes.iter().map(|p| p.to_string())),
            from,
        );
        if let Some(asn) = estate.peer_asn.get(&a.circuit) {
            line(
                o,
                "asn",
                asn.to_string(),
                &format!("circuit {}: AzurePrivatePeering peerASN", a.circuit),
            );
        }
    }
}

/// A TOML array of strings.
fn list(items: impl Iterator<Item = String>) -> String {
    format!(
        "[{}]",
        items.map(|x| quote(&x)).collect::<Vec<_>>().join(", ")
    )
}

/// A `[[vnet]]` table, with the circuits its gateway connections link it to.
fn write_vnet(o: &mut String, v: &VnetIn, conns: &[LinkIn]) {
    let VnetIn {
        name,
        region,
        prefixes,
        id,
        community,
    } = v;
    let _ = writeln!(
        o,
        "\n[[vnet]]                                 # {}",
        comment(id)
    );
    line(o, "name", quote(name), &format!("vnet {name}: name"));
    line(
        o,
        "region",
        quote(region),
        &format!("vnet {name}: location"),
    );
    line(
        o,
        "prefixes",
        list(prefixes.iter().cloned()),
        &format!("vnet {name}: addressSpace.addressPrefixes"),
    );
    line(
        o,
        "circuits",
        list(conns.iter().map(|c| c.circuit.clone())),
        &format!(
            "connections {}",
            conns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    if let Some(c) = community {
        line(
            o,
            "bgp_community",
            quote(c),
            &format!("vnet {name}: bgpCommunities.virtualNetworkCommunity"),
        );
    }
    let weighted: Vec<String> = conns
        .iter()
        .filter(|c| c.weight > 0)
        .map(|c| format!("{} = {}", key(&c.circuit), c.weight))
        .collect();
    if !weighted.is_empty() {
        line(
            o,
            "weights",
            format!("{{ {} }}", weighted.join(", ")),
            "connections: routingWeight",
        );
    }
}

/// The `[[global_reach]]` tables, one per pair of circuits (both sides name it), each
/// checked to join two circuits of the input.
fn write_global_reach(cx: &mut Cx, o: &mut String, estate: &Estate) {
    let names = &estate.names;
    let mut seen: Vec<(String, String)> = Vec::new();
    for Gr {
        a,
        b,
        prefix,
        v6,
        name: conn,
        at,
    } in &estate.grs
    {
        let key = if a < b {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        };
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if !names.contains(a) || !names.contains(b) {
            let missing = if names.contains(a) { b } else { a };
            cx.problems.push(Problem {
                file: at.0.clone(),
                path: format!("{}.peerExpressRouteCircuitPeering.id", at.1),
                what: format!(
                    "Global Reach {a} <-> {b}: circuit {missing}, which the input does not contain"
                ),
            });
            continue;
        }
        let _ = writeln!(
            o,
            "\n[[global_reach]]                         # {}",
            comment(conn)
        );
        line(
            o,
            "circuits",
            format!("[{}, {}]", quote(a), quote(b)),
            &format!("{conn}: expressRouteCircuitPeering, peerExpressRouteCircuitPeering"),
        );
        line(
            o,
            "address_prefix",
            quote(prefix),
            &format!("{conn}: addressPrefix"),
        );
        if let Some(p) = v6 {
            line(
                o,
                "ipv6_address_prefix",
                quote(p),
                &format!("{conn}: ipv6CircuitConnectionConfig.addressPrefix"),
            );
        }
    }
}

/// A virtual network as found.
struct VnetIn {
    name: String,
    region: String,
    prefixes: Vec<String>,
    id: String,
    community: Option<String>,
}

/// A Global Reach connection as found: its two circuits, /29, /125, name, and (file, path).
struct Gr {
    a: String,
    b: String,
    prefix: String,
    v6: Option<String>,
    name: String,
    at: (String, String),
}

/// A Global Reach connection of circuit `owner` (either side's shape).
fn gr_of(owner: &str, g: &Value, at: (String, String), out: &mut Vec<Gr>) {
    let peer = g
        .pointer("/peerExpressRouteCircuitPeering/id")
        .and_then(Value::as_str)
        .and_then(|id| id_segment(id, "expressRouteCircuits"))
        .or_else(|| {
            // peeredConnections name the initiating side in expressRouteCircuitPeering.
            g.pointer("/expressRouteCircuitPeering/id")
                .and_then(Value::as_str)
                .and_then(|id| id_segment(id, "expressRouteCircuits"))
                .filter(|c| c != owner)
        });
    let (Some(peer), Some(prefix)) = (peer, s(g, "addressPrefix")) else {
        return;
    };
    let v6 = g
        .pointer("/ipv6CircuitConnectionConfig/addressPrefix")
        .and_then(Value::as_str)
        .map(str::to_string);
    let name = s(g, "connectionName")
        .or_else(|| s(g, "name"))
        .unwrap_or_default()
        .to_string();
    out.push(Gr {
        a: owner.to_string(),
        b: peer,
        prefix: prefix.to_string(),
        v6,
        name,
        at,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "tests/fixtures/az";

    fn fixture(name: &str) -> Input {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(DIR)
            .join(name);
        Input {
            file: name.to_string(),
            json: serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap(),
        }
    }

    fn seed_opts() -> Options {
        Options {
            name: Some("seed".into()),
            sites: vec![
                "sf=er-siliconvalley:10.0.1.0/24".parse().unwrap(),
                "london=er-london:10.0.2.0/24".parse().unwrap(),
            ],
            ..Default::default()
        }
    }

    fn topo(text: &str) -> crate::topology::Topology {
        crate::topology::Topology::from_source(
            crate::diag::SourceFile::new("i.toml", text.to_string()),
            "i",
        )
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// az's flattened form back into ARM's: every object's fields but the envelope under
    /// `properties`, all the way down.
    fn nest(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let envelope = ["id", "name", "type", "etag", "location", "tags", "sku"];
                let mut out = Map::new();
                let mut props = Map::new();
                for (k, x) in m {
                    if k == "resourceGroup" {
                        continue;
                    }
                    if envelope.contains(&k.as_str()) || !m.contains_key("type") {
                        out.insert(k.clone(), nest(x));
                    } else {
                        props.insert(k.clone(), nest(x));
                    }
                }
                if !props.is_empty() {
                    out.insert("properties".into(), Value::Object(props));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(nest).collect()),
            x => x.clone(),
        }
    }

    #[test]
    fn the_composed_seed_imports_as_the_seed_lab() {
        let t = topo(
            &import(&[fixture("composed-seed.json")], &seed_opts())
                .unwrap()
                .toml,
        );
        assert_eq!(t.circuit.len(), 2);
        assert_eq!(t.circuit[0].peering_location, "Silicon Valley");
        assert_eq!(t.circuit[0].sku, crate::topology::Sku::Premium);
        // The private peerings' vlanId.
        assert_eq!(
            (t.circuit[0].vlan_id, t.circuit[1].vlan_id),
            (Some(100), Some(200))
        );
        assert_eq!(t.site[1].asn, Some(65002));
        assert_eq!(
            t.global_reach.len(),
            1,
            "counted once though both sides list it"
        );
        assert_eq!(
            t.global_reach[0].address_prefix.to_string(),
            "192.168.8.0/29"
        );
        assert_eq!(t.vnet[0].circuits, ["er-siliconvalley", "er-london"]);
        assert_eq!(t.vnet[0].region, "West US");
    }

    #[test]
    fn arm_and_az_forms_of_the_same_estate_give_the_same_topology() {
        let az = fixture("composed-seed.json");
        let arm = Input {
            file: "arm.json".into(),
            json: nest(&az.json),
        };
        assert!(arm
            .json
            .pointer("/circuits/0/properties/peerings/0/properties")
            .is_some());
        let a = import(&[az], &seed_opts()).unwrap().toml;
        let b = import(&[arm], &seed_opts()).unwrap().toml;
        let strip = |t: &str| t.lines().skip(2).collect::<Vec<_>>().join("\n");
        assert_eq!(strip(&a), strip(&b));
    }

    #[test]
    fn every_real_fixture_is_imported_or_refused_with_a_path() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR);
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json") && n != "composed-seed.json")
            .collect();
        files.sort();
        assert!(files.len() >= 20, "{files:?}");
        for f in files {
            let input = fixture(&f);
            match import(&[input], &Options::default()) {
                Ok(i) => {
                    // What it holds is a lab: only check the text parses as TOML.
                    toml::from_str::<toml::Value>(&i.toml)
                        .unwrap_or_else(|e| panic!("{f}: {e}\n{}", i.toml));
                }
                Err(problems) => {
                    for p in &problems {
                        assert!(p.path.starts_with('$'), "{f}: {p}");
                        assert_eq!(p.file, f);
                        assert!(!p.what.is_empty());
                    }
                }
            }
        }
        // The ones Azure would not let into a lab are refused with the reason.
        let ms = import(
            &[fixture("er-circuit-peering-get-microsoft.arm.json")],
            &Options::default(),
        )
        .unwrap_err();
        assert!(ms[0].what.contains("private peering only"), "{:?}", ms);
        let ipsec = import(
            &[fixture("vnet-gateway-connection-get-ipsec.arm.json")],
            &Options::default(),
        )
        .unwrap_err();
        assert!(ipsec[0].what.contains("IPsec"), "{:?}", ipsec);
        assert_eq!(ipsec[0].path, "$.connectionType");
    }

    #[test]
    fn a_missing_peer_circuit_or_unknown_location_is_named_and_can_be_skipped() {
        let mut seed = fixture("composed-seed.json");
        // Only the Silicon Valley circuit: its Global Reach peer is missing.
        let c = seed.json["circuits"][0].clone();
        seed.json = serde_json::json!({"circuits": [c]});
        let e = import(std::slice::from_ref(&seed), &Options::default()).unwrap_err();
        assert!(
            e.iter().any(|p| p
                .what
                .contains("er-london, which the input does not contain")),
            "{e:?}"
        );
        let skipped = import(
            &[seed.clone()],
            &Options {
                skip_unknown: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!skipped.toml.contains("[[global_reach]]"));
        assert_eq!(skipped.warnings.len(), 1);
        seed.json["circuits"][0]["serviceProviderProperties"]["peeringLocation"] =
            "Atlantis".into();
        let e = import(&[seed], &Options::default()).unwrap_err();
        assert_eq!(
            e[0].path,
            "$.circuits[0].serviceProviderProperties.peeringLocation"
        );
    }

    #[test]
    fn text_from_the_input_cannot_break_out_of_a_comment() {
        let mut seed = fixture("composed-seed.json");
        seed.json["circuits"][0]["id"] =
            "/subscriptions/x/providers/Microsoft.Network/expressRouteCircuits/a\n[[site]]\nname = \"evil\"".into();
        let out = import(&[seed], &seed_opts()).unwrap();
        let t = topo(&out.toml);
        assert!(t.site.iter().all(|s| s.name != "evil"), "{}", out.toml);
    }

    #[test]
    fn sites_come_from_a_route_table_by_the_peerings_asn() {
        let routes = Input {
            file: "routes.json".into(),
            json: serde_json::json!({"nextLink": null, "value": [
                {"network": "10.0.1.0/24", "nextHop": "192.168.100.1", "locPrf": "", "weight": 0, "path": "65001 I"},
                {"network": "10.0.3.0/24", "nextHop": "10.0.3.254", "locPrf": "", "weight": 0, "path": "65515"},
            ]}),
        };
        let opts = Options {
            name: Some("r".into()),
            routes: vec![("er-siliconvalley".into(), routes)],
            skip_unknown: true,
            ..Default::default()
        };
        let t = topo(
            &import(&[fixture("composed-seed.json")], &opts)
                .unwrap()
                .toml,
        );
        let s = &t.site[0];
        assert_eq!(s.name, "er-siliconvalley-onprem");
        assert_eq!(s.prefixes, ["10.0.1.0/24".parse::<IpNet>().unwrap()]);
        assert!("sf=er-sv".parse::<SiteArg>().is_err());
        assert!("sf=er-sv:10.0.1".parse::<SiteArg>().is_err());
    }
}
