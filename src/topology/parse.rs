//! TOML to `Topology`: syntax and types, with spans recorded for the rules to point at.
//! Values with a fixed set of choices are read as strings and matched here so the error can
//! list what is allowed.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use schemars::JsonSchema;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

use super::schema;
use super::{
    Bandwidth, Circuit, Entity, Family, GlobalReach, Lab, LatencyModel, Loss, PeeringV6, PortSpec,
    Router, Site, Sku, Span, Spans, Topology, Vnet,
};
use crate::diag::Diagnostic;

type S<T> = Spanned<T>;

// The raw file format. These types are also what `reachlab schema` describes (schemars):
// their doc comments are the editor's hover text, and `schema::*` the allowed values.

/// The topology file's whole JSON Schema, as `reachlab schema` prints it: the raw types'
/// structure, with the value schemas of `schema`.
pub fn json_schema() -> serde_json::Value {
    let mut s = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<RawTopology>();
    s.insert(
        "$id".into(),
        serde_json::json!("https://reachlab.invalid/topology.schema.json"),
    );
    s.to_value()
}

/// A reachlab lab: ExpressRoute circuits, on-premises sites, Azure VNets and Global Reach
/// connections.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "reachlab topology")]
pub(super) struct RawTopology {
    /// The lab as a whole (all optional).
    #[schemars(with = "Option<RawLab>")]
    lab: Option<S<RawLab>>,
    /// ExpressRoute circuits: one MSEE pair each, at a peering location.
    #[serde(default)]
    #[schemars(with = "Vec<RawCircuit>")]
    circuit: Vec<S<RawCircuit>>,
    /// On-premises branch networks, each behind one circuit.
    #[serde(default)]
    #[schemars(with = "Vec<RawSite>")]
    site: Vec<S<RawSite>>,
    /// Azure virtual networks, linked to circuits.
    #[serde(default)]
    #[schemars(with = "Vec<RawVnet>")]
    vnet: Vec<S<RawVnet>>,
    /// Global Reach connections between two circuits.
    #[serde(default)]
    #[schemars(with = "Vec<RawGlobalReach>")]
    global_reach: Vec<S<RawGlobalReach>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Lab")]
struct RawLab {
    /// The lab's name (default: the file's stem): namespaces are rl-NAME-SITE.
    #[serde(default)]
    #[schemars(schema_with = "schema::name")]
    name: Option<S<String>>,
    /// "geographic" (default): delays from real distances; "none": no added delay.
    #[serde(default)]
    #[schemars(schema_with = "schema::latency")]
    latency: Option<S<String>>,
    /// One-way site <-> MSEE delay (default "1ms").
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    access_delay: Option<S<String>>,
    /// Random extra access delay, up to this (default none).
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    jitter: Option<S<String>>,
    /// Loss on every access link: "0.1%", or { model = "gilbert-elliott", p = "1%", r = "25%" }.
    #[serde(default)]
    #[schemars(schema_with = "schema::loss")]
    loss: Option<S<toml::Value>>,
    /// Seed of the jitter and loss generators (default 1).
    #[schemars(with = "Option<u64>")]
    seed: Option<S<i64>>,
    /// How long an MSEE keeps a session down after closing it for too many prefixes (default
    /// "60s", as Microsoft's; shorter for rehearsals and tests).
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    prefix_limit_restart: Option<S<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Circuit")]
struct RawCircuit {
    /// The circuit's name.
    #[schemars(schema_with = "schema::name")]
    name: S<String>,
    /// Where the circuit meets Microsoft (`reachlab locations`); any case.
    #[schemars(schema_with = "schema::peering_location")]
    peering_location: S<String>,
    /// Each way, per link: "50Mbps" .. "100Gbps", or "unlimited" (no shaping).
    #[schemars(schema_with = "schema::bandwidth")]
    bandwidth: S<String>,
    /// SKU tier (default "Standard").
    #[serde(default)]
    #[schemars(schema_with = "schema::sku")]
    sku: Option<S<String>>,
    /// Billing family (default "MeteredData").
    #[serde(default)]
    #[schemars(schema_with = "schema::family")]
    family: Option<S<String>>,
    /// The connectivity provider (free text).
    #[schemars(with = "Option<String>")]
    provider: Option<S<String>>,
    /// The Azure subscription owning the circuit; live links across subscriptions need a key.
    #[schemars(with = "Option<String>")]
    subscription: Option<S<String>>,
    /// The private peering's MD5 shared key (up to 25 letters and digits): the MSEEs' BGP
    /// sessions are signed with it (TCP MD5) and a site's router must use the same.
    #[schemars(with = "Option<String>")]
    shared_key: Option<S<String>>,
    /// CE/MSEE links: a /30 (primary) or /29 (primary and secondary); default the first free
    /// /29 from 192.168.100.0.
    #[serde(default)]
    #[schemars(schema_with = "schema::ipv4_prefix")]
    peering_prefix: Option<S<String>>,
    /// The IPv6 private peering (az: `ipv6PeeringConfig`): a /125, split into the primary and
    /// secondary /126s, or the two /126s ["P/126", "S/126"]; needs peering_prefix.
    #[serde(default)]
    #[schemars(schema_with = "schema::peering_v6")]
    peering_prefix_v6: Option<S<toml::Value>>,
    /// The private peering's 802.1Q VLAN ID, 1 to 4094 (az: `vlanId`), the same on both
    /// links; leave it out for untagged.
    #[serde(default)]
    #[schemars(schema_with = "schema::vlan_id")]
    vlan_id: Option<S<i64>>,
    /// One-way site <-> MSEE delay on this circuit (default: the lab's).
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    access_delay: Option<S<String>>,
    /// Shaper queue as time at the circuit's rate (default: twice the longest modelled round
    /// trip, at least 10 ms).
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    queue: Option<S<String>>,
    /// IP MTU of the circuit (default 1400).
    #[serde(default)]
    #[schemars(schema_with = "schema::mtu")]
    mtu: Option<S<i64>>,
    /// Random extra access delay on this circuit (default: the lab's).
    #[serde(default)]
    #[schemars(schema_with = "schema::duration")]
    jitter: Option<S<String>>,
    /// Loss on this circuit's access links (default: the lab's).
    #[serde(default)]
    #[schemars(schema_with = "schema::loss")]
    loss: Option<S<toml::Value>>,
    /// Let jitter reorder packets (default false).
    reorder: Option<bool>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Site")]
struct RawSite {
    /// The site's name (also its host name inside the lab).
    #[schemars(schema_with = "schema::name")]
    name: S<String>,
    /// The circuit the site is connected through (or `circuits` for several).
    #[serde(default)]
    #[schemars(schema_with = "schema::name")]
    circuit: Option<S<String>>,
    /// The circuits the site is connected through, e.g. a DC on two circuits at two peering
    /// locations: a pair of links on each.
    #[serde(default)]
    #[schemars(schema_with = "schema::names")]
    circuits: Option<S<Vec<S<String>>>>,
    /// The site's address space, IPv4 and/or IPv6.
    #[schemars(schema_with = "schema::prefixes")]
    prefixes: S<Vec<S<String>>>,
    /// BGP ASN (default 65001 + the site's index); not 12076 or 65515-65520.
    #[serde(default)]
    #[schemars(schema_with = "schema::asn")]
    asn: Option<S<i64>>,
    /// What routes the site: "static" (default: reachlab's own CE), "frr" (FRR in the
    /// site's namespace, eBGP to both MSEEs) or "external" (links made, nothing started).
    #[serde(default)]
    #[schemars(schema_with = "schema::router")]
    router: Option<S<String>>,
    /// With router = "frr": an FRR configuration of your own (frr.conf) instead of reachlab's,
    /// a path relative to the topology file.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    router_config: Option<S<String>>,
    /// With router = "static": prepend the site's ASN this many more times to what it
    /// announces on a circuit (active/passive: Azure prefers the shorter path), e.g.
    /// { er-la = 2 }.
    #[serde(default)]
    #[schemars(with = "Option<std::collections::BTreeMap<String, u8>>")]
    prepend: Option<S<std::collections::BTreeMap<String, S<i64>>>>,
    /// With router = "static": also announce a default route (0.0.0.0/0, and ::/0 with IPv6
    /// prefixes): forced tunnelling, the VNets send what they know no route for to the site.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    default_route: Option<S<bool>>,
    /// With router = "external": the Ethernet interface behind which each link's router is,
    /// { primary = "er-sv-p", secondary = "NETNS/IFNAME" }, or a VXLAN reachlab makes:
    /// { primary = { vxlan = { remote = "198.51.100.2", vni = 1001, dst_port = 4789 } } }.
    /// Keys: primary, secondary (the site's first circuit) or CIRCUIT/primary, CIRCUIT/secondary.
    #[serde(default)]
    #[schemars(schema_with = "schema::ports")]
    ports: Option<S<std::collections::BTreeMap<S<String>, S<toml::Value>>>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Vnet")]
struct RawVnet {
    /// The VNet's name (also its host name inside the lab).
    #[schemars(schema_with = "schema::name")]
    name: S<String>,
    /// The Azure region: as az prints it ("westus") or displayed ("West US"), any case.
    #[schemars(schema_with = "schema::region")]
    region: S<String>,
    /// The VNet's address space, IPv4 and/or IPv6.
    #[schemars(schema_with = "schema::prefixes")]
    prefixes: S<Vec<S<String>>>,
    /// The circuits the VNet's gateway is connected to.
    #[serde(default)]
    #[schemars(schema_with = "schema::names")]
    circuits: Option<S<Vec<S<String>>>>,
    /// The routing weight of the VNet's connection to each circuit (0-32000, default 0): its
    /// gateway prefers the highest, before the AS path, e.g. { er-sv = 100 }.
    #[serde(default)]
    #[schemars(with = "Option<std::collections::BTreeMap<String, u16>>")]
    weights: Option<S<std::collections::BTreeMap<String, S<i64>>>>,
    /// A custom BGP community for the VNet's routes, "12076:NNNNN": they then carry it and
    /// the region's community too.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    bgp_community: Option<S<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "GlobalReach")]
struct RawGlobalReach {
    /// The two circuits it links.
    #[schemars(schema_with = "schema::circuit_pair")]
    circuits: S<Vec<S<String>>>,
    /// An IPv4 /29 for the link between the two MSEEs (.1 the first circuit's, .2 the second's).
    #[schemars(schema_with = "schema::ipv4_prefix")]
    address_prefix: S<String>,
    /// An IPv6 /125, needed for IPv6 site routes to cross the link.
    #[serde(default)]
    #[schemars(schema_with = "schema::ipv6_prefix")]
    ipv6_address_prefix: Option<S<String>>,
}

/// Parses a prefix the way the topology file does: the one wording for files and live changes.
pub fn parse_prefix(field: &str, text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    match text.parse::<IpNet>() {
        Ok(p) if p.trunc() != p => Err(format!(
            "{field}: \"{text}\" has host bits set; the network is {}",
            p.trunc()
        )),
        Ok(p) => Ok(p),
        Err(_) => Err(format!(
            "{field}: \"{text}\" is not an IP prefix; write address/length, e.g. 10.0.1.0/24 or fd00:1::/64"
        )),
    }
}

pub fn as_v4(field: &str, p: IpNet) -> Result<Ipv4Net, String> {
    match p {
        IpNet::V4(p) => Ok(p),
        IpNet::V6(_) => Err(format!("{field} must be an IPv4 prefix")),
    }
}

pub fn as_v6(field: &str, p: IpNet) -> Result<Ipv6Net, String> {
    match p {
        IpNet::V6(p) => Ok(p),
        IpNet::V4(_) => Err(format!("{field} must be an IPv6 prefix")),
    }
}

struct Ctx {
    spans: Spans,
    diags: Vec<Diagnostic>,
}

impl Ctx {
    fn err(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.diags.push(Diagnostic::new(Some(span), msg));
    }

