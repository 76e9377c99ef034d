//! `reachlab path SRC DST`: the way packets take between two sites or VNets, both directions,
//! hop by hop from the tables in force (site, circuit link, MSEE, Global Reach, VNet
//! gateway), and whether the two directions differ (the asymmetry a stateful firewall breaks
//! on).

use super::{call, decode, print_json, LiveArgs, Output};
use crate::control::proto::{PathInfo, Request};

pub fn run(src: &str, dst: &str, to: &LiveArgs) -> i32 {
    let v = match call(
        to.lab.as_deref(),
        Request::Path {
            from: src.to_string(),
            to: dst.to_string(),
        },
    ) {
        Ok(v) => v,
        Err(c) => return c,
    };
    if to.output == Output::Json {
        print_json(&v);
        return super::EXIT_OK;
    }
    let p: PathInfo = match decode(v) {
        Ok(p) => p,
        Err(c) => return c,
    };
    for w in [&p.there, &p.back] {
        println!("{} -> {} ({}):", w.from, w.to, w.address);
        println!("  {}", w.hops.join(" > "));
        if !w.delivered {
            println!("  (does not arrive)");
        }
    }
    match &p.asymmetry {
        Some(a) => println!("Asymmetric: {a}"),
        None => println!("Symmetric: both directions cross the same circuits and links"),
    }
    super::EXIT_OK
}
