//! Shared helpers for the namespace tests: a uniquely named lab that is always torn down.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub fn reachlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_reachlab"))
}

/// Whether root-only tests can run. Without root they are skipped with a loud message, except
/// in CI (CI=true), where a missing root is a failure: there every test must run.
pub fn root_or_skip(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs root (namespaces, TUN devices) and CI must run it as root");
    }
    eprintln!("\n*** SKIPPED {test}: needs root (network namespaces, TUN devices). Run scripts/test.sh as root. ***\n");
    false
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A running lab under a unique name, with its own state directory; torn down on drop.
pub struct Lab {
    pub name: String,
    pub file: PathBuf,
    pub run_dir: PathBuf,
}

impl Lab {
    /// Writes `topology` (without a [lab] table) under a unique lab name; does not start it.
    pub fn new(tag: &str, topology: &str) -> Lab {
        Lab::new_with(tag, topology, "")
    }

    /// `new` with extra lines for the `[lab]` table (e.g. `latency = "none"`).
    pub fn new_with(tag: &str, topology: &str, lab_keys: &str) -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}-{n}-{tag}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("reachlab-test-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{name}.toml"));
        let body: String = strip_lab_table(topology);
        std::fs::write(
            &file,
            format!("[lab]\nname = \"{name}\"\n{lab_keys}\n\n{body}"),
        )
        .unwrap();
        let run_dir = dir.join("run");
        Lab {
            name,
            file,
            run_dir,
        }
    }

    /// A copy of a shipped topology under a unique name.
    pub fn from_file(tag: &str, path: &str) -> Lab {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        Lab::new(tag, &std::fs::read_to_string(p).unwrap())
    }

    /// A shipped topology for the README's screenshots: under its own lab name when
    /// REACHLAB_SCREENSHOTS is set (so the pictures' titles read `global-reach`, not a test's
    /// name; a retake is run by hand, with no lab of that name up), else as `from_file`.
    pub fn for_screenshots(tag: &str, path: &str) -> Lab {
        let mut lab = Lab::from_file(tag, path);
        if std::env::var_os("REACHLAB_SCREENSHOTS").is_none() {
            return lab;
        }
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
        let (table, _) = split_lab_table(&text);
        let name = table
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = \""))
            .and_then(|n| n.strip_suffix('"'))
            .expect("a shipped topology names its lab")
            .to_string();
        let body = std::fs::read_to_string(&lab.file).unwrap();
        std::fs::write(&lab.file, body.replacen(&lab.name, &name, 1)).unwrap();
        lab.name = name;
        lab
    }

    /// A design of tests/designs.rs from tests/topologies/designs/TAG.toml, under a unique
    /// name: its `[lab]` keys kept but the name.
    pub fn design(tag: &str) -> Lab {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/topologies/designs")
            .join(format!("{tag}.toml"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let (lab, _) = split_lab_table(&text);
        let keys: String = lab
            .lines()
            .filter(|l| !l.trim().starts_with("name"))
            .map(|l| format!("{l}\n"))
            .collect();
        Lab::new_with(tag, &text, &keys)
    }

    pub fn cmd(&self) -> Command {
        let mut c = reachlab();
        c.env("REACHLAB_RUN_DIR", &self.run_dir);
        c
    }

    /// `reachlab up FILE --detach EXTRA...`, whatever the outcome.
    pub fn try_up(&self, extra: &[&str]) -> Output {
        self.cmd()
            .arg("up")
            .arg(&self.file)
            .arg("--detach")
            .args(extra)
            .output()
            .unwrap()
    }

    pub fn up_detached(&self) -> &Lab {
        self.up_with(&[])
    }

    /// `reachlab up FILE --detach EXTRA...`, which must succeed.
    pub fn up_with(&self, extra: &[&str]) -> &Lab {
        let out = self.try_up(extra);
        assert!(
            out.status.success(),
            "up --detach failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self
    }

    /// Where the lab serves its live view (`up --web`), from its state file.
    pub fn web_addr(&self) -> String {
        let st: serde_json::Value = serde_json::from_slice(
            &std::fs::read(self.run_dir.join(&self.name).join("state.json")).unwrap(),
        )
        .unwrap();
        st["web"].as_str().unwrap().to_string()
    }

    /// How many Global Reach connections `global-reach list` shows.
    pub fn gr_count(&self) -> usize {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["global-reach", "list", "--output", "json"])).unwrap();
        v.as_array().map_or(0, |a| a.len())
    }

    /// One vtysh command on a router site's FRR: its output.
    pub fn vtysh(&self, site: &str, cmd: &str) -> String {
        String::from_utf8_lossy(&self.exec(site, &["vtysh", "-c", cmd]).stdout).into_owned()
    }

    /// Configuration lines into a router site's FRR (`configure terminal`, then each line),
    /// which must be accepted.
    pub fn vtysh_conf(&self, site: &str, lines: &[&str]) {
        let mut args = vec!["vtysh", "-c", "configure terminal"];
        for l in lines {
            args.extend(["-c", l]);
        }
        let out = self.exec(site, &args);
        assert!(
            out.status.success(),
            "{lines:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `reachlab ARGS --lab NAME`, whatever the outcome.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .args(["--lab", &self.name])
            .output()
            .unwrap()
    }

    /// `reachlab ARGS --lab NAME`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command in an endpoint's namespace through `reachlab exec`.
    pub fn exec(&self, endpoint: &str, args: &[&str]) -> Output {
        self.cmd()
            .args(["exec", "--lab", &self.name, endpoint, "--"])
            .args(args)
            .output()
            .unwrap()
    }

    /// `ping -c N -W 1` from an endpoint; returns (received, stdout).
    pub fn ping(&self, from: &str, to: &str, count: u32) -> (u32, String) {
        self.ping_in(from, to, count, false)
    }

    /// `ping -6 -c N -W 1` from an endpoint; returns (received, stdout).
    pub fn ping6(&self, from: &str, to: &str, count: u32) -> (u32, String) {
        self.ping_in(from, to, count, true)
    }

    fn ping_in(&self, from: &str, to: &str, count: u32, v6: bool) -> (u32, String) {
        let count = count.to_string();
        let mut args = vec!["ping", "-n", "-c", &count, "-i", "0.2", "-W", "1", to];
        if v6 {
            args.insert(1, "-6");
        }
        let out = self.exec(from, &args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (ping_received(&text), text)
    }

    pub fn namespaces(&self) -> Vec<String> {
        list_namespaces(&format!("rl-{}-", self.name))
    }

    /// The lab's /etc/netns/NS directories (its hosts files).
    pub fn etc_netns(&self) -> Vec<PathBuf> {
        let prefix = format!("rl-{}-", self.name);
        std::fs::read_dir("/etc/netns")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect()
    }

    pub fn down(&self) -> Output {
        self.cmd().args(["down", &self.name]).output().unwrap()
    }

    /// `reachlab test NAME`, which must exit 0 (every probe as the rules say); its matrix.
    pub fn test_passes(&self) -> String {
        let out = self.cmd().args(["test", &self.name]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{text}");
        text
    }

    pub fn pid(&self) -> Option<i32> {
        let p = self.run_dir.join(&self.name).join("state.json");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
        v["pid"].as_i64().map(|p| p as i32)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.down();
        // Belt and braces: a failed test must not leave the machine dirty.
        for ns in self.namespaces() {
            eprintln!("teardown left namespace {ns}; removing it");
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
        for dir in self.etc_netns() {
            eprintln!("teardown left {}; removing it", dir.display());
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(dir) = self.file.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn list_namespaces(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

fn strip_lab_table(t: &str) -> String {
    split_lab_table(t).1
}

/// A topology's `[lab]` table's lines (without its header) and the rest.
fn split_lab_table(t: &str) -> (String, String) {
    let (mut lab, mut rest) = (String::new(), String::new());
    let mut in_lab = false;
    for line in t.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_lab = l == "[lab]";
            if in_lab {
                continue;
            }
        }
        let to = if in_lab { &mut lab } else { &mut rest };
        to.push_str(line);
        to.push('\n');
    }
    (lab, rest)
}

impl Lab {
    /// Runs an iperf3 test from `client` to `server` (at `addr`) and returns the client's JSON
    /// report. The server is a one-off `iperf3 -s -1` started first and waited for.
    pub fn iperf3(
        &self,
        client: &str,
        server: &str,
        addr: &str,
        port: u16,
        secs: u32,
    ) -> serde_json::Value {
        self.iperf3_args(client, server, addr, port, &["-t", &secs.to_string()])
    }

    /// A steady UDP stream of `rate` (iperf3's -b) for `secs`, in 1300-byte datagrams (under
    /// the default 1400 circuit MTU, so none is fragmented).
    pub fn iperf3_udp(
        &self,
        (client, server, addr): (&str, &str, &str),
        port: u16,
        secs: u32,
        rate: &str,
    ) -> serde_json::Value {
        let secs = secs.to_string();
        self.iperf3_args(
            client,
            server,
            addr,
            port,
            &["-u", "-t", &secs, "-b", rate, "-l", "1300"],
        )
    }

    /// `iperf3` with extra client arguments (which must include `-t`).
    pub fn iperf3_args(
        &self,
        client: &str,
        server: &str,
        addr: &str,
        port: u16,
        extra: &[&str],
    ) -> serde_json::Value {
        self.iperf3_via((server, addr, port), extra, |args| self.exec(client, args))
    }

    /// `iperf3_args` with a client that `run` starts, given iperf3's arguments (from a
    /// namespace that is not the lab's, say).
    pub fn iperf3_via(
        &self,
        (server, addr, port): (&str, &str, u16),
        extra: &[&str],
        run: impl FnOnce(&[&str]) -> Output,
    ) -> serde_json::Value {
        let port_s = port.to_string();
        let mut srv = self
            .cmd()
            .args([
                "exec", "--lab", &self.name, server, "--", "iperf3", "-s", "-1", "-p", &port_s,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let ss = self.exec(server, &["ss", "-Hltn", &format!("sport = :{port}")]);
            if !String::from_utf8_lossy(&ss.stdout).trim().is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "iperf3 server never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let mut args = vec!["iperf3", "-c", addr, "-p", &port_s, "-J"];
        args.extend_from_slice(extra);
        let out = run(&args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let _ = srv.kill();
        let _ = srv.wait();
        assert!(
            out.status.success(),
            "iperf3 failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("iperf3 JSON: {e}\n{text}"));
        assert!(
            v["end"]["sum_received"]["bytes"].is_number(),
            "iperf3 report without totals:\n{text}"
        );
        v
    }
}

/// Checks an iperf3 UDP report of `flows` sequence-numbered streams: not one datagram out of
/// order within its stream, and each under 1% lost (order is the property; a debug build on a
/// busy 2-core CI machine may drop a few, never reorder). The datagrams sent in all.
pub fn udp_flows_in_order(v: &serde_json::Value, flows: usize) -> u64 {
    let streams = v["end"]["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), flows, "{v}");
    let mut total = 0;
    for s in streams {
        let udp = &s["udp"];
        total += udp["packets"].as_u64().unwrap_or(0);
        assert_eq!(udp["out_of_order"].as_u64(), Some(0), "{udp}");
        assert!(
            udp["lost_percent"].as_f64().is_some_and(|l| l < 1.0),
            "{udp}"
        );
    }
    total
}

/// Checks that every worker handed the engine more than `min` packets between two readings
/// of `worker_packets`.
pub fn spread_over_workers(before: &[u64], after: &[u64], min: u64) {
    assert_eq!(before.len(), after.len(), "{before:?} {after:?}");
    let moved: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    assert!(
        moved.iter().all(|n| *n > min),
        "the flows did not spread over the workers: {moved:?}"
    );
}

/// Whether both of `circuit`'s IPv4 sessions are Established.
pub fn both_links_up(lab: &Lab, circuit: &str) -> bool {
    ["primary", "secondary"]
        .iter()
        .all(|p| state_pfx_rcd(lab, circuit, p).parse::<u32>().is_ok())
}

/// Runs `flood` (an iperf3 run far beyond what the lab forwards) while sampling er-sv's
/// sessions every 300 ms: the flood must be an overload (over 20% lost), and the sessions
/// must stay Established in every sample with no BFD down in the lab's log. The flood's
/// report.
pub fn sessions_stay_up_through(
    lab: &Lab,
    flood: impl FnOnce() -> serde_json::Value + Send,
) -> serde_json::Value {
    let (flood, samples) = std::thread::scope(|s| {
        let flood = s.spawn(flood);
        let mut samples = Vec::new();
        std::thread::sleep(Duration::from_millis(500));
        while !flood.is_finished() {
            samples.push(both_links_up(lab, "er-sv"));
            std::thread::sleep(Duration::from_millis(300));
        }
        (flood.join().unwrap(), samples)
    });
    let lost = flood["end"]["sum"]["lost_percent"].as_f64().unwrap_or(0.0);
    assert!(lost > 20.0, "not an overload: {lost}% lost\n{flood}");
    assert!(samples.len() > 10, "{samples:?}");
    assert!(
        samples.iter().all(|u| *u),
        "sessions went down during the flood ({lost:.0}% of it lost): {samples:?}\n{}",
        lab.ok(&["routes", "er-sv", "--summary"])
    );
    let log =
        std::fs::read_to_string(lab.run_dir.join(format!("{}.log", lab.name))).unwrap_or_default();
    assert!(!log.contains("BFD session down"), "{log}");
    flood
}

/// After a flood (`flood`: iperf3's JSON) from er-sv's side: `stats er-sv` counts as
/// `ring-full` most of what iperf3 lost, and no more (what the kernel dropped in front of
/// reachlab, `at`: where, for the message). Returns (lost, ring-full).
pub fn ring_full_accounts_for(lab: &Lab, flood: &serde_json::Value, at: &str) -> (u64, u64) {
    let lost = flood["end"]["sum"]["lost_packets"].as_u64().unwrap_or(0);
    let stats: serde_json::Value =
        serde_json::from_str(&lab.ok(&["stats", "er-sv", "--output", "json"])).unwrap();
    let ring = stats["drops"]["ring-full"]
        .as_u64()
        .expect("ring-full in stats");
    eprintln!("flood: {lost} datagrams lost, {ring} at {at} (ring-full)");
    assert!(
        ring * 2 > lost && ring <= lost,
        "ring-full {ring} at {at}, iperf3 lost {lost}"
    );
    (lost, ring)
}

/// The address a lab started with `--metrics` serves its metrics on (from its state file).
pub fn metrics_addr(lab: &Lab) -> String {
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(lab.run_dir.join(&lab.name).join("state.json")).unwrap(),
    )
    .unwrap();
    state["metrics"]
        .as_str()
        .expect("the metrics address is recorded")
        .to_string()
}

/// The packets each forwarding worker has handed to the engine, from the lab's metrics.
pub fn worker_packets(addr: &str) -> Vec<u64> {
    let (_, body) = scrape(addr, "/metrics");
    body.lines()
        .filter(|l| l.starts_with("reachlab_worker_packets_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect()
}

/// GET `path` from a lab's metrics address: (status line, body).
pub fn scrape(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// How many replies a ping's summary says it received (0 without a summary).
pub fn ping_received(text: &str) -> u32 {
    text.lines()
        .find(|l| l.contains("packets transmitted"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Waits up to `secs` for `ok`; how long it took.
pub fn within(secs: u64, mut ok: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        if ok() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// The customer's IPv4 session's StatePfxRcd on a circuit link (a number when Established).
pub fn state_pfx_rcd(lab: &Lab, circuit: &str, path: &str) -> String {
    state_pfx_rcd_in(lab, circuit, path, "ipv4")
}

/// The customer's session's StatePfxRcd on a circuit link in `family` ("ipv4", "ipv6").
pub fn state_pfx_rcd_in(lab: &Lab, circuit: &str, path: &str, family: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&lab.ok(&[
        "routes",
        circuit,
        "--summary",
        "--path",
        path,
        "--family",
        family,
        "--output",
        "json",
    ]))
    .unwrap();
    v["value"][0]["statePfxRcd"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// How many of the circuits' customer IPv4 sessions (both links each) are Established with
/// routes received: the router has announced its prefixes (FRR waits about a second after the
/// session comes up), so the MSEE forwards for the site.
pub fn established(lab: &Lab, circuits: &[&str]) -> usize {
    established_in(lab, circuits, "ipv4")
}

/// `established` for the sessions of `family` ("ipv4", "ipv6").
pub fn established_in(lab: &Lab, circuits: &[&str], family: &str) -> usize {
    circuits
        .iter()
        .flat_map(|c| ["primary", "secondary"].map(|p| state_pfx_rcd_in(lab, c, p, family)))
        .filter(|s| s.parse::<u32>().is_ok_and(|n| n > 0))
        .count()
}

/// The round trip from `circuit`'s site to `to` as the lab models it (`circuit show`), in ms.
pub fn modelled_rtt_ms(lab: &Lab, circuit: &str, to: &str) -> f64 {
    let text = lab.ok(&["circuit", "show", circuit]);
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(to))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no modelled RTT to {to} in\n{text}"))
}

/// The average round trip in a ping summary ("rtt min/avg/max/mdev = ..."), in ms.
pub fn ping_avg_ms(text: &str) -> f64 {
    text.lines()
        .find(|l| l.contains("min/avg/max"))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no round trip in\n{text}"))
}

/// How many of `site`'s FRR BFD sessions are up (they start once BGP is Established on a
/// link).
pub fn bfd_up(lab: &Lab, site: &str) -> usize {
    lab.vtysh(site, "show bfd peers brief")
        .matches(" up ")
        .count()
}
