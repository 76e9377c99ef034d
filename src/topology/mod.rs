//! The topology: the lab a user describes in TOML, parsed with source spans and validated.
//!
//! Owns the data model (`Topology` and its circuits, sites, VNets and Global Reach connections),
//! the file format (field names are the user interface: see README), and the one validation
//! every change goes through (`rules`). A `Topology` that left `load`/`validate` satisfies every
//! rule and has every default resolved (peering prefixes allocated).

mod parse;
pub mod rules;
mod schema;

pub use parse::json_schema as schema;
pub use parse::{as_v4, as_v6, parse_prefix};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;

use crate::diag::{Diagnostic, SourceFile};

/// ExpressRoute SKU tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sku {
    Local,
    Standard,
    Premium,
}

impl Sku {
    pub const ALL: &'static [(&'static str, Sku)] = &[
        ("Local", Sku::Local),
        ("Standard", Sku::Standard),
        ("Premium", Sku::Premium),
    ];
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// ExpressRoute billing family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    MeteredData,
    UnlimitedData,
}

impl Family {
    pub const ALL: &'static [(&'static str, Family)] = &[
        ("MeteredData", Family::MeteredData),
        ("UnlimitedData", Family::UnlimitedData),
    ];
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// A circuit's bandwidth in bits per second (each direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bandwidth(pub u64);

impl Bandwidth {
    pub const MIN: Bandwidth = Bandwidth(50_000_000);
    pub const MAX: Bandwidth = Bandwidth(100_000_000_000);
    /// `bandwidth = "unlimited"`: no shaping (benchmarks, functional labs).
    pub const UNLIMITED: Bandwidth = Bandwidth(u64::MAX);

    pub fn is_unlimited(self) -> bool {
        self == Bandwidth::UNLIMITED
    }

    /// Parses `50Mbps`, `1Gbps`, `2.5Gbps` (units Kbps, Mbps, Gbps, case-insensitive) and
    /// `unlimited`.
    pub fn parse(s: &str) -> Option<Bandwidth> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        if lower == "unlimited" {
            return Some(Bandwidth::UNLIMITED);
        }
        let (num, mult) = [("kbps", 1e3), ("mbps", 1e6), ("gbps", 1e9)]
            .iter()
            .find_map(|(u, m)| lower.strip_suffix(u).map(|n| (n.trim().to_string(), *m)))?;
        let v: f64 = num.parse().ok()?;
        if !v.is_finite() || v <= 0.0 {
            return None;
        }
        Some(Bandwidth((v * mult).round() as u64))
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if self.is_unlimited() {
            write!(f, "unlimited")
        } else if b % 1_000_000_000 == 0 {
            write!(f, "{}Gbps", b / 1_000_000_000)
        } else if b % 1_000_000 == 0 {
            write!(f, "{}Mbps", b / 1_000_000)
        } else if b % 1_000 == 0 {
            write!(f, "{}Kbps", b / 1_000)
        } else {
            write!(f, "{}Mbps", b as f64 / 1e6)
        }
    }
}

impl Serialize for Bandwidth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Bandwidth::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("bad bandwidth {s}")))
    }
}

/// Whether circuits add the delays of real distances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LatencyModel {
    /// Access, backbone and VNet delays from the catalogue (published RTTs, else distance).
    #[default]
    Geographic,
    /// No added delay anywhere (functional labs, benchmarks).
    None,
}

impl LatencyModel {
    pub const ALL: &'static [(&'static str, LatencyModel)] = &[
        ("geographic", LatencyModel::Geographic),
        ("none", LatencyModel::None),
    ];
}

/// A time span written as `1ms`, `500us`, `0.25ms`, `2s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Span(pub std::time::Duration);

impl Span {
    pub fn parse(s: &str) -> Option<Span> {
        let t = s.trim().to_ascii_lowercase();
        let (num, scale) = [("ns", 1e-9), ("us", 1e-6), ("ms", 1e-3), ("s", 1.0)]
            .iter()
            .find_map(|(u, m)| t.strip_suffix(u).map(|n| (n.trim().to_string(), *m)))?;
        let v: f64 = num.parse().ok()?;
        if !v.is_finite() || v < 0.0 || v * scale > 3600.0 {
            return None;
        }
        Some(Span(std::time::Duration::from_secs_f64(v * scale)))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        if ns % 1_000_000 == 0 {
            write!(f, "{}ms", ns / 1_000_000)
        } else if ns % 1_000 == 0 {
            write!(f, "{}us", ns / 1_000)
        } else {
            write!(f, "{ns}ns")
        }
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Span::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("bad duration {s}")))
    }
}

