//! `reachlab iperf SRC DST [-- IPERF3 ARGS]` (Mininet's `iperf`): an iperf3 server in DST's
//! namespace, the client in SRC's, no race between them. The server is started, watched until
//! it listens (its own namespace's /proc/PID/net/tcp{,6}), the client runs with the user's
//! arguments and prints iperf3's result, and the server is stopped by its PID.

use std::io::Read;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;

use super::fail;

#[derive(Args, Debug)]
pub struct IperfArgs {
    /// The site or VNet that sends (runs the iperf3 client)
    src: String,
    /// The site or VNet that receives (runs the iperf3 server)
    dst: String,
    /// Lab name (default: the only running lab)
    #[arg(long)]
    lab: Option<String>,
    /// Arguments for the iperf3 client, after -- (e.g. -- -t 5 -P 4 -R, -u -b 100M, -6)
    #[arg(last = true)]
    args: Vec<String>,
}

/// How long the server may take to listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(a: IperfArgs, quiet: bool) -> i32 {
    let st = match super::running_state(a.lab.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (src, dst) = match (super::endpoint(&st, &a.src), super::endpoint(&st, &a.dst)) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    if a.src == a.dst {
        return fail(
            "give two different sites or VNets: the client runs in SRC, the server in DST",
        );
    }
    let v6 = a.args.iter().any(|x| x == "-6" || x == "--version6");
    let addr = dst
        .addresses
        .iter()
        .filter_map(|a| a.split('/').next()?.parse::<IpAddr>().ok())
        .find(|ip| ip.is_ipv6() == v6);
    let Some(addr) = addr else {
        return fail(format!(
            "{} has no IPv{} address",
            a.dst,
            if v6 { 6 } else { 4 }
        ));
    };
    let port = port_of(&a.args).unwrap_or(5201);

    let mut server = match Command::new("ip")
        .args(["netns", "exec", &dst.namespace, "iperf3", "-s", "-1", "-p"])
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return fail(format!("starting iperf3 in {}: {e}", a.dst)),
    };
    if let Err(why) = wait_listening(&mut server, port) {
        stop(&mut server);
        return fail(format!(
            "the iperf3 server in {} did not start: {why}",
            a.dst
        ));
    }
    if !quiet {
        eprintln!(
            "reachlab: iperf3 from {} to {} ({addr} port {port}), server pid {}",
            a.src,
            a.dst,
            server.id()
        );
    }
    let client = Command::new("ip")
        .args(["netns", "exec", &src.namespace, "iperf3", "-c"])
        .arg(addr.to_string())
        .args(["-p", &port.to_string()])
        .args(&a.args)
        .stdin(Stdio::null())
        .status();
    // The one-off server ends with the test; give it a moment, then stop it by its PID.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && matches!(server.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop(&mut server);
    match client {
        Ok(s) if s.success() => 0,
        Ok(s) => fail(format!("iperf3 from {} to {} failed ({s})", a.src, a.dst)),
        Err(e) => fail(format!("running iperf3 in {}: {e}", a.src)),
    }
}

/// The port the user's arguments ask for (`-p N`, `--port N`, `--port=N`).
fn port_of(args: &[String]) -> Option<u16> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-p" || a == "--port" {
            return it.next()?.parse().ok();
        }
        if let Some(v) = a.strip_prefix("--port=") {
            return v.parse().ok();
        }
    }
    None
}

/// Waits until the server's namespace has a TCP socket listening on `port`, reading
/// /proc/PID/net/tcp{,6} (which show the namespace of that process). Fails when the server
/// exits first (with what it said) or takes longer than `LISTEN_TIMEOUT`.
fn wait_listening(server: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    let pid = server.id();
    loop {
        if let Ok(Some(status)) = server.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = server.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let err = err.trim();
            return Err(if err.is_empty() {
                format!("it exited ({status}); is iperf3 installed? (apt-get install iperf3)")
            } else {
                err.to_string()
            });
        }
        if ["tcp", "tcp6"].iter().any(|f| {
            std::fs::read_to_string(format!("/proc/{pid}/net/{f}"))
                .is_ok_and(|t| listening(&t, port))
        }) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "not listening on port {port} after {} s",
                LISTEN_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a /proc/net/tcp table has a socket in LISTEN (state 0A) on local port `port`.
fn listening(table: &str, port: u16) -> bool {
    let want = format!("{port:04X}");
    table.lines().skip(1).any(|l| {
        let mut f = l.split_whitespace();
        let local = f.nth(1).unwrap_or("");
        let state = f.nth(1).unwrap_or("");
        state == "0A" && local.rsplit(':').next() == Some(want.as_str())
    })
}

/// Ends the server by its PID (SIGTERM, then SIGKILL after a second) and reaps it.
fn stop(server: &mut Child) {
    if matches!(server.try_wait(), Ok(Some(_))) {
        return;
    }
    let pid = nix::unistd::Pid::from_raw(server.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if matches!(server.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = server.kill();
    let _ = server.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_socket_found_by_port() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1451 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n   1: 0100000A:D2F0 0200000A:1451 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0\n";
        assert!(listening(t, 5201));
        assert!(!listening(t, 5202));
        // An established connection to 5201 is not a listener on 53872.
        assert!(!listening(t, 0xD2F0));
    }

    #[test]
    fn port_from_arguments() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(port_of(&v(&["-t", "3"])), None);
        assert_eq!(port_of(&v(&["-p", "5300", "-t", "3"])), Some(5300));
        assert_eq!(port_of(&v(&["--port=6000"])), Some(6000));
    }
}
