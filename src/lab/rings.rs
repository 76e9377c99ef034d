//! The kernel's drops in front of reachlab: packets a namespace sent that its TUN's ring had
//! no room for, or frames an Ethernet port's packet socket had no room for, because reachlab
//! did not read them in time (a flood beyond what the lab forwards). This module gathers
//! those counts per port, so `stats` and the metrics report them with reachlab's own drops,
//! by reason (`ring-full`), rather than leaving them to `ip -s link` inside each namespace.
//!
//! A TUN's: the kernel counts them as its transmit drops. Each namespace's `/proc/net/dev`
//! is opened from inside it once, when the lab is made: read later from any thread, that file
//! still reports its own namespace's interfaces.
//!
//! A packet socket's: the kernel's count (PACKET_STATISTICS) starts again from zero each time
//! it is read, so only the worker that reads the socket reads it, and adds it to
//! `SocketDrops`, which this module reads.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::engine::PortId;

/// The drop reason reported for packets the kernel dropped at a full TUN ring.
pub const RING_FULL: &str = "ring-full";

/// Per port with a TUN: where to read its count; per Ethernet port: what its sockets'
/// readers collected.
#[derive(Default)]
pub struct Rings {
    tuns: Vec<(PortId, Arc<Mutex<File>>, String)>,
    sockets: Option<Arc<SocketDrops>>,
}

/// Per port, the frames the kernel dropped at its packet sockets' full receive buffers, as
/// the forwarding workers that read them collect it.
#[derive(Debug, Default)]
pub struct SocketDrops(Vec<AtomicU64>);

impl SocketDrops {
    /// Counts for `ports` ports, all zero.
    pub fn new(ports: usize) -> SocketDrops {
        SocketDrops((0..ports).map(|_| AtomicU64::new(0)).collect())
    }

    /// `n` more dropped at port `port`'s sockets.
    pub fn add(&self, port: PortId, n: u64) {
        if let Some(c) = self.0.get(port) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Per port, what was dropped so far (ports with none left out).
    pub fn dropped(&self) -> impl Iterator<Item = (PortId, u64)> + '_ {
        self.0
            .iter()
            .enumerate()
            .map(|(port, c)| (port, c.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
    }
}

impl Rings {
    /// Counters for the TUNs `tuns` names: (port, namespace, TUN). A namespace whose
    /// counters cannot be opened is left out (its ports report nothing), with a warning.
    pub fn open(tuns: &[(PortId, String, String)]) -> Rings {
        let mut files: BTreeMap<&str, Arc<Mutex<File>>> = BTreeMap::new();
        let mut rings = Rings::default();
        for (port, ns, tun) in tuns {
            let file = match files.get(ns.as_str()) {
                Some(f) => Arc::clone(f),
                None => match super::netns::open_dev_counters(ns) {
                    Ok(f) => {
                        let f = Arc::new(Mutex::new(f));
                        files.insert(ns, Arc::clone(&f));
                        f
                    }
                    Err(e) => {
                        tracing::warn!(ns, error = %e, "no interface counters for the namespace: its TUNs' ring drops are not reported");
                        continue;
                    }
                },
            };
            rings.tuns.push((*port, file, tun.clone()));
        }
        rings
    }

    /// Reports the drops the workers collect from the Ethernet ports' sockets too.
    pub fn with_sockets(mut self, sockets: Arc<SocketDrops>) -> Rings {
        self.sockets = Some(sockets);
        self
    }

    /// Per port with a TUN, the packets the kernel dropped at its full ring so far; per
    /// Ethernet port that dropped some, the frames its sockets had no room for.
    pub fn dropped(&self) -> BTreeMap<PortId, u64> {
        let mut all: BTreeMap<PortId, u64> = self
            .tuns
            .iter()
            .filter_map(|(port, file, tun)| {
                let text = read_all(file).ok()?;
                Some((*port, tx_dropped(&text, tun)?))
            })
            .collect();
        for (port, n) in self.sockets.iter().flat_map(|s| s.dropped()) {
            *all.entry(port).or_default() += n;
        }
        all
    }
}

/// Of `dropped` (per port), what circuit `circuit`'s router-link TUNs dropped.
pub fn circuit_total(
    dropped: &BTreeMap<PortId, u64>,
    tables: &crate::engine::Tables,
    circuit: crate::engine::table::CircuitId,
) -> u64 {
    dropped
        .iter()
        .filter(|(port, _)| {
            matches!(
                tables.ports.get(**port).map(|p| &p.kind),
                Some(crate::engine::table::PortKind::Link { circuit: c, .. }) if *c == circuit
            )
        })
        .map(|(_, n)| n)
        .sum()
}

fn read_all(file: &Mutex<File>) -> io::Result<String> {
    let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
    f.rewind()?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    Ok(text)
}

/// Interface `dev`'s transmit drops in the text of a `/proc/net/dev`: the 12th number after
/// its name (receive: bytes, packets, errs, drop, fifo, frame, compressed, multicast;
/// transmit: bytes, packets, errs, drop, ...).
pub fn tx_dropped(text: &str, dev: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (name, numbers) = l.split_once(':')?;
        if name.trim() != dev {
            return None;
        }
        numbers.split_whitespace().nth(11)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
 rl-sf: 5251920   81061    0    0    0     0          0         0 10617728  165902    0 611843    0     0       0          0
primary:12345678901 2    0    0    0     0          0         0      100       1    0    7    0     0       0          0
";

    #[test]
    fn socket_drops_add_up_per_port_beside_the_tuns() {
        let sockets = Arc::new(SocketDrops::new(3));
        sockets.add(1, 5);
        sockets.add(1, 2);
        sockets.add(7, 1); // no such port: ignored
        let rings = Rings::default().with_sockets(Arc::clone(&sockets));
        assert_eq!(rings.dropped(), BTreeMap::from([(1, 7)]));
    }

    #[test]
    fn the_transmit_drops_of_the_named_interface() {
        assert_eq!(tx_dropped(DEV, "rl-sf"), Some(611_843));
        assert_eq!(tx_dropped(DEV, "lo"), Some(0));
        // A name and a large first number with no space between them.
        assert_eq!(tx_dropped(DEV, "primary"), Some(7));
        assert_eq!(tx_dropped(DEV, "rl-london"), None);
        assert_eq!(tx_dropped("garbage\n:::\n", "rl-sf"), None);
    }
}
