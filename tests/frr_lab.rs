//! The seed with FRR at both sites (`router = "frr"`), in real namespaces: the four sessions
//! come up, London's FRR learns the VNets (path 12076) but not San Francisco until Global
//! Reach is added, routes come from what the routers announce (a /32 the file does not list),
//! pings follow every change, `reachlab test` agrees with the rules, and `down` leaves no FRR
//! process. Needs root and FRR (skipped loudly without root).

mod common;

use std::time::{Duration, Instant};

use common::{bfd_up, established, root_or_skip, scrape, state_pfx_rcd, within, Lab};

fn frr_seed() -> String {
    let seed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach-frr.toml"),
    )
    .unwrap();
    // Without Global Reach to start with.
    let i = seed.find("[[global_reach]]").unwrap();
    seed[..i].to_string()
}

fn run(lab: &Lab, args: &[&str]) -> String {
    lab.ok(args)
}

#[test]
fn frr_sites_peer_with_the_msees_and_routes_follow_bgp() {
    if !root_or_skip("frr_sites_peer_with_the_msees") {
        return;
    }
    let lab = Lab::new("frr", &frr_seed());
    let out = lab.try_up(&["--metrics", "127.0.0.1:0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let up = within(15, || established(&lab, &["er-sv", "er-london"]) == 4).unwrap_or_else(|| {
        panic!(
            "4 sessions: {}",
            run(&lab, &["routes", "er-sv", "--summary"])
        )
    });
    eprintln!("all four sessions Established {up:?} after up returned");
    let summary = lab.vtysh("london", "show bgp summary");
    assert!(summary.contains("12076"), "{summary}");
    // The metrics count the sessions and their prefixes.
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(lab.run_dir.join(&lab.name).join("state.json")).unwrap(),
    )
    .unwrap();
    let (_, body) = scrape(state["metrics"].as_str().unwrap(), "/metrics");
    let up: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("reachlab_bgp_session_established{") && l.ends_with(" 1"))
        .collect();
    assert_eq!(up.len(), 4, "{body}");
    assert!(
        body.lines()
            .any(|l| l.starts_with("reachlab_bgp_prefixes_advertised{")
                && l.contains("site=\"london\"")
                && l.ends_with(" 2")),
        "London is told the two VNets: {body}"
    );

    // London's FRR has both VNets through the MSEEs (path 12076), not San Francisco.
    let table = lab.vtysh("london", "show ip bgp");
    for vnet in ["10.0.3.0/24", "10.0.4.0/24"] {
        assert!(
            table
                .lines()
                .any(|l| l.contains(vnet) && l.trim_end().ends_with("12076 i")),
            "{vnet} in\n{table}"
        );
    }
    assert!(!table.contains("10.0.1.0/24"), "{table}");
    // Once sf's FRR has put the VNet's route in its kernel, sf reaches it; London it cannot.
    let vnet = within(5, || lab.ping("sf", "10.0.3.1", 1).0 == 1).expect("sf reaches its VNet");
    eprintln!("sf reaches uswest {vnet:?} after the sessions came up");
    assert_eq!(lab.ping("sf", "10.0.2.1", 1).0, 0);

    // Global Reach: London's FRR learns San Francisco within 2 s, and pings cross.
    run(
        &lab,
        &[
            "global-reach",
            "add",
            "er-sv",
            "er-london",
            "--address-prefix",
            "192.168.8.0/29",
        ],
    );
    let learned = within(5, || {
        lab.vtysh("london", "show ip bgp").contains("10.0.1.0/24")
    })
    .expect("10.0.1.0/24 at London");
    eprintln!("London's FRR learned 10.0.1.0/24 {learned:?} after global-reach add");
    assert!(learned < Duration::from_secs(2), "{learned:?}");
    // San Francisco's router learns London's prefix the same way: pings cross.
    let crossed = within(5, || lab.ping("sf", "10.0.2.1", 1).0 == 1).expect("sf reaches London");
    eprintln!("sf reaches London {crossed:?} after London learned sf");
    let (rx, out) = lab.ping("sf", "10.0.2.1", 3);
    assert_eq!(rx, 3, "{out}");
    // sf's router announces its own prefix only: what it learned from one MSEE (London, the
    // VNets) is not passed to the other, which would accept it (allowas-in 2).
    for msee in ["192.168.100.2", "192.168.100.6"] {
        let adv = lab.vtysh(
            "sf",
            &format!("show ip bgp neighbors {msee} advertised-routes"),
        );
        assert!(adv.contains("10.0.1.0/24"), "{msee}: {adv}");
        for learned in ["10.0.2.0/24", "10.0.3.0/24"] {
            assert!(!adv.contains(learned), "{msee} is sent {learned}: {adv}");
        }
    }

    // Routes come from the router: a /32 sf's FRR announces (not in the file) reaches the
    // MSEE, is reachable from a VNet and over Global Reach, and goes when withdrawn.
    let ex = |args: &[&str]| {
        let out = lab.exec("sf", args);
        assert!(out.status.success(), "{args:?}");
    };
    ex(&["ip", "addr", "add", "10.0.99.1/32", "dev", "lo"]);
    ex(&[
        "vtysh",
        "-c",
        "configure terminal",
        "-c",
        "router bgp 65001",
        "-c",
        "address-family ipv4 unicast",
        "-c",
        "network 10.0.99.1/32",
    ]);
    let seen = within(5, || {
        run(&lab, &["routes", "er-sv"]).contains("10.0.99.1/32")
    })
    .expect("the /32 at the MSEE");
    assert!(seen < Duration::from_secs(2), "{seen:?}");
    assert_eq!(lab.ping("uswest", "10.0.99.1", 1).0, 1);
    assert!(within(5, || lab.ping("london", "10.0.99.1", 1).0 == 1).is_some());
    ex(&[
        "vtysh",
        "-c",
        "configure terminal",
        "-c",
        "router bgp 65001",
        "-c",
        "address-family ipv4 unicast",
        "-c",
        "no network 10.0.99.1/32",
    ]);
    let gone = within(5, || {
        !run(&lab, &["routes", "er-sv"]).contains("10.0.99.1/32")
    })
    .expect("withdrawn");
    assert!(gone < Duration::from_secs(2), "{gone:?}");
    assert_eq!(lab.ping("uswest", "10.0.99.1", 1).0, 0);

    // A failed link (the provider's path; the router's interface stays up): BFD takes that
    // session down within a second and the site's traffic keeps flowing over the other link;
    // restored, the session returns.
    let summary = |p: &str| state_pfx_rcd(&lab, "er-sv", p);
    assert!(within(10, || bfd_up(&lab, "sf") == 2).is_some());
    run(&lab, &["circuit", "fail", "er-sv", "primary"]);
    let down = within(5, || summary("primary") == "Idle").expect("the primary session goes down");
    eprintln!("primary session down {down:?} after circuit fail");
    assert!(down < Duration::from_secs(2), "{down:?}");
    // FRR's side too (each end's BFD detects on its own clock), down to sf's kernel routes.
    let via_primary = || {
        let out = lab.exec("sf", &["ip", "route", "show", "10.0.2.0/24"]);
        String::from_utf8_lossy(&out.stdout).contains("dev primary")
    };
    assert!(within(2, || frr_state(&lab, "sf", "192.168.100.2")
        != "Established"
        && !via_primary())
    .is_some());
    let (rx, out) = lab.ping("sf", "10.0.2.1", 5);
    assert_eq!(rx, 5, "over the secondary link: {out}");
    run(&lab, &["circuit", "restore", "er-sv", "primary"]);
    let back = within(15, || summary("primary").parse::<u32>().is_ok())
        .expect("the primary session returns");
    eprintln!("primary session back {back:?} after circuit restore");

    // Every pair as the rules say.
    lab.test_passes();

    // London's BGP daemon dies: its sessions close, and `reachlab test` expects London cut
    // off (a circuit whose router has no session carries nothing), not a mismatch.
    let bgpd: i32 = std::fs::read_to_string(
        lab.run_dir
            .join(&lab.name)
            .join("frr")
            .join("london")
            .join("bgpd.pid"),
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(bgpd),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(within(5, || established(&lab, &["er-london"]) == 0).is_some());
    assert!(within(5, || lab.ping("sf", "10.0.2.1", 1).0 == 0).is_some());
    let text = lab.test_passes();
    assert!(text.contains("london     .   -"), "{text}");
    // Global Reach removed: London forgets San Francisco within 2 s.
    run(&lab, &["global-reach", "remove", "er-sv", "er-london"]);
    let forgot = within(5, || {
        !lab.vtysh("london", "show ip bgp").contains("10.0.1.0/24")
    })
    .expect("withdrawn at London");
    assert!(forgot < Duration::from_secs(2), "{forgot:?}");
    assert_eq!(lab.ping("sf", "10.0.2.1", 1).0, 0);

    // Down: no FRR process of the lab is left.
    let pids: Vec<String> = std::fs::read_dir(lab.run_dir.join(&lab.name).join("frr"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .filter(|f| f.path().extension().is_some_and(|e| e == "pid"))
        .map(|f| {
            std::fs::read_to_string(f.path())
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(
        pids.len(),
        6,
        "zebra, bfdd and bgpd at each site (london's bgpd killed above)"
    );
    let out = lab.down();
    assert!(out.status.success());
    for p in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}/exe")).exists(),
            "FRR process {p} left"
        );
    }
    assert!(lab.namespaces().is_empty());
}

/// One site of each kind: sf with the built-in router, london with FRR started by reachlab,
/// tokyo `external` with FRR the test starts itself in the site's namespace. Global Reach
/// sv-london and london-tokyo: every pair reaches exactly what the rules allow.
#[test]
fn a_mixed_lab_reaches_what_the_rules_allow() {
    if !root_or_skip("a_mixed_lab_reaches_what_the_rules_allow") {
        return;
    }
    let lab = Lab::new_with(
        "mixed",
        r#"
[[circuit]]
name = "er-sv"
peering_location = "Silicon Valley"
bandwidth = "1Gbps"
sku = "Premium"
[[circuit]]
name = "er-london"
peering_location = "London"
bandwidth = "1Gbps"
sku = "Premium"
[[circuit]]
name = "er-tokyo"
peering_location = "Tokyo"
bandwidth = "1Gbps"
sku = "Premium"
peering_prefix = "192.168.102.0/29"
[[site]]
name = "sf"
circuit = "er-sv"
prefixes = ["10.0.1.0/24"]
[[site]]
name = "london"
circuit = "er-london"
prefixes = ["10.0.2.0/24"]
router = "frr"
[[site]]
name = "tokyo"
circuit = "er-tokyo"
prefixes = ["10.0.5.0/24"]
asn = 65005
router = "external"
[[vnet]]
name = "uswest"
region = "westus"
prefixes = ["10.0.3.0/24"]
circuits = ["er-sv"]
[[global_reach]]
circuits = ["er-sv", "er-london"]
address_prefix = "192.168.8.0/29"
[[global_reach]]
circuits = ["er-london", "er-tokyo"]
address_prefix = "192.168.8.8/29"
"#,
        "latency = \"none\"",
    );
    lab.up_detached();
    // reachlab started nothing in tokyo: its router is the test's.
    let dir = lab.file.with_file_name("tokyo-frr");
    let router = reachlab::lab::frr::SiteRouter {
        hostname: "tokyo".into(),
        asn: 65005,
        router_id: "192.168.102.1".parse().unwrap(),
        neighbors: vec![
            "192.168.102.2".parse().unwrap(),
            "192.168.102.6".parse().unwrap(),
        ],
        networks: vec!["10.0.5.0/24".parse().unwrap()],
        connect_retry: 1,
        lan_source: Some("10.0.5.1".parse().unwrap()),
        lan_source_v6: None,
        passwords: Default::default(),
    };
    let conf = reachlab::lab::frr::config(&router, &dir.join("frr.log"));
    let ns = format!("rl-{}-tokyo", lab.name);
    // Stopped whatever happens (a guard, dropped before the lab).
    struct Stop(reachlab::lab::frr::Daemons);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.stop();
        }
    }
    let _tokyo = Stop(reachlab::lab::frr::Daemons::start(&ns, &dir, &conf).expect("FRR in tokyo"));
    let up = within(15, || established(&lab, &["er-london", "er-tokyo"]) == 4);
    assert!(
        up.is_some(),
        "{}",
        run(&lab, &["routes", "er-tokyo", "--summary"])
    );
    // Converged when london reaches both its neighbours' sites.
    assert!(within(10, || lab.ping("london", "10.0.5.1", 1).0 == 1
        && lab.ping("london", "10.0.1.1", 1).0 == 1)
    .is_some());
    let text = lab.test_passes();
    eprintln!("{text}");
    // Not transitive: sf and tokyo do not reach each other.
    assert!(text.contains("0 mismatches"), "{text}");
}