/// Packet loss on a circuit's links, decided per packet with a seeded generator. Written in
/// files as `"0.5%"` or `{ model = "gilbert-elliott", p = "1%", r = "25%" }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// Each packet lost with probability `rate` (0..1).
    Random { rate: f64 },
    /// Gilbert-Elliott bursts: from the good state to the bad with probability `p` per packet,
    /// back with `r`; every packet in the bad state is lost (mean burst 1/r packets).
    GilbertElliott { p: f64, r: f64 },
}

impl Serialize for Loss {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let pct = |x: f64| format!("{}%", (x * 1e6).round() / 1e4);
        match *self {
            Loss::Random { rate } => s.serialize_str(&pct(rate)),
            Loss::GilbertElliott { p, r } => {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("model", "gilbert-elliott")?;
                m.serialize_entry("p", &pct(p))?;
                m.serialize_entry("r", &pct(r))?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Loss {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Files go through the parser, which reports errors with positions; this serves
        // state round trips only.
        let v = toml::Value::deserialize(d)?;
        let pct = |x: Option<&toml::Value>| -> Option<f64> {
            x?.as_str()?
                .trim()
                .strip_suffix('%')?
                .trim()
                .parse::<f64>()
                .ok()
                .map(|n| n / 100.0)
        };
        match &v {
            toml::Value::String(_) => pct(Some(&v)).map(|rate| Loss::Random { rate }),
            toml::Value::Table(t) => match (pct(t.get("p")), pct(t.get("r"))) {
                (Some(p), Some(r)) => Some(Loss::GilbertElliott { p, r }),
                _ => pct(t.get("rate")).map(|rate| Loss::Random { rate }),
            },
            _ => None,
        }
        .ok_or_else(|| serde::de::Error::custom("bad loss"))
    }
}

/// Access delay between a site and its MSEE when nothing says otherwise.
pub const DEFAULT_ACCESS_DELAY: Span = Span(std::time::Duration::from_millis(1));
/// The private path's MTU per the ExpressRoute FAQ.
pub const DEFAULT_MTU: u16 = 1400;

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lab {
    pub name: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub latency: LatencyModel,
    /// One-way delay between each site and its MSEE (default 1 ms); circuits may override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_delay: Option<Span>,
    /// Random extra delay, up to this much, on every access link (circuits may override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Span>,
    /// Loss on every access link (circuits may override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
    /// Seed of the jitter and loss generators, so runs repeat (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// How long an MSEE keeps a session down after a prefix-limit teardown (default 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_limit_restart: Option<Span>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Circuit {
    pub name: String,
    pub peering_location: String,
    pub bandwidth: Bandwidth,
    pub sku: Sku,
    pub family: Family,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The Azure subscription owning the circuit: linking circuits of different subscriptions
    /// live takes an authorization key created on the peer circuit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// The private peering's MD5 shared key: the MSEEs sign their BGP sessions with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_key: Option<String>,
    /// The CE/MSEE link: a /30 (primary) or /29 (primary and secondary). Allocated from a
    /// lab-internal range when the file leaves it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peering_prefix: Option<Ipv4Net>,
    /// The private peering's IPv6 links (az: `ipv6PeeringConfig`): the primary and secondary
    /// /126s, the customer on the first usable address of each, the MSEE on the second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peering_prefix_v6: Option<PeeringV6>,
    /// The private peering's 802.1Q VLAN ID (az: the peering's `vlanId`), the same on both
    /// links; none: untagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_id: Option<u16>,
    /// One-way site <-> MSEE delay on this circuit (default: the lab's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_delay: Option<Span>,
    /// How much the circuit's shaper may queue, as time at the circuit's rate (default: two
    /// bandwidth-delay products of the longest modelled round trip over the circuit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Span>,
    /// IP MTU of the circuit (default 1400, the private path's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
    /// Let jitter reorder packets (default: a packet never overtakes an earlier one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reorder: bool,
}

/// A circuit's IPv6 peering: the /126 of each link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeeringV6 {
    pub primary: Ipv6Net,
    pub secondary: Ipv6Net,
}

impl PeeringV6 {
    /// The /126 of link `path` (0 primary, 1 secondary).
    pub fn link(&self, path: usize) -> Ipv6Net {
        if path == 0 {
            self.primary
        } else {
            self.secondary
        }
    }

