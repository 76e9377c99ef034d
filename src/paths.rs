//! Where a lab's runtime files live: the run directory (/run/reachlab, or `REACHLAB_RUN_DIR`),
//! one directory per lab with its state file and control socket, and its log. Owned here,
//! below the lab and the control socket that both use it.

use std::path::PathBuf;

/// Root of reachlab's runtime state. `REACHLAB_RUN_DIR` overrides it (tests use their own).
pub fn run_dir() -> PathBuf {
    std::env::var_os("REACHLAB_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/reachlab"))
}

pub fn lab_dir(lab: &str) -> PathBuf {
    run_dir().join(lab)
}

/// The control socket of a lab.
pub fn socket_path(lab: &str) -> PathBuf {
    lab_dir(lab).join("control.sock")
}

pub fn log_path(lab: &str) -> PathBuf {
    run_dir().join(format!("{lab}.log"))
}