    fn note(&mut self, e: Entity, field: &'static str, i: usize, v: &S<impl Sized>) {
        self.spans.insert(e, field, i, v.span());
    }

    /// `loss = "0.5%"` (random) or `loss = { model = "gilbert-elliott", p = "1%", r = "25%" }`.
    fn loss(&mut self, e: Entity, v: S<toml::Value>) -> Option<Loss> {
        self.note(e, "loss", 0, &v);
        let span = v.span();
        let pct = |x: &toml::Value| -> Option<f64> {
            let t = x.as_str()?.trim();
            let n: f64 = t.strip_suffix('%')?.trim().parse().ok()?;
            (0.0..=100.0).contains(&n).then_some(n / 100.0)
        };
        let allowed = "write loss = \"0.5%\" (random) or loss = { model = \"gilbert-elliott\", p = \"1%\", r = \"25%\" } (bursts)";
        let parsed = match v.get_ref() {
            toml::Value::String(_) => pct(v.get_ref()).map(|rate| Loss::Random { rate }),
            toml::Value::Table(t) => match t.get("model").and_then(|m| m.as_str()) {
                Some("random") => t
                    .get("rate")
                    .and_then(pct)
                    .map(|rate| Loss::Random { rate }),
                Some("gilbert-elliott") => {
                    match (t.get("p").and_then(pct), t.get("r").and_then(pct)) {
                        (Some(p), Some(r)) if r > 0.0 => Some(Loss::GilbertElliott { p, r }),
                        _ => None,
                    }
                }
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.err(
                span,
                format!("loss is not understood; {allowed} (percentages 0% .. 100%)"),
            );
        }
        parsed
    }

    /// An integer key within `range`; else an error naming the range, then `note`.
    fn int_in(
        &mut self,
        e: Entity,
        field: &'static str,
        v: S<i64>,
        range: std::ops::RangeInclusive<u16>,
        note: &str,
    ) -> Option<u16> {
        self.note(e, field, 0, &v);
        let n = u16::try_from(*v.get_ref())
            .ok()
            .filter(|n| range.contains(n));
        if n.is_none() {
            self.err(
                v.span(),
                format!(
                    "{field} {} is out of range; allowed: {} .. {} {note}",
                    v.get_ref(),
                    range.start(),
                    range.end()
                ),
            );
        }
        n
    }

    fn span(&mut self, e: Entity, field: &'static str, v: S<String>) -> Option<Span> {
        self.note(e, field, 0, &v);
        let parsed = Span::parse(v.get_ref());
        if parsed.is_none() {
            self.err(
                v.span(),
                format!(
                    "{field} \"{}\" is not a duration; write e.g. \"1ms\", \"500us\", \"0.5ms\", \"2s\" (at most 1 hour)",
                    v.get_ref()
                ),
            );
        }
        parsed
    }

    fn string(&mut self, e: Entity, field: &'static str, v: S<String>) -> String {
        self.note(e, field, 0, &v);
        v.into_inner()
    }

    fn choice<T: Copy>(
        &mut self,
        e: Entity,
        field: &'static str,
        v: Option<S<String>>,
        all: &[(&str, T)],
        default: T,
    ) -> T {
        let Some(v) = v else { return default };
        self.note(e, field, 0, &v);
        if let Some((_, t)) = all.iter().find(|(n, _)| *n == v.get_ref()) {
            return *t;
        }
        let allowed: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        let hint = all
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(v.get_ref()))
            .map(|(n, _)| format!(" (did you mean \"{n}\"?)"))
            .unwrap_or_default();
        self.err(
            v.span(),
            format!(
                "unknown {field} \"{}\"{hint}; allowed: {}",
                v.get_ref(),
                allowed.join(", ")
            ),
        );
        default
    }

