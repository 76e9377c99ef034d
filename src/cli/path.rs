//! `reachlab path SRC DST [--family ipv4|ipv6]`: the way packets take between two sites or VNets, both directions,
//! hop by hop from the tables in force (site, circuit link, MSEE, Global Reach, VNet
//! gateway), and whether the two directions differ (the asymmetry a stateful firewall breaks
//! on).

use super::{call, decode, print_json, LiveArgs, Output};
use crate::control::proto::{PathInfo, Request};

/// `reachlab path`'s arguments.
#[derive(clap::Args, Debug)]
pub struct PathArgs {
    /// Where the packets start (a site or VNet)
    pub src: String,
    /// Where they go (a site or VNet)
    pub dst: String,
    /// The family to trace (default: IPv4 when both ends have it, else IPv6)
    #[arg(long, value_enum)]
    pub family: Option<crate::control::proto::Family>,
    #[command(flatten)]
    pub to: LiveArgs,
}

pub fn run(a: PathArgs) -> i32 {
    let (src, dst, to) = (&a.src[..], &a.dst[..], &a.to);
    let v = match call(
        to.lab.as_deref(),
        Request::Path {
            from: src.to_string(),
            to: dst.to_string(),
            family: a.family,
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
