//! The RIBs computed from small labs: what each MSEE and gateway learns, with which path.

use super::route::{Origin, PathDisplay, GLOBAL_REACH_COMMUNITY};
use super::*;
use crate::diag::SourceFile;

fn lab(text: &str) -> Topology {
    Topology::from_source(SourceFile::new("t.toml", text.to_string()), "t").unwrap()
}

fn seed(with_gr: bool) -> Topology {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach.toml"),
    )
    .unwrap();
    let mut t = lab(&text);
    if !with_gr {
        t.global_reach.clear();
    }
    t
}

/// (prefix, next hop, path) of every path in a RIB, best first per prefix.
fn rows(rib: &LocRib) -> Vec<(String, String, String)> {
    rib.iter()
        .flat_map(|(p, v)| {
            v.iter().map(move |r| {
                (
                    p.to_string(),
                    r.next_hop.to_string(),
                    PathDisplay(&r.as_path).to_string(),
                )
            })
        })
        .collect()
}

fn row(p: &str, nh: &str, path: &str) -> (String, String, String) {
    (p.into(), nh.into(), path.into())
}

#[test]
fn an_msee_learns_its_customer_and_its_vnets() {
    let t = seed(false);
    let r = routing(&t, &AdjRibIn::static_routers(&t));
    assert_eq!(
        rows(&r.msee[0][0]),
        [
            row("10.0.1.0/24", "192.168.100.1", "65001"),
            row("10.0.3.0/24", "10.0.3.254", "65515"),
            row("10.0.4.0/24", "10.0.4.254", "65515"),
        ]
    );
    // The secondary link's customer route has the secondary CE as next hop.
    assert_eq!(
        r.msee[0][1].get(&"10.0.1.0/24".parse().unwrap())[0].next_hop,
        "192.168.100.5".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn global_reach_carries_customer_and_vnet_routes_tagged_and_the_direct_path_wins() {
    let t = seed(true);
    let r = routing(&t, &AdjRibIn::static_routers(&t));
    let sv = &r.msee[0][0];
    let london = sv.get(&"10.0.2.0/24".parse().unwrap());
    assert_eq!(london.len(), 1);
    assert_eq!(london[0].next_hop, "192.168.8.2".parse::<IpAddr>().unwrap());
    assert_eq!(london[0].as_path, [65002]);
    assert_eq!(london[0].communities, [GLOBAL_REACH_COMMUNITY]);
    assert_eq!(london[0].origin, Origin::GlobalReach { peer: 1, gr: 0 });
    // uswest is linked to both: its own gateway's route (eBGP) beats the one over Global Reach.
    let uswest = sv.get(&"10.0.3.0/24".parse().unwrap());
    assert_eq!(uswest.len(), 2);
    assert_eq!(uswest[0].origin, Origin::Gateway { vnet: 0 });
    assert!(matches!(uswest[1].origin, Origin::GlobalReach { .. }));
    // The secondary links peer with each other: .5 and .6 of the /29.
    let sec = r.msee[0][1].get(&"10.0.2.0/24".parse().unwrap());
    assert_eq!(sec[0].next_hop, "192.168.8.6".parse::<IpAddr>().unwrap());
}

const CHAIN: &str = r#"
[[circuit]]
name = "a"
peering_location = "Silicon Valley"
bandwidth = "1Gbps"
sku = "Premium"
[[circuit]]
name = "b"
peering_location = "London"
bandwidth = "1Gbps"
sku = "Premium"
[[circuit]]
name = "c"
peering_location = "Tokyo"
bandwidth = "1Gbps"
sku = "Premium"
[[site]]
name = "sa"
circuit = "a"
prefixes = ["10.0.1.0/24"]
[[site]]
name = "sb"
circuit = "b"
prefixes = ["10.0.2.0/24"]
[[site]]
name = "sc"
circuit = "c"
prefixes = ["10.0.3.0/24"]
[[vnet]]
name = "v"
region = "West US"
prefixes = ["10.1.0.0/24"]
circuits = ["a"]
[[vnet]]
name = "vac"
region = "West US"
prefixes = ["10.2.0.0/24"]
circuits = ["a", "c"]
[[global_reach]]
circuits = ["a", "b"]
address_prefix = "192.168.8.0/29"
[[global_reach]]
circuits = ["b", "c"]
address_prefix = "192.168.9.0/29"
"#;

#[test]
fn a_vnet_reaches_over_its_circuits_global_reach_and_no_further() {
    let t = lab(CHAIN);
    let r = routing(&t, &AdjRibIn::static_routers(&t));
    let prefixes =
        |rib: &LocRib| -> Vec<String> { rib.iter().map(|(p, _)| p.to_string()).collect() };
    // a learns b's site and b's nothing-else; never c's site (b learned it over Global Reach).
    assert_eq!(
        prefixes(&r.msee[0][0]),
        ["10.0.1.0/24", "10.0.2.0/24", "10.1.0.0/24", "10.2.0.0/24"]
    );
    // b learns a's site and VNets, and c's site and c's VNet (vac).
    assert_eq!(
        prefixes(&r.msee[1][0]),
        [
            "10.0.1.0/24",
            "10.0.2.0/24",
            "10.0.3.0/24",
            "10.1.0.0/24",
            "10.2.0.0/24"
        ]
    );
    // V's gateway: b's site over a's Global Reach, 12076 12076 12076 <b's ASN>; not c's site.
    let v = &r.gateway[0];
    let sb: Vec<_> = v
        .iter()
        .filter(|(p, _)| p.to_string() == "10.0.2.0/24")
        .flat_map(|(_, paths)| paths.iter())
        .collect();
    assert_eq!(sb.len(), 1);
    assert_eq!(sb[0].0, 0, "through circuit a");
    assert_eq!(
        PathDisplay(&sb[0].1.as_path).to_string(),
        "12076 12076 12076 65002"
    );
    assert!(!v.iter().any(|(p, _)| p.to_string() == "10.0.3.0/24"));
    // vac (on a and c) has a's site from a and c's site from c: it does not join them, since
    // neither MSEE learns the other's site from vac's gateway.
    assert!(!r.msee[0][0]
        .iter()
        .any(|(p, _)| p.to_string() == "10.0.3.0/24"));
    assert!(!r.msee[2][0]
        .iter()
        .any(|(p, _)| p.to_string() == "10.0.1.0/24"));
    // The engine's tables follow: V's gateway sends b's site to circuit a, whose MSEE sends it
    // over Global Reach to b.
    let tables = tables(&t);
    let port = t.site.len();
    let crate::engine::table::PortKind::Vnet { gateway } = &tables.ports[port].kind else {
        panic!("a VNet port")
    };
    assert_eq!(
        gateway
            .lookup("10.0.2.1".parse().unwrap())
            .map(|g| g.circuits().to_vec()),
        Some(vec![0])
    );
    assert_eq!(gateway.lookup("10.0.3.1".parse().unwrap()), None);
    assert!(matches!(
        tables.circuits[0].table.lookup("10.0.2.1".parse().unwrap()),
        Some(crate::engine::table::NextHop::Peer { circuit: 1, .. })
    ));
}

#[test]
fn a_vnet_on_both_circuits_prefers_the_direct_path() {
    let t = seed(true);
    let r = routing(&t, &AdjRibIn::static_routers(&t));
    // uswest (on er-sv and er-london) reaches london's site directly through er-london
    // (12076 65002) rather than over er-sv's Global Reach (12076 12076 12076 65002).
    let paths: Vec<_> = r.gateway[0]
        .iter()
        .filter(|(p, _)| p.to_string() == "10.0.2.0/24")
        .flat_map(|(_, v)| v.iter())
        .map(|(c, r)| (*c, PathDisplay(&r.as_path).to_string()))
        .collect();
    assert_eq!(
        paths,
        [
            (1, "12076 65002".to_string()),
            (0, "12076 12076 12076 65002".to_string())
        ]
    );
}

#[test]
fn the_summary_lists_customer_gateways_and_global_reach_peers() {
    let t = seed(true);
    let r = routing(&t, &AdjRibIn::static_routers(&t));
    let n = neighbors(&t, &r, 0, 0, false);
    let rows: Vec<(String, u32, usize)> = n
        .iter()
        .map(|x| (x.address.to_string(), x.asn, x.prefixes_received))
        .collect();
    assert_eq!(
        rows,
        [
            ("192.168.100.1".to_string(), 65001, 1),
            ("10.0.3.254".to_string(), 65515, 1),
            ("10.0.4.254".to_string(), 65515, 1),
            // er-london's MSEE gives london's site and both VNets' routes.
            ("192.168.8.2".to_string(), 12076, 3),
        ]
    );
    // The secondary link's peers: .5 customer, .6 the peer MSEE on the /29.
    let sec = neighbors(&t, &r, 0, 1, false);
    assert_eq!(sec[0].address.to_string(), "192.168.100.5");
    assert_eq!(sec[3].address.to_string(), "192.168.8.6");
}

fn attrs(path: &[u32]) -> super::route::Attributes {
    super::route::Attributes {
        as_path: path.to_vec(),
        ..Default::default()
    }
}

/// sf's link `link` on er-sv.
fn on(link: usize) -> CustomerLink {
    CustomerLink {
        site: 0,
        circuit: 0,
        link,
    }
}

#[test]
fn routes_come_from_what_the_router_announces_not_the_file() {
    let t = seed(true);
    let mut plane = Plane::new(t.clone());
    // sf's router announces a /32 the file does not list, on both links.
    let mut routes = AdjRibIn::static_routers(&t).get(0, 0, 0).unwrap().clone();
    routes.insert("10.0.99.1/32".parse().unwrap(), attrs(&[65001]));
    for link in 0..2 {
        let Some(Effect::Tables(tables)) = plane
            .set_customer(on(link), routes.clone())
            .into_iter()
            .next()
        else {
            panic!("tables")
        };
        if link == 1 {
            // The engine forwards to it from a VNet and from london (over Global Reach), and
            // lets sf send from it.
            let dst: IpAddr = "10.0.99.1".parse().unwrap();
            assert!(matches!(
                tables.circuits[0].table.lookup(dst),
                Some(crate::engine::NextHop::Site(0))
            ));
            assert!(matches!(
                tables.circuits[1].table.lookup(dst),
                Some(crate::engine::NextHop::Peer { circuit: 0, .. })
            ));
            assert!(tables.ports[0].prefixes.lookup(dst).is_some());
        }
    }
    let r = plane.routing();
    let at_london = r.msee[1][0].get(&"10.0.99.1/32".parse().unwrap());
    assert_eq!(at_london[0].as_path, [65001]);
    let uksouth = t.site.len() + 1;
    let gw = &r.gateway[uksouth - t.site.len()];
    assert!(gw.iter().any(|(p, _)| p.to_string() == "10.0.99.1/32"));
    // Withdrawn: gone everywhere, and no longer a source sf may use.
    routes.remove(&"10.0.99.1/32".parse().unwrap());
    plane.set_customer(on(0), routes.clone());
    let Some(Effect::Tables(tables)) = plane.set_customer(on(1), routes).into_iter().next() else {
        panic!("tables")
    };
    let dst: IpAddr = "10.0.99.1".parse().unwrap();
    assert!(tables.circuits[1].table.lookup(dst).is_none());
    assert!(tables.ports[0].prefixes.lookup(dst).is_none());
    assert!(plane.routing().msee[1][0]
        .get(&"10.0.99.1/32".parse().unwrap())
        .is_empty());
}

#[test]
fn what_the_customer_sees_12076_and_remove_private_as() {
    let t = seed(true);
    let r = routing(&t, &AdjRibIn::static_routers(&t));
    let to_sf = adj_rib_out(&t, &r, 0, 0, 0, false);
    let rows: Vec<(String, String)> = to_sf
        .iter()
        .map(|(p, a)| (p.to_string(), PathDisplay(&a.as_path).to_string()))
        .collect();
    // Its own prefix is not sent back; VNets and London (private ASNs) show as 12076.
    assert_eq!(
        rows,
        [
            ("10.0.2.0/24".to_string(), "12076".to_string()),
            ("10.0.3.0/24".to_string(), "12076".to_string()),
            ("10.0.4.0/24".to_string(), "12076".to_string()),
        ]
    );
    assert!(to_sf
        .values()
        .all(|a| a.next_hop == Some("192.168.100.2".parse().unwrap())));
    // Both sites with the same private ASN: nothing is removed, and the path holds the
    // customer's own ASN (its router drops it as a loop unless it allows it).
    let mut same = t.clone();
    same.site[1].asn = Some(65001);
    let r = routing(&same, &AdjRibIn::static_routers(&same));
    let to_sf = adj_rib_out(&same, &r, 0, 0, 0, false);
    assert_eq!(
        to_sf[&"10.0.2.0/24".parse().unwrap()].as_path,
        [12076, 65001]
    );
}

#[test]
fn a_vnet_community_brings_the_regions_and_none_without() {
    let mut t = seed(true);
    // uswest (West US) gets a custom community; uksouth keeps none.
    t.vnet[0].bgp_community = Some("12076:20001".into());
    let r = routing(&t, &AdjRibIn::static_routers(&t));
    let sv = &r.msee[0][0];
    let get = |p: &str| sv.get(&p.parse().unwrap())[0].communities.clone();
    assert_eq!(get("10.0.3.0/24"), vec![(12076, 20001), (12076, 50006)]);
    assert!(get("10.0.4.0/24").is_empty());
    // To the customer, as learned.
    let to_sf = adj_rib_out(&t, &r, 0, 0, 0, false);
    assert_eq!(
        to_sf[&"10.0.3.0/24".parse().unwrap()].communities,
        vec![(12076, 20001), (12076, 50006)]
    );
}

#[test]
fn equal_weights_and_paths_spread_a_vnets_flows_over_the_circuits() {
    let text = r#"
[[circuit]]
name = "er-sv"
peering_location = "Silicon Valley"
bandwidth = "1Gbps"
[[circuit]]
name = "er-la"
peering_location = "Los Angeles"
bandwidth = "1Gbps"
[[site]]
name = "dc1"
circuit = "er-sv"
prefixes = ["10.1.0.0/24"]
asn = 65001
[[site]]
name = "dc2"
circuit = "er-la"
prefixes = ["10.1.0.0/24"]
asn = 65001
[[vnet]]
name = "v"
region = "westus"
prefixes = ["10.9.1.0/24"]
circuits = ["er-sv", "er-la"]
"#;
    let mut t = lab(text);
    let group = |t: &Topology| {
        let tables = compile::tables(t);
        let port = t.site.len();
        let crate::engine::table::PortKind::Vnet { gateway } = &tables.ports[port].kind else {
            panic!("a VNet port")
        };
        gateway.lookup("10.1.0.5".parse().unwrap()).unwrap()
    };
    let g = group(&t);
    assert_eq!(g.circuits(), &[0, 1], "equal: both circuits");
    let picks: std::collections::BTreeSet<usize> = (0..64u64).map(|f| g.pick(f)).collect();
    assert_eq!(picks.len(), 2, "flows land on both");
    // A weight decides, before the AS path.
    t.vnet[0].weights.insert("er-la".into(), 10);
    assert_eq!(group(&t).circuits(), &[1]);
    // Without weights, the shorter AS path decides.
    t.vnet[0].weights.clear();
    t.site[1].asn = Some(65002);
    assert_eq!(group(&t).circuits(), &[0, 1], "paths of equal length");
}

fn frr_seed_without_gr() -> Topology {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach-frr.toml"),
    )
    .unwrap();
    let mut t = lab(&text);
    t.global_reach.clear();
    t
}

#[test]
fn what_an_msee_sends_a_router_is_an_effect_when_it_changes_and_only_then() {
    let mut plane = Plane::new(frr_seed_without_gr());
    let london = |link| CustomerLink {
        site: 1,
        circuit: 1,
        link,
    };
    let mut routes = Announced::new();
    routes.insert("10.0.2.0/24".parse().unwrap(), attrs(&[65002]));
    // London's routes reach er-london's RIB; no router's Adj-RIB-Out changes (London is not
    // sent its own, and sf's circuit is not linked to er-london).
    for link in 0..2 {
        let effects = plane.set_customer(london(link), routes.clone());
        assert!(matches!(effects[0], Effect::Tables(_)));
        assert!(!effects
            .iter()
            .any(|e| matches!(e, Effect::Advertise { .. })));
        // The same routes again: nothing at all.
        assert!(plane.set_customer(london(link), routes.clone()).is_empty());
    }
    // Global Reach: sf's two links are told of London's prefix, at once.
    let effects = plane
        .apply(Change::GlobalReachAdd(GlobalReachAdd {
            circuit: "er-sv".into(),
            peer: "er-london".into(),
            address_prefix: "192.168.8.0/29".into(),
            ipv6_address_prefix: None,
            authorization_key: None,
        }))
        .unwrap();
    let told: Vec<(CustomerLink, Vec<String>)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Advertise { link, routes } => {
                Some((*link, routes.keys().map(|p| p.to_string()).collect()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(told.len(), 2, "{told:?}");
    for (i, (l, prefixes)) in told.iter().enumerate() {
        assert_eq!(*l, on(i));
        assert!(
            prefixes.contains(&"10.0.2.0/24".to_string()),
            "{prefixes:?}"
        );
        assert_eq!(plane.advertised(*l).len(), prefixes.len());
    }
}

#[test]
fn the_ribs_a_router_change_touches_are_those_a_full_recompute_gives() {
    let mut plane = Plane::new(seed(true));
    let mut routes = Announced::new();
    routes.insert("10.0.99.0/24".parse().unwrap(), attrs(&[65001, 65001]));
    for (site, circuit, link) in [(0, 0, 0), (1, 1, 1), (0, 0, 1), (0, 0, 0)] {
        let l = CustomerLink {
            site,
            circuit,
            link,
        };
        plane.set_customer(l, routes.clone());
        let full = routing(plane.topology(), plane.adj_rib_in());
        assert_eq!(plane.routing(), &full);
        routes.insert(
            format!("10.0.{}.0/24", 100 + site * 2 + link)
                .parse()
                .unwrap(),
            attrs(&[65003]),
        );
    }
}

/// What the engine forwards by, in a canonical form: every table's entries, every port's
/// sources and routing table, every circuit's queue.
fn forwarding(t: &crate::engine::Tables) -> Vec<String> {
    use crate::engine::table::PortKind;
    let mut v: Vec<String> = t
        .circuits
        .iter()
        .map(|c| format!("{} {:?} {:?}", c.name, c.table.entries(), c.timing))
        .collect();
    for p in &t.ports {
        let table = match &p.kind {
            PortKind::Site { ce: Some(ce), .. } => format!("{:?}", ce.entries()),
            PortKind::Vnet { gateway } => format!("{:?}", gateway.entries()),
            _ => String::new(),
        };
        v.push(format!("{} {:?} {table}", p.name, p.prefixes.entries()));
    }
    v
}

#[test]
fn an_update_in_a_router_mesh_changes_the_ribs_and_adj_ribs_out_as_a_full_recompute_does() {
    // scripts/mesh.sh 5: five circuits in a full Global Reach mesh, FRR at every site.
    let mesh = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mesh.sh"))
        .arg("5")
        .output()
        .expect("scripts/mesh.sh runs");
    // With a VNet on two of the circuits and a built-in router on two others: the ports that
    // read the MSEEs' RIBs.
    let extra = r#"
[[circuit]]
name = "er-5"
peering_location = "London"
bandwidth = "1Gbps"
sku = "Premium"
peering_prefix = "172.16.1.0/29"

[[circuit]]
name = "er-6"
peering_location = "Amsterdam"
bandwidth = "1Gbps"
sku = "Premium"
peering_prefix = "172.16.1.8/29"

[[site]]
name = "hq"
circuits = ["er-5", "er-6"]
prefixes = ["10.50.0.0/24"]

[[vnet]]
name = "v"
region = "West US"
prefixes = ["10.60.0.0/24"]
circuits = ["er-0", "er-1"]

[[global_reach]]
circuits = ["er-5", "er-0"]
address_prefix = "100.64.1.0/29"

[[global_reach]]
circuits = ["er-6", "er-1"]
address_prefix = "100.64.1.8/29"
"#;
    let text = format!("{}{extra}", std::str::from_utf8(&mesh.stdout).unwrap());
    let t = lab(&text);
    assert_eq!(t.global_reach.len(), 12);
    let mut plane = Plane::new(t);
    let check = |plane: &Plane, step: &str| {
        let full = routing(plane.topology(), plane.adj_rib_in());
        assert_eq!(plane.routing(), &full, "after {step}");
        let whole = compile::compile(
            plane.topology(),
            &full,
            plane.adj_rib_in(),
            plane.maintenance(),
        );
        assert_eq!(
            forwarding(plane.tables()),
            forwarding(&whole),
            "after {step}"
        );
        for l in plane.router_links() {
            let m = plane.maintenance().contains(&(l.circuit, l.link));
            let want = adj_rib_out(plane.topology(), &full, l.circuit, l.link, l.site, m);
            assert_eq!(plane.advertised(l), want, "{l:?} after {step}");
        }
    };
    let at = |site: usize, link: usize| CustomerLink {
        site,
        circuit: site,
        link,
    };
    let one = |p: &str, path: &[u32]| -> Announced { [(p.parse().unwrap(), attrs(path))].into() };
    // Announce, announce more, change a path, announce what another site does, withdraw.
    let steps: Vec<(usize, usize, Announced)> = vec![
        (0, 0, one("10.1.0.0/24", &[65001])),
        (0, 1, one("10.1.0.0/24", &[65001])),
        (1, 0, one("10.1.1.0/24", &[65002])),
        (2, 0, one("10.1.0.0/24", &[65003])),
        (0, 0, one("10.1.0.0/24", &[65001, 65001, 65001])),
        (3, 1, {
            let mut a = one("10.1.3.0/24", &[65004]);
            a.insert("10.9.0.0/16".parse().unwrap(), attrs(&[65004, 64512]));
            a
        }),
        (2, 0, Announced::new()),
        (0, 0, Announced::new()),
        (3, 1, one("10.9.0.0/16", &[65004])),
    ];
    let mut told = 0;
    for (i, (site, link, routes)) in steps.into_iter().enumerate() {
        let effects = plane.set_customer(at(site, link), routes);
        told += effects
            .iter()
            .filter(|e| matches!(e, Effect::Advertise { .. }))
            .count();
        check(&plane, &format!("step {i}"));
    }
    assert!(told > 10, "routers were told of the changes: {told}");
}

fn frr_dual_stack() -> Topology {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("topologies/global-reach-frr-dual-stack.toml"),
    )
    .unwrap();
    lab(&text)
}

#[test]
fn each_familys_session_sets_its_own_routes_and_next_hops_are_in_the_family() {
    let mut plane = Plane::new(frr_dual_stack());
    let london = CustomerLink {
        site: 1,
        circuit: 1,
        link: 0,
    };
    let v4: Announced = [("10.0.2.0/24".parse().unwrap(), attrs(&[65002]))].into();
    let v6: Announced = [("fd00:2::/64".parse().unwrap(), attrs(&[65002]))].into();
    plane.set_customer_family(london, false, v4.clone());
    // The IPv6 session's routes join the IPv4 session's; an IPv4 route it carried is ignored.
    let mut with_stray = v6.clone();
    with_stray.insert("10.0.99.0/24".parse().unwrap(), attrs(&[65002]));
    plane.set_customer_family(london, true, with_stray);
    let keys = |p: &Plane| -> Vec<String> {
        p.adj_rib_in()
            .get(1, 1, 0)
            .unwrap()
            .keys()
            .map(|p| p.to_string())
            .collect()
    };
    assert_eq!(keys(&plane), ["10.0.2.0/24", "fd00:2::/64"]);
    // The IPv6 session going down takes only IPv6 routes with it.
    plane.set_customer_family(london, true, Announced::new());
    assert_eq!(keys(&plane), ["10.0.2.0/24"]);
    plane.set_customer_family(london, true, v6);
    // At er-london's MSEE, London's IPv6 route points at London's IPv6 link address; what
    // sf's MSEE announces to sf over Global Reach has the MSEE's own IPv6 address as next hop.
    let r = plane.routing();
    let at_london = r.msee[1][0].get(&"fd00:2::/64".parse().unwrap());
    assert_eq!(at_london[0].next_hop.to_string(), "fd00:200::1");
    let at_london = r.msee[1][0].get(&"10.0.2.0/24".parse().unwrap());
    assert_eq!(at_london[0].next_hop.to_string(), "192.168.100.9");
    let to_sf = plane.advertised(on(0));
    let a = &to_sf[&"fd00:2::/64".parse().unwrap()];
    assert_eq!(a.next_hop.unwrap().to_string(), "fd00:100::2");
    assert_eq!(a.as_path, [12076]);
    let a = &to_sf[&"10.0.2.0/24".parse().unwrap()];
    assert_eq!(a.next_hop.unwrap().to_string(), "192.168.100.2");
}
