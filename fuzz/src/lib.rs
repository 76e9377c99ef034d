//! What the fuzz targets share: reading structure out of the fuzzer's bytes, and turning those
//! bytes into a topology file, so every target starts from a random *valid* lab as often as
//! the rules allow.

use reachlab::diag::SourceFile;
use reachlab::topology::Topology;

/// The fuzzer's bytes, read front to back; zeroes once they run out.
pub struct Input<'a>(pub &'a [u8]);

impl<'a> Input<'a> {
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }

    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.byte() as usize % from.len()]
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const LOCATIONS: &[&str] = &[
    "Silicon Valley",
    "London",
    "Tokyo",
    "Amsterdam",
    "Seattle",
    "Hong Kong",
    "Sao Paulo",
    "Sydney",
];
const REGIONS: &[&str] = &[
    "West US",
    "UK South",
    "Japan East",
    "East US",
    "Brazil South",
];

/// A topology file made from the input: 1-4 circuits (mostly Premium, at a few peering
/// locations), 1-4 sites with an IPv4 and maybe an IPv6 prefix, 0-3 VNets linked to some
/// circuits, Global Reach between some pairs, and some of the timing knobs. The text goes
/// through the real parser and rules; `None` when they refuse it.
pub fn topology_text(inp: &mut Input) -> String {
    use std::fmt::Write;
    let mut t = String::new();
    let flags = inp.byte();
    let latency = if flags & 1 == 0 { "none" } else { "geographic" };
    let _ = writeln!(
        t,
        "[lab]\nname = \"fz\"\nlatency = \"{latency}\"\nseed = {}",
        inp.byte()
    );
    let nc = 1 + inp.byte() as usize % 4;
    for i in 0..nc {
        let loc = inp.pick(LOCATIONS);
        let sku = inp.pick(&["Premium", "Premium", "Premium", "Standard", "Local"]);
        let bw = inp.pick(&["50Mbps", "1Gbps", "unlimited", "unlimited"]);
        let _ = writeln!(
            t,
            "[[circuit]]\nname = \"c{i}\"\npeering_location = \"{loc}\"\nbandwidth = \"{bw}\"\nsku = \"{sku}\""
        );
        let knobs = inp.byte();
        if knobs & 1 != 0 {
            let _ = writeln!(t, "mtu = {}", 1280 + inp.byte() as u16 * 4);
        }
        if knobs & 2 != 0 {
            let _ = writeln!(t, "loss = \"{}%\"", inp.byte() % 30);
        }
        if knobs & 4 != 0 {
            let _ = writeln!(t, "jitter = \"{}ms\"", inp.byte() % 8);
        }
        if knobs & 8 != 0 {
            let _ = writeln!(t, "queue = \"{}ms\"", 1 + inp.byte() % 50);
        }
    }
    let ns = 1 + inp.byte() as usize % 4;
    for i in 0..ns {
        let c = inp.byte() as usize % nc;
        let v6 = if inp.byte() & 1 != 0 {
            format!(", \"fd00:{}::/64\"", i + 1)
        } else {
            String::new()
        };
        let _ = writeln!(
            t,
            "[[site]]\nname = \"s{i}\"\ncircuit = \"c{c}\"\nprefixes = [\"10.0.{}.0/24\"{v6}]",
            i + 1
        );
    }
    let nv = inp.byte() as usize % 4;
    for i in 0..nv {
        let region = inp.pick(REGIONS);
        let mask = inp.byte() as usize;
        let circuits: Vec<String> = (0..nc)
            .filter(|c| mask & (1 << c) != 0)
            .map(|c| format!("\"c{c}\""))
            .collect();
        let _ = writeln!(
            t,
            "[[vnet]]\nname = \"v{i}\"\nregion = \"{region}\"\nprefixes = [\"10.1.{}.0/24\", \"fd01:{}::/64\"]\ncircuits = [{}]",
            i + 1,
            i + 1,
            circuits.join(", ")
        );
    }
    let mut k = 0;
    for a in 0..nc {
        for b in a + 1..nc {
            if inp.byte() & 1 != 0 {
                let _ = writeln!(
                    t,
                    "[[global_reach]]\ncircuits = [\"c{a}\", \"c{b}\"]\naddress_prefix = \"192.168.{}.0/29\"\nipv6_address_prefix = \"fd99:{k}::/125\"",
                    8 + k
                );
                k += 1;
            }
        }
    }
    t
}

/// The topology the input describes, when the rules accept it. Parsed once per distinct text
/// (most of the fuzzer's mutations land in the bytes after the lab's), which multiplies the
/// executions per second of the engine and control targets.
pub fn topology(inp: &mut Input) -> Option<Topology> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static SEEN: RefCell<HashMap<String, Option<Topology>>> = RefCell::new(HashMap::new());
    }
    let text = topology_text(inp);
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        if let Some(t) = seen.get(&text) {
            return t.clone();
        }
        if seen.len() > 20_000 {
            seen.clear();
        }
        let t = Topology::from_source(SourceFile::new("fuzz.toml", text.clone()), "fz").ok();
        seen.insert(text, t.clone());
        t
    })
}
