use super::layout::{layout, Route, W};
use super::svg::{fit, text_width};
use super::*;
use crate::diag::SourceFile;

fn topology(text: &str) -> Topology {
    Topology::from_source(SourceFile::new("t.toml", text.to_string()), "t").unwrap()
}

fn seed() -> Topology {
    topology(include_str!("../../topologies/global-reach.toml"))
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
    let no_gr = topology(include_str!("../../topologies/no-global-reach.toml"));
    for (t, file, svg_now) in [
        (
            seed(),
            "global-reach",
            include_str!("../../docs/global-reach.svg"),
        ),
        (
            no_gr,
            "no-global-reach",
            include_str!("../../docs/no-global-reach.svg"),
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
    let t = topology(include_str!("../../topologies/four-circuits.toml"));
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

#[test]
fn the_layout_gives_crossing_connections_a_lane_each_under_every_box_and_brackets_beside() {
    let t = topology(include_str!("../../topologies/four-circuits.toml"));
    let v = View::of(&t);
    let l = layout(&v);
    let lowest_box = l
        .sites
        .iter()
        .chain(&l.circuits)
        .flatten()
        .chain(&l.vnets)
        .map(|n| n.rect.y + n.rect.h)
        .fold(0.0, f64::max);
    let mut lanes = Vec::new();
    for r in &l.reaches {
        match r.route.as_ref().expect("every circuit is drawn") {
            Route::Lane { a, b, lane } => {
                assert!(*lane > lowest_box, "a lane under every box");
                assert!(*lane < l.backbone_bottom, "inside Microsoft's network");
                assert!(a.1 < W / 2.0 && b.1 > W / 2.0, "the left circuit first");
                lanes.push(*lane);
            }
            Route::Bracket {
                edge, x, y1, y2, ..
            } => {
                // London and Amsterdam, both on the right: the bracket on their VNets' side.
                assert_eq!(r.g.circuits, ["er-london", "er-amsterdam"]);
                assert!(x < edge && y1 < y2, "{x} {edge} {y1} {y2}");
            }
        }
    }
    lanes.dedup();
    assert_eq!(lanes.len(), 2, "one lane per crossing connection");
    assert!(l.legend_y > l.backbone_bottom && l.height > l.legend_y);
}

#[test]
fn a_link_carrying_one_family_of_two_is_drawn_up_and_named_and_one_carrying_none_failed() {
    let t = seed();
    // er-sv (circuit 0): primary carries IPv6 only (its IPv4 session down), secondary
    // nothing; er-london (1) both families on both links.
    let v4 = vec![[false, false], [true, true]];
    let v6 = vec![[true, false], [true, true]];
    let v = View::carrying(&t, [v4, v6]);
    assert_eq!(v.links, [[true, false], [true, true]]);
    let s = svg(&v);
    let line = |link: &str| {
        s.lines()
            .find(|l| l.starts_with("<line") && l.contains(&format!("data-link=\"{link}\"")))
            .unwrap_or_else(|| panic!("{link} in\n{s}"))
            .to_string()
    };
    assert!(line("er-sv/primary").contains("data-up=\"true\""));
    assert!(!line("er-sv/primary").contains("stroke-dasharray"));
    assert!(line("er-sv/secondary").contains("data-up=\"false\""));
    assert_eq!(s.matches("· IPv6 only").count(), 1, "{s}");
    assert!(!s.contains("IPv4 only"));
    // The circuit still carries: its site's line is not dashed, Global Reach is Connected.
    assert!(!s.contains("Disconnected"));
    assert!(!dot(&v).contains("style=dashed"), "{}", dot(&v));
    // Both families alike (or a circuit without IPv6: the same in both): no name.
    let same = View::carrying(&t, [vec![[true, false]; 2], vec![[true, false]; 2]]);
    assert!(!svg(&same).contains(" only"));
}
