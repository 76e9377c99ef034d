//! A lab's lifecycle on this machine: bring it up (state recorded, namespaces and TUNs made,
//! forwarding started), run until told to stop, tear it down; and `down` for a lab whose
//! process is gone. The engine and topology are pure; everything that touches the host lives
//! under this module.

pub mod bgp;
pub mod frr;
pub mod live;
pub mod metrics;
pub mod names;
pub mod netns;
pub mod pingall;
pub mod port;
pub mod rings;
pub mod run;
pub mod state;
pub mod steer;
pub mod web;

use std::future::Future;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use tracing::{info, warn};

use crate::engine::Engine;
use crate::topology::Topology;
use netns::NetnsError;
use state::{EndpointState, LabState};

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("reachlab needs root to make network namespaces and TUN devices; run it as root (or with sudo)")]
    NotRoot,
    #[error("lab {lab} is already running (pid {pid}); stop it with `reachlab down {lab}`")]
    Running { lab: String, pid: u32 },
    #[error("lab {lab} was left behind ({why}); clean it with `reachlab down {lab}`")]
    Stale { lab: String, why: String },
    #[error("no lab named {0} is running")]
    NoSuchLab(String),
    #[error("no lab is running")]
    NoLab,
    #[error("several labs are running ({0}); say which with --lab")]
    WhichLab(String),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    Port(#[from] port::PortError),
    #[error("site {site}, link {link}: {source}")]
    PortOf {
        site: String,
        link: String,
        #[source]
        source: Box<port::PortError>,
    },
    #[error("{0}; everything made so far was removed")]
    SetupFailed(Box<LabError>),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LabError {
    let what = what.into();
    move |source| LabError::Io { what, source }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The lab to act on: the one named, else the only one there is.
pub fn resolve_lab(lab: Option<&str>) -> Result<String, LabError> {
    let labs = state::list_labs();
    match lab {
        Some(l) if labs.iter().any(|x| x == l) => Ok(l.to_string()),
        Some(l) => Err(LabError::NoSuchLab(l.to_string())),
        None => match labs.as_slice() {
            [] => Err(LabError::NoLab),
            [one] => Ok(one.clone()),
            many => Err(LabError::WhichLab(many.join(", "))),
        },
    }
}

/// Brings `topo` up, calls `on_ready` once every endpoint forwards, runs until `shutdown`
/// completes, then removes everything it made. On a failure at any step, removes what was
/// made and returns the reason.
/// How `run` runs a lab besides its topology.
pub struct RunOptions<'a> {
    pub io: run::IoOptions,
    /// Serve Prometheus metrics here.
    pub metrics: Option<std::net::SocketAddr>,
    /// Serve the live view here, and whether it may change the lab.
    pub web: Option<(std::net::SocketAddr, bool)>,
    /// Called after each endpoint is made, with (made, total).
    pub progress: &'a mut dyn FnMut(usize, usize),
}

pub async fn run(
    topo: &Topology,
    file: &str,
    opts: RunOptions<'_>,
    on_ready: impl FnOnce(&LabState),
    shutdown: impl Future<Output = ()>,
) -> Result<(), LabError> {
    let RunOptions {
        io,
        metrics,
        web,
        progress,
    } = opts;
    let mut st = prepare(topo, file)?;
    let (forwarder, rings) = match make(topo, &mut st, io, progress).await {
        Ok(f) => f,
        Err(e) => {
            teardown(&st);
            return Err(LabError::SetupFailed(Box::new(e)));
        }
    };
    let mut running = Running {
        forwarder,
        rings: Some(rings),
        tasks: Vec::new(),
    };
    match start(topo, &mut st, &mut running, metrics, web).await {
        Ok(()) => {}
        Err(e) => {
            running.stop(&st).await;
            return Err(e);
        }
    }
    info!(lab = %st.lab, "lab is up");
    on_ready(&st);
    shutdown.await;
    info!(lab = %st.lab, "stopping");
    running.stop(&st).await;
    Ok(())
}

/// What a lab runs once made: its forwarder and the tasks around it (control server, BGP
/// sessions, metrics, live view). Stopped in one place.
struct Running {
    forwarder: run::Forwarder,
    /// The kernel's drops at the TUNs' rings, until the live lab takes them.
    rings: Option<rings::Rings>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops every task and the forwarder, then removes everything the lab made.
    async fn stop(self, st: &LabState) {
        for t in &self.tasks {
            t.abort();
        }
        self.forwarder.stop().await;
        teardown(st);
    }
}

/// Starts what runs around the forwarder (the live lab behind its control socket, the BGP
/// sessions, metrics and the live view when asked) and records the lab as ready. What it
/// started is in `running`, also on an error.
async fn start(
    topo: &Topology,
    st: &mut LabState,
    running: &mut Running,
    metrics: Option<std::net::SocketAddr>,
    web: Option<(std::net::SocketAddr, bool)>,
) -> Result<(), LabError> {
    let setup = |e: LabError| LabError::SetupFailed(Box::new(e));
    let forwarder = &running.forwarder;
    let live = Arc::new(Mutex::new(
        live::LiveLab::new(
            topo.clone(),
            Arc::clone(&forwarder.engine),
            st.endpoints.clone(),
        )
        .with_clock(forwarder.epoch)
        .with_rings(running.rings.take().unwrap_or_default()),
    ));
    live.lock()
        .unwrap_or_else(|p| p.into_inner())
        .set_web(web::starter(&live, &st.lab));
    let sock = state::socket_path(&st.lab);
    let server = crate::control::server::serve(&sock, Arc::clone(&live))
        .map_err(io_err(format!(
            "opening the control socket {}",
            sock.display()
        )))
        .map_err(setup)?;
    running.tasks.push(server);
    // Ethernet ports whose interface goes away are attached again when it is back.
    if let Some(detached) = running.forwarder.detached.take() {
        let (tables, vnet) = {
            let e = running
                .forwarder
                .engine
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            (e.tables().clone(), e.frame_prefix() > 0)
        };
        let watch = port_interfaces(topo, &tables);
        if !watch.is_empty() {
            running.tasks.push(tokio::spawn(reattach(
                detached,
                watch,
                running.forwarder.attach.clone(),
                vnet,
            )));
        }
    }
    let forwarder = &running.forwarder;
    // The MSEEs' BGP sessions with the sites that have a router.
    let sessions = bgp::spawn(&live, &st.lab, forwarder.epoch)
        .map_err(io_err("listening for BGP in the MSEEs' namespace"))
        .map_err(setup)?;
    running.tasks.extend(sessions);
    if let Some(addr) = metrics {
        let (task, bound) = metrics::serve(addr, Arc::clone(&live))
            .await
            .map_err(io_err(format!("serving metrics on {addr}")))
            .map_err(setup)?;
        running.tasks.push(task);
        st.metrics = Some(bound.to_string());
    }
    if let Some((addr, control)) = web {
        // On a non-loopback address, changes need a token.
        let serving = web::start(addr, Arc::clone(&live), control)
            .map_err(io_err(format!("serving the live view on {addr}")))
            .map_err(setup)?;
        running.tasks.push(serving.task);
        st.web = Some(serving.bound.to_string());
        st.web_control = control;
        st.web_token = serving.token;
    }
    st.ready = true;
    st.save().map_err(io_err("recording the lab state"))
}

/// Each Ethernet port's engine port and interface (namespace, name).
fn port_interfaces(
    topo: &Topology,
    tables: &crate::engine::Tables,
) -> std::collections::BTreeMap<crate::engine::PortId, (Option<String>, String)> {
    let mut out = std::collections::BTreeMap::new();
    for (id, site, circuit, path) in link_ports(tables) {
        let spec = topo.site[site].port(&topo.circuit[circuit].name, path);
        let name = match spec {
            Some(crate::topology::PortSpec::Interface { name, .. }) => name.clone(),
            Some(crate::topology::PortSpec::Vxlan { vni, .. }) => port::vxlan_name(*vni),
            None => continue,
        };
        out.insert(id, (spec.and_then(|s| s.netns()).map(String::from), name));
    }
    out
}

/// The engine's circuit-link ports: (port, site, circuit, path).
fn link_ports(
    tables: &crate::engine::Tables,
) -> impl Iterator<Item = (crate::engine::PortId, usize, usize, usize)> + '_ {
    tables
        .ports
        .iter()
        .enumerate()
        .filter_map(|(id, p)| match p.kind {
            crate::engine::table::PortKind::Link {
                site,
                circuit,
                path,
            } => Some((id, site, circuit, path)),
            _ => None,
        })
}

