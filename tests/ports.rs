//! Ethernet circuit ports (`router = "external"` with `ports`): a namespace plays a
//! containerlab node (its links made as containerlab makes them: `ip link add HOST type veth
//! peer name eth1`, eth1 moved into the node), FRR runs in it as the CE, and the lab takes the
//! host ends of the veths. Untagged, and tagged through a userspace 802.1Q sub-interface
//! (this kernel has no 8021q: the harness tags what a TAP `eth1.100` sends onto eth1 and
//! untags what comes back). Needs root and FRR (skipped loudly without root).

mod common;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{established, ping_received, root_or_skip, within, Lab};
use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;

fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip").args(args).output().unwrap()
}

fn ip_ok(args: &[&str]) {
    let out = ip(args);
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One test here floods the machine on purpose and judges what it sees under that load: it
/// runs alone, the others beside each other.
static LOAD: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn beside_others() -> std::sync::RwLockReadGuard<'static, ()> {
    LOAD.read().unwrap_or_else(|p| p.into_inner())
}

fn alone() -> std::sync::RwLockWriteGuard<'static, ()> {
    LOAD.write().unwrap_or_else(|p| p.into_inner())
}

/// A containerlab-style node: namespace `ns` holding eth1 and eth2, whose peers `host[0]`,
/// `host[1]` are in the root namespace (as containerlab's host links leave them), and FRR as
/// the CE of circuit er-sv. Everything removed on drop.
struct Node {
    ns: String,
    host: [String; 2],
    /// With VXLAN links: the two "hosts" (namespaces joined by a veth underlay).
    hosts: Option<[String; 2]>,
    frr: Option<reachlab::lab::frr::Daemons>,
    dir: PathBuf,
    tagger: Option<Tagger>,
}

impl Node {
    /// The node and its links. With `vlan`, the CE's addresses sit on TAP sub-interfaces
    /// eth1.V / eth2.V that the harness tags with `tag` (the VLAN it puts on the wire).
    fn new(tag: &str, vlan: Option<(u16, u16)>) -> Node {
        let n = std::process::id() % 10_000;
        let ns = format!("rlt-{n}-{tag}");
        let host = [format!("rp{n}{tag}p"), format!("rp{n}{tag}s")];
        let dir = std::env::temp_dir().join(format!("reachlab-test-{ns}"));
        let mut node = Node {
            ns,
            host,
            hosts: None,
            frr: None,
            dir,
            tagger: None,
        };
        ip_ok(&["netns", "add", &node.ns]);
        ip_ok(&["-n", &node.ns, "link", "set", "lo", "up"]);
        // The CE's LAN address on lo (no dummy interfaces here).
        ip_ok(&["-n", &node.ns, "addr", "add", "10.0.1.1/24", "dev", "lo"]);
        for (i, host) in node.host.iter().enumerate() {
            let eth = format!("eth{}", i + 1);
            // As containerlab does, with the node's end made in its namespace at once (two
            // tests at a time would both make an eth1 in ours).
            ip_ok(&[
                "link", "add", host, "type", "veth", "peer", "name", &eth, "netns", &node.ns,
            ]);
            ip_ok(&["link", "set", host, "up"]);
            ip_ok(&["-n", &node.ns, "link", "set", &eth, "up"]);
        }
        // The CE's addresses on each link, IPv4 and IPv6 (the circuit's IPv6 peering).
        let addrs = [
            ["192.168.100.1/30", "fd00:100::1/126"],
            ["192.168.100.5/30", "fd00:100::5/126"],
        ];
        if let Some((v, wire)) = vlan {
            node.tagger = Some(Tagger::start(&node.ns, v, wire));
        }
        for (i, pair) in addrs.iter().enumerate() {
            let dev = match vlan {
                None => format!("eth{}", i + 1),
                Some((v, _)) => format!("eth{}.{v}", i + 1),
            };
            for a in pair {
                ip_ok(&["-n", &node.ns, "addr", "add", a, "dev", &dev, "nodad"]);
            }
            ip_ok(&["-n", &node.ns, "link", "set", &dev, "up"]);
        }
        node
    }

