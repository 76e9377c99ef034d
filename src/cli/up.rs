//! `reachlab up FILE [--detach]`: run a lab in the foreground, or start it in the background
//! and return once it is ready.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tokio::signal::unix::{signal, SignalKind};

use crate::lab::{self, state, state::LabState};
use crate::topology::Topology;

/// `reachlab up`'s arguments.
#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Topology file (TOML)
    #[arg(required_unless_present = "web")]
    pub file: Option<PathBuf>,
    /// Return once every site is ready, leaving the lab running in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Poll the TUNs in a busy loop instead of sleeping between packets: idle ping RTT
    /// drops by tens of microseconds (no thread wake-up per packet), at the cost of one
    /// CPU core kept busy while the lab runs
    #[arg(long)]
    pub busy_poll: bool,
    /// Do not use TUN offload (GSO super-packets): one packet per read and write. Slower;
    /// for comparison, and what reachlab falls back to when the kernel refuses offload
    #[arg(long)]
    pub no_offload: bool,
    /// Forwarding workers, each reading its own queue of every TUN and its own packet socket
    /// of every Ethernet port (flows are spread over them by hash; a flow stays on one).
    /// Default: half the machine's cores (the lab's own senders and receivers need the
    /// rest), 1 to 4
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: Option<u16>,
    /// Serve Prometheus metrics (per circuit and link: bytes, packets, queue depth, drops by
    /// reason; Global Reach state; modelled RTTs) at http://ADDR/metrics, e.g.
    /// 127.0.0.1:9464
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Serve a live view of the lab in the browser at http://ADDR/ (the picture with the
    /// numbers moving once a second, the links, Global Reach, the BGP sessions): ADDR:PORT,
    /// or a PORT on 127.0.0.1; alone, 127.0.0.1:8080
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080", value_parser = web_arg)]
    pub web: Option<WebArg>,
    /// Let the page change the lab (Global Reach, circuit links, VNet links) and run the
    /// reachability test; on a non-loopback --web address, only with the token the lab
    /// prints
    #[arg(long, requires = "web")]
    pub web_control: bool,
    /// Internal: print `ready` on stdout when up (used by --detach)
    #[arg(long, hide = true)]
    pub notify_ready: bool,
}

/// What follows `up --web`: an address, or (typed before the file) the topology file.
#[derive(Debug, Clone)]
pub enum WebArg {
    Addr(SocketAddr),
    File(PathBuf),
}

fn default_web() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// `--web`'s value: PORT or ADDR:PORT; an existing file or a `.toml` is the topology file.
fn web_arg(s: &str) -> Result<WebArg, String> {
    match super::listen_addr(s) {
        Ok(a) => Ok(WebArg::Addr(a)),
        Err(_) if s.ends_with(".toml") || Path::new(s).is_file() => {
            Ok(WebArg::File(PathBuf::from(s)))
        }
        Err(e) => Err(e),
    }
}

/// `reachlab up` as typed: `up --web lab.toml` (as people type it) takes the file as the FILE
/// and the view on the default address.
pub fn run_args(a: UpArgs, verbose: u8, quiet: bool) -> i32 {
    let (file, web) = match (a.file, a.web) {
        (Some(f), Some(WebArg::File(w))) => {
            return super::fail(format!(
                "--web takes PORT or ADDR:PORT, and {} is a file; the topology file is {}",
                w.display(),
                f.display()
            ))
        }
        (Some(f), Some(WebArg::Addr(a))) => (f, Some(a)),
        (Some(f), None) => (f, None),
        (None, Some(WebArg::File(f))) => (f, Some(default_web())),
        (None, _) => return super::fail("up needs a topology FILE (reachlab up FILE)"),
    };
    run(
        &file,
        Options {
            detach: a.detach,
            busy_poll: a.busy_poll,
            no_offload: a.no_offload,
            workers: a.workers,
            notify_ready: a.notify_ready,
            verbose,
            quiet,
            metrics: a.metrics,
            web,
            web_control: a.web_control,
        },
    )
}