    fn prefix(&mut self, e: Entity, field: &'static str, i: usize, v: &S<String>) -> Option<IpNet> {
        self.note(e, field, i, v);
        parse_prefix(field, v.get_ref())
            .map_err(|m| self.err(v.span(), m))
            .ok()
    }

    fn prefix_v4(&mut self, e: Entity, field: &'static str, v: &S<String>) -> Option<Ipv4Net> {
        let p = self.prefix(e, field, 0, v)?;
        as_v4(field, p).map_err(|m| self.err(v.span(), m)).ok()
    }

    fn prefix_v6(&mut self, e: Entity, field: &'static str, v: &S<String>) -> Option<Ipv6Net> {
        let p = self.prefix(e, field, 0, v)?;
        as_v6(field, p).map_err(|m| self.err(v.span(), m)).ok()
    }
    fn prefixes(&mut self, e: Entity, field: &'static str, v: S<Vec<S<String>>>) -> Vec<IpNet> {
        self.note(e, field, 0, &v);
        if v.get_ref().is_empty() {
            self.err(
                v.span(),
                format!("{field} is empty: give at least one prefix"),
            );
        }
        let list: Vec<_> = v
            .get_ref()
            .iter()
            .enumerate()
            .filter_map(|(i, p)| self.prefix(e, field, i, p))
            .collect();
        // Element spans win over the list span for index 0.
        if let Some(first) = v.get_ref().first() {
            self.spans.insert(e, field, 0, first.span());
        }
        list
    }