/// Attaches again, every half second until it is back, each Ethernet port whose interface
/// went away (a containerlab node redeployed makes its veth anew under the same name).
async fn reattach(
    mut detached: tokio::sync::mpsc::UnboundedReceiver<crate::engine::PortId>,
    watch: std::collections::BTreeMap<crate::engine::PortId, (Option<String>, String)>,
    attach: run::Attacher,
    vnet: bool,
) {
    let mut pending = std::collections::BTreeSet::new();
    loop {
        tokio::select! {
            p = detached.recv() => match p {
                Some(p) => {
                    pending.insert(p);
                }
                None => return,
            },
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)), if !pending.is_empty() => {
                pending.retain(|port| {
                    let Some((ns, name)) = watch.get(port) else { return false };
                    let spec = crate::topology::PortSpec::Interface {
                        netns: ns.clone(),
                        name: name.clone(),
                    };
                    let Ok(found) = port::find(&spec) else { return true };
                    match port::open(ns.as_deref(), found.ifindex, vnet, attach.workers()) {
                        Ok(sockets) => {
                            info!(port = %spec, "interface back; attaching the port again");
                            !attach.attach(*port, sockets)
                        }
                        Err(e) => {
                            warn!(port = %spec, error = %e, "interface back but not attached");
                            true
                        }
                    }
                });
            }
        }
    }
}

