//! The control protocol under arbitrary input, against a live lab's control plane (without
//! namespaces: the lab's routes in them are the only thing skipped). The first bytes make a
//! random valid lab; the rest is either raw request lines, exactly as the socket reads them,
//! or requests built from the lab's own names with fuzzed values, so the fuzzer gets past JSON
//! and into every verb's checks.
//!
//! Asserted: no panic; every reply serializes; a refused request leaves the lab exactly as it
//! was; the lab always satisfies the topology rules, and its export is accepted by `check`
//! and describes the same lab.

#![no_main]

use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use reachlab::control::proto::{decode, MAX_REQUEST, PROTOCOL};
use reachlab::diag::SourceFile;
use reachlab::engine::Engine;
use reachlab::lab::live::LiveLab;
use reachlab::topology::Topology;
use reachlab_fuzz::{topology, Input};

const VERBS: &[&str] = &[
    "global-reach-add",
    "global-reach-remove",
    "global-reach-list",
    "circuit-authorize",
    "circuit-show",
    "vnet-link",
    "vnet-unlink",
    "routes",
    "routes-summary",
    "stats",
    "circuit-link",
    "export",
    "capture",
];

fn name(inp: &mut Input, t: &Topology) -> String {
    let b = inp.byte();
    let names: Vec<&str> = t
        .circuit
        .iter()
        .map(|c| c.name.as_str())
        .chain(t.endpoint_names())
        .collect();
    match b % 8 {
        7 => String::from_utf8_lossy(inp.take(b as usize / 8)).into_owned(),
        _ => names[b as usize % names.len()].to_string(),
    }
}

fn prefix(inp: &mut Input) -> String {
    match inp.byte() % 4 {
        0 => format!(
            "192.168.{}.{}/{}",
            inp.byte(),
            inp.byte() & 0xf8,
            24 + inp.byte() % 9
        ),
        1 => format!("10.0.{}.0/29", inp.byte() % 5),
        2 => format!("fd99:{:x}::/{}", inp.byte(), 120 + inp.byte() % 9),
        _ => {
            let n = inp.byte() as usize % 24;
            String::from_utf8_lossy(inp.take(n)).into_owned()
        }
    }
}

/// A request line made of the lab's names and fuzzed values.
fn built(inp: &mut Input, t: &Topology, last_key: &Option<String>) -> Vec<u8> {
    let mut m = serde_json::Map::new();
    m.insert("verb".into(), inp.pick(VERBS).into());
    let fields = inp.u16();
    let key = match (inp.byte() % 3, last_key) {
        (0, Some(k)) => k.clone(),
        _ => format!("{:08x}", inp.u16()),
    };
    for (bit, field) in [
        "circuit",
        "peer",
        "vnet",
        "name",
        "address_prefix",
        "ipv6_address_prefix",
        "authorization_key",
        "path",
        "point",
    ]
    .iter()
    .enumerate()
    {
        if fields & (1 << bit) == 0 {
            continue;
        }
        let v: serde_json::Value = match *field {
            "address_prefix" | "ipv6_address_prefix" => prefix(inp).into(),
            "authorization_key" => key.clone().into(),
            "path" => inp.pick(&["primary", "secondary", "tertiary"]).into(),
            "point" => name(inp, t).into(),
            _ => name(inp, t).into(),
        };
        m.insert(field.to_string(), v);
    }
    if inp.byte() & 1 != 0 {
        m.insert("up".into(), (inp.byte() & 1 != 0).into());
    }
    // The protocol version, mostly right.
    let v = if inp.byte() & 7 == 0 {
        inp.byte() as u32
    } else {
        PROTOCOL
    };
    m.insert("v".into(), v.into());
    serde_json::to_vec(&m).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let Some(t) = topology(&mut inp) else { return };
    let engine = Arc::new(Mutex::new(Engine::new(reachlab::plane::tables(&t))));
    let mut live = LiveLab::new(t, Arc::clone(&engine), Vec::new());
    let raw = inp.byte() & 1 == 0;
    let mut last_key = None;
    let mut requests = 0;
    while !inp.is_empty() && requests < 64 {
        requests += 1;
        let line = if raw {
            let n = inp.u16() as usize % (MAX_REQUEST + 64);
            let l = inp.take(n);
            match l.iter().position(|&b| b == b'\n') {
                Some(i) => l[..=i].to_vec(),
                None => l.to_vec(),
            }
        } else {
            built(&mut inp, live.topology(), &last_key)
        };
        let before = live.topology().clone();
        let resp = match decode(&line) {
            Err((resp, _close)) => resp,
            Ok(req) => live.handle(req),
        };
        serde_json::to_vec(&resp).expect("every reply serializes");
        if !resp.ok {
            assert!(resp.error.is_some(), "a refusal says why");
            assert_eq!(
                &before,
                live.topology(),
                "a refused request changed the lab"
            );
            continue;
        }
        if let Some(k) = resp.result.get("key").and_then(|k| k.as_str()) {
            last_key = Some(k.to_string());
        }
        let now = live.topology();
        now.validate()
            .unwrap_or_else(|e| panic!("the lab breaks its own rules: {e:?}"));
        if &before != now {
            let text = live.export();
            let back = Topology::from_source(SourceFile::new("export.toml", text.clone()), "x")
                .unwrap_or_else(|e| panic!("check refuses the export:\n{e}\n---\n{text}"));
            assert_eq!(&back, now, "the export describes another lab:\n{text}");
            assert_eq!(
                engine.lock().unwrap().tables().ports.len(),
                now.endpoint_names().count()
            );
        }
    }
});