    /// (customer, MSEE) addresses on link `path`: the first and second usable of its /126.
    pub fn addresses(&self, path: usize) -> (std::net::Ipv6Addr, std::net::Ipv6Addr) {
        let base = u128::from(self.link(path).network());
        ((base + 1).into(), (base + 2).into())
    }

    /// The /125 both links make, when they are its two halves.
    pub fn as_125(&self) -> Option<Ipv6Net> {
        let whole = Ipv6Net::new(self.primary.network(), 125).ok()?.trunc();
        let halves: Vec<Ipv6Net> = whole.subnets(126).ok()?.collect();
        (whole.network() == self.primary.network() && halves == [self.primary, self.secondary])
            .then_some(whole)
    }

    /// From a /125: its two /126s.
    pub fn from_125(p: Ipv6Net) -> Option<PeeringV6> {
        let halves: Vec<Ipv6Net> = p.trunc().subnets(126).ok()?.collect();
        match (p.prefix_len(), halves.as_slice()) {
            (125, [a, b]) => Some(PeeringV6 {
                primary: *a,
                secondary: *b,
            }),
            _ => None,
        }
    }
}

impl Serialize for PeeringV6 {
    /// As the file writes it: "PREFIX/125" when the links are its halves, else the two /126s.
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self.as_125() {
            Some(p) => p.serialize(ser),
            None => [self.primary, self.secondary].serialize(ser),
        }
    }
}

impl<'de> Deserialize<'de> for PeeringV6 {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            One(Ipv6Net),
            Two([Ipv6Net; 2]),
        }
        match Repr::deserialize(de)? {
            Repr::One(p) => PeeringV6::from_125(p)
                .ok_or_else(|| serde::de::Error::custom(format!("{p} is not a /125"))),
            Repr::Two([primary, secondary]) => Ok(PeeringV6 { primary, secondary }),
        }
    }
}

impl Circuit {
    pub fn mtu(&self) -> u16 {
        self.mtu.unwrap_or(DEFAULT_MTU)
    }

    /// The private peering's VLAN ID as az shows it (Azure sets one on every peering): the
    /// file's, else 100 + the circuit's index.
    pub fn az_vlan_id(&self, index: usize) -> u16 {
        self.vlan_id
            .unwrap_or_else(|| 100u16.saturating_add(u16::try_from(index).unwrap_or(u16::MAX)))
    }
}

/// What routes a site: the built-in static router, or FRR peering with the MSEEs over BGP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Router {
    /// reachlab's own CE: announces the site's prefixes, forwards everything to its MSEE.
    #[default]
    Static,
    /// FRR (zebra, bgpd) in the site's namespace: eBGP to both MSEEs over the circuit links.
    Frr,
    /// The links and the LAN are made as for "frr" and nothing is started: run any BGP
    /// daemon in the site's namespace yourself.
    External,
}

impl Router {
    pub const ALL: &'static [(&'static str, Router)] = &[
        ("static", Router::Static),
        ("frr", Router::Frr),
        ("external", Router::External),
    ];

    /// Whether the site's namespace routes for itself (a real router, started or not).
    pub fn is_real(self) -> bool {
        self != Router::Static
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Site {
    pub name: String,
    /// The circuits the site connects through, usually one (`circuit = "x"` in the file);
    /// the first is its main one (the built-in router's default).
    pub circuits: Vec<String>,
    pub prefixes: Vec<IpNet>,
    /// The site's BGP ASN towards its circuit; default 65001 + the site's index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub router: Router,
    /// With `router = "frr"`: the user's own FRR configuration (resolved against the topology
    /// file's directory when loaded from a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_config: Option<String>,
    /// With the built-in static router: also announce a default route (forced tunnelling).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default_route: bool,
    /// With the built-in static router: how many more times it prepends its ASN on each
    /// circuit ("er-la") or link ("er-la/secondary") (absent: none).
    #[serde(default)]
    pub prepend: std::collections::BTreeMap<String, u8>,
    /// With `router = "external"`: the Ethernet interface each link's router is behind, by
    /// link ("primary", "secondary" on the site's first circuit; "CIRCUIT/primary" on any).
    /// A site with ports has no namespace of its own: its router and LAN are elsewhere.
    #[serde(default)]
    pub ports: std::collections::BTreeMap<String, PortSpec>,
}

/// Where an external router's link attaches: an Ethernet interface of this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// An interface that exists already, left as it is: in namespace `netns`, or in the
    /// one reachlab runs in.
    Interface { netns: Option<String>, name: String },
    /// A kernel VXLAN interface that reachlab makes (and removes), in `netns` (the one that
    /// holds the underlay) or reachlab's own.
    Vxlan {
        netns: Option<String>,
        remote: std::net::IpAddr,
        vni: u32,
        dst_port: u16,
    },
}

