//! `reachlab exec [--lab LAB] NAME -- CMD...`: run a command inside a site's or VNet's namespace.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::lab::{self, state::LabState};

pub fn run(lab: Option<&str>, name: &str, command: &[String]) -> i32 {
    let lab = match lab::resolve_lab(lab) {
        Ok(l) => l,
        Err(e) => return super::fail(e),
    };
    let st = match LabState::load(&lab) {
        Ok(s) => s,
        Err(e) => return super::fail(format!("reading the state of lab {lab}: {e}")),
    };
    if !st.alive() {
        return super::fail(format!(
            "lab {lab} is not running (its process {} is gone); `reachlab down {lab}` cleans it",
            st.pid
        ));
    }
    let Some(ep) = st.endpoints.iter().find(|e| e.name == name) else {
        let known: Vec<&str> = st.endpoints.iter().map(|e| e.name.as_str()).collect();
        return super::fail(format!(
            "lab {lab} has no site or VNet named {name}; it has: {}",
            known.join(", ")
        ));
    };
    if !lab::is_root() {
        return super::fail(lab::LabError::NotRoot);
    }
    let err = Command::new("ip")
        .args(["netns", "exec", &ep.namespace])
        .args(command)
        .exec();
    super::fail(format!("running ip netns exec: {err}"))
}
