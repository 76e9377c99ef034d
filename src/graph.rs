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
    /// Global Reach connections removed while a live view watched, drawn as removed.
    pub removed: Vec<crate::topology::GlobalReach>,
    /// Drawn for the live view: labels for its rates on the circuit links.
    pub live: bool,
}

impl<'a> View<'a> {
    /// A topology as its file describes it: every link up.
    pub fn of(topo: &'a Topology) -> View<'a> {
        View {
            topo,
            links: vec![[true, true]; topo.circuit.len()],
            removed: Vec::new(),
            live: false,
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

/// "er-sv 7.0 ms RTT", one per linked circuit: from the circuit's sites to the VNet.
fn vnet_rtts(t: &Topology, tables: &Tables, vnet: usize) -> Vec<String> {
    let port = t.site.len() + vnet;
    t.vnet[vnet]
        .circuits
        .iter()
        .filter_map(|c| {
            let ci = t.circuit.iter().position(|x| &x.name == c)?;
            let d = tables.vnet_delay[ci][port] + tables.circuits[ci].timing.access;
            let r = rtt_label(d);
            (!r.is_empty()).then(|| format!("{c} {r}"))
        })
        .collect()
}

// ---------------------------------------------------------------- SVG

// Drawn 1600 units wide; at 1280 px the smallest text (14) is still 11 px.
const W: f64 = 1600.0;
const SITE_X: f64 = 20.0;
const SITE_W: f64 = 220.0;
const CIRCUIT_X: f64 = 400.0;
const CIRCUIT_W: f64 = 220.0;
const VNET_W: f64 = 236.0;
const ROW_GAP: f64 = 34.0;
const TOP: f64 = 150.0;
const LINE: f64 = 19.0;
const TEXT: f64 = 14.0;
const GR_LANE: f64 = 66.0;

const FONT: &str = "font-family=\"Segoe UI, Helvetica, Arial, sans-serif\"";

/// Roughly how wide `text` is at `size` (for fitting, not for layout to the pixel).
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.56
}

/// `text`, cut with "…" to fit `width` at `size`.
fn fit(text: &str, width: f64, size: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let keep = ((width / (size * 0.56)) as usize).saturating_sub(1);
    let mut s: String = text.chars().take(keep).collect();
    s.push('…');
    s
}

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

/// A box's height for `lines` lines of text.
fn box_h(lines: usize) -> f64 {
    22.0 + LINE * lines as f64
}

/// A box with a bold first line and smaller lines under it, each cut to fit.
fn node(o: &mut String, r: &Rect, fill: &str, stroke: &str, ink: &str, lines: &[String]) {
    let _ = writeln!(
        o,
        r#"<rect x="{}" y="{}" width="{}" height="{}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>"#,
        r.x, r.y, r.w, r.h
    );
    let lines: Vec<&String> = lines.iter().filter(|l| !l.is_empty()).collect();
    let n = lines.len() as f64;
    let top = r.mid_y() - (n - 1.0) * LINE / 2.0;
    for (i, l) in lines.iter().enumerate() {
        let (size, weight) = if i == 0 { (16.5, "600") } else { (TEXT, "400") };
        let _ = writeln!(
            o,
            r#"<text x="{}" y="{:.1}" {FONT} font-size="{size}" font-weight="{weight}" fill="{ink}" text-anchor="middle" dominant-baseline="middle">{}</text>"#,
            r.mid_x(),
            top + i as f64 * LINE,
            esc(&fit(l, r.w - 14.0, size))
        );
    }
}

/// A label with a white halo, so it stays readable over lines; `attrs` are extra attributes
/// (the live view finds its labels by them).
fn label_with(o: &mut String, x: f64, y: f64, text: &str, color: &str, size: f64, attrs: &str) {
    let _ = writeln!(
        o,
        r#"<text x="{x:.1}" y="{y:.1}" {FONT} font-size="{size}" fill="{color}" text-anchor="middle" dominant-baseline="middle" stroke="white" stroke-width="4" paint-order="stroke"{attrs}>{}</text>"#,
        esc(text)
    );
}

fn label(o: &mut String, x: f64, y: f64, text: &str, color: &str, size: f64) {
    if !text.is_empty() {
        label_with(o, x, y, text, color, size, "");
    }
}

/// "192.168.100.1 ↔ .2": a /30's two ends, the second shortened to what differs.
fn pair(a: std::net::IpAddr, b: std::net::IpAddr) -> String {
    let (a, b) = (a.to_string(), b.to_string());
    match (a.rfind('.'), b.rfind('.')) {
        (Some(i), Some(j)) if a[..i] == b[..j] => format!("{a} ↔ {}", &b[j..]),
        _ => format!("{a} ↔ {b}"),
    }
}

/// An attribute value naming a circuit link or connection, for the live view.
fn attr(s: &str) -> String {
    esc(s)
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

    let site_lines = |s: usize| -> Vec<String> {
        let site = &t.site[s];
        let gw = site
            .prefixes
            .iter()
            .find(|p| p.addr().is_ipv4())
            .or(site.prefixes.first())
            .map(|p| format!("router {}", crate::engine::table::gateway_address(p)))
            .unwrap_or_default();
        vec![
            site.name.clone(),
            prefixes(&site.prefixes),
            gw,
            site.asn.map(|a| format!("AS {a}")).unwrap_or_default(),
        ]
    };
    let circuit_lines = |c: usize| -> Vec<String> {
        let circuit = &t.circuit[c];
        let access = rtt_label(tables.circuits[c].timing.access);
        let msee = format!(
            "MSEE {} / {}",
            crate::plane::msee_address(t, c, 0),
            crate::plane::msee_address(t, c, 1)
                .to_string()
                .rsplit('.')
                .next()
                .map(|x| format!(".{x}"))
                .unwrap_or_default()
        );
        vec![
            circuit.name.clone(),
            format!("MSEE · {}", circuit.peering_location),
            msee,
            format!("{} · {}", circuit.sku, bw(circuit.bandwidth)),
            if access.is_empty() || t.lab.latency == crate::topology::LatencyModel::None {
                String::new()
            } else {
                format!("to the site: {access}")
            },
        ]
    };
    let count = |l: &[String]| l.iter().filter(|x| !x.is_empty()).count();

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
            let ch = box_h(count(&circuit_lines(c)));
            let heights: Vec<f64> = ss.iter().map(|&s| box_h(count(&site_lines(s)))).collect();
            let stack =
                heights.iter().sum::<f64>() + ROW_GAP * 2.0 * (heights.len().max(1) - 1) as f64;
            let block = stack.max(ch);
            let (cx, sx) = if side == 0 {
                (CIRCUIT_X, SITE_X)
            } else {
                (W - CIRCUIT_X - CIRCUIT_W, W - SITE_X - SITE_W)
            };
            circuit_box[c] = Some(Rect {
                x: cx,
                y: y + (block - ch) / 2.0,
                w: CIRCUIT_W,
                h: ch,
            });
            let mut sy = y + (block - stack) / 2.0;
            for (k, &s) in ss.iter().enumerate() {
                site_box[s] = Some(Rect {
                    x: sx,
                    y: sy,
                    w: SITE_W,
                    h: heights[k],
                });
                sy += heights[k] + 2.0 * ROW_GAP;
            }
            y += block + 3.0 * ROW_GAP;
        }
        bottom = bottom.max(y - 2.0 * ROW_GAP);
    }
    // VNets down the middle.
    let mut vnet_box: Vec<Rect> = Vec::with_capacity(t.vnet.len());
    let mut vy = TOP;
    for vi in 0..t.vnet.len() {
        let h = box_h(2 + vnet_rtts(t, &tables, vi).len());
        vnet_box.push(Rect {
            x: (W - VNET_W) / 2.0,
            y: vy,
            w: VNET_W,
            h,
        });
        vy += h + ROW_GAP;
    }
    let vnet_bottom = vnet_box.last().map_or(TOP, |r| r.y + r.h);
    // Global Reach lanes pass under the VNets and the circuits, one each: those in force,
    // then those removed while a live view watched.
    let all_gr: Vec<(&crate::topology::GlobalReach, Option<usize>)> = t
        .global_reach
        .iter()
        .enumerate()
        .map(|(i, g)| (g, Some(i)))
        .chain(v.removed.iter().map(|g| (g, None)))
        .collect();
    let crosses = |g: &crate::topology::GlobalReach| {
        gr_circuits(t, g).is_some_and(|(a, b)| {
            let side = |c: usize| circuit_box[c].as_ref().is_some_and(|r| r.x < W / 2.0);
            side(a) != side(b)
        })
    };
    let lane_n = all_gr.iter().filter(|(g, _)| crosses(g)).count();
    let lane0 = vnet_bottom.max(bottom) + 72.0;
    let lanes = lane_n as f64;
    let backbone_bottom = if lane_n == 0 {
        vnet_bottom.max(bottom) + 30.0
    } else {
        lane0 + (lanes - 1.0) * GR_LANE + 40.0
    };
    let legend_y = backbone_bottom + 40.0;
    let h = legend_y + 2.0 * 30.0 + 10.0;

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
        r##"<text x="{}" y="38" {FONT} font-size="24" font-weight="600" fill="#1b1b1b" text-anchor="middle">{}</text>"##,
        W / 2.0,
        esc(&format!(
            "{}: ExpressRoute circuits and Global Reach",
            t.lab.name
        ))
    );
    // Microsoft's network: from the circuits' MSEEs inwards.
    let bx = CIRCUIT_X - 16.0;
    let _ = writeln!(
        o,
        r##"<rect x="{bx}" y="{}" width="{}" height="{}" rx="22" fill="#eef6fc" stroke="#0078d4" stroke-width="1.5" stroke-dasharray="6 4"/>"##,
        TOP - 66.0,
        W - 2.0 * bx,
        backbone_bottom - (TOP - 66.0)
    );
    label(
        &mut o,
        W / 2.0,
        TOP - 42.0,
        "Microsoft global network (backbone)",
        "#0063b1",
        17.0,
    );
    for (x, text) in [
        (SITE_X + SITE_W / 2.0, "On-premises"),
        (W - SITE_X - SITE_W / 2.0, "On-premises"),
    ] {
        label(&mut o, x, TOP - 42.0, text, "#8a5a00", 16.0);
    }

