//! `reachlab capture POINT -w FILE`: the packets passing a site, a VNet, a circuit link or a
//! Global Reach connection, written as pcap (raw IP, link type 101; an Ethernet port's frames,
//! link type 1) to a file or to stdout for
//! `| tcpdump -r -` or `| wireshark -k -i -`. Each packet is flushed as it arrives.

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use clap::Args;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::fail;
use crate::control::{client, proto};
use crate::lab;

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// What to capture: a site or VNet (its TUN, both directions), a circuit (its link between
    /// the customer edge and the MSEE, both directions) or a Global Reach connection written
    /// CIRCUIT:PEER (between the two MSEEs)
    point: String,
    /// Write pcap to FILE; `-` writes to stdout
    #[arg(short = 'w', value_name = "FILE")]
    write: PathBuf,
    /// For a circuit: which of its links
    #[arg(long, value_enum)]
    path: Option<proto::Path>,
    /// Stop after N packets
    #[arg(short = 'c', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Stop after this many seconds (fractions allowed); without -c or --duration, capture
    /// until Ctrl-C
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    duration: Option<Duration>,
    /// Lab name (default: the only running lab)
    #[arg(long)]
    lab: Option<String>,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1e7 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!(
            "\"{s}\" is not a duration in seconds (a positive number, e.g. 10 or 0.5)"
        )),
    }
}

/// pcap-file's writer over a buffer we drain after each packet, so each one reaches the file
/// or pipe at once.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn open(path: &Path) -> std::io::Result<Box<dyn Write>> {
    if path == Path::new("-") {
        Ok(Box::new(std::io::stdout().lock()))
    } else {
        Ok(Box::new(std::fs::File::create(path)?))
    }
}

pub fn run(a: CaptureArgs, quiet: bool) -> i32 {
    let lab = match lab::resolve_lab(a.lab.as_deref()) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let out = match open(&a.write) {
        Ok(o) => o,
        Err(e) => return fail(format!("cannot write {}: {e}", a.write.display())),
    };
    let buf = Shared::default();
    // Made once the lab says what it copies (raw IP, or an Ethernet port's frames).
    let pcap: RefCell<Option<PcapWriter<Shared>>> = RefCell::new(None);
    let req = proto::Request::Capture {
        point: a.point.clone(),
        path: a.path,
        count: a.count,
        duration_ms: a.duration.map(|d| d.as_millis().max(1) as u64),
    };
    let out = RefCell::new(out);
    let write_err: RefCell<Option<std::io::Error>> = RefCell::new(None);
    // Moves what pcap-file wrote to the output, flushed.
    let drain = || -> std::io::Result<()> {
        let bytes = std::mem::take(&mut *buf.0.borrow_mut());
        let mut out = out.borrow_mut();
        out.write_all(&bytes)?;
        out.flush()
    };
    // Ctrl-C / SIGTERM shut the socket's write side: the lab then ends the capture and sends
    // its end record, so the summary still prints. (The watching thread ends with the
    // process: closing signal-hook's handle after a refused capture would write to its
    // already-closed wake-up socket.)
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(s) => s,
        Err(e) => return fail(format!("handling Ctrl-C: {e}")),
    };
    let result = client::capture(
        &lab,
        &req,
        |start, stream| {
            if let Ok(stream) = stream.try_clone() {
                std::thread::spawn(move || {
                    if signals.forever().next().is_some() {
                        let _ = stream.shutdown(std::net::Shutdown::Write);
                    }
                });
            }
            let (datalink, what) = match start.link_type {
                1 => (DataLink::ETHERNET, "Ethernet"),
                _ => (DataLink::RAW, "raw IP"),
            };
            let header = PcapHeader {
                datalink,
                snaplen: 262_144,
                endianness: Endianness::native(),
                ..Default::default()
            };
            match PcapWriter::with_header(buf.clone(), header) {
                Ok(w) => *pcap.borrow_mut() = Some(w),
                Err(e) => {
                    write_err
                        .borrow_mut()
                        .get_or_insert(std::io::Error::other(format!("pcap: {e}")));
                }
            }
            if !quiet {
                eprintln!(
                    "reachlab: capturing on {} in lab {lab}, {what} (pcap link type {})",
                    start.point, start.link_type
                );
            }
            if let Err(e) = drain() {
                write_err.borrow_mut().get_or_insert(e);
            }
        },
        |at, data| {
            let pkt = PcapPacket::new(at, data.len() as u32, data);
            if let Some(p) = pcap.borrow_mut().as_mut() {
                p.write_packet(&pkt)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
            }
            drain().inspect_err(|e| {
                write_err
                    .borrow_mut()
                    .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
            })
        },
    );
    match result {
        Ok(end) => {
            if let Some(e) = write_err
                .into_inner()
                .filter(|e| e.kind() != std::io::ErrorKind::BrokenPipe)
            {
                return fail(format!("writing {}: {e}", a.write.display()));
            }
            if !quiet {
                eprintln!(
                    "reachlab: {} packets captured, {} dropped by the lab (not read fast enough)",
                    end.packets, end.dropped
                );
            }
            0
        }
        Err(e) => fail(e),
    }
}
