//! `reachlab export -o az`: a lab as az CLI prints an estate (`{"circuits": [...],
//! "connections": [...], "virtualNetworks": [...]}`, the shapes of ../shared/fixtures/az in
//! az's flattened form), so `import` of it gives the same lab back. What Azure has no place
//! for (sites, which are on-premises; the lab's delays, loss and routers) travels in a
//! `reachlab` block beside the resources, with the topology file's own keys. Pure.

use serde_json::{json, Value};

use super::circuit_location;
use crate::catalogue::catalogue;
use crate::topology::{Circuit, Topology, Vnet};

fn arm(sub: &str, rg: &str, rest: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{rest}")
}

fn reference(id: String, rg: &str) -> Value {
    json!({"id": id, "resourceGroup": rg})
}

/// The lab `t` (defaults resolved) as an az estate, in resource group `rg`.
pub fn estate(t: &Topology, rg: &str) -> Value {
    let ids = Ids { t, rg };
    let mut circuits = Vec::new();
    let mut extras = serde_json::Map::new();
    for (ci, c) in t.circuit.iter().enumerate() {
        let (json, extra) = circuit(&ids, ci, c);
        circuits.push(json);
        if let Some(x) = extra {
            extras.insert(c.name.clone(), x);
        }
    }
    let mut vnets = Vec::new();
    let mut connections = Vec::new();
    for v in &t.vnet {
        let (json, conns) = vnet(&ids, v);
        vnets.push(json);
        connections.extend(conns);
    }
    json!({
        "circuits": circuits,
        "connections": connections,
        "virtualNetworks": vnets,
        "reachlab": {
            "lab": t.lab,
            "sites": t.site,
            "circuits": extras,
        },
    })
}

/// The ARM ids of a lab's resources in one resource group.
struct Ids<'t> {
    t: &'t Topology,
    rg: &'t str,
}

impl Ids<'_> {
    fn circuit(&self, name: &str) -> String {
        let sub = self.t.circuit(name).map_or("default", |c| c.subscription());
        arm(sub, self.rg, &format!("expressRouteCircuits/{name}"))
    }

    fn peering(&self, name: &str) -> String {
        format!("{}/peerings/AzurePrivatePeering", self.circuit(name))
    }
}

/// Circuit `ci` as az shows it, with its private peering; and what it has beyond Azure's
/// fields, as the topology file writes it (for the `reachlab` block), if anything.
fn circuit(ids: &Ids, ci: usize, c: &Circuit) -> (Value, Option<Value>) {
    let rg = ids.rg;
    let mbps = if c.bandwidth.is_unlimited() {
        None
    } else {
        Some(c.bandwidth.0 / 1_000_000)
    };
    let json = json!({
        "allowClassicOperations": false,
        "authorizations": [],
        "circuitProvisioningState": "Enabled",
        "id": ids.circuit(&c.name),
        "location": circuit_location(&c.peering_location),
        "name": c.name,
        "peerings": [private_peering(ids, ci, c)],
        "provisioningState": "Succeeded",
        "resourceGroup": rg,
        "serviceProviderProperties": {
            "bandwidthInMbps": mbps.unwrap_or(10_000),
            "peeringLocation": c.peering_location,
            "serviceProviderName": c.provider.clone().unwrap_or_default(),
        },
        "serviceProviderProvisioningState": "Provisioned",
        "sku": {
            "family": c.family.to_string(),
            "name": format!("{}_{}", c.sku, c.family),
            "tier": c.sku.to_string(),
        },
        "type": "Microsoft.Network/expressRouteCircuits",
    });
    let mut x = serde_json::to_value(c).expect("a circuit serializes");
    let Value::Object(m) = &mut x else {
        return (json, None);
    };
    for k in super::AZURE_CIRCUIT_KEYS {
        m.remove(k);
    }
    if mbps.is_some_and(|m| super::import::OFFERED_MBPS.contains(&m)) {
        m.remove("bandwidth");
    }
    let extra = (!m.is_empty()).then_some(x);
    (json, extra)
}