    // Site <-> circuit: the primary and secondary links (red, dashed when failed), each
    // labelled with its CE and MSEE addresses; the first site of a circuit also carries the
    // live view's rate labels.
    let mut first_site = vec![true; t.circuit.len()];
    let site_links: Vec<(usize, usize)> = t
        .site
        .iter()
        .enumerate()
        .flat_map(|(s, site)| {
            site.circuits
                .iter()
                .filter_map(|n| t.circuit.iter().position(|c| &c.name == n))
                .map(move |c| (s, c))
                .collect::<Vec<_>>()
        })
        .collect();
    for (s, c) in site_links {
        let (Some(sb), Some(cb)) = (&site_box[s], &circuit_box[c]) else {
            continue;
        };
        let (x1, x2) = if sb.x < cb.x {
            (sb.right(), cb.x)
        } else {
            (sb.x, cb.right())
        };
        let name = &t.circuit[c].name;
        let rates = std::mem::replace(&mut first_site[c], false);
        for (k, dy) in [-7.0, 7.0].iter().enumerate() {
            let up = v.links[c][k];
            let (color, dash) = if up {
                ("#605e5c", "")
            } else {
                ("#a4262c", r##" stroke-dasharray="6 5""##)
            };
            let link = ["primary", "secondary"][k];
            let _ = writeln!(
                o,
                r#"<line x1="{x1}" y1="{}" x2="{x2}" y2="{}" stroke="{color}" stroke-width="2.5"{dash} data-link="{}/{link}" data-up="{up}"/>"#,
                sb.mid_y() + dy,
                cb.mid_y() + dy,
                attr(name)
            );
            let (mx, my) = ((x1 + x2) / 2.0, (sb.mid_y() + cb.mid_y()) / 2.0);
            let out = if k == 0 { -1.0 } else { 1.0 };
            label(
                &mut o,
                mx,
                my + out * 22.0,
                &pair(
                    crate::plane::ce_address(t, c, k).into(),
                    crate::plane::msee_address(t, c, k).into(),
                ),
                "#323130",
                TEXT,
            );
            if rates && v.live {
                label_with(
                    &mut o,
                    mx,
                    my + out * 41.0,
                    "",
                    "#8a3707",
                    13.0,
                    &format!(
                        r#" font-weight="600" data-rate="{}/{link}" data-side="{}""#,
                        attr(name),
                        if sb.x < cb.x { "left" } else { "right" }
                    ),
                );
            }
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
                r##"<line x1="{x1}" y1="{}" x2="{x2}" y2="{}" stroke="#69afe5" stroke-width="2"/>"##,
                cb.mid_y(),
                vb.mid_y()
            );
        }
    }

