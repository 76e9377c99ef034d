//! The live view's server (`up --web ADDR [--web-control]`) against a running seed lab, over
//! plain HTTP on loopback: the page is self-contained, the endpoints give the CLI's JSON, the
//! counters stream once a second, writes are refused without --web-control and go through the
//! same rules as the CLI with it. The page in a real browser: tests/browser.rs.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{root_or_skip, within, Lab};

/// One request with `Connection: close`; (status code, body).
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

#[test]
fn a_read_only_view_serves_the_lab_and_refuses_changes() {
    if !root_or_skip("web_read_only") {
        return;
    }
    let lab = Lab::from_file("webro", "topologies/global-reach.toml");
    let out = lab.try_up(&["--web", "127.0.0.1:0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("(read-only)"));
    let addr = lab.web_addr();
    let (code, page) = http(&addr, "GET", "/", None);
    assert_eq!(code, 200);
    assert!(page.contains("EventSource(\"/api/events\")"));
    // Everything embedded: nothing is fetched from elsewhere.
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    let (code, svg) = http(&addr, "GET", "/api/graph.svg", None);
    assert_eq!(code, 200);
    assert!(svg.starts_with("<svg") && svg.contains("er-london"));
    let (code, body) = http(&addr, "GET", "/api/lab", None);
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["circuits"].as_array().unwrap().len(), 2);
    assert_eq!(v["circuits"][0]["stats"]["primaryState"], "Up", "{v}");
    assert_eq!(v["global_reach"].as_array().unwrap().len(), 1);
    assert_eq!(v["control"], false);
    // The stream: a first event at once.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /api/events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("event: lab") {
        let n = s.read(&mut buf).expect("an event within 5 s");
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    // Writes: 403 with the reason, nothing changed.
    let (code, body) = http(
        &addr,
        "DELETE",
        "/api/global-reach?circuit=er-sv&peer=er-london",
        None,
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("--web-control"));
    let (code, _) = http(&addr, "POST", "/api/circuit/er-sv/primary/fail", None);
    assert_eq!(code, 403);
    assert_eq!(lab.gr_count(), 1);
}

#[test]
fn with_control_the_page_changes_the_lab_through_the_clis_rules() {
    if !root_or_skip("web_control") {
        return;
    }
    let lab = Lab::new_with(
        "webrw",
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach.toml"),
        )
        .unwrap(),
        "latency = \"none\"",
    );
    lab.up_with(&["--web", "127.0.0.1:0", "--web-control"]);
    let addr = lab.web_addr();
    assert_eq!(lab.ping("sf", "10.0.2.1", 1).0, 1);
    let (code, body) = http(
        &addr,
        "DELETE",
        "/api/global-reach?circuit=er-sv&peer=er-london",
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(lab.gr_count(), 0, "the CLI sees the change");
    assert!(within(2, || lab.ping("sf", "10.0.2.1", 1).0 == 0).is_some());
    // A refused change: the rule's words, nothing changed.
    let (code, body) = http(
        &addr,
        "POST",
        "/api/global-reach",
        Some(r#"{"circuit":"er-sv","peer":"er-london","address_prefix":"192.168.8.0/28"}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("/29"), "{body}");
    assert_eq!(lab.gr_count(), 0);
    let (code, body) = http(
        &addr,
        "POST",
        "/api/global-reach",
        Some(r#"{"circuit":"er-sv","peer":"er-london","address_prefix":"192.168.8.0/29"}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert!(within(2, || lab.ping("sf", "10.0.2.1", 1).0 == 1).is_some());
    // A link from the page; the CLI's stats show it down.
    let (code, _) = http(&addr, "POST", "/api/circuit/er-sv/primary/fail", None);
    assert_eq!(code, 200);
    assert!(lab.ok(&["stats", "er-sv"]).contains("down"));
    let (code, body) = http(&addr, "POST", "/api/circuit/er-sv/tertiary/fail", None);
    assert_eq!(code, 400, "{body}");
    // A VNet unlinked from the page: the CLI's circuit show no longer lists it.
    let (code, body) = http(&addr, "POST", "/api/vnet/uksouth/er-sv/unlink", None);
    assert_eq!(code, 200, "{body}");
    let show = lab.ok(&["circuit", "show", "er-sv"]);
    let links = show
        .lines()
        .find(|l| l.starts_with("VnetLinks"))
        .unwrap_or_default();
    assert!(
        links.contains("uswest") && !links.contains("uksouth"),
        "{show}"
    );
    let (code, body) = http(&addr, "POST", "/api/vnet/uksouth/er-sv/unlink", None);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("not linked"), "{body}");
    // Requests that are no write at all: 4xx with the reason, nothing changed.
    let (code, body) = http(&addr, "POST", "/api/teleport", None);
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("/api/global-reach"), "{body}");
    let (code, body) = http(&addr, "PUT", "/api/global-reach", Some("{}"));
    assert_eq!(code, 405, "{body}");
    let (code, body) = http(&addr, "POST", "/api/global-reach", Some("circuit=er-sv"));
    assert_eq!(code, 415, "{body}");
    assert_eq!(lab.gr_count(), 1);

    // `status` shows where the view is and what it allows.
    let status = lab.cmd().arg("status").output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains(&format!("live view: http://{addr}/ (changes allowed)")),
        "{status}"
    );

    // The reachability matrix from the page, as `reachlab test --output json` gives it: with
    // er-sv's primary failed and uksouth unlinked from er-sv, the rules and the pings agree.
    // (The test command's own matrix is checked in tests/lab.rs; here, that the page runs it.)
    let (code, body) = http(&addr, "POST", "/api/test", None);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["mismatches"], 0, "{body}");
    assert_eq!(
        v["probes"].as_array().unwrap().len(),
        12,
        "4 endpoints, ordered pairs"
    );
    let probe = |from: &str, to: &str| {
        v["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["from"] == from && p["to"] == to)
            .unwrap()["reached"]
            .as_bool()
            .unwrap()
    };
    assert!(probe("sf", "london") && probe("sf", "uswest") && probe("london", "uksouth"));
}

#[test]
fn the_snapshot_has_rates_per_link_and_direction_and_the_sessions() {
    if !root_or_skip("web_rates") {
        return;
    }
    let lab = Lab::from_file("webrt", "topologies/global-reach.toml");
    lab.up_with(&["--web", "127.0.0.1:0"]);
    let addr = lab.web_addr();
    // 4 Mbit/s of UDP SF -> London for 3 s; the snapshot's er-sv "in" rate follows it.
    let report = std::thread::scope(|s| {
        let iperf = s.spawn(|| lab.iperf3_udp(("sf", "london", "10.0.2.1"), 5201, 3, "4M"));
        std::thread::sleep(Duration::from_millis(2500));
        let (code, body) = http(&addr, "GET", "/api/lab", None);
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let er_sv = &v["circuits"][0];
        assert_eq!(er_sv["name"], "er-sv");
        assert_eq!(er_sv["bandwidth_bps"], 1_000_000_000u64);
        let links = er_sv["rates"]["links"].as_array().unwrap();
        assert_eq!(links.len(), 2);
        let bps: f64 = links
            .iter()
            .map(|l| l["in"]["bits_per_second"].as_f64().unwrap())
            .sum();
        assert!(
            (bps - 4.0e6 * 1328.0 / 1300.0).abs() < 0.4e6,
            "er-sv in: {bps} bit/s for 4 Mbit/s of UDP"
        );
        for l in links {
            assert!(l["in"]["queue_ms"].as_f64().unwrap() >= 0.0);
            assert!(l["out"]["packets_per_second"].is_number());
            assert!(!l["history"].as_array().unwrap().is_empty());
        }
        // The MSEE's neighbours per link, as `routes CIRCUIT --summary --output json`.
        let sessions = er_sv["sessions"].as_array().unwrap();
        assert_eq!(sessions[0]["path"], "primary");
        assert!(sessions[0]["neighbors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["role"] == "customer sf"));
        iperf.join().unwrap()
    });
    assert!(report["end"]["sum"]["packets"].as_u64().unwrap() > 1000);
}

/// `reachlab web` starts the view for a lab already running, from its own process.
#[test]
fn a_running_lab_serves_its_view_on_request() {
    if !root_or_skip("web_on_request") {
        return;
    }
    let lab = Lab::from_file("webreq", "topologies/global-reach.toml");
    lab.up_detached();
    let out = lab.run(&["web", "--listen", "127.0.0.1:0", "--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = v["url"].as_str().unwrap();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let (code, body) = http(&addr, "GET", "/api/lab", None);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("er-london"));
    let (code, _) = http(&addr, "POST", "/api/circuit/er-sv/primary/fail", None);
    assert_eq!(code, 403, "read-only without --control");
    // A bad address is refused with the reason.
    let out = lab.run(&["web", "--listen", "nowhere"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ADDR:PORT"));
}

#[test]
fn a_full_queue_shows_as_delay_and_drops_on_its_link_and_direction() {
    if !root_or_skip("web_queue") {
        return;
    }
    // er-sv at 50 Mbit/s, sent 80 Mbit/s of UDP from SF: its shaper towards Microsoft fills.
    let seed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/global-reach.toml"),
    )
    .unwrap()
    .replacen("bandwidth = \"1Gbps\"", "bandwidth = \"50Mbps\"", 1);
    let lab = Lab::new("webq", &seed);
    lab.up_with(&["--web", "127.0.0.1:0"]);
    let addr = lab.web_addr();
    std::thread::scope(|s| {
        let iperf = s.spawn(|| lab.iperf3_udp(("sf", "london", "10.0.2.1"), 5201, 3, "80M"));
        std::thread::sleep(Duration::from_millis(2500));
        let (code, body) = http(&addr, "GET", "/api/lab", None);
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let er_sv = &v["circuits"][0];
        assert_eq!(er_sv["bandwidth_bps"], 50_000_000u64);
        let links = er_sv["rates"]["links"].as_array().unwrap();
        // The link the flow hashed onto: a queue, and drops for a full queue towards
        // Microsoft; nothing dropped towards the customer.
        let busy = links
            .iter()
            .max_by(|a, b| {
                let bps = |l: &serde_json::Value| l["in"]["bits_per_second"].as_f64().unwrap();
                bps(a).total_cmp(&bps(b))
            })
            .unwrap();
        let dropping = busy["in"]["drops_per_second"]["queue-full"]
            .as_f64()
            .unwrap_or(0.0);
        assert!(
            dropping > 1000.0,
            "80 Mbit/s into 50: ~2,900 datagrams/s dropped, got {dropping}: {busy}"
        );
        assert!(busy["in"]["queue_ms"].as_f64().unwrap() > 1.0, "{busy}");
        assert!(
            busy["out"]["drops"].as_object().unwrap().is_empty(),
            "{busy}"
        );
        // The circuit's own count by reason agrees that the queue was full.
        assert!(er_sv["rates"]["drops"]["queue-full"].as_u64().unwrap() > 0);
        iperf.join().unwrap();
    });
}

/// With real routers, a link carries only while its BGP session is up: the live picture and
/// the page's matrix count it as `reachlab graph LAB` and `reachlab test` do.
#[test]
fn the_live_picture_counts_a_router_link_as_the_cli_does() {
    if !root_or_skip("web_bgp_links") {
        return;
    }
    let lab = Lab::from_file("webbgp", "topologies/global-reach-frr.toml");
    lab.up_with(&["--web", "127.0.0.1:0", "--web-control"]);
    let addr = lab.web_addr();
    assert!(
        within(20, || common::established(&lab, &["er-sv", "er-london"])
            == 4)
        .is_some()
    );
    // `data-up` of a circuit link's line in a picture.
    let up_in = |svg: &str, link: &str| -> String {
        let line = svg
            .lines()
            .find(|l| l.contains(&format!("data-link=\"{link}\"")))
            .unwrap_or_else(|| panic!("no {link} in:\n{svg}"));
        line.split("data-up=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string()
    };
    let page = || http(&addr, "GET", "/api/graph.svg", None).1;
    assert_eq!(up_in(&page(), "er-sv/primary"), "true");
    // San Francisco's router shuts its session with er-sv's primary MSEE; the link stays up.
    let out = lab.exec(
        "sf",
        &[
            "vtysh",
            "-c",
            "configure terminal",
            "-c",
            "router bgp 65001",
            "-c",
            "neighbor 192.168.100.2 shutdown",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        within(10, || up_in(&page(), "er-sv/primary") == "false").is_some(),
        "the page still draws er-sv's primary as carrying"
    );
    let cli = lab.cmd().args(["graph", &lab.name]).output().unwrap();
    let cli = String::from_utf8_lossy(&cli.stdout);
    assert_eq!(up_in(&cli, "er-sv/primary"), "false", "graph LAB agrees");
    assert_eq!(up_in(&page(), "er-sv/secondary"), "true");
    let stats: serde_json::Value =
        serde_json::from_str(&lab.ok(&["stats", "er-sv", "--output", "json"])).unwrap();
    assert_eq!(
        stats["primaryState"], "Up",
        "the link itself is up: {stats}"
    );
    // The page's matrix expects what the pings get, as `reachlab test` does, once the routers
    // have moved their routes off the shut session (FRR withdraws, then reinstalls over the
    // secondary: a few seconds in which pings between the sites fail).
    let mut last = String::new();
    let agreed = within(20, || {
        let (code, body) = http(&addr, "POST", "/api/test", None);
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        last = body;
        v["mismatches"] == 0
    });
    assert!(agreed.is_some(), "{last}");
    lab.test_passes();
}