/// The longest Linux interface name (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

impl PortSpec {
    /// "IFNAME" or "NETNS/IFNAME", checked as Linux takes them; the error says what is
    /// allowed.
    pub fn parse_name(text: &str) -> Result<PortSpec, String> {
        let (netns, name) = match text.split_once('/') {
            Some((n, i)) => (Some(n), i),
            None => (None, text),
        };
        let ifname_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= MAX_IFNAME
                && n != "."
                && n != ".."
                && n.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
        };
        if !ifname_ok(name) {
            return Err(format!(
                "\"{text}\" does not name an interface; write IFNAME or NETNS/IFNAME, where IFNAME is 1 .. {MAX_IFNAME} characters without spaces, '/' or ':' (e.g. \"er-sv-p\" or \"hostb/vx-sf\")"
            ));
        }
        if let Some(n) = netns {
            let ok = !n.is_empty()
                && n != "."
                && n != ".."
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !ok {
                return Err(format!(
                    "\"{n}\" in \"{text}\" is not a namespace name; allowed: letters, digits, '-', '_', '.' (as `ip netns` names them)"
                ));
            }
        }
        Ok(PortSpec::Interface {
            netns: netns.map(String::from),
            name: name.to_string(),
        })
    }

    /// The namespace the interface is in (None: reachlab's own).
    pub fn netns(&self) -> Option<&str> {
        match self {
            PortSpec::Interface { netns, .. } | PortSpec::Vxlan { netns, .. } => netns.as_deref(),
        }
    }
}

impl fmt::Display for PortSpec {
    /// As a person names it: "NETNS/IFNAME", "IFNAME", "vxlan vni 1001 to 198.51.100.2:4789".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSpec::Interface {
                netns: Some(n),
                name,
            } => write!(f, "{n}/{name}"),
            PortSpec::Interface { netns: None, name } => write!(f, "{name}"),
            PortSpec::Vxlan {
                netns,
                remote,
                vni,
                dst_port,
            } => {
                write!(f, "vxlan vni {vni} to {remote} port {dst_port}")?;
                if let Some(n) = netns {
                    write!(f, " in {n}")?;
                }
                Ok(())
            }
        }
    }
}

impl<'de> Deserialize<'de> for PortSpec {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct V {
            remote: std::net::IpAddr,
            vni: u32,
            dst_port: u16,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Name(String),
            Vxlan {
                vxlan: V,
                #[serde(default)]
                netns: Option<String>,
            },
        }
        match Repr::deserialize(de)? {
            Repr::Name(n) => PortSpec::parse_name(&n).map_err(serde::de::Error::custom),
            Repr::Vxlan { vxlan, netns } => Ok(PortSpec::Vxlan {
                netns,
                remote: vxlan.remote,
                vni: vxlan.vni,
                dst_port: vxlan.dst_port,
            }),
        }
    }
}

impl Serialize for PortSpec {
    /// As the file writes it: "NETNS/IFNAME" or "IFNAME"; { vxlan = {...}, netns = "..." }.
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self {
            PortSpec::Interface { .. } => ser.collect_str(self),
            PortSpec::Vxlan {
                netns,
                remote,
                vni,
                dst_port,
            } => {
                #[derive(Serialize)]
                struct V<'a> {
                    remote: &'a std::net::IpAddr,
                    vni: u32,
                    dst_port: u16,
                }
                #[derive(Serialize)]
                struct Out<'a> {
                    vxlan: V<'a>,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    netns: Option<&'a str>,
                }
                Out {
                    vxlan: V {
                        remote,
                        vni: *vni,
                        dst_port: *dst_port,
                    },
                    netns: netns.as_deref(),
                }
                .serialize(ser)
            }
        }
    }
}