    // Global Reach connections, each in its own lane under everything else in the backbone.
    let (mut k, mut side_k) = (0usize, [0usize; 2]);
    for (g, gi) in &all_gr {
        let Some((a, b)) = gr_circuits(t, g) else {
            continue;
        };
        let (Some(ra), Some(rb)) = (&circuit_box[a], &circuit_box[b]) else {
            continue;
        };
        let (color, dash, state) = match gi {
            Some(i) if v.gr_connected(*i) => ("#107c10", "", ""),
            Some(_) => (
                "#a4262c",
                r##" stroke-dasharray="12 8""##,
                " · Disconnected",
            ),
            None => ("#8a8886", r##" stroke-dasharray="2 7""##, " · removed"),
        };
        let rtt = rtt_label(tables.backbone[a][b]);
        let text = format!("Global Reach {}{state}", g.address_prefix);
        let key = format!("{}|{}", attr(&g.circuits[0]), attr(&g.circuits[1]));
        let addrs = format!(
            "{}MSEE {} ↔ .{}",
            if rtt.is_empty() {
                String::new()
            } else {
                format!("{rtt} · ")
            },
            nth4(g.address_prefix, 1),
            nth4(g.address_prefix, 2).octets()[3]
        );
        let r = 12.0;
        let left = |b: &Rect| b.x < W / 2.0;
        if left(ra) == left(rb) {
            // Both on one side: a bracket in the gap between the circuits and the VNets,
            // labelled along it (read upwards), on the VNets' side.
            let j = side_k[usize::from(!left(ra))] as f64;
            side_k[usize::from(!left(ra))] += 1;
            let (ra, rb) = if ra.y <= rb.y { (ra, rb) } else { (rb, ra) };
            let out = if left(ra) { 1.0 } else { -1.0 };
            let edge = if left(ra) { ra.right() } else { ra.x };
            let xb = edge + out * (12.0 + 10.0 * j);
            let (y1, y2) = (ra.mid_y() + 22.0, rb.mid_y() - 22.0);
            let path = format!(
                "M {edge} {y1} L {} {y1} Q {xb} {y1} {xb} {} L {xb} {} Q {xb} {y2} {} {y2} L {edge} {y2}",
                xb - out * r,
                y1 + r,
                y2 - r,
                xb - out * r
            );
            let _ = writeln!(
                o,
                r#"<path d="{path}" fill="none" stroke="{color}" stroke-width="5" stroke-linecap="round" stroke-linejoin="round"{dash} data-gr="{key}"/>"#
            );
            // The label in the gap under the upper circuit, clear of the bracket.
            let (lx, ly) = (ra.mid_x() - out * 18.0, ra.y + ra.h + 1.5 * ROW_GAP - 9.0);
            let room = ra.w + 2.0 * 18.0;
            label_with(
                &mut o,
                lx,
                ly,
                &fit(&text, room, 14.0),
                color,
                14.0,
                &format!(r#" font-weight="600" data-gr-label="{key}""#),
            );
            label(
                &mut o,
                lx,
                ly + 18.0,
                &fit(&addrs, room, 13.0),
                "#323130",
                13.0,
            );
            continue;
        }
        let kf = k as f64;
        k += 1;
        let lane = lane0 + kf * GR_LANE;
        // Out of each circuit's inner edge, down the gap beside the VNets to the lane, across.
        let inner = |r: &Rect| {
            if left(r) {
                (r.right(), r.right() + 14.0 + 11.0 * kf)
            } else {
                (r.x, r.x - 14.0 - 11.0 * kf)
            }
        };
        let (ra, rb) = if ra.x <= rb.x { (ra, rb) } else { (rb, ra) };
        let ((ea, xa), (eb, xb)) = (inner(ra), inner(rb));
        let (ya, yb) = (ra.mid_y() + 18.0 + 5.0 * kf, rb.mid_y() + 18.0 + 5.0 * kf);
        let (sa, sb) = (
            if xa >= ea { 1.0 } else { -1.0 },
            if xb >= eb { 1.0 } else { -1.0 },
        );
        let (ha, hb) = (
            if xb >= xa { 1.0 } else { -1.0 },
            if xa >= xb { 1.0 } else { -1.0 },
        );
        let path = format!(
            "M {ea} {ya} L {} {ya} Q {xa} {ya} {xa} {} L {xa} {} Q {xa} {lane} {} {lane} L {} {lane} Q {xb} {lane} {xb} {} L {xb} {} Q {xb} {yb} {} {yb} L {eb} {yb}",
            xa - sa * r,
            ya + r,
            lane - r,
            xa + ha * r,
            xb + hb * r,
            lane - r,
            yb + r,
            xb - sb * r,
        );
        let _ = writeln!(
            o,
            r#"<path d="{path}" fill="none" stroke="{color}" stroke-width="5" stroke-linecap="round" stroke-linejoin="round"{dash} data-gr="{key}"/>"#
        );
        let mid = (xa + xb) / 2.0;
        label_with(
            &mut o,
            mid,
            lane - 36.0,
            &text,
            color,
            15.0,
            &format!(r#" font-weight="600" data-gr-label="{key}""#),
        );
        label(&mut o, mid, lane - 17.0, &addrs, "#323130", TEXT);
    }

    // Boxes last, over the lines.
    for (s, _) in t.site.iter().enumerate() {
        if let Some(r) = &site_box[s] {
            node(&mut o, r, "#fff4e5", "#e8a33d", "#3b2300", &site_lines(s));
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
                &circuit_lines(c),
            );
        }
    }
    for (vi, vnet) in t.vnet.iter().enumerate() {
        let mut lines = vec![
            format!("VNet {}", vnet.name),
            format!("{} · {}", vnet.region, prefixes(&vnet.prefixes)),
        ];
        lines.extend(vnet_rtts(t, &tables, vi));
        node(&mut o, &vnet_box[vi], "white", "#0078d4", "#004578", &lines);
    }

    // Legend: every line style.
    let items: [(&str, &str, f64, &str); 6] = [
        ("#605e5c", "", 2.5, "primary / secondary link (CE ↔ MSEE)"),
        ("#a4262c", "6 5", 2.5, "link failed"),
        ("#69afe5", "", 2.0, "VNet connection"),
        ("#107c10", "", 5.0, "Global Reach connected"),
        ("#a4262c", "12 8", 5.0, "Global Reach disconnected"),
        ("#8a8886", "2 7", 5.0, "Global Reach removed (live view)"),
    ];
    let mut lx = CIRCUIT_X;
    let mut ly = legend_y;
    for (color, dash, width, text) in items {
        let wtext = text_width(text, TEXT) + 70.0;
        if lx + wtext > W - CIRCUIT_X + 40.0 {
            lx = CIRCUIT_X;
            ly += 30.0;
        }
        let dash = if dash.is_empty() {
            String::new()
        } else {
            format!(r#" stroke-dasharray="{dash}""#)
        };
        let _ = writeln!(
            o,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="{width}" stroke-linecap="round"{dash}/>"#,
            lx + 40.0
        );
        let _ = writeln!(
            o,
            r##"<text x="{}" y="{ly}" {FONT} font-size="{TEXT}" fill="#323130" dominant-baseline="middle">{}</text>"##,
            lx + 50.0,
            esc(text)
        );
        lx += wtext;
    }
    if t.lab.latency != crate::topology::LatencyModel::None {
        let _ = writeln!(
            o,
            r##"<text x="{}" y="{}" {FONT} font-size="{TEXT}" fill="#605e5c" dominant-baseline="middle">Round trips are reachlab's model of the geography.</text>"##,
            CIRCUIT_X,
            ly + 30.0
        );
    }
    o.push_str("</svg>\n");
    o
}

/// The `n`th address of an IPv4 prefix.
fn nth4(p: ipnet::Ipv4Net, n: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from(p.network()) + n)
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

    fn topology(text: &str) -> Topology {
        Topology::from_source(SourceFile::new("t.toml", text.to_string()), "t").unwrap()
    }

    fn seed() -> Topology {
        topology(include_str!("../topologies/global-reach.toml"))
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
            "Global Reach 192.168.8.0/29",
            "Microsoft global network",
            "Premium · 1 Gbps",
            // The addresses a traceroute shows: CE, MSEE, the peer MSEE on the /29.
            "router 10.0.1.254",
            "router 10.0.2.254",
            "MSEE 192.168.100.2 / .6",
            "192.168.100.1 ↔ .2",
            "192.168.100.5 ↔ .6",
            "137 ms RTT · MSEE 192.168.8.1 ↔ .2",
            // A legend entry for every line style.
            "link failed",
            "VNet connection",
            "Global Reach disconnected",
            "Global Reach removed",
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
            number_attr(&s[line_start..at], "x")
        };
        assert!(x_of("sf") < 300.0 && x_of("london") > 1300.0);
    }

    #[test]
    fn the_readmes_pictures_are_what_graph_draws_now() {
        let no_gr = topology(include_str!("../topologies/no-global-reach.toml"));
        for (t, file, svg_now) in [
            (
                seed(),
                "global-reach",
                include_str!("../docs/global-reach.svg"),
            ),
            (
                no_gr,
                "no-global-reach",
                include_str!("../docs/no-global-reach.svg"),
            ),
        ] {
            assert!(
                svg(&View::of(&t)) == svg_now,
                "docs/{file}.svg is stale: reachlab graph topologies/{file}.toml --file docs/{file}.svg"
            );
        }
    }

    /// An element's numeric attribute `a`, from its text.
    fn number_attr(element: &str, a: &str) -> f64 {
        element
            .split(&format!(" {a}=\""))
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn rects(s: &str) -> Vec<(f64, f64, f64, f64)> {
        let attr = number_attr;
        s.lines()
            .filter(|l| l.starts_with("<rect x=") && l.contains("rx=\"8\""))
            .map(|l| {
                (
                    attr(l, "x"),
                    attr(l, "y"),
                    attr(l, "width"),
                    attr(l, "height"),
                )
            })
            .collect()
    }

    #[test]
    fn four_circuits_lay_out_without_overlaps_or_cut_labels() {
        let t = topology(include_str!("../topologies/four-circuits.toml"));
        let s = svg(&View::of(&t));
        let boxes = rects(&s);
        assert_eq!(boxes.len(), 4 + 4 + 2, "sites, circuits, VNets");
        for (i, a) in boxes.iter().enumerate() {
            assert!(a.0 >= 0.0 && a.0 + a.2 <= W, "inside the picture: {a:?}");
            for b in &boxes[i + 1..] {
                let apart =
                    a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
                assert!(apart, "boxes overlap: {a:?} {b:?}");
            }
        }
        // Every connection labelled in full, those across the Atlantic and the one between
        // the two European circuits; nothing cut to fit.
        for gr in ["192.168.8.0/29", "192.168.8.8/29", "192.168.8.16/29"] {
            assert!(s.contains(&format!(">Global Reach {gr}<")), "{gr}");
        }
        assert!(s.contains("MSEE 192.168.8.17 ↔ .18"));
        assert!(!s.contains('…'), "a label was cut:\n{s}");
        assert_eq!(s.matches("data-gr=").count(), 3);
    }

    #[test]
    fn labels_are_cut_to_fit_and_the_live_view_gets_its_hooks() {
        assert_eq!(fit("short", 100.0, 14.0), "short");
        let cut = fit(&"x".repeat(80), 100.0, 14.0);
        assert!(
            cut.ends_with('…') && text_width(&cut, 14.0) <= 100.0 + 14.0,
            "{cut}"
        );
        let t = seed();
        let s = svg(&View::of(&t));
        assert_eq!(s.matches("data-link=\"er-sv/primary\"").count(), 1);
        assert!(
            !s.contains("data-rate="),
            "no empty rate labels in a static picture"
        );
        // Live, with the connection removed: rate labels, and the connection drawn as removed.
        let mut t2 = t.clone();
        let gr = t2.global_reach.remove(0);
        let mut v = View::of(&t2);
        v.live = true;
        v.removed = vec![gr];
        let s = svg(&v);
        assert!(
            s.contains("data-rate=\"er-sv/primary\"")
                && s.contains("data-rate=\"er-london/secondary\"")
        );
        let path = s
            .lines()
            .find(|l| l.contains("data-gr=\"er-sv|er-london\""))
            .unwrap();
        assert!(path.contains("#8a8886") && path.contains("2 7"), "{path}");
        assert!(s.contains("Global Reach 192.168.8.0/29 · removed"));
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
