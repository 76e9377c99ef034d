//! reachlab's BGP speaker against a real router: FRR (the distribution's zebra and bgpd,
//! configured and started by `lab::frr`) in one namespace, the MSEE's speaker (`lab::bgp::speaker` over the kernel's TCP) in another, joined by a
//! veth pair on the circuit's /30 (192.168.100.1 customer, .2 Microsoft). The session comes
//! up, routes cross both ways with the paths the MSEE gives, a withdrawal in FRR reaches the
//! MSEE, and too many prefixes close the session with Cease / Maximum Number of Prefixes
//! Reached, which FRR reports. Needs root (skipped loudly without); everything it makes is
//! removed on drop.

mod common;

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::process::Command;
use std::time::{Duration, Instant};

use common::root_or_skip;
use ipnet::IpNet;
use reachlab::bgp::session::{Config, Direction, Event, Session};
use reachlab::bgp::wire::Attributes;
use reachlab::lab::bgp::speaker::{run, Io, Report};
use reachlab::lab::frr::{self, Daemons, SiteRouter};
use tokio::sync::{mpsc, watch};

/// Two namespaces joined by a veth pair, and FRR (zebra, bgpd) in the first, started by
/// reachlab's own `lab::frr`; all removed on drop.
struct Pair {
    a: String,
    b: String,
    frr: Option<Daemons>,
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().unwrap();
    assert!(st.success(), "ip {args:?}");
}

impl Pair {
    fn new() -> Pair {
        let id = std::process::id() % 100_000;
        let (a, b) = (format!("rlf{id}a"), format!("rlf{id}b"));
        let mut p = Pair {
            a: a.clone(),
            b: b.clone(),
            frr: None,
        };
        ip(&["netns", "add", &a]);
        ip(&["netns", "add", &b]);
        let (x, y) = (format!("rlf{id}x"), format!("rlf{id}y"));
        ip(&["link", "add", &x, "type", "veth", "peer", "name", &y]);
        ip(&["link", "set", &x, "netns", &a]);
        ip(&["link", "set", &y, "netns", &b]);
        for (ns, dev, addr) in [(&a, &x, "192.168.100.1/30"), (&b, &y, "192.168.100.2/30")] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let dir = std::env::temp_dir().join(format!("reachlab-frr-{id}"));
        let router = SiteRouter {
            hostname: "ce".into(),
            asn: 65001,
            router_id: "192.168.100.1".parse().unwrap(),
            neighbors: vec!["192.168.100.2".parse().unwrap()],
            networks: vec![
                "10.0.1.0/24".parse().unwrap(),
                "10.0.9.9/32".parse().unwrap(),
            ],
            connect_retry: 1,
            lan_source: None,
            lan_source_v6: None,
            passwords: Default::default(),
        };
        let conf = frr::config(&router, &dir.join("frr.log"));
        p.frr = Some(Daemons::start(&a, &dir, &conf).expect("FRR starts"));
        p
    }

    fn vtysh(&self, cmds: &[&str]) -> String {
        self.frr.as_ref().unwrap().vtysh(cmds)
    }

