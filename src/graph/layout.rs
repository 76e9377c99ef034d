//! Where everything in the SVG picture sits, and what each element says: the boxes (sites at
//! the edges, circuits beside them, VNets down the middle), the links between them, and each
//! Global Reach connection's route (a bracket beside two circuits on one side, or a lane of
//! its own under everything when it crosses). Pure geometry: no SVG here, so it is tested as
//! numbers; `svg` draws it, `dot` and `mermaid` read its connections.

use crate::catalogue::catalogue;
use crate::engine::Tables;
use crate::topology::{GlobalReach, LatencyModel};

use super::{bw, gr_circuits, prefixes, rtt_label, vnet_rtts, View};

// Drawn 1600 units wide; at 1280 px the smallest text (14) is still 11 px.
pub(super) const W: f64 = 1600.0;
pub(super) const SITE_X: f64 = 20.0;
pub(super) const SITE_W: f64 = 220.0;
pub(super) const CIRCUIT_X: f64 = 400.0;
const CIRCUIT_W: f64 = 220.0;
const VNET_W: f64 = 236.0;
pub(super) const ROW_GAP: f64 = 34.0;
pub(super) const TOP: f64 = 150.0;
pub(super) const LINE: f64 = 19.0;
const GR_LANE: f64 = 66.0;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn mid_y(&self) -> f64 {
        self.y + self.h / 2.0
    }
    pub fn right(&self) -> f64 {
        self.x + self.w
    }
    pub fn mid_x(&self) -> f64 {
        self.x + self.w / 2.0
    }
    /// On the picture's left half.
    pub fn left(&self) -> bool {
        self.x < W / 2.0
    }
}

/// A box and its lines of text (the first the name; empty lines are not drawn).
pub(super) struct Node {
    pub rect: Rect,
    pub lines: Vec<String>,
}

/// A Global Reach connection's state as drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ReachState {
    Connected,
    /// One of its circuits has no link up.
    Disconnected,
    /// Removed while a live view watched.
    Removed,
}

/// How a Global Reach connection runs between its circuits' boxes.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Route {
    /// Both circuits on one side: out of the upper box's inner `edge` to `x`, down to `y2`
    /// and back; `out` is +1 rightwards, -1 leftwards. Labelled at `label`, within `room`.
    Bracket {
        edge: f64,
        x: f64,
        y1: f64,
        y2: f64,
        out: f64,
        label: (f64, f64),
        room: f64,
    },
    /// Across: from each box's inner edge (`e`) to its riser (`x`) at height `y`, down both
    /// risers to the lane at `lane` and across it.
    Lane {
        a: (f64, f64, f64),
        b: (f64, f64, f64),
        lane: f64,
    },
}

/// A Global Reach connection as drawn.
pub(super) struct Reach<'t> {
    pub g: &'t GlobalReach,
    /// Its place in the topology; `None` when removed.
    pub index: Option<usize>,
    pub state: ReachState,
    /// "137 ms RTT", or empty without a latency model.
    pub rtt: String,
    /// Where it runs; `None` when one of its circuits is not drawn.
    pub route: Option<Route>,
}

/// The picture, laid out.
pub(super) struct Layout<'t> {
    pub tables: Tables,
    pub height: f64,
    /// Per site (file order); `None` for a site not drawn beside a circuit.
    pub sites: Vec<Option<Node>>,
    pub circuits: Vec<Option<Node>>,
    pub vnets: Vec<Node>,
    /// (site, circuit): every link between a site and a circuit it is on.
    pub site_links: Vec<(usize, usize)>,
    /// Connections in force (topology order), then those removed.
    pub reaches: Vec<Reach<'t>>,
    /// The bottom of Microsoft's network.
    pub backbone_bottom: f64,
    pub legend_y: f64,
}

/// A box's height for `lines` lines of text.
fn box_h(lines: usize) -> f64 {
    22.0 + LINE * lines as f64
}

