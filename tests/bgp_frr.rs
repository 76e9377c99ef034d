//! reachlab's BGP speaker against a real router: FRR's bgpd (the distribution's package) in one
//! namespace, the MSEE's speaker (`bgp::speaker` over the kernel's TCP) in another, joined by a
//! veth pair on the circuit's /30 (192.168.100.1 customer, .2 Microsoft). The session comes
//! up, routes cross both ways with the paths the MSEE gives, a withdrawal in FRR reaches the
//! MSEE, and too many prefixes close the session with Cease / Maximum Number of Prefixes
//! Reached, which FRR reports. Needs root (skipped loudly without); everything it makes is
//! removed on drop.

mod common;

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::root_or_skip;
use ipnet::IpNet;
use reachlab::bgp::session::{Config, Direction, Event, Session};
use reachlab::bgp::speaker::{run, Report};
use reachlab::bgp::wire::Attributes;
use tokio::sync::{mpsc, watch};

const BGPD: &str = "/usr/lib/frr/bgpd";

/// Two namespaces joined by a veth pair, and FRR's bgpd in the first; all removed on drop.
struct Pair {
    a: String,
    b: String,
    dir: PathBuf,
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().unwrap();
    assert!(st.success(), "ip {args:?}");
}

impl Pair {
    fn new() -> Pair {
        let id = std::process::id() % 100_000;
        let (a, b) = (format!("rlf{id}a"), format!("rlf{id}b"));
        let dir = std::env::temp_dir().join(format!("reachlab-frr-{id}"));
        let p = Pair {
            a: a.clone(),
            b: b.clone(),
            dir: dir.clone(),
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
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("frr.conf");
        std::fs::write(
            &conf,
            format!(
                "frr defaults traditional\nhostname ce\nlog file {}/bgpd.log\n\
router bgp 65001\n bgp router-id 192.168.100.1\n no bgp ebgp-requires-policy\n\
 no bgp network import-check\n neighbor 192.168.100.2 remote-as 12076\n\
 neighbor 192.168.100.2 timers connect 1\n address-family ipv4 unicast\n\
  network 10.0.1.0/24\n  network 10.0.9.9/32\n exit-address-family\n",
                dir.display()
            ),
        )
        .unwrap();
        // bgpd drops to user frr: its directory and config must be its own.
        let _ = Command::new("chown")
            .args(["-R", "frr:frr", dir.to_str().unwrap()])
            .status();
        let st = Command::new("ip")
            .args(["netns", "exec", &a, BGPD, "-d", "-Z", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("bgpd.pid"))
            .arg("--vty_socket")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "bgpd started");
        p
    }

    fn vtysh(&self, cmds: &[&str]) -> String {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.a, "vtysh", "--vty_socket"])
            .arg(&self.dir);
        for cmd in cmds {
            c.args(["-c", cmd]);
        }
        let out = c.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
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
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("bgpd.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
                let deadline = Instant::now() + Duration::from_secs(3);
                while std::path::Path::new(&format!("/proc/{pid}/exe")).exists()
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
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
    assert!(
        std::path::Path::new(BGPD).exists(),
        "FRR is not installed (scripts/install-deps.sh installs the frr package)"
    );
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
        run(stream, Session::new(cfg), epoch, announce_rx, reports_tx).await
    });

    // Up, with FRR's two networks in the MSEE's routes, AS path [65001].
    let frr_log = pair.dir.join("bgpd.log");
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
    // FRR also passes the MSEE's own route back (65001 12076): the MSEE's allowas-in 2
    // accepts it, as the real one does.
    if let Some(back) = r.received.get(&"10.0.3.0/24".parse().unwrap()) {
        assert_eq!(back.as_path, [65001, 12076]);
    }
    // FRR has the MSEE's route, path 12076, and counts the session Established.
    let table = pair.wait_frr("show bgp ipv4 unicast", |o| o.contains("10.0.3.0/24"));
    assert!(table.contains("10.0.3.0/24"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("10.0.3.0/24") && l.contains("12076")),
        "{table}"
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

    // Three more prefixes, past the limit of 4: the MSEE closes the session with
    // Cease / Maximum Number of Prefixes Reached, and FRR says so.
    pair.vtysh(&[
        "configure terminal",
        "router bgp 65001",
        "address-family ipv4 unicast",
        "network 10.0.9.1/32",
        "network 10.0.9.2/32",
        "network 10.0.9.3/32",
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
