//! Network namespaces and TUN devices: making, configuring and removing them.
//!
//! Namespaces are made and removed with iproute2 (`ip netns add|del`), which also keeps the
//! /run/netns mounts that `ip netns exec` relies on; each namespace gets an /etc/netns/NS/hosts
//! (which `ip netns exec` mounts over /etc/hosts) naming every endpoint of the lab. A TUN is created *inside* its namespace
//! (a short-lived thread enters it with setns, opens the device with tun-rs and leaves), so it
//! never appears in the root namespace. Addresses and routes are set with one `ip -batch` per
//! namespace.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ipnet::IpNet;

/// MTU of a VNet's TUN (Azure VNets carry 1500; the circuit's smaller MTU is enforced by the
/// engine, which answers Fragmentation Needed / Packet Too Big). A site's TUN takes its
/// circuit's MTU.
pub const VNET_MTU: u16 = 1500;
/// Transmit queue length: the default 500 overflows under iperf3 at MTU 1500.
pub const TUN_TXQUEUELEN: u32 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("namespace {0} already exists and was not made by this lab; remove it (ip netns del {0}) or rename the lab")]
    Exists(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {stderr}")]
    Command { what: String, stderr: String },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetnsError {
    let what = what.into();
    move |source| NetnsError::Io { what, source }
}

pub fn netns_path(name: &str) -> PathBuf {
    PathBuf::from("/run/netns").join(name)
}

pub fn netns_exists(name: &str) -> bool {
    super::state::exists(&netns_path(name))
}

fn run(what: &str, cmd: &mut Command, stdin: Option<&str>) -> Result<(), NetnsError> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(io_err(format!("{what} (running ip)")))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(io_err(format!("{what} (writing to ip)")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(io_err(format!("{what} (waiting for ip)")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Command {
            what: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Makes a namespace; refuses when one of that name exists already.
pub fn add(name: &str) -> Result<(), NetnsError> {
    if netns_exists(name) {
        return Err(NetnsError::Exists(name.to_string()));
    }
    run(
        &format!("creating namespace {name}"),
        Command::new("ip").args(["netns", "add", name]),
        None,
    )
}

/// Removes a namespace if it exists (removing twice is fine).
pub fn del(name: &str) -> Result<(), NetnsError> {
    if !netns_exists(name) {
        return Ok(());
    }
    run(
        &format!("removing namespace {name}"),
        Command::new("ip").args(["netns", "del", name]),
        None,
    )
}

/// Namespace `ns`'s `/proc/net/dev`, opened from inside it: read later from any thread, it
/// reports that namespace's interfaces (a proc net file keeps the namespace it was opened in).
pub fn open_dev_counters(ns: &str) -> std::io::Result<std::fs::File> {
    let ns = ns.to_string();
    std::thread::spawn(move || -> std::io::Result<std::fs::File> {
        let f = std::fs::File::open(netns_path(&ns))?;
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        std::fs::File::open("/proc/thread-self/net/dev")
    })
    .join()
    .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
}

/// Opens a TUN device named `tun` inside namespace `ns`, with `queues` queues (IFF_MULTI_QUEUE
/// when more than one: the kernel spreads what the namespace sends over them by flow hash, so a
/// flow's packets stay on one queue). With `offload`, the device carries a virtio-net header in
/// front of every packet and exchanges GSO super-packets (IFF_VNET_HDR, TUNSETOFFLOAD with
/// checksum, TSO4/6 and USO where the kernel has it). Returns each queue's descriptor,
/// non-blocking.
pub fn create_tun(
    ns: &str,
    tun: &str,
    offload: bool,
    mtu: u16,
    queues: usize,
) -> Result<Vec<std::os::fd::OwnedFd>, NetnsError> {
    use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
    let (ns, tun) = (ns.to_string(), tun.to_string());
    let what = format!("creating TUN {tun} in namespace {ns}");
    let queues = queues.max(1);
    std::thread::spawn(move || -> std::io::Result<Vec<OwnedFd>> {
        // This thread enters the namespace and dies afterwards; the device's fds keep working
        // from any thread.
        let f = std::fs::File::open(netns_path(&ns))?;
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        let first = tun_rs::DeviceBuilder::new()
            .name(&tun)
            .mtu(mtu)
            .tx_queue_len(TUN_TXQUEUELEN)
            .packet_information(false)
            .offload(offload)
            .multi_queue(queues > 1)
            .build_sync()?;
        let mut devs = Vec::with_capacity(queues);
        for _ in 1..queues {
            devs.push(first.try_clone()?);
        }
        devs.insert(0, first);
        devs.into_iter()
            .map(|d| {
                d.set_nonblocking(true)?;
                // SAFETY: `into_raw_fd` hands over the descriptor the device owned; nothing
                // else holds or closes it.
                Ok(unsafe { OwnedFd::from_raw_fd(d.into_raw_fd()) })
            })
            .collect()
    })
    .join()
    .map_err(|_| NetnsError::Command {
        what: what.clone(),
        stderr: "the namespace thread panicked".into(),
    })?
    .map_err(io_err(what))
}

/// Sets up an endpoint's namespace: `lo` up, its addresses (each with its prefix's length,
/// as `Topology::host_address` chose them) on the TUN without IPv6 autoconfiguration or DAD, the TUN up, routes to every other lab prefix
/// through the TUN and, with `default_route`, a default route through it. Returns the
/// addresses set, with prefix length.
pub fn configure(
    ns: &str,
    tun: &str,
    own: &[(IpAddr, u8)],
    others: &[IpNet],
    default_route: bool,
) -> Result<Vec<String>, NetnsError> {
    let mut batch = String::new();
    let mut addrs = Vec::new();
    batch.push_str("link set lo up\n");
    // No link-local address: no router solicitations or MLD reports into the lab.
    batch.push_str(&format!("link set {tun} addrgenmode none\n"));
    for (a, len) in own {
        let with_len = format!("{a}/{len}");
        match a {
            IpAddr::V4(_) => batch.push_str(&format!("addr add {with_len} dev {tun}\n")),
            IpAddr::V6(_) => batch.push_str(&format!("addr add {with_len} dev {tun} nodad\n")),
        }
        addrs.push(with_len);
    }
    batch.push_str(&format!("link set {tun} up\n"));
    for p in others {
        batch.push_str(&format!("route add {p} dev {tun}\n"));
    }
    if default_route {
        // Whatever else the MSEE or gateway may know (prefixes learned over BGP that no file
        // lists): the engine decides, and answers Unreachable for what it does not know.
        batch.push_str(&format!("route add default dev {tun}\n"));
        if own.iter().any(|p| p.0.is_ipv6()) {
            batch.push_str(&format!("route add ::/0 dev {tun}\n"));
        }
    }
    run(
        &format!("configuring {tun} in namespace {ns}"),
        Command::new("ip").args(["-n", ns, "-batch", "-"]),
        Some(&batch),
    )?;
    Ok(addrs)
}

/// Puts `addr` (with its length, e.g. 192.168.100.1/30) on a TUN in a namespace and brings
/// it (and `lo`) up, without IPv6 autoconfiguration (and, for an IPv6 address, without
/// duplicate address detection: the link is ours alone).
pub fn configure_link(ns: &str, tun: &str, addr: &str) -> Result<(), NetnsError> {
    let nodad = if addr.contains(':') { " nodad" } else { "" };
    run(
        &format!("configuring {tun} in namespace {ns}"),
        Command::new("ip").args(["-n", ns, "-batch", "-"]),
        Some(&format!(
            "link set lo up\nlink set {tun} addrgenmode none\naddr add {addr} dev {tun}{nodad}\nlink set {tun} up\n"
        )),
    )
}

/// Brings an interface in a namespace up or down.
pub fn set_link_up(ns: &str, dev: &str, up: bool) -> Result<(), NetnsError> {
    let state = if up { "up" } else { "down" };
    run(
        &format!("setting {dev} {state} in namespace {ns}"),
        Command::new("ip").args(["-n", ns, "link", "set", dev, state]),
        None,
    )
}

/// Adds or removes a route to `prefix` through the TUN in a namespace.
pub fn route(ns: &str, tun: &str, prefix: &IpNet, add: bool) -> Result<(), NetnsError> {
    let verb = if add { "add" } else { "del" };
    run(
        &format!("{verb} route {prefix} in namespace {ns}"),
        Command::new("ip").args(["-n", ns, "route", verb, &prefix.to_string(), "dev", tun]),
        None,
    )
}

/// Where `ip netns exec NS` finds files to mount over /etc (/etc/netns/NS).
pub fn etc_dir(ns: &str) -> PathBuf {
    PathBuf::from("/etc/netns").join(ns)
}

/// The hosts file of a lab's namespaces: the machine's own /etc/hosts (so the host name and
/// localhost keep resolving), then every endpoint's addresses under its name.
pub fn hosts_file(lab: &str, base: &str, entries: &[(String, IpAddr)]) -> String {
    let mut out = String::from(base);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "# reachlab lab {lab}: its sites and VNets (removed by `reachlab down {lab}`)\n"
    ));
    for (name, addr) in entries {
        out.push_str(&format!("{addr}\t{name}\n"));
    }
    out
}

/// Writes /etc/netns/NS/hosts. Refuses when /etc/netns/NS exists already (not ours).
pub fn write_hosts(ns: &str, text: &str) -> Result<(), NetnsError> {
    let dir = etc_dir(ns);
    if super::state::exists(&dir) {
        return Err(NetnsError::Command {
            what: format!("writing {}/hosts", dir.display()),
            stderr: format!(
                "{} exists and was not made by this lab; remove it or rename the lab",
                dir.display()
            ),
        });
    }
    std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    std::fs::write(dir.join("hosts"), text)
        .map_err(io_err(format!("writing {}/hosts", dir.display())))
}

/// Removes /etc/netns/NS (and /etc/netns when that leaves it empty). Twice is fine.
pub fn remove_hosts(ns: &str) -> Result<(), NetnsError> {
    let dir = etc_dir(ns);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io_err(format!("removing {}", dir.display()))(e))
        }
        _ => {}
    }
    // Only succeeds when empty: someone else's entries stay.
    let _ = std::fs::remove_dir("/etc/netns");
    Ok(())
}