    /// A node on "host B" whose links are VXLAN (VNIs 1001, 1002, UDP port 14789 as
    /// containerlab's default) to "host A", each host a namespace, joined by a veth underlay
    /// 198.51.100.1 (A) - 198.51.100.2 (B). As containerlab makes a vxlan link: the VXLAN
    /// device made on the host, then moved into the node as eth1/eth2.
    fn over_vxlan(tag: &str) -> Node {
        let n = std::process::id() % 10_000;
        let ns = format!("rlt-{n}-{tag}");
        let hosts = [format!("rlt-{n}-{tag}a"), format!("rlt-{n}-{tag}b")];
        let dir = std::env::temp_dir().join(format!("reachlab-test-{ns}"));
        let node = Node {
            ns,
            host: [String::new(), String::new()],
            hosts: Some(hosts.clone()),
            frr: None,
            dir,
            tagger: None,
        };
        for h in [&node.ns, &hosts[0], &hosts[1]] {
            ip_ok(&["netns", "add", h]);
            ip_ok(&["-n", h, "link", "set", "lo", "up"]);
        }
        ip_ok(&[
            "-n", &hosts[0], "link", "add", "underlay", "type", "veth", "peer", "name", "underlay",
            "netns", &hosts[1],
        ]);
        for (h, a) in [
            (&hosts[0], "198.51.100.1/24"),
            (&hosts[1], "198.51.100.2/24"),
        ] {
            ip_ok(&["-n", h, "addr", "add", a, "dev", "underlay"]);
            ip_ok(&["-n", h, "link", "set", "underlay", "up"]);
        }
        ip_ok(&["-n", &node.ns, "addr", "add", "10.0.1.1/24", "dev", "lo"]);
        for (i, a) in ["192.168.100.1/30", "192.168.100.5/30"].iter().enumerate() {
            let vx = format!("vx{}", i + 1);
            let eth = format!("eth{}", i + 1);
            let vni = (1001 + i).to_string();
            ip_ok(&[
                "-n",
                &hosts[1],
                "link",
                "add",
                &vx,
                "type",
                "vxlan",
                "id",
                &vni,
                "remote",
                "198.51.100.1",
                "dstport",
                "14789",
            ]);
            ip_ok(&["-n", &hosts[1], "link", "set", &vx, "netns", &node.ns]);
            ip_ok(&["-n", &node.ns, "link", "set", &vx, "name", &eth]);
            ip_ok(&["-n", &node.ns, "addr", "add", a, "dev", &eth]);
            ip_ok(&["-n", &node.ns, "link", "set", &eth, "up"]);
        }
        node
    }

    /// The CE's FRR, configured as reachlab configures its own (both MSEEs in both families,
    /// BFD, own routes only).
    fn start_frr(&mut self) {
        let r = reachlab::lab::frr::SiteRouter {
            hostname: "ce".into(),
            asn: 65001,
            router_id: "192.168.100.1".parse().unwrap(),
            // Both families: an IPv6 session on each link too (the circuit's IPv6 peering).
            neighbors: vec![
                "192.168.100.2".parse().unwrap(),
                "192.168.100.6".parse().unwrap(),
                "fd00:100::2".parse().unwrap(),
                "fd00:100::6".parse().unwrap(),
            ],
            networks: vec!["10.0.1.0/24".parse().unwrap()],
            connect_retry: 2,
            lan_source: Some("10.0.1.1".parse().unwrap()),
            lan_source_v6: None,
            passwords: Default::default(),
        };
        let conf = reachlab::lab::frr::config(&r, &self.dir.join("frr.log"));
        self.frr = Some(reachlab::lab::frr::Daemons::start(&self.ns, &self.dir, &conf).unwrap());
    }

    fn vtysh(&self, cmd: &str) -> String {
        self.frr
            .as_ref()
            .map(|f| f.vtysh(&[cmd]))
            .unwrap_or_default()
    }

