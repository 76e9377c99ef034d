//! `export -o containerlab`: a topology's routers as containerlab nodes, and the reachlab
//! topology that attaches them. Each site with a real router (`frr` or `external`) becomes a
//! node (kind `linux` with FRR by default) whose eth1, eth2 (eth3, eth4 on a second circuit
//! ...) are its circuit links, joined to this host by containerlab `host` links (a veth whose
//! host end reachlab's `ports` name) or, with `remote`, `vxlan` links (reachlab makes the
//! other end). The node's FRR gets the configuration reachlab runs in its own namespaces
//! (`ce`), and its links the CE's addresses, on the private peering's 802.1Q
//! sub-interface when the circuit has a `vlan_id`. Pure: text in, files out; the CLI writes
//! them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::ce;
use crate::topology::{PortSpec, Router, Topology};

/// containerlab's FRR image, as its own FRR example uses.
pub const DEFAULT_IMAGE: &str = "quay.io/frrouting/frr:10.5.1";
pub const DEFAULT_KIND: &str = "linux";
/// containerlab's own default VXLAN UDP port (not IANA's 4789).
pub const DEFAULT_DST_PORT: u16 = 14789;
pub const DEFAULT_VNI: u32 = 1001;

/// How the nodes are made and joined.
#[derive(Debug, Clone)]
pub struct Options {
    pub image: String,
    pub kind: String,
    /// Links over VXLAN instead of host veths.
    pub vxlan: Option<Vxlan>,
}

/// VXLAN links between the containerlab host and reachlab's.
#[derive(Debug, Clone)]
pub struct Vxlan {
    /// reachlab's host as containerlab reaches it (its links' `remote`).
    pub remote: IpAddr,
    /// The containerlab host as reachlab reaches it (the ports' `remote`).
    pub node_host: IpAddr,
    /// The first link's VNI; the others count up.
    pub vni: u32,
    pub dst_port: u16,
}

/// What `export -o containerlab` writes, by path relative to the output directory.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// "NAME.clab.yml" first, then "NAME.toml", then each node's files.
    pub files: Vec<(String, String)>,
    /// The nodes made, by site.
    pub nodes: Vec<String>,
}

#[derive(Serialize)]
struct Clab {
    name: String,
    topology: ClabTopology,
}

#[derive(Serialize)]
struct ClabTopology {
    nodes: BTreeMap<String, Node>,
    links: Vec<Link>,
}

#[derive(Serialize)]
struct Node {
    kind: String,
    image: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    binds: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    exec: Vec<String>,
}

