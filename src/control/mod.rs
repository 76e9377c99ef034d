//! The control socket of a running lab: a Unix socket (mode 0600) speaking `proto` (one JSON
//! message per line). `server` runs inside the lab process and hands each request to a
//! `Handler` (the running lab implements it); `client` is what the CLI verbs use. This module
//! knows nothing of the lab beyond that interface.

pub mod client;
pub mod proto;
pub mod server;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::engine::capture::TapId;
use crate::engine::Engine;
use proto::{Path, Request, Response};

/// What the control server needs of a running lab.
pub trait Handler: Send + 'static {
    /// Carries out one request (a capture excepted): a change, refused or applied whole, or a
    /// read.
    fn handle(&mut self, req: Request) -> Response;
    /// Starts a capture at a point named by the user (a site, VNet, circuit with `path`, or
    /// Global Reach connection `CIRCUIT:PEER`), or says why not.
    fn start_capture(&mut self, point: &str, path: Option<Path>) -> Result<Capture, String>;
}

/// A capture started in the engine: the server collects its copies and stops it.
pub struct Capture {
    pub engine: Arc<Mutex<Engine>>,
    pub tap: TapId,
    /// The point, described for the user.
    pub point: String,
    /// The wall-clock time of the engine's zero (packets are stamped with wall time).
    pub wall0: SystemTime,
    /// pcap link type of what is copied: 101 raw IP, 1 Ethernet (an Ethernet port's frames).
    pub link_type: u32,
}