    /// `ping` from the CE's LAN address: (received, output).
    fn ping(&self, to: &str, count: u32) -> (u32, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "ping", "-n", "-I", "10.0.1.1"])
            .args(["-c", &count.to_string(), "-i", "0.2", "-W", "1", to])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (ping_received(&text), text)
    }

    /// iperf3 from the CE's LAN (bound to 10.0.1.1) to a server on London (10.0.2.1, `port`)
    /// with `args`: its JSON.
    fn iperf3_to_london(&self, lab: &Lab, port: u16, args: &[&str]) -> serde_json::Value {
        let args: Vec<&str> = args.iter().copied().chain(["-B", "10.0.1.1"]).collect();
        lab.iperf3_via(("london", "10.0.2.1", port), &args, |a| {
            Command::new("ip")
                .args(["netns", "exec", &self.ns])
                .args(a)
                .output()
                .unwrap()
        })
    }

    /// What `ip -d -j link show` says about a host end (ifindex, MTU, state, addresses).
    fn host_end(&self, i: usize) -> serde_json::Value {
        let out = ip(&["-j", "addr", "show", "dev", &self.host[i]]);
        let mut v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        // Counters and the IPv6 link-local address the kernel may add are not ours.
        if let Some(o) = v[0].as_object_mut() {
            o.retain(|k, _| {
                matches!(
                    k.as_str(),
                    "ifindex" | "ifname" | "mtu" | "flags" | "operstate" | "address"
                )
            });
        }
        let addrs: Vec<String> = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|a| a[0]["addr_info"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter(|a| a["scope"] != "link")
            .map(|a| a["local"].to_string())
            .collect();
        v[0]["addresses"] = serde_json::json!(addrs);
        v[0].clone()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(t) = self.tagger.take() {
            t.stop();
        }
        if let Some(f) = &self.frr {
            f.stop();
        }
        for h in self.host.iter().filter(|h| !h.is_empty()) {
            let _ = ip(&["link", "del", h]);
        }
        let _ = ip(&["netns", "del", &self.ns]);
        for h in self.hosts.iter().flatten() {
            let _ = ip(&["netns", "del", h]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The userspace 802.1Q sub-interfaces: a TAP `ethN.V` per link in the node, its frames
/// tagged with `wire` onto ethN, and frames on ethN tagged `wire` untagged onto the TAP.
struct Tagger {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Tagger {
    fn start(ns: &str, v: u16, wire: u16) -> Tagger {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 1..=2 {
            let eth = format!("eth{i}");
            let sub = format!("eth{i}.{v}");
            let (tap, sock) = in_netns(ns, move || {
                let tap = tun_rs::DeviceBuilder::new()
                    .name(&sub)
                    .layer(tun_rs::Layer::L2)
                    .offload(true)
                    .mtu(1500)
                    .build_sync()
                    .unwrap();
                let name = std::ffi::CString::new(eth).unwrap();
                // SAFETY: a valid NUL-terminated name.
                let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
                assert!(idx > 0, "no {}", name.to_string_lossy());
                let sock = reachlab::lab::port::open_one(None, idx, true).unwrap();
                (tap, sock)
            });
            let tap = Arc::new(tap);
            let sock = Arc::new(sock);
            for dir in 0..2 {
                let (tap, sock, stop) = (Arc::clone(&tap), Arc::clone(&sock), Arc::clone(&stop));
                threads.push(std::thread::spawn(move || {
                    pump(dir == 0, &tap, &sock, wire, &stop)
                }));
            }
        }
        Tagger { stop, threads }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Runs `f` on a thread inside namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(path).unwrap();
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// Moves frames one way between the TAP and the wire: `out` tags what the TAP sends, else
/// untags what the wire carries with VLAN `wire` (other frames are not the sub-interface's).
/// Both carry a virtio-net header (checksums may be partial, as between namespaces): its
/// offsets move with the tag.
fn pump(out: bool, tap: &tun_rs::SyncDevice, sock: &OwnedFd, wire: u16, stop: &AtomicBool) {
    use reachlab::engine::wire::virtio;
    const H: usize = virtio::LEN;
    let mut buf = vec![0u8; 70000];
    let sock_fd = sock.as_raw_fd();
    while !stop.load(Ordering::Relaxed) {
        let fd = if out { tap.as_raw_fd() } else { sock_fd };
        let mut pfd = [nix::poll::PollFd::new(
            // SAFETY: the descriptor outlives this call (owned by the caller's Arcs).
            unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut pfd, 100u16).unwrap_or(0) == 0 {
            continue;
        }
        if out {
            let Ok(n) = tap.recv(&mut buf) else { continue };
            if n < H + 14 {
                continue;
            }
            let mut f = Vec::with_capacity(n + 4);
            f.extend_from_slice(&buf[..H + 12]);
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&wire.to_be_bytes());
            f.extend_from_slice(&buf[H + 12..n]);
            virtio::shift(&mut f[..H], 4);
            let _ = nix::unistd::write(sock, &f);
        } else {
            // As on the wire: the kernel's tag put back.
            let Ok(Some((start, n))) = reachlab::lab::port::recv(sock_fd, &mut buf, H) else {
                continue;
            };
            let frame = &buf[start..start + n];
            if n < H + 18 || frame[H + 12..H + 14] != [0x81, 0x00] {
                continue;
            }
            if u16::from_be_bytes([frame[H + 14], frame[H + 15]]) & 0x0fff != wire {
                continue;
            }
            let mut f = Vec::with_capacity(n - 4);
            f.extend_from_slice(&frame[..H + 12]);
            f.extend_from_slice(&frame[H + 16..]);
            virtio::shift(&mut f[..H], -4);
            let _ = tap.send(&f);
        }
    }
}

/// The seed with FRR in London and, for San Francisco, the node's router behind the host
/// ends of its links.
fn topology(node: &Node, vlan: Option<u16>) -> String {
    let seed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach-frr.toml"),
    )
    .unwrap();
    let vlan_line = vlan.map(|v| format!("vlan_id = {v}\n")).unwrap_or_default();
    seed.replacen(
        "provider = \"Equinix\"\n",
        &format!("provider = \"Equinix\"\n{vlan_line}"),
        1,
    )
    // IPv6 private peerings on both circuits.
    .replacen(
        "name = \"er-sv\"\n",
        "name = \"er-sv\"\npeering_prefix = \"192.168.100.0/29\"\npeering_prefix_v6 = \"fd00:100::/125\"\n",
        1,
    )
    .replacen(
        "name = \"er-london\"\n",
        "name = \"er-london\"\npeering_prefix = \"192.168.100.8/29\"\npeering_prefix_v6 = \"fd00:200::/125\"\n",
        1,
    )
    .replacen(
        "prefixes = [\"10.0.1.0/24\"]\nrouter = \"frr\"",
        &format!(
            "prefixes = [\"10.0.1.0/24\"]\nrouter = \"external\"\nports = {{ primary = \"{}\", secondary = \"{}\" }}",
            node.host[0], node.host[1]
        ),
        1,
    )
}

/// A node (its CE sending on `wire` for a circuit on `vlan`), the lab up with its ports (and
/// `up`'s `extra` arguments), and the CE's FRR started.
fn up_with_node(tag: &str, vlan: Option<u16>, wire: Option<u16>, extra: &[&str]) -> (Node, Lab) {
    let mut node = Node::new(tag, vlan.zip(wire));
    let lab = Lab::new(tag, &topology(&node, vlan));
    let out = lab.try_up(extra);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    node.start_frr();
    (node, lab)
}

fn stats_drops(lab: &Lab, circuit: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&lab.ok(&["stats", circuit, "--output", "json"])).unwrap();
    v["drops"].clone()
}

fn attach_and_cross(tag: &str, vlan: Option<u16>) {
    let mut node = Node::new(tag, vlan.map(|v| (v, v)));
    let before = [node.host_end(0), node.host_end(1)];
    let lab = Lab::new(tag, &topology(&node, vlan));
    let out = lab.try_up(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    node.start_frr();
    let up = within(20, || established(&lab, &["er-sv", "er-london"]) == 4).unwrap_or_else(|| {
        panic!(
            "4 sessions: {}\ndrops {}\nCE: {}",
            lab.ok(&["routes", "er-sv", "--summary"]),
            stats_drops(&lab, "er-sv"),
            node.vtysh("show bgp summary")
        )
    });
    eprintln!("the CE's sessions and London's: Established {up:?} after up");
    // The CE's IPv6 sessions over the port too (BGP over IPv6 reaches the port's control
    // socket by the steering program's IPv6 path), and London's FRR's, though neither site
    // announces an IPv6 prefix of its own.
    let v6 = within(20, || {
        ["er-sv", "er-london"].iter().all(|c| {
            ["primary", "secondary"].iter().all(|p| {
                common::state_pfx_rcd_in(&lab, c, p, "ipv6")
                    .parse::<u32>()
                    .is_ok()
            })
        })
    });
    assert!(
        v6.is_some(),
        "{}\n{}\nCE: {}",
        lab.ok(&["routes", "er-sv", "--summary", "--family", "ipv6"]),
        lab.ok(&["routes", "er-london", "--summary", "--family", "ipv6"]),
        node.vtysh("show bgp ipv6 unicast summary")
    );
    let bfd = within(5, || {
        node.vtysh("show bfd peers brief").matches(" up ").count() == 4
    });
    assert!(bfd.is_some(), "{}", node.vtysh("show bfd peers"));
    // Over Global Reach: London's FRR learns the CE's LAN, the CE's LAN reaches London.
    within(5, || {
        lab.vtysh("london", "show ip bgp").contains("10.0.1.0/24")
    })
    .unwrap_or_else(|| panic!("{}", lab.vtysh("london", "show ip bgp")));
    within(5, || node.ping("10.0.2.1", 1).0 == 1).expect("the CE's LAN reaches London");
    let (rx, text) = node.ping("10.0.2.1", 5);
    assert_eq!(rx, 5, "{text}");
    // The modelled round trip Silicon Valley - London is well over 100 ms.
    let avg = common::ping_avg_ms(&text);
    let expected = common::modelled_rtt_ms(&lab, "er-sv", "london");
    assert!(
        (avg - expected).abs() < 0.1 * expected + 2.0,
        "ping avg {avg} ms, modelled {expected} ms"
    );
    // The IPv6 peering: the CE reaches each MSEE's link address (neighbour discovery on the
    // port), and London's router its MSEE's over its TUN link.
    for msee in ["fd00:100::2", "fd00:100::6"] {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &node.ns, "ping", "-6", "-n", "-c", "2", "-W", "1", msee,
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let neigh = ip(&["-n", &node.ns, "-6", "neigh"]);
        let addr = ip(&["-n", &node.ns, "-6", "addr"]);
        assert_eq!(
            ping_received(&text),
            2,
            "{msee}: {text}{}\nneighbours: {}\n{}\ndrops: {}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&neigh.stdout),
            String::from_utf8_lossy(&addr.stdout),
            stats_drops(&lab, "er-sv")
        );
    }
    let out = lab.exec(
        "london",
        &["ping", "-6", "-n", "-c", "2", "-W", "1", "fd00:200::2"],
    );
    assert_eq!(
        ping_received(&String::from_utf8_lossy(&out.stdout)),
        2,
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Traceroute from the CE's LAN: the MSEE hops, then London.
    let tr = Command::new("ip")
        .args([
            "netns",
            "exec",
            &node.ns,
            "traceroute",
            "-n",
            "-w",
            "1",
            "-q",
            "1",
        ])
        .args(["-s", "10.0.1.1", "10.0.2.1"])
        .output()
        .unwrap();
    let tr = String::from_utf8_lossy(&tr.stdout).into_owned();
    assert!(
        tr.lines().last().is_some_and(|l| l.contains("10.0.2.1")),
        "{tr}"
    );
    // Nothing was dropped for another VLAN (eth1's own untagged IPv6 router solicitations
    // are, on a tagged port: `untagged`).
    let drops = stats_drops(&lab, "er-sv");
    assert_eq!(drops["wrong-vlan"], 0, "{drops}");

    // `down` leaves the interfaces exactly as it found them.
    let out = lab.down();
    assert!(out.status.success());
    assert_eq!([node.host_end(0), node.host_end(1)], before);
    drop(node);
}

#[test]
fn a_containerlab_node_attaches_untagged_and_crosses_global_reach() {
    if !root_or_skip("a_containerlab_node_attaches_untagged") {
        return;
    }
    let _load = beside_others();
    attach_and_cross("cu", None);
}

#[test]
fn a_containerlab_node_attaches_on_the_peerings_vlan() {
    if !root_or_skip("a_containerlab_node_attaches_on_the_peerings_vlan") {
        return;
    }
    let _load = beside_others();
    attach_and_cross("ct", Some(100));
}

#[test]
fn a_ce_on_the_wrong_vlan_stays_down_and_the_drops_say_why() {
    if !root_or_skip("a_ce_on_the_wrong_vlan_stays_down") {
        return;
    }
    let _load = beside_others();
    let (node, lab) = up_with_node("cw", Some(100), Some(200), &[]);
    let dropped = within(10, || {
        stats_drops(&lab, "er-sv")["wrong-vlan"]
            .as_u64()
            .is_some_and(|n| n >= 4)
    });
    assert!(dropped.is_some(), "{}", stats_drops(&lab, "er-sv"));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(established(&lab, &["er-sv"]), 0);
    assert!(!node.vtysh("show bgp summary").contains("Established"));
    // `routes --summary` says why.
    let why = within(5, || {
        lab.ok(&["routes", "er-sv", "--summary"]).contains(
            "the router's frames arrive on VLAN 200; the circuit's private peering is VLAN 100",
        )
    });
    assert!(
        why.is_some(),
        "{}",
        lab.ok(&["routes", "er-sv", "--summary"])
    );
}

#[test]
fn a_missing_or_busy_interface_is_refused_and_nothing_is_made() {
    if !root_or_skip("a_missing_or_busy_interface_is_refused") {
        return;
    }
    let _load = beside_others();
    let node = Node::new("cm", None);
    let mut topo = topology(&node, None);
    topo = topo.replace(&node.host[1], "rpnosuchif");
    let lab = Lab::new("cm", &topo);
    let out = lab.try_up(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // Pointed at in the file: FILE:LINE:COL, the site and its port.
    let file = lab.file.display().to_string();
    assert!(
        err.lines().any(|l| l.starts_with(&format!("{file}:"))
            && l.contains(
                "site sf, port secondary: port rpnosuchif: there is no interface rpnosuchif"
            )),
        "{err}"
    );
    assert!(lab.namespaces().is_empty(), "{:?}", lab.namespaces());
    // One lab has the ports: a second lab naming them is refused.
    let first = Lab::new("cb1", &topology(&node, None));
    let out = first.try_up(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut second = Lab::new("cb2", &topology(&node, None));
    // Labs find each other in the run directory they share.
    second.run_dir = first.run_dir.clone();
    let out = second.try_up(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("is lab {}'s port already", first.name)),
        "{err}"
    );
    assert!(second.namespaces().is_empty());
}

#[test]
fn a_node_on_another_host_attaches_over_vxlan_and_down_removes_only_the_vxlan() {
    if !root_or_skip("a_node_on_another_host_attaches_over_vxlan") {
        return;
    }
    let _load = beside_others();
    let mut node = Node::over_vxlan("cx");
    let hosta = node.hosts.as_ref().unwrap()[0].clone();
    let links = |ns: &str| -> Vec<String> {
        let out = ip(&["-n", ns, "-br", "link"]);
        let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect();
        v.sort();
        v
    };
    let before = links(&hosta);
    let topo = topology(&node, None).replacen(
        &format!(
            "ports = {{ primary = \"{}\", secondary = \"{}\" }}",
            node.host[0], node.host[1]
        ),
        &format!(
            "ports = {{ primary = {{ vxlan = {{ remote = \"198.51.100.2\", vni = 1001, dst_port = 14789 }}, netns = \"{hosta}\" }}, secondary = {{ vxlan = {{ remote = \"198.51.100.2\", vni = 1002, dst_port = 14789 }}, netns = \"{hosta}\" }} }}"
        ),
        1,
    );
    let lab = Lab::new("cx", &topo);
    let out = lab.try_up(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        links(&hosta).contains(&"rlvx1001".to_string()),
        "{:?}",
        links(&hosta)
    );
    node.start_frr();
    within(20, || established(&lab, &["er-sv", "er-london"]) == 4).unwrap_or_else(|| {
        panic!(
            "4 sessions: {}\nCE: {}",
            lab.ok(&["routes", "er-sv", "--summary"]),
            node.vtysh("show bgp summary")
        )
    });
    within(5, || node.ping("10.0.2.1", 1).0 == 1).expect("the CE's LAN reaches London");
    let (rx, text) = node.ping("10.0.2.1", 3);
    assert_eq!(rx, 3, "{text}");
    let out = lab.down();
    assert!(out.status.success());
    assert_eq!(
        links(&hosta),
        before,
        "down removes the VXLAN interfaces and nothing else"
    );
}

/// Pings from the CE's LAN to London every 100 ms for `secs` while `act` runs once the pings
/// have started; how many of them were lost.
fn lost_while(node: &Node, secs: u32, act: impl FnOnce()) -> u32 {
    let n = secs * 10;
    let child = Command::new("ip")
        .args([
            "netns", "exec", &node.ns, "ping", "-n", "-I", "10.0.1.1", "-i", "0.1",
        ])
        .args(["-W", "1", "-c", &n.to_string(), "10.0.2.1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    act();
    let out = child.wait_with_output().unwrap();
    n - ping_received(&String::from_utf8_lossy(&out.stdout))
}

#[test]
fn a_port_fails_over_captures_its_tag_and_survives_its_node_going_away() {
    if !root_or_skip("a_port_fails_over_captures_its_tag") {
        return;
    }
    let _load = beside_others();
    // Two workers: when the node comes back, each gets its socket of the port's new group.
    let (node, lab) = up_with_node("cr", Some(100), Some(100), &["--workers", "2"]);
    within(20, || established(&lab, &["er-sv", "er-london"]) == 4).expect("4 sessions");
    within(5, || {
        node.vtysh("show bfd peers brief").matches(" up ").count() == 4
    })
    .expect("BFD");
    within(5, || node.ping("10.0.2.1", 1).0 == 1).expect("the CE's LAN reaches London");

    // `capture` on the tagged port: Ethernet frames with the 802.1Q tag.
    let pcap = std::env::temp_dir().join(format!("reachlab-test-{}-cr.pcap", std::process::id()));
    let cap = lab
        .cmd()
        .args([
            "capture",
            "er-sv",
            "--path",
            "primary",
            "--duration",
            "2",
            "-w",
        ])
        .arg(&pcap)
        .args(["--lab", &lab.name])
        .spawn()
        .unwrap();
    node.ping("10.0.2.1", 5);
    let status = cap.wait_with_output().unwrap();
    assert!(status.status.success());
    let mut reader = PcapReader::new(std::fs::File::open(&pcap).unwrap()).unwrap();
    assert_eq!(reader.header().datalink, DataLink::ETHERNET);
    let mut frames = Vec::new();
    while let Some(p) = reader.next_packet() {
        frames.push(p.unwrap().data.into_owned());
    }
    let _ = std::fs::remove_file(&pcap);
    // The ping's frames carry the peering's tag. (Whatever else is on the wire may not: an
    // untagged IPv6 MLD report or router solicitation the node's interface sends by itself.)
    let ipv4 = |f: &[u8]| -> Option<(Option<u16>, u8)> {
        match (f.get(12..14)?, f.get(16..18)) {
            ([0x81, 0x00], Some([0x08, 0x00])) => Some((
                Some(u16::from_be_bytes([f[14], f[15]]) & 0x0fff),
                *f.get(18 + 9)?,
            )),
            ([0x08, 0x00], _) => Some((None, *f.get(14 + 9)?)),
            _ => None,
        }
    };
    let icmp: Vec<Option<u16>> = frames
        .iter()
        .filter_map(|f| ipv4(f))
        .filter(|&(_, proto)| proto == 1)
        .map(|(tag, _)| tag)
        .collect();
    assert!(
        icmp.len() >= 5,
        "{} ICMP frames of {}",
        icmp.len(),
        frames.len()
    );
    assert!(
        icmp.iter().all(|&t| t == Some(100)),
        "802.1Q tags: {icmp:?}"
    );

    // Each link fails in turn: BFD moves the traffic to the other within 1.5 s. (The ping
    // hashes onto one link each way; failing the other loses nothing.)
    let mut losses = Vec::new();
    for path in ["primary", "secondary"] {
        let lost = lost_while(&node, 4, || {
            lab.ok(&["circuit", "fail", "er-sv", path]);
        });
        eprintln!("circuit fail er-sv {path}: {lost} pings lost, 100 ms apart");
        assert!(lost <= 15, "{path}: {lost} pings lost (100 ms apart)");
        losses.push(lost);
        lab.ok(&["circuit", "restore", "er-sv", path]);
        within(20, || established(&lab, &["er-sv"]) == 2).expect("the link back");
        within(5, || {
            node.vtysh("show bfd peers brief").matches(" up ").count() == 4
        })
        .expect("BFD back");
    }
    assert!(
        losses.iter().any(|&l| l > 0),
        "a failed link carried the ping: {losses:?}"
    );

    // The node goes away (its container stopped): the links are down, the lab runs on.
    let tagged = node.tagger.is_some();
    drop(node);
    let stats = |lab: &Lab| -> serde_json::Value {
        serde_json::from_str(&lab.ok(&["stats", "er-sv", "--output", "json"])).unwrap()
    };
    within(5, || stats(&lab)["primaryState"] == "Down")
        .unwrap_or_else(|| panic!("the link is down without its interface: {}", stats(&lab)));
    let pid = nix::unistd::Pid::from_raw(lab.pid().unwrap());
    assert!(nix::sys::signal::kill(pid, None).is_ok(), "the lab runs on");
    // Redeployed under the same names: attached again within 5 s, sessions back.
    let mut node = Node::new("cr", tagged.then_some((100, 100)));
    let back = within(5, || stats(&lab)["primaryState"] == "Up")
        .unwrap_or_else(|| panic!("not attached again: {}", stats(&lab)));
    eprintln!("ports attached again {back:?} after the node came back");
    node.start_frr();
    within(20, || established(&lab, &["er-sv"]) == 2).expect("sessions back");
    // BFD too, through the new group's control socket, in both families.
    within(10, || {
        node.vtysh("show bfd peers brief").matches(" up ").count() == 4
    })
    .unwrap_or_else(|| panic!("BFD after re-attaching: {}", node.vtysh("show bfd peers")));
    within(5, || node.ping("10.0.2.1", 1).0 == 1).expect("London again");

    // kill -9, then `down`: the interfaces are as the node made them.
    let before = [node.host_end(0), node.host_end(1)];
    let pid = lab.pid().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(lab.down().status.success());
    assert_eq!([node.host_end(0), node.host_end(1)], before);
    let promisc = ip(&["-d", "link", "show", "dev", &node.host[0]]);
    assert!(
        String::from_utf8_lossy(&promisc.stdout).contains("promiscuity 0"),
        "{}",
        String::from_utf8_lossy(&promisc.stdout)
    );
}

/// With two workers a port has a packet socket per worker in one fanout group, and one more
/// that only the link's BGP and BFD reach: sixteen UDP flows from the node's LAN to London
/// reach both workers, none out of order, and the CE's sessions stay up.
#[test]
fn a_port_spreads_its_flows_over_the_workers() {
    if !root_or_skip("a_port_spreads_its_flows_over_the_workers") {
        return;
    }
    let _load = beside_others();
    let mut node = Node::new("wk", None);
    let lab = Lab::new("wk", &topology(&node, None));
    let out = lab.try_up(&["--workers", "2", "--metrics", "127.0.0.1:0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    node.start_frr();
    within(20, || established(&lab, &["er-sv", "er-london"]) == 4)
        .unwrap_or_else(|| panic!("{}", lab.ok(&["routes", "er-sv", "--summary"])));
    within(10, || node.ping("10.0.2.1", 1).0 == 1).expect("the CE's LAN reaches London");
    let log =
        std::fs::read_to_string(lab.run_dir.join(format!("{}.log", lab.name))).unwrap_or_default();
    assert!(!log.contains("no fanout group"), "{log}");
    let addr = common::metrics_addr(&lab);
    let before = common::worker_packets(&addr);
    assert_eq!(before.len(), 2, "{before:?}");
    let v = node.iperf3_to_london(
        &lab,
        5201,
        &["-u", "-t", "3", "-b", "3M", "-l", "1200", "-P", "16"],
    );
    // As in tests/workers.rs: each worker gets some (all sixteen on one: 1 in 32,768).
    let total = common::udp_flows_in_order(&v, 16);
    assert!(total > 16 * 800, "{total} datagrams");
    common::spread_over_workers(&before, &common::worker_packets(&addr), 500);
    assert_eq!(established(&lab, &["er-sv", "er-london"]), 4);
    assert!(lab.down().status.success());
    drop(node);
}

/// A 64-byte UDP flood from the node's LAN, far beyond what the lab forwards: the excess is
/// dropped at the port's data socket, but the CE's BGP and BFD reach the socket only they
/// reach (read first), so its sessions stay up through the flood.
#[test]
fn a_flood_through_a_port_leaves_the_ces_sessions_up() {
    if !root_or_skip("a_flood_through_a_port_leaves_the_ces_sessions_up") {
        return;
    }
    let _load = alone();
    let mut node = Node::new("fl", None);
    let lab = Lab::new_with(
        "fl",
        // Unshaped for the flood's sake: what limits it is reachlab, not a circuit.
        &topology(&node, None).replace("bandwidth = \"1Gbps\"", "bandwidth = \"10Gbps\""),
        "latency = \"none\"",
    );
    lab.up_detached();
    node.start_frr();
    within(20, || common::both_links_up(&lab, "er-sv"))
        .unwrap_or_else(|| panic!("{}", lab.ok(&["routes", "er-sv", "--summary"])));
    within(10, || node.ping("10.0.2.1", 1).0 == 1).expect("the CE's LAN reaches London");
    let flood = common::sessions_stay_up_through(&lab, || {
        node.iperf3_to_london(&lab, 5301, &["-u", "-l", "64", "-b", "0", "-t", "8"])
    });
    // Where the excess went: the port's sockets had no room for it (the kernel counts that
    // per socket, the workers collect it), and `stats` reports it as `ring-full` (by hand:
    // 3,645,257 of 3,653,810).
    common::ring_full_accounts_for(&lab, &flood, "the port's sockets");
    assert!(lab.down().status.success());
    drop(node);
}
