//! The lab as text other tools draw: Graphviz DOT and a Mermaid flowchart. Their nodes are
//! the topology's; the connections' states and round trips come from the same layout the
//! SVG draws.

use std::fmt::Write;

use super::layout::{layout, ReachState};
use super::{bw, prefixes, rtt_label, View};
/// An identifier safe in DOT and Mermaid for a name of kind `k`.
fn id(k: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{k}_{clean}")
}

fn q(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The lab as a Graphviz graph (`dot -Tsvg`).
pub fn dot(v: &View) -> String {
    let t = v.topo;
    let l = layout(v);
    let tables = &l.tables;
    let mut o = String::new();
    let _ = writeln!(o, "graph \"{}\" {{", q(&t.lab.name));
    let _ = writeln!(
        o,
        "  rankdir=LR; fontname=\"Helvetica\"; node [fontname=\"Helvetica\", shape=box, style=\"rounded,filled\"]; edge [fontname=\"Helvetica\", fontsize=10];"
    );
    let _ = writeln!(
        o,
        "  labelloc=t; label=\"{}: ExpressRoute circuits and Global Reach\";",
        q(&t.lab.name)
    );
    for s in &t.site {
        let _ = writeln!(
            o,
            "  {} [label=\"{}\\n{}\", fillcolor=\"#fff4e5\", color=\"#e8a33d\"];",
            id("site", &s.name),
            q(&s.name),
            q(&prefixes(&s.prefixes))
        );
    }
    let _ = writeln!(
        o,
        "  subgraph cluster_microsoft {{\n    label=\"Microsoft global network\"; style=\"rounded,dashed\"; color=\"#0078d4\"; bgcolor=\"#eef6fc\";"
    );
    for c in &t.circuit {
        let up = v.circuit_up(&c.name);
        let _ = writeln!(
            o,
            "    {} [label=\"{}\\nMSEE {}\\n{} {}\", fillcolor=\"{}\", fontcolor=white, color=\"#005a9e\"];",
            id("circuit", &c.name),
            q(&c.name),
            q(&c.peering_location),
            c.sku,
            bw(c.bandwidth),
            if up { "#0078d4" } else { "#a4262c" }
        );
    }
    for n in &t.vnet {
        let _ = writeln!(
            o,
            "    {} [label=\"VNet {}\\n{} {}\", fillcolor=white, color=\"#0078d4\"];",
            id("vnet", &n.name),
            q(&n.name),
            q(&n.region),
            q(&prefixes(&n.prefixes))
        );
    }
    let _ = writeln!(o, "  }}");
    for s in &t.site {
        for name in &s.circuits {
            let c = t.circuit.iter().position(|c| &c.name == name);
            let up = c.is_some_and(|c| v.links[c] != [false, false]);
            let bw = c.map(|c| bw(t.circuit[c].bandwidth)).unwrap_or_default();
            let _ = writeln!(
                o,
                "  {} -- {} [label=\"{bw}\", color=\"{}\"{}];",
                id("site", &s.name),
                id("circuit", name),
                if up { "#605e5c" } else { "#a4262c" },
                if up { "" } else { ", style=dashed" }
            );
        }
    }
    for (vi, n) in t.vnet.iter().enumerate() {
        for c in &n.circuits {
            let rtt = t
                .circuit
                .iter()
                .position(|x| &x.name == c)
                .map(|ci| {
                    rtt_label(
                        tables.vnet_delay[ci][t.site.len() + vi]
                            + tables.circuits[ci].timing.access,
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  {} -- {} [label=\"{rtt}\", color=\"#69afe5\"];",
                id("circuit", c),
                id("vnet", &n.name)
            );
        }
    }
    for reach in l.reaches.iter().filter(|r| r.index.is_some()) {
        let (g, rtt) = (reach.g, &reach.rtt);
        let connected = reach.state == ReachState::Connected;
        let _ = writeln!(
            o,
            "  {} -- {} [label=\"Global Reach {}\\n{rtt}{}\", color=\"{}\", penwidth=3{}];",
            id("circuit", &g.circuits[0]),
            id("circuit", &g.circuits[1]),
            g.address_prefix,
            if connected { "" } else { "\\nDisconnected" },
            if connected { "#107c10" } else { "#a4262c" },
            if connected { "" } else { ", style=dashed" }
        );
    }
    o.push_str("}\n");
    o
}

/// The lab as a Mermaid flowchart (renders in GitHub and most Markdown viewers).
pub fn mermaid(v: &View) -> String {
    let t = v.topo;
    let l = layout(v);
    let mut o = String::from("flowchart LR\n");
    let mq = |s: &str| s.replace('"', "#quot;");
    for s in &t.site {
        let _ = writeln!(
            o,
            "  {}[\"{}<br/>{}\"]",
            id("site", &s.name),
            mq(&s.name),
            mq(&prefixes(&s.prefixes))
        );
    }
    let _ = writeln!(o, "  subgraph microsoft[\"Microsoft global network\"]");
    for c in &t.circuit {
        let _ = writeln!(
            o,
            "    {}[\"{}<br/>MSEE {}<br/>{} {}\"]",
            id("circuit", &c.name),
            mq(&c.name),
            mq(&c.peering_location),
            c.sku,
            bw(c.bandwidth)
        );
    }
    for n in &t.vnet {
        let _ = writeln!(
            o,
            "    {}([\"VNet {}<br/>{} {}\"])",
            id("vnet", &n.name),
            mq(&n.name),
            mq(&n.region),
            mq(&prefixes(&n.prefixes))
        );
    }
    let _ = writeln!(o, "  end");
    for s in &t.site {
        for name in &s.circuits {
            let up = v.circuit_up(name);
            let _ = writeln!(
                o,
                "  {} {} {}",
                id("site", &s.name),
                if up { "---" } else { "-.-" },
                id("circuit", name)
            );
        }
    }
    for n in &t.vnet {
        for c in &n.circuits {
            let _ = writeln!(o, "  {} --- {}", id("circuit", c), id("vnet", &n.name));
        }
    }
    for reach in l.reaches.iter().filter(|r| r.index.is_some()) {
        let g = reach.g;
        let text = format!("Global Reach {} {}", g.address_prefix, reach.rtt);
        let text = text.trim_end();
        if reach.state == ReachState::Connected {
            let _ = writeln!(
                o,
                "  {} <==>|\"{}\"| {}",
                id("circuit", &g.circuits[0]),
                mq(text),
                id("circuit", &g.circuits[1])
            );
        } else {
            let _ = writeln!(
                o,
                "  {} <-.->|\"{} Disconnected\"| {}",
                id("circuit", &g.circuits[0]),
                mq(text),
                id("circuit", &g.circuits[1])
            );
        }
    }
    o
}