/// Circuit `ci`'s private peering: its /30s, peer ASN (its first site's), key and Global
/// Reach connections.
fn private_peering(ids: &Ids, ci: usize, c: &Circuit) -> Value {
    let (t, rg) = (ids.t, ids.rg);
    let pp = c.peering_prefix.expect("defaults resolved");
    let net = u32::from(pp.network());
    let slash30 = |o: u32| format!("{}/30", std::net::Ipv4Addr::from(net + o));
    let (conns, peered) = global_reach(ids, c);
    let peer_asn = t
        .site
        .iter()
        .enumerate()
        .find(|(_, s)| s.on(&c.name))
        .map(|(i, s)| s.asn.unwrap_or(65001 + i as u32));
    let mut peering = json!({
        "azureASN": super::MICROSOFT_ASN,
        "connections": conns,
        "id": ids.peering(&c.name),
        "name": "AzurePrivatePeering",
        "peeredConnections": peered,
        "peeringType": "AzurePrivatePeering",
        "primaryPeerAddressPrefix": slash30(0),
        "provisioningState": "Succeeded",
        "resourceGroup": rg,
        "state": "Enabled",
        "type": "Microsoft.Network/expressRouteCircuits/peerings",
        "vlanId": c.az_vlan_id(ci),
    });
    if pp.prefix_len() <= 29 {
        peering["secondaryPeerAddressPrefix"] = json!(slash30(4));
    }
    if let Some(asn) = peer_asn {
        peering["peerASN"] = json!(asn);
    }
    if let Some(k) = &c.shared_key {
        peering["sharedKey"] = json!(k);
    }
    if let Some(v6) = &c.peering_prefix_v6 {
        peering["ipv6PeeringConfig"] = json!({
            "primaryPeerAddressPrefix": v6.primary.to_string(),
            "secondaryPeerAddressPrefix": v6.secondary.to_string(),
            "state": "Enabled",
        });
    }
    peering
}

/// Circuit `c`'s Global Reach connections: on the first circuit of each as `connections`, on
/// the second as `peeredConnections`, as Azure shows a link made from the first.
fn global_reach(ids: &Ids, c: &Circuit) -> (Vec<Value>, Vec<Value>) {
    let rg = ids.rg;
    let mut conns = Vec::new();
    let mut peered = Vec::new();
    for g in &ids.t.global_reach {
        let name = super::connection_name(&g.circuits[0], &g.circuits[1]);
        let mut v = json!({
            "addressPrefix": g.address_prefix.to_string(),
            "circuitConnectionStatus": "Connected",
            "expressRouteCircuitPeering": reference(ids.peering(&g.circuits[0]), rg),
            "peerExpressRouteCircuitPeering": reference(ids.peering(&g.circuits[1]), rg),
            "provisioningState": "Succeeded",
            "resourceGroup": rg,
        });
        if let Some(p) = g.ipv6_address_prefix {
            v["ipv6CircuitConnectionConfig"] = json!({"addressPrefix": p.to_string()});
        }
        if g.circuits[0] == c.name {
            v["id"] = json!(format!("{}/connections/{name}", ids.peering(&c.name)));
            v["name"] = json!(name);
            v["type"] = json!("Microsoft.Network/expressRouteCircuits/peerings/connections");
            conns.push(v);
        } else if g.circuits[1] == c.name {
            // From this side the peer is the initiating circuit.
            v["expressRouteCircuitPeering"] = reference(ids.peering(&c.name), rg);
            v["peerExpressRouteCircuitPeering"] = reference(ids.peering(&g.circuits[0]), rg);
            v["id"] = json!(format!("{}/peerConnections/{name}", ids.peering(&c.name)));
            v["name"] = json!(name);
            v["connectionName"] = json!(name);
            v["type"] = json!("Microsoft.Network/expressRouteCircuits/peerings/peerConnections");
            peered.push(v);
        }
    }
    (conns, peered)
}

