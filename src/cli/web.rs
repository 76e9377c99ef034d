//! `reachlab web [LAB] --listen ADDR [--control]`: the live view of a lab already running,
//! served by the lab's own process (as `up --web` does at start).

use super::{call, print_json, Output};
use crate::control::proto::Request;

/// `reachlab web`'s arguments.
#[derive(clap::Args, Debug)]
pub struct WebArgs {
    /// Lab name (default: the only running lab)
    pub lab: Option<String>,
    /// Lab name, as the other live verbs take it
    #[arg(long = "lab", conflicts_with = "lab")]
    pub lab_flag: Option<String>,
    /// Where to serve it: ADDR:PORT, or a PORT on 127.0.0.1
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Let the page change the lab and run the reachability test (on a non-loopback
    /// address, only with the printed token)
    #[arg(long)]
    pub control: bool,
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

pub fn run(a: WebArgs) -> i32 {
    let lab = a.lab.or(a.lab_flag);
    let (lab, listen, control, output) = (lab.as_deref(), &a.listen[..], a.control, a.output);
    // A bare port is on loopback; anything else the lab checks, in its own words.
    let listen = super::listen_addr(listen).map_or(listen.to_string(), |a| a.to_string());
    let v = match call(lab, Request::WebServe { listen, control }) {
        Ok(v) => v,
        Err(c) => return c,
    };
    if output == Output::Json {
        print_json(&v);
        return super::EXIT_OK;
    }
    let url = v["url"].as_str().unwrap_or_default();
    match v["token"].as_str() {
        Some(t) => println!(
            "Live view: {url}#token={t} (changes allowed with this link; scripts send Authorization: Bearer {t})"
        ),
        None if control => println!("Live view: {url} (changes allowed)"),
        None => println!("Live view: {url} (read-only)"),
    }
    super::EXIT_OK
}
