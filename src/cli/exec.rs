//! `reachlab exec [--lab LAB] NAME -- CMD...`: run a command inside a site's or VNet's namespace
//! (through `ip netns exec`, which also mounts the lab's hosts file over /etc/hosts).

use std::os::unix::process::CommandExt;
use std::process::Command;

pub fn run(lab: Option<&str>, name: &str, command: &[String]) -> i32 {
    let st = match super::running_state(lab) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let ep = match super::endpoint(&st, name) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let err = Command::new("ip")
        .args(["netns", "exec", &ep.namespace])
        .args(command)
        .exec();
    super::fail(format!("running ip netns exec: {err}"))
}
