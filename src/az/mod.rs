//! The lab's objects in the shapes az CLI prints (`--output json`), so scripts written against
//! `az network express-route ...` read reachlab's output unchanged: route tables
//! (`list-route-tables`), traffic counters (`get-stats`), circuits (`show`) with their private
//! peering, and Global Reach connections (`peering connection show`). Key names and nesting
//! follow ../shared/fixtures/az (az's flattened form: `properties` lifted to the top level,
//! `resourceGroup` added). What reachlab adds beyond az's fields uses az's naming style and
//! never reuses one of az's keys with another meaning.
//!
//! Pure: converts the control protocol's replies; the CLI prints them.

use serde::{Deserialize, Serialize};

/// A circuit's topology keys that Azure's own fields carry (the rest of a circuit travels in
/// the `reachlab` block): `export` leaves them out of the block, `import` does not read them
/// from it.
pub(crate) const AZURE_CIRCUIT_KEYS: [&str; 10] = [
    "name",
    "peering_location",
    "sku",
    "family",
    "provider",
    "subscription",
    "peering_prefix",
    "peering_prefix_v6",
    "shared_key",
    "vlan_id",
];

use crate::catalogue::catalogue;
use crate::control::proto::{CircuitInfo, CircuitStatsInfo, GrRow, RouteSummary, RouteTable};

/// The MSEE's ASN, on every peering.
pub use crate::topology::rules::MICROSOFT_ASN;

/// Where the lab's resources live in ARM terms: the circuit's subscription and, as the
/// resource group, the lab's name.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub resource_group: &'a str,
}

impl Scope<'_> {
    fn circuit_id(&self, subscription: &str, circuit: &str) -> String {
        format!(
            "/subscriptions/{subscription}/resourceGroups/{}/providers/Microsoft.Network/expressRouteCircuits/{circuit}",
            self.resource_group
        )
    }

    fn peering_ref(&self, subscription: &str, circuit: &str) -> SubResource {
        SubResource {
            id: format!(
                "{}/peerings/AzurePrivatePeering",
                self.circuit_id(subscription, circuit)
            ),
            resource_group: self.resource_group.to_string(),
        }
    }
}

/// `az network express-route list-route-tables`: `{"nextLink": null, "value": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTableList {
    pub next_link: Option<String>,
    pub value: Vec<Route>,
}

/// One route, as az prints it: every column a string but `weight`; `locPrf` empty when unset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub network: String,
    pub next_hop: String,
    pub loc_prf: String,
    pub weight: u32,
    pub path: String,
}

pub fn route_table(t: &RouteTable) -> RouteTableList {
    RouteTableList {
        next_link: None,
        value: t
            .routes
            .iter()
            .map(|r| Route {
                network: r.network.clone(),
                next_hop: r.next_hop.clone(),
                loc_prf: r.loc_prf.map(|l| l.to_string()).unwrap_or_default(),
                weight: r.weight,
                path: r.path.clone(),
            })
            .collect(),
    }
}

/// `az network express-route list-route-tables-summary`: `{"nextLink": null, "value": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteSummaryList {
    pub next_link: Option<String>,
    pub value: Vec<SummaryRow>,
}

/// One neighbour as az prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryRow {
    pub neighbor: String,
    pub v: u8,
    #[serde(rename = "as")]
    pub asn: u32,
    pub up_down: String,
    pub state_pfx_rcd: String,
}

pub fn route_summary(s: &RouteSummary) -> RouteSummaryList {
    RouteSummaryList {
        next_link: None,
        value: s
            .neighbors
            .iter()
            .map(|n| SummaryRow {
                neighbor: n.neighbor.clone(),
                v: n.v,
                asn: n.asn,
                up_down: n.up_down.clone(),
                state_pfx_rcd: n.state_pfx_rcd.clone(),
            })
            .collect(),
    }
}

/// `az network express-route get-stats` (its four keys, spelled as az spells them), and what
/// reachlab counts besides, named in the same style.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    #[serde(rename = "primarybytesIn")]
    pub primary_bytes_in: u64,
    #[serde(rename = "primarybytesOut")]
    pub primary_bytes_out: u64,
    #[serde(rename = "secondarybytesIn")]
    pub secondary_bytes_in: u64,
    #[serde(rename = "secondarybytesOut")]
    pub secondary_bytes_out: u64,
    #[serde(rename = "primarypacketsIn")]
    pub primary_packets_in: u64,
    #[serde(rename = "primarypacketsOut")]
    pub primary_packets_out: u64,
    #[serde(rename = "secondarypacketsIn")]
    pub secondary_packets_in: u64,
    #[serde(rename = "secondarypacketsOut")]
    pub secondary_packets_out: u64,
    /// Link states: "Up" / "Down".
    #[serde(rename = "primaryState")]
    pub primary_state: String,
    #[serde(rename = "secondaryState")]
    pub secondary_state: String,
    /// Drops at this circuit's MSEE, by reason.
    pub drops: std::collections::BTreeMap<String, u64>,
    /// Lab-wide: how late delayed packets left against their deadlines.
    pub lateness: crate::engine::Lateness,
}

