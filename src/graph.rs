//! Pictures of a lab: SVG, Graphviz DOT and Mermaid, drawn like Microsoft's Global Reach
//! figures: branch sites at the edges, their circuits' MSEEs at the border of Microsoft's
//! network in the middle, VNets inside it, Global Reach connections across it (dashed when
//! disconnected). Labels carry bandwidth, peering location and modelled round trips. Pure: a
//! topology and link states in, text out.

use std::fmt::Write;

use crate::catalogue::catalogue;
use crate::engine::Tables;
use crate::topology::Topology;

/// What to draw: a topology, and the state of its links when drawn from a running lab.
pub struct View<'a> {
    pub topo: &'a Topology,
    /// Per circuit (file order): whether its primary and secondary links are up.
    pub links: Vec<[bool; 2]>,
}

impl<'a> View<'a> {
    /// A topology as its file describes it: every link up.
    pub fn of(topo: &'a Topology) -> View<'a> {
        View {
            topo,
            links: vec![[true, true]; topo.circuit.len()],
        }
    }

    fn circuit_up(&self, name: &str) -> bool {
        self.topo
            .circuit
            .iter()
            .position(|c| c.name == name)
            .is_some_and(|i| self.links[i] != [false, false])
    }

    /// A Global Reach connection is Disconnected when one of its circuits has no link up.
    fn gr_connected(&self, i: usize) -> bool {
        self.topo.global_reach[i]
            .circuits
            .iter()
            .all(|c| self.circuit_up(c))
    }
}

/// The indices of a Global Reach connection's two circuits.
fn gr_circuits(t: &Topology, g: &crate::topology::GlobalReach) -> Option<(usize, usize)> {
    let pos = |n: &String| t.circuit.iter().position(|c| &c.name == n);
    Some((pos(&g.circuits[0])?, pos(&g.circuits[1])?))
}

/// Round trip in ms from a one-way delay, for labels ("" when the lab models no delay).
fn rtt_label(oneway: std::time::Duration) -> String {
    let ms = oneway.as_secs_f64() * 2e3;
    if ms <= 0.0 {
        String::new()
    } else if ms < 10.0 {
        format!("{ms:.1} ms RTT")
    } else {
        format!("{ms:.0} ms RTT")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// "1 Gbps" rather than the file's "1Gbps".
fn bw(b: crate::topology::Bandwidth) -> String {
    let s = b.to_string();
    match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) if i > 0 && s != "unlimited" => format!("{} {}", &s[..i], &s[i..]),
        _ => s,
    }
}

fn prefixes(p: &[ipnet::IpNet]) -> String {
    p.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// "RTT via er-sv 7.0 ms · er-london 139 ms": from each linked circuit's sites to the VNet.
fn vnet_rtts(t: &Topology, tables: &Tables, vnet: usize) -> String {
    let port = t.site.len() + vnet;
    let parts: Vec<String> = t.vnet[vnet]
        .circuits
        .iter()
        .filter_map(|c| {
            let ci = t.circuit.iter().position(|x| &x.name == c)?;
            let d = tables.vnet_delay[ci][port] + tables.circuits[ci].timing.access;
            let r = rtt_label(d);
            (!r.is_empty()).then(|| format!("{c} {}", r.trim_end_matches(" RTT")))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("RTT via {}", parts.join(" · "))
    }
}

// ---------------------------------------------------------------- SVG

const W: f64 = 1600.0;
const SITE_X: f64 = 24.0;
const SITE_W: f64 = 190.0;
const CIRCUIT_X: f64 = 330.0;
const CIRCUIT_W: f64 = 210.0;
const VNET_W: f64 = 290.0;
const BOX_H: f64 = 64.0;
const ROW_GAP: f64 = 22.0;
const TOP: f64 = 128.0;

const FONT: &str = "font-family=\"Segoe UI, Helvetica, Arial, sans-serif\"";

struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn mid_y(&self) -> f64 {
        self.y + self.h / 2.0
    }
    fn right(&self) -> f64 {
        self.x + self.w
    }
    fn mid_x(&self) -> f64 {
        self.x + self.w / 2.0
    }
}

/// A box with a bold first line and smaller lines under it.
fn node(o: &mut String, r: &Rect, fill: &str, stroke: &str, ink: &str, lines: &[String]) {
    let _ = writeln!(
        o,
        r#"<rect x="{}" y="{}" width="{}" height="{}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>"#,
        r.x, r.y, r.w, r.h
    );
    let n = lines.len() as f64;
    let top = r.mid_y() - (n - 1.0) * 8.5;
    for (i, l) in lines.iter().enumerate() {
        let (size, weight) = if i == 0 {
            (14, "600")
        } else {
            (11.5 as i32, "400")
        };
        let _ = writeln!(
            o,
            r#"<text x="{}" y="{:.1}" {FONT} font-size="{size}" font-weight="{weight}" fill="{ink}" text-anchor="middle" dominant-baseline="middle">{}</text>"#,
            r.mid_x(),
            top + i as f64 * 17.0,
            esc(l)
        );
    }
}

fn label(o: &mut String, x: f64, y: f64, text: &str, color: &str, size: f64) {
    if text.is_empty() {
        return;
    }
    // A halo so labels stay readable over lines.
    let _ = writeln!(
        o,
        r#"<text x="{x:.1}" y="{y:.1}" {FONT} font-size="{size}" fill="{color}" text-anchor="middle" dominant-baseline="middle" stroke="white" stroke-width="4" paint-order="stroke">{}</text>"#,
        esc(text)
    );
}

/// The lab as an SVG picture.
pub fn svg(v: &View) -> String {
    let t = v.topo;
    let tables = crate::plane::tables(t);
    let cat = catalogue();
    // Circuits west of the median longitude on the left, the rest on the right.
    let mut order: Vec<usize> = (0..t.circuit.len()).collect();
    let lon = |i: usize| {
        cat.location(&t.circuit[i].peering_location)
            .map_or(0.0, |l| l.lon)
    };
    order.sort_by(|a, b| lon(*a).total_cmp(&lon(*b)));
    let left_n = order.len().div_ceil(2);
    let (left, right) = order.split_at(left_n);

    // Rows: each circuit with its sites stacked beside it.
    let sites_of = |c: usize| -> Vec<usize> {
        (0..t.site.len())
            .filter(|&s| t.site[s].circuits.first() == Some(&t.circuit[c].name))
            .collect()
    };
    let mut circuit_box: Vec<Option<Rect>> = (0..t.circuit.len()).map(|_| None).collect();
    let mut site_box: Vec<Option<Rect>> = (0..t.site.len()).map(|_| None).collect();
    let mut bottom: f64 = TOP;
    for (side, list) in [(0, left), (1, right)] {
        let mut y = TOP;
        for &c in list {
            let ss = sites_of(c);
            let rows = ss.len().max(1) as f64;
            let block = rows * BOX_H + (rows - 1.0) * ROW_GAP;
            let (cx, sx) = if side == 0 {
                (CIRCUIT_X, SITE_X)
            } else {
                (W - CIRCUIT_X - CIRCUIT_W, W - SITE_X - SITE_W)
            };
            circuit_box[c] = Some(Rect {
                x: cx,
                y: y + (block - BOX_H) / 2.0,
                w: CIRCUIT_W,
                h: BOX_H,
            });
            for (k, &s) in ss.iter().enumerate() {
                site_box[s] = Some(Rect {
                    x: sx,
                    y: y + k as f64 * (BOX_H + ROW_GAP),
                    w: SITE_W,
                    h: BOX_H,
                });
            }
            y += block + 2.0 * ROW_GAP;
        }
        bottom = bottom.max(y);
    }
    // VNets down the middle.
    let vnet_box: Vec<Rect> = (0..t.vnet.len())
        .map(|i| Rect {
            x: (W - VNET_W) / 2.0,
            y: TOP + i as f64 * (BOX_H + ROW_GAP),
            w: VNET_W,
            h: BOX_H,
        })
        .collect();
    let vnet_bottom = vnet_box.last().map_or(TOP, |r| r.y + r.h);
    // Global Reach arcs pass under the VNets, one lane each.
    let lane0 = vnet_bottom + 70.0;
    let lanes = t.global_reach.len() as f64;
    bottom = bottom.max(lane0 + lanes * 44.0);
    let backbone_bottom = bottom + 10.0;
    let legend_y = backbone_bottom + 34.0;
    let h = legend_y + 30.0;

    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}">"#
    );
    let _ = writeln!(
        o,
        r#"<title>reachlab lab {}</title><rect width="100%" height="100%" fill="white"/>"#,
        esc(&t.lab.name)
    );
    let _ = writeln!(
        o,
        r##"<text x="{}" y="34" {FONT} font-size="20" font-weight="600" fill="#1b1b1b" text-anchor="middle">{}</text>"##,
        W / 2.0,
        esc(&format!(
            "{}: ExpressRoute circuits and Global Reach",
            t.lab.name
        ))
    );
    // Microsoft's network: from the circuits' MSEEs inwards.
    let bx = CIRCUIT_X - 14.0;
    let _ = writeln!(
        o,
        r##"<rect x="{bx}" y="{}" width="{}" height="{}" rx="22" fill="#eef6fc" stroke="#0078d4" stroke-width="1.5" stroke-dasharray="6 4"/>"##,
        TOP - 56.0,
        W - 2.0 * bx,
        backbone_bottom - (TOP - 56.0)
    );
    label(
        &mut o,
        W / 2.0,
        TOP - 36.0,
        "Microsoft global network (backbone)",
        "#0063b1",
        15.0,
    );
    for (x, text) in [
        (SITE_X + SITE_W / 2.0, "On-premises"),
        (W - SITE_X - SITE_W / 2.0, "On-premises"),
    ] {
        label(&mut o, x, TOP - 36.0, text, "#8a5a00", 14.0);
    }

