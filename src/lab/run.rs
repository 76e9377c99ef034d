//! The tokio forwarding loop: one task per TUN reads a packet, hands it to the engine and
//! writes what the engine returns straight to the TUN it names (no channel hop between
//! stages). Plumbing only; every decision is the engine's. Tasks stop when the stop channel
//! fires and drop their device handles.
//!
//! With offload the TUNs carry a virtio-net header before each packet and the kernel hands
//! over GSO super-packets of up to 64 KB: the engine looks each up and rewrites it once, and
//! it is written to the egress TUN with its header unchanged, so the receiving namespace gets
//! it as one GSO packet (segmented, or not, by the kernel as it needs). Replies the engine
//! originates get a zeroed header (no GSO, checksums complete).

use std::io::IoSlice;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, trace, warn};
use tun_rs::AsyncDevice;

use crate::engine::{Engine, PortId, Verdict};

/// Largest read from a TUN: a 64 KB GSO super-packet and its virtio-net header.
const BUF_SIZE: usize = 65536 + tun_rs::VIRTIO_NET_HDR_LEN;
/// Packets handled per wake-up before yielding to other tasks.
const BATCH: usize = 64;

/// How a forwarding task waits for packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Sleep until the TUN is readable (epoll): no CPU when idle.
    Sleep,
    /// Keep trying to read, yielding between tries: no wake-up latency, one core kept busy.
    Busy,
}

/// Running forwarding tasks of one lab.
pub struct Forwarder {
    pub engine: Arc<Mutex<Engine>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Forwarder {
    /// Starts one task per device; `devices[i]` is port `i` of the engine.
    pub fn spawn(
        engine: Engine,
        devices: Vec<AsyncDevice>,
        offload: bool,
        poll: Poll,
    ) -> Forwarder {
        let engine = Arc::new(Mutex::new(engine));
        let devices: Arc<Vec<AsyncDevice>> = Arc::new(devices);
        let (stop, rx) = watch::channel(false);
        let tasks = (0..devices.len())
            .map(|port| {
                let engine = Arc::clone(&engine);
                let devices = Arc::clone(&devices);
                let rx = rx.clone();
                tokio::spawn(port_loop(port, engine, devices, offload, poll, rx))
            })
            .collect();
        Forwarder {
            engine,
            stop,
            tasks,
        }
    }

    /// Stops every task and waits for them; the devices are closed when this returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn port_loop(
    port: PortId,
    engine: Arc<Mutex<Engine>>,
    devices: Arc<Vec<AsyncDevice>>,
    offload: bool,
    poll: Poll,
    mut stop: watch::Receiver<bool>,
) {
    let hdr = if offload {
        tun_rs::VIRTIO_NET_HDR_LEN
    } else {
        0
    };
    let zero_hdr = [0u8; tun_rs::VIRTIO_NET_HDR_LEN];
    let mut buf = vec![0u8; BUF_SIZE];
    let mut out = Vec::with_capacity(1500);
    let mut warned = false;
    loop {
        // Wait for the first packet, then take what else is queued, up to a batch.
        let mut n = if poll == Poll::Busy {
            match devices[port].try_recv(&mut buf) {
                Ok(n) => n,
                Err(_) => {
                    if stop.has_changed().unwrap_or(true) {
                        break;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
            }
        } else {
            tokio::select! {
            r = devices[port].recv(&mut buf) => match r {
                Ok(n) => n,
                Err(e) => {
                    if !warned {
                        warn!(port, error = %e, "reading from TUN failed");
                        warned = true;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
            },
            _ = stop.changed() => break,
            }
        };
        for _ in 0..BATCH {
            if n >= hdr {
                let gso_size = if offload { gso_size(&buf[..hdr]) } else { 0 };
                let verdict = {
                    let mut e = engine.lock().unwrap_or_else(|p| p.into_inner());
                    e.handle_segmented(port, &mut buf[hdr..n], gso_size, &mut out)
                };
                trace!(port, len = n, ?verdict, "packet");
                let sent = match verdict {
                    Verdict::Forward { port: to, len } => devices[to].send(&buf[..hdr + len]).await,
                    Verdict::Reply { port: to } if offload => {
                        let parts = [IoSlice::new(&zero_hdr), IoSlice::new(&out)];
                        devices[to].send_vectored(&parts).await
                    }
                    Verdict::Reply { port: to } => devices[to].send(&out).await,
                    Verdict::Drop(_) => Ok(0),
                };
                if let Err(e) = sent {
                    debug!(port, error = %e, "writing to TUN failed");
                }
            }
            n = match devices[port].try_recv(&mut buf) {
                Ok(n) => n,
                Err(_) => break,
            };
        }
    }
}

/// The segment size of a GSO super-packet from its virtio-net header (0: not GSO).
fn gso_size(hdr: &[u8]) -> u16 {
    match tun_rs::VirtioNetHdr::decode(hdr) {
        // gso_type 0 is VIRTIO_NET_HDR_GSO_NONE; bit 0x80 is the ECN flag.
        Ok(h) if h.gso_type & 0x7f != 0 => h.gso_size,
        _ => 0,
    }
}