    /// `peering_prefix_v6`: a /125 (split in two) or two /126s.
    fn peering_v6(&mut self, e: Entity, v: S<toml::Value>) -> Option<PeeringV6> {
        self.note(e, "peering_prefix_v6", 0, &v);
        let span = v.span();
        let allowed = "write a /125 (split into the primary and secondary /126s) or the two /126s, e.g. \"fd00:100::/125\" or [\"fd00:100::/126\", \"fd00:100::8/126\"]";
        let v6 = |t: &str| {
            parse_prefix("peering_prefix_v6", t)
                .ok()
                .and_then(|p| match p {
                    IpNet::V6(p) => Some(p),
                    IpNet::V4(_) => None,
                })
        };
        let parsed = match v.get_ref() {
            toml::Value::String(t) => match v6(t) {
                Some(p) if p.prefix_len() == 125 => PeeringV6::from_125(p),
                Some(p) if p.trunc() != p => {
                    self.err(
                        span,
                        format!("peering_prefix_v6 {p} has host bits set; {allowed}"),
                    );
                    return None;
                }
                _ => None,
            },
            toml::Value::Array(a) => match a.as_slice() {
                [toml::Value::String(x), toml::Value::String(y)] => match (v6(x), v6(y)) {
                    (Some(a), Some(b))
                        if a.prefix_len() == 126
                            && b.prefix_len() == 126
                            && a.trunc() == a
                            && b.trunc() == b =>
                    {
                        Some(PeeringV6 {
                            primary: a,
                            secondary: b,
                        })
                    }
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.err(
                span,
                format!("peering_prefix_v6 is not an IPv6 peering; {allowed}"),
            );
        }
        parsed
    }

    /// Site `i`'s `ports`: each key a link of one of its circuits, each value an interface
    /// name or a VXLAN; only with router = "external".
    fn ports(
        &mut self,
        i: usize,
        circuits: &[String],
        router: Router,
        v: S<std::collections::BTreeMap<S<String>, S<toml::Value>>>,
    ) -> std::collections::BTreeMap<String, PortSpec> {
        let e = Entity::Site(i);
        self.note(e, "ports", 0, &v);
        if router != Router::External {
            self.err(
                v.span(),
                "ports attach a router that runs outside the lab; they need router = \"external\"",
            );
        }
        let mut out = std::collections::BTreeMap::new();
        let mut links: Vec<(String, &'static str)> = Vec::new();
        for (j, (key, val)) in v.into_inner().into_iter().enumerate() {
            self.spans.insert(e, "ports", j, val.span());
            let span = key.span();
            let key = key.into_inner();
            let (circuit, link) = match key.split_once('/') {
                Some((c, l)) => (c.to_string(), l),
                None => (circuits.first().cloned().unwrap_or_default(), key.as_str()),
            };
            let link: &'static str = match link {
                "primary" => "primary",
                "secondary" => "secondary",
                _ => {
                    self.err(
                        span,
                        format!("ports key \"{key}\" is not a link; write primary, secondary, CIRCUIT/primary or CIRCUIT/secondary"),
                    );
                    continue;
                }
            };
            if !circuits.contains(&circuit) {
                self.err(
                    span,
                    format!(
                        "ports key \"{key}\": the site is not on circuit {circuit}; its circuits: {}",
                        circuits.join(", ")
                    ),
                );
                continue;
            }
            if links.contains(&(circuit.clone(), link)) {
                self.err(span, format!("a port for {circuit}/{link} is given twice"));
                continue;
            }
            links.push((circuit, link));
            if let Some(p) = self.port(val) {
                out.insert(key, p);
            }
        }
        out
    }

    /// One port: "IFNAME", "NETNS/IFNAME", or { vxlan = { remote, vni, dst_port }, netns }.
    fn port(&mut self, v: S<toml::Value>) -> Option<PortSpec> {
        let span = v.span();
        let allowed = "write \"IFNAME\", \"NETNS/IFNAME\" or { vxlan = { remote = \"ADDRESS\", vni = 1 .. 16777215, dst_port = 1 .. 65535 }, netns = \"NETNS\" } (netns optional)";
        let fail = |me: &mut Self, what: String| {
            me.err(span.clone(), what);
            None
        };
        match v.into_inner() {
            toml::Value::String(t) => PortSpec::parse_name(&t)
                .map_err(|m| self.err(span.clone(), m))
                .ok(),
            toml::Value::Table(t) => {
                if let Some(k) = t.keys().find(|k| !matches!(k.as_str(), "vxlan" | "netns")) {
                    return fail(self, format!("unknown key \"{k}\" in a port; {allowed}"));
                }
                let netns = match t.get("netns") {
                    None => None,
                    Some(toml::Value::String(n)) => match PortSpec::parse_name(&format!("{n}/x")) {
                        Ok(_) => Some(n.clone()),
                        Err(m) => return fail(self, m),
                    },
                    Some(_) => return fail(self, format!("netns is a namespace name; {allowed}")),
                };
                let Some(toml::Value::Table(x)) = t.get("vxlan") else {
                    return fail(
                        self,
                        format!("a port table needs vxlan = {{ ... }}; {allowed}"),
                    );
                };
                if let Some(k) = x
                    .keys()
                    .find(|k| !matches!(k.as_str(), "remote" | "vni" | "dst_port"))
                {
                    return fail(self, format!("unknown key \"{k}\" in vxlan; {allowed}"));
                }
                let remote = x
                    .get("remote")
                    .and_then(|r| r.as_str())
                    .and_then(|r| r.parse::<std::net::IpAddr>().ok());
                let vni = x
                    .get("vni")
                    .and_then(|n| n.as_integer())
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| (1..=0xff_ffff).contains(n));
                // No default: containerlab's own is 14789, IANA's 4789; the user's must match.
                let dst_port = x
                    .get("dst_port")
                    .and_then(|n| n.as_integer())
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n > 0);
                match (remote, vni, dst_port) {
                    (Some(remote), Some(vni), Some(dst_port)) => Some(PortSpec::Vxlan {
                        netns,
                        remote,
                        vni,
                        dst_port,
                    }),
                    (None, ..) => fail(self, format!("vxlan needs remote, the other host's underlay address; {allowed}")),
                    (_, None, _) => fail(self, format!("vxlan needs vni, 1 .. 16777215, as on the other end; {allowed}")),
                    (.., None) => fail(self, format!("vxlan needs dst_port, 1 .. 65535, the other end's UDP port (containerlab's default is 14789, Linux's 8472, IANA's 4789); {allowed}")),
                }
            }
            _ => fail(self, format!("a port is not understood; {allowed}")),
        }
    }