/// Checks nothing is in the way and records the lab (with no namespaces yet).
fn prepare(topo: &Topology, file: &str) -> Result<LabState, LabError> {
    if !is_root() {
        return Err(LabError::NotRoot);
    }
    let lab = topo.lab.name.clone();
    if let Ok(old) = LabState::load(&lab) {
        return Err(if old.alive() {
            LabError::Running { lab, pid: old.pid }
        } else {
            LabError::Stale {
                why: format!("its process {} is gone", old.pid),
                lab,
            }
        });
    }
    if state::exists(&state::lab_dir(&lab)) {
        return Err(LabError::Stale {
            why: format!(
                "{} exists without a state file",
                state::lab_dir(&lab).display()
            ),
            lab,
        });
    }
    for ep in topo.endpoint_names() {
        let ns = names::netns_name(&lab, ep);
        if netns::netns_exists(&ns) {
            return Err(NetnsError::Exists(ns).into());
        }
        if state::exists(&netns::etc_dir(&ns)) {
            return Err(NetnsError::Command {
                what: format!("preparing namespace {ns}"),
                stderr: format!(
                    "{} exists and was not made by this lab; remove it or rename the lab",
                    netns::etc_dir(&ns).display()
                ),
            }
            .into());
        }
    }
    let pid = std::process::id();
    // Ports of another lab: one interface attaches one link.
    for p in ports(topo)? {
        if let Some(other) = port_holder(&lab, p.netns.as_deref(), &p.interface) {
            return Err(port::PortError::Busy {
                port: p.link,
                name: p.interface,
                lab: other,
            }
            .into());
        }
    }
    let st = LabState {
        lab: lab.clone(),
        pid,
        pid_start: state::process_start_time(pid).unwrap_or(0),
        file: file.to_string(),
        ready: false,
        namespaces: Vec::new(),
        endpoints: Vec::new(),
        etc_netns: Vec::new(),
        frr: Vec::new(),
        // VXLAN ports are recorded once made (`make`).
        ports: ports(topo)?.into_iter().filter(|p| !p.made).collect(),
        metrics: None,
        web: None,
        web_control: false,
        web_token: None,
        workers: 0,
    };
    st.save().map_err(io_err(format!(
        "recording the lab state in {}",
        state::lab_dir(&lab).display()
    )))?;
    Ok(st)
}

