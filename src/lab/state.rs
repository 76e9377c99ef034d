//! What a lab made, recorded under /run/reachlab/<lab>/state.json before it is made, so that
//! `down` can remove it even after the lab's process was killed. Owns the state directory
//! layout and process identity (PID plus start time, so a reused PID is never mistaken for a
//! lab).

use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

pub use crate::paths::{lab_dir, log_path, run_dir, socket_path};

/// One site or VNet of a running lab.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointState {
    pub name: String,
    /// "site" or "vnet".
    pub kind: String,
    pub namespace: String,
    pub tun: String,
    /// Addresses on the TUN, with prefix length.
    pub addresses: Vec<String>,
}

/// One Ethernet port of a lab: a circuit link's interface.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortState {
    /// The site whose router is behind it.
    #[serde(default)]
    pub site: String,
    /// "er-sv/primary".
    pub link: String,
    /// Its namespace (none: reachlab's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    pub interface: String,
    /// Made by the lab (a VXLAN port), so removed by it; else never touched.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub made: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LabState {
    pub lab: String,
    pub pid: u32,
    /// Start time of `pid` in clock ticks since boot (/proc/PID/stat field 22).
    pub pid_start: u64,
    /// The topology file, as given.
    pub file: String,
    /// Whether every endpoint was up and forwarding.
    pub ready: bool,
    /// Namespaces, recorded before each is made.
    pub namespaces: Vec<String>,
    pub endpoints: Vec<EndpointState>,
    /// FRR directories (config, pid files, sockets) of sites with a real router, recorded
    /// before each router starts; `down` stops the daemons by their PIDs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frr: Vec<String>,
    /// Namespaces whose /etc/netns/NS (the hosts file) this lab made, recorded before each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub etc_netns: Vec<String>,
    /// The interfaces the lab's Ethernet ports use (never changed by the lab).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortState>,
    /// Where the lab serves Prometheus metrics, if asked to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// Where the lab serves its live view, if asked to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<String>,
    /// Whether the page may change the lab.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub web_control: bool,
    /// The token changes from the page need on a non-loopback address (the state file is
    /// root's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_token: Option<String>,
    /// Forwarding workers the lab runs (0: not yet known, or a lab from before they were
    /// recorded).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub workers: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl LabState {
    pub fn path(lab: &str) -> PathBuf {
        lab_dir(lab).join("state.json")
    }

    /// Writes atomically (temp file + rename), so a crash never leaves half a record.
    pub fn save(&self) -> io::Result<()> {
        let dir = lab_dir(&self.lab);
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join("state.json.tmp");
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, Self::path(&self.lab))
    }

    pub fn load(lab: &str) -> io::Result<LabState> {
        let bytes = std::fs::read(Self::path(lab))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", Self::path(lab).display()),
            )
        })
    }

    /// Whether the process that made the lab is still running.
    pub fn alive(&self) -> bool {
        process_start_time(self.pid) == Some(self.pid_start)
    }
}

/// Every lab with a state directory, sorted by name.
pub fn list_labs() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(run_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("state.json").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    v.sort();
    v
}

/// Start time of a live process in clock ticks since boot, if it exists.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    // A zombie (killed, not yet reaped) is gone for our purposes.
    if matches!(fields.next()?, "Z" | "X") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

pub fn remove_lab_dir(lab: &str) -> io::Result<()> {
    match std::fs::remove_dir_all(lab_dir(lab)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

pub fn exists(p: &Path) -> bool {
    p.symlink_metadata().is_ok()
}