    fn names(&mut self, e: Entity, field: &'static str, v: S<Vec<S<String>>>) -> Vec<String> {
        self.note(e, field, 0, &v);
        let list = v.into_inner();
        for (i, n) in list.iter().enumerate() {
            self.spans.insert(e, field, i, n.span());
        }
        list.into_iter().map(Spanned::into_inner).collect()
    }
}

/// Parses topology text. Syntax and type errors stop at the first one (TOML cannot go on);
/// value errors are all collected.
pub(super) fn parse(text: &str, default_name: &str) -> Result<(Topology, Spans), Vec<Diagnostic>> {
    let raw: RawTopology = toml::from_str(text).map_err(|e| {
        let msg = e.message().trim_end().replace('\n', "; ");
        let msg = if msg.starts_with("unknown field") {
            msg.replacen("unknown field", "unknown key", 1)
        } else {
            msg
        };
        vec![Diagnostic::new(e.span(), msg)]
    })?;
    let mut cx = Ctx {
        spans: Spans::default(),
        diags: Vec::new(),
    };

    let lab = cx.lab(raw.lab, default_name);
    let circuit = (raw.circuit.into_iter().enumerate())
        .map(|(i, c)| cx.circuit(i, c))
        .collect();
    let site = (raw.site.into_iter().enumerate())
        .map(|(i, s)| cx.site(i, s))
        .collect();
    let vnet = (raw.vnet.into_iter().enumerate())
        .map(|(i, v)| cx.vnet(i, v))
        .collect();
    let global_reach = (raw.global_reach.into_iter().enumerate())
        .filter_map(|(i, g)| cx.global_reach(i, g))
        .collect();
    if !cx.diags.is_empty() {
        return Err(cx.diags);
    }
    Ok((
        Topology {
            lab,
            circuit,
            site,
            vnet,
            global_reach,
        },
        cx.spans,
    ))
}

/// One table of each kind, read into the topology's types; errors noted, spans kept.
impl Ctx {
    /// The `[lab]` table; defaults where it is silent.
    fn lab(&mut self, raw: Option<S<RawLab>>, default_name: &str) -> Lab {
        let mut lab = Lab {
            name: default_name.to_string(),
            latency: LatencyModel::default(),
            access_delay: None,
            jitter: None,
            loss: None,
            seed: None,
            prefix_limit_restart: None,
        };
        let Some(l) = raw else {
            return lab;
        };
        self.note(Entity::Lab, "", 0, &l);
        let l = l.into_inner();
        if let Some(n) = l.name {
            lab.name = self.string(Entity::Lab, "name", n);
        }
        lab.latency = self.choice(
            Entity::Lab,
            "latency",
            l.latency,
            LatencyModel::ALL,
            LatencyModel::Geographic,
        );
        lab.access_delay = l
            .access_delay
            .and_then(|d| self.span(Entity::Lab, "access_delay", d));
        lab.jitter = l.jitter.and_then(|d| self.span(Entity::Lab, "jitter", d));
        lab.loss = l.loss.and_then(|v| self.loss(Entity::Lab, v));
        lab.prefix_limit_restart = l
            .prefix_limit_restart
            .and_then(|d| self.span(Entity::Lab, "prefix_limit_restart", d));
        lab.seed = l.seed.and_then(|v| match u64::try_from(*v.get_ref()) {
            Ok(x) => Some(x),
            Err(_) => {
                self.err(v.span(), "seed must be a non-negative integer");
                None
            }
        });
        lab
    }