    // Site <-> circuit: the primary and secondary links (red, dashed when failed).
    let site_links = t.site.iter().enumerate().flat_map(|(s, site)| {
        site.circuits
            .iter()
            .filter_map(move |n| t.circuit.iter().position(|c| &c.name == n))
            .map(move |c| (s, c))
    });
    for (s, c) in site_links {
        let (Some(sb), Some(cb)) = (&site_box[s], &circuit_box[c]) else {
            continue;
        };
        let (x1, x2) = if sb.x < cb.x {
            (sb.right(), cb.x)
        } else {
            (sb.x, cb.right())
        };
        for (k, dy) in [-4.0, 4.0].iter().enumerate() {
            let up = v.links[c][k];
            let (color, dash) = if up {
                ("#605e5c", "")
            } else {
                ("#a4262c", r##" stroke-dasharray="5 4""##)
            };
            let _ = writeln!(
                o,
                r#"<line x1="{x1}" y1="{}" x2="{x2}" y2="{}" stroke="{color}" stroke-width="2"{dash}/>"#,
                sb.mid_y() + dy,
                cb.mid_y() + dy
            );
        }
        let circuit = &t.circuit[c];
        let access = circuit
            .access_delay
            .or(t.lab.access_delay)
            .map(|s| s.0)
            .unwrap_or(std::time::Duration::from_millis(1));
        if t.lab.latency != crate::topology::LatencyModel::None {
            label(
                &mut o,
                (x1 + x2) / 2.0,
                (sb.mid_y() + cb.mid_y()) / 2.0 - 16.0,
                &rtt_label(access),
                "#323130",
                11.0,
            );
        }
    }

    // Circuit <-> VNet links.
    for (vi, vnet) in t.vnet.iter().enumerate() {
        for cname in &vnet.circuits {
            let Some(c) = t.circuit.iter().position(|x| &x.name == cname) else {
                continue;
            };
            let Some(cb) = &circuit_box[c] else { continue };
            let vb = &vnet_box[vi];
            let (x1, x2) = if cb.x < vb.x {
                (cb.right(), vb.x)
            } else {
                (cb.x, vb.right())
            };
            let _ = writeln!(
                o,
                r##"<line x1="{x1}" y1="{}" x2="{x2}" y2="{}" stroke="#69afe5" stroke-width="1.5"/>"##,
                cb.mid_y(),
                vb.mid_y()
            );
        }
    }

    // Global Reach connections, each in its own lane under the VNets.
    for (gi, g) in t.global_reach.iter().enumerate() {
        let Some((a, b)) = gr_circuits(t, g) else {
            continue;
        };
        let (Some(ra), Some(rb)) = (&circuit_box[a], &circuit_box[b]) else {
            continue;
        };
        let connected = v.gr_connected(gi);
        let (color, dash) = if connected {
            ("#107c10", "")
        } else {
            ("#a4262c", r##" stroke-dasharray="10 7""##)
        };
        let rtt = rtt_label(tables.backbone[a][b]);
        let state = if connected { "" } else { " · Disconnected" };
        let text = if rtt.is_empty() {
            format!("Global Reach {}{state}", g.address_prefix)
        } else {
            format!("Global Reach {} · {rtt}{state}", g.address_prefix)
        };
        // Each connection gets its own offset, so several from one circuit stay apart.
        let k = gi as f64;
        let path = if (ra.x < W / 2.0) != (rb.x < W / 2.0) {
            // Across the backbone: out of the inner edges, down to a lane under the VNets.
            let (ra, rb) = if ra.x <= rb.x { (ra, rb) } else { (rb, ra) };
            let lane = lane0 + k * 44.0;
            let (x1, y1) = (ra.right(), ra.mid_y() + 8.0 + 4.0 * k);
            let (x2, y2) = (rb.x, rb.mid_y() + 8.0 + 4.0 * k);
            let (xa, xb) = (x1 + 22.0 + 8.0 * k, x2 - 22.0 - 8.0 * k);
            label(&mut o, (xa + xb) / 2.0, lane - 15.0, &text, color, 13.0);
            format!(
                "M {x1} {y1} L {} {y1} Q {xa} {y1} {xa} {} L {xa} {} Q {xa} {lane} {} {lane} L {} {lane} Q {xb} {lane} {xb} {} L {xb} {} Q {xb} {y2} {} {y2} L {x2} {y2}",
                xa - 12.0,
                y1 + 12.0,
                lane - 12.0,
                xa + 12.0,
                xb - 12.0,
                lane - 12.0,
                y2 + 12.0,
                xb + 12.0
            )
        } else {
            // Both on one side: a bracket on the inner side, labelled along it.
            let (ra, rb) = if ra.y <= rb.y { (ra, rb) } else { (rb, ra) };
            let left = ra.x < W / 2.0;
            let edge = if left { ra.right() } else { ra.x };
            let out = if left { 1.0 } else { -1.0 };
            let xb = edge + out * (24.0 + 10.0 * k);
            let (y1, y2) = (ra.mid_y() + 4.0 * k, rb.mid_y() + 4.0 * k);
            let _ = writeln!(
                o,
                r##"<text x="{0:.1}" y="{1:.1}" transform="rotate(-90 {0:.1} {1:.1})" {FONT} font-size="11" fill="{color}" text-anchor="middle" dominant-baseline="middle" stroke="white" stroke-width="4" paint-order="stroke">{2}</text>"##,
                xb + out * 13.0,
                (y1 + y2) / 2.0,
                esc(&text)
            );
            format!(
                "M {edge} {y1} L {} {y1} Q {xb} {y1} {xb} {} L {xb} {} Q {xb} {y2} {} {y2} L {edge} {y2}",
                xb - out * 10.0,
                y1 + 10.0,
                y2 - 10.0,
                xb - out * 10.0
            )
        };
        let _ = writeln!(
            o,
            r#"<path d="{path}" fill="none" stroke="{color}" stroke-width="4" stroke-linecap="round" stroke-linejoin="round"{dash}/>"#
        );
    }

    // Boxes last, over the lines.
    for (s, site) in t.site.iter().enumerate() {
        if let Some(r) = &site_box[s] {
            let asn = site.asn.map(|a| format!("AS {a}")).unwrap_or_default();
            node(
                &mut o,
                r,
                "#fff4e5",
                "#e8a33d",
                "#3b2300",
                &[site.name.clone(), prefixes(&site.prefixes), asn],
            );
        }
    }
    for (c, circuit) in t.circuit.iter().enumerate() {
        if let Some(r) = &circuit_box[c] {
            let up = v.circuit_up(&circuit.name);
            node(
                &mut o,
                r,
                if up { "#0078d4" } else { "#a4262c" },
                if up { "#005a9e" } else { "#750b1c" },
                "white",
                &[
                    circuit.name.clone(),
                    format!("MSEE · {}", circuit.peering_location),
                    format!("{} · {}", circuit.sku, bw(circuit.bandwidth)),
                ],
            );
        }
    }
    for (vi, vnet) in t.vnet.iter().enumerate() {
        node(
            &mut o,
            &vnet_box[vi],
            "white",
            "#0078d4",
            "#004578",
            &[
                format!("VNet {}", vnet.name),
                format!("{} · {}", vnet.region, prefixes(&vnet.prefixes)),
                vnet_rtts(t, &tables, vi),
            ],
        );
    }

    // Legend.
    let lx = CIRCUIT_X;
    let _ = writeln!(
        o,
        r##"<line x1="{lx}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="#107c10" stroke-width="4"/>"##,
        lx + 36.0
    );
    let _ = writeln!(
        o,
        r##"<text x="{}" y="{legend_y}" {FONT} font-size="12" fill="#323130" dominant-baseline="middle">Global Reach connected</text>"##,
        lx + 44.0
    );
    let _ = writeln!(
        o,
        r##"<line x1="{}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="#a4262c" stroke-width="4" stroke-dasharray="10 7"/>"##,
        lx + 210.0,
        lx + 246.0
    );
    let _ = writeln!(
        o,
        r##"<text x="{}" y="{legend_y}" {FONT} font-size="12" fill="#323130" dominant-baseline="middle">disconnected / link failed</text>"##,
        lx + 254.0
    );
    let _ = writeln!(
        o,
        r##"<text x="{}" y="{legend_y}" {FONT} font-size="12" fill="#323130" dominant-baseline="middle">Site lines: primary and secondary links · RTTs modelled by reachlab</text>"##,
        lx + 450.0
    );
    o.push_str("</svg>\n");
    o
}

// ---------------------------------------------------------------- DOT and Mermaid

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
    let tables = crate::plane::tables(t);
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
    for (gi, g) in t.global_reach.iter().enumerate() {
        let rtt = gr_circuits(t, g)
            .map(|(a, b)| rtt_label(tables.backbone[a][b]))
            .unwrap_or_default();
        let connected = v.gr_connected(gi);
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
    let tables = crate::plane::tables(t);
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
    for (gi, g) in t.global_reach.iter().enumerate() {
        let rtt = gr_circuits(t, g)
            .map(|(a, b)| rtt_label(tables.backbone[a][b]))
            .unwrap_or_default();
        let text = format!("Global Reach {} {rtt}", g.address_prefix);
        let text = text.trim_end();
        if v.gr_connected(gi) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;

    fn seed() -> Topology {
        Topology::from_source(
            SourceFile::new(
                "seed.toml",
                include_str!("../topologies/global-reach.toml").to_string(),
            ),
            "seed",
        )
        .unwrap()
    }

    #[test]
    fn the_seed_svg_has_every_element_and_its_labels() {
        let t = seed();
        let s = svg(&View::of(&t));
        assert!(s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(s.trim_end().ends_with("</svg>"));
        for text in [
            ">sf<",
            ">london<",
            ">er-sv<",
            "MSEE · Silicon Valley",
            "MSEE · London",
            ">VNet uswest<",
            ">VNet uksouth<",
            "Global Reach 192.168.8.0/29 · 137 ms RTT",
            "Microsoft global network",
            "Premium · 1 Gbps",
        ] {
            assert!(s.contains(text), "missing {text}");
        }
        // Connected: solid green, no dashes on the Global Reach path.
        let gr = s.lines().find(|l| l.starts_with("<path")).unwrap();
        assert!(gr.contains("#107c10") && !gr.contains("dasharray"), "{gr}");
        // Balanced: every opened element closed (cheap well-formedness check).
        assert_eq!(s.matches("<text").count(), s.matches("</text>").count());
        // SF on the left edge, London on the right.
        let x_of = |name: &str| -> f64 {
            let at = s.find(&format!(">{name}<")).unwrap();
            let line_start = s[..at].rfind("<text").unwrap();
            let x = &s[line_start..at];
            x.split("x=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!(x_of("sf") < 300.0 && x_of("london") > 1300.0);
    }

    #[test]
    fn a_disconnected_connection_is_dashed_everywhere() {
        let t = seed();
        let mut v = View::of(&t);
        v.links[0] = [false, false];
        let s = svg(&v);
        let gr = s.lines().find(|l| l.starts_with("<path")).unwrap();
        assert!(gr.contains("stroke-dasharray"), "{gr}");
        assert!(s.contains("Disconnected"));
        assert!(dot(&v).contains("style=dashed"));
        assert!(mermaid(&v).contains("<-.->"));
        assert!(mermaid(&View::of(&t)).contains("<==>"));
    }

    #[test]
    fn dot_and_mermaid_name_every_node_and_link() {
        let t = seed();
        let d = dot(&View::of(&t));
        for s in [
            "site_sf -- circuit_er_sv",
            "circuit_er_sv -- circuit_er_london",
            "circuit_er_sv -- vnet_uswest",
            "subgraph cluster_microsoft",
        ] {
            assert!(d.contains(s), "dot lacks {s}:\n{d}");
        }
        let m = mermaid(&View::of(&t));
        for s in [
            "flowchart LR",
            "subgraph microsoft",
            "site_london --- circuit_er_london",
            "circuit_er_london --- vnet_uksouth",
        ] {
            assert!(m.contains(s), "mermaid lacks {s}:\n{m}");
        }
    }
}
