//! Forwarding on several workers (`up --workers N`): each TUN has one queue per worker (the
//! kernel spreads flows over them), every worker runs, a flow's packets stay in order across
//! the lab's delay lines, and the circuits' counters add up exactly to what was sent. Needs
//! root (skipped loudly without it).

mod common;

use common::{root_or_skip, Lab};

/// The tests here load the machine on purpose (a flood, flows at a set rate) and judge what
/// they see under that load: they run one at a time, not beside each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// The seed: SF and London over Global Reach, 141 ms apart, 1 Gbit/s circuits.
fn seed() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach.toml"),
    )
    .unwrap()
}

/// The names of the lab process's threads.
fn threads(lab: &Lab) -> Vec<String> {
    let pid = lab.pid().expect("the lab's pid");
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .collect()
}

/// Packets in and out of er-sv and of er-london (both links each), as `stats` counts them.
fn counted(lab: &Lab) -> (u64, u64) {
    let total = |c: &str| -> u64 {
        let v: serde_json::Value =
            serde_json::from_str(&lab.ok(&["stats", c, "--output", "json"])).unwrap();
        [
            "primarypacketsIn",
            "primarypacketsOut",
            "secondarypacketsIn",
            "secondarypacketsOut",
        ]
        .iter()
        .map(|k| v[*k].as_u64().unwrap_or_else(|| panic!("{k} in {v}")))
        .sum()
    };
    (total("er-sv"), total("er-london"))
}

#[test]
fn two_workers_keep_each_flow_in_order_and_count_every_packet() {
    if !root_or_skip("two_workers_keep_each_flow_in_order") {
        return;
    }
    let _alone = alone();
    let lab = Lab::new("wk", &seed());
    lab.up_with(&["--workers", "2"]);
    // Two forwarding threads, and every TUN has two queues.
    let names = threads(&lab);
    for w in ["reachlab-fwd0", "reachlab-fwd1"] {
        assert!(names.iter().any(|n| n == w), "{w} in {names:?}");
    }
    // `status` says so (this test's run directory holds this lab alone).
    let status = lab.cmd().arg("status").output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("forwarding: 2 workers"), "{status}");
    let out = lab.exec("sf", &["ls", "/sys/class/net/rl-sf/queues"]);
    let queues = String::from_utf8_lossy(&out.stdout);
    assert!(
        queues.contains("rx-0") && queues.contains("rx-1"),
        "two queues on sf's TUN: {queues}"
    );

    // Exactly what was sent crosses the circuits: 1000 echo requests and their 1000 replies,
    // each counted once at er-sv and once at er-london.
    let before = counted(&lab);
    let (rx, text) = {
        let out = lab.exec(
            "sf",
            &[
                "ping", "-n", "-q", "-c", "1000", "-i", "0.002", "-W", "2", "10.0.2.1",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (common::ping_received(&text), text)
    };
    assert_eq!(rx, 1000, "{text}");
    let after = counted(&lab);
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (2000, 2000),
        "before {before:?}, after {after:?}"
    );

    // Four UDP flows at once, sequence-numbered by iperf3: spread over the workers, and not
    // one datagram out of order within its flow (each crosses 141 ms of delay line).
    let v = lab.iperf3_args(
        "sf",
        "london",
        "10.0.2.1",
        5201,
        &["-u", "-t", "3", "-b", "10M", "-l", "1200", "-P", "4"],
    );
    let total = common::udp_flows_in_order(&v, 4);
    // 10 Mbit/s per flow of 1,200-byte datagrams for 3 s: about 3,125 each.
    assert!(total > 4 * 2_500, "{total} datagrams");
    assert!(lab.down().status.success());
}

