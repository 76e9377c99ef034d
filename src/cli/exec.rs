//! `reachlab exec [--lab LAB] NAME -- CMD...`: run a command inside a site's or VNet's namespace
//! (through `ip netns exec`, which also mounts the lab's hosts file over /etc/hosts). For a site
//! with its own router, FRR's directory is mounted over /run/frr for the command, so `vtysh`
//! works as typed.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// `reachlab exec`'s arguments.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Lab name (default: the only running lab)
    #[arg(long)]
    pub lab: Option<String>,
    /// Site or VNet name
    pub name: String,
    /// The command and its arguments (after --)
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub fn run(a: ExecArgs) -> i32 {
    let (lab, name, command) = (a.lab.as_deref(), &a.name[..], &a.command[..]);
    let st = match super::running_state(lab) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let ep = match super::endpoint(&st, name) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let frr = st
        .frr
        .iter()
        .find(|d| Path::new(d).file_name().is_some_and(|f| f == name));
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &ep.namespace]);
    if let Some(dir) = frr {
        // `ip netns exec` gives the command a mount namespace of its own: the bind stays there.
        let _ = std::fs::create_dir_all("/run/frr");
        c.args([
            "sh",
            "-c",
            "mount --bind \"$0\" /run/frr && exec \"$@\"",
            dir,
        ]);
    }
    let err = c.args(command).exec();
    super::fail(format!("running ip netns exec: {err}"))
}
