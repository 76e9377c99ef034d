//! Seeing what the lab did, against real running labs: `capture` (pcap read back with
//! pcap-file and tcpdump), metrics, `graph`, `reachlab test`. Root needed (skipped loudly
//! without it; CI has it).

mod common;

use common::{root_or_skip, scrape, Lab};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;

/// Starts `reachlab capture ARGS` in the background and waits until the lab has the tap
/// (its "capturing on" line on stderr).
fn start_capture(lab: &Lab, args: &[&str]) -> std::process::Child {
    let mut child = lab
        .cmd()
        .arg("capture")
        .args(["--lab", &lab.name])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&seen).contains("capturing on") {
        let mut b = [0u8; 256];
        let n = std::io::Read::read(&mut err, &mut b).unwrap();
        assert!(
            n > 0 && Instant::now() < deadline,
            "capture did not start: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&b[..n]);
    }
    // Keep draining stderr so the summary line cannot block the process.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    child
}

fn wait_with_timeout(child: &mut std::process::Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("capture did not end within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn capture_writes_pcap_of_each_point_with_its_ttl_and_time() {
    if !root_or_skip("capture") {
        return;
    }
    let lab = Lab::from_file("capture", "topologies/global-reach.toml");
    lab.up_detached();
    let file = lab.file.with_file_name("gr.pcap");
    let file_s = file.to_str().unwrap();
    let mut gr = start_capture(&lab, &["er-sv:er-london", "-w", file_s, "-c", "2"]);
    let mut london = start_capture(&lab, &["london", "-w", "-", "-c", "2"]);
    assert_eq!(lab.ping("sf", "10.0.2.1", 1).0, 1);
    assert!(wait_with_timeout(&mut gr, 10).success());
    assert!(wait_with_timeout(&mut london, 10).success());

    // The Global Reach connection, read back with pcap-file: request then reply, raw IP, with
    // the TTL they have between the MSEEs and times the model gives.
    let mut r = PcapReader::new(std::fs::File::open(&file).unwrap()).unwrap();
    assert_eq!(r.header().datalink, DataLink::RAW);
    let mut pkts = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        pkts.push((p.timestamp, p.data.into_owned()));
    }
    assert_eq!(pkts.len(), 2, "request and reply");
    let (req, rep) = (&pkts[0].1, &pkts[1].1);
    assert_eq!(&req[12..20], &[10, 0, 1, 1, 10, 0, 2, 1], "sf -> london");
    assert_eq!(&rep[12..20], &[10, 0, 2, 1, 10, 0, 1, 1], "london -> sf");
    assert_eq!(req[8], 62, "TTL after the CE and the MSEE");
    assert_eq!(rep[8], 62);
    // Request into the backbone at er-sv's MSEE; reply into it at er-london's: backbone one
    // way (68.5 ms) plus the access link there and back (2 x 1 ms).
    let gap = pkts[1].0.saturating_sub(pkts[0].0);
    assert!(
        gap > Duration::from_micros(69_500) && gap < Duration::from_micros(75_000),
        "{gap:?}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!(now - pkts[0].0 < Duration::from_secs(60), "wall-clock time");

    // London's TUN through `-w -`, read by tcpdump from the pipe.
    let out = london.wait_with_output().unwrap();
    let mut td = Command::new("tcpdump")
        .args(["-n", "-r", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(td.stdin.as_mut().unwrap(), &out.stdout).unwrap();
    drop(td.stdin.take());
    let text = String::from_utf8(td.wait_with_output().unwrap().stdout).unwrap();
    assert!(
        text.contains("10.0.1.1 > 10.0.2.1: ICMP echo request"),
        "{text}"
    );
    assert!(
        text.contains("10.0.2.1 > 10.0.1.1: ICMP echo reply"),
        "{text}"
    );

    // Bounded by time: no traffic, ends after the duration with a valid, empty pcap.
    let t0 = Instant::now();
    let out = lab
        .cmd()
        .args([
            "capture",
            "--lab",
            &lab.name,
            "er-london",
            "--path",
            "secondary",
        ])
        .args(["--duration", "0.5", "-w", file_s])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(t0.elapsed() >= Duration::from_millis(500));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("circuit er-london, secondary link"), "{err}");
    assert!(err.contains("0 packets captured"), "{err}");
    let mut r = PcapReader::new(std::fs::File::open(&file).unwrap()).unwrap();
    assert!(r.next_packet().is_none());

    // Refusals name what exists.
    for (args, want) in [
        (
            vec!["paris"],
            "this lab has: sf, london, uswest, uksouth, er-sv, er-london",
        ),
        (
            vec!["er-sv:er-tokyo"],
            "connections in this lab: er-sv:er-london",
        ),
        (vec!["sf", "--path", "secondary"], "--path is for circuits"),
    ] {
        let out = lab
            .cmd()
            .args(["capture", "--lab", &lab.name])
            .args(&args)
            .args(["-w", file_s])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // The lab kept forwarding, and no tap is left behind (a new capture sees only new packets).
    assert_eq!(lab.ping("london", "10.0.1.1", 1).0, 1);
}

/// The value of the sample whose name and labels start with `series`.
fn sample(body: &str, series: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(series))
        .unwrap_or_else(|| panic!("no {series} in\n{body}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn metrics_count_traffic_and_follow_link_state() {
    if !root_or_skip("metrics") {
        return;
    }
    let lab = Lab::from_file("metrics", "topologies/global-reach.toml");
    let out = lab.try_up(&["--metrics", "127.0.0.1:0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(lab.run_dir.join(&lab.name).join("state.json")).unwrap(),
    )
    .unwrap();
    let addr = state["metrics"]
        .as_str()
        .expect("the bound address is recorded")
        .to_string();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("http://{addr}/metrics")));

    let (status, body) = scrape(&addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let l = format!("{{lab=\"{}\",", lab.name);
    let sv_in = format!(
        "reachlab_circuit_packets_total{l}circuit=\"er-sv\",path=\"primary\",direction=\"in\"}}"
    );
    let sv_in2 = format!(
        "reachlab_circuit_packets_total{l}circuit=\"er-sv\",path=\"secondary\",direction=\"in\"}}"
    );
    let bytes_in = format!(
        "reachlab_circuit_bytes_total{l}circuit=\"er-sv\",path=\"primary\",direction=\"in\"}}"
    );
    let gr = format!("reachlab_global_reach_connected{l}circuit=\"er-sv\",peer=\"er-london\"");
    let before = sample(&body, &sv_in) + sample(&body, &sv_in2);
    assert_eq!(sample(&body, &gr), 1.0);
    let rtt = sample(
        &body,
        &format!("reachlab_modelled_rtt_seconds{l}circuit=\"er-sv\",to=\"london\"}}"),
    );
    assert!((rtt - 0.141).abs() < 0.002, "modelled RTT {rtt}");
    for family in [
        "# TYPE reachlab_circuit_queue_seconds gauge",
        "# TYPE reachlab_circuit_drops_total counter",
        "# TYPE reachlab_circuit_bytes_total counter",
    ] {
        assert!(body.contains(family), "{family}");
    }

    // Ten pings cross er-sv: its input counters move by ten packets.
    assert_eq!(lab.ping("sf", "10.0.2.1", 10).0, 10);
    let (_, body) = scrape(&addr, "/metrics");
    let after = sample(&body, &sv_in) + sample(&body, &sv_in2);
    assert_eq!(after - before, 10.0, "ten echo requests into er-sv");
    assert!(sample(&body, &bytes_in) > 0.0);

    // A packet whose TTL runs out at the MSEE is counted there, by reason.
    let nr = format!("reachlab_circuit_drops_total{l}circuit=\"er-sv\",reason=\"ttl-expired\"}}");
    let drops = sample(&body, &nr);
    let out = lab.exec(
        "sf",
        &["ping", "-n", "-c", "1", "-W", "1", "-t", "2", "10.0.2.1"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Time to live exceeded"));
    let (_, body) = scrape(&addr, "/metrics");
    assert_eq!(sample(&body, &nr), drops + 1.0);

    // A site sending from an address that is not its own (London's prefix) is dropped at
    // its edge and counted as spoofed, even with Global Reach up.
    let ns = format!("rl-{}-sf", lab.name);
    assert!(Command::new("ip")
        .args(["-n", &ns, "addr", "add", "10.0.2.77/32", "dev", "rl-sf"])
        .status()
        .unwrap()
        .success());
    let spoofed = format!(
        "reachlab_endpoint_drops_total{l}endpoint=\"sf\",kind=\"site\",reason=\"spoofed\"}}"
    );
    assert!(!body.contains(&spoofed), "no spoofed drops yet");
    for to in ["10.0.3.1", "10.0.2.1"] {
        let out = lab.exec(
            "sf",
            &["ping", "-n", "-c", "1", "-W", "1", "-I", "10.0.2.77", to],
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("bytes from"),
            "{to}"
        );
    }
    let (_, body) = scrape(&addr, "/metrics");
    assert_eq!(sample(&body, &spoofed), 2.0);

    // Both links of er-sv failed: links down, Global Reach disconnected.
    for path in ["primary", "secondary"] {
        let out = lab
            .cmd()
            .args(["circuit", "fail", "er-sv", path, "--lab", &lab.name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (_, body) = scrape(&addr, "/metrics");
    assert_eq!(sample(&body, &gr), 0.0);
    assert_eq!(
        sample(
            &body,
            &format!("reachlab_circuit_link_up{l}circuit=\"er-sv\",path=\"secondary\"}}")
        ),
        0.0
    );
    let (status, _) = scrape(&addr, "/nothing");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

#[test]
fn reachlab_test_prints_the_seed_matrix_with_and_without_global_reach() {
    if !root_or_skip("reachlab_test") {
        return;
    }
    let lab = Lab::from_file("pingall", "topologies/global-reach.toml");
    lab.up_detached();
    let test = |extra: &[&str]| {
        let out = lab
            .cmd()
            .args(["test", &lab.name])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = test(&[]);
    assert_eq!(code, Some(0), "{text}");
    let rows: Vec<&str> = text.lines().take(5).collect();
    assert_eq!(
        rows,
        [
            "from \\ to  sf  london  uswest  uksouth",
            "sf         -   Y       Y       Y",
            "london     Y   -       Y       Y",
            "uswest     Y   Y       -       Y",
            "uksouth    Y   Y       Y       -",
        ],
        "{text}"
    );
    assert!(text.contains("12 probes, 12 as expected, 0 mismatches"));

    let out = lab
        .cmd()
        .args([
            "global-reach",
            "remove",
            "er-sv",
            "er-london",
            "--lab",
            &lab.name,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (code, text) = test(&[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("sf         -   .       Y       Y"), "{text}");
    assert!(text.contains("london     .   -       Y       Y"), "{text}");

    // JSON: every probe with its expectation and outcome.
    let (code, text) = test(&["--output", "json"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["mismatches"], 0);
    let probes = v["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 12);
    let sf_london = probes
        .iter()
        .find(|p| p["from"] == "sf" && p["to"] == "london")
        .unwrap();
    assert_eq!(sf_london["expected"], false);
    assert_eq!(sf_london["reached"], false);

    // A broken path where the rules say reachable is found and marked: exit 3 (a mismatch,
    // told apart from 1, an error).
    let ns = format!("rl-{}-sf", lab.name);
    let st = Command::new("ip")
        .args(["-n", &ns, "route", "replace", "blackhole", "10.0.3.1/32"])
        .status()
        .unwrap();
    assert!(st.success());
    let (code, text) = test(&[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("sf         -   .       .!      Y"), "{text}");
    assert!(
        text.contains("MISMATCH sf -> uswest (ipv4 10.0.3.1): rules say reachable, ping got none")
    );
    // No such lab is an error, not a mismatch.
    for args in [
        &["test", "nope"][..],
        &["routes", "er-sv", "--lab", "nope"][..],
    ] {
        let out = lab.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("no lab named nope is running"));
    }
}

#[test]
fn graph_draws_a_file_and_a_running_lab_as_it_is() {
    if !root_or_skip("graph") {
        return;
    }
    let graph = |lab: &Lab, args: &[&str]| {
        let out = lab.cmd().arg("graph").args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let lab = Lab::from_file("graph", "topologies/global-reach.toml");
    let file = lab.file.to_str().unwrap().to_string();
    let (ok, svg, _) = graph(&lab, &[&file]);
    assert!(ok);
    assert!(svg.contains(">Global Reach 192.168.8.0/29<"), "{svg}");
    assert!(svg.contains("137 ms RTT · MSEE 192.168.8.1 ↔ .2"), "{svg}");
    assert!(!svg.contains("Disconnected"));
    let (ok, dot, _) = graph(&lab, &[&file, "-o", "dot"]);
    assert!(ok && dot.starts_with("graph \""), "{dot}");
    let (ok, mm, _) = graph(&lab, &[&file, "--output", "mermaid"]);
    assert!(ok && mm.starts_with("flowchart LR"), "{mm}");

    // --quiet: up and capture print nothing but errors.
    let out = lab.try_up(&["--quiet"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let out = lab
        .cmd()
        .args([
            "capture",
            "--lab",
            &lab.name,
            "sf",
            "--duration",
            "0.2",
            "-w",
            "/dev/null",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The running lab, with both of er-sv's links failed: the connection is drawn dashed.
    for path in ["primary", "secondary"] {
        let out = lab
            .cmd()
            .args(["circuit", "fail", "er-sv", path, "--lab", &lab.name])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let (ok, svg, err) = graph(&lab, &[&lab.name]);
    assert!(ok, "{err}");
    assert!(
        svg.contains("Global Reach 192.168.8.0/29 · Disconnected"),
        "{svg}"
    );
    let gr = svg.lines().find(|l| l.starts_with("<path")).unwrap();
    assert!(gr.contains("stroke-dasharray"), "{gr}");
    let out_file = lab.file.with_file_name("lab.svg");
    let (ok, _, _) = graph(&lab, &[&lab.name, "--file", out_file.to_str().unwrap()]);
    assert!(ok);
    assert!(std::fs::read_to_string(&out_file)
        .unwrap()
        .contains("</svg>"));

    let (ok, _, err) = graph(&lab, &["no-such-lab-or-file"]);
    assert!(!ok);
    assert!(
        err.contains("neither a topology file nor a running lab"),
        "{err}"
    );
}

#[test]
fn a_large_up_shows_progress_unless_quiet() {
    if !root_or_skip("progress") {
        return;
    }
    // 24 sites on two circuits.
    let mut topo = String::from(
        "[[circuit]]\nname = \"er-a\"\npeering_location = \"Amsterdam\"\nbandwidth = \"1Gbps\"\nsku = \"Premium\"\n\
         [[circuit]]\nname = \"er-b\"\npeering_location = \"London\"\nbandwidth = \"1Gbps\"\nsku = \"Premium\"\n",
    );
    for i in 0..24 {
        topo += &format!(
            "[[site]]\nname = \"s{i}\"\ncircuit = \"er-{}\"\nprefixes = [\"10.1.{i}.0/24\"]\n",
            if i % 2 == 0 { "a" } else { "b" }
        );
    }
    let lab = Lab::new_with("progress", &topo, "latency = \"none\"");
    let out = lab.try_up(&[]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("made 24 of 24 sites and VNets"), "{err}");
    assert!(
        err.lines().filter(|l| l.contains("reachlab: made")).count() >= 5,
        "{err}"
    );
    assert_eq!(lab.ping("s0", "10.1.2.1", 1).0, 1, "same circuit");
    assert_eq!(
        lab.ping("s0", "10.1.1.1", 1).0,
        0,
        "other circuit, no Global Reach"
    );
    assert!(lab.down().status.success());
    let out = lab.try_up(&["--quiet"]);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
