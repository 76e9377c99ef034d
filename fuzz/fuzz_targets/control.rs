//! The control protocol under arbitrary input, against a live lab's control plane (without
//! namespaces: the lab's routes in them are the only thing skipped). The first bytes make a
//! random valid lab; the rest is either raw request lines, exactly as the socket reads them,
//! or requests built from the lab's own names with fuzzed values, so the fuzzer gets past JSON
//! and into every verb's checks.
//!
//! A third mode sends the live view's write endpoints (method, path, query, body, fuzzed or
//! built from the lab's names) through `web::parse_write` first, as the page's server does.
//!
//! Asserted: no panic; every reply serializes; a write the page's parser refuses gets a 4xx
//! with a reason; a refused request leaves the lab exactly as it was; the lab always satisfies the topology rules, and its export is accepted by `check`
//! and describes the same lab.

#![no_main]

use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use reachlab::control::proto::{decode, MAX_REQUEST, PROTOCOL};
use reachlab::diag::SourceFile;
use reachlab::engine::Engine;
use reachlab::lab::live::LiveLab;
use reachlab::lab::web::parse_write;
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

/// A request to the live view's write endpoints: method, path, query, body.
fn web(inp: &mut Input, t: &Topology) -> (String, String, String, Vec<u8>) {
    let method = match inp.byte() % 6 {
        0 | 1 => "POST".to_string(),
        2 => "DELETE".to_string(),
        3 => "GET".to_string(),
        4 => "PUT".to_string(),
        _ => String::from_utf8_lossy(inp.take(6)).into_owned(),
    };
    // Up to `max - 1` fuzzed bytes as text.
    let text = |inp: &mut Input, max: u8| -> String {
        let n = (inp.byte() % max) as usize;
        String::from_utf8_lossy(inp.take(n)).into_owned()
    };
    let seg = |inp: &mut Input, options: &[&str]| -> String {
        if inp.byte() % 5 == 0 {
            text(inp, 12)
        } else {
            inp.pick(options).to_string()
        }
    };
    let path = match inp.byte() % 5 {
        0 => "/api/global-reach".to_string(),
        1 => format!(
            "/api/circuit/{}/{}/{}",
            name(inp, t),
            seg(inp, &["primary", "secondary"]),
            seg(inp, &["fail", "restore"])
        ),
        2 => format!(
            "/api/vnet/{}/{}/{}",
            name(inp, t),
            name(inp, t),
            seg(inp, &["link", "unlink"])
        ),
        3 => format!(
            "/api/{}",
            seg(inp, &["global-reach", "lab", "test", "circuit"])
        ),
        _ => text(inp, 40),
    };
    let query = match inp.byte() % 4 {
        0 => String::new(),
        1 => format!("circuit={}&peer={}", name(inp, t), name(inp, t)),
        2 => format!("weight={}", inp.u16()),
        _ => text(inp, 24),
    };
    let body = if inp.byte() & 1 == 0 {
        serde_json::to_vec(&serde_json::json!({
            "circuit": name(inp, t),
            "peer": name(inp, t),
            "address_prefix": prefix(inp),
        }))
        .unwrap()
    } else {
        let n = inp.byte() as usize;
        inp.take(n).to_vec()
    };
    (method, path, query, body)
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let Some(t) = topology(&mut inp) else { return };
    let engine = Arc::new(Mutex::new(Engine::new(reachlab::plane::tables(&t))));
    let mut live = LiveLab::new(t, Arc::clone(&engine), Vec::new());
    let mode = inp.byte() % 3;
    let mut last_key = None;
    let mut requests = 0;
    while !inp.is_empty() && requests < 64 {
        requests += 1;
        let before = live.topology().clone();
        let resp = if mode == 2 {
            let (method, path, query, body) = web(&mut inp, live.topology());
            match parse_write(&method, &path, &query, &body) {
                Err(b) => {
                    assert!(
                        (400..500).contains(&b.status) && !b.reason.is_empty(),
                        "{b:?}"
                    );
                    continue;
                }
                Ok(req) => live.handle(req),
            }
        } else {
            let line = if mode == 0 {
                let n = inp.u16() as usize % (MAX_REQUEST + 64);
                let l = inp.take(n);
                match l.iter().position(|&b| b == b'\n') {
                    Some(i) => l[..=i].to_vec(),
                    None => l.to_vec(),
                }
            } else {
                built(&mut inp, live.topology(), &last_key)
            };
            match decode(&line) {
                Err((resp, _close)) => resp,
                Ok(req) => live.handle(req),
            }
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