    /// A `[[circuit]]` table.
    fn circuit(&mut self, i: usize, c: S<RawCircuit>) -> Circuit {
        let e = Entity::Circuit(i);
        self.note(e, "", 0, &c);
        let c = c.into_inner();
        self.note(e, "bandwidth", 0, &c.bandwidth);
        let bandwidth = match Bandwidth::parse(c.bandwidth.get_ref()) {
            Some(b) => b,
            None => {
                self.err(
                    c.bandwidth.span(),
                    format!(
                        "bandwidth \"{}\" is not a rate; write e.g. \"50Mbps\", \"1Gbps\", \"10Gbps\" ({} .. {}) or \"unlimited\"",
                        c.bandwidth.get_ref(),
                        Bandwidth::MIN,
                        Bandwidth::MAX
                    ),
                );
                Bandwidth::MIN
            }
        };
        let peering_prefix = c
            .peering_prefix
            .as_ref()
            .and_then(|p| self.prefix_v4(e, "peering_prefix", p));
        let peering_prefix_v6 = c.peering_prefix_v6.and_then(|v| self.peering_v6(e, v));
        let access_delay = c.access_delay.and_then(|d| self.span(e, "access_delay", d));
        let queue = c.queue.and_then(|d| self.span(e, "queue", d));
        let mtu = c
            .mtu
            .and_then(|m| self.int_in(e, "mtu", m, 1280..=9000, "(default 1400)"));
        let vlan_id = c.vlan_id.and_then(|v| {
            let why = "(the 802.1Q VLAN ID; leave it out for untagged)";
            self.int_in(e, "vlan_id", v, 1..=4094, why)
        });
        let jitter = c.jitter.and_then(|d| self.span(e, "jitter", d));
        let loss = c.loss.and_then(|v| self.loss(e, v));
        Circuit {
            vlan_id,
            jitter,
            loss,
            reorder: c.reorder.unwrap_or(false),
            access_delay,
            queue,
            mtu,
            name: self.string(e, "name", c.name),
            // As people type it ("silicon valley"): the catalogue's spelling from here on.
            peering_location: crate::catalogue::catalogue().canonical_location(&self.string(
                e,
                "peering_location",
                c.peering_location,
            )),
            bandwidth,
            sku: self.choice(e, "sku", c.sku, Sku::ALL, Sku::Standard),
            family: self.choice(e, "family", c.family, Family::ALL, Family::MeteredData),
            provider: c.provider.map(|p| self.string(e, "provider", p)),
            subscription: c.subscription.map(|p| self.string(e, "subscription", p)),
            shared_key: c.shared_key.map(|p| self.string(e, "shared_key", p)),
            peering_prefix,
            peering_prefix_v6,
        }
    }