pub fn stats(s: &CircuitStatsInfo) -> Stats {
    let state = |up: bool| if up { "Up" } else { "Down" }.to_string();
    Stats {
        primary_bytes_in: s.primary_bytes_in,
        primary_bytes_out: s.primary_bytes_out,
        secondary_bytes_in: s.secondary_bytes_in,
        secondary_bytes_out: s.secondary_bytes_out,
        primary_packets_in: s.primary_packets_in,
        primary_packets_out: s.primary_packets_out,
        secondary_packets_in: s.secondary_packets_in,
        secondary_packets_out: s.secondary_packets_out,
        primary_state: state(s.primary_up),
        secondary_state: state(s.secondary_up),
        drops: s.drops.clone(),
        lateness: s.lateness,
    }
}

/// The fields every ARM resource carries, as az prints them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub id: String,
    pub name: String,
    pub provisioning_state: String,
    pub resource_group: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl Scope<'_> {
    /// A provisioned resource of this scope.
    fn resource(&self, id: String, name: &str, kind: &str) -> Resource {
        Resource {
            id,
            name: name.to_string(),
            provisioning_state: "Succeeded".into(),
            resource_group: self.resource_group.to_string(),
            kind: kind.to_string(),
        }
    }
}

/// A reference to another resource: `{"id": ..., "resourceGroup": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubResource {
    pub id: String,
    pub resource_group: String,
}

/// A Global Reach connection (`az network express-route peering connection show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CircuitConnection {
    pub address_prefix: String,
    /// Connected / Disconnected.
    pub circuit_connection_status: String,
    pub express_route_circuit_peering: SubResource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_circuit_connection_config: Option<Ipv6CircuitConnectionConfig>,
    pub peer_express_route_circuit_peering: SubResource,
    #[serde(flatten)]
    pub resource: Resource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ipv6CircuitConnectionConfig {
    pub address_prefix: String,
    pub circuit_connection_status: String,
}

/// The name reachlab gives a Global Reach connection (the lab's connections have none).
pub fn connection_name(circuit: &str, peer: &str) -> String {
    format!("gr-{circuit}-{peer}")
}

/// A Global Reach connection as az shows it on the circuit it was configured on.
pub fn connection(scope: &Scope, row: &GrRow) -> CircuitConnection {
    let own = scope.peering_ref(&row.circuit_subscription, &row.circuit);
    let name = connection_name(&row.circuit, &row.peer);
    CircuitConnection {
        address_prefix: row.address_prefix.clone(),
        circuit_connection_status: row.state.clone(),
        resource: scope.resource(
            format!("{}/connections/{name}", own.id),
            &name,
            "Microsoft.Network/expressRouteCircuits/peerings/connections",
        ),
        express_route_circuit_peering: own,
        ipv6_circuit_connection_config: row.ipv6_address_prefix.as_ref().map(|p| {
            Ipv6CircuitConnectionConfig {
                address_prefix: p.clone(),
                circuit_connection_status: row.state.clone(),
            }
        }),
        peer_express_route_circuit_peering: scope.peering_ref(&row.peer_subscription, &row.peer),
    }
}