/// The most a static site prepends its ASN (beyond the one it always sends).
pub const MAX_PREPEND: u8 = 10;

impl Site {
    /// Whether the site connects through circuit `name`.
    pub fn on(&self, name: &str) -> bool {
        self.circuits.iter().any(|c| c == name)
    }

    /// How many more times the built-in router prepends its ASN on link `link` of `circuit`:
    /// `prepend`'s entry for the circuit plus that for the link ("er-sv/secondary").
    pub fn prepend_on(&self, circuit: &str, link: usize) -> u8 {
        let path = if link == 0 { "primary" } else { "secondary" };
        let get = |k: &str| self.prepend.get(k).copied().unwrap_or(0);
        get(circuit).saturating_add(get(&format!("{circuit}/{path}")))
    }

    /// The port link `path` (0 primary, 1 secondary) of `circuit` attaches to, if any.
    pub fn port(&self, circuit: &str, path: usize) -> Option<&PortSpec> {
        let link = if path == 0 { "primary" } else { "secondary" };
        self.ports.get(&format!("{circuit}/{link}")).or_else(|| {
            (self.circuits.first().map(String::as_str) == Some(circuit))
                .then(|| self.ports.get(link))
                .flatten()
        })
    }

    /// Whether the site's router is outside the lab, behind Ethernet ports (no namespace).
    pub fn has_ports(&self) -> bool {
        !self.ports.is_empty()
    }

    /// The interface name, in a router site's namespace, of link `path` (0 primary, 1
    /// secondary) of circuit `circuit`: "primary"/"secondary" on its first circuit,
    /// "primary2"/"secondary2" on its second, and so on.
    pub fn link_interface(&self, circuit: &str, path: usize) -> String {
        let k = self.circuits.iter().position(|c| c == circuit).unwrap_or(0);
        let base = if path == 0 { "primary" } else { "secondary" };
        if k == 0 {
            base.to_string()
        } else {
            format!("{base}{}", k + 1)
        }
    }
}

/// A site as the file writes it: `circuit = "x"` for one circuit, `circuits = [...]` for
/// several.
impl Serialize for Site {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            name: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            circuit: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            circuits: Option<&'a [String]>,
            prefixes: &'a [IpNet],
            #[serde(skip_serializing_if = "Option::is_none")]
            asn: Option<u32>,
            #[serde(skip_serializing_if = "is_default")]
            router: Router,
            #[serde(skip_serializing_if = "Option::is_none")]
            router_config: Option<&'a str>,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            default_route: bool,
            #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
            prepend: &'a std::collections::BTreeMap<String, u8>,
            #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
            ports: &'a std::collections::BTreeMap<String, PortSpec>,
        }
        let one = self.circuits.len() == 1;
        Out {
            name: &self.name,
            circuit: one.then(|| self.circuits[0].as_str()),
            circuits: (!one).then_some(&self.circuits[..]),
            prefixes: &self.prefixes,
            asn: self.asn,
            router: self.router,
            router_config: self.router_config.as_deref(),
            default_route: self.default_route,
            prepend: &self.prepend,
            ports: &self.ports,
        }
        .serialize(ser)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vnet {
    pub name: String,
    pub region: String,
    pub prefixes: Vec<IpNet>,
    pub circuits: Vec<String>,
    /// A custom BGP community for the VNet's routes ("12076:20001").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_community: Option<String>,
    /// The routing weight of the connection to each circuit (absent: 0).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub weights: std::collections::BTreeMap<String, u16>,
}

/// The highest routing weight of a VNet's connection (Azure's range is 0-32000).
pub const MAX_WEIGHT: u16 = 32000;

impl Vnet {
    /// The routing weight of the VNet's connection to `circuit` (0 unless set).
    pub fn weight(&self, circuit: &str) -> u16 {
        self.weights.get(circuit).copied().unwrap_or(0)
    }

    /// The custom community as (ASN, value), when it is well formed.
    pub fn community(&self) -> Option<(u16, u16)> {
        parse_community(self.bgp_community.as_deref()?)
    }
}