/// The running lab other than `lab` whose port is interface `name` (in namespace `netns`).
pub fn port_holder(lab: &str, netns: Option<&str>, name: &str) -> Option<String> {
    state::list_labs()
        .into_iter()
        .filter(|l| l != lab)
        .filter_map(|l| LabState::load(&l).ok())
        .filter(LabState::alive)
        .find(|st| {
            st.ports
                .iter()
                .any(|q| q.netns.as_deref() == netns && q.interface == name)
        })
        .map(|st| st.lab)
}

/// The Ethernet ports of external sites, each checked (its interface there, Ethernet, up;
/// a VXLAN's name free).
fn ports(topo: &Topology) -> Result<Vec<state::PortState>, LabError> {
    let mut out = Vec::new();
    for s in &topo.site {
        for c in &s.circuits {
            for (path, link) in ["primary", "secondary"].iter().enumerate() {
                let Some(spec) = s.port(c, path) else {
                    continue;
                };
                let link = format!("{c}/{link}");
                let (interface, made) = port::check(spec).map_err(|e| LabError::PortOf {
                    site: s.name.clone(),
                    link: link.clone(),
                    source: Box::new(e),
                })?;
                out.push(state::PortState {
                    site: s.name.clone(),
                    link,
                    netns: spec.netns().map(String::from),
                    interface,
                    made,
                });
            }
        }
    }
    Ok(out)
}

/// Makes every namespace and TUN, then starts forwarding.
async fn make(
    topo: &Topology,
    st: &mut LabState,
    io: run::IoOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(run::Forwarder, rings::Rings), LabError> {
    let total = topo.endpoint_names().count();
    let all: Vec<IpNet> = topo.all_prefixes().into_iter().map(|(p, _)| p).collect();
    let hosts = hosts(topo, &st.lab);
    let mut devices = Vec::new();
    let mut offload = offload_choice(topo, io);
    // One forwarding worker per TUN queue and per packet socket of an Ethernet port.
    let queues = io.workers.max(1);
    st.workers = queues;
    for endpoint in endpoints(topo) {
        // A site whose router is behind Ethernet ports has its LAN elsewhere.
        if topo
            .site
            .iter()
            .any(|s| s.name == endpoint.name && s.has_ports())
        {
            devices.push(run::Device::Absent);
            progress(st.endpoints.len(), total);
            continue;
        }
        devices.push(run::Device::tun(make_endpoint(
            topo,
            st,
            &endpoint,
            &all,
            &hosts,
            &mut offload,
            queues,
        )?));
        progress(st.endpoints.len(), total);
        fail_point(st.endpoints.len())?;
    }
    let offload = offload.unwrap_or(false);
    // Sites with a real router: each circuit link's customer end as an interface in the site's
    // namespace; the MSEEs' own addresses in a namespace of the lab's.
    let tables = crate::plane::tables(topo);
    let (links, ether, msee_addrs) = make_router_links(topo, st, &tables, offload, queues)?;
    devices.extend(links);
    if tables.msee_port.is_some() {
        devices.push(run::Device::tun(make_msee(
            st,
            offload,
            &msee_addrs,
            queues,
        )?));
        // Each site's FRR, once its links exist (it connects to the MSEEs, retrying).
        for (i, s) in topo.site.iter().enumerate() {
            if s.router == crate::topology::Router::Frr {
                start_frr(topo, st, &tables, i)?;
            }
        }
    }
    let prefix = if offload {
        tun_rs::VIRTIO_NET_HDR_LEN
    } else {
        0
    };
    let rings = rings::Rings::open(&tun_names(topo, &st.lab, &tables, &devices));
    let mut engine = Engine::new(tables).with_frame_prefix(prefix);
    for (port, link) in ether {
        engine.set_ether(port, link);
    }
    info!(offload, poll = ?io.poll, workers = queues, "forwarding");
    let forwarder = run::Forwarder::spawn(engine, devices, offload, io.poll, queues)
        .map_err(io_err("starting the forwarding thread"))?;
    let rings = rings.with_sockets(Arc::clone(&forwarder.socket_drops));
    Ok((forwarder, rings))
}

/// Each port with a TUN: (port, its namespace, the TUN's name).
fn tun_names(
    topo: &Topology,
    lab: &str,
    tables: &crate::engine::Tables,
    devices: &[run::Device],
) -> Vec<(crate::engine::PortId, String, String)> {
    use crate::engine::table::PortKind;
    tables
        .ports
        .iter()
        .zip(devices)
        .enumerate()
        .filter(|(_, (_, d))| matches!(d, run::Device::Tun { .. }))
        .map(|(id, (p, _))| {
            let (ns, tun) = match p.kind {
                PortKind::Link {
                    site,
                    circuit,
                    path,
                } => {
                    let s = &topo.site[site];
                    (
                        names::netns_name(lab, &s.name),
                        s.link_interface(&topo.circuit[circuit].name, path),
                    )
                }
                PortKind::Msee => (names::msee_netns_name(lab), "msee".to_string()),
                _ => (names::netns_name(lab, &p.name), names::tun_name(&p.name)),
            };
            (id, ns, tun)
        })
        .collect()
}

/// A site or VNet to make: its name, kind ("site" or "vnet"), prefixes and MTU.
struct Endpoint<'t> {
    name: &'t str,
    kind: &'static str,
    prefixes: &'t [IpNet],
    mtu: u16,
}