#[derive(Serialize)]
struct Endpoint {
    node: String,
    interface: String,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Link {
    Host {
        endpoint: Endpoint,
        #[serde(rename = "host-interface")]
        host_interface: String,
    },
    Vxlan {
        endpoint: Endpoint,
        remote: IpAddr,
        vni: u32,
        #[serde(rename = "dst-port")]
        dst_port: u16,
    },
}

/// The name of the host end of circuit `ci`'s link `path`: "CIRCUIT-p" / "CIRCUIT-s" when
/// that fits Linux's 15 characters, else "rlCI-p".
pub fn host_interface(topo: &Topology, ci: usize, path: usize) -> String {
    let end = if path == 0 { "p" } else { "s" };
    let name = format!("{}-{end}", topo.circuit[ci].name);
    if name.len() <= crate::topology::MAX_IFNAME {
        name
    } else {
        format!("rl{ci}-{end}")
    }
}

/// The daemons file FRR's container image reads: bgpd and bfdd on (zebra always runs).
const DAEMONS: &str = "# Written by reachlab: the daemons a CE of an ExpressRoute circuit runs.
bgpd=yes
bfdd=yes
ospfd=no
ospf6d=no
ripd=no
ripngd=no
isisd=no
pimd=no
ldpd=no
nhrpd=no
eigrpd=no
babeld=no
sharpd=no
pbrd=no
fabricd=no
vrrpd=no
vtysh_enable=yes
zebra_options=\"  -A 127.0.0.1 -s 90000000\"
bgpd_options=\"   -A 127.0.0.1\"
bfdd_options=\"   -A 127.0.0.1\"
";

/// The bundle for `topo` (validated); `source` names where it came from, for the comments.
pub fn export(topo: &Topology, opts: &Options, source: &str) -> Result<Bundle, String> {
    let tables = crate::plane::tables(topo);
    let name = topo.lab.name.clone();
    let mut out = topo.clone();
    let mut nodes = BTreeMap::new();
    let mut links = Vec::new();
    let mut files = Vec::new();
    let mut made = Vec::new();
    let mut vni = opts.vxlan.as_ref().map_or(DEFAULT_VNI, |v| v.vni);
    let linux = opts.kind == "linux";
    for (i, s) in topo.site.iter().enumerate() {
        if s.router == Router::Static {
            continue;
        }
        let mut exec = Vec::new();
        for p in &s.prefixes {
            exec.push(format!(
                "ip addr add {}/{} dev lo",
                topo.host_address(&s.name, p),
                p.prefix_len()
            ));
        }
        let mut ports = BTreeMap::new();
        for (k, cname) in s.circuits.iter().enumerate() {
            let ci = topo
                .circuit
                .iter()
                .position(|c| &c.name == cname)
                .ok_or_else(|| format!("site {}: no circuit {cname}", s.name))?;
            let c = &topo.circuit[ci];
            for path in 0..2 {
                let eth = format!("eth{}", 2 * k + path + 1);
                let (ce, _) = tables.circuits[ci].link_v4[path];
                let dev = match c.vlan_id {
                    Some(v) => {
                        let sub = format!("{eth}.{v}");
                        exec.push(format!(
                            "ip link add link {eth} name {sub} type vlan id {v}"
                        ));
                        exec.push(format!("ip link set {sub} up"));
                        sub
                    }
                    None => eth.clone(),
                };
                exec.push(format!("ip addr add {ce}/30 dev {dev}"));
                // The IPv6 peering's /126 on the same interface (nodad: the BGP session binds
                // to it at once).
                if let Some(l) = tables.circuits[ci].link_v6 {
                    exec.push(format!("ip addr add {}/126 dev {dev} nodad", l[path].0));
                }
                let endpoint = Endpoint {
                    node: s.name.clone(),
                    interface: eth,
                };
                let key = format!("{cname}/{}", ["primary", "secondary"][path]);
                match &opts.vxlan {
                    None => {
                        let host = host_interface(topo, ci, path);
                        ports.insert(
                            key,
                            PortSpec::Interface {
                                netns: None,
                                name: host.clone(),
                            },
                        );
                        links.push(Link::Host {
                            endpoint,
                            host_interface: host,
                        });
                    }
                    Some(v) => {
                        ports.insert(
                            key,
                            PortSpec::Vxlan {
                                netns: None,
                                remote: v.node_host,
                                vni,
                                dst_port: v.dst_port,
                            },
                        );
                        links.push(Link::Vxlan {
                            endpoint,
                            remote: v.remote,
                            vni,
                            dst_port: v.dst_port,
                        });
                        vni += 1;
                    }
                }
            }
        }
        let conf = ce::config(
            &ce::SiteRouter::of(topo, &tables, i),
            std::path::Path::new("/tmp/frr.log"),
        );
        let (binds, exec) = if linux {
            files.push((format!("{}/frr.conf", s.name), conf));
            files.push((format!("{}/daemons", s.name), DAEMONS.to_string()));
            (
                vec![
                    format!("{}/daemons:/etc/frr/daemons", s.name),
                    format!("{}/frr.conf:/etc/frr/frr.conf", s.name),
                ],
                exec,
            )
        } else {
            // Another vendor's NOS is configured its own way (README: Attach your own
            // routers); the FRR configuration is written beside it as the reference.
            files.push((format!("{}/frr.conf.reference", s.name), conf));
            (Vec::new(), Vec::new())
        };
        nodes.insert(
            s.name.clone(),
            Node {
                kind: opts.kind.clone(),
                image: opts.image.clone(),
                binds,
                exec,
            },
        );
        let site = &mut out.site[i];
        site.router = Router::External;
        site.router_config = None;
        site.ports = ports;
        made.push(s.name.clone());
    }
    if made.is_empty() {
        return Err(
            "no site has a router (router = \"frr\" or \"external\"): nothing to put in containerlab"
                .into(),
        );
    }
    let clab = Clab {
        name: name.clone(),
        topology: ClabTopology { nodes, links },
    };
    let yml = serde_yaml_ng::to_string(&clab).map_err(|e| e.to_string())?;
    let how = match &opts.vxlan {
        None => format!(
            "containerlab deploy -t {name}.clab.yml, then sudo reachlab up {name}.toml (same host)"
        ),
        Some(v) => format!(
            "containerlab deploy -t {name}.clab.yml on {}, then sudo reachlab up {name}.toml on {}",
            v.node_host, v.remote
        ),
    };
    let header =
        format!("# Written by `reachlab export -o containerlab` from {source}.\n# {how}\n");
    let mut toml_text = toml::to_string(&out).map_err(|e| e.to_string())?;
    toml_text.insert_str(0, &header);
    // What is written must load: the same checks as `reachlab check`.
    Topology::from_source(
        crate::diag::SourceFile::new(format!("{name}.toml"), toml_text.clone()),
        &name,
    )
    .map_err(|e| format!("the topology written would not load:\n{e}"))?;
    let mut all = vec![
        (format!("{name}.clab.yml"), format!("{header}{yml}")),
        (format!("{name}.toml"), toml_text),
    ];
    all.extend(files);
    Ok(Bundle {
        files: all,
        nodes: made,
    })
}