/// A VNet (its GatewaySubnet naming its gateway) and its gateway's connections to circuits.
fn vnet(ids: &Ids, v: &Vnet) -> (Value, Vec<Value>) {
    let (t, rg) = (ids.t, ids.rg);
    let sub = v
        .circuits
        .first()
        .and_then(|c| t.circuit(c))
        .map_or("default", |c| c.subscription());
    let gw = arm(sub, rg, &format!("virtualNetworkGateways/{}-ergw", v.name));
    let location = catalogue()
        .azure_region(&v.region)
        .map_or_else(|| v.region.clone(), |r| r.az_name());
    let mut vnet = json!({
        "addressSpace": {"addressPrefixes": v.prefixes.iter().map(|p| p.to_string()).collect::<Vec<_>>()},
        "id": arm(sub, rg, &format!("virtualNetworks/{}", v.name)),
        "location": location,
        "name": v.name,
        "provisioningState": "Succeeded",
        "resourceGroup": rg,
        "subnets": [{
            "id": arm(sub, rg, &format!("virtualNetworks/{}/subnets/GatewaySubnet", v.name)),
            "ipConfigurations": [reference(format!("{gw}/ipConfigurations/default"), rg)],
            "name": "GatewaySubnet",
            "provisioningState": "Succeeded",
            "resourceGroup": rg,
            "type": "Microsoft.Network/virtualNetworks/subnets",
        }],
        "type": "Microsoft.Network/virtualNetworks",
    });
    if let Some(c) = &v.bgp_community {
        vnet["bgpCommunities"] = json!({"virtualNetworkCommunity": c});
    }
    let connections = v
        .circuits
        .iter()
        .map(|c| {
            json!({
                "connectionType": "ExpressRoute",
                "id": arm(sub, rg, &format!("connections/{}-to-{c}", v.name)),
                "location": location,
                "name": format!("{}-to-{c}", v.name),
                "peer": reference(ids.circuit(c), rg),
                "provisioningState": "Succeeded",
                "resourceGroup": rg,
                "routingWeight": v.weight(c),
                "type": "Microsoft.Network/connections",
                "virtualNetworkGateway1": reference(gw.clone(), rg),
            })
        })
        .collect();
    (vnet, connections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::az::import::{flatten, import, Input, Options};
    use std::collections::BTreeSet;

    fn keys(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    out.insert(k.clone());
                    keys(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
            _ => {}
        }
    }

    fn shipped() -> Vec<std::path::PathBuf> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        v.sort();
        // An IPv6 private peering, both ways of writing it.
        v.push(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/topologies/good/dual-stack-peering.toml"),
        );
        v
    }

    /// The lab as `check` reads it, its Global Reach links in a canonical order, each
    /// circuit's VLAN ID as az shows it (Azure gives every peering one, so an exported file
    /// without `vlan_id` comes back with the one export wrote).
    fn canonical(mut t: Topology) -> Topology {
        t.resolve_defaults();
        for (i, c) in t.circuit.iter_mut().enumerate() {
            c.vlan_id = Some(c.az_vlan_id(i));
        }
        for g in &mut t.global_reach {
            if g.circuits[0] > g.circuits[1] {
                g.circuits.swap(0, 1);
            }
        }
        t.global_reach.sort_by(|a, b| a.circuits.cmp(&b.circuits));
        t
    }

    #[test]
    fn every_shipped_topology_survives_export_and_import() {
        let files = shipped();
        assert!(files.len() >= 10, "{files:?}");
        for f in files {
            let mut t = Topology::load(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            t.resolve_defaults();
            let json = estate(&t, &t.lab.name);
            let out = import(
                &[Input {
                    file: "export.json".into(),
                    json,
                }],
                &Options::default(),
            )
            .unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
            let back = Topology::from_source(
                crate::diag::SourceFile::new("back.toml", out.toml.clone()),
                "back",
            )
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", f.display(), out.toml));
            assert_eq!(
                canonical(back),
                canonical(t),
                "{} after export -o az and import:\n{}",
                f.display(),
                out.toml
            );
        }
    }

    #[test]
    fn export_uses_only_field_names_the_real_az_files_use() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/az");
        let mut real = BTreeSet::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
                keys(&flatten(&v), &mut real);
            }
        }
        // The seed has every kind of resource, IPv6 on its Global Reach link too.
        for f in shipped() {
            let mut t = Topology::load(&f).unwrap();
            t.resolve_defaults();
            let mut json = estate(&t, "rg");
            json.as_object_mut().unwrap().remove("reachlab");
            let mut ours = BTreeSet::new();
            keys(&json, &mut ours);
            ours.remove("circuits");
            ours.remove("virtualNetworks");
            let unknown: Vec<&String> = ours.difference(&real).collect();
            assert!(unknown.is_empty(), "{}: {unknown:?}", f.display());
        }
    }
}
