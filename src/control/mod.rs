//! The control plane of a running lab: a Unix socket (mode 0600) under the lab's state
//! directory speaking `proto` (one JSON message per line). `server` runs inside the lab
//! process and hands each request to `lab::live::LiveLab`; `client` is what the CLI verbs use.

pub mod client;
pub mod proto;
pub mod server;

use std::path::PathBuf;

/// The control socket of a lab.
pub fn socket_path(lab: &str) -> PathBuf {
    crate::lab::state::lab_dir(lab).join("control.sock")
}