/// A router of the user's own configuration announcing 4,001 prefixes to a Standard circuit's
/// MSEEs: each closes its session with Cease / Maximum Number of Prefixes Reached (FRR shows
/// it) and takes no new one before the restart delay; once the router announces fewer, the
/// sessions come back.
#[test]
fn too_many_prefixes_close_the_session_until_fewer_are_announced() {
    if !root_or_skip("too_many_prefixes_close_the_session") {
        return;
    }
    let lab = Lab::new_with(
        "maxpfx",
        r#"
[[circuit]]
name = "er-x"
peering_location = "London"
bandwidth = "1Gbps"
sku = "Standard"
[[site]]
name = "big"
circuit = "er-x"
prefixes = ["10.0.1.0/24"]
asn = 65001
router = "frr"
router_config = "big.conf"
"#,
        "latency = \"none\"\nprefix_limit_restart = \"2s\"",
    );
    let conf = big_config(4000);
    std::fs::write(lab.file.with_file_name("big.conf"), conf).unwrap();
    lab.up_detached();
    let state = || state_pfx_rcd(&lab, "er-x", "primary");
    let neighbor = || lab.vtysh("big", "show bgp neighbors 192.168.100.2");
    let closed = within(30, || {
        neighbor().contains("Maximum Number of Prefixes Reached")
    });
    assert!(closed.is_some(), "{}", neighbor());
    assert_eq!(state(), "Idle");
    // Two fewer: 3,999 prefixes. The sessions return once the restart delay has passed.
    run_vtysh_config(
        &lab,
        &["no network 10.100.0.1/32", "no network 10.100.0.2/32"],
    );
    let back = within(30, || state() == "3999").expect("the session returns with 3,999 prefixes");
    eprintln!("back {back:?} after announcing fewer");
}