/// How `up` runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub detach: bool,
    pub busy_poll: bool,
    pub no_offload: bool,
    /// Forwarding workers (None: `run::default_workers`).
    pub workers: Option<u16>,
    pub notify_ready: bool,
    /// -v count, handed on to a detached lab process.
    pub verbose: u8,
    pub quiet: bool,
    /// Serve Prometheus metrics on this address.
    pub metrics: Option<SocketAddr>,
    /// Serve the live view on this address.
    pub web: Option<SocketAddr>,
    /// Let the page change the lab.
    pub web_control: bool,
}

/// Progress is shown for labs at least this large (smaller ones are up in well under a
/// second).
const PROGRESS_FROM: usize = 20;

/// Reports (made, total) at every tenth of the way, on stderr, or on stdout as
/// `progress MADE TOTAL` for the parent of a detached lab.
fn progress_reporter(opts: &Options) -> impl FnMut(usize, usize) {
    let (quiet, notify) = (opts.quiet, opts.notify_ready);
    let mut shown = 0;
    move |made, total| {
        if quiet || total < PROGRESS_FROM || (made * 10 / total == shown && made != total) {
            return;
        }
        shown = made * 10 / total;
        if notify {
            println!("progress {made} {total}");
            let _ = std::io::stdout().flush();
        } else {
            eprintln!("reachlab: made {made} of {total} sites and VNets");
        }
    }
}

pub fn run(file: &Path, opts: Options) -> i32 {
    let topo = match Topology::load(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return super::fail(format!(
                "{} is not a valid topology; nothing was made",
                file.display()
            ));
        }
    };
    if !lab::is_root() {
        return super::fail(lab::LabError::NotRoot);
    }
    if let Err(code) = check_ports(file, &topo) {
        return code;
    }
    if opts.detach {
        return detach_run(file, &topo, opts);
    }
    foreground(file, &topo, opts)
}

/// The external sites' ports, checked on this host before anything is made: an interface
/// that is not there (or not Ethernet, or down, or another lab's), or a VXLAN that cannot be
/// made, is reported at its place in the file.
fn check_ports(file: &Path, topo: &Topology) -> Result<(), i32> {
    use crate::topology::Entity;
    for (i, s) in topo.site.iter().enumerate() {
        for (j, (key, spec)) in s.ports.iter().enumerate() {
            let found = lab::port::check(spec)
                .map(|(name, _)| lab::port_holder(&topo.lab.name, spec.netns(), &name));
            let problem = match found {
                Ok(None) => continue,
                Ok(Some(other)) => {
                    format!("{spec} is lab {other}'s port already; one interface attaches one link")
                }
                Err(e) => e.to_string(),
            };
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let span = Topology::span_of(&text, Entity::Site(i), "ports", j);
            let source = crate::diag::SourceFile::new(file.display().to_string(), text);
            eprintln!(
                "{}",
                source.render(&crate::diag::Diagnostic::new(
                    span,
                    format!("site {}, port {key}: {problem}", s.name)
                ))
            );
            return Err(super::fail(format!(
                "{} names a port this host cannot give; nothing was made",
                file.display()
            )));
        }
    }
    Ok(())
}

fn foreground(file: &Path, topo: &Topology, opts: Options) -> i32 {
    let notify_ready = opts.notify_ready;
    // The control plane (BGP, BFD, the RIBs, the control socket) runs on this thread; the
    // forwarding workers run on threads of their own (lab::run), so neither holds the other
    // up.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return super::fail(format!("starting the runtime: {e}")),
    };
    let result = rt.block_on(async {
        // Registered before anything is made, so a signal during set-up still cleans up.
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let shutdown = async move {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
                _ = hup.recv() => {},
            }
        };
        let on_ready = |st: &LabState| {
            if notify_ready {
                println!("ready");
                let _ = std::io::stdout().flush();
                silence_stdout();
            } else if !opts.quiet {
                print_summary(st);
                println!("Ctrl-C stops the lab and removes everything it made.");
            }
        };
        let io = lab::run::IoOptions {
            poll: if opts.busy_poll {
                lab::run::Poll::Busy
            } else {
                lab::run::Poll::Sleep
            },
            offload: !opts.no_offload,
            workers: opts
                .workers
                .map_or_else(lab::run::default_workers, usize::from),
        };
        let mut progress = progress_reporter(&opts);
        let run_opts = lab::RunOptions {
            io,
            metrics: opts.metrics,
            web: opts.web.map(|a| (a, opts.web_control)),
            progress: &mut progress,
        };
        lab::run(
            topo,
            &file.display().to_string(),
            run_opts,
            on_ready,
            shutdown,
        )
        .await
        .map_err(std::io::Error::other)
    });
    match result {
        Ok(()) => {
            if !notify_ready && !opts.quiet {
                println!("lab {} is down", topo.lab.name);
            }
            0
        }
        Err(e) => super::fail(e),
    }
}