/// Every site and VNet, in the topology's order.
fn endpoints(topo: &Topology) -> Vec<Endpoint<'_>> {
    topo.site
        .iter()
        .map(|s| {
            // The smallest of its circuits' MTUs: the site's hosts send what every circuit takes.
            let mtu = s
                .circuits
                .iter()
                .filter_map(|c| topo.circuit(c))
                .map(|c| c.mtu())
                .min()
                .unwrap_or(netns::VNET_MTU);
            Endpoint {
                name: &s.name,
                kind: "site",
                prefixes: &s.prefixes,
                mtu,
            }
        })
        .chain(topo.vnet.iter().map(|v| Endpoint {
            name: &v.name,
            kind: "vnet",
            prefixes: &v.prefixes,
            mtu: netns::VNET_MTU,
        }))
        .collect()
}

/// The hosts file every namespace gets: every endpoint by name (`ping london`).
fn hosts(topo: &Topology, lab: &str) -> String {
    netns::hosts_file(
        lab,
        &std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
        &topo
            .endpoint_names()
            .flat_map(|n| {
                topo.prefixes_of(n)
                    .unwrap_or_default()
                    .iter()
                    .map(move |p| (n.to_string(), topo.host_address(n, p)))
            })
            .collect::<Vec<_>>(),
    )
}

/// Whether the TUNs carry offloads: `Some(false)` when they must not, `None` when the first
/// TUN decides (the kernel may refuse). Offload is decided on the first TUN and used for all:
/// packets pass between TUNs with their virtio-net header, so both ends must speak it.
fn offload_choice(topo: &Topology, io: run::IoOptions) -> Option<bool> {
    // Loss and jitter are decided per packet: they need every segment on its own.
    let per_packet = topo
        .circuit
        .iter()
        .any(|c| c.loss.or(topo.lab.loss).is_some() || c.jitter.or(topo.lab.jitter).is_some());
    if per_packet && io.offload {
        info!("loss or jitter configured: TUN offload off, one packet per read");
    }
    if io.offload && !per_packet {
        None
    } else {
        Some(false)
    }
}