/// A circuit (`az network express-route show`), with its private peering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Circuit {
    pub authorizations: Vec<Authorization>,
    pub circuit_provisioning_state: String,
    pub global_reach_enabled: bool,
    /// The Azure region of the circuit resource (az's short name, e.g. "westus").
    pub location: String,
    pub peerings: Vec<Peering>,
    pub service_provider_properties: ServiceProviderProperties,
    pub service_provider_provisioning_state: String,
    pub sku: CircuitSku,
    #[serde(flatten)]
    pub resource: Resource,
    /// reachlab: the peering location's geopolitical region (Global Reach and VNet rules).
    pub geopolitical_region: String,
    /// reachlab: the lab's sites on this circuit.
    pub sites: Vec<String>,
    /// reachlab: the VNets linked to this circuit.
    pub vnet_links: Vec<String>,
    /// reachlab: modelled delays and round trips.
    pub timing: crate::control::proto::CircuitTimingInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    pub authorization_key: String,
    /// Available / InUse.
    pub authorization_use_status: String,
    #[serde(flatten)]
    pub resource: Resource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProviderProperties {
    pub bandwidth_in_mbps: u64,
    pub peering_location: String,
    pub service_provider_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CircuitSku {
    pub family: String,
    /// `<tier>_<family>`, e.g. "Premium_MeteredData".
    pub name: String,
    pub tier: String,
}

/// The circuit's Azure private peering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peering {
    #[serde(rename = "azureASN")]
    pub azure_asn: u32,
    pub connections: Vec<CircuitConnection>,
    #[serde(rename = "peerASN")]
    pub peer_asn: Option<u32>,
    #[serde(rename = "peeredConnections")]
    pub peered_connections: Vec<CircuitConnection>,
    #[serde(rename = "peeringType")]
    pub peering_type: String,
    #[serde(rename = "primaryPeerAddressPrefix")]
    pub primary_peer_address_prefix: String,
    #[serde(rename = "secondaryPeerAddressPrefix")]
    pub secondary_peer_address_prefix: Option<String>,
    /// The IPv6 private peering, when the circuit has one.
    #[serde(
        rename = "ipv6PeeringConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_peering_config: Option<Ipv6PeeringConfig>,
    pub state: String,
    #[serde(rename = "vlanId")]
    pub vlan_id: u16,
    #[serde(flatten)]
    pub resource: Resource,
}

/// A private peering's IPv6 addresses, as az shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ipv6PeeringConfig {
    #[serde(rename = "primaryPeerAddressPrefix")]
    pub primary_peer_address_prefix: String,
    #[serde(rename = "secondaryPeerAddressPrefix")]
    pub secondary_peer_address_prefix: String,
    pub state: String,
}

/// The circuit resource's Azure region: the peering location's nearest region per the
/// catalogue, else the closest known region by distance.
pub fn circuit_location(peering_location: &str) -> String {
    let cat = catalogue();
    let Some(loc) = cat.location(peering_location) else {
        return String::new();
    };
    if let Some(r) = loc
        .azure_region
        .as_deref()
        .and_then(|r| cat.azure_region(r))
    {
        return r.az_name();
    }
    cat.azure_region
        .iter()
        .min_by(|a, b| {
            let d = |r: &crate::catalogue::AzureRegion| {
                crate::model::great_circle_km(loc.lat, loc.lon, r.lat, r.lon)
            };
            d(a).total_cmp(&d(b))
        })
        .map(|r| r.az_name())
        .unwrap_or_default()
}