/// "12076:20001" as (12076, 20001): two 16-bit numbers, the first Microsoft's ASN.
pub fn parse_community(s: &str) -> Option<(u16, u16)> {
    let (a, v) = s.trim().split_once(':')?;
    let (a, v) = (a.parse::<u16>().ok()?, v.parse::<u16>().ok()?);
    (a == 12076).then_some((a, v))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalReach {
    pub circuits: [String; 2],
    pub address_prefix: Ipv4Net,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address_prefix: Option<Ipv6Net>,
}

/// A Global Reach connection asked of a running lab (`global-reach add`, the control socket,
/// the live view), with the user's input as typed (prefixes as strings): the lab validates it
/// as `check` would and answers with `check`'s errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalReachAdd {
    pub circuit: String,
    pub peer: String,
    pub address_prefix: String,
    #[serde(default)]
    pub ipv6_address_prefix: Option<String>,
    #[serde(default)]
    pub authorization_key: Option<String>,
}

/// A whole lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub lab: Lab,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub circuit: Vec<Circuit>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub site: Vec<Site>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vnet: Vec<Vnet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global_reach: Vec<GlobalReach>,
}

/// Which entity of a topology a span belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    Lab,
    Circuit(usize),
    Site(usize),
    Vnet(usize),
    GlobalReach(usize),
}

/// Where each field of a parsed file sits, so rules can point at it. Empty for a topology that
/// did not come from a file (a live change): its diagnostics then carry no location.
#[derive(Debug, Clone, Default)]
pub struct Spans {
    map: HashMap<(Entity, &'static str, usize), Range<usize>>,
}

impl Spans {
    pub fn insert(&mut self, e: Entity, field: &'static str, index: usize, span: Range<usize>) {
        self.map.insert((e, field, index), span);
    }

    /// The span of `field[index]` of `e`, else of the field, else of the entity.
    pub fn get(&self, e: Entity, field: &'static str, index: usize) -> Option<Range<usize>> {
        self.map
            .get(&(e, field, index))
            .or_else(|| self.map.get(&(e, field, 0)))
            .or_else(|| self.map.get(&(e, "", 0)))
            .cloned()
    }
}

/// A topology file that failed to load: the file and every problem found in it.
#[derive(Debug)]
pub struct LoadError {
    pub source: SourceFile,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.source.render(d))?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// The subscription circuits belong to when the file does not say.
pub const DEFAULT_SUBSCRIPTION: &str = "default";

impl Circuit {
    pub fn subscription(&self) -> &str {
        self.subscription.as_deref().unwrap_or(DEFAULT_SUBSCRIPTION)
    }
}

impl Topology {
    /// Reads, parses and validates a topology file.
    pub fn load(path: &Path) -> Result<Topology, LoadError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| LoadError {
            source: SourceFile::new(shown.clone(), ""),
            diagnostics: vec![Diagnostic::new(None, format!("cannot read the file: {e}"))],
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "lab".into());
        let mut t = Topology::from_source(SourceFile::new(shown, text), &stem)?;
        // A router's own configuration is named relative to the topology file.
        let dir = path.parent().unwrap_or(Path::new("."));
        for s in &mut t.site {
            if let Some(c) = &mut s.router_config {
                if Path::new(c.as_str()).is_relative() {
                    *c = dir.join(&*c).display().to_string();
                }
            }
        }
        Ok(t)
    }

    /// Where a key of the file stands (its `index`th value of `field` of `entity`), to point
    /// at it in a message about something found later, outside the file (an interface that is
    /// not there). None when the text does not parse.
    pub fn span_of(
        text: &str,
        entity: Entity,
        field: &'static str,
        index: usize,
    ) -> Option<Range<usize>> {
        parse::parse(text, "lab")
            .ok()
            .and_then(|(_, spans)| spans.get(entity, field, index))
    }

    /// Parses and validates topology text; `default_name` names the lab when `[lab]` does not.
    pub fn from_source(source: SourceFile, default_name: &str) -> Result<Topology, LoadError> {
        match parse::parse(&source.text, default_name) {
            Err(diagnostics) => Err(LoadError {
                source,
                diagnostics,
            }),
            Ok((mut topo, spans)) => {
                let diagnostics = rules::check(&topo, &spans);
                if !diagnostics.is_empty() {
                    return Err(LoadError {
                        source,
                        diagnostics,
                    });
                }
                topo.resolve_defaults();
                Ok(topo)
            }
        }
    }