/// A site's or VNet's namespace and TUN, addressed and routed, each step recorded in the
/// state before it is taken (`down` after a crash finds it); the TUN's `queues` descriptors.
#[allow(clippy::too_many_arguments)]
fn make_endpoint(
    topo: &Topology,
    st: &mut LabState,
    endpoint: &Endpoint,
    all: &[IpNet],
    hosts: &str,
    offload: &mut Option<bool>,
    queues: usize,
) -> Result<Vec<std::os::fd::OwnedFd>, LabError> {
    let Endpoint {
        name,
        kind,
        prefixes: own,
        mtu,
    } = *endpoint;
    let ns = names::netns_name(&st.lab, name);
    let tun = names::tun_name(name);
    // Recorded before it is made: `down` after a crash finds it.
    st.namespaces.push(ns.clone());
    st.save().map_err(io_err("recording the lab state"))?;
    if let Err(e) = netns::add(&ns) {
        if matches!(e, NetnsError::Exists(_)) {
            // Someone else's (made since `prepare` looked): never ours to remove.
            st.namespaces.pop();
            let _ = st.save();
        }
        return Err(e.into());
    }
    let dev = match *offload {
        Some(o) => netns::create_tun(&ns, &tun, o, mtu, queues)?,
        None => match netns::create_tun(&ns, &tun, true, mtu, queues) {
            Ok(d) => {
                *offload = Some(true);
                d
            }
            Err(e) => {
                warn!(error = %e, "TUN offload refused by the kernel; using plain I/O, one packet per read");
                *offload = Some(false);
                netns::create_tun(&ns, &tun, false, mtu, queues)?
            }
        },
    };
    st.etc_netns.push(ns.clone());
    st.save().map_err(io_err("recording the lab state"))?;
    if let Err(e) = netns::write_hosts(&ns, hosts) {
        st.etc_netns.pop();
        let _ = st.save();
        return Err(e.into());
    }
    // A site with a real router learns its routes over BGP; the others get one route per
    // lab prefix through their TUN.
    let routed = topo
        .site
        .iter()
        .any(|s| s.name == name && s.router.is_real());
    let others: Vec<IpNet> = if routed {
        Vec::new()
    } else {
        let mut v: Vec<IpNet> = all.iter().filter(|p| !own.contains(p)).copied().collect();
        // The same prefix at two endpoints is one route.
        v.sort();
        v.dedup();
        v
    };
    let own_addresses: Vec<(std::net::IpAddr, u8)> = own
        .iter()
        .map(|p| (topo.host_address(name, p), p.prefix_len()))
        .collect();
    let addresses = netns::configure(&ns, &tun, &own_addresses, &others, !routed)?;
    st.endpoints.push(EndpointState {
        name: name.to_string(),
        kind: kind.to_string(),
        namespace: ns,
        tun,
        addresses,
    });
    st.save().map_err(io_err("recording the lab state"))?;
    Ok(dev)
}

/// Attaches a port: opens a packet socket on its interface, making the interface first for
/// a VXLAN port (recorded before it is made: `down` after a crash removes it).
fn attach(
    st: &mut LabState,
    site: &str,
    spec: &crate::topology::PortSpec,
    link: String,
    offload: bool,
    workers: usize,
) -> Result<port::Sockets, LabError> {
    let ns = spec.netns().map(String::from);
    let name = match spec {
        crate::topology::PortSpec::Interface { name, .. } => name.clone(),
        crate::topology::PortSpec::Vxlan { vni, .. } => {
            let name = port::vxlan_name(*vni);
            st.ports.push(state::PortState {
                site: site.to_string(),
                link,
                netns: ns.clone(),
                interface: name.clone(),
                made: true,
            });
            st.save().map_err(io_err("recording the lab state"))?;
            port::vxlan_make(spec)?;
            name
        }
    };
    let found = port::find(&crate::topology::PortSpec::Interface {
        netns: ns.clone(),
        name,
    })?;
    Ok(
        port::open(ns.as_deref(), found.ifindex, offload, workers).map_err(|source| {
            port::PortError::Io {
                port: spec.to_string(),
                what: "opening a packet socket".into(),
                source,
            }
        })?,
    )
}