fn count(l: &[String]) -> usize {
    l.iter().filter(|x| !x.is_empty()).count()
}

/// Lays out `v`.
pub(super) fn layout<'v>(v: &'v View) -> Layout<'v> {
    let t = v.topo;
    let tables = crate::plane::tables(t);
    let site_lines: Vec<Vec<String>> = (0..t.site.len()).map(|s| site_lines(v, s)).collect();
    let circuit_lines: Vec<Vec<String>> = (0..t.circuit.len())
        .map(|c| circuit_lines(v, &tables, c))
        .collect();
    let (circuit_box, site_box, bottom) = place_rows(v, &site_lines, &circuit_lines);
    // VNets down the middle.
    let mut vnets: Vec<Node> = Vec::with_capacity(t.vnet.len());
    let mut vy = TOP;
    for (vi, vnet) in t.vnet.iter().enumerate() {
        let mut lines = vec![
            format!("VNet {}", vnet.name),
            format!("{} · {}", vnet.region, prefixes(&vnet.prefixes)),
        ];
        lines.extend(vnet_rtts(t, &tables, vi));
        let h = box_h(lines.len());
        vnets.push(Node {
            rect: Rect {
                x: (W - VNET_W) / 2.0,
                y: vy,
                w: VNET_W,
                h,
            },
            lines,
        });
        vy += h + ROW_GAP;
    }
    let vnet_bottom = vnets.last().map_or(TOP, |n| n.rect.y + n.rect.h);
    let (reaches, backbone_bottom) =
        route_reaches(v, &tables, &circuit_box, vnet_bottom.max(bottom));
    let legend_y = backbone_bottom + 40.0;
    let wrap = |b: Option<Rect>, lines: Vec<String>| b.map(|rect| Node { rect, lines });
    Layout {
        height: legend_y + 2.0 * 30.0 + 10.0,
        sites: site_box
            .into_iter()
            .zip(site_lines)
            .map(|(b, l)| wrap(b, l))
            .collect(),
        circuits: circuit_box
            .into_iter()
            .zip(circuit_lines)
            .map(|(b, l)| wrap(b, l))
            .collect(),
        vnets,
        site_links: t
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
            .collect(),
        reaches,
        backbone_bottom,
        legend_y,
        tables,
    }
}

/// A site's lines: name, prefixes, its router's address, its AS.
fn site_lines(v: &View, s: usize) -> Vec<String> {
    let site = &v.topo.site[s];
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
}

/// A circuit's lines: name, MSEE location and addresses, SKU and bandwidth, round trip to its
/// site.
fn circuit_lines(v: &View, tables: &Tables, c: usize) -> Vec<String> {
    let t = v.topo;
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
        if access.is_empty() || t.lab.latency == LatencyModel::None {
            String::new()
        } else {
            format!("to the site: {access}")
        },
    ]
}

/// Circuits west of the median longitude on the left, the rest on the right, each in a row
/// with its sites stacked beside it. The circuits' and sites' boxes, and the rows' bottom.
fn place_rows(
    v: &View,
    site_lines: &[Vec<String>],
    circuit_lines: &[Vec<String>],
) -> (Vec<Option<Rect>>, Vec<Option<Rect>>, f64) {
    let t = v.topo;
    let cat = catalogue();
    let mut order: Vec<usize> = (0..t.circuit.len()).collect();
    let lon = |i: usize| {
        cat.location(&t.circuit[i].peering_location)
            .map_or(0.0, |l| l.lon)
    };
    order.sort_by(|a, b| lon(*a).total_cmp(&lon(*b)));
    let left_n = order.len().div_ceil(2);
    let (left, right) = order.split_at(left_n);
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
            let ch = box_h(count(&circuit_lines[c]));
            let heights: Vec<f64> = ss.iter().map(|&s| box_h(count(&site_lines[s]))).collect();
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
    (circuit_box, site_box, bottom)
}