    /// A `[[site]]` table.
    fn site(&mut self, i: usize, s: S<RawSite>) -> Site {
        let e = Entity::Site(i);
        self.note(e, "", 0, &s);
        let site_span = s.span();
        let s = s.into_inner();
        // `circuit = "x"` or `circuits = [...]`, spans kept under "circuits" either way.
        let circuits = match (s.circuit, s.circuits) {
            (Some(c), None) => {
                self.note(e, "circuits", 0, &c);
                vec![c.into_inner()]
            }
            (None, Some(list)) => {
                if list.get_ref().is_empty() {
                    self.err(
                        list.span(),
                        "circuits is empty; a site connects through at least one circuit",
                    );
                }
                self.names(e, "circuits", list)
            }
            (Some(c), Some(_)) => {
                self.err(
                    c.span(),
                    "give either circuit = \"NAME\" or circuits = [\"NAME\", ...], not both",
                );
                vec![c.into_inner()]
            }
            (None, None) => {
                self.err(
                    site_span,
                    "a site needs circuit = \"NAME\" (or circuits = [\"NAME\", ...] for several)",
                );
                Vec::new()
            }
        };
        let asn = s.asn.and_then(|a| {
            self.note(e, "asn", 0, &a);
            match u32::try_from(*a.get_ref()) {
                Ok(v) if v != 0 && v != u32::MAX => Some(v),
                _ => {
                    self.err(
                        a.span(),
                        format!(
                            "asn {} is not a BGP ASN; allowed: 1 .. 4294967294",
                            a.get_ref()
                        ),
                    );
                    None
                }
            }
        });
        let router = self.choice(e, "router", s.router, Router::ALL, Router::Static);
        let router_config = s.router_config.map(|v| self.string(e, "router_config", v));
        let default_route = s.default_route.is_some_and(|b| {
            self.note(e, "default_route", 0, &b);
            *b.get_ref()
        });
        let prepend = s
            .prepend
            .map(|w| {
                self.note(e, "prepend", 0, &w);
                let mut out = std::collections::BTreeMap::new();
                for (i, (circuit, n)) in w.into_inner().into_iter().enumerate() {
                    self.spans.insert(e, "prepend", i, n.span());
                    match u8::try_from(*n.get_ref()) {
                        Ok(k) if k <= super::MAX_PREPEND => {
                            out.insert(circuit, k);
                        }
                        _ => self.err(
                            n.span(),
                            format!(
                                "prepend {} for circuit {circuit} is out of range; allowed: 0 .. {}",
                                n.get_ref(),
                                super::MAX_PREPEND
                            ),
                        ),
                    }
                }
                out
            })
            .unwrap_or_default();
        let ports = s
            .ports
            .map(|p| self.ports(i, &circuits, router, p))
            .unwrap_or_default();
        Site {
            default_route,
            prepend,
            ports,
            name: self.string(e, "name", s.name),
            circuits,
            prefixes: self.prefixes(e, "prefixes", s.prefixes),
            asn,
            router,
            router_config,
        }
    }

