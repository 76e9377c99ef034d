//! The live view's moving numbers: the engine's counters, read once a second, turned into
//! rates per circuit link and direction (bits/s, packets/s, drops/s by reason: the shaper's
//! full queue, loss on the link), the queue delay at the time of reading, the circuit's drops
//! by every reason, and the last minute of each link's throughput for the page's small time
//! series. Pure: readings stamped with the lab's clock in, rates out; the
//! server does the reading (`super::read`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde::Serialize;

/// Points of history kept per link (one a second: the last minute).
pub const HISTORY: usize = 60;

/// One direction of one link at a moment: the engine's running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DirReading {
    pub bytes: u64,
    pub packets: u64,
    /// How long a packet arriving now would wait in the shaper.
    pub queue: Duration,
    /// Segments dropped here so far: `[queue-full, lost]`.
    pub drops: [u64; 2],
}

/// The reasons a packet is dropped on one link and direction, as `DropReason::name` gives
/// them, in `DirReading::drops` order.
pub const LINK_DROPS: [&str; 2] = ["queue-full", "lost"];

/// One circuit link: up or failed, and its two directions (`[in, out]`: in = from the customer
/// towards Microsoft, as `stats` and az get-stats count it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkReading {
    pub up: bool,
    pub dirs: [DirReading; 2],
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CircuitReading {
    pub name: String,
    /// `[primary, secondary]`.
    pub links: [LinkReading; 2],
    /// Drops at the circuit's MSEE and on its links, by reason (running totals).
    pub drops: BTreeMap<String, u64>,
}

/// Every circuit's counters at `at` (the lab's clock).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    pub at: Duration,
    pub circuits: Vec<CircuitReading>,
}

/// One direction's rates over the last interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DirRates {
    pub bits_per_second: f64,
    pub packets_per_second: f64,
    /// Queue delay when read, in milliseconds.
    pub queue_ms: f64,
    /// Running totals by reason (reasons with none left out).
    pub drops: BTreeMap<&'static str, u64>,
    /// Over the last interval, by reason (reasons with none left out).
    pub drops_per_second: BTreeMap<&'static str, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkRates {
    /// "primary" or "secondary".
    pub link: &'static str,
    pub up: bool,
    #[serde(rename = "in")]
    pub input: DirRates,
    pub out: DirRates,
    /// The last minute, oldest first: `[seconds since the lab started, in bits/s, out bits/s]`.
    pub history: Vec<[f64; 3]>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CircuitRates {
    pub circuit: String,
    pub links: Vec<LinkRates>,
    /// Running totals, by reason (reasons with none left out).
    pub drops: BTreeMap<String, u64>,
    /// Over the last interval, by reason (reasons with none left out).
    pub drops_per_second: BTreeMap<String, f64>,
}

/// Turns successive readings into rates.
#[derive(Debug, Default)]
pub struct Rates {
    prev: Option<Reading>,
    history: HashMap<(String, usize), VecDeque<[f64; 3]>>,
    last: Vec<CircuitRates>,
}

const LINKS: [&str; 2] = ["primary", "secondary"];

impl Rates {
    /// Takes a reading; returns the rates since the previous one (zero on the first, or when
    /// the clock did not move). Counters that went backwards count as nothing sent.
    pub fn push(&mut self, r: Reading) -> &[CircuitRates] {
        let secs = self
            .prev
            .as_ref()
            .map_or(0.0, |p| r.at.saturating_sub(p.at).as_secs_f64());
        let per_sec = |now: u64, before: u64| {
            if secs > 0.0 {
                now.saturating_sub(before) as f64 / secs
            } else {
                0.0
            }
        };
        let mut out = Vec::with_capacity(r.circuits.len());
        for c in &r.circuits {
            let before = self
                .prev
                .as_ref()
                .and_then(|p| p.circuits.iter().find(|x| x.name == c.name));
            let mut links = Vec::with_capacity(2);
            for (k, l) in c.links.iter().enumerate() {
                let dir = |d: usize| {
                    let b = before.map(|b| b.links[k].dirs[d]);
                    let now = l.dirs[d];
                    // Nothing before: no interval to measure over.
                    let (bytes, packets) = b.map_or((0.0, 0.0), |b| {
                        (per_sec(now.bytes, b.bytes), per_sec(now.packets, b.packets))
                    });
                    let mut drops = BTreeMap::new();
                    let mut drops_per_second = BTreeMap::new();
                    for (i, reason) in LINK_DROPS.iter().enumerate() {
                        if now.drops[i] > 0 {
                            drops.insert(*reason, now.drops[i]);
                        }
                        let rate = b.map_or(0.0, |b| per_sec(now.drops[i], b.drops[i]));
                        if rate > 0.0 {
                            drops_per_second.insert(*reason, rate);
                        }
                    }
                    DirRates {
                        bits_per_second: bytes * 8.0,
                        packets_per_second: packets,
                        queue_ms: now.queue.as_secs_f64() * 1e3,
                        drops,
                        drops_per_second,
                    }
                };
                let (input, output) = (dir(0), dir(1));
                let h = self.history.entry((c.name.clone(), k)).or_default();
                if before.is_some() && secs > 0.0 {
                    h.push_back([
                        r.at.as_secs_f64(),
                        input.bits_per_second,
                        output.bits_per_second,
                    ]);
                    while h.len() > HISTORY {
                        h.pop_front();
                    }
                }
                links.push(LinkRates {
                    link: LINKS[k],
                    up: l.up,
                    input,
                    out: output,
                    history: h.iter().copied().collect(),
                });
            }
            let drops_per_second = c
                .drops
                .iter()
                .filter_map(|(reason, &n)| {
                    let b = before.and_then(|b| b.drops.get(reason)).copied();
                    let rate = b.map_or(0.0, |b| per_sec(n, b));
                    (rate > 0.0).then(|| (reason.clone(), rate))
                })
                .collect();
            out.push(CircuitRates {
                circuit: c.name.clone(),
                links,
                drops: c
                    .drops
                    .iter()
                    .filter(|(_, &n)| n > 0)
                    .map(|(k, &n)| (k.clone(), n))
                    .collect(),
                drops_per_second,
            });
        }
        self.prev = Some(r);
        self.last = out;
        &self.last
    }