/// Each Global Reach connection's state and route: those in force, then those removed while a
/// live view watched. Lanes pass under the VNets and the circuits (`above`), one each; the
/// backbone's bottom under the last.
fn route_reaches<'v>(
    v: &'v View,
    tables: &Tables,
    circuit_box: &[Option<Rect>],
    above: f64,
) -> (Vec<Reach<'v>>, f64) {
    let t = v.topo;
    let all: Vec<(&GlobalReach, Option<usize>)> = t
        .global_reach
        .iter()
        .enumerate()
        .map(|(i, g)| (g, Some(i)))
        .chain(v.removed.iter().map(|g| (g, None)))
        .collect();
    let boxes = |g: &GlobalReach| {
        let (a, b) = gr_circuits(t, g)?;
        Some((a, b, circuit_box[a].as_ref()?, circuit_box[b].as_ref()?))
    };
    let lane_n = all
        .iter()
        .filter(|(g, _)| boxes(g).is_some_and(|(_, _, ra, rb)| ra.left() != rb.left()))
        .count();
    let lane0 = above + 72.0;
    let backbone_bottom = if lane_n == 0 {
        above + 30.0
    } else {
        lane0 + (lane_n as f64 - 1.0) * GR_LANE + 40.0
    };
    let (mut k, mut side_k) = (0usize, [0usize; 2]);
    let mut reaches = Vec::with_capacity(all.len());
    for (g, index) in all {
        let state = match index {
            Some(i) if v.gr_connected(i) => ReachState::Connected,
            Some(_) => ReachState::Disconnected,
            None => ReachState::Removed,
        };
        let rtt = gr_circuits(t, g)
            .map(|(a, b)| rtt_label(tables.backbone[a][b]))
            .unwrap_or_default();
        let route = boxes(g).map(|(_, _, ra, rb)| {
            if ra.left() == rb.left() {
                let side = usize::from(!ra.left());
                let j = side_k[side] as f64;
                side_k[side] += 1;
                bracket(ra, rb, j)
            } else {
                let kf = k as f64;
                k += 1;
                lane(ra, rb, kf, lane0 + kf * GR_LANE)
            }
        });
        reaches.push(Reach {
            g,
            index,
            state,
            rtt,
            route,
        });
    }
    (reaches, backbone_bottom)
}

/// The `j`th bracket on a side: in the gap between the circuits and the VNets, labelled in
/// the gap under the upper circuit, on the VNets' side.
fn bracket(ra: &Rect, rb: &Rect, j: f64) -> Route {
    let (ra, rb) = if ra.y <= rb.y { (ra, rb) } else { (rb, ra) };
    let out = if ra.left() { 1.0 } else { -1.0 };
    let edge = if ra.left() { ra.right() } else { ra.x };
    Route::Bracket {
        edge,
        x: edge + out * (12.0 + 10.0 * j),
        y1: ra.mid_y() + 22.0,
        y2: rb.mid_y() - 22.0,
        out,
        label: (ra.mid_x() - out * 18.0, ra.y + ra.h + 1.5 * ROW_GAP - 9.0),
        room: ra.w + 2.0 * 18.0,
    }
}

/// The `k`th lane, at `lane`: out of each circuit's inner edge, down the gap beside the VNets
/// to the lane, across; the left circuit first.
fn lane(ra: &Rect, rb: &Rect, k: f64, lane: f64) -> Route {
    let inner = |r: &Rect| {
        if r.left() {
            (r.right(), r.right() + 14.0 + 11.0 * k)
        } else {
            (r.x, r.x - 14.0 - 11.0 * k)
        }
    };
    let (ra, rb) = if ra.x <= rb.x { (ra, rb) } else { (rb, ra) };
    let ((ea, xa), (eb, xb)) = (inner(ra), inner(rb));
    Route::Lane {
        a: (ea, xa, ra.mid_y() + 18.0 + 5.0 * k),
        b: (eb, xb, rb.mid_y() + 18.0 + 5.0 * k),
        lane,
    }
}
