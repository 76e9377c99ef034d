//! The laid-out picture as SVG text: boxes over lines, labels with halos, a legend, and the
//! attributes the live view finds its elements by (`data-link`, `data-rate`, `data-gr`).

use std::fmt::Write;

use crate::topology::LatencyModel;

use super::layout::{
    layout, Layout, Node, ReachState, Route, CIRCUIT_X, LINE, SITE_W, SITE_X, TOP, W,
};
use super::{esc, nth4, View};

const TEXT: f64 = 14.0;
const FONT: &str = "font-family=\"Segoe UI, Helvetica, Arial, sans-serif\"";

/// Roughly how wide `text` is at `size` (for fitting, not for layout to the pixel).
pub(super) fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.56
}

/// `text`, cut with "…" to fit `width` at `size`.
pub(super) fn fit(text: &str, width: f64, size: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let keep = ((width / (size * 0.56)) as usize).saturating_sub(1);
    let mut s: String = text.chars().take(keep).collect();
    s.push('…');
    s
}

/// A box with a bold first line and smaller lines under it, each cut to fit.
fn node(o: &mut String, n: &Node, fill: &str, stroke: &str, ink: &str) {
    let r = &n.rect;
    let _ = writeln!(
        o,
        r#"<rect x="{}" y="{}" width="{}" height="{}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>"#,
        r.x, r.y, r.w, r.h
    );
    let lines: Vec<&String> = n.lines.iter().filter(|l| !l.is_empty()).collect();
    let count = lines.len() as f64;
    let top = r.mid_y() - (count - 1.0) * LINE / 2.0;
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
    let l = layout(v);
    let mut o = String::new();
    frame(&mut o, v, &l);
    site_links(&mut o, v, &l);
    vnet_links(&mut o, v, &l);
    reaches(&mut o, &l);
    boxes(&mut o, v, &l);
    legend(&mut o, v, &l);
    o.push_str("</svg>\n");
    o
}

/// The document's head and title, and Microsoft's network from the circuits' MSEEs inwards.
fn frame(o: &mut String, v: &View, l: &Layout) {
    let t = v.topo;
    let h = l.height;
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
    let bx = CIRCUIT_X - 16.0;
    let _ = writeln!(
        o,
        r##"<rect x="{bx}" y="{}" width="{}" height="{}" rx="22" fill="#eef6fc" stroke="#0078d4" stroke-width="1.5" stroke-dasharray="6 4"/>"##,
        TOP - 66.0,
        W - 2.0 * bx,
        l.backbone_bottom - (TOP - 66.0)
    );
    label(
        o,
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
        label(o, x, TOP - 42.0, text, "#8a5a00", 16.0);
    }
}