/// A 64-byte UDP flood from a router site, far beyond what the lab forwards: the excess is
/// dropped, but the router's BGP and BFD (on their link TUNs' control queue, read first) get
/// through, so its sessions stay up and its routes stay, rather than the flood taking them
/// down with it.
#[test]
fn a_flood_from_a_router_site_leaves_its_sessions_up() {
    if !root_or_skip("a_flood_from_a_router_site_leaves_its_sessions_up") {
        return;
    }
    let _alone = alone();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach-frr.toml"),
    )
    .unwrap()
    // Unshaped for the flood's sake: what limits it is reachlab, not a circuit.
    .replace("bandwidth = \"1Gbps\"", "bandwidth = \"10Gbps\"");
    let lab = Lab::new_with("flood", &text, "latency = \"none\"");
    lab.up_detached();
    assert!(common::within(15, || common::both_links_up(&lab, "er-sv")).is_some());
    // Once sf's FRR has London's route.
    assert!(common::within(10, || lab.ping("sf", "10.0.2.1", 1).0 == 1).is_some());
    // Its control queue: one more than the lab's one worker on each link TUN.
    let out = lab.exec("sf", &["ls", "/sys/class/net/primary/queues"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rx-1"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let flood = common::sessions_stay_up_through(&lab, || {
        lab.iperf3_args(
            "sf",
            "london",
            "10.0.2.1",
            5301,
            &["-u", "-l", "64", "-b", "0", "-t", "8"],
        )
    });
    // Where the excess went: the kernel dropped it at sf's link TUNs, whose rings reachlab
    // did not empty in time, and `stats` reports that as `ring-full`; every such packet is
    // one iperf3 counted lost, and most of what it lost is such a packet (by hand: 4,775,194
    // of 4,808,048).
    common::ring_full_accounts_for(&lab, &flood, "sf's link TUNs' rings");
    assert!(lab.down().status.success());
}

/// A router site's traffic spreads over the workers too: its link TUNs steer BGP and BFD to
/// their control queue and every other flow, by a hash of its addresses and ports, to one
/// worker's queue. Sixteen UDP flows from sf's FRR over 141 ms: both workers forward some,
/// no flow is reordered, and the sessions stay up.
#[test]
fn a_router_sites_flows_spread_over_the_workers_in_order() {
    if !root_or_skip("a_router_sites_flows_spread_over_the_workers_in_order") {
        return;
    }
    let _alone = alone();
    let lab = Lab::from_file("wkfrr", "topologies/global-reach-frr.toml");
    lab.up_with(&["--workers", "2", "--metrics", "127.0.0.1:0"]);
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(lab.run_dir.join(&lab.name).join("state.json")).unwrap(),
    )
    .unwrap();
    let addr = state["metrics"]
        .as_str()
        .expect("metrics address")
        .to_string();
    assert!(
        common::within(20, || common::established(&lab, &["er-sv", "er-london"])
            == 4)
        .is_some()
    );
    assert!(common::within(10, || lab.ping("sf", "10.0.2.1", 1).0 == 1).is_some());
    // Each link TUN: a queue per worker and the control queue.
    let out = lab.exec("sf", &["ls", "/sys/class/net/primary/queues"]);
    let queues = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        ["rx-0", "rx-1", "rx-2"].iter().all(|q| queues.contains(q)),
        "{queues}"
    );
    let before = common::worker_packets(&addr);
    assert_eq!(before.len(), 2, "one count per worker: {before:?}");
    let v = lab.iperf3_args(
        "sf",
        "london",
        "10.0.2.1",
        5201,
        &["-u", "-t", "3", "-b", "3M", "-l", "1200", "-P", "16"],
    );
    // 16 flows of about 940 datagrams, each on the worker its ports hash to: each worker
    // gets some (all sixteen on one worker: 1 in 32,768).
    let total = common::udp_flows_in_order(&v, 16);
    assert!(total > 16 * 800, "{total} datagrams");
    common::spread_over_workers(&before, &common::worker_packets(&addr), 500);
    assert_eq!(common::established(&lab, &["er-sv", "er-london"]), 4);
    assert!(lab.down().status.success());
}

/// One interface's counters in a `/proc/net/dev` text: (rx packets, tx packets, tx drops).
fn dev_counts(text: &str, dev: &str) -> (u64, u64, u64) {
    let line = text
        .lines()
        .find_map(|l| {
            let (name, numbers) = l.split_once(':')?;
            (name.trim() == dev).then_some(numbers)
        })
        .unwrap_or_else(|| panic!("{dev} in {text}"));
    let n: Vec<u64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (n[1], n[9], n[11])
}

/// One sample of a lab's metrics: the value of the line that starts with `series` (labels
/// in the order the lab writes them), 0 when there is none.
fn metric(body: &str, series: &str) -> u64 {
    body.lines()
        .find(|l| l.starts_with(series))
        .map_or(0, |l| l.rsplit(' ').next().unwrap().parse().unwrap())
}