/// FRR's BGP state toward `neighbor` ("Established", "Idle", "Active", ...).
fn frr_state(lab: &Lab, site: &str, neighbor: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&lab.vtysh(site, &format!("show bgp neighbors {neighbor} json")))
            .unwrap_or_default();
    v[neighbor]["bgpState"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Fails `path` of er-sv while sf pings London every 100 ms; how long FRR took to see the
/// session down, and how many of 40 pings were lost. Restores the link and waits for the four
/// sessions again.
fn fail_while_pinging(lab: &Lab, path: &str, msee: &str) -> (Duration, u32) {
    assert!(within(10, || bfd_up(lab, "sf") == 2).is_some());
    let pinger = {
        let cmd = lab.cmd();
        let name = lab.name.clone();
        std::thread::spawn(move || {
            let mut cmd = cmd;
            let out = cmd
                .args(["exec", "--lab", &name, "sf", "--"])
                .args(["ping", "-n", "-q", "-c", "40", "-i", "0.1", "-W", "1"])
                .arg("10.0.2.1")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let rx: u32 = text
                .split(", ")
                .find_map(|p| p.strip_suffix(" received"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            (rx, text)
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    run(lab, &["circuit", "fail", "er-sv", path]);
    let down = within(10, || frr_state(lab, "sf", msee) != "Established")
        .unwrap_or_else(|| panic!("FRR keeps the {path} session"));
    let (rx, text) = pinger.join().unwrap();
    eprintln!("{path}: FRR down after {down:?}; {text}");
    run(lab, &["circuit", "restore", "er-sv", path]);
    assert!(
        within(20, || established(lab, &["er-sv"]) == 2).is_some(),
        "the {path} session returns"
    );
    (down, 40 - rx)
}

/// A failed link whose interface stays up (the provider's path): with BFD (reachlab's FRR
/// config, the MSEE's 300 ms x 3) FRR sees the session down within 1.5 s and a 10/s ping
/// loses under 1.5 s, on whichever link carried it; the session returns on `restore`.
#[test]
fn bfd_takes_a_failed_link_down_within_a_second_and_a_half() {
    if !root_or_skip("bfd_takes_a_failed_link_down") {
        return;
    }
    let seed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach-frr.toml"),
    )
    .unwrap();
    let lab = Lab::new("bfd", &seed);
    lab.up_detached();
    assert!(within(20, || established(&lab, &["er-sv", "er-london"]) == 4).is_some());
    assert!(within(10, || lab.ping("sf", "10.0.2.1", 1).0 == 1).is_some());
    assert!(
        within(10, || bfd_up(&lab, "sf") == 2).is_some(),
        "{}",
        lab.vtysh("sf", "show bfd peers brief")
    );
    let mut lost = 0;
    for (path, msee) in [("primary", "192.168.100.2"), ("secondary", "192.168.100.6")] {
        let (down, n) = fail_while_pinging(&lab, path, msee);
        assert!(down < Duration::from_millis(1500), "{path}: {down:?}");
        assert!(n < 15, "{path}: {n} pings of 100 ms lost");
        lost += n;
        let reason = lab.vtysh("sf", &format!("show bgp neighbors {msee}"));
        assert!(reason.contains("BFD"), "{reason}");
    }
    // Each direction's flow used one of the two links: failing both in turn lost some.
    assert!(lost > 0, "neither failure touched the ping");
    let m = lab.ok(&["routes", "er-sv", "--summary"]);
    assert!(m.contains("customer sf"), "{m}");
}

/// The same failure with a user config that leaves BFD off and sets a 3 s hold time: FRR
/// notices only when the hold timer expires, after well over 1.5 s.
#[test]
fn without_bfd_a_failed_link_waits_for_the_hold_timer() {
    if !root_or_skip("without_bfd_the_hold_timer") {
        return;
    }
    let lab = Lab::new_with(
        "nobfd",
        r#"
[[circuit]]
name = "er-sv"
peering_location = "Silicon Valley"
bandwidth = "1Gbps"
sku = "Standard"
[[site]]
name = "sf"
circuit = "er-sv"
prefixes = ["10.0.1.0/24"]
asn = 65001
router = "frr"
router_config = "sf.conf"
"#,
        "latency = \"none\"",
    );
    let mut conf = String::from(
        "frr defaults traditional\nhostname sf\nrouter bgp 65001\n bgp router-id 192.168.100.1\n\
 no bgp ebgp-requires-policy\n no bgp network import-check\n",
    );
    for n in ["192.168.100.2", "192.168.100.6"] {
        conf += &format!(
            " neighbor {n} remote-as 12076\n neighbor {n} timers connect 1\n neighbor {n} timers 1 3\n"
        );
    }
    conf += " address-family ipv4 unicast\n  network 10.0.1.0/24\n exit-address-family\n";
    std::fs::write(lab.file.with_file_name("sf.conf"), conf).unwrap();
    lab.up_detached();
    assert!(within(20, || established(&lab, &["er-sv"]) == 2).is_some());
    assert_eq!(
        lab.vtysh("sf", "show bfd peers brief")
            .matches(" up ")
            .count(),
        0
    );
    let t0 = Instant::now();
    run(&lab, &["circuit", "fail", "er-sv", "primary"]);
    within(10, || {
        frr_state(&lab, "sf", "192.168.100.2") != "Established"
    })
    .expect("the hold timer expires");
    let down = t0.elapsed();
    eprintln!("without BFD: FRR down after {down:?}");
    assert!(
        down > Duration::from_millis(1500) && down < Duration::from_secs(6),
        "{down:?}"
    );
    let why = lab.vtysh("sf", "show bgp neighbors 192.168.100.2");
    assert!(why.to_lowercase().contains("hold timer"), "{why}");
    // The MSEE's end expired too (its hold timer is the same 3 s).
    assert!(within(5, || state_pfx_rcd(&lab, "er-sv", "primary") == "Idle").is_some());
}

/// A circuit with `shared_key`: reachlab's FRR config uses the same key and the sessions come
/// up (TCP MD5 on both ends); the router given another key stays down, and `routes --summary`
/// says why; the right key again brings it back.
#[test]
fn md5_the_same_key_comes_up_a_different_one_stays_down_with_the_reason() {
    if !root_or_skip("md5_keys") {
        return;
    }
    let lab = Lab::new_with(
        "md5",
        r#"
[[circuit]]
name = "er-x"
peering_location = "London"
bandwidth = "1Gbps"
shared_key = "Key123"
[[site]]
name = "a"
circuit = "er-x"
prefixes = ["10.0.1.0/24"]
asn = 65001
router = "frr"
"#,
        "latency = \"none\"",
    );
    lab.up_detached();
    assert!(within(20, || established(&lab, &["er-x"]) == 2).is_some());
    let conf = lab.vtysh("a", "show running-config");
    assert!(
        conf.contains("neighbor 192.168.100.2 password Key123"),
        "{conf}"
    );
    let set_key = |key: &str| {
        let line = format!("neighbor 192.168.100.2 password {key}");
        let out = lab.exec(
            "a",
            &[
                "vtysh",
                "-c",
                "configure terminal",
                "-c",
                "router bgp 65001",
                "-c",
                &line,
            ],
        );
        assert!(out.status.success());
    };
    set_key("Wrong1");
    let summary = || lab.ok(&["routes", "er-x", "--summary"]);
    let why = "192.168.100.1 (customer a) is Idle: TCP MD5 signature mismatch";
    within(15, || summary().contains(why)).unwrap_or_else(|| panic!("{}", summary()));
    std::thread::sleep(Duration::from_secs(3));
    assert_ne!(frr_state(&lab, "a", "192.168.100.2"), "Established");
    assert_eq!(state_pfx_rcd(&lab, "er-x", "primary"), "Idle");
    // The secondary, keyed right, stayed up all along.
    assert_eq!(state_pfx_rcd(&lab, "er-x", "secondary"), "1");
    set_key("Key123");
    assert!(
        within(20, || established(&lab, &["er-x"]) == 2).is_some(),
        "{}",
        summary()
    );
    assert!(!summary().contains("MD5"), "{}", summary());
}

/// Site `big`'s own FRR config: AS 65001 on er-x's default links, announcing 10.0.1.0/24 and
/// `n` host routes 10.100.x.y/32.
fn big_config(n: u32) -> String {
    let mut conf = String::from(
        "frr defaults traditional\nhostname big\nrouter bgp 65001\n bgp router-id 192.168.100.1\n\
 no bgp ebgp-requires-policy\n no bgp network import-check\n",
    );
    for nb in ["192.168.100.2", "192.168.100.6"] {
        conf += &format!(" neighbor {nb} remote-as 12076\n neighbor {nb} timers connect 1\n");
    }
    conf += " address-family ipv4 unicast\n  network 10.0.1.0/24\n";
    for i in 0..n {
        conf += &format!("  network 10.100.{}.{}/32\n", i / 250, i % 250 + 1);
    }
    conf += " exit-address-family\n";
    conf
}

/// A Premium circuit takes 10,000 prefixes: the router's /24 and 9,999 host routes are all
/// accepted on both links, and the sessions stay up.
#[test]
fn ten_thousand_prefixes_on_a_premium_circuit_are_accepted() {
    if !root_or_skip("ten_thousand_prefixes_on_premium") {
        return;
    }
    let lab = Lab::new_with(
        "premium10k",
        r#"
[[circuit]]
name = "er-x"
peering_location = "London"
bandwidth = "1Gbps"
sku = "Premium"
[[site]]
name = "big"
circuit = "er-x"
prefixes = ["10.0.1.0/24"]
asn = 65001
router = "frr"
router_config = "big.conf"
"#,
        "latency = \"none\"",
    );
    std::fs::write(lab.file.with_file_name("big.conf"), big_config(9_999)).unwrap();
    lab.up_detached();
    let all = within(60, || {
        state_pfx_rcd(&lab, "er-x", "primary") == "10000"
            && state_pfx_rcd(&lab, "er-x", "secondary") == "10000"
    });
    assert!(
        all.is_some(),
        "{}",
        lab.ok(&["routes", "er-x", "--summary"])
    );
    eprintln!("10,000 prefixes on both links {all:?} after up");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(state_pfx_rcd(&lab, "er-x", "primary"), "10000");
    let table = lab.ok(&["routes", "er-x", "--output", "json"]);
    assert!(table.contains("10.100.39.249/32"), "the last host route");
}

/// kill -9 of a lab whose site runs FRR leaves the daemons running (they are not its
/// children); `down` then stops them by their PIDs and removes every namespace and file.
#[test]
fn down_after_kill_9_stops_frr_and_removes_everything() {
    if !root_or_skip("frr_down_after_kill_9") {
        return;
    }
    let lab = Lab::new_with(
        "frrkill",
        r#"
[[circuit]]
name = "er-x"
peering_location = "London"
bandwidth = "1Gbps"
[[site]]
name = "a"
circuit = "er-x"
prefixes = ["10.0.1.0/24"]
router = "frr"
"#,
        "latency = \"none\"",
    );
    lab.up_detached();
    assert!(within(20, || established(&lab, &["er-x"]) == 2).is_some());
    let lab_dir = lab.run_dir.join(&lab.name);
    let frr_dir = lab_dir.join("frr").join("a");
    let pids: Vec<i32> = ["zebra", "bfdd", "bgpd"]
        .iter()
        .map(|d| {
            std::fs::read_to_string(frr_dir.join(format!("{d}.pid")))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    let alive = |p: i32| std::path::Path::new(&format!("/proc/{p}/exe")).exists();
    let pid = lab.pid().expect("the lab's pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(within(5, || !alive(pid)).is_some());
    assert!(
        pids.iter().all(|p| alive(*p)),
        "FRR outlives the lab's process"
    );
    let out = lab.down();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for p in pids {
        assert!(!alive(p), "FRR process {p} left");
    }
    assert!(!lab_dir.exists(), "{} left", lab_dir.display());
    let left: Vec<String> = String::from_utf8_lossy(
        &std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .lines()
    .filter(|l| l.starts_with(&format!("rl-{}", lab.name)))
    .map(str::to_string)
    .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(lab.etc_netns().is_empty());
}

/// Runs FRR configuration commands in site `big`'s router.
fn run_vtysh_config(lab: &Lab, lines: &[&str]) {
    let mut args = vec![
        "vtysh",
        "-c",
        "configure terminal",
        "-c",
        "router bgp 65001",
        "-c",
        "address-family ipv4 unicast",
    ];
    for l in lines {
        args.extend(["-c", l]);
    }
    let out = lab.exec("big", &args);
    assert!(out.status.success());
}

/// `reachlab test` run the moment a router lab is up waits (saying so) until its sessions are
/// Established and the MSEEs' routing is quiet, then finds no mismatch: before, it probed
/// while the routers converged and reported mismatches that were not there.
#[test]
fn test_waits_for_the_routers_to_settle() {
    if !root_or_skip("test_waits_for_the_routers_to_settle") {
        return;
    }
    let lab = Lab::from_file("settle", "topologies/global-reach-frr.toml");
    lab.up_detached();
    let started = Instant::now();
    let out = lab.cmd().args(["test", &lab.name]).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("0 mismatches"), "{stdout}");
    assert!(
        stderr.contains("waiting up to 30 s for lab") && stderr.contains("to settle"),
        "{stderr}"
    );
    assert!(!stderr.contains("has not settled"), "{stderr}");
    // By then every session is up: the wait ended on the lab's word, not the bound.
    assert_eq!(established(&lab, &["er-sv", "er-london"]), 4);
    assert!(started.elapsed() < Duration::from_secs(30));
}