/// Each circuit link's customer end: a TUN in its router site's namespace, or the Ethernet
/// port the topology names (with its link layer, for the engine); and the MSEE addresses
/// (`a.b.c.d/30`) the lab's MSEE namespace is to hold.
#[allow(clippy::type_complexity)]
fn make_router_links(
    topo: &Topology,
    st: &mut LabState,
    tables: &crate::engine::Tables,
    offload: bool,
    queues: usize,
) -> Result<
    (
        Vec<run::Device>,
        Vec<(crate::engine::PortId, crate::engine::ether::EtherPort)>,
        Vec<String>,
    ),
    LabError,
> {
    let mut devices = Vec::new();
    let mut ether = Vec::new();
    let mut msee_addrs = Vec::new();
    for (id, site, circuit, path) in link_ports(tables) {
        let s = &topo.site[site];
        let c = &topo.circuit[circuit];
        let (ce, msee) = tables.circuits[circuit].link_v4[path];
        msee_addrs.push(format!("{msee}/30"));
        let link_v6 = tables.circuits[circuit].link_v6.map(|l| l[path]);
        if let Some((_, msee6)) = link_v6 {
            msee_addrs.push(format!("{msee6}/126"));
        }
        if s.has_ports() {
            let link = format!("{}/{}", c.name, ["primary", "secondary"][path & 1]);
            devices.push(match s.port(&c.name, path) {
                Some(spec) => {
                    let sockets = attach(st, &s.name, spec, link.clone(), offload, queues)?;
                    ether.push((
                        id,
                        crate::engine::ether::EtherPort::new(
                            port::msee_mac(&st.lab, &c.name, path),
                            c.vlan_id,
                            vec![msee],
                            ce,
                        )
                        .with_v6(link_v6.map(|(_, m)| vec![m]).unwrap_or_default()),
                    ));
                    info!(%link, port = %spec, "Ethernet port attached");
                    run::Device::Packet {
                        sockets: sockets.data,
                        control: sockets.control,
                    }
                }
                // Not wired to anything here: the link stays dark.
                _ => run::Device::Absent,
            });
            continue;
        }
        let ns = names::netns_name(&st.lab, &s.name);
        let name = s.link_interface(&c.name, path);
        let name = name.as_str();
        // One more queue than workers: the router's BGP and BFD on it, read first.
        let mut dev = netns::create_tun(
            &ns,
            name,
            offload,
            tables.circuits[circuit].timing.mtu,
            queues + 1,
        )?;
        let control = dev.pop();
        let control = control.filter(|_| {
            match steer::load(queues as u32).and_then(|prog| steer::attach(&dev[0], &prog)) {
                Ok(()) => true,
                Err(e) => {
                    // Closing the extra queue removes it: the TUN hashes over the rest.
                    warn!(error = %e, tun = name, "no control queue: BGP and BFD share the link's queue with its traffic");
                    false
                }
            }
        });
        netns::configure_link(&ns, name, &format!("{ce}/30"))?;
        if let Some((ce6, _)) = link_v6 {
            netns::configure_link(&ns, name, &format!("{ce6}/126"))?;
        }
        devices.push(run::Device::Tun {
            queues: dev,
            control,
        });
    }
    Ok((devices, ether, msee_addrs))
}

/// The lab's MSEE namespace, with a TUN holding every MSEE address.
fn make_msee(
    st: &mut LabState,
    offload: bool,
    msee_addrs: &[String],
    queues: usize,
) -> Result<Vec<std::os::fd::OwnedFd>, LabError> {
    let ns = names::msee_netns_name(&st.lab);
    st.namespaces.push(ns.clone());
    st.save().map_err(io_err("recording the lab state"))?;
    netns::add(&ns)?;
    let dev = netns::create_tun(&ns, "msee", offload, netns::VNET_MTU, queues)?;
    for a in msee_addrs {
        netns::configure_link(&ns, "msee", a)?;
    }
    Ok(dev)
}