    /// A `[[vnet]]` table.
    fn vnet(&mut self, i: usize, v: S<RawVnet>) -> Vnet {
        let e = Entity::Vnet(i);
        self.note(e, "", 0, &v);
        let v = v.into_inner();
        Vnet {
            name: self.string(e, "name", v.name),
            // As az prints it ("westus") or as displayed ("West US"), in any case.
            region: crate::catalogue::catalogue()
                .canonical_azure_region(&self.string(e, "region", v.region)),
            prefixes: self.prefixes(e, "prefixes", v.prefixes),
            circuits: v
                .circuits
                .map(|c| self.names(e, "circuits", c))
                .unwrap_or_default(),
            bgp_community: v.bgp_community.map(|c| self.string(e, "bgp_community", c)),
            weights: v
                .weights
                .map(|w| {
                    self.note(e, "weights", 0, &w);
                    let mut out = std::collections::BTreeMap::new();
                    for (i, (circuit, weight)) in w.into_inner().into_iter().enumerate() {
                        self.spans.insert(e, "weights", i, weight.span());
                        match u16::try_from(*weight.get_ref()) {
                            Ok(n) if n <= super::MAX_WEIGHT => {
                                out.insert(circuit, n);
                            }
                            _ => self.err(
                                weight.span(),
                                format!(
                                    "weight {} for circuit {circuit} is out of range; allowed: 0 .. {} (higher is preferred)",
                                    weight.get_ref(),
                                    super::MAX_WEIGHT
                                ),
                            ),
                        }
                    }
                    out
                })
                .unwrap_or_default(),
        }
    }

    /// A `[[global_reach]]` table; `None` when it cannot be one (the error noted).
    fn global_reach(&mut self, i: usize, g: S<RawGlobalReach>) -> Option<GlobalReach> {
        let e = Entity::GlobalReach(i);
        self.note(e, "", 0, &g);
        let g = g.into_inner();
        let span = g.circuits.span();
        let names = self.names(e, "circuits", g.circuits);
        let address_prefix = self.prefix_v4(e, "address_prefix", &g.address_prefix);
        let v6 = g
            .ipv6_address_prefix
            .as_ref()
            .and_then(|p| self.prefix_v6(e, "ipv6_address_prefix", p));
        if names.len() != 2 {
            self.err(
                span,
                format!(
                    "a Global Reach connection joins exactly two circuits, got {}",
                    names.len()
                ),
            );
            return None;
        }
        Some(GlobalReach {
            circuits: [names[0].clone(), names[1].clone()],
            address_prefix: address_prefix?,
            ipv6_address_prefix: v6,
        })
    }
}
