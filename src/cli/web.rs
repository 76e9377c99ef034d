//! `reachlab web [LAB] --listen ADDR [--control]`: the live view of a lab already running,
//! served by the lab's own process (as `up --web` does at start).

use super::{call, print_json, Output};
use crate::control::proto::Request;

pub fn run(lab: Option<&str>, listen: &str, control: bool, output: Output) -> i32 {
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