/// Site `i`'s FRR in its namespace: the user's `router_config`, or one generated to peer
/// with both MSEEs of each of its circuits.
fn start_frr(
    topo: &Topology,
    st: &mut LabState,
    tables: &crate::engine::Tables,
    i: usize,
) -> Result<(), LabError> {
    let s = &topo.site[i];
    let dir = state::lab_dir(&st.lab).join("frr").join(&s.name);
    st.frr.push(dir.display().to_string());
    st.save().map_err(io_err("recording the lab state"))?;
    let router = frr::SiteRouter::of(topo, tables, i);
    let conf = match &s.router_config {
        // The user's own configuration, as written.
        Some(path) => std::fs::read_to_string(path).map_err(io_err(format!(
            "reading router_config {path} of site {}",
            s.name
        )))?,
        None => frr::config(&router, &dir.join("frr.log")),
    };
    frr::Daemons::start(&names::netns_name(&st.lab, &s.name), &dir, &conf).map_err(|e| {
        LabError::Io {
            what: format!("starting FRR for site {}", s.name),
            source: std::io::Error::other(e.to_string()),
        }
    })?;
    Ok(())
}

/// A test hook: with `REACHLAB_FAIL_AFTER=N` in the environment, `up` fails once N endpoints
/// are made, so the tests can prove a failure halfway removes what was made.
fn fail_point(made: usize) -> Result<(), LabError> {
    match std::env::var("REACHLAB_FAIL_AFTER") {
        Ok(n) if n.parse() == Ok(made) => Err(io_err(format!("after {made} endpoints"))(
            std::io::Error::other("failure injected by REACHLAB_FAIL_AFTER (a test hook)"),
        )),
        _ => Ok(()),
    }
}

/// Removes every namespace the state records, then the state itself. Keeps going past
/// failures (reporting them) so as much as possible is cleaned.
pub fn teardown(st: &LabState) -> bool {
    let mut clean = true;
    // The routers first: they run inside the namespaces.
    for dir in &st.frr {
        frr::stop(std::path::Path::new(dir));
    }
    // The VXLAN interfaces the lab made; the interfaces it was given are left as they are.
    for p in st.ports.iter().filter(|p| p.made) {
        if let Err(e) = port::vxlan_remove(p.netns.as_deref(), &p.interface) {
            eprintln!("reachlab: removing VXLAN interface {}: {e}", p.interface);
            clean = false;
        }
    }
    for ns in &st.namespaces {
        if let Err(e) = netns::del(ns) {
            warn!(namespace = %ns, error = %e, "could not remove namespace");
            eprintln!("reachlab: {e}");
            clean = false;
        }
    }
    for ns in &st.etc_netns {
        if let Err(e) = netns::remove_hosts(ns) {
            eprintln!("reachlab: {e}");
            clean = false;
        }
    }
    if clean {
        if let Err(e) = state::remove_lab_dir(&st.lab) {
            eprintln!(
                "reachlab: removing {}: {e}",
                state::lab_dir(&st.lab).display()
            );
            clean = false;
        }
    }
    clean
}

/// Stops a lab (its process, if alive, tears down itself; what remains is removed here).
/// Returns what was done, for the user.
pub fn down(lab: &str) -> Result<String, LabError> {
    let st = match LabState::load(lab) {
        Ok(st) => st,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let _ = state::remove_lab_dir(lab);
            return Ok(format!("lab {lab} is not running; nothing to do"));
        }
        Err(e) => return Err(io_err(format!("reading the state of lab {lab}"))(e)),
    };
    let mut how = "removed";
    if st.alive() && st.pid != std::process::id() {
        let pid = nix::unistd::Pid::from_raw(st.pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while st.alive() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if st.alive() {
            warn!(
                pid = st.pid,
                "lab process ignored SIGTERM for 10 s; killing it"
            );
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            while st.alive() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        how = "stopped";
    } else {
        how = if st.alive() {
            how
        } else {
            "cleaned up (its process was gone)"
        };
    }
    // The process normally removed everything; after a crash or kill -9 the record remains.
    if let Ok(left) = LabState::load(lab) {
        if !teardown(&left) {
            return Err(LabError::Io {
                what: format!("cleaning lab {lab}"),
                source: std::io::Error::other("some namespaces could not be removed"),
            });
        }
    }
    let _ = std::fs::remove_file(state::log_path(lab));
    Ok(format!("lab {lab} {how}"))
}