/// A 64-byte UDP flood across two workers and the seed's 141 ms, far beyond what the lab
/// forwards: every packet is accounted for, exactly, against the kernel's own counts at both
/// ends. What sf's TUN took is what reachlab read (and what it had no room for, reachlab's
/// `ring-full`); what reachlab read from sf it wrote to London (nothing on the way dropped),
/// and London's TUN received exactly that; the workers' counts add up to all it read; and
/// iperf3's datagrams (four flows, spread over the workers by hash) are all of sf's packets
/// but its few TCP control ones.
#[test]
fn under_a_flood_on_two_workers_every_packet_is_accounted_for() {
    if !root_or_skip("under_a_flood_on_two_workers_every_packet_is_accounted_for") {
        return;
    }
    let _alone = alone();
    let lab = Lab::new(
        "acct",
        &seed().replace("bandwidth = \"1Gbps\"", "bandwidth = \"10Gbps\""),
    );
    lab.up_with(&["--workers", "2", "--metrics", "127.0.0.1:0"]);
    let addr = common::metrics_addr(&lab);
    let flood = lab.iperf3_args(
        "sf",
        "london",
        "10.0.2.1",
        5301,
        &["-u", "-l", "64", "-b", "0", "-t", "3", "-P", "4"],
    );
    // The delay lines empty (141 ms), and the kernel's counts settle.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let dev = |ep: &str| String::from_utf8(lab.exec(ep, &["cat", "/proc/net/dev"]).stdout).unwrap();
    let (_, sf_sent, sf_dropped) = dev_counts(&dev("sf"), "rl-sf");
    let (london_got, _, _) = dev_counts(&dev("london"), "rl-london");
    let (_, body) = common::scrape(&addr, "/metrics");
    let series = |name: &str, family: &str, tail: &str| {
        metric(
            &body,
            &format!(
                "reachlab_{family}{{lab=\"{}\",endpoint=\"{name}\",kind=\"site\",{tail}}}",
                lab.name
            ),
        )
    };
    let read = series("sf", "endpoint_packets_total", "direction=\"rx\"");
    let ring = series("sf", "endpoint_drops_total", "reason=\"ring-full\"");
    let written = series("london", "endpoint_packets_total", "direction=\"tx\"");
    // What reachlab itself dropped of sf's (its own stray IPv6 multicast: not-routable).
    let sf_drops = format!(
        "reachlab_endpoint_drops_total{{lab=\"{}\",endpoint=\"sf\",kind=\"site\",reason=",
        lab.name
    );
    let dropped: u64 = body
        .lines()
        .filter(|l| l.starts_with(&sf_drops) && !l.contains("ring-full"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    let workers = common::worker_packets(&addr);
    // Everything the lab read, from every site and VNet.
    let all_read: u64 = body
        .lines()
        .filter(|l| {
            l.starts_with("reachlab_endpoint_packets_total{") && l.contains("direction=\"rx\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    let lost = flood["end"]["sum"]["lost_packets"].as_u64().unwrap();
    let datagrams = flood["end"]["sum"]["packets"].as_u64().unwrap();
    let seen = format!(
        "sf's TUN sent {sf_sent} and dropped {sf_dropped}; reachlab read {read}, ring-full {ring}, \
         wrote London {written}, dropped {dropped}; London's TUN got {london_got}; workers {workers:?}, all read {all_read}; \
         iperf3 {datagrams} datagrams, {lost} lost"
    );
    eprintln!("{seen}");
    assert!(lost > datagrams / 5, "not an overload: {seen}");
    assert_eq!(read, sf_sent, "{seen}");
    assert_eq!(ring, sf_dropped, "{seen}");
    assert_eq!(
        written + dropped,
        read,
        "written or dropped by reason: {seen}"
    );
    assert_eq!(london_got, written, "{seen}");
    assert_eq!(workers.len(), 2, "{seen}");
    assert_eq!(workers.iter().sum::<u64>(), all_read, "{seen}");
    let control = (sf_sent + sf_dropped).checked_sub(datagrams);
    assert!(
        control.is_some_and(|c| c < 200),
        "iperf3's datagrams and its TCP control are all sf sent: {seen}"
    );
    assert!(lab.down().status.success());
}