/// After `ready`, the parent stops reading: stdout goes to /dev/null so later prints cannot
/// fail on a closed pipe.
fn silence_stdout() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
    }
}

fn detach_run(file: &Path, topo: &Topology, opts: Options) -> i32 {
    let lab = &topo.lab.name;
    if let Err(e) = std::fs::create_dir_all(state::run_dir()) {
        return super::fail(format!("creating {}: {e}", state::run_dir().display()));
    }
    let log_path = state::log_path(lab);
    let log = match std::fs::File::create(&log_path) {
        Ok(f) => f,
        Err(e) => return super::fail(format!("creating {}: {e}", log_path.display())),
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return super::fail(format!("finding the reachlab binary: {e}")),
    };
    let mut cmd = Command::new(exe);
    cmd.arg("up").arg(file).arg("--notify-ready");
    if opts.busy_poll {
        cmd.arg("--busy-poll");
    }
    if opts.no_offload {
        cmd.arg("--no-offload");
    }
    if let Some(w) = opts.workers {
        cmd.arg("--workers").arg(w.to_string());
    }
    if let Some(m) = opts.metrics {
        cmd.arg("--metrics").arg(m.to_string());
    }
    if let Some(w) = opts.web {
        cmd.arg("--web").arg(w.to_string());
    }
    if opts.web_control {
        cmd.arg("--web-control");
    }
    if opts.quiet {
        cmd.arg("--quiet");
    }
    if opts.verbose > 0 {
        cmd.arg(format!("-{}", "v".repeat(usize::from(opts.verbose))));
    }
    let mut child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        // Its own process group: Ctrl-C in this terminal does not reach the lab.
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return super::fail(format!("starting the lab process: {e}")),
    };
    let stdout = child.stdout.take().expect("piped");
    let ready = BufReader::new(stdout).lines().any(|l| {
        let l = l.unwrap_or_default();
        if let Some(p) = l.strip_prefix("progress ").filter(|_| !opts.quiet) {
            if let Some((made, total)) = p.split_once(' ') {
                eprintln!("reachlab: made {made} of {total} sites and VNets");
            }
        }
        l.trim() == "ready"
    });
    if ready {
        match LabState::load(lab) {
            Ok(st) if opts.quiet => drop(st),
            Ok(st) => {
                print_summary(&st);
                println!("Running in the background; `reachlab down {lab}` stops it.");
            }
            Err(e) => println!(
                "lab {lab} is up (pid {}); state unreadable: {e}",
                child.id()
            ),
        }
        return 0;
    }
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);
    eprint!("{log}");
    super::fail(format!("lab {lab} did not come up"))
}

pub(super) fn print_summary(st: &LabState) {
    println!("lab {} is up (pid {}, from {})", st.lab, st.pid, st.file);
    super::status::print_endpoints(st);
    if let Some(m) = &st.metrics {
        println!("Metrics: http://{m}/metrics");
    }
    if let Some(l) = super::status::live_view(st) {
        println!("Live view: {l}");
    }
    if let [first, second, ..] = &st.endpoints[..] {
        println!(
            "Try: reachlab exec {} -- ping -c 3 {} (names resolve inside the lab)",
            first.name, second.name
        );
    }
}