    /// Waits (at most 10 s) until vtysh's answer to `cmd` satisfies `ok`.
    fn wait_frr(&self, cmd: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.vtysh(&[cmd]);
            if ok(&out) || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A listening socket on the MSEE's address, made inside the second namespace.
    fn listener(&self) -> std::net::TcpListener {
        let ns = self.b.clone();
        std::thread::spawn(move || {
            let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
            nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            std::net::TcpListener::bind("192.168.100.2:179").unwrap()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        if let Some(d) = &self.frr {
            let pids = d.pids();
            d.stop();
            for p in pids {
                assert!(
                    !std::path::Path::new(&format!("/proc/{p}/exe")).exists(),
                    "FRR daemon {p} stopped"
                );
            }
        }
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

async fn until(rx: &mut mpsc::UnboundedReceiver<Report>, ok: impl Fn(&Report) -> bool) -> Report {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let r = rx.recv().await.expect("a report");
            eprintln!("report: {:?}, {} routes", r.event, r.received.len());
            if ok(&r) {
                return r;
            }
        }
    })
    .await
    .expect("within 10 s")
}

#[tokio::test]
async fn frr_peers_with_the_msee_speaker() {
    if !root_or_skip("frr_peers_with_the_msee_speaker") {
        return;
    }
    let pair = Pair::new();
    let listener = tokio::net::TcpListener::from_std({
        let l = pair.listener();
        l.set_nonblocking(true).unwrap();
        l
    })
    .unwrap();
    let mut cfg = Config::msee("192.168.100.2".parse().unwrap(), 65001, false);
    cfg.prefix_limit = [Some(4), Some(100)];
    let announce: BTreeMap<IpNet, Attributes> = [(
        "10.0.3.0/24".parse().unwrap(),
        Attributes {
            as_path: vec![12076],
            next_hop: Some("192.168.100.2".parse().unwrap()),
            ..Default::default()
        },
    )]
    .into_iter()
    .collect();
    let (_announce_tx, announce_rx) = watch::channel(announce);
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let epoch = Instant::now();
    let speaker = tokio::spawn(async move {
        let (stream, peer) = tokio::time::timeout(Duration::from_secs(15), listener.accept())
            .await
            .expect("FRR connects within 15 s")
            .unwrap();
        assert_eq!(peer.ip().to_string(), "192.168.100.1");
        let (_bfd_tx, bfd_down) = watch::channel(0);
        let io = Io {
            epoch,
            announce: announce_rx,
            reports: reports_tx,
            bfd_down,
            counters: std::sync::Arc::new(watch::channel(Default::default()).0),
        };
        run(stream, Session::new(cfg), io).await
    });

    // Up, with FRR's two networks in the MSEE's routes, AS path [65001].
    let frr_log = pair.frr.as_ref().unwrap().dir.join("frr.log");
    let up = tokio::time::timeout(
        Duration::from_secs(20),
        until(&mut reports, |r| r.event == Event::Established),
    )
    .await;
    assert!(
        up.is_ok(),
        "no session: FRR says\n{}\n{}",
        pair.vtysh(&["show bgp summary"]),
        std::fs::read_to_string(&frr_log).unwrap_or_default()
    );
    let own = |r: &Report| -> Vec<String> {
        r.received
            .iter()
            .filter(|(_, a)| a.as_path == [65001])
            .map(|(p, _)| p.to_string())
            .collect()
    };
    let r = until(&mut reports, |r| own(r).len() == 2).await;
    assert_eq!(own(&r), ["10.0.1.0/24", "10.0.9.9/32"]);
    // The config reachlab writes announces FRR's own routes only: the MSEE's route is not
    // passed back to it (its allowas-in 2 would accept it, as the real one does).
    assert_eq!(r.received.len(), 2, "{:?}", r.received.keys());
    // FRR has the MSEE's route, path 12076, and counts the session Established.
    let table = pair.wait_frr("show bgp ipv4 unicast", |o| o.contains("10.0.3.0/24"));
    assert!(table.contains("10.0.3.0/24"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("10.0.3.0/24") && l.contains("12076")),
        "{table}"
    );
    // zebra put it in the site namespace's kernel table, via the MSEE.
    let deadline = Instant::now() + Duration::from_secs(10);
    let route = loop {
        let out = Command::new("ip")
            .args(["-n", &pair.a, "route", "show", "10.0.3.0/24"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("proto bgp") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        route.contains("via 192.168.100.2") && route.contains("proto bgp"),
        "{route:?}"
    );
    let summary = pair.vtysh(&["show bgp summary"]);
    let line = summary
        .lines()
        .find(|l| l.starts_with("192.168.100.2"))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(line.contains("12076"), "{line}");
    eprintln!("FRR: {line}");

    // A withdrawal in FRR reaches the MSEE.
    pair.vtysh(&[
        "configure terminal",
        "router bgp 65001",
        "address-family ipv4 unicast",
        "no network 10.0.9.9/32",
    ]);
    let r = until(&mut reports, |r| own(r).len() == 1).await;
    assert_eq!(own(&r), ["10.0.1.0/24"]);

    // Four more prefixes, past the limit of 4: the MSEE closes the session with
    // Cease / Maximum Number of Prefixes Reached, and FRR says so.
    pair.vtysh(&[
        "configure terminal",
        "router bgp 65001",
        "address-family ipv4 unicast",
        "network 10.0.9.1/32",
        "network 10.0.9.2/32",
        "network 10.0.9.3/32",
        "network 10.0.9.4/32",
    ]);
    let down = until(&mut reports, |r| matches!(r.event, Event::Down { .. })).await;
    let Event::Down {
        notification: Some((Direction::Sent, n)),
        ..
    } = &down.event
    else {
        panic!("{down:?}")
    };
    assert_eq!((n.code, n.subcode), (6, 1));
    let session = tokio::time::timeout(Duration::from_secs(5), speaker)
        .await
        .expect("the session ends")
        .unwrap();
    assert!(
        session.idle_until().is_some(),
        "held down for the restart delay"
    );
    let neighbor = pair.wait_frr("show bgp neighbors 192.168.100.2", |o| {
        o.contains("Maximum Number of Prefixes Reached")
    });
    assert!(
        neighbor.contains("Maximum Number of Prefixes Reached"),
        "{neighbor}"
    );
}