/// A circuit as az shows it.
pub fn circuit(scope: &Scope, c: &CircuitInfo) -> Circuit {
    let id = scope.circuit_id(&c.subscription, &c.name);
    let (connections, peered): (Vec<&GrRow>, Vec<&GrRow>) =
        c.global_reach.iter().partition(|g| g.circuit == c.name);
    let conn = |g: &&GrRow| connection(scope, g);
    let bandwidth = crate::topology::Bandwidth::parse(&c.bandwidth)
        .filter(|b| !b.is_unlimited())
        .map_or(0, |b| b.0 / 1_000_000);
    Circuit {
        authorizations: c
            .authorizations
            .iter()
            .map(|a| Authorization {
                authorization_key: a.key.clone(),
                authorization_use_status: a.state.clone(),
                resource: scope.resource(
                    format!("{id}/authorizations/{}", a.name),
                    &a.name,
                    "Microsoft.Network/expressRouteCircuits/authorizations",
                ),
            })
            .collect(),
        circuit_provisioning_state: "Enabled".into(),
        global_reach_enabled: false,
        location: circuit_location(&c.peering_location),
        peerings: vec![Peering {
            azure_asn: MICROSOFT_ASN,
            connections: connections.iter().map(conn).collect(),
            resource: scope.resource(
                format!("{id}/peerings/AzurePrivatePeering"),
                "AzurePrivatePeering",
                "Microsoft.Network/expressRouteCircuits/peerings",
            ),
            peer_asn: c.peer_asn,
            peered_connections: peered.iter().map(conn).collect(),
            peering_type: "AzurePrivatePeering".into(),
            primary_peer_address_prefix: c.primary.prefix.clone(),
            secondary_peer_address_prefix: c.secondary.as_ref().map(|s| s.prefix.clone()),
            ipv6_peering_config: c.ipv6.as_ref().map(|[p, s]| Ipv6PeeringConfig {
                primary_peer_address_prefix: p.prefix.clone(),
                secondary_peer_address_prefix: s.prefix.clone(),
                state: "Enabled".into(),
            }),
            state: "Enabled".into(),
            vlan_id: c.vlan_id,
        }],
        service_provider_properties: ServiceProviderProperties {
            bandwidth_in_mbps: bandwidth,
            peering_location: c.peering_location.clone(),
            service_provider_name: c.provider.clone().unwrap_or_default(),
        },
        service_provider_provisioning_state: "Provisioned".into(),
        sku: CircuitSku {
            family: c.family.clone(),
            name: format!("{}_{}", c.sku, c.family),
            tier: c.sku.clone(),
        },
        resource: scope.resource(id, &c.name, "Microsoft.Network/expressRouteCircuits"),
        geopolitical_region: c.geopolitical_region.clone(),
        sites: c.sites.clone(),
        vnet_links: c.vnet_links.clone(),
        timing: c.timing.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::proto::{
        AuthorizationRow, CircuitTimingInfo, LinkAddresses, RouteRow, RouteTable,
    };
    use serde_json::Value;

    /// An object's keys, sorted.
    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .unwrap_or_else(|| panic!("an object: {v}"))
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    }

    /// Every key az prints for the object is there, spelled as az spells it.
    fn has_az_keys(v: &Value, az: &[&str]) {
        let k = keys(v);
        for want in az {
            assert!(k.iter().any(|x| x == want), "{want} missing from {k:?}");
        }
    }

    fn gr() -> GrRow {
        GrRow {
            circuit: "er-sv".into(),
            peer: "er-london".into(),
            address_prefix: "192.168.8.0/29".into(),
            ipv6_address_prefix: None,
            state: "Connected".into(),
            circuit_subscription: "default".into(),
            peer_subscription: "contoso".into(),
        }
    }

    // Key names from ../shared/reference/msee-bgp.md, "What Microsoft shows".
    #[test]
    fn route_table_as_list_route_tables() {
        let t = RouteTable {
            circuit: "er-sv".into(),
            path: crate::control::proto::Path::Primary,
            routes: vec![RouteRow {
                network: "10.0.2.0/24".into(),
                next_hop: "192.168.8.2".into(),
                loc_prf: None,
                weight: 0,
                path: "12076 65002".into(),
            }],
        };
        let v = serde_json::to_value(route_table(&t)).unwrap();
        assert_eq!(keys(&v), ["nextLink", "value"]);
        let r = &v["value"][0];
        assert_eq!(keys(r), ["locPrf", "network", "nextHop", "path", "weight"]);
        assert_eq!(r["nextHop"], "192.168.8.2");
        assert_eq!(r["locPrf"], "");
        assert_eq!(r["weight"], 0);
    }

    #[test]
    fn summary_as_list_route_tables_summary() {
        let s = RouteSummary {
            circuit: "er-sv".into(),
            path: crate::control::proto::Path::Primary,
            neighbors: vec![crate::control::proto::NeighborRow {
                neighbor: "192.168.100.1".into(),
                v: 4,
                asn: 65001,
                up_down: "00:01:02".into(),
                state_pfx_rcd: "1".into(),
                role: "customer sf".into(),
                last_error: None,
            }],
        };
        let v = serde_json::to_value(route_summary(&s)).unwrap();
        assert_eq!(
            keys(&v["value"][0]),
            ["as", "neighbor", "statePfxRcd", "upDown", "v"]
        );
        assert_eq!(v["value"][0]["as"], 65001);
    }

    #[test]
    fn stats_as_get_stats() {
        let s = CircuitStatsInfo {
            circuit: "er-sv".into(),
            primary_bytes_in: 1,
            primary_bytes_out: 2,
            primary_packets_in: 3,
            primary_packets_out: 4,
            secondary_bytes_in: 5,
            secondary_bytes_out: 6,
            secondary_packets_in: 7,
            secondary_packets_out: 8,
            primary_up: true,
            secondary_up: false,
            lateness: Default::default(),
            drops: Default::default(),
        };
        let v = serde_json::to_value(stats(&s)).unwrap();
        has_az_keys(
            &v,
            &[
                "primarybytesIn",
                "primarybytesOut",
                "secondarybytesIn",
                "secondarybytesOut",
            ],
        );
        assert_eq!(v["primarybytesIn"], 1);
        assert_eq!(v["secondarybytesOut"], 6);
        assert_eq!(v["secondaryState"], "Down");
    }

    // Key names from ../shared/fixtures/az (composed-seed.json, az's flattened form).
    #[test]
    fn global_reach_as_peering_connection_show() {
        let v = serde_json::to_value(connection(
            &Scope {
                resource_group: "lab",
            },
            &gr(),
        ))
        .unwrap();
        has_az_keys(
            &v,
            &[
                "addressPrefix",
                "circuitConnectionStatus",
                "expressRouteCircuitPeering",
                "id",
                "name",
                "peerExpressRouteCircuitPeering",
                "provisioningState",
                "resourceGroup",
                "type",
            ],
        );
        assert_eq!(
            v["peerExpressRouteCircuitPeering"]["id"],
            "/subscriptions/contoso/resourceGroups/lab/providers/Microsoft.Network/expressRouteCircuits/er-london/peerings/AzurePrivatePeering"
        );
        assert_eq!(
            v["id"],
            "/subscriptions/default/resourceGroups/lab/providers/Microsoft.Network/expressRouteCircuits/er-sv/peerings/AzurePrivatePeering/connections/gr-er-sv-er-london"
        );
    }

    #[test]
    fn circuit_as_express_route_show() {
        let link = |p: &str| LinkAddresses {
            prefix: p.into(),
            customer: String::new(),
            microsoft: String::new(),
        };
        let c = CircuitInfo {
            name: "er-london".into(),
            peering_location: "London".into(),
            geopolitical_region: "Europe".into(),
            sku: "Premium".into(),
            family: "MeteredData".into(),
            bandwidth: "1Gbps".into(),
            provider: Some("Equinix".into()),
            subscription: "contoso".into(),
            peer_asn: Some(65002),
            primary: link("192.168.100.8/30"),
            secondary: Some(link("192.168.100.12/30")),
            ipv6: Some([link("fd00:200::/126"), link("fd00:200::4/126")]),
            sites: vec!["london".into()],
            vnet_links: vec![],
            global_reach: vec![gr()],
            authorizations: vec![AuthorizationRow {
                name: "a1".into(),
                key: "k".into(),
                state: "InUse".into(),
            }],
            timing: CircuitTimingInfo {
                latency_model: "geographic".into(),
                access_delay_ms: 1.0,
                queue_ms: 10.0,
                mtu: 1400,
                rtts: vec![],
            },
            maintenance: vec![],
            vnet_weights: Default::default(),
            vlan_id: 101,
        };
        let v = serde_json::to_value(circuit(
            &Scope {
                resource_group: "lab",
            },
            &c,
        ))
        .unwrap();
        has_az_keys(
            &v,
            &[
                "authorizations",
                "circuitProvisioningState",
                "globalReachEnabled",
                "id",
                "location",
                "name",
                "peerings",
                "provisioningState",
                "resourceGroup",
                "serviceProviderProperties",
                "serviceProviderProvisioningState",
                "sku",
                "type",
            ],
        );
        assert_eq!(v["location"], "uksouth");
        assert_eq!(
            keys(&v["serviceProviderProperties"]),
            ["bandwidthInMbps", "peeringLocation", "serviceProviderName"]
        );
        assert_eq!(v["serviceProviderProperties"]["bandwidthInMbps"], 1000);
        assert_eq!(keys(&v["sku"]), ["family", "name", "tier"]);
        assert_eq!(v["sku"]["name"], "Premium_MeteredData");
        let p = &v["peerings"][0];
        has_az_keys(
            p,
            &[
                "azureASN",
                "connections",
                "id",
                "name",
                "peerASN",
                "peeredConnections",
                "peeringType",
                "primaryPeerAddressPrefix",
                "provisioningState",
                "resourceGroup",
                "secondaryPeerAddressPrefix",
                "state",
                "type",
                "vlanId",
            ],
        );
        assert_eq!(p["vlanId"], 101);
        assert_eq!(
            p["ipv6PeeringConfig"],
            serde_json::json!({
                "primaryPeerAddressPrefix": "fd00:200::/126",
                "secondaryPeerAddressPrefix": "fd00:200::4/126",
                "state": "Enabled",
            })
        );
        assert_eq!(p["azureASN"], 12076);
        assert_eq!(p["peerASN"], 65002);
        // Configured on er-sv: er-london sees it as peered.
        assert_eq!(p["connections"], serde_json::json!([]));
        assert_eq!(p["peeredConnections"][0]["addressPrefix"], "192.168.8.0/29");
        has_az_keys(
            &v["authorizations"][0],
            &["authorizationKey", "authorizationUseStatus", "id", "name"],
        );
    }
}
pub mod export;
pub mod import;