/// Site <-> circuit: the primary and secondary links (red, dashed when failed), each
/// labelled with its CE and MSEE addresses; the first site of a circuit also carries the live
/// view's rate labels.
fn site_links(o: &mut String, v: &View, l: &Layout) {
    let t = v.topo;
    let mut first_site = vec![true; t.circuit.len()];
    for &(s, c) in &l.site_links {
        let (Some(sn), Some(cn)) = (&l.sites[s], &l.circuits[c]) else {
            continue;
        };
        let (sb, cb) = (&sn.rect, &cn.rect);
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
            let mut text = pair(
                crate::plane::ce_address(t, c, k).into(),
                crate::plane::msee_address(t, c, k).into(),
            );
            // A dual-stack link with one family's session down carries the other.
            if let Some(only) = v.only.get(c).and_then(|o| o[k]) {
                text = format!("{text} · {only}");
            }
            label(o, mx, my + out * 22.0, &text, "#323130", TEXT);
            if rates && v.live {
                label_with(
                    o,
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
}

/// Circuit <-> VNet links.
fn vnet_links(o: &mut String, v: &View, l: &Layout) {
    let t = v.topo;
    for (vi, vnet) in t.vnet.iter().enumerate() {
        for cname in &vnet.circuits {
            let Some(c) = t.circuit.iter().position(|x| &x.name == cname) else {
                continue;
            };
            let Some(cn) = &l.circuits[c] else { continue };
            let (cb, vb) = (&cn.rect, &l.vnets[vi].rect);
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
}

/// Global Reach connections along their routes, labelled with their /29, state, round trip
/// and MSEE addresses.
fn reaches(o: &mut String, l: &Layout) {
    for reach in &l.reaches {
        let Some(route) = &reach.route else {
            continue;
        };
        let g = reach.g;
        let (color, dash, state) = match reach.state {
            ReachState::Connected => ("#107c10", "", ""),
            ReachState::Disconnected => (
                "#a4262c",
                r##" stroke-dasharray="12 8""##,
                " · Disconnected",
            ),
            ReachState::Removed => ("#8a8886", r##" stroke-dasharray="2 7""##, " · removed"),
        };
        let text = format!("Global Reach {}{state}", g.address_prefix);
        let key = format!("{}|{}", attr(&g.circuits[0]), attr(&g.circuits[1]));
        let addrs = format!(
            "{}MSEE {} ↔ .{}",
            if reach.rtt.is_empty() {
                String::new()
            } else {
                format!("{} · ", reach.rtt)
            },
            nth4(g.address_prefix, 1),
            nth4(g.address_prefix, 2).octets()[3]
        );
        let r = 12.0;
        let path = |o: &mut String, path: String| {
            let _ = writeln!(
                o,
                r#"<path d="{path}" fill="none" stroke="{color}" stroke-width="5" stroke-linecap="round" stroke-linejoin="round"{dash} data-gr="{key}"/>"#
            );
        };
        match *route {
            Route::Bracket {
                edge,
                x: xb,
                y1,
                y2,
                out,
                label: (lx, ly),
                room,
            } => {
                path(
                    o,
                    format!(
                        "M {edge} {y1} L {} {y1} Q {xb} {y1} {xb} {} L {xb} {} Q {xb} {y2} {} {y2} L {edge} {y2}",
                        xb - out * r,
                        y1 + r,
                        y2 - r,
                        xb - out * r
                    ),
                );
                label_with(
                    o,
                    lx,
                    ly,
                    &fit(&text, room, 14.0),
                    color,
                    14.0,
                    &format!(r#" font-weight="600" data-gr-label="{key}""#),
                );
                label(o, lx, ly + 18.0, &fit(&addrs, room, 13.0), "#323130", 13.0);
            }
            Route::Lane {
                a: (ea, xa, ya),
                b: (eb, xb, yb),
                lane,
            } => {
                let (sa, sb) = (
                    if xa >= ea { 1.0 } else { -1.0 },
                    if xb >= eb { 1.0 } else { -1.0 },
                );
                let (ha, hb) = (
                    if xb >= xa { 1.0 } else { -1.0 },
                    if xa >= xb { 1.0 } else { -1.0 },
                );
                path(
                    o,
                    format!(
                        "M {ea} {ya} L {} {ya} Q {xa} {ya} {xa} {} L {xa} {} Q {xa} {lane} {} {lane} L {} {lane} Q {xb} {lane} {xb} {} L {xb} {} Q {xb} {yb} {} {yb} L {eb} {yb}",
                        xa - sa * r,
                        ya + r,
                        lane - r,
                        xa + ha * r,
                        xb + hb * r,
                        lane - r,
                        yb + r,
                        xb - sb * r,
                    ),
                );
                let mid = (xa + xb) / 2.0;
                label_with(
                    o,
                    mid,
                    lane - 36.0,
                    &text,
                    color,
                    15.0,
                    &format!(r#" font-weight="600" data-gr-label="{key}""#),
                );
                label(o, mid, lane - 17.0, &addrs, "#323130", TEXT);
            }
        }
    }
}

/// The boxes, last, over the lines: sites, circuits (red when both links are down), VNets.
fn boxes(o: &mut String, v: &View, l: &Layout) {
    for n in l.sites.iter().flatten() {
        node(o, n, "#fff4e5", "#e8a33d", "#3b2300");
    }
    for (c, circuit) in v.topo.circuit.iter().enumerate() {
        if let Some(n) = &l.circuits[c] {
            let up = v.circuit_up(&circuit.name);
            node(
                o,
                n,
                if up { "#0078d4" } else { "#a4262c" },
                if up { "#005a9e" } else { "#750b1c" },
                "white",
            );
        }
    }
    for n in &l.vnets {
        node(o, n, "white", "#0078d4", "#004578");
    }
}

/// Legend: every line style, and what the round trips are.
fn legend(o: &mut String, v: &View, l: &Layout) {
    let items: [(&str, &str, f64, &str); 6] = [
        ("#605e5c", "", 2.5, "primary / secondary link (CE ↔ MSEE)"),
        ("#a4262c", "6 5", 2.5, "link failed"),
        ("#69afe5", "", 2.0, "VNet connection"),
        ("#107c10", "", 5.0, "Global Reach connected"),
        ("#a4262c", "12 8", 5.0, "Global Reach disconnected"),
        ("#8a8886", "2 7", 5.0, "Global Reach removed (live view)"),
    ];
    let mut lx = CIRCUIT_X;
    let mut ly = l.legend_y;
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
    if v.topo.lab.latency != LatencyModel::None {
        let _ = writeln!(
            o,
            r##"<text x="{}" y="{}" {FONT} font-size="{TEXT}" fill="#605e5c" dominant-baseline="middle">Round trips are reachlab's model of the geography.</text>"##,
            CIRCUIT_X,
            ly + 30.0
        );
    }
}