    /// The rates from the latest reading.
    pub fn last(&self) -> &[CircuitRates] {
        &self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(at_ms: u64, bytes_in: u64, packets_in: u64, dropped: u64) -> Reading {
        let mut link = LinkReading {
            up: true,
            ..Default::default()
        };
        link.dirs[0] = DirReading {
            bytes: bytes_in,
            packets: packets_in,
            queue: Duration::from_micros(2500),
            drops: [dropped, 0],
        };
        Reading {
            at: Duration::from_millis(at_ms),
            circuits: vec![CircuitReading {
                name: "er-sv".into(),
                links: [link, LinkReading::default()],
                drops: [("queue-full".to_string(), dropped)].into(),
            }],
        }
    }

    #[test]
    fn rates_are_per_second_of_the_lab_clock() {
        let mut r = Rates::default();
        let first = r.push(reading(1000, 1_000_000, 1000, 0));
        assert_eq!(first[0].links[0].input.bits_per_second, 0.0);
        assert!(first[0].links[0].history.is_empty());
        assert!(first[0].drops.is_empty());
        // 6.25 MB in half a second: 100 Mbit/s; 4000 packets: 8000/s.
        let c = &r.push(reading(1500, 7_250_000, 5000, 30))[0];
        let l = &c.links[0];
        assert_eq!(l.link, "primary");
        assert!((l.input.bits_per_second - 100e6).abs() < 1.0);
        assert!((l.input.packets_per_second - 8000.0).abs() < 1e-6);
        assert!((l.input.queue_ms - 2.5).abs() < 1e-9);
        assert_eq!(l.out.bits_per_second, 0.0);
        assert_eq!(l.history.len(), 1);
        assert!((l.history[0][0] - 1.5).abs() < 1e-9);
        assert_eq!(c.drops["queue-full"], 30);
        assert!((c.drops_per_second["queue-full"] - 60.0).abs() < 1e-9);
        // The same drops on the link and direction they happened.
        assert_eq!(l.input.drops["queue-full"], 30);
        assert!((l.input.drops_per_second["queue-full"] - 60.0).abs() < 1e-9);
        assert!(l.out.drops.is_empty() && !l.input.drops.contains_key("lost"));
        assert!(!c.links[1].up);
    }

    #[test]
    fn history_keeps_the_last_minute_and_counters_never_go_negative() {
        let mut r = Rates::default();
        for s in 0..=(HISTORY as u64 + 5) {
            r.push(reading(s * 1000, s * 1000, s, 0));
        }
        let l = &r.last()[0].links[0];
        assert_eq!(l.history.len(), HISTORY);
        assert!((l.history.last().unwrap()[0] - (HISTORY as f64 + 5.0)).abs() < 1e-9);
        assert!((l.input.bits_per_second - 8000.0).abs() < 1e-6);
        // A counter that went back (a lab restarted under the same name) is no traffic.
        let c = &r.push(reading((HISTORY as u64 + 6) * 1000, 0, 0, 0))[0];
        assert_eq!(c.links[0].input.bits_per_second, 0.0);
        // The clock standing still gives no rate, not a division by zero.
        let c = &r.push(reading((HISTORY as u64 + 6) * 1000, 5000, 5, 0))[0];
        assert_eq!(c.links[0].input.bits_per_second, 0.0);
        assert!(c.links[0].input.bits_per_second.is_finite());
    }
}