    /// Checks a topology that did not come from a file (a live change) against the same rules;
    /// the messages are the file's, without positions.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let d = rules::check(self, &Spans::default());
        if d.is_empty() {
            Ok(())
        } else {
            Err(d.into_iter().map(|d| d.message).collect())
        }
    }

    /// Fills in defaults that depend on the whole lab: site ASNs (65001 + index) and peering
    /// prefixes for circuits that do not set one, taken from 192.168.100.0/24 upwards, never
    /// overlapping any prefix in the lab.
    pub fn resolve_defaults(&mut self) {
        for (i, s) in self.site.iter_mut().enumerate() {
            s.asn.get_or_insert(65001 + i as u32);
        }
        let used: Vec<IpNet> = self.all_prefixes().into_iter().map(|(p, _)| p).collect();
        let mut taken: Vec<IpNet> = used;
        let mut candidates = (100u32..=255)
            .flat_map(|third| (0u32..32).map(move |i| (third, i * 8)))
            .map(|(third, fourth)| {
                Ipv4Net::new(
                    std::net::Ipv4Addr::from(0xC0A8_0000 | (third << 8) | fourth),
                    29,
                )
                .expect("valid /29")
            });
        for c in self
            .circuit
            .iter_mut()
            .filter(|c| c.peering_prefix.is_none())
        {
            let p = candidates
                .by_ref()
                .find(|p| !taken.iter().any(|t| overlaps(t, &IpNet::V4(*p))))
                .expect("192.168.100.0-192.168.255.255 has room for every circuit");
            taken.push(IpNet::V4(p));
            c.peering_prefix = Some(p);
        }
    }

    /// Every prefix the lab uses, with a description of its owner.
    pub fn all_prefixes(&self) -> Vec<(IpNet, String)> {
        let mut v = Vec::new();
        for s in &self.site {
            v.extend(s.prefixes.iter().map(|p| (*p, format!("site {}", s.name))));
        }
        for n in &self.vnet {
            v.extend(n.prefixes.iter().map(|p| (*p, format!("vnet {}", n.name))));
        }
        for c in &self.circuit {
            if let Some(p) = c.peering_prefix {
                v.push((
                    IpNet::V4(p),
                    format!("the peering prefix of circuit {}", c.name),
                ));
            }
        }
        for g in &self.global_reach {
            let who = format!("Global Reach {} <-> {}", g.circuits[0], g.circuits[1]);
            v.push((IpNet::V4(g.address_prefix), who.clone()));
            if let Some(p) = g.ipv6_address_prefix {
                v.push((IpNet::V6(p), who));
            }
        }
        v
    }

    pub fn circuit(&self, name: &str) -> Option<&Circuit> {
        self.circuit.iter().find(|c| c.name == name)
    }

    /// Sites and VNets in the order ports are numbered: sites first, then VNets.
    pub fn endpoint_names(&self) -> impl Iterator<Item = &str> {
        self.site
            .iter()
            .map(|s| s.name.as_str())
            .chain(self.vnet.iter().map(|v| v.name.as_str()))
    }

    /// The prefixes of a site or VNet.
    pub fn prefixes_of(&self, endpoint: &str) -> Option<&[IpNet]> {
        self.site
            .iter()
            .find(|s| s.name == endpoint)
            .map(|s| &s.prefixes[..])
            .or_else(|| {
                self.vnet
                    .iter()
                    .find(|v| v.name == endpoint)
                    .map(|v| &v.prefixes[..])
            })
    }

    /// Every endpoint's prefixes, in port order, with the endpoint's name.
    fn endpoint_prefixes(&self) -> impl Iterator<Item = (&str, &IpNet)> {
        self.site
            .iter()
            .flat_map(|s| s.prefixes.iter().map(move |p| (s.name.as_str(), p)))
            .chain(
                self.vnet
                    .iter()
                    .flat_map(|v| v.prefixes.iter().map(move |p| (v.name.as_str(), p))),
            )
    }

    /// The address endpoint `endpoint` takes in its prefix `p`: the first host of `p`, unless
    /// another endpoint's more specific prefix covers it, then the first host after that one
    /// (a DR site's 10.1.0.0/16 beside a DC's 10.1.0.0/24 takes 10.1.1.1). Endpoints with the
    /// same prefix take its first, second, ... host in port order.
    pub fn host_address(&self, endpoint: &str, p: &IpNet) -> IpAddr {
        let (net, last, v6) = match p {
            IpNet::V4(n) => (
                u128::from(u32::from(n.network())),
                u128::from(u32::from(n.broadcast())),
                false,
            ),
            IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast()), true),
        };
        let addr = |a: u128| -> IpAddr {
            if v6 {
                IpAddr::V6(std::net::Ipv6Addr::from(a))
            } else {
                IpAddr::V4(std::net::Ipv4Addr::from(a as u32))
            }
        };
        let earlier_same = self
            .endpoint_prefixes()
            .take_while(|(n, q)| !(*n == endpoint && *q == p))
            .filter(|(n, q)| *n != endpoint && *q == p)
            .count() as u128;
        let mut candidate = net + 1 + earlier_same;
        let specifics: Vec<&IpNet> = self
            .endpoint_prefixes()
            .filter(|(n, q)| {
                *n != endpoint && q.prefix_len() > p.prefix_len() && p.contains(&q.network())
            })
            .map(|(_, q)| q)
            .collect();
        while let Some(q) = specifics.iter().find(|q| q.contains(&addr(candidate))) {
            let end = match q {
                IpNet::V4(n) => u128::from(u32::from(n.broadcast())),
                IpNet::V6(n) => u128::from(n.broadcast()),
            };
            candidate = end + 2;
        }
        if candidate >= last {
            return addr(net + 1);
        }
        addr(candidate)
    }

    /// Another endpoint whose prefix is at least as specific as `endpoint`'s own for `addr`
    /// (the same prefix from two sites): where `addr` goes is then decided by best path, not
    /// by the rules.
    pub fn shadowed_by(&self, endpoint: &str, addr: IpAddr) -> Option<&str> {
        let own = self
            .endpoint_prefixes()
            .filter(|(n, q)| *n == endpoint && q.contains(&addr))
            .map(|(_, q)| q.prefix_len())
            .max()?;
        self.endpoint_prefixes()
            .find(|(n, q)| *n != endpoint && q.contains(&addr) && q.prefix_len() >= own)
            .map(|(n, _)| n)
    }

    /// Whether the rules let endpoint `from` (a site or VNet) reach endpoint `to`, with every
    /// link up. A circuit's MSEE knows its own sites and the VNets linked to it, and, over each
    /// Global Reach connection, what the peer MSEE learned from its own sites and VNets (never
    /// what it learned over another connection: not transitive). A VNet's gateway knows what
    /// the MSEEs of its circuits know. So a site reaches the sites and VNets of its circuit and
    /// of directly linked circuits; a VNet reaches the sites and VNets of its circuits and of
    /// circuits directly linked to one of them; a VNet on two circuits joins neither to the
    /// other. Stated from the rules, independently of the RIBs and the engine's tables, so
    /// tests can hold both to it.
    pub fn may_reach(&self, from: &str, to: &str) -> bool {
        self.may_reach_via(from, to, &|_| true)
    }

    /// `may_reach` counting only the site circuits `carries` says carry (a circuit whose links
    /// are both failed, or whose router has no session, carries nothing for its sites; VNets
    /// reach their circuits' MSEEs regardless).
    pub fn may_reach_via(&self, from: &str, to: &str, carries: &dyn Fn(&str) -> bool) -> bool {
        if from == to {
            return true;
        }
        let linked = |a: &str, b: &str| {
            a == b
                || self.global_reach.iter().any(|g| {
                    (g.circuits[0] == a && g.circuits[1] == b)
                        || (g.circuits[0] == b && g.circuits[1] == a)
                })
        };
        // The circuits an endpoint hangs off: a site's that carry, a VNet's linked ones.
        let circuits = |n: &str| -> Option<Vec<&str>> {
            if let Some(s) = self.site.iter().find(|s| s.name == n) {
                return Some(
                    s.circuits
                        .iter()
                        .map(String::as_str)
                        .filter(|c| carries(c))
                        .collect(),
                );
            }
            self.vnet
                .iter()
                .find(|v| v.name == n)
                .map(|v| v.circuits.iter().map(String::as_str).collect())
        };
        match (circuits(from), circuits(to)) {
            (Some(a), Some(b)) => a.iter().any(|x| b.iter().any(|y| linked(x, y))),
            _ => false,
        }
    }
}

/// Whether two prefixes share any address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests;
